/* SPDX-License-Identifier: MIT */
/* Monotonic time for the engine, and the test-only timer scale. */
#ifndef TS_CLOCK_H
#define TS_CLOCK_H

#include <stdint.h>
#include <time.h>

#define NSEC_PER_SEC  1000000000ULL
#define NSEC_PER_MSEC 1000000ULL

/* CLOCK_BOOTTIME: keeps counting across suspend, like the kernel's jiffies. */
static inline uint64_t ts_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/*
 * How long before 'now' 'then' was; 0 when 'then' is later.  A thread reads
 * the clock, then takes a lock: another thread may have stored a later time
 * under it meanwhile (a keypair's birthdate, a last-seen time).  Unsigned
 * subtraction would make that age about 584 years: a fresh session expired,
 * a rate limiter's source forgotten.  Every age is taken with this.
 */
static inline uint64_t ts_age_ns(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/* True when 'then' (ns) lies more than 'ns' nanoseconds in the past, or is 0. */
static inline int ts_has_expired(uint64_t then, uint64_t ns, uint64_t now)
{
	return then == 0 || ts_age_ns(now, then) > ns;
}

#endif
