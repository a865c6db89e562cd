/* SPDX-License-Identifier: MIT */
/*
 * The engine's allocator for state that configuration creates (peers,
 * keypairs, allowed-IPs nodes, index entries), with one test hook: make
 * the n-th allocation from now fail, so tests can walk every -ENOMEM path
 * of ts_device_apply and check that a failure changes nothing.
 */
#ifndef TS_ALLOC_H
#define TS_ALLOC_H

#include <stddef.h>

/* calloc(1, size), or NULL (also when the test hook says so). */
void *ts_zalloc(size_t size);

struct ts_secmem_pool;
/*
 * The same for objects that hold key material (peers, keypairs): a slot of
 * a locked, undumped pool (base/secmem.h), or NULL.  Free with
 * ts_secmem_pool_free, which wipes it.
 */
void *ts_zalloc_secret(struct ts_secmem_pool *pool);

/*
 * Tests only: the n-th ts_zalloc from now returns NULL (n == 0: none).
 * Process-wide; returns how many allocations were left before the failure
 * (0 once it has happened), so a test can tell whether it was reached.
 */
unsigned ts_debug_fail_alloc(unsigned n);

#endif
