// SPDX-License-Identifier: MIT
/*
 * tinescale: the daemon's command line, start-up (daemonising only once
 * the interface and its sockets are ready, and telling systemd so), signals
 * and shutdown; and the `tinescale ctl` client.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "crypto.h"
#include "device.h"
#include "instance.h"
#include "log.h"
#include "pipeline_glue.h"
#include "privdrop.h"
#include "sdnotify.h"
#include "timers.h"
#include "tun.h"
#include "uapi.h"

#define MAX_ADDRESSES	16
#define TS_IPC_MAX_FILE (16U << 20) /* as the INI loader's limit */

struct options {
	bool foreground;
	const char *ipc, *config, *pipeline, *metrics;
	const char *addresses[MAX_ADDRESSES];
	int n_addresses;
	int mtu;
	bool mtu_given; /* --mtu: used as it is, whatever the pipeline adds */
	int workers;	/* -1: the engine's default (online CPUs - 2) */
	int log_level;
	const char *ifname;
	const char *user; /* --user; NULL: privdrop.h's default */
	bool no_drop;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: tinescale [-f] [--ipc FILE | --config FILE] [--pipeline FILE.yaml]\n"
		"                 [--address CIDR]... [--mtu N] [--workers N] [--log-level LEVEL]\n"
		"                 [--metrics ADDR:PORT] [--user USER | --no-drop] IFNAME\n"
		"       tinescale ctl IFNAME status|plugins [--json] | reload [FILE.yaml]\n"
		"                            | capture [--hooks LIST] [--peer KEY] [--secrets]\n"
		"\n"
		"A userspace WireGuard whose packet path plugins can see and steer.\n"
		"\n"
		"  -f, --foreground     stay in the foreground, log to stderr (default: return\n"
		"                       once IFNAME and its sockets are ready, log to syslog)\n"
		"  --ipc FILE           apply a WireGuard cross-platform \"set\" text\n"
		"                       (private_key=<hex>, listen_port=, public_key=, ...)\n"
		"  --config FILE        apply a `wg setconf` INI file ([Interface], [Peer])\n"
		"  --pipeline FILE      load a YAML plugin pipeline (SIGHUP or\n"
		"                       `tinescale ctl IFNAME reload` reloads it)\n"
		"  --address CIDR       add an address to IFNAME and set it up (repeatable)\n"
		"  --mtu N              interface MTU (default 1420, less what the pipeline's\n"
		"                       plugins add to each datagram, e.g. a relay header)\n"
		"  --workers N          crypto worker threads (default: online CPUs - 2;\n"
		"                       0: encrypt and decrypt on the tx and rx threads)\n"
		"  --log-level LEVEL    error, warn, info (default) or debug\n"
		"  --metrics ADDR:PORT  serve Prometheus metrics at http://ADDR:PORT/metrics\n"
		"                       (off by default; use a loopback address)\n"
		"  --user USER          once IFNAME and its sockets exist, run as USER with\n"
		"                       only CAP_NET_ADMIN (default: " TS_PRIVDROP_USER
		", or " TS_PRIVDROP_FALLBACK "\n"
		"                       if there is no such user)\n"
		"  --no-drop            stay root with every capability (debugging only)\n"
		"  -h, --help           this text\n"
		"  --version            print the version\n"
		"\n"
		"Configure peers with the stock `wg` tool: wg set IFNAME ..., wg show IFNAME.\n"
		"The UAPI socket is " TS_UAPI_DIR "/IFNAME.sock (mode 0600).\n"
		"The daemon exits when IFNAME is deleted, or on SIGINT/SIGTERM.\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		OPT_IPC = 256,
		OPT_CONFIG,
		OPT_PIPELINE,
		OPT_ADDRESS,
		OPT_MTU,
		OPT_WORKERS,
		OPT_LOG,
		OPT_METRICS,
		OPT_USER,
		OPT_NO_DROP,
		OPT_VERSION
	};
	static const struct option longopts[] = {
	    {"foreground", no_argument, NULL, 'f'},
	    {"ipc", required_argument, NULL, OPT_IPC},
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"pipeline", required_argument, NULL, OPT_PIPELINE},
	    {"address", required_argument, NULL, OPT_ADDRESS},
	    {"mtu", required_argument, NULL, OPT_MTU},
	    {"workers", required_argument, NULL, OPT_WORKERS},
	    {"log-level", required_argument, NULL, OPT_LOG},
	    {"metrics", required_argument, NULL, OPT_METRICS},
	    {"user", required_argument, NULL, OPT_USER},
	    {"no-drop", no_argument, NULL, OPT_NO_DROP},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->mtu = 1420;
	o->workers = -1;
	o->log_level = TS_LOG_INFO;
	while ((c = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		char *end;
		long v;

		switch (c) {
		case 'f':
			o->foreground = true;
			break;
		case OPT_IPC:
			o->ipc = optarg;
			break;
		case OPT_CONFIG:
			o->config = optarg;
			break;
		case OPT_PIPELINE:
			o->pipeline = optarg;
			break;
		case OPT_METRICS:
			o->metrics = optarg;
			break;
		case OPT_ADDRESS:
			if (o->n_addresses == MAX_ADDRESSES) {
				fprintf(stderr, "tinescale: at most %d --address options\n",
					MAX_ADDRESSES);
				return -1;
			}
			o->addresses[o->n_addresses++] = optarg;
			break;
		case OPT_MTU:
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v < 576 || v > 65535 - 80) {
				fprintf(stderr, "tinescale: --mtu '%s': expected 576..65455\n",
					optarg);
				return -1;
			}
			o->mtu = (int)v;
			o->mtu_given = true;
			break;
		case OPT_WORKERS:
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || !*optarg || v < 0 || v > TS_POOL_MAX_THREADS) {
				fprintf(stderr, "tinescale: --workers '%s': expected 0..%d\n",
					optarg, TS_POOL_MAX_THREADS);
				return -1;
			}
			o->workers = (int)v;
			break;
		case OPT_LOG:
			o->log_level = ts_log_level_parse(optarg);
			if (o->log_level < 0) {
				fprintf(
				    stderr,
				    "tinescale: --log-level '%s': expected error, warn, info or "
				    "debug\n",
				    optarg);
				return -1;
			}
			break;
		case OPT_USER:
			o->user = optarg;
			break;
		case OPT_NO_DROP:
			o->no_drop = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf("tinescale %s\n", TS_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (o->user && o->no_drop) {
		fprintf(stderr, "tinescale: --user and --no-drop are alternatives: give one\n");
		return -1;
	}
	if (o->ipc && o->config) {
		fprintf(stderr, "tinescale: --ipc and --config are alternatives: give one\n");
		return -1;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "tinescale: expected exactly one interface name\n\n");
		usage(stderr);
		return -1;
	}
	o->ifname = argv[optind];
	if (strlen(o->ifname) == 0 || strlen(o->ifname) >= IFNAMSIZ ||
	    strpbrk(o->ifname, "/ \t\n:")) {
		fprintf(stderr,
			"tinescale: invalid interface name '%s' (1..%d characters, no '/')\n",
			o->ifname, IFNAMSIZ - 1);
		return -1;
	}
	return 0;
}

/* Parse the --ipc or --config file completely before anything is created. */
static int load_config_file(const struct options *o, struct ts_config *cfg)
{
	char err[512] = "";
	int ret;

	if (o->ipc) {
		FILE *f = fopen(o->ipc, "re");
		/* The whole file, NULs included, so the parser sees and refuses them. */
		size_t cap = TS_IPC_MAX_FILE + 1, len;
		char *text = malloc(cap);

		if (!f) {
			fprintf(stderr, "tinescale: %s: %s\n", o->ipc, strerror(errno));
			return -1;
		}
		len = text ? fread(text, 1, cap, f) : 0;
		if (!text || ferror(f) || len == cap) {
			fprintf(stderr, "tinescale: %s: %s\n", o->ipc,
				!text	     ? "out of memory"
				: len == cap ? "larger than 16 MiB"
					     : "read error");
			fclose(f);
			free(text);
			return -1;
		}
		fclose(f);
		ret = ts_config_parse_uapi(text, len, TS_PARSE_FILE, cfg, err, sizeof(err));
		sodium_memzero(text, cap);
		free(text);
		if (ret < 0) {
			fprintf(stderr, "tinescale: %s: %s\n", o->ipc, err);
			return -1;
		}
	} else if (o->config) {
		ret = ts_config_load_ini(o->config, 0, cfg, NULL, err, sizeof(err));
		if (ret < 0) {
			fprintf(stderr, "tinescale: %s\n", err);
			return -1;
		}
	}
	return 0;
}

static void warn_if_world_readable(const char *path)
{
	struct stat st;

	if (path && stat(path, &st) == 0 && (st.st_mode & 0077))
		ts_warn("%s holds a private key but is readable by others (mode %03o): chmod "
			"600 it",
			path, st.st_mode & 0777);
}

/* --metrics ADDR:PORT with a port below 1024 (bound after the drop). */
static bool metrics_port_low(const char *addr)
{
	const char *colon = addr ? strrchr(addr, ':') : NULL;
	long port;

	if (!colon)
		return false;
	port = strtol(colon + 1, NULL, 10);
	return port > 0 && port < 1024;
}

/*
 * Everything that needs root is done (the TUN is open, the UDP sockets are
 * bound, the UAPI and ctl sockets listen) and no thread runs yet: drop it.
 * No plugin is loaded before this, so no plugin code ever runs as root.
 */
static int drop_root(const struct options *o, struct ts_device *dev,
		     const struct ts_pipeline_glue *glue, const struct ts_uapi *uapi)
{
	const char *paths[] = {ts_uapi_path(uapi), ts_pipeline_glue_ctl_path(glue)};
	uint16_t port = ts_device_listen_port(dev);
	char err[256] = "";
	int r = ts_sd_notify_open();

	if (r < 0)
		ts_warn("cannot connect to systemd at $NOTIFY_SOCKET: %s", strerror(-r));

	if (o->no_drop) {
		ts_warn("--no-drop: staying root with every capability, plugins included");
		return 0;
	}
	if (ts_privdrop(o->user, (port && port < 1024) || metrics_port_low(o->metrics), paths, 2,
			err, sizeof(err)) < 0) {
		fprintf(stderr, "tinescale: %s\n", err);
		return -1;
	}
	return 0;
}

/* Tell systemd (if it started us) that the interface is ready. */
static void notify_ready(struct ts_device *dev)
{
	char state[128];
	int r;

	snprintf(state, sizeof(state), "READY=1\nSTATUS=interface %s up, UDP port %u", dev->ifname,
		 ts_device_listen_port(dev));
	r = ts_sd_notify(state);
	if (r < 0)
		ts_warn("cannot notify systemd at $NOTIFY_SOCKET: %s", strerror(-r));
}

/*
 * The default MTU, less what the pipeline adds to each datagram (a relay
 * header, say).  A datagram grown past the path's MTU leaves as two IP
 * fragments: every NAT on the way reassembles and splits it again, and no
 * UDP offload (GSO, GRO) takes it, which cost relayed tunnels two thirds
 * of their throughput.  Rounded down to WireGuard's padding multiple, so
 * that padding (up to the engine's MTU, still the default) never takes a
 * packet past it.  Returns the MTU the interface has.
 */
static int fit_mtu(struct ts_pipeline_glue *glue, const char *ifname, int mtu)
{
	size_t extra = ts_pipeline_glue_wire_overhead(glue);
	int fitted, r;

	if (!extra)
		return mtu;
	fitted = extra > (size_t)(mtu - 576) ? 576 : (int)((size_t)mtu - extra) & ~15;
	r = ts_tun_set_mtu(ifname, fitted);
	if (r < 0) {
		ts_warn("cannot lower the MTU to %d for the pipeline's %zu bytes per datagram: %s",
			fitted, extra, strerror(-r));
		return mtu;
	}
	ts_info("MTU %d: the pipeline adds up to %zu bytes to each datagram (--mtu overrides)",
		fitted, extra);
	return fitted;
}

static int daemon_main(int argc, char **argv)
{
	struct ts_pipeline_glue *glue = NULL;
	struct ts_device *dev = NULL;
	struct ts_uapi *uapi = NULL;
	struct options o;
	struct ts_config cfg;
	char err[512] = "";
	int ready_pipe[2] = {-1, -1}, sfd = -1, status = 1, mtu;
	int lock_fd = -1; /* held until everything else is gone */
	sigset_t mask;

	if (parse_options(argc, argv, &o) < 0)
		return 2;
	/* Before the private key is read: no core file, no same-uid ptrace. */
	ts_privdrop_no_dump();
	ts_log_set_level(o.log_level);
	if (ts_crypto_init() < 0) {
		fprintf(stderr, "tinescale: libsodium failed to initialise\n");
		return 1;
	}
	ts_timers_init_scale();
	ts_config_init(&cfg);
	if (load_config_file(&o, &cfg) < 0)
		return 1;

	/*
	 * Daemonise first (threads do not survive fork), but let the parent
	 * return only when the child says the interface is ready, with the
	 * child's exit status if it failed.  Errors still reach the terminal.
	 */
	if (!o.foreground) {
		pid_t pid;
		char c;

		if (pipe2(ready_pipe, O_CLOEXEC) < 0) {
			perror("tinescale: pipe");
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			perror("tinescale: fork");
			return 1;
		}
		if (pid > 0) {
			close(ready_pipe[1]);
			if (read(ready_pipe[0], &c, 1) == 1 && c == 0)
				_exit(0);
			_exit(1);
		}
		close(ready_pipe[0]);
		setsid();
	}

	/* Every thread inherits this mask; the main thread takes signals via signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);

	ts_log_set_prefix(o.ifname);
	/*
	 * One daemon per interface; one whose interface was just deleted may
	 * still be exiting: wait for it.  The lock is held until we exit.
	 */
	lock_fd = ts_instance_claim(o.ifname, TS_INSTANCE_WAIT_MS, err, sizeof(err));
	if (lock_fd < 0) {
		fprintf(stderr, "tinescale: %s\n", err);
		goto out;
	}
	if (ts_device_create(&dev, o.ifname, o.mtu, err, sizeof(err)) < 0) {
		fprintf(stderr, "tinescale: %s\n", err);
		goto out;
	}
	if (o.ipc || o.config) {
		warn_if_world_readable(o.ipc ? o.ipc : o.config);
		if (ts_device_apply(dev, &cfg, err, sizeof(err)) < 0) {
			fprintf(stderr, "tinescale: %s: %s\n", o.ipc ? o.ipc : o.config, err);
			goto out;
		}
	}
	for (int i = 0; i < o.n_addresses; i++) {
		if (ts_tun_add_address(dev->ifname, o.addresses[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "tinescale: --address: %s\n", err);
			goto out;
		}
	}
	if (o.n_addresses && ts_tun_set_up(dev->ifname) < 0) {
		fprintf(stderr, "tinescale: cannot set %s up: %s\n", dev->ifname, strerror(errno));
		goto out;
	}
	if (ts_pipeline_glue_create(&glue, dev, err, sizeof(err)) < 0 ||
	    ts_uapi_listen(&uapi, dev, err, sizeof(err)) < 0 ||
	    drop_root(&o, dev, glue, uapi) < 0 ||
	    ts_pipeline_glue_start(glue, o.pipeline, err, sizeof(err)) < 0) {
		if (err[0])
			fprintf(stderr, "tinescale: %s\n", err);
		goto out;
	}
	if (o.metrics && ts_pipeline_glue_metrics(glue, o.metrics, err, sizeof(err)) < 0) {
		fprintf(stderr, "tinescale: --metrics: %s\n", err);
		goto out;
	}
	if (ts_uapi_run(uapi, err, sizeof(err)) < 0) {
		fprintf(stderr, "tinescale: %s\n", err);
		goto out;
	}
	mtu = o.mtu_given ? o.mtu : fit_mtu(glue, dev->ifname, o.mtu);
	if (o.workers >= 0)
		ts_device_set_workers(dev, o.workers);
	if (ts_device_start(dev) < 0)
		goto out;
	ts_info("interface %s up (UDP port %u, MTU %d)", dev->ifname, ts_device_listen_port(dev),
		mtu);
	/*
	 * Under systemd (Type=notify, tinescale@.service) `systemctl start`
	 * returns now: the interface is up, configured, and wg/ctl are served.
	 */
	notify_ready(dev);

	if (!o.foreground) {
		char ok = 0;
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		ts_log_to_syslog(true);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
		if (write(ready_pipe[1], &ok, 1) != 1)
			ts_warn("could not tell the parent we are ready");
		close(ready_pipe[1]);
		ready_pipe[1] = -1;
	}

	for (;;) {
		struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN},
					{.fd = dev->stop_fd, .events = POLLIN}};
		struct signalfd_siginfo si;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents) {
			ts_info("interface %s was removed: shutting down", dev->ifname);
			break;
		}
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGHUP) {
			ts_sd_notify("RELOADING=1");
			ts_pipeline_glue_reload(glue, NULL);
			notify_ready(dev);
			continue;
		}
		ts_info("%s: shutting down", strsignal((int)si.ssi_signo));
		break;
	}
	ts_sd_notify("STOPPING=1");
	status = 0;
out:
	/*
	 * The sockets go first (after a deletion a successor may be starting
	 * already and want the port); the data path, the plugins and the peers
	 * after.  The socket files are unlinked while the sockets still
	 * listen, so that nobody else's can be hit.
	 */
	if (dev)
		ts_device_release_port(dev);
	ts_privdrop_release();
	ts_uapi_stop(uapi);
	ts_pipeline_glue_close_ctl(glue);
	if (dev)
		ts_device_stop(dev);
	ts_pipeline_glue_stop(glue);
	ts_device_destroy(dev);
	ts_config_free(&cfg);
	ts_instance_release(lock_fd, o.ifname);
	if (sfd >= 0)
		close(sfd);
	if (ready_pipe[1] >= 0) {
		char fail = 1;

		if (write(ready_pipe[1], &fail, 1) < 0)
			status = 1;
	}
	ts_privdrop_before_exit();
	return status;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "ctl") == 0)
		return ts_pipeline_glue_ctl_main(argc - 1, argv + 1);
	return daemon_main(argc, argv);
}
