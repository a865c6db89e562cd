/* SPDX-License-Identifier: MIT */
/*
 * tinescale-relay's state: the bounded registration table (by key and by
 * address), per-pair forwarding counters, token buckets per key and per
 * source address, and the rejection counters.  relay_server_table.c owns
 * it; relay_server.c does the I/O around it.  Single-threaded: no locks.
 */
#ifndef TS_RELAY_SERVER_H
#define TS_RELAY_SERVER_H

#include "relay_proto.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/* Why a frame was refused; each has a counter shown by `status`. */
enum relay_reject {
	RJ_GARBAGE,	   /* not a relay frame at all */
	RJ_TRUNCATED,	   /* relay magic, wrong length */
	RJ_RESERVED,	   /* a reserved byte set */
	RJ_UNKNOWN_TYPE,   /* a type a peer never sends to the relay */
	RJ_BAD_MAC,	   /* REGISTER with a mac that does not verify: forged */
	RJ_REPLAY,	   /* REGISTER timestamp not newer than the last accepted */
	RJ_CLOCK,	   /* REGISTER timestamp more than 120 s off */
	RJ_BAD_KEY,	   /* REGISTER for a low-order public key */
	RJ_TABLE_FULL,	   /* REGISTER of a new key, no room */
	RJ_RATE_ADDR,	   /* per-source-address token bucket empty */
	RJ_RATE_KEY,	   /* per-key token bucket empty */
	RJ_NOT_REGISTERED, /* SEND from an address with no live registration */
	RJ_DST_UNKNOWN,	   /* SEND to a key with no live registration */
	RJ_BAD_KIND,	   /* SEND of a kind the relay does not carry */
	RJ_COUNT
};

const char *relay_reject_name(enum relay_reject r);

struct relay_bucket {
	double frames, bytes; /* tokens */
	uint64_t last_ns;     /* CLOCK_MONOTONIC of the last refill */
};

/*
 * Our own address a datagram arrived at: replies and RECVs leave from it, so
 * a relay listening on 0.0.0.0 answers from the address the peer used.
 */
struct relay_local {
	sa_family_t family; /* 0: unknown (routing chooses) */
	struct in_addr a4;
	struct in6_addr a6;
};

struct relay_reg {
	bool used;
	uint8_t key[TSR_KEY_LEN];
	uint8_t k[TSR_KEY_LEN]; /* REGISTER mac key, cached: one X25519 per key */
	struct tsr_replay replay;
	struct sockaddr_storage sa; /* where RECVs go, as recvfrom gave it */
	socklen_t salen;
	struct relay_local local;   /* where it reached us: RECVs leave from there */
	struct tsr_addr addr;	    /* family 0: lost its address to a newer registration */
	uint64_t first_ns, last_ns; /* CLOCK_MONOTONIC: first and last accepted REGISTER */
	struct relay_bucket bucket;
	int32_t next_key, next_addr; /* hash chains (-1 ends) */
};

struct relay_pair {
	bool used;
	uint8_t src[TSR_KEY_LEN], dst[TSR_KEY_LEN];
	uint64_t packets, bytes, last_ns;
	int32_t next;
};

/* The per-source-address limiter: a small direct-mapped cache. */
struct relay_addr_slot {
	struct tsr_addr addr;
	struct relay_bucket bucket;
	struct relay_bucket reg_bucket; /* REGISTERs of unknown keys: one X25519 each */
	uint64_t last_error_ns;		/* ERROR replies to this address: at most one a second */
};

struct relay_config {
	unsigned max_peers;
	unsigned rate_pps;	/* frames per second per key and per address (burst: 1 s) */
	unsigned long rate_bps; /* bytes per second likewise */
};

struct relay_table {
	struct relay_config cfg;
	uint8_t hash_key[16]; /* siphash key: keys and addresses are attacker-chosen */

	struct relay_reg *regs; /* cfg.max_peers */
	unsigned nregs;		/* used entries, live or kept for replay */
	int32_t *by_key, *by_addr;
	unsigned nbuckets; /* power of two */
	/*
	 * Replay protection outlives a registration: an entry stays (unusable)
	 * until its last timestamp leaves the 120 s window.  When one must go
	 * early to make room, its timestamp raises this floor, which new keys'
	 * timestamps must exceed.
	 */
	uint64_t replay_floor_ns;

	struct relay_pair *pairs;
	unsigned max_pairs, npairs;
	int32_t *pair_buckets;
	unsigned npair_buckets;
	int32_t pair_free;

	struct relay_addr_slot *addr_slots;
	unsigned naddr_slots; /* power of two */

	uint64_t rejects[RJ_COUNT];
	uint64_t registers, registers_new, moved, forwarded, forwarded_bytes, send_errors;
	uint64_t pairs_untracked, expired;
};

int relay_table_init(struct relay_table *t, const struct relay_config *cfg);
void relay_table_free(struct relay_table *t);

bool relay_reg_live(const struct relay_reg *r, uint64_t now_ns);
/* A live registration by key or by address, or NULL. */
struct relay_reg *relay_find_key(struct relay_table *t, const uint8_t key[TSR_KEY_LEN],
				 uint64_t now_ns);
struct relay_reg *relay_find_any_key(struct relay_table *t, const uint8_t key[TSR_KEY_LEN]);
struct relay_reg *relay_find_addr(struct relay_table *t, const struct tsr_addr *a, uint64_t now_ns);

/*
 * A new entry for key (not in the table), its replay state at the floor;
 * NULL when full and nothing is evictable.  now_ns: CLOCK_MONOTONIC.
 */
struct relay_reg *relay_reg_add(struct relay_table *t, const uint8_t key[TSR_KEY_LEN],
				uint64_t now_ns);
/* Point the registration at a (possibly new) address; true when it moved. */
bool relay_reg_bind(struct relay_table *t, struct relay_reg *r, const struct sockaddr *sa,
		    socklen_t salen, const struct tsr_addr *a, uint64_t now_ns);
/* Drop entries whose registration and replay window are both over. */
void relay_table_expire(struct relay_table *t, uint64_t now_ns, uint64_t now_realtime_ns);

/* Token buckets: true when the frame may pass (tokens taken). */
bool relay_bucket_take(const struct relay_config *cfg, struct relay_bucket *b, size_t bytes,
		       uint64_t now_ns);
struct relay_addr_slot *relay_addr_slot(struct relay_table *t, const struct tsr_addr *a,
					uint64_t now_ns);

/* Count a forwarded frame for src -> dst. */
void relay_pair_count(struct relay_table *t, const uint8_t src[TSR_KEY_LEN],
		      const uint8_t dst[TSR_KEY_LEN], size_t bytes, uint64_t now_ns);

/* The status text (line-oriented; tests grep it). */
void relay_table_status(struct relay_table *t, FILE *f, uint64_t now_ns);

#endif
