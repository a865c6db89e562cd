/* SPDX-License-Identifier: MIT */
/*
 * pcapng blocks (draft-ietf-opsawg-pcapng) and the IP/UDP headers put
 * around WireGuard datagrams, as pure functions, for the two writers of
 * pcapng: the pcap-writer plugin (which compiles this file in, as it does
 * key.c) and the daemon's live capture (core/host/capture.c).
 * tests/unit/test_pcapng.c checks them.  Blocks are written in host byte
 * order, as the format allows (the Section Header's byte-order magic tells
 * readers which).
 */
#ifndef TS_PCAPNG_H
#define TS_PCAPNG_H

#include <stddef.h>
#include <stdint.h>
#include <tinescale/plugin.h>

#define PCAPNG_BT_SHB 0x0A0D0D0Au
#define PCAPNG_BT_IDB 0x00000001u
#define PCAPNG_BT_EPB 0x00000006u
#define PCAPNG_BT_DSB 0x0000000Au
#define PCAPNG_BOM    0x1A2B3C4Du
/* LINKTYPE_RAW: the packet starts with an IPv4 or IPv6 header. */
#define PCAPNG_LINKTYPE_RAW 101
/* Decryption Secrets Block type of WireGuard key logs ("WGKL"). */
#define PCAPNG_SECRETS_WIREGUARD 0x57474B4Cu

/* An EPB's fixed part and trailer around the packet bytes. */
#define PCAPNG_EPB_OVERHEAD 32
/* The largest synthesized IPv6 + UDP header. */
#define SYNTH_HDR_MAX 48

/*
 * Each builder writes one whole block to out (cap bytes) and returns its
 * length, a multiple of 4; 0 when it does not fit.
 */
size_t pcapng_shb(uint8_t *out, size_t cap, const char *userappl);
/* if_tsresol is 9: EPB timestamps are nanoseconds since the epoch. */
size_t pcapng_idb(uint8_t *out, size_t cap, uint16_t linktype, uint32_t snaplen, const char *name,
		  const char *description);
/* The packet is a (alen bytes) then b (blen); orig_len is its length on the wire. */
size_t pcapng_epb(uint8_t *out, size_t cap, uint32_t ifid, uint64_t ts_ns, const uint8_t *a,
		  size_t alen, const uint8_t *b, size_t blen, uint32_t orig_len);
size_t pcapng_dsb(uint8_t *out, size_t cap, uint32_t secrets_type, const void *data, size_t len);

/* The Internet checksum: add n bytes (big-endian 16-bit words) to sum; fold and complement. */
uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n);
uint16_t csum_fold(uint32_t sum);

/* An address and port of a synthesized header. */
struct ipport {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint16_t port; /* host order */
};

/*
 * From an endpoint: IPv4-mapped IPv6 becomes IPv4; family 0 (unknown)
 * becomes the unspecified address of `family` with the endpoint's port.
 */
void ipport_from_endpoint(struct ipport *o, const union ts_plugin_endpoint *ep, int family);

/*
 * Our address towards rem when the engine does not know which one a
 * datagram used (routing picks it, e.g. for the first initiation): asked
 * of the kernel the same way, with a UDP socket connected to rem that never
 * sends; loc->addr is left alone when that fails.  Wireshark ties a
 * handshake's messages together by their addresses, so the initiation must
 * carry the address the response comes back to.  Any thread: answers are
 * cached per thread for a second (socket, connect, getsockname, close
 * otherwise: no blocking call).
 */
void ipport_route_local(const struct ipport *rem, struct ipport *loc);

/*
 * IPv4 (20 bytes, header checksum) or IPv6 (40 bytes) header plus UDP
 * header (8 bytes, checksum over the pseudo-header) for a datagram of
 * payload_len bytes whose csum_add() sum is payload_sum.  src and dst have
 * the same family.  Returns the header length.
 */
size_t synth_udp_header(uint8_t out[SYNTH_HDR_MAX], const struct ipport *src,
			const struct ipport *dst, size_t payload_len, uint32_t payload_sum);

/*
 * The key log lines Wireshark's WireGuard dissector reads, for one
 * handshake's secrets (local static private, remote static public, local
 * ephemeral private, preshared key: 4 x 32 bytes).  Returns the length
 * (0 when cap is too small: KEYLOG_TEXT_MAX is enough).
 */
#define KEYLOG_TEXT_MAX 320
size_t keylog_text(const uint8_t secrets[128], char *out, size_t cap);

#endif
