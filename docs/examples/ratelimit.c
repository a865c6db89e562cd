// SPDX-License-Identifier: MIT
/*
 * ratelimit: at most `rate` packets a second into the tunnel to each peer,
 * in bursts of up to `burst`; the rest is dropped.  The host keeps a bucket
 * per peer (peer_state), checks the config (config_schema) and, as migrate
 * is set, carries the buckets across a reload: no fresh burst for anyone.
 *
 *   - { name: limit, use: ratelimit, hooks: [plaintext_out], config: { rate: 100, burst: 20 } }
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <tinescale/plugin.h>

struct limiter {
	const struct ts_host_services *host;
	uint64_t interval_ns, burst_ns; /* 1 / rate, and burst times that */
	_Atomic uint64_t dropped;
};

static enum ts_verdict limit(void *state, struct ts_packet *pkt)
{
	struct limiter *l = state;
	/* The peer's bucket, GCRA: when its next packet is due (atomic: hooks race). */
	_Atomic uint64_t *due = NULL;
	uint64_t now, tat, next;

	if (pkt->peer_public_key)
		due = l->host->peer_state(l->host, pkt->peer_public_key);
	if (!due)
		return TS_PASS;
	now = l->host->now_ns(l->host);
	tat = atomic_load(due);
	do {
		next = (tat > now ? tat : now) + l->interval_ns;
		if (next - now > l->burst_ns) {
			atomic_fetch_add(&l->dropped, 1);
			return TS_DROP;
		}
	} while (!atomic_compare_exchange_weak(due, &tat, next));
	return TS_PASS;
}

static const struct ts_config_key schema[] = {
    {.key = "rate", .type = TS_CFG_INT, .min = 1, .max = 10000000, .required = true},
    {.key = "burst", .type = TS_CFG_INT, .min = 1, .max = 1000000},
    {0},
};

static int create(const struct ts_host_services *host, const struct ts_config_node *config,
		  void **state, char *err, size_t errlen)
{
	long long rate, burst = 1;
	struct limiter *l;

	/* The schema checked both; a host older than 2.1 refuses this descriptor. */
	host->config_int(host, config, "rate", &rate);
	host->config_int(host, config, "burst", &burst);
	l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	l->host = host;
	l->interval_ns = 1000000000ull / (uint64_t)rate;
	l->burst_ns = l->interval_ns * (uint64_t)burst;
	*state = l;
	return 0;
}

/* The buckets were copied by the host; the counter is ours to carry. */
static void migrate(void *old_state, void *new_state)
{
	struct limiter *o = old_state, *n = new_state;

	atomic_store(&n->dropped, atomic_load(&o->dropped));
}

static void destroy(void *state)
{
	struct limiter *l = state;

	l->host->log(l->host, TS_LOG_INFO, "dropped %llu packets",
		     (unsigned long long)atomic_load(&l->dropped));
	free(l);
}

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct ts_plugin_v2),
    .name = "ratelimit",
    .version = "1.0",
    .create = create,
    .destroy = destroy,
    .plaintext_out = limit,
    .peer_state_size = sizeof(_Atomic uint64_t),
    .migrate = migrate,
    .config_schema = schema,
};
