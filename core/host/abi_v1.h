/* SPDX-License-Identifier: MIT */
/*
 * The plugin ABI version 1, frozen: the layouts a plugin built against the
 * 1.x header (symbol tinescale_plugin_v1) expects.  The host still loads
 * such plugins and hands them these views of packets and events; the
 * public header only describes version 2.  Never change this file.
 */
#ifndef TS_ABI_V1_H
#define TS_ABI_V1_H

#include <stddef.h>
#include <stdint.h>

#include <tinescale/plugin.h>

#define TS_PLUGIN_V1_SYMBOL "tinescale_plugin_v1"

struct ts_packet_v1 {
	uint8_t *data;
	size_t len;
	size_t headroom;
	size_t tailroom;
	union ts_plugin_endpoint endpoint;
	const uint8_t *peer_public_key;
	enum ts_hook hook;
	union ts_plugin_endpoint local;
};

struct ts_event_v1 {
	enum ts_event_type type;
	const uint8_t *public_key;
	union ts_plugin_endpoint endpoint;
	const struct ts_handshake_secrets *secrets;
};

typedef enum ts_verdict (*ts_hook_fn_v1)(void *state, struct ts_packet_v1 *pkt);

struct ts_plugin_v1 {
	uint32_t abi_version; /* 1 */
	uint32_t struct_size;
	const char *name;
	const char *version;
	int (*create)(const struct ts_host_services *host, const struct ts_config_node *config,
		      void **state, char *err, size_t errlen);
	void (*destroy)(void *state);
	ts_hook_fn_v1 plaintext_out;
	ts_hook_fn_v1 ciphertext_out;
	ts_hook_fn_v1 ciphertext_in;
	ts_hook_fn_v1 plaintext_in;
	void (*event)(void *state, const struct ts_event_v1 *ev);
};

#endif
