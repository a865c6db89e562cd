// SPDX-License-Identifier: MIT
/*
 * icmp_counter: the README's "Write your own plugin" example.  It counts ICMP
 * echo requests leaving and echo replies arriving, per peer, and drops echo
 * requests to one address.  Build it out of tree:
 *
 *   cmake --install build --prefix /tmp/ts
 *   export PKG_CONFIG_PATH=/tmp/ts/share/pkgconfig
 *   cc -shared -fPIC $(pkg-config --cflags tinescale-plugin) icmp_counter.c -o icmp_counter.so
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
 * replies=3 blocked=2"), which `tinescale ctl IFNAME status` shows under the
 * peer; destroy() logs the totals.  IPv4 only, to stay short.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tinescale/plugin.h>

#define MAX_PEERS 64

struct peer_count {
	uint8_t key[32];
	unsigned long requests, replies, blocked;
};

struct counter {
	const struct ts_host_services *host;
	struct in_addr block; /* s_addr 0: block nothing */
	ts_timer_id timer;
	/*
	 * Hooks run on several threads at once: the table is guarded by a
	 * mutex held for a few instructions only (hooks must not block).
	 */
	pthread_mutex_t lock;
	struct peer_count peers[MAX_PEERS];
	size_t n_peers;
};

/* The entry of a peer, added on first sight; NULL when the table is full.  Lock held. */
static struct peer_count *entry(struct counter *c, const uint8_t key[32])
{
	for (size_t i = 0; i < c->n_peers; i++)
		if (!memcmp(c->peers[i].key, key, 32))
			return &c->peers[i];
	if (c->n_peers == MAX_PEERS)
		return NULL;
	memset(&c->peers[c->n_peers], 0, sizeof(c->peers[0]));
	memcpy(c->peers[c->n_peers].key, key, 32);
	return &c->peers[c->n_peers++];
}

/*
 * The ICMP type of an IPv4 packet, or -1 when it is not ICMP.  Every length
 * is checked before the byte is read: the packet comes from the network.
 */
static int icmp_type(const struct ts_packet *pkt, struct in_addr *dst)
{
	const uint8_t *p = pkt->data;
	size_t ihl;

	if (pkt->len < 20 || (p[0] >> 4) != 4)
		return -1;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	if (ihl < 20 || pkt->len < ihl + 1 || p[9] != IPPROTO_ICMP)
		return -1;
	memcpy(&dst->s_addr, p + 16, 4); /* memcpy: the buffer may be unaligned */
	return p[ihl];
}

static enum ts_verdict count(struct counter *c, struct ts_packet *pkt)
{
	struct in_addr dst;
	int type = icmp_type(pkt, &dst);
	enum ts_verdict v = TS_PASS;
	struct peer_count *e;

	if (type < 0 || !pkt->peer_public_key)
		return TS_PASS;
	pthread_mutex_lock(&c->lock);
	e = entry(c, pkt->peer_public_key);
	if (pkt->hook == TS_HOOK_PLAINTEXT_OUT && type == 8) { /* echo request */
		if (c->block.s_addr && dst.s_addr == c->block.s_addr) {
			v = TS_DROP;
			if (e)
				e->blocked++;
		} else if (e) {
			e->requests++;
		}
	} else if (pkt->hook == TS_HOOK_PLAINTEXT_IN && type == 0 && e) { /* echo reply */
		e->replies++;
	}
	pthread_mutex_unlock(&c->lock);
	return v;
}

static enum ts_verdict on_out(void *state, struct ts_packet *pkt)
{
	return count(state, pkt);
}

static enum ts_verdict on_in(void *state, struct ts_packet *pkt)
{
	return count(state, pkt);
}

/* Timer thread: publish the counts as notes.  Copy under the lock, call the host outside it. */
static void report(void *arg)
{
	struct counter *c = arg;
	struct peer_count snap[MAX_PEERS];
	size_t n;
	char value[TS_NOTE_VALUE_MAX + 1];

	pthread_mutex_lock(&c->lock);
	n = c->n_peers;
	memcpy(snap, c->peers, n * sizeof(snap[0]));
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < n; i++) {
		snprintf(value, sizeof(value), "requests=%lu replies=%lu blocked=%lu",
			 snap[i].requests, snap[i].replies, snap[i].blocked);
		c->host->note_set(c->host, snap[i].key, "icmp", value);
	}
}

static int create(const struct ts_host_services *host, const struct ts_config_node *config,
		  void **state, char *err, size_t errlen)
{
	struct counter *c;
	const char *key, *block;
	long long report_ms = 1000;
	int r;

	/* note_set came after ABI 1.0: a host that lacks it gets a clear error. */
	if (host->struct_size <
	    offsetof(struct ts_host_services, note_set) + sizeof(host->note_set)) {
		snprintf(err, errlen, "this tinescale is too old: no note_set service");
		return -1;
	}
	/* Refuse keys we do not know: a typo must not be silently ignored. */
	for (size_t i = 0; (key = host->config_key_at(host, config, i)); i++) {
		if (strcmp(key, "block") && strcmp(key, "report_ms")) {
			snprintf(err, errlen, "unknown key '%s', expected block or report_ms", key);
			return -1;
		}
	}
	r = host->config_int(host, config, "report_ms", &report_ms);
	if (r == -EINVAL || (r == 0 && (report_ms < 100 || report_ms > 3600000))) {
		snprintf(err, errlen, "report_ms: expected milliseconds, 100..3600000");
		return -1;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->host = host;
	pthread_mutex_init(&c->lock, NULL);
	block = host->config_string(host, config, "block");
	if (block && inet_pton(AF_INET, block, &c->block) != 1) {
		snprintf(err, errlen, "block: '%s' is not an IPv4 address", block);
		goto fail;
	}
	c->timer = host->timer_add(host, (uint32_t)report_ms, report, c);
	if (!c->timer) {
		snprintf(err, errlen, "cannot start the report timer");
		goto fail;
	}
	host->log(host, TS_LOG_INFO, "counting pings%s%s", block ? ", dropping those to " : "",
		  block ? block : "");
	*state = c;
	return 0;
fail:
	pthread_mutex_destroy(&c->lock);
	free(c);
	return -1;
}

/* No hook or timer of this instance runs any more (the host guarantees it). */
static void destroy(void *state)
{
	struct counter *c = state;

	report(c); /* the last counts stay visible in `ctl status` */
	for (size_t i = 0; i < c->n_peers; i++)
		c->host->log(c->host, TS_LOG_INFO,
			     "peer %zu: %lu echo requests, %lu replies, %lu blocked", i,
			     c->peers[i].requests, c->peers[i].replies, c->peers[i].blocked);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct ts_plugin_v2),
    .name = "icmp_counter",
    .version = "1.0",
    .create = create,
    .destroy = destroy,
    .plaintext_out = on_out,
    .plaintext_in = on_in,
};
