/* SPDX-License-Identifier: MIT */
/*
 * What the engine offers the plugin host, wrapped into its engine table (base/seam.h).
 * Implemented by the engine in core/engine/device.c and friends; the plugin host
 * wraps these into the public service table of include/tinescale/plugin.h.
 *
 * Thread-safety: every function here may be called from any thread,
 * including the data-path threads inside a hook, and never blocks for long
 * (no DNS, no waiting on a handshake).
 */
#ifndef TS_HOSTAPI_H
#define TS_HOSTAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "endpoint.h"
#include "seam.h" /* struct ts_peer_info, struct ts_engine_table */

struct ts_device;

/* Send a datagram from the device's own UDP socket (bypasses every hook). */
int ts_device_send_datagram(struct ts_device *dev, const union ts_endpoint *dst, const uint8_t *buf,
			    size_t len);
/*
 * Hand a datagram to WireGuard processing as if it had arrived from src
 * (it does not pass the ciphertext_in hooks again).  Used by a relay plugin
 * for frames it unwrapped asynchronously.
 */
int ts_device_inject_datagram(struct ts_device *dev, const union ts_endpoint *src,
			      const uint8_t *buf, size_t len);
/* 0 and *out filled, or -ENOENT. */
int ts_device_peer_info(struct ts_device *dev, const uint8_t public_key[32],
			struct ts_peer_info *out);
/* Calls cb for each peer in configuration order; stops on non-zero, returning it. */
int ts_device_peer_foreach(struct ts_device *dev,
			   int (*cb)(void *ctx, const struct ts_peer_info *peer), void *ctx);
/* Roam the peer to ep, as if an authenticated packet had arrived from it. 0 or -ENOENT. */
int ts_device_peer_set_endpoint(struct ts_device *dev, const uint8_t public_key[32],
				const union ts_endpoint *ep);
/* Which peer owns this receiver index (from a data/response/cookie message)? 0 or -ENOENT. */
int ts_device_peer_by_index(struct ts_device *dev, uint32_t local_index,
			    uint8_t public_key_out[32]);
/* The device's UDP listen port (0 before it is bound) and interface name. */
uint16_t ts_device_listen_port(struct ts_device *dev);
const char *ts_device_ifname(struct ts_device *dev);
/* Our static public key; false when no private key is configured. */
bool ts_device_public_key(struct ts_device *dev, uint8_t out[32]);
/*
 * Notes (see note_set in include/tinescale/plugin.h): public_key NULL for
 * the interface.  set: value NULL removes; 0, -ENOENT, -EINVAL, -ENOSPC.
 * get: 0 or -ENOENT.
 */
int ts_device_note_set(struct ts_device *dev, const uint8_t *public_key, const char *key,
		       const char *value);
int ts_device_note_get(struct ts_device *dev, const uint8_t *public_key, const char *key, char *buf,
		       size_t len);
/* X25519(our static private, remote_public): 0, -ENOKEY, -EINVAL. */
int ts_device_static_dh(struct ts_device *dev, const uint8_t remote_public[32], uint8_t out[32]);
/* The engine part of `tinescale ctl IFNAME status`: interface and per-peer lines. */
void ts_device_format_status(struct ts_device *dev, FILE *out);

/* The functions above as the engine table the plugin host gets (ctx = dev). */
void ts_device_engine_table(struct ts_device *dev, struct ts_engine_table *out);
/* The host's hook table (copied); before the device's threads start. */
void ts_device_set_hooks(struct ts_device *dev, const struct ts_hook_table *hooks);

#endif
