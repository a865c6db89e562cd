// SPDX-License-Identifier: MIT
/*
 * The kernel TUN (ts_tun_kernel_ops over /dev/net/tun, with its offloads:
 * offload.c cuts and coalesces the packets) and link configuration
 * (ioctl for MTU/flags, rtnetlink for addresses).
 */
#include "tun.h"

#include "offload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* The kernel TUN: ts_tun_kernel_ops. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

/* A read: a virtio_net_hdr and up to 64 KiB of IPv6 payload behind its header. */
#define KTUN_RBUF (TS_VNET_HDR_LEN + 65535 + 40)

struct ktun {
	int fd;
	char ifname[IFNAMSIZ];
	unsigned flags; /* TS_TUN_OFF_* */
	/* vnet only.  The tx thread's: the last super-packet read, and its next segment. */
	uint8_t *rbuf;
	struct ts_gso gso;
	unsigned gso_next;
	/* The rx thread's: the coalescing plan of the batch being written. */
	struct ts_gro *gro;
	_Atomic uint64_t split, merged, refused;
};

/* TUNSETIFF on a fresh descriptor: the descriptor, or -errno. */
static int tun_attach(char ifname[static IFNAMSIZ], bool vnet)
{
	struct ifreq ifr;
	int fd, ret;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	/* IFF_NO_PI: bare IP packets; the version nibble tells the family. */
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
	memcpy(ifr.ifr_name, ifname, strnlen(ifname, IFNAMSIZ - 1));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
	ifname[IFNAMSIZ - 1] = '\0';
	return fd;
}

/*
 * The offloads the kernel accepts, most first, dropping one at a time:
 * USO (Linux 6.2), then TSO for IPv6, then for IPv4; 0 if not even the
 * checksum offload is accepted.
 */
static unsigned tun_offloads(int fd)
{
	static const struct {
		unsigned long tun;
		unsigned ts;
	} tries[] = {
	    {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6,
	     TS_TUN_OFF_CSUM | TS_TUN_OFF_TSO4 | TS_TUN_OFF_TSO6 | TS_TUN_OFF_USO},
	    {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
	     TS_TUN_OFF_CSUM | TS_TUN_OFF_TSO4 | TS_TUN_OFF_TSO6},
	    {TUN_F_CSUM | TUN_F_TSO4, TS_TUN_OFF_CSUM | TS_TUN_OFF_TSO4},
	    {TUN_F_CSUM, TS_TUN_OFF_CSUM},
	};

	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
		if (ioctl(fd, TUNSETOFFLOAD, tries[i].tun) == 0)
			return tries[i].ts;
	return 0;
}

int ts_tun_kernel_open(char ifname[static IFNAMSIZ], void **ctx)
{
	struct ktun *t = calloc(1, sizeof(*t));
	const char *env = getenv("TINESCALE_TUN_OFFLOAD");
	char name[IFNAMSIZ];
	int fd = -EINVAL, hdrsz = (int)TS_VNET_HDR_LEN;
	unsigned off = 0;

	if (!t)
		return -ENOMEM;
	memcpy(name, ifname, IFNAMSIZ);
	if (!env || strcmp(env, "0") != 0) {
		fd = tun_attach(name, true);
		if (fd >= 0 && ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) == 0)
			off = tun_offloads(fd);
		if (off) {
			t->rbuf = malloc(KTUN_RBUF);
			t->gro = malloc(sizeof(*t->gro));
			if (!t->rbuf || !t->gro)
				off = 0;
			else /* Writing UDP super-packets needs the kernel's USO (Linux 6.2). */
				t->gro->udp = off & TS_TUN_OFF_USO;
		}
		if (!off && fd >= 0) {
			/* Without offloads the header is only overhead: start again plain. */
			close(fd);
			fd = -EINVAL;
			free(t->rbuf);
			free(t->gro);
			t->rbuf = NULL;
			t->gro = NULL;
		}
	}
	if (!off) {
		memcpy(name, ifname, IFNAMSIZ);
		fd = tun_attach(name, false);
		if (fd < 0) {
			free(t);
			return fd;
		}
	}
	memcpy(ifname, name, IFNAMSIZ);
	t->fd = fd;
	t->flags = off ? TS_TUN_OFF_VNET | off : 0;
	memcpy(t->ifname, ifname, IFNAMSIZ);
	*ctx = t;
	return 0;
}

/* A read failed: -ENODEV if the interface was deleted under us, else -errno. */
static int read_error(int err)
{
	if (err == EBADFD || err == EIO || err == ENXIO || err == ENODEV)
		return -ENODEV;
	return -err;
}

/*
 * With offloads: each read is a virtio_net_hdr and a packet that may stand
 * for many; its segments fill the slots, and what does not fit waits for
 * the next call (which a full batch makes the caller do at once).
 */
static int ktun_read_vnet(struct ktun *t, uint8_t *const bufs[], size_t lens[], unsigned n,
			  size_t cap)
{
	unsigned i = 0;

	while (i < n) {
		struct virtio_net_hdr vh;
		ssize_t len;

		if (t->gso_next < t->gso.nseg) {
			ssize_t r = ts_gso_segment(&t->gso, t->gso_next++, bufs[i], cap);

			if (r < 0) {
				atomic_fetch_add_explicit(&t->refused, 1, memory_order_relaxed);
				t->gso_next = t->gso.nseg;
				continue;
			}
			lens[i++] = (size_t)r;
			continue;
		}
		len = read(t->fd, t->rbuf, KTUN_RBUF);
		if (len < 0) {
			if (i > 0 || errno == EAGAIN || errno == EINTR)
				break;
			return read_error(errno);
		}
		memcpy(&vh, t->rbuf, sizeof(vh));
		if ((size_t)len <= TS_VNET_HDR_LEN ||
		    ts_gso_parse(&t->gso, &vh, t->rbuf + TS_VNET_HDR_LEN,
				 (size_t)len - TS_VNET_HDR_LEN) < 0) {
			atomic_fetch_add_explicit(&t->refused, 1, memory_order_relaxed);
			t->gso.nseg = 0;
			t->gso_next = 0;
			continue;
		}
		if (t->gso.nseg > 1)
			atomic_fetch_add_explicit(&t->split, 1, memory_order_relaxed);
		t->gso_next = 0;
	}
	return (int)i;
}

static int ktun_read(void *ctx, uint8_t *const bufs[], size_t lens[], unsigned n, size_t cap)
{
	struct ktun *t = ctx;
	unsigned i;

	if (t->flags & TS_TUN_OFF_VNET)
		return ktun_read_vnet(t, bufs, lens, n, cap);
	for (i = 0; i < n; i++) {
		ssize_t len = read(t->fd, bufs[i], cap);

		if (len < 0) {
			if (i > 0 || errno == EAGAIN || errno == EINTR)
				break;
			return read_error(errno);
		}
		lens[i] = (size_t)len;
	}
	return (int)i;
}

/* With offloads: coalesce what can be (offload.c), everything else with a zero header. */
static int ktun_write_vnet(struct ktun *t, const uint8_t *const pkts[], const size_t lens[],
			   unsigned n)
{
	static const struct virtio_net_hdr zero;
	struct ts_gro *gro = t->gro;
	int first_err = 0;

	for (unsigned base = 0; base < n; base += TS_GRO_MAX) {
		unsigned m = n - base < TS_GRO_MAX ? n - base : TS_GRO_MAX;

		ts_gro_plan(gro, pkts + base, lens + base, m);
		for (unsigned k = 0; k < gro->n_groups; k++) {
			const struct ts_gro_group *g = &gro->group[k];
			struct iovec iov[TS_GRO_MAX + 2];
			struct virtio_net_hdr vh;
			uint8_t hdr[TS_GRO_HDR_MAX];
			int iovcnt = 2;

			if (g->count == 1) {
				iov[0] = (struct iovec){(void *)&zero, sizeof(zero)};
				iov[1] = (struct iovec){(void *)pkts[base + g->first],
							lens[base + g->first]};
			} else {
				size_t hl = ts_gro_head(gro, k, pkts + base, &vh, hdr);

				iov[0] = (struct iovec){&vh, sizeof(vh)};
				iov[1] = (struct iovec){hdr, hl};
				for (int i = g->first; i >= 0; i = gro->next[i]) {
					size_t plen;
					const uint8_t *pl = ts_gro_payload(
					    gro, pkts + base, lens + base, (unsigned)i, &plen);

					iov[iovcnt++] = (struct iovec){(void *)pl, plen};
				}
				atomic_fetch_add_explicit(&t->merged, 1, memory_order_relaxed);
			}
			if (writev(t->fd, iov, iovcnt) < 0 && !first_err)
				first_err = -errno;
		}
	}
	return first_err ? first_err : (int)n;
}

static int ktun_write(void *ctx, const uint8_t *const pkts[], const size_t lens[], unsigned n)
{
	struct ktun *t = ctx;
	int first_err = 0;

	if (t->flags & TS_TUN_OFF_VNET)
		return ktun_write_vnet(t, pkts, lens, n);
	for (unsigned i = 0; i < n; i++)
		if (write(t->fd, pkts[i], lens[i]) < 0 && !first_err)
			first_err = -errno;
	return first_err ? first_err : (int)n;
}

static void ktun_offload_info(void *ctx, struct ts_tun_offload_info *out)
{
	struct ktun *t = ctx;

	out->flags = t->flags;
	out->split = atomic_load_explicit(&t->split, memory_order_relaxed);
	out->merged = atomic_load_explicit(&t->merged, memory_order_relaxed);
	out->refused = atomic_load_explicit(&t->refused, memory_order_relaxed);
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
	free(t->rbuf);
	free(t->gro);
	free(t);
}

const struct ts_tun_ops ts_tun_kernel_ops = {
    .read = ktun_read,
    .write = ktun_write,
    .wait_fd = ktun_wait_fd,
    .set_mtu = ktun_set_mtu,
    .close = ktun_close,
    .offload_info = ktun_offload_info,
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
