// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for core/engine/offload.c.  The input is what a TUN with
 * IFF_VNET_HDR hands over: a struct virtio_net_hdr, then the packet.
 *   - Whatever it is, parsing, segmenting and coalescing never crash, and a
 *     header the packet contradicts is refused.
 *   - A TCP super-packet that parses (its checksums first set as the kernel
 *     would: IPv4 header valid, TCP field the pseudo-header's sum) is cut
 *     into segments whose checksums verify and whose payloads add up to the
 *     original; if only ACK (and PSH) are set, the segments coalesce back
 *     into exactly the original bytes and header.
 * Seeds in tests/fuzz/corpus/fuzz_offload were written by
 * tests/fuzz/offload_seeds.py.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t pkt[70000], segs[TS_GRO_MAX][65536], flat[70000];
static struct ts_gro gro;

/* The Internet checksum, written the plain way (independent of offload.c's). */
static uint16_t sum16(const uint8_t *p, size_t len, uint32_t s)
{
	for (size_t i = 0; i < len; i++)
		s += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint32_t pseudo(const uint8_t *ip, size_t l4_len, uint8_t proto)
{
	uint8_t ph[40] = {0};

	if ((ip[0] >> 4) == 4) {
		memcpy(ph, ip + 12, 8);
		ph[9] = proto;
		ph[10] = (uint8_t)(l4_len >> 8);
		ph[11] = (uint8_t)l4_len;
		return sum16(ph, 12, 0);
	}
	memcpy(ph, ip + 8, 32);
	ph[33] = (uint8_t)(l4_len >> 16);
	ph[34] = (uint8_t)(l4_len >> 8);
	ph[35] = (uint8_t)l4_len;
	ph[39] = proto;
	return sum16(ph, 40, 0);
}

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_offload: %s\n", what);
		abort();
	}
}

/* Plan over arbitrary packets: anything goes, nothing crashes. */
static void plan_any(const uint8_t *const pkts[], const size_t lens[], unsigned n)
{
	struct virtio_net_hdr vh;
	uint8_t hdr[TS_GRO_HDR_MAX];

	gro.udp = n & 1; /* both ways, by the packet count's parity */
	ts_gro_plan(&gro, pkts, lens, n);
	for (unsigned k = 0; k < gro.n_groups; k++) {
		size_t total = 0, pl;

		if (gro.group[k].count < 2)
			continue;
		total = ts_gro_head(&gro, k, pkts, &vh, hdr);
		for (int i = gro.group[k].first; i >= 0; i = gro.next[i]) {
			ts_gro_payload(&gro, pkts, lens, (unsigned)i, &pl);
			total += pl;
		}
		check(total <= 65535, "a coalesced packet over 64 KiB");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtio_net_hdr vh;
	struct ts_gso g;
	const uint8_t *pkts[TS_GRO_MAX + 1];
	size_t lens[TS_GRO_MAX + 1], len, off;
	bool tcp, udp;

	if (size < sizeof(vh) || size - sizeof(vh) > sizeof(pkt))
		return 0;
	memcpy(&vh, data, sizeof(vh));
	len = size - sizeof(vh);
	memcpy(pkt, data + sizeof(vh), len);
	pkts[0] = pkt;
	lens[0] = len;
	plan_any(pkts, lens, 1);

	if (ts_gso_parse(&g, &vh, pkt, len) < 0)
		return 0;
	/* Accepted: the header must agree with the packet. */
	if (vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		check(vh.gso_size > 0 && g.hdr_len < len && g.nseg >= 1, "bad GSO header accepted");
		check((size_t)vh.csum_start == g.l4_off, "csum_start disagrees");
	}
	tcp = g.kind == TS_GSO_TCP4 || g.kind == TS_GSO_TCP6;
	udp = g.kind == TS_GSO_UDP4 || g.kind == TS_GSO_UDP6;
	if (tcp || udp) {
		/* Checksums (and UDP's length) as the kernel leaves them; then parse again. */
		uint8_t *th = pkt + g.l4_off;
		uint16_t ps;

		if (udp) {
			th[4] = (uint8_t)((len - g.l4_off) >> 8);
			th[5] = (uint8_t)(len - g.l4_off);
		}
		if (g.kind == TS_GSO_TCP4 || g.kind == TS_GSO_UDP4) {
			pkt[10] = pkt[11] = 0;
			ps = (uint16_t)~sum16(pkt, g.l4_off, 0);
			pkt[10] = (uint8_t)(ps >> 8);
			pkt[11] = (uint8_t)ps;
		}
		ps = (uint16_t)pseudo(pkt, len - g.l4_off, tcp ? IPPROTO_TCP : IPPROTO_UDP);
		th[tcp ? 16 : 6] = (uint8_t)(ps >> 8);
		th[tcp ? 17 : 7] = (uint8_t)ps;
		check(ts_gso_parse(&g, &vh, pkt, len) == 0, "fixing checksums changed the verdict");
	}
	if (g.nseg > TS_GRO_MAX)
		return 0;
	off = g.hdr_len;
	for (unsigned i = 0; i < g.nseg; i++) {
		ssize_t r = ts_gso_segment(&g, i, segs[i], sizeof(segs[i]));

		check(r > 0, "an accepted packet does not segment");
		pkts[i] = segs[i];
		lens[i] = (size_t)r;
		if (g.kind == TS_GSO_NONE)
			continue;
		check((size_t)r <= g.hdr_len + g.gso_size, "a segment over gso_size");
		check(!memcmp(segs[i] + g.hdr_len, pkt + off, (size_t)r - g.hdr_len),
		      "a segment's payload differs");
		off += (size_t)r - g.hdr_len;
		if (g.kind == TS_GSO_TCP4 || g.kind == TS_GSO_UDP4)
			check(sum16(segs[i], g.l4_off, 0) == 0xffff, "bad IPv4 header checksum");
		check(sum16(segs[i] + g.l4_off, (size_t)r - g.l4_off,
			    pseudo(segs[i], (size_t)r - g.l4_off,
				   tcp ? IPPROTO_TCP : IPPROTO_UDP)) == 0xffff,
		      "bad L4 checksum");
	}
	if (g.kind != TS_GSO_NONE)
		check(off == len, "segments do not add up to the packet");
	plan_any(pkts, lens, g.nseg);

	/* The round trip, where the coalescer must take every segment back. */
	if (((tcp && (pkt[g.l4_off + 13] & ~0x08) == 0x10 && !pkt[g.l4_off + 18] &&
	      !pkt[g.l4_off + 19]) ||
	     udp) &&
	    g.nseg >= 2 && len <= 65535 && g.hdr_len <= TS_GRO_HDR_MAX &&
	    (g.kind == TS_GSO_TCP6 || g.kind == TS_GSO_UDP6 || pkt[0] == 0x45)) {
		struct virtio_net_hdr vh2;
		uint8_t hdr[TS_GRO_HDR_MAX];
		size_t pl;

		gro.udp = true;
		ts_gro_plan(&gro, pkts, lens, g.nseg);
		check(gro.n_groups == 1 && gro.group[0].count == g.nseg,
		      "segments not re-coalesced");
		off = ts_gro_head(&gro, 0, pkts, &vh2, hdr);
		memcpy(flat, hdr, off);
		for (int i = gro.group[0].first; i >= 0; i = gro.next[i]) {
			const uint8_t *p = ts_gro_payload(&gro, pkts, lens, (unsigned)i, &pl);

			memcpy(flat + off, p, pl);
			off += pl;
		}
		check(off == len && !memcmp(flat, pkt, len), "round trip differs");
		check(vh2.gso_type == (vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) &&
			  vh2.gso_size == vh.gso_size && vh2.csum_start == vh.csum_start &&
			  vh2.csum_offset == vh.csum_offset,
		      "round trip header differs");
	}
	return 0;
}
