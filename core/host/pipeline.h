/* SPDX-License-Identifier: MIT */
/*
 * The plugin host as the daemon sees it: load a YAML pipeline into an
 * immutable snapshot, publish it with one atomic store, and hand the engine
 * a hook table (base/seam.h) that runs the chains and queues events.
 *
 * Threads (see host_internal.h for the full table):
 * - hook table run/active, ts_pipeline_run / ts_pipeline_has_hook: only
 *   registered RCU readers that are online (engine data-path threads, from
 *   their start); asserted in debug builds.
 * - hook table event/want_secrets: any thread, any lock; event() copies the
 *   event and the host's event thread delivers it.
 * - ts_pipeline_format / _path_dup / _events_dropped: any thread.
 * - ts_pipeline_load / _host_destroy: any thread that is NOT an online RCU
 *   reader (main thread, control thread); loads are serialised.
 */
#ifndef TS_PIPELINE_H
#define TS_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <tinescale/plugin.h>

#include "seam.h"

struct ts_pipeline_host;

/*
 * One per device: the current snapshot, the timer and event threads, the
 * statistics.  engine (copied) is what the host services forward to; NULL
 * in tests: then the services answer -ENODEV / nothing.  0 or -errno.
 */
int ts_pipeline_host_create(struct ts_pipeline_host **out, const struct ts_engine_table *engine);
/* What the engine calls (valid until ts_pipeline_host_destroy). */
const struct ts_hook_table *ts_pipeline_hook_table(struct ts_pipeline_host *ph);
/*
 * Drops undelivered events, unpublishes and destroys the current pipeline
 * (after a grace period), stops the host's threads.  Call it after the
 * engine has stopped calling the hook table.
 */
void ts_pipeline_host_destroy(struct ts_pipeline_host *ph);

/*
 * Build, validate and publish a new snapshot from path (NULL = the empty
 * pipeline).  On failure the running one stays, -1 is returned and err
 * holds one line "FILE:LINE:COLUMN: what, expected what".  The old snapshot
 * is destroyed and dlclose'd after a grace period, before this returns.
 * The path is remembered (made absolute) for ts_pipeline_path().
 */
int ts_pipeline_load(struct ts_pipeline_host *ph, const char *path, char *err, size_t errlen);

/*
 * Hot path: run hook's chain on pkt (sets pkt->hook).  Returns the final
 * verdict: TS_PASS when every hook passed (or none is registered), else the
 * first TS_DROP / TS_STOLEN (unknown verdicts and a moved buffer count as
 * TS_DROP).  Costs one atomic load and a branch when the chain is empty.
 */
enum ts_verdict ts_pipeline_run(struct ts_pipeline_host *ph, enum ts_hook hook,
				struct ts_packet *pkt);
/* Is any hook registered at this point?  (So the engine can skip building a ts_packet.) */
bool ts_pipeline_has_hook(struct ts_pipeline_host *ph, enum ts_hook hook);
/* Does any running instance take TS_EVENT_HANDSHAKE_SECRETS?  (Then the engine emits them.) */
bool ts_pipeline_wants_secrets(struct ts_pipeline_host *ph);
/*
 * Wait until every event queued before the call has been delivered (or
 * the host stops).  Not from the event thread.  For tests and shutdown.
 */
void ts_pipeline_event_sync(struct ts_pipeline_host *ph);
/* Events dropped because the queue was full. */
uint64_t ts_pipeline_events_dropped(struct ts_pipeline_host *ph);
/* Is the caller the host's event thread?  (Tests.) */
bool ts_pipeline_on_event_thread(struct ts_pipeline_host *ph);

/*
 * For `tinescale ctl IFNAME plugins` and status: per hook in order, instance
 * name, plugin name and version, priority, packets seen, verdict counts,
 * mean ns per call (sampled 1 in 64 calls).
 */
void ts_pipeline_format(struct ts_pipeline_host *ph, FILE *out);
/* The absolute path of the running pipeline file, or NULL when empty.  Valid until the next load.
 */
const char *ts_pipeline_path(struct ts_pipeline_host *ph);
/* The path as a fresh copy (safe against a concurrent reload); free() it.  NULL when none. */
char *ts_pipeline_path_dup(struct ts_pipeline_host *ph);
/*
 * The bytes the current pipeline's ciphertext_out instances may add to a
 * datagram together (their descriptors' wire_overhead): the daemon's
 * default MTU leaves room for them.
 */
size_t ts_pipeline_wire_overhead(struct ts_pipeline_host *ph);

/* Log threshold for plugins' log service (default TS_LOG_INFO); lines go to stderr. */
void ts_pipeline_set_log_level(struct ts_pipeline_host *ph, enum ts_log_level level);

/* The names of the hook points as the YAML spells them; NULL for an invalid hook. */
const char *ts_hook_name(enum ts_hook hook);

/*
 * For tests and fuzzing: replace the install directory searched last
 * (default TS_PLUGIN_DIR; NULL restores it) and the function that opens a
 * plugin (default dlopen(path, RTLD_NOW | RTLD_LOCAL); it returns a handle
 * or NULL with a message in err).  Call before loading.
 */
void ts_pipeline_set_default_dir(struct ts_pipeline_host *ph, const char *dir);
void ts_pipeline_set_opener(struct ts_pipeline_host *ph,
			    void *(*open)(const char *path, char *err, size_t errlen));

#endif
