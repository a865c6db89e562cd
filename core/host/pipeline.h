/* SPDX-License-Identifier: MIT */
/*
 * The plugin host as the engine sees it: load a YAML pipeline into an
 * immutable snapshot, publish it with one atomic store, run the chain of a
 * hook point on a packet, deliver engine events, report statistics.
 *
 * Threads:
 * - ts_pipeline_run / ts_pipeline_has_hook: data-path threads, between
 *   ts_rcu_online() and ts_rcu_quiescent()/ts_rcu_offline() (core/base/rcu.h).
 * - ts_pipeline_event / _format / _path: any engine thread (no RCU needed:
 *   they hold a read lock that only blocks a reload's final step).
 * - ts_pipeline_load / _host_destroy: any thread that is NOT a data-path
 *   thread in a read-side section (main thread, control thread); loads are
 *   serialised.
 */
#ifndef TS_PIPELINE_H
#define TS_PIPELINE_H

#include <stdbool.h>
#include <stdio.h>

#include <tinescale/plugin.h>

struct ts_device;
struct ts_pipeline_host;

/*
 * One per device: the current snapshot, the timer thread, the statistics.
 * dev is what the host services forward to (core/host/engine_calls.h); it may be NULL
 * in tests, then the services answer -ENODEV / nothing.  0 or -errno.
 */
int ts_pipeline_host_create(struct ts_pipeline_host **out, struct ts_device *dev);
/*
 * Unpublishes and destroys the current pipeline (after a grace period),
 * stops the timer thread.  Call it after the data-path threads have stopped
 * calling ts_pipeline_run (the host's pointer is gone afterwards).
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
 * Deliver an engine event to every instance that has an event callback
 * (secrets only to those that asked for them).
 */
void ts_pipeline_event(struct ts_pipeline_host *ph, const struct ts_event *ev);

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
