/* SPDX-License-Identifier: MIT */
/*
 * tinescale-relay's Prometheus metrics (--metrics ADDR:PORT).  The relay's
 * tables belong to its single-threaded loop, so that loop renders the
 * exposition once a second (relay_metrics_update) and the HTTP thread
 * (base/metrics_http.h) serves the latest text: no lock on the relay's data,
 * at most a second stale.
 */
#ifndef TS_RELAY_METRICS_H
#define TS_RELAY_METRICS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "relay_server.h"

struct ts_metrics_http;

struct relay_metrics {
	pthread_mutex_t mu; /* text, len */
	char *text;	    /* the latest exposition; NULL before the first update */
	size_t len;
	struct ts_metrics_http *http; /* NULL: metrics off */
};

/* Listen on addr and serve.  0 or -errno with err filled. */
int relay_metrics_start(struct relay_metrics *m, const char *addr, char *err, size_t errlen);
/* The relay loop: render the current counters (a no-op when metrics are off). */
void relay_metrics_update(struct relay_metrics *m, const struct relay_table *t, uint64_t now_ns,
			  uint64_t uptime_s);
void relay_metrics_stop(struct relay_metrics *m);

#endif
