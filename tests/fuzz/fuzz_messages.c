// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for everything an attacker's datagram reaches before a
 * session exists: message_determine_type, then by type the initiation
 * decrypt (and, if it authenticates, accept and response), the response
 * consume against a prepared handshake, the mac1/mac2 check, the cookie
 * reply consume, and the data-message decrypt.
 *
 * All keys, ephemerals and timestamps are fixed so the seed messages are
 * fully valid and every run is reproducible.  The seeds are written by this
 * same program:
 *
 *	TS_FUZZ_WRITE_SEEDS=tests/fuzz/corpus/fuzz_messages ./fuzz_messages
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "clock.h"
#include "cookie.h"
#include "crypto.h"
#include "messages.h"
#include "noise.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint64_t NOW = 1000 * NSEC_PER_SEC;
static const uint32_t INDEX_A = 0x11111111, INDEX_B = 0x22222222, DATA_INDEX = 0x33333333;

static struct noise_identity id_a, id_b; /* a initiates to b */
static uint8_t psk[32], e_b[32], data_key[32];
/* a's handshake after sending the seed initiation: the seed response completes it. */
static struct noise_handshake hs_a_sent;
/* b's fresh handshake for a: the seed initiation is accepted into a copy of it. */
static struct noise_handshake hs_b_fresh;
/* a's maker after sending the seed initiation: the seed cookie reply answers it. */
static struct cookie_maker maker_a_sent;
static struct cookie_checker checker_a, checker_b;
static union ts_endpoint src;

static struct message_handshake_initiation seed_init;
static struct message_handshake_response seed_resp;
static struct message_handshake_cookie seed_cookie;
static uint8_t seed_data[sizeof(struct message_data) + 32 + NOISE_AUTHTAG_LEN];

static void fill(uint8_t *p, size_t n, uint8_t first)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

static void fixed_checker(struct cookie_checker *c, const uint8_t pub[32])
{
	cookie_checker_init(c);
	cookie_checker_precompute_keys(c, pub);
	/* A fixed secret born at NOW, so cookies are the same on every run. */
	fill(c->secret, sizeof(c->secret), 0xc0);
	c->secret_birthdate_ns = NOW;
}

static void setup(void)
{
	uint8_t priv[32], e_a[32], ts[12];
	struct noise_handshake hs_b;
	struct noise_initiation_result r;
	struct cookie_maker maker_b;
	struct message_data hdr;

	if (ts_crypto_init() != 0)
		abort();
	fill(priv, 32, 0x01);
	noise_identity_set(&id_a, priv);
	fill(priv, 32, 0x41);
	noise_identity_set(&id_b, priv);
	fill(psk, 32, 0x81);
	fill(e_a, 32, 0x21);
	fill(e_b, 32, 0x61);
	fill(data_key, 32, 0xa1);
	memset(&src, 0, sizeof(src));
	src.in.sin_family = AF_INET;
	src.in.sin_port = htons(51820);
	src.in.sin_addr.s_addr = htonl(0xc0000201);
	fixed_checker(&checker_a, id_a.static_public);
	fixed_checker(&checker_b, id_b.static_public);

	/* a -> b: initiation with mac1 (and no mac2). */
	noise_handshake_init(&hs_a_sent, &id_a, id_b.static_public, psk);
	tai64n_from(ts, 1700000000, 0);
	if (!noise_create_initiation_with_ephemeral(&seed_init, &hs_a_sent, &id_a, INDEX_A, e_a,
						    ts))
		abort();
	cookie_maker_init(&maker_a_sent, id_b.static_public);
	cookie_add_mac_to_packet_at(&seed_init, sizeof(seed_init), &maker_a_sent, NOW);

	/* b -> a: the response to it. */
	noise_handshake_init(&hs_b_fresh, &id_b, id_a.static_public, psk);
	hs_b = hs_b_fresh;
	if (!noise_consume_initiation_decrypt(&seed_init, &id_b, &r) ||
	    !noise_consume_initiation_accept(&hs_b, &r, NOW) ||
	    !noise_create_response_with_ephemeral(&seed_resp, &hs_b, &id_b, INDEX_B, e_b))
		abort();
	cookie_maker_init(&maker_b, id_a.static_public);
	cookie_add_mac_to_packet_at(&seed_resp, sizeof(seed_resp), &maker_b, NOW);

	/* b -> a under load: a cookie reply to the initiation. */
	cookie_message_create_at(&seed_cookie, &checker_b, &seed_init, sizeof(seed_init), INDEX_A,
				 &src, NOW);

	/* A data message: 32 bytes of plaintext under data_key, counter 7. */
	memset(&hdr, 0, sizeof(hdr));
	hdr.header.type = htole32(MESSAGE_DATA);
	hdr.key_idx = htole32(DATA_INDEX);
	hdr.counter = htole64(7);
	memcpy(seed_data, &hdr, sizeof(hdr));
	fill(seed_data + sizeof(hdr), 32, 0x45);
	ts_aead_encrypt(seed_data + sizeof(hdr), seed_data + sizeof(hdr), 32, NULL, 0, 7, data_key);
}

static void write_seed(const char *dir, const char *name, const void *p, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(1);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("TS_FUZZ_WRITE_SEEDS");

	setup();
	if (dir) {
		/* Seeds are only useful if they get all the way through: prove it. */
		struct noise_handshake hs = hs_a_sent;
		struct cookie_maker m = maker_a_sent;
		struct noise_initiation_result r;
		uint8_t plain[sizeof(seed_data)];

		if (!noise_consume_initiation_decrypt(&seed_init, &id_b, &r) ||
		    cookie_validate_packet_at(&checker_b, &seed_init, sizeof(seed_init), &src, true,
					      NOW) != VALID_MAC_BUT_NO_COOKIE ||
		    !noise_consume_response(&seed_resp, &hs, &id_a) ||
		    cookie_validate_packet_at(&checker_a, &seed_resp, sizeof(seed_resp), &src,
					      false, NOW) != VALID_MAC_BUT_NO_COOKIE ||
		    !cookie_message_consume_at(&seed_cookie, &m, NOW) ||
		    !ts_aead_decrypt(plain, seed_data + sizeof(struct message_data),
				     sizeof(seed_data) - sizeof(struct message_data), NULL, 0, 7,
				     data_key)) {
			fprintf(stderr, "seed self-check failed\n");
			exit(1);
		}
		write_seed(dir, "initiation", &seed_init, sizeof(seed_init));
		write_seed(dir, "response", &seed_resp, sizeof(seed_resp));
		write_seed(dir, "cookie", &seed_cookie, sizeof(seed_cookie));
		write_seed(dir, "data", seed_data, sizeof(seed_data));
		exit(0);
	}
	return 0;
}

static void fuzz_initiation(const uint8_t *data, size_t size)
{
	struct message_handshake_initiation msg;
	struct message_handshake_response resp;
	struct noise_initiation_result r;
	struct noise_handshake hs = hs_b_fresh;
	struct noise_keys keys;

	/* Copied into an aligned struct, as the engine does. */
	memcpy(&msg, data, sizeof(msg));
	(void)cookie_validate_packet_at(&checker_b, &msg, size, &src, true, NOW);
	if (!noise_consume_initiation_decrypt(&msg, &id_b, &r))
		return;
	if (noise_consume_initiation_accept(&hs, &r, NOW) &&
	    noise_create_response_with_ephemeral(&resp, &hs, &id_b, INDEX_B, e_b))
		(void)noise_begin_session(&hs, &keys);
}

static void fuzz_response(const uint8_t *data, size_t size)
{
	struct message_handshake_response msg;
	struct noise_handshake hs = hs_a_sent;
	struct noise_keys keys;

	memcpy(&msg, data, sizeof(msg));
	(void)cookie_validate_packet_at(&checker_a, &msg, size, &src, true, NOW);
	if (noise_consume_response(&msg, &hs, &id_a))
		(void)noise_begin_session(&hs, &keys);
}

static void fuzz_cookie(const uint8_t *data)
{
	struct message_handshake_cookie msg;
	struct cookie_maker m = maker_a_sent;

	memcpy(&msg, data, sizeof(msg));
	(void)cookie_message_consume_at(&msg, &m, NOW);
}

static void fuzz_data(const uint8_t *data, size_t size)
{
	struct message_data hdr;
	size_t clen = size - sizeof(hdr);
	/* The plaintext's size (+1: never malloc(0)), so ASan catches a write past it. */
	uint8_t *plain = malloc(clen - NOISE_AUTHTAG_LEN + 1);

	if (!plain)
		return;
	memcpy(&hdr, data, sizeof(hdr));
	(void)ts_aead_decrypt(plain, data + sizeof(hdr), clen, NULL, 0, le64toh(hdr.counter),
			      data_key);
	free(plain);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* message_determine_type guarantees each size the cases below rely on. */
	switch (message_determine_type(data, size)) {
	case MESSAGE_HANDSHAKE_INITIATION:
		fuzz_initiation(data, size);
		break;
	case MESSAGE_HANDSHAKE_RESPONSE:
		fuzz_response(data, size);
		break;
	case MESSAGE_HANDSHAKE_COOKIE:
		fuzz_cookie(data);
		break;
	case MESSAGE_DATA:
		fuzz_data(data, size);
		break;
	case MESSAGE_INVALID:
		break;
	}
	return 0;
}
