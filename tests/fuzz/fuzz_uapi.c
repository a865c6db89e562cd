/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the text that reaches tinescale from the UAPI socket
 * and --ipc files: ts_config_parse_uapi() in every mode, and on success
 * the get formatter, whose output must parse back and format identically.
 * The same bytes also go to the endpoint, allowed-IP and key decoders,
 * which must re-encode whatever they accept to the very same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_roundtrip(const struct ts_config *c)
{
	struct ts_config again;
	size_t len, len2;
	char *text, *text2;

	text = ts_config_format_uapi(c, &len);
	if (!text)
		abort();
	if (strlen(text) != len || ts_config_parse_uapi(text, len, TS_PARSE_GET, &again, NULL, 0))
		abort();
	text2 = ts_config_format_uapi(&again, &len2);
	if (!text2 || len2 != len || memcmp(text, text2, len))
		abort();
	ts_config_free_text(text2, len2);
	ts_config_free_text(text, len);
	ts_config_free(&again);
}

static void fuzz_small_decoders(const uint8_t *data, size_t size)
{
	char s[256], out[TS_ENDPOINT_STRLEN > TS_KEY_HEX_LEN ? TS_ENDPOINT_STRLEN : TS_KEY_HEX_LEN];
	union ts_endpoint ep, ep2;
	struct ts_allowedip a;
	uint8_t key[32];

	if (size >= sizeof(s))
		return;
	memcpy(s, data, size);
	s[size] = '\0';

	if (!ts_endpoint_parse(&ep, s)) {
		ts_endpoint_str(&ep, out);
		if (ts_endpoint_parse(&ep2, out) || !ts_endpoint_equal(&ep, &ep2))
			abort();
	}
	(void)ts_allowedip_parse(&a, s, true);
	(void)ts_allowedip_parse(&a, s, false);
	if (ts_key_from_hex(key, s)) {
		ts_key_to_hex(out, key);
		if (strcmp(out, s))
			abort();
	}
	if (ts_key_from_base64(key, s)) {
		ts_key_to_base64(out, key);
		if (strcmp(out, s))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned modes[] = {0, TS_PARSE_FILE, TS_PARSE_GET,
					 TS_PARSE_FILE | TS_PARSE_GET};
	struct ts_config c;
	char err[256];

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		int ret =
		    ts_config_parse_uapi((const char *)data, size, modes[i], &c, err, sizeof(err));

		if (ret == 0)
			check_roundtrip(&c);
		else if (!err[0] || strlen(err) >= sizeof(err) || c.n_peers || c.peers)
			abort(); /* every failure explains itself and leaves nothing */
		ts_config_free(&c);
	}
	fuzz_small_decoders(data, size);
	return 0;
}
