// SPDX-License-Identifier: MIT
/* The debug plugins' packet record and config checks: see rec.h. */
#include "rec.h"

#include <arpa/inet.h>
#include <string.h>

void rec_fill_packet(struct rec *r, const struct ts_host_services *host,
		     const struct ts_packet *pkt, bool known, size_t keep)
{
	r->real_ns = clock_ns(CLOCK_REALTIME);
	r->flags = known ? REC_HAVE_PEER : 0;
	r->orig_len = pkt->len > UINT32_MAX ? UINT32_MAX : (uint32_t)pkt->len;
	r->cap_len = (uint32_t)(pkt->len < keep ? pkt->len : keep);
	if (pkt->hook == TS_HOOK_CIPHERTEXT_OUT || pkt->hook == TS_HOOK_CIPHERTEXT_IN) {
		r->remote = pkt->endpoint;
		r->local = pkt->local;
		/* An unknown local address still has our port (sin_port is sin6_port). */
		if (!r->local.sa.sa_family && !r->local.in.sin_port)
			r->local.in.sin_port = htons(host->listen_port(host));
	}
}

const char *config_unknown_key(const struct ts_host_services *host,
			       const struct ts_config_node *config, const char *const *known,
			       size_t n)
{
	const char *k;

	for (size_t i = 0; (k = host->config_key_at(host, config, i)); i++) {
		size_t j;

		for (j = 0; j < n; j++)
			if (!strcmp(k, known[j]))
				break;
		if (j == n)
			return k;
	}
	return NULL;
}

bool config_has_key(const struct ts_host_services *host, const struct ts_config_node *config,
		    const char *key)
{
	const char *k;

	for (size_t i = 0; (k = host->config_key_at(host, config, i)); i++)
		if (!strcmp(k, key))
			return true;
	return false;
}
