// SPDX-License-Identifier: MIT
/* systemd's readiness notification, written out (see sdnotify.h). */
#include "sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Connected by ts_sd_notify_open (before the daemon drops root), or -1. */
static int notify_fd = -1;

static int notify_addr(struct sockaddr_un *sun, socklen_t *alen)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;

	if (!path || !*path)
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len < 2 || len > sizeof(sun->sun_path) - 1)
		return -EINVAL;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len);
	if (path[0] == '@')
		sun->sun_path[0] = '\0';
	*alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	return 1;
}

int ts_sd_notify_open(void)
{
	struct sockaddr_un sun;
	socklen_t alen;
	int r = notify_addr(&sun, &alen), fd;

	if (r <= 0 || notify_fd >= 0)
		return r;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The socket file's permission is checked here, once, not at each send. */
	if (connect(fd, (struct sockaddr *)&sun, alen) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	notify_fd = fd;
	return 1;
}

int ts_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t len, state_len = strlen(state);
	socklen_t alen;
	ssize_t n;
	int fd, r = 1;

	if (notify_fd >= 0) {
		n = send(notify_fd, state, state_len, MSG_NOSIGNAL);
		if (n < 0)
			return -errno;
		return (size_t)n == state_len ? 1 : -EMSGSIZE;
	}
	if (!path || !*path)
		return 0;
	len = strlen(path);
	/* A path, or '@' for the abstract namespace; anything else is not ours. */
	if ((path[0] != '/' && path[0] != '@') || len < 2 || len > sizeof(sun.sun_path) - 1)
		return -EINVAL;
	memcpy(sun.sun_path, path, len);
	if (path[0] == '@')
		sun.sun_path[0] = '\0'; /* abstract: no terminator, length counts */
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* systemd reads the sender's credentials from the socket itself. */
	n = sendto(fd, state, state_len, MSG_NOSIGNAL, (struct sockaddr *)&sun, alen);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != state_len)
		r = -EMSGSIZE;
	close(fd);
	return r;
}
