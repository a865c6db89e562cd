/* SPDX-License-Identifier: MIT */
/*
 * The `peers:` filter of the debug plugins, and who a packet belongs to.
 * (Shared by hexdump and pcap-writer; the pcap-writer builds this file from here.)
 *
 * On ciphertext_in the host does not know the peer yet; it is found from the
 * receiver index of responses, cookie replies and data (peer_by_index).  An
 * initiation names its sender only inside the encryption: with a filter it
 * matches when it comes from the current endpoint of a filtered peer, so a
 * filtered capture still holds both halves of the handshake.
 */
#ifndef TS_DEBUG_PEERS_H
#define TS_DEBUG_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tinescale/plugin.h>

struct peerfilter {
	uint8_t (*keys)[32];
	size_t n; /* 0: every packet */
};

/* Parse `peers:` (a list of base64 public keys).  0, or -1 with a message in err. */
int peerfilter_parse(struct peerfilter *f, const struct ts_host_services *host,
		     const struct ts_config_node *config, char *err, size_t errlen);
void peerfilter_free(struct peerfilter *f);

/* The packet's peer into out: true when known (see above).  Hook context. */
bool packet_peer(const struct ts_host_services *host, const struct ts_packet *pkt, uint8_t out[32]);
/* Does the packet (whose peer is peer, NULL when unknown) pass the filter?  Hook context. */
bool peerfilter_match(const struct peerfilter *f, const struct ts_host_services *host,
		      const struct ts_packet *pkt, const uint8_t *peer);
/* Is key one of the filtered peers (true without a filter)? */
bool peerfilter_has(const struct peerfilter *f, const uint8_t key[32]);

#endif
