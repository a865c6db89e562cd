/* SPDX-License-Identifier: MIT */
/*
 * The live capture's share of the host (capture.h says what it does): the
 * running captures as RCU-published slots, and what the hook table and the
 * event thread call.
 */
#ifndef TS_CAPTURE_INTERNAL_H
#define TS_CAPTURE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "capture.h"
#include "seam.h"

struct capture;

struct capture_set {
	pthread_mutex_t lock; /* slots' writers, live; taken by no data-path thread */
	pthread_cond_t gone;  /* a capture thread ended */
	unsigned int live;    /* capture threads not yet ended; under lock */
	bool stopping;	      /* the host is going away: no new captures; under lock */
	/* Readers: data-path and event threads, RCU online; freed after a grace period. */
	_Atomic(struct capture *) slot[TS_CAPTURE_MAX];
	_Atomic unsigned int hooks;   /* union of the running captures' hook bits */
	_Atomic unsigned int secrets; /* running captures that embed secrets */
};

struct ts_pipeline_host;

void capture_init(struct capture_set *cs);
/* Stop every capture and wait for their threads; later starts fail. */
void capture_stop_all(struct capture_set *cs);

/* Is a capture taking this hook point?  The one load the data path pays. */
static inline bool capture_on(const struct capture_set *cs, enum ts_hook_point point)
{
	return __builtin_expect(
	    (atomic_load_explicit(&cs->hooks, memory_order_relaxed) >> (unsigned int)point) & 1u,
	    0);
}

/* Copy the packet to each capture that takes it.  RCU reader, online. */
void capture_tap(struct ts_pipeline_host *ph, enum ts_hook_point point,
		 const struct ts_hook_pkt *p);
/* Does a running capture embed secrets?  Any thread. */
bool capture_wants_secrets(const struct capture_set *cs);
/* One handshake's secrets to the captures that embed them.  Event thread, online. */
void capture_secrets(struct capture_set *cs, const uint8_t peer[32],
		     const struct ts_handshake_secrets *s);

#endif
