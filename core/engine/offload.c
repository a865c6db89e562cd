// SPDX-License-Identifier: MIT
/*
 * The TUN offloads' packet work (offload.h): segmenting TSO/USO super-packets
 * and completing checksums on the way out of the TUN, planning TCP
 * coalescing (GRO) on the way in.  Pure functions over buffers; the kernel
 * TUN driver (tun.c) does the I/O.
 *
 * virtio_net_hdr fields are in host order: a TUN without TUNSETVNETLE on a
 * little-endian host, the only kind this runs on, uses the legacy native
 * layout.
 */
#include "offload.h"

#include "bytes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

/*
 * The one's complement sum does not depend on byte order (RFC 1071, 2.(B)):
 * add the data as native 32-bit words, eight bytes a load, and swap the
 * folded result into network order once at the end.  Inlined twice below:
 * plain, and vectorised for AVX2.
 */
static inline __attribute__((always_inline)) uint32_t csum_body(uint32_t sum, const uint8_t *p,
								size_t len)
{
	uint64_t s = 0;
	size_t i = 0;
	uint16_t n;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		s += (w & 0xffffffffu) + (w >> 32);
	}
	for (; i + 2 <= len; i += 2) {
		uint16_t w;

		memcpy(&w, p + i, 2);
		s += w;
	}
	if (i < len) {
		uint8_t last[2] = {p[i], 0};
		uint16_t w;

		memcpy(&w, last, 2);
		s += w;
	}
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	n = ntohs((uint16_t)s);
	/* Folded to 16 bits, so callers can add a few more words without overflow. */
	s = (uint64_t)sum + n;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

/*
 * The data path sums every TCP segment it cuts or coalesces; -O2 does not
 * vectorise this loop, and with AVX2 it runs in half the time (1420 bytes:
 * about 70 ns against 35 on this machine).  Chosen per call from the CPU's
 * features (a load and a predicted branch), not with an ifunc: ifunc
 * resolvers run before the sanitizers' runtimes are up.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target("avx2"), optimize("tree-vectorize"))) static uint32_t
csum_avx2(uint32_t sum, const uint8_t *p, size_t len)
{
	return csum_body(sum, p, len);
}

uint32_t ts_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	if (__builtin_cpu_supports("avx2"))
		return csum_avx2(sum, p, len);
	return csum_body(sum, p, len);
}
#else
uint32_t ts_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	return csum_body(sum, p, len);
}
#endif

uint16_t ts_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The pseudo-header's sum of an IPv4 or IPv6 packet for an L4 length (not folded). */
static uint32_t pseudo_sum(const uint8_t *ip, uint8_t proto, size_t l4_len)
{
	uint32_t s;

	if ((ip[0] >> 4) == 4)
		s = ts_csum_add(0, ip + 12, 8);
	else
		s = ts_csum_add(0, ip + 8, 32);
	return s + proto + (uint32_t)(l4_len >> 16) + (uint32_t)(l4_len & 0xffff);
}

static void ip4_set_csum(uint8_t *ip, size_t ihl)
{
	ts_be16_put(ip + 10, 0);
	ts_be16_put(ip + 10, (uint16_t)~ts_csum_fold(ts_csum_add(0, ip, ihl)));
}

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

/* --- segmenting -------------------------------------------------------- */

int ts_gso_parse(struct ts_gso *g, const struct virtio_net_hdr *h, const uint8_t *pkt, size_t len)
{
	uint8_t type = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN, proto;
	bool v6;
	size_t payload;

	memset(g, 0, sizeof(*g));
	g->pkt = pkt;
	g->len = len;
	g->nseg = 1;
	if (len == 0 || len > 65535 + 40)
		return -EINVAL;
	if (h->flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
		return -EINVAL;
	if (h->hdr_len > len)
		return -EINVAL;
	if (type == VIRTIO_NET_HDR_GSO_NONE) {
		if (h->gso_type & VIRTIO_NET_HDR_GSO_ECN)
			return -EINVAL;
		if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
			return 0;
		/* The checksum field must lie inside the summed range. */
		if (h->csum_start >= len || (size_t)h->csum_offset + 2 > len - h->csum_start)
			return -EINVAL;
		g->needs_csum = true;
		g->csum_start = h->csum_start;
		g->csum_offset = h->csum_offset;
		return 0;
	}
	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || h->gso_size == 0)
		return -EINVAL;
	v6 = (pkt[0] >> 4) == 6;
	switch (type) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (v6)
			return -EINVAL;
		g->kind = TS_GSO_TCP4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!v6)
			return -EINVAL;
		g->kind = TS_GSO_TCP6;
		break;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		g->kind = v6 ? TS_GSO_UDP6 : TS_GSO_UDP4;
		break;
	default: /* UFO (IP fragmentation) and anything unknown */
		return -EINVAL;
	}
	proto = (g->kind == TS_GSO_UDP4 || g->kind == TS_GSO_UDP6) ? IPPROTO_UDP : IPPROTO_TCP;
	if (v6) {
		/* No extension headers: the kernel's TSO/USO packets have none. */
		if (len < 40 || pkt[6] != proto || (size_t)ts_be16_get(pkt + 4) + 40 != len)
			return -EINVAL;
		g->l4_off = 40;
	} else {
		if (len < 20 || (pkt[0] >> 4) != 4 || (pkt[0] & 0xf) < 5)
			return -EINVAL;
		g->l4_off = (size_t)(pkt[0] & 0xf) * 4;
		/* Not a fragment, the whole packet, the right protocol. */
		if (g->l4_off > len || pkt[9] != proto || ts_be16_get(pkt + 2) != len ||
		    (ts_be16_get(pkt + 6) & 0x3fff))
			return -EINVAL;
	}
	if (h->csum_start != g->l4_off || h->csum_offset != (proto == IPPROTO_TCP ? 16 : 6))
		return -EINVAL;
	if (proto == IPPROTO_TCP) {
		if (g->l4_off + 20 > len || (pkt[g->l4_off + 12] >> 4) < 5)
			return -EINVAL;
		g->hdr_len = g->l4_off + (size_t)(pkt[g->l4_off + 12] >> 4) * 4;
	} else {
		g->hdr_len = g->l4_off + 8;
	}
	if (g->hdr_len > len)
		return -EINVAL;
	payload = len - g->hdr_len;
	g->gso_size = h->gso_size;
	if (payload == 0 || g->hdr_len + g->gso_size > 65535)
		return -EINVAL;
	g->nseg = (unsigned)((payload + g->gso_size - 1) / g->gso_size);
	return 0;
}

ssize_t ts_gso_segment(const struct ts_gso *g, unsigned i, uint8_t *out, size_t cap)
{
	size_t off, plen, total, l4_len;
	bool tcp, first = i == 0, last = i + 1 == g->nseg;
	uint8_t *l4;
	uint32_t sum;

	if (i >= g->nseg)
		return -EINVAL;
	if (g->kind == TS_GSO_NONE) {
		if (g->len > cap)
			return -ENOSPC;
		memcpy(out, g->pkt, g->len);
		if (g->needs_csum) {
			uint8_t *f = out + g->csum_start + g->csum_offset;
			uint16_t c;

			/* The field holds the pseudo-header's sum: add the rest. */
			c = (uint16_t)~ts_csum_fold(
			    ts_csum_add(0, out + g->csum_start, g->len - g->csum_start));
			ts_be16_put(f, c ? c : 0xffff);
		}
		return (ssize_t)g->len;
	}
	off = g->hdr_len + (size_t)i * g->gso_size;
	plen = g->len - off < g->gso_size ? g->len - off : g->gso_size;
	total = g->hdr_len + plen;
	if (total > cap)
		return -ENOSPC;
	memcpy(out, g->pkt, g->hdr_len);
	memcpy(out + g->hdr_len, g->pkt + off, plen);
	if (g->kind == TS_GSO_TCP4 || g->kind == TS_GSO_UDP4) {
		ts_be16_put(out + 2, (uint16_t)total);
		ts_be16_put(out + 4, (uint16_t)(ts_be16_get(out + 4) + i));
		ip4_set_csum(out, g->l4_off);
	} else {
		ts_be16_put(out + 4, (uint16_t)(total - 40));
	}
	l4 = out + g->l4_off;
	l4_len = total - g->l4_off;
	tcp = g->kind == TS_GSO_TCP4 || g->kind == TS_GSO_TCP6;
	if (tcp) {
		ts_be32_put(l4 + 4, ts_be32_get(l4 + 4) + (uint32_t)((size_t)i * g->gso_size));
		/* FIN and PSH end the burst; CWR answers once, on its first segment. */
		if (!last)
			l4[13] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
		if (!first)
			l4[13] &= (uint8_t)~TCP_CWR;
		ts_be16_put(l4 + 16, 0);
	} else {
		ts_be16_put(l4 + 4, (uint16_t)l4_len);
		ts_be16_put(l4 + 6, 0);
	}
	sum = pseudo_sum(out, tcp ? IPPROTO_TCP : IPPROTO_UDP, l4_len);
	sum = ts_csum_add(sum, l4, l4_len);
	{
		uint16_t c = (uint16_t)~ts_csum_fold(sum);

		if (!tcp && c == 0)
			c = 0xffff; /* 0 means "no checksum" to UDP */
		ts_be16_put(l4 + (tcp ? 16 : 6), c);
	}
	return (ssize_t)total;
}

/* --- coalescing -------------------------------------------------------- */

/* The L4 protocol of a coalescing candidate (IPv4: byte 9; IPv6: byte 6). */
static uint8_t l4_proto(const uint8_t *p)
{
	return (p[0] >> 4) == 4 ? p[9] : p[6];
}

/*
 * Whether packet p can join a coalesced group: IPv4 without options and not
 * a fragment, or IPv6 with TCP or UDP right after its header; TCP with only
 * ACK (and PSH) set, no urgent data and a payload; UDP (when udp is set)
 * with a payload and its length field right; and correct checksums (the
 * kernel will not check a coalesced packet's: a bad one is written alone,
 * for the kernel to drop; an IPv4 UDP datagram without a checksum, 0, is
 * written alone too).  Sets the header lengths.
 */
static bool gro_candidate(const uint8_t *p, size_t len, bool udp, uint16_t *l4_off,
			  uint16_t *hdr_len)
{
	size_t l4, hl;
	const uint8_t *th;
	uint8_t proto;

	if (len < 28 || len > 65535)
		return false;
	if ((p[0] >> 4) == 4) {
		if (p[0] != 0x45 || ts_be16_get(p + 2) != len || (ts_be16_get(p + 6) & 0x3fff))
			return false;
		l4 = 20;
	} else if ((p[0] >> 4) == 6) {
		if (len < 48 || (size_t)ts_be16_get(p + 4) + 40 != len)
			return false;
		l4 = 40;
	} else {
		return false;
	}
	proto = l4_proto(p);
	th = p + l4;
	if (proto == IPPROTO_TCP) {
		if (len < l4 + 20)
			return false;
		hl = l4 + (size_t)(th[12] >> 4) * 4;
		if ((th[12] >> 4) < 5 || hl >= len || hl > TS_GRO_HDR_MAX)
			return false;
		if ((th[13] & ~TCP_PSH) != TCP_ACK || ts_be16_get(th + 18) != 0)
			return false;
	} else if (proto == IPPROTO_UDP && udp) {
		hl = l4 + 8;
		if (hl >= len || ts_be16_get(th + 4) != len - l4 || ts_be16_get(th + 6) == 0)
			return false;
	} else {
		return false;
	}
	if (l4 == 20 && ts_csum_fold(ts_csum_add(0, p, 20)) != 0xffff)
		return false;
	if (ts_csum_fold(ts_csum_add(pseudo_sum(p, proto, len - l4), th, len - l4)) != 0xffff)
		return false;
	*l4_off = (uint16_t)l4;
	*hdr_len = (uint16_t)hl;
	return true;
}

/* Same protocol, addresses and ports: both packets are candidates of one IP version. */
static bool same_flow(const uint8_t *a, const uint8_t *b, size_t l4)
{
	if ((a[0] >> 4) != (b[0] >> 4) || l4_proto(a) != l4_proto(b))
		return false;
	if (l4 == 20)
		return !memcmp(a + 12, b + 12, 8) && !memcmp(a + 20, b + 20, 4);
	return !memcmp(a + 8, b + 8, 32) && !memcmp(a + 40, b + 40, 4);
}

/* Whether candidate j continues group g (whose packets are candidates of j's flow). */
static bool gro_can_append(const struct ts_gro *gro, const struct ts_gro_group *g,
			   const uint8_t *const pkts[], const size_t lens[], unsigned j)
{
	unsigned h = g->first, l = g->last;
	const uint8_t *ph = pkts[h], *pj = pkts[j];
	size_t l4 = gro->l4_off[h], hl = gro->hdr_len[h];
	size_t gso = lens[h] - hl, pl = lens[j] - gro->hdr_len[j];
	const uint8_t *th = ph + l4, *tj = pj + l4, *tl = pkts[l] + l4;

	if (gro->hdr_len[j] != hl || gro->l4_off[j] != l4)
		return false;
	if (l4 == 20) {
		/* TOS, DF, TTL equal; IDs count up like the kernel's TSO's and USO's. */
		if (ph[1] != pj[1] || ph[8] != pj[8] ||
		    ts_be16_get(ph + 6) != ts_be16_get(pj + 6) ||
		    (uint16_t)(ts_be16_get(ph + 4) + g->count) != ts_be16_get(pj + 4))
			return false;
	} else if (memcmp(ph, pj, 4) || ph[7] != pj[7]) {
		return false; /* traffic class, flow label, hop limit */
	}
	if (l4_proto(ph) == IPPROTO_UDP) {
		/* Every datagram but the last of the head's size. */
		return lens[l] - hl == gso && pl <= gso && hl + g->payload + pl <= 65535;
	}
	/* Ack, flags but PSH, window, urgent pointer, options: all the same. */
	if (memcmp(th + 8, tj + 8, 4) || ((th[13] ^ tj[13]) & ~TCP_PSH) ||
	    memcmp(th + 14, tj + 14, 2) || memcmp(th + 20, tj + 20, hl - l4 - 20))
		return false;
	/* Contiguous, every segment but the last of the head's size, PSH only last. */
	if (ts_be32_get(tj + 4) != ts_be32_get(th + 4) + (uint32_t)g->payload ||
	    (tl[13] & TCP_PSH) || lens[l] - hl != gso || pl > gso)
		return false;
	return hl + g->payload + pl <= 65535;
}

/*
 * A TCP or UDP packet that cannot be coalesced (SYN, FIN, a pure ACK,
 * options changed, a bad checksum...) ends the open groups of its flow:
 * nothing after it may be written before it.  Its protocol, addresses and
 * ports, if it is TCP or UDP at all.
 */
static void gro_close_flow(struct ts_gro *gro, const bool cand[], const uint8_t *const pkts[],
			   const size_t lens[], unsigned j)
{
	const uint8_t *p = pkts[j];
	size_t l4;
	uint8_t proto;

	if (lens[j] >= 20 && (p[0] >> 4) == 4 && !(ts_be16_get(p + 6) & 0x1fff))
		l4 = (size_t)(p[0] & 0xf) * 4;
	else if (lens[j] >= 40 && (p[0] >> 4) == 6)
		l4 = 40;
	else
		return;
	proto = l4_proto(p);
	if ((proto != IPPROTO_TCP && proto != IPPROTO_UDP) || l4 < 20 || lens[j] < l4 + 4)
		return;
	for (unsigned k = 0; k < gro->n_groups; k++) {
		const uint8_t *ph = pkts[gro->group[k].first];
		size_t hl4 = gro->l4_off[gro->group[k].first];

		if (!cand[gro->group[k].first] || (ph[0] >> 4) != (p[0] >> 4) ||
		    l4_proto(ph) != proto)
			continue;
		if (hl4 == 20 ? !memcmp(ph + 12, p + 12, 8) : !memcmp(ph + 8, p + 8, 32))
			if (!memcmp(ph + hl4, p + l4, 4))
				gro->group[k].closed = true;
	}
}

void ts_gro_plan(struct ts_gro *gro, const uint8_t *const pkts[], const size_t lens[], unsigned n)
{
	bool cand[TS_GRO_MAX];

	if (n > TS_GRO_MAX)
		n = TS_GRO_MAX;
	gro->n_groups = 0;
	for (unsigned j = 0; j < n; j++) {
		struct ts_gro_group *g = NULL;

		gro->next[j] = -1;
		cand[j] =
		    gro_candidate(pkts[j], lens[j], gro->udp, &gro->l4_off[j], &gro->hdr_len[j]);
		if (cand[j]) {
			/* The flow's latest group; anything else of the flow ends it. */
			for (unsigned k = gro->n_groups; k-- > 0;) {
				unsigned h = gro->group[k].first;

				if (cand[h] && !gro->group[k].closed &&
				    gro->l4_off[h] == gro->l4_off[j] &&
				    same_flow(pkts[h], pkts[j], gro->l4_off[j])) {
					g = &gro->group[k];
					break;
				}
			}
			if (g && !gro_can_append(gro, g, pkts, lens, j)) {
				g->closed = true;
				g = NULL;
			}
		} else {
			gro_close_flow(gro, cand, pkts, lens, j);
		}
		if (g) {
			gro->next[g->last] = (int16_t)j;
			g->last = (uint16_t)j;
			g->count++;
			g->payload += lens[j] - gro->hdr_len[j];
			continue;
		}
		g = &gro->group[gro->n_groups++];
		g->first = g->last = (uint16_t)j;
		g->count = 1;
		g->closed = false;
		g->payload = cand[j] ? lens[j] - gro->hdr_len[j] : 0;
		if (!cand[j]) {
			gro->l4_off[j] = 0;
			gro->hdr_len[j] = 0;
		}
	}
}

size_t ts_gro_head(const struct ts_gro *gro, unsigned group, const uint8_t *const pkts[],
		   struct virtio_net_hdr *vh, uint8_t hdr[TS_GRO_HDR_MAX])
{
	const struct ts_gro_group *g = &gro->group[group];
	unsigned h = g->first;
	size_t l4 = gro->l4_off[h], hl = gro->hdr_len[h], total = hl + g->payload;
	size_t seg = 0;
	bool v4 = l4 == 20, udp = l4_proto(pkts[h]) == IPPROTO_UDP;

	/* The head's payload is the segment size (it is the group's largest). */
	seg = ts_be16_get(v4 ? pkts[h] + 2 : pkts[h] + 4) + (v4 ? 0 : 40) - hl;
	memcpy(hdr, pkts[h], hl);
	if (v4) {
		ts_be16_put(hdr + 2, (uint16_t)total);
		ip4_set_csum(hdr, 20);
	} else {
		ts_be16_put(hdr + 4, (uint16_t)(total - 40));
	}
	memset(vh, 0, sizeof(*vh));
	if (udp) {
		ts_be16_put(hdr + l4 + 4, (uint16_t)(total - l4));
		vh->gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
		vh->csum_offset = 6;
	} else {
		/* PSH as the last segment has it. */
		hdr[l4 + 13] =
		    (uint8_t)((hdr[l4 + 13] & ~TCP_PSH) | (pkts[g->last][l4 + 13] & TCP_PSH));
		vh->gso_type = v4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
		vh->csum_offset = 16;
	}
	/* The pseudo-header's sum: the kernel adds the rest (NEEDS_CSUM). */
	ts_be16_put(hdr + l4 + vh->csum_offset,
		    ts_csum_fold(pseudo_sum(hdr, udp ? IPPROTO_UDP : IPPROTO_TCP, total - l4)));
	vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh->hdr_len = (uint16_t)hl;
	vh->gso_size = (uint16_t)seg;
	vh->csum_start = (uint16_t)l4;
	return hl;
}
