/* SPDX-License-Identifier: MIT */
/*
 * The pcap-writer's record ring: hooks on the data-path threads
 * append records, one writer thread per instance takes them out and does the
 * slow part (formatting, write(2)).  A hook never waits for the writer: it
 * holds the mutex for a bounds check and a memcpy, and a record that does not
 * fit is dropped and counted.
 *
 * The consumer owns the bytes between tail and head: it reads (and may
 * rewrite) them without the lock, then hands them back with ring_release.
 */
#ifndef TS_DEBUG_RING_H
#define TS_DEBUG_RING_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tinescale/plugin.h>

#include "../hexdump/rec.h"

struct ring {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC; the writer waits here */
	uint8_t *buf;
	size_t size;	     /* a power of two */
	uint64_t head, tail; /* byte counters, mod size gives the offset; under mu */
	bool waiting;	     /* the writer sleeps on cv; under mu */
	bool stop;	     /* destroy asked the writer to finish; under mu */
	/* Records that did not fit.  Read without the lock by the stats timer. */
	_Atomic uint64_t dropped;
};

/* size: a power of two, at least 64 KiB.  0 or -errno. */
int ring_init(struct ring *r, size_t size);
void ring_free(struct ring *r);

/*
 * Append a record (hdr->size is filled in here) followed by a then b.
 * Never blocks for longer than a memcpy; false when it did not fit (counted).
 */
bool ring_put(struct ring *r, struct rec *hdr, const void *a, size_t alen, const void *b,
	      size_t blen);

/*
 * The writer's wait: return when records are there, timeout_ms passed, or
 * stop was asked.  *start and *end delimit the records now owned by the
 * consumer.  Returns true when stop was asked.
 */
bool ring_wait(struct ring *r, unsigned timeout_ms, uint64_t *start, uint64_t *end);

/* Copy n bytes at byte counter pos out of the ring or into it, wrapping. */
void ring_read(const struct ring *r, uint64_t pos, void *dst, size_t n);
void ring_write(struct ring *r, uint64_t pos, const void *src, size_t n);
/* Zero n bytes at pos (wiping secrets before the space is reused). */
void ring_wipe(struct ring *r, uint64_t pos, size_t n);
/* Give everything before new_tail back to the producers. */
void ring_release(struct ring *r, uint64_t new_tail);
/* Ask the writer to finish (wakes it). */
void ring_stop(struct ring *r);

#endif
