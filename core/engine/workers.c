// SPDX-License-Identifier: MIT
/*
 * The crypto pool and its ordered pipes (workers.h says how a job moves).
 *
 * One mutex, pool->lock, guards every pipe's ring indices and slot states
 * and the pool's own counters; it is held for a few loads and stores per
 * batch of up to TS_BATCH packets, never across a job.  Wake-ups are
 * spent only where someone sleeps: a worker is signalled when a job is
 * queued and a worker is idle; producers waiting for room are woken when
 * a job is released.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rcu.h"
#include "workers.h"

#define TS_POOL_MAX_DEPTH 16

enum job_state {
	JOB_FREE,
	JOB_QUEUED, /* filled, waiting for crypt */
	JOB_CRYPT,  /* a thread is crypting it */
	JOB_DONE,   /* waiting for release, in order */
};

struct ts_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;			  /* workers wait here for queued jobs */
	pthread_cond_t space;			  /* producers wait here for a release */
	struct ts_pipe *pipes[TS_POOL_MAX_PIPES]; /* lock */
	unsigned next_pipe;			  /* lock: where the next claim looks first */
	unsigned idle;				  /* lock: workers waiting on work */
	unsigned waiting;			  /* lock: producers waiting on space */
	bool stopping;				  /* lock */
	bool manual;				  /* no threads, but pipes queue (tests) */
	unsigned depth;
	struct ts_pool_thread_ops thread;
	unsigned n_threads, n_started;
	pthread_t threads[TS_POOL_MAX_THREADS];
};

/* pool->lock held: take p's oldest queued job for crypt. */
static bool claim_locked(struct ts_pipe *p, unsigned *slot)
{
	if (p->crypt_next == p->tail)
		return false;
	*slot = (unsigned)(p->crypt_next++ % p->cap);
	p->state[*slot] = JOB_CRYPT;
	return true;
}

/* pool->lock held: a queued job of any pipe, the pipes taken in turn. */
static bool claim_any_locked(struct ts_pool *pool, struct ts_pipe **pp, unsigned *slot)
{
	for (unsigned i = 0; i < TS_POOL_MAX_PIPES; i++) {
		unsigned k = (pool->next_pipe + i) % TS_POOL_MAX_PIPES;
		struct ts_pipe *p = pool->pipes[k];

		if (p && claim_locked(p, slot)) {
			pool->next_pipe = (k + 1) % TS_POOL_MAX_PIPES;
			*pp = p;
			return true;
		}
	}
	return false;
}

/*
 * pool->lock held on entry and on return.  slot's crypt is done: mark it,
 * and unless another thread is releasing, release the head of the ring for
 * as long as it is done.  The releasing thread sees every DONE set while it
 * works, since both happen under the lock: no job is left behind.
 */
static void complete_locked(struct ts_pipe *p, unsigned slot)
{
	struct ts_pool *pool = p->pool;

	p->state[slot] = JOB_DONE;
	if (p->releasing)
		return;
	p->releasing = true;
	while (p->head != p->tail && p->state[p->head % p->cap] == JOB_DONE) {
		unsigned s = (unsigned)(p->head % p->cap);

		pthread_mutex_unlock(&pool->lock);
		p->ops->release(p->ctx, s);
		pthread_mutex_lock(&pool->lock);
		p->state[s] = JOB_FREE;
		p->head++;
		if (pool->waiting)
			pthread_cond_broadcast(&pool->space);
	}
	p->releasing = false;
}

/* pool->lock held on entry and on return: crypt a claimed job, then complete it. */
static void run_locked(struct ts_pipe *p, unsigned slot)
{
	pthread_mutex_unlock(&p->pool->lock);
	p->ops->crypt(p->ctx, slot);
	pthread_mutex_lock(&p->pool->lock);
	complete_locked(p, slot);
}

static void *worker_main(void *arg)
{
	struct ts_pool *pool = arg;
	struct ts_pipe *p;
	unsigned slot;
	bool online = false;

	if (!pool->thread.begin(pool->thread.arg, "crypt"))
		return NULL;
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		if (claim_any_locked(pool, &p, &slot)) {
			if (!online) {
				ts_rcu_online();
				online = true;
			}
			run_locked(p, slot);
			pthread_mutex_unlock(&pool->lock);
			ts_rcu_quiescent();
			pthread_mutex_lock(&pool->lock);
			continue;
		}
		if (pool->stopping)
			break;
		if (online) {
			ts_rcu_offline();
			online = false;
		}
		pool->idle++;
		pthread_cond_wait(&pool->work, &pool->lock);
		pool->idle--;
	}
	pthread_mutex_unlock(&pool->lock);
	pool->thread.end();
	return NULL;
}

static int pool_alloc(struct ts_pool **out)
{
	struct ts_pool *pool = calloc(1, sizeof(*pool));

	if (!pool)
		return -ENOMEM;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pthread_cond_init(&pool->space, NULL);
	*out = pool;
	return 0;
}

int ts_pool_create(struct ts_pool **out, unsigned n, const struct ts_pool_thread_ops *thread)
{
	struct ts_pool *pool;
	int ret;

	if (n > TS_POOL_MAX_THREADS)
		n = TS_POOL_MAX_THREADS;
	if ((ret = pool_alloc(&pool)) < 0)
		return ret;
	pool->thread = *thread;
	pool->n_threads = n;
	/*
	 * Room for every worker to crypt a job while the producer fills the
	 * next and the head waits for release: more only holds more memory
	 * (a job's buffers are up to 64 packets).  Past 16, the two pipes'
	 * 32 jobs keep that many workers busy.
	 */
	pool->depth = n ? (n + 2 < TS_POOL_MAX_DEPTH ? n + 2 : TS_POOL_MAX_DEPTH) : 1;
	for (unsigned i = 0; i < n; i++) {
		ret = pthread_create(&pool->threads[i], NULL, worker_main, pool);
		if (ret) {
			ts_err("cannot start crypto worker %u: %s", i, strerror(ret));
			ts_pool_stop(pool);
			ts_pool_free(pool);
			return -ret;
		}
		pool->n_started++;
	}
	*out = pool;
	return 0;
}

int ts_pool_create_manual(struct ts_pool **out, unsigned depth)
{
	int ret = pool_alloc(out);

	if (ret < 0)
		return ret;
	(*out)->manual = true;
	(*out)->depth = depth ? depth : 1;
	return 0;
}

void ts_pool_stop(struct ts_pool *pool)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->n_started; i++)
		pthread_join(pool->threads[i], NULL);
	pool->n_started = 0;
}

void ts_pool_free(struct ts_pool *pool)
{
	if (!pool)
		return;
	ts_pool_stop(pool);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->work);
	pthread_cond_destroy(&pool->space);
	free(pool);
}

unsigned ts_pool_threads(const struct ts_pool *pool)
{
	return pool->n_threads;
}

unsigned ts_pool_pipe_depth(const struct ts_pool *pool)
{
	return pool->depth;
}

static bool is_inline(const struct ts_pipe *p)
{
	return !p->pool->n_threads && !p->pool->manual;
}

int ts_pipe_open(struct ts_pipe *p, struct ts_pool *pool, const struct ts_pipe_ops *ops, void *ctx)
{
	int ret = -ENOSPC;

	memset(p, 0, sizeof(*p));
	p->pool = pool;
	p->ops = ops;
	p->ctx = ctx;
	p->cap = pool->depth;
	p->state = calloc(p->cap, sizeof(*p->state));
	if (!p->state)
		return -ENOMEM;
	pthread_mutex_lock(&pool->lock);
	for (unsigned i = 0; i < TS_POOL_MAX_PIPES; i++) {
		if (!pool->pipes[i]) {
			pool->pipes[i] = p;
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&pool->lock);
	if (ret < 0) {
		free(p->state);
		p->state = NULL;
	}
	return ret;
}

void ts_pipe_close(struct ts_pipe *p)
{
	struct ts_pool *pool = p->pool;

	if (!p->state)
		return;
	ts_pipe_drain(p);
	pthread_mutex_lock(&pool->lock);
	for (unsigned i = 0; i < TS_POOL_MAX_PIPES; i++)
		if (pool->pipes[i] == p)
			pool->pipes[i] = NULL;
	pthread_mutex_unlock(&pool->lock);
	free(p->state);
	p->state = NULL;
}

/*
 * pool->lock held: the producer waits for a release.  It holds no RCU
 * pointer here (between batches), so it goes offline: a grace period does
 * not wait for it while a worker is slow.
 */
static void wait_space_locked(struct ts_pool *pool)
{
	pool->waiting++;
	ts_rcu_offline();
	pthread_cond_wait(&pool->space, &pool->lock);
	pool->waiting--;
	pthread_mutex_unlock(&pool->lock);
	ts_rcu_online();
	pthread_mutex_lock(&pool->lock);
}

unsigned ts_pipe_reserve(struct ts_pipe *p)
{
	struct ts_pool *pool = p->pool;
	unsigned slot;

	if (is_inline(p))
		return 0;
	pthread_mutex_lock(&pool->lock);
	while (p->tail - p->head == p->cap) {
		/* Full: do a queued job here rather than sleep (workers may be few or busy). */
		if (claim_locked(p, &slot))
			run_locked(p, slot);
		else
			wait_space_locked(pool);
	}
	slot = (unsigned)(p->tail % p->cap);
	pthread_mutex_unlock(&pool->lock);
	return slot;
}

void ts_pipe_submit(struct ts_pipe *p, unsigned slot, bool more)
{
	struct ts_pool *pool = p->pool;

	if (is_inline(p))
		goto here;
	pthread_mutex_lock(&pool->lock);
	/*
	 * Nothing in flight and nothing more waiting for the producer: no
	 * other thread could do this job sooner than it can, so it does it
	 * now, without a wake-up or a cache line changing hands (the ping, the
	 * light load).  Only with the pipe empty, so order holds; the lock
	 * orders this release after the previous one on another thread.
	 */
	if (!more && p->head == p->tail && !pool->manual) {
		pthread_mutex_unlock(&pool->lock);
		goto here;
	}
	p->state[slot] = JOB_QUEUED;
	p->tail++;
	if (more || pool->manual) {
		if (pool->idle)
			pthread_cond_signal(&pool->work);
	} else {
		/*
		 * The producer would go to sleep next: it crypts what is
		 * queued itself, rather than wake a worker to do it while it
		 * sleeps.  Jobs workers already hold finish there.
		 */
		while (claim_locked(p, &slot))
			run_locked(p, slot);
	}
	pthread_mutex_unlock(&pool->lock);
	return;
here:
	p->ops->crypt(p->ctx, slot);
	p->ops->release(p->ctx, slot);
}

void ts_pipe_drain(struct ts_pipe *p)
{
	struct ts_pool *pool = p->pool;
	unsigned slot;

	if (is_inline(p))
		return;
	pthread_mutex_lock(&pool->lock);
	while (p->head != p->tail) {
		if (claim_locked(p, &slot))
			run_locked(p, slot);
		else
			wait_space_locked(pool);
	}
	pthread_mutex_unlock(&pool->lock);
}

bool ts_pipe_claim(struct ts_pipe *p, unsigned *slot)
{
	bool ok;

	pthread_mutex_lock(&p->pool->lock);
	ok = claim_locked(p, slot);
	pthread_mutex_unlock(&p->pool->lock);
	return ok;
}

void ts_pipe_complete(struct ts_pipe *p, unsigned slot)
{
	pthread_mutex_lock(&p->pool->lock);
	complete_locked(p, slot);
	pthread_mutex_unlock(&p->pool->lock);
}
