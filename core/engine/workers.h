/* SPDX-License-Identifier: MIT */
/*
 * The crypto pool: worker threads that encrypt and decrypt on every core,
 * and the ordered pipes through which the tx and rx threads hand them
 * batches.
 *
 * A pipe is one direction's ring of job slots, owned by its one producer
 * thread.  A job (a batch of packets) moves through three stages:
 *
 *   fill     the producer, in arrival order: reads, runs the hooks that must
 *            see packets in order before crypto, gives each packet its
 *            counter (tx) -- then ts_pipe_submit()
 *   crypt    any worker (or the producer, when it waits for room): the
 *            AEAD, in no particular order, with no lock held
 *   release  the jobs at the ring's head whose crypt is done, strictly in
 *            submission order, by one thread at a time (whichever finished
 *            the head job): hooks after crypto, sends, TUN writes
 *
 * So every peer's packets leave each stage in the order they entered the
 * pipe, as with the kernel's per-peer serial queues; the ring is per
 * device and direction rather than per peer, which keeps idle peers free
 * of queue state (a peer pays nothing until it is in a batch, and a batch
 * holds references, not state in the peer).
 *
 * With no worker threads (ts_pool_create with 0) a pipe is a function
 * call: submit runs crypt and release at once on the producer, with no
 * lock, no hand-off and no wake-up (the single-core path).  With workers,
 * a job is still done on the producer when the pipe is empty and the
 * producer has nothing more waiting (light load: a ping pays no hand-off).
 *
 * Locks: pool->lock is a leaf (nothing is taken inside it) and is never
 * held across crypt or release, which may run hooks.  Worker threads call
 * the thread_begin hook given at creation (the engine registers them as
 * RCU readers there) as their first action; they are offline while they
 * wait, and report a quiescent state after every job.
 */
#ifndef TS_WORKERS_H
#define TS_WORKERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define TS_POOL_MAX_THREADS 64
#define TS_POOL_MAX_PIPES   4

struct ts_pipe_ops {
	/* The crypto of the job in slot; any thread, no order, no lock held. */
	void (*crypt)(void *ctx, unsigned slot);
	/* After crypt, in submission order, one at a time; no lock held. */
	void (*release)(void *ctx, unsigned slot);
};

struct ts_pool;

struct ts_pipe {
	struct ts_pool *pool;
	const struct ts_pipe_ops *ops;
	void *ctx;
	unsigned cap; /* slots in the ring */
	/* pool->lock: per slot, enum job_state (workers.c). */
	uint8_t *state;
	/* pool->lock: jobs [head, tail) are in flight; [crypt_next, tail) wait for crypt. */
	uint64_t head, crypt_next, tail;
	bool releasing; /* pool->lock: a thread is in the release loop */
};

struct ts_pool_thread_ops {
	/* First action of a worker; false: the thread exits at once. */
	bool (*begin)(void *arg, const char *name);
	/* Last action of a worker that began. */
	void (*end)(void);
	void *arg;
};

/* A pool of n worker threads (0: every pipe runs inline).  0 or -errno. */
int ts_pool_create(struct ts_pool **out, unsigned n, const struct ts_pool_thread_ops *thread);
/* Stop and join the workers; every pipe must be closed first.  Idempotent. */
void ts_pool_stop(struct ts_pool *pool);
void ts_pool_free(struct ts_pool *pool);
unsigned ts_pool_threads(const struct ts_pool *pool);
/* How many slots a pipe of this pool has (1 inline). */
unsigned ts_pool_pipe_depth(const struct ts_pool *pool);

/* Attach a pipe of ts_pool_pipe_depth() slots.  0 or -ENOMEM/-ENOSPC. */
int ts_pipe_open(struct ts_pipe *p, struct ts_pool *pool, const struct ts_pipe_ops *ops, void *ctx);
/* The producer: release everything submitted, then detach. */
void ts_pipe_close(struct ts_pipe *p);
/*
 * The producer: a free slot to fill.  When the ring is full it crypts
 * queued jobs itself, or waits (offline for RCU) for one to be released.
 */
unsigned ts_pipe_reserve(struct ts_pipe *p);
/*
 * The producer: the slot reserve returned is filled; crypt and release it.
 * more: the producer has more waiting (its last read filled the batch):
 * the job is queued and an idle worker woken.  Without more the producer
 * would sleep next, so it does the job itself: at once if nothing is in
 * flight, else queued and crypted here with whatever else is queued.
 */
void ts_pipe_submit(struct ts_pipe *p, unsigned slot, bool more);
/* The producer: wait until everything submitted has been released. */
void ts_pipe_drain(struct ts_pipe *p);

/*
 * For tests that play the workers by hand (a pool of 0 threads cannot be
 * used for that: it runs inline).  ts_pool_create_manual: a pool whose
 * pipes queue jobs like a threaded one but have no threads; the test takes
 * jobs with ts_pipe_claim and finishes them in any order with
 * ts_pipe_complete (which releases what is in order).
 */
int ts_pool_create_manual(struct ts_pool **out, unsigned depth);
/* A queued job's slot, now being crypted by the caller; false if none. */
bool ts_pipe_claim(struct ts_pipe *p, unsigned *slot);
/* The claimed job's crypt is done (the caller ran it): release what is in order. */
void ts_pipe_complete(struct ts_pipe *p, unsigned slot);

#endif
