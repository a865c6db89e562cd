// SPDX-License-Identifier: MIT
/*
 * mss_clamp: lowers the MSS option of TCP SYNs crossing the tunnel to
 * `mss`, so TCP never sends segments that do not fit the tunnel's MTU (what
 * `iptables ... TCPMSS --set-mss` does).  The SDK parses the packet (IPv4
 * with options, IPv6 with extension headers), finds the option and rewrites
 * it with the TCP checksum updated incrementally (RFC 1624).
 *
 *   - { name: clamp, use: mss_clamp, hooks: [plaintext_out, plaintext_in], config: { mss: 1360 } }
 */
#include <stdio.h>
#include <stdlib.h>
#include <tinescale/packet.h>
#include <tinescale/plugin.h>

#define TCPOPT_MSS 2

struct clamp {
	uint16_t mss;
};

static enum ts_verdict clamp(void *state, struct ts_packet *pkt)
{
	const struct clamp *c = state;
	struct ts_pkt_view v;
	uint8_t mss[2];
	long o;

	if (ts_pkt_parse(pkt->data, pkt->len, &v) || v.proto != IPPROTO_TCP ||
	    !(v.tcp_flags & TS_TCP_SYN))
		return TS_PASS;
	o = ts_pkt_tcp_option(pkt->data, &v, TCPOPT_MSS);
	if (o < 0 || pkt->data[o + 1] != 4 || ts_get16(pkt->data + o + 2) <= c->mss)
		return TS_PASS;
	ts_put16(mss, c->mss);
	ts_pkt_write(pkt->data, &v, (size_t)o + 2, mss, sizeof(mss));
	return TS_PASS;
}

static const struct ts_config_key schema[] = {
    {.key = "mss", .type = TS_CFG_INT, .min = 536, .max = 65495, .required = true},
    {0},
};

static int create(const struct ts_host_services *host, const struct ts_config_node *config,
		  void **state, char *err, size_t errlen)
{
	struct clamp *c = calloc(1, sizeof(*c));
	long long mss;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	host->config_int(host, config, "mss", &mss); /* required and in range: the schema */
	c->mss = (uint16_t)mss;
	*state = c;
	return 0;
}

static void destroy(void *state)
{
	free(state);
}

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct ts_plugin_v2),
    .name = "mss_clamp",
    .version = "1.0",
    .create = create,
    .destroy = destroy,
    .plaintext_out = clamp,
    .plaintext_in = clamp,
    .config_schema = schema,
};
