/* SPDX-License-Identifier: MIT */
/*
 * Test plugin: built against a "newer" header whose descriptor has grown by
 * 16 bytes.  A host must refuse it rather than ignore fields it cannot know.
 * Built twice: against the current header (tinescale_plugin_v2) and, with
 * TS_TEST_V1, against the frozen 1.x header (tinescale_plugin_v1).
 */
#include <tinescale/plugin.h>

#ifdef TS_TEST_V1
#define DESC	 ts_plugin_v1
#define DESC_SYM tinescale_plugin_v1
#else
#define DESC	 ts_plugin_v2
#define DESC_SYM tinescale_plugin_v2
#endif

static int create(const struct ts_host_services *host, const struct ts_config_node *config,
		  void **state, char *err, size_t errlen)
{
	return 0;
}

struct newer_descriptor {
	struct DESC d;
	void *appended[2]; /* fields a future header might add */
};

TS_PLUGIN_EXPORT const struct newer_descriptor DESC_SYM = {
    .d =
	{
	    .abi_version = TS_PLUGIN_ABI_VERSION,
	    .struct_size = sizeof(struct newer_descriptor),
	    .name = "big_struct",
	    .version = "9.0",
	    .create = create,
	},
};
