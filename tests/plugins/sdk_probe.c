/* SPDX-License-Identifier: MIT */
/*
 * Test plugin for the 2.1 SDK services (test_pipeline's test_sdk): per-peer
 * slots with peer_added/peer_removed, migrate, the 2.1 events, the async
 * output (to a target, and to a callback: output_open_cb, output_writev)
 * and a config schema.  What it sees goes to sdk_global, which the
 * test reads through its own dlopen of this file.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <tinescale/plugin.h>

#include "sdk_probe.h"

TS_PLUGIN_EXPORT struct sdk_global sdk_global;

struct slot {
	_Atomic uint64_t hits;
};

struct state {
	const struct ts_host_services *host;
	struct ts_output *out;
	bool cb;
	long generation;
};

static struct state states[8];
static _Atomic int n_states;

/* Written by every hook that writes to a callback output, read on the callback thread. */
static _Atomic pthread_t cb_hook_thread;

/* output_open_cb's callback: each record whole and in one piece, off the hook's thread. */
static void on_record(void *arg, const void *rec, size_t len, bool closing)
{
	const char *c = rec;

	(void)arg;
	if (pthread_equal(pthread_self(), atomic_load(&cb_hook_thread)))
		sdk_global.cb_wrong_thread++;
	if (closing)
		sdk_global.cb_closing++;
	if (!rec) {
		if (!closing)
			sdk_global.cb_idle++;
		return;
	}
	if (len != 256 || c[0] != 'x' || c[99] != 'x' || c[100] != 'x' || c[255] != '\n')
		sdk_global.cb_bad++;
	sdk_global.cb_records++;
	sdk_global.cb_bytes += (long)len;
}

static enum ts_verdict hook(void *st, struct ts_packet *pkt)
{
	struct state *s = st;
	struct slot *sl =
	    pkt->peer_public_key ? s->host->peer_state(s->host, pkt->peer_public_key) : NULL;
	char line[256];

	if (sl)
		atomic_store(&sdk_global.hits, (long)atomic_fetch_add(&sl->hits, 1) + 1);
	if (s->out) {
		struct iovec iov[2] = {{.iov_base = line, .iov_len = 100},
				       {.iov_base = line + 100, .iov_len = sizeof(line) - 100}};

		memset(line, 'x', sizeof(line) - 1);
		line[sizeof(line) - 1] = '\n';
		if (s->cb)
			atomic_store(&cb_hook_thread, pthread_self());
		if (s->cb ? s->host->output_writev(s->host, s->out, iov, 2)
			  : s->host->output_write(s->host, s->out, line, sizeof(line)))
			sdk_global.refused++;
		else
			sdk_global.writes++;
	}
	return TS_PASS;
}

static void added(void *st, const uint8_t key[32], void *slot)
{
	sdk_global.added++;
}

static void removed(void *st, const uint8_t key[32], void *slot)
{
	sdk_global.removed++;
	sdk_global.removed_hits = (long)atomic_load(&((struct slot *)slot)->hits);
}

static void migrate(void *old_state, void *new_state)
{
	struct state *o = old_state, *n = new_state;

	n->generation = o->generation + 1;
	sdk_global.generation = n->generation;
	sdk_global.migrations++;
}

static void event(void *st, const struct ts_event *ev)
{
	sdk_global.last_event = ev->type;
}

static int create(const struct ts_host_services *host, const struct ts_config_node *config,
		  void **state, char *err, size_t errlen)
{
	int i = atomic_fetch_add(&n_states, 1) % 8;
	const char *out = host->config_string(host, config, "out");
	long long max = 0;
	struct state *s = &states[i];

	host->config_int(host, config, "max", &max);
	memset(s, 0, sizeof(*s));
	s->host = host;
	host->config_bool(host, config, "on", &s->cb);
	if (s->cb) {
		s->out = host->output_open_cb(host, (size_t)max, 10, on_record, s, err, errlen);
		if (!s->out)
			return -1;
	} else if (out) {
		s->out = host->output_open(host, out, (size_t)max, err, errlen);
		if (!s->out)
			return -1;
	}
	*state = s;
	return 0;
}

static const struct ts_config_key schema[] = {
    {.key = "out", .type = TS_CFG_STRING},
    {.key = "max", .type = TS_CFG_INT, .min = 0, .max = 1 << 20},
    {.key = "on", .type = TS_CFG_BOOL},
    {.key = "list", .type = TS_CFG_LIST},
    {.key = "need", .type = TS_CFG_STRING, .required = false},
    {0},
};

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct ts_plugin_v2),
    .name = "sdk_probe",
    .version = "2.1",
    .create = create,
    .plaintext_out = hook,
    .event = event,
    .peer_state_size = sizeof(struct slot),
    .peer_added = added,
    .peer_removed = removed,
    .migrate = migrate,
    .config_schema = schema,
};
