// SPDX-License-Identifier: MIT
/*
 * Every timer of a peer, in one place:
 *
 *  retransmit_handshake  armed when an initiation is sent (REKEY_TIMEOUT +
 *                        jitter); resends it, gives up after
 *                        MAX_TIMER_HANDSHAKES attempts and drops staged packets.
 *  send_keepalive        armed when data arrives (KEEPALIVE_TIMEOUT) unless
 *                        we send something first; sends an empty packet so
 *                        the other side knows we are alive.
 *  new_handshake         armed when data is sent (KEEPALIVE + REKEY_TIMEOUT)
 *                        unless something authenticated comes back first;
 *                        then the session is presumed dead: handshake anew.
 *  zero_key_material     armed when a session is derived (3 x
 *                        REJECT_AFTER_TIME); wipes every key of the peer.
 *  persistent_keepalive  re-armed on any authenticated traffic when the user
 *                        asked for it; keeps NAT mappings open.
 *
 * The timer thread wakes every tick (or at once when kicked).  Under the
 * device read lock and each peer's lock in turn it decides what is due and
 * records it in the peer's timers.pending, taking a reference to each peer
 * with something pending; then, holding no lock, it sends: those sends
 * run the ciphertext_out hooks.  Configuration changes leave their sends
 * (a first persistent keepalive) in timers.pending the same way.
 */
#include "timers.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <time.h>

#include "device.h"
#include "log.h"
#include "peer.h"
#include "rcu.h"

unsigned ts_time_scale = 1;

void ts_timers_init_scale(void)
{
	const char *v = getenv("TS_TEST_TIME_SCALE");
	char *end;
	unsigned long n;

	if (!v || !*v)
		return;
	n = strtoul(v, &end, 10);
	if (*end || n < 1 || n > 1000) {
		ts_warn("ignoring TS_TEST_TIME_SCALE=%s (expected 1..1000)", v);
		return;
	}
	ts_time_scale = (unsigned)n;
	if (n > 1)
		ts_warn("TS_TEST_TIME_SCALE=%lu: protocol timers run %lu times faster (tests only)",
			n, n);
}

static uint64_t jitter(void)
{
	return ts_msecs(randombytes_uniform(REKEY_TIMEOUT_JITTER_MAX_MS + 1));
}

static void arm(uint64_t *deadline, uint64_t delay)
{
	*deadline = ts_now_ns() + delay;
	if (*deadline == 0)
		*deadline = 1;
}

void ts_timers_data_sent(struct ts_peer *peer)
{
	if (!peer->timers.new_handshake)
		arm(&peer->timers.new_handshake,
		    ts_secs(KEEPALIVE_TIMEOUT + REKEY_TIMEOUT) + jitter());
}

void ts_timers_data_received(struct ts_peer *peer)
{
	if (!peer->timers.send_keepalive)
		arm(&peer->timers.send_keepalive, ts_secs(KEEPALIVE_TIMEOUT));
	else
		peer->timers.need_another_keepalive = true;
}

void ts_timers_any_authenticated_packet_sent(struct ts_peer *peer)
{
	peer->timers.send_keepalive = 0;
}

void ts_timers_any_authenticated_packet_received(struct ts_peer *peer)
{
	peer->timers.new_handshake = 0;
}

void ts_timers_any_authenticated_packet_traversal(struct ts_peer *peer)
{
	if (peer->persistent_keepalive)
		arm(&peer->timers.persistent_keepalive, ts_secs(peer->persistent_keepalive));
}

void ts_timers_handshake_initiated(struct ts_peer *peer)
{
	arm(&peer->timers.retransmit_handshake, ts_secs(REKEY_TIMEOUT) + jitter());
}

void ts_timers_handshake_complete(struct ts_peer *peer)
{
	struct timespec ts;

	peer->timers.retransmit_handshake = 0;
	peer->timers.handshake_attempts = 0;
	peer->timers.sent_lastminute_handshake = false;
	clock_gettime(CLOCK_REALTIME, &ts);
	peer->last_handshake_real_ns = (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

void ts_timers_session_derived(struct ts_peer *peer)
{
	arm(&peer->timers.zero_key_material, ts_secs(REJECT_AFTER_TIME * 3));
}

void ts_timers_stop(struct ts_peer *peer)
{
	peer->timers.retransmit_handshake = 0;
	peer->timers.send_keepalive = 0;
	peer->timers.new_handshake = 0;
	peer->timers.zero_key_material = 0;
	peer->timers.persistent_keepalive = 0;
}

static bool due(uint64_t *deadline, uint64_t now)
{
	if (*deadline && now >= *deadline) {
		*deadline = 0;
		return true;
	}
	return false;
}

/* Peer lock held: decide what is due (TS_TIMER_*); the sending happens after unlocking. */
static unsigned expire(struct ts_peer *peer, uint64_t now)
{
	struct ts_peer_news news = {0};
	struct ts_peer_timers *t = &peer->timers;
	unsigned act = 0;

	if (due(&t->retransmit_handshake, now)) {
		if (t->handshake_attempts > MAX_TIMER_HANDSHAKES) {
			ts_debug("peer %u: handshake did not complete after %u attempts, giving up",
				 (unsigned)peer->created_seq, t->handshake_attempts + 2);
			/* No new_handshake either: we would only retry again. */
			t->new_handshake = 0;
			ts_staged_clear(&peer->staged);
			if (!t->zero_key_material)
				arm(&t->zero_key_material, ts_secs(REJECT_AFTER_TIME * 3));
		} else {
			t->handshake_attempts++;
			ts_debug("peer %u: handshake did not complete after %d seconds, retrying "
				 "(try %u)",
				 (unsigned)peer->created_seq, REKEY_TIMEOUT,
				 t->handshake_attempts + 1);
			act |= TS_TIMER_RETRANSMIT;
		}
	}
	if (due(&t->send_keepalive, now)) {
		act |= TS_TIMER_KEEPALIVE;
		if (t->need_another_keepalive) {
			t->need_another_keepalive = false;
			arm(&t->send_keepalive, ts_secs(KEEPALIVE_TIMEOUT));
		}
	}
	if (due(&t->new_handshake, now)) {
		ts_debug("peer %u: no reply for %d seconds after sending, new handshake",
			 (unsigned)peer->created_seq, KEEPALIVE_TIMEOUT + REKEY_TIMEOUT);
		act |= TS_TIMER_NEW_HANDSHAKE;
	}
	if (due(&t->zero_key_material, now)) {
		ts_debug("peer %u: zeroing keys after %d seconds without a new session",
			 (unsigned)peer->created_seq, REJECT_AFTER_TIME * 3);
		ts_peer_clear_keys(peer);
		ts_peer_note_down(peer, &news);
		if (news.down)
			act |= TS_TIMER_DOWN;
	}
	if (due(&t->persistent_keepalive, now))
		act |= TS_TIMER_KEEPALIVE;
	return act;
}

/* Offline (no hook runs) until the next tick or a kick; online again after. */
static void wait_tick(struct ts_device *dev, uint64_t tick_ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(tick_ns / NSEC_PER_SEC);
	ts.tv_nsec += (long)(tick_ns % NSEC_PER_SEC);
	if (ts.tv_nsec >= (long)NSEC_PER_SEC) {
		ts.tv_sec++;
		ts.tv_nsec -= (long)NSEC_PER_SEC;
	}
	ts_rcu_offline();
	pthread_mutex_lock(&dev->timer_lock);
	while (!dev->timer_kick && !atomic_load(&dev->stopping))
		if (pthread_cond_timedwait(&dev->timer_cond, &dev->timer_lock, &ts) == ETIMEDOUT)
			break;
	dev->timer_kick = false;
	pthread_mutex_unlock(&dev->timer_lock);
	ts_rcu_online();
}

/* No lock held: carry out what is pending for peer. */
static void run_pending(struct ts_device *dev, struct ts_peer *peer)
{
	unsigned act;

	ts_peer_lock(peer);
	act = atomic_load(&peer->dead) ? 0 : peer->timers.pending;
	peer->timers.pending = 0;
	ts_peer_unlock(peer);
	if (act & TS_TIMER_DOWN)
		ts_hooks_event(dev, TS_EVENT_PEER_DOWN, peer->public_key, NULL, NULL);
	if (act & (TS_TIMER_RETRANSMIT | TS_TIMER_NEW_HANDSHAKE))
		ts_send_handshake_initiation(peer, act & TS_TIMER_RETRANSMIT);
	if (act & TS_TIMER_KEEPALIVE)
		ts_send_keepalive(peer);
}

void *ts_timer_thread(void *arg)
{
	struct ts_device *dev = arg;
	/* 20 ticks a second, faster under a test time scale (but >= 2 ms). */
	uint64_t tick_ns = 50 * NSEC_PER_MSEC / ts_time_scale;
	struct ts_peer **todo = NULL;
	size_t cap = 0;

	if (!ts_engine_thread_begin(dev, "timers"))
		return NULL;
	if (tick_ns < 2 * NSEC_PER_MSEC)
		tick_ns = 2 * NSEC_PER_MSEC;
	while (!atomic_load(&dev->stopping)) {
		struct ts_peer *peer;
		size_t n = 0;
		uint64_t now;

		wait_tick(dev, tick_ns);
		now = ts_now_ns();
		ts_device_read_lock(dev);
		if (cap < dev->n_peers) {
			struct ts_peer **bigger = realloc(todo, dev->n_peers * sizeof(*todo));

			/* Without room a peer's actions stay pending until a later tick. */
			if (bigger) {
				todo = bigger;
				cap = dev->n_peers;
			}
		}
		for (peer = dev->peers; peer; peer = peer->next) {
			bool pending;

			ts_peer_lock(peer);
			peer->timers.pending |= expire(peer, now);
			pending = peer->timers.pending != 0;
			ts_peer_unlock(peer);
			if (pending && n < cap)
				todo[n++] = ts_peer_get(peer);
		}
		ts_device_read_unlock(dev);
		for (size_t i = 0; i < n; i++) {
			run_pending(dev, todo[i]);
			ts_peer_put(todo[i]);
		}
		ts_rcu_quiescent();
	}
	free(todo);
	ts_engine_thread_end();
	return NULL;
}
