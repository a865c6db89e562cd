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

/*
 * Two steps, with the daemon's drop of root (privdrop.h) in between: create
 * makes the ctl socket only; start creates the plugin host, loads the
 * --pipeline file (NULL: none), serves ctl and hands the hooks to the device.
 * On failure of start, g still needs ts_pipeline_glue_stop.
 */
int ts_pipeline_glue_create(struct ts_pipeline_glue **out, struct ts_device *dev, char *err,
			    size_t errlen);
const char *ts_pipeline_glue_ctl_path(const struct ts_pipeline_glue *g);
int ts_pipeline_glue_start(struct ts_pipeline_glue *g, const char *pipeline_path, char *err,
			   size_t errlen);
/* path NULL: the current file again.  Logs the outcome; the old pipeline stays on failure. */
int ts_pipeline_glue_reload(struct ts_pipeline_glue *g, const char *path);
/* Bytes the running pipeline may add to each datagram it sends (0 without one). */
size_t ts_pipeline_glue_wire_overhead(struct ts_pipeline_glue *g);
/*
 * Close and remove the ctl socket now, ahead of the rest of the shutdown, so
 * that a daemon started for the same interface does not find it in use.
 */
void ts_pipeline_glue_close_ctl(struct ts_pipeline_glue *g);
/* Everything, the ctl socket included if still open. */
void ts_pipeline_glue_stop(struct ts_pipeline_glue *g);
/* Serve Prometheus metrics on addr (ADDR:PORT) until stop.  0 or -errno with err. */
int ts_pipeline_glue_metrics(struct ts_pipeline_glue *g, const char *addr, char *err,
			     size_t errlen);
int ts_pipeline_glue_ctl_main(int argc, char **argv);

#endif
