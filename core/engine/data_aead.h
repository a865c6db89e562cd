/* SPDX-License-Identifier: MIT */
/*
 * The AEAD of transport data messages: ChaCha20-Poly1305 (RFC 8439, 2.8)
 * with no additional data and WireGuard's nonce (32 zero bits, then the
 * counter as little-endian 64 bits), in place.  The same function as
 * ts_aead_encrypt()/ts_aead_decrypt() with ad = NULL; only faster on
 * packet-sized messages (data_aead.c says how).
 */
#ifndef TS_ENGINE_DATA_AEAD_H
#define TS_ENGINE_DATA_AEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* buf: len bytes of plaintext, then room for the 16-byte tag, which is written there. */
void ts_data_seal(uint8_t *buf, size_t len, uint64_t counter, const uint8_t key[32]);
/*
 * buf: len bytes of ciphertext and tag (tag last).  Verifies the tag, then
 * decrypts the len - 16 bytes before it in place.  False on a short or
 * forged message; buf then holds no plaintext (it is left as it was, or,
 * past the scratch, zeroed by libsodium).
 */
bool ts_data_open(uint8_t *buf, size_t len, uint64_t counter, const uint8_t key[32]);

#endif
