/* SPDX-License-Identifier: MIT */
/* The UDP sockets WireGuard speaks over: binding, rebinding, marks. */
#ifndef TS_SOCKET_H
#define TS_SOCKET_H

#include <stdint.h>

/*
 * Bind an IPv4 and an IPv6 socket to the same port (*port 0 = let the
 * kernel choose, then the IPv6 one follows).  A host without IPv6 gets
 * *fd6 = -1.  Returns 0 or -errno (-EADDRINUSE when the port is taken).
 */
int ts_udp_bind_pair(uint16_t *port, uint32_t fwmark, int *fd4, int *fd6);
int ts_udp_set_fwmark(int fd, uint32_t fwmark);

struct msghdr;
struct ts_endpoint_src;

/* Room for one IP_PKTINFO or IPV6_PKTINFO control message. */
#define TS_PKTINFO_SPACE 64
/* The local destination address a datagram arrived on (family 0 if unknown). */
void ts_udp_src_from_msg(const struct msghdr *m, struct ts_endpoint_src *src);
/* Ask for src as the source address of m; control must hold TS_PKTINFO_SPACE bytes. */
void ts_udp_src_to_msg(struct msghdr *m, const struct ts_endpoint_src *src, void *control);

#endif
