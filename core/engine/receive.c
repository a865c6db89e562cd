// SPDX-License-Identifier: MIT
/*
 * The receiving side: the rx thread (UDP in batches -> ciphertext_in hooks ->
 * data messages decrypted, replay-checked, source-checked against
 * allowed-IPs -> plaintext_in hooks -> TUN; and datagrams the host
 * injected), and the handshake thread that consumes initiations, responses
 * and cookie replies queued by rx.
 *
 * Handshake floods: rx admits each initiation and response before it is
 * queued (mac1, then under load a cookie reply instead of work unless mac2
 * is valid, and the per-source rate limiters), so what a flood costs the
 * data path is a MAC per datagram on rx; the queues (one for Diffie-Hellman
 * work, one for cookie replies) are bounded and drop the newest; the
 * handshake thread makes and sends the cookie replies (a batch at a time:
 * one sendmmsg, not one send per reply) and does the Diffie-Hellman within
 * a CPU budget (a share of one core), and going over it puts the device
 * under load.
 *
 * A data message goes through three steps, as in the kernel: decrypt (the
 * keypair named by the receiver index opens it, the counter in the header
 * being the nonce), counter check (only now, authenticated, is the counter
 * trusted: the replay window and REJECT_AFTER_MESSAGES), consume (timers,
 * endpoint, allowed-IPs, hooks, TUN).  A datagram that does not
 * authenticate changes nothing.
 *
 * Locks: no engine lock is held across a hook or a send.  The handshake
 * thread holds the device read lock (our identity) and the peer's lock
 * while it runs the Noise step, then drops both before sending.
 *
 * Everything here parses attacker-controlled bytes: every length is checked
 * against sizeof() of the wire structs before a field is read, and fields
 * are copied out with memcpy (packet buffers are not aligned for them).
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "crypto.h"
#include "data_aead.h"
#include "device.h"
#include "log.h"
#include "rcu.h"
#include "socket.h"
#include "timers.h"
#include "workers.h"

static uint32_t read_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t read_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

/* --- handshake messages: admitted on rx, queued for the handshake thread */

/*
 * Under load the device asks every handshake for a cookie (mac2) and rate
 * limits each source.  We are under load while the queue is an eighth full,
 * or handshakes arrive faster than HS_WINDOW_LOAD per HS_WINDOW_NS, or the
 * worker is over its CPU budget, and for a second after any of these: an
 * attacker needs no more than that to be answered with cookies, which cost
 * a MAC and an AEAD of 16 bytes, instead of Diffie-Hellman.
 */
#define HS_WINDOW_NS   (NSEC_PER_SEC / 8)
#define HS_WINDOW_LOAD 128 /* about 1,000 handshakes a second */
#define HS_LOAD_HOLD   NSEC_PER_SEC

/*
 * The handshake worker's CPU: at most HS_CPU_SHARE_PCT of one core,
 * averaged over HS_CPU_BURST_NS of credit, so the data path keeps the rest
 * of the machine whatever arrives.  Over it, the worker sleeps and the
 * device counts as under load.
 */
#define HS_CPU_SHARE_PCT 25
#define HS_CPU_BURST_NS	 (50 * NSEC_PER_MSEC)
#define HS_CPU_SLEEP_MAX (20 * NSEC_PER_MSEC)
/* The handshake thread's nice value: a tenth of a data thread's CPU share when both run. */
#define HS_NICE 10

static void mark_under_load(struct ts_device *dev, uint64_t now)
{
	atomic_store_explicit(&dev->last_under_load_ns, now, memory_order_relaxed);
}

/* rx thread only: called once for each initiation and response that arrives. */
static bool under_load(struct ts_device *dev, uint64_t now)
{
	uint64_t last;

	if (ts_age_ns(now, dev->hs_window_ns) >= HS_WINDOW_NS) {
		dev->hs_window_ns = now;
		dev->hs_window_count = 0;
	}
	if (++dev->hs_window_count > HS_WINDOW_LOAD ||
	    atomic_load_explicit(&dev->hs_count, memory_order_relaxed) >=
		MAX_QUEUED_INCOMING_HANDSHAKES / 8)
		mark_under_load(dev, now);
	last = atomic_load_explicit(&dev->last_under_load_ns, memory_order_relaxed);
	return last && ts_age_ns(now, last) < HS_LOAD_HOLD;
}

/*
 * The worker answers cookie requests a batch at a time: the oldest ones are
 * answered where they lie in the queue (they stay counted until answered,
 * so rx does not write over them), into reply buffers of the worker's own,
 * and the whole batch goes to the ciphertext_out hooks and then to the bind
 * in one call (one sendmmsg for a run of one family).
 */
struct cookie_batch {
	uint8_t buf[TS_BATCH][TS_HEADROOM + sizeof(struct message_handshake_cookie) + TS_TAILROOM];
	struct cookie_request req[TS_BATCH];
	struct ts_dgram d[TS_BATCH];
};

/* Answer the n initiations and responses at item[] that arrived under load without a valid mac2. */
static void send_cookies(struct ts_device *dev, struct cookie_batch *b,
			 const struct ts_hs_item *item, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		/* sender_index is at the same offset in an initiation and a response. */
		b->req[i] = (struct cookie_request){
		    .msg = item[i].data,
		    .len = item[i].len,
		    .receiver_index = read_le32(
			item[i].data + offsetof(struct message_handshake_initiation, sender_index)),
		    .src = &item[i].src,
		    .reply = b->buf[i] + TS_HEADROOM,
		};
		b->d[i] = (struct ts_dgram){
		    .data = b->buf[i] + TS_HEADROOM,
		    .len = sizeof(struct message_handshake_cookie),
		    .peer = item[i].src,
		    .local = item[i].local,
		};
	}
	cookie_messages_create(&dev->cookie_checker, b->req, n);
	atomic_fetch_add_explicit(&dev->hs_cookies_sent, n, memory_order_relaxed);
	ts_send_datagrams_hooked(dev, b->d, n, TS_HEADROOM, TS_TAILROOM);
}

enum admission { DROP, QUEUE_HANDSHAKE, QUEUE_COOKIE };

/*
 * What to do with this initiation or response, decided on the rx thread
 * before any copy, so a flood costs a MAC per datagram here: an invalid
 * mac1 is dropped; under load one without a valid mac2 is answered with a
 * cookie reply (by the worker, within the source's cookie rate), and one
 * with it is subject to its source's rate.
 */
static enum admission admit_handshake(struct ts_device *dev, const union ts_endpoint *src,
				      const uint8_t *msg, size_t len)
{
	uint64_t now = ts_now_ns();
	bool loaded = under_load(dev, now);
	enum cookie_mac_state mac;

	mac = cookie_validate_packet(&dev->cookie_checker, msg, len, src, loaded);
	if (mac == INVALID_MAC) {
		atomic_fetch_add_explicit(&dev->rx_bad_mac, 1, memory_order_relaxed);
		ts_log_ratelimited(TS_LOG_INFO, "handshake with invalid mac1 from %s",
				   ts_endpoint_str(src, (char[TS_ENDPOINT_STRLEN]){0}));
		return DROP;
	}
	if (!loaded)
		return QUEUE_HANDSHAKE;
	if (mac != VALID_MAC_WITH_COOKIE) {
		/*
		 * A source gets as many cookies a second as handshakes: a
		 * legitimate one needs one per REKEY_TIMEOUT retry, and a
		 * flood from one address costs no more than that many replies.
		 */
		if (!ts_ratelimiter_allow(&dev->cookie_limiter, src, now)) {
			atomic_fetch_add_explicit(&dev->hs_cookies_limited, 1,
						  memory_order_relaxed);
			return DROP;
		}
		return QUEUE_COOKIE;
	}
	/* A valid mac2 proves the source address: each gets its share, and no more. */
	if (!ts_ratelimiter_allow(&dev->ratelimiter, src, now)) {
		atomic_fetch_add_explicit(&dev->hs_ratelimited, 1, memory_order_relaxed);
		ts_log_ratelimited(TS_LOG_INFO, "handshake from %s over its rate limit, dropped",
				   ts_endpoint_str(src, (char[TS_ENDPOINT_STRLEN]){0}));
		return DROP;
	}
	return QUEUE_HANDSHAKE;
}

/*
 * Full queues drop the newest (what is queued already was admitted first).
 * True when the worker may be waiting for this one: the caller wakes it
 * (hs_wake) once it has queued what it holds, so a receive batch costs at
 * most one wake-up.
 */
static bool queue_handshake(struct ts_device *dev, const union ts_endpoint *src,
			    const struct ts_endpoint_src *local, const uint8_t *buf, size_t len)
{
	enum admission what = QUEUE_HANDSHAKE;
	struct ts_hs_item *queue, *item;
	unsigned head, cap, count, waiting;
	atomic_uint *countp;

	if (len > sizeof(item->data))
		return false;
	if (message_determine_type(buf, len) != MESSAGE_HANDSHAKE_COOKIE)
		what = admit_handshake(dev, src, buf, len);
	if (what == DROP)
		return false;
	pthread_mutex_lock(&dev->hs_lock);
	if (what == QUEUE_COOKIE) {
		queue = dev->cookie_queue;
		head = dev->cookie_head;
		cap = TS_COOKIE_QUEUE;
		countp = &dev->cookie_count;
	} else {
		queue = dev->hs_queue;
		head = dev->hs_head;
		cap = MAX_QUEUED_INCOMING_HANDSHAKES;
		countp = &dev->hs_count;
	}
	count = atomic_load_explicit(countp, memory_order_relaxed);
	waiting = atomic_load_explicit(&dev->hs_count, memory_order_relaxed) +
		  atomic_load_explicit(&dev->cookie_count, memory_order_relaxed);
	if (count == cap) {
		pthread_mutex_unlock(&dev->hs_lock);
		atomic_fetch_add_explicit(&dev->hs_dropped, 1, memory_order_relaxed);
		ts_log_ratelimited(TS_LOG_WARN, "handshake queue full, dropping from %s",
				   ts_endpoint_str(src, (char[TS_ENDPOINT_STRLEN]){0}));
		return false;
	}
	item = &queue[(head + count) % cap];
	item->src = *src;
	if (local)
		item->local = *local;
	else
		item->local.family = 0;
	item->len = (uint16_t)len;
	memcpy(item->data, buf, len);
	atomic_store_explicit(countp, count + 1, memory_order_relaxed);
	pthread_mutex_unlock(&dev->hs_lock);
	/* It waits only when both queues are empty (or on its budget, not to be cut short). */
	return waiting == 0;
}

/*
 * Wake the worker for what queue_handshake queued.  Without hs_lock: the
 * items went in under it, so the worker either saw them when it last looked
 * or was already waiting, and then this wakes it.
 */
static void hs_wake(struct ts_device *dev)
{
	pthread_cond_signal(&dev->hs_cond);
}

/* Peer lock held: the packet authenticated; follow the peer to where it came from. */
static void update_endpoint(struct ts_peer *peer, const union ts_endpoint *src,
			    const struct ts_endpoint_src *local, struct ts_peer_news *news)
{
	if (local)
		peer->src = *local;
	if (ts_endpoint_equal(&peer->endpoint, src))
		return;
	news->endpoint_changed = true;
	news->endpoint = *src;
	if (ts_log_get_level() >= TS_LOG_INFO) {
		char a[TS_ENDPOINT_STRLEN], b[TS_ENDPOINT_STRLEN];

		ts_info("peer %u: endpoint %s -> %s", (unsigned)peer->created_seq,
			ts_endpoint_str(&peer->endpoint, a), ts_endpoint_str(src, b));
	}
	peer->endpoint = *src;
}

static void consume_initiation(struct ts_device *dev, const union ts_endpoint *src,
			       const struct ts_endpoint_src *local,
			       const struct message_handshake_initiation *msg)
{
	uint8_t buf[TS_HEADROOM + sizeof(struct message_handshake_response) + TS_TAILROOM];
	struct message_handshake_response resp;
	struct noise_initiation_result r;
	struct noise_keys keys;
	struct ts_keypair *kp;
	struct ts_peer *peer;
	struct ts_endpoint_src ep_src;
	struct ts_peer_news news = {0};
	uint8_t ephemeral[32] = {0}, ephemeral_pub[32];
	bool want_secrets = false;
	union ts_endpoint ep;
	uint32_t index;

	peer = NULL;
	ts_device_read_lock(dev);
	if (!noise_consume_initiation_decrypt(msg, &dev->identity, &r)) {
		ts_device_read_unlock(dev);
		ts_log_ratelimited(TS_LOG_INFO, "invalid handshake initiation from %s",
				   ts_endpoint_str(src, (char[TS_ENDPOINT_STRLEN]){0}));
		goto wipe;
	}
	peer = ts_peer_get(ts_device_lookup_peer(dev, r.remote_static));
	if (!peer) {
		ts_device_read_unlock(dev);
		ts_log_ratelimited(TS_LOG_INFO, "handshake initiation from %s: unknown peer",
				   ts_endpoint_str(src, (char[TS_ENDPOINT_STRLEN]){0}));
		goto wipe;
	}
	ts_peer_lock(peer);
	if (atomic_load(&peer->dead) ||
	    !noise_consume_initiation_accept(&peer->handshake, &r, ts_now_ns())) {
		ts_peer_unlock(peer);
		ts_device_read_unlock(dev);
		ts_log_ratelimited(TS_LOG_INFO,
				   "peer %u: handshake initiation from %s replayed or too fast",
				   (unsigned)peer->created_seq,
				   ts_endpoint_str(src, (char[TS_ENDPOINT_STRLEN]){0}));
		goto wipe;
	}
	ts_debug("peer %u: received handshake initiation", (unsigned)peer->created_seq);
	atomic_fetch_add_explicit(&peer->rx_bytes, sizeof(*msg), memory_order_relaxed);
	update_endpoint(peer, src, local, &news);
	ts_timers_any_authenticated_packet_received(peer);
	ts_timers_any_authenticated_packet_traversal(peer);

	index = ts_peer_fresh_handshake_index(peer);
	/*
	 * The response wipes its ephemeral once used: when a plugin asked for
	 * the session secrets, choose it here so it can be handed over.
	 */
	want_secrets = ts_hooks_want_secrets(dev);
	if (want_secrets)
		ts_x25519_generate(ephemeral, ephemeral_pub);
	if (!index ||
	    !(want_secrets
		  ? noise_create_response_with_ephemeral(&resp, &peer->handshake, &dev->identity,
							 index, ephemeral)
		  : noise_create_response(&resp, &peer->handshake, &dev->identity, index))) {
		if (index)
			ts_index_remove(&dev->index, index);
		noise_handshake_clear(&peer->handshake);
		ts_peer_unlock(peer);
		ts_device_read_unlock(dev);
		goto wipe;
	}
	cookie_add_mac_to_packet(&resp, sizeof(resp), &peer->cookie_maker);
	if (want_secrets)
		ts_peer_collect_secrets(peer, ephemeral, &news);
	if (!noise_begin_session(&peer->handshake, &keys) ||
	    !(kp = ts_keypair_create(peer, &keys))) {
		ts_index_remove(&dev->index, index);
		ts_peer_unlock(peer);
		ts_device_read_unlock(dev);
		goto wipe;
	}
	ts_index_set_keypair(&dev->index, index, kp);
	ts_peer_install_keypair(peer, kp);
	ts_timers_session_derived(peer);
	ts_timers_any_authenticated_packet_sent(peer);
	ep = peer->endpoint;
	ep_src = peer->src;
	ts_peer_unlock(peer);
	ts_device_read_unlock(dev);

	ts_debug("peer %u: sending handshake response", (unsigned)peer->created_seq);
	memcpy(buf + TS_HEADROOM, &resp, sizeof(resp));
	ts_peer_news_emit(peer, &news);
	ts_send_datagram_hooked(dev, peer, &ep, &ep_src, buf, TS_HEADROOM, sizeof(resp));
	atomic_fetch_add_explicit(&peer->tx_bytes, sizeof(resp), memory_order_relaxed);
wipe:
	ts_peer_put(peer);
	sodium_memzero(ephemeral, sizeof(ephemeral));
	sodium_memzero(&news, sizeof(news));
	sodium_memzero(&keys, sizeof(keys));
	sodium_memzero(&r, sizeof(r));
}

static void consume_response(struct ts_device *dev, const union ts_endpoint *src,
			     const struct ts_endpoint_src *local,
			     const struct message_handshake_response *msg)
{
	struct ts_peer_news news = {0};
	struct noise_keys keys;
	struct ts_keypair *kp;
	struct ts_peer *peer;
	bool staged;

	peer = ts_index_lookup_peer(&dev->index, le32toh(msg->receiver_index), TS_INDEX_HANDSHAKE);
	if (!peer) {
		ts_log_ratelimited(TS_LOG_INFO, "handshake response from %s for no handshake",
				   ts_endpoint_str(src, (char[TS_ENDPOINT_STRLEN]){0}));
		return;
	}
	ts_device_read_lock(dev);
	ts_peer_lock(peer);
	if (atomic_load(&peer->dead) ||
	    !noise_consume_response(msg, &peer->handshake, &dev->identity)) {
		ts_peer_unlock(peer);
		ts_device_read_unlock(dev);
		ts_log_ratelimited(TS_LOG_INFO, "peer %u: invalid handshake response from %s",
				   (unsigned)peer->created_seq,
				   ts_endpoint_str(src, (char[TS_ENDPOINT_STRLEN]){0}));
		ts_peer_put(peer);
		return;
	}
	ts_debug("peer %u: received handshake response", (unsigned)peer->created_seq);
	atomic_fetch_add_explicit(&peer->rx_bytes, sizeof(*msg), memory_order_relaxed);
	update_endpoint(peer, src, local, &news);
	if (!noise_begin_session(&peer->handshake, &keys) ||
	    !(kp = ts_keypair_create(peer, &keys))) {
		ts_peer_unlock(peer);
		ts_device_read_unlock(dev);
		sodium_memzero(&keys, sizeof(keys));
		ts_peer_put(peer);
		return;
	}
	sodium_memzero(&keys, sizeof(keys));
	/* The handshake's index now names the session. */
	ts_index_set_keypair(&dev->index, kp->local_index, kp);
	peer->handshake_index_registered = false;
	ts_peer_install_keypair(peer, kp);
	ts_timers_session_derived(peer);
	ts_timers_handshake_complete(peer);
	ts_peer_note_session(peer, &news);
	ts_timers_any_authenticated_packet_received(peer);
	ts_timers_any_authenticated_packet_traversal(peer);
	staged = peer->staged.count > 0;
	ts_peer_unlock(peer);
	ts_device_read_unlock(dev);
	ts_peer_news_emit(peer, &news);

	/* The responder can use the session only once it hears from us. */
	if (staged)
		ts_send_staged(peer);
	else
		ts_send_keepalive(peer);
	ts_peer_put(peer);
}

static void consume_cookie(struct ts_device *dev, const union ts_endpoint *src,
			   const struct message_handshake_cookie *msg)
{
	struct ts_peer *peer;
	bool ok;

	peer = ts_index_lookup_peer(&dev->index, le32toh(msg->receiver_index),
				    TS_INDEX_HANDSHAKE | TS_INDEX_KEYPAIR);
	if (!peer)
		return;
	ts_peer_lock(peer);
	ok = cookie_message_consume(msg, &peer->cookie_maker);
	ts_peer_unlock(peer);
	if (ok)
		ts_debug("peer %u: received cookie reply from %s", (unsigned)peer->created_seq,
			 ts_endpoint_str(src, (char[TS_ENDPOINT_STRLEN]){0}));
	else
		ts_log_ratelimited(TS_LOG_INFO, "invalid cookie reply from %s",
				   ts_endpoint_str(src, (char[TS_ENDPOINT_STRLEN]){0}));
	ts_peer_put(peer);
}

/* One queued message: admitted on rx already (admit_handshake), so only the Noise work is left. */
static void process_handshake(struct ts_device *dev, const struct ts_hs_item *item)
{
	switch (message_determine_type(item->data, item->len)) {
	case MESSAGE_HANDSHAKE_COOKIE: {
		struct message_handshake_cookie msg;

		memcpy(&msg, item->data, sizeof(msg));
		consume_cookie(dev, &item->src, &msg);
		break;
	}
	case MESSAGE_HANDSHAKE_INITIATION: {
		struct message_handshake_initiation msg;

		memcpy(&msg, item->data, sizeof(msg));
		consume_initiation(dev, &item->src, &item->local, &msg);
		break;
	}
	case MESSAGE_HANDSHAKE_RESPONSE: {
		struct message_handshake_response msg;

		memcpy(&msg, item->data, sizeof(msg));
		consume_response(dev, &item->src, &item->local, &msg);
		break;
	}
	default:
		break;
	}
}

/*
 * The oldest cookie requests, up to a batch, left in place at *first: how
 * many (0: none).  They stay counted, so rx does not reuse their slots,
 * until cookies_done_locked.  hs_lock held.
 */
static unsigned cookies_take_locked(struct ts_device *dev, const struct ts_hs_item **first)
{
	unsigned n = atomic_load_explicit(&dev->cookie_count, memory_order_relaxed);

	/* One contiguous run: a batch ends where the ring wraps. */
	if (n > TS_COOKIE_QUEUE - dev->cookie_head)
		n = TS_COOKIE_QUEUE - dev->cookie_head;
	if (n > TS_BATCH)
		n = TS_BATCH;
	*first = &dev->cookie_queue[dev->cookie_head];
	return n;
}

/* The n requests cookies_take_locked gave are answered: their slots are free.  hs_lock held. */
static void cookies_done_locked(struct ts_device *dev, unsigned n)
{
	unsigned count = atomic_load_explicit(&dev->cookie_count, memory_order_relaxed);

	dev->cookie_head = (dev->cookie_head + n) % TS_COOKIE_QUEUE;
	atomic_store_explicit(&dev->cookie_count, count - n, memory_order_relaxed);
}

/* The oldest handshake message into *item: false if there is none.  hs_lock held. */
static bool handshake_take_locked(struct ts_device *dev, struct ts_hs_item *item)
{
	unsigned count = atomic_load_explicit(&dev->hs_count, memory_order_relaxed);

	if (!count)
		return false;
	*item = dev->hs_queue[dev->hs_head];
	dev->hs_head = (dev->hs_head + 1) % MAX_QUEUED_INCOMING_HANDSHAKES;
	atomic_store_explicit(&dev->hs_count, count - 1, memory_order_relaxed);
	return true;
}

/*
 * One round of the worker's work: a batch of cookie replies if any are
 * asked for (they come first, so a queue full of Diffie-Hellman work never
 * keeps a legitimate peer from its cookie), else one handshake message.
 */
struct hs_work {
	const struct ts_hs_item *cookies;
	unsigned n_cookies;
	bool handshake; /* item holds one */
	struct ts_hs_item item;
};

/* The next round's work: false if there is none.  hs_lock held. */
static bool work_take_locked(struct ts_device *dev, struct hs_work *w)
{
	w->n_cookies = cookies_take_locked(dev, &w->cookies);
	w->handshake = !w->n_cookies && handshake_take_locked(dev, &w->item);
	return w->n_cookies || w->handshake;
}

/* Do it, no lock held. */
static void work_do(struct ts_device *dev, struct cookie_batch *b, struct hs_work *w)
{
	if (w->handshake) {
		process_handshake(dev, &w->item);
		return;
	}
	send_cookies(dev, b, w->cookies, w->n_cookies);
	pthread_mutex_lock(&dev->hs_lock);
	cookies_done_locked(dev, w->n_cookies);
	pthread_mutex_unlock(&dev->hs_lock);
}

/* Nothing queued for the worker.  hs_lock held. */
static bool idle_locked(struct ts_device *dev)
{
	return !atomic_load_explicit(&dev->hs_count, memory_order_relaxed) &&
	       !atomic_load_explicit(&dev->cookie_count, memory_order_relaxed);
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* The worker's CPU credit (HS_CPU_SHARE_PCT of the wall clock, up to HS_CPU_BURST_NS). */
struct hs_budget {
	uint64_t wall_ns, cpu_ns;
	int64_t credit_ns;
};

/* Charge what the worker used since the last call: how long it must rest (0: none). */
static uint64_t budget_charge(struct hs_budget *b)
{
	uint64_t wall = ts_now_ns(), cpu = thread_cpu_ns();
	int64_t earned = (int64_t)((wall - b->wall_ns) * HS_CPU_SHARE_PCT / 100);

	b->credit_ns = b->credit_ns > (int64_t)HS_CPU_BURST_NS - earned ? (int64_t)HS_CPU_BURST_NS
									: b->credit_ns + earned;
	b->credit_ns -= (int64_t)(cpu - b->cpu_ns);
	b->wall_ns = wall;
	b->cpu_ns = cpu;
	if (b->credit_ns >= 0)
		return 0;
	/* Until the credit is back to zero, a little at a time so stop is noticed. */
	return (uint64_t)-b->credit_ns * 100 / HS_CPU_SHARE_PCT < HS_CPU_SLEEP_MAX
		   ? (uint64_t)-b->credit_ns * 100 / HS_CPU_SHARE_PCT
		   : HS_CPU_SLEEP_MAX;
}

/* hs_lock held: sleep ns on hs_cond (CLOCK_MONOTONIC), or until stop. */
static void rest_locked(struct ts_device *dev, uint64_t ns)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(ns / NSEC_PER_SEC);
	until.tv_nsec += (long)(ns % NSEC_PER_SEC);
	if (until.tv_nsec >= (long)NSEC_PER_SEC) {
		until.tv_sec++;
		until.tv_nsec -= (long)NSEC_PER_SEC;
	}
	/* Producers signal only an empty queue, and stop broadcasts: few early wake-ups. */
	while (!atomic_load(&dev->stopping) &&
	       pthread_cond_timedwait(&dev->hs_cond, &dev->hs_lock, &until) == 0)
		;
}

void *ts_handshake_thread(void *arg)
{
	struct ts_device *dev = arg;
	struct hs_budget budget = {.credit_ns = HS_CPU_BURST_NS};
	struct cookie_batch batch; /* about 30 KiB, for the thread's life */
	struct hs_work work;
	uint64_t rest;

	if (!ts_engine_thread_begin(dev, "handshake"))
		return NULL;
	/*
	 * Handshakes yield to the data path when both want a CPU: under a
	 * flood this thread is busy (up to its budget, below) and would take
	 * an equal share from rx, which decrypts alone when there are no
	 * workers.  A few real handshakes a second still get their share.
	 */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), HS_NICE) < 0)
		ts_debug("handshake: setpriority: %s", strerror(errno));
	budget.wall_ns = ts_now_ns();
	budget.cpu_ns = thread_cpu_ns();
	for (;;) {
		pthread_mutex_lock(&dev->hs_lock);
		if (idle_locked(dev) && !atomic_load(&dev->stopping)) {
			ts_rcu_offline();
			while (idle_locked(dev) && !atomic_load(&dev->stopping))
				pthread_cond_wait(&dev->hs_cond, &dev->hs_lock);
		}
		if (atomic_load(&dev->stopping)) {
			pthread_mutex_unlock(&dev->hs_lock);
			break;
		}
		work_take_locked(dev, &work);
		pthread_mutex_unlock(&dev->hs_lock);

		ts_rcu_online();
		work_do(dev, &batch, &work);
		ts_rcu_quiescent();

		rest = budget_charge(&budget);
		if (rest) {
			/* Over budget: new handshakes meet cookies and rate limits meanwhile. */
			mark_under_load(dev, ts_now_ns());
			atomic_fetch_add_explicit(&dev->hs_throttled_ns, rest,
						  memory_order_relaxed);
			ts_rcu_offline();
			pthread_mutex_lock(&dev->hs_lock);
			rest_locked(dev, rest);
			pthread_mutex_unlock(&dev->hs_lock);
		}
	}
	ts_engine_thread_end();
	return NULL;
}

void ts_handshake_process_queued(struct ts_device *dev)
{
	struct cookie_batch batch;
	struct hs_work work;

	for (;;) {
		bool got;

		pthread_mutex_lock(&dev->hs_lock);
		got = work_take_locked(dev, &work);
		pthread_mutex_unlock(&dev->hs_lock);
		if (!got)
			return;
		work_do(dev, &batch, &work);
	}
}

/* --- data messages --------------------------------------------------- */

/*
 * The length an IP header claims, and the inner source address; false if
 * the plaintext is not a whole IPv4/IPv6 packet.
 */
static bool inner_packet(const uint8_t *p, size_t len, size_t *ip_len, int *family,
			 const uint8_t **src)
{
	if (len >= 20 && (p[0] >> 4) == 4) {
		size_t tot = ((size_t)p[2] << 8) | p[3];

		if (tot < 20 || tot > len)
			return false;
		*ip_len = tot;
		*family = AF_INET;
		*src = p + 12;
		return true;
	}
	if (len >= 40 && (p[0] >> 4) == 6) {
		size_t tot = (((size_t)p[4] << 8) | p[5]) + 40;

		if (tot > len)
			return false;
		*ip_len = tot;
		*family = AF_INET6;
		*src = p + 8;
		return true;
	}
	return false;
}

/*
 * Step 1: the keypair the receiver index names, and whether the message
 * authenticates under it.  Only the keypair's own state (valid, its age)
 * is looked at before the AEAD: nothing the datagram claims is trusted, so
 * a forged one is a bad MAC and changes nothing.  Returns the keypair with
 * a reference, the plaintext decrypted in place; or NULL.
 */
static struct ts_keypair *decrypt(struct ts_device *dev, const union ts_endpoint *src, uint8_t *msg,
				  size_t len, uint64_t now, uint64_t *counter)
{
	uint8_t *plain = msg + sizeof(struct message_data);
	struct ts_keypair *kp;

	kp = ts_index_lookup_keypair(&dev->index, read_le32(msg + 4));
	if (!kp) {
		atomic_fetch_add_explicit(&dev->rx_invalid, 1, memory_order_relaxed);
		return NULL;
	}
	if (!atomic_load_explicit(&kp->receiving_valid, memory_order_relaxed) ||
	    ts_age_ns(now, kp->birthdate_ns) >= ts_secs(REJECT_AFTER_TIME)) {
		atomic_store(&kp->receiving_valid, false);
		ts_keypair_put(kp);
		return NULL;
	}
	*counter = read_le64(msg + 8);
	if (!ts_data_open(plain, len - sizeof(struct message_data), *counter, kp->receiving_key)) {
		atomic_fetch_add_explicit(&dev->rx_bad_mac, 1, memory_order_relaxed);
		ts_log_ratelimited(TS_LOG_INFO, "data packet from %s failed authentication",
				   ts_endpoint_str(src, (char[TS_ENDPOINT_STRLEN]){0}));
		ts_keypair_put(kp);
		return NULL;
	}
	return kp;
}

/*
 * Step 2, the packet authenticated: its counter is the sender's.  Refuse
 * counters at or beyond REJECT_AFTER_MESSAGES and replays.  A keypair whose
 * window reached the limit is spent: it stops receiving (an authenticated
 * fact; a forged counter never gets here).
 */
static bool counter_check(struct ts_device *dev, struct ts_keypair *kp, uint64_t counter,
			  const union ts_endpoint *src)
{
	bool accepted, spent;

	pthread_mutex_lock(&kp->replay_lock);
	spent = kp->replay.any && kp->replay.greatest >= REJECT_AFTER_MESSAGES - 1;
	accepted = !spent && replay_check(&kp->replay, counter, REJECT_AFTER_MESSAGES);
	pthread_mutex_unlock(&kp->replay_lock);
	if (spent)
		atomic_store(&kp->receiving_valid, false);
	if (!accepted) {
		atomic_fetch_add_explicit(&dev->rx_replayed, 1, memory_order_relaxed);
		ts_log_ratelimited(TS_LOG_INFO, "replayed or too old packet (counter %llu) from %s",
				   (unsigned long long)counter,
				   ts_endpoint_str(src, (char[TS_ENDPOINT_STRLEN]){0}));
	}
	return accepted;
}

/*
 * The inner packets of one batch of datagrams, written to the TUN together
 * once the batch is done, so that a TUN with offloads can coalesce the
 * segments of a flow (after the plaintext_in hooks saw each one).  Set only
 * by the rx pipe's release stage while the job's buffers stay put; NULL
 * elsewhere (tests and fuzzing call ts_receive_datagram directly): each
 * packet is written at once.
 */
struct rx_tun_batch {
	const uint8_t *pkts[TS_BATCH];
	size_t lens[TS_BATCH];
	unsigned n;
};

static _Thread_local struct rx_tun_batch *rx_tun_batch;

static void rx_tun_flush(struct ts_device *dev, struct rx_tun_batch *b)
{
	int ret;

	if (!b->n)
		return;
	ret = dev->tun->write(dev->tun_ctx, b->pkts, b->lens, b->n);
	if (ret < 0)
		ts_log_ratelimited(TS_LOG_WARN, "tun write: %s", strerror(-ret));
	b->n = 0;
}

/*
 * Step 3: an authenticated, fresh packet from kp->peer.  Timers, endpoint,
 * the session's rotation, then the inner packet: source checked against
 * the peer's allowed IPs, plaintext_in hooks, TUN.  The datagram was len
 * bytes with tailroom after it.  No lock held on entry.
 */
static void consume(struct ts_device *dev, struct ts_keypair *kp, const union ts_endpoint *src,
		    const struct ts_endpoint_src *local, uint8_t *buf, uint8_t *plain,
		    size_t plain_len, size_t len, size_t tailroom, uint64_t now)
{
	struct ts_peer *peer = kp->peer; /* kp's reference keeps it */
	struct ts_peer_news news = {0};
	bool rotated, lastminute = false;
	const uint8_t *inner_src;
	size_t ip_len;
	int family, ret;
	void *owner;

	ts_peer_lock(peer);
	if (atomic_load(&peer->dead)) {
		ts_peer_unlock(peer);
		return;
	}
	rotated = ts_peer_received_with_keypair(peer, kp);
	if (rotated) {
		/* The initiator used our response's session: it is complete. */
		ts_timers_handshake_complete(peer);
		ts_peer_note_session(peer, &news);
	}
	update_endpoint(peer, src, local, &news);
	ts_timers_any_authenticated_packet_received(peer);
	ts_timers_any_authenticated_packet_traversal(peer);
	if (plain_len)
		ts_timers_data_received(peer);
	/* Rekey before the session we initiated is too old to receive on. */
	if (peer->kp_current == kp && kp->is_initiator && !peer->timers.sent_lastminute_handshake &&
	    ts_age_ns(now, kp->birthdate_ns) >=
		ts_secs(REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT)) {
		peer->timers.sent_lastminute_handshake = true;
		lastminute = true;
	}
	ts_peer_unlock(peer);
	if (lastminute)
		ts_send_handshake_initiation(peer, false);
	atomic_fetch_add_explicit(&peer->rx_bytes, len, memory_order_relaxed);
	if (news.endpoint_changed || news.handshake_complete)
		ts_peer_news_emit(peer, &news);
	if (rotated)
		ts_send_staged(peer);

	if (plain_len == 0) {
		ts_debug("peer %u: received keepalive", (unsigned)peer->created_seq);
		return;
	}
	if (!inner_packet(plain, plain_len, &ip_len, &family, &inner_src)) {
		atomic_fetch_add_explicit(&dev->rx_invalid, 1, memory_order_relaxed);
		ts_log_ratelimited(TS_LOG_INFO, "peer %u: decrypted packet is not IP",
				   (unsigned)peer->created_seq);
		return;
	}
	/* Compared by identity only: the peer cannot go while kp is held. */
	ts_device_read_lock(dev);
	owner = allowedips_lookup(&dev->allowedips, family, inner_src);
	ts_device_read_unlock(dev);
	if (owner != peer) {
		atomic_fetch_add_explicit(&dev->rx_bad_source, 1, memory_order_relaxed);
		ts_log_ratelimited(TS_LOG_INFO,
				   "peer %u: packet with a source outside its allowed IPs dropped",
				   (unsigned)peer->created_seq);
		return;
	}
	if (ts_hooks_active(dev, TS_HP_PLAINTEXT_IN)) {
		/*
		 * After the inner packet: its padding, the tag and the datagram's
		 * tailroom, which a ciphertext_in hook may have used up.
		 */
		size_t room = len - sizeof(struct message_data) - ip_len + tailroom;
		struct ts_hook_pkt p = {.data = plain,
					.len = ip_len,
					.headroom = (size_t)(plain - buf),
					.tailroom = room < TS_TAILROOM ? room : TS_TAILROOM,
					.peer_key = peer->public_key};

		if (!ts_hooks_run(dev, TS_HP_PLAINTEXT_IN, &p))
			return;
		plain = p.data;
		ip_len = p.len;
	}
	if (rx_tun_batch) {
		/* Full (more datagrams than slots): write what is there first, in order. */
		if (rx_tun_batch->n == TS_BATCH)
			rx_tun_flush(dev, rx_tun_batch);
		rx_tun_batch->pkts[rx_tun_batch->n] = plain;
		rx_tun_batch->lens[rx_tun_batch->n++] = ip_len;
		return;
	}
	ret = dev->tun->write(dev->tun_ctx, (const uint8_t *const[]){plain}, &ip_len, 1);
	if (ret < 0)
		ts_log_ratelimited(TS_LOG_WARN, "tun write: %s", strerror(-ret));
}

static void receive_data(struct ts_device *dev, const union ts_endpoint *src,
			 const struct ts_endpoint_src *local, uint8_t *buf, size_t headroom,
			 size_t len, size_t tailroom)
{
	uint8_t *msg = buf + headroom, *plain = msg + sizeof(struct message_data);
	size_t plain_len = len - sizeof(struct message_data) - NOISE_AUTHTAG_LEN;
	uint64_t counter, now = ts_now_ns();
	struct ts_keypair *kp;

	kp = decrypt(dev, src, msg, len, now, &counter);
	if (!kp)
		return;
	if (counter_check(dev, kp, counter, src))
		consume(dev, kp, src, local, buf, plain, plain_len, len, tailroom, now);
	ts_keypair_put(kp);
}

/* One datagram at buf + headroom, len bytes, with tailroom after it. */
static void receive_datagram(struct ts_device *dev, const union ts_endpoint *src,
			     const struct ts_endpoint_src *local, uint8_t *buf, size_t headroom,
			     size_t len, size_t tailroom)
{
	switch (message_determine_type(buf + headroom, len)) {
	case MESSAGE_DATA:
		receive_data(dev, src, local, buf, headroom, len, tailroom);
		break;
	case MESSAGE_HANDSHAKE_INITIATION:
	case MESSAGE_HANDSHAKE_RESPONSE:
	case MESSAGE_HANDSHAKE_COOKIE:
		if (queue_handshake(dev, src, local, buf + headroom, len))
			hs_wake(dev);
		break;
	default:
		atomic_fetch_add_explicit(&dev->rx_invalid, 1, memory_order_relaxed);
		ts_log_ratelimited(TS_LOG_DEBUG,
				   "dropping %zu-byte datagram from %s: not WireGuard", len,
				   ts_endpoint_str(src, (char[TS_ENDPOINT_STRLEN]){0}));
		break;
	}
}

void ts_receive_datagram(struct ts_device *dev, const union ts_endpoint *src,
			 const struct ts_endpoint_src *local, uint8_t *buf, size_t headroom,
			 size_t len)
{
	receive_datagram(dev, src, local, buf, headroom, len, TS_TAILROOM);
}

/* --- the rx thread and its pipe ------------------------------------- */

/*
 * The rx pipe (workers.h): the rx thread fills a job from one receive
 * batch (or from injected datagrams) -- ciphertext_in hooks, handshake
 * messages to their queue, data messages kept -- any crypto worker
 * decrypts the data messages (step 1), and the release stage does steps 2
 * and 3 in receive order: counter check, timers, plaintext_in hooks, and
 * the TUN write of the whole job at once.  A job holds a reference to each
 * authenticated message's keypair (and so to its peer) until released.
 */
struct rx_slot {
	uint8_t buf[TS_HEADROOM + TS_MAX_PACKET + TS_TAILROOM];
};

struct rx_dg {
	uint8_t *buf; /* the slot: the message at buf + headroom, len bytes */
	size_t headroom, len, tailroom;
	union ts_endpoint src;
	struct ts_endpoint_src local;
	bool has_local;
	struct ts_keypair *kp; /* crypt -> release: it authenticated under kp, or NULL */
	uint64_t counter;
};

struct rx_job {
	unsigned n; /* data messages */
	struct rx_dg dg[TS_BATCH];
	struct rx_slot *slots;
};

struct rx_ctx {
	struct ts_device *dev;
	struct ts_pipe pipe;
	struct rx_job *jobs; /* one per pipe slot */
	unsigned n_jobs;
	struct ts_dgram d[TS_BATCH]; /* the rx thread's, for the bind */
	struct rx_tun_batch tb;	     /* the release stage's (one thread at a time) */
};

/*
 * The rx thread: one datagram past the ciphertext_in hooks.  A data message
 * joins the job; a handshake message goes to its queue now, and *wake is
 * set if the worker must be woken for it (once, after the whole batch).
 */
static void rx_classify(struct ts_device *dev, struct rx_job *j, uint8_t *buf, size_t headroom,
			size_t len, size_t tailroom, const union ts_endpoint *src,
			const struct ts_endpoint_src *local, bool *wake)
{
	struct rx_dg *dg;

	switch (message_determine_type(buf + headroom, len)) {
	case MESSAGE_DATA:
		break;
	case MESSAGE_HANDSHAKE_INITIATION:
	case MESSAGE_HANDSHAKE_RESPONSE:
	case MESSAGE_HANDSHAKE_COOKIE:
		if (queue_handshake(dev, src, local, buf + headroom, len))
			*wake = true;
		return;
	default:
		atomic_fetch_add_explicit(&dev->rx_invalid, 1, memory_order_relaxed);
		ts_log_ratelimited(TS_LOG_DEBUG,
				   "dropping %zu-byte datagram from %s: not WireGuard", len,
				   ts_endpoint_str(src, (char[TS_ENDPOINT_STRLEN]){0}));
		return;
	}
	dg = &j->dg[j->n++];
	dg->buf = buf;
	dg->headroom = headroom;
	dg->len = len;
	dg->tailroom = tailroom;
	dg->src = *src;
	dg->has_local = local != NULL;
	if (local)
		dg->local = *local;
	dg->kp = NULL;
}

static void rx_crypt(void *ctx, unsigned slot)
{
	struct rx_ctx *c = ctx;
	struct rx_job *j = &c->jobs[slot];
	uint64_t now = ts_now_ns();

	for (unsigned i = 0; i < j->n; i++) {
		struct rx_dg *dg = &j->dg[i];

		dg->kp =
		    decrypt(c->dev, &dg->src, dg->buf + dg->headroom, dg->len, now, &dg->counter);
	}
}

static void rx_release(void *ctx, unsigned slot)
{
	struct rx_ctx *c = ctx;
	struct ts_device *dev = c->dev;
	struct rx_job *j = &c->jobs[slot];
	uint64_t now = ts_now_ns();

	rx_tun_batch = &c->tb;
	for (unsigned i = 0; i < j->n; i++) {
		struct rx_dg *dg = &j->dg[i];
		uint8_t *plain = dg->buf + dg->headroom + sizeof(struct message_data);

		if (!dg->kp)
			continue;
		if (counter_check(dev, dg->kp, dg->counter, &dg->src))
			consume(dev, dg->kp, &dg->src, dg->has_local ? &dg->local : NULL, dg->buf,
				plain, dg->len - sizeof(struct message_data) - NOISE_AUTHTAG_LEN,
				dg->len, dg->tailroom, now);
		ts_keypair_put(dg->kp);
		dg->kp = NULL;
	}
	rx_tun_batch = NULL;
	rx_tun_flush(dev, &c->tb);
	j->n = 0;
}

static const struct ts_pipe_ops rx_pipe_ops = {.crypt = rx_crypt, .release = rx_release};

/* One batch from socket slot 'which': true if it was full (more may wait in the bind). */
static bool rx_socket(struct rx_ctx *c, unsigned which)
{
	struct ts_device *dev = c->dev;
	struct ts_dgram *d = c->d;
	unsigned slot = ts_pipe_reserve(&c->pipe);
	struct rx_job *j = &c->jobs[slot];
	bool wake = false;
	int n;

	for (unsigned i = 0; i < TS_BATCH; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		d[i].data = j->slots[i].buf + TS_HEADROOM;
		d[i].cap = TS_MAX_PACKET;
	}
	n = dev->bind->recv(dev->bind_ctx, which, d, TS_BATCH);
	if (n <= 0)
		return false; /* the slot stays free: the next reserve gets it again */
	j->n = 0;
	for (int i = 0; i < n; i++) {
		uint8_t *buf = j->slots[i].buf;
		size_t len = d[i].len, headroom = TS_HEADROOM, tailroom = TS_TAILROOM;
		struct ts_endpoint_src local = d[i].local;

		if (d[i].flags & TS_DGRAM_TRUNC)
			continue;
		if (ts_hooks_active(dev, TS_HP_CIPHERTEXT_IN)) {
			struct ts_hook_pkt p = {.data = buf + headroom,
						.len = len,
						.headroom = headroom,
						.tailroom = TS_TAILROOM,
						.ep = &d[i].peer,
						.local = &local};

			if (!ts_hooks_run(dev, TS_HP_CIPHERTEXT_IN, &p))
				continue;
			headroom = (size_t)(p.data - buf);
			len = p.len;
			tailroom = p.tailroom;
		}
		rx_classify(dev, j, buf, headroom, len, tailroom, &d[i].peer, &local, &wake);
	}
	if (wake)
		hs_wake(dev);
	if (j->n)
		ts_pipe_submit(&c->pipe, slot, n == TS_BATCH);
	return n == TS_BATCH;
}

/*
 * Datagrams the host injected: through the same pipe as received ones (so
 * that the TUN is written by one stage only), but past the ciphertext_in
 * hooks.  At most a batch per wake-up, so the sockets are not starved; the
 * rest waits for the next round (the wake-up is renewed).
 */
static void rx_injected(struct rx_ctx *c)
{
	struct ts_device *dev = c->dev;
	struct ts_inject_item *item = ts_device_inject_take(dev);
	struct rx_job *j;
	unsigned slot, n;
	bool wake = false;

	if (!item)
		return;
	slot = ts_pipe_reserve(&c->pipe);
	j = &c->jobs[slot];
	j->n = 0;
	for (n = 0; item; item = n < TS_BATCH ? ts_device_inject_take(dev) : NULL) {
		uint8_t *buf = j->slots[n++].buf;

		memcpy(buf + TS_HEADROOM, item->data, item->len);
		rx_classify(dev, j, buf, TS_HEADROOM, item->len, TS_TAILROOM, &item->src, NULL,
			    &wake);
		free(item);
	}
	if (wake)
		hs_wake(dev);
	if (j->n)
		ts_pipe_submit(&c->pipe, slot, n == TS_BATCH);
	if (n == TS_BATCH) {
		uint64_t one = 1;

		if (write(dev->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			ts_debug("rx: wake: %s", strerror(errno));
	}
}

static void rx_ctx_free(struct rx_ctx *c)
{
	if (!c)
		return;
	for (unsigned i = 0; c->jobs && i < c->n_jobs; i++)
		free(c->jobs[i].slots);
	free(c->jobs);
	free(c);
}

static struct rx_ctx *rx_ctx_new(struct ts_device *dev)
{
	struct rx_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->dev = dev;
	c->n_jobs = ts_pool_pipe_depth(dev->pool);
	c->jobs = calloc(c->n_jobs, sizeof(*c->jobs));
	if (!c->jobs)
		goto fail;
	for (unsigned i = 0; i < c->n_jobs; i++) {
		/* Large and mostly untouched: pages appear as datagrams land in them. */
		c->jobs[i].slots = calloc(TS_BATCH, sizeof(*c->jobs[i].slots));
		if (!c->jobs[i].slots)
			goto fail;
	}
	if (ts_pipe_open(&c->pipe, dev->pool, &rx_pipe_ops, c) < 0)
		goto fail;
	return c;
fail:
	rx_ctx_free(c);
	return NULL;
}

void *ts_rx_thread(void *arg)
{
	struct ts_device *dev = arg;
	struct rx_ctx *c;
	/* A slot whose last batch was full: asked again without waiting for poll. */
	bool more[TS_BIND_MAX_FDS] = {false};

	if (!ts_engine_thread_begin(dev, "rx"))
		return NULL;
	c = rx_ctx_new(dev);
	if (!c) {
		ts_err("rx: out of memory");
		goto out;
	}
	while (!atomic_load(&dev->stopping)) {
		struct pollfd pfd[TS_BIND_MAX_FDS + 1];
		int fds[TS_BIND_MAX_FDS], timeout = -1;

		dev->bind->fds(dev->bind_ctx, fds);
		for (unsigned i = 0; i < TS_BIND_MAX_FDS; i++)
			pfd[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
		pfd[TS_BIND_MAX_FDS] = (struct pollfd){.fd = dev->wake_fd, .events = POLLIN};
		for (unsigned i = 0; i < TS_BIND_MAX_FDS; i++)
			if (more[i])
				timeout = 0;

		ts_rcu_offline();
		if (poll(pfd, TS_BIND_MAX_FDS + 1, timeout) < 0 && errno != EINTR) {
			ts_err("rx: poll: %s", strerror(errno));
			break;
		}
		ts_rcu_online();
		if (pfd[TS_BIND_MAX_FDS].revents & POLLIN) {
			uint64_t v;

			if (read(dev->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				ts_debug("rx: wake read: %s", strerror(errno));
		}
		for (unsigned i = 0; i < TS_BIND_MAX_FDS; i++)
			if ((pfd[i].revents & POLLIN) || more[i])
				more[i] = rx_socket(c, i);
		rx_injected(c);
		ts_rcu_quiescent();
	}
out:
	if (c)
		ts_pipe_close(&c->pipe);
	rx_ctx_free(c);
	ts_engine_thread_end();
	return NULL;
}
