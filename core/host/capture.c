/* SPDX-License-Identifier: MIT */
/*
 * Live capture (capture.h): the sessions, their bounded block buffers, the
 * tap the hook table calls, and each session's writer thread.
 *
 * Lifetime: a session is published in a slot (release) before its thread
 * starts, and only its own thread unpublishes it, waits for a grace period
 * (the data path and the event thread read the slots as RCU readers) and
 * frees it.  capture_stop_all() asks every thread to end and waits until
 * the last one has.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "capture_internal.h"
#include "host_internal.h"
#include "log.h"
#include "pcapng.h"
#include "rcu.h"

#define CAP_BUF	    (4u << 20) /* bytes of blocks waiting for the reader, per capture */
#define CAP_SNAPLEN 65535u     /* bytes kept of a packet, synthesized headers included */
#define CAP_BLOCK   (PCAPNG_EPB_OVERHEAD + CAP_SNAPLEN + 8)
#define CAP_WAKE_MS 20 /* the writer's poll: latency of the stream */
#define CAP_SEND_MS 200
#define CAP_HOLD_NS (50u * 1000000u) /* a handshake message waits this long for its secrets */

struct capture {
	struct ts_pipeline_host *ph;
	struct ts_capture_opts o;
	unsigned int slot;
	int fd;
	int32_t ifid[TS_HOOK_COUNT]; /* this section's interface of each hook, -1: not taken */
	_Atomic bool stop;

	/* The block buffer: producers append at head, the writer takes from tail. */
	pthread_mutex_t mu; /* a leaf: held for a bounds check and a memcpy */
	uint8_t *buf;
	uint64_t head, tail; /* byte counters (mod CAP_BUF); under mu */
	_Atomic uint64_t packets, dropped, secrets;

	/* With secrets, the writer thread's blocks held back (drain_secrets). */
	uint8_t *pend;
	size_t pend_len;
};

/* ---- formatting on the data path ------------------------------------ */

/* Each data-path thread's block scratch, freed when the thread ends. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_key_make(void)
{
	if (pthread_key_create(&scratch_key, free))
		abort(); /* only when the process is out of keys: nothing sane remains */
}

static uint8_t *scratch(void)
{
	uint8_t *s;

	pthread_once(&scratch_once, scratch_key_make);
	s = pthread_getspecific(scratch_key);
	if (!s) {
		s = malloc(CAP_BLOCK);
		if (s && pthread_setspecific(scratch_key, s)) {
			free(s);
			s = NULL;
		}
	}
	return s;
}

/* Append one block, or drop and count it when the reader is behind.  True when kept. */
static bool put_block(struct capture *c, const uint8_t *blk, size_t n)
{
	size_t off, first;

	pthread_mutex_lock(&c->mu);
	if (CAP_BUF - (c->head - c->tail) < n) {
		pthread_mutex_unlock(&c->mu);
		atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
		return false;
	}
	off = (size_t)(c->head % CAP_BUF);
	first = n < CAP_BUF - off ? n : CAP_BUF - off;
	memcpy(c->buf + off, blk, first);
	memcpy(c->buf, blk + first, n - first);
	c->head += n;
	pthread_mutex_unlock(&c->mu);
	return true;
}

/* The peer of a packet: the engine says, or the receiver index of a reply or data message does. */
static bool packet_peer_key(struct ts_pipeline_host *ph, enum ts_hook_point point,
			    const struct ts_hook_pkt *p, uint8_t out[32])
{
	const uint8_t *d = p->data;
	uint32_t idx;
	size_t at;

	if (p->peer_key) {
		memcpy(out, p->peer_key, 32);
		return true;
	}
	if (point != TS_HP_CIPHERTEXT_IN || !ph->eng.peer_by_index || p->len < 16 || d[1] || d[2] ||
	    d[3])
		return false;
	if (d[0] == 2 && p->len == 92)
		at = 8; /* response: sender, then our index */
	else if ((d[0] == 3 && p->len == 64) || (d[0] == 4 && p->len >= 32))
		at = 4;
	else
		return false;
	memcpy(&idx, d + at, 4);
	return ph->eng.peer_by_index(ph->eng.ctx, le32toh(idx), out) == 0;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The datagram's IP/UDP header: ours is the hook's local address and listen port. */
static size_t cipher_header(uint8_t hdr[SYNTH_HDR_MAX], enum ts_hook_point point,
			    const struct ts_hook_pkt *p)
{
	union ts_plugin_endpoint rep = {0}, lep = {0};
	struct ipport rem, loc;
	uint32_t sum = csum_add(0, p->data, p->len);

	if (p->ep)
		memcpy(&rep, p->ep, sizeof(rep));
	ipport_from_endpoint(&rem, &rep, AF_INET);
	if (p->local && p->local->family == rem.family && rem.family == AF_INET) {
		lep.in.sin_family = AF_INET;
		lep.in.sin_addr = p->local->addr.in;
	} else if (p->local && p->local->family == rem.family) {
		lep.in6.sin6_family = AF_INET6;
		lep.in6.sin6_addr = p->local->addr.in6;
	}
	lep.in.sin_port = htons(p->listen_port); /* both families keep the port there */
	ipport_from_endpoint(&loc, &lep, rem.family);
	if (loc.family != rem.family || !memcmp(loc.addr, (uint8_t[16]){0}, 16)) {
		/* Unknown, unspecified or of the other family: what routing picks. */
		memset(loc.addr, 0, sizeof(loc.addr));
		loc.family = rem.family;
		if (memcmp(rem.addr, (uint8_t[16]){0}, 16))
			ipport_route_local(&rem, &loc);
	}
	if (point == TS_HP_CIPHERTEXT_OUT)
		return synth_udp_header(hdr, &loc, &rem, p->len, sum);
	return synth_udp_header(hdr, &rem, &loc, p->len, sum);
}

void capture_tap(struct ts_pipeline_host *ph, enum ts_hook_point point, const struct ts_hook_pkt *p)
{
	struct capture_set *cs = &ph->cap;
	uint8_t peer[32], hdr[SYNTH_HDR_MAX], *blk = NULL;
	bool peer_known = false, peer_tried = false;
	size_t blen = 0;

	for (unsigned int i = 0; i < TS_CAPTURE_MAX; i++) {
		struct capture *c = atomic_load_explicit(&cs->slot[i], memory_order_acquire);
		size_t hlen = 0, cap;
		uint64_t ts;

		if (!c || c->ifid[point] < 0)
			continue;
		if (c->o.has_peer) {
			if (!peer_tried) {
				peer_known = packet_peer_key(ph, point, p, peer);
				peer_tried = true;
			}
			if (!peer_known || sodium_memcmp(peer, c->o.peer, 32))
				continue;
		}
		/* One block serves every capture: only the interface id differs. */
		if (!blk) {
			blk = scratch();
			if (!blk) {
				atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
				continue;
			}
			if (point == TS_HP_CIPHERTEXT_OUT || point == TS_HP_CIPHERTEXT_IN)
				hlen = cipher_header(hdr, point, p);
			cap = hlen + p->len < CAP_SNAPLEN ? hlen + p->len : CAP_SNAPLEN;
			ts = real_ns();
			blen = pcapng_epb(
			    blk, CAP_BLOCK, (uint32_t)c->ifid[point], ts, hdr, hlen, p->data,
			    cap - hlen,
			    (uint32_t)(hlen + p->len < UINT32_MAX ? hlen + p->len : UINT32_MAX));
		} else {
			/* Patch the interface id (the first field after type and length). */
			uint32_t id = (uint32_t)c->ifid[point];

			memcpy(blk + 8, &id, 4);
		}
		if (!blen) {
			atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
			continue;
		}
		if (put_block(c, blk, blen))
			atomic_fetch_add_explicit(&c->packets, 1, memory_order_relaxed);
	}
}

bool capture_wants_secrets(const struct capture_set *cs)
{
	return atomic_load_explicit(&cs->secrets, memory_order_relaxed) != 0;
}

void capture_secrets(struct capture_set *cs, const uint8_t peer[32],
		     const struct ts_handshake_secrets *s)
{
	char text[KEYLOG_TEXT_MAX];
	uint8_t blk[12 + 8 + KEYLOG_TEXT_MAX + 4];
	size_t n = 0, blen = 0;

	for (unsigned int i = 0; i < TS_CAPTURE_MAX; i++) {
		struct capture *c = atomic_load_explicit(&cs->slot[i], memory_order_acquire);

		if (!c || !c->o.secrets || (c->o.has_peer && sodium_memcmp(peer, c->o.peer, 32)))
			continue;
		if (!n) {
			n = keylog_text((const uint8_t *)s, text, sizeof(text));
			blen =
			    n ? pcapng_dsb(blk, sizeof(blk), PCAPNG_SECRETS_WIREGUARD, text, n) : 0;
			if (!blen)
				break;
		}
		if (put_block(c, blk, blen))
			atomic_fetch_add_explicit(&c->secrets, 1, memory_order_relaxed);
	}
	sodium_memzero(text, sizeof(text));
	sodium_memzero(blk, sizeof(blk));
}

/* ---- the writer thread ----------------------------------------------- */

/* All of buf to the reader, waiting for room; -1 when it is gone or we stop. */
static int send_all(struct capture *c, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pf = {.fd = c->fd, .events = POLLOUT};

			if (atomic_load(&c->stop))
				return -1;
			if (poll(&pf, 1, CAP_SEND_MS) < 0 && errno != EINTR)
				return -1;
			if (pf.revents & (POLLHUP | POLLERR | POLLNVAL))
				return -1;
			continue;
		}
		return -1;
	}
	return 0;
}

/* Take [tail, head) out of the ring, into dst (linear); the space back to the producers. */
static size_t take(struct capture *c, uint8_t *dst, size_t room)
{
	uint64_t tail, head;
	size_t off, n, first;

	pthread_mutex_lock(&c->mu);
	tail = c->tail;
	head = c->head;
	pthread_mutex_unlock(&c->mu);
	/* [tail, head) is ours alone: producers write only past head. */
	n = (size_t)(head - tail);
	if (n > room)
		return 0; /* only whole blocks: wait until the held ones have gone out */
	off = (size_t)(tail % CAP_BUF);
	first = n < CAP_BUF - off ? n : CAP_BUF - off;
	memcpy(dst, c->buf + off, first);
	memcpy(dst + first, c->buf, n - first);
	sodium_memzero(c->buf + off, first); /* secrets do not linger */
	sodium_memzero(c->buf, n - first);
	pthread_mutex_lock(&c->mu);
	c->tail = tail + n;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* What the producers have appended so far, to the reader; the space back to them. */
static int drain(struct capture *c)
{
	uint64_t tail, head;
	size_t off, n, first;
	int ret;

	pthread_mutex_lock(&c->mu);
	tail = c->tail;
	head = c->head;
	pthread_mutex_unlock(&c->mu);
	if (head == tail)
		return 0;
	off = (size_t)(tail % CAP_BUF);
	n = (size_t)(head - tail);
	first = n < CAP_BUF - off ? n : CAP_BUF - off;
	ret = send_all(c, c->buf + off, first);
	if (!ret && n > first)
		ret = send_all(c, c->buf, n - first);
	pthread_mutex_lock(&c->mu);
	c->tail = head;
	pthread_mutex_unlock(&c->mu);
	return ret;
}

/* A block's type and length (pcapng: host byte order). */
static uint32_t blk_u32(const uint8_t *b, size_t at)
{
	uint32_t v;

	memcpy(&v, b + at, 4);
	return v;
}

/* Is this EPB a WireGuard handshake initiation or response less than CAP_HOLD_NS old? */
static bool young_handshake(const struct capture *c, const uint8_t *b, uint32_t len, uint64_t now)
{
	uint32_t ifid, caplen;
	uint64_t ts;
	const uint8_t *pkt = b + 28;
	size_t ip;

	if (blk_u32(b, 0) != PCAPNG_BT_EPB || len < 32 + 28 + 4)
		return false;
	ifid = blk_u32(b, 8);
	if ((int32_t)ifid != c->ifid[TS_HOOK_CIPHERTEXT_OUT] &&
	    (int32_t)ifid != c->ifid[TS_HOOK_CIPHERTEXT_IN])
		return false;
	ts = (uint64_t)blk_u32(b, 12) << 32 | blk_u32(b, 16);
	caplen = blk_u32(b, 20);
	ip = (pkt[0] >> 4) == 6 ? 48 : 28;
	if (caplen < ip + 4 || caplen > len - 32 || pkt[ip + 1] || pkt[ip + 2] || pkt[ip + 3])
		return false;
	if (!((pkt[ip] == 1 && caplen == ip + 148) || (pkt[ip] == 2 && caplen == ip + 92)))
		return false;
	return now - ts < CAP_HOLD_NS;
}

/*
 * With secrets: Wireshark reads Decryption Secrets Blocks in stream order,
 * and a handshake's secrets come from the event thread, after the message
 * passed its hook.  So secrets go out first, wherever they are among the
 * blocks waiting, and a handshake message waits up to CAP_HOLD_NS for its
 * secrets to arrive.  c->pend holds what waits (linear, whole blocks).
 */
static int drain_secrets(struct capture *c)
{
	size_t at, hold;
	uint64_t now;
	int ret = 0;

	c->pend_len += take(c, c->pend + c->pend_len, CAP_BUF - c->pend_len);
	/*
	 * Read after the blocks were taken, so none is younger than now; one
	 * that still is (the wall clock stepped back) wraps to "old", is not
	 * held, and nothing waits for the clock to catch up.
	 */
	now = real_ns();
	for (at = 0; at + 12 <= c->pend_len;) {
		uint32_t len = blk_u32(c->pend, at + 4);

		if (len < 12 || len > c->pend_len - at)
			break; /* cannot happen: the producers append whole blocks */
		if (blk_u32(c->pend, at) == PCAPNG_BT_DSB) {
			ret |= send_all(c, c->pend + at, len);
			memset(c->pend + at, 0, 4); /* type 0 (reserved): already sent */
			sodium_memzero(c->pend + at + 8, len - 8);
		}
		at += len;
	}
	hold = c->pend_len;
	for (at = 0; at + 12 <= c->pend_len && !ret;) {
		uint32_t len = blk_u32(c->pend, at + 4);

		if (len < 12 || len > c->pend_len - at)
			break;
		if (young_handshake(c, c->pend + at, len, now)) {
			hold = at;
			break;
		}
		if (blk_u32(c->pend, at) != 0)
			ret = send_all(c, c->pend + at, len);
		at += len;
	}
	memmove(c->pend, c->pend + hold, c->pend_len - hold);
	c->pend_len -= hold;
	return ret;
}

/* Has the reader gone away?  (It sends nothing; EOF, HUP or an error mean it closed.) */
static bool reader_gone(struct capture *c)
{
	struct pollfd pf = {.fd = c->fd, .events = POLLIN | POLLRDHUP};
	char b[256];

	if (poll(&pf, 1, CAP_WAKE_MS) <= 0)
		return false;
	if (pf.revents & (POLLHUP | POLLERR | POLLNVAL | POLLRDHUP))
		return true;
	if (pf.revents & POLLIN) {
		ssize_t n = recv(c->fd, b, sizeof(b), MSG_DONTWAIT);

		return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
	}
	return false;
}

/* The section header and one interface per hook taken, in hook order. */
static int write_header(struct capture *c, const char *ifname)
{
	uint8_t b[2048];
	size_t o;

	o = pcapng_shb(b, sizeof(b), "tinescale live capture");
	for (int h = 0; h < TS_HOOK_COUNT; h++) {
		char desc[160];

		if (c->ifid[h] < 0)
			continue;
		snprintf(desc, sizeof(desc), "tinescale %s %s (%s)", ifname,
			 ts_hook_name((enum ts_hook)h),
			 h == TS_HOOK_PLAINTEXT_OUT || h == TS_HOOK_PLAINTEXT_IN
			     ? "IP packets"
			     : "WireGuard datagrams, IP/UDP headers from the endpoints");
		o += pcapng_idb(b + o, sizeof(b) - o, PCAPNG_LINKTYPE_RAW, CAP_SNAPLEN,
				ts_hook_name((enum ts_hook)h), desc);
	}
	return send_all(c, b, o);
}

static void recompute(struct capture_set *cs)
{
	unsigned int hooks = 0, secrets = 0;

	for (unsigned int i = 0; i < TS_CAPTURE_MAX; i++) {
		struct capture *c = atomic_load_explicit(&cs->slot[i], memory_order_relaxed);

		if (!c)
			continue;
		for (int h = 0; h < TS_HOOK_COUNT; h++)
			if (c->ifid[h] >= 0)
				hooks |= 1u << h;
		secrets += c->o.secrets;
	}
	atomic_store_explicit(&cs->hooks, hooks, memory_order_relaxed);
	atomic_store_explicit(&cs->secrets, secrets, memory_order_relaxed);
}

static void capture_free(struct capture *c)
{
	if (c->buf) {
		sodium_memzero(c->buf, CAP_BUF);
		free(c->buf);
	}
	if (c->pend) {
		sodium_memzero(c->pend, CAP_BUF);
		free(c->pend);
	}
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void *capture_thread(void *arg)
{
	struct capture *c = arg;
	struct ts_pipeline_host *ph = c->ph;
	struct capture_set *cs = &ph->cap;
	const char *ifname = ph->eng.ifname ? ph->eng.ifname(ph->eng.ctx) : "tinescale";

	if (!write_header(c, ifname)) {
		while (!atomic_load(&c->stop) && !reader_gone(c))
			if ((c->pend ? drain_secrets(c) : drain(c)) < 0)
				break;
	}
	pthread_mutex_lock(&cs->lock);
	atomic_store_explicit(&cs->slot[c->slot], NULL, memory_order_release);
	recompute(cs);
	pthread_mutex_unlock(&cs->lock);
	/* No data-path thread or event thread holds c after this. */
	ts_rcu_synchronize();
	ts_info("capture ended: %llu packets, %llu dropped (reader too slow), %llu handshake "
		"secrets",
		(unsigned long long)atomic_load(&c->packets),
		(unsigned long long)atomic_load(&c->dropped),
		(unsigned long long)atomic_load(&c->secrets));
	close(c->fd);
	capture_free(c);
	pthread_mutex_lock(&cs->lock);
	cs->live--;
	pthread_cond_broadcast(&cs->gone);
	pthread_mutex_unlock(&cs->lock);
	return NULL;
}

/* ---- starting and stopping ------------------------------------------- */

int ts_capture_parse_hooks(const char *list, unsigned int *mask, char *err, size_t errlen)
{
	const char *p = list;

	*mask = 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		int h;

		for (h = 0; h < TS_HOOK_COUNT; h++) {
			const char *name = ts_hook_name((enum ts_hook)h);

			if (strlen(name) == n && !strncmp(p, name, n))
				break;
		}
		if (h == TS_HOOK_COUNT) {
			snprintf(err, errlen,
				 "unknown hook '%.*s', expected a comma-separated list of "
				 "plaintext_out, ciphertext_out, ciphertext_in, plaintext_in",
				 (int)(n > 64 ? 64 : n), p);
			return -EINVAL;
		}
		*mask |= 1u << h;
		p += n;
		if (*p == ',')
			p++;
	}
	if (!*mask) {
		snprintf(err, errlen, "empty hook list");
		return -EINVAL;
	}
	return 0;
}

int ts_capture_start(struct ts_pipeline_host *ph, const struct ts_capture_opts *o, int fd,
		     char *err, size_t errlen)
{
	struct capture_set *cs = &ph->cap;
	unsigned int hooks = o->hooks ? o->hooks : (1u << TS_HOOK_COUNT) - 1, slot;
	struct capture *c = calloc(1, sizeof(*c));
	pthread_attr_t attr;
	pthread_t t;
	int32_t id = 0;
	int r;

	if (!c || !(c->buf = malloc(CAP_BUF)) || (o->secrets && !(c->pend = malloc(CAP_BUF)))) {
		if (c)
			free(c->buf);
		free(c);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->ph = ph;
	c->o = *o;
	c->fd = fd;
	pthread_mutex_init(&c->mu, NULL);
	for (int h = 0; h < TS_HOOK_COUNT; h++)
		c->ifid[h] = hooks & (1u << h) ? id++ : -1;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		r = -errno;
		snprintf(err, errlen, "capture socket: %s", strerror(errno));
		capture_free(c);
		return r;
	}

	pthread_mutex_lock(&cs->lock);
	for (slot = 0; slot < TS_CAPTURE_MAX; slot++)
		if (!atomic_load_explicit(&cs->slot[slot], memory_order_relaxed))
			break;
	if (cs->stopping || slot == TS_CAPTURE_MAX) {
		pthread_mutex_unlock(&cs->lock);
		snprintf(err, errlen,
			 cs->stopping ? "the daemon is stopping"
				      : "%d captures run already, the most at once",
			 TS_CAPTURE_MAX);
		capture_free(c);
		return -EBUSY;
	}
	c->slot = slot;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Published first: a packet seen before the thread runs waits in the buffer. */
	atomic_store_explicit(&cs->slot[slot], c, memory_order_release);
	recompute(cs);
	r = pthread_create(&t, &attr, capture_thread, c);
	pthread_attr_destroy(&attr);
	if (r) {
		atomic_store_explicit(&cs->slot[slot], NULL, memory_order_release);
		recompute(cs);
		pthread_mutex_unlock(&cs->lock);
		ts_rcu_synchronize();
		snprintf(err, errlen, "cannot start the capture thread: %s", strerror(r));
		capture_free(c);
		return -r;
	}
	cs->live++;
	pthread_mutex_unlock(&cs->lock);
	return 0;
}

unsigned int ts_capture_count(struct ts_pipeline_host *ph)
{
	unsigned int n;

	pthread_mutex_lock(&ph->cap.lock);
	n = ph->cap.live;
	pthread_mutex_unlock(&ph->cap.lock);
	return n;
}

void capture_init(struct capture_set *cs)
{
	memset(cs, 0, sizeof(*cs));
	pthread_mutex_init(&cs->lock, NULL);
	pthread_cond_init(&cs->gone, NULL);
}

void capture_stop_all(struct capture_set *cs)
{
	pthread_mutex_lock(&cs->lock);
	cs->stopping = true;
	for (unsigned int i = 0; i < TS_CAPTURE_MAX; i++) {
		struct capture *c = atomic_load_explicit(&cs->slot[i], memory_order_relaxed);

		/* Under lock: the thread unpublishes (under lock) before it frees. */
		if (c)
			atomic_store(&c->stop, true);
	}
	while (cs->live)
		pthread_cond_wait(&cs->gone, &cs->lock);
	pthread_mutex_unlock(&cs->lock);
	pthread_cond_destroy(&cs->gone);
	pthread_mutex_destroy(&cs->lock);
}
