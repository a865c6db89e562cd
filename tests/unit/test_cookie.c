// SPDX-License-Identifier: MIT
/*
 * Tests for core/engine/cookie.c: mac1 accepted and refused, a cookie reply made by
 * the checker and consumed by the maker yielding a mac2 the checker accepts,
 * the binding of cookies to the source address and to the mac1 they answer,
 * the ages on both sides (driven through the *_at variants), and mac1
 * against a value computed independently in Python.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cookie.h"
#include "crypto.h"
#include "testutil.h"

#define IS_ZERO(a) sodium_is_zero((a), sizeof(a))

static void endpoint4(union ts_endpoint *ep, const char *addr, uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->in.sin_family = AF_INET;
	ep->in.sin_port = htons(port);
	if (inet_pton(AF_INET, addr, &ep->in.sin_addr) != 1)
		exit(1);
}

static void endpoint6(union ts_endpoint *ep, const char *addr, uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->in6.sin6_family = AF_INET6;
	ep->in6.sin6_port = htons(port);
	if (inet_pton(AF_INET6, addr, &ep->in6.sin6_addr) != 1)
		exit(1);
}

/* A handshake-shaped message: the body is random, the macs are what we test. */
static void random_initiation(struct message_handshake_initiation *msg)
{
	randombytes_buf(msg, sizeof(*msg));
	msg->header.type = htole32(MESSAGE_HANDSHAKE_INITIATION);
}

static const uint64_t T0 = 1000 * NSEC_PER_SEC;

static void test_mac1(void)
{
	struct cookie_checker checker, other;
	struct cookie_maker maker;
	struct message_handshake_initiation msg;
	struct message_handshake_response resp;
	union ts_endpoint src;
	uint8_t priv[32], pub[32], pub2[32];

	ts_x25519_generate(priv, pub);
	ts_x25519_generate(priv, pub2);
	endpoint4(&src, "192.0.2.1", 51820);
	cookie_checker_init(&checker);
	cookie_checker_precompute_keys(&checker, pub);
	cookie_checker_init(&other);
	cookie_checker_precompute_keys(&other, pub2);
	cookie_maker_init(&maker, pub);

	random_initiation(&msg);
	CHECK(!maker.have_sent_mac1);
	cookie_add_mac_to_packet_at(&msg, sizeof(msg), &maker, T0);
	CHECK(maker.have_sent_mac1 && memcmp(maker.last_mac1_sent, msg.macs.mac1, 16) == 0);
	CHECK(IS_ZERO(msg.macs.mac2)); /* no cookie yet */
	CHECK(cookie_validate_packet_at(&checker, &msg, sizeof(msg), &src, false, T0) ==
	      VALID_MAC_BUT_NO_COOKIE);
	CHECK(cookie_validate_packet_at(&checker, &msg, sizeof(msg), &src, true, T0) ==
	      VALID_MAC_BUT_NO_COOKIE);
	/* The wall-clock wrapper agrees. */
	CHECK(cookie_validate_packet(&checker, &msg, sizeof(msg), &src, false) ==
	      VALID_MAC_BUT_NO_COOKIE);
	/* mac1 is addressed to one public key: another checker refuses it. */
	CHECK(cookie_validate_packet_at(&other, &msg, sizeof(msg), &src, false, T0) == INVALID_MAC);
	/* Any bit of the covered bytes, or of mac1 itself. */
	msg.sender_index ^= 1;
	CHECK(cookie_validate_packet_at(&checker, &msg, sizeof(msg), &src, false, T0) ==
	      INVALID_MAC);
	msg.sender_index ^= 1;
	msg.macs.mac1[15] ^= 0x80;
	CHECK(cookie_validate_packet_at(&checker, &msg, sizeof(msg), &src, false, T0) ==
	      INVALID_MAC);
	msg.macs.mac1[15] ^= 0x80;
	/* mac2 is not covered by mac1. */
	msg.macs.mac2[0] ^= 1;
	CHECK(cookie_validate_packet_at(&checker, &msg, sizeof(msg), &src, false, T0) ==
	      VALID_MAC_BUT_NO_COOKIE);
	/* Too short to carry macs. */
	CHECK(cookie_validate_packet_at(&checker, &msg, 31, &src, false, T0) == INVALID_MAC);
	/* A checker without identity accepts nothing, not even a mac1 keyed with zeros. */
	cookie_checker_precompute_keys(&other, NULL);
	CHECK(cookie_validate_packet_at(&other, &msg, sizeof(msg), &src, false, T0) == INVALID_MAC);

	/* Responses work the same way (different length, same trailing macs). */
	randombytes_buf(&resp, sizeof(resp));
	cookie_add_mac_to_packet_at(&resp, sizeof(resp), &maker, T0);
	CHECK(cookie_validate_packet_at(&checker, &resp, sizeof(resp), &src, false, T0) ==
	      VALID_MAC_BUT_NO_COOKIE);
	CHECK(cookie_validate_packet_at(&checker, &resp, sizeof(resp) - 1, &src, false, T0) ==
	      INVALID_MAC);

	cookie_checker_destroy(&checker);
	cookie_checker_destroy(&other);
}

static void test_cookie_roundtrip(void)
{
	struct cookie_checker checker;
	struct cookie_maker maker, stranger;
	struct message_handshake_initiation msg;
	struct message_handshake_cookie reply, reply2;
	union ts_endpoint src, src_port, src_other, src6;
	uint8_t priv[32], pub[32], pub2[32];
	uint64_t t;

	ts_x25519_generate(priv, pub);
	ts_x25519_generate(priv, pub2);
	endpoint4(&src, "192.0.2.1", 51820);
	endpoint4(&src_port, "192.0.2.1", 51821);
	endpoint4(&src_other, "192.0.2.2", 51820);
	endpoint6(&src6, "2001:db8::1", 51820);
	cookie_checker_init(&checker);
	cookie_checker_precompute_keys(&checker, pub);
	cookie_maker_init(&maker, pub);
	cookie_maker_init(&stranger, pub2);

	/* Under load, the checker answers a valid initiation with a cookie reply. */
	random_initiation(&msg);
	cookie_add_mac_to_packet_at(&msg, sizeof(msg), &maker, T0);
	cookie_message_create_at(&reply, &checker, &msg, sizeof(msg), 0xdeadbeef, &src, T0);
	CHECK(message_determine_type((const uint8_t *)&reply, sizeof(reply)) ==
	      MESSAGE_HANDSHAKE_COOKIE);
	CHECK(le32toh(reply.receiver_index) == 0xdeadbeef);

	/* Tampered, or for another peer's maker: refused, and the maker keeps waiting. */
	reply2 = reply;
	reply2.nonce[0] ^= 1;
	CHECK(!cookie_message_consume_at(&reply2, &maker, T0));
	reply2 = reply;
	reply2.encrypted_cookie[31] ^= 1;
	CHECK(!cookie_message_consume_at(&reply2, &maker, T0));
	stranger.have_sent_mac1 = true;
	memcpy(stranger.last_mac1_sent, maker.last_mac1_sent, 16);
	CHECK(!cookie_message_consume_at(&reply, &stranger, T0));
	CHECK(!maker.is_valid && maker.have_sent_mac1);

	CHECK(cookie_message_consume_at(&reply, &maker, T0));
	CHECK(maker.is_valid && !maker.have_sent_mac1);
	/* A replayed reply has no mac1 to answer any more. */
	CHECK(!cookie_message_consume_at(&reply, &maker, T0));

	/* The next message carries mac2, which the checker accepts from that source only. */
	t = T0 + NSEC_PER_SEC;
	random_initiation(&msg);
	cookie_add_mac_to_packet_at(&msg, sizeof(msg), &maker, t);
	CHECK(!IS_ZERO(msg.macs.mac2));
	CHECK(cookie_validate_packet_at(&checker, &msg, sizeof(msg), &src, true, t) ==
	      VALID_MAC_WITH_COOKIE);
	/* Not checking cookies (no load): mac2 is not looked at. */
	CHECK(cookie_validate_packet_at(&checker, &msg, sizeof(msg), &src, false, t) ==
	      VALID_MAC_BUT_NO_COOKIE);
	CHECK(cookie_validate_packet_at(&checker, &msg, sizeof(msg), &src_other, true, t) ==
	      VALID_MAC_BUT_NO_COOKIE);
	CHECK(cookie_validate_packet_at(&checker, &msg, sizeof(msg), &src_port, true, t) ==
	      VALID_MAC_BUT_NO_COOKIE);
	CHECK(cookie_validate_packet_at(&checker, &msg, sizeof(msg), &src6, true, t) ==
	      VALID_MAC_BUT_NO_COOKIE);
	msg.macs.mac2[7] ^= 1;
	CHECK(cookie_validate_packet_at(&checker, &msg, sizeof(msg), &src, true, t) ==
	      VALID_MAC_BUT_NO_COOKIE);
	msg.macs.mac2[7] ^= 1;

	/* A reply answering an older mac1 than the last one sent does not authenticate. */
	cookie_message_create_at(&reply, &checker, &msg, sizeof(msg), 1, &src, t);
	random_initiation(&msg);
	cookie_add_mac_to_packet_at(&msg, sizeof(msg), &maker, t);
	CHECK(!cookie_message_consume_at(&reply, &maker, t));

	/* IPv6 sources get cookies too. */
	cookie_message_create_at(&reply, &checker, &msg, sizeof(msg), 1, &src6, t);
	CHECK(cookie_message_consume_at(&reply, &maker, t));
	random_initiation(&msg);
	cookie_add_mac_to_packet_at(&msg, sizeof(msg), &maker, t);
	CHECK(cookie_validate_packet_at(&checker, &msg, sizeof(msg), &src6, true, t) ==
	      VALID_MAC_WITH_COOKIE);
	CHECK(cookie_validate_packet_at(&checker, &msg, sizeof(msg), &src, true, t) ==
	      VALID_MAC_BUT_NO_COOKIE);

	cookie_checker_destroy(&checker);
}

static void test_ages(void)
{
	struct cookie_checker checker;
	struct cookie_maker maker;
	struct message_handshake_initiation msg;
	struct message_handshake_cookie reply;
	union ts_endpoint src;
	uint8_t priv[32], pub[32];
	uint8_t secret[32];

	ts_x25519_generate(priv, pub);
	endpoint4(&src, "198.51.100.7", 4242);
	cookie_checker_init(&checker);
	cookie_checker_precompute_keys(&checker, pub);
	cookie_maker_init(&maker, pub);

	random_initiation(&msg);
	cookie_add_mac_to_packet_at(&msg, sizeof(msg), &maker, T0);
	cookie_message_create_at(&reply, &checker, &msg, sizeof(msg), 1, &src, T0);
	CHECK(checker.secret_birthdate_ns == T0);
	memcpy(secret, checker.secret, sizeof(secret));
	CHECK(cookie_message_consume_at(&reply, &maker, T0));

	/* The maker uses its cookie for 120 - 5 s, then sends mac2 = zeros. */
	random_initiation(&msg);
	cookie_add_mac_to_packet_at(&msg, sizeof(msg), &maker, T0 + 114 * NSEC_PER_SEC);
	CHECK(!IS_ZERO(msg.macs.mac2));
	/* The checker still knows its secret just before 120 s ... */
	CHECK(cookie_validate_packet_at(&checker, &msg, sizeof(msg), &src, true,
					T0 + 119 * NSEC_PER_SEC) == VALID_MAC_WITH_COOKIE);
	CHECK(memcmp(secret, checker.secret, sizeof(secret)) == 0);
	/* ... and has replaced it after: the same mac2 is worthless now. */
	CHECK(cookie_validate_packet_at(&checker, &msg, sizeof(msg), &src, true,
					T0 + 121 * NSEC_PER_SEC) == VALID_MAC_BUT_NO_COOKIE);
	CHECK(memcmp(secret, checker.secret, sizeof(secret)) != 0);
	CHECK(checker.secret_birthdate_ns == T0 + 121 * NSEC_PER_SEC);

	random_initiation(&msg);
	cookie_add_mac_to_packet_at(&msg, sizeof(msg), &maker, T0 + 116 * NSEC_PER_SEC);
	CHECK(IS_ZERO(msg.macs.mac2));

	cookie_checker_destroy(&checker);
}

/*
 * mac1 of the initiation in tests/unit/test_noise.c's known-answer test,
 * computed there in Python as
 * hashlib.blake2s(init, key=H(b'mac1----' + S_responder), digest_size=16).
 */
static void test_mac1_known_answer(void)
{
	struct message_handshake_initiation msg;
	struct cookie_maker maker;
	uint8_t sr[32], Sr[32], want[16];

	unhex(sr, 32, "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e7f");
	CHECK(ts_x25519_public(Sr, sr));
	memset(&msg, 0, sizeof(msg));
	unhex((uint8_t *)&msg, offsetof(struct message_handshake_initiation, macs),
	      "010000004433221179a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51af02"
	      "25eb421886af8f54fb31289d49dcd82b0f6f3279d40d7cff913fece0c64ad226eef3320755b393b72f1"
	      "6842c8d7ee78a74e937e3f2a828ef4ecc11b98a2746307a80e36ca84dc7c456cf1");
	unhex(want, 16, "8d3b3108f6f9896d484518b181f8ab89");
	cookie_maker_init(&maker, Sr);
	cookie_add_mac_to_packet_at(&msg, sizeof(msg), &maker, T0);
	CHECK(memcmp(msg.macs.mac1, want, 16) == 0);
}

int main(void)
{
	if (ts_crypto_init() != 0) {
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	test_mac1();
	test_cookie_roundtrip();
	test_ages();
	test_mac1_known_answer();
	if (failures) {
		fprintf(stderr, "test_cookie: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_cookie: all checks passed\n");
	return 0;
}
