/* SPDX-License-Identifier: MIT */
/*
 * The pipeline's statistics as data, for `tinescale ctl ... --json` and the
 * metrics exporter (the text of `ctl plugins` is ts_pipeline_format).  The
 * callbacks run under the host's snapshot read lock: they must not call
 * back into the host.  Any thread.
 */
#ifndef TS_PIPELINE_STATS_H
#define TS_PIPELINE_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include <tinescale/plugin.h>

struct ts_pipeline_host;

struct ts_instance_stat {
	const char *name, *plugin, *version, *file;
	int priority;
	unsigned int hooks; /* bit per enum ts_hook */
	bool events;	    /* takes events */
	unsigned int abi;   /* the plugin's ABI major version */
};

struct ts_hook_stat {
	enum ts_hook hook;
	unsigned int position; /* 1-based place in the hook's chain */
	const struct ts_instance_stat *inst;
	uint64_t pass, drop, stolen, invalid; /* verdicts; packets = their sum */
	uint64_t sampled_ns, samples;	      /* timed calls: mean = sampled_ns / samples */
};

struct ts_pipeline_stats_cb {
	void *arg;
	/* The pipeline's file (NULL: none) and instance count, first. */
	void (*pipeline)(void *arg, const char *path, size_t n_instances);
	/* Each instance in file order. */
	void (*instance)(void *arg, const struct ts_instance_stat *in);
	/* Each hook's chain in order (hooks in enum order). */
	void (*hook)(void *arg, const struct ts_hook_stat *st);
};

/* Walk the running snapshot; callbacks may be NULL.  Returns events dropped (queue full). */
uint64_t ts_pipeline_stats(struct ts_pipeline_host *ph, const struct ts_pipeline_stats_cb *cb);

#endif
