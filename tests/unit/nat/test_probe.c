// SPDX-License-Identifier: MIT
/*
 * test_probe: nat-probe's version 2 messages (plugins/nat-probe/probe.c) and
 * the counter window (window.c): round trips, the keys mirrored between the
 * two sides and different per direction, every flipped bit and truncation
 * refused, a message reflected back to its sender refused, version 1
 * refused, replays refused, and the window's edges.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"
#include "probe.h"
#include "window.h"

static uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32];
static struct probe_keys ka, kb; /* A's view and B's view of the pair */
static uint8_t wrong[32];

static void keys(void)
{
	uint8_t dh_a[32], dh_b[32];

	randombytes_buf(a_priv, 32);
	randombytes_buf(b_priv, 32);
	crypto_scalarmult_base(a_pub, a_priv);
	crypto_scalarmult_base(b_pub, b_priv);
	CHECK_MSG(crypto_scalarmult(dh_a, a_priv, b_pub) == 0, "dh a");
	CHECK_MSG(crypto_scalarmult(dh_b, b_priv, a_pub) == 0, "dh b");
	probe_keys(&ka, dh_a, a_pub, b_pub);
	probe_keys(&kb, dh_b, b_pub, a_pub);
	CHECK_MSG(!memcmp(ka.mac_tx, kb.mac_rx, 32) && !memcmp(ka.mac_rx, kb.mac_tx, 32),
		  "mac keys mirrored");
	CHECK_MSG(!memcmp(ka.cand_tx, kb.cand_rx, 32) && !memcmp(ka.cand_rx, kb.cand_tx, 32),
		  "cand keys mirrored");
	CHECK_MSG(memcmp(ka.mac_tx, ka.mac_rx, 32) && memcmp(ka.cand_tx, ka.cand_rx, 32),
		  "each direction has its own key");
	CHECK_MSG(memcmp(ka.mac_tx, ka.cand_tx, 32) && memcmp(ka.mac_tx, dh_a, 32),
		  "mac and cand keys differ, neither is the raw DH");
	memcpy(wrong, kb.mac_rx, 32);
	wrong[0] ^= 1;
}

static int decode_any(const uint8_t *p, size_t n, int cand, const uint8_t *key)
{
	if (cand) {
		struct cand_msg m;
		return cand_decode(p, n, key, &m);
	}
	struct probe_msg m;
	return probe_decode(p, n, key, &m);
}

/* Every proper prefix and one extra byte: rejected. */
static void truncations(const uint8_t *msg, size_t len, int cand, const uint8_t *key,
			const char *what)
{
	for (size_t cut = 0; cut <= len; cut++) {
		uint8_t *p = malloc(len + 1);
		size_t n = cut == len ? len + 1 : cut;

		memcpy(p, msg, len);
		p[len] = 0; /* one extra byte */
		CHECK_MSG(decode_any(p, n, cand, key) != PROBE_OK, "%s of %zu bytes accepted", what,
			  n);
		free(p);
	}
}

/* Every single flipped bit: rejected (by the mac, the tag or a structure check). */
static void bitflips(const uint8_t *msg, size_t len, int cand, const uint8_t *key, const char *what)
{
	uint8_t *p = malloc(len);

	for (size_t i = 0; i < len * 8; i++) {
		memcpy(p, msg, len);
		p[i / 8] ^= (uint8_t)(1u << (i % 8));
		CHECK_MSG(decode_any(p, len, cand, key) != PROBE_OK,
			  "%s with bit %zu flipped accepted", what, i);
	}
	free(p);
}

static void test_ping_pong(void)
{
	uint8_t txid[12], ping[PROBE_PING_LEN], pong[PROBE_PONG_LEN];
	struct tsr_addr obs = {.family = 4, .port = 40000, .addr = {198, 51, 100, 1}}, bad = obs;
	struct probe_msg m;
	int r;

	randombytes_buf(txid, sizeof(txid));
	probe_ping_encode(ping, ka.mac_tx, a_pub, 0x0102030405060708ULL, txid);
	CHECK_MSG(probe_is_probe(ping, sizeof(ping)) && !cand_is_cand(ping, sizeof(ping)), "magic");
	CHECK_MSG(!memcmp(ping, "TSP\x02", 4), "version 2 magic");
	/* Structure only (key NULL): lets the receiver find the sender's key first. */
	r = probe_decode(ping, sizeof(ping), NULL, &m);
	CHECK_MSG(r == PROBE_OK && !memcmp(m.sender, a_pub, 32), "structure: %s",
		  probe_result_name(r));
	r = probe_decode(ping, sizeof(ping), kb.mac_rx, &m);
	CHECK_MSG(r == PROBE_OK, "ping: %s", probe_result_name(r));
	CHECK_MSG(m.type == PROBE_PING && !memcmp(m.txid, txid, 12) && m.observed.family == 0 &&
		      m.counter == 0x0102030405060708ULL,
		  "ping fields");
	CHECK_MSG(ping[40] == 1 && ping[47] == 8, "counter big-endian at 40");
	CHECK_MSG(probe_decode(ping, sizeof(ping), wrong, &m) == PROBE_E_MAC, "ping, wrong key");
	/* Reflected: A's own PING handed back to A verifies with A's rx key: refused. */
	CHECK_MSG(probe_decode(ping, sizeof(ping), ka.mac_rx, &m) == PROBE_E_MAC,
		  "ping reflected to its sender");
	truncations(ping, sizeof(ping), 0, kb.mac_rx, "ping");
	bitflips(ping, sizeof(ping), 0, kb.mac_rx, "ping");

	r = probe_pong_encode(pong, kb.mac_tx, b_pub, 7, txid, &obs);
	CHECK_MSG(r == PROBE_OK, "pong encode");
	memset(&m, 0, sizeof(m));
	r = probe_decode(pong, sizeof(pong), ka.mac_rx, &m);
	CHECK_MSG(r == PROBE_OK, "pong: %s", probe_result_name(r));
	CHECK_MSG(m.type == PROBE_PONG && !memcmp(m.sender, b_pub, 32) &&
		      !memcmp(m.txid, txid, 12) && m.counter == 7,
		  "pong fields");
	CHECK_MSG(tsr_addr_equal(&m.observed, &obs), "pong observed address");
	CHECK_MSG(probe_decode(pong, sizeof(pong), kb.mac_rx, &m) == PROBE_E_MAC,
		  "pong reflected to its sender");
	truncations(pong, sizeof(pong), 0, ka.mac_rx, "pong");
	bitflips(pong, sizeof(pong), 0, ka.mac_rx, "pong");

	/* IPv6 observed address. */
	struct tsr_addr obs6 = {.family = 6, .port = 1, .addr = {0x20, 0x01, 0x0d, 0xb8, [15] = 9}};
	CHECK_MSG(probe_pong_encode(pong, ka.mac_tx, a_pub, 1, txid, &obs6) == PROBE_OK, "pong v6");
	CHECK_MSG(probe_decode(pong, sizeof(pong), kb.mac_rx, &m) == PROBE_OK &&
		      tsr_addr_equal(&m.observed, &obs6),
		  "pong v6 round trip");

	/* Refused: an observed family other than 4/6, an unknown type, reserved bytes, v1. */
	bad.family = 5;
	CHECK_MSG(probe_pong_encode(pong, ka.mac_tx, a_pub, 1, txid, &bad) == PROBE_E_FIELD,
		  "family 5");
	probe_ping_encode(ping, ka.mac_tx, a_pub, 1, txid);
	ping[4] = 3;
	CHECK_MSG(probe_decode(ping, sizeof(ping), NULL, &m) == PROBE_E_TYPE, "type 3");
	probe_ping_encode(ping, ka.mac_tx, a_pub, 1, txid);
	ping[6] = 1;
	CHECK_MSG(probe_decode(ping, sizeof(ping), NULL, &m) == PROBE_E_RESERVED, "reserved");
	probe_ping_encode(ping, ka.mac_tx, a_pub, 1, txid);
	ping[3] = 1;
	CHECK_MSG(probe_decode(ping, sizeof(ping), NULL, &m) == PROBE_E_MAGIC, "version 1");
	/* A version 1 PING is 68 bytes: refused whatever its bytes. */
	uint8_t v1[68] = "TSP\x01\x01";
	CHECK_MSG(probe_decode(v1, sizeof(v1), NULL, &m) == PROBE_E_MAGIC, "v1 ping");
}

static void test_candidates(void)
{
	struct tsr_addr c[CAND_MAX + 1];
	uint8_t buf[CAND_MAX_LEN + 64], buf2[CAND_MAX_LEN + 64];
	struct cand_msg m;
	size_t n;
	int r;

	for (int i = 0; i <= CAND_MAX; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].family = i % 3 ? 4 : 6;
		c[i].port = (uint16_t)(50000 + i);
		c[i].addr[0] = c[i].family == 4 ? 10 : 0xfd;
		c[i].addr[3] = (uint8_t)i;
	}
	for (size_t count = 0; count <= CAND_MAX; count++) {
		n = cand_encode(buf, sizeof(buf), ka.cand_tx, 1000 + count, CAND_FLAG_REPLY, c,
				count);
		CHECK_MSG(n == CAND_LEN(count), "length for %zu candidates: %zu", count, n);
		CHECK_MSG(cand_is_cand(buf, n) && !probe_is_probe(buf, n), "magic");
		r = cand_decode(buf, n, kb.cand_rx, &m);
		CHECK_MSG(r == PROBE_OK, "%zu candidates: %s", count, probe_result_name(r));
		CHECK_MSG(m.count == count && m.flags == CAND_FLAG_REPLY &&
			      m.counter == 1000 + count,
			  "header fields");
		for (size_t i = 0; i < count && i < m.count; i++)
			CHECK_MSG(tsr_addr_equal(&m.cand[i], &c[i]), "candidate %zu", i);
		CHECK_MSG(cand_decode(buf, n, wrong, &m) == PROBE_E_MAC, "wrong key, %zu", count);
		/* Reflected back to A, or read with a mac key: refused. */
		CHECK_MSG(cand_decode(buf, n, ka.cand_rx, &m) == PROBE_E_MAC, "reflected, %zu",
			  count);
		CHECK_MSG(cand_decode(buf, n, kb.mac_rx, &m) == PROBE_E_MAC, "mac key, %zu", count);
	}
	/* Encrypted: no address record appears in clear. */
	n = cand_encode(buf, sizeof(buf), ka.cand_tx, 1, 0, c, 3);
	for (size_t i = 0; i + 4 <= n; i++)
		CHECK_MSG(memcmp(buf + i, c[1].addr, 4), "candidate address in clear at %zu", i);
	/* Two encodings of the same list differ (fresh nonce). */
	CHECK_MSG(cand_encode(buf2, sizeof(buf2), ka.cand_tx, 1, 0, c, 3) == n &&
		      memcmp(buf, buf2, n),
		  "nonce is fresh");

	CHECK_MSG(cand_encode(buf, sizeof(buf), ka.cand_tx, 1, 0, c, CAND_MAX + 1) == 0,
		  "too many");
	CHECK_MSG(cand_encode(buf, CAND_LEN(3) - 1, ka.cand_tx, 1, 0, c, 3) == 0, "short buffer");
	c[1].family = 0;
	CHECK_MSG(cand_encode(buf, sizeof(buf), ka.cand_tx, 1, 0, c, 3) == 0, "family 0 refused");
	c[1].family = 4;

	n = cand_encode(buf, sizeof(buf), ka.cand_tx, 5, 0, c, 3);
	truncations(buf, n, 1, kb.cand_rx, "candidates");
	bitflips(buf, n, 1, kb.cand_rx, "candidates");
	/* Not a whole number of records; more than CAND_MAX records; unknown flags. */
	CHECK_MSG(cand_decode(buf, n - 1, kb.cand_rx, &m) == PROBE_E_LENGTH, "partial record");
	memset(buf2, 0, sizeof(buf2));
	memcpy(buf2, CAND_MAGIC, 4);
	CHECK_MSG(cand_decode(buf2, CAND_LEN(CAND_MAX + 1), kb.cand_rx, &m) == PROBE_E_LENGTH,
		  "17 records");
	n = cand_encode(buf, sizeof(buf), ka.cand_tx, 5, 0x02, c, 3);
	CHECK_MSG(cand_decode(buf, n, kb.cand_rx, &m) == PROBE_E_RESERVED, "unknown flag");
	/* Version 1 magic. */
	n = cand_encode(buf, sizeof(buf), ka.cand_tx, 5, 0, c, 3);
	buf[3] = 1;
	CHECK_MSG(cand_decode(buf, n, kb.cand_rx, &m) == PROBE_E_MAGIC, "version 1");
	/* Deterministic with a given nonce (what the fuzzer relies on). */
	uint8_t nonce[CAND_NONCE_LEN] = {1, 2, 3};
	n = cand_encode_nonce(buf, sizeof(buf), ka.cand_tx, 9, nonce, 0, c, 2);
	CHECK_MSG(cand_encode_nonce(buf2, sizeof(buf2), ka.cand_tx, 9, nonce, 0, c, 2) == n &&
		      !memcmp(buf, buf2, n),
		  "one encoding per nonce");
}

static void test_window(void)
{
	struct np_window w;

	np_window_init(&w);
	CHECK_MSG(np_window_fresh(&w, 0) && np_window_fresh(&w, 12345), "empty window");
	CHECK_MSG(np_window_accept(&w, 1000), "first");
	CHECK_MSG(!np_window_accept(&w, 1000), "replay of the first");
	CHECK_MSG(np_window_accept(&w, 1001), "next");
	CHECK_MSG(np_window_accept(&w, 999), "just below, unseen");
	CHECK_MSG(!np_window_accept(&w, 999), "just below, again");
	/* Edges: top - (W-1) is inside, top - W is out. */
	CHECK_MSG(np_window_accept(&w, 1001 - (NP_WINDOW_BITS - 1)), "oldest inside");
	CHECK_MSG(!np_window_fresh(&w, 1001 - NP_WINDOW_BITS), "one past the edge");
	CHECK_MSG(!np_window_accept(&w, 1001 - NP_WINDOW_BITS), "one past the edge, accept");
	CHECK_MSG(!np_window_accept(&w, 0), "far below");
	/* Fresh does not mark. */
	CHECK_MSG(np_window_fresh(&w, 1000 - 10) && np_window_fresh(&w, 1000 - 10), "fresh twice");
	CHECK_MSG(np_window_accept(&w, 1000 - 10) && !np_window_fresh(&w, 1000 - 10),
		  "then accepted once");
	/* Slides by 64 (a word): what was seen stays seen at its new position. */
	CHECK_MSG(np_window_accept(&w, 1001 + 64), "slide 64");
	CHECK_MSG(!np_window_fresh(&w, 1001) && !np_window_fresh(&w, 1000) &&
		      !np_window_fresh(&w, 999) && !np_window_fresh(&w, 990),
		  "seen counters stay seen after a word shift");
	CHECK_MSG(np_window_fresh(&w, 998), "unseen stays unseen after a word shift");
	/* Slides by 65 and 3 (bit shifts across words). */
	CHECK_MSG(np_window_accept(&w, 1001 + 64 + 65), "slide 65");
	CHECK_MSG(!np_window_fresh(&w, 1001 + 64) && !np_window_fresh(&w, 1001),
		  "seen after a 65 shift");
	CHECK_MSG(np_window_fresh(&w, 1001 + 64 + 1), "unseen after a 65 shift");
	CHECK_MSG(np_window_accept(&w, 1001 + 64 + 65 + 3), "slide 3");
	CHECK_MSG(!np_window_fresh(&w, 1001 + 64 + 65) && !np_window_fresh(&w, 1001 + 64),
		  "seen after a 3 shift");
	/* A jump past the whole window forgets everything below the new top. */
	uint64_t top = 1001 + 64 + 65 + 3;
	CHECK_MSG(np_window_accept(&w, top + NP_WINDOW_BITS + 5), "big jump");
	CHECK_MSG(!np_window_fresh(&w, top), "old top now too old");
	CHECK_MSG(np_window_accept(&w, top + 10), "inside the new window, unseen");
	/* The top of the counter space. */
	np_window_init(&w);
	CHECK_MSG(np_window_accept(&w, UINT64_MAX) && !np_window_accept(&w, UINT64_MAX),
		  "UINT64_MAX once");
	CHECK_MSG(np_window_accept(&w, UINT64_MAX - 1), "UINT64_MAX - 1");
	/* 2,000 replays of one message: one acceptance. */
	int ok = 0;
	np_window_init(&w);
	for (int i = 0; i < 2000; i++)
		ok += np_window_accept(&w, 77);
	CHECK_MSG(ok == 1, "2000 replays accepted %d times", ok);
	/* Every counter in order, then all again: W in a row accepted once each. */
	np_window_init(&w);
	ok = 0;
	for (int i = 0; i < NP_WINDOW_BITS; i++)
		ok += np_window_accept(&w, 5000 + (uint64_t)i);
	for (int i = 0; i < NP_WINDOW_BITS; i++)
		ok += np_window_accept(&w, 5000 + (uint64_t)i);
	CHECK_MSG(ok == NP_WINDOW_BITS, "in order then again: %d", ok);
}

int main(void)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "test_probe: sodium_init failed\n");
		return 1;
	}
	keys();
	test_ping_pong();
	test_candidates();
	test_window();
	if (failures) {
		fprintf(stderr, "test_probe: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_probe: ok\n");
	return 0;
}
