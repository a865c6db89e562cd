// SPDX-License-Identifier: MIT
/* Peer creation, removal and references, keypair lifetime and rotation, staged packets. */
#include "peer.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "device.h"
#include "log.h"
#include "secmem.h"
#include "timers.h"

/*
 * Peers (preshared key, DH(s, S), the handshake's ephemeral key and chaining
 * key) and keypairs (session keys) live in locked, undumped memory that is
 * wiped when freed.
 */
static struct ts_secmem_pool peer_pool = TS_SECMEM_POOL_INIT(sizeof(struct ts_peer));
static struct ts_secmem_pool keypair_pool = TS_SECMEM_POOL_INIT(sizeof(struct ts_keypair));

_Thread_local int ts_engine_locks_held;

struct ts_peer *ts_peer_create(struct ts_device *dev, const uint8_t public_key[32])
{
	/* Our identity is read under the device lock when the peer joins (precompute). */
	static const struct noise_identity none;
	struct ts_peer *peer = ts_zalloc_secret(&peer_pool);

	if (!peer)
		return NULL;
	peer->dev = dev;
	atomic_init(&peer->refcount, 1);
	atomic_init(&peer->dead, false);
	memcpy(peer->public_key, public_key, 32);
	pthread_mutex_init(&peer->lock, NULL);
	noise_handshake_init(&peer->handshake, &none, public_key, NULL);
	cookie_maker_init(&peer->cookie_maker, public_key);
	atomic_init(&peer->rx_bytes, 0);
	atomic_init(&peer->tx_bytes, 0);
	return peer;
}

static void drop_keypair(struct ts_peer *peer, struct ts_keypair **slot)
{
	struct ts_keypair *kp = *slot;

	if (!kp)
		return;
	*slot = NULL;
	/* No new lookups can find it once it is out of the index table. */
	ts_index_remove(&peer->dev->index, kp->local_index);
	ts_keypair_put(kp);
}

uint32_t ts_peer_fresh_handshake_index(struct ts_peer *peer)
{
	if (peer->handshake_index_registered)
		ts_index_remove(&peer->dev->index, peer->handshake.local_index);
	peer->handshake_index_registered = false;
	return ts_index_insert_handshake(&peer->dev->index, peer);
}

void ts_peer_clear_keys(struct ts_peer *peer)
{
	drop_keypair(peer, &peer->kp_previous);
	drop_keypair(peer, &peer->kp_current);
	drop_keypair(peer, &peer->kp_next);
	if (peer->handshake_index_registered) {
		ts_index_remove(&peer->dev->index, peer->handshake.local_index);
		peer->handshake_index_registered = false;
	}
	noise_handshake_clear(&peer->handshake);
}

void ts_peer_kill(struct ts_peer *peer)
{
	atomic_store(&peer->dead, true);
	ts_peer_clear_keys(peer);
	ts_staged_clear(&peer->staged);
	ts_timers_stop(peer);
	peer->timers.pending = 0;
}

void ts_peer_put(struct ts_peer *peer)
{
	if (!peer)
		return;
	/* acq_rel: every user's writes happen before the free. */
	if (atomic_fetch_sub_explicit(&peer->refcount, 1, memory_order_acq_rel) != 1)
		return;
	/*
	 * Nobody can reach the peer any more: its keypairs (which hold
	 * references) are gone, and so are its list, hash, allowed-IPs and
	 * index entries.  A peer that never joined the device has none either.
	 */
	ts_peer_clear_keys(peer);
	ts_staged_clear(&peer->staged);
	free(peer->notes);
	pthread_mutex_destroy(&peer->lock);
	ts_secmem_pool_free(&peer_pool, peer); /* wipes it */
}

struct ts_keypair *ts_keypair_create(struct ts_peer *peer, const struct noise_keys *keys)
{
	struct ts_keypair *kp = ts_zalloc_secret(&keypair_pool);

	if (!kp)
		return NULL;
	atomic_init(&kp->refcount, 1);
	kp->peer = ts_peer_get(peer);
	memcpy(kp->sending_key, keys->sending, 32);
	memcpy(kp->receiving_key, keys->receiving, 32);
	atomic_init(&kp->sending_counter, 0);
	atomic_init(&kp->sending_valid, true);
	atomic_init(&kp->receiving_valid, true);
	pthread_mutex_init(&kp->replay_lock, NULL);
	replay_init(&kp->replay);
	kp->local_index = keys->local_index;
	kp->remote_index = keys->remote_index;
	kp->is_initiator = keys->is_initiator;
	kp->birthdate_ns = ts_now_ns();
	return kp;
}

void ts_keypair_put(struct ts_keypair *kp)
{
	struct ts_peer *peer;

	if (!kp)
		return;
	/* acq_rel: the last user's writes happen before the free. */
	if (atomic_fetch_sub_explicit(&kp->refcount, 1, memory_order_acq_rel) != 1)
		return;
	peer = kp->peer;
	pthread_mutex_destroy(&kp->replay_lock);
	ts_secmem_pool_free(&keypair_pool, kp); /* wipes it */
	/*
	 * Not the last reference of the peer when a slot's keypair goes: the
	 * caller holding the peer lock holds a reference of its own.
	 */
	ts_peer_put(peer);
}

void ts_peer_install_keypair(struct ts_peer *peer, struct ts_keypair *kp)
{
	if (kp->is_initiator) {
		/*
		 * The responder already holds this session: use it now.  A
		 * pending next (from a simultaneous handshake) is superseded.
		 */
		if (peer->kp_next) {
			drop_keypair(peer, &peer->kp_previous);
			peer->kp_previous = peer->kp_next;
			peer->kp_next = NULL;
			drop_keypair(peer, &peer->kp_current);
		} else {
			drop_keypair(peer, &peer->kp_previous);
			peer->kp_previous = peer->kp_current;
		}
		peer->kp_current = kp;
	} else {
		/*
		 * Wait for the initiator's first packet before sending with it.
		 * previous goes now: on promotion current takes its place.
		 */
		drop_keypair(peer, &peer->kp_next);
		peer->kp_next = kp;
		drop_keypair(peer, &peer->kp_previous);
	}
}

bool ts_peer_received_with_keypair(struct ts_peer *peer, struct ts_keypair *kp)
{
	if (kp != peer->kp_next)
		return false;
	drop_keypair(peer, &peer->kp_previous);
	peer->kp_previous = peer->kp_current;
	peer->kp_current = peer->kp_next;
	peer->kp_next = NULL;
	return true;
}

void ts_peer_expire_current(struct ts_peer *peer)
{
	if (peer->kp_next)
		atomic_store(&peer->kp_next->sending_valid, false);
	if (peer->kp_current)
		atomic_store(&peer->kp_current->sending_valid, false);
}

void ts_staged_push(struct ts_staged *q, const uint8_t *data, size_t len)
{
	struct ts_staged_packet *p;

	if (len > UINT16_MAX)
		return;
	p = malloc(sizeof(*p) + len);
	if (!p)
		return;
	p->next = NULL;
	p->len = (uint16_t)len;
	memcpy(p->data, data, len);
	if (q->count == MAX_STAGED_PACKETS) {
		/* Full: the oldest packet goes, as the kernel does. */
		struct ts_staged_packet *old = q->head;

		q->head = old->next;
		free(old);
		q->count--;
	}
	if (q->count)
		q->tail->next = p;
	else
		q->head = p;
	q->tail = p;
	q->count++;
}

void ts_staged_clear(struct ts_staged *q)
{
	while (q->head) {
		struct ts_staged_packet *p = q->head;

		q->head = p->next;
		free(p);
	}
	q->tail = NULL;
	q->count = 0;
}

void ts_peer_collect_secrets(struct ts_peer *peer, const uint8_t ephemeral_private[32],
			     struct ts_peer_news *news)
{
	struct ts_device *dev = peer->dev;

	if (!ts_hooks_want_secrets(dev))
		return;
	memcpy(news->secrets.local_static_private, dev->identity.static_private, 32);
	memcpy(news->secrets.remote_static_public, peer->public_key, 32);
	memcpy(news->secrets.local_ephemeral_private, ephemeral_private, 32);
	memcpy(news->secrets.preshared_key, peer->handshake.preshared_key, 32);
	news->has_secrets = true;
}

void ts_peer_note_session(struct ts_peer *peer, struct ts_peer_news *news)
{
	news->handshake_complete = true;
	news->endpoint = peer->endpoint; /* events carry the endpoint now */
	if (!peer->up) {
		peer->up = true;
		news->up = true;
	}
}

void ts_peer_note_down(struct ts_peer *peer, struct ts_peer_news *news)
{
	if (peer->up) {
		peer->up = false;
		news->down = true;
		news->endpoint = peer->endpoint;
	}
}

void ts_peer_news_emit(struct ts_peer *peer, struct ts_peer_news *news)
{
	struct ts_device *dev = peer->dev;
	const union ts_endpoint *ep = ts_endpoint_is_set(&news->endpoint) ? &news->endpoint : NULL;

	if (news->has_secrets)
		ts_hooks_event(dev, TS_EVENT_HANDSHAKE_SECRETS, peer->public_key, ep,
			       &news->secrets);
	if (news->handshake_complete)
		ts_hooks_event(dev, TS_EVENT_HANDSHAKE_COMPLETE, peer->public_key, ep, NULL);
	if (news->up)
		ts_hooks_event(dev, TS_EVENT_PEER_UP, peer->public_key, ep, NULL);
	if (news->endpoint_changed)
		ts_hooks_event(dev, TS_EVENT_ENDPOINT_CHANGED, peer->public_key, ep, NULL);
	if (news->down)
		ts_hooks_event(dev, TS_EVENT_PEER_DOWN, peer->public_key, ep, NULL);
	sodium_memzero(news, sizeof(*news));
}
