/* SPDX-License-Identifier: MIT */
/*
 * Plugin timers: one thread per host, a list sorted by deadline, a
 * condition variable.  Callbacks run on that thread one at a time, with no
 * host lock held (tlock is released around each call), so a callback may
 * call every service, timer_add and timer_cancel included.
 *
 * The thread is an RCU reader from its first instruction: a callback may
 * reach the engine (inject_datagram, peer_set_endpoint) and through it a
 * hook, and reload must then wait for it.  It is online only while a
 * callback runs, offline while it waits for the next deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "host_internal.h"
#include "log.h"
#include "rcu.h"

static void timer_insert(struct ts_pipeline_host *ph, struct timer *t)
{
	struct timer **pp = &ph->timers;

	while (*pp && (*pp)->deadline <= t->deadline)
		pp = &(*pp)->next;
	t->next = *pp;
	*pp = t;
}

static void *timer_thread(void *arg)
{
	struct ts_pipeline_host *ph = arg;

	if (ts_rcu_thread_register() < 0)
		ts_err("plugin timer thread: cannot register for grace periods");
	pthread_mutex_lock(&ph->tlock);
	while (!ph->tstop) {
		struct timer *t = ph->timers;
		uint64_t now;

		if (!t) {
			pthread_cond_wait(&ph->tcond, &ph->tlock);
			continue;
		}
		now = mono_ns();
		if (t->deadline > now) {
			struct timespec ts = {.tv_sec = (time_t)(t->deadline / 1000000000ull),
					      .tv_nsec = (long)(t->deadline % 1000000000ull)};

			pthread_cond_timedwait(&ph->tcond, &ph->tlock, &ts);
			continue;
		}
		ph->timers = t->next;
		ph->running = t;
		ph->running_id = t->id;
		ph->running_inst = t->inst;
		pthread_mutex_unlock(&ph->tlock);
		ts_rcu_online();
		t->cb(t->arg);
		ts_rcu_offline();
		pthread_mutex_lock(&ph->tlock);
		ph->running = NULL;
		ph->running_id = 0;
		ph->running_inst = NULL;
		if (t->cancelled) {
			free(t);
		} else {
			/* Keep the period; if we fell behind, do not fire a burst. */
			t->deadline += t->interval_ns;
			if (t->deadline < now)
				t->deadline = now + t->interval_ns;
			timer_insert(ph, t);
		}
		pthread_cond_broadcast(&ph->tdone);
	}
	pthread_mutex_unlock(&ph->tlock);
	ts_rcu_thread_unregister();
	return NULL;
}

static bool on_timer_thread(struct ts_pipeline_host *ph)
{
	return pthread_equal(pthread_self(), ph->tthread);
}

ts_timer_id timer_add(struct instance *in, uint32_t interval_ms, void (*cb)(void *arg), void *arg)
{
	struct ts_pipeline_host *ph = in->ph;
	struct timer *t;
	ts_timer_id id;

	if (!interval_ms || !cb || atomic_load(&in->dying))
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		return 0;
	t->inst = in;
	t->interval_ns = (uint64_t)interval_ms * 1000000ull;
	t->deadline = mono_ns() + t->interval_ns;
	t->cb = cb;
	t->arg = arg;
	pthread_mutex_lock(&ph->tlock);
	t->id = id = ++ph->next_id;
	timer_insert(ph, t);
	if (ph->timers == t)
		pthread_cond_signal(&ph->tcond);
	pthread_mutex_unlock(&ph->tlock);
	return id;
}

void timers_cancel(struct ts_pipeline_host *ph, struct instance *in, ts_timer_id id)
{
	struct timer **pp;

	pthread_mutex_lock(&ph->tlock);
	for (pp = &ph->timers; *pp;) {
		struct timer *t = *pp;

		if (t->inst == in && (!id || t->id == id)) {
			*pp = t->next;
			free(t);
		} else {
			pp = &t->next;
		}
	}
	if (ph->running && ph->running_inst == in && (!id || ph->running_id == id)) {
		ts_timer_id rid = ph->running_id;

		ph->running->cancelled = true;
		/*
		 * Waiting is safe from any thread but the timer thread itself:
		 * the callback runs with no host lock and no engine lock held
		 * by us, and callers (event thread, loading thread, a plugin's
		 * own thread, a hook) hold none the callback could need.
		 */
		if (!on_timer_thread(ph))
			while (ph->running_id == rid)
				pthread_cond_wait(&ph->tdone, &ph->tlock);
	}
	pthread_mutex_unlock(&ph->tlock);
}

int timers_start(struct ts_pipeline_host *ph)
{
	pthread_condattr_t ca;
	int r;

	pthread_mutex_init(&ph->tlock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ph->tcond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&ph->tdone, NULL);
	r = pthread_create(&ph->tthread, NULL, timer_thread, ph);
	if (r) {
		pthread_cond_destroy(&ph->tcond);
		pthread_cond_destroy(&ph->tdone);
		pthread_mutex_destroy(&ph->tlock);
		return -r;
	}
	ph->tstarted = true;
	return 0;
}

void timers_stop(struct ts_pipeline_host *ph)
{
	struct timer *t;

	if (!ph->tstarted)
		return;
	pthread_mutex_lock(&ph->tlock);
	ph->tstop = true;
	pthread_cond_signal(&ph->tcond);
	pthread_mutex_unlock(&ph->tlock);
	pthread_join(ph->tthread, NULL);
	while ((t = ph->timers)) { /* none should be left: every instance cancelled its own */
		ph->timers = t->next;
		free(t);
	}
	pthread_cond_destroy(&ph->tcond);
	pthread_cond_destroy(&ph->tdone);
	pthread_mutex_destroy(&ph->tlock);
	ph->tstarted = false;
}
