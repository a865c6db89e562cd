// SPDX-License-Identifier: MIT
/*
 * fuzz_probe: nat-probe's version 2 PING/PONG and candidates decoders
 * (plugins/nat-probe/probe.c) on arbitrary input, with a fixed pair key,
 * and the counter window (window.c) fed the decoded counters.  Besides
 * ASan's checks: whatever decodes re-encodes to the same bytes (there is
 * one encoding per message and nonce), so nothing is accepted loosely, and
 * a counter the window accepted is never accepted again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "window.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seeds in tests/fuzz/corpus/fuzz_probe are made with this key. */
static const uint8_t key[PROBE_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	uint8_t out[CAND_MAX_LEN];
	struct probe_msg pm;
	struct cand_msg cm;
	struct np_window w;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	np_window_init(&w);
	/* Structure only, then with the key (the fuzzer cannot forge the mac: seeds can). */
	if (probe_decode(buf, size, NULL, &pm) == PROBE_OK &&
	    probe_decode(buf, size, key, &pm) == PROBE_OK) {
		if (pm.type == PROBE_PING) {
			probe_ping_encode(out, key, pm.sender, pm.counter, pm.txid);
			if (size != PROBE_PING_LEN || memcmp(out, buf, size))
				abort();
		} else {
			if (probe_pong_encode(out, key, pm.sender, pm.counter, pm.txid,
					      &pm.observed) ||
			    size != PROBE_PONG_LEN || memcmp(out, buf, size))
				abort();
		}
		if (!np_window_accept(&w, pm.counter) || np_window_accept(&w, pm.counter))
			abort();
	}
	if (cand_decode(buf, size, key, &cm) == PROBE_OK) {
		size_t n = cand_encode_nonce(out, sizeof(out), key, cm.counter, cm.nonce, cm.flags,
					     cm.cand, cm.count);

		if (n != size || memcmp(out, buf, size))
			abort();
		if (np_window_fresh(&w, cm.counter) &&
		    (!np_window_accept(&w, cm.counter) || np_window_fresh(&w, cm.counter)))
			abort();
	}
	/* Every 8 bytes as a counter: the window's shifts on arbitrary sequences. */
	for (size_t i = 0; i + 8 <= size; i += 8) {
		uint64_t c;

		memcpy(&c, buf + i, 8);
		if (np_window_accept(&w, c) && np_window_fresh(&w, c))
			abort();
	}
	free(buf);
	return 0;
}
