// SPDX-License-Identifier: MIT
/*
 * The daemon's wiring of the engine and the plugin host (base/seam.h): the
 * engine's table goes to the host, the host's hook table to the engine;
 * and the pipeline's lifecycle (start, SIGHUP/ctl reload, stop).
 *
 * Read-side state is no business of the daemon: the engine's threads that
 * run hooks are RCU readers of their own, the host's event and timer
 * threads too, and the host asserts it (debug builds).
 */
#include "pipeline_glue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "device.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "pipeline.h"

struct ts_pipeline_glue {
	struct ts_device *dev;
	struct ts_pipeline_host *ph;
	struct ts_ctl_server *ctl;
	struct ts_engine_table eng;
	struct ts_metrics_http *metrics; /* NULL unless --metrics */
};

static void metrics_render(void *arg, FILE *f)
{
	struct ts_pipeline_glue *g = arg;

	ts_metrics_render(f, &g->eng, g->ph);
}

int ts_pipeline_glue_metrics(struct ts_pipeline_glue *g, const char *addr, char *err, size_t errlen)
{
	int ret = ts_metrics_http_start(&g->metrics, addr, metrics_render, g, err, errlen);

	if (!ret)
		ts_info("metrics on http://%s/metrics", addr);
	return ret;
}

int ts_pipeline_glue_create(struct ts_pipeline_glue **out, struct ts_device *dev, char *err,
			    size_t errlen)
{
	struct ts_pipeline_glue *g = calloc(1, sizeof(*g));
	int ret;

	if (!g) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	g->dev = dev;
	ret = ts_ctl_server_listen(&g->ctl, ts_device_ifname(dev), err, errlen);
	if (ret < 0) {
		free(g);
		return ret;
	}
	*out = g;
	return 0;
}

const char *ts_pipeline_glue_ctl_path(const struct ts_pipeline_glue *g)
{
	return ts_ctl_server_path(g->ctl);
}

int ts_pipeline_glue_start(struct ts_pipeline_glue *g, const char *pipeline_path, char *err,
			   size_t errlen)
{
	struct ts_engine_table eng;
	int ret;

	ts_device_engine_table(g->dev, &eng);
	g->eng = eng;
	ret = ts_pipeline_host_create(&g->ph, &eng);
	if (ret < 0) {
		snprintf(err, errlen, "cannot start the plugin host: %s", strerror(-ret));
		g->ph = NULL;
		return ret;
	}
	ts_pipeline_set_log_level(g->ph, (enum ts_log_level)ts_log_get_level());
	if (pipeline_path && ts_pipeline_load(g->ph, pipeline_path, err, errlen) < 0)
		return -EINVAL;
	ret = ts_ctl_server_run(g->ctl, g->ph, &eng, err, errlen);
	if (ret < 0)
		return ret;
	/* Before the data-path threads start: they read the table without a lock. */
	ts_device_set_hooks(g->dev, ts_pipeline_hook_table(g->ph));
	if (pipeline_path)
		ts_info("pipeline %s loaded", pipeline_path);
	return 0;
}

int ts_pipeline_glue_reload(struct ts_pipeline_glue *g, const char *path)
{
	char err[1024] = "", *cur;
	int ret;

	if (!g)
		return -EINVAL;
	cur = path ? NULL : ts_pipeline_path_dup(g->ph);
	if (!path && !cur) {
		ts_warn("reload: no pipeline file is loaded (start with --pipeline, or use "
			"`tinescale ctl %s reload FILE.yaml`)",
			ts_device_ifname(g->dev));
		return -ENOENT;
	}
	ret = ts_pipeline_load(g->ph, path ? path : cur, err, sizeof(err));
	if (ret < 0)
		ts_err("reload failed, the running pipeline stays: %s", err);
	else
		ts_info("pipeline %s reloaded", path ? path : cur);
	free(cur);
	return ret;
}

size_t ts_pipeline_glue_wire_overhead(struct ts_pipeline_glue *g)
{
	return g ? ts_pipeline_wire_overhead(g->ph) : 0;
}

void ts_pipeline_glue_close_ctl(struct ts_pipeline_glue *g)
{
	if (!g)
		return;
	ts_metrics_http_stop(g->metrics);
	g->metrics = NULL;
	ts_ctl_server_stop(g->ctl);
	g->ctl = NULL;
}

void ts_pipeline_glue_stop(struct ts_pipeline_glue *g)
{
	if (!g)
		return;
	ts_pipeline_glue_close_ctl(g);
	/* The data path is stopped by now; nothing calls the hook table any more. */
	ts_device_set_hooks(g->dev, NULL);
	if (g->ph)
		ts_pipeline_host_destroy(g->ph);
	free(g);
}

int ts_pipeline_glue_ctl_main(int argc, char **argv)
{
	return ts_ctl_client_main(argc, argv);
}
