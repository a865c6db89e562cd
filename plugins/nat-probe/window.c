// SPDX-License-Identifier: MIT
/*
 * The counter replay window (window.h): a bitmap of the last NP_WINDOW_BITS
 * counters below the highest one, shifted as the highest grows.
 */
#include "window.h"

#include <string.h>

#define WORDS (NP_WINDOW_BITS / 64)

void np_window_init(struct np_window *w)
{
	memset(w, 0, sizeof(*w));
}

bool np_window_fresh(const struct np_window *w, uint64_t c)
{
	uint64_t d;

	if (!w->any || c > w->top)
		return true;
	d = w->top - c;
	if (d >= NP_WINDOW_BITS)
		return false;
	return !(w->bits[d / 64] >> (d % 64) & 1);
}

/* Shift the bitmap up by n positions (bit i moves to i + n), n >= 1. */
static void shift(struct np_window *w, uint64_t n)
{
	uint64_t words = n / 64, bits = n % 64;

	if (n >= NP_WINDOW_BITS) {
		memset(w->bits, 0, sizeof(w->bits));
		return;
	}
	for (int i = WORDS - 1; i >= 0; i--) {
		uint64_t v = 0;
		int src = i - (int)words;

		if (src >= 0) {
			v = w->bits[src] << bits;
			if (bits && src >= 1)
				v |= w->bits[src - 1] >> (64 - bits);
		}
		w->bits[i] = v;
	}
}

bool np_window_accept(struct np_window *w, uint64_t c)
{
	uint64_t d;

	if (!np_window_fresh(w, c))
		return false;
	if (!w->any) {
		w->any = true;
		w->top = c;
		memset(w->bits, 0, sizeof(w->bits));
		w->bits[0] = 1;
		return true;
	}
	if (c > w->top) {
		shift(w, c - w->top);
		w->top = c;
		w->bits[0] |= 1;
		return true;
	}
	d = w->top - c;
	w->bits[d / 64] |= (uint64_t)1 << (d % 64);
	return true;
}
