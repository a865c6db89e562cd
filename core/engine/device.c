// SPDX-License-Identifier: MIT
/*
 * The device: creation and teardown, the configuration lock, applying a
 * configuration atomically (UAPI set, --ipc, --config) and reading it back
 * (UAPI get), and the services the plugin host gets (hostapi.h).
 */
#include "device.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "crypto.h"
#include "hostapi.h"
#include "key.h"
#include "log.h"
#include "socket.h"
#include "timers.h"
#include "tun.h"

/* How deep this thread is inside the device lock (read or write). */
static _Thread_local int lock_depth;

void ts_device_read_lock(struct ts_device *dev)
{
	if (lock_depth++ == 0)
		pthread_rwlock_rdlock(&dev->lock);
}

void ts_device_read_unlock(struct ts_device *dev)
{
	if (--lock_depth == 0)
		pthread_rwlock_unlock(&dev->lock);
}

static void write_lock(struct ts_device *dev)
{
	pthread_rwlock_wrlock(&dev->lock);
	lock_depth++;
}

static void write_unlock(struct ts_device *dev)
{
	lock_depth--;
	pthread_rwlock_unlock(&dev->lock);
}

static unsigned peer_bucket(const uint8_t key[32])
{
	/* Keys of configured peers are what the user gave us; any byte will do. */
	return key[0] ^ key[7] ^ key[13] ^ key[31];
}

struct ts_peer *ts_device_lookup_peer(struct ts_device *dev, const uint8_t public_key[32])
{
	struct ts_peer *p;

	for (p = dev->peer_hash[peer_bucket(public_key) % TS_PEER_HASH_BUCKETS]; p; p = p->hnext)
		if (sodium_memcmp(p->public_key, public_key, 32) == 0)
			return p;
	return NULL;
}

int ts_device_create(struct ts_device **out, const char *ifname, int mtu, char *err, size_t errlen)
{
	struct ts_device *dev = calloc(1, sizeof(*dev));
	pthread_rwlockattr_t attr;
	int ret, fd4 = -1, fd6 = -1;
	uint16_t port = 0;

	if (!dev) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	dev->tun_fd = dev->wake_fd = dev->stop_fd = -1;
	atomic_init(&dev->udp4, -1);
	atomic_init(&dev->udp6, -1);
	snprintf(dev->ifname, sizeof(dev->ifname), "%s", ifname);
	pthread_rwlockattr_init(&attr);
	/* Writers (UAPI set) must not starve behind a steady stream of batches. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&dev->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&dev->hs_lock, NULL);
	pthread_mutex_init(&dev->notes_lock, NULL);
	pthread_cond_init(&dev->hs_cond, NULL);
	cookie_checker_init(&dev->cookie_checker);
	allowedips_init(&dev->allowedips);
	ts_index_init(&dev->index);

	dev->hs_queue = calloc(MAX_QUEUED_INCOMING_HANDSHAKES, sizeof(*dev->hs_queue));
	dev->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	dev->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!dev->hs_queue || dev->wake_fd < 0 || dev->stop_fd < 0) {
		snprintf(err, errlen, "cannot allocate device state: %s", strerror(errno));
		ret = -ENOMEM;
		goto fail;
	}

	ret = ts_tun_open(dev->ifname);
	if (ret < 0) {
		snprintf(err, errlen, "cannot create TUN interface %s: %s%s", ifname,
			 strerror(-ret),
			 ret == -ENOENT	 ? " (is /dev/net/tun there? modprobe tun)"
			 : ret == -EPERM ? " (needs root or CAP_NET_ADMIN)"
			 : ret == -EBUSY ? " (an interface of that name is in use)"
					 : "");
		goto fail;
	}
	dev->tun_fd = ret;
	dev->mtu = mtu;
	ret = ts_tun_set_mtu(dev->ifname, mtu);
	if (ret < 0) {
		snprintf(err, errlen, "cannot set MTU %d on %s: %s", mtu, dev->ifname,
			 strerror(-ret));
		goto fail;
	}
	ret = ts_udp_bind_pair(&port, 0, &fd4, &fd6);
	if (ret < 0) {
		snprintf(err, errlen, "cannot open UDP socket: %s", strerror(-ret));
		goto fail;
	}
	atomic_store(&dev->udp4, fd4);
	atomic_store(&dev->udp6, fd6);
	dev->listen_port = port;
	*out = dev;
	return 0;
fail:
	ts_device_destroy(dev);
	return ret;
}

int ts_device_start(struct ts_device *dev)
{
	int ret;

	if ((ret = pthread_create(&dev->rx_thread, NULL, ts_rx_thread, dev)) ||
	    (ret = pthread_create(&dev->tx_thread, NULL, ts_tx_thread, dev)) ||
	    (ret = pthread_create(&dev->hs_thread, NULL, ts_handshake_thread, dev)) ||
	    (ret = pthread_create(&dev->timer_thread, NULL, ts_timer_thread, dev))) {
		/* Partial start is not worth unwinding: the caller exits. */
		ts_err("cannot start threads: %s", strerror(ret));
		return -ret;
	}
	dev->threads_started = true;
	return 0;
}

static void wake(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		ts_warn("eventfd write: %s", strerror(errno));
}

void ts_device_stop(struct ts_device *dev)
{
	if (!dev->threads_started)
		return;
	atomic_store(&dev->stopping, true);
	wake(dev->wake_fd);
	pthread_mutex_lock(&dev->hs_lock);
	pthread_cond_broadcast(&dev->hs_cond);
	pthread_mutex_unlock(&dev->hs_lock);
	pthread_join(dev->rx_thread, NULL);
	/* rx may have consumed the wake-up meant for tx: wake again. */
	wake(dev->wake_fd);
	pthread_join(dev->tx_thread, NULL);
	pthread_join(dev->hs_thread, NULL);
	pthread_join(dev->timer_thread, NULL);
	dev->threads_started = false;
}

static void unlink_peer(struct ts_device *dev, struct ts_peer *peer)
{
	struct ts_peer **pp;

	for (pp = &dev->peers; *pp; pp = &(*pp)->next)
		if (*pp == peer) {
			*pp = peer->next;
			break;
		}
	for (pp = &dev->peer_hash[peer_bucket(peer->public_key) % TS_PEER_HASH_BUCKETS]; *pp;
	     pp = &(*pp)->hnext)
		if (*pp == peer) {
			*pp = peer->hnext;
			break;
		}
	allowedips_remove_by_peer(&dev->allowedips, peer);
	dev->n_peers--;
}

/* Device write lock held. */
static void remove_peer(struct ts_device *dev, struct ts_peer *peer)
{
	struct ts_peer_news news = {0};

	unlink_peer(dev, peer);
	pthread_mutex_lock(&peer->lock);
	ts_peer_note_down(peer, &news);
	pthread_mutex_unlock(&peer->lock);
	ts_peer_news_emit(peer, &news);
	ts_peer_free(peer);
}

static void add_peer(struct ts_device *dev, struct ts_peer *peer)
{
	struct ts_peer **pp = &dev->peers;
	unsigned b = peer_bucket(peer->public_key) % TS_PEER_HASH_BUCKETS;

	while (*pp)
		pp = &(*pp)->next;
	*pp = peer;
	peer->next = NULL;
	peer->hnext = dev->peer_hash[b];
	dev->peer_hash[b] = peer;
	dev->n_peers++;
}

void ts_device_destroy(struct ts_device *dev)
{
	int fd;

	if (!dev)
		return;
	ts_device_stop(dev);
	while (dev->peers)
		remove_peer(dev, dev->peers);
	allowedips_free(&dev->allowedips);
	ts_index_destroy(&dev->index);
	cookie_checker_destroy(&dev->cookie_checker);
	if (dev->tun_fd >= 0)
		close(dev->tun_fd);
	if ((fd = atomic_load(&dev->udp4)) >= 0)
		close(fd);
	if ((fd = atomic_load(&dev->udp6)) >= 0)
		close(fd);
	if (dev->wake_fd >= 0)
		close(dev->wake_fd);
	if (dev->stop_fd >= 0)
		close(dev->stop_fd);
	free(dev->hs_queue);
	pthread_rwlock_destroy(&dev->lock);
	pthread_mutex_destroy(&dev->hs_lock);
	pthread_mutex_destroy(&dev->notes_lock);
	pthread_cond_destroy(&dev->hs_cond);
	sodium_memzero(&dev->identity, sizeof(dev->identity));
	free(dev);
}

/* Device write lock held: our private key changed (or went away). */
static void set_identity(struct ts_device *dev, const uint8_t private_key[32])
{
	struct ts_peer *peer, *next;
	struct noise_identity id;

	noise_identity_set(&id, private_key);
	if (dev->identity.has_identity == id.has_identity &&
	    sodium_memcmp(dev->identity.static_private, id.static_private, 32) == 0) {
		sodium_memzero(&id, sizeof(id));
		return;
	}
	dev->identity = id;
	sodium_memzero(&id, sizeof(id));
	cookie_checker_precompute_keys(
	    &dev->cookie_checker, dev->identity.has_identity ? dev->identity.static_public : NULL);
	for (peer = dev->peers; peer; peer = next) {
		next = peer->next;
		/* A peer with our own public key makes no sense: drop it, as wg does. */
		if (dev->identity.has_identity &&
		    sodium_memcmp(peer->public_key, dev->identity.static_public, 32) == 0) {
			remove_peer(dev, peer);
			continue;
		}
		pthread_mutex_lock(&peer->lock);
		noise_handshake_precompute(&peer->handshake, &dev->identity);
		ts_peer_expire_current(peer);
		pthread_mutex_unlock(&peer->lock);
	}
}

static int apply_allowedips(struct ts_device *dev, struct ts_peer *peer,
			    const struct ts_peer_config *pc)
{
	int ret = 0;

	if (pc->flags & TS_PEER_REPLACE_ALLOWEDIPS)
		allowedips_remove_by_peer(&dev->allowedips, peer);
	for (size_t i = 0; i < pc->n_allowedips; i++) {
		const struct ts_allowedip *a = &pc->allowedips[i];

		if (a->remove)
			allowedips_remove(&dev->allowedips, a->family, a->addr, a->cidr, peer);
		else if ((ret = allowedips_insert(&dev->allowedips, a->family, a->addr, a->cidr,
						  peer)) < 0)
			break;
	}
	return ret;
}

int ts_device_apply(struct ts_device *dev, const struct ts_config *cfg, char *err, size_t errlen)
{
	struct ts_peer **fresh = NULL, *keepalive_now[64];
	size_t n_keepalive = 0;
	int fd4 = -1, fd6 = -1, ret = 0;
	uint16_t port = 0;
	bool rebind = false;

	/* Everything that can fail is done before anything changes. */
	fresh = calloc(cfg->n_peers ? cfg->n_peers : 1, sizeof(*fresh));
	if (!fresh)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct ts_peer_config *pc = &cfg->peers[i];

		if (!(pc->flags & TS_PEER_HAS_PUBLIC_KEY)) {
			snprintf(err, errlen, "peer without public key");
			ret = -EINVAL;
			goto out;
		}
		if (pc->flags & (TS_PEER_REMOVE_ME | TS_PEER_UPDATE_ONLY))
			continue;
		fresh[i] = ts_peer_create(dev, pc->public_key);
		if (!fresh[i]) {
			ret = -ENOMEM;
			goto out;
		}
	}
	write_lock(dev);
	if ((cfg->flags & TS_DEV_HAS_LISTEN_PORT) && cfg->listen_port != dev->listen_port) {
		port = cfg->listen_port;
		ret = ts_udp_bind_pair(&port, dev->fwmark, &fd4, &fd6);
		if (ret < 0) {
			write_unlock(dev);
			snprintf(err, errlen, "cannot listen on port %u: %s", cfg->listen_port,
				 strerror(-ret));
			goto out;
		}
		rebind = true;
	}
	/* From here on nothing fails but allocation in the trie. */
	if (rebind) {
		int old4 = atomic_load(&dev->udp4), old6 = atomic_load(&dev->udp6);

		/* dup2 keeps the fd numbers the threads use; the old sockets go. */
		if (old4 >= 0 && fd4 >= 0) {
			dup2(fd4, old4);
			close(fd4);
		} else if (fd4 >= 0) {
			atomic_store(&dev->udp4, fd4);
		}
		if (old6 >= 0 && fd6 >= 0) {
			dup2(fd6, old6);
			close(fd6);
		} else if (fd6 >= 0) {
			atomic_store(&dev->udp6, fd6);
		}
		dev->listen_port = port;
		wake(dev->wake_fd);
		ts_info("listening on UDP port %u", port);
	}
	if (cfg->flags & TS_DEV_HAS_FWMARK && cfg->fwmark != dev->fwmark) {
		dev->fwmark = cfg->fwmark;
		ts_udp_set_fwmark(atomic_load(&dev->udp4), dev->fwmark);
		ts_udp_set_fwmark(atomic_load(&dev->udp6), dev->fwmark);
	}
	if (cfg->flags & TS_DEV_REPLACE_PEERS)
		while (dev->peers)
			remove_peer(dev, dev->peers);
	if (cfg->flags & TS_DEV_HAS_PRIVATE_KEY)
		set_identity(dev, cfg->private_key);

	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct ts_peer_config *pc = &cfg->peers[i];
		struct ts_peer *peer = ts_device_lookup_peer(dev, pc->public_key);
		bool keepalive_changed = false;

		if (pc->flags & TS_PEER_REMOVE_ME) {
			if (peer)
				remove_peer(dev, peer);
			continue;
		}
		if (!peer) {
			if (pc->flags & TS_PEER_UPDATE_ONLY)
				continue;
			if (dev->identity.has_identity &&
			    sodium_memcmp(pc->public_key, dev->identity.static_public, 32) == 0)
				continue; /* our own key: ignored, as wg does */
			peer = fresh[i];
			fresh[i] = NULL;
			add_peer(dev, peer);
			pthread_mutex_lock(&peer->lock);
			noise_handshake_precompute(&peer->handshake, &dev->identity);
			pthread_mutex_unlock(&peer->lock);
		}
		pthread_mutex_lock(&peer->lock);
		if (pc->flags & TS_PEER_HAS_PRESHARED_KEY)
			noise_handshake_set_psk(&peer->handshake, pc->preshared_key);
		if (pc->flags & TS_PEER_HAS_ENDPOINT) {
			peer->endpoint = pc->endpoint;
			peer->src.family = 0;
		}
		if ((pc->flags & TS_PEER_HAS_KEEPALIVE) &&
		    pc->persistent_keepalive != peer->persistent_keepalive) {
			peer->persistent_keepalive = pc->persistent_keepalive;
			keepalive_changed = pc->persistent_keepalive != 0;
			if (!pc->persistent_keepalive)
				peer->timers.persistent_keepalive = 0;
		}
		pthread_mutex_unlock(&peer->lock);
		ret = apply_allowedips(dev, peer, pc);
		if (ret < 0) {
			snprintf(err, errlen, "allowed IPs: %s", strerror(-ret));
			break;
		}
		/* A new keepalive interval starts now, as in the kernel. */
		if (keepalive_changed && n_keepalive < 64)
			keepalive_now[n_keepalive++] = peer;
	}
	for (size_t i = 0; i < n_keepalive; i++)
		ts_send_keepalive(keepalive_now[i]);
	write_unlock(dev);
out:
	for (size_t i = 0; i < cfg->n_peers; i++)
		if (fresh[i])
			ts_peer_free(fresh[i]);
	free(fresh);
	return ret;
}

static int collect_allowedip(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	struct ts_peer_config *pc = ctx;
	struct ts_allowedip a = {.family = family, .cidr = cidr};

	memcpy(a.addr, addr, family == AF_INET ? 4 : 16);
	return ts_peer_config_add_allowedip(pc, &a);
}

int ts_device_snapshot(struct ts_device *dev, struct ts_config *out)
{
	struct ts_peer *peer;
	int ret = 0;

	ts_config_init(out);
	ts_device_read_lock(dev);
	if (dev->identity.has_identity) {
		out->flags |= TS_DEV_HAS_PRIVATE_KEY;
		memcpy(out->private_key, dev->identity.static_private, 32);
	}
	out->flags |= TS_DEV_HAS_LISTEN_PORT;
	out->listen_port = dev->listen_port;
	if (dev->fwmark) {
		out->flags |= TS_DEV_HAS_FWMARK;
		out->fwmark = dev->fwmark;
	}
	for (peer = dev->peers; peer; peer = peer->next) {
		struct ts_peer_config *pc = ts_config_add_peer(out);

		if (!pc) {
			ret = -ENOMEM;
			break;
		}
		pc->flags |= TS_PEER_HAS_PUBLIC_KEY | TS_PEER_HAS_KEEPALIVE;
		memcpy(pc->public_key, peer->public_key, 32);
		pthread_mutex_lock(&peer->lock);
		if (!ts_key_is_zero(peer->handshake.preshared_key)) {
			pc->flags |= TS_PEER_HAS_PRESHARED_KEY;
			memcpy(pc->preshared_key, peer->handshake.preshared_key, 32);
		}
		if (ts_endpoint_is_set(&peer->endpoint)) {
			pc->flags |= TS_PEER_HAS_ENDPOINT;
			pc->endpoint = peer->endpoint;
		}
		pc->persistent_keepalive = peer->persistent_keepalive;
		pc->last_handshake_sec = (int64_t)(peer->last_handshake_real_ns / NSEC_PER_SEC);
		pc->last_handshake_nsec = (int64_t)(peer->last_handshake_real_ns % NSEC_PER_SEC);
		pthread_mutex_unlock(&peer->lock);
		pc->rx_bytes = atomic_load(&peer->rx_bytes);
		pc->tx_bytes = atomic_load(&peer->tx_bytes);
		pc->protocol_version = 1;
		ret = allowedips_walk_by_peer(&dev->allowedips, peer, collect_allowedip, pc);
		if (ret < 0)
			break;
	}
	ts_device_read_unlock(dev);
	if (ret < 0)
		ts_config_free(out);
	return ret;
}

/* --- hostapi.h ------------------------------------------------------- */

int ts_device_send_datagram(struct ts_device *dev, const union ts_endpoint *dst, const uint8_t *buf,
			    size_t len)
{
	int ret = ts_udp_sendto(dev, dst, NULL, buf, len);

	return ret < 0 ? ret : 0;
}

int ts_device_inject_datagram(struct ts_device *dev, const union ts_endpoint *src,
			      const uint8_t *buf, size_t len)
{
	static _Thread_local uint8_t copy[TS_HEADROOM + TS_MAX_PACKET + TS_TAILROOM];

	if (len > TS_MAX_PACKET)
		return -EMSGSIZE;
	memcpy(copy + TS_HEADROOM, buf, len);
	ts_device_read_lock(dev);
	ts_receive_datagram(dev, src, NULL, copy, TS_HEADROOM, len);
	ts_device_read_unlock(dev);
	return 0;
}

/* Device lock held. */
static void fill_info(struct ts_peer *peer, struct ts_peer_info *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->public_key, peer->public_key, 32);
	pthread_mutex_lock(&peer->lock);
	out->endpoint = peer->endpoint;
	out->last_handshake_ns = peer->last_handshake_real_ns;
	out->has_session =
	    peer->kp_current &&
	    atomic_load_explicit(&peer->kp_current->sending_valid, memory_order_relaxed);
	pthread_mutex_unlock(&peer->lock);
	out->rx_bytes = atomic_load(&peer->rx_bytes);
	out->tx_bytes = atomic_load(&peer->tx_bytes);
}

int ts_device_peer_info(struct ts_device *dev, const uint8_t public_key[32],
			struct ts_peer_info *out)
{
	struct ts_peer *peer;
	int ret = -ENOENT;

	ts_device_read_lock(dev);
	peer = ts_device_lookup_peer(dev, public_key);
	if (peer) {
		fill_info(peer, out);
		ret = 0;
	}
	ts_device_read_unlock(dev);
	return ret;
}

int ts_device_peer_foreach(struct ts_device *dev,
			   int (*cb)(void *ctx, const struct ts_peer_info *peer), void *ctx)
{
	struct ts_peer_info info;
	struct ts_peer *peer;
	int ret = 0;

	ts_device_read_lock(dev);
	for (peer = dev->peers; peer && !ret; peer = peer->next) {
		fill_info(peer, &info);
		ret = cb(ctx, &info);
	}
	ts_device_read_unlock(dev);
	return ret;
}

int ts_device_peer_set_endpoint(struct ts_device *dev, const uint8_t public_key[32],
				const union ts_endpoint *ep)
{
	struct ts_peer *peer;
	int ret = -ENOENT;

	if (!ts_endpoint_is_set(ep))
		return -EINVAL;
	ts_device_read_lock(dev);
	peer = ts_device_lookup_peer(dev, public_key);
	if (peer) {
		struct ts_peer_news news = {0};

		pthread_mutex_lock(&peer->lock);
		if (!ts_endpoint_equal(&peer->endpoint, ep)) {
			news.endpoint_changed = true;
			news.endpoint = *ep;
		}
		peer->endpoint = *ep;
		peer->src.family = 0;
		pthread_mutex_unlock(&peer->lock);
		ts_peer_news_emit(peer, &news);
		ret = 0;
	}
	ts_device_read_unlock(dev);
	return ret;
}

int ts_device_peer_by_index(struct ts_device *dev, uint32_t local_index, uint8_t public_key_out[32])
{
	struct ts_peer *peer;
	int ret = -ENOENT;

	ts_device_read_lock(dev);
	peer =
	    ts_index_lookup_peer(&dev->index, local_index, TS_INDEX_HANDSHAKE | TS_INDEX_KEYPAIR);
	if (peer) {
		memcpy(public_key_out, peer->public_key, 32);
		ret = 0;
	}
	ts_device_read_unlock(dev);
	return ret;
}

uint16_t ts_device_listen_port(struct ts_device *dev)
{
	uint16_t port;

	ts_device_read_lock(dev);
	port = dev->listen_port;
	ts_device_read_unlock(dev);
	return port;
}

const char *ts_device_ifname(struct ts_device *dev)
{
	return dev->ifname;
}

bool ts_device_public_key(struct ts_device *dev, uint8_t out[32])
{
	bool has;

	ts_device_read_lock(dev);
	has = dev->identity.has_identity;
	if (has)
		memcpy(out, dev->identity.static_public, 32);
	ts_device_read_unlock(dev);
	return has;
}

static bool note_key_ok(const char *key)
{
	size_t n = key ? strlen(key) : 0;

	if (n == 0 || n > TS_NOTE_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((key[i] >= 'a' && key[i] <= 'z') || (key[i] >= '0' && key[i] <= '9') ||
		      key[i] == '_' || key[i] == '-'))
			return false;
	return true;
}

static bool note_value_ok(const char *value)
{
	size_t n = strlen(value);

	if (n > TS_NOTE_VALUE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			return false;
	return true;
}

/* The notes array and its lock: the peer's, or the interface's. */
static struct ts_note *notes_of(struct ts_device *dev, const uint8_t *public_key,
				pthread_mutex_t **lock)
{
	struct ts_peer *peer;

	if (!public_key) {
		*lock = &dev->notes_lock;
		return dev->notes;
	}
	peer = ts_device_lookup_peer(dev, public_key);
	if (!peer)
		return NULL;
	*lock = &peer->lock;
	return peer->notes;
}

int ts_device_note_set(struct ts_device *dev, const uint8_t *public_key, const char *key,
		       const char *value)
{
	struct ts_note *notes, *free_slot = NULL;
	pthread_mutex_t *lock;
	int ret = -ENOSPC;

	if (!note_key_ok(key) || (value && !note_value_ok(value)))
		return -EINVAL;
	ts_device_read_lock(dev);
	notes = notes_of(dev, public_key, &lock);
	if (!notes) {
		ts_device_read_unlock(dev);
		return -ENOENT;
	}
	pthread_mutex_lock(lock);
	for (int i = 0; i < TS_NOTES_MAX; i++) {
		if (!notes[i].key[0]) {
			if (!free_slot)
				free_slot = &notes[i];
		} else if (strcmp(notes[i].key, key) == 0) {
			if (value)
				snprintf(notes[i].value, sizeof(notes[i].value), "%s", value);
			else
				memset(&notes[i], 0, sizeof(notes[i]));
			ret = 0;
			goto out;
		}
	}
	if (!value) {
		ret = 0;
	} else if (free_slot) {
		snprintf(free_slot->key, sizeof(free_slot->key), "%s", key);
		snprintf(free_slot->value, sizeof(free_slot->value), "%s", value);
		ret = 0;
	}
out:
	pthread_mutex_unlock(lock);
	ts_device_read_unlock(dev);
	return ret;
}

int ts_device_note_get(struct ts_device *dev, const uint8_t *public_key, const char *key, char *buf,
		       size_t len)
{
	struct ts_note *notes;
	pthread_mutex_t *lock;
	int ret = -ENOENT;

	if (!key || !buf || !len)
		return -EINVAL;
	ts_device_read_lock(dev);
	notes = notes_of(dev, public_key, &lock);
	if (notes) {
		pthread_mutex_lock(lock);
		for (int i = 0; i < TS_NOTES_MAX; i++) {
			if (notes[i].key[0] && strcmp(notes[i].key, key) == 0) {
				snprintf(buf, len, "%s", notes[i].value);
				ret = 0;
				break;
			}
		}
		pthread_mutex_unlock(lock);
	}
	ts_device_read_unlock(dev);
	return ret;
}

int ts_device_static_dh(struct ts_device *dev, const uint8_t remote_public[32], uint8_t out[32])
{
	int ret = 0;

	ts_device_read_lock(dev);
	if (!dev->identity.has_identity)
		ret = -ENOKEY;
	else if (!ts_x25519(out, dev->identity.static_private, remote_public))
		ret = -EINVAL;
	ts_device_read_unlock(dev);
	return ret;
}

/* Lock of notes held. */
static void print_notes(FILE *out, const struct ts_note *notes)
{
	for (int i = 0; i < TS_NOTES_MAX; i++)
		if (notes[i].key[0])
			fprintf(out, "  %s: %s\n", notes[i].key, notes[i].value);
}

void ts_device_format_status(struct ts_device *dev, FILE *out)
{
	char key[TS_KEY_BASE64_LEN], ep[TS_ENDPOINT_STRLEN];
	struct ts_peer *peer;
	uint64_t now_real;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	now_real = (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
	ts_device_read_lock(dev);
	fprintf(out, "interface: %s\n", dev->ifname);
	if (dev->identity.has_identity) {
		ts_key_to_base64(key, dev->identity.static_public);
		fprintf(out, "  public key: %s\n", key);
	}
	fprintf(out, "  listening port: %u\n", dev->listen_port);
	pthread_mutex_lock(&dev->notes_lock);
	print_notes(out, dev->notes);
	pthread_mutex_unlock(&dev->notes_lock);
	fprintf(out,
		"  dropped: invalid %llu, bad mac %llu, replayed %llu, bad source %llu, "
		"no route %llu, handshake queue %llu\n",
		(unsigned long long)atomic_load(&dev->rx_invalid),
		(unsigned long long)atomic_load(&dev->rx_bad_mac),
		(unsigned long long)atomic_load(&dev->rx_replayed),
		(unsigned long long)atomic_load(&dev->rx_bad_source),
		(unsigned long long)atomic_load(&dev->tx_no_route),
		(unsigned long long)atomic_load(&dev->hs_dropped));
	for (peer = dev->peers; peer; peer = peer->next) {
		struct ts_note notes[TS_NOTES_MAX];
		uint64_t hs;

		ts_key_to_base64(key, peer->public_key);
		pthread_mutex_lock(&peer->lock);
		ts_endpoint_str(&peer->endpoint, ep);
		hs = peer->last_handshake_real_ns;
		memcpy(notes, peer->notes, sizeof(notes));
		pthread_mutex_unlock(&peer->lock);
		fprintf(out, "peer: %s\n  endpoint: %s\n", key, ep);
		if (hs)
			fprintf(out, "  latest handshake: %llu seconds ago\n",
				(unsigned long long)((now_real - hs) / NSEC_PER_SEC));
		else
			fprintf(out, "  latest handshake: never\n");
		fprintf(out, "  transfer: %llu B received, %llu B sent\n",
			(unsigned long long)atomic_load(&peer->rx_bytes),
			(unsigned long long)atomic_load(&peer->tx_bytes));
		print_notes(out, notes);
	}
	ts_device_read_unlock(dev);
}

/* The functions above, with dev as ctx, for the plugin host (base/seam.h). */
static int et_send_datagram(void *ctx, const union ts_endpoint *dst, const uint8_t *buf, size_t len)
{
	return ts_device_send_datagram(ctx, dst, buf, len);
}

static int et_inject_datagram(void *ctx, const union ts_endpoint *src, const uint8_t *buf,
			      size_t len)
{
	return ts_device_inject_datagram(ctx, src, buf, len);
}

static int et_peer_info(void *ctx, const uint8_t public_key[32], struct ts_peer_info *out)
{
	return ts_device_peer_info(ctx, public_key, out);
}

static int et_peer_foreach(void *ctx, int (*cb)(void *cb_ctx, const struct ts_peer_info *peer),
			   void *cb_ctx)
{
	return ts_device_peer_foreach(ctx, cb, cb_ctx);
}

static int et_peer_set_endpoint(void *ctx, const uint8_t public_key[32],
				const union ts_endpoint *ep)
{
	return ts_device_peer_set_endpoint(ctx, public_key, ep);
}

static int et_peer_by_index(void *ctx, uint32_t local_index, uint8_t public_key_out[32])
{
	return ts_device_peer_by_index(ctx, local_index, public_key_out);
}

static uint16_t et_listen_port(void *ctx)
{
	return ts_device_listen_port(ctx);
}

static const char *et_ifname(void *ctx)
{
	return ts_device_ifname(ctx);
}

static bool et_public_key(void *ctx, uint8_t out[32])
{
	return ts_device_public_key(ctx, out);
}

static int et_note_set(void *ctx, const uint8_t *public_key, const char *key, const char *value)
{
	return ts_device_note_set(ctx, public_key, key, value);
}

static int et_note_get(void *ctx, const uint8_t *public_key, const char *key, char *buf, size_t len)
{
	return ts_device_note_get(ctx, public_key, key, buf, len);
}

static int et_static_dh(void *ctx, const uint8_t remote_public[32], uint8_t out[32])
{
	return ts_device_static_dh(ctx, remote_public, out);
}

static void et_format_status(void *ctx, FILE *out)
{
	ts_device_format_status(ctx, out);
}

void ts_device_engine_table(struct ts_device *dev, struct ts_engine_table *out)
{
	*out = (struct ts_engine_table){
	    .ctx = dev,
	    .send_datagram = et_send_datagram,
	    .inject_datagram = et_inject_datagram,
	    .peer_info = et_peer_info,
	    .peer_foreach = et_peer_foreach,
	    .peer_set_endpoint = et_peer_set_endpoint,
	    .peer_by_index = et_peer_by_index,
	    .listen_port = et_listen_port,
	    .ifname = et_ifname,
	    .public_key = et_public_key,
	    .note_set = et_note_set,
	    .note_get = et_note_get,
	    .static_dh = et_static_dh,
	    .format_status = et_format_status,
	};
}
