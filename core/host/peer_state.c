/* SPDX-License-Identifier: MIT */
/*
 * Per-peer plugin state: one zeroed slot of desc.peer_state_size bytes per
 * (instance, peer), in a small hash table per instance under pslock (held
 * for a lookup or an insert only, never across plugin code).
 *
 * Lifetime: a slot is made on first use (peer_state()), when the peer is
 * added (the PEER_ADDED event) or for the peers present when the instance
 * starts; it is unlinked when the peer is removed (PEER_REMOVED, on the
 * event thread, which frees it after a grace period: hooks and timer
 * callbacks holding the pointer are RCU readers) or freed with the
 * instance, after destroy().
 */
#include <stdlib.h>
#include <string.h>

#include "host_internal.h"

static unsigned int bucket(const uint8_t key[32])
{
	/* Public keys are uniformly random: their first byte is a fine hash. */
	return key[0] % PEER_BUCKETS;
}

void *peer_slot_get(struct instance *in, const uint8_t key[32], enum slot_make make)
{
	const struct ts_engine_table *e = &in->ph->eng;
	struct peer_slot **head = &in->slots[bucket(key)], *s;
	struct ts_peer_info pi;

	if (!in->desc.peer_state_size)
		return NULL;
	pthread_mutex_lock(&in->pslock);
	for (s = *head; s; s = s->next)
		if (!memcmp(s->key, key, 32))
			break;
	pthread_mutex_unlock(&in->pslock);
	if (s || make == SLOT_FIND)
		return s ? s->data : NULL;
	/* Only for a peer that exists: a slot per random key would be a memory leak on demand. */
	if (make == SLOT_IF_PEER && (!e->peer_info || e->peer_info(e->ctx, key, &pi)))
		return NULL;
	s = calloc(1, sizeof(*s) + in->desc.peer_state_size);
	if (!s)
		return NULL;
	memcpy(s->key, key, 32);
	pthread_mutex_lock(&in->pslock);
	/* Another thread may have made it meanwhile: keep the first. */
	for (struct peer_slot *o = *head; o; o = o->next) {
		if (!memcmp(o->key, key, 32)) {
			pthread_mutex_unlock(&in->pslock);
			free(s);
			return o->data;
		}
	}
	s->next = *head;
	*head = s;
	pthread_mutex_unlock(&in->pslock);
	return s->data;
}

struct peer_slot *peer_slot_unlink(struct instance *in, const uint8_t key[32])
{
	struct peer_slot **pp, *s = NULL;

	pthread_mutex_lock(&in->pslock);
	for (pp = &in->slots[bucket(key)]; *pp; pp = &(*pp)->next) {
		if (!memcmp((*pp)->key, key, 32)) {
			s = *pp;
			*pp = s->next;
			break;
		}
	}
	pthread_mutex_unlock(&in->pslock);
	return s;
}

static int start_one(void *ctx, const struct ts_peer_info *pi)
{
	struct instance *in = ctx;
	void *slot = peer_slot_get(in, pi->public_key, SLOT_MAKE);

	if (slot && in->desc.peer_added)
		in->desc.peer_added(in->state, pi->public_key, slot);
	return 0;
}

void peer_slots_start(struct instance *in)
{
	const struct ts_engine_table *e = &in->ph->eng;

	if (in->desc.peer_state_size && e->peer_foreach)
		e->peer_foreach(e->ctx, start_one, in);
}

/*
 * The old instance's hooks may be updating the slot: read it in aligned
 * 8-byte words, each atomically, so a plugin whose slot fields are 64-bit
 * (or smaller, lock-free) atomics gets no torn value.  Slots are
 * max_align_t aligned.
 */
static void slot_copy(void *dst, const void *src, size_t n)
{
	uint64_t *d = dst;
	const uint64_t *s = src;
	size_t i;

	for (i = 0; i < n / 8; i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
	memcpy((uint8_t *)dst + 8 * i, (const uint8_t *)src + 8 * i, n % 8);
}

void peer_slots_copy(struct instance *dst, struct instance *src)
{
	if (!dst->desc.peer_state_size || dst->desc.peer_state_size != src->desc.peer_state_size)
		return;
	/* src still runs: its slots stay linked; the copy may miss a concurrent update. */
	pthread_mutex_lock(&src->pslock);
	for (int b = 0; b < PEER_BUCKETS; b++) {
		for (struct peer_slot *s = src->slots[b]; s; s = s->next) {
			struct peer_slot *d;

			pthread_mutex_lock(&dst->pslock);
			for (d = dst->slots[b]; d; d = d->next)
				if (!memcmp(d->key, s->key, 32))
					break;
			if (!d) {
				d = calloc(1, sizeof(*d) + dst->desc.peer_state_size);
				if (d) {
					memcpy(d->key, s->key, 32);
					d->next = dst->slots[b];
					dst->slots[b] = d;
				}
			}
			if (d)
				slot_copy(d->data, s->data, dst->desc.peer_state_size);
			pthread_mutex_unlock(&dst->pslock);
		}
	}
	pthread_mutex_unlock(&src->pslock);
}

void peer_slots_free(struct instance *in)
{
	for (int b = 0; b < PEER_BUCKETS; b++) {
		while (in->slots[b]) {
			struct peer_slot *s = in->slots[b];

			in->slots[b] = s->next;
			free(s);
		}
	}
}
