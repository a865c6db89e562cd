/* SPDX-License-Identifier: MIT */
/*
 * Test plugin: the cheapest possible interceptor, PASS on every hook and
 * nothing else.  The benchmark uses it to measure what the host itself
 * costs per hook (tests/bench/bench_plugins.sh).
 */
#include <stdlib.h>
#include <tinescale/plugin.h>

static int create(const struct ts_host_services *host, const struct ts_config_node *config,
		  void **state, char *err, size_t errlen)
{
	*state = NULL;
	return 0;
}

static enum ts_verdict pass(void *state, struct ts_packet *pkt)
{
	return TS_PASS;
}

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct ts_plugin_v2),
    .name = "passthrough",
    .version = "1.0",
    .create = create,
    .plaintext_out = pass,
    .ciphertext_out = pass,
    .ciphertext_in = pass,
    .plaintext_in = pass,
};
