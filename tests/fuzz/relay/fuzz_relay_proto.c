// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for every decoder of the relay wire format, version 2
 * (core/relay/relay_proto.c): the input is one datagram as the
 * relay or a peer would receive it (REGISTER with its cookie, COOKIE,
 * REGISTER_ACK, SEND with its token, RECV, ERROR, the address record).  Decoders must never read
 * outside it, and whatever they accept must re-encode to the same bytes.
 */
#include "relay_proto.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fixed_k[TSR_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf, out[TSR_REGISTER_LEN];
	struct tsr_register reg;
	struct tsr_cookie_reply cr;
	struct tsr_register_ack ack;
	struct tsr_data d;
	struct tsr_error e;
	struct tsr_addr a;
	struct tsr_replay replay = {0};
	uint8_t type;
	char text[TSR_ADDR_STRLEN], *str;

	/* An exact-size heap copy, so ASan sees any read past the end. */
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);

	(void)tsr_is_frame(buf, size, &type);
	if (tsr_register_decode(buf, size, &reg) == TSR_OK) {
		check(size == TSR_REGISTER_LEN);
		check(memcmp(reg.mac, buf + TSR_REGISTER_LEN - TSR_MAC_LEN, TSR_MAC_LEN) == 0);
		(void)tsr_register_verify(buf, size, fixed_k, reg.timestamp_ns, &replay);
		/* Re-encoded with its own fields, only the mac may differ. */
		tsr_register_encode(out, reg.public_key, reg.timestamp_ns, reg.cookie, fixed_k);
		check(memcmp(out, buf, TSR_REGISTER_LEN - TSR_MAC_LEN) == 0);
	}
	if (tsr_cookie_reply_decode(buf, size, &cr) == TSR_OK) {
		uint8_t again[TSR_COOKIE_FRAME_LEN];

		check(size == TSR_COOKIE_FRAME_LEN);
		tsr_cookie_reply_encode(again, cr.echo, cr.cookie);
		check(memcmp(again, buf, sizeof(again)) == 0);
	}
	(void)tsr_register_verify(buf, size, fixed_k, 1700000000000000000ULL, &replay);
	if (tsr_register_ack_decode(buf, size, fixed_k, &ack) == TSR_OK) {
		uint8_t again[TSR_REGISTER_ACK_LEN];

		tsr_register_ack_encode(again, &ack, fixed_k);
		check(memcmp(again, buf, sizeof(again)) == 0);
	}
	for (uint8_t want = TSR_SEND; want <= TSR_RECV; want++) {
		size_t hdr = want == TSR_SEND ? TSR_SEND_HDR_LEN : TSR_RECV_HDR_LEN;

		if (tsr_data_decode(buf, size, want, &d) == TSR_OK) {
			check(d.payload == buf + hdr);
			check(d.payload_len == size - hdr && d.payload_len > 0);
			if (want == TSR_SEND)
				tsr_send_hdr_encode(out, d.kind, d.public_key, d.token);
			else
				tsr_recv_hdr_encode(out, d.kind, d.public_key);
			check(memcmp(out, buf, hdr) == 0);
		}
	}
	if (tsr_error_decode(buf, size, &e) == TSR_OK) {
		tsr_error_encode(out, e.code, e.public_key);
		check(memcmp(out, buf, TSR_ERROR_LEN) == 0);
	}
	if (size >= TSR_ADDR_LEN && tsr_addr_get(&a, buf) == TSR_OK) {
		uint8_t rec[TSR_ADDR_LEN];
		struct tsr_addr b;

		check(tsr_addr_put(rec, &a) == TSR_OK);
		check(memcmp(rec, buf, TSR_ADDR_LEN) == 0);
		tsr_addr_format(&a, text, sizeof(text));
		check(tsr_addr_parse(&b, text) == TSR_OK && tsr_addr_equal(&a, &b));
	}
	/* The text form: NUL-terminate a copy. */
	str = malloc(size + 1);
	if (str) {
		memcpy(str, data, size);
		str[size] = '\0';
		if (tsr_addr_parse(&a, str) == TSR_OK) {
			struct tsr_addr b;

			tsr_addr_format(&a, text, sizeof(text));
			check(tsr_addr_parse(&b, text) == TSR_OK && tsr_addr_equal(&a, &b));
		}
		free(str);
	}
	free(buf);
	return 0;
}
