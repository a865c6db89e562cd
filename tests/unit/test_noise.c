// SPDX-License-Identifier: MIT
/*
 * Tests for core/engine/noise.c: a full handshake between two identities in one
 * process, the refusals (replay, flood, wrong key, one-sided psk, wrong
 * index or state), and a byte-exact known-answer test against an independent
 * Python implementation of the whitepaper.
 */
#include <endian.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "crypto.h"
#include "noise.h"
#include "testutil.h"

#define IS_ZERO(a) sodium_is_zero((a), sizeof(a))

static void new_identity(struct noise_identity *id)
{
	uint8_t priv[32], pub[32];

	ts_x25519_generate(priv, pub);
	noise_identity_set(id, priv);
	if (!id->has_identity || memcmp(id->static_public, pub, 32) != 0) {
		fprintf(stderr, "noise_identity_set disagrees with ts_x25519_generate\n");
		exit(1);
	}
}

static uint64_t fake_seconds;

/*
 * Initiator a (handshake ha toward b) and responder b (hb toward a) run the
 * whole exchange at (monotonic) time now.  Returns false at the first step
 * that fails.
 */
static bool handshake(struct noise_identity *a, struct noise_handshake *ha, struct noise_keys *ka,
		      struct noise_identity *b, struct noise_handshake *hb, struct noise_keys *kb,
		      uint64_t now)
{
	struct message_handshake_initiation init;
	struct message_handshake_response resp;
	struct noise_initiation_result r;

	uint8_t e[32], e_pub[32], ts[12];
	bool ok;

	/*
	 * Our own clock for the timestamps: tai64n_now() only moves every 16 ms,
	 * so back-to-back handshakes would (rightly) be refused as replays.
	 */
	tai64n_from(ts, 4000000000ULL + fake_seconds++, 0);
	ts_x25519_generate(e, e_pub);
	ok = noise_create_initiation_with_ephemeral(&init, ha, a, 0xa1a1a1a1, e, ts);
	sodium_memzero(e, sizeof(e));
	if (!ok)
		return false;
	if (!noise_consume_initiation_decrypt(&init, b, &r))
		return false;
	if (!noise_consume_initiation_accept(hb, &r, now))
		return false;
	if (!noise_create_response(&resp, hb, b, 0xb2b2b2b2))
		return false;
	if (!noise_consume_response(&resp, ha, a))
		return false;
	return noise_begin_session(ha, ka) && noise_begin_session(hb, kb);
}

static bool transport_works(const struct noise_keys *ka, const struct noise_keys *kb)
{
	static const char ping[] = "ping through the tunnel";
	uint8_t buf[64], out[64];

	ts_aead_encrypt(buf, (const uint8_t *)ping, sizeof(ping), NULL, 0, 0, ka->sending);
	if (!ts_aead_decrypt(out, buf, sizeof(ping) + 16, NULL, 0, 0, kb->receiving) ||
	    memcmp(out, ping, sizeof(ping)) != 0)
		return false;
	ts_aead_encrypt(buf, (const uint8_t *)ping, sizeof(ping), NULL, 0, 1, kb->sending);
	if (!ts_aead_decrypt(out, buf, sizeof(ping) + 16, NULL, 0, 1, ka->receiving) ||
	    memcmp(out, ping, sizeof(ping)) != 0)
		return false;
	/* A key is for one direction only. */
	return !ts_aead_decrypt(out, buf, sizeof(ping) + 16, NULL, 0, 1, kb->receiving);
}

static void test_full_handshake(void)
{
	struct noise_identity a, b;
	struct noise_handshake ha, hb;
	struct noise_keys ka, kb;
	struct message_handshake_initiation init;
	struct message_handshake_response resp;
	struct noise_initiation_result r;
	uint8_t le[4];
	uint64_t now = 1000 * NSEC_PER_SEC;

	new_identity(&a);
	new_identity(&b);
	noise_handshake_init(&ha, &a, b.static_public, NULL);
	noise_handshake_init(&hb, &b, a.static_public, NULL);

	/* Step by step, checking the wire fields and states. */
	CHECK(noise_create_initiation(&init, &ha, &a, 0x01020304));
	CHECK(ha.state == HANDSHAKE_CREATED_INITIATION && ha.local_index == 0x01020304);
	memcpy(le, &init, 4);
	CHECK(le[0] == 1 && le[1] == 0 && le[2] == 0 && le[3] == 0);
	memcpy(le, &init.sender_index, 4);
	CHECK(le[0] == 0x04 && le[3] == 0x01); /* little-endian on the wire */

	CHECK(noise_consume_initiation_decrypt(&init, &b, &r));
	CHECK(memcmp(r.remote_static, a.static_public, 32) == 0);
	CHECK(r.remote_index == 0x01020304);
	CHECK(noise_consume_initiation_accept(&hb, &r, now));
	CHECK(hb.state == HANDSHAKE_CONSUMED_INITIATION && hb.remote_index == 0x01020304);

	CHECK(noise_create_response(&resp, &hb, &b, 0x0a0b0c0d));
	CHECK(hb.state == HANDSHAKE_CREATED_RESPONSE);
	CHECK(le32toh(resp.receiver_index) == 0x01020304 &&
	      le32toh(resp.sender_index) == 0x0a0b0c0d);
	/* The initiator cannot begin before the response. */
	CHECK(!noise_begin_session(&ha, &ka));
	CHECK(noise_consume_response(&resp, &ha, &a));
	CHECK(ha.state == HANDSHAKE_CONSUMED_RESPONSE && ha.remote_index == 0x0a0b0c0d);
	/* Consumed once: a second copy finds the wrong state. */
	CHECK(!noise_consume_response(&resp, &ha, &a));

	CHECK(noise_begin_session(&ha, &ka));
	CHECK(noise_begin_session(&hb, &kb));
	CHECK(ka.is_initiator && !kb.is_initiator);
	CHECK(memcmp(ka.sending, kb.receiving, 32) == 0);
	CHECK(memcmp(ka.receiving, kb.sending, 32) == 0);
	CHECK(memcmp(ka.sending, ka.receiving, 32) != 0);
	CHECK(ka.local_index == 0x01020304 && ka.remote_index == 0x0a0b0c0d);
	CHECK(kb.local_index == 0x0a0b0c0d && kb.remote_index == 0x01020304);
	CHECK(transport_works(&ka, &kb));

	/* begin_session cleared both handshakes, but kept what must survive. */
	CHECK(ha.state == HANDSHAKE_ZEROED && hb.state == HANDSHAKE_ZEROED);
	CHECK(IS_ZERO(ha.chaining_key) && IS_ZERO(ha.ephemeral_private));
	CHECK(IS_ZERO(hb.hash) && IS_ZERO(hb.remote_ephemeral));
	CHECK(memcmp(hb.remote_static, a.static_public, 32) == 0);
	CHECK(!noise_begin_session(&ha, &ka));

	/* Replay: the same initiation again, later, is refused by its timestamp. */
	CHECK(noise_consume_initiation_decrypt(&init, &b, &r));
	CHECK(!noise_consume_initiation_accept(&hb, &r, now + 5 * NSEC_PER_SEC));
	CHECK(hb.state == HANDSHAKE_ZEROED);

	/* Roles reversed on the same handshakes works too (timestamps are newer). */
	CHECK(handshake(&b, &hb, &kb, &a, &ha, &ka, now + 10 * NSEC_PER_SEC));
	CHECK(kb.is_initiator && !ka.is_initiator && transport_works(&kb, &ka));
}

static void test_flood(void)
{
	struct noise_identity a, b;
	struct noise_handshake ha, hb, saved;
	struct message_handshake_initiation init;
	struct noise_initiation_result r;
	uint8_t e[32], e_pub[32], ts[12];
	uint64_t t0 = 5000 * NSEC_PER_SEC, step = 5 * NSEC_PER_MSEC;
	int i, accepted = 0;

	new_identity(&a);
	new_identity(&b);
	noise_handshake_init(&ha, &a, b.static_public, NULL);
	noise_handshake_init(&hb, &b, a.static_public, NULL);

	/* Fresh timestamps every time, so only the rate can refuse. */
	ts_x25519_generate(e, e_pub);
	tai64n_from(ts, 1700000000, 0);
	CHECK(noise_create_initiation_with_ephemeral(&init, &ha, &a, 1, e, ts));
	CHECK(noise_consume_initiation_decrypt(&init, &b, &r));
	CHECK(noise_consume_initiation_accept(&hb, &r, t0));

	/* 10 ms later (100/s): refused, and hb untouched. */
	tai64n_from(ts, 1700000001, 0);
	CHECK(noise_create_initiation_with_ephemeral(&init, &ha, &a, 2, e, ts));
	CHECK(noise_consume_initiation_decrypt(&init, &b, &r));
	saved = hb;
	CHECK(!noise_consume_initiation_accept(&hb, &r, t0 + 10 * NSEC_PER_MSEC));
	CHECK(memcmp(&saved, &hb, sizeof(hb)) == 0);
	/* 20 ms after the last accepted one (exactly 50/s): accepted. */
	CHECK(noise_consume_initiation_accept(&hb, &r, t0 + 20 * NSEC_PER_MSEC));

	/* A burst at 200/s for one second: at most 50 get through. */
	t0 += NSEC_PER_SEC;
	for (i = 0; i < 200; i++) {
		tai64n_from(ts, 1700000002 + (uint64_t)i, 0);
		CHECK(noise_create_initiation_with_ephemeral(&init, &ha, &a, 3, e, ts));
		CHECK(noise_consume_initiation_decrypt(&init, &b, &r));
		if (noise_consume_initiation_accept(&hb, &r, t0 + (uint64_t)i * step))
			accepted++;
	}
	CHECK(accepted == 50);
	sodium_memzero(e, sizeof(e));
}

static void test_wrong_keys(void)
{
	struct noise_identity a, b, c, none;
	struct noise_handshake ha, hb, hc, saved;
	struct message_handshake_initiation init;
	struct message_handshake_response resp;
	struct noise_initiation_result r;
	struct noise_keys ka, kb;
	uint8_t zero[32] = {0}, psk[32];
	uint64_t now = 100 * NSEC_PER_SEC;

	new_identity(&a);
	new_identity(&b);
	new_identity(&c);
	noise_identity_set(&none, zero);
	CHECK(!none.has_identity);

	/* a believes b's key is c's: b cannot open the initiation. */
	noise_handshake_init(&ha, &a, c.static_public, NULL);
	noise_handshake_init(&hb, &b, a.static_public, NULL);
	CHECK(noise_create_initiation(&init, &ha, &a, 7));
	CHECK(!noise_consume_initiation_decrypt(&init, &b, &r));
	/* ... but c, whose key it really is, can. */
	CHECK(noise_consume_initiation_decrypt(&init, &c, &r));

	/* c (a stranger to b) initiates to b: b decrypts, but a's handshake will not take it. */
	noise_handshake_init(&hc, &c, b.static_public, NULL);
	CHECK(noise_create_initiation(&init, &hc, &c, 8));
	CHECK(noise_consume_initiation_decrypt(&init, &b, &r));
	CHECK(memcmp(r.remote_static, c.static_public, 32) == 0);
	CHECK(!noise_consume_initiation_accept(&hb, &r, now));
	CHECK(hb.state == HANDSHAKE_ZEROED);

	/* No identity: nothing can be created or consumed. */
	CHECK(!noise_consume_initiation_decrypt(&init, &none, &r));
	noise_handshake_init(&hc, &none, b.static_public, NULL);
	CHECK(!noise_create_initiation(&init, &hc, &none, 9));
	/* A low-order peer key: no initiation either. */
	noise_handshake_init(&hc, &a, zero, NULL);
	CHECK(!noise_create_initiation(&init, &hc, &a, 9));

	/* A response to the wrong index, or forged, leaves the initiator as it was. */
	noise_handshake_init(&ha, &a, b.static_public, NULL);
	CHECK(noise_create_initiation(&init, &ha, &a, 11));
	CHECK(noise_consume_initiation_decrypt(&init, &b, &r));
	CHECK(noise_consume_initiation_accept(&hb, &r, now));
	CHECK(noise_create_response(&resp, &hb, &b, 12));
	saved = ha;
	resp.receiver_index = htole32(10);
	CHECK(!noise_consume_response(&resp, &ha, &a));
	resp.receiver_index = htole32(11);
	resp.encrypted_nothing[3] ^= 1;
	CHECK(!noise_consume_response(&resp, &ha, &a));
	CHECK(memcmp(&saved, &ha, sizeof(ha)) == 0);
	/* The responder itself cannot consume its response as if it were the initiator. */
	resp.encrypted_nothing[3] ^= 1;
	CHECK(!noise_consume_response(&resp, &hb, &b));
	/* c cannot finish a's handshake either (se uses a's static key). */
	CHECK(!noise_consume_response(&resp, &ha, &c));
	CHECK(memcmp(&saved, &ha, sizeof(ha)) == 0);
	CHECK(noise_consume_response(&resp, &ha, &a));

	/*
	 * A psk on one side only: everything up to the response goes through
	 * (the psk is mixed in last), then the response does not authenticate.
	 * Each attempt is a second after the last so the flood check stays out.
	 */
	randombytes_buf(psk, sizeof(psk));
	noise_handshake_init(&ha, &a, b.static_public, psk);
	noise_handshake_init(&hb, &b, a.static_public, NULL);
	CHECK(!handshake(&a, &ha, &ka, &b, &hb, &kb, now + 1 * NSEC_PER_SEC));
	CHECK(ha.state == HANDSHAKE_CREATED_INITIATION && hb.state == HANDSHAKE_CREATED_RESPONSE);
	/* The other way round too. */
	noise_handshake_init(&ha, &a, b.static_public, NULL);
	noise_handshake_set_psk(&hb, psk);
	CHECK(!handshake(&a, &ha, &ka, &b, &hb, &kb, now + 2 * NSEC_PER_SEC));
	CHECK(ha.state == HANDSHAKE_CREATED_INITIATION && hb.state == HANDSHAKE_CREATED_RESPONSE);
	/* Both sides: works (set_psk after init this time). */
	noise_handshake_set_psk(&ha, psk);
	CHECK(handshake(&a, &ha, &ka, &b, &hb, &kb, now + 3 * NSEC_PER_SEC));
	CHECK(transport_works(&ka, &kb));
	/* Different psks: fails. */
	psk[0] ^= 1;
	noise_handshake_set_psk(&ha, psk);
	CHECK(!handshake(&a, &ha, &ka, &b, &hb, &kb, now + 4 * NSEC_PER_SEC));
	CHECK(ha.state == HANDSHAKE_CREATED_INITIATION && hb.state == HANDSHAKE_CREATED_RESPONSE);
	/* And back to equal ones, to show the refusals above were about the psk alone. */
	noise_handshake_set_psk(&ha, NULL);
	noise_handshake_set_psk(&hb, NULL);
	CHECK(handshake(&a, &ha, &ka, &b, &hb, &kb, now + 5 * NSEC_PER_SEC));
}

/* Our identity changes: precompute must follow it. */
static void test_precompute(void)
{
	struct noise_identity a, a2, b;
	struct noise_handshake ha, hb;
	struct noise_keys ka, kb;
	uint8_t zero[32] = {0};

	new_identity(&a);
	new_identity(&b);
	noise_identity_set(&a2, zero);
	noise_handshake_init(&ha, &a2, b.static_public, NULL);
	CHECK(IS_ZERO(ha.precomputed_static_static));
	noise_handshake_init(&hb, &b, a.static_public, NULL);
	CHECK(!handshake(&a, &ha, &ka, &b, &hb, &kb, NSEC_PER_SEC));
	noise_handshake_precompute(&ha, &a);
	CHECK(!IS_ZERO(ha.precomputed_static_static));
	CHECK(handshake(&a, &ha, &ka, &b, &hb, &kb, NSEC_PER_SEC));
}

/*
 * Known answers from an independent implementation of the whitepaper in
 * Python 3 (hashlib.blake2s, hmac and the `cryptography` package for X25519
 * and ChaCha20-Poly1305); its output is pasted below:
 *
 *   import hashlib, hmac, struct
 *   from cryptography.hazmat.primitives.asymmetric.x25519 import (X25519PrivateKey as Priv,
 *                                                                 X25519PublicKey as Pub)
 *   from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
 *   H = lambda *a: hashlib.blake2s(b''.join(a)).digest()
 *   MAC = lambda k, d: hashlib.blake2s(d, key=k, digest_size=16).digest()
 *   HMAC = lambda k, d: hmac.new(k, d, hashlib.blake2s).digest()
 *   def KDF(n, ck, d):
 *       prk, prev, out = HMAC(ck, d), b'', []
 *       for i in range(1, n + 1):
 *           prev = HMAC(prk, prev + bytes([i])); out.append(prev)
 *       return out
 *   def clamp(k): k = bytearray(k); k[0] &= 248; k[31] = (k[31] & 127) | 64; return bytes(k)
 *   pub = lambda k: Priv.from_private_bytes(k).public_key().public_bytes_raw()
 *   dh = lambda k, p: Priv.from_private_bytes(k).exchange(Pub.from_public_bytes(p))
 *   aead = lambda k, pt, ad: ChaCha20Poly1305(k).encrypt(b'\0' * 12, pt, ad)
 *   si, sr = clamp(bytes(range(0x00, 0x20))), clamp(bytes(range(0x20, 0x40)))
 *   ei, er = clamp(bytes(range(0x40, 0x60))), clamp(bytes(range(0x60, 0x80)))
 *   psk = bytes(range(0x80, 0xa0))
 *   ts = struct.pack('>QI', 0x400000000000000a + 1700000000, 0x01000000)
 *   Si, Sr, Ei, Er = pub(si), pub(sr), pub(ei), pub(er)
 *   # initiation: e, es, s, ss, {t}
 *   ck = H(b'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s')
 *   h = H(H(ck, b'WireGuard v1 zx2c4 Jason@zx2c4.com'), Sr)
 *   ck, = KDF(1, ck, Ei); h = H(h, Ei)
 *   ck, k = KDF(2, ck, dh(ei, Sr)); es = aead(k, Si, h); h = H(h, es)
 *   ck, k = KDF(2, ck, dh(si, Sr)); et = aead(k, ts, h); h = H(h, et)
 *   init = struct.pack('<II', 1, 0x11223344) + Ei + es + et
 *   mac1 = MAC(H(b'mac1----', Sr), init)
 *   # response: e, ee, se, psk, {}
 *   ck, = KDF(1, ck, Er); h = H(h, Er)
 *   ck, = KDF(1, ck, dh(er, Ei))
 *   ck, = KDF(1, ck, dh(er, Si))
 *   ck, tau, k = KDF(3, ck, psk); h = H(h, tau)
 *   en = aead(k, b'', h); h = H(h, en)
 *   resp = struct.pack('<III', 2, 0x55667788, 0x11223344) + Er + en
 *   T1, T2 = KDF(2, ck, b'')
 *   for n, v in [('si', si), ('sr', sr), ('ei', ei), ('er', er), ('psk', psk), ('ts', ts),
 *                ('initiation', init), ('initiation_mac1', mac1), ('response', resp),
 *                ('t1', T1), ('t2', T2)]:
 *       print('static const char kat_%s[] = "%s";' % (n, v.hex()))
 */
// clang-format off
static const char kat_si[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e5f";
static const char kat_sr[] = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e7f";
static const char kat_ei[] = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f";
static const char kat_er[] = "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f";
static const char kat_psk[] = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
static const char kat_ts[] = "400000006553f10a01000000";
static const char kat_initiation[] = "010000004433221179a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51af0225eb421886af8f54fb31289d49dcd82b0f6f3279d40d7cff913fece0c64ad226eef3320755b393b72f16842c8d7ee78a74e937e3f2a828ef4ecc11b98a2746307a80e36ca84dc7c456cf1";
static const char kat_initiation_mac1[] = "8d3b3108f6f9896d484518b181f8ab89";
static const char kat_response[] = "020000008877665544332211675dd574ed7789310b3d2e7681f3790b466c773b1521fecf36577958371ea52fa36960276332644f268426cc362afcef";
static const char kat_t1[] = "f26d13be8f8fe7fe36805b47503285e73bcb2fc6fe3ef37834e5f6128ad8cf50";
static const char kat_t2[] = "083bdab92ffb8da7ab5063bb2d96de2b7e09008d8e07bcf96ac25c340a778665";
// clang-format on

static void test_known_answer(void)
{
	struct noise_identity a, b;
	struct noise_handshake ha, hb;
	struct message_handshake_initiation init;
	struct message_handshake_response resp;
	struct noise_initiation_result r;
	struct noise_keys ka, kb;
	uint8_t si[32], sr[32], ei[32], er[32], psk[32], ts[12], want[sizeof(init)], t1[32], t2[32];
	uint8_t key_input[40], mac1_key[32], mac1[16];
	size_t n;

	unhex(si, 32, kat_si);
	unhex(sr, 32, kat_sr);
	unhex(ei, 32, kat_ei);
	unhex(er, 32, kat_er);
	unhex(psk, 32, kat_psk);
	unhex(ts, 12, kat_ts);
	unhex(t1, 32, kat_t1);
	unhex(t2, 32, kat_t2);
	noise_identity_set(&a, si);
	noise_identity_set(&b, sr);
	noise_handshake_init(&ha, &a, b.static_public, psk);
	noise_handshake_init(&hb, &b, a.static_public, psk);

	CHECK(noise_create_initiation_with_ephemeral(&init, &ha, &a, 0x11223344, ei, ts));
	n = unhex(want, sizeof(want), kat_initiation);
	CHECK(n == offsetof(struct message_handshake_initiation, macs));
	CHECK(memcmp(&init, want, n) == 0);
	/* Its mac1 too, though that is cookie.c's job (keyed with HASH("mac1----" || S_r)). */
	memcpy(key_input, "mac1----", 8);
	memcpy(key_input + 8, b.static_public, 32);
	ts_blake2s(mac1_key, key_input, sizeof(key_input));
	ts_blake2s_mac(mac1, 16, mac1_key, 32, &init, n);
	unhex(want, sizeof(want), kat_initiation_mac1);
	CHECK(memcmp(mac1, want, 16) == 0);

	CHECK(noise_consume_initiation_decrypt(&init, &b, &r));
	CHECK(memcmp(r.timestamp, ts, 12) == 0 && r.remote_index == 0x11223344);
	CHECK(noise_consume_initiation_accept(&hb, &r, NSEC_PER_SEC));
	CHECK(noise_create_response_with_ephemeral(&resp, &hb, &b, 0x55667788, er));
	n = unhex(want, sizeof(want), kat_response);
	CHECK(n == offsetof(struct message_handshake_response, macs));
	CHECK(memcmp(&resp, want, n) == 0);

	CHECK(noise_consume_response(&resp, &ha, &a));
	CHECK(noise_begin_session(&ha, &ka) && noise_begin_session(&hb, &kb));
	CHECK(memcmp(ka.sending, t1, 32) == 0 && memcmp(ka.receiving, t2, 32) == 0);
	CHECK(memcmp(kb.sending, t2, 32) == 0 && memcmp(kb.receiving, t1, 32) == 0);
}

int main(void)
{
	if (ts_crypto_init() != 0) {
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	test_full_handshake();
	test_flood();
	test_wrong_keys();
	test_precompute();
	test_known_answer();
	if (failures) {
		fprintf(stderr, "test_noise: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_noise: all checks passed\n");
	return 0;
}
