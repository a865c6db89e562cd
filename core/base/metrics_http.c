// SPDX-License-Identifier: MIT
/* The /metrics HTTP/1.0 responder and its request parser: see metrics_http.h. */
#include "metrics_http.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "accept_loop.h"
#include "endpoint.h"

#define DEADLINE_MS 2000

struct ts_metrics_http {
	int fd;
	struct ts_accept_loop *loop;
	void (*render)(void *arg, FILE *f);
	void *arg;
};

static bool token_char(char c)
{
	return c > 0x20 && c < 0x7f;
}

int ts_http_parse_request(const char *buf, size_t len)
{
	const char *end, *sp1, *sp2, *line_end, *path, *ver;
	size_t scan = len < TS_HTTP_MAX_REQUEST ? len : TS_HTTP_MAX_REQUEST;

	/* The head ends at an empty line; a bare LF is taken as well as CRLF. */
	end = NULL;
	for (size_t i = 0; i < scan && !end; i++) {
		if (buf[i] != '\n')
			continue;
		if (i >= 1 && buf[i - 1] == '\n')
			end = buf + i;
		else if (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n')
			end = buf + i;
	}
	if (!end)
		return len >= TS_HTTP_MAX_REQUEST ? 431 : 0;
	line_end = memchr(buf, '\n', (size_t)(end - buf) + 1);
	if (line_end > buf && line_end[-1] == '\r')
		line_end--;
	/* Request line: METHOD SP TARGET SP HTTP/1.x, nothing else. */
	sp1 = memchr(buf, ' ', (size_t)(line_end - buf));
	if (!sp1 || sp1 == buf)
		return 400;
	path = sp1 + 1;
	sp2 = memchr(path, ' ', (size_t)(line_end - path));
	if (!sp2 || sp2 == path)
		return 400;
	ver = sp2 + 1;
	if (line_end - ver != 8 || memcmp(ver, "HTTP/1.", 7) || (ver[7] != '0' && ver[7] != '1'))
		return 400;
	for (const char *p = buf; p < sp1; p++)
		if (!token_char(*p))
			return 400;
	for (const char *p = path; p < sp2; p++)
		if (!token_char(*p))
			return 400;
	if (sp1 - buf != 3 || memcmp(buf, "GET", 3))
		return 405;
	if ((sp2 - path == 8 || (sp2 - path > 8 && path[8] == '?')) && !memcmp(path, "/metrics", 8))
		return 200;
	return 404;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Wait for fd to be ready for events until the deadline; false on timeout or error. */
static bool wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_ms();
		struct pollfd p = {.fd = fd, .events = events};
		int r;

		if (now >= deadline)
			return false;
		r = poll(&p, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		return r > 0 && (p.revents & events);
	}
}

static void send_all(int fd, const char *b, size_t n, uint64_t deadline)
{
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			b += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!wait_fd(fd, POLLOUT, deadline))
				return;
		} else {
			return;
		}
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 408:
		return "Request Timeout";
	default:
		return "Bad Request";
	}
}

static void serve(struct ts_metrics_http *m, int cfd)
{
	char req[TS_HTTP_MAX_REQUEST], head[256];
	uint64_t deadline = now_ms() + DEADLINE_MS;
	size_t have = 0;
	char *body = NULL;
	size_t blen = 0;
	int status = 0, hl;

	while (!status) {
		ssize_t n;

		if (!wait_fd(cfd, POLLIN, deadline)) {
			status = 408;
			break;
		}
		n = recv(cfd, req + have, sizeof(req) - have, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return; /* gone, or closed before a whole request: nobody to answer */
		have += (size_t)n;
		status = ts_http_parse_request(req, have);
	}
	if (status == 200) {
		FILE *f = open_memstream(&body, &blen);

		if (f) {
			m->render(m->arg, f);
			if (fclose(f))
				blen = 0;
		}
		if (!body)
			status = 500;
	} else {
		body = NULL;
		blen = 0;
	}
	hl = snprintf(head, sizeof(head),
		      "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		      "Connection: close\r\n\r\n",
		      status, status == 500 ? "Internal Server Error" : reason(status),
		      status == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain",
		      status == 200 ? blen : 0);
	deadline = now_ms() + DEADLINE_MS;
	send_all(cfd, head, (size_t)hl, deadline);
	if (status == 200)
		send_all(cfd, body, blen, deadline);
	free(body);
}

static void serve_one(void *arg, int cfd)
{
	serve(arg, cfd);
	close(cfd);
}

int ts_metrics_http_start(struct ts_metrics_http **out, const char *addr,
			  void (*render)(void *arg, FILE *f), void *arg, char *err, size_t errlen)
{
	struct ts_metrics_http *m;
	union ts_endpoint ep;
	int one = 1, r;

	if (ts_endpoint_parse(&ep, addr) < 0) {
		snprintf(err, errlen,
			 "metrics address '%s': expected ADDR:PORT (127.0.0.1:9586 or "
			 "[::1]:9586)",
			 addr);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->render = render;
	m->arg = arg;
	m->fd = socket(ep.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (m->fd < 0 || setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(m->fd, &ep.sa, ts_endpoint_len(&ep)) || listen(m->fd, 16)) {
		r = -errno;
		snprintf(err, errlen, "metrics address %s: %s", addr, strerror(errno));
		goto fail;
	}
	r = ts_accept_loop_start(&m->loop, m->fd, SOCK_NONBLOCK, serve_one, m);
	if (r) {
		snprintf(err, errlen, "cannot start the metrics thread: %s", strerror(-r));
		goto fail;
	}
	*out = m;
	return 0;
fail:
	if (m->fd >= 0)
		close(m->fd);
	free(m);
	return r;
}

void ts_metrics_http_stop(struct ts_metrics_http *m)
{
	if (!m)
		return;
	ts_accept_loop_stop(m->loop);
	close(m->fd);
	free(m);
}
