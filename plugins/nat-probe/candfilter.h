/* SPDX-License-Identifier: MIT */
/*
 * Which addresses a peer may make us PING (docs/nat-traversal.md, the
 * candidate filter): a pure check of one address against what we know of
 * ourselves (interface prefixes, STUN-mapped addresses, the relay and STUN
 * servers).  No I/O: the caller gathers that set.
 */
#ifndef NP_CANDFILTER_H
#define NP_CANDFILTER_H

#include <stdint.h>

#include "relay_proto.h"

#define CF_LOCAL_MAX   32 /* interface addresses kept; the rest are ignored */
#define CF_SERVICE_MAX 8  /* mapped addresses, relay, STUN servers */

struct cf_prefix {
	struct tsr_addr addr; /* port ignored */
	uint8_t plen;	      /* prefix length, 0..32 / 0..128 */
};

struct cf_self {
	struct cf_prefix local[CF_LOCAL_MAX]; /* every address of every interface of ours */
	int nlocal;
	struct tsr_addr service[CF_SERVICE_MAX]; /* refused as address and port */
	int nservice;
};

enum cf_verdict {
	CF_OK = 0,
	CF_PORT,	   /* port 0 */
	CF_UNSPECIFIED,	   /* 0.0.0.0/8, :: */
	CF_LOOPBACK,	   /* 127/8, ::1 */
	CF_MULTICAST,	   /* 224/4, ff00::/8 */
	CF_BROADCAST,	   /* 255.255.255.255, or an on-link prefix's broadcast */
	CF_RESERVED,	   /* 240/4, IPv4-mapped or -compatible IPv6, family not 4/6 */
	CF_LINK_LOCAL,	   /* fe80::/10; 169.254/16 not on-link */
	CF_PRIVATE_REMOTE, /* private, not on-link with any of our prefixes */
	CF_OURS,	   /* an address of one of our interfaces (any port) */
	CF_SERVICE,	   /* our mapped address, the relay, a STUN server */
};

/* CF_OK when a may be PINGed; otherwise why not. */
enum cf_verdict cf_check(const struct tsr_addr *a, const struct cf_self *self);
const char *cf_verdict_name(enum cf_verdict v);

#endif
