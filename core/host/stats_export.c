/* SPDX-License-Identifier: MIT */
/* The pipeline's statistics as data (pipeline_stats.h). */
#include "host_internal.h"
#include "pipeline_stats.h"

static void instance_stat(const struct instance *in, struct ts_instance_stat *o)
{
	*o = (struct ts_instance_stat){
	    .name = in->name,
	    .plugin = in->desc.name,
	    .version = in->desc.version,
	    .file = in->so_path,
	    .priority = in->priority,
	    .hooks = in->hooks,
	    .events = in->desc.event != NULL,
	    .abi = in->desc.abi,
	};
}

uint64_t ts_pipeline_stats(struct ts_pipeline_host *ph, const struct ts_pipeline_stats_cb *cb)
{
	const struct snapshot *s;

	pthread_rwlock_rdlock(&ph->snap_lock);
	s = atomic_load_explicit(&ph->cur, memory_order_acquire);
	if (cb->pipeline)
		cb->pipeline(cb->arg, s->path, s->n_inst);
	for (size_t i = 0; cb->instance && i < s->n_inst; i++) {
		struct ts_instance_stat is;

		instance_stat(s->inst[i], &is);
		cb->instance(cb->arg, &is);
	}
	for (int h = 0; cb->hook && h < TS_HOOK_COUNT; h++) {
		const struct chain *c = &s->chains[h];

		for (size_t i = 0; i < c->n; i++) {
			const struct hook_stats *st = c->e[i].stats;
			struct ts_instance_stat is;
			struct ts_hook_stat hs = {
			    .hook = (enum ts_hook)h,
			    .position = (unsigned int)i + 1,
			    .inst = &is,
			};

			instance_stat(c->e[i].inst, &is);
			/* Relaxed: counters read approximately, as ts_pipeline_format does. */
			hs.pass =
			    atomic_load_explicit(&st->verdicts[TS_PASS], memory_order_relaxed);
			hs.drop =
			    atomic_load_explicit(&st->verdicts[TS_DROP], memory_order_relaxed);
			hs.stolen =
			    atomic_load_explicit(&st->verdicts[TS_STOLEN], memory_order_relaxed);
			hs.invalid = atomic_load_explicit(&st->verdicts[3], memory_order_relaxed);
			hs.sampled_ns = atomic_load_explicit(&st->sampled_ns, memory_order_relaxed);
			hs.samples = atomic_load_explicit(&st->samples, memory_order_relaxed);
			cb->hook(cb->arg, &hs);
		}
	}
	pthread_rwlock_unlock(&ph->snap_lock);
	return ts_pipeline_events_dropped(ph);
}
