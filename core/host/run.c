/* SPDX-License-Identifier: MIT */
/*
 * The hot path: run a hook point's chain on a packet.  The engine reaches
 * it through the hook table (active, run: base/seam.h), which converts the
 * engine's struct ts_hook_pkt to the public struct ts_packet and back;
 * version 1 plugins get the 1.x layout (abi_v1.h).
 *
 * Reader-only: every function here loads the current snapshot without a
 * lock, so its caller must be a registered RCU reader, online (base/rcu.h).
 * Debug builds assert it, so a thread that is not one is caught by tests.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <string.h>

#include "host_internal.h"
#include "rcu.h"

_Static_assert((int)TS_HP_PLAINTEXT_OUT == (int)TS_HOOK_PLAINTEXT_OUT &&
		   (int)TS_HP_CIPHERTEXT_OUT == (int)TS_HOOK_CIPHERTEXT_OUT &&
		   (int)TS_HP_CIPHERTEXT_IN == (int)TS_HOOK_CIPHERTEXT_IN &&
		   (int)TS_HP_PLAINTEXT_IN == (int)TS_HOOK_PLAINTEXT_IN,
	       "engine hook points and ABI hooks must agree");

static _Thread_local unsigned int sample_tick;

/* A version 1 plugin's hook: the same packet in the 1.x layout, and back. */
static unsigned int call_v1(const struct chain_entry *e, struct ts_packet *pkt)
{
	struct ts_packet_v1 p1 = {
	    .data = pkt->data,
	    .len = pkt->len,
	    .headroom = pkt->headroom,
	    .tailroom = pkt->tailroom,
	    .endpoint = pkt->endpoint,
	    .peer_public_key = pkt->peer_public_key,
	    .hook = pkt->hook,
	    .local = pkt->local,
	};
	unsigned int v = (unsigned int)((ts_hook_fn_v1)e->fn)(e->state, &p1);

	pkt->data = p1.data;
	pkt->len = p1.len;
	pkt->headroom = p1.headroom;
	pkt->tailroom = p1.tailroom;
	pkt->endpoint = p1.endpoint;
	return v;
}

/*
 * Does pkt still describe the buffer [lo, hi)?  Each part is bounded on its
 * own: checking only that the ends add up would let a hook grow len past
 * the tailroom (tailroom -= n wrapping) with the sum unchanged modulo 2^64.
 */
static bool same_buffer(const struct ts_packet *pkt, uintptr_t lo, uintptr_t hi)
{
	const uintptr_t size = hi - lo;

	return (uintptr_t)pkt->data - pkt->headroom == lo && pkt->headroom <= size &&
	       pkt->len <= size - pkt->headroom && pkt->tailroom == size - pkt->headroom - pkt->len;
}

static enum ts_verdict run_chain(const struct chain *c, enum ts_hook hook, struct ts_packet *pkt)
{
	/* The buffer's ends, which no hook may move (integers: no pointer arithmetic UB). */
	const uintptr_t lo = (uintptr_t)pkt->data - pkt->headroom;
	const uintptr_t hi = (uintptr_t)pkt->data + pkt->len + pkt->tailroom;

	/*
	 * One decision per packet, not per entry: a per-entry tick that moves
	 * by the chain's length would never land on some entries.  The first
	 * calls of each hook are all timed, so a handful of packets already
	 * gives a mean.
	 */
	const bool tick = (++sample_tick & SAMPLE_MASK) == 0;

	for (size_t i = 0; i < c->n; i++) {
		const struct chain_entry *e = &c->e[i];
		bool sample = tick || atomic_load_explicit(&e->stats->samples,
							   memory_order_relaxed) < SAMPLE_FIRST;
		uint64_t t0 = sample ? mono_ns() : 0;
		unsigned int v;

		/* A plugin may have scribbled on them: the host's truth each time. */
		pkt->struct_size = sizeof(*pkt);
		pkt->hook = hook;
		v = e->v1 ? call_v1(e, pkt) : (unsigned int)((ts_hook_fn)e->fn)(e->state, pkt);
		if (sample) {
			atomic_fetch_add_explicit(&e->stats->sampled_ns, mono_ns() - t0,
						  memory_order_relaxed);
			atomic_fetch_add_explicit(&e->stats->samples, 1, memory_order_relaxed);
		}
		if (v > TS_STOLEN)
			v = 3;
		else if (v == TS_PASS && !same_buffer(pkt, lo, hi))
			v = 3;
		/* Relaxed: statistics only, read approximately by ts_pipeline_format. */
		atomic_fetch_add_explicit(&e->stats->verdicts[v], 1, memory_order_relaxed);
		if (v == 3)
			return TS_DROP;
		if (v != TS_PASS)
			return (enum ts_verdict)v;
	}
	return TS_PASS;
}

enum ts_verdict ts_pipeline_run(struct ts_pipeline_host *ph, enum ts_hook hook,
				struct ts_packet *pkt)
{
	const struct snapshot *s;
	const struct chain *c;

	assert(ts_rcu_is_reader() && "ts_pipeline_run outside an RCU read-side section");
	/*
	 * Acquire pairs with the release in publish(): the snapshot's
	 * contents are visible.  (On x86 and for the dependent loads that
	 * follow, this costs nothing more than a plain load.)
	 */
	s = atomic_load_explicit(&ph->cur, memory_order_acquire);
	pkt->struct_size = sizeof(*pkt);
	pkt->hook = hook;
	if ((unsigned int)hook >= TS_HOOK_COUNT)
		return TS_DROP;
	c = &s->chains[hook];
	if (__builtin_expect(c->n == 0, 1))
		return TS_PASS;
	return run_chain(c, hook, pkt);
}

bool ts_pipeline_has_hook(struct ts_pipeline_host *ph, enum ts_hook hook)
{
	const struct snapshot *s;

	assert(ts_rcu_is_reader() && "ts_pipeline_has_hook outside an RCU read-side section");
	s = atomic_load_explicit(&ph->cur, memory_order_acquire);
	return (unsigned int)hook < TS_HOOK_COUNT && s->chains[hook].n != 0;
}

bool hooks_active(void *ctx, enum ts_hook_point point)
{
	struct ts_pipeline_host *ph = ctx;

	return capture_on(&ph->cap, point) || ts_pipeline_has_hook(ph, (enum ts_hook)point);
}

/* Our address on a ciphertext hook, as a socket address with the listen port. */
static void local_endpoint(union ts_plugin_endpoint *out, const struct ts_hook_pkt *p)
{
	uint16_t port = htons(p->listen_port);

	if (p->local && p->local->family == AF_INET) {
		out->in.sin_family = AF_INET;
		out->in.sin_addr = p->local->addr.in;
		out->in.sin_port = port;
	} else if (p->local && p->local->family == AF_INET6) {
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_addr = p->local->addr.in6;
		out->in6.sin6_port = port;
	} else if (p->ep && p->ep->sa.sa_family == AF_INET6) {
		out->in6.sin6_port = port; /* address unknown: family 0 */
	} else {
		out->in.sin_port = port;
	}
}

bool hooks_run(void *ctx, enum ts_hook_point point, struct ts_hook_pkt *p)
{
	struct ts_pipeline_host *ph = ctx;
	bool ciphertext = point == TS_HP_CIPHERTEXT_OUT || point == TS_HP_CIPHERTEXT_IN;
	struct ts_packet pkt;

	if (capture_on(&ph->cap, point))
		capture_tap(ph, point, p);
	if (!ts_pipeline_has_hook(ph, (enum ts_hook)point))
		return true;
	memset(&pkt, 0, sizeof(pkt));
	pkt.data = p->data;
	pkt.len = p->len;
	pkt.headroom = p->headroom;
	pkt.tailroom = p->tailroom;
	pkt.peer_public_key = p->peer_key;
	if (p->ep)
		memcpy(&pkt.endpoint, p->ep, sizeof(pkt.endpoint));
	if (ciphertext)
		local_endpoint(&pkt.local, p);
	if (ts_pipeline_run(ph, (enum ts_hook)point, &pkt) != TS_PASS)
		return false;
	p->data = pkt.data;
	p->len = pkt.len;
	p->headroom = pkt.headroom;
	p->tailroom = pkt.tailroom;
	/* Only the ciphertext hooks may move a packet to another endpoint. */
	if (p->ep && ciphertext) {
		union ts_endpoint ep;

		memcpy(&ep, &pkt.endpoint, sizeof(ep));
		if (ts_endpoint_is_set(&ep))
			*p->ep = ep;
	}
	return true;
}
