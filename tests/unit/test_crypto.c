// SPDX-License-Identifier: MIT
/*
 * Known-answer tests for core/engine/crypto.c: every primitive and construction
 * the handshake and the data path rely on, against published vectors or
 * values computed independently with Python (noted at each vector).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "data_aead.h"
#include "testutil.h"

static void seq(uint8_t *out, size_t len, uint8_t first)
{
	size_t i;

	for (i = 0; i < len; i++)
		out[i] = (uint8_t)(first + i);
}

static void test_blake2s(void)
{
	uint8_t out[32], key[32], in[64];

	/* RFC 7693 Appendix B: BLAKE2s-256("abc"). */
	ts_blake2s(out, "abc", 3);
	CHECK(eq_hex(out, 32, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982"));

	/*
	 * BLAKE2 reference KAT (blake2s-kat.txt): key = 00..1f, input = 00..len-1.
	 * Lengths 0, 1 and 3 as published; 64 (exactly one block, the classic
	 * last-block pitfall) produced with Python's hashlib.blake2s(key=...),
	 * which is the BLAKE2 reference code.
	 */
	seq(key, sizeof(key), 0);
	seq(in, sizeof(in), 0);
	ts_blake2s_mac(out, 32, key, 32, in, 0);
	CHECK(eq_hex(out, 32, "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49"));
	ts_blake2s_mac(out, 32, key, 32, in, 1);
	CHECK(eq_hex(out, 32, "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1"));
	ts_blake2s_mac(out, 32, key, 32, in, 3);
	CHECK(eq_hex(out, 32, "1d220dbe2ee134661fdf6d9e74b41704710556f2f6e5a091b227697445dbea6b"));
	ts_blake2s_mac(out, 32, key, 32, in, 64);
	CHECK(eq_hex(out, 32, "8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4"));

	/* The 16-byte MAC of mac1/mac2/cookies: hashlib.blake2s(b"abc", key=00..1f,
	 * digest_size=16). */
	ts_blake2s_mac(out, 16, key, 32, "abc", 3);
	CHECK(eq_hex(out, 16, "61ba5f165c194692e09d12520cc4c74a"));
	ts_blake2s_mac(out, 16, key, 32, NULL, 0);
	CHECK(eq_hex(out, 16, "9536f9b267655743dee97b8a670f9f53"));
}

/*
 * HMAC and KDF vectors produced with Python 3:
 *   import hashlib, hmac
 *   HMAC = lambda k, d: hmac.new(k, d, hashlib.blake2s).digest()
 *   def KDF(n, ck, d):
 *       prk, prev, out = HMAC(ck, d), b'', []
 *       for i in range(1, n + 1):
 *           prev = HMAC(prk, prev + bytes([i])); out.append(prev)
 *       return out
 */
static void test_hmac_kdf(void)
{
	static const char fox[] = "The quick brown fox jumps over the lazy dog";
	uint8_t out[32], key[100], ck[32], t1[32], t2[32], t3[32];

	/* HMAC(b'key', fox) */
	ts_hmac_blake2s(out, (const uint8_t *)"key", 3, fox, strlen(fox));
	CHECK(eq_hex(out, 32, "f93215bb90d4af4c3061cd932fb169fb8bb8a91d0b4022baea1271e1323cd9a0"));
	/* HMAC(bytes(range(100)), fox): a key longer than a block is hashed first. */
	seq(key, sizeof(key), 0);
	ts_hmac_blake2s(out, key, 100, fox, strlen(fox));
	CHECK(eq_hex(out, 32, "62bc55ee982e83e9f80ff756c037bac835c4201c91817685b52396da1482a6e4"));
	/* HMAC(bytes(range(64)), b''): a key of exactly one block is used as is. */
	ts_hmac_blake2s(out, key, 64, NULL, 0);
	CHECK(eq_hex(out, 32, "4a4f8f181c931253202b2d7a77e2a612f65580f4b0d56108f7f275f22b63ae00"));

	/* KDF(3, bytes(range(32)), b'tinescale') */
	seq(ck, sizeof(ck), 0);
	ts_kdf(t1, t2, t3, (const uint8_t *)"tinescale", 9, ck);
	CHECK(eq_hex(t1, 32, "d0b5c20dac9fb523d8dea4faba2a8bf14c01e396472c918cacb974699b03c35c"));
	CHECK(eq_hex(t2, 32, "c193eecc1af9f16d5e179917b95884ad42564f7acba4d1b41dfa9ed50356569f"));
	CHECK(eq_hex(t3, 32, "f8f1218905f2a556f482c344cbbb662de8adfde1eec71c83796e5175a1afe954"));
	/* Only t3 wanted: still derived through t1 and t2. */
	memset(t3, 0, sizeof(t3));
	ts_kdf(NULL, NULL, t3, (const uint8_t *)"tinescale", 9, ck);
	CHECK(eq_hex(t3, 32, "f8f1218905f2a556f482c344cbbb662de8adfde1eec71c83796e5175a1afe954"));
	/* KDF(2, bytes(range(32)), b''), written over the chaining key itself (aliasing). */
	ts_kdf(ck, t2, NULL, NULL, 0, ck);
	CHECK(eq_hex(ck, 32, "7a38c34bf2b8738d7374ca77c44ecb309a11d2b2528304fa86052c365e722624"));
	CHECK(eq_hex(t2, 32, "1a17621f346abdc520746a9fb64d8eb03231d674fc15687537b0780fd9c060fd"));
}

/* RFC 8439 section 2.8.2 / draft-irtf-cfrg-xchacha-03 A.3.1 share key, AD and plaintext. */
static const char sunscreen[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
				"only one tip for the future, sunscreen would be it.";
static const char rfc8439_sealed[] =
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
    "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
    "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
    "3ff4def08e4b7a9de576d26586cec64b6116"
    "1ae10b594f09e26a7e902ecbd0600691";
static const char xchacha_sealed[] =
    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
    "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
    "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
    "21f9664c97637da9768812f615c68b13b52e"
    "c0875924c1c7987947deafd8780acf49";

static void test_aead(void)
{
	const size_t len = strlen(sunscreen);
	uint8_t key[32], ad[12], nonce[12], buf[256], plain[256];

	seq(key, sizeof(key), 0x80);
	unhex(ad, sizeof(ad), "50515253c0c1c2c3c4c5c6c7");

	/* RFC 8439 2.8.2: its nonce (07000000 || 4041..47) is not a WireGuard nonce. */
	unhex(nonce, sizeof(nonce), "070000004041424344454647");
	ts_aead_encrypt_nonce(buf, (const uint8_t *)sunscreen, len, ad, sizeof(ad), nonce, key);
	CHECK(eq_hex(buf, len + 16, rfc8439_sealed));
	CHECK(ts_aead_decrypt_nonce(plain, buf, len + 16, ad, sizeof(ad), nonce, key));
	CHECK(memcmp(plain, sunscreen, len) == 0);

	/*
	 * The WireGuard nonce is 32 zero bits || LE64(counter).  Check ts_aead_*
	 * builds exactly that: counter 0x0102030405060708 must equal the explicit
	 * nonce 00000000 0807060504030201.  Expected value from Python:
	 * ChaCha20Poly1305(key).encrypt(nonce, sunscreen, ad) (OpenSSL), first 16 bytes and tag.
	 */
	unhex(nonce, sizeof(nonce), "000000000807060504030201");
	ts_aead_encrypt_nonce(plain, (const uint8_t *)sunscreen, len, ad, sizeof(ad), nonce, key);
	ts_aead_encrypt(buf, (const uint8_t *)sunscreen, len, ad, sizeof(ad), 0x0102030405060708ULL,
			key);
	CHECK(memcmp(buf, plain, len + 16) == 0);
	CHECK(eq_hex(buf, 16, "b8d08ad235a97bbc4dd551cc6b1911b3"));
	CHECK(eq_hex(buf + len, 16, "d963bce6a7bfba85f5b845fd1ee7f5f1"));

	/* In place, both ways. */
	memcpy(buf, sunscreen, len);
	ts_aead_encrypt(buf, buf, len, ad, sizeof(ad), 0x0102030405060708ULL, key);
	CHECK(memcmp(buf, plain, len + 16) == 0);
	CHECK(ts_aead_decrypt(buf, buf, len + 16, ad, sizeof(ad), 0x0102030405060708ULL, key));
	CHECK(memcmp(buf, sunscreen, len) == 0);

	/* Tampering anywhere fails: ciphertext, tag, AD, counter, length. */
	ts_aead_encrypt(buf, (const uint8_t *)sunscreen, len, ad, sizeof(ad), 7, key);
	buf[3] ^= 0x10;
	CHECK(!ts_aead_decrypt(plain, buf, len + 16, ad, sizeof(ad), 7, key));
	buf[3] ^= 0x10;
	buf[len + 15] ^= 0x01;
	CHECK(!ts_aead_decrypt(plain, buf, len + 16, ad, sizeof(ad), 7, key));
	buf[len + 15] ^= 0x01;
	CHECK(ts_aead_decrypt(plain, buf, len + 16, ad, sizeof(ad), 7, key));
	CHECK(!ts_aead_decrypt(plain, buf, len + 16, ad, sizeof(ad), 8, key));
	CHECK(!ts_aead_decrypt(plain, buf, len + 16, ad, sizeof(ad) - 1, 7, key));
	CHECK(!ts_aead_decrypt(plain, buf, len + 15, ad, sizeof(ad), 7, key));
	CHECK(!ts_aead_decrypt(plain, buf, 15, ad, sizeof(ad), 7, key));
	/* Empty plaintext (keepalives, the response's {}): just a tag. */
	ts_aead_encrypt(buf, NULL, 0, NULL, 0, 0, key);
	CHECK(ts_aead_decrypt(plain, buf, 16, NULL, 0, 0, key));
	buf[0] ^= 0x80;
	CHECK(!ts_aead_decrypt(plain, buf, 16, NULL, 0, 0, key));
}

/*
 * The data path's in-place AEAD (data_aead.c), which calls libsodium's
 * ChaCha20 and Poly1305 itself: known answers from Python's cryptography
 * (OpenSSL), ChaCha20Poly1305(key).encrypt(b"\0" * 4 + counter.to_bytes(8,
 * "little"), msg, None) with msg[i] = (7 * i + 3) & 0xff, hashed with
 * hashlib.blake2s; then byte for byte against libsodium's own AEAD
 * (ts_aead_encrypt) for every length from 0 to past the scratch (4032
 * bytes), and refusals that leave the buffer as it was.
 */
/* After a refusal: buf as it was, or (libsodium, past the scratch) its message zeroed. */
static bool untouched(const uint8_t *buf, const uint8_t *was, size_t len)
{
	size_t i;

	if (!memcmp(buf, was, len + 16))
		return true;
	for (i = 0; i < len; i++)
		if (buf[i])
			return false;
	return len > 4032;
}

static void test_data_aead(void)
{
	static const struct {
		size_t len;
		uint64_t counter;
		const char *blake2s;
	} kat[] = {
	    {1420, 0x0102030405060708ULL,
	     "82e4d7c14811b1c43dc965ada18aee59c8ca78161b7eac604d0c0cfb421ad3d0"},
	    {0, 5, "f630f5664619e1be65dd05c3afdf89b1c3889cbe4b0782eca26c37ddab601f39"},
	    {4095, 1, "b7d405e6c75de7a5beb68c6773b30b0497302600646164dd6343543caa24b72d"},
	};
	enum { MAXLEN = 4200 };
	static uint8_t msg[MAXLEN], buf[MAXLEN + 16], ref[MAXLEN + 16], keep[MAXLEN + 16];
	uint8_t key[32], h[32];
	size_t len, i;
	int bad_seal = 0, bad_open = 0, bad_refusal = 0;

	seq(key, sizeof(key), 0x80);
	for (i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		for (len = 0; len < kat[i].len; len++)
			buf[len] = (uint8_t)(len * 7 + 3);
		ts_data_seal(buf, kat[i].len, kat[i].counter, key);
		ts_blake2s(h, buf, kat[i].len + 16);
		CHECK(eq_hex(h, 32, kat[i].blake2s));
		CHECK(ts_data_open(buf, kat[i].len + 16, kat[i].counter, key));
		for (len = 0; len < kat[i].len; len++)
			if (buf[len] != (uint8_t)(len * 7 + 3))
				break;
		CHECK(len == kat[i].len);
	}

	for (len = 0; len <= MAXLEN; len++) {
		uint64_t counter = ((uint64_t)randombytes_random() << 32) | randombytes_random();
		size_t at;

		randombytes_buf(key, sizeof(key));
		randombytes_buf(msg, len);
		ts_aead_encrypt(ref, msg, len, NULL, 0, counter, key);
		memcpy(buf, msg, len);
		ts_data_seal(buf, len, counter, key);
		bad_seal += memcmp(buf, ref, len + 16) != 0;
		bad_open += !ts_data_open(buf, len + 16, counter, key) || memcmp(buf, msg, len);

		/* A flipped bit anywhere, or another counter: refused, no plaintext out. */
		memcpy(buf, ref, len + 16);
		at = randombytes_uniform((uint32_t)len + 16);
		buf[at] ^= (uint8_t)(1u << randombytes_uniform(8));
		memcpy(keep, buf, len + 16);
		bad_refusal +=
		    ts_data_open(buf, len + 16, counter, key) || !untouched(buf, keep, len);
		memcpy(buf, ref, len + 16);
		bad_refusal +=
		    ts_data_open(buf, len + 16, counter + 1, key) || !untouched(buf, ref, len);
	}
	CHECK(bad_seal == 0);
	CHECK(bad_open == 0);
	CHECK(bad_refusal == 0);
	/* Shorter than a tag: refused. */
	CHECK(!ts_data_open(buf, 15, 0, key));
	CHECK(!ts_data_open(buf, 0, 0, key));
}

static void test_xaead(void)
{
	const size_t len = strlen(sunscreen);
	uint8_t key[32], ad[12], nonce[24], buf[256], plain[256];

	/* draft-irtf-cfrg-xchacha-03, A.3.1. */
	seq(key, sizeof(key), 0x80);
	seq(nonce, sizeof(nonce), 0x40);
	unhex(ad, sizeof(ad), "50515253c0c1c2c3c4c5c6c7");
	ts_xaead_encrypt(buf, (const uint8_t *)sunscreen, len, ad, sizeof(ad), nonce, key);
	CHECK(eq_hex(buf, len + 16, xchacha_sealed));
	CHECK(ts_xaead_decrypt(plain, buf, len + 16, ad, sizeof(ad), nonce, key));
	CHECK(memcmp(plain, sunscreen, len) == 0);
	/* In place. */
	CHECK(ts_xaead_decrypt(buf, buf, len + 16, ad, sizeof(ad), nonce, key));
	CHECK(memcmp(buf, sunscreen, len) == 0);
	ts_xaead_encrypt(buf, buf, len, ad, sizeof(ad), nonce, key);
	CHECK(eq_hex(buf, len + 16, xchacha_sealed));
	/* A flipped bit, or another nonce, fails. */
	buf[len] ^= 0x04;
	CHECK(!ts_xaead_decrypt(plain, buf, len + 16, ad, sizeof(ad), nonce, key));
	buf[len] ^= 0x04;
	nonce[23] ^= 1;
	CHECK(!ts_xaead_decrypt(plain, buf, len + 16, ad, sizeof(ad), nonce, key));
}

static void test_x25519(void)
{
	uint8_t a[32], b[32], pub[32], out[32], out2[32], zero[32] = {0};

	/* RFC 7748 section 6.1. */
	unhex(a, 32, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	unhex(b, 32, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
	CHECK(ts_x25519_public(pub, a));
	CHECK(eq_hex(pub, 32, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
	CHECK(ts_x25519_public(pub, b));
	CHECK(eq_hex(pub, 32, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
	CHECK(ts_x25519(out, a, pub));
	CHECK(eq_hex(out, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"));

	/* A low-order point (here 0) gives the all-zero secret: refused. */
	CHECK(!ts_x25519(out, a, zero));
	CHECK(memcmp(out, zero, 32) == 0);
	/* The point of order 8 from the Curve25519 small-subgroup list. */
	unhex(pub, 32, "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");
	CHECK(!ts_x25519(out, a, pub));

	/* Generated pairs are clamped and agree. */
	ts_x25519_generate(a, pub);
	CHECK((a[0] & 7) == 0 && (a[31] & 0x80) == 0 && (a[31] & 0x40) != 0);
	ts_x25519_generate(b, out2);
	CHECK(ts_x25519(out, a, out2));
	CHECK(ts_x25519(out2, b, pub));
	CHECK(memcmp(out, out2, 32) == 0);
}

static void test_tai64n(void)
{
	uint8_t t[12], u[12];

	/* 2^62 + 10 + seconds, big-endian; nanoseconds rounded down to 2^24 (16.7 ms). */
	tai64n_from(t, 1700000000, 999999999);
	CHECK(eq_hex(t, 12, "400000006553f10a3b000000"));
	tai64n_from(t, 0, 16777215);
	CHECK(eq_hex(t, 12, "400000000000000a00000000"));
	/* Monotone enough to order two initiations a second apart. */
	tai64n_now(t);
	tai64n_from(u, 1700000000, 0);
	CHECK(memcmp(t, u, 12) > 0);
}

int main(void)
{
	if (ts_crypto_init() != 0) {
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	test_blake2s();
	test_hmac_kdf();
	test_aead();
	test_data_aead();
	test_xaead();
	test_x25519();
	test_tai64n();
	if (failures) {
		fprintf(stderr, "test_crypto: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_crypto: all checks passed\n");
	return 0;
}
