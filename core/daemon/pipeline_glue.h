/* SPDX-License-Identifier: MIT */
/*
 * The daemon's side of the plugin host: start it with the --pipeline file,
 * reload on SIGHUP, serve `tinescale ctl` and the metrics, stop it.
 */
#ifndef TS_PIPELINE_GLUE_H
#define TS_PIPELINE_GLUE_H

#include <stddef.h>

struct ts_device;
struct ts_pipeline_glue;

int ts_pipeline_glue_start(struct ts_pipeline_glue **out, struct ts_device *dev,
			   const char *pipeline_path, char *err, size_t errlen);
/* path NULL: the current file again.  Logs the outcome; the old pipeline stays on failure. */
int ts_pipeline_glue_reload(struct ts_pipeline_glue *g, const char *path);
/* Bytes the running pipeline may add to each datagram it sends (0 without one). */
size_t ts_pipeline_glue_wire_overhead(struct ts_pipeline_glue *g);
void ts_pipeline_glue_stop(struct ts_pipeline_glue *g);
/* Serve Prometheus metrics on addr (ADDR:PORT) until stop.  0 or -errno with err. */
int ts_pipeline_glue_metrics(struct ts_pipeline_glue *g, const char *addr, char *err,
			     size_t errlen);
int ts_pipeline_glue_ctl_main(int argc, char **argv);

#endif
