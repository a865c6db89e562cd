// SPDX-License-Identifier: MIT
/*
 * The nat-probe plugin: finds a direct path between two NATed peers and
 * keeps it honest (DESIGN.md section 6; the wire formats are in stun.h,
 * probe.h and core/relay/relay_proto.h).
 *
 *   config:
 *     stun: [192.0.2.1:3478, 192.0.2.2:3478]  STUN servers (RFC 8489 Binding), 0..4
 *     probe_interval_ms: 2000   PING period on a direct path
 *     probe_misses: 3           missed PONGs in a row that end a direct path
 *     exchange_interval_s: 10   candidate exchange period while relayed
 *     stun_refresh_s: 20        STUN refresh period (also keeps the NAT mapping)
 *
 * What it does, all from the WireGuard socket (host->send_datagram):
 *  - STUN Binding to every server, retried with backoff, refreshed: the
 *    mapped address(es), and the NAT's mapping behaviour (two servers saw
 *    the same address: endpoint-independent; different: endpoint-dependent).
 *  - Candidates (local addresses with the listen port, and the mapped
 *    ones) to every relayed peer through the relay (SEND kind 1; the relay
 *    address comes from relay-redirect's interface note "relay"), asking for
 *    theirs in reply: both sides then punch at once.
 *  - Punching: PINGs to each of the peer's candidates that pass the filter
 *    (candfilter.h), 5 rounds 200 ms apart.  A PONG from the address its
 *    PING went to proves the path: the peer's endpoint moves there and its
 *    note "path" says direct (relay-redirect then stops wrapping).  After a
 *    path has failed once, it takes 2 PONGs in a row (hysteresis).
 *  - Messages are version 2 (probe.h): per-direction keys, a counter per
 *    peer and direction checked against a replay window (window.h), and
 *    rate limits on PONGs, punch rounds and candidates (ratelimit.h).
 *  - A direct path is PINGed every probe_interval_ms; probe_misses missed
 *    PONGs in a row put the peer back on the relay.
 *
 * Notes written: interface "nat_mapping", "stun_mapped", "probe_rejects";
 * per peer "path", "path_since", "direct_endpoint", "probe_refused".
 *
 * Threads and locks: the hook runs on data-path threads, the tick on the
 * host's timer thread; `lock` guards all mutable state and is held only for
 * computation.  Host services are never called with it held (a service
 * may block briefly on engine locks, and the hook must not make the other
 * data-path threads wait behind that): work decided under the lock goes
 * into an outbox of actions that is carried out after unlocking.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tinescale/plugin.h>

#include "candfilter.h"
#include "probe.h"
#include "ratelimit.h"
#include "relay_proto.h"
#include "stun.h"
#include "window.h"

#define NP_TICK_MS	     100
#define NP_MAX_SERVERS	     4
#define NP_MAX_PEERS	     1024
#define NP_PUNCH_ROUNDS	     5
#define NP_PUNCH_GAP_NS	     200000000ULL
#define NP_STUN_RTO_MS	     250 /* first retransmission timeout, doubled per try */
#define NP_STUN_RTO_MAX_MS   4000
#define NP_STUN_TRIES	     7		   /* per refresh; then wait for the next refresh */
#define NP_STUN_GRACE_NS     3000000000ULL /* send candidates without STUN after this */
#define NP_EXCHANGE_FIRST_MS 1000	   /* first retries are quick: the peer may register late */
#define NP_SCAN_NS	     1000000000ULL /* peers and local addresses re-read */
#define NP_HOOK_ACTIONS	     16		   /* a path change is 6; refusal logs are capped */
#define NP_FRAME_MAX	     (TSR_SEND_HDR_LEN + CAND_MAX_LEN)
#define NP_MS		     1000000ULL
#define NP_PEER_CANDS	     (CAND_MAX + 4) /* 4 learnt from PINGs or PONGs */
/* Limits (docs/nat-traversal.md, "Rules"): rate per second, burst. */
#define NP_PONG_PEER_RATE   10
#define NP_PONG_PEER_BURST  20
#define NP_PONG_DEST_RATE   10
#define NP_PONG_DEST_BURST  20
#define NP_PONG_ALL_RATE    200
#define NP_PONG_ALL_BURST   400
#define NP_PING_DEST_RATE   10
#define NP_PING_DEST_BURST  20
#define NP_CAND_PEER_RATE   1
#define NP_CAND_PEER_BURST  5
#define NP_REFUSE_LOG_LINES 5 /* refused-candidate log lines per NP_REFUSE_LOG_NS */
#define NP_REFUSE_LOG_NS    10000000000ULL

enum np_action_type {
	ACT_SEND,	  /* send buf to ep */
	ACT_NOTE,	  /* note key=value (value "" removes), per peer when has_pub */
	ACT_SET_ENDPOINT, /* peer_set_endpoint(pub, ep) */
	ACT_LOG,	  /* log buf as text */
};

struct np_action {
	enum np_action_type type;
	enum ts_log_level level;
	bool has_pub;
	uint8_t pub[32];
	union ts_plugin_endpoint ep;
	char key[TS_NOTE_KEY_MAX + 1];
	size_t len;
	uint8_t buf[NP_FRAME_MAX + 1]; /* a frame, a note value or a log line */
};

struct np_outbox {
	struct np_action *a;
	size_t n, cap;
	bool growable; /* the timer's outbox may grow; a hook's has a fixed size */
	size_t dropped;
};

struct np_server {
	struct tsr_addr addr;
	union ts_plugin_endpoint ep;
	uint8_t txid[STUN_TXID_LEN];
	bool pending;	  /* a transaction is in flight */
	int tries;	  /* sends of the current transaction */
	uint32_t rto_ms;  /* wait before the next retransmission */
	uint64_t next_ns; /* next send (retransmission or refresh) */
	bool have;	  /* mapped is valid */
	struct tsr_addr mapped;
	uint64_t seen_ns; /* last answer */
};

struct np_cand {
	struct tsr_addr addr;
	uint8_t txid[PROBE_TXID_LEN]; /* of the last PING sent to it */
	bool outstanding;	      /* that PING has no PONG yet */
	int streak;		      /* PONGs in a row */
};

struct np_peer {
	uint8_t pub[32];
	struct probe_keys keys; /* this pair's keys, both directions */
	bool pk_ok;		/* static_dh worked: without it the peer is ignored */
	bool present;		/* seen in the last scan */
	uint64_t tx_counter;	/* the last counter we sent this peer */
	struct np_window rx;	/* counters this peer sent us */
	struct np_bucket pong_bucket, cand_bucket;
	/* Refusals of this peer's messages and candidates: the note "probe_refused". */
	uint64_t replay, rate_limited, pong_wrong_src, cand_refused;
	char refused_shown[TS_NOTE_VALUE_MAX + 1];

	bool direct;
	bool failed_once; /* hysteresis: 2 PONGs needed to return */
	struct tsr_addr direct_addr;
	uint8_t direct_txid[PROBE_TXID_LEN];
	bool direct_outstanding;
	int missed;
	uint64_t next_ping_ns;

	struct np_cand cand[NP_PEER_CANDS];
	int ncand;
	int nlearnt; /* of those, learnt from PINGs or PONGs (peer-reflexive) */
	int punch_left;
	uint64_t next_punch_ns;
	uint64_t last_round_ns; /* rounds stay NP_PUNCH_GAP_NS apart, restarts included */

	uint64_t next_exchange_ns;
	uint32_t exchange_ms;
};

struct nat_probe {
	const struct ts_host_services *host;
	ts_timer_id timer;

	/* Configuration (read-only after create). */
	uint32_t probe_interval_ms;
	int probe_misses;
	uint32_t exchange_interval_ms;
	uint32_t stun_refresh_ms;

	pthread_mutex_t lock; /* everything below */
	struct np_server srv[NP_MAX_SERVERS];
	int nsrv;
	struct np_peer *peers;
	size_t npeers;
	bool have_self;
	uint8_t self[32];
	bool have_relay;
	union ts_plugin_endpoint relay_ep;
	char relay_str[TS_NOTE_VALUE_MAX + 1];
	bool have_relay_token;
	uint8_t relay_token[TSR_TOKEN_LEN]; /* relay protocol v2: what our SENDs carry */
	uint16_t listen_port;
	struct tsr_addr local[CAND_MAX];
	int nlocal;
	struct cf_self cf; /* for the candidate filter: local prefixes (scan), services */
	struct tsr_addr ours[CAND_MAX]; /* the candidates we publish */
	int nours;
	const char *mapping; /* the verdict last published */
	char stun_mapped[TSR_ADDR_STRLEN];
	uint64_t start_ns, next_scan_ns;
	uint64_t next_token_ns; /* timer thread only */
	bool warned_no_relay, warned_no_key;

	/* Limits shared by all peers. */
	struct np_dest_table pong_dest, ping_dest;
	struct np_bucket pong_all;
	uint64_t refuse_log_ns;
	int refuse_log_lines;
	uint64_t refuse_log_quiet; /* refusals not logged in the current period */

	/* Counters (under lock), shown as the note "probe_rejects". */
	uint64_t bad_mac, unknown_key, malformed, stun_bad;
	char rejects_shown[TS_NOTE_VALUE_MAX + 1];

	/* Timer thread only. */
	struct np_outbox tick_out;
};

/* ---- small helpers ---- */

static uint64_t now_ns(const struct nat_probe *np)
{
	return np->host->now_ns(np->host);
}

static void ep_from_addr(union ts_plugin_endpoint *ep, const struct tsr_addr *a)
{
	struct sockaddr_storage ss;

	memset(ep, 0, sizeof(*ep));
	if (tsr_addr_to_sockaddr(a, &ss, NULL) == TSR_OK)
		memcpy(ep, &ss, sizeof(*ep));
}

static bool addr_from_ep(struct tsr_addr *a, const union ts_plugin_endpoint *ep)
{
	return tsr_addr_from_sockaddr(a, &ep->sa, sizeof(*ep)) == TSR_OK;
}

static uint64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void iso_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void short_key(char out[9], const uint8_t pub[32])
{
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];

	sodium_bin2base64(b64, sizeof(b64), pub, 32, sodium_base64_VARIANT_ORIGINAL);
	memcpy(out, b64, 8);
	out[8] = '\0';
}

/* ---- the outbox: host calls decided under the lock, made after it ---- */

static struct np_action *outbox_add(struct np_outbox *ob, enum np_action_type type)
{
	if (ob->n == ob->cap) {
		size_t cap = ob->cap ? ob->cap * 2 : 64;
		struct np_action *a;

		if (!ob->growable || cap > 65536 || !(a = realloc(ob->a, cap * sizeof(*a)))) {
			ob->dropped++;
			return NULL;
		}
		ob->a = a;
		ob->cap = cap;
	}
	struct np_action *act = &ob->a[ob->n++];

	act->type = type;
	act->has_pub = false;
	act->len = 0;
	return act;
}

static void out_send(struct np_outbox *ob, const union ts_plugin_endpoint *ep, const uint8_t *buf,
		     size_t len)
{
	struct np_action *a;

	if (len > NP_FRAME_MAX || !(a = outbox_add(ob, ACT_SEND)))
		return;
	a->ep = *ep;
	memcpy(a->buf, buf, len);
	a->len = len;
}

/* value NULL removes the note. */
static void out_note(struct np_outbox *ob, const uint8_t *pub, const char *key, const char *value)
{
	struct np_action *a = outbox_add(ob, ACT_NOTE);

	if (!a)
		return;
	a->has_pub = pub != NULL;
	if (pub)
		memcpy(a->pub, pub, 32);
	snprintf(a->key, sizeof(a->key), "%s", key);
	snprintf((char *)a->buf, TS_NOTE_VALUE_MAX + 1, "%s", value ? value : "");
}

static void out_endpoint(struct np_outbox *ob, const uint8_t pub[32],
			 const union ts_plugin_endpoint *ep)
{
	struct np_action *a = outbox_add(ob, ACT_SET_ENDPOINT);

	if (!a)
		return;
	a->has_pub = true;
	memcpy(a->pub, pub, 32);
	a->ep = *ep;
}

__attribute__((format(printf, 3, 4))) static void
out_log(struct np_outbox *ob, enum ts_log_level level, const char *fmt, ...)
{
	struct np_action *a = outbox_add(ob, ACT_LOG);
	va_list ap;

	if (!a)
		return;
	a->level = level;
	va_start(ap, fmt);
	vsnprintf((char *)a->buf, sizeof(a->buf), fmt, ap);
	va_end(ap);
}

static void outbox_flush(struct nat_probe *np, struct np_outbox *ob)
{
	const struct ts_host_services *h = np->host;

	for (size_t i = 0; i < ob->n; i++) {
		struct np_action *a = &ob->a[i];
		int r;

		switch (a->type) {
		case ACT_SEND:
			r = h->send_datagram(h, &a->ep, a->buf, a->len);
			if (r < 0 && r != -EAGAIN)
				h->log(h, TS_LOG_DEBUG, "send: %s", strerror(-r));
			break;
		case ACT_NOTE:
			h->note_set(h, a->has_pub ? a->pub : NULL, a->key,
				    a->buf[0] ? (const char *)a->buf : NULL);
			break;
		case ACT_SET_ENDPOINT:
			h->peer_set_endpoint(h, a->pub, &a->ep);
			break;
		case ACT_LOG:
			h->log(h, a->level, "%s", (const char *)a->buf);
			break;
		}
	}
	if (ob->dropped)
		h->log(h, TS_LOG_WARN, "%zu actions dropped (outbox full)", ob->dropped);
	ob->n = 0;
	ob->dropped = 0;
}

/* ---- peers ---- */

/* Lock held. */
static struct np_peer *find_peer(struct nat_probe *np, const uint8_t pub[32])
{
	for (size_t i = 0; i < np->npeers; i++)
		if (!memcmp(np->peers[i].pub, pub, 32))
			return &np->peers[i];
	return NULL;
}

/* Lock held.  A peer we can authenticate messages of (its probe key is known). */
static struct np_peer *find_keyed_peer(struct nat_probe *np, const uint8_t pub[32])
{
	struct np_peer *p = find_peer(np, pub);

	return p && p->pk_ok && p->present ? p : NULL;
}

/* Lock held. */
static void set_path(struct nat_probe *np, struct np_outbox *ob, struct np_peer *p, bool direct,
		     const struct tsr_addr *where, const char *why)
{
	char since[32], astr[TSR_ADDR_STRLEN], k[9];
	union ts_plugin_endpoint ep;

	short_key(k, p->pub);
	iso_time(since, sizeof(since));
	p->direct = direct;
	p->punch_left = 0;
	for (int i = 0; i < p->ncand; i++) {
		p->cand[i].outstanding = false;
		p->cand[i].streak = 0;
	}
	if (direct) {
		p->direct_addr = *where;
		p->direct_outstanding = false;
		p->missed = 0;
		p->next_ping_ns = now_ns(np) + (uint64_t)np->probe_interval_ms * NP_MS;
		ep_from_addr(&ep, where);
		tsr_addr_format(where, astr, sizeof(astr));
		out_endpoint(ob, p->pub, &ep);
		out_note(ob, p->pub, "path", "direct");
		out_note(ob, p->pub, "direct_endpoint", astr);
		out_log(ob, TS_LOG_INFO, "peer %s: path direct via %s (%s)", k, astr, why);
	} else {
		p->failed_once = true;
		/* While relayed, the exchange is retried at the slow period. */
		p->exchange_ms = np->exchange_interval_ms;
		p->next_exchange_ns = now_ns(np) + (uint64_t)np->exchange_interval_ms * NP_MS;
		if (np->have_relay)
			out_endpoint(ob, p->pub, &np->relay_ep);
		out_note(ob, p->pub, "path", "relay");
		out_note(ob, p->pub, "direct_endpoint", NULL);
		out_log(ob, TS_LOG_WARN, "peer %s: path back to the relay (%s)", k, why);
	}
	out_note(ob, p->pub, "path_since", since);
}

/* ---- candidates ---- */

/* Lock held.  The next counter for a message to p (docs: "Counter"). */
static uint64_t next_counter(struct np_peer *p)
{
	return ++p->tx_counter;
}

/* Lock held.  SEND kind 1 to the peer over the relay, carrying our candidates. */
static void send_candidates(struct nat_probe *np, struct np_outbox *ob, struct np_peer *p,
			    uint8_t flags)
{
	uint8_t frame[NP_FRAME_MAX];
	size_t n;

	if (!np->have_relay) {
		if (!np->warned_no_relay)
			out_log(ob, TS_LOG_WARN,
				"no relay known (relay-redirect's note \"relay\" is not set): "
				"no candidate exchange");
		np->warned_no_relay = true;
		return;
	}
	if (!np->have_relay_token)
		return; /* not registered yet: the next exchange retries */
	tsr_send_hdr_encode(frame, TSR_KIND_CANDIDATES, p->pub, np->relay_token);
	n = cand_encode(frame + TSR_SEND_HDR_LEN, sizeof(frame) - TSR_SEND_HDR_LEN, p->keys.cand_tx,
			next_counter(p), flags, np->ours, (size_t)np->nours);
	if (n)
		out_send(ob, &np->relay_ep, frame, TSR_SEND_HDR_LEN + n);
}

/*
 * Lock held.  Start (or restart) punching toward every candidate of p; a
 * restart never brings the next round closer than NP_PUNCH_GAP_NS after the
 * last one, so messages that restart it cannot speed the rounds up.
 */
static void start_punch(struct nat_probe *np, struct np_peer *p)
{
	uint64_t now = now_ns(np), earliest = p->last_round_ns + NP_PUNCH_GAP_NS;

	p->punch_left = NP_PUNCH_ROUNDS;
	p->next_punch_ns = p->last_round_ns && earliest > now ? earliest : now;
}

static bool have_cand(const struct np_peer *p, const struct tsr_addr *a)
{
	for (int i = 0; i < p->ncand; i++)
		if (tsr_addr_equal(&p->cand[i].addr, a))
			return true;
	return false;
}

/* Lock held.  The filter's view of us: scan's prefixes, and the services now. */
static const struct cf_self *cf_self_now(struct nat_probe *np)
{
	struct cf_self *cf = &np->cf;

	cf->nservice = 0;
	for (int i = 0; i < np->nsrv && cf->nservice < CF_SERVICE_MAX; i++) {
		cf->service[cf->nservice++] = np->srv[i].addr;
		if (np->srv[i].have && cf->nservice < CF_SERVICE_MAX)
			cf->service[cf->nservice++] = np->srv[i].mapped;
	}
	if (np->have_relay && cf->nservice < CF_SERVICE_MAX &&
	    addr_from_ep(&cf->service[cf->nservice], &np->relay_ep))
		cf->nservice++;
	return cf;
}

/* Lock held.  A candidate the filter refused: counted, and logged within a budget. */
static void refused(struct nat_probe *np, struct np_outbox *ob, struct np_peer *p,
		    const struct tsr_addr *a, enum cf_verdict v, const char *from)
{
	uint64_t now = now_ns(np);
	char astr[TSR_ADDR_STRLEN], k[9];

	p->cand_refused++;
	/* The peer's own LAN addresses are routine, not an attack: counted, not logged. */
	if (v == CF_PRIVATE_REMOTE)
		return;
	if (ts_ns_since(now, np->refuse_log_ns) >= NP_REFUSE_LOG_NS) {
		if (np->refuse_log_quiet)
			out_log(ob, TS_LOG_WARN, "%llu more candidates refused (not logged)",
				(unsigned long long)np->refuse_log_quiet);
		np->refuse_log_ns = now;
		np->refuse_log_lines = 0;
		np->refuse_log_quiet = 0;
	}
	if (np->refuse_log_lines >= NP_REFUSE_LOG_LINES) {
		np->refuse_log_quiet++;
		return;
	}
	np->refuse_log_lines++;
	short_key(k, p->pub);
	tsr_addr_format(a, astr, sizeof(astr));
	out_log(ob, TS_LOG_WARN, "peer %s: candidate %s refused (%s, from its %s)", k, astr,
		cf_verdict_name(v), from);
}

/*
 * Lock held.  An address the peer was seen at (an authentic PING's source,
 * or a PONG from somewhere else than its PING went): a peer-reflexive
 * candidate, if the filter and the cap allow; it gets PINGs of its own.
 */
static void learn_cand(struct nat_probe *np, struct np_outbox *ob, struct np_peer *p,
		       const struct tsr_addr *a, const char *from)
{
	enum cf_verdict v;

	if (p->direct || have_cand(p, a))
		return;
	v = cf_check(a, cf_self_now(np));
	if (v != CF_OK) {
		refused(np, ob, p, a, v, from);
		return;
	}
	if (p->nlearnt >= NP_PEER_CANDS - CAND_MAX || p->ncand >= NP_PEER_CANDS)
		return;
	p->cand[p->ncand++] = (struct np_cand){.addr = *a};
	p->nlearnt++;
	start_punch(np, p);
}

/* Lock held.  One PING to a, if that destination's budget allows; its txid in *txid. */
static bool send_ping(struct nat_probe *np, struct np_outbox *ob, struct np_peer *p,
		      const struct tsr_addr *a, uint8_t txid[PROBE_TXID_LEN], uint64_t now)
{
	uint8_t msg[PROBE_PING_LEN];
	union ts_plugin_endpoint ep;

	ep_from_addr(&ep, a);
	if (!ep.sa.sa_family)
		return false;
	if (!np_dest_take(&np->ping_dest, a, NP_PING_DEST_RATE, NP_PING_DEST_BURST, now)) {
		p->rate_limited++;
		return false;
	}
	randombytes_buf(txid, PROBE_TXID_LEN);
	probe_ping_encode(msg, p->keys.mac_tx, np->self, next_counter(p), txid);
	out_send(ob, &ep, msg, sizeof(msg));
	return true;
}

/* ---- the hook ---- */

/* Lock held.  A STUN message from one of our servers. */
static void on_stun(struct nat_probe *np, struct np_server *s, const uint8_t *buf, size_t len)
{
	struct stun_response r;
	int ret = stun_parse_response(buf, len, &r);

	if (ret != STUN_OK || !s->pending || sodium_memcmp(r.txid, s->txid, STUN_TXID_LEN)) {
		np->stun_bad++;
		return;
	}
	s->pending = false;
	s->next_ns = now_ns(np) + (uint64_t)np->stun_refresh_ms * NP_MS;
	if (r.type != STUN_BINDING_SUCCESS)
		return; /* an error response: try again at the next refresh */
	s->have = true;
	s->mapped = r.mapped;
	s->seen_ns = now_ns(np);
}

/* Lock held.  An authentic, fresh PING from src: one PONG, within the limits. */
static void on_ping(struct nat_probe *np, struct np_outbox *ob, struct np_peer *p,
		    const struct probe_msg *m, const struct tsr_addr *src)
{
	uint64_t now = now_ns(np);
	uint8_t pong[PROBE_PONG_LEN];
	union ts_plugin_endpoint ep;

	if (!np->have_self)
		return;
	/* Peer first, then destination, then all: a noisy peer spends only its own budget. */
	if (!np_bucket_take(&p->pong_bucket, NP_PONG_PEER_RATE, NP_PONG_PEER_BURST, now) ||
	    !np_dest_take(&np->pong_dest, src, NP_PONG_DEST_RATE, NP_PONG_DEST_BURST, now) ||
	    !np_bucket_take(&np->pong_all, NP_PONG_ALL_RATE, NP_PONG_ALL_BURST, now)) {
		p->rate_limited++;
		return;
	}
	if (probe_pong_encode(pong, p->keys.mac_tx, np->self, next_counter(p), m->txid, src))
		return;
	ep_from_addr(&ep, src);
	out_send(ob, &ep, pong, sizeof(pong));
	/*
	 * The peer reached us from src: if that is new (a peer-reflexive
	 * address, e.g. a port its NAT chose), punch back there too.
	 */
	learn_cand(np, ob, p, src, "PING");
}

/*
 * Lock held.  An authentic PONG, fresh so far.  ICE's rule: it counts only
 * when it comes from the address its PING was sent to; from anywhere else
 * it proves nothing about that address (a copy re-sent by someone on the
 * path), so it is at most a new candidate with a check of its own.  Only a
 * PONG that counts uses up its counter: the genuine one is still welcome.
 */
static void on_pong(struct nat_probe *np, struct np_outbox *ob, struct np_peer *p,
		    const struct probe_msg *m, const struct tsr_addr *src)
{
	if (p->direct) {
		if (!p->direct_outstanding ||
		    sodium_memcmp(m->txid, p->direct_txid, PROBE_TXID_LEN))
			return;
		if (!tsr_addr_equal(src, &p->direct_addr)) {
			p->pong_wrong_src++;
			return;
		}
		np_window_accept(&p->rx, m->counter);
		p->direct_outstanding = false;
		p->missed = 0;
		return;
	}
	for (int i = 0; i < p->ncand; i++) {
		struct np_cand *c = &p->cand[i];

		if (!c->outstanding || sodium_memcmp(m->txid, c->txid, PROBE_TXID_LEN))
			continue;
		if (!tsr_addr_equal(src, &c->addr)) {
			p->pong_wrong_src++;
			learn_cand(np, ob, p, src, "PONG");
			return;
		}
		np_window_accept(&p->rx, m->counter);
		c->outstanding = false;
		c->streak++;
		if (c->streak >= (p->failed_once ? 2 : 1))
			set_path(np, ob, p, true, &c->addr,
				 p->failed_once ? "2 PONGs in a row" : "PONG received");
		return;
	}
}

/* Lock held.  A datagram starting "TSP" (any version) from src. */
static void on_probe(struct nat_probe *np, struct np_outbox *ob, const uint8_t *buf, size_t len,
		     const struct tsr_addr *src)
{
	struct probe_msg m;
	struct np_peer *p;
	int r = probe_decode(buf, len, NULL, &m);

	if (r != PROBE_OK) {
		np->malformed++;
		return;
	}
	p = find_keyed_peer(np, m.sender);
	if (!p) {
		np->unknown_key++;
		return;
	}
	if (probe_decode(buf, len, p->keys.mac_rx, &m) != PROBE_OK) {
		np->bad_mac++;
		return;
	}
	if (!np_window_fresh(&p->rx, m.counter)) {
		p->replay++;
		return;
	}
	if (m.type == PROBE_PING) {
		np_window_accept(&p->rx, m.counter);
		on_ping(np, ob, p, &m, src);
	} else {
		on_pong(np, ob, p, &m, src);
	}
}

/* Lock held.  RECV kind 1 from the relay: a peer's candidates. */
static void on_candidates(struct nat_probe *np, struct np_outbox *ob, const struct tsr_data *d)
{
	struct cand_msg cm;
	struct np_peer *p = find_keyed_peer(np, d->public_key);
	const struct cf_self *cf;
	int r;

	if (!p) {
		np->unknown_key++;
		return;
	}
	r = cand_decode(d->payload, d->payload_len, p->keys.cand_rx, &cm);
	if (r != PROBE_OK) {
		if (r == PROBE_E_MAC)
			np->bad_mac++;
		else
			np->malformed++;
		return;
	}
	if (!np_window_accept(&p->rx, cm.counter)) {
		p->replay++;
		return;
	}
	/* After authentication: strangers cannot spend a peer's budget. */
	if (!np_bucket_take(&p->cand_bucket, NP_CAND_PEER_RATE, NP_CAND_PEER_BURST, now_ns(np))) {
		p->rate_limited++;
		return;
	}
	if (cm.flags & CAND_FLAG_REPLY)
		send_candidates(np, ob, p, 0);
	if (p->direct)
		return; /* our PONGs will prove the path to them */
	cf = cf_self_now(np);
	p->ncand = 0;
	p->nlearnt = 0;
	for (int i = 0; i < cm.count && p->ncand < CAND_MAX; i++) {
		enum cf_verdict v = cf_check(&cm.cand[i], cf);

		if (v != CF_OK)
			refused(np, ob, p, &cm.cand[i], v, "candidates");
		else if (!have_cand(p, &cm.cand[i]))
			p->cand[p->ncand++] = (struct np_cand){.addr = cm.cand[i]};
	}
	if (p->ncand)
		start_punch(np, p);
}

static enum ts_verdict np_ciphertext_in(void *state, struct ts_packet *pkt)
{
	struct nat_probe *np = state;
	struct np_action acts[NP_HOOK_ACTIONS];
	struct np_outbox ob = {.a = acts, .cap = NP_HOOK_ACTIONS};
	enum ts_verdict v = TS_PASS;
	struct tsr_addr src;
	uint8_t type;

	if (pkt->len < 4)
		return TS_PASS;
	/* WireGuard (type 1..4, three zero bytes) is by far the most common: leave fast. */
	if (pkt->data[0] >= 1 && pkt->data[0] <= 4 && !pkt->data[1] && !pkt->data[2] &&
	    !pkt->data[3])
		return TS_PASS;
	if (!addr_from_ep(&src, &pkt->endpoint))
		return TS_PASS;

	pthread_mutex_lock(&np->lock);
	/* "TSP" of any version: ours to judge (version 1 is refused and counted). */
	if (!memcmp(pkt->data, PROBE_MAGIC, PROBE_MAGIC_LEN - 1)) {
		on_probe(np, &ob, pkt->data, pkt->len, &src);
		v = TS_STOLEN;
	} else if (tsr_is_frame(pkt->data, pkt->len, &type) && type == TSR_RECV) {
		struct tsr_addr relay;
		struct tsr_data d;

		if (np->have_relay && addr_from_ep(&relay, &np->relay_ep) &&
		    tsr_addr_equal(&relay, &src) &&
		    tsr_data_decode(pkt->data, pkt->len, TSR_RECV, &d) == TSR_OK &&
		    d.kind == TSR_KIND_CANDIDATES) {
			on_candidates(np, &ob, &d);
			v = TS_STOLEN;
		}
	} else if (stun_is_message(pkt->data, pkt->len)) {
		for (int i = 0; i < np->nsrv; i++) {
			if (tsr_addr_equal(&np->srv[i].addr, &src)) {
				on_stun(np, &np->srv[i], pkt->data, pkt->len);
				v = TS_STOLEN;
				break;
			}
		}
	}
	pthread_mutex_unlock(&np->lock);
	outbox_flush(np, &ob);
	return v;
}

/* ---- the tick (timer thread) ---- */

/* Lock held. */
static void stun_tick(struct nat_probe *np, struct np_outbox *ob, uint64_t now)
{
	for (int i = 0; i < np->nsrv; i++) {
		struct np_server *s = &np->srv[i];
		uint8_t req[STUN_REQUEST_LEN];

		if (now < s->next_ns)
			continue;
		if (s->pending && s->tries >= NP_STUN_TRIES) {
			/* No answer this round: forget a mapping that is now old. */
			s->pending = false;
			if (s->have &&
			    ts_ns_since(now, s->seen_ns) > 2ULL * np->stun_refresh_ms * NP_MS)
				s->have = false;
			s->next_ns = now + (uint64_t)np->stun_refresh_ms * NP_MS;
			continue;
		}
		if (!s->pending) {
			randombytes_buf(s->txid, sizeof(s->txid));
			s->pending = true;
			s->tries = 0;
			s->rto_ms = NP_STUN_RTO_MS;
		} else if (s->rto_ms < NP_STUN_RTO_MAX_MS) {
			s->rto_ms *= 2;
		}
		s->tries++;
		s->next_ns = now + (uint64_t)s->rto_ms * NP_MS;
		if (stun_binding_request(req, sizeof(req), s->txid))
			out_send(ob, &s->ep, req, sizeof(req));
	}
}

/* Lock held.  The mapping verdict from the servers' answers. */
static const char *mapping_verdict(const struct nat_probe *np)
{
	const struct tsr_addr *first = NULL;
	int answered = 0;

	for (int i = 0; i < np->nsrv; i++) {
		if (!np->srv[i].have)
			continue;
		answered++;
		if (!first)
			first = &np->srv[i].mapped;
		else if (!tsr_addr_equal(first, &np->srv[i].mapped))
			return "endpoint-dependent";
	}
	return answered >= 2 ? "endpoint-independent" : "unknown";
}

static void add_unique(struct tsr_addr *set, int *n, const struct tsr_addr *a)
{
	for (int i = 0; i < *n; i++)
		if (tsr_addr_equal(&set[i], a))
			return;
	if (*n < CAND_MAX)
		set[(*n)++] = *a;
}

/* Lock held.  Recompute our candidates; true when they changed. */
static bool update_ours(struct nat_probe *np)
{
	struct tsr_addr set[CAND_MAX];
	int n = 0;
	bool changed;

	/* Mapped addresses first: behind a NAT they are the ones that work. */
	for (int i = 0; i < np->nsrv; i++)
		if (np->srv[i].have)
			add_unique(set, &n, &np->srv[i].mapped);
	for (int i = 0; i < np->nlocal; i++)
		add_unique(set, &n, &np->local[i]);
	changed = n != np->nours;
	for (int i = 0; !changed && i < n; i++)
		changed = !tsr_addr_equal(&set[i], &np->ours[i]);
	if (changed) {
		memcpy(np->ours, set, sizeof(set));
		np->nours = n;
	}
	return changed;
}

/* Lock held. */
static void peer_tick(struct nat_probe *np, struct np_outbox *ob, struct np_peer *p, uint64_t now,
		      bool may_exchange)
{
	if (!p->present || !p->pk_ok || !np->have_self)
		return;
	if (p->direct) {
		if (now < p->next_ping_ns)
			return;
		if (p->direct_outstanding && ++p->missed >= np->probe_misses) {
			char why[48];

			snprintf(why, sizeof(why), "%d PONGs missed", p->missed);
			set_path(np, ob, p, false, NULL, why);
			return;
		}
		p->direct_outstanding = send_ping(np, ob, p, &p->direct_addr, p->direct_txid, now);
		p->next_ping_ns = now + (uint64_t)np->probe_interval_ms * NP_MS;
		return;
	}
	if (p->punch_left > 0 && now >= p->next_punch_ns) {
		for (int i = 0; i < p->ncand; i++) {
			struct np_cand *c = &p->cand[i];

			if (c->outstanding)
				c->streak = 0; /* the last one went unanswered */
			c->outstanding = send_ping(np, ob, p, &c->addr, c->txid, now);
		}
		p->punch_left--;
		p->last_round_ns = now;
		p->next_punch_ns = now + NP_PUNCH_GAP_NS;
	}
	if (may_exchange && now >= p->next_exchange_ns) {
		send_candidates(np, ob, p, CAND_FLAG_REPLY);
		p->next_exchange_ns = now + (uint64_t)p->exchange_ms * NP_MS;
		p->exchange_ms *= 2;
		if (p->exchange_ms > np->exchange_interval_ms)
			p->exchange_ms = np->exchange_interval_ms;
	}
}

static bool is_v6_loopback(const uint8_t a[16])
{
	static const uint8_t lo[16] = {[15] = 1};

	return !memcmp(a, lo, 16);
}

/* The prefix length of a netmask (contiguous or not: its bits are counted). */
static uint8_t mask_len(const struct sockaddr *m, int family)
{
	const uint8_t *b;
	size_t n;
	uint8_t len = 0;

	if (!m || m->sa_family != family)
		return family == AF_INET ? 32 : 128;
	if (family == AF_INET) {
		b = (const uint8_t *)&((const struct sockaddr_in *)(const void *)m)->sin_addr;
		n = 4;
	} else {
		b = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)m)->sin6_addr;
		n = 16;
	}
	for (size_t i = 0; i < n; i++)
		len = (uint8_t)(len + __builtin_popcount(b[i]));
	return len;
}

/*
 * Local addresses of the daemon's namespace: the ones to publish (with the
 * listen port) in out, and every address of every interface with its
 * prefix (loopback and the tunnel included: all are "ours" to the
 * candidate filter) in cf.  No lock.
 */
static int read_local(struct nat_probe *np, struct tsr_addr *out, uint16_t port, struct cf_self *cf)
{
	const char *tun = np->host->ifname(np->host);
	struct ifaddrs *ifa, *i;
	int n = 0;

	cf->nlocal = 0;
	if (getifaddrs(&ifa))
		return 0;
	for (i = ifa; i; i = i->ifa_next) {
		struct tsr_addr a;

		if (!i->ifa_addr ||
		    (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		if (tsr_addr_from_sockaddr(&a, i->ifa_addr,
					   i->ifa_addr->sa_family == AF_INET
					       ? sizeof(struct sockaddr_in)
					       : sizeof(struct sockaddr_in6)) != TSR_OK)
			continue;
		if (cf->nlocal < CF_LOCAL_MAX) {
			cf->local[cf->nlocal].addr = a;
			cf->local[cf->nlocal].plen =
			    mask_len(i->ifa_netmask, i->ifa_addr->sa_family);
			/* A v4-mapped address became family 4: its mask no longer fits. */
			if (a.family == 4 && cf->local[cf->nlocal].plen > 32)
				cf->local[cf->nlocal].plen = 32;
			cf->nlocal++;
		}
		if (!port || n >= CAND_MAX || !(i->ifa_flags & IFF_UP) ||
		    (i->ifa_flags & IFF_LOOPBACK))
			continue;
		if (tun && i->ifa_name && !strcmp(i->ifa_name, tun))
			continue;
		if (a.family == 4 && (a.addr[0] == 127 || (a.addr[0] == 169 && a.addr[1] == 254)))
			continue;
		/* IPv6: global unicast only (no link-local, loopback, multicast). */
		if (a.family == 6 && ((a.addr[0] == 0xfe && (a.addr[1] & 0xc0) == 0x80) ||
				      a.addr[0] == 0xff || is_v6_loopback(a.addr)))
			continue;
		a.port = port;
		out[n++] = a;
	}
	freeifaddrs(ifa);
	return n;
}

struct scan_ctx {
	struct nat_probe *np;
	uint8_t (*keys)[32];
	size_t n, cap;
};

static int scan_cb(void *ctx, const struct ts_plugin_peer *peer)
{
	struct scan_ctx *sc = ctx;

	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 16;
		uint8_t(*k)[32];

		if (cap > NP_MAX_PEERS || !(k = realloc(sc->keys, cap * sizeof(*k))))
			return 0; /* keep what we have */
		sc->keys = k;
		sc->cap = cap;
	}
	memcpy(sc->keys[sc->n++], peer->public_key, 32);
	return 0;
}

/*
 * Re-read the peers, our key, the relay's address and our local addresses
 * (no lock held: these are host calls), then merge under the lock.
 */
static void scan(struct nat_probe *np, struct np_outbox *ob)
{
	const struct ts_host_services *h = np->host;
	struct scan_ctx sc = {.np = np};
	struct tsr_addr local[CAND_MAX], relay;
	char relay_str[TS_NOTE_VALUE_MAX + 1];
	uint8_t self[32];
	struct probe_keys *pks = NULL;
	bool *pk_ok = NULL;
	bool have_self = h->public_key(h, self), have_relay;
	uint16_t port = h->listen_port(h);
	struct cf_self cf;
	int nlocal = read_local(np, local, port, &cf);
	char since[32];

	have_relay = h->note_get(h, NULL, "relay", relay_str, sizeof(relay_str)) == 0 &&
		     tsr_addr_parse(&relay, relay_str) == TSR_OK;
	h->peer_foreach(h, scan_cb, &sc);
	if (sc.n && (!(pks = calloc(sc.n, sizeof(*pks))) || !(pk_ok = calloc(sc.n, 1))))
		sc.n = 0;
	for (size_t i = 0; i < sc.n; i++) {
		uint8_t dh[32];

		/* A low-order key, or no private key yet: no probe key, the peer is left alone. */
		if (have_self && h->static_dh(h, sc.keys[i], dh) == 0) {
			probe_keys(&pks[i], dh, self, sc.keys[i]);
			pk_ok[i] = true;
		}
		sodium_memzero(dh, sizeof(dh));
	}
	iso_time(since, sizeof(since));

	pthread_mutex_lock(&np->lock);
	np->have_self = have_self;
	if (have_self)
		memcpy(np->self, self, 32);
	else if (!np->warned_no_key)
		out_log(ob, TS_LOG_WARN, "no private key configured yet: no probes");
	np->warned_no_key = !have_self;
	np->have_relay = have_relay;
	if (have_relay) {
		ep_from_addr(&np->relay_ep, &relay);
		snprintf(np->relay_str, sizeof(np->relay_str), "%s", relay_str);
		np->warned_no_relay = false;
	}
	np->listen_port = port;
	memcpy(np->local, local, sizeof(local));
	np->nlocal = nlocal;
	memcpy(np->cf.local, cf.local, sizeof(cf.local));
	np->cf.nlocal = cf.nlocal;
	for (size_t i = 0; i < np->npeers; i++)
		np->peers[i].present = false;
	for (size_t i = 0; i < sc.n; i++) {
		struct np_peer *p = find_peer(np, sc.keys[i]);

		if (!p) {
			struct np_peer *grown =
			    realloc(np->peers, (np->npeers + 1) * sizeof(*grown));

			if (!grown)
				continue;
			np->peers = grown;
			p = &np->peers[np->npeers++];
			memset(p, 0, sizeof(*p));
			memcpy(p->pub, sc.keys[i], 32);
			p->exchange_ms = NP_EXCHANGE_FIRST_MS;
			p->next_exchange_ns = 0;
			/*
			 * Counters grow across restarts: they start from the clock, in
			 * ms << 14 (16,384 messages per ms of uptime before a restart
			 * could repeat one; 2^55 today, far from wrapping).
			 */
			p->tx_counter = realtime_ms() << 14;
			np_window_init(&p->rx);
			out_note(ob, p->pub, "path", "relay");
			out_note(ob, p->pub, "path_since", since);
		}
		/* The key may change (our private key set later): always refresh it. */
		p->keys = pks[i];
		p->pk_ok = pk_ok[i];
		p->present = true;
	}
	/* Peers that are gone: compact them away. */
	for (size_t i = 0; i < np->npeers;) {
		if (np->peers[i].present) {
			i++;
			continue;
		}
		sodium_memzero(&np->peers[i], sizeof(np->peers[i]));
		np->peers[i] = np->peers[--np->npeers];
	}
	pthread_mutex_unlock(&np->lock);
	if (pks)
		sodium_memzero(pks, sc.n * sizeof(*pks));
	free(pks);
	free(pk_ok);
	free(sc.keys);
}

/*
 * Relay protocol v2: a SEND carries a token that only the registered key can
 * make, from K (static_dh with the relay's key, note "relay_key") and the
 * address the relay sees us at (note "relay_mapped", from relay-redirect's
 * last REGISTER_ACK).  Host calls: no lock held.
 */
static bool relay_send_token(const struct ts_host_services *h, uint8_t token[TSR_TOKEN_LEN])
{
	char key_str[TS_NOTE_VALUE_MAX + 1], mapped_str[TS_NOTE_VALUE_MAX + 1];
	uint8_t relay_key[32], dh[32], k[TSR_KEY_LEN];
	struct tsr_addr mapped;
	size_t klen = 0;
	bool ok = false;

	if (h->note_get(h, NULL, "relay_key", key_str, sizeof(key_str)) != 0 ||
	    h->note_get(h, NULL, "relay_mapped", mapped_str, sizeof(mapped_str)) != 0 ||
	    tsr_addr_parse(&mapped, mapped_str) != TSR_OK ||
	    sodium_base642bin(relay_key, sizeof(relay_key), key_str, strlen(key_str), NULL, &klen,
			      NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    klen != sizeof(relay_key))
		return false;
	if (h->static_dh(h, relay_key, dh) == 0) {
		tsr_register_key(k, dh);
		tsr_send_token(token, k, &mapped);
		ok = true;
	}
	sodium_memzero(dh, sizeof(dh));
	sodium_memzero(k, sizeof(k));
	return ok;
}

/* Timer thread: a new or changed token sends the candidates at once. */
static void refresh_relay_token(struct nat_probe *np, uint64_t now)
{
	uint8_t token[TSR_TOKEN_LEN] = {0};
	bool have = relay_send_token(np->host, token);

	pthread_mutex_lock(&np->lock);
	if (have &&
	    (!np->have_relay_token || sodium_memcmp(token, np->relay_token, TSR_TOKEN_LEN) != 0)) {
		for (size_t i = 0; i < np->npeers; i++) {
			np->peers[i].exchange_ms = NP_EXCHANGE_FIRST_MS;
			np->peers[i].next_exchange_ns = now;
		}
	}
	np->have_relay_token = have;
	memcpy(np->relay_token, token, TSR_TOKEN_LEN);
	pthread_mutex_unlock(&np->lock);
	sodium_memzero(token, sizeof(token));
	/* Quickly until registered, then with the scan. */
	np->next_token_ns = now + (have ? NP_SCAN_NS : NP_SCAN_NS / 10);
}

static void np_tick(void *arg)
{
	struct nat_probe *np = arg;
	struct np_outbox *ob = &np->tick_out;
	uint64_t now = now_ns(np);
	bool stun_settled;
	const char *verdict;
	char mapped[TSR_ADDR_STRLEN], rejects[TS_NOTE_VALUE_MAX + 1];

	if (now >= np->next_scan_ns) {
		scan(np, ob);
		np->next_scan_ns = now + NP_SCAN_NS;
	}
	if (now >= np->next_token_ns)
		refresh_relay_token(np, now);

	pthread_mutex_lock(&np->lock);
	stun_tick(np, ob, now);

	verdict = mapping_verdict(np);
	if (verdict != np->mapping) {
		out_note(ob, NULL, "nat_mapping", verdict);
		out_log(ob, TS_LOG_INFO, "NAT mapping: %s", verdict);
		np->mapping = verdict;
	}
	if (np->nsrv && np->srv[0].have)
		tsr_addr_format(&np->srv[0].mapped, mapped, sizeof(mapped));
	else
		snprintf(mapped, sizeof(mapped), "none");
	if (strcmp(mapped, np->stun_mapped)) {
		out_note(ob, NULL, "stun_mapped", strcmp(mapped, "none") ? mapped : NULL);
		snprintf(np->stun_mapped, sizeof(np->stun_mapped), "%s", mapped);
	}

	/*
	 * Candidates go out once every server answered (or after a grace
	 * period without), and again, quickly, whenever they change.
	 */
	stun_settled = now - np->start_ns >= NP_STUN_GRACE_NS;
	if (!stun_settled) {
		stun_settled = true;
		for (int i = 0; i < np->nsrv; i++)
			if (!np->srv[i].have)
				stun_settled = false;
	}
	if (update_ours(np)) {
		for (size_t i = 0; i < np->npeers; i++) {
			np->peers[i].exchange_ms = NP_EXCHANGE_FIRST_MS;
			np->peers[i].next_exchange_ns = now;
		}
	}
	for (size_t i = 0; i < np->npeers; i++)
		peer_tick(np, ob, &np->peers[i], now, stun_settled && np->have_self);

	for (size_t i = 0; i < np->npeers; i++) {
		struct np_peer *p = &np->peers[i];
		char refused[TS_NOTE_VALUE_MAX + 1];

		if (!(p->replay || p->rate_limited || p->pong_wrong_src || p->cand_refused))
			continue;
		snprintf(refused, sizeof(refused), "replay %llu rate %llu pong_src %llu cand %llu",
			 (unsigned long long)p->replay, (unsigned long long)p->rate_limited,
			 (unsigned long long)p->pong_wrong_src,
			 (unsigned long long)p->cand_refused);
		if (strcmp(refused, p->refused_shown)) {
			out_note(ob, p->pub, "probe_refused", refused);
			memcpy(p->refused_shown, refused, sizeof(refused));
		}
	}
	snprintf(rejects, sizeof(rejects), "bad_mac %llu unknown_key %llu malformed %llu stun %llu",
		 (unsigned long long)np->bad_mac, (unsigned long long)np->unknown_key,
		 (unsigned long long)np->malformed, (unsigned long long)np->stun_bad);
	if ((np->bad_mac || np->unknown_key || np->malformed || np->stun_bad) &&
	    strcmp(rejects, np->rejects_shown)) {
		out_note(ob, NULL, "probe_rejects", rejects);
		memcpy(np->rejects_shown, rejects, sizeof(rejects));
	}
	pthread_mutex_unlock(&np->lock);
	outbox_flush(np, ob);
}

/* ---- create / destroy ---- */

static const char *const np_keys[] = {
    "stun", "probe_interval_ms", "probe_misses", "exchange_interval_s", "stun_refresh_s", NULL,
};

static int get_int(const struct ts_host_services *h, const struct ts_config_node *cfg,
		   const char *key, long long lo, long long hi, long long def, long long *out,
		   char *err, size_t errlen)
{
	int r = h->config_int(h, cfg, key, out);

	if (r == -ENOENT) {
		*out = def;
		return 0;
	}
	if (r || *out < lo || *out > hi) {
		snprintf(err, errlen, "%s: expected an integer in %lld..%lld", key, lo, hi);
		return -1;
	}
	return 0;
}

static void np_destroy(void *state)
{
	struct nat_probe *np = state;

	if (!np)
		return;
	pthread_mutex_destroy(&np->lock);
	if (np->peers)
		sodium_memzero(np->peers, np->npeers * sizeof(*np->peers));
	free(np->peers);
	free(np->tick_out.a);
	free(np);
}

static int np_create(const struct ts_host_services *h, const struct ts_config_node *cfg,
		     void **state, char *err, size_t errlen)
{
	struct nat_probe *np;
	long long v;
	const char *k;
	int n;

	if (h->struct_size < offsetof(struct ts_host_services, static_dh) + sizeof(h->static_dh)) {
		snprintf(err, errlen, "the host is too old: nat-probe needs notes and static_dh");
		return -1;
	}
	for (size_t i = 0; (k = h->config_key_at(h, cfg, i)); i++) {
		size_t j;

		for (j = 0; np_keys[j] && strcmp(np_keys[j], k); j++)
			;
		if (!np_keys[j]) {
			snprintf(err, errlen,
				 "unknown key '%.40s' (expected stun, probe_interval_ms, "
				 "probe_misses, exchange_interval_s, stun_refresh_s)",
				 k);
			return -1;
		}
	}
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return -1;
	}
	np = calloc(1, sizeof(*np));
	if (!np) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	np->host = h;
	np->tick_out.growable = true;
	pthread_mutex_init(&np->lock, NULL);
	np_dest_init(&np->pong_dest);
	np_dest_init(&np->ping_dest);

	n = h->config_list_len(h, cfg, "stun");
	if (n == -EINVAL || n > NP_MAX_SERVERS) {
		snprintf(err, errlen, "stun: expected a list of up to %d ADDR:PORT entries",
			 NP_MAX_SERVERS);
		goto fail;
	}
	for (int i = 0; i < n; i++) {
		const char *s = h->config_list_item(h, cfg, "stun", (size_t)i);
		struct np_server *srv = &np->srv[np->nsrv];

		if (!s || tsr_addr_parse(&srv->addr, s) != TSR_OK) {
			snprintf(err, errlen,
				 "stun[%d]: '%.60s' is not ADDR:PORT (1.2.3.4:3478 or [::1]:3478)",
				 i, s ? s : "");
			goto fail;
		}
		ep_from_addr(&srv->ep, &srv->addr);
		np->nsrv++;
	}
	if (get_int(h, cfg, "probe_interval_ms", 100, 60000, 2000, &v, err, errlen))
		goto fail;
	np->probe_interval_ms = (uint32_t)v;
	if (get_int(h, cfg, "probe_misses", 1, 100, 3, &v, err, errlen))
		goto fail;
	np->probe_misses = (int)v;
	if (get_int(h, cfg, "exchange_interval_s", 1, 3600, 10, &v, err, errlen))
		goto fail;
	np->exchange_interval_ms = (uint32_t)v * 1000;
	if (get_int(h, cfg, "stun_refresh_s", 1, 3600, 20, &v, err, errlen))
		goto fail;
	np->stun_refresh_ms = (uint32_t)v * 1000;

	np->start_ns = now_ns(np);
	np->mapping = ""; /* so the first tick publishes the verdict */
	np->timer = h->timer_add(h, NP_TICK_MS, np_tick, np);
	if (!np->timer) {
		snprintf(err, errlen, "cannot start the probe timer");
		goto fail;
	}
	h->log(h, TS_LOG_INFO, "%d STUN server(s), probes every %u ms, exchange every %u s",
	       np->nsrv, np->probe_interval_ms, np->exchange_interval_ms / 1000);
	*state = np;
	return 0;
fail:
	np_destroy(np);
	return -1;
}

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct ts_plugin_v2),
    .name = "nat-probe",
    .version = "2.0",
    .create = np_create,
    .destroy = np_destroy,
    .ciphertext_in = np_ciphertext_in,
};
