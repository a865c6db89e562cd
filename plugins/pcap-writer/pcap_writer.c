// SPDX-License-Identifier: MIT
/*
 * The pcap-writer plugin: packets of any of the four hooks into a pcapng file
 * that tcpdump, tshark and Wireshark read, one interface per hook (named
 * after it).  Plaintext hooks are raw IP packets; the ciphertext hooks are the
 * WireGuard datagrams inside IPv4/IPv6 + UDP headers made up from the real
 * endpoints (ours and the peer's), so Wireshark's WireGuard dissector names
 * every message.  Optionally the handshake secrets go to a key log file
 * and/or into the capture itself (Decryption Secrets Blocks), so that
 * Wireshark decrypts the tunnel with no settings at all.
 *
 *   config:
 *     path: /tmp/wg.pcapng  the capture (required); created mode 0600, started
 *                           over when the instance is created
 *     snaplen: 65535        bytes kept of each packet (headers included), 1..262144
 *     peers: [KEY, ...]     only these peers' packets (base64 public keys); default all
 *     rotate_bytes: 0       start a new file when this one would grow past this
 *                           many bytes (>= 65536); 0: never
 *     rotate_files: 2       with rotate_bytes: files kept, path (newest), path.1, ...
 *                           path.N-1 (oldest), renamed along at each rotation
 *     keylog: PATH          append every handshake's secrets here (off by default)
 *     embed_secrets: false  write them into the capture too
 *
 * The file is valid to read at any moment: only whole blocks are written, on
 * the thread of the instance's host output (output_open_cb, ABI 2.3), each
 * time its queue empties, at least every 20 ms and on destroy.  Hooks only
 * queue a record into that output's 4 MiB ring: a slow disk costs dropped
 * records (counted by the host and shown by `ctl IF plugins`, and logged
 * here), never a stalled tunnel.
 *
 * A reload that keeps a pcap-writer on the same path: the new instance waits
 * for the old one to finish, then appends a new pcapng section to the file.
 *
 * Why not libpcap's dump API: it writes classic pcap only (one link type per
 * file, no interface names, no Decryption Secrets Blocks); the few pcapng
 * blocks needed are in pcapng.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <tinescale/plugin.h>
#include <unistd.h>

#include "../hexdump/peers.h"
#include "../hexdump/rec.h"
#include "pcapng.h"
#include "sink.h"
#include "writer.h"

_Static_assert(sizeof(struct ts_handshake_secrets) == REC_SECRETS_LEN, "secrets layout");

#define PW_RING_SIZE	  (4u << 20)
#define PW_SNAPLEN_MAX	  262144
#define PW_ROTATE_MIN	  65536
#define PW_OUTBUF	  (256u << 10)
#define PW_WAKE_MS	  20
#define PW_STATS_MS	  2000
#define PW_FINAL_FLUSH_MS 1000
/*
 * With embed_secrets, a handshake message is held back this long so the
 * secrets of its handshake (which the engine hands over when it answers an
 * initiation, after the initiation passed ciphertext_in) land in the file
 * before it: Wireshark reads secrets in file order.
 */
#define PW_HOLD_NS (50u * 1000000u)
/* Held-back records beyond this many bytes are written anyway. */
#define PW_HOLD_MAX (4u << 20)

/* A packet record held back behind a handshake message (writer side). */
struct held {
	struct held *next;
	size_t len;
	uint8_t rec[]; /* struct rec, then the packet */
};

struct pw {
	const struct ts_host_services *host;
	struct ts_output *q; /* the host's output: the ring and the thread that writes */
	struct peerfilter peers;
	uint32_t snaplen;
	uint64_t rotate_bytes;
	unsigned rotate_files;
	char *path, *keylog_path;
	bool embed;
	char ifname[64];
	struct sink keylog; /* fd -1 when off */
	struct sink out;    /* the capture; fd -1 until claimed (successor) */
	bool successor;	    /* another live instance writes path: append a section after it */
	bool claimed;	    /* path is ours in the registry; under reg_mu */
	_Atomic bool quit;  /* destroy: stop waiting for the path */
	ts_timer_id stats_timer;

	_Atomic uint64_t secrets;
	struct outbuf buf; /* for out; the buffer is the writer thread's, the counts everyone's */

	/* The output's thread only (pw_drain). */
	bool started;
	struct held *held, **held_tail;
	size_t held_bytes;
	size_t blk_max;
	uint64_t file_bytes, section_start;
	int32_t
	    ifid[TS_HOOK_COUNT]; /* interface of each hook in the current section, -1: none yet */
	uint32_t nif;

	/* Stats timer only. */
	uint64_t reported_dropped;
	uint64_t q_dropped; /* the host's count, read just before closing the output */
	int reported_errno;
};

/*
 * Paths written by a live instance of this .so.  (The host dlopens the same
 * file again for a new pipeline while the old one still runs, so both see
 * this one list.)
 */
struct claim {
	char *path;
	struct claim *next;
};
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cv = PTHREAD_COND_INITIALIZER;
static struct claim *claims;

static struct claim **find_claim(const char *path)
{
	struct claim **c;

	for (c = &claims; *c; c = &(*c)->next)
		if (!strcmp((*c)->path, path))
			return c;
	return NULL;
}

static bool claim_path(const char *path)
{
	struct claim *c = malloc(sizeof(*c));

	if (!c || !(c->path = strdup(path))) {
		free(c);
		return false;
	}
	c->next = claims;
	claims = c;
	return true;
}

static void unclaim_path(struct pw *p)
{
	struct claim **c, *dead;

	pthread_mutex_lock(&reg_mu);
	if (p->claimed && (c = find_claim(p->path))) {
		dead = *c;
		*c = dead->next;
		free(dead->path);
		free(dead);
	}
	p->claimed = false;
	pthread_cond_broadcast(&reg_cv);
	pthread_mutex_unlock(&reg_mu);
}

static bool is_cipher_hook(unsigned hook)
{
	return hook == TS_HOOK_CIPHERTEXT_OUT || hook == TS_HOOK_CIPHERTEXT_IN;
}

/* ------------------------------------------------------------------ */
/* Data path                                                           */

/* Hand a record to the host's output (dropped and counted there when full). */
static void queue(struct pw *p, struct rec *r, const void *data)
{
	struct iovec iov[2] = {{.iov_base = r, .iov_len = sizeof(*r)},
			       {.iov_base = (void *)data, .iov_len = r->cap_len}};

	r->size = (uint32_t)(sizeof(*r) + r->cap_len);
	p->host->output_writev(p->host, p->q, iov, 2);
}

static enum ts_verdict pw_hook(void *state, struct ts_packet *pkt)
{
	struct pw *p = state;
	struct rec r = {.kind = REC_PACKET, .hook = (uint8_t)pkt->hook};
	bool known = packet_peer(p->host, pkt, r.peer);

	if (!peerfilter_match(&p->peers, p->host, pkt, known ? r.peer : NULL))
		return TS_PASS;
	r.mono_ns = clock_ns(CLOCK_MONOTONIC);
	rec_fill_packet(&r, p->host, pkt, known, p->snaplen);
	/* The IPv6 UDP checksum covers the whole datagram, kept or not. */
	if (is_cipher_hook(pkt->hook) && r.cap_len < pkt->len)
		r.payload_sum = csum_add(0, pkt->data, pkt->len);
	queue(p, &r, pkt->data);
	return TS_PASS;
}

static void pw_event(void *state, const struct ts_event *ev)
{
	struct pw *p = state;
	struct rec r = {.kind = REC_SECRETS};

	if (ev->type != TS_EVENT_HANDSHAKE_SECRETS || !ev->secrets ||
	    (p->keylog.fd < 0 && !p->embed))
		return;
	if (ev->public_key) {
		if (!peerfilter_has(&p->peers, ev->public_key))
			return;
		memcpy(r.peer, ev->public_key, 32);
		r.flags = REC_HAVE_PEER;
	}
	r.mono_ns = clock_ns(CLOCK_MONOTONIC);
	r.real_ns = clock_ns(CLOCK_REALTIME);
	r.cap_len = REC_SECRETS_LEN;
	queue(p, &r, ev->secrets);
}

/* ------------------------------------------------------------------ */
/* The output's thread (pw_drain and what it calls)                    */

static void flush(struct pw *p)
{
	outbuf_flush(&p->buf, &p->out);
}

/* Room for a block of up to n bytes at the end of the buffer. */
static uint8_t *reserve(struct pw *p, size_t n)
{
	if (PW_OUTBUF + p->blk_max - p->buf.len < n)
		flush(p);
	return p->buf.buf + p->buf.len;
}

static void commit(struct pw *p, size_t n)
{
	p->buf.len += n;
	p->file_bytes += n;
}

static void start_section(struct pw *p)
{
	size_t n = pcapng_shb(reserve(p, 512), 512, "tinescale pcap-writer");

	commit(p, n);
	for (int i = 0; i < TS_HOOK_COUNT; i++)
		p->ifid[i] = -1;
	p->nif = 0;
	p->section_start = p->file_bytes;
}

/* Open path (appending when a predecessor wrote it) and start a section. */
static int open_capture(struct pw *p, bool trunc)
{
	char err[256];

	if (sink_open(&p->out, p->path, trunc, err, sizeof(err))) {
		atomic_store(&p->buf.err, errno ? errno : EIO);
		return -1;
	}
	p->file_bytes = p->out.size;
	start_section(p);
	return 0;
}

/* path -> path.1 -> ... -> path.N-1 (dropped), then a fresh path. */
static void rotate(struct pw *p)
{
	size_t len = strlen(p->path) + 16;
	char *from = malloc(len), *to = malloc(len);

	flush(p);
	sink_close(&p->out);
	if (from && to) {
		for (unsigned i = p->rotate_files - 1; i >= 1; i--) {
			if (i == 1)
				snprintf(from, len, "%s", p->path);
			else
				snprintf(from, len, "%s.%u", p->path, i - 1);
			snprintf(to, len, "%s.%u", p->path, i);
			if (rename(from, to) < 0 && errno != ENOENT)
				atomic_store(&p->buf.err, errno);
		}
	}
	free(from);
	free(to);
	p->file_bytes = 0;
	open_capture(p, true);
}

/* Before a block of n bytes (plus maybe an interface block): rotate if it would not fit. */
static void maybe_rotate(struct pw *p, size_t n)
{
	if (p->rotate_bytes && p->out.regular && p->file_bytes > p->section_start &&
	    p->file_bytes + n + 512 > p->rotate_bytes)
		rotate(p);
}

static uint32_t interface_of(struct pw *p, unsigned hook)
{
	static const char *const desc[TS_HOOK_COUNT] = {
	    [TS_HOOK_PLAINTEXT_OUT] = "read from the TUN, before encryption (IP packets)",
	    [TS_HOOK_CIPHERTEXT_OUT] = "WireGuard datagrams sent (IP/UDP headers synthesized "
				       "from the endpoints)",
	    [TS_HOOK_CIPHERTEXT_IN] = "WireGuard datagrams received (IP/UDP headers synthesized "
				      "from the endpoints)",
	    [TS_HOOK_PLAINTEXT_IN] = "decrypted, before the TUN write (IP packets)",
	};
	static const char *const name[TS_HOOK_COUNT] = {"plaintext_out", "ciphertext_out",
							"ciphertext_in", "plaintext_in"};
	char d[200];
	size_t n;

	if (p->ifid[hook] >= 0)
		return (uint32_t)p->ifid[hook];
	snprintf(d, sizeof(d), "tinescale %s %s: %s", p->ifname, name[hook], desc[hook]);
	n = pcapng_idb(reserve(p, 512), 512, PCAPNG_LINKTYPE_RAW, p->snaplen, name[hook], d);
	commit(p, n);
	p->ifid[hook] = (int32_t)p->nif++;
	return (uint32_t)p->ifid[hook];
}

static void write_packet(struct pw *p, const struct rec *r, const uint8_t *data)
{
	uint8_t hdr[SYNTH_HDR_MAX];
	size_t hlen = 0, cap, need;
	uint32_t orig = r->orig_len, ifid;

	if (r->hook >= TS_HOOK_COUNT)
		return;
	if (is_cipher_hook(r->hook)) {
		struct ipport rem, loc;
		uint32_t sum =
		    r->cap_len < r->orig_len ? r->payload_sum : csum_add(0, data, r->cap_len);

		ipport_from_endpoint(&rem, &r->remote, AF_INET);
		ipport_from_endpoint(&loc, &r->local, rem.family);
		if (loc.family != rem.family || !memcmp(loc.addr, (uint8_t[16]){0}, 16)) {
			/* Unknown, unspecified or of the other family: what routing picks. */
			uint16_t port = loc.port;

			memset(&loc, 0, sizeof(loc));
			loc.family = rem.family;
			loc.port = port;
			ipport_route_local(&rem, &loc);
		}
		if (r->hook == TS_HOOK_CIPHERTEXT_OUT)
			hlen = synth_udp_header(hdr, &loc, &rem, r->orig_len, sum);
		else
			hlen = synth_udp_header(hdr, &rem, &loc, r->orig_len, sum);
		orig += (uint32_t)hlen;
	}
	/* snaplen counts the synthesized headers too, as on a real interface. */
	cap = hlen + r->cap_len < p->snaplen ? hlen + r->cap_len : p->snaplen;
	need = PCAPNG_EPB_OVERHEAD + cap + 4;
	maybe_rotate(p, need);
	ifid = interface_of(p, r->hook);
	commit(p, pcapng_epb(reserve(p, need), need, ifid, r->real_ns, hdr, hlen < cap ? hlen : cap,
			     data, cap > hlen ? cap - hlen : 0, orig));
	p->buf.recs++;
}

static void write_secrets(struct pw *p, const uint8_t *secrets)
{
	char text[KEYLOG_TEXT_MAX];
	size_t n = keylog_text(secrets, text, sizeof(text));

	if (!n)
		return;
	if (p->keylog.fd >= 0) {
		/* One write per handshake: readers never see half a block of lines. */
		int ret = sink_write(&p->keylog, text, n, p->buf.final ? 0 : -1);

		if (ret < 0 && ret != -ECANCELED)
			atomic_store(&p->buf.err, -ret);
	}
	if (p->embed) {
		size_t need = 12 + 8 + KEYLOG_TEXT_MAX + 4;

		maybe_rotate(p, need);
		commit(p, pcapng_dsb(reserve(p, need), need, PCAPNG_SECRETS_WIREGUARD, text, n));
	}
	atomic_fetch_add(&p->secrets, 1);
	sodium_memzero(text, sizeof(text));
}

static bool is_handshake(const struct rec *r, const uint8_t *data)
{
	if (r->kind != REC_PACKET || !is_cipher_hook(r->hook) || r->cap_len < 4)
		return false;
	if (data[1] || data[2] || data[3])
		return false;
	return (data[0] == 1 && r->orig_len == 148) || (data[0] == 2 && r->orig_len == 92);
}

/* With embed_secrets, a young handshake message waits for its secrets. */
static bool must_wait(const struct pw *p, const struct rec *r, const uint8_t *data, uint64_t now)
{
	return p->embed && is_handshake(r, data) && ts_ns_since(now, r->mono_ns) < PW_HOLD_NS;
}

/* Write the held records in order, up to one that must still wait (all: none waits). */
static void release(struct pw *p, bool all)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	struct held *h;
	struct rec r;

	while ((h = p->held)) {
		memcpy(&r, h->rec, sizeof(r));
		if (!all && p->held_bytes <= PW_HOLD_MAX &&
		    must_wait(p, &r, h->rec + sizeof(r), now))
			break;
		write_packet(p, &r, h->rec + sizeof(r));
		p->held = h->next;
		p->held_bytes -= h->len;
		free(h);
	}
	if (!p->held)
		p->held_tail = &p->held;
}

/* One record from the output: secrets at once, packets in order behind a held handshake. */
static void take(struct pw *p, const uint8_t *rec, size_t len)
{
	const uint8_t *data = rec + sizeof(struct rec);
	struct held *h;
	struct rec r;

	if (len < sizeof(r))
		return;
	memcpy(&r, rec, sizeof(r));
	if (r.cap_len > len - sizeof(r))
		return;
	if (r.kind == REC_SECRETS) {
		/* Ahead of the held handshake messages: Wireshark reads secrets in file order. */
		if (r.cap_len == REC_SECRETS_LEN)
			write_secrets(p, data);
		return;
	}
	if (r.kind != REC_PACKET || r.cap_len > PW_SNAPLEN_MAX)
		return;
	if (!p->held && !must_wait(p, &r, data, clock_ns(CLOCK_MONOTONIC))) {
		write_packet(p, &r, data);
		return;
	}
	h = malloc(sizeof(*h) + sizeof(r) + r.cap_len);
	if (!h) {
		write_packet(p, &r, data); /* out of order rather than lost */
		return;
	}
	h->next = NULL;
	h->len = sizeof(r) + r.cap_len;
	memcpy(h->rec, rec, h->len);
	*p->held_tail = h;
	p->held_tail = &h->next;
	p->held_bytes += h->len;
}

/* A successor: wait until the instance writing path before us is gone, then append. */
static void start(struct pw *p)
{
	if (!p->successor)
		return;
	pthread_mutex_lock(&reg_mu);
	while (find_claim(p->path) && !atomic_load(&p->quit))
		pthread_cond_wait(&reg_cv, &reg_mu);
	if (!atomic_load(&p->quit))
		p->claimed = claim_path(p->path);
	pthread_mutex_unlock(&reg_mu);
	if (p->claimed)
		open_capture(p, false);
}

/*
 * The output's callback (ts_output_fn), on the host's thread for this
 * output, never under a host lock: a record, or (rec NULL) the queue is
 * empty for now, a tick, or the end.  Nothing here touches host state.
 */
static void pw_drain(void *arg, const void *rec, size_t len, bool closing)
{
	struct pw *p = arg;

	if (!p->started) {
		start(p);
		p->started = true;
	}
	if (closing)
		outbuf_final(&p->buf);
	if (rec)
		take(p, rec, len);
	release(p, closing);
	if (!rec)
		flush(p);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */

static void stats_tick(void *arg)
{
	struct pw *p = arg;
	uint64_t dropped = 0;
	int err = atomic_load(&p->buf.err);

	if (err && err != p->reported_errno)
		p->host->log(p->host, TS_LOG_WARN, "writing %s failed: %s", p->path, strerror(err));
	p->reported_errno = err;
	p->host->output_stats(p->host, p->q, NULL, &dropped);
	dropped += atomic_load(&p->buf.dropped);
	if (dropped != p->reported_dropped)
		p->host->log(p->host, TS_LOG_WARN,
			     "%llu packets dropped so far (%s too slow), %llu written",
			     (unsigned long long)dropped, p->path,
			     (unsigned long long)atomic_load(&p->buf.written));
	p->reported_dropped = dropped;
}

/* Let the output's thread stop waiting for the path, write what is left and end. */
static void stop_writer(struct pw *p)
{
	if (!p->q)
		return;
	atomic_store(&p->quit, true);
	pthread_mutex_lock(&reg_mu);
	pthread_cond_broadcast(&reg_cv);
	pthread_mutex_unlock(&reg_mu);
	sink_stop(&p->out);
	sink_stop(&p->keylog);
	p->host->output_stats(p->host, p->q, NULL, &p->q_dropped);
	p->host->output_close(p->host, p->q);
	p->q = NULL;
}

static void pw_free(struct pw *p)
{
	stop_writer(p);
	sink_close(&p->out);
	sink_close(&p->keylog);
	unclaim_path(p);
	while (p->held) {
		struct held *h = p->held;

		p->held = h->next;
		free(h);
	}
	peerfilter_free(&p->peers);
	free(p->buf.buf);
	free(p->path);
	free(p->keylog_path);
	free(p);
}

static const char *const known_keys[] = {"path",	 "snaplen", "peers",	    "rotate_bytes",
					 "rotate_files", "keylog",  "embed_secrets"};
#define KNOWN_KEYS "path, snaplen, peers, rotate_bytes, rotate_files, keylog, embed_secrets"

static int parse_config(struct pw *p, const struct ts_config_node *config, char *err, size_t errlen)
{
	const struct ts_host_services *host = p->host;
	const char *k, *s;
	long long v;
	int ret;

	k = config_unknown_key(host, config, known_keys,
			       sizeof(known_keys) / sizeof(known_keys[0]));
	if (k) {
		snprintf(err, errlen,
			 "unknown config key '%s' (pcap-writer accepts " KNOWN_KEYS ")", k);
		return -1;
	}
	s = host->config_string(host, config, "path");
	if (!s || !*s) {
		snprintf(err, errlen, "'path' (the capture file) is required");
		return -1;
	}
	p->path = strdup(s);
	p->snaplen = 65535;
	ret = host->config_int(host, config, "snaplen", &v);
	if (ret == 0 && (v <= 0 || v > PW_SNAPLEN_MAX))
		ret = -EINVAL;
	if (ret == -EINVAL) {
		snprintf(err, errlen, "'snaplen' must be an integer from 1 to %d", PW_SNAPLEN_MAX);
		return -1;
	}
	if (ret == 0)
		p->snaplen = (uint32_t)v;
	ret = host->config_int(host, config, "rotate_bytes", &v);
	if (ret == 0 && v != 0 && (v < PW_ROTATE_MIN || v > (1LL << 50)))
		ret = -EINVAL;
	if (ret == -EINVAL) {
		snprintf(err, errlen, "'rotate_bytes' must be 0 (no rotation) or at least %d",
			 PW_ROTATE_MIN);
		return -1;
	}
	if (ret == 0)
		p->rotate_bytes = (uint64_t)v;
	p->rotate_files = 2;
	ret = host->config_int(host, config, "rotate_files", &v);
	if (ret == 0 && (v < 1 || v > 1000))
		ret = -EINVAL;
	if (ret == -EINVAL) {
		snprintf(err, errlen, "'rotate_files' must be an integer from 1 to 1000");
		return -1;
	}
	if (ret == 0) {
		if (!p->rotate_bytes) {
			snprintf(err, errlen, "'rotate_files' needs 'rotate_bytes'");
			return -1;
		}
		p->rotate_files = (unsigned)v;
	}
	if (peerfilter_parse(&p->peers, host, config, err, errlen))
		return -1;
	s = host->config_string(host, config, "keylog");
	if ((!s && config_has_key(host, config, "keylog")) || (s && !*s)) {
		snprintf(err, errlen, "'keylog' must be a file path");
		return -1;
	}
	if (s && !(p->keylog_path = strdup(s)))
		return snprintf(err, errlen, "out of memory"), -1;
	ret = host->config_bool(host, config, "embed_secrets", &p->embed);
	if (ret == -EINVAL) {
		snprintf(err, errlen, "'embed_secrets' must be true or false");
		return -1;
	}
	if (!p->path) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int pw_create(const struct ts_host_services *host, const struct ts_config_node *config,
		     void **state, char *err, size_t errlen)
{
	struct pw *p = calloc(1, sizeof(*p));
	int ret;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->host = host;
	p->held_tail = &p->held;
	if (host->struct_size < TS_HOST_SERVICES_V2_3_SIZE) {
		snprintf(err, errlen, "needs a host with output_open_cb (plugin ABI 2.3)");
		free(p);
		return -1;
	}
	p->out.fd = p->out.stopfd = p->keylog.fd = p->keylog.stopfd = -1;
	p->buf.final_ms = PW_FINAL_FLUSH_MS;
	if (parse_config(p, config, err, errlen))
		goto fail;
	snprintf(p->ifname, sizeof(p->ifname), "%s", host->ifname(host));
	p->blk_max = PCAPNG_EPB_OVERHEAD + SYNTH_HDR_MAX + p->snaplen + 1024;
	p->buf.buf = malloc(PW_OUTBUF + p->blk_max);
	if (!p->buf.buf) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/*
	 * Open the capture now, so that a bad path fails the pipeline.  When
	 * a live instance (the pipeline being replaced) writes it, only check
	 * that it can be opened: the writer appends once that one is gone.
	 */
	pthread_mutex_lock(&reg_mu);
	p->successor = find_claim(p->path) != NULL;
	if (!p->successor) {
		ret = sink_open(&p->out, p->path, true, err, errlen);
		if (!ret && !(p->claimed = claim_path(p->path))) {
			snprintf(err, errlen, "out of memory");
			ret = -1;
		}
	} else {
		ret = sink_open(&p->out, p->path, false, err, errlen);
		sink_close(&p->out);
	}
	pthread_mutex_unlock(&reg_mu);
	if (ret)
		goto fail;
	if (p->rotate_bytes && !p->successor && !p->out.regular) {
		snprintf(err, errlen, "rotation needs a regular file, and '%s' is not one",
			 p->path);
		goto fail;
	}
	if (!p->successor) {
		p->file_bytes = 0;
		start_section(p);
	}
	if (p->keylog_path && sink_open(&p->keylog, p->keylog_path, false, err, errlen))
		goto fail;
	p->q = host->output_open_cb(host, PW_RING_SIZE, PW_WAKE_MS, pw_drain, p, err, errlen);
	if (!p->q)
		goto fail;
	p->stats_timer = host->timer_add(host, PW_STATS_MS, stats_tick, p);
	if (!p->stats_timer) {
		snprintf(err, errlen, "cannot add the statistics timer");
		goto fail;
	}
	if (p->successor)
		host->log(host, TS_LOG_INFO,
			  "%s is being written by the instance this one replaces: a new section "
			  "will be appended when it is done",
			  p->path);
	/* Session keys reach this instance only when the user asked for them. */
	if ((p->keylog_path || p->embed) &&
	    (host->struct_size <= offsetof(struct ts_host_services, request_secrets) ||
	     host->request_secrets(host) < 0)) {
		snprintf(
		    err, errlen,
		    "'keylog' and 'embed_secrets' need a host that hands out handshake secrets "
		    "(tinescale 0.1 or later)");
		goto fail;
	}
	if (p->keylog_path)
		host->log(host, TS_LOG_WARN,
			  "keylog is ON: every handshake's secrets are appended to %s; anyone who "
			  "can read it can decrypt this tunnel's captured traffic",
			  p->keylog_path);
	if (p->embed)
		host->log(host, TS_LOG_WARN,
			  "embed_secrets is ON: %s carries the handshake secrets; anyone who can "
			  "read the capture can decrypt the tunnel traffic in it",
			  p->path);
	*state = p;
	return 0;
fail:
	pw_free(p);
	return -1;
}

static void pw_destroy(void *state)
{
	struct pw *p = state;
	const struct ts_host_services *host = p->host;
	uint64_t dropped = 0;

	/* The timer reads p->q: gone before the output is. */
	host->timer_cancel(host, p->stats_timer);
	stop_writer(p);
	dropped = p->q_dropped + atomic_load(&p->buf.dropped);
	host->log(host, dropped ? TS_LOG_WARN : TS_LOG_INFO,
		  "%s: %llu packets written, %llu dropped, %llu handshake secrets", p->path,
		  (unsigned long long)atomic_load(&p->buf.written), (unsigned long long)dropped,
		  (unsigned long long)atomic_load(&p->secrets));
	pw_free(p);
}

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct ts_plugin_v2),
    .name = "pcap-writer",
    .version = "1.0",
    .create = pw_create,
    .destroy = pw_destroy,
    .plaintext_out = pw_hook,
    .ciphertext_out = pw_hook,
    .ciphertext_in = pw_hook,
    .plaintext_in = pw_hook,
    .event = pw_event,
};
