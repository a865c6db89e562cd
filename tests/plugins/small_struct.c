/* SPDX-License-Identifier: MIT */
/* Test plugin: a descriptor claiming to be smaller than ABI v1's. */
#include <tinescale/plugin.h>

TS_PLUGIN_EXPORT const struct ts_plugin_v1 tinescale_plugin_v1 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = 8,
    .name = "small_struct",
    .version = "0.0",
};
