/* SPDX-License-Identifier: MIT */
/*
 * Dropping root once the daemon's privileged set-up is done: the TUN is
 * open, the UDP sockets are bound, the UAPI and ctl sockets listen.  After
 * ts_privdrop() the daemon runs as an unprivileged user with CAP_NET_ADMIN
 * (and CAP_NET_BIND_SERVICE only when its listen port is below 1024) and
 * nothing else, under no_new_privs, with a bounding set of just those.
 *
 * The socket files stay root-owned 0600 in root-owned directories, which
 * the dropped daemon cannot write, so a small helper forked before the drop
 * keeps uid 0 (and no capability) and does one thing: it removes those
 * files when the daemon asks (ts_privdrop_release) or dies.
 */
#ifndef TS_PRIVDROP_H
#define TS_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>

/* The default user; when it does not exist the daemon falls back to "nobody". */
#define TS_PRIVDROP_USER     "tinescale"
#define TS_PRIVDROP_FALLBACK "nobody"

/*
 * Call while the process has one thread (capabilities, keep-caps and
 * no_new_privs are per thread; threads created later inherit them).
 * user: NULL for TS_PRIVDROP_USER (or the fallback, with a warning); a
 * named user that does not exist is an error.  bind_low: keep
 * CAP_NET_BIND_SERVICE.  paths: the socket files the helper removes.
 * Not root: logs that there is nothing to drop and returns 0.
 * 0, or -errno with err filled (the daemon must then stop).
 */
int ts_privdrop(const char *user, bool bind_low, const char *const *paths, size_t n_paths,
		char *err, size_t errlen);

/*
 * Have the helper remove the socket files now, while the listening sockets
 * are still open (so that no new daemon has replaced them yet), and wait
 * (bounded) until it has.  Does nothing when there was no drop.
 */
void ts_privdrop_release(void);

/* Not dumpable: no core file, no ptrace by the same uid, /proc/PID/ root-only. */
void ts_privdrop_no_dump(void);

/*
 * Last thing before exit, once every key is wiped: sanitizer builds turn
 * dumpable back on, as LeakSanitizer needs ptrace on its own threads.
 * Nothing otherwise.
 */
void ts_privdrop_before_exit(void);

#endif
