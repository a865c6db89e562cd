// SPDX-License-Identifier: MIT
/* hexdump's header lines and hex body: see format.h. */
#include "format.h"

#include <arpa/inet.h>
#include <endian.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct sbuf {
	char *p;
	size_t n, len;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (b->len >= b->n)
		return;
	va_start(ap, fmt);
	w = vsnprintf(b->p + b->len, b->n - b->len, fmt, ap);
	va_end(ap);
	if (w > 0)
		b->len = b->len + (size_t)w < b->n ? b->len + (size_t)w : b->n - 1;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

const char *hd_hook_name(unsigned hook)
{
	static const char *const names[TS_HOOK_COUNT] = {
	    [TS_HOOK_PLAINTEXT_OUT] = "plaintext_out",
	    [TS_HOOK_CIPHERTEXT_OUT] = "ciphertext_out",
	    [TS_HOOK_CIPHERTEXT_IN] = "ciphertext_in",
	    [TS_HOOK_PLAINTEXT_IN] = "plaintext_in",
	};

	return hook < TS_HOOK_COUNT ? names[hook] : "?";
}

const char *hd_wg_type(const uint8_t *p, size_t len)
{
	/* The type is a little-endian 32-bit word: one byte, three zero bytes. */
	if (len < 4 || p[1] || p[2] || p[3])
		return "other";
	switch (p[0]) {
	case 1:
		return len == 148 ? "initiation" : "other";
	case 2:
		return len == 92 ? "response" : "other";
	case 3:
		return len == 64 ? "cookie" : "other";
	case 4:
		/* header 16 + tag 16; a keepalive carries no plaintext at all */
		if (len == 32)
			return "keepalive";
		return len > 32 ? "data" : "other";
	}
	return "other";
}

void hd_endpoint_str(const union ts_plugin_endpoint *ep, char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN];

	switch (ep->sa.sa_family) {
	case AF_INET:
		inet_ntop(AF_INET, &ep->in.sin_addr, a, sizeof(a));
		snprintf(buf, n, "%s:%u", a, ntohs(ep->in.sin_port));
		break;
	case AF_INET6:
		if (IN6_IS_ADDR_V4MAPPED(&ep->in6.sin6_addr))
			inet_ntop(AF_INET, &ep->in6.sin6_addr.s6_addr[12], a, sizeof(a));
		else
			inet_ntop(AF_INET6, &ep->in6.sin6_addr, a, sizeof(a));
		snprintf(buf, n, IN6_IS_ADDR_V4MAPPED(&ep->in6.sin6_addr) ? "%s:%u" : "[%s]:%u", a,
			 ntohs(ep->in6.sin6_port));
		break;
	default:
		/* sin_port and sin6_port share their offset */
		if (ep->in.sin_port)
			snprintf(buf, n, "*:%u", ntohs(ep->in.sin_port));
		else
			snprintf(buf, n, "-");
	}
}

void hd_short_key(const uint8_t key[32], char out[9])
{
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];

	sodium_bin2base64(b64, sizeof(b64), key, 32, sodium_base64_VARIANT_ORIGINAL);
	memcpy(out, b64, 8);
	out[8] = '\0';
}

static const char *icmp4_name(uint8_t type)
{
	switch (type) {
	case 0:
		return "echo-reply";
	case 3:
		return "unreachable";
	case 8:
		return "echo-request";
	case 11:
		return "time-exceeded";
	}
	return NULL;
}

static const char *icmp6_name(uint8_t type)
{
	switch (type) {
	case 1:
		return "unreachable";
	case 2:
		return "packet-too-big";
	case 3:
		return "time-exceeded";
	case 128:
		return "echo-request";
	case 129:
		return "echo-reply";
	case 135:
		return "neighbor-solicitation";
	case 136:
		return "neighbor-advertisement";
	}
	return NULL;
}

/* The transport part, l4 = the bytes after the IP header (avail of them). */
static void l4_summary(struct sbuf *b, uint8_t proto, const uint8_t *l4, size_t avail)
{
	const char *name;

	switch (proto) {
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		sb_printf(b, proto == IPPROTO_ICMP ? " icmp" : " icmpv6");
		if (avail < 1)
			return;
		name = proto == IPPROTO_ICMP ? icmp4_name(l4[0]) : icmp6_name(l4[0]);
		if (name)
			sb_printf(b, " %s", name);
		else
			sb_printf(b, " type=%u", l4[0]);
		if (avail >= 8 && name && strstr(name, "echo"))
			sb_printf(b, " id=%u seq=%u", get16(l4 + 4), get16(l4 + 6));
		return;
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		sb_printf(b, proto == IPPROTO_TCP ? " tcp" : " udp");
		if (avail >= 4)
			sb_printf(b, " %u > %u", get16(l4), get16(l4 + 2));
		return;
	}
	sb_printf(b, " proto=%u", proto);
}

static void ip_summary(struct sbuf *b, const uint8_t *p, size_t caplen)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

	if (caplen >= 20 && p[0] >> 4 == 4) {
		size_t ihl = (size_t)(p[0] & 15) * 4;
		uint16_t frag = get16(p + 6);

		inet_ntop(AF_INET, p + 12, s, sizeof(s));
		inet_ntop(AF_INET, p + 16, d, sizeof(d));
		sb_printf(b, "ipv4 %s > %s", s, d);
		if (ihl < 20)
			return;
		if (frag & 0x1fff) { /* not the first fragment: no transport header */
			sb_printf(b, " proto=%u fragment", p[9]);
			return;
		}
		l4_summary(b, p[9], p + (ihl < caplen ? ihl : caplen),
			   caplen > ihl ? caplen - ihl : 0);
	} else if (caplen >= 40 && p[0] >> 4 == 6) {
		inet_ntop(AF_INET6, p + 8, s, sizeof(s));
		inet_ntop(AF_INET6, p + 24, d, sizeof(d));
		sb_printf(b, "ipv6 %s > %s", s, d);
		/* Extension headers are not followed: the next header is shown as is. */
		l4_summary(b, p[6], p + 40, caplen - 40);
	} else if (caplen == 0) {
		sb_printf(b, "empty");
	} else {
		sb_printf(b, "not-ip");
	}
}

void hd_ip_summary(const uint8_t *p, size_t caplen, char *buf, size_t n)
{
	struct sbuf b = {buf, n, 0};

	if (!n)
		return;
	buf[0] = '\0';
	ip_summary(&b, p, caplen);
}

static void wg_summary(struct sbuf *b, const uint8_t *p, size_t caplen, size_t len)
{
	/* The type needs the datagram's real length, which may exceed what was kept. */
	const char *t = caplen >= 4 ? hd_wg_type(p, len) : "other";

	sb_printf(b, "wg=%s", t);
	if (!strcmp(t, "initiation") && caplen >= 8)
		sb_printf(b, " sender=0x%08" PRIx32, get_le32(p + 4));
	else if (!strcmp(t, "response") && caplen >= 12)
		sb_printf(b, " sender=0x%08" PRIx32 " receiver=0x%08" PRIx32, get_le32(p + 4),
			  get_le32(p + 8));
	else if (!strcmp(t, "cookie") && caplen >= 8)
		sb_printf(b, " receiver=0x%08" PRIx32, get_le32(p + 4));
	else if ((!strcmp(t, "data") || !strcmp(t, "keepalive")) && caplen >= 16)
		sb_printf(b, " receiver=0x%08" PRIx32 " counter=%" PRIu64, get_le32(p + 4),
			  get_le64(p + 8));
}

void hd_wg_summary(const uint8_t *p, size_t caplen, size_t len, char *buf, size_t n)
{
	struct sbuf b = {buf, n, 0};

	if (!n)
		return;
	buf[0] = '\0';
	wg_summary(&b, p, caplen, len);
}

void hd_header(const struct rec *r, const uint8_t *p, size_t caplen, char *buf, size_t n)
{
	struct sbuf b = {buf, n, 0};
	time_t sec = (time_t)(r->real_ns / 1000000000u);
	struct tm tm;
	char key[9] = "-";

	if (!n)
		return;
	buf[0] = '\0';
	if (!localtime_r(&sec, &tm))
		memset(&tm, 0, sizeof(tm));
	if (r->flags & REC_HAVE_PEER)
		hd_short_key(r->peer, key);
	sb_printf(&b, "%02d:%02d:%02d.%06u %s peer=%s len=%" PRIu32 " ", tm.tm_hour, tm.tm_min,
		  tm.tm_sec, (unsigned)(r->real_ns % 1000000000u / 1000u), hd_hook_name(r->hook),
		  key, r->orig_len);
	if (r->hook == TS_HOOK_CIPHERTEXT_OUT || r->hook == TS_HOOK_CIPHERTEXT_IN) {
		char rem[INET6_ADDRSTRLEN + 10], loc[INET6_ADDRSTRLEN + 10];

		hd_endpoint_str(&r->remote, rem, sizeof(rem));
		hd_endpoint_str(&r->local, loc, sizeof(loc));
		if (r->hook == TS_HOOK_CIPHERTEXT_OUT)
			sb_printf(&b, "%s > %s ", loc, rem);
		else
			sb_printf(&b, "%s > %s ", rem, loc);
		wg_summary(&b, p, caplen, r->orig_len);
	} else {
		ip_summary(&b, p, caplen);
	}
}

size_t hd_hex_line(const uint8_t *p, size_t n, size_t offset, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o;

	if (n > 16)
		n = 16;
	o = (size_t)snprintf(buf, HD_LINE_MAX, "%08zx  ", offset);
	for (i = 0; i < 16; i++) {
		if (i < n) {
			buf[o++] = hex[p[i] >> 4];
			buf[o++] = hex[p[i] & 15];
		} else {
			buf[o++] = ' ';
			buf[o++] = ' ';
		}
		buf[o++] = ' ';
		if (i == 7)
			buf[o++] = ' ';
	}
	buf[o++] = ' ';
	buf[o++] = '|';
	for (i = 0; i < n; i++)
		buf[o++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
	buf[o++] = '|';
	buf[o++] = '\n';
	buf[o] = '\0';
	return o;
}
