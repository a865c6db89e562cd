/* SPDX-License-Identifier: MIT */
/*
 * nat-probe's own wire messages: the direct-path probes (PING/PONG, sent
 * peer to peer on the WireGuard port) and the candidates message (sent
 * through the relay as SEND/RECV kind 1).  Encoders, decoders and their macs;
 * no I/O, no state.  All integers big-endian, offsets in bytes.
 *
 *   PING       68  "TSP\1" | 1 0 0 0 | sender_public_key[32] | txid[12] | mac[16]
 *   PONG       88  "TSP\1" | 2 0 0 0 | sender_public_key[32] | txid[12] (echo)
 *                  | observed source address rec[20] | mac[16]
 *   CANDIDATES 18+20n+16  "TSC\1" | txid[12] | flags u8 | count u8
 *                  | count x address rec[20] | mac[16]
 *
 *   address rec[20]: family u8 (4/6) | 0 | port u16 | addr[16] (relay_proto.h)
 *   flags bit 0: the sender asks for our candidates in reply (call-me-maybe).
 *
 * mac = BLAKE2s-128 keyed with PK over every byte before it, where
 *   PK = BLAKE2s-256("tinescale-probe-v1" || X25519(our static, peer static))
 * is the same on both sides of a pair (host->static_dh gives the X25519).
 * A PING or PONG names its sender so the receiver can pick PK; candidates
 * ride in a RECV frame whose source key plays that part.
 */
#ifndef NP_PROBE_H
#define NP_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay_proto.h"

#define PROBE_MAGIC	"TSP\x01"
#define CAND_MAGIC	"TSC\x01"
#define PROBE_MAGIC_LEN 4
#define PROBE_KEY_LEN	32
#define PROBE_MAC_LEN	16
#define PROBE_TXID_LEN	12

#define PROBE_PING_LEN 68
#define PROBE_PONG_LEN 88

#define CAND_HDR_LEN	18
#define CAND_MAX	16 /* candidates per message; more are not sent */
#define CAND_LEN(n)	(CAND_HDR_LEN + (size_t)(n)*TSR_ADDR_LEN + PROBE_MAC_LEN)
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
	PROBE_E_MAGIC = -3,    /* not "TSP\1" / "TSC\1" */
	PROBE_E_TYPE = -4,     /* unknown probe type */
	PROBE_E_RESERVED = -5, /* a reserved byte or flag bit is not zero */
	PROBE_E_FIELD = -6,    /* an address record with a bad family, count too big */
	PROBE_E_MAC = -7,      /* authentication failed */
};

struct probe_msg {
	uint8_t type; /* PROBE_PING or PROBE_PONG */
	uint8_t sender[PROBE_KEY_LEN];
	uint8_t txid[PROBE_TXID_LEN];
	struct tsr_addr observed; /* PONG only; family 0 for a PING */
};

struct cand_msg {
	uint8_t txid[PROBE_TXID_LEN];
	uint8_t flags;
	uint8_t count;
	struct tsr_addr cand[CAND_MAX];
};

/* PK from X25519(our static private, peer static public).  PK is a secret: wipe it. */
void probe_key(uint8_t pk[PROBE_KEY_LEN], const uint8_t dh[32]);

/* True when buf starts with "TSP\1" (a probe) / "TSC\1" (a candidates message). */
bool probe_is_probe(const uint8_t *buf, size_t len);
bool cand_is_cand(const uint8_t *buf, size_t len);

void probe_ping_encode(uint8_t out[PROBE_PING_LEN], const uint8_t pk[PROBE_KEY_LEN],
		       const uint8_t sender[PROBE_KEY_LEN], const uint8_t txid[PROBE_TXID_LEN]);
/* PROBE_OK, or PROBE_E_FIELD (observed family not 4/6; nothing written). */
int probe_pong_encode(uint8_t out[PROBE_PONG_LEN], const uint8_t pk[PROBE_KEY_LEN],
		      const uint8_t sender[PROBE_KEY_LEN], const uint8_t txid[PROBE_TXID_LEN],
		      const struct tsr_addr *observed);

/*
 * A PING or PONG: structure first (length, magic, type, reserved bytes, the
 * address record), then, when pk is not NULL, the mac (PROBE_E_MAC).  With
 * pk NULL only the structure is checked: use it to read the sender's key,
 * find PK for that peer, then decode again with it.  *out is written only on
 * PROBE_OK.
 */
int probe_decode(const uint8_t *buf, size_t len, const uint8_t *pk, struct probe_msg *out);

/*
 * A candidates message with n (<= CAND_MAX) addresses; returns its length
 * CAND_LEN(n), or 0 when outlen is too small, n too big, or an address has a
 * family other than 4/6.
 */
size_t cand_encode(uint8_t *out, size_t outlen, const uint8_t pk[PROBE_KEY_LEN],
		   const uint8_t txid[PROBE_TXID_LEN], uint8_t flags, const struct tsr_addr *c,
		   size_t n);
/* Length, magic, flags, count, mac (before the records are read), records. */
int cand_decode(const uint8_t *buf, size_t len, const uint8_t pk[PROBE_KEY_LEN],
		struct cand_msg *out);

const char *probe_result_name(int result);

#endif
