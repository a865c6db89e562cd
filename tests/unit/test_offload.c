/* SPDX-License-Identifier: MIT */
/*
 * Tests of core/engine/offload.c: TSO/USO super-packets (IPv4 and IPv6,
 * TCP with and without options) cut into segments whose lengths, IDs,
 * sequence numbers, flags and checksums are checked here independently;
 * the segments coalesced back equal the original bytes and virtio_net_hdr
 * (TCP, and UDP when the TUN has USO); what must not be coalesced is not;
 * malformed headers are refused.
 */
#include "offload.h"

#include <errno.h>
#include <netinet/in.h>

#include "testutil.h"

/* A checksum written the obvious way, to check offload.c's by. */
static uint16_t ref_sum(const uint8_t *p, size_t len, uint32_t s)
{
	for (size_t i = 0; i < len; i++)
		s += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void p16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The pseudo-header's sum of an IP packet for its L4 part. */
static uint32_t ref_pseudo(const uint8_t *ip, size_t l4_off, size_t len, uint8_t proto)
{
	uint8_t ph[40] = {0};
	size_t n;

	if ((ip[0] >> 4) == 4) {
		memcpy(ph, ip + 12, 8);
		ph[9] = proto;
		p16(ph + 10, (unsigned)(len - l4_off));
		n = 12;
	} else {
		memcpy(ph, ip + 8, 32);
		p16(ph + 34, (unsigned)(len - l4_off));
		ph[39] = proto;
		n = 40;
	}
	return ref_sum(ph, n, 0);
}

/* The L4 checksum of a whole packet verifies (and its IPv4 header's). */
static bool ref_valid(const uint8_t *ip, size_t len, size_t l4_off, uint8_t proto)
{
	if ((ip[0] >> 4) == 4 && ref_sum(ip, l4_off, 0) != 0xffff)
		return false;
	return ref_sum(ip + l4_off, len - l4_off, ref_pseudo(ip, l4_off, len, proto)) == 0xffff;
}

static uint64_t rng = 0x6f66666c6f6164ULL;

static uint8_t rnd8(void)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint8_t)(rng >> 56);
}

/*
 * The IP header of a len-byte super-packet (zeroed before): IPv6 with a
 * traffic class and flow label, or IPv4 with DF, ID id (IDs wrap during a
 * burst when it is near 0xffff) and a valid header checksum.
 */
static void make_ip(uint8_t *p, bool v6, uint8_t proto, size_t len, unsigned id)
{
	if (v6) {
		p[0] = 0x60;
		p[1] = 0x0a; /* traffic class, flow label */
		p[3] = 0x42;
		p16(p + 4, (unsigned)(len - 40));
		p[6] = proto;
		p[7] = 64;
		for (int i = 0; i < 32; i++)
			p[8 + i] = (uint8_t)(0xfd + i);
	} else {
		p[0] = 0x45;
		p16(p + 2, (unsigned)len);
		p16(p + 4, id);
		p16(p + 6, 0x4000);
		p[8] = 64;
		p[9] = proto;
		memcpy(p + 12, (uint8_t[]){10, 0, 0, 1, 10, 0, 0, 2}, 8);
		p16(p + 10, (unsigned)~ref_sum(p, 20, 0) & 0xffff);
	}
}

/*
 * A TSO super-packet as the kernel hands it over: valid IPv4 header
 * checksum, the TCP checksum field holding the pseudo-header's sum.
 * Returns its length.
 */
static size_t make_tcp(uint8_t *p, struct virtio_net_hdr *vh, bool v6, size_t opt_len,
		       size_t payload, unsigned gso, uint8_t flags)
{
	size_t l4 = v6 ? 40 : 20, hl = l4 + 20 + opt_len, len = hl + payload;

	memset(p, 0, hl);
	make_ip(p, v6, IPPROTO_TCP, len, 0xfff0);
	p16(p + l4, 40000);
	p16(p + l4 + 2, 5201);
	memcpy(p + l4 + 4, (uint8_t[]){0xff, 0xff, 0xf0, 0x00}, 4); /* seq wraps too */
	memcpy(p + l4 + 8, (uint8_t[]){0, 1, 2, 3}, 4);
	p[l4 + 12] = (uint8_t)(((20 + opt_len) / 4) << 4);
	p[l4 + 13] = flags;
	p16(p + l4 + 14, 501);
	for (size_t i = 0; i < opt_len; i++) /* NOP NOP timestamps, or NOPs */
		p[l4 + 20 + i] = i < 2 ? 1 : (i == 2 ? 8 : (i == 3 ? 10 : (uint8_t)(i * 7)));
	for (size_t i = hl; i < len; i++)
		p[i] = rnd8();
	p16(p + l4 + 16, ref_pseudo(p, l4, len, IPPROTO_TCP));
	memset(vh, 0, sizeof(*vh));
	vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh->gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	vh->hdr_len = (uint16_t)hl;
	vh->gso_size = (uint16_t)gso;
	vh->csum_start = (uint16_t)l4;
	vh->csum_offset = 16;
	return len;
}

static uint8_t super[70000], segbuf[128][2048], flat[70000];

/*
 * Group 0 of a plan written out as the TUN would get it, into flat: its
 * head's headers (checked to be hl bytes long) and every payload.  The length.
 */
static size_t flatten(const struct ts_gro *gro, const uint8_t *const pkts[], const size_t lens[],
		      struct virtio_net_hdr *vh, size_t hl)
{
	uint8_t hdr[TS_GRO_HDR_MAX];
	size_t off = ts_gro_head(gro, 0, pkts, vh, hdr);

	CHECK(off == hl);
	memcpy(flat, hdr, off);
	for (int i = gro->group[0].first; i >= 0; i = gro->next[i]) {
		size_t pl;
		const uint8_t *d = ts_gro_payload(gro, pkts, lens, (unsigned)i, &pl);

		memcpy(flat + off, d, pl);
		off += pl;
	}
	return off;
}

/* Cut, check each segment, coalesce, check the round trip. */
static void round_trip(bool v6, size_t opt_len, size_t payload, unsigned gso, uint8_t flags)
{
	struct virtio_net_hdr vh, vh2;
	struct ts_gso g;
	static struct ts_gro gro;
	const uint8_t *pkts[128];
	size_t lens[128], l4 = v6 ? 40 : 20, hl = l4 + 20 + opt_len, off;
	size_t len = make_tcp(super, &vh, v6, opt_len, payload, gso, flags);
	unsigned nseg = (unsigned)((payload + gso - 1) / gso);

	CHECK(ts_gso_parse(&g, &vh, super, len) == 0);
	CHECK_MSG(g.nseg == nseg, "nseg %u, want %u", g.nseg, nseg);
	if (g.nseg != nseg || nseg > 128)
		return;
	off = hl;
	for (unsigned i = 0; i < nseg; i++) {
		ssize_t r = ts_gso_segment(&g, i, segbuf[i], sizeof(segbuf[i]));
		size_t want = hl + (payload - (off - hl) < gso ? payload - (off - hl) : gso);
		uint8_t *t = segbuf[i] + l4;

		CHECK_MSG(r == (ssize_t)want, "segment %u: %zd bytes, want %zu", i, r, want);
		if (r != (ssize_t)want)
			return;
		pkts[i] = segbuf[i];
		lens[i] = (size_t)r;
		CHECK(ref_valid(segbuf[i], want, l4, IPPROTO_TCP));
		if (v6) {
			CHECK(g16(segbuf[i] + 4) == want - 40);
		} else {
			CHECK(g16(segbuf[i] + 2) == want);
			CHECK(g16(segbuf[i] + 4) == ((0xfff0 + i) & 0xffff));
		}
		CHECK(g32(t + 4) == (uint32_t)(0xfffff000u + (off - hl)));
		CHECK(!memcmp(segbuf[i] + hl, super + off, want - hl));
		CHECK(!memcmp(t + 20, super + l4 + 20, opt_len));
		if (i + 1 < nseg)
			CHECK(t[13] == (flags & ~0x09 & (i ? ~0x80 : 0xff)));
		else
			CHECK(t[13] == (flags & (nseg > 1 ? ~0x80 : 0xff)));
		off += want - hl;
	}
	CHECK(ts_gso_segment(&g, nseg, segbuf[0], sizeof(segbuf[0])) < 0);
	if (flags & 0x81) /* FIN and CWR segments do not coalesce back whole */
		return;
	ts_gro_plan(&gro, pkts, lens, nseg);
	CHECK_MSG(gro.n_groups == 1, "%u groups", gro.n_groups);
	if (gro.n_groups != 1)
		return;
	if (nseg == 1) {
		/* A lone segment is written as it is, with its full checksum. */
		CHECK(ref_valid(segbuf[0], lens[0], l4, IPPROTO_TCP));
		return;
	}
	off = flatten(&gro, pkts, lens, &vh2, hl);
	CHECK_MSG(off == len && !memcmp(flat, super, len), "v6 %d opt %zu payload %zu gso %u", v6,
		  opt_len, payload, gso);
	CHECK(vh2.gso_type == vh.gso_type && vh2.gso_size == vh.gso_size &&
	      vh2.csum_start == vh.csum_start && vh2.csum_offset == 16 && vh2.hdr_len == hl &&
	      vh2.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM);
}

static void test_round_trips(void)
{
	static const unsigned gsos[] = {1, 7, 536, 1228, 1368, 8868};
	static const size_t pays[] = {1, 100, 1368, 1369, 20000, 65000};

	for (int v6 = 0; v6 < 2; v6++)
		for (size_t opt = 0; opt <= 12; opt += 12)
			for (size_t a = 0; a < 6; a++)
				for (size_t b = 0; b < 6; b++) {
					size_t room = 65535 - (v6 ? 40 : 20) - 20 - opt;

					if ((pays[b] + gsos[a] - 1) / gsos[a] > 128 ||
					    gsos[a] + 100 > sizeof(segbuf[0]))
						continue;
					round_trip(v6, opt, pays[b] < room ? pays[b] : room,
						   gsos[a], 0x18);
				}
	/* FIN and PSH on the last segment only, CWR on the first only. */
	round_trip(false, 12, 5000, 1000, 0x19);
	round_trip(true, 0, 5000, 1000, 0x98);
}

/* Two flows interleaved, a pure ACK of the reverse flow, a gap, a bad checksum. */
static void test_plan(void)
{
	static struct ts_gro gro;
	static uint8_t a[8][2048], b[4][2048];
	struct virtio_net_hdr vh;
	struct ts_gso ga, gb;
	const uint8_t *pkts[16];
	size_t lens[16], la, lb;
	uint8_t ack[60];
	unsigned n = 0;

	la = make_tcp(super, &vh, false, 12, 8 * 1000, 1000, 0x10);
	CHECK(ts_gso_parse(&ga, &vh, super, la) == 0);
	static uint8_t super2[70000];
	lb = make_tcp(super2, &vh, true, 0, 4 * 1000, 1000, 0x10);
	CHECK(ts_gso_parse(&gb, &vh, super2, lb) == 0);
	for (unsigned i = 0; i < 8; i++)
		CHECK(ts_gso_segment(&ga, i, a[i], sizeof(a[i])) == 1052);
	for (unsigned i = 0; i < 4; i++)
		CHECK(ts_gso_segment(&gb, i, b[i], sizeof(b[i])) == 1060);
	/* A pure ACK of the reverse direction of flow a: ports swapped. */
	memcpy(ack, a[0], 52);
	p16(ack + 2, 52);
	memcpy(ack + 20, a[0] + 22, 2);
	memcpy(ack + 22, a[0] + 20, 2);

	/* a0 b0 a1 ACK b1 a2 a3 | a5 (gap) a6 | b2 with a bad checksum, b3 */
	const uint8_t *order[] = {a[0], b[0], a[1], ack, b[1], a[2], a[3], a[5], a[6], b[2], b[3]};
	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		pkts[n] = order[i];
		lens[n++] = order[i] == ack ? 52 : ((order[i][0] >> 4) == 4 ? 1052 : 1060);
	}
	b[2][100] ^= 1;
	ts_gro_plan(&gro, pkts, lens, n);
	CHECK_MSG(gro.n_groups == 6, "%u groups", gro.n_groups);
	if (gro.n_groups != 6)
		return;
	CHECK(gro.group[0].first == 0 && gro.group[0].count == 4 && gro.group[0].last == 6);
	CHECK(gro.group[1].first == 1 && gro.group[1].count == 2);
	CHECK(gro.group[2].first == 3 && gro.group[2].count == 1); /* the ACK */
	CHECK(gro.group[3].first == 7 && gro.group[3].count == 2); /* after the gap */
	CHECK(gro.group[4].first == 9 && gro.group[4].count == 1); /* bad checksum */
	CHECK(gro.group[5].first == 10 && gro.group[5].count == 1);
	b[2][100] ^= 1;

	/* A FIN in the middle ends its flow's group: nothing moves across it. */
	uint8_t fin[1052];
	memcpy(fin, a[2], 1052);
	fin[33] |= 0x01;
	const uint8_t *order2[] = {a[0], a[1], fin, a[3], a[4]};
	for (unsigned i = 0; i < 5; i++) {
		pkts[i] = order2[i];
		lens[i] = 1052;
	}
	ts_gro_plan(&gro, pkts, lens, 5);
	CHECK_MSG(gro.n_groups == 3, "%u groups", gro.n_groups);
	/* Not IP at all, and a short packet: alone, no crash. */
	pkts[0] = (const uint8_t *)"\x00\x01";
	lens[0] = 2;
	ts_gro_plan(&gro, pkts, lens, 1);
	CHECK(gro.n_groups == 1 && gro.group[0].count == 1);
}

/* A group stops short of 64 KiB: the rest of a long run starts another. */
static void test_limit(void)
{
	static struct ts_gro gro;
	static uint8_t segs[70][1100], super2[12000];
	struct virtio_net_hdr vh, vh2;
	struct ts_gso g, g2;
	const uint8_t *pkts[70];
	size_t lens[70], len = make_tcp(super, &vh, false, 0, 60000, 1000, 0x10);
	size_t len2 = make_tcp(super2, &vh2, false, 0, 10000, 1000, 0x10);
	uint8_t *t = super2 + 20;

	/* The second burst continues the first: sequence numbers, IDs, checksums. */
	memcpy(t + 4, super + 24, 4);
	p16(t + 6, g16(t + 6) + 60000);
	if (g16(t + 6) < 60000)
		p16(t + 4, g16(t + 4) + 1);
	p16(super2 + 4, (0xfff0 + 60) & 0xffff);
	p16(super2 + 10, 0);
	p16(super2 + 10, (unsigned)~ref_sum(super2, 20, 0) & 0xffff);
	CHECK(ts_gso_parse(&g, &vh, super, len) == 0 && g.nseg == 60);
	CHECK(ts_gso_parse(&g2, &vh2, super2, len2) == 0 && g2.nseg == 10);
	for (unsigned i = 0; i < 70; i++) {
		ssize_t r = i < 60 ? ts_gso_segment(&g, i, segs[i], sizeof(segs[i]))
				   : ts_gso_segment(&g2, i - 60, segs[i], sizeof(segs[i]));

		CHECK(r == 1040);
		pkts[i] = segs[i];
		lens[i] = 1040;
	}
	ts_gro_plan(&gro, pkts, lens, 70);
	CHECK_MSG(gro.n_groups == 2 && gro.group[0].count == 65 && gro.group[1].count == 5,
		  "%u groups, first of %u", gro.n_groups, gro.group[0].count);
}

/* USO, and a packet whose checksum the kernel left to us. */
static void test_udp_and_csum(void)
{
	uint8_t p[9000], seg[2048];
	struct virtio_net_hdr vh = {0};
	struct ts_gso g;
	size_t len = 20 + 8 + 3000;

	memset(p, 0, 28);
	p[0] = 0x45;
	p16(p + 2, (unsigned)len);
	p[8] = 64;
	p[9] = IPPROTO_UDP;
	memcpy(p + 12, (uint8_t[]){10, 0, 0, 1, 10, 0, 0, 2}, 8);
	p16(p + 10, (unsigned)~ref_sum(p, 20, 0) & 0xffff);
	p16(p + 20, 1000);
	p16(p + 22, 2000);
	p16(p + 24, (unsigned)(len - 20));
	for (size_t i = 28; i < len; i++)
		p[i] = rnd8();
	p16(p + 26, ref_pseudo(p, 20, len, IPPROTO_UDP));
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
	vh.gso_size = 1200;
	vh.csum_start = 20;
	vh.csum_offset = 6;
	CHECK(ts_gso_parse(&g, &vh, p, len) == 0);
	CHECK(g.nseg == 3);
	for (unsigned i = 0; i < g.nseg; i++) {
		ssize_t r = ts_gso_segment(&g, i, seg, sizeof(seg));

		CHECK(r == (i < 2 ? 1228 : 628));
		if (r <= 0)
			continue;
		CHECK(ref_valid(seg, (size_t)r, 20, IPPROTO_UDP));
		CHECK(g16(seg + 24) == r - 20);
		CHECK(!memcmp(seg + 28, p + 28 + i * 1200, (size_t)r - 28));
	}
	/* Not segmented, checksum to complete. */
	vh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	vh.gso_size = 0;
	CHECK(ts_gso_parse(&g, &vh, p, len) == 0 && g.nseg == 1);
	CHECK(ts_gso_segment(&g, 0, p + 0, 0) == -ENOSPC);
	{
		static uint8_t out[9000];

		CHECK(ts_gso_segment(&g, 0, out, sizeof(out)) == (ssize_t)len);
		CHECK(ref_valid(out, len, 20, IPPROTO_UDP));
	}
}

/* A USO super-packet as the kernel hands it over (IPv4 IDs wrap in the burst). */
static size_t make_udp(uint8_t *p, struct virtio_net_hdr *vh, bool v6, size_t payload, unsigned gso)
{
	size_t l4 = v6 ? 40 : 20, len = l4 + 8 + payload;

	memset(p, 0, l4 + 8);
	make_ip(p, v6, IPPROTO_UDP, len, 0xfffe);
	p16(p + l4, 1000);
	p16(p + l4 + 2, 2000);
	p16(p + l4 + 4, (unsigned)(len - l4));
	for (size_t i = l4 + 8; i < len; i++)
		p[i] = rnd8();
	p16(p + l4 + 6, ref_pseudo(p, l4, len, IPPROTO_UDP));
	memset(vh, 0, sizeof(*vh));
	vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh->gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
	vh->hdr_len = (uint16_t)(l4 + 8);
	vh->gso_size = (uint16_t)gso;
	vh->csum_start = (uint16_t)l4;
	vh->csum_offset = 6;
	return len;
}

/*
 * UDP coalescing (USO on the TUN): a super-packet's datagrams join back into
 * it, byte for byte, only when the plan may coalesce UDP; a shorter datagram
 * ends a group, a bad checksum is written alone and ends its flow's group,
 * and TCP with the same addresses and ports is another flow.
 */
static void test_udp_coalesce(void)
{
	static uint8_t other[2048];
	static struct ts_gro gro;
	struct virtio_net_hdr vh, vh2;
	const uint8_t *pkts[9];
	size_t lens[9];
	struct ts_gso g;

	for (int v6 = 0; v6 < 2; v6++) {
		size_t l4 = v6 ? 40 : 20, len = make_udp(super, &vh, v6, 5 * 1200 + 700, 1200), off;

		CHECK(ts_gso_parse(&g, &vh, super, len) == 0 && g.nseg == 6);
		for (unsigned i = 0; i < g.nseg; i++) {
			ssize_t r = ts_gso_segment(&g, i, segbuf[i], sizeof(segbuf[i]));

			CHECK(r > 0);
			pkts[i] = segbuf[i];
			lens[i] = r > 0 ? (size_t)r : 0;
		}
		gro.udp = false;
		ts_gro_plan(&gro, pkts, lens, g.nseg);
		CHECK_MSG(gro.n_groups == g.nseg, "v6 %d: UDP coalesced without USO", v6);
		gro.udp = true;
		ts_gro_plan(&gro, pkts, lens, g.nseg);
		CHECK_MSG(gro.n_groups == 1 && gro.group[0].count == g.nseg, "v6 %d: %u groups", v6,
			  gro.n_groups);
		if (gro.n_groups != 1)
			continue;
		off = flatten(&gro, pkts, lens, &vh2, l4 + 8);
		CHECK_MSG(off == len && !memcmp(flat, super, len), "v6 %d: round trip differs", v6);
		CHECK(vh2.gso_type == VIRTIO_NET_HDR_GSO_UDP_L4 && vh2.gso_size == 1200 &&
		      vh2.csum_start == l4 && vh2.csum_offset == 6 && vh2.hdr_len == l4 + 8 &&
		      vh2.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM);

		/*
		 * 0, the short last one, 1: a shorter datagram ends its group
		 * (IPv4: 5's ID does not follow 0's either, so three groups).
		 */
		pkts[0] = segbuf[0];
		pkts[1] = segbuf[5];
		pkts[2] = segbuf[1];
		lens[2] = lens[1];
		lens[1] = lens[5];
		ts_gro_plan(&gro, pkts, lens, 3);
		CHECK_MSG(v6 ? gro.n_groups == 2 && gro.group[0].count == 2 : gro.n_groups == 3,
			  "v6 %d: short datagram mid-group: %u groups", v6, gro.n_groups);
	}

	/* IPv4: 0, 1, a bad checksum, 3: the bad one alone, and 3 may not join 0-1. */
	{
		size_t len = make_udp(super, &vh, false, 4 * 1200, 1200);

		CHECK(ts_gso_parse(&g, &vh, super, len) == 0 && g.nseg == 4);
		for (unsigned i = 0; i < 4; i++) {
			ssize_t r = ts_gso_segment(&g, i, segbuf[i], sizeof(segbuf[i]));

			pkts[i] = segbuf[i];
			lens[i] = r > 0 ? (size_t)r : 0;
		}
		segbuf[2][100] ^= 1;
		gro.udp = true;
		ts_gro_plan(&gro, pkts, lens, 4);
		CHECK_MSG(gro.n_groups == 3 && gro.group[0].count == 2 && gro.group[1].count == 1 &&
			      gro.group[2].count == 1,
			  "bad checksum: %u groups", gro.n_groups);
		segbuf[2][100] ^= 1;
		/* A TCP packet with the UDP flow's addresses and ports between two datagrams. */
		memcpy(other, segbuf[1], lens[1]);
		other[9] = IPPROTO_TCP;
		pkts[1] = other;
		ts_gro_plan(&gro, pkts, lens, 3);
		CHECK_MSG(gro.n_groups == 3, "TCP joined a UDP flow: %u groups", gro.n_groups);
		/* IPv4 UDP without a checksum (0) is written alone. */
		p16(segbuf[0] + 26, 0);
		pkts[0] = segbuf[0];
		pkts[1] = segbuf[1];
		ts_gro_plan(&gro, pkts, lens, 2);
		CHECK_MSG(gro.n_groups == 2, "checksum 0 coalesced: %u groups", gro.n_groups);
	}
}

/* Every malformed header is refused. */
static void test_malformed(void)
{
	struct virtio_net_hdr vh, bad;
	struct ts_gso g;
	size_t len = make_tcp(super, &vh, false, 0, 3000, 1000, 0x10);
	static uint8_t v6[4000];
	struct virtio_net_hdr vh6;
	size_t len6 = make_tcp(v6, &vh6, true, 0, 3000, 1000, 0x10);

	CHECK(ts_gso_parse(&g, &vh, super, len) == 0);
#define REFUSE(field, value)                                                                       \
	do {                                                                                       \
		bad = vh;                                                                          \
		bad.field = value;                                                                 \
		CHECK_MSG(ts_gso_parse(&g, &bad, super, len) == -EINVAL, "%s = %d", #field,        \
			  (int)(value));                                                           \
	} while (0)
	REFUSE(gso_type, VIRTIO_NET_HDR_GSO_UDP); /* UFO */
	REFUSE(gso_type, 2);
	REFUSE(gso_type, 99);
	REFUSE(gso_type, VIRTIO_NET_HDR_GSO_TCPV6); /* an IPv4 packet */
	REFUSE(gso_type, VIRTIO_NET_HDR_GSO_UDP_L4);
	REFUSE(gso_size, 0);
	REFUSE(flags, 0);
	REFUSE(flags, 0x80);
	REFUSE(hdr_len, (uint16_t)(len + 1));
	REFUSE(csum_start, 0);
	REFUSE(csum_start, 0xffff);
	REFUSE(csum_offset, 6);
	REFUSE(csum_offset, 0xffff);
	REFUSE(gso_size, 65535);
	bad = vh6;
	bad.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	CHECK(ts_gso_parse(&g, &bad, v6, len6) == -EINVAL);
	/* Not segmented: the checksum field must lie inside the packet. */
	bad = (struct virtio_net_hdr){.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				      .csum_start = (uint16_t)(len - 1),
				      .csum_offset = 0};
	CHECK(ts_gso_parse(&g, &bad, super, len) == -EINVAL);
	bad.csum_start = (uint16_t)len;
	CHECK(ts_gso_parse(&g, &bad, super, len) == -EINVAL);
	bad.csum_start = 20;
	bad.csum_offset = (uint16_t)(len - 21);
	CHECK(ts_gso_parse(&g, &bad, super, len) == -EINVAL);
	bad.gso_type = VIRTIO_NET_HDR_GSO_ECN;
	bad.csum_offset = 16;
	CHECK(ts_gso_parse(&g, &bad, super, len) == -EINVAL);
	/* The packet disagrees with itself. */
	CHECK(ts_gso_parse(&g, &vh, super, len - 1) == -EINVAL); /* total length */
	CHECK(ts_gso_parse(&g, &vh, super, 10) == -EINVAL);
	CHECK(ts_gso_parse(&g, &vh, super, 0) == -EINVAL);
	super[9] = IPPROTO_UDP;
	CHECK(ts_gso_parse(&g, &vh, super, len) == -EINVAL);
	super[9] = IPPROTO_TCP;
	super[6] |= 0x20; /* more fragments */
	CHECK(ts_gso_parse(&g, &vh, super, len) == -EINVAL);
	super[6] &= (uint8_t)~0x20;
	super[32] = 0x40; /* TCP header of 16 bytes */
	CHECK(ts_gso_parse(&g, &vh, super, len) == -EINVAL);
	super[32] = 0xf0; /* 60 bytes: fine */
	CHECK(ts_gso_parse(&g, &vh, super, len) == 0);
	v6[6] = 0; /* an extension header */
	CHECK(ts_gso_parse(&g, &vh6, v6, len6) == -EINVAL);
}

int main(void)
{
	test_round_trips();
	test_plan();
	test_limit();
	test_udp_and_csum();
	test_udp_coalesce();
	test_malformed();
	if (!failures)
		printf("test_offload: ok\n");
	return failures ? 1 : 0;
}
