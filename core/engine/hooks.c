/* SPDX-License-Identifier: MIT */
/*
 * The engine's side of the hook table (base/seam.h): forward the four hook
 * points and the events to the table the daemon set with
 * ts_device_set_hooks(), and the read-side state of the data-path threads.
 *
 * TEMPORARY (until every engine thread that reaches a hook registers as an
 * RCU reader from its start and runs hooks with no engine lock held, which
 * is the engine rework's job): a thread that is not an online reader when
 * it reaches a hook (handshake worker, engine timers, UAPI, a plugin's own
 * thread injecting a datagram) is made one for the duration of the call.
 * Registration never waits for a grace period (base/rcu.c), so this is safe
 * under engine locks; but the hook then runs under them.
 */
#include "hooks.h"
#include <string.h>

#include "device.h"
#include "hostapi.h"
#include "log.h"
#include "rcu.h"

void ts_device_set_hooks(struct ts_device *dev, const struct ts_hook_table *hooks)
{
	if (hooks)
		dev->hooks = *hooks;
	else
		memset(&dev->hooks, 0, sizeof(dev->hooks));
}

void ts_hooks_datapath_thread_begin(void)
{
	if (ts_rcu_thread_register() < 0)
		ts_err("cannot register a data-path thread for pipeline grace periods");
	ts_rcu_online();
}

void ts_hooks_datapath_thread_end(void)
{
	ts_rcu_thread_unregister();
}

/* TEMPORARY, see the top comment: true when we made the caller a reader. */
static bool guard_enter(void)
{
	if (ts_rcu_is_reader())
		return false;
	if (ts_rcu_thread_register() < 0) {
		ts_err("cannot register a thread for pipeline grace periods");
		return false;
	}
	ts_rcu_online();
	return true;
}

static void guard_leave(bool entered)
{
	if (entered)
		ts_rcu_offline();
}

bool ts_hooks_active(struct ts_device *dev, enum ts_hook_point point)
{
	bool g, r;

	if (!dev->hooks.active)
		return false;
	g = guard_enter();
	r = ts_rcu_is_reader() && dev->hooks.active(dev->hooks.ctx, point);
	guard_leave(g);
	return r;
}

bool ts_hooks_run(struct ts_device *dev, enum ts_hook_point point, struct ts_hook_pkt *p)
{
	bool g, r;

	if (!dev->hooks.run)
		return true;
	g = guard_enter();
	if (!ts_rcu_is_reader()) /* out of memory registering: no plugin sees it */
		return true;
	p->listen_port = ts_device_listen_port(dev);
	r = dev->hooks.run(dev->hooks.ctx, point, p);
	guard_leave(g);
	return r;
}

void ts_hooks_event(struct ts_device *dev, enum ts_event_type type, const uint8_t *public_key,
		    const union ts_endpoint *ep, const struct ts_handshake_secrets *secrets)
{
	struct ts_engine_event ev = {.type = type, .secrets = secrets};

	if (!dev->hooks.event)
		return;
	if (public_key)
		memcpy(ev.public_key, public_key, sizeof(ev.public_key));
	if (ep)
		ev.endpoint = *ep;
	dev->hooks.event(dev->hooks.ctx, &ev);
}

bool ts_hooks_want_secrets(struct ts_device *dev)
{
	return dev->hooks.want_secrets && dev->hooks.want_secrets(dev->hooks.ctx);
}
