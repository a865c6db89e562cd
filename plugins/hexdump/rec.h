/* SPDX-License-Identifier: MIT */
/*
 * The record both debug plugins (hexdump, pcap-writer; the pcap-writer builds
 * rec.c from here) describe a packet with, filled on the hook, and the checks
 * of their config's keys.
 */
#ifndef TS_DEBUG_REC_H
#define TS_DEBUG_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <tinescale/plugin.h>

enum rec_kind {
	REC_PACKET = 1,	 /* a packet seen by a hook; cap_len bytes follow */
	REC_SECRETS = 2, /* handshake secrets (pcap-writer); REC_SECRETS_LEN bytes follow */
	REC_DONE = 3,	 /* already handled out of order by the writer; skip */
};

#define REC_HAVE_PEER	1u /* rec.peer holds the peer's public key */
#define REC_SECRETS_LEN 128

/* What precedes the bytes of every record.  Copied in and out with memcpy. */
struct rec {
	uint32_t size; /* header + payload, rounded up to 8 */
	uint8_t kind;  /* enum rec_kind */
	uint8_t hook;  /* enum ts_hook */
	uint8_t flags; /* REC_HAVE_PEER */
	uint8_t reserved;
	uint32_t orig_len; /* the packet's length */
	uint32_t cap_len;  /* bytes following this header */
	/*
	 * pcap-writer: one's-complement sum of the whole datagram when only
	 * part of it was kept (the IPv6 UDP checksum needs all of it).
	 */
	uint32_t payload_sum;
	uint32_t reserved2;
	uint64_t mono_ns; /* CLOCK_MONOTONIC when the hook ran */
	uint64_t real_ns; /* CLOCK_REALTIME when the hook ran (for humans and pcapng) */
	uint8_t peer[32];
	union ts_plugin_endpoint remote, local; /* ciphertext hooks; local.sa_family 0 = unknown */
};

static inline uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * A packet record's fields after mono_ns (which the caller sets, it may
 * rate-limit on it): times, peer flag, lengths (cap_len: at most keep) and
 * on the ciphertext hooks the endpoints.  Hook context.
 */
void rec_fill_packet(struct rec *r, const struct ts_host_services *host,
		     const struct ts_packet *pkt, bool known, size_t keep);

/* The first key of config not among known[0..n), or NULL. */
const char *config_unknown_key(const struct ts_host_services *host,
			       const struct ts_config_node *config, const char *const *known,
			       size_t n);
bool config_has_key(const struct ts_host_services *host, const struct ts_config_node *config,
		    const char *key);

#endif
