/* SPDX-License-Identifier: MIT */
/*
 * The device: one TUN interface, its UDP sockets, its identity and peers,
 * and the threads that move packets.
 *
 * Threads:
 *   tx        reads the TUN, picks the peer by allowed-IPs, encrypts, sends (send.c)
 *   rx        receives UDP, decrypts data, writes the TUN; queues handshakes (receive.c)
 *   handshake consumes queued handshake messages, answers with cookies under load
 *   timers    drives every per-peer timer (timers.c)
 *   uapi      serves /var/run/wireguard/IFNAME.sock (uapi.c)
 *
 * Locking, outermost first:
 *   dev->lock (rwlock, writer-preferring): the configuration -- identity,
 *     peer list, allowed-IPs, socket settings.  Data-path threads hold it
 *     for reading over a whole batch; UAPI set holds it for writing.  It may
 *     be re-entered for reading by the same thread (ts_device_read_lock).
 *   peer->lock: one peer's handshake, keypairs, endpoint and timers.
 *   dev->index.lock, kp->replay_lock, dev->hs_lock: leaves.
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
#include "seam.h"

#define TS_PEER_HASH_BUCKETS 256
#define TS_BATCH	     64
/* Room in front of a plaintext packet for the data header, plus slack for plugins. */
#define TS_HEADROOM   128
#define TS_TAILROOM   128
#define TS_MAX_PACKET 65535

struct ts_hs_item {
	union ts_endpoint src;
	struct ts_endpoint_src local;
	uint16_t len;
	uint8_t data[sizeof(struct message_handshake_initiation)];
};

struct ts_device {
	char ifname[IFNAMSIZ];
	int tun_fd;
	int mtu;
	/*
	 * The UDP sockets.  Their fd numbers never change after start: a new
	 * listen port is bound to a fresh socket that is dup2()ed over the old
	 * one, so no thread ever sees a closed fd.  -1 if that family is absent.
	 */
	atomic_int udp4, udp6;
	int wake_fd; /* eventfd: wakes the rx thread after a socket change, and on stop */
	int stop_fd; /* eventfd: signalled when the device must go (TUN gone) */

	pthread_rwlock_t lock;
	struct noise_identity identity; /* dev->lock */
	struct cookie_checker cookie_checker;
	struct allowedips allowedips; /* dev->lock */
	struct ts_peer *peers;	      /* dev->lock; configuration order */
	struct ts_peer *peer_hash[TS_PEER_HASH_BUCKETS];
	size_t n_peers;
	uint64_t peer_seq;
	uint16_t listen_port; /* dev->lock */
	uint32_t fwmark;      /* dev->lock */
	struct ts_index_table index;

	/* Handshake queue: rx produces, the handshake thread consumes. */
	pthread_mutex_t hs_lock;
	pthread_cond_t hs_cond;
	struct ts_hs_item *hs_queue;
	unsigned hs_head, hs_count;
	uint64_t last_under_load_ns; /* hs_lock */

	struct ts_hook_table hooks; /* set before the threads start; .run NULL = none */
	pthread_mutex_t notes_lock;
	struct ts_note notes[TS_NOTES_MAX]; /* interface notes (notes_lock) */

	atomic_bool stopping;
	pthread_t tx_thread, rx_thread, hs_thread, timer_thread;
	bool threads_started;

	/* Counters for status and tests (relaxed). */
	atomic_uint_fast64_t rx_invalid, rx_bad_mac, rx_replayed, rx_bad_source, rx_no_peer,
	    tx_no_route, hs_dropped;
};

/* Create the TUN and sockets (listen_port 0 = random until configured). */
int ts_device_create(struct ts_device **out, const char *ifname, int mtu, char *err, size_t errlen);
int ts_device_start(struct ts_device *dev);
void ts_device_stop(struct ts_device *dev);
void ts_device_destroy(struct ts_device *dev);

/* Apply a parsed configuration atomically: 0, or -errno with nothing changed. */
int ts_device_apply(struct ts_device *dev, const struct ts_config *cfg, char *err, size_t errlen);
/* Fill a configuration from the running state (for UAPI get). */
int ts_device_snapshot(struct ts_device *dev, struct ts_config *out);

/* Re-entrant read lock for data-path code that may call back into the device. */
void ts_device_read_lock(struct ts_device *dev);
void ts_device_read_unlock(struct ts_device *dev);

struct ts_peer *ts_device_lookup_peer(struct ts_device *dev, const uint8_t public_key[32]);

/* send.c */
void *ts_tx_thread(void *arg);
/* Peer lock NOT held.  Encrypt and send a packet to peer, or stage it and start a handshake. */
void ts_send_packet(struct ts_peer *peer, uint8_t *buf, size_t headroom, size_t len);
void ts_send_staged(struct ts_peer *peer);
void ts_send_keepalive(struct ts_peer *peer);
/* is_retry: a timer's retransmission, which bypasses the REKEY_TIMEOUT rate limit. */
void ts_send_handshake_initiation(struct ts_peer *peer, bool is_retry);
/* Send one datagram through the ciphertext_out hooks. */
int ts_send_datagram_hooked(struct ts_device *dev, struct ts_peer *peer,
			    const union ts_endpoint *dst, const struct ts_endpoint_src *src,
			    uint8_t *buf, size_t headroom, size_t len);
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
/* Process one datagram as received from src (after the ciphertext_in hooks). */
void ts_receive_datagram(struct ts_device *dev, const union ts_endpoint *src,
			 const struct ts_endpoint_src *local, uint8_t *buf, size_t headroom,
			 size_t len);

#endif
