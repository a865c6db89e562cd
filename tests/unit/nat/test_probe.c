// SPDX-License-Identifier: MIT
/*
 * test_probe: nat-probe's PING/PONG and candidates codecs
 * (plugins/nat-probe/probe.c): round trips, the pair key being the same from
 * both sides, bad macs (wrong key, any flipped bit), truncations and bad
 * fields rejected.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"
#include "probe.h"

static uint8_t a_priv[32], a_pub[32], b_priv[32], b_pub[32], pk[32], pk_b[32], wrong[32];

static void keys(void)
{
	uint8_t dh_a[32], dh_b[32];

	randombytes_buf(a_priv, 32);
	randombytes_buf(b_priv, 32);
	crypto_scalarmult_base(a_pub, a_priv);
	crypto_scalarmult_base(b_pub, b_priv);
	CHECK_MSG(crypto_scalarmult(dh_a, a_priv, b_pub) == 0, "dh a");
	CHECK_MSG(crypto_scalarmult(dh_b, b_priv, a_pub) == 0, "dh b");
	probe_key(pk, dh_a);
	probe_key(pk_b, dh_b);
	CHECK_MSG(!memcmp(pk, pk_b, 32), "both sides derive the same probe key");
	CHECK_MSG(memcmp(pk, dh_a, 32), "the key is not the raw DH");
	memcpy(wrong, pk, 32);
	wrong[0] ^= 1;
}

/* Every proper prefix and one extra byte: rejected. */
static void truncations(const uint8_t *msg, size_t len, int cand, const char *what)
{
	for (size_t cut = 0; cut <= len; cut++) {
		uint8_t *p = malloc(cut + 1);
		int r;

		memcpy(p, msg, cut < len ? cut : len);
		if (cut == len)
			p[len] = 0; /* one extra byte */
		size_t n = cut == len ? len + 1 : cut;
		if (cand) {
			struct cand_msg m;
			r = cand_decode(p, n, pk, &m);
		} else {
			struct probe_msg m;
			r = probe_decode(p, n, pk, &m);
		}
		CHECK_MSG(r != PROBE_OK, "%s of %zu bytes accepted", what, n);
		free(p);
	}
}

/* Every single flipped bit: rejected (by the mac or a structure check). */
static void bitflips(const uint8_t *msg, size_t len, int cand, const char *what)
{
	uint8_t *p = malloc(len);

	for (size_t i = 0; i < len * 8; i++) {
		int r;

		memcpy(p, msg, len);
		p[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (cand) {
			struct cand_msg m;
			r = cand_decode(p, len, pk, &m);
		} else {
			struct probe_msg m;
			r = probe_decode(p, len, pk, &m);
		}
		CHECK_MSG(r != PROBE_OK, "%s with bit %zu flipped accepted", what, i);
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
	probe_ping_encode(ping, pk, a_pub, txid);
	CHECK_MSG(probe_is_probe(ping, sizeof(ping)) && !cand_is_cand(ping, sizeof(ping)), "magic");
	/* Structure only (pk NULL): lets the receiver find the sender's key first. */
	r = probe_decode(ping, sizeof(ping), NULL, &m);
	CHECK_MSG(r == PROBE_OK && !memcmp(m.sender, a_pub, 32), "structure: %s",
		  probe_result_name(r));
	r = probe_decode(ping, sizeof(ping), pk_b, &m);
	CHECK_MSG(r == PROBE_OK, "ping: %s", probe_result_name(r));
	CHECK_MSG(m.type == PROBE_PING && !memcmp(m.txid, txid, 12) && m.observed.family == 0,
		  "ping fields");
	CHECK_MSG(probe_decode(ping, sizeof(ping), wrong, &m) == PROBE_E_MAC, "ping, wrong key");
	truncations(ping, sizeof(ping), 0, "ping");
	bitflips(ping, sizeof(ping), 0, "ping");

	r = probe_pong_encode(pong, pk_b, b_pub, txid, &obs);
	CHECK_MSG(r == PROBE_OK, "pong encode");
	memset(&m, 0, sizeof(m));
	r = probe_decode(pong, sizeof(pong), pk, &m);
	CHECK_MSG(r == PROBE_OK, "pong: %s", probe_result_name(r));
	CHECK_MSG(m.type == PROBE_PONG && !memcmp(m.sender, b_pub, 32) && !memcmp(m.txid, txid, 12),
		  "pong fields");
	CHECK_MSG(tsr_addr_equal(&m.observed, &obs), "pong observed address");
	CHECK_MSG(probe_decode(pong, sizeof(pong), wrong, &m) == PROBE_E_MAC, "pong, wrong key");
	truncations(pong, sizeof(pong), 0, "pong");
	bitflips(pong, sizeof(pong), 0, "pong");

	/* IPv6 observed address. */
	struct tsr_addr obs6 = {.family = 6, .port = 1, .addr = {0x20, 0x01, 0x0d, 0xb8, [15] = 9}};
	CHECK_MSG(probe_pong_encode(pong, pk, a_pub, txid, &obs6) == PROBE_OK, "pong v6");
	CHECK_MSG(probe_decode(pong, sizeof(pong), pk, &m) == PROBE_OK &&
		      tsr_addr_equal(&m.observed, &obs6),
		  "pong v6 round trip");

	/* Refused: an observed family other than 4/6, an unknown type, reserved bytes. */
	bad.family = 5;
	CHECK_MSG(probe_pong_encode(pong, pk, a_pub, txid, &bad) == PROBE_E_FIELD, "family 5");
	probe_ping_encode(ping, pk, a_pub, txid);
	ping[4] = 3;
	CHECK_MSG(probe_decode(ping, sizeof(ping), NULL, &m) == PROBE_E_TYPE, "type 3");
	probe_ping_encode(ping, pk, a_pub, txid);
	ping[6] = 1;
	CHECK_MSG(probe_decode(ping, sizeof(ping), NULL, &m) == PROBE_E_RESERVED, "reserved");
	ping[0] = 'X';
	CHECK_MSG(probe_decode(ping, sizeof(ping), NULL, &m) == PROBE_E_MAGIC, "magic");
}

static void test_candidates(void)
{
	struct tsr_addr c[CAND_MAX + 1];
	uint8_t txid[12], buf[CAND_MAX_LEN + 32];
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
	randombytes_buf(txid, sizeof(txid));

	for (size_t count = 0; count <= CAND_MAX; count++) {
		n = cand_encode(buf, sizeof(buf), pk, txid, CAND_FLAG_REPLY, c, count);
		CHECK_MSG(n == CAND_LEN(count), "length for %zu candidates: %zu", count, n);
		CHECK_MSG(cand_is_cand(buf, n) && !probe_is_probe(buf, n), "magic");
		r = cand_decode(buf, n, pk_b, &m);
		CHECK_MSG(r == PROBE_OK, "%zu candidates: %s", count, probe_result_name(r));
		CHECK_MSG(m.count == count && m.flags == CAND_FLAG_REPLY &&
			      !memcmp(m.txid, txid, 12),
			  "header fields");
		for (size_t i = 0; i < count && i < m.count; i++)
			CHECK_MSG(tsr_addr_equal(&m.cand[i], &c[i]), "candidate %zu", i);
		CHECK_MSG(cand_decode(buf, n, wrong, &m) == PROBE_E_MAC, "wrong key, %zu", count);
	}
	CHECK_MSG(cand_encode(buf, sizeof(buf), pk, txid, 0, c, CAND_MAX + 1) == 0, "too many");
	CHECK_MSG(cand_encode(buf, CAND_LEN(3) - 1, pk, txid, 0, c, 3) == 0, "short buffer");
	c[1].family = 0;
	CHECK_MSG(cand_encode(buf, sizeof(buf), pk, txid, 0, c, 3) == 0, "family 0 refused");
	c[1].family = 4;

	n = cand_encode(buf, sizeof(buf), pk, txid, 0, c, 3);
	truncations(buf, n, 1, "candidates");
	bitflips(buf, n, 1, "candidates");
	/* A count that does not match the length; a count above CAND_MAX; unknown flags. */
	buf[17] = 4;
	CHECK_MSG(cand_decode(buf, n, pk, &m) == PROBE_E_SHORT, "count 4 in a 3-record message");
	buf[17] = 2;
	CHECK_MSG(cand_decode(buf, n, pk, &m) == PROBE_E_LENGTH, "count 2 in a 3-record message");
	buf[17] = CAND_MAX + 1;
	CHECK_MSG(cand_decode(buf, n, pk, &m) == PROBE_E_FIELD, "count above max");
	n = cand_encode(buf, sizeof(buf), pk, txid, 0x02, c, 3);
	CHECK_MSG(cand_decode(buf, n, pk, &m) == PROBE_E_RESERVED, "unknown flag");
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
	if (failures) {
		fprintf(stderr, "test_probe: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_probe: ok\n");
	return 0;
}
