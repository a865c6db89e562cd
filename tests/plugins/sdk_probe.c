/* SPDX-License-Identifier: MIT */
/*
 * Test plugin for the 2.1 SDK services (test_pipeline's test_sdk): per-peer
 * slots with peer_added/peer_removed, migrate, the 2.1 events, the async
 * output and a config schema.  What it sees goes to sdk_global, which the
 * test reads through its own dlopen of this file.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <tinescale/plugin.h>

struct sdk_global {
	_Atomic long added, removed, migrations, removed_hits, last_event, hits, writes, refused;
	_Atomic long generation;
};

TS_PLUGIN_EXPORT struct sdk_global sdk_global;

struct slot {
	_Atomic uint64_t hits;
};

struct state {
	const struct ts_host_services *host;
	struct ts_output *out;
	long generation;
};

static struct state states[8];
static _Atomic int n_states;

static enum ts_verdict hook(void *st, struct ts_packet *pkt)
{
	struct state *s = st;
	struct slot *sl =
	    pkt->peer_public_key ? s->host->peer_state(s->host, pkt->peer_public_key) : NULL;
	char line[256];

	if (sl)
		atomic_store(&sdk_global.hits, (long)atomic_fetch_add(&sl->hits, 1) + 1);
	if (s->out) {
		memset(line, 'x', sizeof(line) - 1);
		line[sizeof(line) - 1] = '\n';
		if (s->host->output_write(s->host, s->out, line, sizeof(line)))
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
	if (out) {
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
