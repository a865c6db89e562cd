// SPDX-License-Identifier: MIT
/*
 * tinescale-relay: the relay/rendezvous server of DESIGN.md section 6.
 * This file owns the command line, the UDP and control sockets and the
 * single-threaded poll loop; the tables live in relay_server_table.c, the
 * batched sending of forwarded frames in relay_out.c, and
 * the wire format in relay_proto.c.
 *
 * Peers REGISTER under their WireGuard public key (a mac keyed by
 * DH(peer static, relay static) proves the key; a timestamp stops replays;
 * a stateless cookie proves the source address before the relay binds a key
 * to it or spends an X25519), learn the address the relay sees in
 * REGISTER_ACK, and SEND opaque frames (with a token only the registered
 * key can make) to other registered keys, which get them as RECV.  The relay never holds
 * a session key: it forwards ciphertext and nat-probe's self-authenticated
 * candidate messages, nothing else.
 *
 * Everything a stranger can send is bounded: the table (--max-peers), the
 * per-key budgets each way (--rate), the X25519 work (a global budget,
 * --dh-rate, and one per source IP), the COOKIE replies (per IP and
 * global), the log (one line per reason per second).  Nothing a spoofer
 * sends is charged to a registered peer's budgets.
 */
#include "relay_server.h"
#include "key.h"
#include "relay_metrics.h"
#include "relay_out.h"
#include "relay_sched.h"
#include "sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S	    1000000000ULL
#define DEFAULT_CTL	    "/var/run/tinescale/relay.ctl"
#define DEFAULT_MAX_PEERS   4096
#define DEFAULT_RATE_PPS    20000
#define MAX_CTL_CLIENTS	    8
#define DEFAULT_DH_RATE	    2000
#define RX_BURST	    512		 /* frames per wakeup, so the control socket is served */
#define RX_BATCH	    64		 /* datagrams per recvmmsg */
#define TX_FLUSH_BYTES	    (256u << 10) /* queued bytes that leave before the batch ends */
#define REJECT_LOG_INTERVAL NS_PER_S

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

struct ctl_client {
	int fd;
	char *out;
	size_t len, off;
};

/*
 * The last SEND forwarded from the datagram being handled.  A GRO train's
 * frames come from one address and, but for a forger, carry one token and
 * one destination: the sender and destination lookups and the pair (three
 * keyed hashes) are done once per train.  Valid within one received
 * datagram (one source address, one clock reading) and only while the
 * table is unchanged: cleared before each datagram and by every REGISTER.
 */
struct send_memo {
	bool valid;
	uint8_t dst_key[TSR_KEY_LEN];
	uint8_t token[TSR_TOKEN_LEN];
	struct relay_reg *src, *dst;
	struct relay_pair *pair; /* NULL: the pair table was full */
};

struct relay {
	int udp, ctl;
	const char *ctl_path;
	bool ctl_bound;
	struct tsr_addr listen;
	uint8_t private_key[TSR_KEY_LEN], public_key[TSR_KEY_LEN];
	struct relay_table t;
	struct relay_cookies cookies;
	struct relay_out out; /* forwarded RECVs of the datagram being handled */
	struct send_memo memo;
	struct ctl_client clients[MAX_CTL_CLIENTS];
	uint64_t started_ns;
	uint64_t reject_log_ns[RJ_COUNT], reject_log_suppressed[RJ_COUNT];
	struct relay_metrics metrics; /* --metrics; http NULL when off */
};

static enum log_level log_level = LOG_INFO;
static volatile sig_atomic_t stop_signal;

static void logmsg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void logmsg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	int saved = errno;
	va_list ap;

	if (lvl > log_level)
		return;
	fprintf(stderr, "tinescale-relay: %s: ", names[lvl]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	errno = saved;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static const char *key_b64(const uint8_t key[TSR_KEY_LEN], char *buf, size_t len)
{
	return sodium_bin2base64(buf, len, key, TSR_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
}

#define B64_LEN sodium_base64_ENCODED_LEN(TSR_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: tinescale-relay --listen ADDR:PORT --key FILE [--ctl PATH]\n"
	    "                       [--max-peers N] [--rate PPS] [--rate-bytes BPS]\n"
	    "                       [--dh-rate N] [--metrics ADDR:PORT]\n"
	    "                       [--sched batch|inherit]\n"
	    "                       [--log-level error|warn|info|debug] [-f]\n"
	    "       tinescale-relay status [--ctl PATH]\n"
	    "\n"
	    "The tinescale relay/rendezvous server: peers register under their WireGuard\n"
	    "public key and exchange opaque frames (WireGuard datagrams, nat-probe\n"
	    "candidates) through it.  It always runs in the foreground (-f is accepted\n"
	    "for symmetry with tinescale); logs go to stderr.\n"
	    "\n"
	    "  --listen ADDR:PORT  UDP address to serve, IPv4 (0.0.0.0:3478) or IPv6 ([::]:3478)\n"
	    "  --key FILE          the relay's private key, as `wg genkey` writes it; peers\n"
	    "                      configure `wg pubkey < FILE` as relay_public_key\n"
	    "  --ctl PATH          status socket (default " DEFAULT_CTL ", mode 0600)\n"
	    "  --metrics ADDR:PORT serve Prometheus metrics at http://ADDR:PORT/metrics\n"
	    "                      (off by default; use a loopback address)\n"
	    "  --max-peers N       registrations kept at most (default %u); a full table\n"
	    "                      refuses new keys\n"
	    "  --rate PPS          frames per second a key may send, and the relay sends to\n"
	    "                      it (default %u, bursts of one second)\n"
	    "  --rate-bytes BPS    bytes per second likewise (default PPS * 1500)\n"
	    "  --dh-rate N         X25519 per second for new keys, all sources together\n"
	    "                      (default %u; each source IP also gets %u/s)\n"
	    "  --sched POLICY      batch (default): run as SCHED_BATCH, woken without\n"
	    "                      preempting, so it forwards what queued in one pass\n"
	    "                      (less CPU per GB where it shares CPUs with busy\n"
	    "                      peers); inherit: keep the policy it was started\n"
	    "                      with.  A policy set with chrt or systemd is kept\n"
	    "  --log-level L       default info: one line per registration, at most one per\n"
	    "                      second per rejection reason\n"
	    "  -f                  stay in the foreground (always the case)\n"
	    "\n"
	    "`status` prints registrations (key, observed address, age), per-pair packet and\n"
	    "byte counters (`pair SRC -> DST packets N bytes M`) and rejection counters\n"
	    "(`reject REASON N`).\n",
	    DEFAULT_MAX_PEERS, DEFAULT_RATE_PPS, DEFAULT_DH_RATE, RELAY_DH_IP_PPS);
}

static bool parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int load_key(struct relay *r, const char *path)
{
	char text[256];
	size_t n;
	struct stat st;
	FILE *f = fopen(path, "re");
	int ret = -1;

	if (!f) {
		fprintf(stderr, "tinescale-relay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
		logmsg(LOG_WARN, "%s: the private key is readable by group or others (mode %03o)",
		       path, (unsigned)(st.st_mode & 0777));
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ' ||
			 text[n - 1] == '\t'))
		text[--n] = '\0';
	if (!ts_key_from_base64(r->private_key, text)) {
		fprintf(stderr,
			"tinescale-relay: %s: expected a base64 private key of 32 bytes "
			"(as `wg genkey` writes)\n",
			path);
		goto out;
	}
	crypto_scalarmult_base(r->public_key, r->private_key);
	ret = 0;
out:
	sodium_memzero(text, sizeof(text));
	return ret;
}

static int open_udp(struct relay *r)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, rcvbuf = 4 << 20;

	tsr_addr_to_sockaddr(&r->listen, &ss, &sl);
	r->udp = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->udp < 0) {
		logmsg(LOG_ERR, "socket: %s", strerror(errno));
		return -1;
	}
	if (ss.ss_family == AF_INET6) {
		int zero = 0; /* [::]:PORT serves IPv4 too (v4-mapped) */

		setsockopt(r->udp, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		setsockopt(r->udp, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	}
	/* Learn each datagram's local address, to answer from it. */
	setsockopt(r->udp, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	setsockopt(r->udp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Room for bursts (capped by net.core.rmem_max): every peer funnels in here. */
	setsockopt(r->udp, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/*
	 * A peer's GSO train (up to 64 equal frames) arrives as one buffer
	 * instead of being split for us by the kernel, one recvmmsg slot per
	 * frame; read_udp splits it and checks every frame on its own.  Older
	 * kernels lack it: frames then come one by one.
	 */
	setsockopt(r->udp, SOL_UDP, UDP_GRO, &one, sizeof(one));
	if (bind(r->udp, (struct sockaddr *)&ss, sl) < 0) {
		char a[TSR_ADDR_STRLEN];

		logmsg(LOG_ERR, "bind %s: %s", tsr_addr_format(&r->listen, a, sizeof(a)),
		       strerror(errno));
		return -1;
	}
	return 0;
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void mkdir_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	if (strlen(path) >= sizeof(dir))
		return;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	/* Only the last level: /var/run exists on any system that runs this. */
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		logmsg(LOG_WARN, "mkdir %s: %s", dir, strerror(errno));
}

static int open_ctl(struct relay *r)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	mode_t old;
	int fd;

	if (strlen(r->ctl_path) >= sizeof(sun.sun_path)) {
		logmsg(LOG_ERR, "%s: path too long for a unix socket", r->ctl_path);
		return -1;
	}
	strcpy(sun.sun_path, r->ctl_path);
	mkdir_parent(r->ctl_path);
	fd = ctl_connect(r->ctl_path);
	if (fd >= 0) {
		close(fd);
		logmsg(LOG_ERR, "%s: another relay is answering there", r->ctl_path);
		return -1;
	}
	unlink(r->ctl_path); /* stale */
	r->ctl = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->ctl < 0) {
		logmsg(LOG_ERR, "socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0177); /* mode 0600 from the start, no window */
	if (bind(r->ctl, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old);
		logmsg(LOG_ERR, "bind %s: %s", r->ctl_path, strerror(errno));
		return -1;
	}
	umask(old);
	r->ctl_bound = true;
	if (listen(r->ctl, 8) < 0) {
		logmsg(LOG_ERR, "listen %s: %s", r->ctl_path, strerror(errno));
		return -1;
	}
	return 0;
}

static void reject(struct relay *r, enum relay_reject why, const struct tsr_addr *from,
		   uint64_t now)
{
	char a[TSR_ADDR_STRLEN];

	r->t.rejects[why]++;
	if (now - r->reject_log_ns[why] < REJECT_LOG_INTERVAL && r->reject_log_ns[why] != 0) {
		r->reject_log_suppressed[why]++;
		return;
	}
	logmsg(LOG_INFO, "rejected %s from %s (%llu more since the last such line)",
	       relay_reject_name(why), tsr_addr_format(from, a, sizeof(a)),
	       (unsigned long long)r->reject_log_suppressed[why]);
	r->reject_log_ns[why] = now;
	r->reject_log_suppressed[why] = 0;
}

static enum relay_reject decode_reject(int result)
{
	switch (result) {
	case TSR_E_RESERVED:
		return RJ_RESERVED;
	case TSR_E_MAGIC:
	case TSR_E_TYPE:
		return RJ_GARBAGE;
	default:
		return RJ_TRUNCATED; /* short, wrong length, empty payload */
	}
}

static void send_to(struct relay *r, const uint8_t *buf, size_t len, const struct sockaddr *sa,
		    socklen_t salen, const struct relay_local *local)
{
	static const struct relay_local none;
	_Alignas(struct cmsghdr) uint8_t control[RELAY_OUT_CONTROL_SPACE];
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {
	    .msg_name = (void *)sa, .msg_namelen = salen, .msg_iov = &iov, .msg_iovlen = 1};

	relay_out_control(&msg, control, local ? local : &none, 0);
	if (sendmsg(r->udp, &msg, MSG_DONTWAIT) >= 0)
		return;
	/* The local address may have gone away: let routing choose. */
	if (msg.msg_control && errno == EINVAL) {
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
		if (sendmsg(r->udp, &msg, MSG_DONTWAIT) >= 0)
			return;
	}
	r->t.send_errors++;
	logmsg(LOG_DEBUG, "sendmsg: %s", strerror(errno));
}

static void send_error(struct relay *r, uint8_t code, const uint8_t key[TSR_KEY_LEN],
		       const struct sockaddr *sa, socklen_t salen, const struct tsr_addr *from,
		       const struct relay_local *local, uint64_t now)
{
	struct relay_ip_slot *slot = relay_ip_slot(&r->t, from, now);
	uint8_t e[TSR_ERROR_LEN];

	if (slot->last_error_ns && now - slot->last_error_ns < RELAY_ERROR_INTERVAL_NS)
		return;
	slot->last_error_ns = now;
	tsr_error_encode(e, code, key);
	send_to(r, e, sizeof(e), sa, salen, local);
}

/* Return routability: the sender gets a cookie only if it receives at its address. */
static void send_cookie(struct relay *r, const struct tsr_register *reg, const struct sockaddr *sa,
			socklen_t salen, const struct tsr_addr *from,
			const struct relay_local *local, uint64_t now)
{
	struct relay_ip_slot *slot = relay_ip_slot(&r->t, from, now);
	uint8_t cookie[TSR_COOKIE_LEN], out[TSR_COOKIE_FRAME_LEN];

	/* Per IP first: a flood from one IP must not use up everyone's budget. */
	if (!relay_bucket_take(&r->t.rate_cookie_ip, &slot->cookie, 0, now) ||
	    !relay_bucket_take(&r->t.rate_cookie, &r->t.cookie_bucket, 0, now)) {
		reject(r, RJ_RATE_COOKIE, from, now);
		return;
	}
	relay_cookie_make(&r->cookies, cookie, from);
	tsr_cookie_reply_encode(out, reg->mac, cookie);
	send_to(r, out, sizeof(out), sa, salen, local);
	r->t.cookies_sent++;
}

/* A new key's K: one X25519, paid from the source IP's budget and the global one. */
static int new_key(struct relay *r, uint8_t k[TSR_KEY_LEN], const uint8_t key[TSR_KEY_LEN],
		   const struct tsr_addr *from, uint64_t now)
{
	struct relay_ip_slot *slot = relay_ip_slot(&r->t, from, now);
	uint8_t dh[TSR_KEY_LEN];

	if (!relay_bucket_take(&r->t.rate_dh_ip, &slot->dh, 0, now))
		return RJ_RATE_DH_IP;
	if (!relay_bucket_take(&r->t.rate_dh, &r->t.dh_bucket, 0, now))
		return RJ_RATE_DH;
	r->t.dh++;
	if (tsr_dh(dh, r->private_key, key) != TSR_OK)
		return RJ_BAD_KEY;
	tsr_register_key(k, dh);
	sodium_memzero(dh, sizeof(dh));
	return -1;
}

/*
 * docs/nat-traversal.md, "How the relay treats a REGISTER": cheap checks
 * first, the cookie before any X25519 or any change of address.
 */
static void handle_register(struct relay *r, const uint8_t *buf, size_t len,
			    const struct sockaddr *sa, socklen_t salen, const struct tsr_addr *from,
			    const struct relay_local *local, uint64_t now)
{
	struct tsr_register reg;
	struct tsr_replay replay;
	struct tsr_register_ack ack = {0};
	struct relay_reg *e;
	uint8_t k[TSR_KEY_LEN], out[TSR_REGISTER_ACK_LEN];
	char kb[B64_LEN], a1[TSR_ADDR_STRLEN], a2[TSR_ADDR_STRLEN];
	struct tsr_addr old;
	bool is_new, here;
	int res = tsr_register_decode(buf, len, &reg), rj;

	if (res) {
		reject(r, decode_reject(res), from, now);
		return;
	}
	e = relay_find_any_key(&r->t, reg.public_key);
	/* A refresh from where the key already is needs no proof of the address. */
	here = e && relay_reg_live(&r->t, e, now) && tsr_addr_equal(&e->addr, from);
	if (!here) {
		if (!relay_cookie_valid(&r->cookies, reg.cookie, from)) {
			send_cookie(r, &reg, sa, salen, from, local, now);
			return;
		}
		r->t.cookies_ok++;
	}
	if (e) {
		memcpy(k, e->k, sizeof(k));
		replay = e->replay;
	} else {
		rj = new_key(r, k, reg.public_key, from, now);
		if (rj >= 0) {
			reject(r, (enum relay_reject)rj, from, now);
			goto out;
		}
		replay.last_ns = r->t.replay_floor_ns;
	}
	res = tsr_register_verify(buf, len, k, clock_ns(CLOCK_REALTIME), &replay);
	if (res) {
		reject(r,
		       res == TSR_E_MAC	     ? RJ_BAD_MAC
		       : res == TSR_E_CLOCK  ? RJ_CLOCK
		       : res == TSR_E_REPLAY ? RJ_REPLAY
					     : decode_reject(res),
		       from, now);
		goto out;
	}
	is_new = !e;
	if (is_new) {
		e = relay_reg_add(&r->t, reg.public_key, now, clock_ns(CLOCK_REALTIME));
		if (!e) {
			reject(r, RJ_TABLE_FULL, from, now);
			goto out;
		}
		memcpy(e->k, k, sizeof(k));
		r->t.registers_new++;
	}
	e->replay = replay;
	if (!relay_bucket_take(&r->t.rate_key, &e->bucket, len, now)) {
		reject(r, RJ_RATE_KEY, from, now);
		goto out;
	}
	old = e->addr;
	res = relay_reg_bind(&r->t, e, sa, salen, from, now);
	if (res < 0) {
		reject(r, RJ_ADDR_FULL, from, now);
		goto out;
	}
	r->t.registers++;
	e->local = *local;
	if (res > 0) {
		key_b64(e->key, kb, sizeof(kb));
		if (old.family == 0) {
			logmsg(LOG_INFO, "register %s from %s", kb,
			       tsr_addr_format(from, a1, sizeof(a1)));
		} else {
			r->t.moved++;
			logmsg(LOG_INFO, "register %s moved %s -> %s", kb,
			       tsr_addr_format(&old, a1, sizeof(a1)),
			       tsr_addr_format(from, a2, sizeof(a2)));
		}
	}
	ack.timestamp_ns = reg.timestamp_ns;
	ack.observed = *from;
	ack.expires_s = TSR_REGISTRATION_TTL_S;
	tsr_register_ack_encode(out, &ack, k);
	send_to(r, out, sizeof(out), sa, salen, local);
out:
	sodium_memzero(k, sizeof(k));
}

_Static_assert(TSR_TOKEN_LEN == crypto_verify_16_BYTES,
	       "the token is compared with crypto_verify_16");

/*
 * The memo's sender and destination, if this SEND (d) is to them with their
 * token.  Once per frame: crypto_verify_16 (constant time, as sodium_memcmp,
 * but a few word operations instead of a byte loop).
 */
static bool memo_hit(const struct send_memo *m, const struct tsr_data *d)
{
	return m->valid && memcmp(m->dst_key, d->public_key, TSR_KEY_LEN) == 0 &&
	       crypto_verify_16(m->token, d->token) == 0;
}

static void handle_send(struct relay *r, uint8_t *buf, size_t len, const struct sockaddr *sa,
			socklen_t salen, const struct tsr_addr *from,
			const struct relay_local *local, uint64_t now)
{
	struct send_memo *m = &r->memo;
	struct tsr_data d;
	struct relay_reg *src, *dst;
	uint8_t *recv;
	size_t recv_len;
	bool any_here = false, hit;
	int res = tsr_data_decode(buf, len, TSR_SEND, &d);

	if (res) {
		reject(r, decode_reject(res), from, now);
		return;
	}
	hit = memo_hit(m, &d);
	/* Authenticate before charging anything: junk from a peer's address costs it nothing. */
	src = hit ? m->src : relay_find_sender(&r->t, from, d.token, now, &any_here);
	if (!src) {
		if (any_here) {
			reject(r, RJ_BAD_TOKEN, from, now);
			return;
		}
		reject(r, RJ_NOT_REGISTERED, from, now);
		send_error(r, TSR_ERR_NOT_REGISTERED, d.public_key, sa, salen, from, local, now);
		return;
	}
	if (!relay_bucket_take(&r->t.rate_key, &src->bucket, len, now)) {
		reject(r, RJ_RATE_KEY, from, now);
		return;
	}
	if (d.kind != TSR_KIND_WIREGUARD && d.kind != TSR_KIND_CANDIDATES) {
		reject(r, RJ_BAD_KIND, from, now);
		return;
	}
	dst = hit ? m->dst : relay_find_key(&r->t, d.public_key, now);
	if (!dst) {
		reject(r, RJ_DST_UNKNOWN, from, now);
		send_error(r, TSR_ERR_DST_UNKNOWN, d.public_key, sa, salen, from, local, now);
		return;
	}
	/* Per destination: nobody makes the relay pour more than --rate at one peer. */
	recv_len = len - (TSR_SEND_HDR_LEN - TSR_RECV_HDR_LEN);
	if (!relay_bucket_take(&r->t.rate_key, &dst->rx_bucket, recv_len, now)) {
		reject(r, RJ_RATE_DST, from, now);
		return;
	}
	if (!hit) {
		m->valid = true;
		memcpy(m->dst_key, d.public_key, TSR_KEY_LEN);
		memcpy(m->token, d.token, TSR_TOKEN_LEN);
		m->src = src;
		m->dst = dst;
		m->pair = relay_pair_get(&r->t, src->key, dst->key);
	}
	/* SEND -> RECV in place: the RECV header ends where the SEND's did. */
	recv = buf + (TSR_SEND_HDR_LEN - TSR_RECV_HDR_LEN);
	tsr_recv_hdr_encode(recv, d.kind, src->key);
	/* Sent with the rest of the batch (read_udp), recv's bytes still in place. */
	r->t.send_errors += relay_out_add(
	    &r->out, recv, recv_len, (const struct sockaddr *)&dst->sa, dst->salen, &dst->local);
	r->t.forwarded++;
	r->t.forwarded_bytes += d.payload_len;
	relay_pair_count(&r->t, m->pair, d.payload_len, now);
}

/* One frame (a lone datagram or one of a GRO train's), as of now (CLOCK_MONOTONIC). */
static void handle_datagram(struct relay *r, uint8_t *buf, size_t len, const struct sockaddr *sa,
			    socklen_t salen, const struct relay_local *local, uint64_t now)
{
	struct tsr_addr from;
	uint8_t type;

	if (tsr_addr_from_sockaddr(&from, sa, salen) != TSR_OK)
		return;
	if (!tsr_is_frame(buf, len, &type)) {
		reject(r,
		       len >= TSR_MAGIC_LEN && memcmp(buf, TSR_MAGIC, TSR_MAGIC_LEN) == 0
			   ? RJ_TRUNCATED
			   : RJ_GARBAGE,
		       &from, now);
		return;
	}
	switch (type) {
	case TSR_REGISTER:
		r->memo.valid = false; /* it may bind, add or evict registrations */
		relay_cookies_rotate(&r->cookies, now);
		handle_register(r, buf, len, sa, salen, &from, local, now);
		break;
	case TSR_SEND:
		handle_send(r, buf, len, sa, salen, &from, local, now);
		break;
	default:
		reject(r, RJ_UNKNOWN_TYPE, &from, now);
		break;
	}
}

/* The local address a datagram came to, and its frame size if it is a GRO train (else 0). */
static void parse_control(struct msghdr *msg, struct relay_local *local, size_t *seg)
{
	memset(local, 0, sizeof(*local));
	*seg = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int v;

			memcpy(&v, CMSG_DATA(cm), sizeof(v));
			*seg = v > 0 ? (size_t)v : 0;
		} else if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO &&
			   cm->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			local->family = AF_INET;
			local->a4 = pi.ipi_addr;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO &&
			   cm->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			local->family = AF_INET6;
			local->a6 = pi.ipi6_addr;
		}
	}
}

/*
 * Up to RX_BURST frames, RX_BATCH datagrams per recvmmsg; a datagram may be
 * a GRO train of frames, each handled as if it had come alone (every check,
 * every budget).  What a batch forwards leaves together, before the next
 * recvmmsg reuses the buffers: one sendmmsg instead of one per datagram, and
 * consecutive trains of one flow merge into larger GSO sends (fewer skbs all
 * the way to the receiver).  Once TX_FLUSH_BYTES are queued they
 * leave at once, while their bytes, just copied in, are still in the cache
 * (a whole batch's buffers can be 4 MiB).
 */
static void read_udp(struct relay *r)
{
	static uint8_t buf[RX_BATCH][65536];
	static union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
			 CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control[RX_BATCH];
	static struct sockaddr_storage ss[RX_BATCH];
	static struct mmsghdr msgs[RX_BATCH];
	static struct iovec iov[RX_BATCH];
	struct relay_local local;

	for (unsigned done = 0; done < RX_BURST;) {
		uint64_t now;
		int n;

		for (int i = 0; i < RX_BATCH; i++) {
			iov[i] = (struct iovec){.iov_base = buf[i], .iov_len = sizeof(buf[i])};
			msgs[i].msg_hdr = (struct msghdr){.msg_name = &ss[i],
							  .msg_namelen = sizeof(ss[i]),
							  .msg_iov = &iov[i],
							  .msg_iovlen = 1,
							  .msg_control = control[i].buf,
							  .msg_controllen = sizeof(control[i].buf)};
			msgs[i].msg_len = 0;
		}
		n = recvmmsg(r->udp, msgs, RX_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				logmsg(LOG_DEBUG, "recvmmsg: %s", strerror(errno));
			return;
		}
		/* One clock reading per batch: a batch is handled within microseconds. */
		now = clock_ns(CLOCK_MONOTONIC);
		for (int i = 0; i < n; i++) {
			struct msghdr *msg = &msgs[i].msg_hdr;
			size_t len = msgs[i].msg_len, seg, off = 0, flen;

			if (msg->msg_flags & MSG_TRUNC)
				continue; /* over 64 KiB: not a relay frame */
			parse_control(msg, &local, &seg);
			if (!seg || seg > len)
				seg = len;
			r->memo.valid = false; /* another source, maybe */
			r->t.rx_datagrams++;
			/* A train's frames have seg bytes each, the last one maybe fewer. */
			do {
				flen = len - off < seg ? len - off : seg;
				handle_datagram(r, buf[i] + off, flen, (struct sockaddr *)&ss[i],
						msg->msg_namelen, &local, now);
				off += flen;
				done++;
				r->t.rx_frames++;
			} while (off < len);
			if (r->out.bytes >= TX_FLUSH_BYTES)
				r->t.send_errors += relay_out_flush(&r->out);
		}
		r->t.send_errors += relay_out_flush(&r->out);
		if (n < RX_BATCH)
			return;
	}
}

static void status_text(struct relay *r, struct ctl_client *c)
{
	char kb[B64_LEN], a[TSR_ADDR_STRLEN];
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	FILE *f = open_memstream(&c->out, &c->len);

	if (!f)
		return;
	fprintf(f, "relay %s public_key %s uptime_s %llu\n",
		tsr_addr_format(&r->listen, a, sizeof(a)), key_b64(r->public_key, kb, sizeof(kb)),
		(unsigned long long)((now - r->started_ns) / NS_PER_S));
	relay_table_status(&r->t, f, now);
	fclose(f);
}

static void accept_ctl(struct relay *r)
{
	int fd = accept4(r->ctl, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CTL_CLIENTS; i++) {
		struct ctl_client *c = &r->clients[i];

		if (c->fd >= 0)
			continue;
		c->fd = fd;
		c->out = NULL;
		c->len = c->off = 0;
		status_text(r, c);
		return;
	}
	close(fd); /* too many at once: the client sees EOF and retries */
}

static void ctl_close(struct ctl_client *c)
{
	close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
}

static void write_ctl(struct ctl_client *c)
{
	while (c->out && c->off < c->len) {
		ssize_t n = send(c->fd, c->out + c->off, c->len - c->off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			break;
		}
		c->off += (size_t)n;
	}
	ctl_close(c);
}

static void on_signal(int sig)
{
	stop_signal = sig;
}

static int serve(struct relay *r)
{
	struct pollfd pfd[2 + MAX_CTL_CLIENTS];
	uint64_t last_expire = 0;
	sigset_t block, empty;
	struct sigaction sa = {.sa_handler = on_signal};
	char kb[B64_LEN], a[TSR_ADDR_STRLEN];
	int n_notify;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&empty);

	logmsg(LOG_INFO, "listening on %s, public key %s, status on %s",
	       tsr_addr_format(&r->listen, a, sizeof(a)), key_b64(r->public_key, kb, sizeof(kb)),
	       r->ctl_path);
	/* The UDP and status sockets listen: `systemctl start` may return. */
	n_notify = ts_sd_notify("READY=1");
	if (n_notify < 0)
		logmsg(LOG_WARN, "cannot notify systemd at $NOTIFY_SOCKET: %s",
		       strerror(-n_notify));
	while (!stop_signal) {
		struct timespec tmo = {.tv_sec = 1};
		int n = 2;
		uint64_t now;

		pfd[0] = (struct pollfd){.fd = r->udp, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = r->ctl, .events = POLLIN};
		for (int i = 0; i < MAX_CTL_CLIENTS; i++)
			pfd[n++] = (struct pollfd){.fd = r->clients[i].fd, .events = POLLOUT};
		/* Signals are delivered only inside ppoll: no lost wakeup. */
		if (ppoll(pfd, (nfds_t)n, &tmo, &empty) < 0 && errno != EINTR) {
			logmsg(LOG_ERR, "ppoll: %s", strerror(errno));
			return -1;
		}
		if (stop_signal)
			break;
		if (pfd[0].revents & POLLIN)
			read_udp(r);
		if (pfd[1].revents & POLLIN)
			accept_ctl(r);
		for (int i = 0; i < MAX_CTL_CLIENTS; i++) {
			if (r->clients[i].fd >= 0 && pfd[2 + i].revents)
				write_ctl(&r->clients[i]);
		}
		now = clock_ns(CLOCK_MONOTONIC);
		if (now - last_expire >= NS_PER_S) {
			relay_table_expire(&r->t, now, clock_ns(CLOCK_REALTIME));
			relay_cookies_rotate(&r->cookies, now);
			relay_metrics_update(&r->metrics, &r->t, now,
					     (now - r->started_ns) / NS_PER_S);
			last_expire = now;
		}
	}
	ts_sd_notify("STOPPING=1");
	logmsg(LOG_INFO, "exiting on signal %d", (int)stop_signal);
	return 0;
}

static int cmd_status(int argc, char **argv)
{
	const char *path = DEFAULT_CTL;
	char buf[4096];
	ssize_t n;
	size_t total = 0;
	int fd;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ctl") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "tinescale-relay status: unexpected argument '%s'\n",
				argv[i]);
			return 2;
		}
	}
	fd = ctl_connect(path);
	if (fd < 0) {
		fprintf(stderr, "tinescale-relay status: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, (size_t)n, stdout);
		total += (size_t)n;
	}
	close(fd);
	if (n < 0 || total == 0) {
		fprintf(stderr, "tinescale-relay status: %s: no answer\n", path);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	/* One option a line. */
	/* clang-format off */
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"key", required_argument, NULL, 'k'},
	    {"ctl", required_argument, NULL, 'c'},
	    {"max-peers", required_argument, NULL, 'm'},
	    {"rate", required_argument, NULL, 'r'},
	    {"rate-bytes", required_argument, NULL, 'b'},
	    {"dh-rate", required_argument, NULL, 'd'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"metrics", required_argument, NULL, 'M'},
	    {"sched", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	/* clang-format on */
	static struct relay r;
	const char *listen_arg = NULL, *key_path = NULL, *metrics_arg = NULL;
	unsigned long max_peers = DEFAULT_MAX_PEERS, rate = DEFAULT_RATE_PPS, rate_bytes = 0;
	unsigned long dh_rate = DEFAULT_DH_RATE, scale = 1;
	uint64_t cookie_rotate_ns;
	const char *scale_env;
	struct relay_config cfg;
	enum relay_sched sched = RELAY_SCHED_BATCH;
	char sched_msg[160];
	int c, ret = 1;

	if (sodium_init() < 0) {
		fprintf(stderr, "tinescale-relay: libsodium failed to initialise\n");
		return 1;
	}
	if (argc > 1 && strcmp(argv[1], "status") == 0)
		return cmd_status(argc - 1, argv + 1);
	r.ctl_path = DEFAULT_CTL;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_arg = optarg;
			break;
		case 'k':
			key_path = optarg;
			break;
		case 'c':
			r.ctl_path = optarg;
			break;
		case 'm':
			if (!parse_uint(optarg, 1, 1u << 20, &max_peers)) {
				fprintf(stderr,
					"tinescale-relay: --max-peers: expected 1..%u, got '%s'\n",
					1u << 20, optarg);
				return 2;
			}
			break;
		case 'r':
			if (!parse_uint(optarg, 1, 10000000, &rate)) {
				fprintf(stderr,
					"tinescale-relay: --rate: expected 1..10000000, got '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'b':
			if (!parse_uint(optarg, 1500, ULONG_MAX / 2, &rate_bytes)) {
				fprintf(
				    stderr,
				    "tinescale-relay: --rate-bytes: expected >= 1500, got '%s'\n",
				    optarg);
				return 2;
			}
			break;
		case 'd':
			if (!parse_uint(optarg, 1, 1000000, &dh_rate)) {
				fprintf(
				    stderr,
				    "tinescale-relay: --dh-rate: expected 1..1000000, got '%s'\n",
				    optarg);
				return 2;
			}
			break;
		case 'L':
			if (strcmp(optarg, "error") == 0)
				log_level = LOG_ERR;
			else if (strcmp(optarg, "warn") == 0)
				log_level = LOG_WARN;
			else if (strcmp(optarg, "info") == 0)
				log_level = LOG_INFO;
			else if (strcmp(optarg, "debug") == 0)
				log_level = LOG_DEBUG;
			else {
				fprintf(
				    stderr,
				    "tinescale-relay: --log-level: expected error, warn, info or "
				    "debug, got '%s'\n",
				    optarg);
				return 2;
			}
			break;
		case 'M':
			metrics_arg = optarg;
			break;
		case 'S':
			if (!relay_sched_parse(optarg, &sched)) {
				fprintf(stderr,
					"tinescale-relay: --sched: expected batch or inherit, got "
					"'%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'f':
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tinescale-relay: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!listen_arg || !key_path) {
		fprintf(stderr, "tinescale-relay: --listen and --key are required\n");
		usage(stderr);
		return 2;
	}
	if (tsr_addr_parse(&r.listen, listen_arg) != TSR_OK) {
		fprintf(stderr,
			"tinescale-relay: --listen: expected ADDR:PORT (e.g. 0.0.0.0:3478 or "
			"[::]:3478), got '%s'\n",
			listen_arg);
		return 2;
	}
	if (load_key(&r, key_path) < 0)
		return 1;
	cfg.max_peers = (unsigned)max_peers;
	cfg.rate_pps = (unsigned)rate;
	cfg.rate_bps = rate_bytes ? rate_bytes : rate * 1500;
	cfg.dh_rate = (unsigned)dh_rate;
	/* Tests only: shorter lifetimes, as the daemon's TS_TEST_TIME_SCALE does for its timers. */
	scale_env = getenv("TS_TEST_TIME_SCALE");
	if (scale_env && !parse_uint(scale_env, 1, 1000, &scale)) {
		logmsg(LOG_WARN, "ignoring TS_TEST_TIME_SCALE=%s (expected 1..1000)", scale_env);
		scale = 1;
	}
	if (scale > 1)
		logmsg(LOG_WARN,
		       "TS_TEST_TIME_SCALE=%lu: registrations and cookies live %lu times shorter "
		       "(tests only)",
		       scale, scale);
	cfg.ttl_ns = (uint64_t)TSR_REGISTRATION_TTL_S * NS_PER_S / scale;
	cookie_rotate_ns = (uint64_t)TSR_COOKIE_ROTATE_S * NS_PER_S / scale;
	r.udp = r.ctl = -1;
	for (int i = 0; i < MAX_CTL_CLIENTS; i++)
		r.clients[i].fd = -1;
	if (relay_table_init(&r.t, &cfg) < 0) {
		logmsg(LOG_ERR, "out of memory for %u peers", cfg.max_peers);
		goto out;
	}
	/* Before any thread starts (the metrics thread inherits it) and before the sockets. */
	logmsg(relay_sched_apply(sched, sched_msg, sizeof(sched_msg)) < 0 ? LOG_WARN : LOG_INFO,
	       "%s", sched_msg);
	if (open_udp(&r) < 0 || open_ctl(&r) < 0)
		goto out;
	relay_out_init(&r.out, r.udp, &r.t.tx_datagrams);
	r.started_ns = clock_ns(CLOCK_MONOTONIC);
	relay_cookies_init(&r.cookies, cookie_rotate_ns, r.started_ns);
	if (metrics_arg) {
		char err[256];

		if (relay_metrics_start(&r.metrics, metrics_arg, err, sizeof(err)) < 0) {
			logmsg(LOG_ERR, "--metrics: %s", err);
			goto out;
		}
		relay_metrics_update(&r.metrics, &r.t, r.started_ns, 0);
		logmsg(LOG_INFO, "metrics on http://%s/metrics", metrics_arg);
	}
	ret = serve(&r) < 0 ? 1 : 0;
out:
	relay_metrics_stop(&r.metrics);
	for (int i = 0; i < MAX_CTL_CLIENTS; i++) {
		if (r.clients[i].fd >= 0)
			ctl_close(&r.clients[i]);
	}
	if (r.ctl_bound)
		unlink(r.ctl_path);
	if (r.ctl >= 0)
		close(r.ctl);
	if (r.udp >= 0)
		close(r.udp);
	relay_table_free(&r.t);
	sodium_memzero(r.private_key, sizeof(r.private_key));
	relay_cookies_wipe(&r.cookies);
	return ret;
}
