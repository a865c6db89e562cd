// SPDX-License-Identifier: MIT
/* UDP socket setup for the device (see socket.h). */
#include "socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "endpoint.h"
#include "log.h"

void ts_udp_src_from_msg(const struct msghdr *m, struct ts_endpoint_src *src)
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

void ts_udp_src_to_msg(struct msghdr *m, const struct ts_endpoint_src *src, void *control)
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

int ts_udp_set_fwmark(int fd, uint32_t fwmark)
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
	if (fwmark && (ret = ts_udp_set_fwmark(fd, fwmark)) < 0)
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

int ts_udp_bind_pair(uint16_t *port, uint32_t fwmark, int *fd4, int *fd6)
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
