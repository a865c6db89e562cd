// SPDX-License-Identifier: MIT
/*
 * fuzz_stun: nat-probe's STUN parser (plugins/nat-probe/stun.c) on arbitrary
 * datagrams.  Checks, besides "no crash, no out-of-bounds read" (ASan), that
 * the demultiplexing test and the parser agree, and that a parsed success
 * response always carries an address of family 4 or 6.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stun_response r;
	uint8_t req[STUN_REQUEST_LEN];

	/* Exact-size copy: ASan sees any read past the end. */
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (stun_parse_message(buf, size, &r) == STUN_OK) {
		if (!stun_is_message(buf, size))
			abort(); /* the parser accepted what the demultiplexer refuses */
		if (r.type == STUN_BINDING_SUCCESS && r.mapped.family != 4 && r.mapped.family != 6)
			abort();
	}
	(void)stun_parse_response(buf, size, &r);
	/* Our own request for the first 12 bytes as txid always reads back. */
	if (size >= STUN_TXID_LEN) {
		stun_binding_request(req, sizeof(req), buf);
		if (stun_parse_message(req, sizeof(req), &r) != STUN_OK ||
		    memcmp(r.txid, buf, STUN_TXID_LEN))
			abort();
	}
	free(buf);
	return 0;
}
