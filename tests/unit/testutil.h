/* SPDX-License-Identifier: MIT */
/*
 * What the unit tests share, header-only: the failure count, the CHECK macro
 * that adds to it (the test's main returns failures ? 1 : 0), and decoding
 * of hex test vectors.  A malformed vector is a bug in the test itself: the
 * decoder says so and exits 1 at once.
 */
#ifndef TS_TESTUTIL_H
#define TS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/* CHECK with a printf-style message saying what was seen. */
#define CHECK_MSG(cond, ...)                                                                       \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/* Decode hex into out (at most max bytes); returns the bytes written. */
static inline size_t unhex(uint8_t *out, size_t max, const char *hex)
{
	size_t n = strlen(hex) / 2, i;

	if (strlen(hex) % 2 || n > max) {
		fprintf(stderr, "bad test vector %s\n", hex);
		exit(1);
	}
	for (i = 0; i < n; i++) {
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1) {
			fprintf(stderr, "bad test vector %s\n", hex);
			exit(1);
		}
		out[i] = (uint8_t)b;
	}
	return n;
}

/* Decode hex that must be exactly len bytes. */
static inline void unhex_exact(uint8_t *out, size_t len, const char *hex)
{
	if (unhex(out, len, hex) != len) {
		fprintf(stderr, "bad test vector %s (want %zu bytes)\n", hex, len);
		exit(1);
	}
}

/* Is got[0..len) the bytes of want_hex?  Prints both when not. */
static inline int eq_hex(const uint8_t *got, size_t len, const char *want_hex)
{
	uint8_t want[512];
	size_t n = unhex(want, sizeof(want), want_hex);

	if (n != len || memcmp(got, want, len) != 0) {
		size_t i;

		fprintf(stderr, "  got  ");
		for (i = 0; i < len; i++)
			fprintf(stderr, "%02x", got[i]);
		fprintf(stderr, "\n  want %s\n", want_hex);
		return 0;
	}
	return 1;
}

#endif
