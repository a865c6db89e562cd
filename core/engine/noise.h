/* SPDX-License-Identifier: MIT */
/*
 * The WireGuard handshake: Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as the
 * whitepaper (section 5.4) specifies it.  This module creates and consumes
 * the three handshake messages and derives the transport keys; it knows
 * nothing of peers, indices tables, timers or sockets.  The caller owns the
 * locking: one noise_handshake per peer, serialised by the peer's lock.
 *
 * Indices (local_index, remote_index) are in host byte order here; they are
 * converted to little-endian on the wire.
 */
#ifndef TS_NOISE_H
#define TS_NOISE_H

#include <stdbool.h>
#include <stdint.h>

#include "messages.h"

struct noise_identity {
	uint8_t static_private[NOISE_PUBLIC_KEY_LEN];
	uint8_t static_public[NOISE_PUBLIC_KEY_LEN];
	bool has_identity;
};

/* Clamps and stores priv, derives the public key; an all-zero priv means no identity. */
void noise_identity_set(struct noise_identity *id, const uint8_t priv[32]);

enum noise_handshake_state {
	HANDSHAKE_ZEROED,
	HANDSHAKE_CREATED_INITIATION,
	HANDSHAKE_CONSUMED_INITIATION,
	HANDSHAKE_CREATED_RESPONSE,
	HANDSHAKE_CONSUMED_RESPONSE,
};

struct noise_handshake { /* one per peer; the caller serialises access (peer lock) */
	enum noise_handshake_state state;
	uint8_t remote_static[NOISE_PUBLIC_KEY_LEN];
	uint8_t precomputed_static_static[NOISE_PUBLIC_KEY_LEN]; /* DH(our s, their S); all-zero if
								    invalid */
	uint8_t preshared_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t ephemeral_private[NOISE_PUBLIC_KEY_LEN];
	uint8_t remote_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t hash[NOISE_HASH_LEN];
	uint8_t chaining_key[NOISE_HASH_LEN];
	uint8_t latest_timestamp[NOISE_TIMESTAMP_LEN];
	uint64_t last_initiation_consumption_ns;
	uint32_t local_index, remote_index;
};

/* Zeroes hs, stores the peer's static key and psk (NULL = zeros) and precomputes DH(s, S). */
void noise_handshake_init(struct noise_handshake *hs, const struct noise_identity *id,
			  const uint8_t remote_static[32], const uint8_t psk[32]);
/* NULL = zeros. */
void noise_handshake_set_psk(struct noise_handshake *hs, const uint8_t psk[32]);
/* Recompute DH(our s, their S) after our private key changed (all-zero when impossible). */
void noise_handshake_precompute(struct noise_handshake *hs, const struct noise_identity *id);
/*
 * Wipes the ephemeral state (ephemeral keys, hash, chaining key, indices) and
 * sets ZEROED; keeps remote_static, the psk, the precomputation and the
 * replay/flood memory (latest_timestamp, last_initiation_consumption_ns).
 * Read local_index first if the caller must unhash it.
 */
void noise_handshake_clear(struct noise_handshake *hs);

/* Fills everything but the macs; state = CREATED_INITIATION, hs->local_index = local_index. */
bool noise_create_initiation(struct message_handshake_initiation *dst, struct noise_handshake *hs,
			     const struct noise_identity *id, uint32_t local_index);
/* Test hook: the same with a chosen ephemeral private key and timestamp (known-answer tests). */
bool noise_create_initiation_with_ephemeral(struct message_handshake_initiation *dst,
					    struct noise_handshake *hs,
					    const struct noise_identity *id, uint32_t local_index,
					    const uint8_t ephemeral_private[32],
					    const uint8_t timestamp[12]);

/*
 * Consuming an initiation is split in two so the caller can find the peer in
 * between.  Step 1 touches no peer: it authenticates and decrypts the message
 * with our identity alone (computing DH(our s, their S) afresh, since the
 * peer is not known yet) and fills *out.  *out holds secrets: wipe it.
 */
struct noise_initiation_result {
	uint8_t remote_static[NOISE_PUBLIC_KEY_LEN];
	uint8_t remote_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t hash[NOISE_HASH_LEN];
	uint8_t chaining_key[NOISE_HASH_LEN];
	uint8_t timestamp[NOISE_TIMESTAMP_LEN];
	uint32_t remote_index;
};
bool noise_consume_initiation_decrypt(const struct message_handshake_initiation *src,
				      const struct noise_identity *id,
				      struct noise_initiation_result *out);
/*
 * Step 2, with the peer whose remote_static matches r->remote_static found and
 * its lock held: refuses a timestamp not greater than the latest one seen
 * (replay), an initiation less than 1/INITIATIONS_PER_SECOND after the last
 * accepted one (flood), a peer whose key does not match, and a peer whose
 * precomputed DH is invalid.  On success stores the result in hs (state =
 * CONSUMED_INITIATION); on failure hs is unchanged.  The psk is mixed in
 * noise_create_response.
 */
bool noise_consume_initiation_accept(struct noise_handshake *hs,
				     const struct noise_initiation_result *r, uint64_t now_ns);

/* Requires CONSUMED_INITIATION; fills all but the macs; state = CREATED_RESPONSE. */
bool noise_create_response(struct message_handshake_response *dst, struct noise_handshake *hs,
			   const struct noise_identity *id, uint32_t local_index);
/* Test hook: the same with a chosen ephemeral private key. */
bool noise_create_response_with_ephemeral(struct message_handshake_response *dst,
					  struct noise_handshake *hs,
					  const struct noise_identity *id, uint32_t local_index,
					  const uint8_t ephemeral_private[32]);

/*
 * Requires CREATED_INITIATION and src's receiver_index == hs->local_index;
 * state = CONSUMED_RESPONSE.  On failure hs is unchanged.
 */
bool noise_consume_response(const struct message_handshake_response *src,
			    struct noise_handshake *hs, const struct noise_identity *id);

struct noise_keys {
	uint8_t sending[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t receiving[NOISE_SYMMETRIC_KEY_LEN];
	uint32_t local_index, remote_index;
	bool is_initiator;
};
/*
 * Requires CREATED_RESPONSE (we are the responder) or CONSUMED_RESPONSE (the
 * initiator); derives the transport keys into *out, then
 * noise_handshake_clear(hs).  *out holds secrets: wipe it when done.
 */
bool noise_begin_session(struct noise_handshake *hs, struct noise_keys *out);

#endif
