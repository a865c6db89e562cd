// SPDX-License-Identifier: MIT
/*
 * fuzz_probe: nat-probe's PING/PONG and candidates decoders
 * (plugins/nat-probe/probe.c) on arbitrary input, with a fixed pair key.
 * Besides ASan's checks: whatever decodes re-encodes to the same bytes
 * (there is one encoding per message), so nothing is accepted loosely.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[PROBE_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	uint8_t out[CAND_MAX_LEN];
	struct probe_msg pm;
	struct cand_msg cm;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	/* Structure only, then with the key (the fuzzer cannot forge the mac: seeds can). */
	if (probe_decode(buf, size, NULL, &pm) == PROBE_OK &&
	    probe_decode(buf, size, key, &pm) == PROBE_OK) {
		if (pm.type == PROBE_PING) {
			probe_ping_encode(out, key, pm.sender, pm.txid);
			if (size != PROBE_PING_LEN || memcmp(out, buf, size))
				abort();
		} else {
			if (probe_pong_encode(out, key, pm.sender, pm.txid, &pm.observed) ||
			    size != PROBE_PONG_LEN || memcmp(out, buf, size))
				abort();
		}
	}
	if (cand_decode(buf, size, key, &cm) == PROBE_OK) {
		size_t n = cand_encode(out, sizeof(out), key, cm.txid, cm.flags, cm.cand, cm.count);

		if (n != size || memcmp(out, buf, size))
			abort();
	}
	free(buf);
	return 0;
}
