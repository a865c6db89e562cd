// SPDX-License-Identifier: MIT
/*
 * Claiming an interface name from a predecessor (see instance.h).
 *
 * The lock is a POSIX record lock (F_SETLK), not flock() or an OFD lock,
 * because F_GETLK names the process that holds it.  Unix sockets alone
 * cannot tell "exiting" from "gone": a daemon closes them first and its
 * UDP port a moment later.  The holder is alive, not exiting, when its
 * interface still exists in our network namespace, or when it runs in
 * another namespace (the lock and socket paths are shared by all of them).
 */
#include "instance.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "log.h"
#include "uapi.h"

/*
 * Who accepts connections on path: its pid, 0 if nobody (no file, or a
 * stale one), -1 if somebody does but would not say who.
 */
static pid_t socket_holder(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct ucred cred;
	socklen_t len = sizeof(cred);
	pid_t pid = 0;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return 0;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* Non-blocking: a full backlog says EAGAIN (alive) instead of waiting. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return 0;
	if (connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) == 0)
		pid = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid > 0
			  ? cred.pid
			  : -1;
	else if (errno == EAGAIN)
		pid = -1;
	close(fd);
	return pid;
}

/* Try the lock: 0 taken, 1 held by *holder (-1: unknown), or -errno. */
static int try_lock(int fd, pid_t *holder)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

	if (fcntl(fd, F_SETLK, &fl) == 0)
		return 0;
	if (errno != EAGAIN && errno != EACCES)
		return -errno;
	fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET};
	*holder = -1; /* released in between, or unknown: ask again */
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0)
		*holder = fl.l_pid;
	return 1;
}

/* Is fd still the file at path? */
static bool same_file(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* Does pid run in our network namespace?  True when /proc cannot tell. */
static bool same_netns(pid_t pid)
{
	char path[64];
	struct stat self, other;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	if (stat("/proc/self/ns/net", &self) < 0 || stat(path, &other) < 0)
		return true;
	return self.st_dev == other.st_dev && self.st_ino == other.st_ino;
}

static int pidfd_open_compat(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * Wait until pid (if known) exits or at most 50 ms: woken at the exit where
 * the kernel has pidfds, a short nap otherwise.
 */
static void nap(pid_t pid, uint64_t left_ns)
{
	int ms = left_ns >= 50000000 ? 50 : (int)(left_ns / 1000000) + 1;
	int fd = pid > 0 ? pidfd_open_compat(pid) : -1;

	if (fd >= 0) {
		poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, ms);
		close(fd);
	} else {
		poll(NULL, 0, ms < 10 ? ms : 10);
	}
}

int ts_instance_claim(const char *ifname, unsigned timeout_ms, char *err, size_t errlen)
{
	uint64_t deadline = ts_now_ns() + (uint64_t)timeout_ms * 1000000;
	char lock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pid_t logged = 0;
	int fd, n;

	/* The directory as the ctl socket makes it: it may not exist yet. */
	if (mkdir(ts_ctl_dir(), 0700) < 0 && errno != EEXIST) {
		n = errno;
		snprintf(err, errlen, "cannot create %s: %s", ts_ctl_dir(), strerror(n));
		return -n;
	}
	n = snprintf(lock, sizeof(lock), "%s/%s.lock", ts_ctl_dir(), ifname);
	if (n < 0 || (size_t)n >= sizeof(lock) ||
	    (size_t)snprintf(sock, sizeof(sock), "%s/%s.sock", TS_UAPI_DIR, ifname) >=
		sizeof(sock)) {
		snprintf(err, errlen, "socket or lock path too long for %s", ifname);
		return -ENAMETOOLONG;
	}
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		n = errno;
		snprintf(err, errlen, "cannot open %s: %s", lock, strerror(n));
		return -n;
	}
	for (;;) {
		const char *what = lock;
		char who[32] = "a process";
		pid_t pid = 0;
		int ret = try_lock(fd, &pid);

		if (ret < 0) {
			snprintf(err, errlen, "cannot lock %s: %s", lock, strerror(-ret));
			close(fd);
			return ret;
		}
		/*
		 * Ours, but of the file we opened: if a predecessor removed it
		 * on its way out (ts_instance_release), lock the path's new file.
		 */
		if (ret == 0 && !same_file(fd, lock)) {
			close(fd);
			fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
			if (fd < 0) {
				n = errno;
				snprintf(err, errlen, "cannot open %s: %s", lock, strerror(n));
				return -n;
			}
			continue;
		}
		/* Ours (taking it again is a no-op): another implementation may hold the socket. */
		if (ret == 0) {
			what = sock;
			pid = socket_holder(sock);
			if (pid == 0)
				return fd;
		}
		if (pid > 0)
			snprintf(who, sizeof(who), "pid %d", (int)pid);
		if (if_nametoindex(ifname)) {
			snprintf(err, errlen,
				 "%s exists and %s holds %s: another daemon runs for this "
				 "interface",
				 ifname, who, what);
			break;
		}
		if (pid > 0 && !same_netns(pid)) {
			snprintf(err, errlen,
				 "%s holds %s in another network namespace: another daemon runs "
				 "for an interface named %s",
				 who, what, ifname);
			break;
		}
		if (ts_now_ns() >= deadline) {
			snprintf(err, errlen,
				 "%s still holds %s %u ms after %s went away: is another daemon "
				 "running for this interface?",
				 who, what, timeout_ms, ifname);
			break;
		}
		if (pid > 0 && pid != logged) {
			ts_info("%s holds %s, but %s is gone: waiting for it to exit", who, what,
				ifname);
			logged = pid;
		}
		nap(pid, deadline - ts_now_ns());
	}
	close(fd);
	return -EADDRINUSE;
}

void ts_instance_release(int fd, const char *ifname)
{
	char lock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int n;

	if (fd < 0)
		return;
	/*
	 * Removed while still held, so that a successor waiting on this file
	 * sees it is gone and locks a new one (see same_file); without the
	 * right to remove it (privileges dropped) it simply stays.
	 */
	n = snprintf(lock, sizeof(lock), "%s/%s.lock", ts_ctl_dir(), ifname);
	if (n > 0 && (size_t)n < sizeof(lock) && same_file(fd, lock))
		unlink(lock);
	close(fd);
}
