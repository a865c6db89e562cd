/* SPDX-License-Identifier: MIT */
/*
 * A thread that accepts connections on a listening socket and hands each to
 * a callback, one at a time, until stopped: the loop of the control socket
 * (daemon/ctl.c) and of the metrics responder (metrics_http.c).  The
 * thread blocks every signal (the process takes them elsewhere).
 */
#ifndef TS_ACCEPT_LOOP_H
#define TS_ACCEPT_LOOP_H

struct ts_accept_loop;

/*
 * Start accepting on fd (accept4 with flags | SOCK_CLOEXEC).  serve owns
 * the connection: it closes it, or keeps it for a thread of its own.  fd
 * stays the caller's.  0 or -errno.
 */
int ts_accept_loop_start(struct ts_accept_loop **out, int fd, int flags,
			 void (*serve)(void *arg, int cfd), void *arg);
/* Wake the thread, let it finish the connection in hand, join it. */
void ts_accept_loop_stop(struct ts_accept_loop *l);

#endif
