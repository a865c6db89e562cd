/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the SDK's packet parser (include/tinescale/packet.h),
 * which plugins run on packets from the network.  Every input is parsed
 * from a heap copy of exactly its length (so ASan sees any read past it);
 * a parsed view must lie within the packet.  When it has an L4 checksum,
 * the checksums are recomputed, the last input bytes are written at an
 * input-chosen offset with ts_pkt_write, and the packet must still verify
 * as a receiver checks it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tinescale/packet.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool verifies(const uint8_t *d, const struct ts_pkt_view *v)
{
	uint32_t sum = ts_pkt_pseudo_sum(d, v);

	if (v->family == AF_INET && ts_csum_fold(ts_csum_add(0, d, v->l3_len)))
		return false;
	return ts_csum_fold(ts_csum_add(sum, d + v->l4_off, v->ip_len - v->l4_off)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ts_pkt_view v;
	uint8_t *p = malloc(size ? size : 1);
	size_t csum, off, n;

	if (!p)
		abort();
	memcpy(p, data, size);
	if (ts_pkt_parse(p, size, &v)) {
		free(p);
		return 0;
	}
	if (v.ip_len > size || v.l3_len > v.ip_len || v.l4_off != v.l3_len ||
	    v.payload_off != v.l4_off + v.l4_len || v.payload_off > v.ip_len ||
	    v.payload_off + v.payload_len != v.ip_len)
		abort();
	(void)ts_pkt_tcp_option(p, &v, 2);
	csum = ts_pkt_l4_csum_off(&v);
	if (csum && size >= 3 && v.ip_len - v.l4_off <= 65535) {
		ts_pkt_fix_ip_csum(p, &v);
		ts_pkt_fix_l4_csum(p, &v);
		if (!(v.proto == IPPROTO_UDP && v.family == AF_INET && !ts_get16(p + csum))) {
			if (!verifies(p, &v))
				abort();
			/* Write the input's last 2 bytes somewhere its third-last byte picks. */
			n = 2;
			off = v.l4_off + data[size - 3] % (v.ip_len - v.l4_off);
			if (off + n <= v.ip_len && !(off < csum + 2 && off + n > csum) &&
			    ts_pkt_write(p, &v, off, data + size - 2, n) == 0 && !verifies(p, &v))
				abort();
		}
	}
	free(p);
	return 0;
}
