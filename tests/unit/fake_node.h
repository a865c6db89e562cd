/* SPDX-License-Identifier: MIT */
/*
 * A WireGuard device over the fake I/O of fake_io.h, configured through the
 * UAPI parser and ts_device_apply() as a user would, and the IPv4 packets
 * its TUN carries: the setup test_engine, test_seam and fuzz_receive share.
 */
#ifndef TS_FAKE_NODE_H
#define TS_FAKE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "fake_io.h"

/*
 * A device called name with this MTU over a new fake TUN and a new bind at
 * addr on net (the device owns both).  0, or -errno with err set.
 */
int fake_device_new(struct fake_net *net, const char *name, const char *addr, int mtu,
		    struct ts_device **dev, struct fake_tun **tun, struct fake_bind **bind,
		    char *err, size_t errlen);
/* Parse a UAPI set text and apply it to dev: 0, or -errno with err set. */
int fake_device_apply(struct ts_device *dev, const char *text, char *err, size_t errlen);
/*
 * Set dev's private key to priv and give it the peer pub with allowed_ip
 * ("10.0.0.2/32") and, unless ep is NULL, that endpoint.  As above.
 */
int fake_device_add_peer(struct ts_device *dev, const uint8_t priv[32], const uint8_t pub[32],
			 const char *allowed_ip, const union ts_endpoint *ep, char *err,
			 size_t errlen);
/*
 * An IPv4/UDP packet from 10.0.0.<from> to 10.0.0.<to> with payload zero
 * bytes after its headers, written to p: its length (28 + payload).
 */
size_t fake_ipv4_udp(uint8_t *p, unsigned from, unsigned to, size_t payload);
/*
 * Write pkt into the TUN from; true when it comes out of the TUN to byte
 * for byte within timeout_ms per packet (what comes out before it, staged
 * earlier, is taken and skipped).
 */
bool fake_tun_carried(struct fake_tun *from, struct fake_tun *to, const uint8_t *pkt, size_t len,
		      int timeout_ms);

#endif
