/* SPDX-License-Identifier: MIT */
/*
 * An outer (UDP) endpoint: an IPv4 or IPv6 socket address.  Helpers to
 * compare, print and parse them live in endpoint.c.
 */
#ifndef TS_ENDPOINT_H
#define TS_ENDPOINT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

union ts_endpoint {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/*
 * The local address a peer's packets arrived on.  Replies leave from it, as
 * kernel WireGuard does, so a host with several addresses answers from the
 * one the peer knows.  family 0: let routing choose.
 */
struct ts_endpoint_src {
	sa_family_t family;
	union {
		struct in_addr in;
		struct in6_addr in6;
	} addr;
};

/* Longest text form: "[" v6 "%" scope "]:" port, NUL. */
#define TS_ENDPOINT_STRLEN (INET6_ADDRSTRLEN + 16 + 10)

static inline bool ts_endpoint_is_set(const union ts_endpoint *ep)
{
	return ep->sa.sa_family == AF_INET || ep->sa.sa_family == AF_INET6;
}

static inline socklen_t ts_endpoint_len(const union ts_endpoint *ep)
{
	return ep->sa.sa_family == AF_INET6 ? sizeof(ep->in6) : sizeof(ep->in);
}

bool ts_endpoint_equal(const union ts_endpoint *a, const union ts_endpoint *b);
/* "1.2.3.4:51820" or "[fe80::1]:51820"; never fails, writes "(none)". */
const char *ts_endpoint_str(const union ts_endpoint *ep, char buf[static TS_ENDPOINT_STRLEN]);
/*
 * Parse "host:port" or "[v6]:port" numerically (no DNS).  Returns 0 or
 * -EINVAL.
 */
int ts_endpoint_parse(union ts_endpoint *ep, const char *text);
/*
 * The bytes that identify a source for cookies and rate limiting: the
 * address followed by the port, in network order.  Returns the length.
 */
size_t ts_endpoint_addr_bytes(const union ts_endpoint *ep, unsigned char out[static 18]);

#endif
