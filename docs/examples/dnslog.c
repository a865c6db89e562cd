// SPDX-License-Identifier: MIT
/*
 * dnslog: logs the name and type of every DNS query sent into the tunnel,
 * one line each, to `path` (a file, a FIFO, or "unix:/socket").  The hook
 * only formats the line and hands it to the host's async output, whose own
 * thread writes it: hooks must not block.  Lines that do not fit are
 * dropped and counted (`tinescale ctl IFNAME plugins` shows the counts).
 *
 *   - { name: dns, use: dnslog, hooks: [plaintext_out], config: { path: /var/log/dns.log } }
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tinescale/packet.h>
#include <tinescale/plugin.h>

struct dnslog {
	const struct ts_host_services *host;
	struct ts_output *out;
};

/* The question's name as text and the offset after it; 0 if malformed (each length checked). */
static size_t qname(const uint8_t *p, size_t len, char *name, size_t size)
{
	size_t o = 12, n = 0; /* after the 12-byte header */

	while (o < len && p[o]) {
		size_t l = p[o++];

		if (l > 63 || l > len - o || n + l + 2 > size)
			return 0; /* also a compression pointer (0xc0): none in a query */
		if (n)
			name[n++] = '.';
		for (size_t i = 0; i < l; i++, o++)
			name[n++] = p[o] > ' ' && p[o] < 0x7f ? (char)p[o] : '?';
	}
	name[n] = '\0';
	return o < len && n ? o + 1 : 0;
}

static enum ts_verdict on_out(void *state, struct ts_packet *pkt)
{
	struct dnslog *d = state;
	char name[256], line[320];
	struct ts_pkt_view v;
	const uint8_t *dns;
	size_t end;

	if (ts_pkt_parse(pkt->data, pkt->len, &v) || v.proto != IPPROTO_UDP || v.dport != 53)
		return TS_PASS;
	dns = pkt->data + v.payload_off; /* a query (QR 0) with a question: name, then type */
	if (v.payload_len < 12 || (dns[2] & 0x80) || !ts_get16(dns + 4))
		return TS_PASS;
	end = qname(dns, v.payload_len, name, sizeof(name));
	if (!end || v.payload_len - end < 2)
		return TS_PASS;
	snprintf(line, sizeof(line), "query %s type %u\n", name, ts_get16(dns + end));
	d->host->output_write(d->host, d->out, line, strlen(line)); /* -ENOBUFS: counted */
	return TS_PASS;
}

static const struct ts_config_key schema[] = {
    {.key = "path", .type = TS_CFG_STRING, .required = true},
    {0},
};

static int create(const struct ts_host_services *host, const struct ts_config_node *config,
		  void **state, char *err, size_t errlen)
{
	struct dnslog *d = calloc(1, sizeof(*d));

	if (d) /* path: required by the schema */
		d->out = host->output_open(host, host->config_string(host, config, "path"), 0, err,
					   errlen);
	if (!d || !d->out) {
		free(d);
		return -1; /* output_open wrote why (calloc failing: create failed) */
	}
	d->host = host;
	*state = d;
	return 0;
}

/* The host closes the output after destroy(), writing what is queued. */
static void destroy(void *state)
{
	free(state);
}

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct ts_plugin_v2),
    .name = "dnslog",
    .version = "1.0",
    .create = create,
    .destroy = destroy,
    .plaintext_out = on_out,
    .config_schema = schema,
};
