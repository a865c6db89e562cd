/* SPDX-License-Identifier: MIT */
/*
 * The daemon's private unix sockets (the UAPI socket and the plugin control
 * socket): created mode 0600 with no window, a stale one from a dead daemon
 * replaced, a live one refused.
 */
#ifndef TS_UNIXSOCK_H
#define TS_UNIXSOCK_H

#include <stddef.h>
#include <sys/types.h>

/*
 * mkdir dir (dir_mode) if needed, then listen on path (inside dir).  A path
 * that is not a socket, or a socket some process still accepts on, is left
 * alone.  Returns a CLOEXEC listening fd, or -errno (-EADDRINUSE: another
 * instance runs) with a one-line message naming path in err.
 */
int ts_unix_listen(const char *dir, mode_t dir_mode, const char *path, char *err, size_t errlen);

#endif
