/* SPDX-License-Identifier: MIT */
/*
 * QSBR grace periods: the registry of reader threads, their counters and
 * ts_rcu_synchronize().
 *
 * State: a global grace-period counter gp (starts at 1, only incremented by
 * synchronize) and per reader a counter ctr: 0 when offline, otherwise the
 * value of gp the reader saw at its last quiescent point (or when it came
 * online).  synchronize bumps gp to g and waits until each reader's ctr is
 * 0 or at least g (concurrent synchronize calls may push readers past g).
 *
 * Lock: registry_lock protects the list of readers only.  It is never held
 * while waiting: a grace-period wait polls, releasing it between scans.
 */
#include "rcu.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

struct rcu_reader {
	_Atomic unsigned long ctr;
	struct rcu_reader *next; /* protected by registry_lock */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rcu_reader *readers; /* protected by registry_lock */
static _Atomic unsigned long gp = 1;
static _Thread_local struct rcu_reader *self;
static _Thread_local bool online; /* for ts_rcu_is_reader(), debug checks */

int ts_rcu_thread_register(void)
{
	struct rcu_reader *r;

	if (self)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	atomic_init(&r->ctr, 0);
	pthread_mutex_lock(&registry_lock);
	r->next = readers;
	readers = r;
	pthread_mutex_unlock(&registry_lock);
	self = r;
	return 0;
}

void ts_rcu_thread_unregister(void)
{
	struct rcu_reader **pp;

	if (!self)
		return;
	ts_rcu_offline();
	pthread_mutex_lock(&registry_lock);
	for (pp = &readers; *pp; pp = &(*pp)->next) {
		if (*pp == self) {
			*pp = self->next;
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	free(self);
	self = NULL;
}

void ts_rcu_online(void)
{
	if (!self)
		return;
	online = true;
	atomic_store_explicit(&self->ctr, atomic_load_explicit(&gp, memory_order_acquire),
			      memory_order_relaxed);
	/*
	 * Store-buffering (Dekker) pattern against synchronize: our store of
	 * ctr must be visible before our next load of a protected pointer,
	 * while the writer's store of the new pointer is ordered before its
	 * load of ctr (its own seq_cst fence).  With a seq_cst fence on both
	 * sides at least one side sees the other: either the writer sees
	 * ctr != 0 and waits for us, or we load the new pointer.  Nothing
	 * weaker than seq_cst forbids store->load reordering.
	 */
	atomic_thread_fence(memory_order_seq_cst);
}

void ts_rcu_offline(void)
{
	if (!self)
		return;
	online = false;
	/*
	 * Release: every read of protected data before this point happens
	 * before the writer's acquire load that sees 0 and frees the data.
	 */
	atomic_store_explicit(&self->ctr, 0, memory_order_release);
}

void ts_rcu_quiescent(void)
{
	unsigned long g;

	if (!self)
		return;
	/*
	 * Acquire on gp: if we read the writer's new value, its earlier
	 * publication of the new pointer happens before our later loads,
	 * so after this point we cannot pick up the old pointer again.
	 */
	g = atomic_load_explicit(&gp, memory_order_acquire);
	/*
	 * Release on ctr: our reads of the old data happen before the
	 * writer's acquire load that sees g.  If the store is delayed the
	 * writer just waits longer; a stale g only makes it wait for our
	 * next quiescent point.
	 */
	atomic_store_explicit(&self->ctr, g, memory_order_release);
}

bool ts_rcu_is_reader(void)
{
	return online;
}

static void backoff(unsigned int round)
{
	struct timespec ts = {0, 20000};

	if (round < 64) {
		sched_yield();
		return;
	}
	if (round > 1000)
		ts.tv_nsec = 1000000;
	nanosleep(&ts, NULL);
}

/* Has the reader with counter c passed grace period g (offline, or quiescent since)? */
static bool reader_done(unsigned long c, unsigned long g)
{
	/* Wrap-safe "c >= g": a reader may already be at a later period. */
	return c == 0 || (long)(c - g) >= 0;
}

/*
 * Scan the registry once: has every reader other than the caller passed g?
 * Short, under registry_lock, never sleeps.
 */
static bool all_done(unsigned long g)
{
	struct rcu_reader *r;
	bool done = true;

	pthread_mutex_lock(&registry_lock);
	for (r = readers; r && done; r = r->next) {
		if (r == self)
			continue; /* calling synchronize is our own quiescent point */
		/*
		 * Acquire pairs with the reader's release stores in
		 * quiescent/offline: once we see 0 or g, its reads of the
		 * old data are finished.
		 */
		done = reader_done(atomic_load_explicit(&r->ctr, memory_order_acquire), g);
	}
	pthread_mutex_unlock(&registry_lock);
	return done;
}

void ts_rcu_synchronize(void)
{
	unsigned int round = 0;
	unsigned long g;

	/*
	 * The caller unpublished the old pointer before calling us.  This
	 * fence is the writer's half of the Dekker pattern in
	 * ts_rcu_online(): the unpublishing store is ordered before our
	 * loads of the readers' counters.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	/* seq_cst RMW: a reader that acquires g also sees the unpublication. */
	g = atomic_fetch_add_explicit(&gp, 1, memory_order_seq_cst) + 1;
	/*
	 * registry_lock is held only for one scan at a time and released
	 * before every sleep: a thread that registers or unregisters (possibly
	 * while holding locks of its own that a reader waits for) never waits
	 * for a grace period.  A reader that registers meanwhile starts
	 * offline and reads gp >= g when it goes online, so it never holds
	 * the old pointer; a reader that passed g stays past it, so
	 * rescanning from the start is correct (and the list is short).
	 */
	while (!all_done(g))
		backoff(round++);
}
