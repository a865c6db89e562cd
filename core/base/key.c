/* SPDX-License-Identifier: MIT */
/*
 * Key text encodings.  Everything here runs in time independent of the key
 * bytes (libsodium's codecs are constant time); only the length of the
 * input, which is public, decides early exits.
 */
#include "key.h"

#include <sodium.h>
#include <string.h>

void ts_key_to_hex(char hex[static TS_KEY_HEX_LEN], const uint8_t key[static TS_KEY_LEN])
{
	sodium_bin2hex(hex, TS_KEY_HEX_LEN, key, TS_KEY_LEN);
}

/*
 * sodium_hex2bin() also takes 'A'-'F'; UAPI keys are lowercase, as wg's own
 * parser insists, so flag uppercase digits without branching on them.
 */
static unsigned char has_uppercase_hex(const char *hex, size_t len)
{
	unsigned char bad = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned int c = (unsigned char)hex[i];

		/* (c - 'A') < 6 as an unsigned compare, turned into 0/1 by shifts. */
		bad |= (unsigned char)(((c - 'A') - 6U) >> 31 & ~((c - 'A') >> 31));
	}
	return bad;
}

bool ts_key_from_hex(uint8_t key[static TS_KEY_LEN], const char *hex)
{
	size_t bin_len = 0;
	const char *end = NULL;
	int ret;

	/* The length is public: an early exit on it leaks nothing. */
	if (strnlen(hex, TS_KEY_HEX_LEN) != TS_KEY_HEX_LEN - 1)
		goto fail;
	ret = sodium_hex2bin(key, TS_KEY_LEN, hex, TS_KEY_HEX_LEN - 1, NULL, &bin_len, &end);
	if ((ret != 0) | (bin_len != TS_KEY_LEN) | (end != hex + TS_KEY_HEX_LEN - 1) |
	    has_uppercase_hex(hex, TS_KEY_HEX_LEN - 1))
		goto fail;
	return true;
fail:
	sodium_memzero(key, TS_KEY_LEN);
	return false;
}

void ts_key_to_base64(char b64[static TS_KEY_BASE64_LEN], const uint8_t key[static TS_KEY_LEN])
{
	sodium_bin2base64(b64, TS_KEY_BASE64_LEN, key, TS_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
}

/*
 * libsodium 1.0.18 (Debian 12) classifies base64 characters through a
 * signed char, so bytes >= 0x80 can decode as '/' or '+' (0xf0 does): refuse
 * every byte with the high bit set, without branching on it.
 */
static unsigned char has_high_bit(const char *s, size_t len)
{
	unsigned char acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= (unsigned char)s[i];
	return acc >> 7;
}

bool ts_key_from_base64(uint8_t key[static TS_KEY_LEN], const char *b64)
{
	size_t bin_len = 0;
	const char *end = NULL;
	int ret;

	if (strnlen(b64, TS_KEY_BASE64_LEN) != TS_KEY_BASE64_LEN - 1)
		goto fail;
	/* libsodium rejects non-canonical trailing bits and bad padding. */
	ret = sodium_base642bin(key, TS_KEY_LEN, b64, TS_KEY_BASE64_LEN - 1, NULL, &bin_len, &end,
				sodium_base64_VARIANT_ORIGINAL);
	if ((ret != 0) | (bin_len != TS_KEY_LEN) | (end != b64 + TS_KEY_BASE64_LEN - 1) |
	    has_high_bit(b64, TS_KEY_BASE64_LEN - 1))
		goto fail;
	return true;
fail:
	sodium_memzero(key, TS_KEY_LEN);
	return false;
}

bool ts_key_is_zero(const uint8_t key[static TS_KEY_LEN])
{
	return sodium_is_zero(key, TS_KEY_LEN) == 1;
}

bool ts_key_equal(const uint8_t a[static TS_KEY_LEN], const uint8_t b[static TS_KEY_LEN])
{
	return sodium_memcmp(a, b, TS_KEY_LEN) == 0;
}
