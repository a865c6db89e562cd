/* SPDX-License-Identifier: MIT */
/*
 * The seam between the WireGuard engine (core/engine) and the plugin host
 * (core/host): two function tables, one each way.  Neither side includes
 * the other; the daemon (core/daemon) builds both and hands each side the
 * other's table.  Only types from base/ and the public ABI appear here.
 *
 *   engine --(struct ts_hook_table)--> host     hooks, events
 *   host   --(struct ts_engine_table)--> engine  services for plugins, status
 *
 * Lock order and threads (the rule that keeps plugin code safe):
 * - The engine calls ts_hook_table.run/.active only from its registered
 *   data-path threads (tx, rx, handshake, timers: each registers as an RCU
 *   reader from its first instruction, see base/rcu.h) and only while it
 *   holds NO engine lock (no device lock, no peer lock, no queue lock).
 * - ts_hook_table.event and .want_secrets may be called from any engine
 *   thread, with engine locks held: they never run plugin code.  event()
 *   copies the event into the host's queue; the host delivers it later on
 *   its own event thread.
 * - Every ts_engine_table function may be called from any thread, with no
 *   engine lock held by the caller, and never runs plugin code: what the
 *   engine must do in reaction (an injected datagram, a roamed endpoint's
 *   event) is queued.  peer_foreach's callback runs with no engine lock
 *   held (the engine snapshots the peers first).
 */
#ifndef TS_SEAM_H
#define TS_SEAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <tinescale/plugin.h>

#include "endpoint.h"

/* ---- engine -> host ------------------------------------------------- */

enum ts_hook_point {
	TS_HP_PLAINTEXT_OUT = TS_HOOK_PLAINTEXT_OUT,
	TS_HP_CIPHERTEXT_OUT = TS_HOOK_CIPHERTEXT_OUT,
	TS_HP_CIPHERTEXT_IN = TS_HOOK_CIPHERTEXT_IN,
	TS_HP_PLAINTEXT_IN = TS_HOOK_PLAINTEXT_IN,
};

/* One packet at a hook point, as the engine holds it. */
struct ts_hook_pkt {
	uint8_t *data;
	size_t len, headroom, tailroom;
	union ts_endpoint *ep; /* destination (out) or source (in); NULL on plaintext hooks */
	const struct ts_endpoint_src *local; /* our address on ciphertext hooks, or NULL */
	uint16_t listen_port;		     /* our UDP port (host order), ciphertext hooks */
	const uint8_t *peer_key;	     /* NULL when the peer is not known */
};

/* An engine event; every pointer is valid during the call only (event() copies). */
struct ts_engine_event {
	enum ts_event_type type;
	uint8_t public_key[32];
	union ts_endpoint endpoint;		    /* family 0 when none */
	const struct ts_handshake_secrets *secrets; /* TS_EVENT_HANDSHAKE_SECRETS only */
};

struct ts_hook_table {
	void *ctx;
	/* Is any hook registered at this point?  Registered reader thread, no engine lock. */
	bool (*active)(void *ctx, enum ts_hook_point point);
	/*
	 * Run the chain.  True: go on with (possibly rewritten) p.  False:
	 * dropped or stolen.  Registered reader thread, no engine lock held.
	 */
	bool (*run)(void *ctx, enum ts_hook_point point, struct ts_hook_pkt *p);
	/* Queue an event for delivery on the host's thread.  Any thread, any lock. */
	void (*event)(void *ctx, const struct ts_engine_event *ev);
	/* Does any plugin want TS_EVENT_HANDSHAKE_SECRETS?  Any thread, any lock. */
	bool (*want_secrets)(void *ctx);
};

/* ---- host -> engine ------------------------------------------------- */

/* A snapshot of one peer, for plugins and for `tinescale ctl status`. */
struct ts_peer_info {
	uint8_t public_key[32];
	union ts_endpoint endpoint; /* sa_family 0 when unknown */
	uint64_t rx_bytes, tx_bytes;
	uint64_t last_handshake_ns; /* CLOCK_REALTIME ns, 0 = never */
	bool has_session;	    /* a current keypair usable for sending */
};

/* One device counter for status --json and metrics: a stable snake_case name, its value. */
struct ts_counter {
	const char *name; /* static storage */
	uint64_t value;
};

struct ts_engine_table {
	void *ctx;
	/* Send from the device's UDP socket, bypassing every hook.  0 or -errno. */
	int (*send_datagram)(void *ctx, const union ts_endpoint *dst, const uint8_t *buf,
			     size_t len);
	/*
	 * Queue a datagram for WireGuard processing as if it had arrived from
	 * src (no ciphertext_in hooks).  Processed on the engine's rx thread.
	 * 0, -EINVAL, -EAGAIN (queue full: dropped, as UDP would).
	 */
	int (*inject_datagram)(void *ctx, const union ts_endpoint *src, const uint8_t *buf,
			       size_t len);
	int (*peer_info)(void *ctx, const uint8_t public_key[32], struct ts_peer_info *out);
	/* cb per peer in configuration order, no engine lock held; non-zero stops and returns. */
	int (*peer_foreach)(void *ctx, int (*cb)(void *cb_ctx, const struct ts_peer_info *peer),
			    void *cb_ctx);
	int (*peer_set_endpoint)(void *ctx, const uint8_t public_key[32],
				 const union ts_endpoint *ep);
	int (*peer_by_index)(void *ctx, uint32_t local_index, uint8_t public_key_out[32]);
	uint16_t (*listen_port)(void *ctx);
	const char *(*ifname)(void *ctx);
	bool (*public_key)(void *ctx, uint8_t out[32]);
	int (*note_set)(void *ctx, const uint8_t *public_key, const char *key, const char *value);
	int (*note_get)(void *ctx, const uint8_t *public_key, const char *key, char *buf,
			size_t len);
	int (*static_dh)(void *ctx, const uint8_t remote_public[32], uint8_t out[32]);
	/* The engine part of `tinescale ctl IFNAME status`. */
	void (*format_status)(void *ctx, FILE *out);
	/*
	 * Appended: packets the device dropped, by reason (the names are part
	 * of status --json and the metrics: never renamed).  Fills up to max,
	 * returns how many there are.
	 */
	size_t (*drop_counters)(void *ctx, struct ts_counter *out, size_t max);
};

#endif
