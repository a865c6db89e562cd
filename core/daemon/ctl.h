/* SPDX-License-Identifier: MIT */
/*
 * The plugin control socket: the server thread at
 * /var/run/tinescale/IFNAME.ctl and the `tinescale ctl` client.
 *
 * Protocol (one request per connection, text, UTF-8, '\n' line ends):
 *
 *	request  = command [" " argument] "\n"
 *	command  = "status" | "plugins" | "reload"
 *	response = ("ok" | "error: " message) "\n" body
 *
 * The server closes the connection after the body.
 * - status: the engine's interface and peer lines (the engine table's format_status),
 *   then the pipeline's (ts_pipeline_format).
 * - plugins: the pipeline's lines only.
 * - reload [ABSOLUTE-PATH]: ts_pipeline_load of the path, or of the
 *   running pipeline's path when none is given (an error when there is
 *   none); the body is empty.  The client makes a relative path absolute
 *   before sending it (the daemon's working directory is not the user's).
 * A request line is at most 4096 bytes; anything else is "error: ...".
 *
 * The socket is mode 0600 in a 0700 directory, and the server also checks
 * that the peer's uid is root or the daemon's own.  The environment
 * variable TINESCALE_CTL_DIR overrides the directory (tests, unshare'd labs)
 * for both sides.
 */
#ifndef TS_CTL_H
#define TS_CTL_H

#include <stddef.h>

struct ts_ctl_server;
struct ts_engine_table;
struct ts_pipeline_host;

#define TS_CTL_DIR "/var/run/tinescale"
/* TS_CTL_DIR, or $TINESCALE_CTL_DIR when set (tests). */
const char *ts_ctl_dir(void);

/*
 * Create the directory (0700) and the socket (0600), unlinking a stale one
 * (a socket nobody answers on); refuse when a live daemon owns it.  Starts
 * the accept thread.  engine (copied; its format_status gives the first lines
 * of status) may be NULL: status then shows the pipeline only.
 * 0, or -errno with err filled.
 */
int ts_ctl_server_start(struct ts_ctl_server **out, const char *ifname, struct ts_pipeline_host *ph,
			const struct ts_engine_table *engine, char *err, size_t errlen);
/*
 * The same in two steps, so that the socket can exist before the daemon
 * drops root (privdrop.h) and the thread, which runs plugin code on reload,
 * only after: listen creates the socket, run starts the accept thread.
 */
int ts_ctl_server_listen(struct ts_ctl_server **out, const char *ifname, char *err, size_t errlen);
int ts_ctl_server_run(struct ts_ctl_server *srv, struct ts_pipeline_host *ph,
		      const struct ts_engine_table *engine, char *err, size_t errlen);
const char *ts_ctl_server_path(const struct ts_ctl_server *srv);
/* Stop the thread (waits for a request in progress), close and unlink the socket. */
void ts_ctl_server_stop(struct ts_ctl_server *srv);

/*
 * `tinescale ctl IFNAME status|reload [FILE.yaml]|plugins`: argv[0] is
 * "ctl" (main passes argc - 1, argv + 1).  Prints the body on stdout, an
 * error on stderr; returns the process exit status (0 ok, 1 error, 2 usage).
 */
int ts_ctl_client_main(int argc, char **argv);

/* The socket path for ifname into buf; -ENAMETOOLONG or -EINVAL (bad name). */
int ts_ctl_socket_path(char *buf, size_t len, const char *ifname);

#endif
