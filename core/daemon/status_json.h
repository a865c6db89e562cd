/* SPDX-License-Identifier: MIT */
/*
 * `tinescale ctl IFNAME status --json` and `plugins --json`: the same facts
 * as the text forms, as one JSON object with stable keys (documented in
 * docs/observability.md; keys are only ever added).
 */
#ifndef TS_STATUS_JSON_H
#define TS_STATUS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct ts_engine_table;
struct ts_pipeline_host;

/* status: the interface object with "pipeline" inside; else the pipeline object alone. */
void ts_status_json(FILE *out, const struct ts_engine_table *eng, struct ts_pipeline_host *ph,
		    bool status);

/*
 * A peer's path as status and metrics report it: nat-probe's "path" note
 * (direct or relay) when there is one, else "direct" when the peer has an
 * endpoint, else "unknown".
 */
const char *ts_peer_path(const struct ts_engine_table *eng, const unsigned char key[32],
			 bool has_endpoint, char *buf, size_t len);

#endif
