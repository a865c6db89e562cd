// SPDX-License-Identifier: MIT
/* The debug plugins' peer filter: see peers.h. */
#include "peers.h"

#include <endian.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"

int peerfilter_parse(struct peerfilter *f, const struct ts_host_services *host,
		     const struct ts_config_node *config, char *err, size_t errlen)
{
	int n = host->config_list_len(host, config, "peers");

	f->keys = NULL;
	f->n = 0;
	if (n == -ENOENT || n == 0)
		return 0;
	if (n < 0) {
		snprintf(err, errlen, "'peers' must be a list of base64 public keys");
		return -1;
	}
	f->keys = calloc((size_t)n, sizeof(*f->keys));
	if (!f->keys) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < (size_t)n; i++) {
		const char *s = host->config_list_item(host, config, "peers", i);

		if (!s || !ts_key_from_base64(f->keys[i], s)) {
			snprintf(err, errlen, "'peers' item %zu ('%s') is not a base64 public key",
				 i, s ? s : "(not a scalar)");
			peerfilter_free(f);
			return -1;
		}
	}
	f->n = (size_t)n;
	return 0;
}

void peerfilter_free(struct peerfilter *f)
{
	free(f->keys);
	f->keys = NULL;
	f->n = 0;
}

bool peerfilter_has(const struct peerfilter *f, const uint8_t key[32])
{
	if (!f->n)
		return true;
	for (size_t i = 0; i < f->n; i++)
		if (!memcmp(f->keys[i], key, 32))
			return true;
	return false;
}

bool packet_peer(const struct ts_host_services *host, const struct ts_packet *pkt, uint8_t out[32])
{
	const uint8_t *p = pkt->data;
	size_t off;
	uint32_t idx;

	if (pkt->peer_public_key) {
		memcpy(out, pkt->peer_public_key, 32);
		return true;
	}
	if (pkt->hook != TS_HOOK_CIPHERTEXT_IN || pkt->len < 16 || p[1] || p[2] || p[3])
		return false;
	/* Where the receiver index (ours, little-endian) sits in each message. */
	if (p[0] == 2 && pkt->len == 92)
		off = 8;
	else if ((p[0] == 3 && pkt->len == 64) || (p[0] == 4 && pkt->len >= 32))
		off = 4;
	else
		return false;
	memcpy(&idx, p + off, 4);
	return host->peer_by_index(host, le32toh(idx), out) == 0;
}

static bool same_endpoint(const union ts_plugin_endpoint *a, const union ts_plugin_endpoint *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_port == b->in.sin_port &&
		       a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16);
	return false;
}

bool peerfilter_match(const struct peerfilter *f, const struct ts_host_services *host,
		      const struct ts_packet *pkt, const uint8_t *peer)
{
	if (!f->n)
		return true;
	if (peer)
		return peerfilter_has(f, peer);
	if (pkt->hook != TS_HOOK_CIPHERTEXT_IN || pkt->len != 148 || pkt->data[0] != 1)
		return false;
	for (size_t i = 0; i < f->n; i++) {
		struct ts_plugin_peer info = {.struct_size = sizeof(info)};

		if (host->peer_info(host, f->keys[i], &info) == 0 &&
		    same_endpoint(&info.endpoint, &pkt->endpoint))
			return true;
	}
	return false;
}
