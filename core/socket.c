// SPDX-License-Identifier: MIT
/* UDP socket setup for the device (see socket.h). */
#include "socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

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
		addr.in6.sin6_family = AF_INET6;
		addr.in6.sin6_port = htons(port);
		alen = sizeof(addr.in6);
	} else {
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
