/* SPDX-License-Identifier: MIT */
/*
 * Where the data path meets the plugin pipeline: the four hook points of
 * DESIGN.md section 4, as the engine calls them, forwarded to the hook
 * table the daemon gave the device (base/seam.h, ts_device_set_hooks).
 * Without one each call is one pointer test.
 */
#ifndef TS_HOOKS_H
#define TS_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tinescale/plugin.h>

#include "endpoint.h"
#include "seam.h"

struct ts_device;
struct ts_peer;

/* True: go on with (possibly rewritten) p.  False: dropped or stolen by a plugin. */
bool ts_hooks_run(struct ts_device *dev, enum ts_hook_point point, struct ts_hook_pkt *p);
bool ts_hooks_active(struct ts_device *dev, enum ts_hook_point point);

/* tx and rx threads: register for grace periods, online; and the reverse. */
void ts_hooks_datapath_thread_begin(void);
void ts_hooks_datapath_thread_end(void);

/* Tell the plugins what happened (no-op without a pipeline).  Peer lock NOT held. */
void ts_hooks_event(struct ts_device *dev, enum ts_event_type type, const uint8_t *public_key,
		    const union ts_endpoint *ep, const struct ts_handshake_secrets *secrets);
/* Does any plugin want handshake secrets?  Then the engine collects them. */
bool ts_hooks_want_secrets(struct ts_device *dev);

#endif
