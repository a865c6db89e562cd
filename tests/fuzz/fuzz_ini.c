/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for `wg setconf` INI text (--config files), parsed from
 * memory by ts_config_parse_ini_string(), the function the file loader
 * uses.  Name lookups are disabled (TS_INI_NO_DNS) so runs stay hermetic.
 * An accepted file must format as a get reply that parses back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned modes[] = {TS_INI_NO_DNS, TS_INI_NO_DNS | TS_INI_ALLOW_QUICK};
	struct ts_ini_extras x;
	struct ts_config c, again;
	char err[256];

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		int ret = ts_config_parse_ini_string((const char *)data, size, "fuzz.conf",
						     modes[i], &c, &x, err, sizeof(err));

		if (ret == 0) {
			size_t len;
			char *text = ts_config_format_uapi(&c, &len);

			if (!text || ts_config_parse_uapi(text, len, TS_PARSE_GET, &again, NULL, 0))
				abort();
			if (again.n_peers != c.n_peers)
				abort();
			ts_config_free(&again);
			ts_config_free_text(text, len);
			for (size_t j = 0; j < x.n_addresses; j++)
				if (!x.addresses[j] || !x.addresses[j][0])
					abort();
		} else if (!err[0] || c.n_peers || c.peers || x.n_addresses) {
			abort();
		}
		ts_ini_extras_free(&x);
		ts_config_free(&c);
	}
	return 0;
}
