/* SPDX-License-Identifier: MIT */
/*
 * TEMPORARY shim until the host takes the engine's struct ts_engine_table
 * (base/seam.h): the engine functions the host's services forward to,
 * declared here so that the host includes no engine header.  The daemon
 * links the engine in; the tests define fakes.
 */
#ifndef TS_HOST_ENGINE_CALLS_H
#define TS_HOST_ENGINE_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "endpoint.h"
#include "seam.h"

struct ts_device;

int ts_device_send_datagram(struct ts_device *dev, const union ts_endpoint *dst, const uint8_t *buf,
			    size_t len);
int ts_device_inject_datagram(struct ts_device *dev, const union ts_endpoint *src,
			      const uint8_t *buf, size_t len);
int ts_device_peer_info(struct ts_device *dev, const uint8_t public_key[32],
			struct ts_peer_info *out);
int ts_device_peer_foreach(struct ts_device *dev,
			   int (*cb)(void *ctx, const struct ts_peer_info *peer), void *ctx);
int ts_device_peer_set_endpoint(struct ts_device *dev, const uint8_t public_key[32],
				const union ts_endpoint *ep);
int ts_device_peer_by_index(struct ts_device *dev, uint32_t local_index,
			    uint8_t public_key_out[32]);
uint16_t ts_device_listen_port(struct ts_device *dev);
const char *ts_device_ifname(struct ts_device *dev);
bool ts_device_public_key(struct ts_device *dev, uint8_t out[32]);
int ts_device_note_set(struct ts_device *dev, const uint8_t *public_key, const char *key,
		       const char *value);
int ts_device_note_get(struct ts_device *dev, const uint8_t *public_key, const char *key, char *buf,
		       size_t len);
int ts_device_static_dh(struct ts_device *dev, const uint8_t remote_public[32], uint8_t out[32]);
void ts_device_format_status(struct ts_device *dev, FILE *out);

#endif
