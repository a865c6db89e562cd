// SPDX-License-Identifier: MIT
/*
 * Unit test of the relay wire format (core/relay/relay_proto.c):
 * round trips of every frame, rejection of every truncation and every
 * single-bit flip of a REGISTER, replay and clock checks (asymmetric in v2),
 * the COOKIE frame and the cookie, the SEND token, the address record
 * and its text form, and known answers computed independently in Python
 * (hashlib.blake2s and cryptography's X25519; the script is in the comment
 * above the vectors).
 */
#include "../testutil.h"
#include "relay_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long va_ = (long long)(a), vb_ = (long long)(b);                              \
		if (va_ != vb_) {                                                                  \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n",          \
				__FILE__, __LINE__, #a, #b, va_, vb_);                             \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/*
 * Known answers, from this Python (python3-cryptography, hashlib):
 *   pp = X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
 *   rp = X25519PrivateKey.from_private_bytes(bytes(range(0x40, 0x60)))
 *   dh = pp.exchange(rp.public_key());  K = blake2s(b"tinescale-relay-v2 register" + dh)
 *   ts = 1700000000123456789;  cookie = bytes(range(0xa0, 0xb0))
 *   body = b"TSR\x02" + bytes([1,0,0,0]) + ppub + struct.pack(">Q", ts) + cookie
 *   reg  = body + blake2s(body, key=K, digest_size=16)
 *   rec  = bytes([4,0]) + pack(">H", 51820) + bytes([192,0,2,7]) + bytes(12)
 *   ack  = b"TSR\x02" + bytes([2,0,0,0]) + pack(">Q", ts) + rec + pack(">H", 30)
 *          + bytes(2);  ack += mac(ack)
 *   token  = blake2s(b"tinescale-relay-v2 send" + rec, key=K, digest_size=16)
 *   secret = bytes(range(0x10, 0x30));  cookie_for_rec = blake2s(rec, key=secret, digest_size=16)
 */
static const char kat_peer_pub[] =
    "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c";
static const char kat_relay_pub[] =
    "79a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a";
static const char kat_k[] = "78712ed5c237c3cacc52166b53fb845e9742d8ca1c0f83b11a8c9a9e03b06dc5";
static const char kat_register[] =
    "545352020100000007a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c"
    "17979cfe3d85cd15a0a1a2a3a4a5a6a7a8a9aaabacadaeaf325eae1e417c3062a13c23b7993ce48d";
static const char kat_ack[] = "545352020200000017979cfe3d85cd150400ca6cc0000207000000000000"
			      "000000000000001e0000c303cfeb73e83c943792a0112d5c916f";
static const char kat_token[] = "085835963f047c9501fad0a103e6ce80";
static const char kat_cookie[] = "1a6473fd6a98699c2b6caf2a076086ac";
static const uint64_t kat_ts = 1700000000123456789ULL;

static void test_known_answer(void)
{
	uint8_t peer_priv[32], relay_priv[32], peer_pub[32], relay_pub[32], want_pub[32];
	uint8_t dh[32], dh2[32], k[32], want_k[32];
	uint8_t reg[TSR_REGISTER_LEN], want_reg[TSR_REGISTER_LEN];
	uint8_t ack[TSR_REGISTER_ACK_LEN], want_ack[TSR_REGISTER_ACK_LEN];
	struct tsr_register_ack a = {.timestamp_ns = kat_ts, .expires_s = 30};
	struct tsr_register_ack got;
	struct tsr_replay replay = {0};
	uint8_t cookie[TSR_COOKIE_LEN], token[TSR_TOKEN_LEN], want16[16], secret[32];

	for (int i = 0; i < 32; i++) {
		peer_priv[i] = (uint8_t)(1 + i);
		relay_priv[i] = (uint8_t)(0x40 + i);
	}
	crypto_scalarmult_base(peer_pub, peer_priv);
	crypto_scalarmult_base(relay_pub, relay_priv);
	unhex_exact(want_pub, 32, kat_peer_pub);
	CHECK(memcmp(peer_pub, want_pub, 32) == 0);
	unhex_exact(want_pub, 32, kat_relay_pub);
	CHECK(memcmp(relay_pub, want_pub, 32) == 0);

	/* Both sides' DH agree, and K matches Python's. */
	CHECK_EQ(tsr_dh(dh, peer_priv, relay_pub), TSR_OK);
	CHECK_EQ(tsr_dh(dh2, relay_priv, peer_pub), TSR_OK);
	CHECK(memcmp(dh, dh2, 32) == 0);
	tsr_register_key(k, dh);
	unhex_exact(want_k, 32, kat_k);
	CHECK(memcmp(k, want_k, 32) == 0);

	for (int i = 0; i < TSR_COOKIE_LEN; i++)
		cookie[i] = (uint8_t)(0xa0 + i);
	tsr_register_encode(reg, peer_pub, kat_ts, cookie, k);
	unhex_exact(want_reg, sizeof(want_reg), kat_register);
	CHECK(memcmp(reg, want_reg, sizeof(reg)) == 0);
	CHECK_EQ(
	    tsr_register_verify(want_reg, sizeof(want_reg), k, kat_ts + 1000000000ULL, &replay),
	    TSR_OK);
	CHECK(replay.last_ns == kat_ts);

	a.observed.family = 4;
	a.observed.port = 51820;
	memcpy(a.observed.addr, (const uint8_t[]){192, 0, 2, 7}, 4);
	tsr_register_ack_encode(ack, &a, k);
	unhex_exact(want_ack, sizeof(want_ack), kat_ack);
	CHECK(memcmp(ack, want_ack, sizeof(ack)) == 0);
	CHECK_EQ(tsr_register_ack_decode(want_ack, sizeof(want_ack), k, &got), TSR_OK);
	CHECK(got.timestamp_ns == kat_ts);
	CHECK_EQ(got.expires_s, 30);
	CHECK(tsr_addr_equal(&got.observed, &a.observed));

	/* The SEND token and the relay's cookie for that address. */
	tsr_send_token(token, k, &a.observed);
	unhex_exact(want16, 16, kat_token);
	CHECK(memcmp(token, want16, 16) == 0);
	for (int i = 0; i < 32; i++)
		secret[i] = (uint8_t)(0x10 + i);
	tsr_cookie_make(cookie, secret, &a.observed);
	unhex_exact(want16, 16, kat_cookie);
	CHECK(memcmp(cookie, want16, 16) == 0);

	/* A low-order public key (all zero) is refused. */
	memset(want_pub, 0, 32);
	CHECK_EQ(tsr_dh(dh, relay_priv, want_pub), TSR_E_KEY);
}

static void make_keys(uint8_t k[32], uint8_t pub[32])
{
	uint8_t priv[32], relay_priv[32], relay_pub[32], dh[32];

	randombytes_buf(priv, 32);
	randombytes_buf(relay_priv, 32);
	crypto_scalarmult_base(pub, priv);
	crypto_scalarmult_base(relay_pub, relay_priv);
	if (tsr_dh(dh, priv, relay_pub) != TSR_OK)
		exit(1);
	tsr_register_key(k, dh);
}

static void test_register(void)
{
	uint8_t k[32], k2[32], pub[32], buf[TSR_REGISTER_LEN + 8], copy[TSR_REGISTER_LEN];
	struct tsr_register reg;
	struct tsr_replay replay = {0};
	const uint64_t now = 1700000000000000000ULL, sec = 1000000000ULL;

	make_keys(k, pub);
	tsr_register_encode(buf, pub, now, NULL, k);
	CHECK_EQ(tsr_register_decode(buf, TSR_REGISTER_LEN, &reg), TSR_OK);
	CHECK(memcmp(reg.public_key, pub, 32) == 0);
	CHECK(reg.timestamp_ns == now);
	CHECK(memcmp(reg.mac, buf + TSR_REGISTER_LEN - TSR_MAC_LEN, TSR_MAC_LEN) == 0);
	for (int i = 0; i < TSR_COOKIE_LEN; i++)
		CHECK_EQ(reg.cookie[i], 0); /* none given: zeros */
	uint8_t type = 0;
	CHECK(tsr_is_frame(buf, TSR_REGISTER_LEN, &type) && type == TSR_REGISTER);

	/* Every truncation (and an extension) is rejected by decode and verify. */
	for (size_t n = 0; n < TSR_REGISTER_LEN; n++) {
		CHECK(tsr_register_decode(buf, n, &reg) != TSR_OK);
		CHECK(tsr_register_verify(buf, n, k, now, NULL) != TSR_OK);
	}
	buf[TSR_REGISTER_LEN] = 0;
	CHECK_EQ(tsr_register_decode(buf, TSR_REGISTER_LEN + 1, &reg), TSR_E_LENGTH);

	/* Every single-bit flip is rejected (the replay state is fresh each time). */
	memcpy(copy, buf, TSR_REGISTER_LEN);
	for (size_t bit = 0; bit < TSR_REGISTER_LEN * 8; bit++) {
		struct tsr_replay fresh = {0};

		copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK(tsr_register_verify(copy, TSR_REGISTER_LEN, k, now, &fresh) != TSR_OK);
		CHECK(fresh.last_ns == 0);
		copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CHECK_EQ(tsr_register_verify(copy, TSR_REGISTER_LEN, k, now, NULL), TSR_OK);

	/* The wrong key (someone else's DH) is a forgery. */
	make_keys(k2, pub);
	CHECK_EQ(tsr_register_verify(buf, TSR_REGISTER_LEN, k2, now, NULL), TSR_E_MAC);

	/* Replay: accepted once, then the same and older timestamps are refused. */
	CHECK_EQ(tsr_register_verify(buf, TSR_REGISTER_LEN, k, now, &replay), TSR_OK);
	CHECK(replay.last_ns == now);
	CHECK_EQ(tsr_register_verify(buf, TSR_REGISTER_LEN, k, now, &replay), TSR_E_REPLAY);
	make_keys(k, pub);
	replay.last_ns = 0;
	tsr_register_encode(buf, pub, now + 5 * sec, NULL, k);
	CHECK_EQ(tsr_register_verify(buf, TSR_REGISTER_LEN, k, now, &replay), TSR_OK);
	tsr_register_encode(buf, pub, now + 4 * sec, NULL, k);
	CHECK_EQ(tsr_register_verify(buf, TSR_REGISTER_LEN, k, now, &replay), TSR_E_REPLAY);
	CHECK(replay.last_ns == now + 5 * sec);
	tsr_register_encode(buf, pub, now + 6 * sec, NULL, k);
	CHECK_EQ(tsr_register_verify(buf, TSR_REGISTER_LEN, k, now, &replay), TSR_OK);

	/*
	 * Clock: 120 s behind and 10 s ahead are fine, one nanosecond more is
	 * not (issue 14 finding 9: far-future stamps must not raise the state).
	 */
	tsr_register_encode(buf, pub, now + 10 * sec, NULL, k);
	CHECK_EQ(tsr_register_verify(buf, TSR_REGISTER_LEN, k, now, NULL), TSR_OK);
	tsr_register_encode(buf, pub, now + 10 * sec + 1, NULL, k);
	CHECK_EQ(tsr_register_verify(buf, TSR_REGISTER_LEN, k, now, NULL), TSR_E_CLOCK);
	tsr_register_encode(buf, pub, now + 115 * sec, NULL, k);
	replay.last_ns = 7;
	CHECK_EQ(tsr_register_verify(buf, TSR_REGISTER_LEN, k, now, &replay), TSR_E_CLOCK);
	CHECK(replay.last_ns == 7);
	tsr_register_encode(buf, pub, now - 120 * sec, NULL, k);
	CHECK_EQ(tsr_register_verify(buf, TSR_REGISTER_LEN, k, now, NULL), TSR_OK);
	tsr_register_encode(buf, pub, now - 120 * sec - 1, NULL, k);
	CHECK_EQ(tsr_register_verify(buf, TSR_REGISTER_LEN, k, now, NULL), TSR_E_CLOCK);
	tsr_register_encode(buf, pub, 0, NULL, k);
	CHECK_EQ(tsr_register_verify(buf, TSR_REGISTER_LEN, k, now, NULL), TSR_E_CLOCK);
	/* A clock failure does not advance the replay state. */
	replay.last_ns = 7;
	tsr_register_encode(buf, pub, UINT64_MAX, NULL, k);
	CHECK_EQ(tsr_register_verify(buf, TSR_REGISTER_LEN, k, now, &replay), TSR_E_CLOCK);
	CHECK(replay.last_ns == 7);

	/* Reserved bytes, magic and type. */
	tsr_register_encode(buf, pub, now, NULL, k);
	buf[6] = 1;
	CHECK_EQ(tsr_register_decode(buf, TSR_REGISTER_LEN, &reg), TSR_E_RESERVED);
	buf[6] = 0;
	buf[4] = TSR_SEND;
	CHECK_EQ(tsr_register_decode(buf, TSR_REGISTER_LEN, &reg), TSR_E_TYPE);
	buf[4] = TSR_REGISTER;
	buf[0] = 'X';
	CHECK_EQ(tsr_register_decode(buf, TSR_REGISTER_LEN, &reg), TSR_E_MAGIC);
	CHECK(!tsr_is_frame(buf, TSR_REGISTER_LEN, NULL));
	CHECK_EQ(tsr_register_decode(NULL, 0, &reg), TSR_E_SHORT);
}

static void test_ack(void)
{
	uint8_t k[32], k2[32], pub[32], buf[TSR_REGISTER_ACK_LEN];
	struct tsr_register_ack a = {.timestamp_ns = 42, .expires_s = 30}, got;

	make_keys(k, pub);
	make_keys(k2, pub);
	a.observed.family = 6;
	a.observed.port = 3478;
	inet_pton(AF_INET6, "2001:db8::1:2", a.observed.addr);
	tsr_register_ack_encode(buf, &a, k);
	CHECK_EQ(tsr_register_ack_decode(buf, sizeof(buf), k, &got), TSR_OK);
	CHECK(got.timestamp_ns == 42 && got.expires_s == 30);
	CHECK(tsr_addr_equal(&got.observed, &a.observed));
	CHECK_EQ(tsr_register_ack_decode(buf, sizeof(buf), k2, &got), TSR_E_MAC);
	for (size_t n = 0; n < sizeof(buf); n++)
		CHECK(tsr_register_ack_decode(buf, n, k, &got) != TSR_OK);
	for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK(tsr_register_ack_decode(buf, sizeof(buf), k, &got) != TSR_OK);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* v4: the unused 12 address bytes are zero on the wire. */
	memset(&a.observed, 0, sizeof(a.observed));
	a.observed.family = 4;
	a.observed.port = 1;
	memcpy(a.observed.addr, (const uint8_t[]){10, 0, 0, 1}, 4);
	tsr_register_ack_encode(buf, &a, k);
	for (int i = 24; i < 36; i++)
		CHECK_EQ(buf[i], 0);
	CHECK_EQ(tsr_register_ack_decode(buf, sizeof(buf), k, &got), TSR_OK);
	CHECK(tsr_addr_equal(&got.observed, &a.observed));
}

static void test_data(void)
{
	uint8_t key[32], token[TSR_TOKEN_LEN], buf[256], payload[100];
	struct tsr_data d;

	randombytes_buf(key, 32);
	randombytes_buf(token, sizeof(token));
	randombytes_buf(payload, sizeof(payload));
	for (uint8_t type = TSR_SEND; type <= TSR_RECV; type++) {
		size_t hdr = type == TSR_SEND ? TSR_SEND_HDR_LEN : TSR_RECV_HDR_LEN;

		for (uint8_t kind = 0; kind < 3; kind++) {
			if (type == TSR_SEND)
				tsr_send_hdr_encode(buf, kind, key, token);
			else
				tsr_recv_hdr_encode(buf, kind, key);
			memcpy(buf + hdr, payload, sizeof(payload));
			size_t len = hdr + sizeof(payload);

			CHECK_EQ(tsr_data_decode(buf, len, type, &d), TSR_OK);
			CHECK(d.type == type && d.kind == kind);
			CHECK(memcmp(d.public_key, key, 32) == 0);
			if (type == TSR_SEND)
				CHECK(memcmp(d.token, token, sizeof(token)) == 0);
			CHECK(d.payload == buf + hdr);
			CHECK(d.payload_len == sizeof(payload));
			CHECK(memcmp(d.payload, payload, sizeof(payload)) == 0);
			/* The other type, truncations, an empty payload. */
			CHECK_EQ(
			    tsr_data_decode(buf, len, type == TSR_SEND ? TSR_RECV : TSR_SEND, &d),
			    TSR_E_TYPE);
			for (size_t n = 0; n < hdr; n++)
				CHECK(tsr_data_decode(buf, n, type, &d) != TSR_OK);
			CHECK_EQ(tsr_data_decode(buf, hdr, type, &d), TSR_E_FIELD);
			buf[7] = 1;
			CHECK_EQ(tsr_data_decode(buf, len, type, &d), TSR_E_RESERVED);
		}
	}
	/* The relay's in-place SEND -> RECV rewrite: the RECV ends where the SEND header did. */
	uint8_t src[32];
	const size_t shift = TSR_SEND_HDR_LEN - TSR_RECV_HDR_LEN;

	randombytes_buf(src, 32);
	tsr_send_hdr_encode(buf, TSR_KIND_CANDIDATES, key, token);
	memcpy(buf + TSR_SEND_HDR_LEN, payload, 10);
	tsr_recv_hdr_encode(buf + shift, buf[5], src);
	CHECK_EQ(tsr_data_decode(buf + shift, TSR_RECV_HDR_LEN + 10, TSR_RECV, &d), TSR_OK);
	CHECK(memcmp(d.public_key, src, 32) == 0 && d.kind == TSR_KIND_CANDIDATES);
	CHECK(d.payload_len == 10 && memcmp(d.payload, payload, 10) == 0);
	CHECK_EQ(tsr_data_decode(buf + shift, TSR_RECV_HDR_LEN + 10, TSR_REGISTER, &d), TSR_E_TYPE);
	/* Tokens differ by address and by key. */
	{
		uint8_t k1[32], k2[32], pub[32], t1[16], t2[16];
		struct tsr_addr a1 = {.family = 4, .port = 1, .addr = {10, 0, 0, 1}}, a2 = a1;

		make_keys(k1, pub);
		make_keys(k2, pub);
		a2.port = 2;
		tsr_send_token(t1, k1, &a1);
		tsr_send_token(t2, k1, &a2);
		CHECK(memcmp(t1, t2, 16) != 0);
		tsr_send_token(t2, k2, &a1);
		CHECK(memcmp(t1, t2, 16) != 0);
		tsr_send_token(t2, k1, &a1);
		CHECK(memcmp(t1, t2, 16) == 0);
	}
}

static void test_cookie(void)
{
	uint8_t secret[32], secret2[32], c1[16], c2[16], echo[16], buf[TSR_COOKIE_FRAME_LEN + 1];
	struct tsr_addr a = {.family = 4, .port = 51820, .addr = {198, 51, 100, 1}}, b = a;
	struct tsr_cookie_reply got;

	randombytes_buf(secret, sizeof(secret));
	randombytes_buf(secret2, sizeof(secret2));
	randombytes_buf(echo, sizeof(echo));
	tsr_cookie_make(c1, secret, &a);
	/* Bound to the port as well as the IP, and to the secret. */
	b.port++;
	tsr_cookie_make(c2, secret, &b);
	CHECK(memcmp(c1, c2, 16) != 0);
	b = a;
	b.addr[3]++;
	tsr_cookie_make(c2, secret, &b);
	CHECK(memcmp(c1, c2, 16) != 0);
	tsr_cookie_make(c2, secret2, &a);
	CHECK(memcmp(c1, c2, 16) != 0);
	tsr_cookie_make(c2, secret, &a);
	CHECK(memcmp(c1, c2, 16) == 0);

	tsr_cookie_reply_encode(buf, echo, c1);
	CHECK_EQ(tsr_cookie_reply_decode(buf, TSR_COOKIE_FRAME_LEN, &got), TSR_OK);
	CHECK(memcmp(got.echo, echo, 16) == 0 && memcmp(got.cookie, c1, 16) == 0);
	uint8_t type = 0;
	CHECK(tsr_is_frame(buf, TSR_COOKIE_FRAME_LEN, &type) && type == TSR_COOKIE);
	for (size_t n = 0; n < TSR_COOKIE_FRAME_LEN; n++)
		CHECK(tsr_cookie_reply_decode(buf, n, &got) != TSR_OK);
	CHECK_EQ(tsr_cookie_reply_decode(buf, TSR_COOKIE_FRAME_LEN + 1, &got), TSR_E_LENGTH);
	buf[5] = 1;
	CHECK_EQ(tsr_cookie_reply_decode(buf, TSR_COOKIE_FRAME_LEN, &got), TSR_E_RESERVED);
	buf[5] = 0;
	buf[3] = 1; /* a version 1 frame is not ours */
	CHECK_EQ(tsr_cookie_reply_decode(buf, TSR_COOKIE_FRAME_LEN, &got), TSR_E_MAGIC);
	/* No amplification: the answer is smaller than what causes it. */
	CHECK(TSR_COOKIE_FRAME_LEN < TSR_REGISTER_LEN);
}

static void test_error(void)
{
	uint8_t key[32], buf[TSR_ERROR_LEN + 1];
	struct tsr_error e;

	randombytes_buf(key, 32);
	tsr_error_encode(buf, TSR_ERR_DST_UNKNOWN, key);
	CHECK_EQ(tsr_error_decode(buf, TSR_ERROR_LEN, &e), TSR_OK);
	CHECK(e.code == TSR_ERR_DST_UNKNOWN && memcmp(e.public_key, key, 32) == 0);
	for (size_t n = 0; n < TSR_ERROR_LEN; n++)
		CHECK(tsr_error_decode(buf, n, &e) != TSR_OK);
	CHECK_EQ(tsr_error_decode(buf, TSR_ERROR_LEN + 1, &e), TSR_E_LENGTH);
}

static void test_addr(void)
{
	struct tsr_addr a, b;
	struct sockaddr_storage ss;
	socklen_t sl;
	uint8_t rec[TSR_ADDR_LEN];
	char s[TSR_ADDR_STRLEN];

	CHECK_EQ(tsr_addr_parse(&a, "192.0.2.3:3478"), TSR_OK);
	CHECK(a.family == 4 && a.port == 3478 && a.addr[0] == 192 && a.addr[3] == 3);
	CHECK(strcmp(tsr_addr_format(&a, s, sizeof(s)), "192.0.2.3:3478") == 0);
	CHECK_EQ(tsr_addr_to_sockaddr(&a, &ss, &sl), TSR_OK);
	CHECK(ss.ss_family == AF_INET && sl == sizeof(struct sockaddr_in));
	CHECK_EQ(tsr_addr_from_sockaddr(&b, (struct sockaddr *)&ss, sl), TSR_OK);
	CHECK(tsr_addr_equal(&a, &b));
	CHECK_EQ(tsr_addr_put(rec, &a), TSR_OK);
	CHECK_EQ(tsr_addr_get(&b, rec), TSR_OK);
	CHECK(tsr_addr_equal(&a, &b));

	CHECK_EQ(tsr_addr_parse(&a, "[2001:db8::5]:65535"), TSR_OK);
	CHECK(a.family == 6 && a.port == 65535);
	CHECK(strcmp(tsr_addr_format(&a, s, sizeof(s)), "[2001:db8::5]:65535") == 0);
	CHECK_EQ(tsr_addr_to_sockaddr(&a, &ss, &sl), TSR_OK);
	CHECK(ss.ss_family == AF_INET6 && sl == sizeof(struct sockaddr_in6));
	CHECK_EQ(tsr_addr_from_sockaddr(&b, (struct sockaddr *)&ss, sl), TSR_OK);
	CHECK(tsr_addr_equal(&a, &b));

	/* A v4-mapped v6 source (dual-stack socket) reads as v4. */
	CHECK_EQ(tsr_addr_parse(&a, "[::ffff:10.1.2.3]:9"), TSR_OK);
	tsr_addr_to_sockaddr(&a, &ss, &sl);
	CHECK_EQ(tsr_addr_from_sockaddr(&b, (struct sockaddr *)&ss, sl), TSR_OK);
	CHECK(b.family == 4 && b.port == 9 && b.addr[0] == 10 && b.addr[3] == 3);
	CHECK_EQ(tsr_addr_from_sockaddr(&b, (struct sockaddr *)&ss, 4), TSR_E_FIELD);

	static const char *const bad[] = {"",
					  "1.2.3.4",
					  "1.2.3.4:",
					  "1.2.3.4:65536",
					  "1.2.3.4:-1",
					  "1.2.3.4:80x",
					  "::1:80",
					  "[::1]80",
					  "[1.2.3.4]:80",
					  "[]:80",
					  "host.example:80",
					  ":80",
					  "1.2.3.4: 80",
					  "[::1]:"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tsr_addr_parse(&a, bad[i]) == TSR_OK) {
			fprintf(stderr, "parsed bad address '%s'\n", bad[i]);
			failures++;
		}
	}
	CHECK_EQ(tsr_addr_parse(&a, NULL), TSR_E_FIELD);
	memset(&a, 0, sizeof(a));
	CHECK_EQ(tsr_addr_put(rec, &a), TSR_E_FIELD);
	CHECK(strcmp(tsr_addr_format(&a, s, sizeof(s)), "?") == 0);
	memset(rec, 0, sizeof(rec));
	rec[0] = 5;
	CHECK_EQ(tsr_addr_get(&a, rec), TSR_E_FIELD);
	rec[0] = 4;
	rec[10] = 1;
	CHECK_EQ(tsr_addr_get(&a, rec), TSR_E_RESERVED);
	CHECK(strcmp(tsr_result_name(TSR_E_REPLAY), "replay") == 0);
}

int main(void)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	test_known_answer();
	test_register();
	test_ack();
	test_data();
	test_cookie();
	test_error();
	test_addr();
	if (failures) {
		fprintf(stderr, "test_relay_proto: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_relay_proto: ok\n");
	return 0;
}
