// SPDX-License-Identifier: MIT
/*
 * The bridge between the engine and the plugin host: the daemon's pipeline
 * lifecycle (start, SIGHUP/ctl reload, stop), and the engine's hook table
 * (base/seam.h) as a thin adapter over today's pipeline API: it converts
 * the engine's ts_hook_pkt to the ABI's ts_packet and back.
 *
 * RCU: every engine thread that runs hooks is a registered reader from
 * its start (core/engine/device.h), and only those threads call run and
 * active; nothing here registers a thread.
 */
#include "pipeline_glue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "device.h"
#include "log.h"
#include "pipeline.h"

struct ts_pipeline_glue {
	struct ts_device *dev;
	struct ts_pipeline_host *ph;
	struct ts_ctl_server *ctl;
	struct ts_hook_table hooks;
};

static bool glue_active(void *ctx, enum ts_hook_point point)
{
	struct ts_pipeline_glue *g = ctx;

	return ts_pipeline_has_hook(g->ph, (enum ts_hook)point);
}

static bool glue_run(void *ctx, enum ts_hook_point point, struct ts_hook_pkt *p)
{
	struct ts_pipeline_glue *g = ctx;
	struct ts_packet pkt;
	enum ts_verdict v;

	if (!ts_pipeline_has_hook(g->ph, (enum ts_hook)point))
		return true;
	memset(&pkt, 0, sizeof(pkt));
	pkt.data = p->data;
	pkt.len = p->len;
	pkt.headroom = p->headroom;
	pkt.tailroom = p->tailroom;
	pkt.peer_public_key = p->peer_key;
	if (p->ep)
		memcpy(&pkt.endpoint, p->ep, sizeof(pkt.endpoint));
	if (point == TS_HP_CIPHERTEXT_OUT || point == TS_HP_CIPHERTEXT_IN) {
		uint16_t port = htons(p->listen_port);

		if (p->local && p->local->family == AF_INET) {
			pkt.local.in.sin_family = AF_INET;
			pkt.local.in.sin_addr = p->local->addr.in;
			pkt.local.in.sin_port = port;
		} else if (p->local && p->local->family == AF_INET6) {
			pkt.local.in6.sin6_family = AF_INET6;
			pkt.local.in6.sin6_addr = p->local->addr.in6;
			pkt.local.in6.sin6_port = port;
		} else if (p->ep && p->ep->sa.sa_family == AF_INET6) {
			pkt.local.in6.sin6_port = port; /* address unknown: family 0 */
		} else {
			pkt.local.in.sin_port = port;
		}
	}
	v = ts_pipeline_run(g->ph, (enum ts_hook)point, &pkt);
	if (v != TS_PASS)
		return false;
	p->data = pkt.data;
	p->len = pkt.len;
	p->headroom = pkt.headroom;
	p->tailroom = pkt.tailroom;
	/* Only the ciphertext hooks may move a packet to another endpoint. */
	if (p->ep && (point == TS_HP_CIPHERTEXT_OUT || point == TS_HP_CIPHERTEXT_IN)) {
		union ts_endpoint ep;

		memcpy(&ep, &pkt.endpoint, sizeof(ep));
		if (ts_endpoint_is_set(&ep))
			*p->ep = ep;
	}
	return true;
}

static void glue_event(void *ctx, const struct ts_engine_event *eev)
{
	struct ts_pipeline_glue *g = ctx;
	struct ts_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = eev->type;
	ev.public_key = eev->public_key;
	memcpy(&ev.endpoint, &eev->endpoint, sizeof(ev.endpoint));
	ev.secrets = eev->secrets;
	ts_pipeline_event(g->ph, &ev);
}

static bool glue_want_secrets(void *ctx)
{
	struct ts_pipeline_glue *g = ctx;

	return ts_pipeline_wants_secrets(g->ph);
}

int ts_pipeline_glue_start(struct ts_pipeline_glue **out, struct ts_device *dev,
			   const char *pipeline_path, char *err, size_t errlen)
{
	struct ts_pipeline_glue *g = calloc(1, sizeof(*g));
	int ret;

	if (!g) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	g->dev = dev;
	ret = ts_pipeline_host_create(&g->ph, dev);
	if (ret < 0) {
		snprintf(err, errlen, "cannot start the plugin host: %s", strerror(-ret));
		free(g);
		return ret;
	}
	ts_pipeline_set_log_level(g->ph, (enum ts_log_level)ts_log_get_level());
	if (pipeline_path && ts_pipeline_load(g->ph, pipeline_path, err, errlen) < 0) {
		ts_pipeline_host_destroy(g->ph);
		free(g);
		return -EINVAL;
	}
	ret = ts_ctl_server_start(&g->ctl, dev->ifname, g->ph, dev, err, errlen);
	if (ret < 0) {
		ts_pipeline_host_destroy(g->ph);
		free(g);
		return ret;
	}
	/* Set before the engine's threads start: they read it without a lock. */
	g->hooks = (struct ts_hook_table){
	    .ctx = g,
	    .active = glue_active,
	    .run = glue_run,
	    .event = glue_event,
	    .want_secrets = glue_want_secrets,
	};
	ts_device_set_hooks(dev, &g->hooks);
	if (pipeline_path)
		ts_info("pipeline %s loaded", pipeline_path);
	*out = g;
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
			g->dev->ifname);
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

void ts_pipeline_glue_stop(struct ts_pipeline_glue *g)
{
	if (!g)
		return;
	ts_ctl_server_stop(g->ctl);
	/* The data path is stopped by now; nothing runs a hook any more. */
	ts_device_set_hooks(g->dev, NULL);
	ts_pipeline_host_destroy(g->ph);
	free(g);
}

int ts_pipeline_glue_ctl_main(int argc, char **argv)
{
	return ts_ctl_client_main(argc, argv);
}
