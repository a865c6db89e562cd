/* SPDX-License-Identifier: MIT */
/*
 * The cross-platform configuration socket (/var/run/wireguard/IFNAME.sock)
 * that the stock `wg` tool and wg-quick speak: get=1 and set=1 requests,
 * answered with errno=N.
 */
#ifndef TS_UAPI_H
#define TS_UAPI_H

#include <stddef.h>

struct ts_device;
struct ts_uapi;

#define TS_UAPI_DIR "/var/run/wireguard"

int ts_uapi_start(struct ts_uapi **out, struct ts_device *dev, char *err, size_t errlen);
/*
 * The same in two steps: listen creates the socket (before the daemon drops
 * root, see privdrop.h), run starts the thread that serves it.
 */
int ts_uapi_listen(struct ts_uapi **out, struct ts_device *dev, char *err, size_t errlen);
int ts_uapi_run(struct ts_uapi *u, char *err, size_t errlen);
const char *ts_uapi_path(const struct ts_uapi *u);
/* Stops serving and removes the socket file. */
void ts_uapi_stop(struct ts_uapi *u);

#endif
