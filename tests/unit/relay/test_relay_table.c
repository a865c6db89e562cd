// SPDX-License-Identifier: MIT
/*
 * Unit test of tinescale-relay's state (core/relay/relay_server_table.c and
 * relay_cookie.c), the parts issue 14 is about: cookies (bound to IP and
 * port, accepted under the current and previous secret only), token
 * buckets (rate and burst), per-IP budgets keyed by the IPv4 address or the
 * IPv6 /64 and not by port, several keys per address with a cap and no
 * stealing, SEND senders found by token, the replay floor capped at the
 * relay's clock + 10 s, and expiry after the (scaled) lifetime.
 */
#include "../testutil.h"
#include "relay_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define S 1000000000ULL

/* The table needs memory; a test that cannot get it fails, it does not crash. */
#define TABLE_INIT(t, c)                                                                           \
	do {                                                                                       \
		if (relay_table_init(t, c) < 0) {                                                  \
			CHECK(!"relay_table_init");                                                \
			return;                                                                    \
		}                                                                                  \
	} while (0)

static struct tsr_addr v4(const char *ip, uint16_t port)
{
	struct tsr_addr a = {.family = 4, .port = port};

	inet_pton(AF_INET, ip, a.addr);
	return a;
}

static struct tsr_addr v6(const char *ip, uint16_t port)
{
	struct tsr_addr a = {.family = 6, .port = port};

	inet_pton(AF_INET6, ip, a.addr);
	return a;
}

static void test_cookies(void)
{
	struct relay_cookies c;
	struct tsr_addr a = v4("198.51.100.1", 51820), b = a;
	uint8_t ck[TSR_COOKIE_LEN], zero[TSR_COOKIE_LEN] = {0};
	const uint64_t rot = 120 * S;

	relay_cookies_init(&c, rot, 1000 * S);
	relay_cookie_make(&c, ck, &a);
	CHECK(relay_cookie_valid(&c, ck, &a));
	/* Another port or another IP: not valid (the cookie proves IP and port). */
	b.port++;
	CHECK(!relay_cookie_valid(&c, ck, &b));
	b = a;
	b.addr[3]++;
	CHECK(!relay_cookie_valid(&c, ck, &b));
	/* No cookie is never valid, even though it is a possible MAC value. */
	CHECK(!relay_cookie_valid(&c, zero, &a));
	/* Not yet time: the same secret. */
	relay_cookies_rotate(&c, 1000 * S + rot - 1);
	CHECK(relay_cookie_valid(&c, ck, &a));
	/* One rotation: still accepted (previous secret); two: gone. */
	relay_cookies_rotate(&c, 1000 * S + rot);
	CHECK(relay_cookie_valid(&c, ck, &a));
	relay_cookie_make(&c, zero, &a);
	CHECK(memcmp(zero, ck, sizeof(ck)) != 0); /* a new current secret */
	relay_cookies_rotate(&c, 1000 * S + 2 * rot);
	CHECK(!relay_cookie_valid(&c, ck, &a));
	relay_cookies_wipe(&c);
}

static void test_bucket(void)
{
	struct relay_rate r = {.pps = 10, .burst = 20, .bps = 0};
	struct relay_bucket b = {0};
	int n = 0;

	/* A fresh bucket holds the burst. */
	while (relay_bucket_take(&r, &b, 1000, 5 * S) && n < 1000)
		n++;
	CHECK_MSG(n == 20, "burst %d", n);
	/* 0.5 s later: 5 more; bps 0 means bytes are not counted. */
	n = 0;
	while (relay_bucket_take(&r, &b, 1000000, 5 * S + S / 2) && n < 1000)
		n++;
	CHECK_MSG(n == 5, "refill %d", n);
	/* Never above the burst after a long pause. */
	n = 0;
	while (relay_bucket_take(&r, &b, 1, 500 * S) && n < 1000)
		n++;
	CHECK_MSG(n == 20, "after a pause %d", n);
	/* A byte budget. */
	struct relay_rate rb = {.pps = 1000, .burst = 1000, .bps = 3000};
	struct relay_bucket bb = {0};

	CHECK(relay_bucket_take(&rb, &bb, 2000, S));
	CHECK(!relay_bucket_take(&rb, &bb, 2000, S));
	CHECK(relay_bucket_take(&rb, &bb, 1000, S));
}

static struct relay_config cfg(unsigned max_peers)
{
	return (struct relay_config){
	    .max_peers = max_peers,
	    .rate_pps = 100,
	    .rate_bps = 150000,
	    .dh_rate = 50,
	    .ttl_ns = 30 * S,
	};
}

static void test_ip_slots(void)
{
	struct relay_config c = cfg(16);
	struct relay_table t;
	struct tsr_addr a = v4("203.0.113.5", 1000), b = a;
	struct relay_ip_slot *s1, *s2;
	int n = 0;

	TABLE_INIT(&t, &c);
	s1 = relay_ip_slot(&t, &a, S);
	/* Rotating the port gives the same budget: one IP, one X25519 budget. */
	for (uint16_t p = 1; p < 200; p++) {
		b.port = p;
		s2 = relay_ip_slot(&t, &b, S);
		CHECK(s2 == s1);
		if (relay_bucket_take(&t.rate_dh_ip, &s2->dh, 0, S))
			n++;
	}
	CHECK_MSG(n == RELAY_DH_IP_BURST, "%d X25519 for one IP on 199 ports", n);
	/* Another IPv4 address: its own budget. */
	b = v4("203.0.113.6", 1000);
	CHECK(relay_ip_slot(&t, &b, S) != s1);
	/* IPv6: one budget per /64, whatever the interface identifier. */
	struct tsr_addr x = v6("2001:db8:1:2::1", 1), y = v6("2001:db8:1:2:ffff::9", 2),
			z = v6("2001:db8:1:3::1", 1);

	s1 = relay_ip_slot(&t, &x, S);
	CHECK(relay_ip_slot(&t, &y, S) == s1);
	CHECK(relay_ip_slot(&t, &z, S) != s1);
	/* Memory is fixed: 100,000 sources recycle the same slots. */
	for (unsigned i = 0; i < 100000; i++) {
		struct tsr_addr r = {.family = 4, .port = 1};

		memcpy(r.addr, &i, 4);
		(void)relay_ip_slot(&t, &r, 2 * S);
	}
	CHECK(t.ip_slot_evictions > 0);
	relay_table_free(&t);
}

static struct relay_reg *add_bound(struct relay_table *t, const struct tsr_addr *a, uint64_t now,
				   int *bind_result)
{
	uint8_t key[32];
	struct relay_reg *r;
	struct sockaddr_storage ss;
	socklen_t sl;

	randombytes_buf(key, sizeof(key));
	r = relay_reg_add(t, key, now, 1700000000ULL * S);
	if (!r)
		return NULL;
	randombytes_buf(r->k, sizeof(r->k));
	tsr_addr_to_sockaddr(a, &ss, &sl);
	*bind_result = relay_reg_bind(t, r, (struct sockaddr *)&ss, sl, a, now);
	return r;
}

static void test_keys_per_addr(void)
{
	struct relay_config c = cfg(32);
	struct relay_table t;
	struct tsr_addr a = v4("198.51.100.1", 51820), other = v4("198.51.100.1", 51821);
	struct relay_reg *regs[RELAY_KEYS_PER_ADDR + 1], *r;
	uint8_t tok[TSR_TOKEN_LEN];
	bool any;
	int res;

	TABLE_INIT(&t, &c);
	for (int i = 0; i < RELAY_KEYS_PER_ADDR; i++) {
		regs[i] = add_bound(&t, &a, S, &res);
		CHECK(regs[i] && res == 1);
	}
	/* The next key at that IP:port is refused; nobody is pushed out. */
	regs[RELAY_KEYS_PER_ADDR] = add_bound(&t, &a, S, &res);
	CHECK(regs[RELAY_KEYS_PER_ADDR] && res == -ENOSPC);
	CHECK(regs[RELAY_KEYS_PER_ADDR]->addr.family == 0);
	for (int i = 0; i < RELAY_KEYS_PER_ADDR; i++) {
		CHECK(tsr_addr_equal(&regs[i]->addr, &a));
		CHECK(relay_find_key(&t, regs[i]->key, S) == regs[i]);
	}
	/* Each sender is found by its own token, and only by it. */
	for (int i = 0; i < RELAY_KEYS_PER_ADDR; i++) {
		tsr_send_token(tok, regs[i]->k, &a);
		CHECK(relay_find_sender(&t, &a, tok, S, &any) == regs[i] && any);
		CHECK(relay_find_sender(&t, &other, tok, S, &any) == NULL);
		CHECK(!any);
	}
	randombytes_buf(tok, sizeof(tok));
	CHECK(relay_find_sender(&t, &a, tok, S, &any) == NULL && any);
	/* A registered key moves (the caller has checked the cookie): its token follows. */
	struct sockaddr_storage ss;
	socklen_t sl;

	tsr_addr_to_sockaddr(&other, &ss, &sl);
	CHECK(relay_reg_bind(&t, regs[0], (struct sockaddr *)&ss, sl, &other, 2 * S) == 1);
	tsr_send_token(tok, regs[0]->k, &other);
	CHECK(relay_find_sender(&t, &other, tok, 2 * S, &any) == regs[0]);
	tsr_send_token(tok, regs[0]->k, &a);
	CHECK(relay_find_sender(&t, &a, tok, 2 * S, &any) == NULL);
	/* Now there is room at a again. */
	tsr_addr_to_sockaddr(&a, &ss, &sl);
	r = regs[RELAY_KEYS_PER_ADDR];
	CHECK(relay_reg_bind(&t, r, (struct sockaddr *)&ss, sl, &a, 2 * S) == 1);
	/* The same address again is a refresh. */
	CHECK(relay_reg_bind(&t, r, (struct sockaddr *)&ss, sl, &a, 3 * S) == 0);

	/* Expiry after ttl_ns without a refresh: unbound, counted, no longer a sender. */
	tsr_send_token(tok, r->k, &a);
	relay_table_expire(&t, 3 * S + c.ttl_ns - 1, 1700000000ULL * S);
	CHECK(relay_find_sender(&t, &a, tok, 3 * S + c.ttl_ns - 1, &any) == r);
	relay_table_expire(&t, 3 * S + c.ttl_ns, 1700000000ULL * S);
	CHECK(relay_find_key(&t, r->key, 3 * S + c.ttl_ns) == NULL);
	CHECK(t.expired > 0);
	relay_table_free(&t);
}

static void test_replay_floor(void)
{
	struct relay_config c = cfg(2);
	struct relay_table t;
	const uint64_t now_rt = 1700000000ULL * S;
	uint8_t key[32];
	struct relay_reg *r;

	TABLE_INIT(&t, &c);
	/* Two expired entries whose timestamps are far in the future (as a v1 relay took). */
	for (int i = 0; i < 2; i++) {
		randombytes_buf(key, sizeof(key));
		r = relay_reg_add(&t, key, S, now_rt);
		CHECK(r != NULL);
		r->replay.last_ns = now_rt + 115 * S;
	}
	/* A new key evicts one: the floor rises to at most the clock + 10 s. */
	randombytes_buf(key, sizeof(key));
	r = relay_reg_add(&t, key, 100 * S, now_rt);
	CHECK(r != NULL);
	CHECK_MSG(t.replay_floor_ns <= now_rt + TSR_MAX_FUTURE_NS, "floor %llu",
		  (unsigned long long)(t.replay_floor_ns - now_rt));
	CHECK(r->replay.last_ns == t.replay_floor_ns);
	/* A live registration is never evicted: the table is full. */
	{
		struct sockaddr_storage ss;
		socklen_t sl;
		struct tsr_addr a = v4("192.0.2.9", 9);
		uint8_t k2[32];

		tsr_addr_to_sockaddr(&a, &ss, &sl);
		for (unsigned i = 0; i < c.max_peers; i++) {
			if (t.regs[i].used)
				CHECK(relay_reg_bind(&t, &t.regs[i], (struct sockaddr *)&ss, sl, &a,
						     100 * S) >= 0);
		}
		randombytes_buf(k2, sizeof(k2));
		CHECK(relay_reg_add(&t, k2, 101 * S, now_rt) == NULL);
	}
	relay_table_free(&t);
}

int main(void)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	test_cookies();
	test_bucket();
	test_ip_slots();
	test_keys_per_addr();
	test_replay_floor();
	if (failures) {
		fprintf(stderr, "test_relay_table: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_relay_table: ok\n");
	return 0;
}
