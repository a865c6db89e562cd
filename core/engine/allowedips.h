/* SPDX-License-Identifier: MIT */
/*
 * allowedips: the cryptokey routing table.  Maps IPv4 and IPv6 prefixes to
 * an opaque owner (the peer) and answers "which peer owns the longest prefix
 * covering this address" once per packet.  A path-compressed binary trie per
 * family, plus a per-owner index so that per-peer operations cost only that
 * peer's prefixes.
 *
 * Not thread-safe: the caller holds the device lock around every call,
 * lookups included.
 */
#ifndef TS_ALLOWEDIPS_H
#define TS_ALLOWEDIPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h> /* AF_INET, AF_INET6 */

struct allowedips_node;
struct allowedips_owner;

struct allowedips {
	struct allowedips_node *root4, *root6;
	size_t count; /* prefixes stored, both families */

	/* Private: hash table owner -> its prefixes, for remove_by_peer and
	 * walk_by_peer.  Touch only through the functions below. */
	struct allowedips_owner **owners;
	size_t owners_size; /* buckets, 0 or a power of two */
	size_t owners_count;

	/* Private: what allowedips_reserve set aside (singly linked). */
	struct allowedips_node *spare_nodes;
	struct allowedips_owner *spare_owners;
	size_t n_spare_nodes, n_spare_owners;
	int reserved;
};

void allowedips_init(struct allowedips *t);
/* Frees every node; t is empty (as after init) afterwards. */
void allowedips_free(struct allowedips *t);

/*
 * family AF_INET (addr 4 bytes, cidr 0..32) or AF_INET6 (16 bytes, 0..128).
 * Host bits beyond cidr are masked off.  An existing identical prefix changes
 * owner to 'peer'.  Returns 0, -EINVAL (bad family/cidr, addr or peer NULL),
 * -ENOMEM (the table is then unchanged).
 */
int allowedips_insert(struct allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
		      void *peer);

/*
 * Sets aside what `inserts` insertions for at most `new_owners` owners not in
 * the table yet can need, so that until allowedips_unreserve every such
 * insert succeeds (it fails only with -EINVAL for bad arguments): the
 * caller can make all its allocations before its first change.  Returns 0
 * or -ENOMEM (nothing set aside then).
 */
int allowedips_reserve(struct allowedips *t, size_t inserts, size_t new_owners);
/* Frees what allowedips_reserve set aside and insertions did not use. */
void allowedips_unreserve(struct allowedips *t);

/*
 * Removes that exact prefix (host bits masked off as on insert) only if it is
 * owned by peer.  Returns 0, -ENOENT (absent or owned by another peer), or
 * -EINVAL (bad family/cidr, addr NULL).
 */
int allowedips_remove(struct allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
		      const void *peer);

/* Removes every prefix of peer; O(prefixes of peer x address bits). */
void allowedips_remove_by_peer(struct allowedips *t, const void *peer);

/*
 * The owner of the longest prefix covering addr, NULL if none (or bad family).
 * No allocation, no recursion, O(address bits).
 */
void *allowedips_lookup(const struct allowedips *t, int family, const uint8_t *addr);

/*
 * Calls cb for every prefix of peer (masked address, 4 or 16 bytes), IPv4
 * first then IPv6; within a family in insertion order (a change of owner
 * counts as an insertion for the new owner).  Stops and returns cb's value if
 * non-zero; 0 otherwise.  cb must not modify t.
 */
int allowedips_walk_by_peer(const struct allowedips *t, const void *peer,
			    int (*cb)(void *ctx, int family, const uint8_t *addr, uint8_t cidr),
			    void *ctx);

/* ---- Debug and test helpers; not for the data path. ---- */

/* Nodes allocated in both tries (owned and intermediate). */
size_t allowedips_node_count(const struct allowedips *t);

/* Checks every structural invariant; NULL if sound, else what is broken. */
const char *allowedips_debug_check(const struct allowedips *t);

/*
 * Makes the n-th allocation from now fail (n == 0: never), to test the
 * -ENOMEM paths.  Process-global and not thread-safe: tests only.
 */
void allowedips_debug_fail_alloc(unsigned int n);

#endif
