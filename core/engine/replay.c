/* SPDX-License-Identifier: MIT */
/*
 * replay: the receive-counter window of RFC 6479, as a ring of
 * COUNTER_WINDOW_SIZE bits.
 *
 * Unlike RFC 6479 (and the kernel's counter.c), which clear whole words as
 * the window slides and so can only promise a window one word smaller than
 * the ring, moving forward here clears exactly the bits of the counters that
 * enter the window.  The ring then always describes the full
 * COUNTER_WINDOW_SIZE counters ending at 'greatest', which is simple to state
 * and to check against a naive model (tests/unit/test_replay.c).  Clearing is
 * still word-wise in the middle, so a jump costs at most 129 word writes.
 */
#include "replay.h"

#include <string.h>

#define RING_WORDS (COUNTER_WINDOW_SIZE / 64)

_Static_assert(COUNTER_WINDOW_SIZE >= 64 && (COUNTER_WINDOW_SIZE & (COUNTER_WINDOW_SIZE - 1)) == 0,
	       "the ring indexes by masking: the window must be a power of two of whole words");

void replay_init(struct replay_window *w)
{
	memset(w, 0, sizeof(*w));
}

/*
 * Slides the window forward to end at 'counter' (> greatest): the slots of
 * counters greatest+1 .. counter held counters that now leave the window,
 * so they are cleared; every other slot keeps describing its counter.
 */
static void advance(struct replay_window *w, uint64_t counter)
{
	uint64_t todo = counter - w->greatest, pos, n, mask;

	if (todo >= COUNTER_WINDOW_SIZE) {
		memset(w->bitmap, 0, sizeof(w->bitmap));
		return;
	}
	pos = (w->greatest + 1) & (COUNTER_WINDOW_SIZE - 1);
	while (todo) {
		n = 64 - (pos & 63);
		if (n > todo)
			n = todo;
		mask = n == 64 ? ~0ULL : ((1ULL << n) - 1) << (pos & 63);
		w->bitmap[pos / 64] &= ~mask;
		pos = (pos + n) & (COUNTER_WINDOW_SIZE - 1);
		todo -= n;
	}
}

bool replay_check(struct replay_window *w, uint64_t counter, uint64_t reject_limit)
{
	uint64_t *word, bit;

	if (counter >= reject_limit)
		return false;
	/* Written as a difference: counter + COUNTER_WINDOW_SIZE could wrap. */
	if (w->any && counter <= w->greatest && w->greatest - counter >= COUNTER_WINDOW_SIZE)
		return false;

	word = &w->bitmap[(counter / 64) % RING_WORDS];
	bit = 1ULL << (counter % 64);
	if (!w->any || counter > w->greatest) {
		/* New greatest: its slot is cleared below, so it is accepted. */
		if (w->any)
			advance(w, counter);
		else
			memset(w->bitmap, 0, sizeof(w->bitmap));
		w->greatest = counter;
		w->any = true;
	} else if (*word & bit) {
		return false;
	}
	*word |= bit;
	return true;
}
