// SPDX-License-Identifier: MIT
/*
 * The whole engine in one process, without root: two or three devices with
 * real keys, configured through ts_device_apply, joined by the fake TUN and
 * UDP network of fake_io.h, with the engine's own threads running.  Every
 * wait is a bounded poll on something observable.
 *
 * Covers: handshake and data both ways (byte-identical), rekey, expiry
 * (REJECT_AFTER_TIME), replay and reordering, the forged-counter datagram
 * (issue 9, defect 1), roaming, cookie replies under a handshake flood (and
 * made and sent in batches), a TUN that disappears, and the crypto workers (order kept, a peer
 * removed with batches in flight).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "crypto.h"
#include "device.h"
#include "fake_io.h"
#include "fake_node.h"
#include "key.h"
#include "log.h"
#include "messages.h"
#include "peer.h"
#include "testutil.h"
#include "timers.h"

/* How long anything that should happen may take (generous: ASan on a busy machine). */
#define WAIT_MS 3000
/* How long we watch for something that must not happen. */
#define QUIET_MS 300

struct node {
	struct ts_device *dev;
	struct fake_tun *tun;
	struct fake_bind *bind;
	uint8_t priv[32], pub[32];
	union ts_endpoint ep;
	unsigned host; /* tunnel address 10.0.0.<host> */
};

static struct fake_net *net;

static bool node_up(struct node *n, const char *addr, unsigned host)
{
	char err[256], name[IFNAMSIZ];

	memset(n, 0, sizeof(*n));
	ts_x25519_generate(n->priv, n->pub);
	n->host = host;
	snprintf(name, sizeof(name), "fake%u", host);
	if (fake_device_new(net, name, addr, 1420, &n->dev, &n->tun, &n->bind, err, sizeof(err)) <
	    0) {
		fprintf(stderr, "device: %s\n", err);
		return false;
	}
	n->ep = fake_bind_endpoint(n->bind);
	return true;
}

static void node_down(struct node *n)
{
	ts_device_destroy(n->dev);
	memset(n, 0, sizeof(*n));
}

/* n gets peer p (with p's endpoint if with_endpoint), through the UAPI parser and apply. */
static bool add_peer(struct node *n, const struct node *p, bool with_endpoint)
{
	char allowed[32], err[256];

	snprintf(allowed, sizeof(allowed), "10.0.0.%u/32", p->host);
	if (fake_device_add_peer(n->dev, n->priv, p->pub, allowed, with_endpoint ? &p->ep : NULL,
				 err, sizeof(err)) < 0) {
		fprintf(stderr, "config: %s\n", err);
		return false;
	}
	return true;
}

/* Two started devices that know each other: a knows b's endpoint, b learns a's. */
static bool pair_up(struct node *a, struct node *b)
{
	return node_up(a, "192.0.2.1", 1) && node_up(b, "192.0.2.2", 2) && add_peer(a, b, true) &&
	       add_peer(b, a, false) && ts_device_start(a->dev) == 0 &&
	       ts_device_start(b->dev) == 0;
}

/* An IPv4/UDP packet from 10.0.0.<from> to 10.0.0.<to> whose payload carries seq. */
static size_t make_packet(uint8_t *p, unsigned from, unsigned to, uint32_t seq, size_t payload)
{
	size_t len = fake_ipv4_udp(p, from, to, payload);

	for (size_t i = 0; i < payload; i++)
		p[28 + i] = (uint8_t)(seq * 7 + i);
	memcpy(p + 28, &seq, payload < 4 ? payload : 4);
	return len;
}

/* Send one packet from s's TUN; true if it comes out of r's TUN byte for byte. */
static bool carried(struct node *s, struct node *r, uint32_t seq)
{
	uint8_t pkt[200];
	size_t len = make_packet(pkt, s->host, r->host, seq, 60);

	return fake_tun_carried(s->tun, r->tun, pkt, len, WAIT_MS);
}

/* Nothing comes out of r's TUN for QUIET_MS. */
static bool tun_quiet(struct node *r)
{
	uint8_t got[2048];

	return fake_tun_take(r->tun, got, sizeof(got), QUIET_MS) < 0;
}

static union ts_endpoint peer_endpoint(struct node *n, const struct node *p)
{
	struct ts_peer_info info;

	memset(&info, 0, sizeof(info));
	ts_device_peer_info(n->dev, p->pub, &info);
	return info.endpoint;
}

struct counter_at_least {
	atomic_uint_fast64_t *counter;
	uint64_t want;
};

static bool counter_reached(void *arg)
{
	struct counter_at_least *c = arg;

	return atomic_load(c->counter) >= c->want;
}

/* Wait (bounded) until *counter reaches want; true if it did. */
static bool counted(atomic_uint_fast64_t *counter, uint64_t want)
{
	struct counter_at_least c = {.counter = counter, .want = want};

	return fake_wait(counter_reached, &c, WAIT_MS);
}

static uint32_t read_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

/* --- tests ------------------------------------------------------------- */

static void test_data_both_ways(void)
{
	struct node a, b;
	union ts_endpoint ep;

	CHECK(pair_up(&a, &b));
	CHECK(fake_tun_mtu(a.tun) == 1420);
	/* The first packet waits for the handshake a starts, then goes. */
	CHECK(carried(&a, &b, 1));
	CHECK(fake_bind_received(b.bind, MESSAGE_HANDSHAKE_INITIATION) >= 1);
	CHECK(fake_bind_received(a.bind, MESSAGE_HANDSHAKE_RESPONSE) >= 1);
	/* b learnt a's endpoint from the handshake and answers there. */
	ep = peer_endpoint(&b, &a);
	CHECK(ts_endpoint_equal(&ep, &a.ep));
	CHECK(carried(&b, &a, 2));
	for (uint32_t i = 3; i < 40; i++)
		CHECK(carried(i % 2 ? &a : &b, i % 2 ? &b : &a, i));
	node_down(&a);
	node_down(&b);
}

/* FAKE_HOLD the next data message with payload (not a keepalive) from src. */
struct hold_one {
	union ts_endpoint src;
	int remaining;
};

static enum fake_verdict hold_filter(void *arg, const struct fake_dgram *d)
{
	struct hold_one *h = arg;

	if (h->remaining && d->len > 32 && d->data[0] == MESSAGE_DATA &&
	    ts_endpoint_equal(&d->src, &h->src)) {
		h->remaining--;
		return FAKE_HOLD;
	}
	return FAKE_PASS;
}

static void test_replay_and_reorder(void)
{
	struct node a, b;
	uint8_t msg[2048];
	size_t len;
	uint64_t replayed;
	struct hold_one hold;

	CHECK(pair_up(&a, &b));
	CHECK(carried(&a, &b, 1));
	len = fake_net_find_last(net, MESSAGE_DATA, &a.ep, &b.ep, msg, sizeof(msg));
	CHECK(len > 32);

	/* The captured datagram again, from where it came: dropped and counted. */
	replayed = atomic_load(&b.dev->rx_replayed);
	CHECK(fake_net_inject(net, &a.ep, &b.ep, msg, len) == 0);
	CHECK(counted(&b.dev->rx_replayed, replayed + 1));
	CHECK(tun_quiet(&b));
	CHECK_MSG(atomic_load(&b.dev->rx_replayed) == replayed + 1, "rx_replayed %llu, was %llu",
		  (unsigned long long)atomic_load(&b.dev->rx_replayed),
		  (unsigned long long)replayed);

	/* Reordered inside the window: both arrive. */
	hold = (struct hold_one){.src = a.ep, .remaining = 1};
	fake_net_set_filter(net, hold_filter, &hold);
	{
		uint8_t pkt[200], got[2048];
		size_t plen = make_packet(pkt, 1, 2, 100, 60);

		CHECK(fake_tun_inject(a.tun, pkt, plen) == 0);
		CHECK(carried(&a, &b, 101)); /* overtakes 100 */
		fake_net_set_filter(net, NULL, NULL);
		fake_net_release(net);
		CHECK(fake_tun_take(b.tun, got, sizeof(got), WAIT_MS) == (int)plen &&
		      memcmp(got, pkt, plen) == 0);
	}
	/* And the late one, replayed in turn, is dropped too. */
	len = fake_net_find_last(net, MESSAGE_DATA, &a.ep, &b.ep, msg, sizeof(msg));
	replayed = atomic_load(&b.dev->rx_replayed);
	CHECK(fake_net_inject(net, &a.ep, &b.ep, msg, len) == 0);
	CHECK(counted(&b.dev->rx_replayed, replayed + 1));
	CHECK(tun_quiet(&b));
	CHECK(carried(&a, &b, 102));
	node_down(&a);
	node_down(&b);
}

/*
 * Issue 9, defect 1: a 32-byte data message carrying a live receiver index,
 * counter 2^64-1 and a garbage tag, from a third address, must not disable
 * the session (the counter limit is checked only after authentication).
 */
static void test_forged_counter(void)
{
	struct node a, b;
	union ts_endpoint evil = fake_ep("192.0.2.99:1234"), ep;
	uint8_t msg[2048], forged[32];
	size_t len;

	CHECK(pair_up(&a, &b));
	CHECK(carried(&a, &b, 1));
	len = fake_net_find_last(net, MESSAGE_DATA, &a.ep, &b.ep, msg, sizeof(msg));
	CHECK(len >= 16);
	memset(forged, 0, sizeof(forged));
	forged[0] = MESSAGE_DATA;
	memcpy(forged + 4, msg + 4, 4); /* b's live receiver index, as seen on the wire */
	memset(forged + 8, 0xff, 8);	/* counter 2^64 - 1 */
	randombytes_buf(forged + 16, 16);
	for (int i = 0; i < 20; i++)
		CHECK(fake_net_inject(net, &evil, &b.ep, forged, sizeof(forged)) == 0);
	for (uint32_t i = 2; i < 12; i++) {
		if (!carried(&a, &b, i)) {
			CHECK_MSG(false, "packet %u after the forged datagrams was lost",
				  (unsigned)i);
			break;
		}
	}
	CHECK(carried(&b, &a, 12));
	/* Nor did the forgery move b's idea of where a is. */
	ep = peer_endpoint(&b, &a);
	CHECK(ts_endpoint_equal(&ep, &a.ep));
	node_down(&a);
	node_down(&b);
}

static void test_roaming(void)
{
	struct node a, b;
	union ts_endpoint old, ep;

	CHECK(pair_up(&a, &b));
	CHECK(carried(&a, &b, 1));
	CHECK(carried(&b, &a, 2));
	old = a.ep;
	/* a moves: it now sends from, and is reachable at, another address. */
	fake_bind_set_addr(a.bind, "192.0.2.11");
	a.ep = fake_bind_endpoint(a.bind);
	CHECK(!ts_endpoint_equal(&old, &a.ep));
	CHECK(carried(&a, &b, 3));
	ep = peer_endpoint(&b, &a);
	CHECK_MSG(ts_endpoint_equal(&ep, &a.ep), "b still sends to %s",
		  ts_endpoint_str(&ep, (char[TS_ENDPOINT_STRLEN]){0}));
	/* b's answers reach a at its new address. */
	CHECK(carried(&b, &a, 4));
	node_down(&a);
	node_down(&b);
}

/* Run protocol time faster; only while no device exists (its threads read it). */
static void time_scale(unsigned scale)
{
	ts_time_scale = scale;
}

static void test_rekey(void)
{
	struct node a, b;
	uint64_t start, initiations;
	uint32_t seq = 1, first_index;
	uint8_t msg[2048];
	unsigned lost = 0;

	time_scale(100); /* REKEY_AFTER_TIME 1.2 s, REJECT_AFTER_TIME 1.8 s */
	CHECK(pair_up(&a, &b));
	CHECK(carried(&a, &b, seq++));
	CHECK(fake_net_find_last(net, MESSAGE_DATA, &a.ep, &b.ep, msg, sizeof(msg)) > 0);
	first_index = read_le32(msg + 4);
	start = ts_now_ns();
	/*
	 * Traffic both ways for longer than a session may live.  At 100 times
	 * the speed a scheduling delay of a busy machine can look like a lost
	 * handshake and cross two of them, which may cost a packet, as on a
	 * real network; more than that is a failure.
	 */
	while (ts_now_ns() - start < ts_secs(REJECT_AFTER_TIME) + ts_secs(REKEY_TIMEOUT) * 4 &&
	       lost <= 2) {
		lost += !carried(&a, &b, seq++);
		lost += !carried(&b, &a, seq++);
	}
	CHECK_MSG(lost <= 2, "%u packets lost across rekeying", lost);
	CHECK(carried(&a, &b, seq++) && carried(&b, &a, seq++));
	initiations = fake_bind_received(a.bind, MESSAGE_HANDSHAKE_INITIATION) +
		      fake_bind_received(b.bind, MESSAGE_HANDSHAKE_INITIATION);
	CHECK_MSG(initiations >= 2, "%llu initiations: no rekey", (unsigned long long)initiations);
	CHECK(fake_net_find_last(net, MESSAGE_DATA, &a.ep, &b.ep, msg, sizeof(msg)) > 0);
	CHECK_MSG(read_le32(msg + 4) != first_index, "still the first session");
	node_down(&a);
	node_down(&b);
	time_scale(1);
}

static enum fake_verdict drop_handshakes(void *arg, const struct fake_dgram *d)
{
	struct hold_one *h = arg;

	if (d->len && d->data[0] != MESSAGE_DATA)
		return FAKE_DROP;
	return hold_filter(h, d);
}

static void test_expiry(void)
{
	struct node a, b;
	struct hold_one hold;
	uint64_t start;
	uint8_t pkt[200];
	size_t plen;

	time_scale(100);
	CHECK(pair_up(&a, &b));
	CHECK(carried(&a, &b, 1));
	start = ts_now_ns();
	/* No handshake gets through from now on; one data message is held back. */
	hold = (struct hold_one){.src = a.ep, .remaining = 1};
	fake_net_set_filter(net, drop_handshakes, &hold);
	plen = make_packet(pkt, 1, 2, 2, 60);
	CHECK(fake_tun_inject(a.tun, pkt, plen) == 0);
	CHECK(tun_quiet(&b)); /* held */
	/* Let the session pass REJECT_AFTER_TIME (a clock to outlast, not a sync). */
	while (ts_now_ns() - start < ts_secs(REJECT_AFTER_TIME) + ts_secs(REKEY_TIMEOUT))
		tun_quiet(&b);
	/* a no longer encrypts with the expired session ... */
	plen = make_packet(pkt, 1, 2, 3, 60);
	CHECK(fake_tun_inject(a.tun, pkt, plen) == 0);
	CHECK_MSG(tun_quiet(&b), "data after REJECT_AFTER_TIME without a handshake");
	/* ... and b does not accept a message of it either, though never seen before. */
	fake_net_release(net);
	CHECK_MSG(tun_quiet(&b), "b accepted a message of an expired session");
	/* Handshakes again: a new session carries traffic. */
	fake_net_set_filter(net, NULL, NULL);
	CHECK(carried(&a, &b, 4));
	node_down(&a);
	node_down(&b);
	time_scale(1);
}

/* Counts cookie replies b sends. */
struct cookie_count {
	union ts_endpoint from;
	unsigned n;
};

static enum fake_verdict count_cookies(void *arg, const struct fake_dgram *d)
{
	struct cookie_count *c = arg;

	if (d->len && d->data[0] == MESSAGE_HANDSHAKE_COOKIE &&
	    ts_endpoint_equal(&d->src, &c->from))
		c->n++;
	return FAKE_PASS;
}

static void test_cookie_under_load(void)
{
	struct node a, b, c;
	struct cookie_count count;
	uint8_t init[sizeof(struct message_handshake_initiation)];
	unsigned flood = 3000;

	time_scale(20); /* REKEY_TIMEOUT 250 ms: the retry with a cookie comes soon */
	CHECK(pair_up(&a, &b));
	CHECK(node_up(&c, "192.0.2.3", 3));
	CHECK(add_peer(&c, &b, true) && add_peer(&b, &c, false));
	CHECK(ts_device_start(c.dev) == 0);
	/* A real initiation (valid mac1 for b) to flood b with, from many addresses. */
	CHECK(carried(&a, &b, 1));
	CHECK(fake_net_find_last(net, MESSAGE_HANDSHAKE_INITIATION, &a.ep, &b.ep, init,
				 sizeof(init)) == sizeof(init));
	count = (struct cookie_count){.from = b.ep};
	fake_net_set_filter(net, count_cookies, &count);
	for (unsigned i = 0; i < flood; i++) {
		union ts_endpoint src = fake_ep("198.51.100.1:1");

		src.in.sin_addr.s_addr = htonl(0xc6336400u + 1 + i % 250); /* 198.51.100.x */
		src.in.sin_port = htons((uint16_t)(1024 + i));
		CHECK(fake_net_inject(net, &src, &b.ep, init, sizeof(init)) == 0);
	}
	/* c's first handshake meets b under load: a cookie reply, then a retry that works. */
	CHECK_MSG(carried(&c, &b, 2), "c never completed its handshake under load");
	CHECK(carried(&b, &c, 3));
	CHECK_MSG(fake_bind_received(c.bind, MESSAGE_HANDSHAKE_COOKIE) >= 1,
		  "c got no cookie reply");
	fake_net_set_filter(net, NULL, NULL);
	CHECK_MSG(count.n >= flood / 8, "only %u cookie replies to %u initiations", count.n, flood);
	node_down(&a);
	node_down(&b);
	node_down(&c);
	time_scale(1);
}

/*
 * A flood from one address: b sees it is under load at once, answers it
 * with no more cookie replies than the per-source limit lets through, and
 * queues none of it for Diffie-Hellman after the first window.
 */
static void test_flood_one_source(void)
{
	struct node a, b;
	struct cookie_count count;
	uint8_t init[sizeof(struct message_handshake_initiation)];
	union ts_endpoint src = fake_ep("198.51.100.7:4242");
	unsigned flood = 5000;
	uint64_t start, handled = 0, sent;
	int i;

	CHECK(pair_up(&a, &b));
	CHECK(carried(&a, &b, 1));
	CHECK(fake_net_find_last(net, MESSAGE_HANDSHAKE_INITIATION, &a.ep, &b.ep, init,
				 sizeof(init)) == sizeof(init));
	count = (struct cookie_count){.from = b.ep};
	fake_net_set_filter(net, count_cookies, &count);
	start = ts_now_ns();
	for (unsigned k = 0; k < flood; k++)
		CHECK(fake_net_inject(net, &src, &b.ep, init, sizeof(init)) == 0);
	/* All but the first window's worth (queued before the load showed) meet the cookie path. */
	for (i = 0; i < WAIT_MS / 10; i++) {
		handled =
		    atomic_load(&b.dev->hs_cookies_sent) + atomic_load(&b.dev->hs_cookies_limited);
		if (handled >= flood - 200)
			break;
		poll(NULL, 0, 10);
	}
	CHECK_MSG(handled >= flood - 200, "only %llu of %u initiations met the cookie path",
		  (unsigned long long)handled, flood);
	sent = atomic_load(&b.dev->hs_cookies_sent);
	/* The burst, and the rate for the time it took (plus a token of slack). */
	CHECK_MSG(sent >= 1 && sent <= TS_RATELIMIT_PACKETS_BURST + 1 +
					   (ts_now_ns() - start) * TS_RATELIMIT_PACKETS_PER_SECOND /
					       NSEC_PER_SEC,
		  "%llu cookie replies to one source", (unsigned long long)sent);
	fake_net_set_filter(net, NULL, NULL);
	CHECK_MSG(count.n == sent, "%u cookie replies on the wire, %llu counted", count.n,
		  (unsigned long long)sent);
	/* The tunnel still works. */
	CHECK(carried(&a, &b, 2));
	node_down(&a);
	node_down(&b);
}

/* Every cookie reply sent, with where it went. */
struct cookie_capture {
	unsigned n;
	union ts_endpoint dst[256];
	struct message_handshake_cookie msg[256];
};

static enum fake_verdict capture_cookies(void *arg, const struct fake_dgram *d)
{
	struct cookie_capture *c = arg;

	if (d->len == sizeof(c->msg[0]) && d->data[0] == MESSAGE_HANDSHAKE_COOKIE && c->n < 256) {
		c->dst[c->n] = d->dst;
		memcpy(&c->msg[c->n++], d->data, d->len);
	}
	return FAKE_PASS;
}

/*
 * Under load the handshake worker answers queued cookie requests a batch at
 * a time: 100 initiations with a valid mac1 and no mac2, from 100 sources
 * (each within its cookie rate), come out as 100 replies in two calls to
 * the bind (a full batch and the rest), each going back to its source,
 * answering its initiation, and carrying the cookie of that source.  The
 * device's threads are not started: the test drives the queue by hand.
 */
static void test_cookie_batch(void)
{
	enum { N = 100, INDEX = 0x5000 };
	static struct cookie_capture cap;
	struct message_handshake_initiation init[N];
	union ts_endpoint src[N];
	uint8_t buf[TS_HEADROOM + sizeof(init[0]) + TS_TAILROOM];
	uint8_t peer_priv[32], peer_pub[32];
	struct cookie_maker maker;
	char err[256];
	struct node b;
	uint64_t calls;
	unsigned most;

	CHECK(node_up(&b, "192.0.2.2", 2));
	ts_x25519_generate(peer_priv, peer_pub);
	CHECK(fake_device_add_peer(b.dev, b.priv, peer_pub, "10.0.0.1/32", NULL, err,
				   sizeof(err)) == 0);
	cookie_maker_init(&maker, b.pub);
	/* Under load, as rx finds it when a flood arrives. */
	atomic_store(&b.dev->last_under_load_ns, ts_now_ns());
	memset(&cap, 0, sizeof(cap));
	fake_net_set_filter(net, capture_cookies, &cap);
	for (unsigned i = 0; i < N; i++) {
		memset(&init[i], 0, sizeof(init[i]));
		init[i].header.type = htole32(MESSAGE_HANDSHAKE_INITIATION);
		init[i].sender_index = htole32(INDEX + i);
		randombytes_buf(init[i].unencrypted_ephemeral,
				sizeof(init[i].unencrypted_ephemeral));
		cookie_add_mac_to_packet(&init[i], sizeof(init[i]), &maker);
		src[i] = fake_ep("198.51.100.1:1000");
		src[i].in.sin_addr.s_addr = htonl(0xc6336400u + 1 + i); /* 198.51.100.<1 + i> */
		memcpy(buf + TS_HEADROOM, &init[i], sizeof(init[i]));
		ts_receive_datagram(b.dev, &src[i], NULL, buf, TS_HEADROOM, sizeof(init[i]));
	}
	CHECK_MSG(cap.n == 0, "%u cookie replies before the worker ran", cap.n);
	ts_handshake_process_queued(b.dev);
	fake_net_set_filter(net, NULL, NULL);
	CHECK_MSG(cap.n == N, "%u cookie replies to %u requests", cap.n, (unsigned)N);
	CHECK(atomic_load(&b.dev->hs_cookies_sent) == N);
	fake_bind_send_calls(b.bind, &calls, &most);
	CHECK_MSG(calls == (N + TS_BATCH - 1) / TS_BATCH && most == TS_BATCH,
		  "%llu calls to the bind for %u replies, the largest with %u",
		  (unsigned long long)calls, (unsigned)N, most);
	for (unsigned k = 0; k < cap.n; k++) {
		uint32_t i = le32toh(cap.msg[k].receiver_index) - INDEX;
		bool ok;

		CHECK_MSG(i < N, "reply %u answers index %u", k, (unsigned)(i + INDEX));
		if (i >= N)
			continue;
		CHECK(ts_endpoint_equal(&cap.dst[k], &src[i]));
		/* It answers init[i] (its mac1 is the AD) ... */
		memcpy(maker.last_mac1_sent, init[i].macs.mac1, COOKIE_LEN);
		maker.have_sent_mac1 = true;
		ok = cookie_message_consume(&cap.msg[k], &maker);
		CHECK_MSG(ok, "reply %u does not decrypt", k);
		if (!ok)
			continue;
		/* ... with the cookie of src[i]: a mac2 made with it passes from there only. */
		cookie_add_mac_to_packet(&init[i], sizeof(init[i]), &maker);
		CHECK(cookie_validate_packet(&b.dev->cookie_checker, &init[i], sizeof(init[i]),
					     &src[i], true) == VALID_MAC_WITH_COOKIE);
		CHECK(cookie_validate_packet(&b.dev->cookie_checker, &init[i], sizeof(init[i]),
					     &src[(i + 1) % N], true) == VALID_MAC_BUT_NO_COOKIE);
	}
	node_down(&b);
}

/* A device that cannot be created closes the TUN and bind it was given (ASan: no leak). */
static void test_create_fails(void)
{
	struct fake_tun *tun = fake_tun_new();
	struct fake_bind *bind = fake_bind_new(net, "192.0.2.1");
	struct ts_device *dev = NULL;
	char err[256] = "";

	CHECK(tun && bind);
	CHECK(ts_device_create_with_io(&dev, "fake", 100, &fake_tun_ops, tun, &fake_bind_ops, bind,
				       err, sizeof(err)) == -EINVAL);
	CHECK_MSG(strstr(err, "MTU 100") != NULL, "message: %s", err);
}

static void test_tun_gone(void)
{
	struct node a, b;
	struct pollfd pfd;

	CHECK(pair_up(&a, &b));
	fake_tun_gone(a.tun);
	pfd = (struct pollfd){.fd = a.dev->stop_fd, .events = POLLIN};
	CHECK_MSG(poll(&pfd, 1, WAIT_MS) == 1, "the device did not notice its TUN was gone");
	node_down(&a);
	node_down(&b);
}

/* A pair whose devices run `workers` crypto threads each, handshake done. */
static bool pair_up_workers(struct node *a, struct node *b, int workers)
{
	if (!node_up(a, "192.0.2.1", 1) || !node_up(b, "192.0.2.2", 2) || !add_peer(a, b, true) ||
	    !add_peer(b, a, false))
		return false;
	ts_device_set_workers(a->dev, workers);
	ts_device_set_workers(b->dev, workers);
	return ts_device_start(a->dev) == 0 && ts_device_start(b->dev) == 0 && carried(a, b, 0) &&
	       carried(b, a, 0);
}

#define BURST 3000

/*
 * Batches crypted by four workers in whatever order they finish still come
 * out of the other TUN in the order they went in, both ways at once.
 */
static void test_workers_keep_order(void)
{
	struct node a, b;
	uint8_t pkt[2048];
	uint32_t want[2] = {1, 1}, seq;
	unsigned got = 0, misordered = 0;

	CHECK(pair_up_workers(&a, &b, 4));
	for (uint32_t i = 1; i <= BURST; i++) {
		size_t len = make_packet(pkt, 1, 2, i, 200 + i % 1000);

		CHECK(fake_tun_inject(a.tun, pkt, len) == 0);
		len = make_packet(pkt, 2, 1, i, 100 + i % 1200);
		CHECK(fake_tun_inject(b.tun, pkt, len) == 0);
	}
	for (int dir = 0; dir < 2; dir++) {
		struct fake_tun *to = dir ? a.tun : b.tun;

		for (uint32_t i = 1; i <= BURST; i++) {
			int n = fake_tun_take(to, pkt, sizeof(pkt), WAIT_MS);

			if (n < 32)
				break;
			memcpy(&seq, pkt + 28, sizeof(seq));
			if (seq != want[dir])
				misordered++;
			want[dir] = seq + 1;
			got++;
		}
	}
	CHECK_MSG(got == 2 * BURST, "%u of %u packets came out", got, 2 * BURST);
	CHECK_MSG(misordered == 0, "%u packets out of order", misordered);
	node_down(&a);
	node_down(&b);
}

/*
 * A peer removed while its batches are in the workers' hands: nothing is
 * left behind or used after it is freed (this test matters most under
 * ASan), and the device carries on with its other peer.
 */
static void test_workers_peer_removed(void)
{
	struct node a, b, c;
	uint8_t pkt[2048];
	char text[256], hex[TS_KEY_HEX_LEN], err[256];

	CHECK(pair_up_workers(&a, &b, 4));
	CHECK(node_up(&c, "192.0.2.3", 3) && add_peer(&a, &c, true) && add_peer(&c, &a, false));
	CHECK(ts_device_start(c.dev) == 0);
	CHECK(carried(&a, &c, 1));
	for (int round = 0; round < 2; round++) {
		for (uint32_t i = 1; i <= BURST; i++) {
			size_t len = make_packet(pkt, 1, 2, i, 1000);

			CHECK(fake_tun_inject(a.tun, pkt, len) == 0);
			len = make_packet(pkt, 2, 1, i, 1000);
			CHECK(fake_tun_inject(b.tun, pkt, len) == 0);
		}
		/* Remove b while those are on their way, then add it back. */
		ts_key_to_hex(hex, b.pub);
		snprintf(text, sizeof(text), "public_key=%s\nremove=true\n", hex);
		CHECK(fake_device_apply(a.dev, text, err, sizeof(err)) == 0);
		CHECK(carried(&a, &c, 2 + round));
		CHECK(add_peer(&a, &b, true));
	}
	node_down(&a);
	node_down(&b);
	node_down(&c);
}

/*
 * A session born after the thread about to use it read the clock: the tx
 * thread reads it once per batch before it takes each peer's lock, the rx
 * thread before it looks the keypair up, and the handshake thread can
 * install a keypair in between (it does exactly then when packets wait for
 * a handshake).  Its age is 0, not 2^64 ns: it must carry traffic both
 * ways at once, without another handshake.  With a wrapped age the sender
 * marked it expired and staged every packet until the next handshake, up
 * to 15 s away (test_seam's churn caught it under ThreadSanitizer).
 */
static void born_later(struct node *n, const struct node *p)
{
	struct ts_peer *peer = ts_device_get_peer(n->dev, p->pub);

	CHECK(peer);
	if (!peer)
		return;
	ts_peer_lock(peer);
	CHECK(peer->kp_current);
	if (peer->kp_current)
		peer->kp_current->birthdate_ns = ts_now_ns() + ts_secs(2);
	ts_peer_unlock(peer);
	ts_peer_put(peer);
}

static void test_young_session(void)
{
	struct node a, b;
	uint64_t initiations;

	CHECK(pair_up(&a, &b));
	CHECK(carried(&a, &b, 1));
	CHECK(carried(&b, &a, 2));
	initiations = fake_bind_received(b.bind, MESSAGE_HANDSHAKE_INITIATION) +
		      fake_bind_received(a.bind, MESSAGE_HANDSHAKE_INITIATION);
	born_later(&a, &b);
	born_later(&b, &a);
	for (uint32_t i = 3; i < 9; i++)
		CHECK_MSG(carried(i % 2 ? &a : &b, i % 2 ? &b : &a, i),
			  "packet %u not carried by a session born after the clock was read", i);
	CHECK_MSG(fake_bind_received(b.bind, MESSAGE_HANDSHAKE_INITIATION) +
			  fake_bind_received(a.bind, MESSAGE_HANDSHAKE_INITIATION) ==
		      initiations,
		  "the young session was given up for a new handshake");
	node_down(&a);
	node_down(&b);
}

int main(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
	    {"data both ways", test_data_both_ways},
	    {"replay and reorder", test_replay_and_reorder},
	    {"forged counter", test_forged_counter},
	    {"roaming", test_roaming},
	    {"rekey", test_rekey},
	    {"session younger than the clock reading", test_young_session},
	    {"expiry", test_expiry},
	    {"cookie under load", test_cookie_under_load},
	    {"flood from one source", test_flood_one_source},
	    {"cookie replies in batches", test_cookie_batch},
	    {"create fails", test_create_fails},
	    {"tun gone", test_tun_gone},
	    {"workers keep order", test_workers_keep_order},
	    {"workers: peer removed in flight", test_workers_peer_removed},
	};

	if (sodium_init() < 0)
		return 1;
	ts_log_set_level(TS_LOG_ERROR);
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		int before = failures;
		uint64_t start = ts_now_ns();

		net = fake_net_new();
		tests[i].fn();
		fake_net_free(net);
		fprintf(stderr, "%s: %s (%.1f s)\n", tests[i].name,
			failures == before ? "ok" : "FAILED", (double)(ts_now_ns() - start) / 1e9);
	}
	return failures ? 1 : 0;
}
