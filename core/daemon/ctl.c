/* SPDX-License-Identifier: MIT */
/*
 * The plugin control socket (server thread and `tinescale ctl` client);
 * the protocol is described in ctl.h.
 */
#include "ctl.h"

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "accept_loop.h"
#include "capture.h"
#include "key.h"
#include "log.h"
#include "pipeline.h"
#include "seam.h"
#include "status_json.h"
#include "unixsock.h"

#define MAX_REQUEST 4096

struct ts_ctl_server {
	int fd;
	struct ts_accept_loop *loop; /* NULL until ts_ctl_server_run */
	struct ts_pipeline_host *ph;
	struct ts_engine_table eng; /* format_status NULL: the pipeline only */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

const char *ts_ctl_dir(void)
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
	n = snprintf(buf, len, "%s/%s.ctl", ts_ctl_dir(), ifname);
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

/*
 * capture [--hooks LIST] [--peer KEY] [--secrets]: on success the
 * connection belongs to the capture from here on (true).  Otherwise the
 * error goes to out and the caller answers as usual (false).
 */
static bool start_capture(struct ts_ctl_server *srv, int cfd, const struct ucred *cred, char *args,
			  FILE *out)
{
	struct ts_capture_opts o = {0};
	char err[256], *save = NULL;
	static const char ok[] = "ok\n";

	for (char *w = strtok_r(args, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		char *v = !strcmp(w, "--secrets") ? NULL : strtok_r(NULL, " ", &save);

		if (!strcmp(w, "--secrets")) {
			o.secrets = true;
		} else if (!strcmp(w, "--hooks") && v) {
			if (ts_capture_parse_hooks(v, &o.hooks, err, sizeof(err))) {
				fprintf(out, "error: --hooks: %s\n", err);
				return false;
			}
		} else if (!strcmp(w, "--peer") && v) {
			if (!ts_key_from_base64(o.peer, v)) {
				fprintf(out,
					"error: --peer '%.64s' is not a public key, expected 44 "
					"base64 characters\n",
					v);
				return false;
			}
			o.has_peer = true;
		} else {
			fprintf(out,
				"error: capture: unexpected '%.64s', expected --hooks LIST, --peer "
				"KEY or --secrets\n",
				w);
			return false;
		}
	}
	if (o.secrets) {
		/* Session keys only to whom could read the daemon's memory anyway. */
		if (cred->uid != 0) {
			fputs("error: --secrets needs a root client\n", out);
			return false;
		}
		ts_warn("capture with --secrets for pid %d (uid %u): the stream carries the keys "
			"of every handshake from now on; anyone who reads it can decrypt the "
			"tunnel",
			(int)cred->pid, (unsigned)cred->uid);
	}
	/* "ok" first, so that the pcapng stream starts right after the answer line. */
	send_all(cfd, ok, sizeof(ok) - 1);
	if (ts_capture_start(srv->ph, &o, cfd, err, sizeof(err))) {
		ts_warn("capture not started: %s", err);
		return false; /* the client sees the stream end at once */
	}
	ts_info("capture started for pid %d (uid %u)", (int)cred->pid, (unsigned)cred->uid);
	return true;
}

/* "--json" or nothing after a command that takes it; -1 (error written) otherwise. */
static int json_flag(const char *cmd, const char *rest, FILE *out)
{
	if (!*rest)
		return 0;
	if (!strcmp(rest, " --json"))
		return 1;
	fprintf(out, "error: %s: unexpected '%.64s', expected --json or nothing\n", cmd, rest + 1);
	return -1;
}

static void handle_request(struct ts_ctl_server *srv, const char *line, FILE *out)
{
	char err[1024];
	int json;

	if (!strncmp(line, "status", 6) && (!line[6] || line[6] == ' ')) {
		json = json_flag("status", line + 6, out);
		if (json < 0)
			return;
		fputs("ok\n", out);
		if (json) {
			ts_status_json(out, &srv->eng, srv->ph, true);
			return;
		}
		if (srv->eng.format_status)
			srv->eng.format_status(srv->eng.ctx, out);
		ts_pipeline_format(srv->ph, out);
	} else if (!strncmp(line, "plugins", 7) && (!line[7] || line[7] == ' ')) {
		json = json_flag("plugins", line + 7, out);
		if (json < 0)
			return;
		fputs("ok\n", out);
		if (json)
			ts_status_json(out, &srv->eng, srv->ph, false);
		else
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
		fprintf(out,
			"error: unknown command '%.64s', expected status, plugins, reload or "
			"capture\n",
			line);
	}
}

/* One connection; false when a capture took it over (it closes cfd then). */
static bool serve(struct ts_ctl_server *srv, int cfd)
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
		return true;
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
		return true;
	nl = memchr(req, '\n', have);
	if (!nl)
		fputs("error: request too long or not terminated, expected one line\n", out);
	else if (memchr(req, '\0', (size_t)(nl - req)))
		fputs("error: NUL in request\n", out);
	else {
		*nl = '\0';
		if (!strncmp(req, "capture", 7) && (!req[7] || req[7] == ' ')) {
			if (start_capture(srv, cfd, &cred, req + 7, out)) {
				fclose(out);
				free(resp);
				return false;
			}
		} else {
			handle_request(srv, req, out);
		}
	}
	fclose(out);
	if (resp)
		send_all(cfd, resp, rlen);
	free(resp);
	return true;
}

static void serve_one(void *arg, int cfd)
{
	if (serve(arg, cfd))
		close(cfd);
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
	srv->fd = -1;
	r = ts_ctl_socket_path(srv->path, sizeof(srv->path), ifname);
	if (r) {
		snprintf(err, errlen, "control socket for '%s': %s", ifname ? ifname : "",
			 r == -EINVAL ? "invalid interface name" : "path too long");
		goto fail;
	}
	srv->fd = ts_unix_listen(ts_ctl_dir(), 0700, srv->path, err, errlen);
	if (srv->fd < 0) {
		r = srv->fd;
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
	r = ts_accept_loop_start(&srv->loop, srv->fd, 0, serve_one, srv);
	if (r) {
		snprintf(err, errlen, "cannot start the control thread: %s", strerror(-r));
		return r;
	}
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
	if (!srv)
		return;
	if (srv->loop)
		ts_accept_loop_stop(srv->loop);
	close(srv->fd);
	unlink(srv->path);
	free(srv);
}

static void usage(FILE *f)
{
	fputs(
	    "Usage: tinescale ctl IFNAME status [--json] | plugins [--json] | reload [FILE.yaml]\n"
	    "                            | capture [--hooks LIST] [--peer KEY] [--secrets]\n"
	    "  status    interface, peers and the plugin pipeline with counters\n"
	    "  plugins   the plugin pipeline: instances, hooks in order, counters\n"
	    "  --json    the same as one JSON object (keys: docs/observability.md)\n"
	    "  reload    load FILE.yaml (or the running pipeline's file again);\n"
	    "            on error the running pipeline stays\n"
	    "  capture   stream what the hook points see as pcapng to stdout until\n"
	    "            interrupted: tinescale ctl IFNAME capture | tshark -i -\n"
	    "    --hooks LIST  comma-separated hook points (default all four)\n"
	    "    --peer KEY    only this peer's packets (base64 public key)\n"
	    "    --secrets     embed each new handshake's secrets, so Wireshark\n"
	    "                  decrypts the tunnel (root only; guard the output)\n",
	    f);
}

/* The request line for argv[2..]; NULL after printing why (usage errors). */
static char *build_request(int argc, char **argv, bool *stream)
{
	const char *cmd = argv[2];
	char *req = NULL, *file = NULL;
	size_t len = 0;
	FILE *f;

	*stream = false;
	if (!strcmp(cmd, "status") || !strcmp(cmd, "plugins")) {
		if (argc > 4 || (argc == 4 && strcmp(argv[3], "--json"))) {
			fprintf(stderr, "tinescale ctl: %s: unexpected '%s', expected --json\n",
				cmd, argv[3]);
			return NULL;
		}
		return asprintf(&req, "%s%s\n", cmd, argc == 4 ? " --json" : "") < 0 ? NULL : req;
	}
	if (!strcmp(cmd, "reload")) {
		if (argc > 4) {
			fprintf(stderr, "tinescale ctl: reload: expected at most one FILE.yaml\n");
			return NULL;
		}
		if (argc == 4) {
			/* The daemon's working directory is not ours. */
			file = realpath(argv[3], NULL);
			if (!file) {
				fprintf(stderr, "tinescale ctl: %s: %s\n", argv[3],
					strerror(errno));
				return NULL;
			}
			if (strchr(file, '\n')) {
				fprintf(stderr, "tinescale ctl: %s: newline in file name\n",
					argv[3]);
				free(file);
				return NULL;
			}
		}
		if (asprintf(&req, "reload%s%s\n", file ? " " : "", file ? file : "") < 0)
			req = NULL;
		free(file);
		return req;
	}
	if (strcmp(cmd, "capture")) {
		fprintf(stderr,
			"tinescale ctl: unknown command '%s', expected status, plugins, reload or "
			"capture\n",
			cmd);
		return NULL;
	}
	*stream = true;
	f = open_memstream(&req, &len);
	if (!f)
		return NULL;
	fputs("capture", f);
	for (int i = 3; i < argc; i++) {
		bool takes = !strcmp(argv[i], "--hooks") || !strcmp(argv[i], "--peer");

		if (!takes && strcmp(argv[i], "--secrets")) {
			fprintf(
			    stderr,
			    "tinescale ctl: capture: unknown option '%s', expected --hooks LIST, "
			    "--peer KEY or --secrets\n",
			    argv[i]);
			goto bad;
		}
		if (takes && (i + 1 == argc || strpbrk(argv[i + 1], " \n") || !argv[i + 1][0])) {
			fprintf(stderr, "tinescale ctl: capture: %s needs a value (no spaces)\n",
				argv[i]);
			goto bad;
		}
		fprintf(f, " %s", argv[i]);
		if (takes)
			fprintf(f, " %s", argv[++i]);
	}
	fputc('\n', f);
	if (fclose(f))
		return free(req), NULL;
	return req;
bad:
	fclose(f);
	free(req);
	return NULL;
}

/* After "ok\n": the pcapng stream to stdout, as it comes, until the daemon ends it. */
static int stream_out(int fd, const char *first, size_t n)
{
	char buf[65536];

	for (;;) {
		while (n) {
			ssize_t w = write(STDOUT_FILENO, first, n);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return 1; /* the reader went away (when SIGPIPE is ignored) */
			first += w;
			n -= (size_t)w;
		}
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0;
		first = buf;
		n = (size_t)r;
	}
}

int ts_ctl_client_main(int argc, char **argv)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *req = NULL, *resp = NULL, *nl;
	size_t rlen = 0;
	struct sockaddr_un sun;
	int fd = -1, status = 1, r;
	bool stream;
	char buf[4096];
	FILE *mem;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
	}
	if (argc < 3) {
		usage(stderr);
		return 2;
	}
	r = ts_ctl_socket_path(path, sizeof(path), argv[1]);
	if (r) {
		fprintf(stderr, "tinescale ctl: '%s': %s\n", argv[1],
			r == -EINVAL ? "invalid interface name" : "path too long");
		return 2;
	}
	req = build_request(argc, argv, &stream);
	if (!req) {
		if (!strcmp(argv[2], "reload") && argc == 4)
			return 1; /* the file: already said */
		fputc('\n', stderr);
		usage(stderr);
		return 2;
	}
	if (strlen(req) > MAX_REQUEST) {
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
	/* A capture keeps its end open: the daemon takes our going away as the stop. */
	if (!stream)
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
		if (stream && memchr(buf, '\n', (size_t)n))
			break;
	}
	fclose(mem);
	nl = resp ? memchr(resp, '\n', rlen) : NULL;
	if (!nl) {
		fprintf(stderr, "tinescale ctl: no answer from the daemon of %s\n", argv[1]);
		goto out;
	}
	*nl = '\0';
	if (!strcmp(resp, "ok") && stream) {
		status = stream_out(fd, nl + 1, rlen - (size_t)(nl + 1 - resp));
	} else if (!strcmp(resp, "ok")) {
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
	return status;
}
