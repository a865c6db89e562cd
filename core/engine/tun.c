// SPDX-License-Identifier: MIT
/*
 * The kernel TUN (ts_tun_kernel_ops over /dev/net/tun) and link configuration
 * (ioctl for MTU/flags, rtnetlink for addresses).
 */
#include "tun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* The kernel TUN: ts_tun_kernel_ops. */
struct ktun {
	int fd;
	char ifname[IFNAMSIZ];
};

int ts_tun_kernel_open(char ifname[static IFNAMSIZ], void **ctx)
{
	struct ktun *t = malloc(sizeof(*t));
	struct ifreq ifr;
	int fd, ret;

	if (!t)
		return -ENOMEM;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		free(t);
		return ret;
	}
	memset(&ifr, 0, sizeof(ifr));
	/* IFF_NO_PI: bare IP packets; the version nibble tells the family. */
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	memcpy(ifr.ifr_name, ifname, strnlen(ifname, IFNAMSIZ - 1));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		close(fd);
		free(t);
		return ret;
	}
	memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
	ifname[IFNAMSIZ - 1] = '\0';
	t->fd = fd;
	memcpy(t->ifname, ifname, IFNAMSIZ);
	*ctx = t;
	return 0;
}

static int ktun_read(void *ctx, uint8_t *const bufs[], size_t lens[], unsigned n, size_t cap)
{
	struct ktun *t = ctx;
	unsigned i;

	for (i = 0; i < n; i++) {
		ssize_t len = read(t->fd, bufs[i], cap);

		if (len < 0) {
			if (i > 0 || errno == EAGAIN || errno == EINTR)
				break;
			/* The interface was deleted under us. */
			if (errno == EBADFD || errno == EIO || errno == ENXIO || errno == ENODEV)
				return -ENODEV;
			return -errno;
		}
		lens[i] = (size_t)len;
	}
	return (int)i;
}

static int ktun_write(void *ctx, const uint8_t *const pkts[], const size_t lens[], unsigned n)
{
	struct ktun *t = ctx;

	for (unsigned i = 0; i < n; i++)
		if (write(t->fd, pkts[i], lens[i]) < 0)
			return i ? (int)i : -errno;
	return (int)n;
}

static int ktun_wait_fd(void *ctx)
{
	return ((struct ktun *)ctx)->fd;
}

static int ktun_set_mtu(void *ctx, int mtu)
{
	return ts_tun_set_mtu(((struct ktun *)ctx)->ifname, mtu);
}

static void ktun_close(void *ctx)
{
	struct ktun *t = ctx;

	if (!t)
		return;
	close(t->fd);
	free(t);
}

const struct ts_tun_ops ts_tun_kernel_ops = {
    .read = ktun_read,
    .write = ktun_write,
    .wait_fd = ktun_wait_fd,
    .set_mtu = ktun_set_mtu,
    .close = ktun_close,
};

static int ifreq_ioctl(const char *ifname, unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (s < 0)
		return -errno;
	snprintf(ifr->ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(s, req, ifr) < 0)
		ret = -errno;
	close(s);
	return ret;
}

int ts_tun_set_mtu(const char *ifname, int mtu)
{
	struct ifreq ifr = {.ifr_mtu = mtu};

	return ifreq_ioctl(ifname, SIOCSIFMTU, &ifr);
}

int ts_tun_get_mtu(const char *ifname)
{
	struct ifreq ifr = {0};
	int ret = ifreq_ioctl(ifname, SIOCGIFMTU, &ifr);

	return ret < 0 ? ret : ifr.ifr_mtu;
}

int ts_tun_set_up(const char *ifname)
{
	struct ifreq ifr = {0};
	int ret = ifreq_ioctl(ifname, SIOCGIFFLAGS, &ifr);

	if (ret < 0)
		return ret;
	ifr.ifr_flags |= IFF_UP;
	return ifreq_ioctl(ifname, SIOCSIFFLAGS, &ifr);
}

static void nl_put_attr(struct nlmsghdr *nh, size_t cap, unsigned short type, const void *data,
			size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));

	if (NLMSG_ALIGN(nh->nlmsg_len) + RTA_SPACE(len) > cap)
		abort(); /* callers size their buffers; this is a programming error */
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = (unsigned)(NLMSG_ALIGN(nh->nlmsg_len) + RTA_SPACE(len));
}

int ts_tun_add_address(const char *ifname, const char *cidr, char *err, size_t errlen)
{
	union {
		struct nlmsghdr nh;
		char buf[256];
	} req;
	struct ifaddrmsg *ifa;
	unsigned char addr[16];
	char text[INET6_ADDRSTRLEN + 8], *slash, *end;
	int family, bits, maxbits, s, ret;
	unsigned ifindex;
	long prefix;

	snprintf(text, sizeof(text), "%s", cidr);
	slash = strchr(text, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, text, addr) == 1) {
		family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, text, addr) == 1) {
		family = AF_INET6;
		maxbits = 128;
	} else {
		snprintf(err, errlen,
			 "address '%s': expected an IPv4 or IPv6 address, optionally with /prefix "
			 "(default: a host address)",
			 cidr);
		return -EINVAL;
	}
	bits = maxbits;
	if (slash) {
		errno = 0;
		prefix = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || prefix < 0 || prefix > maxbits) {
			snprintf(err, errlen, "address '%s': prefix length must be 0..%d", cidr,
				 maxbits);
			return -EINVAL;
		}
		bits = (int)prefix;
	}
	ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		snprintf(err, errlen, "interface %s: %s", ifname, strerror(errno));
		return -ENODEV;
	}

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	req.nh.nlmsg_type = RTM_NEWADDR;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	req.nh.nlmsg_seq = 1;
	ifa = NLMSG_DATA(&req.nh);
	ifa->ifa_family = (unsigned char)family;
	ifa->ifa_prefixlen = (unsigned char)bits;
	ifa->ifa_index = ifindex;
	nl_put_attr(&req.nh, sizeof(req), IFA_LOCAL, addr, family == AF_INET ? 4 : 16);
	nl_put_attr(&req.nh, sizeof(req), IFA_ADDRESS, addr, family == AF_INET ? 4 : 16);

	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0) {
		ret = -errno;
		snprintf(err, errlen, "netlink: %s", strerror(errno));
		return ret;
	}
	if (send(s, &req, req.nh.nlmsg_len, 0) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		char reply[4096];
		ssize_t n = recv(s, reply, sizeof(reply), 0);
		struct nlmsghdr *nh;

		if (n < 0) {
			ret = -errno;
			goto out;
		}
		for (nh = (struct nlmsghdr *)reply; NLMSG_OK(nh, (size_t)n);
		     nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr e;

				if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(e))) {
					ret = -EPROTO;
					goto out;
				}
				memcpy(&e, NLMSG_DATA(nh), sizeof(e));
				ret = e.error; /* 0 is the ACK */
				goto out;
			}
		}
	}
out:
	if (ret < 0)
		snprintf(err, errlen, "address '%s' on %s: %s", cidr, ifname, strerror(-ret));
	close(s);
	return ret;
}
