// SPDX-License-Identifier: MIT
/*
 * hexdump's text (plugins/hexdump/format.c, compiled into this test): the
 * WireGuard message names by type and exact length, endpoints, short keys,
 * IP summaries, the header line and `hexdump -C` lines.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/hexdump/format.c"

static int failures;

#define CHECK_STR(got, want)                                                                       \
	do {                                                                                       \
		if (strcmp((got), (want))) {                                                       \
			fprintf(stderr, "%s:%d: got '%s', want '%s'\n", __FILE__, __LINE__, (got), \
				(want));                                                           \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static void test_wg_type(void)
{
	uint8_t m[200] = {0};

	m[0] = 1;
	CHECK_STR(hd_wg_type(m, 148), "initiation");
	CHECK_STR(hd_wg_type(m, 147), "other");
	m[0] = 2;
	CHECK_STR(hd_wg_type(m, 92), "response");
	CHECK_STR(hd_wg_type(m, 148), "other");
	m[0] = 3;
	CHECK_STR(hd_wg_type(m, 64), "cookie");
	m[0] = 4;
	CHECK_STR(hd_wg_type(m, 32), "keepalive");
	CHECK_STR(hd_wg_type(m, 33), "data");
	CHECK_STR(hd_wg_type(m, 31), "other");
	m[1] = 1; /* reserved bytes must be zero */
	CHECK_STR(hd_wg_type(m, 128), "other");
	m[1] = 0;
	m[0] = 5;
	CHECK_STR(hd_wg_type(m, 128), "other");
	CHECK_STR(hd_wg_type(m, 3), "other");
}

static void test_endpoint(void)
{
	union ts_plugin_endpoint ep = {0};
	char b[80];

	ep.in.sin_family = AF_INET;
	ep.in.sin_port = htons(51820);
	inet_pton(AF_INET, "10.10.0.12", &ep.in.sin_addr);
	hd_endpoint_str(&ep, b, sizeof(b));
	CHECK_STR(b, "10.10.0.12:51820");
	memset(&ep, 0, sizeof(ep));
	ep.in6.sin6_family = AF_INET6;
	ep.in6.sin6_port = htons(443);
	inet_pton(AF_INET6, "fd00::1", &ep.in6.sin6_addr);
	hd_endpoint_str(&ep, b, sizeof(b));
	CHECK_STR(b, "[fd00::1]:443");
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &ep.in6.sin6_addr);
	hd_endpoint_str(&ep, b, sizeof(b));
	CHECK_STR(b, "192.0.2.1:443");
	memset(&ep, 0, sizeof(ep));
	hd_endpoint_str(&ep, b, sizeof(b));
	CHECK_STR(b, "-");
	ep.in.sin_port = htons(51820);
	hd_endpoint_str(&ep, b, sizeof(b));
	CHECK_STR(b, "*:51820");
}

static void test_short_key(void)
{
	uint8_t k[32] = {0};
	char s[9];

	hd_short_key(k, s);
	CHECK_STR(s, "AAAAAAAA");
	k[0] = 0xff;
	k[1] = 0xee;
	k[2] = 0xdd;
	hd_short_key(k, s);
	CHECK_STR(s, "/+7dAAAA");
}

/* An IPv4 ICMP echo request 10.0.0.1 -> 10.0.0.2, id 0x1234, seq 7. */
static const uint8_t icmp_req[] = {0x45, 0x00, 0x00, 0x54, 0x00, 0x00, 0x40, 0x00, 0x40, 0x01,
				   0x00, 0x00, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,
				   0x08, 0x00, 0x00, 0x00, 0x12, 0x34, 0x00, 0x07};

static void test_ip_summary(void)
{
	uint8_t v6[48] = {0x60, 0, 0, 0, 0, 8, IPPROTO_UDP, 64};
	char b[200];

	hd_ip_summary(icmp_req, sizeof(icmp_req), b, sizeof(b));
	CHECK_STR(b, "ipv4 10.0.0.1 > 10.0.0.2 icmp echo-request id=4660 seq=7");
	/* Only the IP header kept: no transport details, and no over-read. */
	hd_ip_summary(icmp_req, 20, b, sizeof(b));
	CHECK_STR(b, "ipv4 10.0.0.1 > 10.0.0.2 icmp");
	hd_ip_summary(icmp_req, 19, b, sizeof(b));
	CHECK_STR(b, "not-ip");
	hd_ip_summary(icmp_req, 0, b, sizeof(b));
	CHECK_STR(b, "empty");
	inet_pton(AF_INET6, "fd00::1", v6 + 8);
	inet_pton(AF_INET6, "fd00::2", v6 + 24);
	v6[40] = 0x30; /* source port 12345 */
	v6[41] = 0x39;
	v6[42] = 0x00; /* destination port 53 */
	v6[43] = 0x35;
	hd_ip_summary(v6, sizeof(v6), b, sizeof(b));
	CHECK_STR(b, "ipv6 fd00::1 > fd00::2 udp 12345 > 53");
	/* A tiny buffer truncates and stays NUL-terminated. */
	hd_ip_summary(icmp_req, sizeof(icmp_req), b, 10);
	CHECK_STR(b, "ipv4 10.0");
}

static void test_header(void)
{
	struct rec r = {.kind = REC_PACKET, .hook = TS_HOOK_CIPHERTEXT_OUT, .orig_len = 128};
	uint8_t data[16] = {4, 0, 0, 0, 0x78, 0x56, 0x34, 0x12, 9, 0, 0, 0, 0, 0, 0, 0};
	char b[300], *sp;

	r.remote.in.sin_family = AF_INET;
	r.remote.in.sin_port = htons(51820);
	inet_pton(AF_INET, "10.10.0.12", &r.remote.in.sin_addr);
	r.local.in.sin_port = htons(51821); /* address unknown */
	r.real_ns = 1000000000ull * 3600 + 123456789;
	hd_header(&r, data, sizeof(data), b, sizeof(b));
	sp = strchr(b, ' '); /* after the local time of day */
	if (!sp || strlen(b) < 16 || b[2] != ':' || b[8] != '.') {
		fprintf(stderr, "bad time stamp in '%s'\n", b);
		failures++;
	} else {
		CHECK_STR(sp + 1,
			  "ciphertext_out peer=- len=128 *:51821 > 10.10.0.12:51820 wg=data "
			  "receiver=0x12345678 counter=9");
		CHECK_STR(sp - 6, "123456 ciphertext_out peer=- len=128 *:51821 > 10.10.0.12:51820 "
				  "wg=data receiver=0x12345678 counter=9");
	}
	r.hook = TS_HOOK_CIPHERTEXT_IN;
	r.flags = REC_HAVE_PEER;
	memset(r.peer, 0, 32);
	hd_header(&r, data, sizeof(data), b, sizeof(b));
	sp = strchr(b, ' ');
	CHECK_STR(sp ? sp + 1 : b, "ciphertext_in peer=AAAAAAAA len=128 10.10.0.12:51820 > *:51821 "
				   "wg=data receiver=0x12345678 counter=9");
	r.hook = TS_HOOK_PLAINTEXT_IN;
	r.orig_len = 84;
	hd_header(&r, icmp_req, sizeof(icmp_req), b, sizeof(b));
	sp = strchr(b, ' ');
	CHECK_STR(sp ? sp + 1 : b,
		  "plaintext_in peer=AAAAAAAA len=84 ipv4 10.0.0.1 > 10.0.0.2 icmp echo-request "
		  "id=4660 seq=7");
	/* A datagram kept only in part is named by its real length. */
	r.hook = TS_HOOK_CIPHERTEXT_IN;
	r.orig_len = 148;
	data[0] = 1;
	hd_header(&r, data, 8, b, sizeof(b));
	if (!strstr(b, " wg=initiation sender=0x12345678")) {
		fprintf(stderr, "truncated initiation not named: '%s'\n", b);
		failures++;
	}
}

static void test_hex_line(void)
{
	uint8_t p[16];
	char b[HD_LINE_MAX];
	size_t n;

	for (int i = 0; i < 16; i++)
		p[i] = (uint8_t)(0x41 + i);
	p[15] = 0x00;
	n = hd_hex_line(p, 16, 0x20, b);
	CHECK_STR(b, "00000020  41 42 43 44 45 46 47 48  49 4a 4b 4c 4d 4e 4f 00  "
		     "|ABCDEFGHIJKLMNO.|\n");
	if (n != strlen(b)) {
		fprintf(stderr, "hd_hex_line returned %zu for a %zu-byte line\n", n, strlen(b));
		failures++;
	}
	/* A short last line is padded so the ASCII column lines up, as hexdump -C does. */
	hd_hex_line(p, 3, 0x50, b);
	CHECK_STR(b, "00000050  41 42 43                                          |ABC|\n");
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	test_wg_type();
	test_endpoint();
	test_short_key();
	test_ip_summary();
	test_header();
	test_hex_line();
	if (failures) {
		fprintf(stderr, "test_hexdump_format: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_hexdump_format: ok\n");
	return 0;
}
