/* SPDX-License-Identifier: MIT */
/*
 * Tests of core/engine/allowedips.c: fixed cases, then a random differential test
 * against a deliberately naive model (an array scanned linearly, matching
 * byte by byte), churn and scale tests, and a lookup micro-benchmark.
 * The random seed is printed; TS_SEED=<n> replays a run.
 */
#include "allowedips.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, " (seed %" PRIu64 ")\n", seed);                            \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define SOUND(t)                                                                                   \
	do {                                                                                       \
		const char *why_ = allowedips_debug_check(t);                                      \
		CHECK(!why_, "invariant broken: %s", why_);                                        \
	} while (0)

#define NPEERS 8

static uint64_t seed = 0x7453a11d0c0ffeeULL;
static uint64_t rng_state;
static char peer_objs[NPEERS];
#define PEER(i) ((void *)&peer_objs[(i)])

static uint64_t rnd(void)
{
	/* splitmix64: good enough and reproducible everywhere. */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned int rnd_below(unsigned int n)
{
	return (unsigned int)(rnd() % n);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* Parses "a.b.c.d" or an IPv6 text form into buf; returns the family. */
static int parse(const char *s, uint8_t buf[16])
{
	memset(buf, 0, 16);
	if (inet_pton(AF_INET, s, buf) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, buf) == 1)
		return AF_INET6;
	fprintf(stderr, "bad address in test: %s\n", s);
	exit(1);
}

static int insert(struct allowedips *t, const char *s, uint8_t cidr, void *peer)
{
	uint8_t a[16];
	int f = parse(s, a);

	return allowedips_insert(t, f, a, cidr, peer);
}

static int rm(struct allowedips *t, const char *s, uint8_t cidr, const void *peer)
{
	uint8_t a[16];
	int f = parse(s, a);

	return allowedips_remove(t, f, a, cidr, peer);
}

static void *lookup(const struct allowedips *t, const char *s)
{
	uint8_t a[16];
	int f = parse(s, a);

	return allowedips_lookup(t, f, a);
}

/* ---- Collecting walk_by_peer output ---- */

struct prefix {
	int family;
	uint8_t addr[16];
	uint8_t cidr;
	void *peer;
};

struct collect {
	struct prefix *v;
	size_t n, cap;
	size_t stop_after; /* 0: never stop */
};

static int collect_cb(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	struct collect *c = ctx;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		CHECK(c->v, "out of memory");
	}
	memset(&c->v[c->n], 0, sizeof(c->v[c->n]));
	c->v[c->n].family = family;
	memcpy(c->v[c->n].addr, addr, (size_t)addr_len(family));
	c->v[c->n].cidr = cidr;
	c->n++;
	if (c->stop_after && c->n == c->stop_after)
		return 42;
	return 0;
}

/* Walks peer and checks it yields exactly the listed "addr/cidr" strings, in order. */
static void expect_walk(const struct allowedips *t, void *peer, const char *const *want,
			size_t nwant, int line)
{
	struct collect c = {0};
	uint8_t a[16];
	size_t i;

	CHECK(allowedips_walk_by_peer(t, peer, collect_cb, &c) == 0, "walk returned non-zero");
	CHECK(c.n == nwant, "line %d: walk gave %zu prefixes, want %zu", line, c.n, nwant);
	for (i = 0; i < nwant; i++) {
		char buf[64];
		const char *slash = strchr(want[i], '/');
		size_t len = (size_t)(slash - want[i]);
		int f;

		memcpy(buf, want[i], len);
		buf[len] = 0;
		f = parse(buf, a);
		CHECK(c.v[i].family == f && !memcmp(c.v[i].addr, a, (size_t)addr_len(f)) &&
			  c.v[i].cidr == atoi(slash + 1),
		      "line %d: walk item %zu is not %s", line, i, want[i]);
	}
	free(c.v);
}

#define EXPECT_WALK(t, peer, ...)                                                                  \
	do {                                                                                       \
		static const char *const w_[] = {__VA_ARGS__};                                     \
		expect_walk(t, peer, w_, sizeof(w_) / sizeof(w_[0]), __LINE__);                    \
	} while (0)
#define EXPECT_WALK_EMPTY(t, peer) expect_walk(t, peer, NULL, 0, __LINE__)

/* ---- Fixed cases ---- */

static void test_fixed(void)
{
	void *a = PEER(0), *b = PEER(1), *c = PEER(2), *d = PEER(3), *e = PEER(4), *f = PEER(5),
	     *g = PEER(6), *h = PEER(7);
	struct allowedips t;
	struct collect col = {0};
	uint8_t z[16] = {0};

	allowedips_init(&t);
	CHECK(lookup(&t, "10.0.0.1") == NULL, "empty table matched");
	CHECK(lookup(&t, "::1") == NULL, "empty table matched");
	CHECK(rm(&t, "10.0.0.0", 8, a) == -ENOENT, "remove from empty");
	allowedips_remove_by_peer(&t, a);
	EXPECT_WALK_EMPTY(&t, a);

	/* Bad arguments. */
	CHECK(allowedips_insert(&t, AF_UNIX, z, 0, a) == -EINVAL, "bad family accepted");
	CHECK(allowedips_insert(&t, AF_INET, z, 33, a) == -EINVAL, "v4 /33 accepted");
	CHECK(allowedips_insert(&t, AF_INET6, z, 129, a) == -EINVAL, "v6 /129 accepted");
	CHECK(allowedips_insert(&t, AF_INET, z, 0, NULL) == -EINVAL, "NULL peer accepted");
	CHECK(allowedips_insert(&t, AF_INET, NULL, 0, a) == -EINVAL, "NULL addr accepted");
	CHECK(allowedips_remove(&t, AF_INET, z, 33, a) == -EINVAL, "remove /33");
	CHECK(allowedips_remove(&t, 12345, z, 0, a) == -EINVAL, "remove bad family");
	CHECK(allowedips_lookup(&t, 12345, z) == NULL, "lookup bad family");
	CHECK(t.count == 0 && allowedips_node_count(&t) == 0, "bad args changed the table");

	/* Nested IPv4 prefixes: the longest wins. */
	CHECK(insert(&t, "10.0.0.0", 8, a) == 0, "insert");
	CHECK(insert(&t, "10.1.0.0", 16, b) == 0, "insert");
	CHECK(insert(&t, "10.1.2.0", 24, c) == 0, "insert");
	CHECK(insert(&t, "10.1.2.3", 32, d) == 0, "insert");
	SOUND(&t);
	CHECK(lookup(&t, "10.1.2.3") == d, "/32");
	CHECK(lookup(&t, "10.1.2.4") == c, "/24");
	CHECK(lookup(&t, "10.1.2.255") == c, "/24 end");
	CHECK(lookup(&t, "10.1.3.0") == b, "/16");
	CHECK(lookup(&t, "10.1.255.255") == b, "/16 end");
	CHECK(lookup(&t, "10.2.0.0") == a, "/8");
	CHECK(lookup(&t, "10.255.255.255") == a, "/8 end");
	CHECK(lookup(&t, "11.0.0.0") == NULL, "outside");
	CHECK(lookup(&t, "9.255.255.255") == NULL, "outside");
	CHECK(t.count == 4 && allowedips_node_count(&t) == 4, "count %zu", t.count);

	/* /0 catches the rest, of its family only. */
	CHECK(insert(&t, "0.0.0.0", 0, e) == 0, "insert /0");
	CHECK(lookup(&t, "11.0.0.0") == e, "/0");
	CHECK(lookup(&t, "255.255.255.255") == e, "/0");
	CHECK(lookup(&t, "10.1.2.3") == d, "/32 under /0");
	CHECK(lookup(&t, "::ffff:10.1.2.3") == NULL, "v4 prefix matched a v6 address");
	CHECK(lookup(&t, "a01:203::") == NULL, "v4 prefix matched a v6 address");
	CHECK(insert(&t, "::", 0, f) == 0, "insert ::/0");
	CHECK(lookup(&t, "a01:203::") == f, "::/0");
	CHECK(lookup(&t, "10.1.2.3") == d, "v6 /0 changed v4");
	CHECK(lookup(&t, "1.1.1.1") == e, "v6 /0 changed v4");

	/* IPv6, /128, and prefixes around the 64-bit word boundary. */
	CHECK(insert(&t, "2001:db8::1", 128, g) == 0, "insert /128");
	CHECK(insert(&t, "2001:db8::", 32, h) == 0, "insert /32");
	CHECK(insert(&t, "2001:db8:1:2::", 64, a) == 0, "insert /64");
	CHECK(insert(&t, "2001:db8:1:2:8000::", 65, b) == 0, "insert /65");
	CHECK(insert(&t, "2001:db8:1:3:ffff::", 63, c) == 0, "insert /63 with host bits");
	SOUND(&t);
	CHECK(lookup(&t, "2001:db8::1") == g, "/128");
	CHECK(lookup(&t, "2001:db8::2") == h, "/32");
	CHECK(lookup(&t, "2001:db8::") == h, "/32");
	CHECK(lookup(&t, "2001:db9::1") == f, "::/0");
	CHECK(lookup(&t, "2001:db8:1:2:8000::1") == b, "/65");
	CHECK(lookup(&t, "2001:db8:1:2:ffff:ffff:ffff:ffff") == b, "/65");
	CHECK(lookup(&t, "2001:db8:1:2:7fff:ffff:ffff:ffff") == a, "/64");
	CHECK(lookup(&t, "2001:db8:1:3::") == c, "/63");
	CHECK(lookup(&t, "2001:db8:1:4::") == h, "/32 after /63");
	CHECK(lookup(&t, "10.1.2.3") == d, "v6 inserts changed v4");
	EXPECT_WALK(&t, c, "10.1.2.0/24", "2001:db8:1:2::/63");

	/* Owner change of an identical prefix (host bits differ: same prefix). */
	CHECK(insert(&t, "10.1.77.77", 16, e) == 0, "owner change");
	CHECK(lookup(&t, "10.1.3.0") == e, "owner change not seen");
	EXPECT_WALK(&t, b, "2001:db8:1:2:8000::/65");
	EXPECT_WALK(&t, e, "0.0.0.0/0", "10.1.0.0/16");
	CHECK(t.count == 11, "owner change altered count: %zu", t.count);
	CHECK(insert(&t, "10.1.0.0", 16, e) == 0, "same owner again");
	EXPECT_WALK(&t, e, "0.0.0.0/0", "10.1.0.0/16");
	SOUND(&t);

	/* Remove: exact prefix and owner only. */
	CHECK(rm(&t, "10.1.0.0", 16, b) == -ENOENT, "removed with old owner");
	CHECK(rm(&t, "10.1.0.0", 17, e) == -ENOENT, "removed a longer prefix");
	CHECK(rm(&t, "10.1.0.0", 15, e) == -ENOENT, "removed a shorter prefix");
	CHECK(rm(&t, "10.1.0.0", 16, NULL) == -ENOENT, "removed with NULL owner");
	CHECK(rm(&t, "::", 16, e) == -ENOENT, "removed in the wrong family");
	CHECK(rm(&t, "10.1.200.1", 16, e) == 0, "remove with host bits");
	CHECK(rm(&t, "10.1.0.0", 16, e) == -ENOENT, "removed twice");
	CHECK(lookup(&t, "10.1.3.0") == a, "fallback to /8 after remove");
	CHECK(lookup(&t, "10.1.2.3") == d, "/32 lost by remove");
	CHECK(rm(&t, "0.0.0.0", 0, e) == 0, "remove /0");
	CHECK(lookup(&t, "11.0.0.0") == NULL, "/0 still there");
	EXPECT_WALK_EMPTY(&t, e);
	SOUND(&t);

	/* Walk order: IPv4 first, insertion order, stop on non-zero. */
	CHECK(insert(&t, "fd00::", 8, d) == 0, "insert");
	CHECK(insert(&t, "192.168.0.0", 24, d) == 0, "insert");
	CHECK(insert(&t, "172.16.0.0", 12, d) == 0, "insert");
	EXPECT_WALK(&t, d, "10.1.2.3/32", "192.168.0.0/24", "172.16.0.0/12", "fd00::/8");
	col.stop_after = 2;
	CHECK(allowedips_walk_by_peer(&t, d, collect_cb, &col) == 42 && col.n == 2,
	      "walk did not stop");
	free(col.v);

	/* remove_by_peer: everything of d, nothing else. */
	allowedips_remove_by_peer(&t, d);
	EXPECT_WALK_EMPTY(&t, d);
	CHECK(lookup(&t, "10.1.2.3") == c, "/32 of removed peer still matches");
	CHECK(lookup(&t, "192.168.0.1") == NULL, "removed peer still matches");
	CHECK(lookup(&t, "fd00::1") == f, "removed peer still matches v6");
	CHECK(lookup(&t, "2001:db8::1") == g, "other peer lost");
	SOUND(&t);

	allowedips_free(&t);
	CHECK(t.count == 0 && allowedips_node_count(&t) == 0 && !t.root4 && !t.root6,
	      "free left something");
	CHECK(lookup(&t, "2001:db8::1") == NULL, "free left something");
}

/* Intermediate nodes: created at a fork, owned on demand, freed when useless. */
static void test_intermediate(void)
{
	void *a = PEER(0), *b = PEER(1);
	struct allowedips t;

	allowedips_init(&t);
	CHECK(insert(&t, "10.0.0.0", 24, a) == 0, "insert");
	CHECK(insert(&t, "10.0.1.0", 24, b) == 0, "insert");
	CHECK(allowedips_node_count(&t) == 3 && t.count == 2, "fork did not add one node");
	CHECK(lookup(&t, "10.0.2.0") == NULL, "intermediate node matched");
	CHECK(insert(&t, "10.0.0.0", 23, a) == 0, "own the fork");
	CHECK(allowedips_node_count(&t) == 3 && t.count == 3, "owning the fork added a node");
	CHECK(lookup(&t, "10.0.1.5") == b && lookup(&t, "10.0.0.5") == a, "lookup");
	CHECK(rm(&t, "10.0.0.0", 23, a) == 0, "disown the fork");
	CHECK(allowedips_node_count(&t) == 3 && t.count == 2, "fork freed while needed");
	CHECK(rm(&t, "10.0.1.0", 24, b) == 0, "remove");
	CHECK(allowedips_node_count(&t) == 1 && t.count == 1, "useless fork kept: %zu",
	      allowedips_node_count(&t));
	SOUND(&t);
	/* A prefix inserted above an existing one, then removed. */
	CHECK(insert(&t, "10.0.0.0", 8, b) == 0, "insert above");
	CHECK(allowedips_node_count(&t) == 2, "insert above");
	CHECK(lookup(&t, "10.9.9.9") == b && lookup(&t, "10.0.0.9") == a, "lookup");
	CHECK(rm(&t, "10.0.0.0", 8, b) == 0, "remove above");
	CHECK(allowedips_node_count(&t) == 1 && lookup(&t, "10.9.9.9") == NULL, "remove above");
	CHECK(rm(&t, "10.0.0.0", 24, a) == 0, "remove last");
	CHECK(allowedips_node_count(&t) == 0 && !t.root4 && !t.owners, "not empty at the end");
	SOUND(&t);
	allowedips_free(&t);
}

/*
 * The deepest trie possible: an IPv6 address with every prefix length 0..128
 * and a sibling forking off at every bit.  Depth 129, exercising the explicit
 * stacks of free, node_count and the checker.
 */
static void test_deep(void)
{
	struct allowedips t;
	uint8_t x[16], y[16];
	unsigned int c;

	allowedips_init(&t);
	for (c = 0; c < 16; c++)
		x[c] = (uint8_t)rnd();
	for (c = 0; c <= 128; c++)
		CHECK(allowedips_insert(&t, AF_INET6, x, (uint8_t)c, PEER(c % NPEERS)) == 0,
		      "insert");
	for (c = 1; c <= 128; c++) {
		memcpy(y, x, 16);
		y[(c - 1) / 8] ^= (uint8_t)(0x80 >> ((c - 1) % 8));
		CHECK(allowedips_insert(&t, AF_INET6, y, (uint8_t)c, PEER((c + 3) % NPEERS)) == 0,
		      "insert");
	}
	SOUND(&t);
	CHECK(t.count == 129 + 128 && allowedips_node_count(&t) == 129 + 128, "count");
	CHECK(allowedips_lookup(&t, AF_INET6, x) == PEER(128 % NPEERS), "deepest lookup");
	for (c = 1; c <= 128; c++) {
		memcpy(y, x, 16);
		y[(c - 1) / 8] ^= (uint8_t)(0x80 >> ((c - 1) % 8));
		CHECK(allowedips_lookup(&t, AF_INET6, y) == PEER((c + 3) % NPEERS),
		      "sibling at bit %u", c);
	}
	/* Same depth in IPv4, then free everything at once (no recursion). */
	for (c = 0; c <= 32; c++)
		CHECK(allowedips_insert(&t, AF_INET, x, (uint8_t)c, PEER(c % NPEERS)) == 0,
		      "insert");
	CHECK(allowedips_lookup(&t, AF_INET, x) == PEER(32 % NPEERS), "deepest v4");
	allowedips_free(&t);
	CHECK(allowedips_node_count(&t) == 0, "free");
}

/* Every allocation failure leaves the table as it was. */
static void test_enomem(void)
{
	struct allowedips t;
	size_t nodes, count;
	unsigned int n;
	int ret;

	for (n = 1; n <= 4; n++) {
		allowedips_init(&t);
		CHECK(insert(&t, "10.0.0.0", 24, PEER(0)) == 0, "insert");
		CHECK(insert(&t, "10.0.8.0", 24, PEER(1)) == 0, "insert");
		nodes = allowedips_node_count(&t);
		count = t.count;
		/* Needs a fork node, a leaf and a new owner entry. */
		allowedips_debug_fail_alloc(n);
		ret = insert(&t, "10.0.4.0", 24, PEER(2));
		allowedips_debug_fail_alloc(0);
		SOUND(&t);
		if (ret == -ENOMEM) {
			CHECK(allowedips_node_count(&t) == nodes && t.count == count,
			      "failed insert changed the table (n=%u)", n);
			CHECK(lookup(&t, "10.0.4.1") == NULL, "failed insert visible");
			EXPECT_WALK_EMPTY(&t, PEER(2));
		} else {
			CHECK(ret == 0 && n >= 3, "insert with alloc %u failing: %d", n, ret);
			CHECK(lookup(&t, "10.0.4.1") == PEER(2), "insert lost");
		}
		/* Owner change to a new peer needs only the owner entry. */
		allowedips_debug_fail_alloc(1);
		ret = insert(&t, "10.0.0.0", 24, PEER(3));
		allowedips_debug_fail_alloc(0);
		CHECK(ret == -ENOMEM && lookup(&t, "10.0.0.1") == PEER(0),
		      "owner change on ENOMEM");
		SOUND(&t);
		allowedips_free(&t);
	}
	/* The very first insert: the owner table, the owner, the leaf. */
	for (n = 1; n <= 3; n++) {
		allowedips_init(&t);
		allowedips_debug_fail_alloc(n);
		ret = insert(&t, "::1", 128, PEER(0));
		allowedips_debug_fail_alloc(0);
		CHECK(ret == -ENOMEM && !t.root6 && !t.owners && !t.count, "first insert, n=%u", n);
		allowedips_free(&t);
	}
}

/* ---- The naive model ---- */

struct model {
	struct prefix *v; /* insertion order */
	size_t n, cap;
};

static void naive_mask(uint8_t *addr, int family, unsigned int cidr)
{
	unsigned int i;

	for (i = cidr; i < (unsigned int)addr_len(family) * 8; i++)
		addr[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
}

static bool naive_covers(const struct prefix *p, int family, const uint8_t *addr)
{
	unsigned int i, full = p->cidr / 8, rest = p->cidr % 8;

	if (p->family != family)
		return false;
	/* Whole bytes, then the leading bits of the next one.  (A loop, not
	 * memcmp: ASan's interceptor would dominate the test's run time.) */
	for (i = 0; i < full; i++)
		if (p->addr[i] != addr[i])
			return false;
	return !rest || ((p->addr[full] ^ addr[full]) & (0xff00 >> rest)) == 0;
}

static void *model_lookup(const struct model *m, int family, const uint8_t *addr)
{
	const struct prefix *best = NULL;
	size_t i;

	for (i = 0; i < m->n; i++)
		if (naive_covers(&m->v[i], family, addr) && (!best || m->v[i].cidr > best->cidr))
			best = &m->v[i];
	return best ? best->peer : NULL;
}

static ssize_t model_find(const struct model *m, const struct prefix *p)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m->v[i].family == p->family && m->v[i].cidr == p->cidr &&
		    !memcmp(m->v[i].addr, p->addr, 16))
			return (ssize_t)i;
	return -1;
}

static void model_delete(struct model *m, size_t i)
{
	memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(m->v[0]));
	m->n--;
}

static void model_insert(struct model *m, const struct prefix *p)
{
	ssize_t i = model_find(m, p);

	if (i >= 0) {
		if (m->v[i].peer == p->peer)
			return;
		model_delete(m, (size_t)i); /* a new owner lists it last */
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->v = realloc(m->v, m->cap * sizeof(*m->v));
		CHECK(m->v, "out of memory");
	}
	m->v[m->n++] = *p;
}

static int model_remove(struct model *m, const struct prefix *p)
{
	ssize_t i = model_find(m, p);

	if (i < 0 || m->v[i].peer != p->peer)
		return -ENOENT;
	model_delete(m, (size_t)i);
	return 0;
}

static void model_remove_by_peer(struct model *m, const void *peer)
{
	size_t i, j = 0;

	for (i = 0; i < m->n; i++)
		if (m->v[i].peer != peer)
			m->v[j++] = m->v[i];
	m->n = j;
}

/* Random prefixes clustered around a few bases, so that they overlap a lot. */
static uint8_t bases[2][8][16];

static void random_prefix(struct prefix *p)
{
	unsigned int i, len, r;

	memset(p, 0, sizeof(*p));
	p->family = rnd_below(3) ? AF_INET : AF_INET6;
	len = (unsigned int)addr_len(p->family);
	memcpy(p->addr, bases[p->family == AF_INET6][rnd_below(8)], len);
	/* Keep a random number of the base's leading bits, randomise the rest. */
	r = rnd_below(len * 8 + 1);
	for (i = r; i < len * 8; i++)
		if (rnd() & 1)
			p->addr[i / 8] ^= (uint8_t)(0x80 >> (i % 8));
	r = rnd_below(20);
	if (r == 0)
		p->cidr = (uint8_t)rnd_below(len * 2 + 1); /* short prefixes, /0 included */
	else if (r == 1)
		p->cidr = (uint8_t)(len * 8); /* host routes */
	else
		p->cidr = (uint8_t)(len * 4 + rnd_below(len * 4 + 1));
	naive_mask(p->addr, p->family, p->cidr);
	p->peer = PEER(rnd_below(NPEERS));
}

/* An address near the stored prefixes most of the time. */
static int random_address(const struct model *m, uint8_t addr[16])
{
	unsigned int i, len, r = rnd_below(8);
	int family;

	memset(addr, 0, 16);
	if (m->n && r < 5) {
		const struct prefix *p = &m->v[rnd_below((unsigned int)m->n)];

		family = p->family;
		len = (unsigned int)addr_len(family);
		memcpy(addr, p->addr, len);
		for (i = p->cidr; i < len * 8; i++)
			if (rnd() & 1)
				addr[i / 8] ^= (uint8_t)(0x80 >> (i % 8));
		if (r == 4) /* one bit off, inside or outside the prefix */
			addr[rnd_below(len)] ^= (uint8_t)(1 << rnd_below(8));
		return family;
	}
	family = rnd_below(2) ? AF_INET : AF_INET6;
	len = (unsigned int)addr_len(family);
	if (r < 7)
		memcpy(addr, bases[family == AF_INET6][rnd_below(8)], len);
	for (i = 0; i < len; i++)
		if (r == 7 || rnd_below(4) == 0)
			addr[i] = (uint8_t)rnd();
	return family;
}

static void compare_walks(const struct allowedips *t, const struct model *m)
{
	struct collect c = {0};
	size_t p, i, k;
	int pass;

	for (p = 0; p < NPEERS; p++) {
		c.n = 0;
		CHECK(allowedips_walk_by_peer(t, PEER(p), collect_cb, &c) == 0, "walk");
		k = 0;
		for (pass = 0; pass < 2; pass++) {
			int family = pass ? AF_INET6 : AF_INET;

			for (i = 0; i < m->n; i++) {
				const struct prefix *q = &m->v[i];

				if (q->peer != PEER(p) || q->family != family)
					continue;
				CHECK(k < c.n, "walk of peer %zu misses prefixes", p);
				CHECK(c.v[k].family == q->family && c.v[k].cidr == q->cidr &&
					  !memcmp(c.v[k].addr, q->addr, 16),
				      "walk of peer %zu differs at item %zu", p, k);
				k++;
			}
		}
		CHECK(k == c.n, "walk of peer %zu gave %zu prefixes, model has %zu", p, c.n, k);
	}
	free(c.v);
}

static void check_lookups(const struct allowedips *t, const struct model *m, unsigned int n)
{
	uint8_t addr[16];
	void *want, *got;
	unsigned int i;
	int family;

	for (i = 0; i < n; i++) {
		family = random_address(m, addr);
		want = model_lookup(m, family, addr);
		got = allowedips_lookup(t, family, addr);

		if (got != want) {
			char s[INET6_ADDRSTRLEN];

			inet_ntop(family, addr, s, sizeof(s));
			CHECK(got == want, "lookup %s: got peer %td, model says %td", s,
			      got ? (char *)got - peer_objs : -1,
			      want ? (char *)want - peer_objs : -1);
		}
	}
}

static void test_differential(void)
{
	struct allowedips t;
	struct model m = {0};
	struct prefix p;
	unsigned int round, op, r, lookups = 0;
	size_t peak = 0;
	int ret, want;

	for (r = 0; r < 16; r++)
		for (op = 0; op < 16; op++)
			bases[r / 8][r % 8][op] = (uint8_t)rnd();

	allowedips_init(&t);
	for (round = 0; round < 32; round++) {
		for (op = 0; op < 400; op++) {
			r = rnd_below(1000);
			if (r < 700) {
				random_prefix(&p);
				CHECK(allowedips_insert(&t, p.family, p.addr, p.cidr, p.peer) == 0,
				      "insert failed");
				/* Host bits must not matter: insert once more with noise. */
				if (r < 50 && p.cidr < addr_len(p.family) * 8) {
					struct prefix q = p;

					q.addr[addr_len(p.family) - 1] |= 1;
					CHECK(allowedips_insert(&t, q.family, q.addr, q.cidr,
								q.peer) == 0,
					      "insert with host bits");
				}
				model_insert(&m, &p);
			} else if (r < 860 && m.n) {
				/* Remove a stored prefix, sometimes naming the wrong owner. */
				p = m.v[rnd_below((unsigned int)m.n)];
				if (rnd_below(4) == 0)
					p.peer = PEER(rnd_below(NPEERS));
				want = model_remove(&m, &p);
				ret = allowedips_remove(&t, p.family, p.addr, p.cidr, p.peer);
				CHECK(ret == want, "remove: %d, model %d", ret, want);
			} else if (r < 999) {
				/* Remove a random (usually absent) prefix. */
				random_prefix(&p);
				want = model_remove(&m, &p);
				ret = allowedips_remove(&t, p.family, p.addr, p.cidr, p.peer);
				CHECK(ret == want, "remove random: %d, model %d", ret, want);
			} else {
				void *peer = PEER(rnd_below(NPEERS));

				allowedips_remove_by_peer(&t, peer);
				model_remove_by_peer(&m, peer);
			}
		}
		SOUND(&t);
		CHECK(t.count == m.n, "count %zu, model %zu", t.count, m.n);
		CHECK(allowedips_node_count(&t) < 2 * m.n + 1, "too many nodes: %zu for %zu",
		      allowedips_node_count(&t), m.n);
		check_lookups(&t, &m, 3200);
		lookups += 3200;
		compare_walks(&t, &m);
		if (m.n > peak)
			peak = m.n;
	}
	printf("differential: up to %zu prefixes, %zu at the end, %u lookups compared\n", peak, m.n,
	       lookups);

	/* Empty it again, half by remove_by_peer and half one by one. */
	for (r = 0; r < NPEERS / 2; r++) {
		allowedips_remove_by_peer(&t, PEER(r));
		model_remove_by_peer(&m, PEER(r));
	}
	SOUND(&t);
	check_lookups(&t, &m, 5000);
	compare_walks(&t, &m);
	while (m.n) {
		p = m.v[rnd_below((unsigned int)m.n)];
		CHECK(allowedips_remove(&t, p.family, p.addr, p.cidr, p.peer) == 0, "remove");
		model_remove(&m, &p);
		if (m.n % 256 == 0) {
			SOUND(&t);
			check_lookups(&t, &m, 200);
		}
	}
	CHECK(t.count == 0 && allowedips_node_count(&t) == 0, "%zu nodes left after removing all",
	      allowedips_node_count(&t));
	CHECK(!t.root4 && !t.root6 && !t.owners && !t.owners_count, "leftovers");
	allowedips_free(&t);
	free(m.v);
}

/* Insert/remove churn must not grow memory. */
static void test_churn(void)
{
	struct allowedips t;
	struct prefix *set = calloc(2000, sizeof(*set));
	size_t i, nodes;
	unsigned int k;

	CHECK(set, "out of memory");
	allowedips_init(&t);
	for (i = 0; i < 2000; i++) {
		random_prefix(&set[i]);
		CHECK(allowedips_insert(&t, set[i].family, set[i].addr, set[i].cidr, set[i].peer) ==
			  0,
		      "insert");
	}
	nodes = allowedips_node_count(&t);
	for (k = 0; k < 20000; k++) {
		struct prefix *p = &set[rnd_below(2000)];

		/* Duplicates in 'set' may be owned by a later peer: remove
		 * through the owner, then put back the same owner. */
		void *owner = allowedips_lookup(&t, p->family, p->addr);

		if (allowedips_remove(&t, p->family, p->addr, p->cidr, owner) == 0)
			CHECK(allowedips_insert(&t, p->family, p->addr, p->cidr, owner) == 0,
			      "reinsert");
	}
	SOUND(&t);
	CHECK(allowedips_node_count(&t) == nodes, "churn changed the node count: %zu -> %zu", nodes,
	      allowedips_node_count(&t));
	for (i = 0; i < NPEERS; i++)
		allowedips_remove_by_peer(&t, PEER(i));
	CHECK(allowedips_node_count(&t) == 0 && t.count == 0 && !t.owners, "not empty");
	allowedips_free(&t);
	free(set);
}

/* 100k prefixes of one peer: remove_by_peer and single removals stay linear. */
static void test_scale(void)
{
	enum { N = 100000 };
	struct allowedips t;
	uint8_t a[16];
	double t0, t_ins, t_rbp, t_rm;
	uint64_t saved;
	unsigned int i, j;

	allowedips_init(&t);
	t0 = now_s();
	for (i = 0; i < N; i++) {
		for (j = 0; j < 16; j++)
			a[j] = (uint8_t)rnd();
		CHECK(allowedips_insert(&t, i % 2 ? AF_INET6 : AF_INET, a,
					(uint8_t)(i % 2 ? 48 + i % 81 : 16 + i % 17), PEER(0)) == 0,
		      "insert");
	}
	CHECK(insert(&t, "10.0.0.0", 8, PEER(1)) == 0, "insert");
	t_ins = now_s() - t0;
	t0 = now_s();
	allowedips_remove_by_peer(&t, PEER(0));
	t_rbp = now_s() - t0;
	CHECK(t.count == 1 && allowedips_node_count(&t) == 1, "remove_by_peer left %zu",
	      allowedips_node_count(&t));
	CHECK(lookup(&t, "10.1.1.1") == PEER(1), "other peer lost");

	/* Again, removing each prefix by itself. */
	saved = rng_state;

	for (i = 0; i < N; i++) {
		for (j = 0; j < 16; j++)
			a[j] = (uint8_t)rnd();
		CHECK(allowedips_insert(&t, AF_INET6, a, (uint8_t)(64 + i % 65), PEER(2)) == 0,
		      "insert");
	}
	rng_state = saved;
	t0 = now_s();
	for (i = 0; i < N; i++) {
		for (j = 0; j < 16; j++)
			a[j] = (uint8_t)rnd();
		CHECK(allowedips_remove(&t, AF_INET6, a, (uint8_t)(64 + i % 65), PEER(2)) == 0,
		      "remove %u", i);
	}
	t_rm = now_s() - t0;
	CHECK(t.count == 1 && allowedips_node_count(&t) == 1, "removals left %zu nodes",
	      allowedips_node_count(&t));
	printf("scale: %d inserts %.3f s, remove_by_peer of %d %.3f s, %d removes %.3f s\n", N,
	       t_ins, N, t_rbp, N, t_rm);
	allowedips_free(&t);
}

/*
 * Lookup cost with 1000 prefixes spread over the address space (the common
 * case of many peers with a few routes each); half the addresses fall inside
 * a prefix.  Printed only: timings on shared machines are noise.
 */
static void bench_lookup(void)
{
	enum { PREFIXES = 1000, LOOKUPS = 1000000, ADDRS = 4096 };
	static uint8_t addrs[ADDRS][16], pfx[PREFIXES][16];
	struct allowedips t;
	uintptr_t sink = 0;
	double t0, ns[2];
	unsigned int i, j, len, bits;
	int fam, family;

	for (fam = 0; fam < 2; fam++) {
		family = fam ? AF_INET6 : AF_INET;
		len = (unsigned int)addr_len(family);
		allowedips_init(&t);
		for (i = 0; i < PREFIXES; i++) {
			for (j = 0; j < 16; j++)
				pfx[i][j] = (uint8_t)rnd();
			bits = fam ? 32 + rnd_below(97) : 8 + rnd_below(25);
			CHECK(allowedips_insert(&t, family, pfx[i], (uint8_t)bits,
						PEER(i % NPEERS)) == 0,
			      "insert");
		}
		for (i = 0; i < ADDRS; i++) {
			for (j = 0; j < 16; j++)
				addrs[i][j] = (uint8_t)rnd();
			if (i % 2) /* inside some prefix: its first bytes, random host */
				memcpy(addrs[i], pfx[rnd_below(PREFIXES)], len / 2);
		}
		t0 = now_s();
		for (i = 0; i < LOOKUPS; i++)
			sink += (uintptr_t)allowedips_lookup(&t, family, addrs[i % ADDRS]);
		ns[fam] = (now_s() - t0) * 1e9 / LOOKUPS;
		allowedips_free(&t);
	}
	printf("bench: allowedips_lookup with %d prefixes: IPv4 %.1f ns, IPv6 %.1f ns (sink %u)\n",
	       PREFIXES, ns[0], ns[1], (unsigned int)(sink & 1));
}

#define RUN(fn)                                                                                    \
	do {                                                                                       \
		double t0_ = now_s();                                                              \
		fn();                                                                              \
		printf("  %-20s %.2f s\n", #fn, now_s() - t0_);                                    \
	} while (0)

int main(void)
{
	const char *env = getenv("TS_SEED");

	if (env && *env)
		seed = strtoull(env, NULL, 0);
	rng_state = seed;
	printf("test_allowedips: seed %" PRIu64 " (set TS_SEED to replay)\n", seed);

	RUN(test_fixed);
	RUN(test_intermediate);
	RUN(test_deep);
	RUN(test_enomem);
	RUN(test_differential);
	RUN(test_churn);
	RUN(test_scale);
	RUN(bench_lookup);
	printf("test_allowedips: all passed\n");
	return 0;
}
