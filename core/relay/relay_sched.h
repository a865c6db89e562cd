/* SPDX-License-Identifier: MIT */
/*
 * tinescale-relay's CPU scheduling policy (--sched).  The relay forwards in
 * bursts: one recvmmsg of GRO'd trains, one sendmmsg of GSO'd ones.  As a
 * normal (SCHED_OTHER) task every arriving datagram wakes it and preempts
 * whatever runs on that CPU, often the very sender that is mid-batch: two
 * context switches per burst, and the bursts cut short.  As a SCHED_BATCH
 * task it is still woken at once, but does not preempt: it runs when the CPU
 * is free or the running task's slice ends, and forwards everything that
 * queued meanwhile in one pass.  On an idle CPU nothing changes (a woken task
 * runs at once there).  Where the relay shares its CPUs with the peers (the
 * NAT lab: three daemons and iperf3 on two cores), its CPU per GB fell from
 * about 0.8 s to about 0.65 s and relayed/direct rose from 0.80 to 0.87.
 *
 * Switching from SCHED_OTHER to SCHED_BATCH needs no privilege.  A policy an
 * administrator chose (chrt, systemd's CPUSchedulingPolicy=) is never
 * overridden: only SCHED_OTHER becomes SCHED_BATCH.
 */
#ifndef TS_RELAY_SCHED_H
#define TS_RELAY_SCHED_H

#include <stdbool.h>
#include <stddef.h>

enum relay_sched {
	RELAY_SCHED_BATCH,   /* SCHED_OTHER becomes SCHED_BATCH (the default) */
	RELAY_SCHED_INHERIT, /* keep the policy the relay was started with */
};

/* "batch" or "inherit"; false for anything else. */
bool relay_sched_parse(const char *s, enum relay_sched *out);

/*
 * Applies WANT to the calling thread (threads it starts later inherit it)
 * and describes the outcome in MSG for the log.  Returns 0, or -1 (errno
 * set) when the kernel refused the change: the relay then runs as it was.
 */
int relay_sched_apply(enum relay_sched want, char *msg, size_t len);

#endif
