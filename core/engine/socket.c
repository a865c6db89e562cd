// SPDX-License-Identifier: MIT
/* Kernel UDP sockets for the device: ts_bind_kernel_ops (see socket.h). */
#include "socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

/* Room for one IP_PKTINFO or IPV6_PKTINFO control message. */
#define TS_PKTINFO_SPACE 64

/* The local destination address a datagram arrived on (family 0 if unknown). */
static void src_from_msg(const struct msghdr *m, struct ts_endpoint_src *src)
{
	struct cmsghdr *c;

	src->family = 0;
	for (c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			src->family = AF_INET;
			src->addr.in = pi.ipi_addr;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
			   c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			src->family = AF_INET6;
			src->addr.in6 = pi.ipi6_addr;
		}
	}
}

/* Ask for src as the source address of m; control must hold TS_PKTINFO_SPACE bytes. */
static void src_to_msg(struct msghdr *m, const struct ts_endpoint_src *src, void *control)
{
	struct cmsghdr *c;

	if (src->family != AF_INET && src->family != AF_INET6) {
		m->msg_control = NULL;
		m->msg_controllen = 0;
		return;
	}
	memset(control, 0, TS_PKTINFO_SPACE);
	m->msg_control = control;
	m->msg_controllen = TS_PKTINFO_SPACE;
	c = CMSG_FIRSTHDR(m);
	if (src->family == AF_INET) {
		/* Only the source address: the interface is routing's choice. */
		struct in_pktinfo pi = {.ipi_spec_dst = src->addr.in};

		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		m->msg_controllen = CMSG_SPACE(sizeof(pi));
	} else {
		struct in6_pktinfo pi = {.ipi6_addr = src->addr.in6};

		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		m->msg_controllen = CMSG_SPACE(sizeof(pi));
	}
}

static int set_fwmark(int fd, uint32_t fwmark)
{
	if (fd < 0)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)) < 0)
		return -errno;
	return 0;
}

static int open_bound(int family, uint16_t port, uint32_t fwmark, uint16_t *bound)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} addr;
	socklen_t alen;
	int fd, one = 1, size = 4 << 20, ret;

	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	memset(&addr, 0, sizeof(addr));
	if (family == AF_INET6) {
		/* Separate sockets per family, as the kernel implementation has. */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
		addr.in6.sin6_family = AF_INET6;
		addr.in6.sin6_port = htons(port);
		alen = sizeof(addr.in6);
	} else {
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		addr.in.sin_family = AF_INET;
		addr.in.sin_port = htons(port);
		alen = sizeof(addr.in);
	}
	/* Big buffers absorb bursts; FORCE needs CAP_NET_ADMIN, which we have. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (fwmark && (ret = set_fwmark(fd, fwmark)) < 0)
		goto fail;
	if (bind(fd, &addr.sa, alen) < 0) {
		ret = -errno;
		goto fail;
	}
	alen = sizeof(addr);
	if (getsockname(fd, &addr.sa, &alen) < 0) {
		ret = -errno;
		goto fail;
	}
	*bound = ntohs(family == AF_INET6 ? addr.in6.sin6_port : addr.in.sin_port);
	return fd;
fail:
	close(fd);
	return ret;
}

/*
 * Bind an IPv4 and an IPv6 socket to the same port (*port 0 = let the
 * kernel choose, then the IPv6 one follows).  A host without IPv6 gets
 * *fd6 = -1.  Returns 0 or -errno (-EADDRINUSE when the port is taken).
 */
static int bind_pair(uint16_t *port, uint32_t fwmark, int *fd4, int *fd6)
{
	uint16_t bound = 0;
	int tries = *port ? 1 : 20;

	/*
	 * With port 0 the kernel picks one for IPv4; it may be taken for IPv6,
	 * so try a few times before giving up.
	 */
	while (tries--) {
		int a = open_bound(AF_INET, *port, fwmark, &bound), b;

		if (a < 0)
			return a;
		b = open_bound(AF_INET6, bound, fwmark, &bound);
		if (b == -EADDRINUSE && tries) {
			close(a);
			continue;
		}
		if (b < 0 && b != -EAFNOSUPPORT && b != -EADDRNOTAVAIL && b != -EADDRINUSE) {
			close(a);
			return b;
		}
		if (b == -EADDRINUSE) {
			close(a);
			return b;
		}
		if (b < 0)
			ts_info("no IPv6 on this host: listening on IPv4 only");
		*fd4 = a;
		*fd6 = b < 0 ? -1 : b;
		*port = bound;
		return 0;
	}
	return -EADDRINUSE;
}

/* --- the kernel bind (ts_bind_kernel_ops) ----------------------------- */

/* Messages per recvmmsg/sendmmsg call. */
#define KBIND_BATCH 64
/*
 * UDP GSO limits: the segments of one send, and their bytes, which must fit
 * one UDP length field inside an IPv4 packet (65535 - 20 - 8).
 */
#define KBIND_GSO_SEGS	64
#define KBIND_GSO_BYTES 65507
/* Room for a pinned source and a UDP_SEGMENT control message together. */
#define KBIND_SEND_CONTROL (TS_PKTINFO_SPACE + 32)
/* Room for the local address and a UDP_GRO control message together. */
#define KBIND_RECV_CONTROL (TS_PKTINFO_SPACE + 32)
/* One received (possibly GRO-coalesced) buffer: the largest UDP payload. */
#define KBIND_GRO_BUF 65535

/*
 * What recvmmsg brought in with UDP_GRO on, for the rx thread only: up to
 * KBIND_BATCH buffers, each one datagram or a train of gso_size-byte
 * datagrams (the last may be shorter), handed out one datagram per
 * ts_dgram.  What does not fit the caller's batch waits here for the next
 * recv.
 */
struct gro_rx {
	unsigned n, next; /* buffers received; the one being handed out */
	size_t off;	  /* how far into buffer 'next' */
	size_t len[KBIND_BATCH], seg[KBIND_BATCH];
	bool trunc[KBIND_BATCH];
	union ts_endpoint peer[KBIND_BATCH];
	struct ts_endpoint_src local[KBIND_BATCH];
	uint8_t buf[KBIND_BATCH][KBIND_GRO_BUF];
};

struct kbind {
	/*
	 * The sockets: [0] IPv4, [1] IPv6, -1 if absent.  Their numbers never
	 * change once set: a new port is bound to fresh sockets that are
	 * dup2()ed over the old ones, so no thread ever uses a closed (or
	 * reused) descriptor number.
	 */
	atomic_int fd[TS_BIND_MAX_FDS];
	/*
	 * What fds() hands out: an epoll instance per slot watching that
	 * slot's socket.  The rx thread sleeps in poll() on these, not on the
	 * sockets: poll() holds a reference to every file it waits on, so a
	 * socket polled directly outlives the dup2() that replaced it, and
	 * with it its port (moving back to that port a moment later failed
	 * with EADDRINUSE).  epoll holds no reference: the replaced socket is
	 * released by dup2() itself and drops out of the epoll set.
	 */
	atomic_int ep[TS_BIND_MAX_FDS];
	/* UDP_SEGMENT works on this slot's socket (off after an EIO). */
	atomic_bool gso[TS_BIND_MAX_FDS];
	/* UDP_GRO is on for this slot's socket: recv splits what it gets. */
	atomic_bool gro[TS_BIND_MAX_FDS];
	/* ts_bind_kernel_set_offload: may GSO/GRO be used at all. */
	atomic_bool allow_gso, allow_gro;
	struct gro_rx *rx[TS_BIND_MAX_FDS]; /* the rx thread's, allocated on first use */
};

int ts_bind_kernel_create(void **ctx)
{
	struct kbind *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (int i = 0; i < TS_BIND_MAX_FDS; i++) {
		atomic_init(&b->fd[i], -1);
		atomic_init(&b->ep[i], -1);
		atomic_init(&b->gso[i], false);
		atomic_init(&b->gro[i], false);
	}
	atomic_init(&b->allow_gso, true);
	atomic_init(&b->allow_gro, true);
	*ctx = b;
	return 0;
}

void ts_bind_kernel_set_offload(void *ctx, bool gso, bool gro)
{
	struct kbind *b = ctx;

	atomic_store(&b->allow_gso, gso);
	atomic_store(&b->allow_gro, gro);
}

/*
 * Which offloads the kernel offers on fd: UDP_SEGMENT is there if its
 * option can be read (a send may still fail with EIO where the route's
 * device cannot checksum; send_msgs turns GSO off then); UDP_GRO if it can
 * be switched on.
 */
static void probe_offload(struct kbind *b, int slot, int fd)
{
	int one = 1, v = 0;
	socklen_t vlen = sizeof(v);
	bool gso = false, gro = false;

	if (atomic_load(&b->allow_gso))
		gso = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &v, &vlen) == 0;
	if (atomic_load(&b->allow_gro))
		gro = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
	atomic_store(&b->gso[slot], gso);
	atomic_store(&b->gro[slot], gro);
}

/* Put fd into slot (its socket, its epoll set): 0 or -errno, fd closed on failure. */
static int kbind_replace(struct kbind *b, int slot, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int old = atomic_load(&b->fd[slot]), ep = atomic_load(&b->ep[slot]);

	if (fd < 0)
		return 0;
	if (ep < 0) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0) {
			int ret = -errno;

			close(fd);
			return ret;
		}
		atomic_store(&b->ep[slot], ep);
	}
	if (old >= 0) {
		/*
		 * The old socket's last reference goes here (a send or recv
		 * in flight on another thread holds it for the length of
		 * that one non-blocking call), and with it its port and its
		 * entry in the epoll set; the new socket is added under the
		 * same number.  Level-triggered: what it already holds is
		 * reported at once.
		 */
		if (dup2(fd, old) < 0) {
			int ret = -errno;

			close(fd);
			return ret;
		}
		close(fd);
		fd = old;
	}
	ev.data.fd = fd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 && errno != EEXIST)
		ts_warn("udp: cannot watch socket: %s", strerror(errno));
	probe_offload(b, slot, fd);
	atomic_store(&b->fd[slot], fd);
	return 0;
}

static int kbind_open(void *ctx, uint16_t *port, uint32_t fwmark)
{
	struct kbind *b = ctx;
	int fd4 = -1, fd6 = -1, ret;

	ret = bind_pair(port, fwmark, &fd4, &fd6);
	if (ret < 0)
		return ret;
	/* Only an epoll_create1 can fail here, and only on the first open. */
	ret = kbind_replace(b, 0, fd4);
	if (ret < 0) {
		if (fd6 >= 0)
			close(fd6);
		return ret;
	}
	return kbind_replace(b, 1, fd6);
}

static void kbind_fds(void *ctx, int fds[TS_BIND_MAX_FDS])
{
	struct kbind *b = ctx;

	for (int i = 0; i < TS_BIND_MAX_FDS; i++)
		fds[i] = atomic_load(&b->ep[i]);
}

/* The size of the datagrams a UDP_GRO buffer is made of (0: not coalesced). */
static size_t gro_size(const struct msghdr *m)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int v;

			memcpy(&v, CMSG_DATA(c), sizeof(v));
			return v > 0 ? (size_t)v : 0;
		}
	}
	return 0;
}

/* Without GRO: straight into the caller's buffers. */
static int recv_plain(int fd, struct ts_dgram *d, unsigned n)
{
	struct mmsghdr msgs[KBIND_BATCH];
	struct iovec iov[KBIND_BATCH];
	_Alignas(struct cmsghdr) uint8_t control[KBIND_BATCH][KBIND_RECV_CONTROL];
	int r;

	if (n > KBIND_BATCH)
		n = KBIND_BATCH;
	for (unsigned i = 0; i < n; i++) {
		iov[i].iov_base = d[i].data;
		iov[i].iov_len = d[i].cap;
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_name = &d[i].peer;
		msgs[i].msg_hdr.msg_namelen = sizeof(d[i].peer);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_control = control[i];
		msgs[i].msg_hdr.msg_controllen = sizeof(control[i]);
	}
	r = recvmmsg(fd, msgs, n, MSG_DONTWAIT, NULL);
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	for (int i = 0; i < r; i++) {
		d[i].len = msgs[i].msg_len;
		d[i].flags = msgs[i].msg_hdr.msg_flags & MSG_TRUNC ? TS_DGRAM_TRUNC : 0;
		src_from_msg(&msgs[i].msg_hdr, &d[i].local);
	}
	return r;
}

/* Refill an empty gro_rx from fd: buffers received, 0 or -errno. */
static int gro_fill(int fd, struct gro_rx *g)
{
	struct mmsghdr msgs[KBIND_BATCH];
	struct iovec iov[KBIND_BATCH];
	_Alignas(struct cmsghdr) uint8_t control[KBIND_BATCH][KBIND_RECV_CONTROL];
	int r;

	for (unsigned i = 0; i < KBIND_BATCH; i++) {
		iov[i].iov_base = g->buf[i];
		iov[i].iov_len = sizeof(g->buf[i]);
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_name = &g->peer[i];
		msgs[i].msg_hdr.msg_namelen = sizeof(g->peer[i]);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_control = control[i];
		msgs[i].msg_hdr.msg_controllen = sizeof(control[i]);
	}
	g->n = g->next = 0;
	g->off = 0;
	r = recvmmsg(fd, msgs, KBIND_BATCH, MSG_DONTWAIT, NULL);
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	for (int i = 0; i < r; i++) {
		g->len[i] = msgs[i].msg_len;
		g->seg[i] = gro_size(&msgs[i].msg_hdr);
		if (!g->seg[i] || g->seg[i] > g->len[i])
			g->seg[i] = g->len[i];
		/* A train cut short loses its last datagram(s): mark them all. */
		g->trunc[i] = msgs[i].msg_hdr.msg_flags & MSG_TRUNC;
		src_from_msg(&msgs[i].msg_hdr, &g->local[i]);
	}
	g->n = (unsigned)r;
	return r;
}

/* With GRO: one ts_dgram per datagram, split out of what gro_fill got. */
static int recv_gro(int fd, struct gro_rx *g, struct ts_dgram *d, unsigned n)
{
	unsigned out = 0;

	while (out < n) {
		size_t piece;
		unsigned m;

		if (g->next == g->n) {
			int r = gro_fill(fd, g);

			if (r <= 0)
				return out ? (int)out : r;
		}
		m = g->next;
		piece = g->len[m] - g->off;
		if (piece > g->seg[m])
			piece = g->seg[m];
		d[out].flags = g->trunc[m] ? TS_DGRAM_TRUNC : 0;
		if (piece > d[out].cap) {
			d[out].flags = TS_DGRAM_TRUNC;
			piece = d[out].cap;
		}
		memcpy(d[out].data, g->buf[m] + g->off, piece);
		d[out].len = piece;
		d[out].peer = g->peer[m];
		d[out].local = g->local[m];
		out++;
		g->off += g->seg[m];
		if (g->off >= g->len[m]) { /* also the empty datagram: seg 0 */
			g->next++;
			g->off = 0;
		}
	}
	return (int)out;
}

static int kbind_recv(void *ctx, unsigned which, struct ts_dgram *d, unsigned n)
{
	struct kbind *b = ctx;
	int fd;

	if (which >= TS_BIND_MAX_FDS || (fd = atomic_load(&b->fd[which])) < 0)
		return -EBADF;
	if (!n)
		return 0;
	/* Pending split datagrams are handed out even if GRO went off since. */
	if (!atomic_load(&b->gro[which]) && !(b->rx[which] && b->rx[which]->next < b->rx[which]->n))
		return recv_plain(fd, d, n);
	if (!b->rx[which]) {
		b->rx[which] = calloc(1, sizeof(*b->rx[which]));
		if (!b->rx[which])
			return recv_plain(fd, d, n);
	}
	return recv_gro(fd, b->rx[which], d, n);
}

/* The errors that say our source address is gone or unusable toward dst. */
static bool src_gone(int err)
{
	return err == EINVAL || err == EADDRNOTAVAIL || err == ENETUNREACH || err == EHOSTUNREACH;
}

static bool src_usable(const struct ts_endpoint_src *src, const union ts_endpoint *dst)
{
	return src->family == dst->sa.sa_family;
}

static bool src_equal(const struct ts_endpoint_src *a, const struct ts_endpoint_src *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_INET)
		return a->addr.in.s_addr == b->addr.in.s_addr;
	if (a->family == AF_INET6)
		return !memcmp(&a->addr.in6, &b->addr.in6, sizeof(a->addr.in6));
	return true;
}

/* A datagram whose pinned source failed goes out from wherever routing says. */
static int send_unpinned(int fd, struct ts_dgram *d)
{
	struct iovec iov = {.iov_base = d->data, .iov_len = d->len};
	struct msghdr m = {
	    .msg_name = &d->peer.sa,
	    .msg_namelen = ts_endpoint_len(&d->peer),
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	};

	if (sendmsg(fd, &m, MSG_DONTWAIT) < 0)
		return -errno;
	return 1;
}

/*
 * How many of d[0..n) go out as one UDP GSO send with d[0]: the same
 * destination and source, all d[0].len bytes long except that the last may
 * be shorter, within the kernel's limits.
 */
static unsigned gso_run(const struct ts_dgram *d, unsigned n)
{
	size_t seg = d[0].len, total = seg;
	unsigned run = 1;

	if (!seg)
		return 1;
	while (run < n && run < KBIND_GSO_SEGS) {
		const struct ts_dgram *x = &d[run];

		if (!x->len || x->len > seg || total + x->len > KBIND_GSO_BYTES ||
		    !ts_endpoint_equal(&x->peer, &d[0].peer) || !src_equal(&x->local, &d[0].local))
			break;
		total += x->len;
		run++;
		if (x->len < seg)
			break;
	}
	return run;
}

/* Append a UDP_SEGMENT control message of seg bytes to m (room: KBIND_SEND_CONTROL). */
static void gso_to_msg(struct msghdr *m, void *control, size_t seg)
{
	uint16_t v = (uint16_t)seg;
	struct cmsghdr *c;

	if (!m->msg_control) {
		memset(control, 0, KBIND_SEND_CONTROL);
		m->msg_control = control;
		m->msg_controllen = 0;
	}
	c = (struct cmsghdr *)((uint8_t *)m->msg_control + m->msg_controllen);
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(v));
	memcpy(CMSG_DATA(c), &v, sizeof(v));
	m->msg_controllen += CMSG_SPACE(sizeof(v));
}

/*
 * d[0..n) all of one family, fd its socket (slot 'slot').  With GSO, each
 * run gso_run() finds is one message; the rest are one message per
 * datagram; all of them in order in one sendmmsg.
 */
static void send_msgs(struct kbind *b, int slot, int fd, struct ts_dgram *d, unsigned n)
{
	struct mmsghdr msgs[KBIND_BATCH];
	struct iovec iov[KBIND_BATCH];
	_Alignas(struct cmsghdr) uint8_t control[KBIND_BATCH][KBIND_SEND_CONTROL];
	unsigned first[KBIND_BATCH], count[KBIND_BATCH], k = 0, sent = 0;
	bool gso = b && atomic_load(&b->gso[slot]);

	for (unsigned i = 0; i < n;) {
		unsigned run = gso ? gso_run(d + i, n - i) : 1;
		struct msghdr *m = &msgs[k].msg_hdr;

		memset(&msgs[k], 0, sizeof(msgs[k]));
		for (unsigned j = i; j < i + run; j++) {
			iov[j].iov_base = d[j].data;
			iov[j].iov_len = d[j].len;
			d[j].result = 0;
		}
		m->msg_name = &d[i].peer.sa;
		m->msg_namelen = ts_endpoint_len(&d[i].peer);
		m->msg_iov = &iov[i];
		m->msg_iovlen = run;
		if (src_usable(&d[i].local, &d[i].peer))
			src_to_msg(m, &d[i].local, control[k]);
		if (run > 1)
			gso_to_msg(m, control[k], d[i].len);
		first[k] = i;
		count[k++] = run;
		i += run;
	}
	while (sent < k) {
		int r = sendmmsg(fd, msgs + sent, k - sent, MSG_DONTWAIT);
		struct ts_dgram *x = &d[first[sent]];
		int err = errno;

		if (r >= 0) {
			sent += (unsigned)r;
			continue;
		}
		if (err == EINTR)
			continue;
		if (count[sent] > 1 && err != EAGAIN && err != ENOBUFS) {
			/*
			 * The kernel refused the segmented send: EIO where the
			 * route's device cannot checksum for us (GSO stays off
			 * on this socket from now on), EINVAL for a segment
			 * larger than the path allows, or a source problem.
			 * The datagrams go out one by one instead.
			 */
			if (err == EIO && b && atomic_exchange(&b->gso[slot], false))
				ts_info("udp: GSO does not work here (%s); sending datagrams one "
					"by one",
					strerror(err));
			send_msgs(NULL, slot, fd, x, count[sent]);
		} else if (count[sent] > 1) {
			for (unsigned j = 0; j < count[sent]; j++)
				x[j].result = -err;
		} else if (src_usable(&x->local, &x->peer) && src_gone(err)) {
			/*
			 * One bad destination (unreachable, EPERM from a
			 * firewall) must not take the rest of the batch with
			 * it; a pinned source that vanished is dropped and the
			 * datagram goes out from wherever routing says.
			 */
			x->result = send_unpinned(fd, x);
		} else {
			x->result = -err;
		}
		sent++;
	}
}

static void kbind_send(void *ctx, struct ts_dgram *d, unsigned n)
{
	struct kbind *b = ctx;
	unsigned i = 0;

	while (i < n) {
		int family = d[i].peer.sa.sa_family;
		unsigned run = 1;
		int fd, slot = family == AF_INET6;

		if (family != AF_INET && family != AF_INET6) {
			d[i++].result = -EAFNOSUPPORT;
			continue;
		}
		while (i + run < n && run < KBIND_BATCH && d[i + run].peer.sa.sa_family == family)
			run++;
		fd = atomic_load(&b->fd[slot]);
		if (fd < 0) {
			for (unsigned j = 0; j < run; j++)
				d[i + j].result = -EAFNOSUPPORT;
		} else {
			send_msgs(b, slot, fd, d + i, run);
		}
		i += run;
	}
}

static int kbind_set_fwmark(void *ctx, uint32_t fwmark)
{
	struct kbind *b = ctx;
	int ret = 0, r;

	for (int i = 0; i < TS_BIND_MAX_FDS; i++)
		if ((r = set_fwmark(atomic_load(&b->fd[i]), fwmark)) < 0)
			ret = r;
	return ret;
}

static void kbind_close(void *ctx)
{
	struct kbind *b = ctx;
	int fd;

	if (!b)
		return;
	for (int i = 0; i < TS_BIND_MAX_FDS; i++) {
		if ((fd = atomic_load(&b->fd[i])) >= 0)
			close(fd);
		if ((fd = atomic_load(&b->ep[i])) >= 0)
			close(fd);
		free(b->rx[i]);
	}
	free(b);
}

/*
 * An unbound AF_UNIX datagram socket stands in for each UDP one: dup2()
 * drops the UDP socket (its port, its epoll entry) as kbind_replace does,
 * and a send to an IP address on it fails with EINVAL instead of binding an
 * ephemeral port, as an unbound UDP socket would.
 */
static void kbind_release(void *ctx)
{
	struct kbind *b = ctx;

	for (int i = 0; i < TS_BIND_MAX_FDS; i++) {
		int old = atomic_load(&b->fd[i]), fd;

		if (old < 0)
			continue;
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0 || dup2(fd, old) < 0)
			ts_warn("udp: cannot give the port up early: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
	}
}

const struct ts_bind_ops ts_bind_kernel_ops = {
    .open = kbind_open,
    .fds = kbind_fds,
    .recv = kbind_recv,
    .send = kbind_send,
    .set_fwmark = kbind_set_fwmark,
    .close = kbind_close,
    .release = kbind_release,
};
