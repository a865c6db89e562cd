/* SPDX-License-Identifier: MIT */
/*
 * The TUN device: creating it, and the link settings the daemon applies
 * itself (MTU, up, addresses through rtnetlink).
 */
#ifndef TS_TUN_H
#define TS_TUN_H

#include <net/if.h>
#include <stddef.h>

/* Create (or attach to) TUN interface 'ifname'; returns a non-blocking fd or -errno. */
int ts_tun_open(char ifname[static IFNAMSIZ]);
int ts_tun_set_mtu(const char *ifname, int mtu);
int ts_tun_get_mtu(const char *ifname);
int ts_tun_set_up(const char *ifname);
/* "10.0.0.1/24" or "fd00::1/64": 0, or -errno with a message in err. */
int ts_tun_add_address(const char *ifname, const char *cidr, char *err, size_t errlen);

#endif
