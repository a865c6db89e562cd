// SPDX-License-Identifier: MIT
/*
 * The relay-redirect plugin: carries WireGuard datagrams of chosen peers
 * through tinescale-relay (DESIGN.md section 6; wire format in relay_proto.h).
 *
 *   use: relay-redirect
 *   hooks: [ciphertext_out, ciphertext_in]
 *   config:
 *     relay: 192.0.2.3:3478          the relay's UDP address (required)
 *     relay_public_key: <base64>     `wg pubkey < relay.key` (required)
 *     mode: fallback                 always | fallback (default fallback)
 *     peers: [KEY, ...]              peers served (base64); default all
 *     register_interval_ms: 10000    REGISTER period, 100..25000 (default 10000)
 *
 * What it does:
 * - Registers this interface's public key with the relay from create() and
 *   then on a timer (every second until acknowledged, then every
 *   register_interval_ms).  The mac key comes from host->static_dh: the
 *   private key never leaves the engine.  Protocol version 2: the relay
 *   answers a REGISTER from an address it has not proven with a COOKIE; the
 *   cookie is taken only when it echoes our last REGISTER's mac, and a
 *   REGISTER carrying it goes out at once.  Each REGISTER_ACK gives the
 *   address the relay sees, from which the SEND token is derived.
 * - ciphertext_out: a served peer's datagram whose destination is the relay
 *   (or any, in mode always) is wrapped in SEND kind 0 (with the token) in
 *   the headroom and sent to the relay; before the first REGISTER_ACK there
 *   is no token and the datagram is dropped (WireGuard retries).  In mode fallback a peer whose
 * note "path" is "direct" (set by nat-probe) is left alone.  A cookie reply (no peer) toward the
 * relay is dropped: the relay could not route it.
 * - ciphertext_in: frames from the relay address: REGISTER_ACK -> notes,
 *   COOKIE -> register again with it, RECV kind 0 -> unwrapped in place and
 *   handed on with the relay (or the direct endpoint) as source, RECV kind
 *   1 -> passed to nat-probe untouched, anything else consumed.
 * - Served peers without an endpoint get the relay as endpoint (at create,
 *   on events, on each timer tick), so WireGuard has somewhere to send; in
 *   mode fallback, at create and whenever nat-probe's "path" note says
 *   "relay", their endpoint is moved to the relay too.
 * - Interface notes: relay, relay_key, relay_mapped, relay_registered.
 *   They are left in place at destroy: on a reload the next instance's
 *   create() has already set them.
 *
 * Threads: hooks on the data-path threads, event() on the host's event thread, the
 * tick on the host's timer thread.  Counters are atomics; the registration
 * state (mac key, timestamps) sits under a mutex held for a few
 * instructions and never across a host call that may emit events.
 */
#include "key.h"
#include "relay_proto.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tinescale/plugin.h>

#define NS_PER_MS	  1000000ULL
#define NS_PER_S	  1000000000ULL
#define RETRY_NS	  NS_PER_S /* REGISTER period until the first ACK */
#define DEFAULT_INTERVAL  TSR_REGISTER_INTERVAL_MS
#define MIN_INTERVAL	  100
#define MAX_INTERVAL	  25000 /* below the relay's 30 s expiry, with room for a loss */
#define STATS_INTERVAL_NS (60 * NS_PER_S)

struct relay_redirect {
	const struct ts_host_services *host;
	struct tsr_addr relay;
	union ts_plugin_endpoint relay_ep;
	char relay_str[TSR_ADDR_STRLEN];
	uint8_t relay_public_key[TSR_KEY_LEN];
	bool always;
	uint8_t (*peers)[TSR_KEY_LEN]; /* NULL: every peer is served */
	size_t npeers;
	uint32_t interval_ms;
	ts_timer_id timer;

	pthread_mutex_t lock; /* protects the fields up to the next comment */
	bool have_k;
	uint8_t k[TSR_KEY_LEN];	       /* REGISTER/ACK mac key */
	uint8_t own_key[TSR_KEY_LEN];  /* the public key k was made for */
	uint64_t last_sent_ts;	       /* CLOCK_REALTIME timestamp of the last REGISTER */
	uint64_t last_acked_ts;	       /* ... of the last acknowledged one */
	uint8_t last_mac[TSR_MAC_LEN]; /* of the last REGISTER: a COOKIE must echo it */
	bool have_cookie;
	uint8_t cookie[TSR_COOKIE_LEN]; /* the relay's, for our address */
	bool have_token;
	uint8_t token[TSR_TOKEN_LEN]; /* SEND token for mapped */
	struct tsr_addr mapped;	      /* from the last ACK */

	/* Timer thread only. */
	uint64_t last_register_ns; /* CLOCK_MONOTONIC */
	uint64_t last_stats_ns;
	bool logged_send_fail, logged_no_key;

	atomic_bool registered;
	atomic_uint_fast64_t last_ack_ns; /* CLOCK_MONOTONIC */
	atomic_uint_fast32_t ack_expires_s;
	atomic_bool reregister; /* the relay said it does not know us */

	atomic_uint_fast64_t wrapped, unwrapped, passed_kind1, dropped_cookie, dropped_headroom,
	    dropped_no_token, stolen_other, acks, bad_acks, errors, registers_sent, register_fail,
	    cookies, bad_cookies;
};

static const char *const known_keys[] = {"relay", "mode", "peers", "relay_public_key",
					 "register_interval_ms"};

static void cnt(atomic_uint_fast64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static unsigned long long get(atomic_uint_fast64_t *c)
{
	return (unsigned long long)atomic_load_explicit(c, memory_order_relaxed);
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static bool served(const struct relay_redirect *rr, const uint8_t key[TSR_KEY_LEN])
{
	if (!rr->peers)
		return true;
	for (size_t i = 0; i < rr->npeers; i++) {
		if (memcmp(rr->peers[i], key, TSR_KEY_LEN) == 0)
			return true;
	}
	return false;
}

static bool ep_is_relay(const struct relay_redirect *rr, const union ts_plugin_endpoint *ep)
{
	struct tsr_addr a;

	return tsr_addr_from_sockaddr(&a, &ep->sa, sizeof(*ep)) == TSR_OK &&
	       tsr_addr_equal(&a, &rr->relay);
}

/* nat-probe's verdict for the peer: "direct", "relay", or "" when it said nothing. */
static void peer_path(const struct relay_redirect *rr, const uint8_t key[TSR_KEY_LEN], char *buf,
		      size_t len)
{
	if (rr->host->note_get(rr->host, key, "path", buf, len) != 0)
		buf[0] = '\0';
}

/* Refresh k when there is no key yet or the interface's key changed.  Lock held. */
static int update_key_locked(struct relay_redirect *rr)
{
	uint8_t pub[TSR_KEY_LEN], dh[TSR_KEY_LEN];
	int r;

	if (!rr->host->public_key(rr->host, pub))
		return -ENOKEY;
	if (rr->have_k && memcmp(pub, rr->own_key, TSR_KEY_LEN) == 0)
		return 0;
	r = rr->host->static_dh(rr->host, rr->relay_public_key, dh);
	if (r < 0)
		return r;
	tsr_register_key(rr->k, dh);
	sodium_memzero(dh, sizeof(dh));
	memcpy(rr->own_key, pub, TSR_KEY_LEN);
	rr->have_k = true;
	rr->last_acked_ts = 0;
	/* The token is made from k; the cookie is for the address, but start clean. */
	rr->have_token = false;
	rr->have_cookie = false;
	sodium_memzero(rr->token, sizeof(rr->token));
	return 0;
}

/* A REGISTER with the current key, timestamp and cookie.  0 or -errno. */
static int build_register(struct relay_redirect *rr, uint8_t frame[TSR_REGISTER_LEN])
{
	uint64_t ts;
	int r;

	pthread_mutex_lock(&rr->lock);
	r = update_key_locked(rr);
	if (r == 0) {
		/* Strictly increasing, even if the wall clock steps back. */
		ts = realtime_ns();
		if (ts <= rr->last_sent_ts)
			ts = rr->last_sent_ts + 1;
		rr->last_sent_ts = ts;
		tsr_register_encode(frame, rr->own_key, ts, rr->have_cookie ? rr->cookie : NULL,
				    rr->k);
		memcpy(rr->last_mac, frame + TSR_REGISTER_LEN - TSR_MAC_LEN, TSR_MAC_LEN);
	}
	pthread_mutex_unlock(&rr->lock);
	return r;
}

/* Timer thread or create(). */
static void send_register(struct relay_redirect *rr)
{
	uint8_t frame[TSR_REGISTER_LEN];
	int r = build_register(rr, frame);

	rr->last_register_ns = rr->host->now_ns(rr->host);
	if (r < 0) {
		if (!rr->logged_no_key)
			rr->host->log(rr->host, TS_LOG_WARN,
				      "cannot register with the relay yet: %s",
				      r == -ENOKEY ? "no private key configured" : strerror(-r));
		rr->logged_no_key = true;
		return;
	}
	rr->logged_no_key = false;
	r = rr->host->send_datagram(rr->host, &rr->relay_ep, frame, sizeof(frame));
	if (r < 0) {
		cnt(&rr->register_fail);
		if (!rr->logged_send_fail)
			rr->host->log(rr->host, TS_LOG_WARN, "REGISTER to %s: %s", rr->relay_str,
				      strerror(-r));
		rr->logged_send_fail = true;
		return;
	}
	rr->logged_send_fail = false;
	cnt(&rr->registers_sent);
}

/* Give the peer the relay as endpoint when it has none (or nat-probe says relay). */
static void steer_peer(struct relay_redirect *rr, const struct ts_plugin_peer *peer,
		       bool follow_path)
{
	char path[16];
	bool to_relay = peer->endpoint.sa.sa_family == 0;

	if (!served(rr, peer->public_key) || ep_is_relay(rr, &peer->endpoint))
		return;
	if (!to_relay && follow_path && !rr->always) {
		peer_path(rr, peer->public_key, path, sizeof(path));
		to_relay = strcmp(path, "relay") == 0;
	}
	if (to_relay)
		rr->host->peer_set_endpoint(rr->host, peer->public_key, &rr->relay_ep);
}

static int steer_cb(void *ctx, const struct ts_plugin_peer *peer)
{
	steer_peer(ctx, peer, true);
	return 0;
}

/* create(): in mode fallback every served peer starts relayed until nat-probe proves a path. */
static int steer_initial_cb(void *ctx, const struct ts_plugin_peer *peer)
{
	struct relay_redirect *rr = ctx;
	char path[16];

	if (rr->always || peer->endpoint.sa.sa_family == 0 || !served(rr, peer->public_key) ||
	    ep_is_relay(rr, &peer->endpoint)) {
		steer_peer(rr, peer, false);
		return 0;
	}
	peer_path(rr, peer->public_key, path, sizeof(path));
	if (strcmp(path, "direct") != 0)
		rr->host->peer_set_endpoint(rr->host, peer->public_key, &rr->relay_ep);
	return 0;
}

static void log_stats(struct relay_redirect *rr, enum ts_log_level lvl)
{
	rr->host->log(rr->host, lvl,
		      "relay %s: wrapped %llu unwrapped %llu candidates %llu acks %llu "
		      "bad_acks %llu cookies %llu bad_cookies %llu errors %llu registers %llu "
		      "register_fail %llu dropped cookie_reply %llu headroom %llu no_token %llu "
		      "other %llu",
		      rr->relay_str, get(&rr->wrapped), get(&rr->unwrapped), get(&rr->passed_kind1),
		      get(&rr->acks), get(&rr->bad_acks), get(&rr->cookies), get(&rr->bad_cookies),
		      get(&rr->errors), get(&rr->registers_sent), get(&rr->register_fail),
		      get(&rr->dropped_cookie), get(&rr->dropped_headroom),
		      get(&rr->dropped_no_token), get(&rr->stolen_other));
}

static void tick(void *arg)
{
	struct relay_redirect *rr = arg;
	uint64_t now = rr->host->now_ns(rr->host);
	uint64_t since = ts_ns_since(now, rr->last_register_ns);
	bool registered = atomic_load(&rr->registered);

	if (registered) {
		uint64_t ttl = (uint64_t)atomic_load(&rr->ack_expires_s) * NS_PER_S;

		if (ts_ns_since(now, atomic_load(&rr->last_ack_ns)) > ttl) {
			atomic_store(&rr->registered, false);
			registered = false;
			rr->host->note_set(rr->host, NULL, "relay_registered", "no");
			rr->host->log(rr->host, TS_LOG_WARN,
				      "relay %s: no REGISTER_ACK for %llu s, registration lapsed",
				      rr->relay_str, (unsigned long long)(ttl / NS_PER_S));
		}
	}
	if (atomic_exchange(&rr->reregister, false) ||
	    since >= (uint64_t)rr->interval_ms * NS_PER_MS || (!registered && since >= RETRY_NS))
		send_register(rr);
	rr->host->peer_foreach(rr->host, steer_cb, rr);
	if (ts_ns_since(now, rr->last_stats_ns) >= STATS_INTERVAL_NS) {
		rr->last_stats_ns = now;
		log_stats(rr, TS_LOG_DEBUG);
	}
}

static enum ts_verdict rr_out(void *state, struct ts_packet *pkt)
{
	struct relay_redirect *rr = state;
	bool to_relay = ep_is_relay(rr, &pkt->endpoint), have_token;
	uint8_t token[TSR_TOKEN_LEN];
	char path[16];

	if (!pkt->peer_public_key) {
		/* A cookie reply: the relay would not know whom it is for. */
		if (to_relay) {
			cnt(&rr->dropped_cookie);
			return TS_DROP;
		}
		return TS_PASS;
	}
	if (!(to_relay || rr->always) || !served(rr, pkt->peer_public_key))
		return TS_PASS;
	if (!rr->always) {
		peer_path(rr, pkt->peer_public_key, path, sizeof(path));
		if (strcmp(path, "direct") == 0)
			return TS_PASS;
	}
	if (pkt->headroom < TSR_SEND_HDR_LEN) {
		cnt(&rr->dropped_headroom);
		return TS_DROP;
	}
	pthread_mutex_lock(&rr->lock);
	have_token = rr->have_token;
	memcpy(token, rr->token, sizeof(token));
	pthread_mutex_unlock(&rr->lock);
	if (!have_token) {
		/* Not registered yet: the relay would refuse it.  WireGuard retries. */
		cnt(&rr->dropped_no_token);
		return TS_DROP;
	}
	pkt->data -= TSR_SEND_HDR_LEN;
	pkt->headroom -= TSR_SEND_HDR_LEN;
	pkt->len += TSR_SEND_HDR_LEN;
	tsr_send_hdr_encode(pkt->data, TSR_KIND_WIREGUARD, pkt->peer_public_key, token);
	sodium_memzero(token, sizeof(token));
	pkt->endpoint = rr->relay_ep;
	cnt(&rr->wrapped);
	return TS_PASS;
}

static void handle_ack(struct relay_redirect *rr, const uint8_t *buf, size_t len)
{
	struct tsr_register_ack ack;
	char mapped[TSR_ADDR_STRLEN];
	bool changed = false, ok = false;

	pthread_mutex_lock(&rr->lock);
	/* Only an answer to a REGISTER we sent, newer than the last one answered. */
	if (rr->have_k && tsr_register_ack_decode(buf, len, rr->k, &ack) == TSR_OK &&
	    ack.timestamp_ns <= rr->last_sent_ts && ack.timestamp_ns > rr->last_acked_ts) {
		ok = true;
		rr->last_acked_ts = ack.timestamp_ns;
		changed = !tsr_addr_equal(&rr->mapped, &ack.observed);
		rr->mapped = ack.observed;
		tsr_send_token(rr->token, rr->k, &ack.observed);
		rr->have_token = true;
	}
	pthread_mutex_unlock(&rr->lock);
	if (!ok) {
		cnt(&rr->bad_acks);
		return;
	}
	cnt(&rr->acks);
	atomic_store(&rr->ack_expires_s, ack.expires_s ? ack.expires_s : TSR_REGISTRATION_TTL_S);
	atomic_store(&rr->last_ack_ns, rr->host->now_ns(rr->host));
	tsr_addr_format(&ack.observed, mapped, sizeof(mapped));
	if (changed)
		rr->host->note_set(rr->host, NULL, "relay_mapped", mapped);
	if (!atomic_exchange(&rr->registered, true) || changed) {
		rr->host->note_set(rr->host, NULL, "relay_registered", "yes");
		rr->host->log(rr->host, TS_LOG_INFO, "registered with relay %s, mapped address %s",
			      rr->relay_str, mapped);
	}
}

/* Data-path thread: take the cookie if it answers our last REGISTER, and register again. */
static void handle_cookie(struct relay_redirect *rr, const uint8_t *buf, size_t len)
{
	struct tsr_cookie_reply c;
	uint8_t frame[TSR_REGISTER_LEN];
	bool ok = false;

	if (tsr_cookie_reply_decode(buf, len, &c) == TSR_OK) {
		pthread_mutex_lock(&rr->lock);
		/* Only the relay (or someone on the path) saw that mac: off-path forgeries fail. */
		if (rr->have_k && sodium_memcmp(c.echo, rr->last_mac, TSR_MAC_LEN) == 0) {
			memcpy(rr->cookie, c.cookie, TSR_COOKIE_LEN);
			rr->have_cookie = true;
			ok = true;
		}
		pthread_mutex_unlock(&rr->lock);
	}
	if (!ok) {
		cnt(&rr->bad_cookies);
		return;
	}
	cnt(&rr->cookies);
	if (build_register(rr, frame) == 0 &&
	    rr->host->send_datagram(rr->host, &rr->relay_ep, frame, sizeof(frame)) == 0)
		cnt(&rr->registers_sent);
	else
		cnt(&rr->register_fail);
}

static enum ts_verdict rr_in(void *state, struct ts_packet *pkt)
{
	struct relay_redirect *rr = state;
	struct ts_plugin_peer peer = {.struct_size = sizeof(peer)};
	struct tsr_data d;
	struct tsr_error e;
	char path[16];
	uint8_t type;

	if (!tsr_is_frame(pkt->data, pkt->len, &type) || !ep_is_relay(rr, &pkt->endpoint))
		return TS_PASS;
	switch (type) {
	case TSR_REGISTER_ACK:
		handle_ack(rr, pkt->data, pkt->len);
		return TS_STOLEN;
	case TSR_COOKIE:
		handle_cookie(rr, pkt->data, pkt->len);
		return TS_STOLEN;
	case TSR_RECV:
		if (tsr_data_decode(pkt->data, pkt->len, TSR_RECV, &d) != TSR_OK)
			break;
		if (d.kind == TSR_KIND_CANDIDATES) {
			cnt(&rr->passed_kind1);
			return TS_PASS; /* nat-probe's */
		}
		if (d.kind != TSR_KIND_WIREGUARD)
			break;
		pkt->data += TSR_RECV_HDR_LEN;
		pkt->headroom += TSR_RECV_HDR_LEN;
		pkt->len -= TSR_RECV_HDR_LEN;
		pkt->endpoint = rr->relay_ep;
		/* A late relayed packet must not roam a direct peer back to the relay. */
		peer_path(rr, d.public_key, path, sizeof(path));
		if (strcmp(path, "direct") == 0 &&
		    rr->host->peer_info(rr->host, d.public_key, &peer) == 0 &&
		    peer.endpoint.sa.sa_family != 0)
			pkt->endpoint = peer.endpoint;
		cnt(&rr->unwrapped);
		return TS_PASS;
	case TSR_ERROR:
		if (tsr_error_decode(pkt->data, pkt->len, &e) != TSR_OK)
			break;
		cnt(&rr->errors);
		/* The relay forgot us (restart, expiry): register again on the next tick. */
		if (e.code == TSR_ERR_NOT_REGISTERED)
			atomic_store(&rr->reregister, true);
		return TS_STOLEN;
	default:
		break;
	}
	cnt(&rr->stolen_other);
	return TS_STOLEN;
}

static void rr_event(void *state, const struct ts_event *ev)
{
	struct relay_redirect *rr = state;
	struct ts_plugin_peer peer = {.struct_size = sizeof(peer)};

	if (ev->type != TS_EVENT_PEER_UP && ev->type != TS_EVENT_ENDPOINT_CHANGED &&
	    ev->type != TS_EVENT_HANDSHAKE_COMPLETE)
		return;
	if (!ev->public_key || !served(rr, ev->public_key))
		return;
	/*
	 * Only "no endpoint -> relay" here: our own peer_set_endpoint comes
	 * back as ENDPOINT_CHANGED with the relay address, which ends it; path
	 * changes are followed on the tick, after nat-probe has finished
	 * setting both its note and the endpoint.
	 */
	if (rr->host->peer_info(rr->host, ev->public_key, &peer) == 0)
		steer_peer(rr, &peer, false);
}

static void rr_free(struct relay_redirect *rr)
{
	pthread_mutex_destroy(&rr->lock);
	free(rr->peers);
	sodium_memzero(rr, sizeof(*rr));
	free(rr);
}

static void rr_destroy(void *state)
{
	struct relay_redirect *rr = state;

	log_stats(rr, TS_LOG_INFO);
	rr_free(rr);
}

static int parse_key(uint8_t out[TSR_KEY_LEN], const char *s)
{
	/* The engine's strict decoder: exactly 44 canonical characters. */
	return s && ts_key_from_base64(out, s) ? 0 : -1;
}

static int parse_config(struct relay_redirect *rr, const struct ts_config_node *config, char *err,
			size_t errlen)
{
	const struct ts_host_services *host = rr->host;
	const char *k, *s;
	long long v;
	int n, r;

	for (size_t i = 0; (k = host->config_key_at(host, config, i)); i++) {
		size_t j;

		for (j = 0; j < sizeof(known_keys) / sizeof(known_keys[0]); j++) {
			if (strcmp(k, known_keys[j]) == 0)
				break;
		}
		if (j == sizeof(known_keys) / sizeof(known_keys[0])) {
			snprintf(err, errlen,
				 "unknown config key '%s' (relay-redirect accepts relay, "
				 "relay_public_key, mode, peers, register_interval_ms)",
				 k);
			return -1;
		}
	}
	s = host->config_string(host, config, "relay");
	if (!s) {
		snprintf(err, errlen, "'relay' is required: the relay's ADDR:PORT");
		return -1;
	}
	if (tsr_addr_parse(&rr->relay, s) != TSR_OK) {
		snprintf(err, errlen,
			 "'relay': expected ADDR:PORT (192.0.2.3:3478 or [2001:db8::3]:3478), "
			 "got '%s'",
			 s);
		return -1;
	}
	s = host->config_string(host, config, "relay_public_key");
	if (!s) {
		snprintf(err, errlen,
			 "'relay_public_key' is required: the base64 key `wg pubkey < relay.key` "
			 "prints");
		return -1;
	}
	if (parse_key(rr->relay_public_key, s) < 0) {
		snprintf(err, errlen, "'relay_public_key' ('%s') is not a base64 public key", s);
		return -1;
	}
	s = host->config_string(host, config, "mode");
	if (s && strcmp(s, "always") == 0) {
		rr->always = true;
	} else if (s && strcmp(s, "fallback") != 0) {
		snprintf(err, errlen, "'mode': expected always or fallback, got '%s'", s);
		return -1;
	} else if (!s && host->config_child(host, config, "mode")) {
		snprintf(err, errlen, "'mode': expected always or fallback");
		return -1;
	}
	rr->interval_ms = DEFAULT_INTERVAL;
	r = host->config_int(host, config, "register_interval_ms", &v);
	if (r == 0 && (v < MIN_INTERVAL || v > MAX_INTERVAL))
		r = -EINVAL;
	if (r == -EINVAL) {
		snprintf(err, errlen, "'register_interval_ms': expected an integer %d..%d",
			 MIN_INTERVAL, MAX_INTERVAL);
		return -1;
	}
	if (r == 0)
		rr->interval_ms = (uint32_t)v;
	n = host->config_list_len(host, config, "peers");
	if (n == -EINVAL) {
		snprintf(err, errlen, "'peers' must be a list of base64 public keys");
		return -1;
	}
	if (n > 0) {
		rr->peers = calloc((size_t)n, sizeof(*rr->peers));
		if (!rr->peers) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		for (size_t i = 0; i < (size_t)n; i++) {
			s = host->config_list_item(host, config, "peers", i);
			if (parse_key(rr->peers[i], s) < 0) {
				snprintf(err, errlen,
					 "'peers' item %zu ('%s') is not a base64 public key", i,
					 s ? s : "(not a scalar)");
				return -1;
			}
		}
		rr->npeers = (size_t)n;
	}
	return 0;
}

static int rr_create(const struct ts_host_services *host, const struct ts_config_node *config,
		     void **state, char *err, size_t errlen)
{
	struct relay_redirect *rr;
	struct sockaddr_storage ss;
	uint8_t dh[TSR_KEY_LEN];
	char keytext[sodium_base64_ENCODED_LEN(TSR_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];
	int r;

	if (host->struct_size < offsetof(struct ts_host_services, static_dh) + sizeof(void *)) {
		snprintf(err, errlen,
			 "the daemon is too old: relay-redirect needs notes and static_dh");
		return -1;
	}
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return -1;
	}
	rr = calloc(1, sizeof(*rr));
	if (!rr) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rr->host = host;
	pthread_mutex_init(&rr->lock, NULL);
	if (parse_config(rr, config, err, errlen) < 0)
		goto fail;
	/* A low-order relay key would make every mac key the same: refuse it now. */
	r = host->static_dh(host, rr->relay_public_key, dh);
	sodium_memzero(dh, sizeof(dh));
	if (r == -EINVAL) {
		snprintf(err, errlen, "'relay_public_key' is not a usable X25519 public key");
		goto fail;
	}
	tsr_addr_to_sockaddr(&rr->relay, &ss, NULL);
	memcpy(&rr->relay_ep, &ss, sizeof(rr->relay_ep));
	tsr_addr_format(&rr->relay, rr->relay_str, sizeof(rr->relay_str));
	sodium_bin2base64(keytext, sizeof(keytext), rr->relay_public_key, TSR_KEY_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
	host->note_set(host, NULL, "relay", rr->relay_str);
	host->note_set(host, NULL, "relay_key", keytext);
	host->note_set(host, NULL, "relay_registered", "no");
	atomic_store(&rr->ack_expires_s, TSR_REGISTRATION_TTL_S);

	send_register(rr);
	host->peer_foreach(host, steer_initial_cb, rr);
	rr->last_stats_ns = host->now_ns(host);
	rr->timer =
	    host->timer_add(host, rr->interval_ms < 1000 ? rr->interval_ms : 1000, tick, rr);
	if (!rr->timer) {
		snprintf(err, errlen, "cannot start the registration timer");
		goto fail;
	}
	host->log(host, TS_LOG_INFO, "relay %s, mode %s, %s, registering every %u ms",
		  rr->relay_str, rr->always ? "always" : "fallback",
		  rr->peers ? "listed peers" : "all peers", rr->interval_ms);
	*state = rr;
	return 0;
fail:
	rr_free(rr);
	return -1;
}

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct ts_plugin_v2),
    .name = "relay-redirect",
    .version = "2.0",
    .create = rr_create,
    .destroy = rr_destroy,
    .ciphertext_out = rr_out,
    .ciphertext_in = rr_in,
    .event = rr_event,
    /* The SEND header in front of every relayed datagram: keep it under the path's MTU. */
    .wire_overhead = TSR_SEND_HDR_LEN,
};
