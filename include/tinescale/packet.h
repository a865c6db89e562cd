/* SPDX-License-Identifier: MIT */
/*
 * Packet helpers of the tinescale plugin SDK: a parsed view of an IP
 * packet (IPv4 with options, IPv6 with extension headers, then TCP, UDP,
 * ICMP or ICMPv6), checksums (RFC 1071 sums, RFC 1624 incremental update,
 * full recomputation) and a rewrite that keeps every checksum right.
 *
 *	#include <tinescale/packet.h>
 *
 *	struct ts_pkt_view v;
 *	if (ts_pkt_parse(pkt->data, pkt->len, &v) == 0 && v.proto == IPPROTO_TCP) ...
 *
 * Everything here is static inline: nothing to link, no ABI.  The packets
 * come from the network: every read is bounds-checked against the length
 * given, and nothing reads past it whatever the bytes say (a libFuzzer
 * target, tests/fuzz/fuzz_packet.c, checks that).  Offsets are from the
 * start of the packet; multi-byte values are network order in the packet,
 * host order in struct ts_pkt_view.
 */
#ifndef TINESCALE_PACKET_H
#define TINESCALE_PACKET_H

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What ts_pkt_parse found.  Offsets and lengths in bytes from the packet's start. */
struct ts_pkt_view {
	int family;	    /* AF_INET or AF_INET6 */
	uint8_t proto;	    /* upper-layer protocol after options / extension headers */
	bool fragment;	    /* part of a fragmented packet (first or later) */
	bool later_frag;    /* a fragment other than the first: it carries no L4 header */
	size_t ip_len;	    /* the IP packet's length by its header (bytes after it are padding) */
	size_t l3_len;	    /* IP header with IPv4 options or IPv6 extension headers */
	size_t l4_off;	    /* where the L4 header starts (= l3_len) */
	size_t l4_len;	    /* TCP 20..60, UDP/ICMP/ICMPv6 8; 0 when unknown or absent */
	size_t payload_off; /* l4_off + l4_len */
	size_t payload_len; /* ip_len - payload_off */
	uint16_t sport, dport; /* TCP and UDP, host order; else 0 */
	uint8_t tcp_flags;     /* TCP: FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10 ... */
};

#define TS_TCP_FIN 0x01
#define TS_TCP_SYN 0x02
#define TS_TCP_RST 0x04
#define TS_TCP_ACK 0x10

static inline uint16_t ts_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void ts_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The L4 header after l3_len bytes of IP header; 0, or -EINVAL when it is cut short. */
static inline int ts_pkt_parse_l4(const uint8_t *d, struct ts_pkt_view *v)
{
	size_t room = v->ip_len - v->l4_off;
	const uint8_t *l4 = d + v->l4_off;

	v->l4_len = 0;
	if (v->later_frag)
		return 0;
	switch (v->proto) {
	case IPPROTO_TCP:
		if (room < 20 || (size_t)(l4[12] >> 4) * 4 < 20 || (size_t)(l4[12] >> 4) * 4 > room)
			return v->fragment ? 0 : -EINVAL;
		v->l4_len = (size_t)(l4[12] >> 4) * 4;
		v->tcp_flags = l4[13];
		break;
	case IPPROTO_UDP:
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (room < 8)
			return v->fragment ? 0 : -EINVAL;
		v->l4_len = 8;
		break;
	default:
		return 0;
	}
	if (v->proto == IPPROTO_TCP || v->proto == IPPROTO_UDP) {
		v->sport = ts_get16(l4);
		v->dport = ts_get16(l4 + 2);
	}
	return 0;
}

/*
 * Parse the IP packet in [d, d + len).  0 and *v filled; -EINVAL when it
 * is not a well-formed IPv4/IPv6 packet (wrong version, header or length
 * fields pointing past len, an L4 header cut short in an unfragmented
 * packet); then *v is zeroed.  An unknown upper-layer protocol is not an
 * error: l4_len is 0 and the payload starts after the IP header.
 */
static inline int ts_pkt_parse(const uint8_t *d, size_t len, struct ts_pkt_view *v)
{
	memset(v, 0, sizeof(*v));
	if (!d || len < 1)
		return -EINVAL;
	if (d[0] >> 4 == 4) {
		size_t ihl = (size_t)(d[0] & 0x0f) * 4;
		uint16_t frag;

		if (len < 20 || ihl < 20 || ihl > len)
			return -EINVAL;
		v->ip_len = ts_get16(d + 2);
		if (v->ip_len < ihl || v->ip_len > len)
			goto bad;
		v->family = AF_INET;
		v->proto = d[9];
		v->l3_len = ihl;
		frag = ts_get16(d + 6);
		v->fragment = (frag & 0x3fff) != 0; /* MF or an offset */
		v->later_frag = (frag & 0x1fff) != 0;
	} else if (d[0] >> 4 == 6) {
		uint8_t next;
		size_t off = 40;

		if (len < 40 || (size_t)ts_get16(d + 4) > len - 40)
			return -EINVAL;
		v->ip_len = 40 + (size_t)ts_get16(d + 4);
		v->family = AF_INET6;
		next = d[6];
		/* Extension headers: each at least 8 bytes, so the walk ends within ip_len. */
		for (;;) {
			size_t hl;

			if (next == 0 || next == 43 || next == 60 || next == 135 || next == 51 ||
			    next == 44) {
				if (v->ip_len - off < 8)
					goto bad;
				if (next == 44) {
					hl = 8;
					v->fragment = true;
					v->later_frag = (ts_get16(d + off + 2) & 0xfff8) != 0;
				} else if (next == 51) {
					hl = ((size_t)d[off + 1] + 2) *
					     4; /* AH counts 4-byte units */
				} else {
					hl = ((size_t)d[off + 1] + 1) * 8;
				}
				if (hl > v->ip_len - off)
					goto bad;
				next = d[off];
				off += hl;
				if (v->later_frag)
					break;
				continue;
			}
			break; /* an upper layer, ESP (50) or no next header (59) */
		}
		v->proto = next;
		v->l3_len = off;
	} else {
		return -EINVAL;
	}
	v->l4_off = v->l3_len;
	if (ts_pkt_parse_l4(d, v))
		goto bad;
	v->payload_off = v->l4_off + v->l4_len;
	v->payload_len = v->ip_len - v->payload_off;
	return 0;
bad:
	memset(v, 0, sizeof(*v));
	return -EINVAL;
}

/*
 * One's complement sum (RFC 1071) of buf added to sum, as big-endian 16-bit
 * words; an odd last byte counts as its word's high byte.  Not folded:
 * pass the result on to more ts_csum_add calls, then to ts_csum_fold.
 * Buffers longer than 128 KiB must be added in parts (the sum is 32 bits).
 */
static inline uint32_t ts_csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *p = (const uint8_t *)buf;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += ts_get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

/* Fold a sum to 16 bits and complement it: the value to store, host order. */
static inline uint16_t ts_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * RFC 1624, eqn. 3: the checksum after a 16-bit word covered by it changed
 * from old to new, HC' = ~(~HC + ~m + m').  All host order.
 */
static inline uint16_t ts_csum_update16(uint16_t csum, uint16_t old, uint16_t new_word)
{
	uint32_t sum = (uint16_t)~csum;

	sum += (uint16_t)~old;
	sum += new_word;
	return ts_csum_fold(sum);
}

/* Where the L4 checksum is (offset from the packet start), or 0 when there is none we keep. */
static inline size_t ts_pkt_l4_csum_off(const struct ts_pkt_view *v)
{
	if (v->fragment || !v->l4_len)
		return 0; /* a fragment's checksum covers bytes we do not have */
	switch (v->proto) {
	case IPPROTO_TCP:
		return v->l4_off + 16;
	case IPPROTO_UDP:
		return v->l4_off + 6;
	case IPPROTO_ICMP:
		return v->family == AF_INET ? v->l4_off + 2 : 0;
	case IPPROTO_ICMPV6:
		return v->family == AF_INET6 ? v->l4_off + 2 : 0;
	}
	return 0;
}

/* The pseudo-header's sum (RFC 768 / 793 / 8200 section 8.1); ICMP over IPv4 has none. */
static inline uint32_t ts_pkt_pseudo_sum(const uint8_t *d, const struct ts_pkt_view *v)
{
	size_t l4 = v->ip_len - v->l4_off;
	uint32_t sum = v->proto;

	if (v->family == AF_INET && v->proto == IPPROTO_ICMP)
		return 0;
	if (v->family == AF_INET)
		sum = ts_csum_add(sum, d + 12, 8);
	else
		sum = ts_csum_add(sum, d + 8, 32);
	return sum + (uint32_t)(l4 >> 16) + (uint32_t)(l4 & 0xffff);
}

/* Recompute the IPv4 header checksum (nothing to do for IPv6).  0 or -EINVAL. */
static inline int ts_pkt_fix_ip_csum(uint8_t *d, const struct ts_pkt_view *v)
{
	if (v->family == AF_INET6)
		return 0;
	if (v->family != AF_INET || v->l3_len < 20)
		return -EINVAL;
	ts_put16(d + 10, 0);
	ts_put16(d + 10, ts_csum_fold(ts_csum_add(0, d, v->l3_len)));
	return 0;
}

/*
 * Recompute the TCP, UDP, ICMP or ICMPv6 checksum over the whole L4
 * segment (ip_len - l4_off bytes, up to 64 KiB) and the pseudo-header.
 * -EINVAL for a fragment or another protocol.  A UDP checksum of 0 over
 * IPv4 ("none") is left alone.
 */
static inline int ts_pkt_fix_l4_csum(uint8_t *d, const struct ts_pkt_view *v)
{
	size_t at = ts_pkt_l4_csum_off(v), l4 = v->ip_len - v->l4_off;
	uint32_t sum;
	uint16_t c;

	if (!at)
		return -EINVAL;
	if (v->proto == IPPROTO_UDP && v->family == AF_INET && !ts_get16(d + at))
		return 0;
	ts_put16(d + at, 0);
	sum = ts_pkt_pseudo_sum(d, v);
	/* In parts of 32 KiB, folded between: the 32-bit sum cannot overflow. */
	for (size_t o = 0; o < l4; o += 32768) {
		sum = ts_csum_add(sum, d + v->l4_off + o, l4 - o < 32768 ? l4 - o : 32768);
		sum = (sum & 0xffff) + (sum >> 16);
	}
	c = ts_csum_fold(sum);
	if (v->proto == IPPROTO_UDP && !c)
		c = 0xffff; /* 0 would mean "no checksum" */
	ts_put16(d + at, c);
	return 0;
}

/*
 * Overwrite n bytes at off with src and update the checksums that cover
 * them incrementally (RFC 1624): the IPv4 header checksum for bytes in the
 * IPv4 header, the L4 checksum for bytes in the L4 segment and for the
 * addresses (its pseudo-header).  The range must lie in the IP header or in
 * the L4 segment, not across, and must not touch a checksum field; a length
 * field changed this way leaves the pseudo-header's length stale (recompute
 * then).  0 or -EINVAL (nothing written).
 */
static inline int ts_pkt_write(uint8_t *d, const struct ts_pkt_view *v, size_t off, const void *src,
			       size_t n)
{
	const uint8_t *s = (const uint8_t *)src;
	size_t l4c = ts_pkt_l4_csum_off(v), end = off + n;
	bool in_l3 = end <= v->l3_len, in_l4 = off >= v->l4_off;
	bool ip_c = in_l3 && v->family == AF_INET, l4_c = l4c != 0 && in_l4;
	uint32_t delta = 0;

	if (!v->family || n > v->ip_len || off > v->ip_len - n || (!in_l3 && !in_l4))
		return -EINVAL;
	if (ip_c && off < 12 && end > 10)
		return -EINVAL; /* the IPv4 header checksum itself */
	if (l4_c && off < l4c + 2 && end > l4c)
		return -EINVAL;
	/* The addresses are in the pseudo-header (ICMP over IPv4 has none). */
	if (in_l3 && l4c && !(v->family == AF_INET && v->proto == IPPROTO_ICMP)) {
		size_t a0 = v->family == AF_INET ? 12 : 8, a1 = v->family == AF_INET ? 20 : 40;

		if (off < a1 && end > a0) {
			if (off < a0 || end > a1)
				return -EINVAL; /* part address, part not: write them apart */
			l4_c = true;
		}
	}
	/* Whole 16-bit words from the packet's start (every region starts even). */
	for (size_t w = off & ~(size_t)1; w < end; w += 2) {
		uint8_t o[2], nw[2];

		for (int k = 0; k < 2; k++) {
			size_t i = w + (size_t)k;

			o[k] = i < v->ip_len ? d[i] : 0;
			nw[k] = i >= off && i < end ? s[i - off] : o[k];
		}
		delta += (uint16_t)~ts_get16(o);
		delta += ts_get16(nw);
		delta = (delta & 0xffff) + (delta >> 16); /* stays below 2^17 */
	}
	memmove(d + off, s, n);
	/* HC' = ~(~HC + sum of (~m + m')), eqn. 3 over every changed word. */
	if (ip_c)
		ts_put16(d + 10, ts_csum_fold((uint16_t)~ts_get16(d + 10) + delta));
	if (l4_c && !(v->proto == IPPROTO_UDP && v->family == AF_INET && !ts_get16(d + l4c))) {
		uint16_t c = ts_csum_fold((uint16_t)~ts_get16(d + l4c) + delta);

		/*
		 * 0000 and ffff are the two zeros of one's complement.  Eqn. 3
		 * yields 0000 when the covered data sums to either; only ffff
		 * verifies when every byte is zero (an all-zero ICMP message),
		 * and for UDP 0000 means "no checksum".  ffff is always right.
		 */
		ts_put16(d + l4c, c ? c : 0xffff);
	}
	return 0;
}

/*
 * The offset of TCP option kind in the packet, or -ENOENT (also for a
 * malformed option list, which is never walked past the TCP header).
 */
static inline long ts_pkt_tcp_option(const uint8_t *d, const struct ts_pkt_view *v, uint8_t kind)
{
	size_t o, end = v->l4_off + v->l4_len;

	if (v->proto != IPPROTO_TCP || v->l4_len < 20)
		return -ENOENT;
	for (o = v->l4_off + 20; o < end;) {
		if (d[o] == 0)
			break; /* end of options */
		if (d[o] == 1) {
			o++; /* no-operation */
			continue;
		}
		if (end - o < 2 || d[o + 1] < 2 || d[o + 1] > end - o)
			break;
		if (d[o] == kind)
			return (long)o;
		o += d[o + 1];
	}
	return -ENOENT;
}

#ifdef __cplusplus
}
#endif

#endif
