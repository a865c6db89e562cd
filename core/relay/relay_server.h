/* SPDX-License-Identifier: MIT */
/*
 * tinescale-relay's state: the bounded registration table (by key and by
 * address), per-pair forwarding counters, token buckets per key (each way),
 * per source IP and global, and the rejection counters.  relay_server_table.c owns
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
	RJ_CLOCK,	   /* REGISTER timestamp > 120 s behind or > 10 s ahead */
	RJ_BAD_KEY,	   /* REGISTER for a low-order public key */
	RJ_TABLE_FULL,	   /* REGISTER of a new key, no room */
	RJ_ADDR_FULL,	   /* REGISTER to an IP:port that already carries its cap of keys */
	RJ_RATE_COOKIE,	   /* a COOKIE was due, but the per-IP or global budget is empty */
	RJ_RATE_DH,	   /* a new key's X25519 was due, global budget empty */
	RJ_RATE_DH_IP,	   /* ... the source IP's budget empty */
	RJ_RATE_KEY,	   /* the sending key's budget empty */
	RJ_RATE_DST,	   /* the destination's RECV budget empty */
	RJ_NOT_REGISTERED, /* SEND from an IP:port with no live registration */
	RJ_BAD_TOKEN,	/* SEND from a registered IP:port with a token that is none of its keys' */
	RJ_DST_UNKNOWN, /* SEND to a key with no live registration */
	RJ_BAD_KIND,	/* SEND of a kind the relay does not carry */
	RJ_COUNT
};

const char *relay_reject_name(enum relay_reject r);

/* A token bucket's rate: pps frames per second (burst frames at most), bps bytes (1 s burst). */
struct relay_rate {
	double pps, burst, bps;
};

struct relay_bucket {
	double frames, bytes; /* tokens */
	uint64_t last_ns;     /* CLOCK_MONOTONIC of the last refill; 0 = never used (full) */
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
	uint8_t k[TSR_KEY_LEN];	      /* REGISTER mac key, cached: one X25519 per key */
	uint8_t token[TSR_TOKEN_LEN]; /* SEND token for addr (valid while bound) */
	struct tsr_replay replay;
	struct sockaddr_storage sa; /* where RECVs go, as recvfrom gave it */
	socklen_t salen;
	struct relay_local local;      /* where it reached us: RECVs leave from there */
	struct tsr_addr addr;	       /* family 0: not bound (expired, or never bound) */
	uint64_t first_ns, last_ns;    /* CLOCK_MONOTONIC: first and last accepted REGISTER */
	struct relay_bucket bucket;    /* what this key sends: REGISTER and SEND */
	struct relay_bucket rx_bucket; /* what the relay sends to it: RECV */
	int32_t next_key, next_addr;   /* hash chains (-1 ends) */
};

struct relay_pair {
	bool used;
	uint8_t src[TSR_KEY_LEN], dst[TSR_KEY_LEN];
	uint64_t packets, bytes, last_ns;
	int32_t next;
};

/*
 * Per source IP (an IPv4 address, an IPv6 /64: not IP and port, which a
 * single host varies at will): a small direct-mapped cache of budgets.
 * Eviction refills an IP's budgets; the global budgets bound what that buys.
 */
struct relay_ip_slot {
	uint8_t family;	   /* 0: empty */
	uint8_t prefix[8]; /* the IPv4 address, or the IPv6 /64 */
	struct relay_bucket dh, cookie;
	uint64_t last_error_ns; /* ERROR replies to this IP: at most one a second */
	uint64_t last_ns;	/* last use, for the replacement choice */
};

struct relay_config {
	unsigned max_peers;
	unsigned rate_pps;	/* frames per second per key, each way (burst: 1 s) */
	unsigned long rate_bps; /* bytes per second likewise */
	unsigned dh_rate;	/* X25519 per second, all sources together */
	uint64_t ttl_ns;	/* registration lifetime (TSR_REGISTRATION_TTL_S, test-scaled) */
};

/* Fixed per-IP and global budgets (docs/nat-traversal.md, "Limits"). */
#define RELAY_KEYS_PER_ADDR	4  /* registrations sharing one IP:port */
#define RELAY_DH_IP_PPS		10 /* X25519 per second per source IP */
#define RELAY_DH_IP_BURST	20
#define RELAY_COOKIE_IP_PPS	20 /* COOKIEs per second per source IP */
#define RELAY_COOKIE_IP_BURST	40
#define RELAY_COOKIE_PPS	20000 /* COOKIEs per second, all together */
#define RELAY_ERROR_INTERVAL_NS 1000000000ULL

struct relay_table {
	struct relay_config cfg;
	struct relay_rate rate_key, rate_dh_ip, rate_cookie_ip, rate_dh, rate_cookie;
	uint8_t hash_key[16]; /* siphash key: keys and addresses are attacker-chosen */

	struct relay_reg *regs; /* cfg.max_peers */
	unsigned nregs;		/* used entries, live or kept for replay */
	int32_t *by_key, *by_addr;
	unsigned nbuckets; /* power of two */
	/*
	 * Replay protection outlives a registration: an entry stays (unusable)
	 * until its last timestamp leaves the 120 s window.  When one must go
	 * early to make room, its timestamp raises this floor, which new keys'
	 * timestamps must exceed.  Never above the relay's clock + 10 s.
	 */
	uint64_t replay_floor_ns;

	struct relay_pair *pairs;
	unsigned max_pairs, npairs;
	int32_t *pair_buckets;
	unsigned npair_buckets;
	int32_t pair_free;

	struct relay_ip_slot *ip_slots;
	unsigned nip_slots;			      /* power of two */
	struct relay_bucket dh_bucket, cookie_bucket; /* global */

	uint64_t rejects[RJ_COUNT];
	uint64_t registers, registers_new, moved, forwarded, forwarded_bytes, send_errors;
	uint64_t rx_datagrams, rx_frames; /* UDP reads, and the frames in them (GRO trains) */
	uint64_t tx_datagrams; /* forwarding sends (a GSO train counts once), by relay_out */
	uint64_t pairs_untracked, expired, dh, cookies_sent, cookies_ok, ip_slot_evictions;
};

int relay_table_init(struct relay_table *t, const struct relay_config *cfg);
void relay_table_free(struct relay_table *t);

bool relay_reg_live(const struct relay_table *t, const struct relay_reg *r, uint64_t now_ns);
/* A live registration by key, or NULL; any entry for the key (live or kept for replay). */
struct relay_reg *relay_find_key(struct relay_table *t, const uint8_t key[TSR_KEY_LEN],
				 uint64_t now_ns);
struct relay_reg *relay_find_any_key(struct relay_table *t, const uint8_t key[TSR_KEY_LEN]);
/*
 * The live registration at address a whose SEND token is token (constant-time
 * compares), or NULL; *any_here tells whether a has live registrations at all.
 */
struct relay_reg *relay_find_sender(struct relay_table *t, const struct tsr_addr *a,
				    const uint8_t token[TSR_TOKEN_LEN], uint64_t now_ns,
				    bool *any_here);

/*
 * A new entry for key (not in the table), its replay state at the floor;
 * NULL when full and nothing is evictable.  now_ns: CLOCK_MONOTONIC;
 * now_realtime_ns caps the floor an eviction raises.
 */
struct relay_reg *relay_reg_add(struct relay_table *t, const uint8_t key[TSR_KEY_LEN],
				uint64_t now_ns, uint64_t now_realtime_ns);
/*
 * Point the registration at address a (its token made for a), or refresh
 * it there: 1 when it moved or was bound, 0 when it was already there,
 * -ENOSPC when a carries RELAY_KEYS_PER_ADDR other live keys (nothing changed).
 */
int relay_reg_bind(struct relay_table *t, struct relay_reg *r, const struct sockaddr *sa,
		   socklen_t salen, const struct tsr_addr *a, uint64_t now_ns);
/* Drop entries whose registration and replay window are both over. */
void relay_table_expire(struct relay_table *t, uint64_t now_ns, uint64_t now_realtime_ns);

/* Token buckets: true when the frame may pass (tokens taken). */
bool relay_bucket_take(const struct relay_rate *rate, struct relay_bucket *b, size_t bytes,
		       uint64_t now_ns);
/* The budgets of a's IP (/64), created (or recycled) on a miss. */
struct relay_ip_slot *relay_ip_slot(struct relay_table *t, const struct tsr_addr *a,
				    uint64_t now_ns);

/*
 * The traffic counters of src -> dst, made on first use; NULL when the pair
 * table is full.  A pair stays put until relay_table_expire removes it.
 */
struct relay_pair *relay_pair_get(struct relay_table *t, const uint8_t src[TSR_KEY_LEN],
				  const uint8_t dst[TSR_KEY_LEN]);
/* Count a forwarded frame on p (NULL: counted as untracked). */
void relay_pair_count(struct relay_table *t, struct relay_pair *p, size_t bytes, uint64_t now_ns);

/*
 * Return-routability cookies (relay_cookie.c): the current secret and the
 * previous one, both accepted; rotated every rotate_ns.
 */
struct relay_cookies {
	uint8_t secret[2][TSR_KEY_LEN]; /* [0] current, [1] previous */
	uint64_t born_ns, rotate_ns;	/* CLOCK_MONOTONIC */
};

void relay_cookies_init(struct relay_cookies *c, uint64_t rotate_ns, uint64_t now_ns);
void relay_cookies_wipe(struct relay_cookies *c);
/* A new current secret once the current one is rotate_ns old. */
void relay_cookies_rotate(struct relay_cookies *c, uint64_t now_ns);
/* The cookie for a, under the current secret. */
void relay_cookie_make(const struct relay_cookies *c, uint8_t cookie[TSR_COOKIE_LEN],
		       const struct tsr_addr *a);
/* A cookie made for a under the current or the previous secret (constant time). */
bool relay_cookie_valid(const struct relay_cookies *c, const uint8_t cookie[TSR_COOKIE_LEN],
			const struct tsr_addr *a);

/* The status text (line-oriented; tests grep it). */
void relay_table_status(struct relay_table *t, FILE *f, uint64_t now_ns);

#endif
