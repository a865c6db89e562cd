/* SPDX-License-Identifier: MIT */
/*
 * The pcap-writer's output buffer of whole pcapng blocks, with its final
 * flush and its counts (used on the host output's thread).
 */
#ifndef TS_DEBUG_WRITER_H
#define TS_DEBUG_WRITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <tinescale/plugin.h>

#include "../hexdump/rec.h"
#include "sink.h"

static inline uint64_t mono_ms(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1000000u;
}

/*
 * Whole records waiting for the sink.  The writer thread owns the buffer and
 * the final-flush state; the counts are read by the stats timer and destroy.
 */
struct outbuf {
	uint8_t *buf;
	size_t len;
	uint64_t recs;		 /* records (partly) in buf */
	unsigned final_ms;	 /* how long destroy lets a slow output drain */
	bool final;		 /* stop was asked: flush within final_deadline */
	uint64_t final_deadline; /* CLOCK_MONOTONIC ms */
	_Atomic uint64_t written, dropped;
	_Atomic int err; /* the last output error, reported by the stats timer */
};

/*
 * Write the buffer to s (fd -1: no output, the records are dropped); the
 * records in it count as written or as dropped, and a failure other than the
 * final deadline is remembered in o->err.  The buffer is empty afterwards.
 */
void outbuf_flush(struct outbuf *o, struct sink *s);
/* Stop was asked: from now on flushes end by the final deadline. */
void outbuf_final(struct outbuf *o);

#endif
