/* SPDX-License-Identifier: MIT */
/*
 * systemd's service notification (sd_notify(3)) for Type=notify units,
 * without libsystemd: the protocol is one datagram of "KEY=VALUE" lines sent
 * to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the
 * abstract namespace).  Outside systemd the variable is unset and nothing
 * is sent.
 */
#ifndef TS_SDNOTIFY_H
#define TS_SDNOTIFY_H

/*
 * Send state (e.g. "READY=1", "STOPPING=1", "RELOADING=1") to $NOTIFY_SOCKET.
 * Returns 1 when sent, 0 when there is no $NOTIFY_SOCKET, or -errno (a
 * malformed or too long address: -EINVAL; the send's error otherwise).
 */
int ts_sd_notify(const char *state);
/*
 * Connect a socket to $NOTIFY_SOCKET now, for every later ts_sd_notify: the
 * daemon does it before dropping root, when it may still open a socket file
 * that only root can write.  1, 0 (no $NOTIFY_SOCKET) or -errno.
 */
int ts_sd_notify_open(void);

#endif
