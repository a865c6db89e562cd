// SPDX-License-Identifier: MIT
/*
 * The handshake rate limiter's table and token buckets (see ratelimiter.h).
 *
 * Tokens are nanoseconds: a packet costs NSEC_PER_SEC / PACKETS_PER_SECOND
 * and a bucket holds at most PACKETS_BURST packets' worth.  Elapsed time
 * refills it, so no timer is needed; a sweep once a second drops the
 * entries idle for longer than a second.
 */
#include "ratelimiter.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define PACKET_COST (NSEC_PER_SEC / TS_RATELIMIT_PACKETS_PER_SECOND)
#define TOKEN_MAX   (PACKET_COST * TS_RATELIMIT_PACKETS_BURST)

_Static_assert(crypto_shorthash_KEYBYTES == 16, "ratelimiter.h sizes the key for SipHash");

/* What identifies a source: its family and address (IPv6: the /64 only). */
struct source {
	uint8_t bytes[9]; /* family tag, then 4 or 8 address bytes */
	uint8_t len;
};

struct ts_ratelimiter_entry {
	struct ts_ratelimiter_entry *next;
	struct source src;
	uint64_t last_ns;
	uint64_t tokens;
};

static bool source_of(const union ts_endpoint *ep, struct source *s)
{
	memset(s, 0, sizeof(*s));
	if (ep->sa.sa_family == AF_INET) {
		s->bytes[0] = 4;
		memcpy(s->bytes + 1, &ep->in.sin_addr, 4);
		s->len = 5;
		return true;
	}
	if (ep->sa.sa_family == AF_INET6) {
		s->bytes[0] = 6;
		memcpy(s->bytes + 1, &ep->in6.sin6_addr, 8);
		s->len = 9;
		return true;
	}
	return false;
}

static size_t bucket_of(const struct ts_ratelimiter *rl, const struct source *s)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, s->bytes, s->len, rl->key);
	memcpy(&v, h, sizeof(v));
	return (size_t)v & (rl->n_buckets - 1);
}

int ts_ratelimiter_init(struct ts_ratelimiter *rl, size_t max_entries)
{
	size_t n = 16;

	memset(rl, 0, sizeof(*rl));
	rl->max_entries = max_entries ? max_entries : TS_RATELIMIT_MAX_ENTRIES;
	/* About eight sources a chain when full. */
	while (n < rl->max_entries / 8 && n < ((size_t)1 << 20))
		n <<= 1;
	rl->buckets = calloc(n, sizeof(*rl->buckets));
	if (!rl->buckets)
		return -ENOMEM;
	rl->n_buckets = n;
	crypto_shorthash_keygen(rl->key);
	pthread_mutex_init(&rl->lock, NULL);
	return 0;
}

void ts_ratelimiter_destroy(struct ts_ratelimiter *rl)
{
	if (!rl->buckets)
		return;
	for (size_t i = 0; i < rl->n_buckets; i++) {
		struct ts_ratelimiter_entry *e = rl->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(rl->buckets);
	rl->buckets = NULL;
	pthread_mutex_destroy(&rl->lock);
	sodium_memzero(rl->key, sizeof(rl->key));
}

/* Lock held: forget the sources idle for more than a second. */
static void gc(struct ts_ratelimiter *rl, uint64_t now)
{
	for (size_t i = 0; i < rl->n_buckets; i++) {
		struct ts_ratelimiter_entry **pp = &rl->buckets[i], *e;

		while ((e = *pp)) {
			if (ts_age_ns(now, e->last_ns) > NSEC_PER_SEC) {
				*pp = e->next;
				free(e);
				rl->count--;
			} else {
				pp = &e->next;
			}
		}
	}
	rl->last_gc_ns = now;
}

bool ts_ratelimiter_allow(struct ts_ratelimiter *rl, const union ts_endpoint *src, uint64_t now_ns)
{
	struct ts_ratelimiter_entry *e;
	struct source s;
	bool ok = false;
	size_t b;

	if (!source_of(src, &s))
		return false;
	pthread_mutex_lock(&rl->lock);
	if (ts_age_ns(now_ns, rl->last_gc_ns) >= NSEC_PER_SEC)
		gc(rl, now_ns);
	b = bucket_of(rl, &s);
	for (e = rl->buckets[b]; e; e = e->next)
		if (e->src.len == s.len && memcmp(e->src.bytes, s.bytes, s.len) == 0)
			break;
	if (e) {
		/* A time stored after ours was read refills nothing. */
		uint64_t elapsed = ts_age_ns(now_ns, e->last_ns);

		e->tokens = elapsed >= TOKEN_MAX - e->tokens ? TOKEN_MAX : e->tokens + elapsed;
		e->last_ns = now_ns;
		if (e->tokens >= PACKET_COST) {
			e->tokens -= PACKET_COST;
			ok = true;
		}
	} else if (rl->count < rl->max_entries && (e = calloc(1, sizeof(*e)))) {
		e->src = s;
		e->last_ns = now_ns;
		e->tokens = TOKEN_MAX - PACKET_COST;
		e->next = rl->buckets[b];
		rl->buckets[b] = e;
		rl->count++;
		ok = true;
	}
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

size_t ts_ratelimiter_count(struct ts_ratelimiter *rl)
{
	size_t n;

	pthread_mutex_lock(&rl->lock);
	n = rl->count;
	pthread_mutex_unlock(&rl->lock);
	return n;
}
