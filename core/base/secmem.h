/* SPDX-License-Identifier: MIT */
/*
 * Memory for state that holds key material: locked in RAM (mlock, so never
 * written to swap), left out of core dumps (MADV_DONTDUMP), and wiped when
 * freed.  Two shapes:
 * - ts_secmem_alloc/free: one object in its own pages (the device, which
 *   holds the static private key and the cookie secrets);
 * - pools of fixed-size slots carved from 64 KiB chunks (peers, with their
 *   preshared key and handshake state; keypairs, with the session keys):
 *   a slot costs its size rounded up to 64 bytes, no guard pages, so ten
 *   thousand peers cost no more than they would from malloc.  Chunks are
 *   kept once made (a freed slot is wiped and reused), bounded by the peak.
 * When the locked-memory limit (RLIMIT_MEMLOCK) is reached, memory is used
 * unlocked, still wiped and out of core dumps, with one warning in the log.
 */
#ifndef TS_SECMEM_H
#define TS_SECMEM_H

#include <pthread.h>
#include <stddef.h>

/* Zeroed, page-aligned, or NULL. */
void *ts_secmem_alloc(size_t size);
/* Wipes and unmaps; p NULL does nothing.  size as given to ts_secmem_alloc. */
void ts_secmem_free(void *p, size_t size);

struct ts_secmem_slot;
struct ts_secmem_pool {
	size_t size; /* of an object, as given */
	size_t slot; /* size rounded up to 64 */
	pthread_mutex_t lock;
	struct ts_secmem_slot *free; /* wiped slots ready for reuse */
	unsigned char *chunk;	     /* the chunk being carved, and its unused rest */
	size_t chunk_left;
	size_t chunks; /* made so far (statistics, tests) */
};

#define TS_SECMEM_POOL_INIT(objsize)                                                               \
	{                                                                                          \
		.size = (objsize), .slot = ((objsize) + 63) & ~(size_t)63,                         \
		.lock = PTHREAD_MUTEX_INITIALIZER                                                  \
	}

/* A zeroed slot of pool->size bytes (64-byte aligned), or NULL. */
void *ts_secmem_pool_zalloc(struct ts_secmem_pool *pool);
/* Wipes the slot and keeps it for reuse; p NULL does nothing. */
void ts_secmem_pool_free(struct ts_secmem_pool *pool, void *p);

#endif
