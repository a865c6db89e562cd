/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per event, to stderr in the foreground and to syslog
 * once daemonised.  Attacker-reachable paths use ts_log_ratelimited() so a
 * flood of bad packets cannot flood the log.  Never pass key material.
 */
#ifndef TS_LOG_H
#define TS_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* The levels are the plugin ABI's (enum ts_log_level): one scale for both. */
#include <tinescale/plugin.h>

void ts_log_set_level(int level);
int ts_log_get_level(void);
/* "error", "warn", "info", "debug" -> level, or -1. */
int ts_log_level_parse(const char *name);
/* Prefix every line with this (the interface name); copied. */
void ts_log_set_prefix(const char *prefix);
void ts_log_to_syslog(bool on);
void ts_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A token bucket per call site: at most 'burst' lines, refilled 1/s. */
struct ts_ratelimit {
	_Atomic uint64_t last_ns;
	_Atomic unsigned tokens;
	_Atomic unsigned missed;
};
bool ts_ratelimit_allow(struct ts_ratelimit *rl, unsigned burst);

#define ts_err(...)  ts_log(TS_LOG_ERROR, __VA_ARGS__)
#define ts_warn(...) ts_log(TS_LOG_WARN, __VA_ARGS__)
#define ts_info(...) ts_log(TS_LOG_INFO, __VA_ARGS__)
#define ts_debug(...)                                                                              \
	do {                                                                                       \
		if (ts_log_get_level() >= TS_LOG_DEBUG)                                            \
			ts_log(TS_LOG_DEBUG, __VA_ARGS__);                                         \
	} while (0)

/* Rate-limited per call site (10 lines, then 1 per second). */
#define ts_log_ratelimited(level, ...)                                                             \
	do {                                                                                       \
		static struct ts_ratelimit rl_;                                                    \
		if (ts_log_get_level() >= (level) && ts_ratelimit_allow(&rl_, 10))                 \
			ts_log(level, __VA_ARGS__);                                                \
	} while (0)

#endif
