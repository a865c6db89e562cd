/* SPDX-License-Identifier: MIT */
/*
 * The handshake rate limiter: a token bucket per source address (per /64
 * for IPv6, since one host commonly owns a whole /64), as the kernel's
 * ratelimiter.c.  Under load the rx thread asks one about every
 * initiation and response whose mac2 proved its source address, and a
 * second one about every cookie reply it would send (receive.c); a source
 * may then send PACKETS_PER_SECOND a second, in bursts of PACKETS_BURST.
 *
 * The table is bounded (a source that finds it full is refused, which
 * only costs it a retry once the flood passes) and forgets sources idle
 * for a second (their bucket would be full again anyway).  Buckets hash
 * with a secret key (SipHash via crypto_shorthash), so a flood cannot aim
 * at one chain.
 *
 * Thread-safe: its own lock, a leaf in the device's lock order.
 */
#ifndef TS_RATELIMITER_H
#define TS_RATELIMITER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"

#define TS_RATELIMIT_PACKETS_PER_SECOND 20
#define TS_RATELIMIT_PACKETS_BURST	5
/* The default table bound: 8192 sources at ~48 bytes. */
#define TS_RATELIMIT_MAX_ENTRIES 8192

struct ts_ratelimiter_entry;

struct ts_ratelimiter {
	pthread_mutex_t lock;
	uint8_t key[16]; /* crypto_shorthash_KEYBYTES */
	struct ts_ratelimiter_entry **buckets;
	size_t n_buckets; /* a power of two */
	size_t count, max_entries;
	uint64_t last_gc_ns;
};

/* 0 or -ENOMEM.  max_entries 0: TS_RATELIMIT_MAX_ENTRIES. */
int ts_ratelimiter_init(struct ts_ratelimiter *rl, size_t max_entries);
void ts_ratelimiter_destroy(struct ts_ratelimiter *rl);
/*
 * May a handshake message from src be processed at now_ns (a monotonic
 * clock)?  Takes a token from src's bucket.  Unknown families are refused.
 */
bool ts_ratelimiter_allow(struct ts_ratelimiter *rl, const union ts_endpoint *src, uint64_t now_ns);
/* Sources in the table (tests). */
size_t ts_ratelimiter_count(struct ts_ratelimiter *rl);

#endif
