/* SPDX-License-Identifier: MIT */
/*
 * The plugin control socket (server thread and `tinescale ctl` client);
 * the protocol is described in ctl.h.
 */
#include "ctl.h"

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "pipeline.h"
#include "seam.h"
#include "unixsock.h"

#define MAX_REQUEST 4096

struct ts_ctl_server {
	int fd, stop_fd;
	pthread_t thread;
	bool running; /* the accept thread was started */
	struct ts_pipeline_host *ph;
	struct ts_engine_table eng; /* format_status NULL: the pipeline only */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static const char *ctl_dir(void)
{
	const char *d = getenv("TINESCALE_CTL_DIR");

	return d && d[0] ? d : TS_CTL_DIR;
}

int ts_ctl_socket_path(char *buf, size_t len, const char *ifname)
{
	int n;

	if (!ifname || !ifname[0] || strlen(ifname) >= IFNAMSIZ || strchr(ifname, '/') ||
	    !strcmp(ifname, ".") || !strcmp(ifname, ".."))
		return -EINVAL;
	n = snprintf(buf, len, "%s/%s.ctl", ctl_dir(), ifname);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int make_addr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

static void send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* the client went away or timed out: nothing to tell it */
		buf += n;
		len -= (size_t)n;
	}
}

static void handle_request(struct ts_ctl_server *srv, const char *line, FILE *out)
{
	char err[1024];

	if (!strcmp(line, "status")) {
		fputs("ok\n", out);
		if (srv->eng.format_status)
			srv->eng.format_status(srv->eng.ctx, out);
		ts_pipeline_format(srv->ph, out);
	} else if (!strcmp(line, "plugins")) {
		fputs("ok\n", out);
		ts_pipeline_format(srv->ph, out);
	} else if (!strcmp(line, "reload") || !strncmp(line, "reload ", 7)) {
		char *path = line[6] ? strdup(line + 7) : ts_pipeline_path_dup(srv->ph);

		if (!path) {
			fprintf(out, "error: %s\n",
				line[6] ? "out of memory"
					: "no pipeline file is loaded, expected reload FILE.yaml");
		} else if (path[0] != '/') {
			fprintf(out, "error: '%s' is not an absolute path\n", path);
		} else if (ts_pipeline_load(srv->ph, path, err, sizeof(err))) {
			/* The daemon's log says what happened too, not only the client. */
			ts_err("ctl reload failed, the running pipeline stays: %s", err);
			fprintf(out, "error: %s\n", err);
		} else {
			ts_info("pipeline %s reloaded (ctl)", path);
			fprintf(out, "ok\nreloaded %s\n", path);
		}
		free(path);
	} else {
		fprintf(out, "error: unknown command '%.64s', expected status, plugins or reload\n",
			line);
	}
}

static void serve(struct ts_ctl_server *srv, int cfd)
{
	struct timeval tv = {.tv_sec = 2};
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	char req[MAX_REQUEST + 1], *nl;
	size_t have = 0;
	char *resp = NULL;
	size_t rlen = 0;
	FILE *out;

	/* A client that never finishes its line must not stall the daemon's control. */
	setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	tv.tv_sec = 5;
	setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		static const char msg[] = "error: permission denied\n";

		send_all(cfd, msg, sizeof(msg) - 1);
		return;
	}
	for (;;) {
		ssize_t n = recv(cfd, req + have, sizeof(req) - 1 - have, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		req[have] = '\0';
		if (memchr(req, '\n', have) || have == sizeof(req) - 1)
			break;
	}
	req[have] = '\0';
	out = open_memstream(&resp, &rlen);
	if (!out)
		return;
	nl = memchr(req, '\n', have);
	if (!nl)
		fputs("error: request too long or not terminated, expected one line\n", out);
	else if (memchr(req, '\0', (size_t)(nl - req)))
		fputs("error: NUL in request\n", out);
	else {
		*nl = '\0';
		handle_request(srv, req, out);
	}
	fclose(out);
	if (resp)
		send_all(cfd, resp, rlen);
	free(resp);
}

static void *server_thread(void *arg)
{
	struct ts_ctl_server *srv = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = srv->fd, .events = POLLIN},
				      {.fd = srv->stop_fd, .events = POLLIN}};
		int cfd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		cfd = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		serve(srv, cfd);
		close(cfd);
	}
	return NULL;
}

int ts_ctl_server_listen(struct ts_ctl_server **out, const char *ifname, char *err, size_t errlen)
{
	struct ts_ctl_server *srv;
	int r;

	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	srv->fd = srv->stop_fd = -1;
	r = ts_ctl_socket_path(srv->path, sizeof(srv->path), ifname);
	if (r) {
		snprintf(err, errlen, "control socket for '%s': %s", ifname ? ifname : "",
			 r == -EINVAL ? "invalid interface name" : "path too long");
		goto fail;
	}
	srv->fd = ts_unix_listen(ctl_dir(), 0700, srv->path, err, errlen);
	if (srv->fd < 0) {
		r = srv->fd;
		goto fail;
	}
	srv->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (srv->stop_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		close(srv->fd);
		unlink(srv->path);
		goto fail;
	}
	*out = srv;
	return 0;
fail:
	free(srv);
	return r;
}

int ts_ctl_server_run(struct ts_ctl_server *srv, struct ts_pipeline_host *ph,
		      const struct ts_engine_table *engine, char *err, size_t errlen)
{
	int r;

	srv->ph = ph;
	if (engine)
		srv->eng = *engine;
	r = pthread_create(&srv->thread, NULL, server_thread, srv);
	if (r) {
		snprintf(err, errlen, "pthread_create: %s", strerror(r));
		return -r;
	}
	srv->running = true;
	return 0;
}

const char *ts_ctl_server_path(const struct ts_ctl_server *srv)
{
	return srv->path;
}

int ts_ctl_server_start(struct ts_ctl_server **out, const char *ifname, struct ts_pipeline_host *ph,
			const struct ts_engine_table *engine, char *err, size_t errlen)
{
	struct ts_ctl_server *srv;
	int r;

	r = ts_ctl_server_listen(&srv, ifname, err, errlen);
	if (r)
		return r;
	r = ts_ctl_server_run(srv, ph, engine, err, errlen);
	if (r) {
		ts_ctl_server_stop(srv);
		return r;
	}
	*out = srv;
	return 0;
}

void ts_ctl_server_stop(struct ts_ctl_server *srv)
{
	uint64_t one = 1;

	if (!srv)
		return;
	if (srv->running) {
		if (write(srv->stop_fd, &one, sizeof(one)) != sizeof(one))
			perror("tinescale: ctl stop");
		pthread_join(srv->thread, NULL);
	}
	close(srv->fd);
	close(srv->stop_fd);
	unlink(srv->path);
	free(srv);
}

static void usage(FILE *f)
{
	fputs("Usage: tinescale ctl IFNAME status|plugins|reload [FILE.yaml]\n"
	      "  status    interface, peers and the plugin pipeline with counters\n"
	      "  plugins   the plugin pipeline: instances, hooks in order, counters\n"
	      "  reload    load FILE.yaml (or the running pipeline's file again);\n"
	      "            on error the running pipeline stays\n",
	      f);
}

int ts_ctl_client_main(int argc, char **argv)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *req = NULL, *resp = NULL, *file = NULL, *nl;
	size_t rlen = 0;
	struct sockaddr_un sun;
	int fd = -1, status = 1, r;
	char buf[4096];
	FILE *mem;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
	}
	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[2], "reload")) ||
	    (strcmp(argv[2], "status") && strcmp(argv[2], "plugins") &&
	     strcmp(argv[2], "reload"))) {
		usage(stderr);
		return 2;
	}
	r = ts_ctl_socket_path(path, sizeof(path), argv[1]);
	if (r) {
		fprintf(stderr, "tinescale ctl: '%s': %s\n", argv[1],
			r == -EINVAL ? "invalid interface name" : "path too long");
		return 2;
	}
	if (argc == 4) {
		file = realpath(argv[3], NULL);
		if (!file) {
			fprintf(stderr, "tinescale ctl: %s: %s\n", argv[3], strerror(errno));
			return 1;
		}
		if (strchr(file, '\n')) {
			fprintf(stderr, "tinescale ctl: %s: newline in file name\n", argv[3]);
			goto out;
		}
	}
	if (asprintf(&req, "%s%s%s\n", argv[2], file ? " " : "", file ? file : "") < 0 ||
	    strlen(req) > MAX_REQUEST) {
		fprintf(stderr, "tinescale ctl: request too long\n");
		goto out;
	}
	make_addr(&sun, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		fprintf(stderr, "tinescale ctl: cannot reach the daemon of %s at %s: %s\n", argv[1],
			path, strerror(errno));
		goto out;
	}
	send_all(fd, req, strlen(req));
	shutdown(fd, SHUT_WR);
	mem = open_memstream(&resp, &rlen);
	if (!mem)
		goto out;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, mem);
	}
	fclose(mem);
	nl = resp ? memchr(resp, '\n', rlen) : NULL;
	if (!nl) {
		fprintf(stderr, "tinescale ctl: no answer from the daemon of %s\n", argv[1]);
		goto out;
	}
	*nl = '\0';
	if (!strcmp(resp, "ok")) {
		fwrite(nl + 1, 1, rlen - (size_t)(nl + 1 - resp), stdout);
		status = fflush(stdout) ? 1 : 0;
	} else {
		fprintf(stderr, "tinescale ctl: %s\n",
			!strncmp(resp, "error: ", 7) ? resp + 7 : resp);
	}
out:
	if (fd >= 0)
		close(fd);
	free(resp);
	free(req);
	free(file);
	return status;
}
