// SPDX-License-Identifier: MIT
/* Locked, undumped, wiped memory for key material (see secmem.h). */
#include "secmem.h"

#include <errno.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

#define CHUNK_SIZE (64U << 10)

/*
 * Under AddressSanitizer a free slot is poisoned, so that a use after free
 * of a peer or keypair is still caught although they no longer come from
 * malloc; and every mapping is a LeakSanitizer root region, since a device,
 * peer or keypair here points at malloc'd memory that LeakSanitizer would
 * otherwise report as leaked (it scans no anonymous mapping of ours).
 */
#if defined(__SANITIZE_ADDRESS__)
#define TS_SECMEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TS_SECMEM_ASAN 1
#endif
#endif
#ifdef TS_SECMEM_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#define poison(p, n)	  ASAN_POISON_MEMORY_REGION(p, n)
#define unpoison(p, n)	  ASAN_UNPOISON_MEMORY_REGION(p, n)
#define lsan_root(p, n)	  __lsan_register_root_region(p, n)
#define lsan_unroot(p, n) __lsan_unregister_root_region(p, n)
#else
#define poison(p, n)	  ((void)(p), (void)(n))
#define unpoison(p, n)	  ((void)(p), (void)(n))
#define lsan_root(p, n)	  ((void)(p), (void)(n))
#define lsan_unroot(p, n) ((void)(p), (void)(n))
#endif

struct ts_secmem_slot {
	struct ts_secmem_slot *next;
};

static size_t page_round(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (size + page - 1) & ~(page - 1);
}

void *ts_secmem_alloc(size_t size)
{
	static atomic_bool warned;
	size_t len = page_round(size ? size : 1);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Both are best effort: a key in unlocked memory still beats no key. */
	madvise(p, len, MADV_DONTDUMP);
	if (mlock(p, len) < 0 && !atomic_exchange(&warned, true))
		ts_warn("cannot lock key memory (%s): raise RLIMIT_MEMLOCK; keys may reach swap",
			strerror(errno));
	lsan_root(p, len);
	return p; /* anonymous mappings start zeroed */
}

void ts_secmem_free(void *p, size_t size)
{
	size_t len = page_round(size ? size : 1);

	if (!p)
		return;
	lsan_unroot(p, len);
	sodium_memzero(p, len);
	munlock(p, len);
	munmap(p, len);
}

void *ts_secmem_pool_zalloc(struct ts_secmem_pool *pool)
{
	void *p = NULL;

	pthread_mutex_lock(&pool->lock);
	if (pool->free) {
		struct ts_secmem_slot *s = pool->free;

		unpoison(s, pool->slot);
		pool->free = s->next;
		p = s;
	} else {
		if (pool->chunk_left < pool->slot) {
			/* The rest of the old chunk (less than a slot) stays unused. */
			pool->chunk = ts_secmem_alloc(CHUNK_SIZE);
			pool->chunk_left = pool->chunk ? CHUNK_SIZE : 0;
			if (pool->chunk)
				pool->chunks++;
		}
		if (pool->chunk_left >= pool->slot) {
			p = pool->chunk + (CHUNK_SIZE - pool->chunk_left);
			pool->chunk_left -= pool->slot;
		}
	}
	pthread_mutex_unlock(&pool->lock);
	if (p)
		memset(p, 0, pool->size); /* a reused slot still has the free-list link */
	return p;
}

void ts_secmem_pool_free(struct ts_secmem_pool *pool, void *p)
{
	struct ts_secmem_slot *s = p;

	if (!p)
		return;
	sodium_memzero(p, pool->slot);
	pthread_mutex_lock(&pool->lock);
	s->next = pool->free;
	pool->free = s;
	poison(s, pool->slot);
	pthread_mutex_unlock(&pool->lock);
}
