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

#endif
