/* SPDX-License-Identifier: MIT */
/*
 * Test plugin: a pass-through counter on every hook.  Config (all optional):
 *   id: N          index into counter_global.by_id (0..63)
 *   slot: N        add 'add' to data[slot] of every packet (if long enough)
 *   add: N         default 1
 *   verdict: pass | drop | stolen | bogus (returns 42)
 *   timer_ms: N    a periodic timer counting its firings
 *   timer_peer_info: true   the timer callback calls peer_info (which a
 *                  test's fake engine may block on its "engine lock")
 *   cancel_on_event: true   event() cancels the timer (waiting for a running
 *                  callback, as plugin.h allows)
 * Built twice: against the current header, and with TS_TEST_V1 against the
 * frozen 1.x header as counter_v1.so (proves v1 plugins still load and see
 * their layouts).
 * Unknown keys are rejected (via config_key_at).  The test reads
 * counter_global through dlsym, holding its own reference to the .so.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <tinescale/plugin.h>

struct counter_global {
	_Atomic long creates, destroys, double_destroys, packets, events, last_event;
	_Atomic long timer_fires, timer_after_destroy;
	_Atomic long by_id[64];
	_Atomic long pool_used;
	/* filled by `probe: true` at create, from the host services */
	long probe_port, probe_peers, probe_info_missing, probe_send, probe_key;
	char probe_ifname[32];
	/* appended: where and how events arrive */
	_Atomic unsigned long event_thread; /* pthread_self() of the last event() */
	_Atomic long event_struct_size;	    /* ev->struct_size of the last event (v2) */
	_Atomic long event_cancels;	    /* timer_cancel calls from event() returned */
	_Atomic long timer_in_peer_info;    /* timer callbacks inside peer_info now */
};
TS_PLUGIN_EXPORT struct counter_global counter_global;

struct cstate {
	const struct ts_host_services *host;
	long long id, slot, add;
	int verdict;
	bool timer_peer_info, cancel_on_event;
	ts_timer_id timer;
	_Atomic int dead;
};

/* States are never freed, so a late timer or hook is detected, not a crash. */
static struct cstate pool[16384];

static void tick(void *arg)
{
	struct cstate *s = arg;

	if (atomic_load(&s->dead))
		atomic_fetch_add(&counter_global.timer_after_destroy, 1);
	else
		atomic_fetch_add(&counter_global.timer_fires, 1);
	if (s->timer_peer_info) {
		struct ts_plugin_peer p = {.struct_size = sizeof(p)};
		static const uint8_t key[32] = {0x11, 0x11};

		atomic_fetch_add(&counter_global.timer_in_peer_info, 1);
		s->host->peer_info(s->host, key, &p);
		atomic_fetch_sub(&counter_global.timer_in_peer_info, 1);
	}
}

static int count_peer(void *ctx, const struct ts_plugin_peer *peer)
{
	(*(long *)ctx)++;
	return 0;
}

static void run_probe(const struct ts_host_services *host)
{
	static const uint8_t unknown[32];
	union ts_plugin_endpoint ep = {.in = {.sin_family = AF_INET, .sin_port = htons(9)}};
	struct ts_plugin_peer p = {.struct_size = sizeof(p)};
	uint8_t key[32];
	const char *ifn;

	counter_global.probe_port = host->listen_port(host);
	counter_global.probe_peers = 0;
	host->peer_foreach(host, count_peer, &counter_global.probe_peers);
	counter_global.probe_info_missing = host->peer_info(host, unknown, &p);
	ep.in.sin_addr.s_addr = htonl(0x7f000001);
	counter_global.probe_send = host->send_datagram(host, &ep, (const uint8_t *)"hi", 2);
	counter_global.probe_key = host->public_key(host, key) ? key[0] : -1;
	ifn = host->ifname(host);
	snprintf(counter_global.probe_ifname, sizeof(counter_global.probe_ifname), "%s", ifn);
	host->log(host, TS_LOG_INFO, "probe: port %ld, %ld peers", counter_global.probe_port,
		  counter_global.probe_peers);
}

static int create(const struct ts_host_services *host, const struct ts_config_node *config,
		  void **state, char *err, size_t errlen)
{
	static const char *const known[] = {"id",
					    "slot",
					    "add",
					    "verdict",
					    "timer_ms",
					    "probe",
					    "timer_peer_info",
					    "cancel_on_event"};
	long used = atomic_fetch_add(&counter_global.pool_used, 1);
	struct cstate *s;
	const char *k, *v;
	long long ms = 0;
	bool probe = false;

	if (used >= (long)(sizeof(pool) / sizeof(pool[0]))) {
		snprintf(err, errlen, "state pool exhausted");
		return -1;
	}
	s = &pool[used];
	s->host = host;
	s->id = 0;
	s->slot = -1;
	s->add = 1;
	for (size_t i = 0; (k = host->config_key_at(host, config, i)); i++) {
		size_t j;

		for (j = 0; j < sizeof(known) / sizeof(known[0]); j++)
			if (!strcmp(k, known[j]))
				break;
		if (j == sizeof(known) / sizeof(known[0])) {
			snprintf(err, errlen, "unknown config key '%s'", k);
			return -1;
		}
	}
	if (host->config_int(host, config, "id", &s->id) == -EINVAL || s->id < 0 || s->id > 63) {
		snprintf(err, errlen, "'id' must be an integer 0..63");
		return -1;
	}
	if (host->config_int(host, config, "slot", &s->slot) == -EINVAL) {
		snprintf(err, errlen, "'slot' must be an integer");
		return -1;
	}
	if (host->config_int(host, config, "add", &s->add) == -EINVAL) {
		snprintf(err, errlen, "'add' must be an integer");
		return -1;
	}
	v = host->config_string(host, config, "verdict");
	if (!v || !strcmp(v, "pass"))
		s->verdict = TS_PASS;
	else if (!strcmp(v, "drop"))
		s->verdict = TS_DROP;
	else if (!strcmp(v, "stolen"))
		s->verdict = TS_STOLEN;
	else if (!strcmp(v, "bogus"))
		s->verdict = 42;
	else {
		snprintf(err, errlen, "'verdict' must be pass, drop, stolen or bogus");
		return -1;
	}
	if (host->config_int(host, config, "timer_ms", &ms) == -EINVAL || ms < 0 || ms > 60000) {
		snprintf(err, errlen, "'timer_ms' must be 0..60000");
		return -1;
	}
	s->timer_peer_info = s->cancel_on_event = false;
	host->config_bool(host, config, "timer_peer_info", &s->timer_peer_info);
	host->config_bool(host, config, "cancel_on_event", &s->cancel_on_event);
	s->timer = ms ? host->timer_add(host, (uint32_t)ms, tick, s) : 0;
	if (ms && !s->timer) {
		snprintf(err, errlen, "timer_add failed");
		return -1;
	}
	if (host->config_bool(host, config, "probe", &probe) == 0 && probe)
		run_probe(host);
	atomic_store(&s->dead, 0);
	atomic_fetch_add(&counter_global.creates, 1);
	*state = s;
	return 0;
}

static void destroy(void *state)
{
	struct cstate *s = state;

	if (atomic_exchange(&s->dead, 1))
		atomic_fetch_add(&counter_global.double_destroys, 1);
	atomic_fetch_add(&counter_global.destroys, 1);
}

static enum ts_verdict hook(void *state, struct ts_packet *pkt)
{
	struct cstate *s = state;

	if (atomic_load_explicit(&s->dead, memory_order_relaxed))
		atomic_fetch_add(&counter_global.timer_after_destroy, 1000000);
	atomic_fetch_add_explicit(&counter_global.packets, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&counter_global.by_id[s->id], 1, memory_order_relaxed);
	if (s->slot >= 0 && (size_t)s->slot < pkt->len)
		pkt->data[s->slot] = (uint8_t)(pkt->data[s->slot] + (uint8_t)s->add);
	return (enum ts_verdict)s->verdict;
}

static void event(void *state, const struct ts_event *ev)
{
	struct cstate *s = state;

	atomic_store(&counter_global.event_thread, (unsigned long)pthread_self());
#ifndef TS_TEST_V1
	atomic_store(&counter_global.event_struct_size, (long)ev->struct_size);
#endif
	if (s->cancel_on_event && s->timer) {
		s->host->timer_cancel(s->host, s->timer);
		s->timer = 0;
		atomic_fetch_add(&counter_global.event_cancels, 1);
	}
	atomic_store(&counter_global.last_event, (long)ev->type);
	atomic_fetch_add(&counter_global.events, 1);
}

#ifdef TS_TEST_V1
#define DESC	 ts_plugin_v1
#define DESC_SYM tinescale_plugin_v1
#else
#define DESC	 ts_plugin_v2
#define DESC_SYM tinescale_plugin_v2
#endif

TS_PLUGIN_EXPORT const struct DESC DESC_SYM = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct DESC),
    .name = "counter",
    .version = "1.0",
    .create = create,
    .destroy = destroy,
    .plaintext_out = hook,
    .ciphertext_out = hook,
    .ciphertext_in = hook,
    .plaintext_in = hook,
    .event = event,
};
