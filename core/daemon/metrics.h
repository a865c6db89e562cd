/* SPDX-License-Identifier: MIT */
/*
 * The daemon's Prometheus metrics (`tinescale --metrics ADDR:PORT`): per
 * peer, per hook instance and per device, from the engine's table and the
 * plugin host's statistics (names and labels: docs/observability.md).
 */
#ifndef TS_METRICS_H
#define TS_METRICS_H

#include <stdio.h>

struct ts_engine_table;
struct ts_pipeline_host;

/* The whole exposition for one scrape.  Any thread that holds no engine lock. */
void ts_metrics_render(FILE *f, const struct ts_engine_table *eng, struct ts_pipeline_host *ph);

#endif
