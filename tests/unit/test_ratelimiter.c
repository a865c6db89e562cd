// SPDX-License-Identifier: MIT
/*
 * The handshake rate limiter (core/engine/ratelimiter.c): a burst of
 * PACKETS_BURST per source, then PACKETS_PER_SECOND; IPv6 sources grouped
 * by /64; a bounded table that forgets idle sources.  Time is passed in, so
 * nothing here sleeps.
 */
#include <arpa/inet.h>
#include <sodium.h>

#include "clock.h"
#include "ratelimiter.h"
#include "testutil.h"

#define MS NSEC_PER_MSEC

static union ts_endpoint v4(const char *addr, uint16_t port)
{
	union ts_endpoint ep = {0};

	ep.in.sin_family = AF_INET;
	ep.in.sin_port = htons(port);
	inet_pton(AF_INET, addr, &ep.in.sin_addr);
	return ep;
}

static union ts_endpoint v6(const char *addr)
{
	union ts_endpoint ep = {0};

	ep.in6.sin6_family = AF_INET6;
	ep.in6.sin6_port = htons(51820);
	inet_pton(AF_INET6, addr, &ep.in6.sin6_addr);
	return ep;
}

/* How many of n packets from ep at instant now are allowed. */
static int allowed(struct ts_ratelimiter *rl, const union ts_endpoint *ep, uint64_t now, int n)
{
	int ok = 0;

	for (int i = 0; i < n; i++)
		ok += ts_ratelimiter_allow(rl, ep, now);
	return ok;
}

static void test_burst_and_refill(void)
{
	struct ts_ratelimiter rl;
	union ts_endpoint a = v4("192.0.2.1", 1000), a_other_port = v4("192.0.2.1", 2000);
	union ts_endpoint b = v4("192.0.2.2", 1000);
	uint64_t t = 1000 * NSEC_PER_SEC;

	CHECK(ts_ratelimiter_init(&rl, 0) == 0);
	/* A burst of 5 passes, the 6th does not: the port does not make a new source. */
	CHECK(allowed(&rl, &a, t, 3) == 3);
	CHECK(allowed(&rl, &a_other_port, t, 3) == 2);
	/* Another address has its own bucket. */
	CHECK(allowed(&rl, &b, t, 6) == 5);
	/* 49 ms later not a whole packet's worth has come back; at 50 ms one has. */
	CHECK(allowed(&rl, &a, t + 49 * MS, 1) == 0);
	CHECK(allowed(&rl, &a, t + 50 * MS, 2) == 1);
	/* Steady state: 20 a second. */
	{
		int ok = 0;

		for (int i = 1; i <= 100; i++)
			ok += allowed(&rl, &a, t + 50 * MS + (uint64_t)i * 10 * MS, 1);
		CHECK_MSG(ok == 20, "%d packets in one second at 100/s", ok);
	}
	/* Long idle refills the burst, and no more than the burst. */
	CHECK(allowed(&rl, &b, t + 60 * NSEC_PER_SEC, 10) == 5);
	ts_ratelimiter_destroy(&rl);
}

static void test_ipv6_prefix(void)
{
	struct ts_ratelimiter rl;
	union ts_endpoint a1 = v6("2001:db8:1:2::1"), a2 = v6("2001:db8:1:2:ffff::99");
	union ts_endpoint other = v6("2001:db8:1:3::1");
	uint64_t t = 5 * NSEC_PER_SEC;

	CHECK(ts_ratelimiter_init(&rl, 0) == 0);
	CHECK(allowed(&rl, &a1, t, 5) == 5);
	/* The same /64: the same bucket, already empty. */
	CHECK(allowed(&rl, &a2, t, 1) == 0);
	/* The next /64 is another source. */
	CHECK(allowed(&rl, &other, t, 5) == 5);
	CHECK(ts_ratelimiter_count(&rl) == 2);
	ts_ratelimiter_destroy(&rl);
}

static void test_table_bound(void)
{
	struct ts_ratelimiter rl;
	char addr[32];
	uint64_t t = 7 * NSEC_PER_SEC;
	union ts_endpoint unknown = {0};

	CHECK(ts_ratelimiter_init(&rl, 4) == 0);
	for (int i = 0; i < 4; i++) {
		union ts_endpoint ep;

		snprintf(addr, sizeof(addr), "198.51.100.%d", i + 1);
		ep = v4(addr, 1);
		CHECK(ts_ratelimiter_allow(&rl, &ep, t));
	}
	CHECK(ts_ratelimiter_count(&rl) == 4);
	/* Full: a fifth source is refused and not stored... */
	{
		union ts_endpoint fifth = v4("198.51.100.200", 1);

		CHECK(!ts_ratelimiter_allow(&rl, &fifth, t + 10 * MS));
		CHECK(ts_ratelimiter_count(&rl) == 4);
		/* ...while known sources go on. */
		union ts_endpoint first = v4("198.51.100.1", 1);

		CHECK(ts_ratelimiter_allow(&rl, &first, t + 10 * MS));
		/* Once the others have been idle for over a second they are forgotten. */
		CHECK(ts_ratelimiter_allow(&rl, &fifth, t + 1500 * MS));
		CHECK_MSG(ts_ratelimiter_count(&rl) == 1, "%zu sources kept",
			  ts_ratelimiter_count(&rl));
	}
	/* Not an IP source: refused. */
	CHECK(!ts_ratelimiter_allow(&rl, &unknown, t + 2 * NSEC_PER_SEC));
	ts_ratelimiter_destroy(&rl);
}

/*
 * Threads read the clock before taking the limiter's lock, so a call can
 * come with a time earlier than the last one stored.  That is no idle
 * time: the source keeps its empty bucket (it was forgotten, with a fresh
 * burst, when the age wrapped around).
 */
static void test_time_from_before(void)
{
	struct ts_ratelimiter rl;
	union ts_endpoint a = v4("192.0.2.7", 1000);
	uint64_t t = 30 * NSEC_PER_SEC;

	CHECK(ts_ratelimiter_init(&rl, 0) == 0);
	CHECK(allowed(&rl, &a, t, 6) == 5);
	CHECK_MSG(allowed(&rl, &a, t - 1 * MS, 5) == 0,
		  "a time read just before the last call refilled the bucket");
	CHECK(ts_ratelimiter_count(&rl) == 1);
	/* And time goes on from the latest: 50 ms after it, one packet. */
	CHECK(allowed(&rl, &a, t + 50 * MS, 2) == 1);
	ts_ratelimiter_destroy(&rl);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_burst_and_refill();
	test_ipv6_prefix();
	test_table_bound();
	test_time_from_before();
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
