/* SPDX-License-Identifier: MIT */
/*
 * Peers and their keypairs.
 *
 * Lifetimes: a peer is created and freed only with the device lock held for
 * writing; every data-path thread holds it for reading while it touches a
 * peer, so a peer pointer found under the read lock stays valid until the
 * read lock is dropped.  A keypair can retire (rotation) while another
 * thread encrypts or decrypts with it, so keypairs are reference counted:
 * the peer's slot holds one reference, a user takes its own.
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
	struct ts_peer *peer; /* valid while the device read lock is held */
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
};

/* A note a plugin left about a peer or the interface (see hostapi.h). */
struct ts_note {
	char key[TS_NOTE_KEY_MAX + 1];
	char value[TS_NOTE_VALUE_MAX + 1];
};

struct ts_staged {
	uint8_t *data[MAX_STAGED_PACKETS];
	uint16_t len[MAX_STAGED_PACKETS];
	unsigned head, count;
};

struct ts_peer {
	struct ts_device *dev;
	struct ts_peer *next;	/* device list, configuration order (device lock) */
	struct ts_peer *hnext;	/* public key hash chain (device lock) */
	uint8_t public_key[32]; /* immutable */

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
	struct ts_note notes[TS_NOTES_MAX];
	bool handshake_index_registered; /* handshake.local_index is in the index table */
	bool up;			 /* told the plugins it has a session */

	atomic_uint_fast64_t rx_bytes, tx_bytes;
	uint64_t created_seq;
};

/*
 * What happened to a peer while its lock was held, told to the plugins
 * once it is released (their event callbacks may call back into the device).
 */
struct ts_peer_news {
	bool endpoint_changed;
	bool handshake_complete;
	bool up, down;
	bool has_secrets;
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
/* Peer lock NOT held: deliver the news (wipes the secrets). */
void ts_peer_news_emit(struct ts_peer *peer, struct ts_peer_news *news);

struct ts_peer *ts_peer_create(struct ts_device *dev, const uint8_t public_key[32]);
/* Caller holds the device write lock and has unlinked the peer. */
void ts_peer_free(struct ts_peer *peer);

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
