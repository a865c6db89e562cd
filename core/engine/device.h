/* SPDX-License-Identifier: MIT */
/*
 * The device: one TUN interface, its UDP sockets, its identity and peers,
 * and the threads that move packets.
 *
 * Threads (each engine thread that can run a hook -- tx, rx, crypt,
 * handshake, timers -- registers as an RCU reader as its first action and
 * unregisters as its last; it is offline while it blocks in poll, a
 * condition wait or a sleep, and reports a quiescent state after each unit
 * of work):
 *   tx        reads the TUN, picks the peer by allowed-IPs, runs plaintext_out,
 *             takes counters; hands the batch to the tx pipe (send.c)
 *   rx        receives UDP, runs ciphertext_in, queues handshakes; hands data
 *             and datagrams the host injected to the rx pipe (receive.c)
 *   crypt     the pool (workers.c, online CPUs - 2 by default): encrypts or
 *             decrypts any batch; the thread that finishes the oldest batch of
 *             a pipe releases it and the finished ones after it, in order:
 *             tx: ciphertext_out and the send; rx: counter check, timers,
 *             plaintext_in, the TUN write.  With 0 workers tx and rx do it all.
 *   handshake consumes queued handshake messages, answers with cookies under load
 *   timers    drives every per-peer timer, and sends what configuration asked
 *             for (a keepalive when persistent keepalive is set) (timers.c)
 * Other threads (UAPI, the plugin host's) never run hooks: what they cause
 * is queued for one of the threads above.
 *
 * Lock order, outermost first.  Never take one while holding a later one:
 *
 *   dev->lock      rwlock, the configuration: identity, peer list and hash,
 *                  allowed-IPs, socket settings.  Readers hold it only for
 *                  a lookup (taking peer references), never across a batch,
 *                  a hook or a send.  UAPI set holds it for writing.
 *   peer->lock     one peer's handshake, keypairs, endpoint, timers, staged
 *                  packets and notes.
 *   leaves         dev->index.lock, kp->replay_lock, dev->hs_lock,
 *                  dev->inject_lock, dev->timer_lock, dev->ratelimiter.lock,
 *                  dev->cookie_checker.lock, dev->notes_lock, the crypto
 *                  pool's lock (workers.c; never held across a batch's
 *                  crypt or release): nothing is taken inside them.
 *
 * Plugin hooks (ts_hooks_run/active) are called only with NONE of these
 * held (ts_engine_locks_held counts the first two).  Events
 * (ts_hooks_event) only queue and may be emitted under any lock, but are
 * emitted after unlocking where that is natural (ts_peer_news).  No engine
 * lock is ever held across a grace-period wait, and the engine never waits
 * for one.
 */
#ifndef TS_DEVICE_H
#define TS_DEVICE_H

#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "allowedips.h"
#include "config.h"
#include "cookie.h"
#include "endpoint.h"
#include "index.h"
#include "noise.h"
#include "peer.h"
#include "ratelimiter.h"
#include "seam.h"
#include "socket.h"
#include "tun.h"
#include "workers.h"

#define TS_PEER_HASH_BUCKETS 256
#define TS_BATCH	     64
/* Room in front of a plaintext packet for the data header, plus slack for plugins. */
#define TS_HEADROOM   128
#define TS_TAILROOM   128
#define TS_MAX_PACKET 65535

/* Cookie replies waiting for the handshake worker. */
#define TS_COOKIE_QUEUE 1024

/* Datagrams the host injects (inject_datagram), waiting for the rx thread. */
#define TS_INJECT_MAX 1024

struct ts_inject_item {
	union ts_endpoint src;
	size_t len;
	uint8_t data[];
};

struct ts_hs_item {
	union ts_endpoint src;
	struct ts_endpoint_src local;
	uint16_t len;
	uint8_t data[sizeof(struct message_handshake_initiation)];
};

struct ts_device {
	char ifname[IFNAMSIZ];
	int mtu;
	/* The TUN and the UDP sockets (real or fake), owned by the device. */
	const struct ts_tun_ops *tun;
	void *tun_ctx;
	const struct ts_bind_ops *bind;
	void *bind_ctx;
	int wake_fd;	/* eventfd: wakes the rx thread after a socket change, and on stop */
	int tx_wake_fd; /* eventfd: wakes the tx thread on stop (only: rx's wake-ups are not its) */
	int stop_fd;	/* eventfd: signalled when the device must go (TUN gone) */

	pthread_rwlock_t lock;
	struct noise_identity identity; /* dev->lock */
	struct cookie_checker cookie_checker;
	struct allowedips allowedips; /* dev->lock */
	struct ts_peer *peers;	      /* dev->lock; configuration order */
	struct ts_peer *peer_hash[TS_PEER_HASH_BUCKETS];
	size_t n_peers;
	uint64_t peer_seq;
	_Atomic uint16_t listen_port; /* written under dev->lock (write) */
	uint32_t fwmark;	      /* dev->lock */
	struct ts_index_table index;

	/*
	 * Handshake queue: rx produces, the handshake thread consumes.  rx
	 * checks mac1, decides whether we are under load, answers with cookie
	 * replies and applies the rate limiters before anything is queued, so
	 * the queue only holds what deserves Diffie-Hellman (receive.c).
	 */
	pthread_mutex_t hs_lock;
	pthread_cond_t hs_cond; /* CLOCK_MONOTONIC: the worker's budget sleeps on it */
	struct ts_hs_item *hs_queue;
	unsigned hs_head;		     /* hs_lock */
	atomic_uint hs_count;		     /* written under hs_lock, read anywhere */
	_Atomic uint64_t last_under_load_ns; /* 0: never */
	uint64_t hs_window_ns;		     /* rx thread only: arrivals counted since */
	unsigned hs_window_count;	     /* rx thread only */
	/*
	 * Cookie replies to make and send, admitted by rx (hs_lock): the
	 * worker takes these first, so a queue full of Diffie-Hellman work
	 * never keeps a legitimate peer from its cookie.  It answers up to
	 * TS_BATCH of them where they lie, and only then drops them from
	 * cookie_count (receive.c): rx never writes over one in flight.
	 */
	struct ts_hs_item *cookie_queue;
	unsigned cookie_head;		      /* hs_lock */
	atomic_uint cookie_count;	      /* written under hs_lock, read anywhere */
	struct ts_ratelimiter ratelimiter;    /* mac2-proven handshakes, per source */
	struct ts_ratelimiter cookie_limiter; /* cookie replies, per source */

	/* Injected datagrams: any thread produces, rx consumes (woken by wake_fd). */
	pthread_mutex_t inject_lock;
	struct ts_inject_item *inject_queue[TS_INJECT_MAX];
	unsigned inject_head, inject_count;

	/* The timer thread sleeps on timer_cond; a kick makes it look at once. */
	pthread_mutex_t timer_lock;
	pthread_cond_t timer_cond;
	bool timer_kick; /* timer_lock */

	/* The plugin pipeline's hooks; set before the threads start, or NULL. */
	const struct ts_hook_table *hooks;
	pthread_mutex_t notes_lock;
	struct ts_note *notes; /* interface notes, TS_NOTES_MAX once one is set (notes_lock) */

	atomic_bool stopping;
	bool port_released; /* ts_device_release_port: no UDP port any more (dev->lock) */
	pthread_t tx_thread, rx_thread, hs_thread, timer_thread;
	bool threads_started;
	/* The crypto workers (workers.h), from ts_device_start to ts_device_stop. */
	struct ts_pool *pool;
	int n_workers; /* -1: the default, online CPUs - 2 (ts_device_set_workers) */

	/* Counters for status and tests (relaxed). */
	atomic_uint_fast64_t rx_invalid, rx_bad_mac, rx_replayed, rx_bad_source, rx_no_peer,
	    tx_no_route, hs_dropped, hs_ratelimited, inject_dropped, hs_cookies_sent,
	    hs_cookies_limited, hs_throttled_ns;
	/* Multicast and link-local packets no peer takes (the kernel's own IPv6 chatter). */
	atomic_uint_fast64_t tx_local_unrouted;
};

/* Create the TUN and sockets (listen_port 0 = random until configured). */
int ts_device_create(struct ts_device **out, const char *ifname, int mtu, char *err, size_t errlen);
/*
 * The same over the given TUN and bind (tests, fakes).  The device owns both
 * contexts from here on, whether it succeeds or not: it closes them.
 */
int ts_device_create_with_io(struct ts_device **out, const char *ifname, int mtu,
			     const struct ts_tun_ops *tun, void *tun_ctx,
			     const struct ts_bind_ops *bind, void *bind_ctx, char *err,
			     size_t errlen);
/* The pipeline's hooks (NULL: none).  Before ts_device_start; the table outlives the device. */
void ts_device_set_hooks(struct ts_device *dev, const struct ts_hook_table *hooks);
/* The functions the plugin host calls (base/seam.h), bound to dev. */
void ts_device_engine_table(struct ts_device *dev, struct ts_engine_table *out);
/*
 * How many crypto worker threads ts_device_start runs: n > 0 that many, 0
 * none (each batch is crypted on the tx or rx thread that read it), -1 one
 * per online CPU but two (the default, since tx and rx crypt too;
 * TINESCALE_WORKERS in the environment overrides the default).  Before
 * ts_device_start.
 */
void ts_device_set_workers(struct ts_device *dev, int n);
int ts_device_start(struct ts_device *dev);
void ts_device_stop(struct ts_device *dev);
/*
 * Give the UDP port up now, while the threads may still run (a daemon whose
 * interface was deleted, so that a successor can bind it at once): sends
 * fail from here on and a listen-port change is refused with -ESHUTDOWN.
 */
void ts_device_release_port(struct ts_device *dev);
void ts_device_destroy(struct ts_device *dev);

/* Apply a parsed configuration atomically: 0, or -errno with nothing changed. */
int ts_device_apply(struct ts_device *dev, const struct ts_config *cfg, char *err, size_t errlen);
/* Fill a configuration from the running state (for UAPI get). */
int ts_device_snapshot(struct ts_device *dev, struct ts_config *out);

/* The configuration lock for reading (not re-entrant: hold it briefly). */
void ts_device_read_lock(struct ts_device *dev);
void ts_device_read_unlock(struct ts_device *dev);

/* Device lock held: the peer with that key, or NULL (no reference taken). */
struct ts_peer *ts_device_lookup_peer(struct ts_device *dev, const uint8_t public_key[32]);
/* No lock held: the peer with that key with a reference taken, or NULL. */
struct ts_peer *ts_device_get_peer(struct ts_device *dev, const uint8_t public_key[32]);

/* The hooks, as the engine calls them (device.c).  run/active: no engine lock held. */
bool ts_hooks_active(struct ts_device *dev, enum ts_hook_point point);
bool ts_hooks_run(struct ts_device *dev, enum ts_hook_point point, struct ts_hook_pkt *p);
/* Queue an event for the plugins (never runs plugin code; any lock may be held). */
void ts_hooks_event(struct ts_device *dev, enum ts_event_type type, const uint8_t *public_key,
		    const union ts_endpoint *ep, const struct ts_handshake_secrets *secrets);
bool ts_hooks_want_secrets(struct ts_device *dev);

/* Engine threads: register as an RCU reader (first action); false if that failed. */
bool ts_engine_thread_begin(struct ts_device *dev, const char *name);
void ts_engine_thread_end(void);
/* Wake the timer thread now: a peer has pending actions (see ts_peer_timers.pending). */
void ts_timers_kick(struct ts_device *dev);

/* The services of base/seam.h's ts_engine_table, also called directly by the daemon. */
int ts_device_send_datagram(struct ts_device *dev, const union ts_endpoint *dst, const uint8_t *buf,
			    size_t len);
int ts_device_inject_datagram(struct ts_device *dev, const union ts_endpoint *src,
			      const uint8_t *buf, size_t len);
int ts_device_peer_info(struct ts_device *dev, const uint8_t public_key[32],
			struct ts_peer_info *out);
int ts_device_peer_foreach(struct ts_device *dev,
			   int (*cb)(void *ctx, const struct ts_peer_info *peer), void *ctx);
int ts_device_peer_set_endpoint(struct ts_device *dev, const uint8_t public_key[32],
				const union ts_endpoint *ep);
int ts_device_peer_by_index(struct ts_device *dev, uint32_t local_index,
			    uint8_t public_key_out[32]);
uint16_t ts_device_listen_port(struct ts_device *dev);
const char *ts_device_ifname(struct ts_device *dev);
bool ts_device_public_key(struct ts_device *dev, uint8_t out[32]);
int ts_device_note_set(struct ts_device *dev, const uint8_t *public_key, const char *key,
		       const char *value);
int ts_device_note_get(struct ts_device *dev, const uint8_t *public_key, const char *key, char *buf,
		       size_t len);
int ts_device_static_dh(struct ts_device *dev, const uint8_t remote_public[32], uint8_t out[32]);
void ts_device_format_status(struct ts_device *dev, FILE *out);
/* The rx thread: the oldest injected datagram (the caller frees it), or NULL. */
struct ts_inject_item *ts_device_inject_take(struct ts_device *dev);

/* send.c: every function here is called with no engine lock held. */
void *ts_tx_thread(void *arg);
/*
 * Encrypt and send a packet to peer, or stage it and start a handshake.
 * buf has headroom (at least sizeof(struct message_data)) before the
 * plaintext and TS_TAILROOM after it.
 */
void ts_send_packet(struct ts_peer *peer, uint8_t *buf, size_t headroom, size_t len);
void ts_send_staged(struct ts_peer *peer);
void ts_send_keepalive(struct ts_peer *peer);
/* is_retry: a timer's retransmission, which bypasses the REKEY_TIMEOUT rate limit. */
void ts_send_handshake_initiation(struct ts_peer *peer, bool is_retry);
/* Send one datagram through the ciphertext_out hooks (peer may be NULL); TS_TAILROOM after it. */
int ts_send_datagram_hooked(struct ts_device *dev, struct ts_peer *peer,
			    const union ts_endpoint *dst, const struct ts_endpoint_src *src,
			    uint8_t *buf, size_t headroom, size_t len);
/*
 * Send n datagrams that belong to no peer (cookie replies) through the
 * ciphertext_out hooks, then those the hooks let through in one call to the
 * bind.  Each d[i].data has headroom bytes of room before it and tailroom
 * after it; d[i].peer and d[i].local say where it goes and from where.  The
 * array is compacted to what went to the bind: the count is returned, each
 * with its d[i].result.
 */
unsigned ts_send_datagrams_hooked(struct ts_device *dev, struct ts_dgram *d, unsigned n,
				  size_t headroom, size_t tailroom);
/*
 * Send from src (NULL or family 0: routing chooses).  Returns 0, 1 when src
 * no longer works and the datagram went out without it, or -errno.
 */
int ts_udp_sendto(struct ts_device *dev, const union ts_endpoint *dst,
		  const struct ts_endpoint_src *src, const uint8_t *buf, size_t len);
/* Peer lock NOT held: forget a source address that stopped working. */
void ts_peer_clear_src(struct ts_peer *peer);

/* receive.c */
void *ts_rx_thread(void *arg);
void *ts_handshake_thread(void *arg);
/*
 * Tests and fuzzing, with the device's threads never started: process what
 * ts_receive_datagram queued for the handshake thread, here and now.
 */
void ts_handshake_process_queued(struct ts_device *dev);
/*
 * Process one datagram as received from src (after the ciphertext_in hooks),
 * with TS_TAILROOM after it in buf.  No lock held.
 */
void ts_receive_datagram(struct ts_device *dev, const union ts_endpoint *src,
			 const struct ts_endpoint_src *local, uint8_t *buf, size_t headroom,
			 size_t len);

#endif
