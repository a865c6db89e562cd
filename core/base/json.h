/* SPDX-License-Identifier: MIT */
/*
 * A small JSON writer for `tinescale ctl ... --json`: objects, arrays,
 * strings (escaped per RFC 8259; bytes that are not UTF-8 become U+FFFD),
 * integers, booleans and null, with the commas placed for the caller.
 * Output is compact, one document per call sequence, a newline at the end.
 */
#ifndef TS_JSON_H
#define TS_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define TS_JSON_DEPTH 16

struct ts_json {
	FILE *f;
	unsigned int depth;
	bool need_comma[TS_JSON_DEPTH + 1];
};

void ts_json_init(struct ts_json *j, FILE *f);
/* key: the member name inside an object; NULL at the top or inside an array. */
void ts_json_open_object(struct ts_json *j, const char *key);
void ts_json_close_object(struct ts_json *j);
void ts_json_open_array(struct ts_json *j, const char *key);
void ts_json_close_array(struct ts_json *j);
/* s NULL writes null. */
void ts_json_string(struct ts_json *j, const char *key, const char *s);
void ts_json_uint(struct ts_json *j, const char *key, uint64_t v);
void ts_json_int(struct ts_json *j, const char *key, int64_t v);
void ts_json_bool(struct ts_json *j, const char *key, bool v);
void ts_json_null(struct ts_json *j, const char *key);
/* After the outermost close: the newline. */
void ts_json_end(struct ts_json *j);

/* s as a quoted, escaped JSON string. */
void ts_json_quote(FILE *f, const char *s);

#endif
