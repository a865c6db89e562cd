// SPDX-License-Identifier: MIT
/* The JSON writer: see json.h. */
#include "json.h"

#include <inttypes.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, surrogates, > U+10FFFF), or 0.
 */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		unsigned char lo = s[0] == 0xe0 ? 0xa0 : 0x80, hi = s[0] == 0xed ? 0x9f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		unsigned char lo = s[0] == 0xf0 ? 0x90 : 0x80, hi = s[0] == 0xf4 ? 0x8f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80
			   ? 4
			   : 0;
	}
	return 0;
}

void ts_json_quote(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		size_t n;

		if (*s == '"' || *s == '\\') {
			fputc('\\', f);
			fputc(*s++, f);
		} else if (*s == '\n') {
			fputs("\\n", f);
			s++;
		} else if (*s == '\t') {
			fputs("\\t", f);
			s++;
		} else if (*s == '\r') {
			fputs("\\r", f);
			s++;
		} else if (*s < 0x20 || *s == 0x7f) {
			fprintf(f, "\\u%04x", *s++);
		} else if (*s < 0x80) {
			fputc(*s++, f);
		} else if ((n = utf8_len(s))) {
			/* utf8_len stops at a NUL: every byte it checked is part of the string. */
			fwrite(s, 1, n, f);
			s += n;
		} else {
			fputs("\\ufffd", f);
			s++;
		}
	}
	fputc('"', f);
}

/* The comma before a value and its member name. */
static void member(struct ts_json *j, const char *key)
{
	if (j->need_comma[j->depth])
		fputc(',', j->f);
	j->need_comma[j->depth] = true;
	if (key) {
		ts_json_quote(j->f, key);
		fputc(':', j->f);
	}
}

void ts_json_init(struct ts_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

static void open_(struct ts_json *j, const char *key, char c)
{
	member(j, key);
	fputc(c, j->f);
	if (j->depth < TS_JSON_DEPTH)
		j->depth++;
	j->need_comma[j->depth] = false;
}

static void close_(struct ts_json *j, char c)
{
	fputc(c, j->f);
	if (j->depth)
		j->depth--;
}

void ts_json_open_object(struct ts_json *j, const char *key)
{
	open_(j, key, '{');
}

void ts_json_close_object(struct ts_json *j)
{
	close_(j, '}');
}

void ts_json_open_array(struct ts_json *j, const char *key)
{
	open_(j, key, '[');
}

void ts_json_close_array(struct ts_json *j)
{
	close_(j, ']');
}

void ts_json_string(struct ts_json *j, const char *key, const char *s)
{
	member(j, key);
	if (s)
		ts_json_quote(j->f, s);
	else
		fputs("null", j->f);
}

void ts_json_uint(struct ts_json *j, const char *key, uint64_t v)
{
	member(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

void ts_json_int(struct ts_json *j, const char *key, int64_t v)
{
	member(j, key);
	fprintf(j->f, "%" PRId64, v);
}

void ts_json_bool(struct ts_json *j, const char *key, bool v)
{
	member(j, key);
	fputs(v ? "true" : "false", j->f);
}

void ts_json_null(struct ts_json *j, const char *key)
{
	member(j, key);
	fputs("null", j->f);
}

void ts_json_end(struct ts_json *j)
{
	fputc('\n', j->f);
}
