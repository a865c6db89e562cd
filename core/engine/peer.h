/* SPDX-License-Identifier: MIT */
/*
 * Peers and their keypairs, and their lifetimes.
 *
 * A peer is reference counted.  The device's peer list holds one
 * reference; whoever finds a peer (allowed-IPs or public-key lookup under
 * the device read lock, the index table under its lock) takes its own
 * before dropping that lock, and puts it when done; the last put frees.
 * A keypair holds a reference to its peer, so kp->peer is valid for as long
 * as the keypair reference is held.  Keypairs are reference counted too:
 * the peer's slot holds one, a user takes its own.
 *
 * Removal (device write lock held): the peer is unlinked from the list, the
 * hash and allowed-IPs, then under its own lock marked dead and its keys,
 * handshake and index entries cleared (which also drops the slots'
 * keypair references and so breaks the peer <-> keypair cycle); last the
 * list's reference is put.  A dead peer installs no keypair, sends nothing
 * and arms no timer, so whoever still holds a reference finds nothing to do.
 */
#ifndef TS_PEER_H
#define TS_PEER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cookie.h"
#include "endpoint.h"
#include "messages.h"
#include "noise.h"
#include "replay.h"

#include <tinescale/plugin.h>

struct ts_device;
struct ts_peer;

struct ts_keypair {
	atomic_int refcount;
	struct ts_peer *peer; /* a reference: valid as long as the keypair is */
	uint8_t sending_key[32];
	uint8_t receiving_key[32];
	atomic_uint_fast64_t sending_counter;
	atomic_bool sending_valid; /* false once the counter or time ran out */
	atomic_bool receiving_valid;
	pthread_mutex_t replay_lock; /* protects replay */
	struct replay_window replay;
	uint32_t local_index, remote_index;
	bool is_initiator;
	uint64_t birthdate_ns;
};

/* Per-peer timers: absolute deadlines in ns, 0 = not armed (see timers.c). */
struct ts_peer_timers {
	uint64_t retransmit_handshake;
	uint64_t send_keepalive;
	uint64_t new_handshake;
	uint64_t zero_key_material;
	uint64_t persistent_keepalive;
	unsigned handshake_attempts;
	bool need_another_keepalive;
	bool sent_lastminute_handshake;
	/*
	 * TS_TIMER_* actions decided under the peer lock (by the timers, or by
	 * a configuration change) and carried out by the timer thread once it
	 * holds no lock: only the timer thread may run the hooks they reach.
	 */
	unsigned pending;
};

enum {
	TS_TIMER_RETRANSMIT = 1 << 0,	 /* resend the initiation (a retry) */
	TS_TIMER_KEEPALIVE = 1 << 1,	 /* send a keepalive (or a handshake without session) */
	TS_TIMER_NEW_HANDSHAKE = 1 << 2, /* start a new handshake */
	TS_TIMER_DOWN = 1 << 3,		 /* tell the plugins the session is gone */
};

/* A note a plugin left about a peer or the interface (see note_set in base/seam.h). */
struct ts_note {
	char key[TS_NOTE_KEY_MAX + 1];
	char value[TS_NOTE_VALUE_MAX + 1];
};

/*
 * Plaintext packets waiting for a session, oldest first, at most
 * MAX_STAGED_PACKETS.  A list rather than a ring of MAX_STAGED_PACKETS
 * slots: a peer without anything staged (nearly all of them, nearly all of
 * the time) pays three words, not a kilobyte.
 */
struct ts_staged_packet {
	struct ts_staged_packet *next;
	uint16_t len;
	uint8_t data[];
};

struct ts_staged {
	struct ts_staged_packet *head, *tail;
	unsigned count;
};

struct ts_peer {
	struct ts_device *dev;
	atomic_int refcount;
	struct ts_peer *next;	   /* device list, configuration order (device lock) */
	struct ts_peer *hnext;	   /* public key hash chain (device lock) */
	struct ts_peer *gone_next; /* removed in one ts_device_apply, told after unlocking */
	uint8_t public_key[32];	   /* immutable */
	/* Set once, under the peer lock, when the peer is removed; readable anywhere. */
	atomic_bool dead;

	pthread_mutex_t lock; /* protects everything below, unless marked atomic */
	struct noise_handshake handshake;
	struct cookie_maker cookie_maker;
	struct ts_keypair *kp_current, *kp_previous, *kp_next;
	union ts_endpoint endpoint;
	struct ts_endpoint_src src;    /* our address the peer last reached */
	uint16_t persistent_keepalive; /* seconds, 0 = off */
	struct ts_peer_timers timers;
	uint64_t last_sent_handshake_ns;
	uint64_t last_handshake_real_ns; /* CLOCK_REALTIME, for `wg show` */
	struct ts_staged staged;
	/* TS_NOTES_MAX of them, allocated by the first note a plugin sets: most peers have none. */
	struct ts_note *notes;
	bool handshake_index_registered; /* handshake.local_index is in the index table */
	bool up;			 /* told the plugins it has a session */
	bool down_untold;		 /* removed while up: PEER_DOWN still to be queued */

	atomic_uint_fast64_t rx_bytes, tx_bytes;
	uint64_t created_seq; /* for log lines: set when it joins the device (device write lock) */
};

/* How many engine locks (device lock, peer locks) this thread holds: hooks need 0. */
extern _Thread_local int ts_engine_locks_held;

static inline void ts_peer_lock(struct ts_peer *peer)
{
	pthread_mutex_lock(&peer->lock);
	ts_engine_locks_held++;
}

static inline void ts_peer_unlock(struct ts_peer *peer)
{
	ts_engine_locks_held--;
	pthread_mutex_unlock(&peer->lock);
}

static inline struct ts_peer *ts_peer_get(struct ts_peer *peer)
{
	if (peer)
		atomic_fetch_add_explicit(&peer->refcount, 1, memory_order_relaxed);
	return peer;
}

/* The last put frees the peer; call it with no engine lock held. */
void ts_peer_put(struct ts_peer *peer);

/*
 * What happened to a peer while its lock was held, told to the plugins
 * once it is released (their event callbacks may call back into the device).
 */
struct ts_peer_news {
	bool endpoint_changed;
	bool handshake_complete;
	bool up, down;
	bool has_secrets;
	/* The peer's endpoint when the news was gathered (family 0: none). */
	union ts_endpoint endpoint;
	struct ts_handshake_secrets secrets;
};

/* Peer lock held: a handshake just used this ephemeral; keep its secrets if a plugin asked. */
void ts_peer_collect_secrets(struct ts_peer *peer, const uint8_t ephemeral_private[32],
			     struct ts_peer_news *news);
/* Peer lock held: a session was completed. */
void ts_peer_note_session(struct ts_peer *peer, struct ts_peer_news *news);
/* Peer lock held: the peer has no session any more (keys zeroed, peer removed). */
void ts_peer_note_down(struct ts_peer *peer, struct ts_peer_news *news);
/* Peer lock NOT held: queue the news as events for the plugins (wipes the secrets). */
void ts_peer_news_emit(struct ts_peer *peer, struct ts_peer_news *news);

/* A new peer with one reference (the caller's), not yet on the device. */
struct ts_peer *ts_peer_create(struct ts_device *dev, const uint8_t public_key[32]);
/* Peer lock held: the peer was unlinked from the device; it goes dead and loses its keys. */
void ts_peer_kill(struct ts_peer *peer);

struct ts_keypair *ts_keypair_create(struct ts_peer *peer, const struct noise_keys *keys);
static inline struct ts_keypair *ts_keypair_get(struct ts_keypair *kp)
{
	if (kp)
		atomic_fetch_add_explicit(&kp->refcount, 1, memory_order_relaxed);
	return kp;
}
void ts_keypair_put(struct ts_keypair *kp);

/*
 * Peer lock held.  Install a freshly derived keypair: as initiator it
 * becomes current at once (the previous current moves to previous); as
 * responder it waits in next until the initiator's first data proves the
 * initiator has it too.
 */
void ts_peer_install_keypair(struct ts_peer *peer, struct ts_keypair *kp);
/* Peer lock held: a packet arrived on kp; if kp is next, rotate. True if rotated. */
bool ts_peer_received_with_keypair(struct ts_peer *peer, struct ts_keypair *kp);
/*
 * Peer lock held: a new handshake begins; its predecessor's index goes and
 * a fresh one is returned (0 on ENOMEM), not yet marked registered.
 */
uint32_t ts_peer_fresh_handshake_index(struct ts_peer *peer);
/* Peer lock held: drop all keypairs and the handshake state. */
void ts_peer_clear_keys(struct ts_peer *peer);
/* Peer lock held: mark current keypairs unusable for sending (e.g. after our key changed). */
void ts_peer_expire_current(struct ts_peer *peer);

/* Staged plaintext packets, waiting for a session (peer lock held). */
void ts_staged_push(struct ts_staged *q, const uint8_t *data, size_t len);
void ts_staged_clear(struct ts_staged *q);

#endif
