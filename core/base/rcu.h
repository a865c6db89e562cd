/* SPDX-License-Identifier: MIT */
/*
 * Quiescent-state-based grace periods (QSBR), for the pipeline hot swap.
 *
 * A data-path thread registers once, is "online" while it may hold
 * pointers to RCU-protected data (the pipeline snapshot), reports a
 * quiescent state between batches (it holds no such pointer then), and goes
 * offline around blocking syscalls (poll, recvmmsg without MSG_DONTWAIT).
 * ts_rcu_synchronize() returns once every registered thread has been
 * offline or passed a quiescent state since the call began: data
 * unpublished before the call can then be freed.
 *
 *	ts_rcu_thread_register();
 *	for (;;) {
 *		ts_rcu_offline(); poll(...); ts_rcu_online();
 *		... batch: ts_pipeline_run() ...
 *		ts_rcu_quiescent();
 *	}
 *	ts_rcu_thread_unregister();
 *
 * Readers never block and never write shared cache lines except their own
 * counter.  One process-wide domain: every device's data-path threads
 * share it.
 */
#ifndef TS_RCU_H
#define TS_RCU_H

#include <stdbool.h>

/* Register the calling thread as a reader; it starts offline.  0 or -ENOMEM. */
int ts_rcu_thread_register(void);
/* Unregister (goes offline first).  Idempotent. */
void ts_rcu_thread_unregister(void);
/* The thread may from now on read RCU-protected pointers. */
void ts_rcu_online(void);
/* The thread holds no RCU-protected pointer and will not until ts_rcu_online(). */
void ts_rcu_offline(void);
/* Between batches: the thread holds no pointer read before this call. */
void ts_rcu_quiescent(void);
/*
 * Is the calling thread a registered reader that is online now?  For
 * debug assertions in functions that must only be called from a read-side
 * section (ts_pipeline_run, the hook table's run/active).
 */
bool ts_rcu_is_reader(void);
/*
 * Wait for a grace period.  Must not be called from inside a read-side
 * section (a registered, online thread calling it counts as quiescent at
 * the call).  Sleeps; never call it from a data-path thread's batch.
 */
void ts_rcu_synchronize(void);

#endif
