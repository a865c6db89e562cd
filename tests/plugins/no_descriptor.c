/* SPDX-License-Identifier: MIT */
/* Test plugin: a shared object without the tinescale_plugin_v2 symbol. */
#include <tinescale/plugin.h>

TS_PLUGIN_EXPORT int not_a_plugin(void);

int not_a_plugin(void)
{
	return 42;
}
