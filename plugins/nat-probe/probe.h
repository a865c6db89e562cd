/* SPDX-License-Identifier: MIT */
/*
 * nat-probe's own wire messages, version 2 (docs/nat-traversal.md): the
 * direct-path probes (PING/PONG, sent peer to peer on the WireGuard port)
 * and the candidates message (sent through the relay as SEND/RECV kind 1),
 * and the keys they use.  Encoders, decoders, macs and AEAD; no I/O, no
 * state.  All integers big-endian, offsets in bytes.
 *
 *   PING  76  "TSP\2" | 1 0 0 0 | sender_public_key[32] | counter u64 | txid[12] | mac[16]
 *   PONG  96  "TSP\2" | 2 0 0 0 | sender_public_key[32] | counter u64 | txid[12] (echo)
 *             | observed source address rec[20] | mac[16]
 *   CANDIDATES 36+4+20n+16  "TSC\2" | counter u64 | nonce[24]
 *             | AEAD(flags u8 | count u8 | 0 0 | count x address rec[20]) | tag[16]
 *
 *   address rec[20]: family u8 (4/6) | 0 | port u16 | addr[16] (relay_proto.h)
 *   flags bit 0: the sender asks for our candidates in reply (call-me-maybe).
 *
 * Keys are per direction (probe_keys): the sender uses K(self->peer), the
 * receiver K(peer->self), so nothing one side sent verifies at that side.
 * mac = BLAKE2s-128 keyed with the mac key over every byte before it; the
 * candidates are XChaCha20-Poly1305 under the cand key, with the 36-byte
 * header as associated data.
 */
#ifndef NP_PROBE_H
#define NP_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay_proto.h"

#define PROBE_MAGIC	"TSP\x02"
#define CAND_MAGIC	"TSC\x02"
#define PROBE_MAGIC_LEN 4
#define PROBE_KEY_LEN	32
#define PROBE_MAC_LEN	16
#define PROBE_TXID_LEN	12

#define PROBE_PING_LEN 76
#define PROBE_PONG_LEN 96

#define CAND_NONCE_LEN	24
#define CAND_HDR_LEN	36 /* magic, counter, nonce: the associated data */
#define CAND_INNER_LEN	4  /* flags, count, reserved[2] */
#define CAND_TAG_LEN	16
#define CAND_MAX	16 /* candidates per message; more are not sent */
#define CAND_LEN(n)	(CAND_HDR_LEN + CAND_INNER_LEN + (size_t)(n)*TSR_ADDR_LEN + CAND_TAG_LEN)
#define CAND_MAX_LEN	CAND_LEN(CAND_MAX)
#define CAND_FLAG_REPLY 0x01

enum probe_type {
	PROBE_PING = 1,
	PROBE_PONG = 2,
};

enum probe_result {
	PROBE_OK = 0,
	PROBE_E_SHORT = -1,    /* shorter than the message needs */
	PROBE_E_LENGTH = -2,   /* wrong length for its type or count */
	PROBE_E_MAGIC = -3,    /* not "TSP\2" / "TSC\2" (version 1 included) */
	PROBE_E_TYPE = -4,     /* unknown probe type */
	PROBE_E_RESERVED = -5, /* a reserved byte or flag bit is not zero */
	PROBE_E_FIELD = -6,    /* an address record with a bad family, count too big */
	PROBE_E_MAC = -7,      /* authentication failed (mac or AEAD tag) */
};

/* The four keys of a pair, as one side sees them.  Secrets: wipe them. */
struct probe_keys {
	uint8_t mac_tx[PROBE_KEY_LEN];	/* K_mac(self->peer): what we send */
	uint8_t mac_rx[PROBE_KEY_LEN];	/* K_mac(peer->self): what we verify */
	uint8_t cand_tx[PROBE_KEY_LEN]; /* K_cand(self->peer) */
	uint8_t cand_rx[PROBE_KEY_LEN]; /* K_cand(peer->self) */
};

struct probe_msg {
	uint8_t type; /* PROBE_PING or PROBE_PONG */
	uint8_t sender[PROBE_KEY_LEN];
	uint64_t counter;
	uint8_t txid[PROBE_TXID_LEN];
	struct tsr_addr observed; /* PONG only; family 0 for a PING */
};

struct cand_msg {
	uint64_t counter;
	uint8_t nonce[CAND_NONCE_LEN];
	uint8_t flags;
	uint8_t count;
	struct tsr_addr cand[CAND_MAX];
};

/*
 * The pair's keys from dh = X25519(our static private, peer static public)
 * and both public keys.  Both sides get mirrored sets: A's mac_tx is B's
 * mac_rx.
 */
void probe_keys(struct probe_keys *k, const uint8_t dh[32], const uint8_t self[32],
		const uint8_t peer[32]);

/* True when buf starts with "TSP\2" (a probe) / "TSC\2" (a candidates message). */
bool probe_is_probe(const uint8_t *buf, size_t len);
bool cand_is_cand(const uint8_t *buf, size_t len);

/* key: K_mac(sender->receiver), i.e. the sender's mac_tx. */
void probe_ping_encode(uint8_t out[PROBE_PING_LEN], const uint8_t key[PROBE_KEY_LEN],
		       const uint8_t sender[PROBE_KEY_LEN], uint64_t counter,
		       const uint8_t txid[PROBE_TXID_LEN]);
/* PROBE_OK, or PROBE_E_FIELD (observed family not 4/6; nothing written). */
int probe_pong_encode(uint8_t out[PROBE_PONG_LEN], const uint8_t key[PROBE_KEY_LEN],
		      const uint8_t sender[PROBE_KEY_LEN], uint64_t counter,
		      const uint8_t txid[PROBE_TXID_LEN], const struct tsr_addr *observed);

/*
 * A PING or PONG: structure first (length, magic, type, reserved bytes, the
 * address record), then, when key (the receiver's mac_rx for the sender) is
 * not NULL, the mac (PROBE_E_MAC).  With key NULL only the structure is
 * checked: use it to read the sender's key, find that peer's keys, then
 * decode again with them.  *out is written only on PROBE_OK.
 */
int probe_decode(const uint8_t *buf, size_t len, const uint8_t *key, struct probe_msg *out);

/*
 * A candidates message with n (<= CAND_MAX) addresses under key (the
 * sender's cand_tx) with a fresh random nonce; returns its length
 * CAND_LEN(n), or 0 when outlen is too small, n too big, or an address has a
 * family other than 4/6.
 */
size_t cand_encode(uint8_t *out, size_t outlen, const uint8_t key[PROBE_KEY_LEN], uint64_t counter,
		   uint8_t flags, const struct tsr_addr *c, size_t n);
/* The same with a given nonce (tests and the fuzzer: one encoding per input). */
size_t cand_encode_nonce(uint8_t *out, size_t outlen, const uint8_t key[PROBE_KEY_LEN],
			 uint64_t counter, const uint8_t nonce[CAND_NONCE_LEN], uint8_t flags,
			 const struct tsr_addr *c, size_t n);
/*
 * Length and magic, then the AEAD (key: the receiver's cand_rx), then the
 * plaintext: count matches the length, flags, reserved, records.
 */
int cand_decode(const uint8_t *buf, size_t len, const uint8_t key[PROBE_KEY_LEN],
		struct cand_msg *out);

const char *probe_result_name(int result);

#endif
