// SPDX-License-Identifier: MIT
/*
 * The sending side: the tx thread (TUN -> allowed-IPs -> encrypt -> UDP, in
 * batches), handshake initiations and responses, keepalives, and the one
 * place every datagram leaves through (the ciphertext_out hooks, then the
 * socket).
 *
 * Every function here is entered with no engine lock held, and takes the
 * device read lock only for lookups and a peer's lock only to pick its
 * keypair, endpoint and timers: hooks and sends run with neither.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "data_aead.h"
#include "device.h"
#include "log.h"
#include "rcu.h"
#include "socket.h"
#include "timers.h"
#include "workers.h"

int ts_udp_sendto(struct ts_device *dev, const union ts_endpoint *dst,
		  const struct ts_endpoint_src *src, const uint8_t *buf, size_t len)
{
	struct ts_dgram d = {.data = (uint8_t *)buf, .len = len, .peer = *dst};

	if (!ts_endpoint_is_set(dst))
		return -EAFNOSUPPORT;
	if (src)
		d.local = *src;
	dev->bind->send(dev->bind_ctx, &d, 1);
	return d.result;
}

void ts_peer_clear_src(struct ts_peer *peer)
{
	ts_peer_lock(peer);
	peer->src.family = 0;
	ts_peer_unlock(peer);
}

/*
 * The ciphertext_out hooks, for the batched and the single sends alike.
 * headroom and tailroom are the room around *data that is really there:
 * what the hooks are told, and may use.  The data and its length may be
 * rewritten, the endpoint redirected; a redirected datagram takes a new
 * path, so it keeps no pinned source.  False: dropped or stolen.
 */
static bool ciphertext_out(struct ts_device *dev, struct ts_peer *peer, uint8_t **data, size_t *len,
			   size_t headroom, size_t tailroom, union ts_endpoint *ep,
			   struct ts_endpoint_src *src)
{
	union ts_endpoint before = *ep;
	struct ts_hook_pkt p = {
	    .data = *data,
	    .len = *len,
	    .headroom = headroom,
	    .tailroom = tailroom,
	    .ep = ep,
	    .local = src,
	    .peer_key = peer ? peer->public_key : NULL,
	};

	if (!ts_hooks_active(dev, TS_HP_CIPHERTEXT_OUT))
		return true;
	if (!ts_hooks_run(dev, TS_HP_CIPHERTEXT_OUT, &p))
		return false;
	*data = p.data;
	*len = p.len;
	if (!ts_endpoint_equal(&before, ep))
		src->family = 0;
	return true;
}

static int send_hooked(struct ts_device *dev, struct ts_peer *peer, const union ts_endpoint *dst,
		       const struct ts_endpoint_src *src, uint8_t *buf, size_t headroom, size_t len,
		       size_t tailroom)
{
	struct ts_endpoint_src from = {0};
	union ts_endpoint ep = *dst;
	uint8_t *data = buf + headroom;
	int ret;

	if (src)
		from = *src;
	if (!ciphertext_out(dev, peer, &data, &len, headroom, tailroom, &ep, &from))
		return 0;
	ret = ts_udp_sendto(dev, &ep, &from, data, len);
	if (ret == 1 && peer)
		ts_peer_clear_src(peer);
	if (ret < 0)
		ts_log_ratelimited(TS_LOG_DEBUG, "send to %s failed: %s",
				   ts_endpoint_str(&ep, (char[TS_ENDPOINT_STRLEN]){0}),
				   strerror(-ret));
	return ret;
}

int ts_send_datagram_hooked(struct ts_device *dev, struct ts_peer *peer,
			    const union ts_endpoint *dst, const struct ts_endpoint_src *src,
			    uint8_t *buf, size_t headroom, size_t len)
{
	return send_hooked(dev, peer, dst, src, buf, headroom, len, TS_TAILROOM);
}

/*
 * n datagrams in one call to the bind; peer[i] (or no peer when peer is
 * NULL) forgets its pinned source if d[i] had to go out without it.
 */
static void send_batch(struct ts_device *dev, struct ts_dgram *d, struct ts_peer *const *peer,
		       unsigned n)
{
	dev->bind->send(dev->bind_ctx, d, n);
	for (unsigned i = 0; i < n; i++) {
		/* The pinned source vanished: the datagram went out from elsewhere. */
		if (d[i].result == 1 && peer)
			ts_peer_clear_src(peer[i]);
		else if (d[i].result < 0)
			ts_log_ratelimited(
			    TS_LOG_DEBUG, "send to %s: %s",
			    ts_endpoint_str(&d[i].peer, (char[TS_ENDPOINT_STRLEN]){0}),
			    strerror(-d[i].result));
	}
}

unsigned ts_send_datagrams_hooked(struct ts_device *dev, struct ts_dgram *d, unsigned n,
				  size_t headroom, size_t tailroom)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		uint8_t *data = d[i].data;
		size_t len = d[i].len;

		if (!ciphertext_out(dev, NULL, &data, &len, headroom, tailroom, &d[i].peer,
				    &d[i].local))
			continue;
		d[k] = d[i];
		d[k].data = data;
		d[k++].len = len;
	}
	if (k)
		send_batch(dev, d, NULL, k);
	return k;
}

/* Peer lock held.  A current keypair still good for sending, or NULL. */
static struct ts_keypair *usable_keypair(struct ts_peer *peer, uint64_t now)
{
	struct ts_keypair *kp = peer->kp_current;

	if (!kp || !atomic_load_explicit(&kp->sending_valid, memory_order_relaxed))
		return NULL;
	if (ts_age_ns(now, kp->birthdate_ns) >= ts_secs(REJECT_AFTER_TIME) ||
	    atomic_load_explicit(&kp->sending_counter, memory_order_relaxed) >=
		REJECT_AFTER_MESSAGES) {
		atomic_store(&kp->sending_valid, false);
		return NULL;
	}
	return kp;
}

/* Peer lock held: does the session want a fresh handshake soon (we initiated it)? */
static bool wants_rekey(const struct ts_keypair *kp, uint64_t now)
{
	return atomic_load_explicit(&kp->sending_counter, memory_order_relaxed) >
		   REKEY_AFTER_MESSAGES ||
	       (kp->is_initiator && ts_age_ns(now, kp->birthdate_ns) >= ts_secs(REKEY_AFTER_TIME));
}

/*
 * Turn the plaintext at buf[headroom..+len] into a data message in place,
 * starting sizeof(struct message_data) before it.  Needs that much headroom
 * and MESSAGE_PADDING_MULTIPLE + NOISE_AUTHTAG_LEN of tailroom.
 */
static size_t seal(struct ts_keypair *kp, uint64_t counter, uint8_t *buf, size_t headroom,
		   size_t len, int mtu)
{
	struct message_data hdr;
	uint8_t *plain = buf + headroom;
	size_t padded =
	    (len + MESSAGE_PADDING_MULTIPLE - 1) & ~(size_t)(MESSAGE_PADDING_MULTIPLE - 1);

	/* Pad up to the next multiple of 16, but never beyond the MTU. */
	if (mtu > 0 && padded > (size_t)mtu)
		padded = len > (size_t)mtu ? len : (size_t)mtu;
	memset(plain + len, 0, padded - len);
	hdr.header.type = htole32(MESSAGE_DATA);
	hdr.key_idx = htole32(kp->remote_index);
	hdr.counter = htole64(counter);
	memcpy(plain - sizeof(hdr), &hdr, sizeof(hdr));
	ts_data_seal(plain, padded, counter, kp->sending_key);
	return sizeof(hdr) + padded + NOISE_AUTHTAG_LEN;
}

/*
 * Peer lock held, peer not dead.  Take the next counter of peer's current
 * session for a plaintext packet of len bytes, with a reference to its
 * keypair in *kp, and return true; or stage the packet, ask for a handshake
 * and return false.  The caller seals it (seal_put()).
 */
static bool prepare_locked(struct ts_peer *peer, uint64_t now, uint8_t *buf, size_t headroom,
			   size_t len, struct ts_keypair **kp_out, uint64_t *counter_out,
			   union ts_endpoint *ep, struct ts_endpoint_src *src, bool *need_handshake)
{
	struct ts_keypair *kp;
	uint64_t counter;

	kp = usable_keypair(peer, now);
	if (!kp || !ts_endpoint_is_set(&peer->endpoint))
		goto stage;
	counter = atomic_fetch_add_explicit(&kp->sending_counter, 1, memory_order_relaxed);
	if (counter >= REJECT_AFTER_MESSAGES) {
		atomic_store(&kp->sending_valid, false);
		goto stage;
	}
	if (wants_rekey(kp, now))
		*need_handshake = true;
	*ep = peer->endpoint;
	*src = peer->src;
	*kp_out = ts_keypair_get(kp);
	*counter_out = counter;
	if (len)
		ts_timers_data_sent(peer);
	ts_timers_any_authenticated_packet_sent(peer);
	ts_timers_any_authenticated_packet_traversal(peer);
	return true;
stage:
	ts_staged_push(&peer->staged, buf + headroom, len);
	*need_handshake = true;
	return false;
}

/* Peer lock NOT held: prepare_locked() under it (a dead peer's packet is dropped). */
static bool prepare(struct ts_peer *peer, uint8_t *buf, size_t headroom, size_t len,
		    struct ts_keypair **kp_out, uint64_t *counter_out, union ts_endpoint *ep,
		    struct ts_endpoint_src *src, bool *need_handshake)
{
	bool ok = false;

	ts_peer_lock(peer);
	if (!atomic_load(&peer->dead))
		ok = prepare_locked(peer, ts_now_ns(), buf, headroom, len, kp_out, counter_out, ep,
				    src, need_handshake);
	ts_peer_unlock(peer);
	return ok;
}

/* prepare()'s packet sealed in place with its keypair, which is put: the message's length. */
static size_t seal_put(struct ts_peer *peer, struct ts_keypair *kp, uint64_t counter, uint8_t *buf,
		       size_t headroom, size_t len)
{
	size_t msg_len = seal(kp, counter, buf, headroom, len, peer->dev->mtu);

	ts_keypair_put(kp);
	atomic_fetch_add_explicit(&peer->tx_bytes, msg_len, memory_order_relaxed);
	return msg_len;
}

/*
 * The tailroom left after sealing a plaintext of len bytes that had
 * tailroom after it: the padding and the tag are taken from it.
 */
static size_t sealed_tailroom(size_t tailroom, size_t len, size_t msg_len)
{
	return tailroom - (msg_len - sizeof(struct message_data) - len);
}

void ts_send_packet(struct ts_peer *peer, uint8_t *buf, size_t headroom, size_t len)
{
	struct ts_endpoint_src src;
	struct ts_keypair *kp;
	union ts_endpoint ep;
	bool need_handshake = false;
	uint64_t counter;
	size_t msg_len;

	if (prepare(peer, buf, headroom, len, &kp, &counter, &ep, &src, &need_handshake)) {
		msg_len = seal_put(peer, kp, counter, buf, headroom, len);
		send_hooked(peer->dev, peer, &ep, &src, buf, headroom - sizeof(struct message_data),
			    msg_len, sealed_tailroom(TS_TAILROOM, len, msg_len));
	}
	if (need_handshake)
		ts_send_handshake_initiation(peer, false);
}

void ts_send_keepalive(struct ts_peer *peer)
{
	uint8_t buf[TS_HEADROOM + MESSAGE_PADDING_MULTIPLE + NOISE_AUTHTAG_LEN + TS_TAILROOM];
	bool has_session, dead;

	ts_peer_lock(peer);
	dead = atomic_load(&peer->dead);
	has_session = usable_keypair(peer, ts_now_ns()) != NULL;
	ts_peer_unlock(peer);
	if (dead)
		return;
	/* Without a session a keepalive would only be staged: start one instead. */
	if (!has_session) {
		ts_send_handshake_initiation(peer, false);
		return;
	}
	ts_send_packet(peer, buf, TS_HEADROOM, 0);
}

/* Peer lock NOT held: send what waited for a session, or a keepalive to confirm it. */
void ts_send_staged(struct ts_peer *peer)
{
	static _Thread_local uint8_t buf[TS_HEADROOM + TS_MAX_PACKET + TS_TAILROOM];
	struct ts_staged_packet *p;
	struct ts_staged q;

	ts_peer_lock(peer);
	q = peer->staged;
	memset(&peer->staged, 0, sizeof(peer->staged));
	ts_peer_unlock(peer);

	for (p = q.head; p; p = p->next) {
		memcpy(buf + TS_HEADROOM, p->data, p->len);
		ts_send_packet(peer, buf, TS_HEADROOM, p->len);
	}
	ts_staged_clear(&q);
}

void ts_send_handshake_initiation(struct ts_peer *peer, bool is_retry)
{
	struct ts_device *dev = peer->dev;
	uint8_t buf[TS_HEADROOM + sizeof(struct message_handshake_initiation) + TS_TAILROOM];
	struct message_handshake_initiation msg;
	struct ts_peer_news news = {0};
	struct ts_endpoint_src src;
	union ts_endpoint ep;
	uint64_t now = ts_now_ns();
	uint32_t index;

	/* Our identity is configuration: the device lock, then the peer's. */
	ts_device_read_lock(dev);
	ts_peer_lock(peer);
	if (atomic_load(&peer->dead))
		goto out;
	if (!is_retry && peer->last_sent_handshake_ns &&
	    ts_age_ns(now, peer->last_sent_handshake_ns) < ts_secs(REKEY_TIMEOUT))
		goto out; /* one initiation per REKEY_TIMEOUT unless the timer retries */
	if (!dev->identity.has_identity || !ts_endpoint_is_set(&peer->endpoint))
		goto out;
	if (!is_retry)
		peer->timers.handshake_attempts = 0;
	peer->last_sent_handshake_ns = now;
	index = ts_peer_fresh_handshake_index(peer);
	if (!index)
		goto out;
	peer->handshake_index_registered = true;
	if (!noise_create_initiation(&msg, &peer->handshake, &dev->identity, index)) {
		ts_index_remove(&dev->index, index);
		peer->handshake_index_registered = false;
		goto out;
	}
	cookie_add_mac_to_packet(&msg, sizeof(msg), &peer->cookie_maker);
	ts_peer_collect_secrets(peer, peer->handshake.ephemeral_private, &news);
	ts_timers_any_authenticated_packet_traversal(peer);
	ts_timers_any_authenticated_packet_sent(peer);
	ts_timers_handshake_initiated(peer);
	ep = peer->endpoint;
	src = peer->src;
	ts_peer_unlock(peer);
	ts_device_read_unlock(dev);

	ts_peer_news_emit(peer, &news);
	ts_debug("peer %u: sending handshake initiation", (unsigned)peer->created_seq);
	memcpy(buf + TS_HEADROOM, &msg, sizeof(msg));
	ts_send_datagram_hooked(dev, peer, &ep, &src, buf, TS_HEADROOM, sizeof(msg));
	atomic_fetch_add_explicit(&peer->tx_bytes, sizeof(msg), memory_order_relaxed);
	return;
out:
	ts_peer_unlock(peer);
	ts_device_read_unlock(dev);
}

/* --- the tx thread ---------------------------------------------------- */

struct tx_slot {
	uint8_t buf[TS_HEADROOM + TS_MAX_PACKET + TS_TAILROOM];
};

struct tx_batch {
	struct ts_dgram d[TS_BATCH];
	struct ts_peer *peer[TS_BATCH];
	unsigned n;
};

/*
 * Put each peer's datagrams together, keeping their order (the first peer
 * first), so that the bind sees runs to one destination it can send with
 * UDP GSO.  Peers' relative order does not matter; each peer's does.
 */
static void batch_group(struct tx_batch *b)
{
	struct ts_dgram d[TS_BATCH];
	struct ts_peer *peer[TS_BATCH];
	bool taken[TS_BATCH] = {false};
	unsigned k = 0;

	if (b->n < 2)
		return;
	for (unsigned i = 1; i < b->n; i++) {
		if (b->peer[i] != b->peer[0])
			break;
		if (i == b->n - 1)
			return; /* one peer only, the common case: already in order */
	}
	for (unsigned i = 0; i < b->n; i++) {
		if (taken[i])
			continue;
		for (unsigned j = i; j < b->n; j++) {
			if (taken[j] || b->peer[j] != b->peer[i])
				continue;
			taken[j] = true;
			d[k] = b->d[j];
			peer[k++] = b->peer[j];
		}
	}
	memcpy(b->d, d, b->n * sizeof(d[0]));
	memcpy(b->peer, peer, b->n * sizeof(peer[0]));
}

static void batch_flush(struct ts_device *dev, struct tx_batch *b)
{
	batch_group(b);
	send_batch(dev, b->d, b->peer, b->n);
	b->n = 0;
}

static void batch_add(struct tx_batch *b, struct ts_peer *peer, const union ts_endpoint *dst,
		      const struct ts_endpoint_src *src, uint8_t *data, size_t len)
{
	unsigned i = b->n++;

	memset(&b->d[i], 0, sizeof(b->d[i]));
	b->d[i].peer = *dst;
	b->d[i].local = *src;
	b->d[i].data = data;
	b->d[i].len = len;
	b->peer[i] = peer;
}

/* The destination address of an IP packet, or false if it is not one. */
static bool packet_destination(const uint8_t *pkt, size_t len, int *family, const uint8_t **addr)
{
	if (len >= 20 && (pkt[0] >> 4) == 4) {
		*family = AF_INET;
		*addr = pkt + 16;
		return true;
	}
	if (len >= 40 && (pkt[0] >> 4) == 6) {
		*family = AF_INET6;
		*addr = pkt + 24;
		return true;
	}
	return false;
}

/* Multicast, broadcast or IPv6 link-local: never meant for a tunnel peer unless allowed. */
static bool is_local_scope(int family, const uint8_t *dst)
{
	if (family == AF_INET)
		return (dst[0] & 0xf0) == 0xe0 ||
		       (dst[0] == 255 && dst[1] == 255 && dst[2] == 255 && dst[3] == 255);
	return dst[0] == 0xff || (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80);
}

/* Device read lock held: the peer the packet goes to, with a reference, or NULL. */
static struct ts_peer *tx_route(struct ts_device *dev, const uint8_t *pkt, size_t len)
{
	const uint8_t *dst;
	struct ts_peer *peer;
	int family;

	if (!packet_destination(pkt, len, &family, &dst)) {
		atomic_fetch_add_explicit(&dev->rx_invalid, 1, memory_order_relaxed);
		return NULL;
	}
	peer = allowedips_lookup(&dev->allowedips, family, dst);
	if (!peer) {
		/*
		 * The kernel sends router solicitations and MLD reports on its
		 * own as soon as the link is up: counting those as "no route"
		 * would show drops before the user sent anything.
		 */
		atomic_fetch_add_explicit(is_local_scope(family, dst) ? &dev->tx_local_unrouted
								      : &dev->tx_no_route,
					  1, memory_order_relaxed);
		return NULL;
	}
	return ts_peer_get(peer);
}

/*
 * The tx pipe (workers.h): the tx thread fills a job from one TUN read --
 * route, plaintext_out hooks, a counter from the peer's session, in read
 * order -- any crypto worker seals it, and the release stage runs the
 * ciphertext_out hooks and sends, in read order again.  A job holds a
 * reference to each packet's peer until it is released, and to the
 * keypair until it is sealed.
 */
struct tx_pkt {
	struct ts_peer *peer;  /* a reference; NULL: no route */
	struct ts_keypair *kp; /* fill -> crypt: the session to seal with, or NULL */
	uint64_t counter;
	size_t headroom, tailroom, len, msg_len;
	union ts_endpoint ep;
	struct ts_endpoint_src src;
	bool sealed, need_handshake;
};

struct tx_job {
	unsigned n;
	struct tx_pkt pkt[TS_BATCH];
	struct tx_slot *slots;
	uint8_t *bufs[TS_BATCH]; /* slots[i].buf + TS_HEADROOM */
};

struct tx_ctx {
	struct ts_device *dev;
	struct ts_pipe pipe;
	struct tx_job *jobs; /* one per pipe slot */
	unsigned n_jobs;
	/* The release stage's (one thread at a time). */
	struct tx_batch b4, b6;
	struct ts_peer *hs_peers[TS_BATCH];
};

/* The tx thread, no lock held: the plaintext_out hooks of one packet; false: dropped. */
static bool tx_hooks(struct ts_device *dev, struct tx_pkt *t, uint8_t *buf, size_t len)
{
	t->headroom = TS_HEADROOM;
	t->tailroom = TS_TAILROOM;
	t->len = len;
	if (ts_hooks_active(dev, TS_HP_PLAINTEXT_OUT)) {
		struct ts_hook_pkt p = {.data = buf + t->headroom,
					.len = len,
					.headroom = t->headroom,
					.tailroom = TS_TAILROOM,
					.peer_key = t->peer->public_key};

		if (!ts_hooks_run(dev, TS_HP_PLAINTEXT_OUT, &p))
			return false;
		if (p.headroom < sizeof(struct message_data) ||
		    p.tailroom < MESSAGE_PADDING_MULTIPLE + NOISE_AUTHTAG_LEN)
			return false;
		t->headroom = p.headroom;
		t->tailroom = p.tailroom;
		t->len = p.len;
	}
	return true;
}

/*
 * The tx thread fills a job: routes, plaintext_out hooks, then counters.
 * Consecutive packets to one peer (a TCP burst, the common case) take
 * their counters under one hold of the peer's lock.
 */
static void tx_fill(struct ts_device *dev, struct tx_job *j, const size_t lens[], unsigned n)
{
	bool pass[TS_BATCH];
	uint64_t now;

	j->n = n;
	/* The one lookup under the configuration lock; the rest runs without. */
	ts_device_read_lock(dev);
	for (unsigned i = 0; i < n; i++) {
		memset(&j->pkt[i], 0, sizeof(j->pkt[i]));
		j->pkt[i].peer = tx_route(dev, j->bufs[i], lens[i]);
	}
	ts_device_read_unlock(dev);
	for (unsigned i = 0; i < n; i++)
		pass[i] = j->pkt[i].peer && tx_hooks(dev, &j->pkt[i], j->slots[i].buf, lens[i]);
	now = ts_now_ns();
	for (unsigned i = 0; i < n;) {
		struct ts_peer *peer = j->pkt[i].peer;
		unsigned end = i + 1;

		while (end < n && j->pkt[end].peer == peer)
			end++;
		if (peer) {
			ts_peer_lock(peer);
			for (unsigned k = i; k < end && !atomic_load(&peer->dead); k++) {
				struct tx_pkt *t = &j->pkt[k];

				if (pass[k] &&
				    !prepare_locked(peer, now, j->slots[k].buf, t->headroom, t->len,
						    &t->kp, &t->counter, &t->ep, &t->src,
						    &t->need_handshake))
					t->kp = NULL;
			}
			ts_peer_unlock(peer);
		}
		i = end;
	}
}

static void tx_crypt(void *ctx, unsigned slot)
{
	struct tx_job *j = &((struct tx_ctx *)ctx)->jobs[slot];

	for (unsigned i = 0; i < j->n; i++) {
		struct tx_pkt *t = &j->pkt[i];

		if (!t->kp)
			continue;
		t->msg_len =
		    seal_put(t->peer, t->kp, t->counter, j->slots[i].buf, t->headroom, t->len);
		t->kp = NULL;
		t->sealed = true;
	}
}

static void tx_release(void *ctx, unsigned slot)
{
	struct tx_ctx *c = ctx;
	struct ts_device *dev = c->dev;
	struct tx_job *j = &c->jobs[slot];
	unsigned n_hs = 0;

	for (unsigned i = 0; i < j->n; i++) {
		struct tx_pkt *t = &j->pkt[i];
		uint8_t *msg = j->slots[i].buf + t->headroom - sizeof(struct message_data);

		if (!t->sealed)
			continue;
		if (!ciphertext_out(
			dev, t->peer, &msg, &t->msg_len, t->headroom - sizeof(struct message_data),
			sealed_tailroom(t->tailroom, t->len, t->msg_len), &t->ep, &t->src))
			continue;
		batch_add(t->ep.sa.sa_family == AF_INET6 ? &c->b6 : &c->b4, t->peer, &t->ep,
			  &t->src, msg, t->msg_len);
	}
	if (c->b4.n)
		batch_flush(dev, &c->b4);
	if (c->b6.n)
		batch_flush(dev, &c->b6);
	/* Once per peer and job; hs_peers borrows the job's references. */
	for (unsigned i = 0; i < j->n; i++) {
		struct ts_peer *peer = j->pkt[i].peer;
		bool seen = false;

		if (!j->pkt[i].need_handshake)
			continue;
		for (unsigned k = 0; k < n_hs && !seen; k++)
			seen = c->hs_peers[k] == peer;
		if (!seen)
			c->hs_peers[n_hs++] = peer;
	}
	for (unsigned k = 0; k < n_hs; k++)
		ts_send_handshake_initiation(c->hs_peers[k], false);
	for (unsigned i = 0; i < j->n; i++)
		ts_peer_put(j->pkt[i].peer);
	j->n = 0;
}

static const struct ts_pipe_ops tx_pipe_ops = {.crypt = tx_crypt, .release = tx_release};

static void tx_ctx_free(struct tx_ctx *c)
{
	if (!c)
		return;
	for (unsigned i = 0; c->jobs && i < c->n_jobs; i++)
		free(c->jobs[i].slots);
	free(c->jobs);
	free(c);
}

static struct tx_ctx *tx_ctx_new(struct ts_device *dev)
{
	struct tx_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->dev = dev;
	c->n_jobs = ts_pool_pipe_depth(dev->pool);
	c->jobs = calloc(c->n_jobs, sizeof(*c->jobs));
	if (!c->jobs)
		goto fail;
	for (unsigned i = 0; i < c->n_jobs; i++) {
		/* Large and mostly untouched: pages appear as packets land in them. */
		c->jobs[i].slots = calloc(TS_BATCH, sizeof(*c->jobs[i].slots));
		if (!c->jobs[i].slots)
			goto fail;
		for (unsigned k = 0; k < TS_BATCH; k++)
			c->jobs[i].bufs[k] = c->jobs[i].slots[k].buf + TS_HEADROOM;
	}
	if (ts_pipe_open(&c->pipe, dev->pool, &tx_pipe_ops, c) < 0)
		goto fail;
	return c;
fail:
	tx_ctx_free(c);
	return NULL;
}

void *ts_tx_thread(void *arg)
{
	struct ts_device *dev = arg;
	struct tx_ctx *c;
	size_t lens[TS_BATCH];
	int n_last = 0;

	if (!ts_engine_thread_begin(dev, "tx"))
		return NULL;
	c = tx_ctx_new(dev);
	if (!c) {
		ts_err("tx: out of memory");
		goto out;
	}
	while (!atomic_load(&dev->stopping)) {
		/*
		 * Its own wake-up fd, never the rx thread's: that one stays
		 * readable while rx works through injected datagrams, and tx
		 * would spin on it.
		 */
		struct pollfd pfd[2] = {{.fd = dev->tun->wait_fd(dev->tun_ctx), .events = POLLIN},
					{.fd = dev->tx_wake_fd, .events = POLLIN}};
		struct tx_job *j;
		unsigned slot;
		int n;

		/*
		 * A full batch: more may be waiting, possibly the rest of a
		 * super-packet the TUN driver holds, which poll cannot see.
		 */
		if (n_last < TS_BATCH) {
			ts_rcu_offline();
			if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
				ts_err("tx: poll: %s", strerror(errno));
				break;
			}
			ts_rcu_online();
		}
		if (atomic_load(&dev->stopping))
			break;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			ts_info("TUN device %s is gone", dev->ifname);
			goto gone;
		}
		slot = ts_pipe_reserve(&c->pipe);
		j = &c->jobs[slot];
		n = dev->tun->read(dev->tun_ctx, j->bufs, lens, TS_BATCH, TS_MAX_PACKET);
		n_last = n;
		if (n == -ENODEV) {
			ts_info("TUN device %s is gone", dev->ifname);
			goto gone;
		}
		if (n < 0)
			ts_log_ratelimited(TS_LOG_WARN, "tun read: %s", strerror(-n));
		if (n > 0) {
			tx_fill(dev, j, lens, (unsigned)n);
			ts_pipe_submit(&c->pipe, slot, n == TS_BATCH);
		}
		ts_rcu_quiescent();
	}
	goto out;
gone : {
	uint64_t one = 1;

	if (write(dev->stop_fd, &one, sizeof(one)) < 0)
		ts_err("tx: cannot signal stop: %s", strerror(errno));
}
out:
	if (c)
		ts_pipe_close(&c->pipe);
	tx_ctx_free(c);
	ts_engine_thread_end();
	return NULL;
}
