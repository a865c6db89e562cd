// SPDX-License-Identifier: MIT
/*
 * The engine's side of the seam (base/seam.h), with the engine's threads
 * running over the fake TUN and network of fake_io.h and a recording hook
 * table standing in for the plugin host:
 *
 * - every hook runs with no engine lock held, and never on a thread that is
 *   not the engine's (here: never on the test's main thread, which plays
 *   UAPI and the host: it applies configuration and calls the engine table);
 * - a persistent keepalive turned on by UAPI is sent, by the timer thread;
 * - inject_datagram queues: the datagram is processed on the rx thread,
 *   past the ciphertext_in hooks, and reaches the TUN;
 * - peer_foreach calls back with no lock held (the callback may re-enter);
 * - events arrive for a session, a roamed endpoint and a removed peer;
 * - peers removed and added again and again by UAPI while traffic flows
 *   (their keypairs, timers and queued sends outliving them) leave nothing
 *   dangling (run it under ASan and TSan) and the tunnel works after;
 * - the room a hook is told it has (headroom, tailroom) never reaches past
 *   what the packet's previous hook point was told: encryption's padding
 *   and tag come out of the tailroom, and so does what a ciphertext_in
 *   hook used;
 * - datagrams a plugin injects keep only the rx thread busy: the tx thread
 *   sleeps while the TUN is quiet.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "crypto.h"
#include "device.h"
#include "fake_io.h"
#include "fake_node.h"
#include "key.h"
#include "log.h"
#include "messages.h"
#include "testutil.h"

#define WAIT_MS 5000

struct recorder {
	atomic_uint calls[4];
	atomic_uint under_lock; /* hooks run while the thread held an engine lock */
	atomic_uint on_main;	/* hooks run on the main (UAPI/host) thread */
	atomic_uint events[TS_EVENT_HANDSHAKE_SECRETS + 1];
	atomic_uint no_endpoint; /* session and up/down events without the peer's endpoint */
};

static pthread_t main_thread;

static bool rec_active(void *ctx, enum ts_hook_point point)
{
	(void)ctx;
	(void)point;
	return true;
}

static bool rec_run(void *ctx, enum ts_hook_point point, struct ts_hook_pkt *p)
{
	struct recorder *r = ctx;

	(void)p;
	if (ts_engine_locks_held)
		atomic_fetch_add(&r->under_lock, 1);
	if (pthread_equal(pthread_self(), main_thread))
		atomic_fetch_add(&r->on_main, 1);
	atomic_fetch_add(&r->calls[point], 1);
	return true;
}

static void rec_event(void *ctx, const struct ts_engine_event *ev)
{
	struct recorder *r = ctx;

	if ((unsigned)ev->type <= TS_EVENT_HANDSHAKE_SECRETS)
		atomic_fetch_add(&r->events[ev->type], 1);
	if ((ev->type == TS_EVENT_HANDSHAKE_COMPLETE || ev->type == TS_EVENT_PEER_UP ||
	     ev->type == TS_EVENT_PEER_DOWN) &&
	    !ts_endpoint_is_set(&ev->endpoint))
		atomic_fetch_add(&r->no_endpoint, 1);
}

static bool rec_want_secrets(void *ctx)
{
	(void)ctx;
	return false;
}

struct node {
	struct ts_device *dev;
	struct fake_tun *tun;
	struct fake_bind *bind;
	struct recorder rec;
	struct ts_hook_table hooks;
	struct ts_engine_table table;
	uint8_t priv[32], pub[32];
	union ts_endpoint ep;
	unsigned host;
};

static struct fake_net *net;

static bool node_up(struct node *n, const char *addr, unsigned host)
{
	char err[256];

	memset(n, 0, sizeof(*n));
	ts_x25519_generate(n->priv, n->pub);
	n->host = host;
	if (fake_device_new(net, "seam", addr, 1420, &n->dev, &n->tun, &n->bind, err, sizeof(err)) <
	    0)
		return false;
	n->hooks = (struct ts_hook_table){.ctx = &n->rec,
					  .active = rec_active,
					  .run = rec_run,
					  .event = rec_event,
					  .want_secrets = rec_want_secrets};
	ts_device_set_hooks(n->dev, &n->hooks);
	ts_device_engine_table(n->dev, &n->table);
	n->ep = fake_bind_endpoint(n->bind);
	return true;
}

static int apply_text(struct node *n, const char *text)
{
	char err[256];
	int ret = fake_device_apply(n->dev, text, err, sizeof(err));

	if (ret < 0)
		fprintf(stderr, "config: %s\n", err);
	return ret;
}

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

static size_t make_packet(uint8_t *p, unsigned from, unsigned to, uint32_t seq)
{
	size_t len = fake_ipv4_udp(p, from, to, 32);

	memcpy(p + 28, &seq, sizeof(seq));
	return len;
}

/* A packet into s's TUN comes out of r's TUN within timeout_ms. */
static bool carried_within(struct node *s, struct node *r, uint32_t seq, int timeout_ms)
{
	uint8_t pkt[128];
	size_t len = make_packet(pkt, s->host, r->host, seq);

	return fake_tun_carried(s->tun, r->tun, pkt, len, timeout_ms);
}

static bool carried(struct node *s, struct node *r, uint32_t seq)
{
	return carried_within(s, r, seq, WAIT_MS);
}

struct received_at_least {
	struct fake_bind *bind;
	uint64_t want;
};

static bool data_received(void *arg)
{
	struct received_at_least *c = arg;

	return fake_bind_received(c->bind, MESSAGE_DATA) >= c->want;
}

struct event_at_least {
	atomic_uint *counter;
	unsigned want;
};

static bool event_seen(void *arg)
{
	struct event_at_least *e = arg;

	return atomic_load(e->counter) >= e->want;
}

/* Every datagram delivered to n has been through its ciphertext_in hooks. */
static bool rx_hooks_caught_up(void *arg)
{
	struct node *n = arg;
	uint64_t delivered = 0;

	for (uint8_t type = MESSAGE_HANDSHAKE_INITIATION; type <= MESSAGE_DATA; type++)
		delivered += fake_bind_received(n->bind, type);
	return atomic_load(&n->rec.calls[TS_HP_CIPHERTEXT_IN]) >= delivered;
}

static bool wait_event(struct node *n, enum ts_event_type type, unsigned want)
{
	struct event_at_least e = {.counter = &n->rec.events[type], .want = want};

	return fake_wait(event_seen, &e, WAIT_MS);
}

/* Data toward b is lost on the way (the test injects it itself). */
static enum fake_verdict drop_data_to(void *arg, const struct fake_dgram *d)
{
	const union ts_endpoint *b = arg;

	return d->len && d->data[0] == MESSAGE_DATA && ts_endpoint_equal(&d->dst, b) ? FAKE_DROP
										     : FAKE_PASS;
}

struct foreach_ctx {
	struct node *n;
	int seen, reentered, under_lock;
};

static int foreach_cb(void *arg, const struct ts_peer_info *info)
{
	struct foreach_ctx *c = arg;
	struct ts_peer_info again;

	c->seen++;
	if (ts_engine_locks_held)
		c->under_lock++;
	/* A plugin may call back into the engine from here. */
	if (c->n->table.peer_info(c->n->table.ctx, info->public_key, &again) == 0)
		c->reentered++;
	return 0;
}

static void test_seam(void)
{
	struct node a, b;
	uint8_t msg[2048], got[2048], pkt[128];
	char text[256], pub[TS_KEY_HEX_LEN];
	struct received_at_least r;
	struct foreach_ctx fc;
	union ts_endpoint roamed = fake_ep("192.0.2.77:4000");
	size_t n, len;
	unsigned pin;

	CHECK(node_up(&a, "192.0.2.1", 1) && node_up(&b, "192.0.2.2", 2));
	CHECK(add_peer(&a, &b, true) && add_peer(&b, &a, false));
	CHECK(ts_device_start(a.dev) == 0 && ts_device_start(b.dev) == 0);

	/* Data both ways: every hook point ran, each on an engine thread, no lock held. */
	CHECK(carried(&a, &b, 1));
	CHECK(carried(&b, &a, 2));
	CHECK(atomic_load(&a.rec.calls[TS_HP_PLAINTEXT_OUT]) >= 1);
	CHECK(atomic_load(&a.rec.calls[TS_HP_CIPHERTEXT_OUT]) >= 2); /* initiation, data */
	CHECK(atomic_load(&b.rec.calls[TS_HP_CIPHERTEXT_IN]) >= 2);
	CHECK(atomic_load(&b.rec.calls[TS_HP_PLAINTEXT_IN]) >= 1);
	CHECK(wait_event(&a, TS_EVENT_PEER_UP, 1));
	CHECK(wait_event(&b, TS_EVENT_HANDSHAKE_COMPLETE, 1));

	/* UAPI turns a persistent keepalive on: it goes out at once, not from this thread. */
	r.bind = b.bind;
	r.want = fake_bind_received(b.bind, MESSAGE_DATA) + 1;
	ts_key_to_hex(pub, b.pub);
	snprintf(text, sizeof(text), "public_key=%s\npersistent_keepalive_interval=25\n", pub);
	CHECK(apply_text(&a, text) == 0);
	CHECK(fake_wait(data_received, &r, WAIT_MS));

	/* A datagram handed to inject_datagram is processed on b's rx thread. */
	fake_net_set_filter(net, drop_data_to, &b.ep);
	len = make_packet(pkt, 1, 2, 3);
	CHECK(fake_tun_inject(a.tun, pkt, len) == 0);
	r.want = 0;
	n = 0;
	for (int i = 0; i < WAIT_MS && !n; i++) {
		n = fake_net_find_last(net, MESSAGE_DATA, &a.ep, &b.ep, msg, sizeof(msg));
		if (n <= 32) /* a keepalive: not ours */
			n = 0;
		if (!n)
			poll(NULL, 0, 1);
	}
	fake_net_set_filter(net, NULL, NULL);
	CHECK(n > 32);
	/* The keepalive above reached b's socket; its hooks may still be running. */
	CHECK(fake_wait(rx_hooks_caught_up, &b, WAIT_MS));
	pin = atomic_load(&b.rec.calls[TS_HP_CIPHERTEXT_IN]);
	CHECK(b.table.inject_datagram(b.table.ctx, &a.ep, msg, n) == 0);
	{
		int got_len = fake_tun_take(b.tun, got, sizeof(got), WAIT_MS);

		CHECK(got_len == (int)len && memcmp(got, pkt, len) == 0);
	}
	/* Past the ciphertext_in hooks, as the seam says. */
	CHECK(atomic_load(&b.rec.calls[TS_HP_CIPHERTEXT_IN]) == pin);
	CHECK(b.table.inject_datagram(b.table.ctx, &a.ep, msg, TS_MAX_PACKET + 1) < 0);

	/* peer_foreach: a snapshot, the callback free to re-enter. */
	fc = (struct foreach_ctx){.n = &b};
	CHECK(b.table.peer_foreach(b.table.ctx, foreach_cb, &fc) == 0);
	CHECK(fc.seen == 1 && fc.reentered == 1 && fc.under_lock == 0);

	/* A roamed endpoint is an event. */
	CHECK(b.table.peer_set_endpoint(b.table.ctx, a.pub, &roamed) == 0);
	CHECK(wait_event(&b, TS_EVENT_ENDPOINT_CHANGED, 1));

	/* Removing a peer with a session: PEER_DOWN. */
	snprintf(text, sizeof(text), "public_key=%s\nremove=true\n", pub);
	CHECK(apply_text(&a, text) == 0);
	CHECK(wait_event(&a, TS_EVENT_PEER_DOWN, 1));
	/* Every one of them carried the peer's endpoint, as plugin.h promises. */
	CHECK(atomic_load(&a.rec.no_endpoint) + atomic_load(&b.rec.no_endpoint) == 0);

	CHECK_MSG(atomic_load(&a.rec.under_lock) + atomic_load(&b.rec.under_lock) == 0,
		  "hooks ran under an engine lock");
	CHECK_MSG(atomic_load(&a.rec.on_main) + atomic_load(&b.rec.on_main) == 0,
		  "hooks ran on the UAPI/host thread");
	ts_device_destroy(a.dev);
	ts_device_destroy(b.dev);
}

struct pump {
	struct node *from, *to;
	atomic_bool stop;
	unsigned sent;
};

/* Keep packets flowing from one TUN to the other until told to stop. */
static void *pump_thread(void *arg)
{
	struct pump *p = arg;
	uint8_t pkt[128], got[2048];

	while (!atomic_load(&p->stop)) {
		size_t len = make_packet(pkt, p->from->host, p->to->host, p->sent++);

		fake_tun_inject(p->from->tun, pkt, len);
		/* Drain what arrives so the fake TUN queue never fills. */
		while (fake_tun_take(p->to->tun, got, sizeof(got), 0) >= 0)
			;
		poll(NULL, 0, 1);
	}
	return NULL;
}

static void test_churn(void)
{
	struct node a, b;
	struct pump pa = {0}, pb = {0};
	pthread_t ta, tb;
	char text[256], pub[TS_KEY_HEX_LEN];
	uint8_t got[2048];

	CHECK(node_up(&a, "192.0.2.11", 11) && node_up(&b, "192.0.2.12", 12));
	CHECK(add_peer(&a, &b, true) && add_peer(&b, &a, true));
	CHECK(ts_device_start(a.dev) == 0 && ts_device_start(b.dev) == 0);
	CHECK(carried(&a, &b, 1));
	pa = (struct pump){.from = &a, .to = &b};
	pb = (struct pump){.from = &b, .to = &a};
	CHECK(pthread_create(&ta, NULL, pump_thread, &pa) == 0);
	CHECK(pthread_create(&tb, NULL, pump_thread, &pb) == 0);
	ts_key_to_hex(pub, b.pub);
	snprintf(text, sizeof(text), "public_key=%s\nremove=true\n", pub);
	for (int i = 0; i < 40; i++) {
		CHECK(apply_text(&a, text) == 0);
		poll(NULL, 0, 2);
		CHECK(add_peer(&a, &b, true));
		poll(NULL, 0, 5);
	}
	atomic_store(&pa.stop, true);
	atomic_store(&pb.stop, true);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	while (fake_tun_take(a.tun, got, sizeof(got), 0) >= 0 ||
	       fake_tun_take(b.tun, got, sizeof(got), 0) >= 0)
		;
	/*
	 * b still holds a session a forgot: a's new handshake replaces it.  The
	 * churn sent b an initiation every few ms from a's fresh peers, which b
	 * refuses as too fast (as the kernel does); if it refused the last one,
	 * a sends the next only after REKEY_TIMEOUT.
	 */
	CHECK(carried_within(&a, &b, 100000, REKEY_TIMEOUT * 1000 + WAIT_MS));
	CHECK(carried(&b, &a, 100001));
	CHECK(atomic_load(&a.rec.under_lock) + atomic_load(&b.rec.under_lock) == 0);
	CHECK(atomic_load(&a.rec.on_main) + atomic_load(&b.rec.on_main) == 0);
	CHECK(atomic_load(&a.rec.events[TS_EVENT_PEER_DOWN]) >= 1);
	ts_device_destroy(a.dev);
	ts_device_destroy(b.dev);
}

/*
 * The bounds of the buffer a hook point was told about, per buffer: the
 * plaintext_out -> ciphertext_out and the ciphertext_in -> plaintext_in
 * steps of one packet may run on different engine threads (the crypto
 * workers), but its buffer starts where it did (data - headroom).
 */
#define ROOM_MAX 1024
static pthread_mutex_t room_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t room_lo[ROOM_MAX], room_hi[ROOM_MAX];
static unsigned room_n;
static atomic_uint room_checked, room_exceeded;

static void room_note(const struct ts_hook_pkt *p)
{
	uintptr_t lo = (uintptr_t)p->data - p->headroom;
	unsigned i;

	pthread_mutex_lock(&room_lock);
	for (i = 0; i < room_n && room_lo[i] != lo; i++)
		;
	if (i < ROOM_MAX) {
		room_lo[i] = lo;
		room_hi[i] = (uintptr_t)p->data + p->len + p->tailroom;
		if (i == room_n)
			room_n++;
	}
	pthread_mutex_unlock(&room_lock);
}

static void room_check(const struct ts_hook_pkt *p)
{
	uintptr_t lo = (uintptr_t)p->data - p->headroom,
		  hi = (uintptr_t)p->data + p->len + p->tailroom;
	unsigned i;

	pthread_mutex_lock(&room_lock);
	for (i = 0; i < room_n && room_lo[i] != lo; i++)
		;
	/* Not a packet noted (a handshake, a keepalive): nothing to compare. */
	if (i < room_n) {
		atomic_fetch_add(&room_checked, 1);
		if (hi > room_hi[i])
			atomic_fetch_add(&room_exceeded, 1);
	}
	pthread_mutex_unlock(&room_lock);
}

static bool room_run(void *ctx, enum ts_hook_point point, struct ts_hook_pkt *p)
{
	bool data = p->len > 32 && p->data[0] == MESSAGE_DATA;

	(void)ctx;
	switch (point) {
	case TS_HP_PLAINTEXT_OUT:
		room_note(p);
		break;
	case TS_HP_CIPHERTEXT_OUT:
		if (data)
			room_check(p);
		break;
	case TS_HP_CIPHERTEXT_IN:
		/* A hook may move the datagram within its buffer: to the very end here. */
		if (data && p->tailroom) {
			memmove(p->data + p->tailroom, p->data, p->len);
			p->data += p->tailroom;
			p->headroom += p->tailroom;
			p->tailroom = 0;
		}
		room_note(p);
		break;
	case TS_HP_PLAINTEXT_IN:
		room_check(p);
		break;
	}
	return true;
}

static void test_room(void)
{
	struct node a, b;

	CHECK(node_up(&a, "192.0.2.21", 21) && node_up(&b, "192.0.2.22", 22));
	a.hooks.run = b.hooks.run = room_run;
	CHECK(add_peer(&a, &b, true) && add_peer(&b, &a, false));
	CHECK(ts_device_start(a.dev) == 0 && ts_device_start(b.dev) == 0);
	for (uint32_t i = 0; i < 4; i++) {
		CHECK(carried(&a, &b, i));
		CHECK(carried(&b, &a, i));
	}
	/*
	 * 8 packets: each checked at plaintext_in, and at ciphertext_out but
	 * for a first one staged until the handshake (sent from another buffer).
	 */
	CHECK(atomic_load(&room_checked) >= 14);
	CHECK_MSG(atomic_load(&room_exceeded) == 0,
		  "a hook was told of room beyond the buffer its packet's last hook had");
	ts_device_destroy(a.dev);
	ts_device_destroy(b.dev);
}

/* CPU time a thread used, in ns. */
static uint64_t thread_cpu_ns(pthread_t t)
{
	struct timespec ts = {0};
	clockid_t clock;

	if (pthread_getcpuclockid(t, &clock) == 0)
		clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Datagrams injected by a plugin are the rx thread's work: the tx thread,
 * with nothing on the TUN, stays asleep meanwhile.
 */
static void test_inject_idle_tx(void)
{
	struct node a, b;
	uint8_t junk[64] = {MESSAGE_DATA};
	union ts_endpoint from = fake_ep("192.0.2.99:5000");
	struct timespec t0, t1;
	uint64_t cpu0, cpu, wall;

	CHECK(node_up(&a, "192.0.2.31", 31) && node_up(&b, "192.0.2.32", 32));
	CHECK(add_peer(&a, &b, true) && add_peer(&b, &a, false));
	CHECK(ts_device_start(a.dev) == 0);
	/*
	 * Its start (buffers, ThreadSanitizer's bookkeeping) is not idling:
	 * measure from when it has gone to sleep, its CPU time standing still.
	 */
	cpu0 = thread_cpu_ns(a.dev->tx_thread);
	for (int i = 0; i < WAIT_MS / 20; i++) {
		uint64_t prev = cpu0;

		poll(NULL, 0, 20);
		cpu0 = thread_cpu_ns(a.dev->tx_thread);
		if (cpu0 == prev)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 256; i++)
			a.table.inject_datagram(a.table.ctx, &from, junk, sizeof(junk));
		poll(NULL, 0, 1);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		wall = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ull +
		       (uint64_t)(t1.tv_nsec - t0.tv_nsec);
	} while (wall < 300000000ull);
	cpu = thread_cpu_ns(a.dev->tx_thread) - cpu0;
	CHECK_MSG(cpu < wall / 20, "the tx thread spun: %llu ms of CPU in %llu ms",
		  (unsigned long long)(cpu / 1000000), (unsigned long long)(wall / 1000000));
	ts_device_destroy(a.dev);
	ts_device_destroy(b.dev);
}

int main(void)
{
	if (ts_crypto_init() < 0)
		return 1;
	ts_log_set_level(TS_LOG_WARN);
	main_thread = pthread_self();
	net = fake_net_new();
	if (!net)
		return 1;
	test_seam();
	test_churn();
	test_room();
	test_inject_idle_tx();
	fake_net_free(net);
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
