/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text exposition format 0.0.4, the writing side: a family's
 * # HELP and # TYPE lines, then samples with escaped label values.  Used by
 * the daemon's and tinescale-relay's /metrics (metrics_http.h serves them).
 */
#ifndef TS_PROM_H
#define TS_PROM_H

#include <stdint.h>
#include <stdio.h>

/* # HELP name help / # TYPE name type (counter, gauge, summary). */
void ts_prom_family(FILE *f, const char *name, const char *type, const char *help);
/*
 * name{k1="v1",...} value: labels are name/value pairs ending with NULL;
 * values are escaped (backslash, double quote, newline).
 */
void ts_prom_sample(FILE *f, const char *name, const char *const *labels, uint64_t value);
/* The same with a floating value (seconds). */
void ts_prom_sample_f(FILE *f, const char *name, const char *const *labels, double value);

#endif
