/* SPDX-License-Identifier: MIT */
/*
 * The primitives of WireGuard, and nothing else: BLAKE2s (libb2), its HMAC
 * and the whitepaper's KDF built on it, X25519 and the two ChaCha20-Poly1305
 * AEADs (libsodium), and the TAI64N timestamp of the handshake.  No protocol
 * logic lives here.
 */
#ifndef TS_CRYPTO_H
#define TS_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	TS_BLAKE2S_HASH_LEN = 32,
	TS_BLAKE2S_BLOCK_LEN = 64,
	TS_X25519_KEY_LEN = 32,
	TS_AEAD_KEY_LEN = 32,
	TS_AEAD_TAG_LEN = 16,
	TS_AEAD_NONCE_LEN = 12,
	TS_XAEAD_NONCE_LEN = 24,
	TS_TAI64N_LEN = 12,
};

/* Call once before anything else (wraps sodium_init()); 0 on success, -1 on failure. */
int ts_crypto_init(void);

/* Unkeyed BLAKE2s with a 32-byte digest. */
void ts_blake2s(uint8_t out[32], const void *in, size_t inlen);
/* Keyed BLAKE2s (the whitepaper's MAC); outlen 16 or 32, keylen 1..32. */
void ts_blake2s_mac(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen, const void *in,
		    size_t inlen);
/* HMAC (RFC 2104) over BLAKE2s, block size 64; keys longer than 64 bytes are hashed first. */
void ts_hmac_blake2s(uint8_t out[32], const uint8_t *key, size_t keylen, const void *in,
		     size_t inlen);
/*
 * The whitepaper's KDF_n: HKDF (RFC 5869) with HMAC-BLAKE2s, the chaining key
 * as salt and no info.  Each of t1..t3 may be NULL when not wanted; output
 * buffers may alias ck.
 */
void ts_kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t *data, size_t datalen,
	    const uint8_t ck[32]);

/* X25519(priv, pub); false (and out zeroed) when the result is all-zero (a low-order point). */
bool ts_x25519(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32]);
/* A fresh key pair; the private key is clamped. */
void ts_x25519_generate(uint8_t priv[32], uint8_t pub[32]);
/* pub = X25519(priv, 9); false when that fails (never for a clamped non-zero key). */
bool ts_x25519_public(uint8_t pub[32], const uint8_t priv[32]);
/* Clamp a private key in place, as X25519 does internally. */
void ts_x25519_clamp(uint8_t priv[32]);

/* WireGuard's AEAD nonce for a counter: 32 zero bits, then the counter as little-endian 64 bits. */
void ts_aead_nonce(uint8_t nonce[TS_AEAD_NONCE_LEN], uint64_t counter);
/*
 * ChaCha20-Poly1305 (RFC 8439) with WireGuard's nonce: 32 zero bits then the
 * counter as little-endian 64 bits.  dst receives srclen + 16 bytes (tag
 * last); dst may equal src.
 */
void ts_aead_encrypt(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
		     size_t adlen, uint64_t counter, const uint8_t key[32]);
/* srclen includes the tag; dst receives srclen - 16 bytes.  False on a short or forged input. */
bool ts_aead_decrypt(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
		     size_t adlen, uint64_t counter, const uint8_t key[32]);
/* The same with an arbitrary 96-bit nonce (used by the known-answer tests of RFC 8439). */
void ts_aead_encrypt_nonce(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
			   size_t adlen, const uint8_t nonce[12], const uint8_t key[32]);
bool ts_aead_decrypt_nonce(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
			   size_t adlen, const uint8_t nonce[12], const uint8_t key[32]);
/* XChaCha20-Poly1305 (24-byte nonce), for cookie replies; same conventions. */
void ts_xaead_encrypt(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
		      size_t adlen, const uint8_t nonce[24], const uint8_t key[32]);
bool ts_xaead_decrypt(uint8_t *dst, const uint8_t *src, size_t srclen, const uint8_t *ad,
		      size_t adlen, const uint8_t nonce[24], const uint8_t key[32]);

/*
 * TAI64N of the wall clock: big-endian 2^62 + 10 + seconds, then big-endian
 * nanoseconds rounded down to a power of two below 1/INITIATIONS_PER_SECOND
 * so the timestamp does not leak fine timing, as the kernel does.
 */
void tai64n_now(uint8_t out[12]);
/* The same for a given wall-clock time (tests). */
void tai64n_from(uint8_t out[12], uint64_t unix_sec, uint32_t nsec);

#endif
