/* SPDX-License-Identifier: MIT */
/*
 * Test plugin for issue 12's host defects.  create() sets a note on the
 * interface keyed by its instance name (so two instances do not collide)
 * and fails when that is refused (notes leaking across reloads fill the
 * slots: -ENOSPC).  Its version is TS_TEST_VERSION, so a test can rebuild
 * it at the same path and see which build a reload runs.  It declares a
 * config schema: `count` is an integer in 1..100.
 */
#include <stdio.h>
#include <string.h>
#include <tinescale/plugin.h>

#ifndef TS_TEST_VERSION
#define TS_TEST_VERSION "1.0"
#endif

static int create(const struct ts_host_services *host, const struct ts_config_node *config,
		  void **state, char *err, size_t errlen)
{
	char value[TS_NOTE_VALUE_MAX + 1];
	int r;

	if (host->struct_size < TS_HOST_SERVICES_V2_1_SIZE) {
		snprintf(err, errlen, "host too old: no instance_name");
		return -1;
	}
	snprintf(value, sizeof(value), "set by %s", TS_TEST_VERSION);
	r = host->note_set(host, NULL, host->instance_name(host), value);
	if (r) {
		snprintf(err, errlen, "note_set: %s", strerror(-r));
		return -1;
	}
	*state = NULL;
	return 0;
}

static enum ts_verdict hook(void *state, struct ts_packet *pkt)
{
	return TS_PASS;
}

static const struct ts_config_key schema[] = {
    {.key = "count", .type = TS_CFG_INT, .min = 1, .max = 100},
    {.key = "label", .type = TS_CFG_STRING},
    {0},
};

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct ts_plugin_v2),
    .name = "notes_probe",
    .version = TS_TEST_VERSION,
    .create = create,
    .plaintext_in = hook,
    .config_schema = schema,
};
