// SPDX-License-Identifier: MIT
/*
 * test_stun: nat-probe's STUN codec (plugins/nat-probe/stun.c) against the
 * RFC 5769 test vectors (2.1 request, 2.2 IPv4 and 2.3 IPv6 responses: the
 * XOR-MAPPED-ADDRESS values and the FINGERPRINTs; MESSAGE-INTEGRITY is not
 * checked by nat-probe, only stepped over), our own request read back, and
 * every truncation, bad length and corrupted field rejected.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"
#include "stun.h"

static const uint8_t txid5769[12] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
				     0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

/* RFC 5769 2.1: sample request (SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, M-I, FINGERPRINT). */
static const uint8_t req5769[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* RFC 5769 2.2: IPv4 response, XOR-MAPPED-ADDRESS 192.0.2.1:32853. */
static const uint8_t resp4[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* RFC 5769 2.3: IPv6 response, XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853. */
static const uint8_t resp6[] = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A response built by hand: header + attributes (already padded) + optional fingerprint. */
static size_t build(uint8_t *out, uint16_t type, const uint8_t txid[12], const uint8_t *attrs,
		    size_t alen, int fingerprint)
{
	size_t len = 20 + alen + (fingerprint ? 8 : 0);

	put16(out, type);
	put16(out + 2, (unsigned)(len - 20));
	out[4] = 0x21;
	out[5] = 0x12;
	out[6] = 0xa4;
	out[7] = 0x42;
	memcpy(out + 8, txid, 12);
	memcpy(out + 20, attrs, alen);
	if (fingerprint) {
		uint32_t crc = stun_crc32(out, 20 + alen) ^ STUN_FINGERPRINT_XOR;

		put16(out + 20 + alen, STUN_ATTR_FINGERPRINT);
		put16(out + 22 + alen, 4);
		out[24 + alen] = (uint8_t)(crc >> 24);
		out[25 + alen] = (uint8_t)(crc >> 16);
		out[26 + alen] = (uint8_t)(crc >> 8);
		out[27 + alen] = (uint8_t)crc;
	}
	return len;
}

static void test_vectors(void)
{
	struct stun_response r;
	uint8_t want6[16];
	int ret;

	/* CRC-32 check value ("123456789" -> 0xCBF43926). */
	CHECK_MSG(stun_crc32((const uint8_t *)"123456789", 9) == 0xCBF43926u, "crc32 check value");

	ret = stun_parse_response(resp4, sizeof(resp4), &r);
	CHECK_MSG(ret == STUN_OK, "2.2: %s", stun_result_name(ret));
	CHECK_MSG(r.type == STUN_BINDING_SUCCESS, "2.2 type %#x", r.type);
	CHECK_MSG(!memcmp(r.txid, txid5769, 12), "2.2 txid");
	CHECK_MSG(r.xor_mapped, "2.2 came from XOR-MAPPED-ADDRESS");
	CHECK_MSG(r.mapped.family == 4 && r.mapped.port == 32853, "2.2 family %u port %u",
		  r.mapped.family, r.mapped.port);
	CHECK_MSG(r.mapped.addr[0] == 192 && r.mapped.addr[1] == 0 && r.mapped.addr[2] == 2 &&
		      r.mapped.addr[3] == 1,
		  "2.2 address %u.%u.%u.%u", r.mapped.addr[0], r.mapped.addr[1], r.mapped.addr[2],
		  r.mapped.addr[3]);
	CHECK_MSG(stun_is_message(resp4, sizeof(resp4)), "2.2 is STUN");

	ret = stun_parse_response(resp6, sizeof(resp6), &r);
	CHECK_MSG(ret == STUN_OK, "2.3: %s", stun_result_name(ret));
	inet_pton(AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677", want6);
	CHECK_MSG(r.mapped.family == 6 && r.mapped.port == 32853, "2.3 family %u port %u",
		  r.mapped.family, r.mapped.port);
	CHECK_MSG(!memcmp(r.mapped.addr, want6, 16), "2.3 address");

	/* 2.1 is a request: readable as a message (its FINGERPRINT checks), not as a response. */
	ret = stun_parse_message(req5769, sizeof(req5769), &r);
	CHECK_MSG(ret == STUN_OK && r.type == STUN_BINDING_REQUEST, "2.1: %s",
		  stun_result_name(ret));
	CHECK_MSG(stun_parse_response(req5769, sizeof(req5769), &r) == STUN_E_TYPE,
		  "a request is not a response");
}

static void test_request_roundtrip(void)
{
	uint8_t txid[12], req[STUN_REQUEST_LEN + 4];
	struct stun_response r;
	size_t n;
	int ret;

	for (int i = 0; i < 12; i++)
		txid[i] = (uint8_t)(0x40 + i * 7);
	CHECK_MSG(stun_binding_request(req, STUN_REQUEST_LEN - 1, txid) == 0,
		  "short buffer refused");
	n = stun_binding_request(req, sizeof(req), txid);
	CHECK_MSG(n == STUN_REQUEST_LEN, "request length %zu", n);
	CHECK_MSG(req[0] == 0x00 && req[1] == 0x01, "Binding request type");
	CHECK_MSG(stun_is_message(req, n), "our request is STUN");
	ret = stun_parse_message(req, n, &r);
	CHECK_MSG(ret == STUN_OK, "request parses back: %s", stun_result_name(ret));
	CHECK_MSG(r.type == STUN_BINDING_REQUEST && !memcmp(r.txid, txid, 12),
		  "type and txid back");
	/* Its FINGERPRINT is checked: one flipped txid bit breaks it. */
	req[10] ^= 1;
	CHECK_MSG(stun_parse_message(req, n, &r) == STUN_E_FINGERPRINT,
		  "fingerprint catches a flip");
}

static void test_truncations(void)
{
	const struct {
		const uint8_t *buf;
		size_t len;
	} v[] = {{resp4, sizeof(resp4)}, {resp6, sizeof(resp6)}};
	struct stun_response r;
	uint8_t b[256];

	for (size_t k = 0; k < 2; k++) {
		/* Every proper prefix: rejected (never read past len: ASan build checks). */
		for (size_t cut = 0; cut < v[k].len; cut++) {
			uint8_t *p = malloc(cut ? cut : 1);

			memcpy(p, v[k].buf, cut);
			CHECK_MSG(stun_parse_response(p, cut, &r) != STUN_OK, "vector %zu cut %zu",
				  k, cut);
			CHECK_MSG(!stun_is_message(p, cut), "vector %zu cut %zu is_message", k,
				  cut);
			free(p);
		}
		/* A prefix with the header length fixed up: the walk hits a cut attribute. */
		memcpy(b, v[k].buf, v[k].len);
		for (size_t cut = 24; cut < v[k].len; cut += 4) {
			put16(b + 2, (unsigned)(cut - 20));
			int ret = stun_parse_response(b, cut, &r);

			/* Only a cut on an attribute boundary after the address may parse. */
			CHECK_MSG(ret != STUN_OK || (r.mapped.port == 32853 && r.xor_mapped),
				  "vector %zu fixed cut %zu", k, cut);
		}
		/* A trailing byte, and a length that is not a multiple of 4. */
		memcpy(b, v[k].buf, v[k].len);
		b[v[k].len] = 0;
		CHECK_MSG(stun_parse_response(b, v[k].len + 1, &r) == STUN_E_NOT_STUN,
			  "trailing byte");
		put16(b + 2, (unsigned)(v[k].len - 20 - 2));
		CHECK_MSG(stun_parse_response(b, v[k].len - 2, &r) == STUN_E_NOT_STUN,
			  "length %% 4");
	}

	/* Bad cookie, top bits set, unknown type. */
	memcpy(b, resp4, sizeof(resp4));
	b[4] ^= 0xff;
	CHECK_MSG(stun_parse_response(b, sizeof(resp4), &r) == STUN_E_NOT_STUN, "cookie");
	memcpy(b, resp4, sizeof(resp4));
	b[0] |= 0x80;
	CHECK_MSG(stun_parse_response(b, sizeof(resp4), &r) == STUN_E_NOT_STUN, "top bits");
	memcpy(b, resp4, sizeof(resp4));
	b[1] = 0x11; /* 0x0111 would be an error response; 0x0011 is an indication */
	b[0] = 0x00;
	CHECK_MSG(stun_parse_response(b, sizeof(resp4), &r) == STUN_E_TYPE, "indication refused");
	/* A corrupted attribute length that runs past the message. */
	memcpy(b, resp4, sizeof(resp4));
	put16(b + 38, 0x40); /* XOR-MAPPED-ADDRESS length */
	CHECK_MSG(stun_parse_response(b, sizeof(resp4), &r) == STUN_E_ATTR, "attribute overrun");
	/* A wrong FINGERPRINT. */
	memcpy(b, resp4, sizeof(resp4));
	b[sizeof(resp4) - 1] ^= 1;
	CHECK_MSG(stun_parse_response(b, sizeof(resp4), &r) == STUN_E_FINGERPRINT, "fingerprint");
}

static void test_attributes(void)
{
	uint8_t txid[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	uint8_t msg[256];
	struct stun_response r;
	size_t n;
	int ret;

	/* MAPPED-ADDRESS only (an RFC 3489-style server): the fallback. */
	const uint8_t mapped_only[] = {0x00, 0x01, 0x00, 0x08, 0x00, 0x01,
				       0x0d, 0x96, 198,	 51,   100,  7};
	n = build(msg, STUN_BINDING_SUCCESS, txid, mapped_only, sizeof(mapped_only), 0);
	ret = stun_parse_response(msg, n, &r);
	CHECK_MSG(ret == STUN_OK && !r.xor_mapped && r.mapped.family == 4 &&
		      r.mapped.port == 3478 && r.mapped.addr[0] == 198 && r.mapped.addr[3] == 7,
		  "MAPPED-ADDRESS fallback: %s", stun_result_name(ret));

	/*
	 * An unknown comprehension-required attribute (0x7777, 3 bytes + 1 pad)
	 * before both addresses: skipped; XOR-MAPPED wins over MAPPED.
	 */
	const uint8_t mixed[] =
	    {
		0x77,	     0x77,	  0x00,	      0x03,	0xaa, 0xbb,
		0xcc,	     0x00, /* unknown, padded */
		0x00,	     0x01,	  0x00,	      0x08,	0x00, 0x01,
		0x00,	     0x01,	  10,	      0,	0,    1, /* MAPPED 10.0.0.1:1 */
		0x00,	     0x20,	  0x00,	      0x08,	0x00, 0x01,
		0x21 ^ 0x0d, 0x12 ^ 0x96,			/* XOR port 3478 */
		198 ^ 0x21,  51 ^ 0x12,	  100 ^ 0xa4, 9 ^ 0x42, /* 198.51.100.9 */
	    };
	n = build(msg, STUN_BINDING_SUCCESS, txid, mixed, sizeof(mixed), 1);
	ret = stun_parse_response(msg, n, &r);
	CHECK_MSG(ret == STUN_OK && r.xor_mapped && r.mapped.port == 3478 && r.mapped.addr[3] == 9,
		  "unknown attribute skipped, XOR preferred: %s port %u", stun_result_name(ret),
		  r.mapped.port);

	/* A success without any address: refused.  An error response: fine, no address. */
	const uint8_t software[] = {0x80, 0x22, 0x00, 0x01, 'x', 0, 0, 0};
	n = build(msg, STUN_BINDING_SUCCESS, txid, software, sizeof(software), 0);
	CHECK_MSG(stun_parse_response(msg, n, &r) == STUN_E_NO_ADDRESS, "no address");
	n = build(msg, STUN_BINDING_ERROR, txid, software, sizeof(software), 0);
	CHECK_MSG(stun_parse_response(msg, n, &r) == STUN_OK && r.type == STUN_BINDING_ERROR,
		  "error response");

	/* A malformed XOR-MAPPED-ADDRESS (family 3, or v6 with 8 bytes) is ignored, not used. */
	const uint8_t badfam[] = {0x00, 0x20, 0x00, 0x08, 0x00, 0x03, 0, 0, 1, 2, 3, 4};
	n = build(msg, STUN_BINDING_SUCCESS, txid, badfam, sizeof(badfam), 0);
	CHECK_MSG(stun_parse_response(msg, n, &r) == STUN_E_NO_ADDRESS, "bad family");
	const uint8_t badv6[] = {0x00, 0x20, 0x00, 0x08, 0x00, 0x02, 0, 0, 1, 2, 3, 4};
	n = build(msg, STUN_BINDING_SUCCESS, txid, badv6, sizeof(badv6), 0);
	CHECK_MSG(stun_parse_response(msg, n, &r) == STUN_E_NO_ADDRESS, "short v6 address");

	/* FINGERPRINT with a wrong length. */
	const uint8_t badfp[] = {0x80, 0x28, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 0};
	n = build(msg, STUN_BINDING_SUCCESS, txid, badfp, sizeof(badfp), 0);
	CHECK_MSG(stun_parse_response(msg, n, &r) == STUN_E_ATTR, "fingerprint length");

	/* An attribute header cut by the message end (length 0xfffc). */
	const uint8_t huge[] = {0x80, 0x22, 0xff, 0xfc};
	n = build(msg, STUN_BINDING_SUCCESS, txid, huge, sizeof(huge), 0);
	CHECK_MSG(stun_parse_response(msg, n, &r) == STUN_E_ATTR, "huge attribute");
}

int main(void)
{
	test_vectors();
	test_request_roundtrip();
	test_truncations();
	test_attributes();
	if (failures) {
		fprintf(stderr, "test_stun: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_stun: ok\n");
	return 0;
}
