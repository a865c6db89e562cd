/* SPDX-License-Identifier: MIT */
/* Test plugin: create() fails; config `needle:` absent gives the message the test expects. */
#include <stdio.h>
#include <tinescale/plugin.h>

static int create(const struct ts_host_services *host, const struct ts_config_node *config,
		  void **state, char *err, size_t errlen)
{
	const char *n = host->config_string(host, config, "needle");

	if (n)
		snprintf(err, errlen, "needle '%s' not found\nsecond line", n);
	else
		snprintf(err, errlen, "needle is required");
	return -1;
}

static enum ts_verdict hook(void *state, struct ts_packet *pkt)
{
	return TS_PASS;
}

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct ts_plugin_v2),
    .name = "fail_create",
    .version = "0.1",
    .create = create,
    .plaintext_in = hook,
};
