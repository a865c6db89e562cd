// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the engine's real receive path: whole datagrams into
 * ts_receive_datagram() of a device b that has a live session with a peer a,
 * then b's queued handshake messages processed, over the fake I/O of
 * tests/unit/fake_io.h.  The devices' threads are never started: everything
 * runs on the fuzzer's thread, so each input is processed completely before
 * the next.
 *
 * An input is one control byte, then the datagram:
 *   bit 0  patch b's live receiver index into a data message or cookie
 *          reply (bytes 4..8), so the fuzzer gets past the index lookup;
 *   bit 1  the datagram comes from a's endpoint (else from a stranger);
 *   bit 2  seal a data message: bytes 16..len-16 are plaintext, encrypted
 *          here under the live session's key with the message's counter,
 *          so it authenticates and the fuzzer reaches the counter, replay,
 *          inner-packet and allowed-IPs checks;
 *   bit 3  stamp an initiation or response with the macs a's cookie maker
 *          computes for b (mac1 under b's public key, mac2 when a holds a
 *          cookie from b), so the fuzzer's bytes get past b's mac check and
 *          into the Noise consumption;
 *   bit 4  craft a handshake message instead: the datagram is the fields
 *          (struct craft below) the harness builds a real message from
 *          with the Noise code, so it authenticates as far as the fields
 *          allow -- an initiation from a (b's replay and flood checks,
 *          response, new session), from a stranger's key (unknown peer), or
 *          a's response to an initiation b is made to send (b's response
 *          consumption, session as initiator);
 *   bit 5  b is under load for this datagram (cookie replies, mac2 check,
 *          rate limiters), and what b sends to a is delivered, so a's maker
 *          holds b's cookie for the next bit-3 input; without it b is not
 *          under load.
 * The session is fresh in every process, so seeds rely on bits 0 and 2, not
 * on keys of the process that wrote them:
 *
 *	TS_FUZZ_WRITE_SEEDS=tests/fuzz/corpus/fuzz_receive ./fuzz_receive
 */
#include <endian.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "device.h"
#include "fake_io.h"
#include "fake_node.h"
#include "key.h"
#include "log.h"
#include "messages.h"
#include "noise.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { PATCH_INDEX = 1, FROM_PEER = 2, SEAL = 4, MACS = 8, CRAFT = 16, LOAD = 32 };

/* The fields of a bit-4 input; missing bytes are zero. */
struct craft {
	/*
	 * Bits 0-6 % 3: initiation from a, from a stranger, a's response; bit 7: b
	 * forgets when it last accepted an initiation from a, as if the
	 * 1/INITIATIONS_PER_SECOND interval had passed.
	 */
	uint8_t kind;
	uint8_t ephemeral[32];
	/*
	 * The initiation's timestamp is now plus these seconds (little-endian,
	 * signed) and nanoseconds, so a fresh process's b sees fresh ones.
	 */
	uint8_t ts_offset[2];
	uint8_t ts_nsec[4];
	uint8_t index[4];
	uint8_t flip[2]; /* flip[1] is xored into the built message at offset flip[0] */
};

struct node {
	struct ts_device *dev;
	struct fake_tun *tun;
	struct fake_bind *bind;
	uint8_t priv[32], pub[32];
	union ts_endpoint ep;
};

static struct fake_net *net;
static struct node a, b;
static struct ts_peer *a_to_b, *b_to_a;
static union ts_endpoint stranger;
static uint8_t buf[TS_HEADROOM + TS_MAX_PACKET + TS_TAILROOM];

static void die(const char *what)
{
	fprintf(stderr, "fuzz_receive setup: %s\n", what);
	exit(1);
}

static void node_up(struct node *n, const char *addr, uint8_t key_byte)
{
	char err[256];

	memset(n->priv, key_byte, sizeof(n->priv));
	ts_x25519_clamp(n->priv);
	if (!ts_x25519_public(n->pub, n->priv))
		die("key");
	if (fake_device_new(net, "fuzz", addr, 1420, &n->dev, &n->tun, &n->bind, err, sizeof(err)) <
	    0)
		die(err);
	n->ep = fake_bind_endpoint(n->bind);
}

static void add_peer(struct node *n, const struct node *p, const char *allowed)
{
	char err[256];

	if (fake_device_add_peer(n->dev, n->priv, p->pub, allowed, &p->ep, err, sizeof(err)) < 0)
		die(err);
}

static struct ts_peer *peer_of(struct node *n, const struct node *p)
{
	struct ts_peer *peer;

	ts_device_read_lock(n->dev);
	peer = ts_device_lookup_peer(n->dev, p->pub);
	ts_device_read_unlock(n->dev);
	if (!peer)
		die("peer");
	return peer;
}

/* One datagram into n's receive path, as its rx thread would hand it over. */
static void receive(struct node *n, const union ts_endpoint *src,
		    const struct ts_endpoint_src *local, size_t len)
{
	ts_receive_datagram(n->dev, src, local, buf, TS_HEADROOM, len);
	ts_handshake_process_queued(n->dev);
}

/* Deliver everything in flight until the network is quiet. */
static void pump(void)
{
	struct ts_endpoint_src local;
	union ts_endpoint src;
	bool moved = true;
	int len;

	for (int round = 0; moved && round < 32; round++) {
		moved = false;
		while ((len = fake_bind_pop(a.bind, buf + TS_HEADROOM, TS_MAX_PACKET, &src,
					    &local)) >= 0) {
			receive(&a, &src, &local, (size_t)len);
			moved = true;
		}
		while ((len = fake_bind_pop(b.bind, buf + TS_HEADROOM, TS_MAX_PACKET, &src,
					    &local)) >= 0) {
			receive(&b, &src, &local, (size_t)len);
			moved = true;
		}
	}
}

/* Forget what the devices sent, so nothing piles up between inputs. */
static void discard(void)
{
	struct ts_endpoint_src local;
	union ts_endpoint src;
	uint8_t scratch[64];

	while (fake_bind_pop(a.bind, scratch, sizeof(scratch), &src, &local) >= 0)
		;
	while (fake_bind_pop(b.bind, scratch, sizeof(scratch), &src, &local) >= 0)
		;
	while (fake_tun_take(b.tun, scratch, sizeof(scratch), 0) >= 0)
		;
}

/* b's session with a right now: its receiver index and key; false if none. */
static bool live_session(uint32_t *index, uint8_t key[32])
{
	struct ts_keypair *kp;
	bool ok;

	pthread_mutex_lock(&b_to_a->lock);
	kp = b_to_a->kp_current ? b_to_a->kp_current : b_to_a->kp_next;
	ok = kp != NULL && atomic_load(&kp->receiving_valid);
	if (ok) {
		*index = kp->local_index;
		memcpy(key, kp->receiving_key, 32);
	}
	pthread_mutex_unlock(&b_to_a->lock);
	return ok;
}

/* a's packet to b, encrypted by a's real send path; the datagram is returned in msg. */
static size_t a_sends(const uint8_t *pkt, size_t len, uint8_t *msg, size_t cap)
{
	static uint8_t sbuf[TS_HEADROOM + TS_MAX_PACKET + TS_TAILROOM];
	struct ts_endpoint_src local;
	union ts_endpoint src;
	int n;

	memcpy(sbuf + TS_HEADROOM, pkt, len);
	ts_send_packet(a_to_b, sbuf, TS_HEADROOM, len);
	n = fake_bind_pop(b.bind, msg, cap, &src, &local);
	return n < 0 ? 0 : (size_t)n;
}

/* 10.0.0.<src_host> to b (10.0.0.2), payload bytes after the IP header (the UDP header included).
 */
static size_t ipv4_packet(uint8_t *p, uint8_t src_host, size_t payload)
{
	return fake_ipv4_udp(p, src_host, 2, payload - 8);
}

static void setup(void)
{
	uint8_t pkt[128], msg[256], got[256];
	size_t len, n;

	if (sodium_init() < 0)
		die("sodium");
	ts_log_set_level(getenv("TS_FUZZ_DEBUG") ? TS_LOG_DEBUG : TS_LOG_ERROR);
	net = fake_net_new();
	node_up(&a, "192.0.2.1", 0x11);
	node_up(&b, "192.0.2.2", 0x22);
	add_peer(&a, &b, "10.0.0.2/32");
	add_peer(&b, &a, "10.0.0.1/32");
	a_to_b = peer_of(&a, &b);
	b_to_a = peer_of(&b, &a);
	stranger = fake_ep("192.0.2.99:1234");

	/* The handshake, then a's confirming keepalive: b's session is live. */
	ts_send_handshake_initiation(a_to_b, false);
	pump();
	len = ipv4_packet(pkt, 1, 40);
	n = a_sends(pkt, len, msg, sizeof(msg));
	if (n < 32)
		die("no data message");
	memcpy(buf + TS_HEADROOM, msg, n);
	receive(&b, &a.ep, &(struct ts_endpoint_src){0}, n);
	if (fake_tun_take(b.tun, got, sizeof(got), 0) != (int)len || memcmp(got, pkt, len) != 0)
		die("the session carries no data");
	discard();
}

static void run_input(const uint8_t *data, size_t size);

static void write_seed(const char *dir, const char *name, uint8_t ctl, const uint8_t *msg,
		       size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(&ctl, 1, 1, f) != 1 || fwrite(msg, 1, len, f) != len || fclose(f) != 0)
		die(path);
}

/* A data message header with counter, then plaintext p (sealed by the harness), room for the tag.
 */
static size_t data_template(uint8_t *msg, uint64_t counter, const uint8_t *p, size_t plen)
{
	uint32_t type = htole32(MESSAGE_DATA);
	size_t padded = (plen + 15) & ~(size_t)15;

	memset(msg, 0, 16 + padded + 16);
	memcpy(msg, &type, 4);
	counter = htole64(counter);
	memcpy(msg + 8, &counter, 8);
	if (plen)
		memcpy(msg + 16, p, plen);
	return 16 + padded + 16;
}

/*
 * A crafted seed gets all the way through: b answers a's initiation with a
 * response, a stranger's with nothing, a's response with a keepalive.
 */
static void craft_reaches(const struct craft *c, unsigned kind)
{
	static const int answer[3] = {sizeof(struct message_handshake_response), 0, 32};
	uint8_t in[1 + sizeof(*c)], out[256];
	int n, got = 0;

	discard();
	in[0] = CRAFT | FROM_PEER;
	memcpy(in + 1, c, sizeof(*c));
	run_input(in, sizeof(in));
	while ((n = fake_bind_pop(a.bind, out, sizeof(out), &(union ts_endpoint){0},
				  &(struct ts_endpoint_src){0})) >= 0) {
		if (n == answer[kind])
			got = n;
	}
	if (got != answer[kind])
		die("a crafted seed is not answered as it should be");
	discard();
}

static void write_seeds(const char *dir)
{
	uint8_t pkt[128], msg[512];
	size_t len, n;

	/* Real messages of this process (their index and keys are patched in when run). */
	len = ipv4_packet(pkt, 1, 40);
	n = a_sends(pkt, len, msg, sizeof(msg));
	write_seed(dir, "data-real", PATCH_INDEX | FROM_PEER, msg, n);
	ts_send_handshake_initiation(a_to_b, true);
	n = (size_t)fake_bind_pop(b.bind, msg, sizeof(msg), &(union ts_endpoint){0},
				  &(struct ts_endpoint_src){0});
	write_seed(dir, "initiation", FROM_PEER, msg, n);
	discard();

	/* Sealed by the harness: these authenticate in any process. */
	n = data_template(msg, 5000, pkt, len);
	write_seed(dir, "data-sealed", PATCH_INDEX | FROM_PEER | SEAL, msg, n);
	{
		/* Seeds are only useful if they get all the way through: prove it. */
		uint8_t in[512], got[256];

		in[0] = PATCH_INDEX | FROM_PEER | SEAL;
		memcpy(in + 1, msg, n);
		run_input(in, n + 1);
		if (fake_tun_take(b.tun, got, sizeof(got), 0) != (int)len ||
		    memcmp(got, pkt, len) != 0)
			die("a sealed seed does not reach the TUN");
		discard();
	}
	write_seed(dir, "data-sealed-roamed", PATCH_INDEX | SEAL, msg, n);
	n = data_template(msg, 5001, NULL, 0);
	write_seed(dir, "keepalive-sealed", PATCH_INDEX | FROM_PEER | SEAL, msg, n);
	n = data_template(msg, UINT64_MAX, pkt, len);
	write_seed(dir, "data-sealed-counter-max", PATCH_INDEX | FROM_PEER | SEAL, msg, n);
	len = ipv4_packet(pkt, 9, 40); /* 10.0.0.9: outside a's allowed IPs */
	n = data_template(msg, 5002, pkt, len);
	write_seed(dir, "data-sealed-bad-source", PATCH_INDEX | FROM_PEER | SEAL, msg, n);
	memset(pkt, 0, 60);
	pkt[0] = 0x60;
	pkt[5] = 20; /* IPv6, 20 bytes of payload, no allowed IP */
	n = data_template(msg, 5003, pkt, 60);
	write_seed(dir, "data-sealed-ipv6", PATCH_INDEX | FROM_PEER | SEAL, msg, n);

	/* Crafted handshakes (bit 4), each kind, in and out of load; stamped garbage (bit 3). */
	{
		struct craft c = {0};

		for (unsigned kind = 0; kind < 3; kind++) {
			char name[64];

			c.kind = (uint8_t)(kind | 0x80);
			memset(c.ephemeral, 0x30 + (int)kind, sizeof(c.ephemeral));
			c.ts_offset[0] = (uint8_t)(1 + kind);
			memset(c.index, 0x40 + (int)kind, sizeof(c.index));
			snprintf(name, sizeof(name), "craft-%u", kind);
			write_seed(dir, name, CRAFT | FROM_PEER, (uint8_t *)&c, sizeof(c));
			craft_reaches(&c, kind);
			snprintf(name, sizeof(name), "craft-%u-load", kind);
			write_seed(dir, name, CRAFT | FROM_PEER | LOAD, (uint8_t *)&c, sizeof(c));
		}
		c.kind = 0;
		c.flip[0] = 60;
		c.flip[1] = 1;
		write_seed(dir, "craft-0-flipped", CRAFT | FROM_PEER, (uint8_t *)&c, sizeof(c));
	}
	memset(msg, 0x77, sizeof(struct message_handshake_initiation));
	memcpy(msg, &(uint32_t){htole32(MESSAGE_HANDSHAKE_INITIATION)}, 4);
	write_seed(dir, "initiation-stamped", MACS | FROM_PEER, msg,
		   sizeof(struct message_handshake_initiation));
	write_seed(dir, "initiation-stamped-load", MACS | LOAD, msg,
		   sizeof(struct message_handshake_initiation));
	memset(msg, 0x78, sizeof(struct message_handshake_response));
	memcpy(msg, &(uint32_t){htole32(MESSAGE_HANDSHAKE_RESPONSE)}, 4);
	write_seed(dir, "response-stamped", MACS | FROM_PEER, msg,
		   sizeof(struct message_handshake_response));

	/* The forged counter of issue 9: live index, 2^64-1, garbage tag, a stranger. */
	n = data_template(msg, UINT64_MAX, NULL, 0);
	memset(msg + 16, 0xa5, 16);
	write_seed(dir, "data-forged-counter", PATCH_INDEX, msg, n);
	/* A cookie reply for the live index, with garbage contents. */
	memset(msg, 0x5a, sizeof(struct message_handshake_cookie));
	memcpy(msg, &(uint32_t){htole32(MESSAGE_HANDSHAKE_COOKIE)}, 4);
	write_seed(dir, "cookie", PATCH_INDEX | FROM_PEER, msg,
		   sizeof(struct message_handshake_cookie));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("TS_FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	setup();
	if (dir) {
		write_seeds(dir);
		exit(0);
	}
	return 0;
}

/*
 * A new session when an input killed the last one (a valid initiation
 * replaced it, or a datagram disabled it), so later inputs reach the data
 * path again.  b refuses initiations faster than INITIATIONS_PER_SECOND: until
 * then inputs meet the dead session, which is a state worth fuzzing too.
 */
static void revive(void)
{
	uint32_t index;
	uint8_t key[32];

	if (live_session(&index, key))
		return;
	ts_send_handshake_initiation(a_to_b, true);
	pump();
	discard();
}

/* a's macs for b on an initiation or response of len bytes in msg. */
static void stamp_macs(uint8_t *msg, size_t len)
{
	ts_peer_lock(a_to_b);
	cookie_add_mac_to_packet(msg, len, &a_to_b->cookie_maker);
	ts_peer_unlock(a_to_b);
}

/*
 * Build a real handshake message from c's fields into msg (room for the
 * largest): its length, or 0 when there is none to build.
 */
static size_t craft(const struct craft *c, uint8_t *msg)
{
	struct message_handshake_initiation init;
	struct message_handshake_response resp;
	struct noise_initiation_result r;
	struct noise_handshake hs;
	struct noise_identity stranger_id;
	struct ts_endpoint_src local;
	union ts_endpoint src;
	uint8_t timestamp[12];
	uint32_t index, nsec;
	uint16_t offset;
	size_t len = 0;
	int n;

	memcpy(&index, c->index, sizeof(index));
	memcpy(&offset, c->ts_offset, sizeof(offset));
	memcpy(&nsec, c->ts_nsec, sizeof(nsec));
	tai64n_from(timestamp, (uint64_t)((int64_t)time(NULL) + (int16_t)le16toh(offset)),
		    le32toh(nsec) % 1000000000u);
	if (c->kind & 0x80) {
		ts_peer_lock(b_to_a);
		b_to_a->handshake.last_initiation_consumption_ns = 0;
		ts_peer_unlock(b_to_a);
	}
	ts_peer_lock(a_to_b);
	hs = a_to_b->handshake; /* a's static-static DH and psk for b */
	ts_peer_unlock(a_to_b);
	switch ((c->kind & 0x7f) % 3) {
	case 0:
		if (noise_create_initiation_with_ephemeral(&init, &hs, &a.dev->identity, index,
							   c->ephemeral, timestamp))
			len = sizeof(init);
		memcpy(msg, &init, sizeof(init));
		break;
	case 1:
		/* A key b does not know, derived from the ephemeral bytes. */
		noise_identity_set(&stranger_id, c->ephemeral);
		noise_handshake_init(&hs, &stranger_id, b.pub, NULL);
		if (noise_create_initiation_with_ephemeral(&init, &hs, &stranger_id, index,
							   c->ephemeral, timestamp))
			len = sizeof(init);
		memcpy(msg, &init, sizeof(init));
		sodium_memzero(&stranger_id, sizeof(stranger_id));
		break;
	default:
		/* b initiates; a answers it with the fuzzer's ephemeral and index. */
		discard();
		ts_send_handshake_initiation(b_to_a, true);
		n = fake_bind_pop(a.bind, (uint8_t *)&init, sizeof(init), &src, &local);
		if (n == (int)sizeof(init) &&
		    noise_consume_initiation_decrypt(&init, &a.dev->identity, &r) &&
		    noise_consume_initiation_accept(&hs, &r, ts_now_ns()) &&
		    noise_create_response_with_ephemeral(&resp, &hs, &a.dev->identity, index,
							 c->ephemeral))
			len = sizeof(resp);
		memcpy(msg, &resp, sizeof(resp));
		sodium_memzero(&r, sizeof(r));
		break;
	}
	sodium_memzero(&hs, sizeof(hs));
	if (!len)
		return 0;
	stamp_macs(msg, len);
	/* One flipped byte after the macs, so the fuzzer also reaches each check's failure. */
	if (c->flip[1])
		msg[c->flip[0] % len] ^= c->flip[1];
	return len;
}

/*
 * b is under load for this input (bit 5), as if its handshake queue had
 * filled, or not at all: the fuzzer's own rate would otherwise put b under
 * load (more than HS_WINDOW_LOAD handshakes a window) whatever the input
 * says, and inputs would not replay the same way.  b's rx state is the
 * harness's to set: its rx thread never runs.
 */
static void set_load_b(bool loaded)
{
	b.dev->hs_window_ns = ts_now_ns();
	b.dev->hs_window_count = 0;
	atomic_store(&b.dev->last_under_load_ns, loaded ? ts_now_ns() : 0);
}

/* Deliver what b sent to a (cookie replies, responses), once; a's answers are dropped. */
static void deliver_to_a(void)
{
	struct ts_endpoint_src local;
	union ts_endpoint src;
	int len;

	while ((len = fake_bind_pop(a.bind, buf + TS_HEADROOM, TS_MAX_PACKET, &src, &local)) >= 0)
		receive(&a, &src, &local, (size_t)len);
}

/* One input through b, leaving what it sent or wrote where it is. */
static void run_input(const uint8_t *data, size_t size)
{
	uint8_t ctl, *msg = buf + TS_HEADROOM, key[32];
	uint32_t index;
	size_t len;

	if (size < 1 || size - 1 > TS_MAX_PACKET)
		return;
	revive();
	ctl = data[0];
	len = size - 1;
	if (ctl & CRAFT) {
		struct craft c = {0};

		memcpy(&c, data + 1, len < sizeof(c) ? len : sizeof(c));
		len = craft(&c, msg);
		if (!len)
			return;
	} else {
		memcpy(msg, data + 1, len);
		if ((ctl & MACS) &&
		    (message_determine_type(msg, len) == MESSAGE_HANDSHAKE_INITIATION ||
		     message_determine_type(msg, len) == MESSAGE_HANDSHAKE_RESPONSE))
			stamp_macs(msg, len);
	}
	set_load_b(ctl & LOAD);
	if ((ctl & (PATCH_INDEX | SEAL)) && len >= 8 && live_session(&index, key)) {
		uint32_t type;

		memcpy(&type, msg, 4);
		type = le32toh(type);
		if ((ctl & PATCH_INDEX) &&
		    (type == MESSAGE_DATA || type == MESSAGE_HANDSHAKE_COOKIE)) {
			uint32_t le = htole32(index);

			memcpy(msg + 4, &le, 4);
		}
		if ((ctl & SEAL) && type == MESSAGE_DATA && len >= 32) {
			uint64_t counter;

			memcpy(&counter, msg + 8, 8);
			ts_aead_encrypt(msg + 16, msg + 16, len - 32, NULL, 0, le64toh(counter),
					key);
		}
		sodium_memzero(key, sizeof(key));
	}
	receive(&b, ctl & FROM_PEER ? &a.ep : &stranger,
		&(struct ts_endpoint_src){.family = AF_INET, .addr.in = b.ep.in.sin_addr}, len);
	if (ctl & LOAD)
		deliver_to_a();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run_input(data, size);
	discard();
	return 0;
}
