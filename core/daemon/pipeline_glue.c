// SPDX-License-Identifier: MIT
/*
 * The bridge between the engine and the plugin host: the daemon's pipeline
 * lifecycle (start, SIGHUP/ctl reload, stop), the four hook points as the
 * data path calls them, and engine events.
 *
 * RCU: the tx and rx threads manage their own read-side state (online
 * around a batch, offline around poll).  Every other thread that reaches a
 * hook (handshake worker, timers, UAPI, a plugin's timer injecting a
 * datagram) is made a reader for the duration of the call here, so a
 * reload can never free a pipeline one of them is still running.
 */
#include "pipeline_glue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "device.h"
#include "hooks.h"
#include "hostapi.h"
#include "log.h"
#include "pipeline.h"
#include "rcu.h"

_Static_assert((int)TS_HP_PLAINTEXT_OUT == (int)TS_HOOK_PLAINTEXT_OUT &&
		   (int)TS_HP_CIPHERTEXT_OUT == (int)TS_HOOK_CIPHERTEXT_OUT &&
		   (int)TS_HP_CIPHERTEXT_IN == (int)TS_HOOK_CIPHERTEXT_IN &&
		   (int)TS_HP_PLAINTEXT_IN == (int)TS_HOOK_PLAINTEXT_IN,
	       "engine hook points and ABI hooks must agree");

struct ts_pipeline_glue {
	struct ts_device *dev;
	struct ts_pipeline_host *ph;
	struct ts_ctl_server *ctl;
};

/* Data-path threads (tx, rx) manage RCU themselves; others nest a guard. */
static _Thread_local bool datapath_thread;
static _Thread_local int guard_depth;

void ts_hooks_datapath_thread_begin(void)
{
	datapath_thread = true;
	if (ts_rcu_thread_register() < 0)
		ts_err("cannot register a data-path thread for pipeline grace periods");
	ts_rcu_online();
}

void ts_hooks_datapath_thread_end(void)
{
	ts_rcu_thread_unregister();
	datapath_thread = false;
}

static void guard_enter(void)
{
	if (datapath_thread || guard_depth++)
		return;
	if (ts_rcu_thread_register() < 0)
		ts_err("cannot register a thread for pipeline grace periods");
	ts_rcu_online();
}

static void guard_leave(void)
{
	if (datapath_thread || --guard_depth)
		return;
	ts_rcu_offline();
}

bool ts_hooks_active(struct ts_device *dev, enum ts_hook_point point)
{
	return dev->pipeline && ts_pipeline_has_hook(dev->pipeline, (enum ts_hook)point);
}

bool ts_hooks_run(struct ts_device *dev, enum ts_hook_point point, struct ts_hook_pkt *p)
{
	struct ts_packet pkt;
	enum ts_verdict v;

	if (!dev->pipeline)
		return true;
	guard_enter();
	if (!ts_pipeline_has_hook(dev->pipeline, (enum ts_hook)point)) {
		guard_leave();
		return true;
	}
	memset(&pkt, 0, sizeof(pkt));
	pkt.data = p->data;
	pkt.len = p->len;
	pkt.headroom = p->headroom;
	pkt.tailroom = p->tailroom;
	pkt.peer_public_key = p->peer_key;
	if (p->ep)
		memcpy(&pkt.endpoint, p->ep, sizeof(pkt.endpoint));
	if (point == TS_HP_CIPHERTEXT_OUT || point == TS_HP_CIPHERTEXT_IN) {
		uint16_t port = htons(ts_device_listen_port(dev));

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
	v = ts_pipeline_run(dev->pipeline, (enum ts_hook)point, &pkt);
	guard_leave();
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

void ts_hooks_event(struct ts_device *dev, enum ts_event_type type, const uint8_t *public_key,
		    const union ts_endpoint *ep, const struct ts_handshake_secrets *secrets)
{
	struct ts_event ev;

	if (!dev->pipeline)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.public_key = public_key;
	if (ep)
		memcpy(&ev.endpoint, ep, sizeof(ev.endpoint));
	ev.secrets = secrets;
	ts_pipeline_event(dev->pipeline, &ev);
}

bool ts_hooks_want_secrets(struct ts_device *dev)
{
	return dev->pipeline && ts_pipeline_wants_secrets(dev->pipeline);
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
	/* Published before the data-path threads start: they read it without a lock. */
	dev->pipeline = g->ph;
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
	g->dev->pipeline = NULL;
	ts_pipeline_host_destroy(g->ph);
	free(g);
}

int ts_pipeline_glue_ctl_main(int argc, char **argv)
{
	return ts_ctl_client_main(argc, argv);
}
