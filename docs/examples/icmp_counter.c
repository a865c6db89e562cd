// SPDX-License-Identifier: MIT
/*
 * icmp_counter: counts ICMP echo requests leaving and echo replies
 * arriving, per peer, and drops echo requests to one address (notes,
 * timers and peer_foreach; the README's table of examples).  Build it at
 * the top of the source tree, as the README builds ratelimit.c:
 *
 *   cmake --install build --prefix /tmp/ts
 *   export PKG_CONFIG_PATH=/tmp/ts/share/pkgconfig
 *   cc -shared -fPIC $(pkg-config --cflags tinescale-plugin) docs/examples/icmp_counter.c -o icmp_counter.so
 *
 * and load it from a pipeline:
 *
 *   plugins:
 *     - name: pings
 *       use: /path/to/icmp_counter.so
 *       hooks: [plaintext_out, plaintext_in]
 *       config: { block: 10.0.0.3, report_ms: 1000 }
 *
 * Every report_ms the counts become a note on each peer ("icmp: requests=3
 * replies=3 blocked=3" after three pings to 10.0.0.2 and three to 10.0.0.3,
 * once the peer's allowed IPs include 10.0.0.3: a packet no peer is routed
 * to never reaches a hook), which `tinescale ctl IFNAME status` shows under
 * the peer; destroy() logs the totals.  IPv4 only, to stay short.
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tinescale/packet.h>
#include <tinescale/plugin.h>

/* What we count, per peer (the host's peer_state slot, zeroed) and in all. */
enum { REQUESTS, REPLIES, BLOCKED };
struct counts {
	_Atomic uint64_t n[3]; /* atomic: hooks run on several threads at once */
};

struct counter {
	const struct ts_host_services *host;
	struct in_addr block; /* s_addr 0: block nothing */
	struct counts total;
};

static void add(struct counts *per_peer, struct counts *total, int what)
{
	if (per_peer)
		atomic_fetch_add(&per_peer->n[what], 1);
	atomic_fetch_add(&total->n[what], 1);
}

static enum ts_verdict count(void *state, struct ts_packet *pkt)
{
	struct counter *c = state;
	struct ts_pkt_view v;
	struct counts *peer = NULL;
	const uint8_t *icmp;

	/* The SDK checks every length: the packet comes from the network. */
	if (ts_pkt_parse(pkt->data, pkt->len, &v) || v.proto != IPPROTO_ICMP || !v.l4_len)
		return TS_PASS;
	icmp = pkt->data + v.l4_off;
	if (pkt->peer_public_key)
		peer = c->host->peer_state(c->host, pkt->peer_public_key);
	if (pkt->hook == TS_HOOK_PLAINTEXT_OUT && icmp[0] == 8) { /* echo request */
		if (c->block.s_addr && !memcmp(pkt->data + 16, &c->block.s_addr, 4)) {
			add(peer, &c->total, BLOCKED);
			return TS_DROP;
		}
		add(peer, &c->total, REQUESTS);
	} else if (pkt->hook == TS_HOOK_PLAINTEXT_IN && icmp[0] == 0) { /* echo reply */
		add(peer, &c->total, REPLIES);
	}
	return TS_PASS;
}

/* Timer thread: each peer's counts become a note on the peer. */
static int report_peer(void *arg, const struct ts_plugin_peer *p)
{
	struct counter *c = arg;
	struct counts *n = c->host->peer_state(c->host, p->public_key);
	char value[TS_NOTE_VALUE_MAX + 1];

	if (!n)
		return 0;
	snprintf(value, sizeof(value), "requests=%llu replies=%llu blocked=%llu",
		 (unsigned long long)n->n[REQUESTS], (unsigned long long)n->n[REPLIES],
		 (unsigned long long)n->n[BLOCKED]);
	c->host->note_set(c->host, p->public_key, "icmp", value);
	return 0;
}

static void report(void *arg)
{
	struct counter *c = arg;

	c->host->peer_foreach(c->host, report_peer, c);
}

/* What the config may hold: the host refuses anything else, with FILE:LINE:COLUMN. */
static const struct ts_config_key schema[] = {
    {.key = "block", .type = TS_CFG_STRING},
    {.key = "report_ms", .type = TS_CFG_INT, .min = 100, .max = 3600000},
    {0},
};

static int create(const struct ts_host_services *host, const struct ts_config_node *config,
		  void **state, char *err, size_t errlen)
{
	const char *block = host->config_string(host, config, "block");
	long long report_ms = 1000;
	struct counter *c;

	host->config_int(host, config, "report_ms", &report_ms); /* -ENOENT: the default */
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->host = host;
	if (block && inet_pton(AF_INET, block, &c->block) != 1) {
		/* The host places this error at the `block` key: the message names it. */
		snprintf(err, errlen, "block: '%s' is not an IPv4 address", block);
		free(c);
		return -1;
	}
	if (!host->timer_add(host, (uint32_t)report_ms, report, c)) {
		snprintf(err, errlen, "cannot start the report timer");
		free(c);
		return -1;
	}
	host->log(host, TS_LOG_INFO, "counting pings%s%s", block ? ", dropping those to " : "",
		  block ? block : "");
	*state = c;
	return 0;
}

/* No hook or timer of this instance runs any more; its notes go with it. */
static void destroy(void *state)
{
	struct counter *c = state;

	c->host->log(c->host, TS_LOG_INFO, "in all: %llu echo requests, %llu replies, %llu blocked",
		     (unsigned long long)c->total.n[REQUESTS],
		     (unsigned long long)c->total.n[REPLIES],
		     (unsigned long long)c->total.n[BLOCKED]);
	free(c);
}

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct ts_plugin_v2),
    .name = "icmp_counter",
    .version = "2.0",
    .create = create,
    .destroy = destroy,
    .plaintext_out = count,
    .plaintext_in = count,
    .peer_state_size = sizeof(struct counts),
    .config_schema = schema,
};
