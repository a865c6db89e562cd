/* SPDX-License-Identifier: MIT */
/*
 * Engine events: queued by the engine (any thread, any engine lock held),
 * delivered to the instances on the host's own event thread.
 *
 * events_queue() only copies the event into a bounded ring under qlock (a
 * leaf lock: nothing is called while it is held) and signals the thread;
 * when the ring is full the event is dropped and counted.  The event thread
 * is an RCU reader from its start: online while it delivers one event to
 * the instances of the current snapshot, offline while it waits, so a
 * reload never frees an instance under its event callback.  Secrets are
 * wiped from the ring slot and the thread's copy once delivered.
 */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "host_internal.h"
#include "log.h"
#include "rcu.h"

static bool wants_secrets(const struct instance *in)
{
	return in->desc.event && atomic_load_explicit(&in->wants_secrets, memory_order_relaxed);
}

bool events_want_secrets(void *ctx)
{
	struct ts_pipeline_host *ph = ctx;
	const struct snapshot *s;
	bool any = capture_wants_secrets(&ph->cap);

	pthread_rwlock_rdlock(&ph->snap_lock);
	s = atomic_load_explicit(&ph->cur, memory_order_acquire);
	for (size_t i = 0; s && i < s->n_inst && !any; i++)
		any = wants_secrets(s->inst[i]);
	pthread_rwlock_unlock(&ph->snap_lock);
	return any;
}

bool ts_pipeline_wants_secrets(struct ts_pipeline_host *ph)
{
	return events_want_secrets(ph);
}

void events_queue(void *ctx, const struct ts_engine_event *ev)
{
	struct ts_pipeline_host *ph = ctx;
	struct queued_event *q;

	pthread_mutex_lock(&ph->qlock);
	if (ph->qstop || ph->qlen == EVENT_QUEUE) {
		pthread_mutex_unlock(&ph->qlock);
		atomic_fetch_add_explicit(&ph->events_dropped, 1, memory_order_relaxed);
		return;
	}
	q = &ph->queue[(ph->qhead + ph->qlen++) % EVENT_QUEUE];
	q->type = ev->type;
	memcpy(q->public_key, ev->public_key, sizeof(q->public_key));
	q->endpoint = ev->endpoint;
	q->has_secrets = ev->secrets != NULL;
	if (ev->secrets)
		q->secrets = *ev->secrets;
	ph->q_enqueued++;
	pthread_cond_signal(&ph->qcond);
	pthread_mutex_unlock(&ph->qlock);
}

/*
 * Peer slots follow the peers: made (and peer_added called) when a peer is
 * added, unlinked (and peer_removed called) when it is removed.  Unlinked
 * slots are returned for freeing after a grace period.
 */
static struct peer_slot *peer_change(struct instance *in, const struct queued_event *q,
				     struct peer_slot *gone)
{
	void *slot;

	if (!in->desc.peer_state_size)
		return gone;
	if (q->type == TS_EVENT_PEER_ADDED) {
		slot = peer_slot_get(in, q->public_key, SLOT_IF_PEER);
		if (slot && in->desc.peer_added)
			in->desc.peer_added(in->state, q->public_key, slot);
	} else if (q->type == TS_EVENT_PEER_REMOVED) {
		struct peer_slot *s = peer_slot_unlink(in, q->public_key);

		if (s) {
			if (in->desc.peer_removed)
				in->desc.peer_removed(in->state, q->public_key, s->data);
			s->next = gone;
			gone = s;
		}
	}
	return gone;
}

/* To every instance of the current snapshot with an event callback; online. */
static struct peer_slot *deliver(struct ts_pipeline_host *ph, const struct queued_event *q)
{
	struct peer_slot *gone = NULL;
	const struct snapshot *s = atomic_load_explicit(&ph->cur, memory_order_acquire);
	struct ts_event ev = {
	    .struct_size = sizeof(ev),
	    .type = q->type,
	    .public_key = q->public_key,
	    .secrets = q->has_secrets ? &q->secrets : NULL,
	};
	struct ts_event_v1 ev1 = {
	    .type = q->type,
	    .public_key = q->public_key,
	    .secrets = ev.secrets,
	};

	memcpy(&ev.endpoint, &q->endpoint, sizeof(ev.endpoint));
	ev1.endpoint = ev.endpoint;
	if (q->type == TS_EVENT_HANDSHAKE_SECRETS && q->has_secrets)
		capture_secrets(&ph->cap, q->public_key, &q->secrets);
	if (q->type == TS_EVENT_PEER_REMOVED)
		notes_forget_peer(ph, q->public_key); /* the engine's went with the peer */
	for (size_t i = 0; s && i < s->n_inst; i++) {
		struct instance *in = s->inst[i];

		gone = peer_change(in, q, gone);
		if (!in->desc.event)
			continue;
		if (q->type == TS_EVENT_HANDSHAKE_SECRETS &&
		    (!q->has_secrets || !wants_secrets(in)))
			continue;
		/* Types added in 2.1 only go to plugins built against that header. */
		if ((q->type == TS_EVENT_PEER_ADDED || q->type == TS_EVENT_PEER_REMOVED) &&
		    !in->desc.v2_1)
			continue;
		if (in->desc.abi == 1)
			((void (*)(void *, const struct ts_event_v1 *))in->desc.event)(in->state,
										       &ev1);
		else
			((void (*)(void *, const struct ts_event *))in->desc.event)(in->state, &ev);
	}
	return gone;
}

static void *event_thread(void *arg)
{
	struct ts_pipeline_host *ph = arg;
	struct peer_slot *gone;
	struct queued_event q;

	if (ts_rcu_thread_register() < 0)
		ts_err("plugin event thread: cannot register for grace periods");
	pthread_mutex_lock(&ph->qlock);
	while (!ph->qstop) {
		struct queued_event *slot;

		if (!ph->qlen) {
			pthread_cond_wait(&ph->qcond, &ph->qlock);
			continue;
		}
		slot = &ph->queue[ph->qhead];
		q = *slot;
		sodium_memzero(slot, sizeof(*slot));
		ph->qhead = (ph->qhead + 1) % EVENT_QUEUE;
		ph->qlen--;
		pthread_mutex_unlock(&ph->qlock);
		/* No host lock held: the callbacks may call every service. */
		ts_rcu_online();
		gone = deliver(ph, &q);
		ts_rcu_offline();
		if (gone) {
			/* Hooks and timer callbacks may still hold a removed peer's slot. */
			ts_rcu_synchronize();
			while (gone) {
				struct peer_slot *next = gone->next;

				free(gone);
				gone = next;
			}
		}
		sodium_memzero(&q, sizeof(q));
		pthread_mutex_lock(&ph->qlock);
		ph->q_delivered++;
		pthread_cond_broadcast(&ph->qdone);
	}
	pthread_mutex_unlock(&ph->qlock);
	ts_rcu_thread_unregister();
	return NULL;
}

void ts_pipeline_event_sync(struct ts_pipeline_host *ph)
{
	uint64_t want;

	pthread_mutex_lock(&ph->qlock);
	want = ph->q_enqueued;
	while (!ph->qstop && ph->q_delivered < want)
		pthread_cond_wait(&ph->qdone, &ph->qlock);
	pthread_mutex_unlock(&ph->qlock);
}

uint64_t ts_pipeline_events_dropped(struct ts_pipeline_host *ph)
{
	return atomic_load_explicit(&ph->events_dropped, memory_order_relaxed);
}

bool ts_pipeline_on_event_thread(struct ts_pipeline_host *ph)
{
	return ph->qstarted && pthread_equal(pthread_self(), ph->qthread);
}

int events_start(struct ts_pipeline_host *ph)
{
	int r;

	ph->queue = calloc(EVENT_QUEUE, sizeof(*ph->queue));
	if (!ph->queue)
		return -ENOMEM;
	pthread_mutex_init(&ph->qlock, NULL);
	pthread_cond_init(&ph->qcond, NULL);
	pthread_cond_init(&ph->qdone, NULL);
	r = pthread_create(&ph->qthread, NULL, event_thread, ph);
	if (r) {
		pthread_cond_destroy(&ph->qcond);
		pthread_cond_destroy(&ph->qdone);
		pthread_mutex_destroy(&ph->qlock);
		free(ph->queue);
		ph->queue = NULL;
		return -r;
	}
	ph->qstarted = true;
	return 0;
}

void events_stop(struct ts_pipeline_host *ph)
{
	if (!ph->qstarted)
		return;
	pthread_mutex_lock(&ph->qlock);
	ph->qstop = true;
	pthread_cond_signal(&ph->qcond);
	pthread_cond_broadcast(&ph->qdone);
	pthread_mutex_unlock(&ph->qlock);
	pthread_join(ph->qthread, NULL);
	/* Undelivered events may hold session secrets.  Later ones are dropped. */
	pthread_mutex_lock(&ph->qlock);
	sodium_memzero(ph->queue, EVENT_QUEUE * sizeof(*ph->queue));
	ph->qlen = 0;
	pthread_mutex_unlock(&ph->qlock);
	ph->qstarted = false;
}

void events_free(struct ts_pipeline_host *ph)
{
	if (!ph->queue)
		return;
	pthread_cond_destroy(&ph->qcond);
	pthread_cond_destroy(&ph->qdone);
	pthread_mutex_destroy(&ph->qlock);
	free(ph->queue);
	ph->queue = NULL;
}
