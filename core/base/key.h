/* SPDX-License-Identifier: MIT */
/*
 * 32-byte WireGuard keys as text: lowercase hex (UAPI) and base64 (wg's
 * INI files and command line), both ways, in constant time through
 * libsodium so that parsing a private key leaks nothing about it.
 */
#ifndef TS_KEY_H
#define TS_KEY_H

#include <stdbool.h>
#include <stdint.h>

#define TS_KEY_LEN	  32
#define TS_KEY_HEX_LEN	  (TS_KEY_LEN * 2 + 1) /* 64 digits and a NUL */
#define TS_KEY_BASE64_LEN 45		       /* 43 characters, '=', NUL */

/* Writes 64 lowercase hex digits and a NUL. */
void ts_key_to_hex(char hex[static TS_KEY_HEX_LEN], const uint8_t key[static TS_KEY_LEN]);
/*
 * Exactly 64 lowercase hex digits, nothing before or after.  On failure
 * returns false and leaves key zeroed.
 */
bool ts_key_from_hex(uint8_t key[static TS_KEY_LEN], const char *hex);
/* Writes 44 characters of standard, padded base64 and a NUL. */
void ts_key_to_base64(char b64[static TS_KEY_BASE64_LEN], const uint8_t key[static TS_KEY_LEN]);
/*
 * Exactly 44 characters of standard padded base64 encoding 32 bytes (the
 * canonical form `wg genkey` prints).  On failure returns false and leaves
 * key zeroed.
 */
bool ts_key_from_base64(uint8_t key[static TS_KEY_LEN], const char *b64);
/* Constant time. */
bool ts_key_is_zero(const uint8_t key[static TS_KEY_LEN]);
/* Constant time. */
bool ts_key_equal(const uint8_t a[static TS_KEY_LEN], const uint8_t b[static TS_KEY_LEN]);

#endif
