// SPDX-License-Identifier: MIT
/* The debug plugins' record ring: see ring.h. */
#include "ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int ring_init(struct ring *r, size_t size)
{
	pthread_condattr_t ca;
	int ret;

	memset(r, 0, sizeof(*r));
	if (size < 65536 || (size & (size - 1)))
		return -EINVAL;
	r->buf = calloc(1, size);
	if (!r->buf)
		return -ENOMEM;
	r->size = size;
	ret = pthread_mutex_init(&r->mu, NULL);
	if (ret)
		goto fail_buf;
	ret = pthread_condattr_init(&ca);
	if (ret)
		goto fail_mu;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	ret = pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (ret)
		goto fail_mu;
	return 0;
fail_mu:
	pthread_mutex_destroy(&r->mu);
fail_buf:
	free(r->buf);
	r->buf = NULL;
	return -ret;
}

void ring_free(struct ring *r)
{
	if (!r->buf)
		return;
	/* Secrets records are wiped as they are consumed; wipe the rest anyway. */
	explicit_bzero(r->buf, r->size);
	free(r->buf);
	r->buf = NULL;
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
}

void ring_read(const struct ring *r, uint64_t pos, void *dst, size_t n)
{
	size_t off = (size_t)(pos & (r->size - 1));
	size_t first = r->size - off < n ? r->size - off : n;

	memcpy(dst, r->buf + off, first);
	memcpy((uint8_t *)dst + first, r->buf, n - first);
}

void ring_write(struct ring *r, uint64_t pos, const void *src, size_t n)
{
	size_t off = (size_t)(pos & (r->size - 1));
	size_t first = r->size - off < n ? r->size - off : n;

	memcpy(r->buf + off, src, first);
	memcpy(r->buf, (const uint8_t *)src + first, n - first);
}

void ring_wipe(struct ring *r, uint64_t pos, size_t n)
{
	size_t off = (size_t)(pos & (r->size - 1));
	size_t first = r->size - off < n ? r->size - off : n;

	explicit_bzero(r->buf + off, first);
	explicit_bzero(r->buf, n - first);
}

bool ring_put(struct ring *r, struct rec *hdr, const void *a, size_t alen, const void *b,
	      size_t blen)
{
	size_t total = sizeof(*hdr) + alen + blen;
	bool wake;
	uint64_t pos;

	/* A record never exceeds a quarter of the ring (the callers cap their payloads). */
	if (alen > r->size / 4 || blen > r->size / 4 || total > r->size / 4) {
		atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
		return false;
	}
	total = (total + 7) & ~(size_t)7;
	hdr->size = (uint32_t)total;
	pthread_mutex_lock(&r->mu);
	if (r->stop || total > r->size - (size_t)(r->head - r->tail)) {
		pthread_mutex_unlock(&r->mu);
		atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
		return false;
	}
	pos = r->head;
	ring_write(r, pos, hdr, sizeof(*hdr));
	if (alen)
		ring_write(r, pos + sizeof(*hdr), a, alen);
	if (blen)
		ring_write(r, pos + sizeof(*hdr) + alen, b, blen);
	r->head = pos + total;
	/*
	 * The writer polls every few milliseconds anyway; waking it costs a
	 * futex call, so only do it when the ring is filling up.
	 */
	wake = r->waiting && r->head - r->tail >= r->size / 8;
	if (wake)
		r->waiting = false;
	pthread_mutex_unlock(&r->mu);
	if (wake)
		pthread_cond_signal(&r->cv);
	return true;
}

bool ring_wait(struct ring *r, unsigned timeout_ms, uint64_t *start, uint64_t *end)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->mu);
	if (!r->stop && r->head - r->tail < r->size / 8 && timeout_ms) {
		r->waiting = true;
		pthread_cond_timedwait(&r->cv, &r->mu, &ts);
		r->waiting = false;
	}
	*start = r->tail;
	*end = r->head;
	stop = r->stop;
	pthread_mutex_unlock(&r->mu);
	return stop;
}

void ring_release(struct ring *r, uint64_t new_tail)
{
	pthread_mutex_lock(&r->mu);
	r->tail = new_tail;
	pthread_mutex_unlock(&r->mu);
}

void ring_stop(struct ring *r)
{
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_mutex_unlock(&r->mu);
	pthread_cond_signal(&r->cv);
}
