// SPDX-License-Identifier: MIT
/* Private unix sockets of the daemon (see unixsock.h). */
#include "unixsock.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Is somebody accepting on sun?  (A stale socket refuses the connection.) */
static bool alive(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return ok;
}

int ts_unix_listen(const char *dir, mode_t dir_mode, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old;
	int fd, e;

	if (mkdir(dir, dir_mode) < 0 && errno != EEXIST) {
		e = errno;
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(e));
		return -e;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			return -EEXIST;
		}
		if (alive(&sun)) {
			snprintf(err, errlen,
				 "%s is in use: is another tinescale running for this "
				 "interface?",
				 path);
			return -EADDRINUSE;
		}
		unlink(path); /* stale: its daemon died without cleaning up */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "socket: %s", strerror(e));
		return -e;
	}
	/* 0600 from the moment it exists: no window with a looser mode. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 16) < 0) {
		e = errno;
		umask(old);
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(e));
		close(fd);
		unlink(path);
		return -e;
	}
	umask(old);
	return fd;
}
