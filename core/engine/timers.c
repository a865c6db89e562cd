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
 * The timer thread wakes every tick, and with the device read lock and each
 * peer's lock taken in turn, fires what is due.
 */
#include "timers.h"

#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>

#include "device.h"
#include "log.h"
#include "peer.h"

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

enum timer_action {
	ACT_RETRANSMIT = 1 << 0,
	ACT_KEEPALIVE = 1 << 1,
	ACT_NEW_HANDSHAKE = 1 << 2,
};

static bool due(uint64_t *deadline, uint64_t now)
{
	if (*deadline && now >= *deadline) {
		*deadline = 0;
		return true;
	}
	return false;
}

/* Peer lock held: decide what is due; the sending happens after unlocking. */
static unsigned expire(struct ts_peer *peer, uint64_t now, struct ts_peer_news *news)
{
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
			act |= ACT_RETRANSMIT;
		}
	}
	if (due(&t->send_keepalive, now)) {
		act |= ACT_KEEPALIVE;
		if (t->need_another_keepalive) {
			t->need_another_keepalive = false;
			arm(&t->send_keepalive, ts_secs(KEEPALIVE_TIMEOUT));
		}
	}
	if (due(&t->new_handshake, now)) {
		ts_debug("peer %u: no reply for %d seconds after sending, new handshake",
			 (unsigned)peer->created_seq, KEEPALIVE_TIMEOUT + REKEY_TIMEOUT);
		act |= ACT_NEW_HANDSHAKE;
	}
	if (due(&t->zero_key_material, now)) {
		ts_debug("peer %u: zeroing keys after %d seconds without a new session",
			 (unsigned)peer->created_seq, REJECT_AFTER_TIME * 3);
		ts_peer_clear_keys(peer);
		ts_peer_note_down(peer, news);
	}
	if (due(&t->persistent_keepalive, now))
		act |= ACT_KEEPALIVE;
	return act;
}

void *ts_timer_thread(void *arg)
{
	struct ts_device *dev = arg;
	/* 20 ticks a second, faster under a test time scale (but >= 2 ms). */
	uint64_t tick_us = 50000 / ts_time_scale;

	if (tick_us < 2000)
		tick_us = 2000;
	while (!atomic_load(&dev->stopping)) {
		struct ts_peer *peer;
		uint64_t now;

		usleep((useconds_t)tick_us);
		now = ts_now_ns();
		ts_device_read_lock(dev);
		for (peer = dev->peers; peer; peer = peer->next) {
			struct ts_peer_news news = {0};
			unsigned act;

			pthread_mutex_lock(&peer->lock);
			act = expire(peer, now, &news);
			pthread_mutex_unlock(&peer->lock);
			if (news.down)
				ts_peer_news_emit(peer, &news);
			if (act & (ACT_RETRANSMIT | ACT_NEW_HANDSHAKE))
				ts_send_handshake_initiation(peer, act & ACT_RETRANSMIT);
			if (act & ACT_KEEPALIVE)
				ts_send_keepalive(peer);
		}
		ts_device_read_unlock(dev);
	}
	return NULL;
}
