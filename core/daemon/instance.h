/* SPDX-License-Identifier: MIT */
/*
 * One daemon per interface name.  A daemon holds a lock on
 * TS_CTL_DIR/IFNAME.lock for its whole life; the kernel drops it only when
 * the process is gone, with its TUN, UDP port and sockets.  A daemon whose
 * interface was just deleted is still exiting for a moment (WireGuard's
 * tests delete an interface and at once start a new daemon of the same
 * name): the new one waits for that lock, within a bound, so that the name,
 * the sockets and the UDP port are all free when it starts.  A holder whose
 * interface still exists is alive: that is refused at once.
 */
#ifndef TS_INSTANCE_H
#define TS_INSTANCE_H

#include <stddef.h>

/* How long a new daemon waits for its predecessor to exit. */
#define TS_INSTANCE_WAIT_MS 5000

/*
 * Take ifname's lock, waiting up to timeout_ms for a predecessor whose
 * interface is gone (and, the same way, for another implementation's
 * daemon still accepting on TS_UAPI_DIR/IFNAME.sock).  Returns the lock's
 * descriptor (CLOEXEC; keep it open for the process's life, then give it
 * to ts_instance_release), or -EADDRINUSE with a one-line message naming the
 * holder in err when a live daemon holds the interface or a predecessor did
 * not exit in time, or another -errno (the lock file cannot be made).
 */
int ts_instance_claim(const char *ifname, unsigned timeout_ms, char *err, size_t errlen);
/* At the very end of the daemon's life: remove the lock file and drop the lock (fd < 0: none). */
void ts_instance_release(int fd, const char *ifname);

#endif
