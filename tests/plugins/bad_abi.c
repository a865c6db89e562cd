/* SPDX-License-Identifier: MIT */
/* Test plugin: built for an ABI this host does not speak (99). */
#include <tinescale/plugin.h>

static int create(const struct ts_host_services *host, const struct ts_config_node *config,
		  void **state, char *err, size_t errlen)
{
	return -1;
}

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = 99,
    .struct_size = sizeof(struct ts_plugin_v2),
    .name = "bad_abi",
    .version = "9.9",
    .create = create,
};
