/* SPDX-License-Identifier: MIT */
/*
 * Test plugin: rewrites packets.  Config (all optional):
 *   offset: N, xor: N   data[offset] ^= xor
 *   prepend: N          grow N bytes into the headroom, filled with 0xAB (DROP if no room)
 *   append: N           grow N bytes into the tailroom, filled with 0xCD (DROP if no room)
 *   redirect: A.B.C.D:PORT   set the endpoint (IPv4)
 *   break_bounds: true  move data without adjusting headroom (the host must drop)
 *   overrun: N          grow N bytes unchecked: len += N, tailroom -= N even past
 *                       zero, so both ends still add up (the host must drop)
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tinescale/plugin.h>

struct rw {
	long long offset, xor_, prepend, append, overrun;
	bool redirect, break_bounds;
	union ts_plugin_endpoint ep;
};

static int create(const struct ts_host_services *host, const struct ts_config_node *config,
		  void **state, char *err, size_t errlen)
{
	struct rw *s = calloc(1, sizeof(*s));
	const char *r;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->offset = -1;
	host->config_int(host, config, "offset", &s->offset);
	host->config_int(host, config, "xor", &s->xor_);
	host->config_int(host, config, "prepend", &s->prepend);
	host->config_int(host, config, "append", &s->append);
	host->config_int(host, config, "overrun", &s->overrun);
	host->config_bool(host, config, "break_bounds", &s->break_bounds);
	r = host->config_string(host, config, "redirect");
	if (r) {
		char ip[64];
		unsigned int port;

		if (sscanf(r, "%63[0-9.]:%u", ip, &port) != 2 || port > 65535 ||
		    inet_pton(AF_INET, ip, &s->ep.in.sin_addr) != 1) {
			snprintf(err, errlen, "bad redirect '%s', expected A.B.C.D:PORT", r);
			free(s);
			return -1;
		}
		s->ep.in.sin_family = AF_INET;
		s->ep.in.sin_port = htons((uint16_t)port);
		s->redirect = true;
	}
	if (s->prepend < 0 || s->append < 0 || s->overrun < 0) {
		snprintf(err, errlen, "prepend/append must not be negative");
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static void destroy(void *state)
{
	free(state);
}

static enum ts_verdict hook(void *state, struct ts_packet *pkt)
{
	struct rw *s = state;

	if (s->offset >= 0 && (size_t)s->offset < pkt->len)
		pkt->data[s->offset] ^= (uint8_t)s->xor_;
	if (s->prepend) {
		if ((size_t)s->prepend > pkt->headroom)
			return TS_DROP;
		pkt->data -= s->prepend;
		pkt->headroom -= (size_t)s->prepend;
		pkt->len += (size_t)s->prepend;
		memset(pkt->data, 0xAB, (size_t)s->prepend);
	}
	if (s->append) {
		if ((size_t)s->append > pkt->tailroom)
			return TS_DROP;
		memset(pkt->data + pkt->len, 0xCD, (size_t)s->append);
		pkt->len += (size_t)s->append;
		pkt->tailroom -= (size_t)s->append;
	}
	if (s->redirect && pkt->hook == TS_HOOK_CIPHERTEXT_OUT)
		pkt->endpoint = s->ep;
	if (s->overrun) {
		pkt->len += (size_t)s->overrun;
		pkt->tailroom -= (size_t)s->overrun; /* wraps when there is less room */
	}
	if (s->break_bounds && pkt->headroom)
		pkt->data--; /* forgot headroom--: the buffer's start moved */
	return TS_PASS;
}

#ifdef TS_TEST_V1 /* built against the frozen 1.x header too */
#define DESC	 ts_plugin_v1
#define DESC_SYM tinescale_plugin_v1
#else
#define DESC	 ts_plugin_v2
#define DESC_SYM tinescale_plugin_v2
#endif

TS_PLUGIN_EXPORT const struct DESC DESC_SYM = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct DESC),
    .name = "rewrite",
    .version = "0.2",
    .create = create,
    .destroy = destroy,
    .plaintext_out = hook,
    .ciphertext_out = hook,
    .ciphertext_in = hook,
    .plaintext_in = hook,
#ifndef TS_TEST_V1
    .wire_overhead = 7, /* prepend 4 + append 3, as test_pipeline configures it */
#endif
};
