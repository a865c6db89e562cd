/* SPDX-License-Identifier: MIT */
/*
 * Token buckets for nat-probe's limits (docs/nat-traversal.md, "Rules"):
 * one bucket, and a fixed table of buckets keyed by destination IP (IPv6 by
 * its /64) under a secret SipHash key, so a table of bounded size covers
 * any number of destinations.  Pure state, no locking.
 */
#ifndef NP_RATELIMIT_H
#define NP_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "relay_proto.h"

struct np_bucket {
	uint64_t tokens_milli; /* tokens x 1000 */
	uint64_t last_ns;
	bool init;
};

/* Take one token from b (rate per second, burst tokens); false when empty. */
bool np_bucket_take(struct np_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ns);

#define NP_DEST_SLOTS 256

struct np_dest_table {
	uint8_t key[16]; /* SipHash key (random) */
	struct {
		uint8_t id[17]; /* family then address (IPv6: the /64) */
		bool used;
		struct np_bucket b;
	} slot[NP_DEST_SLOTS];
};

/* A fresh table with a random key. */
void np_dest_init(struct np_dest_table *t);
/*
 * The slot a destination maps to (its IP, or IPv6 /64, under the table's
 * secret key).  Two destinations in one slot share a bucket until the
 * older one's is full again: never more sent, only less.
 */
size_t np_dest_slot(const struct np_dest_table *t, const struct tsr_addr *a);
/*
 * One token for the destination IP of a (port ignored).  A slot taken by
 * another destination is handed over only once that one's bucket is full
 * again (idle): before that, the newcomer shares it, which errs toward
 * sending less.
 */
bool np_dest_take(struct np_dest_table *t, const struct tsr_addr *a, uint32_t rate, uint32_t burst,
		  uint64_t now_ns);

#endif
