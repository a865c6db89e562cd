/* SPDX-License-Identifier: MIT */
/*
 * The replay window of nat-probe's message counters (docs/nat-traversal.md,
 * "Counter"): one per peer, for what that peer sends us.  A counter above
 * the highest seen slides the window; one inside it is accepted once; one
 * NP_WINDOW_BITS or more below the highest is too old.  Pure state, no
 * locking (the caller holds its own lock).
 */
#ifndef NP_WINDOW_H
#define NP_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#define NP_WINDOW_BITS 256

struct np_window {
	bool any;			    /* a counter was accepted since init */
	uint64_t top;			    /* the highest accepted counter */
	uint64_t bits[NP_WINDOW_BITS / 64]; /* bit i: top - i was accepted */
};

void np_window_init(struct np_window *w);
/* True when c would be accepted (fresh); the window is not changed. */
bool np_window_fresh(const struct np_window *w, uint64_t c);
/* Accept c: true when it was fresh (now marked seen), false for a replay. */
bool np_window_accept(struct np_window *w, uint64_t c);

#endif
