/* SPDX-License-Identifier: MIT */
/* Test plugin: a descriptor claiming to be smaller than ABI v2's. */
#include <tinescale/plugin.h>

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = 8,
    .name = "small_struct",
    .version = "0.0",
};
