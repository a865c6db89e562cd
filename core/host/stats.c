/* SPDX-License-Identifier: MIT */
/*
 * Statistics as `tinescale ctl IFNAME plugins` and status show them: the
 * instances, each hook's chain in order with its verdict counters and
 * sampled mean time, and the events dropped on a full queue.
 */
#include <inttypes.h>
#include <stdio.h>

#include "host_internal.h"

static const char *hooks_str(unsigned int mask, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int h = 0; h < TS_HOOK_COUNT; h++)
		if (mask & (1u << h))
			off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s",
						off ? "," : "", ts_hook_name((enum ts_hook)h));
	return buf[0] ? buf : "-";
}

void ts_pipeline_format(struct ts_pipeline_host *ph, FILE *out)
{
	const struct snapshot *s;
	char hb[80];

	pthread_rwlock_rdlock(&ph->snap_lock);
	s = atomic_load_explicit(&ph->cur, memory_order_acquire);
	fprintf(out, "pipeline: %s (%zu instance%s)\n", s->path ? s->path : "none", s->n_inst,
		s->n_inst == 1 ? "" : "s");
	for (size_t i = 0; i < s->n_inst; i++) {
		struct instance *in = s->inst[i];

		fprintf(out, "instance %s: plugin %s %s (%s) priority %d hooks %s%s%s\n", in->name,
			in->desc.name, in->desc.version, in->so_path, in->priority,
			hooks_str(in->hooks, hb, sizeof(hb)), in->desc.event ? " +events" : "",
			in->desc.abi == 1 ? " abi-v1" : "");
		outputs_format(in, out);
	}
	for (int h = 0; h < TS_HOOK_COUNT; h++) {
		const struct chain *c = &s->chains[h];

		fprintf(out, "hook %s:%s\n", ts_hook_name((enum ts_hook)h), c->n ? "" : " (none)");
		for (size_t i = 0; i < c->n; i++) {
			const struct hook_stats *st = c->e[i].stats;
			uint64_t v[4], ns, n, total = 0;

			for (int j = 0; j < 4; j++) {
				v[j] = atomic_load_explicit(&st->verdicts[j], memory_order_relaxed);
				total += v[j];
			}
			ns = atomic_load_explicit(&st->sampled_ns, memory_order_relaxed);
			n = atomic_load_explicit(&st->samples, memory_order_relaxed);
			fprintf(out,
				"  %zu. %s (%s %s) priority %d: packets %" PRIu64 " pass %" PRIu64
				" drop %" PRIu64 " stolen %" PRIu64 " invalid %" PRIu64
				" mean_ns %" PRIu64 "\n",
				i + 1, c->e[i].inst->name, c->e[i].inst->desc.name,
				c->e[i].inst->desc.version, c->e[i].inst->priority, total, v[0],
				v[1], v[2], v[3], n ? ns / n : 0);
		}
	}
	pthread_rwlock_unlock(&ph->snap_lock);
	fprintf(out, "events: dropped %" PRIu64 " (queue full)\n", ts_pipeline_events_dropped(ph));
}
