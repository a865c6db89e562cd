// SPDX-License-Identifier: MIT
/*
 * The cryptographic primitives of WireGuard: BLAKE2s from libb2, X25519 and
 * the ChaCha20-Poly1305 AEADs from libsodium, and the few lines that build
 * HMAC, the KDF and TAI64N on top of them.  Nothing here is a hand-written
 * primitive; every construction is checked against published vectors in
 * tests/unit/test_crypto.c.
 */
#include "crypto.h"

#include <blake2.h>
#include <endian.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "messages.h"

int ts_crypto_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

/*
 * libb2 only fails on impossible arguments (bad lengths, NULL with a non-zero
 * length): a programming error, never a property of the input, so stop.
 */
static void blake2s_or_die(int ret)
{
	if (ret != 0)
		abort();
}

void ts_blake2s(uint8_t out[32], const void *in, size_t inlen)
{
	blake2s_or_die(blake2s(out, in, NULL, TS_BLAKE2S_HASH_LEN, inlen, 0));
}

void ts_blake2s_mac(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen, const void *in,
		    size_t inlen)
{
	blake2s_or_die(blake2s(out, in, key, outlen, inlen, keylen));
}

void ts_hmac_blake2s(uint8_t out[32], const uint8_t *key, size_t keylen, const void *in,
		     size_t inlen)
{
	uint8_t k[TS_BLAKE2S_BLOCK_LEN] = {0}, pad[TS_BLAKE2S_BLOCK_LEN];
	uint8_t inner[TS_BLAKE2S_HASH_LEN];
	blake2s_state st;
	size_t i;

	if (keylen > TS_BLAKE2S_BLOCK_LEN)
		ts_blake2s(k, key, keylen);
	else if (keylen)
		memcpy(k, key, keylen);

	for (i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x36;
	blake2s_or_die(blake2s_init(&st, TS_BLAKE2S_HASH_LEN));
	blake2s_or_die(blake2s_update(&st, pad, sizeof(pad)));
	blake2s_or_die(blake2s_update(&st, in, inlen));
	blake2s_or_die(blake2s_final(&st, inner, sizeof(inner)));

	for (i = 0; i < sizeof(pad); i++)
		pad[i] = k[i] ^ 0x5c;
	blake2s_or_die(blake2s_init(&st, TS_BLAKE2S_HASH_LEN));
	blake2s_or_die(blake2s_update(&st, pad, sizeof(pad)));
	blake2s_or_die(blake2s_update(&st, inner, sizeof(inner)));
	blake2s_or_die(blake2s_final(&st, out, TS_BLAKE2S_HASH_LEN));

	sodium_memzero(k, sizeof(k));
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
	sodium_memzero(&st, sizeof(st));
}

void ts_kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t *data, size_t datalen,
	    const uint8_t ck[32])
{
	/* out[] holds T(i) followed by the counter byte i + 1, the next block's input. */
	uint8_t prk[TS_BLAKE2S_HASH_LEN], out[3][TS_BLAKE2S_HASH_LEN + 1];
	const uint8_t one = 1;

	/* Extract: the chaining key is the HKDF salt, so it keys the HMAC. */
	ts_hmac_blake2s(prk, ck, TS_BLAKE2S_HASH_LEN, data, datalen);
	/* Expand: T(1) = HMAC(prk, 0x01), T(i) = HMAC(prk, T(i-1) || i). */
	ts_hmac_blake2s(out[0], prk, sizeof(prk), &one, 1);
	if (t2 || t3) {
		out[0][TS_BLAKE2S_HASH_LEN] = 2;
		ts_hmac_blake2s(out[1], prk, sizeof(prk), out[0], sizeof(out[0]));
	}
	if (t3) {
		out[1][TS_BLAKE2S_HASH_LEN] = 3;
		ts_hmac_blake2s(out[2], prk, sizeof(prk), out[1], sizeof(out[1]));
	}
	/* Copied out last: the outputs may alias ck, which the caller often replaces. */
	if (t1)
		memcpy(t1, out[0], TS_BLAKE2S_HASH_LEN);
	if (t2)
		memcpy(t2, out[1], TS_BLAKE2S_HASH_LEN);
	if (t3)
		memcpy(t3, out[2], TS_BLAKE2S_HASH_LEN);
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(out, sizeof(out));
}

bool ts_x25519(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32])
{
	/* libsodium refuses (returns -1) when the shared point is all-zero. */
	if (crypto_scalarmult(out, priv, pub) != 0) {
		sodium_memzero(out, TS_X25519_KEY_LEN);
		return false;
	}
	return true;
}

void ts_x25519_clamp(uint8_t priv[32])
{
	priv[0] &= 248;
	priv[31] = (uint8_t)((priv[31] & 127) | 64);
}

void ts_x25519_generate(uint8_t priv[32], uint8_t pub[32])
{
	do {
		randombytes_buf(priv, TS_X25519_KEY_LEN);
		ts_x25519_clamp(priv);
	} while (!ts_x25519_public(pub, priv));
}

bool ts_x25519_public(uint8_t pub[32], const uint8_t priv[32])
{
	if (crypto_scalarmult_base(pub, priv) != 0) {
		sodium_memzero(pub, TS_X25519_KEY_LEN);
		return false;
	}
	return true;
}

void ts_aead_nonce(uint8_t nonce[TS_AEAD_NONCE_LEN], uint64_t counter)
{
	uint64_t le = htole64(counter);

	memset(nonce, 0, 4);
	memcpy(nonce + 4, &le, sizeof(le));
}

void ts_aead_encrypt_nonce(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
			   size_t adlen, const uint8_t nonce[12], const uint8_t key[32])
{
	crypto_aead_chacha20poly1305_ietf_encrypt(dst, NULL, src, srclen, ad, adlen, NULL, nonce,
						  key);
}

bool ts_aead_decrypt_nonce(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
			   size_t adlen, const uint8_t nonce[12], const uint8_t key[32])
{
	/* libsodium checks srclen >= tag and verifies the tag before writing dst. */
	return crypto_aead_chacha20poly1305_ietf_decrypt(dst, NULL, NULL, src, srclen, ad, adlen,
							 nonce, key) == 0;
}

void ts_aead_encrypt(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
		     size_t adlen, uint64_t counter, const uint8_t key[32])
{
	uint8_t nonce[TS_AEAD_NONCE_LEN];

	ts_aead_nonce(nonce, counter);
	ts_aead_encrypt_nonce(dst, src, srclen, ad, adlen, nonce, key);
}

bool ts_aead_decrypt(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
		     size_t adlen, uint64_t counter, const uint8_t key[32])
{
	uint8_t nonce[TS_AEAD_NONCE_LEN];

	ts_aead_nonce(nonce, counter);
	return ts_aead_decrypt_nonce(dst, src, srclen, ad, adlen, nonce, key);
}

void ts_xaead_encrypt(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
		      size_t adlen, const uint8_t nonce[24], const uint8_t key[32])
{
	crypto_aead_xchacha20poly1305_ietf_encrypt(dst, NULL, src, srclen, ad, adlen, NULL, nonce,
						   key);
}

bool ts_xaead_decrypt(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
		      size_t adlen, const uint8_t nonce[24], const uint8_t key[32])
{
	return crypto_aead_xchacha20poly1305_ietf_decrypt(dst, NULL, NULL, src, srclen, ad, adlen,
							  nonce, key) == 0;
}

/* Largest power of two not above n (n > 0). */
static uint32_t rounddown_pow2(uint32_t n)
{
	uint32_t p = 1;

	while (p <= n / 2)
		p <<= 1;
	return p;
}

void tai64n_from(uint8_t out[12], uint64_t unix_sec, uint32_t nsec)
{
	/*
	 * Two initiations less than 1/INITIATIONS_PER_SECOND apart are refused
	 * anyway, so finer resolution would only tell an observer about our
	 * clock (and, through it, our CPU).  The kernel rounds the same way.
	 */
	const uint32_t granule = rounddown_pow2(1000000000U / INITIATIONS_PER_SECOND);
	uint64_t sec = htobe64(0x400000000000000aULL + unix_sec);
	uint32_t ns = htobe32(nsec - nsec % granule);

	memcpy(out, &sec, sizeof(sec));
	memcpy(out + sizeof(sec), &ns, sizeof(ns));
}

void tai64n_now(uint8_t out[12])
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	tai64n_from(out, (uint64_t)now.tv_sec, (uint32_t)now.tv_nsec);
}
