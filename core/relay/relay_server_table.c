// SPDX-License-Identifier: MIT
/*
 * tinescale-relay's tables (relay_server.h): registrations indexed by key
 * and by address, the per-pair counters, the token buckets and the status
 * text.  Everything is bounded by the configuration; nothing grows with
 * traffic.  Hashes are SipHash with a random key (libsodium's
 * crypto_shorthash) because keys and addresses are chosen by strangers.
 */
#include "relay_server.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S     1000000000ULL
#define PAIR_IDLE_NS (300 * NS_PER_S) /* an idle pair's counters are forgotten */
#define IP_SLOTS_MIN 1024

static const char *const reject_names[RJ_COUNT] = {
    [RJ_GARBAGE] = "garbage",
    [RJ_TRUNCATED] = "truncated",
    [RJ_RESERVED] = "reserved",
    [RJ_UNKNOWN_TYPE] = "unknown_type",
    [RJ_BAD_MAC] = "bad_mac",
    [RJ_REPLAY] = "replay",
    [RJ_CLOCK] = "clock",
    [RJ_BAD_KEY] = "bad_key",
    [RJ_TABLE_FULL] = "table_full",
    [RJ_ADDR_FULL] = "addr_full",
    [RJ_RATE_COOKIE] = "rate_cookie",
    [RJ_RATE_DH] = "rate_dh",
    [RJ_RATE_DH_IP] = "rate_dh_ip",
    [RJ_RATE_KEY] = "rate_key",
    [RJ_RATE_DST] = "rate_dst",
    [RJ_NOT_REGISTERED] = "not_registered",
    [RJ_BAD_TOKEN] = "bad_token",
    [RJ_DST_UNKNOWN] = "dst_unknown",
    [RJ_BAD_KIND] = "bad_kind",
};

const char *relay_reject_name(enum relay_reject r)
{
	return (unsigned)r < RJ_COUNT ? reject_names[r] : "?";
}

static unsigned pow2_at_least(unsigned n)
{
	unsigned p = 16;

	while (p < n)
		p <<= 1;
	return p;
}

static uint64_t hash_bytes(const struct relay_table *t, const void *p, size_t n)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, p, n, t->hash_key);
	memcpy(&v, h, sizeof(v));
	return v;
}

static unsigned key_bucket(const struct relay_table *t, const uint8_t key[TSR_KEY_LEN])
{
	return (unsigned)hash_bytes(t, key, TSR_KEY_LEN) & (t->nbuckets - 1);
}

static uint64_t addr_hash(const struct relay_table *t, const struct tsr_addr *a)
{
	uint8_t rec[TSR_ADDR_LEN];

	if (tsr_addr_put(rec, a) != TSR_OK)
		memset(rec, 0, sizeof(rec));
	return hash_bytes(t, rec, sizeof(rec));
}

int relay_table_init(struct relay_table *t, const struct relay_config *cfg)
{
	memset(t, 0, sizeof(*t));
	t->cfg = *cfg;
	t->rate_key = (struct relay_rate){cfg->rate_pps, cfg->rate_pps, (double)cfg->rate_bps};
	t->rate_dh = (struct relay_rate){cfg->dh_rate, cfg->dh_rate, 0};
	t->rate_dh_ip = (struct relay_rate){RELAY_DH_IP_PPS, RELAY_DH_IP_BURST, 0};
	t->rate_cookie = (struct relay_rate){RELAY_COOKIE_PPS, RELAY_COOKIE_PPS, 0};
	t->rate_cookie_ip = (struct relay_rate){RELAY_COOKIE_IP_PPS, RELAY_COOKIE_IP_BURST, 0};
	randombytes_buf(t->hash_key, sizeof(t->hash_key));
	t->nbuckets = pow2_at_least(cfg->max_peers * 2);
	t->regs = calloc(cfg->max_peers, sizeof(*t->regs));
	t->by_key = malloc(t->nbuckets * sizeof(*t->by_key));
	t->by_addr = malloc(t->nbuckets * sizeof(*t->by_addr));
	/* Four conversation partners per peer on average; more go uncounted. */
	t->max_pairs = cfg->max_peers * 4;
	t->npair_buckets = pow2_at_least(t->max_pairs * 2);
	t->pairs = calloc(t->max_pairs, sizeof(*t->pairs));
	t->pair_buckets = malloc(t->npair_buckets * sizeof(*t->pair_buckets));
	t->nip_slots =
	    pow2_at_least(cfg->max_peers * 2 > IP_SLOTS_MIN ? cfg->max_peers * 2 : IP_SLOTS_MIN);
	t->ip_slots = calloc(t->nip_slots, sizeof(*t->ip_slots));
	if (!t->regs || !t->by_key || !t->by_addr || !t->pairs || !t->pair_buckets ||
	    !t->ip_slots) {
		relay_table_free(t);
		return -1;
	}
	for (unsigned i = 0; i < t->nbuckets; i++)
		t->by_key[i] = t->by_addr[i] = -1;
	for (unsigned i = 0; i < t->npair_buckets; i++)
		t->pair_buckets[i] = -1;
	/* The free list of pairs runs through their next fields. */
	for (unsigned i = 0; i < t->max_pairs; i++)
		t->pairs[i].next = i + 1 < t->max_pairs ? (int32_t)(i + 1) : -1;
	t->pair_free = t->max_pairs ? 0 : -1;
	return 0;
}

void relay_table_free(struct relay_table *t)
{
	if (t->regs)
		sodium_memzero(t->regs, t->cfg.max_peers * sizeof(*t->regs));
	free(t->regs);
	free(t->by_key);
	free(t->by_addr);
	free(t->pairs);
	free(t->pair_buckets);
	free(t->ip_slots);
	memset(t, 0, sizeof(*t));
}

bool relay_reg_live(const struct relay_table *t, const struct relay_reg *r, uint64_t now_ns)
{
	return r->used && r->addr.family != 0 && now_ns - r->last_ns < t->cfg.ttl_ns;
}

struct relay_reg *relay_find_any_key(struct relay_table *t, const uint8_t key[TSR_KEY_LEN])
{
	for (int32_t i = t->by_key[key_bucket(t, key)]; i >= 0; i = t->regs[i].next_key) {
		if (memcmp(t->regs[i].key, key, TSR_KEY_LEN) == 0)
			return &t->regs[i];
	}
	return NULL;
}

struct relay_reg *relay_find_key(struct relay_table *t, const uint8_t key[TSR_KEY_LEN],
				 uint64_t now_ns)
{
	struct relay_reg *r = relay_find_any_key(t, key);

	return r && relay_reg_live(t, r, now_ns) ? r : NULL;
}

struct relay_reg *relay_find_sender(struct relay_table *t, const struct tsr_addr *a,
				    const uint8_t token[TSR_TOKEN_LEN], uint64_t now_ns,
				    bool *any_here)
{
	unsigned b = (unsigned)addr_hash(t, a) & (t->nbuckets - 1);
	struct relay_reg *found = NULL;

	*any_here = false;
	for (int32_t i = t->by_addr[b]; i >= 0; i = t->regs[i].next_addr) {
		struct relay_reg *r = &t->regs[i];

		if (!tsr_addr_equal(&r->addr, a) || !relay_reg_live(t, r, now_ns))
			continue;
		*any_here = true;
		/* Every candidate compared: the time says nothing about which matched. */
		if (sodium_memcmp(r->token, token, TSR_TOKEN_LEN) == 0)
			found = r;
	}
	return found;
}

/* Live registrations at a other than r. */
static unsigned keys_at(struct relay_table *t, const struct tsr_addr *a,
			const struct relay_reg *except, uint64_t now_ns)
{
	unsigned b = (unsigned)addr_hash(t, a) & (t->nbuckets - 1), n = 0;

	for (int32_t i = t->by_addr[b]; i >= 0; i = t->regs[i].next_addr) {
		const struct relay_reg *r = &t->regs[i];

		n += r != except && tsr_addr_equal(&r->addr, a) && relay_reg_live(t, r, now_ns);
	}
	return n;
}

static void unlink_chain(struct relay_table *t, int32_t *head, int32_t idx, bool by_key)
{
	for (int32_t *p = head; *p >= 0;) {
		struct relay_reg *r = &t->regs[*p];

		if (*p == idx) {
			*p = by_key ? r->next_key : r->next_addr;
			return;
		}
		p = by_key ? &r->next_key : &r->next_addr;
	}
}

static void unbind_addr(struct relay_table *t, struct relay_reg *r)
{
	if (r->addr.family == 0)
		return;
	unlink_chain(t, &t->by_addr[(unsigned)addr_hash(t, &r->addr) & (t->nbuckets - 1)],
		     (int32_t)(r - t->regs), false);
	memset(&r->addr, 0, sizeof(r->addr));
	memset(&r->sa, 0, sizeof(r->sa));
	r->salen = 0;
}

static void remove_reg(struct relay_table *t, struct relay_reg *r)
{
	unbind_addr(t, r);
	unlink_chain(t, &t->by_key[key_bucket(t, r->key)], (int32_t)(r - t->regs), true);
	sodium_memzero(r, sizeof(*r));
	t->nregs--;
}

struct relay_reg *relay_reg_add(struct relay_table *t, const uint8_t key[TSR_KEY_LEN],
				uint64_t now_ns, uint64_t now_realtime_ns)
{
	struct relay_reg *r = NULL;

	if (t->nregs == t->cfg.max_peers) {
		/* Full: the expired entry with the oldest timestamp makes room. */
		struct relay_reg *victim = NULL;

		for (unsigned i = 0; i < t->cfg.max_peers; i++) {
			struct relay_reg *c = &t->regs[i];

			if (c->used && !relay_reg_live(t, c, now_ns) &&
			    (!victim || c->replay.last_ns < victim->replay.last_ns))
				victim = c;
		}
		if (!victim)
			return NULL;
		/*
		 * Accepted timestamps are at most TSR_MAX_FUTURE_NS ahead, so the
		 * cap changes nothing for honest entries; it is the bound on how
		 * long a stranger's timestamps can keep new keys out.
		 */
		uint64_t floor = victim->replay.last_ns;

		if (floor > now_realtime_ns + TSR_MAX_FUTURE_NS)
			floor = now_realtime_ns + TSR_MAX_FUTURE_NS;
		if (floor > t->replay_floor_ns)
			t->replay_floor_ns = floor;
		remove_reg(t, victim);
	}
	for (unsigned i = 0; i < t->cfg.max_peers; i++) {
		if (!t->regs[i].used) {
			r = &t->regs[i];
			break;
		}
	}
	if (!r)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->used = true;
	memcpy(r->key, key, TSR_KEY_LEN);
	r->replay.last_ns = t->replay_floor_ns;
	r->first_ns = now_ns;
	r->next_addr = -1;
	unsigned b = key_bucket(t, key);

	r->next_key = t->by_key[b];
	t->by_key[b] = (int32_t)(r - t->regs);
	t->nregs++;
	return r;
}

int relay_reg_bind(struct relay_table *t, struct relay_reg *r, const struct sockaddr *sa,
		   socklen_t salen, const struct tsr_addr *a, uint64_t now_ns)
{
	unsigned b;

	if (r->addr.family != 0 && tsr_addr_equal(&r->addr, a)) {
		r->last_ns = now_ns;
		return 0;
	}
	/*
	 * Several keys may share an address (a rekeyed interface); none is ever
	 * pushed out by a newcomer, which is refused once the address is full.
	 */
	if (keys_at(t, a, r, now_ns) >= RELAY_KEYS_PER_ADDR)
		return -ENOSPC;
	r->last_ns = now_ns;
	unbind_addr(t, r);
	r->addr = *a;
	memcpy(&r->sa, sa, (size_t)salen < sizeof(r->sa) ? (size_t)salen : sizeof(r->sa));
	r->salen = salen;
	tsr_send_token(r->token, r->k, a);
	b = (unsigned)addr_hash(t, a) & (t->nbuckets - 1);
	r->next_addr = t->by_addr[b];
	t->by_addr[b] = (int32_t)(r - t->regs);
	return 1;
}

static void remove_pair(struct relay_table *t, int32_t idx)
{
	struct relay_pair *p = &t->pairs[idx];
	uint8_t both[2 * TSR_KEY_LEN];

	memcpy(both, p->src, TSR_KEY_LEN);
	memcpy(both + TSR_KEY_LEN, p->dst, TSR_KEY_LEN);
	for (int32_t *q = &t->pair_buckets[(unsigned)hash_bytes(t, both, sizeof(both)) &
					   (t->npair_buckets - 1)];
	     *q >= 0; q = &t->pairs[*q].next) {
		if (*q == idx) {
			*q = p->next;
			break;
		}
	}
	memset(p, 0, sizeof(*p));
	p->next = t->pair_free;
	t->pair_free = idx;
	t->npairs--;
}

void relay_table_expire(struct relay_table *t, uint64_t now_ns, uint64_t now_realtime_ns)
{
	for (unsigned i = 0; i < t->cfg.max_peers; i++) {
		struct relay_reg *r = &t->regs[i];

		if (!r->used || relay_reg_live(t, r, now_ns))
			continue;
		if (r->addr.family != 0) {
			unbind_addr(t, r);
			t->expired++;
		}
		/* Kept until a replay of its last REGISTER would fail the clock check. */
		if (now_realtime_ns > r->replay.last_ns + TSR_MAX_CLOCK_SKEW_NS)
			remove_reg(t, r);
	}
	for (unsigned i = 0; i < t->max_pairs; i++) {
		if (t->pairs[i].used && now_ns - t->pairs[i].last_ns > PAIR_IDLE_NS)
			remove_pair(t, (int32_t)i);
	}
}

bool relay_bucket_take(const struct relay_rate *rate, struct relay_bucket *b, size_t bytes,
		       uint64_t now_ns)
{
	double burst_f = rate->burst, burst_b = rate->bps;

	if (b->last_ns == 0) {
		b->frames = burst_f;
		b->bytes = burst_b;
	} else if (now_ns > b->last_ns) {
		double dt = (double)(now_ns - b->last_ns) / 1e9;

		b->frames += dt * rate->pps;
		b->bytes += dt * rate->bps;
		if (b->frames > burst_f)
			b->frames = burst_f;
		if (b->bytes > burst_b)
			b->bytes = burst_b;
	}
	b->last_ns = now_ns ? now_ns : 1;
	/* bps 0: a frame budget only (bytes are not counted). */
	if (b->frames < 1.0 || (rate->bps > 0 && b->bytes < (double)bytes))
		return false;
	b->frames -= 1.0;
	b->bytes -= (double)bytes;
	return true;
}

struct relay_ip_slot *relay_ip_slot(struct relay_table *t, const struct tsr_addr *a,
				    uint64_t now_ns)
{
	uint8_t prefix[8] = {0};
	unsigned set;
	struct relay_ip_slot *w0, *w1, *s;

	/* IPv4: the address; IPv6: the /64 a single subscriber usually gets. */
	memcpy(prefix, a->addr, a->family == 4 ? 4 : 8);
	{
		uint8_t in[9];

		in[0] = a->family;
		memcpy(in + 1, prefix, 8);
		set = (unsigned)hash_bytes(t, in, sizeof(in)) & (t->nip_slots - 1) & ~1u;
	}
	/* Two ways per set; a miss replaces the way used least recently. */
	w0 = &t->ip_slots[set];
	w1 = &t->ip_slots[set + 1];
	if (w0->family == a->family && memcmp(w0->prefix, prefix, 8) == 0)
		s = w0;
	else if (w1->family == a->family && memcmp(w1->prefix, prefix, 8) == 0)
		s = w1;
	else {
		s = w0->last_ns <= w1->last_ns ? w0 : w1;
		t->ip_slot_evictions += s->family != 0;
		memset(s, 0, sizeof(*s));
		s->family = a->family;
		memcpy(s->prefix, prefix, 8);
	}
	s->last_ns = now_ns;
	return s;
}

struct relay_pair *relay_pair_get(struct relay_table *t, const uint8_t src[TSR_KEY_LEN],
				  const uint8_t dst[TSR_KEY_LEN])
{
	uint8_t both[2 * TSR_KEY_LEN];
	unsigned b;
	int32_t i;
	struct relay_pair *p;

	memcpy(both, src, TSR_KEY_LEN);
	memcpy(both + TSR_KEY_LEN, dst, TSR_KEY_LEN);
	b = (unsigned)hash_bytes(t, both, sizeof(both)) & (t->npair_buckets - 1);
	for (i = t->pair_buckets[b]; i >= 0; i = t->pairs[i].next) {
		p = &t->pairs[i];
		if (memcmp(p->src, src, TSR_KEY_LEN) == 0 && memcmp(p->dst, dst, TSR_KEY_LEN) == 0)
			return p;
	}
	if (t->pair_free < 0)
		return NULL;
	i = t->pair_free;
	p = &t->pairs[i];
	t->pair_free = p->next;
	memset(p, 0, sizeof(*p));
	p->used = true;
	memcpy(p->src, src, TSR_KEY_LEN);
	memcpy(p->dst, dst, TSR_KEY_LEN);
	p->next = t->pair_buckets[b];
	t->pair_buckets[b] = i;
	t->npairs++;
	return p;
}

void relay_pair_count(struct relay_table *t, struct relay_pair *p, size_t bytes, uint64_t now_ns)
{
	if (!p) {
		t->pairs_untracked++;
		return;
	}
	p->packets++;
	p->bytes += bytes;
	p->last_ns = now_ns;
}

static const char *b64(const uint8_t key[TSR_KEY_LEN], char *buf, size_t len)
{
	return sodium_bin2base64(buf, len, key, TSR_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
}

void relay_table_status(struct relay_table *t, FILE *f, uint64_t now_ns)
{
	char k1[sodium_base64_ENCODED_LEN(TSR_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];
	char k2[sizeof(k1)], addr[TSR_ADDR_STRLEN];
	unsigned live = 0;

	for (unsigned i = 0; i < t->cfg.max_peers; i++)
		live += relay_reg_live(t, &t->regs[i], now_ns);
	fprintf(f, "registrations %u entries %u max %u\n", live, t->nregs, t->cfg.max_peers);
	for (unsigned i = 0; i < t->cfg.max_peers; i++) {
		const struct relay_reg *r = &t->regs[i];

		if (!relay_reg_live(t, r, now_ns))
			continue;
		fprintf(f, "key %s addr %s age_s %llu last_register_s %llu\n",
			b64(r->key, k1, sizeof(k1)), tsr_addr_format(&r->addr, addr, sizeof(addr)),
			(unsigned long long)((now_ns - r->first_ns) / NS_PER_S),
			(unsigned long long)((now_ns - r->last_ns) / NS_PER_S));
	}
	for (unsigned i = 0; i < t->max_pairs; i++) {
		const struct relay_pair *p = &t->pairs[i];

		if (!p->used)
			continue;
		fprintf(f, "pair %s -> %s packets %llu bytes %llu\n", b64(p->src, k1, sizeof(k1)),
			b64(p->dst, k2, sizeof(k2)), (unsigned long long)p->packets,
			(unsigned long long)p->bytes);
	}
	fprintf(f, "stat registers %llu\nstat registers_new %llu\nstat moved %llu\n",
		(unsigned long long)t->registers, (unsigned long long)t->registers_new,
		(unsigned long long)t->moved);
	fprintf(f, "stat expired %llu\nstat forwarded %llu\nstat forwarded_bytes %llu\n",
		(unsigned long long)t->expired, (unsigned long long)t->forwarded,
		(unsigned long long)t->forwarded_bytes);
	fprintf(f, "stat send_errors %llu\nstat pairs_untracked %llu\n",
		(unsigned long long)t->send_errors, (unsigned long long)t->pairs_untracked);
	fprintf(f, "stat rx_datagrams %llu\nstat rx_frames %llu\nstat tx_datagrams %llu\n",
		(unsigned long long)t->rx_datagrams, (unsigned long long)t->rx_frames,
		(unsigned long long)t->tx_datagrams);
	fprintf(f, "stat dh %llu\nstat cookies_sent %llu\nstat cookies_ok %llu\n",
		(unsigned long long)t->dh, (unsigned long long)t->cookies_sent,
		(unsigned long long)t->cookies_ok);
	fprintf(f, "stat ip_slot_evictions %llu\nstat replay_floor_ns %llu\n",
		(unsigned long long)t->ip_slot_evictions, (unsigned long long)t->replay_floor_ns);
	for (unsigned i = 0; i < RJ_COUNT; i++)
		fprintf(f, "reject %s %llu\n", reject_names[i], (unsigned long long)t->rejects[i]);
}
