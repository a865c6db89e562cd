// SPDX-License-Identifier: MIT
/* The debug plugins' output: see sink.h. */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int finish(struct sink *s, int fd, char *err, size_t errlen, const char *what)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: fstat: %s", what, strerror(errno));
		close(fd);
		return -1;
	}
	s->fd = fd;
	s->regular = S_ISREG(st.st_mode);
	s->size = s->regular ? (uint64_t)st.st_size : 0;
	s->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stopfd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		close(fd);
		s->fd = -1;
		return -1;
	}
	return 0;
}

int sink_open(struct sink *s, const char *path, bool trunc, char *err, size_t errlen)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	struct stat st;
	int fd;

	s->fd = s->stopfd = -1;
	/*
	 * Opening a FIFO for writing waits for a reader (or fails with
	 * O_NONBLOCK); read-write never does on Linux, and the writer then
	 * waits in poll() where sink_stop() can reach it.
	 */
	if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
		flags = (flags & ~O_WRONLY) | O_RDWR;
	else if (trunc)
		flags |= O_TRUNC;
	else
		flags |= O_APPEND;
	fd = open(path, flags, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open '%s' for writing: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) != 0600 &&
	    fchmod(fd, 0600) < 0) {
		snprintf(err, errlen, "cannot make '%s' mode 0600: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return finish(s, fd, err, errlen, path);
}

int sink_from_fd(struct sink *s, int fd, char *err, size_t errlen)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);

	s->fd = s->stopfd = -1;
	if (d < 0) {
		snprintf(err, errlen, "cannot duplicate fd %d: %s", fd, strerror(errno));
		return -1;
	}
	return finish(s, d, err, errlen, "output");
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sink_write(struct sink *s, const void *buf, size_t len, int wait_ms)
{
	const uint8_t *p = buf;
	int64_t deadline = wait_ms >= 0 ? mono_ms() + wait_ms : 0;

	while (len) {
		/*
		 * Pipes and terminals: wait for room first, then write at most
		 * PIPE_BUF, which a pipe with room takes without blocking even
		 * when the fd is the daemon's own blocking stdout.
		 */
		size_t n = s->regular || len < PIPE_BUF ? len : PIPE_BUF;
		ssize_t w;

		if (!s->regular) {
			struct pollfd pfd[2] = {{.fd = s->fd, .events = POLLOUT},
						{.fd = s->stopfd, .events = POLLIN}};
			int timeout = -1, nfds = 2, pr;

			if (wait_ms >= 0) {
				int64_t left = deadline - mono_ms();

				if (left <= 0)
					return -ETIMEDOUT;
				timeout = (int)(left > 1000 ? 1000 : left);
				nfds = 1; /* the final flush ignores stop */
			}
			pr = poll(pfd, (nfds_t)nfds, timeout);
			if (pr < 0 && errno != EINTR)
				return -errno;
			if (nfds == 2 && (pfd[1].revents & POLLIN))
				return -ECANCELED;
			if (pr <= 0)
				continue;
			if (pfd[0].revents & (POLLERR | POLLNVAL))
				return -EPIPE;
		}
		w = write(s->fd, p, n);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

void sink_stop(struct sink *s)
{
	uint64_t one = 1;

	if (s->stopfd >= 0 && write(s->stopfd, &one, sizeof(one)) < 0) {
		/* An eventfd only fails to count past 2^64-2: already stopped. */
	}
}

void sink_close(struct sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->stopfd >= 0)
		close(s->stopfd);
	s->fd = s->stopfd = -1;
}
