// SPDX-License-Identifier: MIT
/* status --json and plugins --json: see status_json.h. */
#include "status_json.h"

#include <stdint.h>
#include <string.h>

#include "capture.h"
#include "endpoint.h"
#include "json.h"
#include "key.h"
#include "pipeline.h"
#include "pipeline_stats.h"
#include "seam.h"

const char *ts_peer_path(const struct ts_engine_table *eng, const unsigned char key[32],
			 bool has_endpoint, char *buf, size_t len)
{
	if (eng->note_get && eng->note_get(eng->ctx, key, "path", buf, len) == 0 &&
	    (!strcmp(buf, "direct") || !strcmp(buf, "relay")))
		return buf;
	return has_endpoint ? "direct" : "unknown";
}

/* ---- the pipeline object ---- */

struct pjson {
	struct ts_json *j;
	int hook; /* the hook whose array is open, -1 none */
};

static void hooks_array(struct ts_json *j, const char *key, unsigned int mask)
{
	ts_json_open_array(j, key);
	for (int h = 0; h < TS_HOOK_COUNT; h++)
		if (mask & (1u << h))
			ts_json_string(j, NULL, ts_hook_name((enum ts_hook)h));
	ts_json_close_array(j);
}

static void pj_pipeline(void *arg, const char *path, size_t n)
{
	struct pjson *p = arg;

	(void)n;
	ts_json_string(p->j, "file", path);
	ts_json_open_array(p->j, "instances");
}

static void pj_instance(void *arg, const struct ts_instance_stat *in)
{
	struct ts_json *j = ((struct pjson *)arg)->j;

	ts_json_open_object(j, NULL);
	ts_json_string(j, "name", in->name);
	ts_json_string(j, "plugin", in->plugin);
	ts_json_string(j, "version", in->version);
	ts_json_string(j, "file", in->file);
	ts_json_int(j, "priority", in->priority);
	hooks_array(j, "hooks", in->hooks);
	ts_json_bool(j, "events", in->events);
	ts_json_uint(j, "abi", in->abi);
	ts_json_close_object(j);
}

/* Close hook arrays up to (not including) `upto`, opening the empty ones between. */
static void hooks_upto(struct pjson *p, int upto)
{
	while (p->hook < upto) {
		if (p->hook >= 0)
			ts_json_close_array(p->j);
		p->hook++;
		if (p->hook < TS_HOOK_COUNT)
			ts_json_open_array(p->j, ts_hook_name((enum ts_hook)p->hook));
	}
}

static void pj_hook(void *arg, const struct ts_hook_stat *st)
{
	struct pjson *p = arg;
	struct ts_json *j = p->j;

	if (p->hook == -2) { /* the first hook: end the instances, open "hooks" */
		ts_json_close_array(j);
		ts_json_open_object(j, "hooks");
		p->hook = -1;
	}
	hooks_upto(p, (int)st->hook);
	ts_json_open_object(j, NULL);
	ts_json_uint(j, "position", st->position);
	ts_json_string(j, "instance", st->inst->name);
	ts_json_string(j, "plugin", st->inst->plugin);
	ts_json_int(j, "priority", st->inst->priority);
	ts_json_uint(j, "packets", st->pass + st->drop + st->stolen + st->invalid);
	ts_json_uint(j, "pass", st->pass);
	ts_json_uint(j, "drop", st->drop);
	ts_json_uint(j, "stolen", st->stolen);
	ts_json_uint(j, "invalid", st->invalid);
	ts_json_uint(j, "timed_calls", st->samples);
	if (st->samples)
		ts_json_uint(j, "mean_ns", st->sampled_ns / st->samples);
	else
		ts_json_null(j, "mean_ns");
	ts_json_close_object(j);
}

static void pipeline_object(struct ts_json *j, struct ts_pipeline_host *ph, const char *key)
{
	struct pjson p = {.j = j, .hook = -2};
	const struct ts_pipeline_stats_cb cb = {
	    .arg = &p, .pipeline = pj_pipeline, .instance = pj_instance, .hook = pj_hook};
	uint64_t dropped;

	ts_json_open_object(j, key);
	dropped = ts_pipeline_stats(ph, &cb);
	if (p.hook == -2) { /* no hook ran: the instances array is still open */
		ts_json_close_array(j);
		ts_json_open_object(j, "hooks");
		p.hook = -1;
	}
	hooks_upto(&p, TS_HOOK_COUNT);
	ts_json_close_object(j); /* hooks */
	ts_json_uint(j, "events_dropped", dropped);
	ts_json_uint(j, "captures", ts_capture_count(ph));
	ts_json_close_object(j);
}

/* ---- the interface object ---- */

struct peer_ctx {
	struct ts_json *j;
	const struct ts_engine_table *eng;
};

static int peer_json(void *arg, const struct ts_peer_info *pi)
{
	struct peer_ctx *pc = arg;
	struct ts_json *j = pc->j;
	char key[TS_KEY_BASE64_LEN], ep[TS_ENDPOINT_STRLEN], path[32];
	bool has_ep = ts_endpoint_is_set(&pi->endpoint);

	ts_key_to_base64(key, pi->public_key);
	ts_json_open_object(j, NULL);
	ts_json_string(j, "public_key", key);
	ts_json_string(j, "endpoint", has_ep ? ts_endpoint_str(&pi->endpoint, ep) : NULL);
	if (pi->last_handshake_ns)
		ts_json_uint(j, "latest_handshake", pi->last_handshake_ns / 1000000000u);
	else
		ts_json_null(j, "latest_handshake");
	ts_json_uint(j, "rx_bytes", pi->rx_bytes);
	ts_json_uint(j, "tx_bytes", pi->tx_bytes);
	ts_json_bool(j, "has_session", pi->has_session);
	ts_json_string(j, "path",
		       ts_peer_path(pc->eng, pi->public_key, has_ep, path, sizeof(path)));
	ts_json_close_object(j);
	return 0;
}

void ts_status_json(FILE *out, const struct ts_engine_table *eng, struct ts_pipeline_host *ph,
		    bool status)
{
	struct ts_json j;

	ts_json_init(&j, out);
	if (!status) {
		pipeline_object(&j, ph, NULL);
		ts_json_end(&j);
		return;
	}
	ts_json_open_object(&j, NULL);
	if (eng->ifname) {
		char key[TS_KEY_BASE64_LEN];
		uint8_t pub[32];
		struct ts_counter c[32];
		size_t n = eng->drop_counters ? eng->drop_counters(eng->ctx, c, 32) : 0;
		struct peer_ctx pc = {.j = &j, .eng = eng};

		ts_json_string(&j, "interface", eng->ifname(eng->ctx));
		if (eng->public_key(eng->ctx, pub)) {
			ts_key_to_base64(key, pub);
			ts_json_string(&j, "public_key", key);
		} else {
			ts_json_null(&j, "public_key");
		}
		ts_json_uint(&j, "listen_port", eng->listen_port(eng->ctx));
		ts_json_open_object(&j, "dropped");
		for (size_t i = 0; i < n && i < 32; i++)
			ts_json_uint(&j, c[i].name, c[i].value);
		ts_json_close_object(&j);
		ts_json_open_array(&j, "peers");
		eng->peer_foreach(eng->ctx, peer_json, &pc);
		ts_json_close_array(&j);
	}
	pipeline_object(&j, ph, "pipeline");
	ts_json_close_object(&j);
	ts_json_end(&j);
}
