/* SPDX-License-Identifier: MIT */
/*
 * What the two debug plugins (hexdump, pcap-writer; the pcap-writer builds
 * this file from here) share around their writer thread: the output buffer of
 * whole records with its final flush and its counts, filling a packet record
 * on a hook, starting the thread, and the checks of the config's keys.
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

#include "ring.h"
#include "sink.h"

static inline uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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

/*
 * A packet record's fields after mono_ns (which the caller sets, it may
 * rate-limit on it): times, peer flag, lengths (cap_len: at most keep) and
 * on the ciphertext hooks the endpoints.  Hook context.
 */
void rec_fill_packet(struct rec *r, const struct ts_host_services *host,
		     const struct ts_packet *pkt, bool known, size_t keep);

/* pthread_create with every signal blocked (the daemon handles them elsewhere). */
int writer_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* The first key of config not among known[0..n), or NULL. */
const char *config_unknown_key(const struct ts_host_services *host,
			       const struct ts_config_node *config, const char *const *known,
			       size_t n);
bool config_has_key(const struct ts_host_services *host, const struct ts_config_node *config,
		    const char *key);

#endif
