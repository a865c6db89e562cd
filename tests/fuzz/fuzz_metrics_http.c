/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for what a scraper (or anyone who reaches --metrics)
 * sends: ts_http_parse_request() over every prefix of the input, as the
 * responder calls it while bytes arrive.  It must only ever answer one of
 * its documented statuses, answer 0 (more) only while the head may still
 * be incomplete, and never change its mind once a prefix was decided;
 * and the JSON string and exposition label writers must keep a newline of
 * the input from ending their line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "metrics_http.h"
#include "prom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_writers(const uint8_t *data, size_t size)
{
	char s[512], *out = NULL;
	size_t len = 0;
	FILE *f;

	if (size >= sizeof(s))
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	f = open_memstream(&out, &len);
	if (!f)
		return;
	ts_json_quote(f, s);
	fputc('\n', f);
	{
		const char *l[] = {"v", s, NULL};

		ts_prom_sample(f, "m", l, 1);
	}
	fclose(f);
	/* One line each: escaping leaves no raw newline of the input. */
	for (size_t i = 0, nl = 0; i < len; i++)
		if (out[i] == '\n' && ++nl > 2)
			abort();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int decided = 0;

	for (size_t n = 0; n <= size; n++) {
		int st = ts_http_parse_request((const char *)data, n);

		if (st != 0 && st != 200 && st != 400 && st != 404 && st != 405 && st != 431)
			abort();
		if (st == 0 && n >= TS_HTTP_MAX_REQUEST)
			abort();
		if (decided && st != decided)
			abort();
		if (st)
			decided = st;
	}
	check_writers(data, size);
	return 0;
}
