/* SPDX-License-Identifier: MIT */
/*
 * The receiver-index table: the 32-bit index we put in our handshake
 * messages, which the other side echoes in responses, cookie replies and
 * every data message, maps back to the handshake or keypair it names.
 * Indices are random so they reveal nothing and cannot be guessed.
 */
#ifndef TS_INDEX_H
#define TS_INDEX_H

#include <pthread.h>
#include <stdint.h>

struct ts_peer;
struct ts_keypair;

enum ts_index_type { TS_INDEX_HANDSHAKE = 1, TS_INDEX_KEYPAIR = 2 };

#define TS_INDEX_BUCKETS (1U << 13)

struct ts_index_entry {
	struct ts_index_entry *next;
	uint32_t index;
	enum ts_index_type type;
	struct ts_peer *peer;	    /* not a reference: see ts_index_lookup_peer */
	struct ts_keypair *keypair; /* TS_INDEX_KEYPAIR only; not a reference */
};

struct ts_index_table {
	pthread_mutex_t lock;
	struct ts_index_entry *buckets[TS_INDEX_BUCKETS];
};

void ts_index_init(struct ts_index_table *t);
void ts_index_destroy(struct ts_index_table *t);
/* A fresh random index naming peer's handshake; 0 on ENOMEM (0 is never handed out). */
uint32_t ts_index_insert_handshake(struct ts_index_table *t, struct ts_peer *peer);
/* The handshake became keypair kp: the same index now names it. */
void ts_index_set_keypair(struct ts_index_table *t, uint32_t index, struct ts_keypair *kp);
void ts_index_remove(struct ts_index_table *t, uint32_t index);
/*
 * The peer behind index if its type is in type_mask, with a reference taken
 * (ts_peer_put it), or NULL.  Entries are removed before their peer's list
 * reference is dropped, so a peer found here is alive.
 */
struct ts_peer *ts_index_lookup_peer(struct ts_index_table *t, uint32_t index, unsigned type_mask);
/* The keypair behind index, with a reference taken, or NULL. */
struct ts_keypair *ts_index_lookup_keypair(struct ts_index_table *t, uint32_t index);

#endif
