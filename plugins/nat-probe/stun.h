/* SPDX-License-Identifier: MIT */
/*
 * STUN (RFC 8489) as nat-probe needs it: the Binding request it sends and the
 * Binding response it reads, nothing else (no authentication, no TURN).
 *
 * Header (20 bytes): type u16 (top two bits zero) | length u16 (of the
 * attributes, a multiple of 4) | magic cookie 0x2112A442 | transaction id[12].
 * Attributes: type u16 | length u16 | value, padded to 4 bytes.
 *
 * Pure functions, no I/O, no allocation; every length is checked before it is
 * read and multi-byte fields are read byte-wise (no alignment needed).
 */
#ifndef NP_STUN_H
#define NP_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay_proto.h" /* struct tsr_addr: one address type for all of nat-probe */

#define STUN_HEADER_LEN	     20
#define STUN_TXID_LEN	     12
#define STUN_MAGIC_COOKIE    0x2112A442u
#define STUN_FINGERPRINT_XOR 0x5354554Eu

/* Message types (method Binding = 1, class in bits 4 and 8). */
#define STUN_BINDING_REQUEST 0x0001
#define STUN_BINDING_SUCCESS 0x0101
#define STUN_BINDING_ERROR   0x0111

/* Attributes read or written here. */
#define STUN_ATTR_MAPPED_ADDRESS     0x0001
#define STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define STUN_ATTR_FINGERPRINT	     0x8028

/* Our Binding request: header plus FINGERPRINT (so servers can demultiplex it). */
#define STUN_REQUEST_LEN (STUN_HEADER_LEN + 8)

enum stun_result {
	STUN_OK = 0,
	STUN_E_SHORT = -1,	 /* shorter than a header, or than the header's length says */
	STUN_E_NOT_STUN = -2,	 /* top bits, cookie or length alignment wrong */
	STUN_E_TYPE = -3,	 /* not a Binding response */
	STUN_E_ATTR = -4,	 /* an attribute overruns the message or is malformed */
	STUN_E_FINGERPRINT = -5, /* FINGERPRINT present and wrong */
	STUN_E_NO_ADDRESS = -6,	 /* success response without a usable mapped address */
};

struct stun_response {
	uint16_t type; /* STUN_BINDING_SUCCESS, STUN_BINDING_ERROR (or _REQUEST: parse_message) */
	uint8_t txid[STUN_TXID_LEN];
	/* Success only: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS. */
	struct tsr_addr mapped;
	bool xor_mapped; /* mapped came from XOR-MAPPED-ADDRESS */
};

/*
 * Cheap demultiplexing test (RFC 8489 section 5): top two bits of byte 0
 * zero, the magic cookie at bytes 4-7, a length that is a multiple of 4 and
 * matches the datagram.
 */
bool stun_is_message(const uint8_t *buf, size_t len);

/* Writes a Binding request with FINGERPRINT; returns STUN_REQUEST_LEN, or 0 if outlen is short. */
size_t stun_binding_request(uint8_t *out, size_t outlen, const uint8_t txid[STUN_TXID_LEN]);

/*
 * Parses a Binding success or error response.  Attributes are walked with
 * their padding; unknown ones (comprehension-required included: this is a
 * response, RFC 8489 section 7.3.3 lets a client ignore what it does not
 * need) are skipped; anything after FINGERPRINT is ignored; a FINGERPRINT
 * present must be right.  A success response needs a mapped address of
 * family 4 or 6.  The caller matches out->txid against its request.
 */
int stun_parse_response(const uint8_t *buf, size_t len, struct stun_response *out);

/*
 * The same walk for any Binding message, requests included (tests and tools
 * use it to read back what stun_binding_request wrote); mapped is only set
 * for a success response.
 */
int stun_parse_message(const uint8_t *buf, size_t len, struct stun_response *out);

/* CRC-32 (ISO-HDLC, as FINGERPRINT uses it) of buf. */
uint32_t stun_crc32(const uint8_t *buf, size_t len);

/* A short name for a result, for logs. */
const char *stun_result_name(int result);

#endif
