// SPDX-License-Identifier: MIT
/*
 * The text the observability features hand to other programs: the JSON
 * writer (escapes, U+FFFD for bytes that are not UTF-8, commas and nesting),
 * the Prometheus exposition (HELP/TYPE, label escaping) and the /metrics
 * request parser (what it answers to well-formed, foreign and hostile
 * requests, and that it waits for the whole head).
 */
#include <stdlib.h>

#include "json.h"
#include "metrics_http.h"
#include "prom.h"
#include "testutil.h"

/* What fn wrote, as a string (freed by the caller). */
#define CAPTURE(buf, stmt)                                                                         \
	do {                                                                                       \
		size_t len_ = 0;                                                                   \
		FILE *f = open_memstream(&(buf), &len_);                                           \
		if (!f)                                                                            \
			abort();                                                                   \
		stmt;                                                                              \
		fclose(f);                                                                         \
	} while (0)

static void check_quote(const char *in, const char *want)
{
	char *out = NULL;

	CAPTURE(out, ts_json_quote(f, in));
	CHECK_MSG(!strcmp(out, want), "quote: got %s, expected %s", out, want);
	free(out);
}

static void test_json(void)
{
	char *out = NULL;
	struct ts_json j;

	check_quote("plain", "\"plain\"");
	check_quote("a\"b\\c", "\"a\\\"b\\\\c\"");
	check_quote("l1\nl2\tt\rr", "\"l1\\nl2\\tt\\rr\"");
	check_quote("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	check_quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* Not UTF-8: a lone continuation, a truncated sequence, an overlong, a surrogate. */
	check_quote("\x80x", "\"\\ufffdx\"");
	check_quote("\xe2\x82", "\"\\ufffd\\ufffd\"");
	check_quote("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	check_quote("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");

	CAPTURE(out, {
		ts_json_init(&j, f);
		ts_json_open_object(&j, NULL);
		ts_json_string(&j, "s", "x");
		ts_json_string(&j, "n", NULL);
		ts_json_uint(&j, "u", 18446744073709551615ull);
		ts_json_int(&j, "i", -5);
		ts_json_open_array(&j, "a");
		ts_json_bool(&j, NULL, true);
		ts_json_open_object(&j, NULL);
		ts_json_close_object(&j);
		ts_json_null(&j, NULL);
		ts_json_close_array(&j);
		ts_json_open_array(&j, "empty");
		ts_json_close_array(&j);
		ts_json_close_object(&j);
		ts_json_end(&j);
	});
	CHECK_MSG(!strcmp(out, "{\"s\":\"x\",\"n\":null,\"u\":18446744073709551615,\"i\":-5,"
			       "\"a\":[true,{},null],\"empty\":[]}\n"),
		  "document: %s", out);
	free(out);
}

static void test_prom(void)
{
	char *out = NULL;
	const char *l[] = {"peer", "a\\b\"c\nd", "hook", "x", NULL};

	CAPTURE(out, {
		ts_prom_family(f, "m_total", "counter", "Things.");
		ts_prom_sample(f, "m_total", l, 7);
		ts_prom_sample(f, "m_total", NULL, 0);
		ts_prom_sample_f(f, "s_sum", NULL, 0.25);
	});
	CHECK_MSG(
	    !strcmp(out, "# HELP m_total Things.\n# TYPE m_total counter\n"
			 "m_total{peer=\"a\\\\b\\\"c\\nd\",hook=\"x\"} 7\nm_total 0\ns_sum 0.25\n"),
	    "exposition: %s", out);
	free(out);
}

static void check_http(const char *req, int want)
{
	int got = ts_http_parse_request(req, strlen(req));

	CHECK_MSG(got == want, "%d for '%s', expected %d", got, req, want);
}

static void test_http(void)
{
	char big[TS_HTTP_MAX_REQUEST + 16];

	check_http("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", 200);
	check_http("GET /metrics HTTP/1.0\r\n\r\n", 200);
	check_http("GET /metrics?name[]=x HTTP/1.1\n\n", 200);
	check_http("GET /metrics HTTP/1.1\r\nHost: x\r\n", 0); /* not finished yet */
	check_http("GET /metrics", 0);
	check_http("", 0);
	check_http("GET / HTTP/1.1\r\n\r\n", 404);
	check_http("GET /metricsX HTTP/1.1\r\n\r\n", 404);
	check_http("GET /metrics/ HTTP/1.1\r\n\r\n", 404);
	check_http("POST /metrics HTTP/1.1\r\n\r\n", 405);
	check_http("HEAD /metrics HTTP/1.1\r\n\r\n", 405);
	check_http("GET /metrics HTTP/2.0\r\n\r\n", 400);
	check_http("GET /metrics HTTP/1.1 x\r\n\r\n", 400);
	check_http("GET  /metrics HTTP/1.1\r\n\r\n", 400);
	check_http("GET /met\x01rics HTTP/1.1\r\n\r\n", 400);
	check_http("\r\n\r\n", 400);
	check_http("GET\r\n\r\n", 400);
	memset(big, 'a', sizeof(big));
	CHECK(ts_http_parse_request(big, TS_HTTP_MAX_REQUEST - 1) == 0);
	CHECK(ts_http_parse_request(big, TS_HTTP_MAX_REQUEST) == 431);
	CHECK(ts_http_parse_request(big, sizeof(big)) == 431);
	/* A head that ends just inside the limit is read; bytes past it are the body's. */
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	memcpy(big + TS_HTTP_MAX_REQUEST - 4, "\r\n\r\n", 4);
	CHECK(ts_http_parse_request(big, sizeof(big)) == 200);
}

int main(void)
{
	test_json();
	test_prom();
	test_http();
	if (!failures)
		printf("test_observe_text: all checks passed\n");
	return failures ? 1 : 0;
}
