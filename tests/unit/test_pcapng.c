// SPDX-License-Identifier: MIT
/*
 * The pcapng writer's pure parts (core/base/pcapng.c, shared by the
 * pcap-writer plugin and the live capture): block layout (lengths,
 * padding, trailers, fields), the Internet checksum (RFC 1071's example), synthesized IPv4/IPv6 +
 * UDP headers whose checksums verify (also when only part of the datagram is kept), endpoint
 * conversion and the key log text.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcapng.h"

static int failures;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);   \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

/* Every block: type, total length (a multiple of 4) repeated at the end. */
static void check_frame(const uint8_t *b, size_t n, uint32_t type)
{
	CHECK(n >= 12 && n % 4 == 0);
	CHECK(rd32(b) == type);
	CHECK(rd32(b + 4) == n);
	CHECK(rd32(b + n - 4) == n);
}

/* Find option code in an options area; returns its value or NULL. */
static const uint8_t *find_opt(const uint8_t *o, const uint8_t *end, uint16_t code, uint16_t *len)
{
	while (o + 4 <= end) {
		uint16_t c = rd16(o), l = rd16(o + 2);

		if (c == 0)
			return NULL;
		if (c == code) {
			*len = l;
			return o + 4;
		}
		o += 4 + ((l + 3u) & ~3u);
	}
	return NULL;
}

static void test_blocks(void)
{
	uint8_t b[1024], pkt[5] = {1, 2, 3, 4, 5};
	const uint8_t *v;
	uint16_t l;
	size_t n;

	n = pcapng_shb(b, sizeof(b), "tinescale pcap-writer");
	check_frame(b, n, PCAPNG_BT_SHB);
	CHECK(rd32(b + 8) == PCAPNG_BOM && rd16(b + 12) == 1 && rd16(b + 14) == 0);
	v = find_opt(b + 24, b + n - 4, 4, &l);
	CHECK(v && l == 21 && !memcmp(v, "tinescale pcap-writer", 21));
	CHECK(pcapng_shb(b, 39, "x") == 0); /* does not fit: nothing */

	n = pcapng_idb(b, sizeof(b), PCAPNG_LINKTYPE_RAW, 65535, "ciphertext_in", "desc");
	check_frame(b, n, PCAPNG_BT_IDB);
	CHECK(rd16(b + 8) == 101 && rd32(b + 12) == 65535);
	v = find_opt(b + 16, b + n - 4, 2, &l);
	CHECK(v && l == 13 && !memcmp(v, "ciphertext_in", 13));
	v = find_opt(b + 16, b + n - 4, 9, &l);
	CHECK(v && l == 1 && v[0] == 9);

	n = pcapng_epb(b, sizeof(b), 3, 0x0123456789abcdefull, pkt, 2, pkt + 2, 3, 1500);
	check_frame(b, n, PCAPNG_BT_EPB);
	CHECK(n == 32 + 8);
	CHECK(rd32(b + 8) == 3 && rd32(b + 12) == 0x01234567u && rd32(b + 16) == 0x89abcdefu);
	CHECK(rd32(b + 20) == 5 && rd32(b + 24) == 1500);
	CHECK(!memcmp(b + 28, pkt, 5) && b[33] == 0 && b[34] == 0 && b[35] == 0);
	/* orig_len never below the captured length */
	n = pcapng_epb(b, sizeof(b), 0, 0, pkt, 5, NULL, 0, 1);
	CHECK(rd32(b + 24) == 5);

	n = pcapng_dsb(b, sizeof(b), PCAPNG_SECRETS_WIREGUARD, "abcdef", 6);
	check_frame(b, n, PCAPNG_BT_DSB);
	CHECK(rd32(b + 8) == 0x57474b4cu && rd32(b + 12) == 6 && !memcmp(b + 16, "abcdef", 6));
	CHECK(n == 12 + 8 + 8);
}

static void test_csum(void)
{
	/* RFC 1071 section 3: these words sum to ddf2 (one's complement). */
	static const uint8_t ex[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	uint8_t odd[3] = {0x12, 0x34, 0x56};

	CHECK(csum_fold(csum_add(0, ex, sizeof(ex))) == (uint16_t)~0xddf2);
	/* An odd tail is padded with a zero byte. */
	CHECK(csum_add(0, odd, 3) == 0x1234 + 0x5600);
	/* Sums of even-length pieces add up to the sum of the whole. */
	CHECK(csum_fold(csum_add(csum_add(0, ex, 4), ex + 4, 4)) ==
	      csum_fold(csum_add(0, ex, sizeof(ex))));
}

/* Verify the synthesized UDP checksum the way a receiver does: all of it sums to ~0. */
static int udp_ok(const uint8_t *h, size_t hlen, const uint8_t *payload, size_t plen)
{
	size_t ip = hlen - 8, alen = ip == 40 ? 16 : 4;
	uint8_t pseudo[4] = {0, IPPROTO_UDP, h[ip + 4], h[ip + 5]};
	uint32_t s = csum_add(0, h + (ip == 40 ? 8 : 12), 2 * alen);

	s = csum_add(s, pseudo, 4);
	s = csum_add(s, h + ip, 8);
	s = csum_add(s, payload, plen);
	return csum_fold(s) == 0;
}

static void test_synth(void)
{
	union ts_plugin_endpoint a = {0}, z = {0};
	struct ipport src, dst;
	uint8_t h[SYNTH_HDR_MAX], payload[148];
	size_t n;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	a.in.sin_family = AF_INET;
	a.in.sin_port = htons(51820);
	inet_pton(AF_INET, "10.10.0.11", &a.in.sin_addr);
	ipport_from_endpoint(&src, &a, AF_INET);
	CHECK(src.family == AF_INET && src.port == 51820);
	inet_pton(AF_INET, "10.10.0.12", &a.in.sin_addr);
	a.in.sin_port = htons(4242);
	ipport_from_endpoint(&dst, &a, AF_INET);

	n = synth_udp_header(h, &src, &dst, sizeof(payload), csum_add(0, payload, sizeof(payload)));
	CHECK(n == 28);
	CHECK(h[0] == 0x45 && h[9] == IPPROTO_UDP && h[8] == 64);
	CHECK((h[2] << 8 | h[3]) == 20 + 8 + 148);
	CHECK(csum_fold(csum_add(0, h, 20)) == 0); /* header checksum verifies */
	CHECK((h[20] << 8 | h[21]) == 51820 && (h[22] << 8 | h[23]) == 4242);
	CHECK((h[24] << 8 | h[25]) == 8 + 148);
	CHECK(udp_ok(h, n, payload, sizeof(payload)));

	/* IPv6: the checksum is mandatory and verifies. */
	memset(&a, 0, sizeof(a));
	a.in6.sin6_family = AF_INET6;
	a.in6.sin6_port = htons(51820);
	inet_pton(AF_INET6, "fd00::11", &a.in6.sin6_addr);
	ipport_from_endpoint(&src, &a, AF_INET);
	CHECK(src.family == AF_INET6);
	inet_pton(AF_INET6, "fd00::12", &a.in6.sin6_addr);
	ipport_from_endpoint(&dst, &a, AF_INET);
	n = synth_udp_header(h, &src, &dst, 147, csum_add(0, payload, 147));
	CHECK(n == 48);
	CHECK(h[0] == 0x60 && h[6] == IPPROTO_UDP && (h[4] << 8 | h[5]) == 8 + 147);
	CHECK(h[46] || h[47]); /* never 0 over IPv6 */
	CHECK(udp_ok(h, n, payload, 147));

	/* IPv4-mapped becomes IPv4; unknown takes the family asked for and keeps the port. */
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &a.in6.sin6_addr);
	ipport_from_endpoint(&src, &a, AF_INET6);
	CHECK(src.family == AF_INET && !memcmp(src.addr, "\xc0\x00\x02\x07", 4));
	z.in.sin_port = htons(51820);
	ipport_from_endpoint(&src, &z, AF_INET6);
	CHECK(src.family == AF_INET6 && src.port == 51820 &&
	      !memcmp(src.addr, (uint8_t[16]){0}, 16));
}

static void test_keylog(void)
{
	uint8_t s[128] = {0};
	char t[KEYLOG_TEXT_MAX];
	size_t n;

	s[96] = 0xff; /* the preshared key's first byte */
	n = keylog_text(s, t, sizeof(t));
	CHECK(n > 0 && n < sizeof(t));
	t[n < sizeof(t) ? n : sizeof(t) - 1] = '\0';
	CHECK(!strcmp(t,
		      "LOCAL_STATIC_PRIVATE_KEY = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
		      "REMOTE_STATIC_PUBLIC_KEY = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
		      "LOCAL_EPHEMERAL_PRIVATE_KEY = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
		      "PRESHARED_KEY = /wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"));
	CHECK(keylog_text(s, t, 100) == 0);
}

int main(void)
{
	test_blocks();
	test_csum();
	test_synth();
	test_keylog();
	if (failures) {
		fprintf(stderr, "test_pcapng: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_pcapng: ok\n");
	return 0;
}
