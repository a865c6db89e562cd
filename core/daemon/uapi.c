// SPDX-License-Identifier: MIT
/*
 * The UAPI socket server: one thread, one client at a time (as `wg` uses
 * it), requests parsed whole before anything is applied, so a bad request
 * changes nothing.  A slow client cannot hold the socket forever: reads
 * and writes time out.  The size of a request is bounded by memory only
 * (the socket is root's): `wg setconf` sends a whole configuration in one.
 * A get response is streamed from a snapshot of the device, so its size
 * costs no buffer of its own.
 */
#include "uapi.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "accept_loop.h"
#include "config.h"
#include "device.h"
#include "log.h"
#include "unixsock.h"

struct ts_uapi {
	struct ts_device *dev;
	int listen_fd;
	struct ts_accept_loop *loop; /* NULL until ts_uapi_run */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int reply_errno(int fd, int err)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "errno=%d\n\n", err);

	return write_all(fd, line, (size_t)n);
}

static int write_sink(void *ctx, const char *text, size_t len)
{
	return write_all(*(int *)ctx, text, len);
}

/*
 * The snapshot is taken under the device lock and printed after it is
 * released, so a slow reader never holds up the data path.  Once the first
 * bytes are out an error cannot be reported in-band any more: the
 * connection is dropped instead, and wg sees a truncated reply as a failure.
 */
static int handle_get(struct ts_uapi *u, int fd)
{
	struct ts_config cfg;
	int ret;

	ret = ts_device_snapshot(u->dev, &cfg);
	if (ret < 0)
		return reply_errno(fd, -ret);
	ret = ts_config_write_uapi(&cfg, write_sink, &fd);
	ts_config_free(&cfg);
	if (ret < 0)
		return ret;
	return reply_errno(fd, 0);
}

static int handle_set(struct ts_uapi *u, int fd, const char *body, size_t len)
{
	struct ts_config cfg;
	char err[256] = "";
	int ret;

	ret = ts_config_parse_uapi(body, len, 0, &cfg, err, sizeof(err));
	if (ret == 0) {
		ret = ts_device_apply(u->dev, &cfg, err, sizeof(err));
		ts_config_free(&cfg);
	}
	if (ret < 0) {
		ts_warn("UAPI set rejected: %s", err[0] ? err : strerror(-ret));
		return reply_errno(fd, -ret);
	}
	ts_debug("UAPI set applied");
	return reply_errno(fd, 0);
}

/* Find the end of a request: a blank line.  Returns its offset or -1. */
/*
 * *scanned says how far an earlier call already looked, so that a request
 * arriving in many reads is scanned once, not once per read.
 */
static ssize_t request_end(const char *buf, size_t len, size_t *scanned)
{
	if (len == 1 && buf[0] == '\n')
		return 0;
	for (size_t i = *scanned; i + 1 < len; i++)
		if (buf[i] == '\n' && buf[i + 1] == '\n')
			return (ssize_t)i;
	*scanned = len ? len - 1 : 0;
	return -1;
}

static void serve_client(struct ts_uapi *u, int fd)
{
	struct timeval tv = {.tv_sec = 5};
	size_t cap = 4096, len = 0, scanned = 0;
	char *buf = malloc(cap);

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (buf) {
		ssize_t end, n;

		/* Serve every complete request already buffered. */
		while ((end = request_end(buf, len, &scanned)) >= 0) {
			size_t req = (size_t)end + 2 > len ? len : (size_t)end + 2;
			int ret;

			if (strncmp(buf, "get=1\n", 6) == 0 && end == 5)
				ret = handle_get(u, fd);
			else if (strncmp(buf, "set=1\n", 6) == 0)
				ret = handle_set(u, fd, buf + 6, (size_t)end + 1 - 6);
			else if (strncmp(buf, "set=1", 5) == 0 && end == 5)
				ret = handle_set(u, fd, "", 0);
			else {
				ts_log_ratelimited(TS_LOG_WARN, "UAPI: unknown request");
				ret = reply_errno(fd, EINVAL);
			}
			sodium_memzero(buf, req);
			memmove(buf, buf + req, len - req);
			len -= req;
			scanned = 0;
			if (ret < 0)
				goto out;
		}
		if (len == cap) {
			char *bigger;

			/* Not realloc(): the old buffer may hold keys, wiped first. */
			if (cap > SIZE_MAX / 2 || !(bigger = malloc(cap * 2))) {
				reply_errno(fd, ENOMEM);
				goto out;
			}
			memcpy(bigger, buf, len);
			sodium_memzero(buf, cap);
			free(buf);
			buf = bigger;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
out:
	if (buf) {
		sodium_memzero(buf, cap);
		free(buf);
	}
}

static void serve_one(void *arg, int fd)
{
	serve_client(arg, fd);
	close(fd);
}

int ts_uapi_listen(struct ts_uapi **out, struct ts_device *dev, char *err, size_t errlen)
{
	struct ts_uapi *u = calloc(1, sizeof(*u));
	int ret;

	if (!u)
		return -ENOMEM;
	u->dev = dev;
	snprintf(u->path, sizeof(u->path), "%s/%s.sock", TS_UAPI_DIR, dev->ifname);
	u->listen_fd = ts_unix_listen(TS_UAPI_DIR, 0755, u->path, err, errlen);
	if (u->listen_fd < 0) {
		ret = u->listen_fd;
		free(u);
		return ret;
	}
	*out = u;
	return 0;
}

int ts_uapi_run(struct ts_uapi *u, char *err, size_t errlen)
{
	int ret = ts_accept_loop_start(&u->loop, u->listen_fd, 0, serve_one, u);

	if (ret) {
		snprintf(err, errlen, "cannot start the UAPI thread: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

const char *ts_uapi_path(const struct ts_uapi *u)
{
	return u->path;
}

int ts_uapi_start(struct ts_uapi **out, struct ts_device *dev, char *err, size_t errlen)
{
	struct ts_uapi *u;
	int ret = ts_uapi_listen(&u, dev, err, errlen);

	if (ret)
		return ret;
	ret = ts_uapi_run(u, err, errlen);
	if (ret) {
		ts_uapi_stop(u);
		return ret;
	}
	*out = u;
	return 0;
}

void ts_uapi_stop(struct ts_uapi *u)
{
	if (!u)
		return;
	if (u->loop)
		ts_accept_loop_stop(u->loop);
	close(u->listen_fd);
	unlink(u->path);
	free(u);
}
