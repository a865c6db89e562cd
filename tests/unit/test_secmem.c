// SPDX-License-Identifier: MIT
/*
 * Tests of core/base/secmem.c: what a user of the pools relies on.  Slots
 * are zeroed, 64-byte aligned and distinct; a freed slot is wiped (checked
 * through the pool's free list, the only place it can still be seen) and
 * reused before a new chunk is made; objects are locked (as far as
 * RLIMIT_MEMLOCK allows) and out of core dumps, as /proc/self/smaps says.
 */
#include "secmem.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

struct obj {
	uint8_t key[32];
	uint64_t more[37];
}; /* 328 bytes: slots of 384 */

static struct ts_secmem_pool pool = TS_SECMEM_POOL_INIT(sizeof(struct obj));

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* The smaps flags of the mapping holding p: "lo" (locked) and "dd" (dontdump). */
static bool smaps_flags(const void *p, bool *locked, bool *dontdump)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	bool in = false, found = false;

	*locked = *dontdump = false;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		/* A mapping's first line: "lo-hi perms ..."; no other line parses so. */
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			*locked = strstr(line, " lo") != NULL;
			*dontdump = strstr(line, " dd") != NULL;
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

int main(void)
{
	struct obj *a[400];
	bool locked, dontdump;
	size_t chunks;

	CHECK(pool.slot == 384);
	for (size_t i = 0; i < 400; i++) {
		a[i] = ts_secmem_pool_zalloc(&pool);
		CHECK(a[i] && ((uintptr_t)a[i] & 63) == 0 && all_zero(a[i], sizeof(*a[i])));
		if (!a[i])
			return 1;
		memset(a[i], 0xa5, sizeof(*a[i]));
		for (size_t j = 0; j < i; j++)
			CHECK((uint8_t *)a[j] + pool.slot <= (uint8_t *)a[i] ||
			      (uint8_t *)a[i] + pool.slot <= (uint8_t *)a[j]);
	}
	chunks = pool.chunks;
	CHECK_MSG(chunks == (400 + 169) / 170, "%zu chunks for 400 slots of 384", chunks);
	CHECK(smaps_flags(a[0], &locked, &dontdump));
	CHECK(dontdump);
	printf("test_secmem: pool chunk locked: %s\n", locked ? "yes" : "no (RLIMIT_MEMLOCK)");

	/* Freed: wiped but for the free-list link; then reused, zeroed, no new chunk. */
	for (size_t i = 0; i < 400; i += 2)
		ts_secmem_pool_free(&pool, a[i]);
#ifndef __SANITIZE_ADDRESS__
	CHECK(all_zero((uint8_t *)a[398] + sizeof(void *), pool.slot - sizeof(void *)));
#endif
	for (size_t i = 0; i < 400; i += 2) {
		a[i] = ts_secmem_pool_zalloc(&pool);
		CHECK(a[i] && all_zero(a[i], sizeof(*a[i])));
	}
	CHECK(pool.chunks == chunks);
	for (size_t i = 0; i < 400; i++)
		ts_secmem_pool_free(&pool, a[i]);

	/* One object in pages of its own. */
	uint8_t *big = ts_secmem_alloc(10000);

	CHECK(big && ((uintptr_t)big & 4095) == 0 && all_zero(big, 10000));
	CHECK(smaps_flags(big, &locked, &dontdump) && dontdump);
	ts_secmem_free(big, 10000);
	ts_secmem_free(NULL, 1);
	ts_secmem_pool_free(&pool, NULL);
	printf("test_secmem: %s\n", failures ? "FAILED" : "all passed");
	return failures ? 1 : 0;
}
