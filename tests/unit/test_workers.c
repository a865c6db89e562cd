// SPDX-License-Identifier: MIT
/*
 * The crypto pool's ordered pipes (core/engine/workers.[ch]), without an
 * engine: jobs carry sequence numbers, crypt records that it ran, release
 * checks that it sees every job once, crypted, in submission order.
 *
 * Covers: completion in random order by hand (a manual pool), real worker
 * threads with random delays and two producers at once, a full ring where
 * the producer crypts for itself, and the inline pool of 0 threads.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "workers.h"

#define DEPTH_MAX 16

struct job {
	uint64_t seq;
	atomic_int crypted; /* times crypt ran on this filling */
};

struct prod {
	struct ts_pipe pipe;
	struct job jobs[DEPTH_MAX];
	uint64_t next_seq;	       /* the producer's */
	atomic_uint_fast64_t released; /* how many, in order */
	atomic_uint_fast64_t misordered;
	atomic_uint_fast64_t bad_crypt;
	atomic_int in_release; /* releases must not overlap */
	atomic_uint_fast64_t overlapped;
	unsigned delay_mask; /* crypt spins up to this many rounds */
	unsigned seed;
};

static void spin(unsigned n)
{
	for (volatile unsigned i = 0; i < n; i++)
		;
}

static void job_crypt(void *ctx, unsigned slot)
{
	struct prod *p = ctx;
	unsigned r = (unsigned)rand_r(&(unsigned){(unsigned)p->jobs[slot].seq * 2654435761u});

	if (p->delay_mask) {
		spin(r & p->delay_mask);
		if (r & 0x10000)
			sched_yield();
	}
	atomic_fetch_add(&p->jobs[slot].crypted, 1);
}

static void job_release(void *ctx, unsigned slot)
{
	struct prod *p = ctx;
	struct job *j = &p->jobs[slot];

	if (atomic_fetch_add(&p->in_release, 1) != 0)
		atomic_fetch_add(&p->overlapped, 1);
	if (atomic_load(&j->crypted) != 1)
		atomic_fetch_add(&p->bad_crypt, 1);
	if (j->seq != atomic_load(&p->released))
		atomic_fetch_add(&p->misordered, 1);
	atomic_fetch_add(&p->released, 1);
	atomic_fetch_sub(&p->in_release, 1);
}

static const struct ts_pipe_ops ops = {.crypt = job_crypt, .release = job_release};

static void produce(struct prod *p)
{
	/* more varies: the producer does some jobs itself when the pipe is empty. */
	bool more = (uint32_t)(p->next_seq * 2654435761u) >> 31;

	unsigned slot = ts_pipe_reserve(&p->pipe);

	p->jobs[slot].seq = p->next_seq++;
	atomic_store(&p->jobs[slot].crypted, 0);
	ts_pipe_submit(&p->pipe, slot, more);
}

static void check_prod(struct prod *p, uint64_t want)
{
	CHECK_MSG(atomic_load(&p->released) == want, "%llu of %llu jobs released",
		  (unsigned long long)atomic_load(&p->released), (unsigned long long)want);
	CHECK(atomic_load(&p->misordered) == 0);
	CHECK(atomic_load(&p->bad_crypt) == 0);
	CHECK(atomic_load(&p->overlapped) == 0);
}

/* By hand: jobs queued, claimed in batches, finished in a random order. */
static void test_random_completion(void)
{
	struct ts_pool *pool = NULL;
	struct prod *p = calloc(1, sizeof(*p));
	unsigned seed = 12345, claimed[DEPTH_MAX], n_claimed = 0;
	const uint64_t total = 20000;
	unsigned long steps = 0;

	CHECK(p && ts_pool_create_manual(&pool, 8) == 0);
	CHECK(ts_pool_pipe_depth(pool) == 8);
	CHECK(ts_pipe_open(&p->pipe, pool, &ops, p) == 0);
	/* Bounded: a pipe that loses a job must fail here, not hang. */
	while (atomic_load(&p->released) < total && steps++ < 10000000) {
		unsigned r = (unsigned)rand_r(&seed);

		/* Keep the ring from filling: a full reserve would crypt by itself. */
		if ((r & 3) == 0 && p->next_seq < total &&
		    p->next_seq - atomic_load(&p->released) < 8)
			produce(p);
		else if ((r & 3) == 1 && ts_pipe_claim(&p->pipe, &claimed[n_claimed]))
			n_claimed++;
		else if (n_claimed) {
			unsigned k = (r >> 8) % n_claimed, slot = claimed[k];

			claimed[k] = claimed[--n_claimed];
			job_crypt(p, slot);
			ts_pipe_complete(&p->pipe, slot);
		}
	}
	check_prod(p, total);
	CHECK(n_claimed == 0);
	ts_pipe_close(&p->pipe);
	ts_pool_free(pool);
	free(p);
}

/* A full ring: reserve crypts the oldest queued job itself and releases it. */
static void test_full_ring(void)
{
	struct ts_pool *pool = NULL;
	struct prod *p = calloc(1, sizeof(*p));

	CHECK(p && ts_pool_create_manual(&pool, 2) == 0);
	CHECK(ts_pipe_open(&p->pipe, pool, &ops, p) == 0);
	produce(p);
	produce(p);
	CHECK(atomic_load(&p->released) == 0);
	produce(p); /* no worker: this reserve does job 0 */
	CHECK(atomic_load(&p->released) == 1);
	ts_pipe_close(&p->pipe); /* and the close does the rest */
	check_prod(p, 3);
	ts_pool_free(pool);
	free(p);
}

static bool begin_ok(void *arg, const char *name)
{
	(void)arg;
	(void)name;
	return true;
}

static void end_ok(void)
{
}

static void *producer_main(void *arg)
{
	struct prod *p = arg;

	for (unsigned i = 0; i < 30000; i++)
		produce(p);
	ts_pipe_drain(&p->pipe);
	return NULL;
}

/* Worker threads, random crypt times, two producers: each pipe's order holds. */
static void test_threads(unsigned n_threads)
{
	struct ts_pool_thread_ops t = {.begin = begin_ok, .end = end_ok};
	struct ts_pool *pool = NULL;
	struct prod *p[2];
	pthread_t th[2];

	CHECK(ts_pool_create(&pool, n_threads, &t) == 0);
	CHECK(ts_pool_threads(pool) == n_threads);
	for (int i = 0; i < 2; i++) {
		p[i] = calloc(1, sizeof(*p[i]));
		CHECK(p[i] != NULL);
		p[i]->delay_mask = 0x3ff;
		CHECK(ts_pipe_open(&p[i]->pipe, pool, &ops, p[i]) == 0);
	}
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&th[i], NULL, producer_main, p[i]) == 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		check_prod(p[i], 30000);
		ts_pipe_close(&p[i]->pipe);
		free(p[i]);
	}
	ts_pool_free(pool);
}

/* No threads: submit crypts and releases before it returns. */
static void test_inline(void)
{
	struct ts_pool_thread_ops t = {.begin = begin_ok, .end = end_ok};
	struct ts_pool *pool = NULL;
	struct prod *p = calloc(1, sizeof(*p));

	CHECK(p && ts_pool_create(&pool, 0, &t) == 0);
	CHECK(ts_pool_pipe_depth(pool) == 1);
	CHECK(ts_pipe_open(&p->pipe, pool, &ops, p) == 0);
	for (unsigned i = 0; i < 100; i++) {
		produce(p);
		CHECK(atomic_load(&p->released) == i + 1);
	}
	check_prod(p, 100);
	ts_pipe_close(&p->pipe);
	ts_pool_free(pool);
	free(p);
}

int main(void)
{
	test_random_completion();
	test_full_ring();
	test_threads(1);
	test_threads(4);
	test_inline();
	return failures ? 1 : 0;
}
