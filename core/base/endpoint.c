/* SPDX-License-Identifier: MIT */
/*
 * Outer endpoints: compare, print and parse IPv4/IPv6 socket addresses.
 * Parsing is numeric only (no DNS): it runs on UAPI input and in the
 * fuzzer, where a name lookup would block.  The INI loader resolves host
 * names itself before falling back here.
 */
/* endpoint.h needs IF_NAMESIZE from <net/if.h> first. */
#include <net/if.h>

#include "endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

bool ts_endpoint_equal(const union ts_endpoint *a, const union ts_endpoint *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_port == b->in.sin_port &&
		       a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       a->in6.sin6_scope_id == b->in6.sin6_scope_id &&
		       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, sizeof(a->in6.sin6_addr));
	/* Two unset endpoints are equal; anything else is not comparable. */
	return !ts_endpoint_is_set(a) && !ts_endpoint_is_set(b);
}

const char *ts_endpoint_str(const union ts_endpoint *ep, char buf[static TS_ENDPOINT_STRLEN])
{
	char addr[INET6_ADDRSTRLEN], scope[IF_NAMESIZE + 1];

	if (ep->sa.sa_family == AF_INET) {
		if (!inet_ntop(AF_INET, &ep->in.sin_addr, addr, sizeof(addr)))
			goto none;
		snprintf(buf, TS_ENDPOINT_STRLEN, "%s:%u", addr, ntohs(ep->in.sin_port));
		return buf;
	}
	if (ep->sa.sa_family == AF_INET6) {
		if (!inet_ntop(AF_INET6, &ep->in6.sin6_addr, addr, sizeof(addr)))
			goto none;
		scope[0] = '\0';
		/* The scope by name when the interface exists, as getnameinfo() does. */
		if (ep->in6.sin6_scope_id && !if_indextoname(ep->in6.sin6_scope_id, scope))
			snprintf(scope, sizeof(scope), "%u", ep->in6.sin6_scope_id);
		snprintf(buf, TS_ENDPOINT_STRLEN, "[%s%s%s]:%u", addr, scope[0] ? "%" : "", scope,
			 ntohs(ep->in6.sin6_port));
		return buf;
	}
none:
	snprintf(buf, TS_ENDPOINT_STRLEN, "(none)");
	return buf;
}

/* 1..65535 in plain decimal: no sign, no spaces, no leading zeros beyond one digit. */
static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t n = 0;

	if (s[0] == '0')
		return -EINVAL;
	for (; s[n]; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= 5)
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[n] - '0');
	}
	if (n == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* "eth0" via if_nametoindex(), or a plain decimal index. */
static int parse_scope(const char *s, uint32_t *scope)
{
	uint64_t v = 0;
	size_t n;

	if (!s[0] || strlen(s) >= IF_NAMESIZE)
		return -EINVAL;
	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++)
		v = v * 10 + (uint64_t)(s[n] - '0'); /* at most 15 digits: no overflow */
	if (!s[n]) {
		if (v == 0 || v > UINT32_MAX)
			return -EINVAL;
		*scope = (uint32_t)v;
		return 0;
	}
	*scope = if_nametoindex(s);
	return *scope ? 0 : -EINVAL;
}

int ts_endpoint_parse(union ts_endpoint *ep, const char *text)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 1];
	const char *port_str, *close;
	union ts_endpoint out;
	uint16_t port;
	size_t host_len;

	memset(&out, 0, sizeof(out));
	if (text[0] == '[') {
		close = strchr(text, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		host_len = (size_t)(close - (text + 1));
		port_str = close + 2;
		if (host_len == 0 || host_len >= sizeof(host))
			return -EINVAL;
		memcpy(host, text + 1, host_len);
		host[host_len] = '\0';
	} else {
		/* Unbracketed: IPv4 only, so "::1:5" is rejected rather than guessed at. */
		close = strrchr(text, ':');
		if (!close)
			return -EINVAL;
		host_len = (size_t)(close - text);
		port_str = close + 1;
		if (host_len == 0 || host_len >= INET_ADDRSTRLEN)
			return -EINVAL;
		memcpy(host, text, host_len);
		host[host_len] = '\0';
	}
	if (parse_port(port_str, &port))
		return -EINVAL;

	if (text[0] == '[') {
		char *pct = strchr(host, '%');
		uint32_t scope = 0;

		if (pct) {
			*pct = '\0';
			if (parse_scope(pct + 1, &scope))
				return -EINVAL;
		}
		if (inet_pton(AF_INET6, host, &out.in6.sin6_addr) != 1)
			return -EINVAL;
		out.in6.sin6_family = AF_INET6;
		out.in6.sin6_port = htons(port);
		out.in6.sin6_scope_id = scope;
	} else {
		if (inet_pton(AF_INET, host, &out.in.sin_addr) != 1)
			return -EINVAL;
		out.in.sin_family = AF_INET;
		out.in.sin_port = htons(port);
	}
	*ep = out;
	return 0;
}

size_t ts_endpoint_addr_bytes(const union ts_endpoint *ep, unsigned char out[static 18])
{
	if (ep->sa.sa_family == AF_INET) {
		memcpy(out, &ep->in.sin_addr, 4);
		memcpy(out + 4, &ep->in.sin_port, 2);
		return 6;
	}
	if (ep->sa.sa_family == AF_INET6) {
		memcpy(out, &ep->in6.sin6_addr, 16);
		memcpy(out + 16, &ep->in6.sin6_port, 2);
		return 18;
	}
	return 0;
}
