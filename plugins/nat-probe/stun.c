// SPDX-License-Identifier: MIT
/*
 * STUN Binding request encoder and Binding response parser (stun.h).
 * Responses come from the network: every length is checked here, once,
 * before anything is read, and nothing outside [buf, buf + len) is touched.
 */
#include "stun.h"

#include <string.h>

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * CRC-32 as zlib and FINGERPRINT compute it (reflected polynomial
 * 0xEDB88320).  Bitwise: a few dozen bytes per STUN message, so a table
 * would buy nothing.  Not a cryptographic primitive: FINGERPRINT only tells
 * STUN apart from other protocols.
 */
static uint32_t crc32_update(uint32_t crc, const uint8_t *buf, size_t len)
{
	crc = ~crc;
	for (size_t i = 0; i < len; i++) {
		crc ^= buf[i];
		for (int b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

uint32_t stun_crc32(const uint8_t *buf, size_t len)
{
	return crc32_update(0, buf, len);
}

const char *stun_result_name(int result)
{
	switch (result) {
	case STUN_OK:
		return "ok";
	case STUN_E_SHORT:
		return "short";
	case STUN_E_NOT_STUN:
		return "not-stun";
	case STUN_E_TYPE:
		return "type";
	case STUN_E_ATTR:
		return "attribute";
	case STUN_E_FINGERPRINT:
		return "fingerprint";
	case STUN_E_NO_ADDRESS:
		return "no-address";
	}
	return "?";
}

bool stun_is_message(const uint8_t *buf, size_t len)
{
	if (!buf || len < STUN_HEADER_LEN)
		return false;
	if (buf[0] & 0xC0)
		return false;
	if (get32(buf + 4) != STUN_MAGIC_COOKIE)
		return false;
	/* The length field counts the attributes only and is always 4-aligned. */
	size_t mlen = get16(buf + 2);
	return (mlen & 3) == 0 && mlen == len - STUN_HEADER_LEN;
}

size_t stun_binding_request(uint8_t *out, size_t outlen, const uint8_t txid[STUN_TXID_LEN])
{
	if (!out || outlen < STUN_REQUEST_LEN)
		return 0;
	put16(out, STUN_BINDING_REQUEST);
	put16(out + 2, STUN_REQUEST_LEN - STUN_HEADER_LEN);
	put32(out + 4, STUN_MAGIC_COOKIE);
	memcpy(out + 8, txid, STUN_TXID_LEN);
	/* FINGERPRINT covers everything before it, with the length already counting it. */
	put16(out + 20, STUN_ATTR_FINGERPRINT);
	put16(out + 22, 4);
	put32(out + 24, stun_crc32(out, 20) ^ STUN_FINGERPRINT_XOR);
	return STUN_REQUEST_LEN;
}

/*
 * (XOR-)MAPPED-ADDRESS value: reserved u8 | family u8 (1 = IPv4, 2 = IPv6) |
 * port u16 | address (4 or 16).  XOR: port ^ top half of the cookie, address
 * ^ cookie (IPv4) or ^ cookie || transaction id (IPv6).  False when the value
 * is malformed (the attribute is then ignored, not fatal).
 */
static bool decode_address(const uint8_t *v, size_t vlen, bool xored, const uint8_t *hdr,
			   struct tsr_addr *out)
{
	size_t alen;
	uint8_t mask[16];

	if (vlen < 4)
		return false;
	if (v[1] == 0x01)
		alen = 4;
	else if (v[1] == 0x02)
		alen = 16;
	else
		return false;
	if (vlen != 4 + alen)
		return false;
	/* The mask is the header's bytes 4..19: cookie then transaction id. */
	if (xored)
		memcpy(mask, hdr + 4, sizeof(mask));
	else
		memset(mask, 0, sizeof(mask));
	memset(out, 0, sizeof(*out));
	out->family = alen == 4 ? 4 : 6;
	out->port = (uint16_t)(get16(v + 2) ^ get16(mask));
	for (size_t i = 0; i < alen; i++)
		out->addr[i] = v[4 + i] ^ mask[i];
	return true;
}

int stun_parse_message(const uint8_t *buf, size_t len, struct stun_response *out)
{
	struct tsr_addr xaddr, maddr;
	bool have_x = false, have_m = false;
	size_t mlen, off, end;
	uint16_t type;

	if (!buf || len < STUN_HEADER_LEN)
		return STUN_E_SHORT;
	if ((buf[0] & 0xC0) || get32(buf + 4) != STUN_MAGIC_COOKIE)
		return STUN_E_NOT_STUN;
	mlen = get16(buf + 2);
	if (mlen & 3)
		return STUN_E_NOT_STUN;
	if (mlen > len - STUN_HEADER_LEN)
		return STUN_E_SHORT;
	if (mlen < len - STUN_HEADER_LEN)
		return STUN_E_NOT_STUN; /* trailing bytes: not one STUN message */
	type = get16(buf);
	if (type != STUN_BINDING_REQUEST && type != STUN_BINDING_SUCCESS &&
	    type != STUN_BINDING_ERROR)
		return STUN_E_TYPE;

	off = STUN_HEADER_LEN;
	end = STUN_HEADER_LEN + mlen;
	while (off < end) {
		uint16_t at, al;
		size_t padded;
		const uint8_t *v;

		/* An attribute header needs 4 bytes; mlen is 4-aligned, so they are there. */
		if (end - off < 4)
			return STUN_E_ATTR;
		at = get16(buf + off);
		al = get16(buf + off + 2);
		padded = ((size_t)al + 3) & ~(size_t)3;
		if (padded > end - off - 4)
			return STUN_E_ATTR; /* value or its padding runs past the message */
		v = buf + off + 4;
		switch (at) {
		case STUN_ATTR_XOR_MAPPED_ADDRESS:
			if (!have_x)
				have_x = decode_address(v, al, true, buf, &xaddr);
			break;
		case STUN_ATTR_MAPPED_ADDRESS:
			if (!have_m)
				have_m = decode_address(v, al, false, buf, &maddr);
			break;
		case STUN_ATTR_FINGERPRINT: {
			uint8_t hdr[STUN_HEADER_LEN];
			uint32_t crc;

			if (al != 4)
				return STUN_E_ATTR;
			/*
			 * The CRC covers the message before this attribute, with
			 * the header's length counting up to the end of it: the
			 * whole message unless (against the RFC) more follows.
			 */
			memcpy(hdr, buf, sizeof(hdr));
			put16(hdr + 2, (uint16_t)(off + 8 - STUN_HEADER_LEN));
			crc = crc32_update(0, hdr, sizeof(hdr));
			/* crc32_update chains, as zlib's crc32() does. */
			crc = crc32_update(crc, buf + STUN_HEADER_LEN, off - STUN_HEADER_LEN);
			if ((crc ^ STUN_FINGERPRINT_XOR) != get32(v))
				return STUN_E_FINGERPRINT;
			off = end; /* FINGERPRINT is last: ignore anything after it */
			continue;
		}
		default:
			/* Anything else (SOFTWARE, MESSAGE-INTEGRITY, ...) is not needed. */
			break;
		}
		off += 4 + padded;
	}

	memset(out, 0, sizeof(*out));
	out->type = type;
	memcpy(out->txid, buf + 8, STUN_TXID_LEN);
	if (type != STUN_BINDING_SUCCESS)
		return STUN_OK;
	if (have_x) {
		out->mapped = xaddr;
		out->xor_mapped = true;
	} else if (have_m) {
		out->mapped = maddr;
	} else {
		return STUN_E_NO_ADDRESS;
	}
	return STUN_OK;
}

int stun_parse_response(const uint8_t *buf, size_t len, struct stun_response *out)
{
	struct stun_response r;
	int ret = stun_parse_message(buf, len, &r);

	if (ret != STUN_OK)
		return ret;
	if (r.type == STUN_BINDING_REQUEST)
		return STUN_E_TYPE;
	*out = r;
	return STUN_OK;
}
