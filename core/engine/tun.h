/* SPDX-License-Identifier: MIT */
/*
 * The TUN side of the device, behind an ops table (struct ts_tun_ops) so the
 * engine runs over /dev/net/tun in the daemon and over an in-memory fake in
 * tests; and the link settings the daemon applies itself (MTU, up,
 * addresses through rtnetlink).
 */
#ifndef TS_TUN_H
#define TS_TUN_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

/* TUN offloads in use (TS_TUN_OFF_*) and what they did, for status. */
struct ts_tun_offload_info {
	unsigned flags;
	uint64_t split;	  /* super-packets read and segmented */
	uint64_t merged;  /* coalesced super-packets written */
	uint64_t refused; /* reads with a malformed virtio_net_hdr, dropped */
};

#define TS_TUN_OFF_VNET 0x1 /* IFF_VNET_HDR */
#define TS_TUN_OFF_CSUM 0x2
#define TS_TUN_OFF_TSO4 0x4
#define TS_TUN_OFF_TSO6 0x8
#define TS_TUN_OFF_USO	0x10

/*
 * What the device needs of a TUN.  The device owns ctx once it is given one
 * and calls close exactly once.  read and write may run concurrently with
 * each other (tx reads; the rx pipe's release stage writes, on rx or a
 * crypto worker) but each is called by one thread at a time.
 */
struct ts_tun_ops {
	/*
	 * Read up to n packets without blocking: packet i goes to bufs[i] (at
	 * most cap bytes) and its length to lens[i].  A driver that splits one
	 * read into several packets (offloads) fills several slots.  Returns
	 * the count (0: nothing waiting), -ENODEV when the link is gone for
	 * good, or another -errno (transient; the caller logs and polls again).
	 */
	int (*read)(void *ctx, uint8_t *const bufs[], size_t lens[], unsigned n, size_t cap);
	/*
	 * Write n whole IP packets, each on its own: a failure does not stop
	 * the rest.  A driver with offloads may coalesce consecutive segments
	 * of a flow into one write.  Returns n, or the first -errno.
	 */
	int (*write)(void *ctx, const uint8_t *const pkts[], const size_t lens[], unsigned n);
	/*
	 * A file descriptor that polls readable while read has something to
	 * report (packets, or that the link is gone), and may also report
	 * POLLERR/POLLHUP when the link is gone.  It never changes.
	 */
	int (*wait_fd)(void *ctx);
	/* Set the link MTU: 0 or -errno. */
	int (*set_mtu)(void *ctx, int mtu);
	void (*close)(void *ctx);
	/*
	 * Optional (NULL: a TUN without offloads): what the driver offloads
	 * and its counters, for status.
	 */
	void (*offload_info)(void *ctx, struct ts_tun_offload_info *out);
};

/* /dev/net/tun. */
extern const struct ts_tun_ops ts_tun_kernel_ops;
/*
 * Create (or attach to) TUN interface 'ifname' (the kernel may rename a
 * template like "ts%d": ifname is updated); *ctx is for ts_tun_kernel_ops.
 * With IFF_VNET_HDR and every offload the kernel accepts (checksum, TSO,
 * USO), falling back flag by flag, and to a plain TUN when it has none;
 * TINESCALE_TUN_OFFLOAD=0 in the environment asks for the plain TUN.
 * Returns 0 or -errno.
 */
int ts_tun_kernel_open(char ifname[static IFNAMSIZ], void **ctx);

int ts_tun_set_mtu(const char *ifname, int mtu);
int ts_tun_get_mtu(const char *ifname);
int ts_tun_set_up(const char *ifname);
/* "10.0.0.1/24" or "fd00::1/64": 0, or -errno with a message in err. */
int ts_tun_add_address(const char *ifname, const char *cidr, char *err, size_t errlen);

#endif
