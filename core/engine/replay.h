/* SPDX-License-Identifier: MIT */
/*
 * replay: the sliding window of accepted receive counters of one keypair
 * (whitepaper section 5.4.6, RFC 6479's bitmap ring).
 *
 * Not thread-safe: the caller serialises checks on one window.
 */
#ifndef TS_REPLAY_H
#define TS_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "messages.h"

struct replay_window {
	uint64_t greatest; /* largest counter accepted; meaningful once any */
	bool any;	   /* a counter has been accepted */
	/* Bit (c mod COUNTER_WINDOW_SIZE) says whether counter c was accepted,
	 * for every c in the window (greatest - COUNTER_WINDOW_SIZE, greatest]. */
	uint64_t bitmap[COUNTER_WINDOW_SIZE / 64];
};

void replay_init(struct replay_window *w);

/*
 * Call only after the packet authenticated.  Returns true (and records the
 * counter) exactly when all of these hold:
 *   - counter < reject_limit;
 *   - counter was never accepted by this window before;
 *   - nothing was accepted yet, or counter > greatest, or
 *     greatest - counter < COUNTER_WINDOW_SIZE.
 * So the window is the COUNTER_WINDOW_SIZE counters greatest - 8191 ..
 * greatest: greatest - 8191 is still accepted once, greatest - 8192 is too
 * old.  Any jump forward is accepted (the packet authenticated).  Returns
 * false for replays, too-old counters and counter >= reject_limit, and then
 * changes nothing.
 */
bool replay_check(struct replay_window *w, uint64_t counter, uint64_t reject_limit);

#endif
