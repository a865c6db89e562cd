// SPDX-License-Identifier: MIT
/*
 * Classification of incoming datagrams by their WireGuard header: the one
 * place where the first bytes of untrusted input decide which parser runs.
 */
#include "messages.h"

#include <endian.h>
#include <string.h>

enum message_type message_determine_type(const uint8_t *buf, size_t len)
{
	uint32_t le;

	/* The header is read whole: a type byte then three reserved zero bytes. */
	if (len < sizeof(struct message_header))
		return MESSAGE_INVALID;
	memcpy(&le, buf, sizeof(le));

	/* Handshake messages have exact sizes; data needs at least a header and a tag. */
	switch (le32toh(le)) {
	case MESSAGE_HANDSHAKE_INITIATION:
		if (len == sizeof(struct message_handshake_initiation))
			return MESSAGE_HANDSHAKE_INITIATION;
		break;
	case MESSAGE_HANDSHAKE_RESPONSE:
		if (len == sizeof(struct message_handshake_response))
			return MESSAGE_HANDSHAKE_RESPONSE;
		break;
	case MESSAGE_HANDSHAKE_COOKIE:
		if (len == sizeof(struct message_handshake_cookie))
			return MESSAGE_HANDSHAKE_COOKIE;
		break;
	case MESSAGE_DATA:
		if (len >= MESSAGE_MINIMUM_LENGTH)
			return MESSAGE_DATA;
		break;
	default:
		break;
	}
	return MESSAGE_INVALID;
}
