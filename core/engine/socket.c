// SPDX-License-Identifier: MIT
/* Kernel UDP sockets for the device: ts_bind_kernel_ops (see socket.h). */
#include "socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
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

/* Datagrams per recvmmsg/sendmmsg call. */
#define KBIND_BATCH 64

struct kbind {
	/*
	 * [0] IPv4, [1] IPv6, -1 if absent.  Their numbers never change once
	 * set: a new port is bound to fresh sockets that are dup2()ed over the
	 * old ones, so no thread ever uses a closed descriptor.
	 */
	atomic_int fd[TS_BIND_MAX_FDS];
};

int ts_bind_kernel_create(void **ctx)
{
	struct kbind *b = malloc(sizeof(*b));

	if (!b)
		return -ENOMEM;
	atomic_init(&b->fd[0], -1);
	atomic_init(&b->fd[1], -1);
	*ctx = b;
	return 0;
}

static void kbind_replace(atomic_int *slot, int fd)
{
	int old = atomic_load(slot);

	if (fd < 0)
		return;
	if (old >= 0) {
		dup2(fd, old);
		close(fd);
	} else {
		atomic_store(slot, fd);
	}
}

static int kbind_open(void *ctx, uint16_t *port, uint32_t fwmark)
{
	struct kbind *b = ctx;
	int fd4 = -1, fd6 = -1, ret;

	ret = bind_pair(port, fwmark, &fd4, &fd6);
	if (ret < 0)
		return ret;
	kbind_replace(&b->fd[0], fd4);
	kbind_replace(&b->fd[1], fd6);
	return 0;
}

static void kbind_fds(void *ctx, int fds[TS_BIND_MAX_FDS])
{
	struct kbind *b = ctx;

	for (int i = 0; i < TS_BIND_MAX_FDS; i++)
		fds[i] = atomic_load(&b->fd[i]);
}

static int kbind_recv(void *ctx, unsigned which, struct ts_dgram *d, unsigned n)
{
	struct kbind *b = ctx;
	struct mmsghdr msgs[KBIND_BATCH];
	struct iovec iov[KBIND_BATCH];
	_Alignas(struct cmsghdr) uint8_t control[KBIND_BATCH][TS_PKTINFO_SPACE];
	int fd, r;

	if (which >= TS_BIND_MAX_FDS || (fd = atomic_load(&b->fd[which])) < 0)
		return -EBADF;
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

/* The errors that say our source address is gone or unusable toward dst. */
static bool src_gone(int err)
{
	return err == EINVAL || err == EADDRNOTAVAIL || err == ENETUNREACH || err == EHOSTUNREACH;
}

static bool src_usable(const struct ts_endpoint_src *src, const union ts_endpoint *dst)
{
	return src->family == dst->sa.sa_family;
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

/* d[0..n) all of one family, fd its socket. */
static void send_run(int fd, struct ts_dgram *d, unsigned n)
{
	struct mmsghdr msgs[KBIND_BATCH];
	struct iovec iov[KBIND_BATCH];
	_Alignas(struct cmsghdr) uint8_t control[KBIND_BATCH][TS_PKTINFO_SPACE];
	unsigned sent = 0;

	for (unsigned i = 0; i < n; i++) {
		iov[i].iov_base = d[i].data;
		iov[i].iov_len = d[i].len;
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_name = &d[i].peer.sa;
		msgs[i].msg_hdr.msg_namelen = ts_endpoint_len(&d[i].peer);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		if (src_usable(&d[i].local, &d[i].peer))
			src_to_msg(&msgs[i].msg_hdr, &d[i].local, control[i]);
		d[i].result = 0;
	}
	while (sent < n) {
		int r = sendmmsg(fd, msgs + sent, n - sent, MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			/*
			 * One bad destination (unreachable, EPERM from a
			 * firewall) must not take the rest of the batch with
			 * it; a pinned source that vanished is dropped and the
			 * datagram goes out from wherever routing says.
			 */
			if (src_usable(&d[sent].local, &d[sent].peer) && src_gone(errno))
				d[sent].result = send_unpinned(fd, &d[sent]);
			else
				d[sent].result = -errno;
			sent++;
			continue;
		}
		sent += (unsigned)r;
	}
}

static void kbind_send(void *ctx, struct ts_dgram *d, unsigned n)
{
	struct kbind *b = ctx;
	unsigned i = 0;

	while (i < n) {
		int family = d[i].peer.sa.sa_family;
		unsigned run = 1;
		int fd;

		if (family != AF_INET && family != AF_INET6) {
			d[i++].result = -EAFNOSUPPORT;
			continue;
		}
		while (i + run < n && run < KBIND_BATCH && d[i + run].peer.sa.sa_family == family)
			run++;
		fd = atomic_load(&b->fd[family == AF_INET6]);
		if (fd < 0) {
			for (unsigned j = 0; j < run; j++)
				d[i + j].result = -EAFNOSUPPORT;
		} else {
			send_run(fd, d + i, run);
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
	for (int i = 0; i < TS_BIND_MAX_FDS; i++)
		if ((fd = atomic_load(&b->fd[i])) >= 0)
			close(fd);
	free(b);
}

const struct ts_bind_ops ts_bind_kernel_ops = {
    .open = kbind_open,
    .fds = kbind_fds,
    .recv = kbind_recv,
    .send = kbind_send,
    .set_fwmark = kbind_set_fwmark,
    .close = kbind_close,
};
