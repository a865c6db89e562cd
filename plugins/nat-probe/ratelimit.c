// SPDX-License-Identifier: MIT
/*
 * Token buckets and the per-destination table (ratelimit.h).
 */
#include "ratelimit.h"

#include <sodium.h>
#include <string.h>

static void refill(struct np_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ns)
{
	uint64_t cap = (uint64_t)burst * 1000;

	if (!b->init) {
		b->init = true;
		b->tokens_milli = cap;
		b->last_ns = now_ns;
		return;
	}
	if (now_ns > b->last_ns) {
		uint64_t dt = now_ns - b->last_ns;
		/* Clamp before multiplying: an hour idle is a full bucket anyway. */
		uint64_t add = (dt > 3600000000000ULL ? 3600000000000ULL : dt) * rate / 1000000;

		b->tokens_milli = b->tokens_milli + add > cap ? cap : b->tokens_milli + add;
		b->last_ns = now_ns;
	}
}

bool np_bucket_take(struct np_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ns)
{
	refill(b, rate, burst, now_ns);
	if (b->tokens_milli < 1000)
		return false;
	b->tokens_milli -= 1000;
	return true;
}

void np_dest_init(struct np_dest_table *t)
{
	memset(t, 0, sizeof(*t));
	randombytes_buf(t->key, sizeof(t->key));
}

/* What identifies a destination: family, then the IPv4 address or the IPv6 /64. */
static size_t dest_id(const struct tsr_addr *a, uint8_t id[17])
{
	size_t idlen = a->family == 4 ? 5 : 9;

	memset(id, 0, 17);
	id[0] = a->family;
	memcpy(id + 1, a->addr, idlen - 1);
	return idlen;
}

size_t np_dest_slot(const struct np_dest_table *t, const struct tsr_addr *a)
{
	uint8_t id[17], h[8];
	uint64_t slot;

	crypto_shorthash(h, id, dest_id(a, id), t->key);
	memcpy(&slot, h, sizeof(slot));
	return (size_t)(slot % NP_DEST_SLOTS);
}

bool np_dest_take(struct np_dest_table *t, const struct tsr_addr *a, uint32_t rate, uint32_t burst,
		  uint64_t now_ns)
{
	uint8_t id[17];
	size_t slot = np_dest_slot(t, a);

	dest_id(a, id);
	if (!t->slot[slot].used || memcmp(t->slot[slot].id, id, sizeof(id))) {
		struct np_bucket *b = &t->slot[slot].b;

		if (t->slot[slot].used) {
			refill(b, rate, burst, now_ns);
			if (b->tokens_milli < (uint64_t)burst * 1000)
				return np_bucket_take(b, rate, burst, now_ns);
		}
		t->slot[slot].used = true;
		memcpy(t->slot[slot].id, id, sizeof(id));
		memset(b, 0, sizeof(*b));
	}
	return np_bucket_take(&t->slot[slot].b, rate, burst, now_ns);
}
