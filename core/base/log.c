// SPDX-License-Identifier: MIT
/* Logging sink and the per-call-site rate limiter. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "clock.h"

static _Atomic int log_level = TS_LOG_INFO;
static _Atomic bool log_syslog;
static char log_prefix[64];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void ts_log_set_level(int level)
{
	atomic_store(&log_level, level);
}

int ts_log_get_level(void)
{
	return atomic_load_explicit(&log_level, memory_order_relaxed);
}

int ts_log_level_parse(const char *name)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};

	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	if (strcmp(name, "verbose") == 0)
		return TS_LOG_DEBUG;
	return -1;
}

void ts_log_set_prefix(const char *prefix)
{
	pthread_mutex_lock(&log_lock);
	snprintf(log_prefix, sizeof(log_prefix), "%s", prefix);
	pthread_mutex_unlock(&log_lock);
}

void ts_log_to_syslog(bool on)
{
	if (on)
		openlog("tinescale", LOG_PID, LOG_DAEMON);
	atomic_store(&log_syslog, on);
}

void ts_log(int level, const char *fmt, ...)
{
	static const char *const tags[] = {"ERROR", "WARN", "INFO", "DEBUG"};
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	int saved_errno = errno;
	char msg[1024];
	va_list ap;

	if (level > ts_log_get_level())
		return;
	if (level < 0)
		level = 0;
	if (level > TS_LOG_DEBUG)
		level = TS_LOG_DEBUG;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&log_lock);
	if (atomic_load(&log_syslog)) {
		syslog(prio[level], "%s%s%s", log_prefix, log_prefix[0] ? ": " : "", msg);
	} else {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %-5s %s%s%s\n", when, ts.tv_nsec / 1000000L, tags[level],
			log_prefix, log_prefix[0] ? ": " : "", msg);
	}
	pthread_mutex_unlock(&log_lock);
	errno = saved_errno;
}

bool ts_ratelimit_allow(struct ts_ratelimit *rl, unsigned burst)
{
	/*
	 * Relaxed atomics: threads may race and grant one line too many or
	 * too few, which is harmless; what matters is no data race.
	 */
	uint64_t now = ts_now_ns();
	uint64_t last = atomic_load_explicit(&rl->last_ns, memory_order_relaxed);
	uint64_t age = ts_age_ns(now, last);
	unsigned tokens = atomic_load_explicit(&rl->tokens, memory_order_relaxed);

	if (last == 0 || age >= NSEC_PER_SEC) {
		uint64_t refill = last == 0 ? burst : age / NSEC_PER_SEC;

		tokens = tokens + refill > burst ? burst : tokens + (unsigned)refill;
		atomic_store_explicit(&rl->last_ns, now, memory_order_relaxed);
	}
	if (tokens == 0) {
		atomic_fetch_add_explicit(&rl->missed, 1, memory_order_relaxed);
		atomic_store_explicit(&rl->tokens, 0, memory_order_relaxed);
		return false;
	}
	atomic_store_explicit(&rl->tokens, tokens - 1, memory_order_relaxed);
	return true;
}
