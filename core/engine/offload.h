/* SPDX-License-Identifier: MIT */
/*
 * TUN offloads in userspace, with no I/O of their own: the segmenter splits a
 * super-packet read from a TUN with IFF_VNET_HDR (TSO/USO, or a packet whose
 * checksum the kernel left to us) into the IP packets it stands for, and the
 * coalescer plans which packets of a batch to write back as one TCP or UDP
 * super-packet (GRO).  The plaintext hooks only ever see the single packets:
 * the TUN driver segments before the engine sees anything and coalesces
 * after the engine is done.
 */
#ifndef TS_OFFLOAD_H
#define TS_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5 /* USO: older uapi headers lack it */
#endif

#define TS_VNET_HDR_LEN sizeof(struct virtio_net_hdr)
/* Room for a head packet's IP and TCP headers (IPv6 40 + TCP 60). */
#define TS_GRO_HDR_MAX 100
/* The most packets one coalescing plan covers. */
#define TS_GRO_MAX 128

/* A validated super-packet (ts_gso_parse), ready to be cut into nseg packets. */
struct ts_gso {
	const uint8_t *pkt;
	size_t len;
	unsigned nseg;
	uint8_t kind;	    /* TS_GSO_* */
	size_t l4_off;	    /* the IP header's length: where TCP/UDP starts */
	size_t hdr_len;	    /* IP + TCP/UDP headers */
	size_t gso_size;    /* payload per segment (the last may be shorter) */
	bool needs_csum;    /* kind NONE: complete the checksum below */
	size_t csum_start;  /* kind NONE with needs_csum */
	size_t csum_offset; /* kind NONE with needs_csum */
};

enum { TS_GSO_NONE, TS_GSO_TCP4, TS_GSO_TCP6, TS_GSO_UDP4, TS_GSO_UDP6 };

/*
 * Check the virtio_net_hdr h against the packet it came with: 0, or -EINVAL
 * for anything malformed (an unknown gso_type, offsets outside the packet,
 * a gso_size of 0, headers that do not match the gso_type, ...).
 */
int ts_gso_parse(struct ts_gso *g, const struct virtio_net_hdr *h, const uint8_t *pkt, size_t len);
/* Write packet i (0 <= i < g->nseg) to out: its length, or -ENOSPC if cap is too small. */
ssize_t ts_gso_segment(const struct ts_gso *g, unsigned i, uint8_t *out, size_t cap);

/*
 * A coalescing plan over a batch of IP packets: groups of consecutive TCP
 * segments of one flow, and with udp set, of consecutive UDP datagrams of
 * one flow (equal payloads, the last maybe shorter: what USO would have
 * cut).  Packet order within a flow is kept; a group of one packet is
 * written as it is.
 */
struct ts_gro_group {
	uint16_t first, last, count;
	bool closed;	/* a packet of its flow that cannot join came after it */
	size_t payload; /* TCP or UDP payload bytes of the whole group */
};

struct ts_gro {
	bool udp; /* set by the caller: the TUN takes VIRTIO_NET_HDR_GSO_UDP_L4 (USO) */
	unsigned n_groups;
	struct ts_gro_group group[TS_GRO_MAX];
	int16_t next[TS_GRO_MAX]; /* the next packet of the same group, or -1 */
	/* Per packet, filled while planning. */
	uint16_t l4_off[TS_GRO_MAX], hdr_len[TS_GRO_MAX];
};

/* Plan over pkts[0..n) (n <= TS_GRO_MAX). */
void ts_gro_plan(struct ts_gro *gro, const uint8_t *const pkts[], const size_t lens[], unsigned n);
/*
 * The virtio_net_hdr and the head's rewritten IP and TCP headers (into hdr,
 * TS_GRO_HDR_MAX bytes) of a group of two or more: the super-packet is
 * those headers followed by each packet's payload (ts_gro_payload) in group
 * order.  Returns the header length.
 */
size_t ts_gro_head(const struct ts_gro *gro, unsigned group, const uint8_t *const pkts[],
		   struct virtio_net_hdr *vh, uint8_t hdr[TS_GRO_HDR_MAX]);
/* The TCP or UDP payload of packet i of a planned batch. */
static inline const uint8_t *ts_gro_payload(const struct ts_gro *gro, const uint8_t *const pkts[],
					    const size_t lens[], unsigned i, size_t *len)
{
	*len = lens[i] - gro->hdr_len[i];
	return pkts[i] + gro->hdr_len[i];
}

/* The Internet checksum's running sum (RFC 1071): sum plus p's words, folded to 16 bits. */
uint32_t ts_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t ts_csum_fold(uint32_t sum);

#endif
