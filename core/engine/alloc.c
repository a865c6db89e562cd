// SPDX-License-Identifier: MIT
/* ts_zalloc and its failure-injection hook (see alloc.h). */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "secmem.h"

static atomic_uint fail_countdown;

unsigned ts_debug_fail_alloc(unsigned n)
{
	return atomic_exchange(&fail_countdown, n);
}

void *ts_zalloc(size_t size)
{
	unsigned n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);

	/* The hook is for tests on one thread: a plain countdown is enough. */
	if (n && atomic_fetch_sub(&fail_countdown, 1) == 1)
		return NULL;
	return calloc(1, size);
}

void *ts_zalloc_secret(struct ts_secmem_pool *pool)
{
	unsigned n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);

	if (n && atomic_fetch_sub(&fail_countdown, 1) == 1)
		return NULL;
	return ts_secmem_pool_zalloc(pool);
}
