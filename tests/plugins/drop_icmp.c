/* SPDX-License-Identifier: MIT */
/* Test plugin: drops ICMP echo requests (v4 type 8, v6 type 128) on plaintext_out. */
#include <stdlib.h>
#include <tinescale/plugin.h>

static int create(const struct ts_host_services *host, const struct ts_config_node *config,
		  void **state, char *err, size_t errlen)
{
	*state = NULL;
	return 0;
}

static enum ts_verdict out(void *state, struct ts_packet *pkt)
{
	const uint8_t *p = pkt->data;

	if (pkt->len >= 20 && p[0] >> 4 == 4) {
		size_t ihl = (size_t)(p[0] & 0x0f) * 4;

		/* protocol 1 = ICMP; the type is the first byte after the IP header */
		if (ihl >= 20 && pkt->len > ihl && p[9] == 1 && p[ihl] == 8)
			return TS_DROP;
	} else if (pkt->len > 40 && p[0] >> 4 == 6) {
		/* next header 58 = ICMPv6 directly after the fixed header */
		if (p[6] == 58 && p[40] == 128)
			return TS_DROP;
	}
	return TS_PASS;
}

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct ts_plugin_v2),
    .name = "drop_icmp",
    .version = "0.1",
    .create = create,
    .plaintext_out = out,
};
