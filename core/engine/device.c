// SPDX-License-Identifier: MIT
/*
 * The device: creation and teardown, the configuration lock, the hooks as
 * the engine calls them, applying a configuration atomically (UAPI set,
 * --ipc, --config) and reading it back (UAPI get), and the services the
 * plugin host gets (struct ts_engine_table of base/seam.h).
 */
#include "device.h"

#include <assert.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "crypto.h"
#include "key.h"
#include "log.h"
#include "rcu.h"
#include "secmem.h"
#include "socket.h"
#include "timers.h"
#include "tun.h"

/*
 * The lock is writer-preferring, so a thread that took it for reading and
 * took it again would deadlock behind a waiting writer: it is never
 * re-entered, and nothing that holds it calls out of the engine.
 */
void ts_device_read_lock(struct ts_device *dev)
{
	pthread_rwlock_rdlock(&dev->lock);
	ts_engine_locks_held++;
}

void ts_device_read_unlock(struct ts_device *dev)
{
	ts_engine_locks_held--;
	pthread_rwlock_unlock(&dev->lock);
}

static void write_lock(struct ts_device *dev)
{
	pthread_rwlock_wrlock(&dev->lock);
	ts_engine_locks_held++;
}

static void write_unlock(struct ts_device *dev)
{
	ts_engine_locks_held--;
	pthread_rwlock_unlock(&dev->lock);
}

/* --- the hooks, as the engine calls them ------------------------------ */

bool ts_hooks_active(struct ts_device *dev, enum ts_hook_point point)
{
	assert(ts_engine_locks_held == 0);
	return dev->hooks && dev->hooks->active(dev->hooks->ctx, point);
}

bool ts_hooks_run(struct ts_device *dev, enum ts_hook_point point, struct ts_hook_pkt *p)
{
	/* Plugin code may call back into the engine: it must find no lock taken. */
	assert(ts_engine_locks_held == 0);
	if (!dev->hooks)
		return true;
	p->listen_port = atomic_load_explicit(&dev->listen_port, memory_order_relaxed);
	return dev->hooks->run(dev->hooks->ctx, point, p);
}

void ts_hooks_event(struct ts_device *dev, enum ts_event_type type, const uint8_t *public_key,
		    const union ts_endpoint *ep, const struct ts_handshake_secrets *secrets)
{
	struct ts_engine_event ev;

	if (!dev->hooks)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	memcpy(ev.public_key, public_key, 32);
	if (ep)
		ev.endpoint = *ep;
	ev.secrets = secrets;
	dev->hooks->event(dev->hooks->ctx, &ev);
}

bool ts_hooks_want_secrets(struct ts_device *dev)
{
	return dev->hooks && dev->hooks->want_secrets(dev->hooks->ctx);
}

void ts_device_set_hooks(struct ts_device *dev, const struct ts_hook_table *hooks)
{
	dev->hooks = hooks;
}

bool ts_engine_thread_begin(struct ts_device *dev, const char *name)
{
	uint64_t one = 1;
	char comm[16];

	/* `top -H` and /proc/PID/task/TID/comm show which engine thread is which. */
	snprintf(comm, sizeof(comm), "ts-%s", name);
	pthread_setname_np(pthread_self(), comm);
	if (ts_rcu_thread_register() == 0)
		return true;
	/* A thread that is no reader must not run hooks: the device cannot work. */
	ts_err("%s: cannot register for pipeline grace periods; stopping", name);
	if (write(dev->stop_fd, &one, sizeof(one)) < 0)
		ts_err("%s: cannot signal stop: %s", name, strerror(errno));
	return false;
}

void ts_engine_thread_end(void)
{
	ts_rcu_thread_unregister();
}

static unsigned peer_bucket(const uint8_t key[32])
{
	/* Keys of configured peers are what the user gave us; any byte will do. */
	return key[0] ^ key[7] ^ key[13] ^ key[31];
}

struct ts_peer *ts_device_lookup_peer(struct ts_device *dev, const uint8_t public_key[32])
{
	struct ts_peer *p;

	/*
	 * Public keys are public: a plain compare (this runs per packet for
	 * plugins that read a peer's notes; a constant-time one hid nothing).
	 */
	for (p = dev->peer_hash[peer_bucket(public_key) % TS_PEER_HASH_BUCKETS]; p; p = p->hnext)
		if (memcmp(p->public_key, public_key, 32) == 0)
			return p;
	return NULL;
}

struct ts_peer *ts_device_get_peer(struct ts_device *dev, const uint8_t public_key[32])
{
	struct ts_peer *peer;

	ts_device_read_lock(dev);
	peer = ts_peer_get(ts_device_lookup_peer(dev, public_key));
	ts_device_read_unlock(dev);
	return peer;
}

int ts_device_create(struct ts_device **out, const char *ifname, int mtu, char *err, size_t errlen)
{
	char name[IFNAMSIZ];
	void *tun_ctx, *bind_ctx;
	int ret;

	snprintf(name, sizeof(name), "%s", ifname);
	ret = ts_tun_kernel_open(name, &tun_ctx);
	if (ret < 0) {
		snprintf(err, errlen, "cannot create TUN interface %s: %s%s", ifname,
			 strerror(-ret),
			 ret == -ENOENT	 ? " (is /dev/net/tun there? modprobe tun)"
			 : ret == -EPERM ? " (needs root or CAP_NET_ADMIN)"
			 : ret == -EBUSY ? " (an interface of that name is in use)"
					 : "");
		return ret;
	}
	ret = ts_bind_kernel_create(&bind_ctx);
	if (ret < 0) {
		ts_tun_kernel_ops.close(tun_ctx);
		snprintf(err, errlen, "out of memory");
		return ret;
	}
	return ts_device_create_with_io(out, name, mtu, &ts_tun_kernel_ops, tun_ctx,
					&ts_bind_kernel_ops, bind_ctx, err, errlen);
}

/* The device's state, without its I/O yet; NULL on ENOMEM. */
static struct ts_device *device_alloc(const char *ifname, int mtu)
{
	/* Locked, undumped, wiped at the end: it holds the static private key. */
	struct ts_device *dev = ts_secmem_alloc(sizeof(*dev));
	pthread_rwlockattr_t attr;
	pthread_condattr_t cattr;

	if (!dev)
		return NULL;
	dev->wake_fd = dev->tx_wake_fd = dev->stop_fd = -1;
	atomic_init(&dev->listen_port, 0);
	snprintf(dev->ifname, sizeof(dev->ifname), "%s", ifname);
	dev->mtu = mtu;
	dev->n_workers = -1;
	pthread_rwlockattr_init(&attr);
	/* Writers (UAPI set) must not starve behind a steady stream of lookups. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&dev->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&dev->hs_lock, NULL);
	pthread_mutex_init(&dev->notes_lock, NULL);
	pthread_mutex_init(&dev->inject_lock, NULL);
	pthread_mutex_init(&dev->timer_lock, NULL);
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&dev->hs_cond, &cattr);
	pthread_cond_init(&dev->timer_cond, &cattr);
	pthread_condattr_destroy(&cattr);
	cookie_checker_init(&dev->cookie_checker);
	allowedips_init(&dev->allowedips);
	ts_index_init(&dev->index);

	dev->hs_queue = calloc(MAX_QUEUED_INCOMING_HANDSHAKES, sizeof(*dev->hs_queue));
	dev->cookie_queue = calloc(TS_COOKIE_QUEUE, sizeof(*dev->cookie_queue));
	dev->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	dev->tx_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	dev->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ts_ratelimiter_init(&dev->ratelimiter, 0) < 0 ||
	    ts_ratelimiter_init(&dev->cookie_limiter, 0) < 0 || !dev->hs_queue ||
	    !dev->cookie_queue || dev->wake_fd < 0 || dev->tx_wake_fd < 0 || dev->stop_fd < 0) {
		ts_device_destroy(dev);
		return NULL;
	}
	return dev;
}

int ts_device_create_with_io(struct ts_device **out, const char *ifname, int mtu,
			     const struct ts_tun_ops *tun, void *tun_ctx,
			     const struct ts_bind_ops *bind, void *bind_ctx, char *err,
			     size_t errlen)
{
	struct ts_device *dev = device_alloc(ifname, mtu);
	uint16_t port = 0;
	int ret;

	if (!dev) {
		tun->close(tun_ctx);
		bind->close(bind_ctx);
		snprintf(err, errlen, "cannot allocate device state: out of memory");
		return -ENOMEM;
	}
	dev->tun = tun;
	dev->tun_ctx = tun_ctx;
	dev->bind = bind;
	dev->bind_ctx = bind_ctx;
	ret = tun->set_mtu(tun_ctx, mtu);
	if (ret < 0) {
		snprintf(err, errlen, "cannot set MTU %d on %s: %s", mtu, dev->ifname,
			 strerror(-ret));
		goto fail;
	}
	ret = bind->open(bind_ctx, &port, 0);
	if (ret < 0) {
		snprintf(err, errlen, "cannot open UDP socket: %s", strerror(-ret));
		goto fail;
	}
	atomic_store(&dev->listen_port, port);
	*out = dev;
	return 0;
fail:
	ts_device_destroy(dev);
	return ret;
}

void ts_device_set_workers(struct ts_device *dev, int n)
{
	dev->n_workers = n;
}

static bool worker_begin(void *arg, const char *name)
{
	return ts_engine_thread_begin(arg, name);
}

/*
 * The number of crypto workers to run: the setting, the environment, or
 * one per online CPU but two.  tx and rx crypt too (a batch nothing waits
 * behind, and their queue before they sleep), and under a bulk flow each
 * keeps a CPU busy, so they are two CPUs' worth; measured on 2 CPUs
 * (tests/bench/bench.sh, DESIGN-NOTES), none beat one once a packet's
 * AEAD got cheaper (data_aead.c): the hand-off then cost more than it won.
 */
static unsigned workers_wanted(const struct ts_device *dev)
{
	const char *env = getenv("TINESCALE_WORKERS");
	long n = dev->n_workers;

	if (n < 0 && env && *env) {
		char *end;

		n = strtol(env, &end, 10);
		if (*end || n < 0)
			n = -1;
	}
	if (n < 0)
		n = sysconf(_SC_NPROCESSORS_ONLN) - 2;
	if (n < 0)
		n = 0;
	return n > TS_POOL_MAX_THREADS ? TS_POOL_MAX_THREADS : (unsigned)n;
}

int ts_device_start(struct ts_device *dev)
{
	struct ts_pool_thread_ops pool_ops = {
	    .begin = worker_begin, .end = ts_engine_thread_end, .arg = dev};
	int ret;

	/* Before tx and rx: they open their pipes on it. */
	if ((ret = ts_pool_create(&dev->pool, workers_wanted(dev), &pool_ops)) < 0) {
		ts_err("cannot start crypto workers: %s", strerror(-ret));
		return ret;
	}
	ts_info("%u crypto worker thread(s)", ts_pool_threads(dev->pool));
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

void ts_timers_kick(struct ts_device *dev)
{
	pthread_mutex_lock(&dev->timer_lock);
	dev->timer_kick = true;
	pthread_cond_signal(&dev->timer_cond);
	pthread_mutex_unlock(&dev->timer_lock);
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
	ts_timers_kick(dev);
	wake(dev->tx_wake_fd);
	/* tx and rx release what they submitted before they end; then the workers go. */
	pthread_join(dev->rx_thread, NULL);
	pthread_join(dev->tx_thread, NULL);
	pthread_join(dev->hs_thread, NULL);
	pthread_join(dev->timer_thread, NULL);
	ts_pool_free(dev->pool);
	dev->pool = NULL;
	dev->threads_started = false;
}

void ts_device_release_port(struct ts_device *dev)
{
	/* Under the write lock: no configuration change can bind a port again. */
	write_lock(dev);
	if (!dev->port_released && dev->bind->release)
		dev->bind->release(dev->bind_ctx);
	dev->port_released = true;
	write_unlock(dev);
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

/*
 * Device write lock held.  The peer leaves the device and goes dead; its
 * list reference moves to *gone, to be told and put by finish_removals()
 * once the lock is released.
 */
static void remove_peer(struct ts_device *dev, struct ts_peer *peer, struct ts_peer **gone)
{
	struct ts_peer_news news = {0};

	unlink_peer(dev, peer);
	ts_peer_lock(peer);
	ts_peer_note_down(peer, &news);
	ts_peer_kill(peer);
	peer->down_untold = news.down;
	ts_peer_unlock(peer);
	peer->gone_next = *gone;
	*gone = peer;
}

/* No lock held: tell the plugins about removed peers and drop the list's references. */
static void finish_removals(struct ts_device *dev, struct ts_peer *gone)
{
	struct ts_peer *next;

	for (; gone; gone = next) {
		union ts_endpoint ep;

		next = gone->gone_next;
		if (gone->down_untold) {
			ts_peer_lock(gone);
			ep = gone->endpoint; /* the event says where the peer was */
			ts_peer_unlock(gone);
			ts_hooks_event(dev, TS_EVENT_PEER_DOWN, gone->public_key,
				       ts_endpoint_is_set(&ep) ? &ep : NULL, NULL);
		}
		/* Removal, told apart from expiry (PEER_DOWN alone): plugins free per-peer state.
		 */
		ts_hooks_event(dev, TS_EVENT_PEER_REMOVED, gone->public_key, NULL, NULL);
		ts_peer_put(gone);
	}
}

/* Device write lock held; the list takes over the caller's reference. */
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
	peer->created_seq = ++dev->peer_seq;
}

void ts_device_destroy(struct ts_device *dev)
{
	struct ts_peer *gone = NULL;

	if (!dev)
		return;
	ts_device_stop(dev);
	ts_pool_free(dev->pool); /* a start that failed half-way */
	write_lock(dev);
	while (dev->peers)
		remove_peer(dev, dev->peers, &gone);
	write_unlock(dev);
	finish_removals(dev, gone);
	while (dev->inject_count) {
		free(dev->inject_queue[dev->inject_head]);
		dev->inject_head = (dev->inject_head + 1) % TS_INJECT_MAX;
		dev->inject_count--;
	}
	allowedips_free(&dev->allowedips);
	ts_index_destroy(&dev->index);
	cookie_checker_destroy(&dev->cookie_checker);
	ts_ratelimiter_destroy(&dev->ratelimiter);
	ts_ratelimiter_destroy(&dev->cookie_limiter);
	/* Absent only when device_alloc itself failed. */
	if (dev->tun)
		dev->tun->close(dev->tun_ctx);
	if (dev->bind)
		dev->bind->close(dev->bind_ctx);
	if (dev->wake_fd >= 0)
		close(dev->wake_fd);
	if (dev->tx_wake_fd >= 0)
		close(dev->tx_wake_fd);
	if (dev->stop_fd >= 0)
		close(dev->stop_fd);
	free(dev->hs_queue);
	free(dev->cookie_queue);
	pthread_rwlock_destroy(&dev->lock);
	pthread_mutex_destroy(&dev->hs_lock);
	free(dev->notes);
	pthread_mutex_destroy(&dev->notes_lock);
	pthread_mutex_destroy(&dev->inject_lock);
	pthread_mutex_destroy(&dev->timer_lock);
	pthread_cond_destroy(&dev->hs_cond);
	pthread_cond_destroy(&dev->timer_cond);
	ts_secmem_free(dev, sizeof(*dev)); /* wipes the identity and cookie secrets */
}

/* Device write lock held: our private key changed (or went away). */
static void set_identity(struct ts_device *dev, const uint8_t private_key[32],
			 struct ts_peer **gone)
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
			remove_peer(dev, peer, gone);
			continue;
		}
		ts_peer_lock(peer);
		noise_handshake_precompute(&peer->handshake, &dev->identity);
		ts_peer_expire_current(peer);
		ts_peer_unlock(peer);
	}
}

/* Device write lock held, allowed-IPs reserved for every insert: cannot fail. */
static void apply_allowedips(struct ts_device *dev, struct ts_peer *peer,
			     const struct ts_peer_config *pc)
{
	if (pc->flags & TS_PEER_REPLACE_ALLOWEDIPS)
		allowedips_remove_by_peer(&dev->allowedips, peer);
	for (size_t i = 0; i < pc->n_allowedips; i++) {
		const struct ts_allowedip *a = &pc->allowedips[i];

		if (a->remove)
			allowedips_remove(&dev->allowedips, a->family, a->addr, a->cidr, peer);
		else
			allowedips_insert(&dev->allowedips, a->family, a->addr, a->cidr, peer);
	}
}

/* What ts_device_apply checks and counts before it changes anything. */
static int validate(const struct ts_config *cfg, size_t *inserts, char *err, size_t errlen)
{
	*inserts = 0;
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct ts_peer_config *pc = &cfg->peers[i];

		if (!(pc->flags & TS_PEER_HAS_PUBLIC_KEY)) {
			snprintf(err, errlen, "peer without public key");
			return -EINVAL;
		}
		for (size_t j = 0; j < pc->n_allowedips; j++) {
			const struct ts_allowedip *a = &pc->allowedips[j];

			if ((a->family != AF_INET && a->family != AF_INET6) ||
			    a->cidr > (a->family == AF_INET ? 32 : 128)) {
				snprintf(err, errlen, "allowed IPs: invalid prefix");
				return -EINVAL;
			}
			if (!a->remove && !(pc->flags & TS_PEER_REMOVE_ME))
				(*inserts)++;
		}
	}
	return 0;
}

/*
 * All or nothing, out-of-memory included: everything that can fail --
 * validation, the new peers, the allowed-IPs nodes (reserved), the new
 * sockets -- is done before the first visible change; after it nothing
 * can fail.  What the change makes the engine send (a keepalive when
 * persistent keepalive is turned on) is left to the timer thread: this
 * thread runs no hooks.
 */
int ts_device_apply(struct ts_device *dev, const struct ts_config *cfg, char *err, size_t errlen)
{
	struct ts_peer **fresh = NULL, *gone = NULL;
	int ret;
	size_t inserts;
	uint16_t port = 0;
	bool rebind = false, kick = false;

	ret = validate(cfg, &inserts, err, errlen);
	if (ret < 0)
		return ret;
	fresh = ts_zalloc((cfg->n_peers ? cfg->n_peers : 1) * sizeof(*fresh));
	if (!fresh)
		goto nomem;
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct ts_peer_config *pc = &cfg->peers[i];

		if (pc->flags & (TS_PEER_REMOVE_ME | TS_PEER_UPDATE_ONLY))
			continue;
		fresh[i] = ts_peer_create(dev, pc->public_key);
		if (!fresh[i])
			goto nomem;
	}
	write_lock(dev);
	if (allowedips_reserve(&dev->allowedips, inserts, cfg->n_peers) < 0) {
		write_unlock(dev);
		goto nomem;
	}
	if ((cfg->flags & TS_DEV_HAS_LISTEN_PORT) && cfg->listen_port != dev->listen_port) {
		port = cfg->listen_port;
		ret = dev->port_released ? -ESHUTDOWN
					 : dev->bind->open(dev->bind_ctx, &port, dev->fwmark);
		if (ret < 0) {
			allowedips_unreserve(&dev->allowedips);
			write_unlock(dev);
			snprintf(err, errlen, "cannot listen on port %u: %s", cfg->listen_port,
				 strerror(-ret));
			goto out;
		}
		rebind = true;
	}
	/* From here on nothing fails. */
	if (rebind) {
		/* The bind has moved to the new port; the rx thread polls its fds anew. */
		atomic_store(&dev->listen_port, port);
		wake(dev->wake_fd);
		ts_info("listening on UDP port %u", port);
	}
	if (cfg->flags & TS_DEV_HAS_FWMARK && cfg->fwmark != dev->fwmark) {
		dev->fwmark = cfg->fwmark;
		dev->bind->set_fwmark(dev->bind_ctx, dev->fwmark);
	}
	if (cfg->flags & TS_DEV_REPLACE_PEERS)
		while (dev->peers)
			remove_peer(dev, dev->peers, &gone);
	if (cfg->flags & TS_DEV_HAS_PRIVATE_KEY)
		set_identity(dev, cfg->private_key, &gone);

	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct ts_peer_config *pc = &cfg->peers[i];
		struct ts_peer *peer = ts_device_lookup_peer(dev, pc->public_key);

		if (pc->flags & TS_PEER_REMOVE_ME) {
			if (peer)
				remove_peer(dev, peer, &gone);
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
			/* Only queued (any lock may be held): plugins make per-peer state. */
			ts_hooks_event(dev, TS_EVENT_PEER_ADDED, peer->public_key, NULL, NULL);
			ts_peer_lock(peer);
			noise_handshake_precompute(&peer->handshake, &dev->identity);
			ts_peer_unlock(peer);
		}
		ts_peer_lock(peer);
		if (pc->flags & TS_PEER_HAS_PRESHARED_KEY)
			noise_handshake_set_psk(&peer->handshake, pc->preshared_key);
		if (pc->flags & TS_PEER_HAS_ENDPOINT) {
			peer->endpoint = pc->endpoint;
			peer->src.family = 0;
		}
		if ((pc->flags & TS_PEER_HAS_KEEPALIVE) &&
		    pc->persistent_keepalive != peer->persistent_keepalive) {
			peer->persistent_keepalive = pc->persistent_keepalive;
			if (!pc->persistent_keepalive) {
				peer->timers.persistent_keepalive = 0;
			} else {
				/* A new keepalive interval starts now, as in the kernel. */
				peer->timers.pending |= TS_TIMER_KEEPALIVE;
				kick = true;
			}
		}
		ts_peer_unlock(peer);
		apply_allowedips(dev, peer, pc);
	}
	allowedips_unreserve(&dev->allowedips);
	write_unlock(dev);
	finish_removals(dev, gone);
	if (kick)
		ts_timers_kick(dev);
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
	ret = -ENOMEM;
out:
	if (fresh)
		for (size_t i = 0; i < cfg->n_peers; i++)
			ts_peer_put(fresh[i]);
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
	out->listen_port = atomic_load(&dev->listen_port);
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
		ts_peer_lock(peer);
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
		ts_peer_unlock(peer);
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

/* --- the services of struct ts_engine_table ------------------------------ */

int ts_device_send_datagram(struct ts_device *dev, const union ts_endpoint *dst, const uint8_t *buf,
			    size_t len)
{
	int ret = ts_udp_sendto(dev, dst, NULL, buf, len);

	return ret < 0 ? ret : 0;
}

/*
 * Queued, never processed here: the caller may be a plugin on any thread,
 * and processing can run hooks and take engine locks.  The rx thread takes
 * the queue (receive.c) after the wake-up.
 */
int ts_device_inject_datagram(struct ts_device *dev, const union ts_endpoint *src,
			      const uint8_t *buf, size_t len)
{
	struct ts_inject_item *item;

	if (!src || !buf || !ts_endpoint_is_set(src))
		return -EINVAL;
	if (len > TS_MAX_PACKET)
		return -EMSGSIZE;
	item = malloc(sizeof(*item) + len);
	if (!item)
		return -ENOMEM;
	item->src = *src;
	item->len = len;
	memcpy(item->data, buf, len);
	pthread_mutex_lock(&dev->inject_lock);
	if (dev->inject_count == TS_INJECT_MAX) {
		pthread_mutex_unlock(&dev->inject_lock);
		free(item);
		atomic_fetch_add_explicit(&dev->inject_dropped, 1, memory_order_relaxed);
		return -EAGAIN;
	}
	dev->inject_queue[(dev->inject_head + dev->inject_count) % TS_INJECT_MAX] = item;
	dev->inject_count++;
	pthread_mutex_unlock(&dev->inject_lock);
	wake(dev->wake_fd);
	return 0;
}

struct ts_inject_item *ts_device_inject_take(struct ts_device *dev)
{
	struct ts_inject_item *item = NULL;

	pthread_mutex_lock(&dev->inject_lock);
	if (dev->inject_count) {
		item = dev->inject_queue[dev->inject_head];
		dev->inject_head = (dev->inject_head + 1) % TS_INJECT_MAX;
		dev->inject_count--;
	}
	pthread_mutex_unlock(&dev->inject_lock);
	return item;
}

/* Device lock held. */
static void fill_info(struct ts_peer *peer, struct ts_peer_info *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->public_key, peer->public_key, 32);
	ts_peer_lock(peer);
	out->endpoint = peer->endpoint;
	out->last_handshake_ns = peer->last_handshake_real_ns;
	out->has_session =
	    peer->kp_current &&
	    atomic_load_explicit(&peer->kp_current->sending_valid, memory_order_relaxed);
	ts_peer_unlock(peer);
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

/* The callback may call back into the engine: it runs on a snapshot, no lock held. */
int ts_device_peer_foreach(struct ts_device *dev,
			   int (*cb)(void *ctx, const struct ts_peer_info *peer), void *ctx)
{
	struct ts_peer_info *infos;
	struct ts_peer *peer;
	size_t n = 0;
	int ret = 0;

	ts_device_read_lock(dev);
	infos = malloc((dev->n_peers ? dev->n_peers : 1) * sizeof(*infos));
	if (!infos) {
		ts_device_read_unlock(dev);
		return -ENOMEM;
	}
	for (peer = dev->peers; peer; peer = peer->next)
		fill_info(peer, &infos[n++]);
	ts_device_read_unlock(dev);
	for (size_t i = 0; i < n && !ret; i++)
		ret = cb(ctx, &infos[i]);
	free(infos);
	return ret;
}

int ts_device_peer_set_endpoint(struct ts_device *dev, const uint8_t public_key[32],
				const union ts_endpoint *ep)
{
	struct ts_peer_news news = {0};
	struct ts_peer *peer;

	if (!ts_endpoint_is_set(ep))
		return -EINVAL;
	peer = ts_device_get_peer(dev, public_key);
	if (!peer)
		return -ENOENT;
	ts_peer_lock(peer);
	if (!atomic_load(&peer->dead)) {
		if (!ts_endpoint_equal(&peer->endpoint, ep)) {
			news.endpoint_changed = true;
			news.endpoint = *ep;
		}
		peer->endpoint = *ep;
		peer->src.family = 0;
	}
	ts_peer_unlock(peer);
	/* ENDPOINT_CHANGED is queued for the host's thread, not delivered here. */
	ts_peer_news_emit(peer, &news);
	ts_peer_put(peer);
	return 0;
}

int ts_device_peer_by_index(struct ts_device *dev, uint32_t local_index, uint8_t public_key_out[32])
{
	struct ts_peer *peer;

	peer =
	    ts_index_lookup_peer(&dev->index, local_index, TS_INDEX_HANDSHAKE | TS_INDEX_KEYPAIR);
	if (!peer)
		return -ENOENT;
	memcpy(public_key_out, peer->public_key, 32);
	ts_peer_put(peer);
	return 0;
}

uint16_t ts_device_listen_port(struct ts_device *dev)
{
	return atomic_load(&dev->listen_port);
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

/*
 * Where the notes array of the peer (or of the interface) is kept, and its
 * lock.  The array is allocated by the first note set (NULL until then):
 * most peers never get one.
 */
static struct ts_note **notes_of(struct ts_device *dev, const uint8_t *public_key,
				 pthread_mutex_t **lock)
{
	struct ts_peer *peer;

	if (!public_key) {
		*lock = &dev->notes_lock;
		return &dev->notes;
	}
	peer = ts_device_lookup_peer(dev, public_key);
	if (!peer)
		return NULL;
	*lock = &peer->lock;
	return &peer->notes;
}

int ts_device_note_set(struct ts_device *dev, const uint8_t *public_key, const char *key,
		       const char *value)
{
	struct ts_note **where, *notes, *free_slot = NULL;
	pthread_mutex_t *lock;
	int ret = -ENOSPC;

	if (!note_key_ok(key) || (value && !note_value_ok(value)))
		return -EINVAL;
	ts_device_read_lock(dev);
	where = notes_of(dev, public_key, &lock);
	if (!where) {
		ts_device_read_unlock(dev);
		return -ENOENT;
	}
	pthread_mutex_lock(lock);
	notes = *where;
	if (!notes) {
		ret = 0; /* deleting from no notes at all */
		if (value && !(notes = *where = calloc(TS_NOTES_MAX, sizeof(*notes))))
			ret = -ENOMEM;
		if (!notes)
			goto out;
	}
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
	} else {
		ret = -ENOSPC;
	}
out:
	pthread_mutex_unlock(lock);
	ts_device_read_unlock(dev);
	return ret;
}

int ts_device_note_get(struct ts_device *dev, const uint8_t *public_key, const char *key, char *buf,
		       size_t len)
{
	struct ts_note **where, *notes;
	pthread_mutex_t *lock;
	int ret = -ENOENT;

	if (!key || !buf || !len)
		return -EINVAL;
	ts_device_read_lock(dev);
	where = notes_of(dev, public_key, &lock);
	if (where) {
		pthread_mutex_lock(lock);
		notes = *where;
		for (int i = 0; notes && i < TS_NOTES_MAX; i++) {
			if (notes[i].key[0] && strcmp(notes[i].key, key) == 0) {
				/* What snprintf would write, without its cost. */
				size_t n = strnlen(notes[i].value, len - 1);

				memcpy(buf, notes[i].value, n);
				buf[n] = '\0';
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

/* Lock of notes held; notes may be NULL (none set yet). */
static void print_notes(FILE *out, const struct ts_note *notes)
{
	for (int i = 0; notes && i < TS_NOTES_MAX; i++)
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
	fprintf(out, "  listening port: %u\n", (unsigned)atomic_load(&dev->listen_port));
	if (dev->tun->offload_info) {
		struct ts_tun_offload_info oi = {0};

		dev->tun->offload_info(dev->tun_ctx, &oi);
		if (oi.flags & TS_TUN_OFF_VNET)
			fprintf(out,
				"  tun offloads:%s%s%s%s (split %llu, merged %llu, refused %llu)\n",
				oi.flags & TS_TUN_OFF_CSUM ? " csum" : "",
				oi.flags & TS_TUN_OFF_TSO4 ? " tso4" : "",
				oi.flags & TS_TUN_OFF_TSO6 ? " tso6" : "",
				oi.flags & TS_TUN_OFF_USO ? " uso" : "",
				(unsigned long long)oi.split, (unsigned long long)oi.merged,
				(unsigned long long)oi.refused);
	}
	pthread_mutex_lock(&dev->notes_lock);
	print_notes(out, dev->notes);
	pthread_mutex_unlock(&dev->notes_lock);
	fprintf(out,
		"  dropped: invalid %llu, bad mac %llu, replayed %llu, bad source %llu, "
		"no route %llu, handshake queue %llu, handshake rate %llu, inject queue %llu\n"
		"  handshake flood defence: cookie replies %llu (over their rate %llu), "
		"worker throttled %llu ms\n",
		(unsigned long long)atomic_load(&dev->rx_invalid),
		(unsigned long long)atomic_load(&dev->rx_bad_mac),
		(unsigned long long)atomic_load(&dev->rx_replayed),
		(unsigned long long)atomic_load(&dev->rx_bad_source),
		(unsigned long long)atomic_load(&dev->tx_no_route),
		(unsigned long long)atomic_load(&dev->hs_dropped),
		(unsigned long long)atomic_load(&dev->hs_ratelimited),
		(unsigned long long)atomic_load(&dev->inject_dropped),
		(unsigned long long)atomic_load(&dev->hs_cookies_sent),
		(unsigned long long)atomic_load(&dev->hs_cookies_limited),
		(unsigned long long)(atomic_load(&dev->hs_throttled_ns) / NSEC_PER_MSEC));
	fprintf(out, "  not routed: %llu multicast/link-local (no peer's allowed IPs cover them)\n",
		(unsigned long long)atomic_load(&dev->tx_local_unrouted));
	for (peer = dev->peers; peer; peer = peer->next) {
		struct ts_note notes[TS_NOTES_MAX];
		uint64_t hs;

		ts_key_to_base64(key, peer->public_key);
		ts_peer_lock(peer);
		ts_endpoint_str(&peer->endpoint, ep);
		hs = peer->last_handshake_real_ns;
		if (peer->notes)
			memcpy(notes, peer->notes, sizeof(notes));
		else
			memset(notes, 0, sizeof(notes));
		ts_peer_unlock(peer);
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

/* --- the host's table ------------------------------------------------- */

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

static size_t et_drop_counters(void *ctx, struct ts_counter *out, size_t max)
{
	struct ts_device *dev = ctx;
	const struct ts_counter c[] = {
	    {"invalid", atomic_load(&dev->rx_invalid)},
	    {"bad_mac", atomic_load(&dev->rx_bad_mac)},
	    {"replayed", atomic_load(&dev->rx_replayed)},
	    {"bad_source", atomic_load(&dev->rx_bad_source)},
	    {"no_route", atomic_load(&dev->tx_no_route)},
	    {"not_routed_local", atomic_load(&dev->tx_local_unrouted)},
	    {"handshake_queue", atomic_load(&dev->hs_dropped)},
	    {"handshake_rate", atomic_load(&dev->hs_ratelimited)},
	    {"inject_queue", atomic_load(&dev->inject_dropped)},
	};
	const size_t n = sizeof(c) / sizeof(c[0]);

	memcpy(out, c, (n < max ? n : max) * sizeof(c[0]));
	return n;
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
	    .drop_counters = et_drop_counters,
	};
}
