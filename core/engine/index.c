// SPDX-License-Identifier: MIT
/* The receiver-index hash table (see index.h). */
#include "index.h"

#include <sodium.h>
#include <stdlib.h>

#include "peer.h"

static unsigned bucket_of(uint32_t index)
{
	/* Indices are uniformly random: their low bits are a fine hash. */
	return index & (TS_INDEX_BUCKETS - 1);
}

void ts_index_init(struct ts_index_table *t)
{
	pthread_mutex_init(&t->lock, NULL);
	for (unsigned i = 0; i < TS_INDEX_BUCKETS; i++)
		t->buckets[i] = NULL;
}

void ts_index_destroy(struct ts_index_table *t)
{
	for (unsigned i = 0; i < TS_INDEX_BUCKETS; i++) {
		struct ts_index_entry *e = t->buckets[i], *n;

		for (; e; e = n) {
			n = e->next;
			free(e);
		}
		t->buckets[i] = NULL;
	}
	pthread_mutex_destroy(&t->lock);
}

static struct ts_index_entry *find(struct ts_index_table *t, uint32_t index)
{
	struct ts_index_entry *e;

	for (e = t->buckets[bucket_of(index)]; e; e = e->next)
		if (e->index == index)
			return e;
	return NULL;
}

uint32_t ts_index_insert_handshake(struct ts_index_table *t, struct ts_peer *peer)
{
	struct ts_index_entry *e = calloc(1, sizeof(*e));
	uint32_t index;

	if (!e)
		return 0;
	pthread_mutex_lock(&t->lock);
	do
		index = randombytes_random();
	while (index == 0 || find(t, index));
	e->index = index;
	e->type = TS_INDEX_HANDSHAKE;
	e->peer = peer;
	e->next = t->buckets[bucket_of(index)];
	t->buckets[bucket_of(index)] = e;
	pthread_mutex_unlock(&t->lock);
	return index;
}

void ts_index_set_keypair(struct ts_index_table *t, uint32_t index, struct ts_keypair *kp)
{
	struct ts_index_entry *e;

	pthread_mutex_lock(&t->lock);
	e = find(t, index);
	if (e) {
		e->type = TS_INDEX_KEYPAIR;
		e->keypair = kp;
	}
	pthread_mutex_unlock(&t->lock);
}

void ts_index_remove(struct ts_index_table *t, uint32_t index)
{
	struct ts_index_entry **pp, *e;

	pthread_mutex_lock(&t->lock);
	for (pp = &t->buckets[bucket_of(index)]; (e = *pp); pp = &e->next) {
		if (e->index == index) {
			*pp = e->next;
			free(e);
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
}

struct ts_peer *ts_index_lookup_peer(struct ts_index_table *t, uint32_t index, unsigned type_mask)
{
	struct ts_index_entry *e;
	struct ts_peer *peer = NULL;

	pthread_mutex_lock(&t->lock);
	e = find(t, index);
	/* An entry exists only while its peer is alive (removal drops it first). */
	if (e && (e->type & type_mask))
		peer = ts_peer_get(e->peer);
	pthread_mutex_unlock(&t->lock);
	return peer;
}

struct ts_keypair *ts_index_lookup_keypair(struct ts_index_table *t, uint32_t index)
{
	struct ts_index_entry *e;
	struct ts_keypair *kp = NULL;

	pthread_mutex_lock(&t->lock);
	e = find(t, index);
	if (e && e->type == TS_INDEX_KEYPAIR)
		kp = ts_keypair_get(e->keypair);
	pthread_mutex_unlock(&t->lock);
	return kp;
}
