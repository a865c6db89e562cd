/* SPDX-License-Identifier: MIT */
/*
 * The SDK's packet helpers (include/tinescale/packet.h): RFC 1071 and RFC
 * 1624 vectors, a known IPv4 header, parsing IPv4 with options and IPv6
 * with extension headers, every truncation of a packet, and incremental
 * updates checked against the receiver's verification on random packets
 * and random rewrites.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <tinescale/packet.h>

#include "testutil.h"

/* What a receiver checks: the sum over pseudo-header and segment folds to 0. */
static bool l4_verifies(const uint8_t *d, const struct ts_pkt_view *v)
{
	uint32_t sum = ts_pkt_pseudo_sum(d, v);

	sum = ts_csum_add(sum, d + v->l4_off, v->ip_len - v->l4_off);
	return ts_csum_fold(sum) == 0;
}

static bool ip_verifies(const uint8_t *d, const struct ts_pkt_view *v)
{
	return v->family != AF_INET || ts_csum_fold(ts_csum_add(0, d, v->l3_len)) == 0;
}

static void test_vectors(void)
{
	/* RFC 1071 section 3's example: the sum of 0001 f203 f4f5 f6f7 is ddf2. */
	static const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	/* A textbook IPv4 header (checksum b861). */
	uint8_t ip[20];
	struct ts_pkt_view v;

	CHECK(ts_csum_fold(ts_csum_add(0, b, sizeof(b))) == (uint16_t)~0xddf2);
	/*
	 * RFC 1624 section 4: m 5555 -> 3285 with HC dd2f.  Recomputation
	 * gives 0000; eqn. 2 would give ffff, eqn. 3 gives 0000.
	 */
	CHECK(ts_csum_update16(0xdd2f, 0x5555, 0x3285) == 0x0000);
	/* And back again. */
	CHECK(ts_csum_update16(0x0000, 0x3285, 0x5555) == 0xdd2f);
	/* RFC 1624 section 3: a change that leaves the word alone leaves the checksum alone. */
	CHECK(ts_csum_update16(0x1234, 0xabcd, 0xabcd) == 0x1234);

	unhex_exact(ip, sizeof(ip), "450000730000400040110000c0a80001c0a800c7");
	/* ip_len 0x73 is longer than the header alone: parse a header-only copy. */
	ip[2] = 0;
	ip[3] = 20;
	ip[9] = 253; /* a protocol without an L4 view */
	CHECK(ts_pkt_parse(ip, sizeof(ip), &v) == 0 && v.l4_len == 0 && v.payload_len == 0);
	ip[3] = 0x73;
	ip[9] = 0x11;
	v.family = AF_INET;
	v.l3_len = 20;
	CHECK(ts_pkt_fix_ip_csum(ip, &v) == 0 && ip[10] == 0xb8 && ip[11] == 0x61);
}

/* An IPv4 TCP SYN with 4 bytes of IP options and an MSS option after two NOPs. */
static size_t syn4(uint8_t *p)
{
	static const char hex[] = "46000034abcd4000400600000a0000010a000002" /* IHL 6 */
				  "94040000" /* IP options: router alert */
				  "c0de0050000000010000000070022000000000000101020405b40000";
	size_t n = unhex(p, 128, hex);
	struct ts_pkt_view v;

	ts_pkt_parse(p, n, &v);
	ts_pkt_fix_ip_csum(p, &v);
	ts_pkt_fix_l4_csum(p, &v);
	return n;
}

static void test_parse(void)
{
	uint8_t p[256];
	struct ts_pkt_view v;
	size_t n = syn4(p);
	long mss;
	uint8_t new_mss[2] = {0x05, 0x00};

	CHECK(ts_pkt_parse(p, n, &v) == 0);
	CHECK(v.family == AF_INET && v.proto == IPPROTO_TCP && v.l3_len == 24 && v.l4_off == 24);
	CHECK(v.l4_len == 28 && v.payload_off == 52 && v.payload_len == 0);
	CHECK(v.sport == 0xc0de && v.dport == 80 && v.tcp_flags == TS_TCP_SYN);
	CHECK(ip_verifies(p, &v) && l4_verifies(p, &v));
	mss = ts_pkt_tcp_option(p, &v, 2);
	CHECK(mss == 24 + 20 + 2 && p[mss + 1] == 4 && ts_get16(p + mss + 2) == 1460);
	/* The MSS value sits at an even offset here; clamp it, the checksum follows. */
	CHECK(ts_pkt_write(p, &v, (size_t)mss + 2, new_mss, 2) == 0);
	CHECK(ts_get16(p + mss + 2) == 1280 && l4_verifies(p, &v));
	/* A write over a checksum field, across regions or past the end is refused. */
	CHECK(ts_pkt_write(p, &v, 10, new_mss, 2) == -EINVAL);
	CHECK(ts_pkt_write(p, &v, 24 + 16, new_mss, 2) == -EINVAL);
	CHECK(ts_pkt_write(p, &v, 23, new_mss, 2) == -EINVAL);
	CHECK(ts_pkt_write(p, &v, n - 1, new_mss, 2) == -EINVAL);
	/* The destination address: both the IP and the TCP checksum follow. */
	CHECK(ts_pkt_write(p, &v, 16, "\x0a\x09\x08\x07", 4) == 0);
	CHECK(ip_verifies(p, &v) && l4_verifies(p, &v));
	/* An odd-offset byte (TTL) and an odd-offset payload byte would need the swap rule. */
	CHECK(ts_pkt_write(p, &v, 8, "\x3f", 1) == 0 && ip_verifies(p, &v));
	CHECK(ts_pkt_write(p, &v, 24 + 13, "\x12", 1) == 0 && l4_verifies(p, &v));

	/* Every truncation fails cleanly: ip_len is 52. */
	for (size_t k = 0; k < n; k++)
		CHECK_MSG(ts_pkt_parse(p, k, &v) == -EINVAL && v.family == 0, "prefix %zu", k);
	/* A TCP data offset pointing past the packet. */
	p[24 + 12] = 0xf0;
	CHECK(ts_pkt_parse(p, n, &v) == -EINVAL);
	/* A later IPv4 fragment carries no L4 header: no ports, no error. */
	p[24 + 12] = 0x70;
	p[6] = 0x00;
	p[7] = 0x10;
	CHECK(ts_pkt_parse(p, n, &v) == 0 && v.fragment && v.later_frag && v.l4_len == 0 &&
	      v.sport == 0 && ts_pkt_fix_l4_csum(p, &v) == -EINVAL);

	/* IPv6: hop-by-hop (8), destination options (16), fragment (first), then UDP. */
	n = unhex(p, sizeof(p),
		  "6000000000340040"			       /* payload 52, next: hop-by-hop */
		  "20010db8000000000000000000000001"	       /* source */
		  "20010db8000000000000000000000002"	       /* destination */
		  "3c00010400000000"			       /* hop-by-hop (8) -> dest options */
		  "2c01010c000000000000000000000000"	       /* dest options (16) -> fragment */
		  "1100000112345678"			       /* fragment: offset 0, M -> UDP */
		  "d431003500140000000102030405060708090a0b"); /* UDP, 12 bytes of data */
	CHECK(ts_pkt_parse(p, n, &v) == 0);
	CHECK(v.family == AF_INET6 && v.proto == IPPROTO_UDP && v.l3_len == 40 + 8 + 16 + 8);
	CHECK(v.fragment && !v.later_frag && v.l4_len == 8 && v.sport == 0xd431 && v.dport == 53);
	CHECK(v.payload_len == 12);
	/* No checksum work on fragments: their checksum covers bytes we do not have. */
	CHECK(ts_pkt_l4_csum_off(&v) == 0);
	/* Unfragmented: replace the fragment header by a destination option of 8. */
	p[40 + 8] = 60;
	p[40 + 8 + 16] = 17;
	p[40 + 8 + 16 + 1] = 0;
	memset(p + 40 + 8 + 16 + 2, 0, 6);
	CHECK(ts_pkt_parse(p, n, &v) == 0 && !v.fragment && v.proto == IPPROTO_UDP);
	CHECK(ts_pkt_fix_l4_csum(p, &v) == 0 && l4_verifies(p, &v));
	CHECK(ts_pkt_write(p, &v, 8 + 15, "\x99", 1) == 0 && l4_verifies(p, &v));
	for (size_t k = 0; k < n; k++)
		CHECK_MSG(ts_pkt_parse(p, k, &v) == -EINVAL, "v6 prefix %zu", k);
	/* An extension header longer than the packet. */
	p[40 + 1] = 200;
	CHECK(ts_pkt_parse(p, n, &v) == -EINVAL);
	/* Not IP at all. */
	p[0] = 0x50;
	CHECK(ts_pkt_parse(p, n, &v) == -EINVAL);

	/*
	 * An ICMP message rewritten to all zeros (found by fuzz_packet): eqn. 3
	 * gives 0000, which no receiver accepts there; ffff it must be.
	 */
	memset(p, 0, 28);
	unhex(p, 20, "4500001c00004000400100000102030405060708");
	p[20 + 5] = 1;
	CHECK(ts_pkt_parse(p, 28, &v) == 0 && ts_pkt_fix_l4_csum(p, &v) == 0);
	CHECK(ts_pkt_write(p, &v, 24, "\0\0", 2) == 0 && ts_get16(p + 22) == 0xffff);
	CHECK(l4_verifies(p, &v));
}

/* Random TCP/UDP packets, random rewrites: the incremental result always verifies. */
static void test_random(void)
{
	uint8_t p[1600];
	unsigned int seed = 12;

	for (int round = 0; round < 20000; round++) {
		bool v6 = rand_r(&seed) & 1;
		uint8_t proto = (rand_r(&seed) & 1) ? IPPROTO_TCP : IPPROTO_UDP;
		size_t hl = v6 ? 40 : 20, l4h = proto == IPPROTO_TCP ? 20 : 8;
		size_t pay = (size_t)rand_r(&seed) % 200, n = hl + l4h + pay, off, len;
		uint8_t src[16];
		struct ts_pkt_view v;

		for (size_t i = 0; i < n; i++)
			p[i] = (uint8_t)rand_r(&seed);
		if (v6) {
			p[0] = 0x60;
			p[4] = (uint8_t)((n - 40) >> 8);
			p[5] = (uint8_t)(n - 40);
			p[6] = proto;
		} else {
			p[0] = 0x45;
			p[2] = (uint8_t)(n >> 8);
			p[3] = (uint8_t)n;
			p[6] = p[7] = 0; /* not a fragment */
			p[9] = proto;
		}
		if (proto == IPPROTO_TCP)
			p[hl + 12] = 0x50;
		else
			p[hl + 4] = (uint8_t)((n - hl) >> 8), p[hl + 5] = (uint8_t)(n - hl);
		if (ts_pkt_parse(p, n, &v)) {
			CHECK_MSG(0, "round %d: a well-formed packet did not parse", round);
			continue;
		}
		ts_pkt_fix_ip_csum(p, &v);
		ts_pkt_fix_l4_csum(p, &v);
		if (proto == IPPROTO_UDP && !v6 && ts_get16(p + hl + 6) == 0)
			continue;
		/* A rewrite inside the L4 segment, avoiding its checksum, or of an address. */
		len = 1 + (size_t)rand_r(&seed) % 16;
		if (rand_r(&seed) % 4 == 0) {
			off = v6 ? 8 + 16 * (size_t)(rand_r(&seed) & 1)
				 : 12 + 4 * (size_t)(rand_r(&seed) & 1);
			len = v6 ? 16 : 4;
		} else {
			off = v.l4_off + (size_t)rand_r(&seed) % (n - v.l4_off);
			if (len > n - off)
				len = n - off;
			size_t c = ts_pkt_l4_csum_off(&v);
			if (off < c + 2 && off + len > c)
				continue;
		}
		for (size_t i = 0; i < len; i++)
			src[i] = (uint8_t)rand_r(&seed);
		CHECK_MSG(ts_pkt_write(p, &v, off, src, len) == 0, "round %d: write %zu+%zu", round,
			  off, len);
		CHECK_MSG(!memcmp(p + off, src, len), "round %d: bytes not written", round);
		CHECK_MSG(ip_verifies(p, &v) && l4_verifies(p, &v),
			  "round %d: %s %s off %zu len %zu", round, v6 ? "v6" : "v4",
			  proto == IPPROTO_TCP ? "tcp" : "udp", off, len);
	}
}

int main(void)
{
	test_vectors();
	test_parse();
	test_random();
	if (failures)
		fprintf(stderr, "test_packet: %d check(s) FAILED\n", failures);
	return failures ? 1 : 0;
}
