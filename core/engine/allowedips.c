/* SPDX-License-Identifier: MIT */
/*
 * allowedips: longest-prefix match over IPv4 and IPv6 prefixes, the
 * cryptokey routing table of the whitepaper (section 2).
 *
 * Each family has a path-compressed binary trie.  A node is a prefix
 * (key, cidr); its children hold longer prefixes that extend it, chosen by
 * the address bit at position cidr.  Two kinds of node exist:
 *   - owned nodes (peer != NULL): a prefix somebody inserted;
 *   - intermediate nodes (peer == NULL): the common prefix where two
 *     subtrees split.  They always have exactly two children; a node that
 *     loses its owner or a child is freed as soon as it stops being needed,
 *     so memory follows the number of prefixes (at most 2n - 1 nodes).
 * Invariants (allowedips_debug_check verifies them all): a child's cidr is
 * larger than its parent's, its key extends the parent's key, and it sits
 * under bit[key bit at parent's cidr].  So the depth is at most 129 nodes
 * and every traversal uses an explicit stack of that bound, never recursion.
 *
 * Keys are kept as two host-order 64-bit words, address bit 0 being the most
 * significant bit of key[0] (IPv4 uses the top half of key[0]), so matching
 * a node is two XOR-and-mask operations.
 *
 * Owners are opaque pointers, so a small hash table maps each owner to two
 * lists (IPv4, IPv6) of its nodes, in insertion order: remove_by_peer and
 * walk_by_peer then cost that peer's prefixes, not the whole table.
 */
#include "allowedips.h"

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

enum { FAM4 = 0, FAM6 = 1 };

/* Nodes on a root-to-leaf path: cidr 0..128, strictly increasing. */
#define MAX_DEPTH 129
/* A pre-order walk holds at most one pending sibling per ancestor plus two. */
#define STACK_MAX (MAX_DEPTH + 1)

struct allowedips_node {
	/* Lookup reads only the first five fields: keep them together. */
	struct allowedips_node *bit[2];
	uint64_t key[2]; /* prefix bits, host bits zero */
	uint64_t mask[2];
	void *peer; /* NULL: intermediate node */
	struct allowedips_node *parent;
	struct allowedips_node *owner_prev, *owner_next; /* in peer's list */
	uint8_t cidr;
};

struct allowedips_owner {
	const void *peer;
	struct allowedips_owner *hash_next;
	struct allowedips_node *head[2], *tail[2]; /* per family */
};

void allowedips_debug_fail_alloc(unsigned int n)
{
	ts_debug_fail_alloc(n);
}

static void *zalloc(size_t size)
{
	return ts_zalloc(size);
}

/* Family to index and address width in bits; -1 if unknown. */
static int family_index(int family, unsigned int *bits)
{
	if (family == AF_INET) {
		*bits = 32;
		return FAM4;
	}
	if (family == AF_INET6) {
		*bits = 128;
		return FAM6;
	}
	return -1;
}

static int family_of(int fam)
{
	return fam == FAM4 ? AF_INET : AF_INET6;
}

static void load_key(int fam, const uint8_t *addr, uint64_t key[2])
{
	uint32_t v4;
	uint64_t v6;

	if (fam == FAM4) {
		memcpy(&v4, addr, sizeof(v4));
		key[0] = (uint64_t)be32toh(v4) << 32;
		key[1] = 0;
		return;
	}
	memcpy(&v6, addr, sizeof(v6));
	key[0] = be64toh(v6);
	memcpy(&v6, addr + 8, sizeof(v6));
	key[1] = be64toh(v6);
}

static void store_key(int fam, const uint64_t key[2], uint8_t *addr)
{
	uint32_t v4;
	uint64_t v6;

	if (fam == FAM4) {
		v4 = htobe32((uint32_t)(key[0] >> 32));
		memcpy(addr, &v4, sizeof(v4));
		return;
	}
	v6 = htobe64(key[0]);
	memcpy(addr, &v6, sizeof(v6));
	v6 = htobe64(key[1]);
	memcpy(addr + 8, &v6, sizeof(v6));
}

/* The top n bits set, n in 0..64 (a shift by 64 would be undefined). */
static uint64_t top_bits(unsigned int n)
{
	return n == 0 ? 0 : ~0ULL << (64 - n);
}

static void make_mask(unsigned int cidr, uint64_t mask[2])
{
	mask[0] = top_bits(cidr > 64 ? 64 : cidr);
	mask[1] = top_bits(cidr > 64 ? cidr - 64 : 0);
}

/* Address bit i (0 = most significant), i < 128. */
static unsigned int key_bit(const uint64_t key[2], unsigned int i)
{
	return (unsigned int)(key[i >> 6] >> (63 - (i & 63))) & 1;
}

static bool node_covers(const struct allowedips_node *n, const uint64_t key[2])
{
	return (((key[0] ^ n->key[0]) & n->mask[0]) | ((key[1] ^ n->key[1]) & n->mask[1])) == 0;
}

/* Length of the common leading bits of a and b, 0..128. */
static unsigned int common_bits(const uint64_t a[2], const uint64_t b[2])
{
	uint64_t x = a[0] ^ b[0];

	if (x)
		return (unsigned int)__builtin_clzll(x);
	x = a[1] ^ b[1];
	if (x)
		return 64 + (unsigned int)__builtin_clzll(x);
	return 128;
}

static struct allowedips_node **root_of(struct allowedips *t, int fam)
{
	return fam == FAM4 ? &t->root4 : &t->root6;
}

static struct allowedips_node *new_node(struct allowedips *t, const uint64_t key[2],
					unsigned int cidr)
{
	struct allowedips_node *n = t->spare_nodes;

	if (n) {
		t->spare_nodes = n->bit[0];
		t->n_spare_nodes--;
		memset(n, 0, sizeof(*n));
	} else if (!(n = zalloc(sizeof(*n)))) {
		return NULL;
	}
	make_mask(cidr, n->mask);
	n->key[0] = key[0] & n->mask[0];
	n->key[1] = key[1] & n->mask[1];
	n->cidr = (uint8_t)cidr;
	return n;
}

/* Puts 'repl' (may be NULL) where 'old' hangs below parent, or at the root. */
static void replace_child(struct allowedips_node **root, struct allowedips_node *parent,
			  struct allowedips_node *old, struct allowedips_node *repl)
{
	if (!parent)
		*root = repl;
	else
		parent->bit[parent->bit[1] == old] = repl;
	if (repl)
		repl->parent = parent;
}

/* ---- The owner index ---- */

static size_t owner_bucket(const void *peer, size_t size)
{
	/* Pointers are aligned and clustered: mix before taking low bits. */
	uint64_t h = (uint64_t)(uintptr_t)peer * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h ^ (h >> 32)) & (size - 1);
}

static struct allowedips_owner *owner_find(const struct allowedips *t, const void *peer)
{
	struct allowedips_owner *o;

	if (!t->owners_size)
		return NULL;
	for (o = t->owners[owner_bucket(peer, t->owners_size)]; o; o = o->hash_next)
		if (o->peer == peer)
			return o;
	return NULL;
}

static int owners_resize(struct allowedips *t, size_t size)
{
	struct allowedips_owner **table = zalloc(size * sizeof(*table));
	struct allowedips_owner *o, *next;
	size_t i, b;

	if (!table)
		return -ENOMEM;
	for (i = 0; i < t->owners_size; i++) {
		for (o = t->owners[i]; o; o = next) {
			next = o->hash_next;
			b = owner_bucket(o->peer, size);
			o->hash_next = table[b];
			table[b] = o;
		}
	}
	free(t->owners);
	t->owners = table;
	t->owners_size = size;
	return 0;
}

/* The owner entry of peer, created if needed; NULL only on ENOMEM. */
static struct allowedips_owner *owner_get(struct allowedips *t, const void *peer)
{
	struct allowedips_owner *o = owner_find(t, peer);
	size_t b;

	if (o)
		return o;
	if (!t->owners_size) {
		if (owners_resize(t, 16))
			return NULL;
	} else if (t->owners_count >= t->owners_size) {
		/* A failed grow costs only longer chains: go on without it. */
		(void)owners_resize(t, t->owners_size * 2);
	}
	o = t->spare_owners;
	if (o) {
		t->spare_owners = o->hash_next;
		t->n_spare_owners--;
		memset(o, 0, sizeof(*o));
	} else if (!(o = zalloc(sizeof(*o)))) {
		if (!t->owners_count) { /* keep "no owners, no table" */
			free(t->owners);
			t->owners = NULL;
			t->owners_size = 0;
		}
		return NULL;
	}
	o->peer = peer;
	b = owner_bucket(peer, t->owners_size);
	o->hash_next = t->owners[b];
	t->owners[b] = o;
	t->owners_count++;
	return o;
}

/* Frees an owner whose lists are empty; the table goes with the last one. */
static void owner_drop(struct allowedips *t, struct allowedips_owner *o)
{
	struct allowedips_owner **pp = &t->owners[owner_bucket(o->peer, t->owners_size)];

	while (*pp != o)
		pp = &(*pp)->hash_next;
	*pp = o->hash_next;
	free(o);
	/* A reservation keeps the table: the inserts it promised need it. */
	if (--t->owners_count == 0 && !t->reserved) {
		free(t->owners);
		t->owners = NULL;
		t->owners_size = 0;
	}
}

static void list_append(struct allowedips_owner *o, int fam, struct allowedips_node *n)
{
	n->owner_next = NULL;
	n->owner_prev = o->tail[fam];
	if (o->tail[fam])
		o->tail[fam]->owner_next = n;
	else
		o->head[fam] = n;
	o->tail[fam] = n;
}

static void list_unlink(struct allowedips_owner *o, int fam, struct allowedips_node *n)
{
	if (n->owner_prev)
		n->owner_prev->owner_next = n->owner_next;
	else
		o->head[fam] = n->owner_next;
	if (n->owner_next)
		n->owner_next->owner_prev = n->owner_prev;
	else
		o->tail[fam] = n->owner_prev;
	n->owner_prev = n->owner_next = NULL;
}

static bool owner_empty(const struct allowedips_owner *o)
{
	return !o->head[FAM4] && !o->head[FAM6];
}

/*
 * Takes node n away from its owner o, then frees what became useless: n
 * itself unless it still joins two subtrees, and its parent if that was an
 * intermediate node left with one child.  Nothing above can change, so this
 * is O(1).  The caller drops o if it is now empty.
 */
static void disown(struct allowedips *t, struct allowedips_owner *o, int fam,
		   struct allowedips_node *n)
{
	struct allowedips_node **root = root_of(t, fam);
	struct allowedips_node *parent, *child;

	list_unlink(o, fam, n);
	n->peer = NULL;
	t->count--;

	if (n->bit[0] && n->bit[1])
		return;
	child = n->bit[0] ? n->bit[0] : n->bit[1];
	parent = n->parent;
	replace_child(root, parent, n, child);
	free(n);
	if (child || !parent || parent->peer)
		return;
	/* parent was intermediate, so it had two children: now it has one. */
	child = parent->bit[0] ? parent->bit[0] : parent->bit[1];
	replace_child(root, parent->parent, parent, child);
	free(parent);
}

/* ---- Public API ---- */

void allowedips_init(struct allowedips *t)
{
	memset(t, 0, sizeof(*t));
}

static void free_trie(struct allowedips_node *root)
{
	struct allowedips_node *stack[STACK_MAX], *n;
	size_t sp = 0;

	if (root)
		stack[sp++] = root;
	while (sp) {
		n = stack[--sp];
		if (sp + 2 > STACK_MAX)
			abort(); /* depth invariant broken: never overrun the stack */
		if (n->bit[1])
			stack[sp++] = n->bit[1];
		if (n->bit[0])
			stack[sp++] = n->bit[0];
		free(n);
	}
}

void allowedips_free(struct allowedips *t)
{
	struct allowedips_owner *o, *next;
	size_t i;

	free_trie(t->root4);
	free_trie(t->root6);
	for (i = 0; i < t->owners_size; i++) {
		for (o = t->owners[i]; o; o = next) {
			next = o->hash_next;
			free(o);
		}
	}
	free(t->owners);
	t->owners = NULL;
	t->owners_size = t->owners_count = 0;
	t->reserved = 1; /* so unreserve frees the spares and nothing else */
	allowedips_unreserve(t);
	allowedips_init(t);
}

int allowedips_reserve(struct allowedips *t, size_t inserts, size_t new_owners)
{
	struct allowedips_node *n;
	struct allowedips_owner *o;
	size_t want_nodes, want_size;

	/* An insert makes a leaf and at most one split node. */
	if (inserts > SIZE_MAX / 2)
		return -ENOMEM;
	want_nodes = inserts * 2;
	if (new_owners > inserts)
		new_owners = inserts;
	t->reserved++;
	want_size = t->owners_size ? t->owners_size : 16;
	if (!t->owners_size && owners_resize(t, want_size) < 0)
		goto fail;
	while (t->n_spare_nodes < want_nodes) {
		if (!(n = zalloc(sizeof(*n))))
			goto fail;
		n->bit[0] = t->spare_nodes;
		t->spare_nodes = n;
		t->n_spare_nodes++;
	}
	while (t->n_spare_owners < new_owners) {
		if (!(o = zalloc(sizeof(*o))))
			goto fail;
		o->hash_next = t->spare_owners;
		t->spare_owners = o;
		t->n_spare_owners++;
	}
	return 0;
fail:
	allowedips_unreserve(t);
	return -ENOMEM;
}

void allowedips_unreserve(struct allowedips *t)
{
	struct allowedips_node *n;
	struct allowedips_owner *o;

	if (!t->reserved || --t->reserved)
		return;
	while ((n = t->spare_nodes)) {
		t->spare_nodes = n->bit[0];
		free(n);
	}
	while ((o = t->spare_owners)) {
		t->spare_owners = o->hash_next;
		free(o);
	}
	t->n_spare_nodes = t->n_spare_owners = 0;
	if (!t->owners_count) { /* keep "no owners, no table" */
		free(t->owners);
		t->owners = NULL;
		t->owners_size = 0;
	}
}

int allowedips_insert(struct allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
		      void *peer)
{
	struct allowedips_node **root, *parent, *node, *leaf, *split = NULL;
	struct allowedips_owner *o, *old;
	uint64_t key[2], mask[2];
	unsigned int bits, common;
	int fam = family_index(family, &bits);

	if (fam < 0 || !addr || !peer || cidr > bits)
		return -EINVAL;
	load_key(fam, addr, key);
	make_mask(cidr, mask);
	key[0] &= mask[0];
	key[1] &= mask[1];
	root = root_of(t, fam);

	/* Descend through the shorter prefixes that cover the new one. */
	parent = NULL;
	node = *root;
	while (node && node->cidr < cidr && node_covers(node, key)) {
		parent = node;
		node = node->bit[key_bit(key, node->cidr)];
	}

	if (node && node->cidr == cidr && node->key[0] == key[0] && node->key[1] == key[1]) {
		/* The prefix exists (owned, or intermediate): set its owner. */
		if (node->peer == peer)
			return 0;
		o = owner_get(t, peer);
		if (!o)
			return -ENOMEM;
		if (node->peer) {
			old = owner_find(t, node->peer);
			list_unlink(old, fam, node);
			if (owner_empty(old))
				owner_drop(t, old);
		} else {
			t->count++;
		}
		node->peer = peer;
		list_append(o, fam, node);
		return 0;
	}

	/* Allocate everything first so that a failure changes nothing. */
	leaf = new_node(t, key, cidr);
	if (!leaf)
		return -ENOMEM;
	common = 0;
	if (node) {
		common = common_bits(key, node->key);
		if (common > cidr)
			common = cidr;
		if (common < cidr) {
			/* Neither prefix contains the other: they fork at bit
			 * 'common', which lies below parent's cidr since both
			 * followed the same branch out of parent. */
			split = new_node(t, key, common);
			if (!split) {
				free(leaf);
				return -ENOMEM;
			}
		}
	}
	o = owner_get(t, peer);
	if (!o) {
		free(leaf);
		free(split);
		return -ENOMEM;
	}

	leaf->peer = peer;
	list_append(o, fam, leaf);
	t->count++;
	if (!node) {
		/* Empty slot below parent (or an empty trie). */
		if (parent)
			parent->bit[key_bit(key, parent->cidr)] = leaf;
		else
			*root = leaf;
		leaf->parent = parent;
	} else if (!split) {
		/* The new prefix contains node: it goes in between. */
		replace_child(root, parent, node, leaf);
		leaf->bit[key_bit(node->key, cidr)] = node;
		node->parent = leaf;
	} else {
		replace_child(root, parent, node, split);
		split->bit[key_bit(key, common)] = leaf;
		split->bit[key_bit(node->key, common)] = node;
		leaf->parent = split;
		node->parent = split;
	}
	return 0;
}

int allowedips_remove(struct allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
		      const void *peer)
{
	struct allowedips_owner *o;
	struct allowedips_node *node;
	uint64_t key[2], mask[2];
	unsigned int bits;
	int fam = family_index(family, &bits);

	if (fam < 0 || !addr || cidr > bits)
		return -EINVAL;
	load_key(fam, addr, key);
	make_mask(cidr, mask);
	key[0] &= mask[0];
	key[1] &= mask[1];

	node = *root_of(t, fam);
	while (node && node->cidr < cidr && node_covers(node, key))
		node = node->bit[key_bit(key, node->cidr)];
	if (!node || node->cidr != cidr || node->key[0] != key[0] || node->key[1] != key[1] ||
	    !peer || node->peer != peer)
		return -ENOENT;

	o = owner_find(t, peer);
	disown(t, o, fam, node);
	if (owner_empty(o))
		owner_drop(t, o);
	return 0;
}

void allowedips_remove_by_peer(struct allowedips *t, const void *peer)
{
	struct allowedips_owner *o = peer ? owner_find(t, peer) : NULL;
	int fam;

	if (!o)
		return;
	for (fam = FAM4; fam <= FAM6; fam++)
		while (o->head[fam])
			disown(t, o, fam, o->head[fam]);
	owner_drop(t, o);
}

void *allowedips_lookup(const struct allowedips *t, int family, const uint8_t *addr)
{
	const struct allowedips_node *node;
	void *best = NULL;
	uint64_t key[2];
	unsigned int bits;
	int fam = family_index(family, &bits);

	if (fam < 0 || !addr)
		return NULL;
	load_key(fam, addr, key);
	node = fam == FAM4 ? t->root4 : t->root6;
	while (node && node_covers(node, key)) {
		if (node->peer)
			best = node->peer;
		if (node->cidr == bits)
			break; /* a full-length prefix has no children */
		node = node->bit[key_bit(key, node->cidr)];
	}
	return best;
}

int allowedips_walk_by_peer(const struct allowedips *t, const void *peer,
			    int (*cb)(void *ctx, int family, const uint8_t *addr, uint8_t cidr),
			    void *ctx)
{
	const struct allowedips_owner *o = peer ? owner_find(t, peer) : NULL;
	const struct allowedips_node *n;
	uint8_t addr[16];
	int fam, ret;

	if (!o || !cb)
		return 0;
	for (fam = FAM4; fam <= FAM6; fam++) {
		for (n = o->head[fam]; n; n = n->owner_next) {
			store_key(fam, n->key, addr);
			ret = cb(ctx, family_of(fam), addr, n->cidr);
			if (ret)
				return ret;
		}
	}
	return 0;
}

size_t allowedips_node_count(const struct allowedips *t)
{
	const struct allowedips_node *stack[STACK_MAX], *n;
	size_t sp, count = 0;
	int fam;

	for (fam = FAM4; fam <= FAM6; fam++) {
		sp = 0;
		n = fam == FAM4 ? t->root4 : t->root6;
		if (n)
			stack[sp++] = n;
		while (sp) {
			n = stack[--sp];
			count++;
			if (sp + 2 > STACK_MAX)
				abort();
			if (n->bit[1])
				stack[sp++] = n->bit[1];
			if (n->bit[0])
				stack[sp++] = n->bit[0];
		}
	}
	return count;
}

static const char *check_node(const struct allowedips_node *n, unsigned int bits)
{
	uint64_t mask[2];
	unsigned int i;

	if (n->cidr > bits)
		return "cidr beyond the address width";
	make_mask(n->cidr, mask);
	if (mask[0] != n->mask[0] || mask[1] != n->mask[1])
		return "mask does not match cidr";
	if ((n->key[0] & ~mask[0]) || (n->key[1] & ~mask[1]))
		return "host bits set in a key";
	if (bits == 32 && (n->key[0] & 0xffffffffULL))
		return "IPv4 key outside the top 32 bits";
	if (!n->peer && !(n->bit[0] && n->bit[1]))
		return "intermediate node without two children";
	if (!n->peer && (n->owner_prev || n->owner_next))
		return "intermediate node on an owner list";
	for (i = 0; i < 2; i++) {
		const struct allowedips_node *c = n->bit[i];

		if (!c)
			continue;
		if (c->parent != n)
			return "wrong parent pointer";
		if (c->cidr <= n->cidr)
			return "child prefix not longer than its parent";
		if (!node_covers(n, c->key))
			return "child key does not extend its parent";
		if (key_bit(c->key, n->cidr) != i)
			return "child on the wrong branch";
	}
	return NULL;
}

const char *allowedips_debug_check(const struct allowedips *t)
{
	struct {
		const struct allowedips_node *n;
		unsigned int depth;
	} stack[STACK_MAX], e;
	const struct allowedips_owner *o;
	const struct allowedips_node *n, *prev, *up;
	size_t sp, owned = 0, listed = 0, owners = 0, i;
	unsigned int bits;
	const char *err;
	int fam;

	for (fam = FAM4; fam <= FAM6; fam++) {
		bits = fam == FAM4 ? 32 : 128;
		sp = 0;
		n = fam == FAM4 ? t->root4 : t->root6;
		if (n) {
			if (n->parent)
				return "root has a parent";
			stack[sp].n = n;
			stack[sp++].depth = 1;
		}
		while (sp) {
			e = stack[--sp];
			if (e.depth > MAX_DEPTH)
				return "trie deeper than 129 nodes";
			err = check_node(e.n, bits);
			if (err)
				return err;
			if (e.n->peer) {
				owned++;
				o = owner_find(t, e.n->peer);
				if (!o)
					return "owned node whose owner is not indexed";
			}
			if (sp + 2 > STACK_MAX)
				return "explicit stack overflow";
			for (i = 2; i-- > 0;) {
				if (e.n->bit[i]) {
					stack[sp].n = e.n->bit[i];
					stack[sp++].depth = e.depth + 1;
				}
			}
		}
	}
	if (owned != t->count)
		return "count differs from the owned nodes";

	for (i = 0; i < t->owners_size; i++) {
		for (o = t->owners[i]; o; o = o->hash_next) {
			owners++;
			if (owner_bucket(o->peer, t->owners_size) != i)
				return "owner in the wrong bucket";
			if (owner_empty(o))
				return "empty owner kept";
			for (fam = FAM4; fam <= FAM6; fam++) {
				prev = NULL;
				for (n = o->head[fam]; n; prev = n, n = n->owner_next) {
					listed++;
					if (n->peer != o->peer)
						return "node listed under another owner";
					if (n->owner_prev != prev)
						return "broken owner list back link";
					/* The list's family must be the node's trie. */
					for (up = n; up->parent; up = up->parent)
						;
					if (up != (fam == FAM4 ? t->root4 : t->root6))
						return "listed node not in its family's trie";
				}
				if (o->tail[fam] != prev)
					return "owner list tail wrong";
			}
		}
	}
	if (owners != t->owners_count)
		return "owners_count wrong";
	if (listed != t->count)
		return "owner lists do not hold every prefix exactly once";
	if (!t->owners_size && t->owners)
		return "owner table without size";
	return NULL;
}
