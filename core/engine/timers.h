/* SPDX-License-Identifier: MIT */
/*
 * WireGuard's timers (whitepaper section 6), told what happened and left
 * to decide.  Every event function is called with the peer lock held.
 */
#ifndef TS_TIMERS_H
#define TS_TIMERS_H

#include <stdint.h>

#include "clock.h"

struct ts_peer;

/*
 * TS_TEST_TIME_SCALE=N (tests only) divides every protocol time by N so
 * rekey and expiry can be tested in seconds.  1 otherwise.
 */
extern unsigned ts_time_scale;
void ts_timers_init_scale(void);

static inline uint64_t ts_secs(uint64_t seconds)
{
	return seconds * NSEC_PER_SEC / ts_time_scale;
}

static inline uint64_t ts_msecs(uint64_t ms)
{
	return ms * NSEC_PER_MSEC / ts_time_scale;
}

void ts_timers_data_sent(struct ts_peer *peer);
void ts_timers_data_received(struct ts_peer *peer);
void ts_timers_any_authenticated_packet_sent(struct ts_peer *peer);
void ts_timers_any_authenticated_packet_received(struct ts_peer *peer);
void ts_timers_any_authenticated_packet_traversal(struct ts_peer *peer);
void ts_timers_handshake_initiated(struct ts_peer *peer);
void ts_timers_handshake_complete(struct ts_peer *peer);
void ts_timers_session_derived(struct ts_peer *peer);
void ts_timers_stop(struct ts_peer *peer);

void *ts_timer_thread(void *arg);

#endif
