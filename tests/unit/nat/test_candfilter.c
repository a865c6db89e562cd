// SPDX-License-Identifier: MIT
/*
 * test_candfilter: which candidate addresses nat-probe refuses to PING
 * (plugins/nat-probe/candfilter.c), and its rate limits (ratelimit.c):
 * buckets refill at their rate up to their burst, and the per-destination
 * table keys by IP (IPv6: /64), not by port.
 */
#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "../testutil.h"
#include "candfilter.h"
#include "ratelimit.h"

static struct tsr_addr addr(const char *s)
{
	struct tsr_addr a;

	if (tsr_addr_parse(&a, s) != TSR_OK) {
		fprintf(stderr, "bad test address %s\n", s);
		exit(1);
	}
	return a;
}

static struct cf_self self;

static void add_local(const char *s, uint8_t plen)
{
	self.local[self.nlocal].addr = addr(s);
	self.local[self.nlocal++].plen = plen;
}

static void expect(const char *s, enum cf_verdict want)
{
	struct tsr_addr a = addr(s);
	enum cf_verdict v = cf_check(&a, &self);

	CHECK_MSG(v == want, "%s: %s, expected %s", s, cf_verdict_name(v), cf_verdict_name(want));
}

static void test_filter(void)
{
	/* Host B of the NAT lab: its LAN, loopback, the tunnel. */
	add_local("10.2.0.2:0", 24);
	add_local("127.0.0.1:0", 8);
	add_local("10.0.0.2:0", 24);
	add_local("[2001:db8:2::2]:0", 64);
	add_local("[fd00:2::2]:0", 64);
	add_local("[::1]:0", 128);
	self.service[self.nservice++] = addr("198.51.100.2:51820"); /* STUN-mapped */
	self.service[self.nservice++] = addr("192.0.2.3:3478");	    /* relay */
	self.service[self.nservice++] = addr("192.0.2.1:3478");	    /* STUN */

	expect("198.51.100.1:51820", CF_OK); /* the peer's mapped address */
	expect("203.0.113.9:51820", CF_OK);  /* any public address */
	expect("10.2.0.3:51820", CF_OK);     /* a peer on our LAN */
	expect("[2001:db8:9::1]:51820", CF_OK);
	expect("[fd00:2::7]:51820", CF_OK); /* ULA, on-link */
	/* Same IP as our mapped address, another port: a peer behind our NAT. */
	expect("198.51.100.2:40000", CF_OK);
	expect("192.0.2.3:51820", CF_OK); /* the relay's host, another port */

	expect("10.1.0.2:0", CF_PORT);
	expect("0.0.0.0:51820", CF_UNSPECIFIED);
	expect("0.1.2.3:51820", CF_UNSPECIFIED);
	expect("[::]:51820", CF_UNSPECIFIED);
	expect("127.0.0.1:51820", CF_LOOPBACK);
	expect("127.8.9.10:53", CF_LOOPBACK);
	expect("[::1]:51820", CF_LOOPBACK);
	expect("224.0.0.1:51820", CF_MULTICAST);
	expect("239.255.255.250:1900", CF_MULTICAST);
	expect("[ff02::1]:51820", CF_MULTICAST);
	expect("255.255.255.255:51820", CF_BROADCAST);
	expect("10.2.0.255:51820", CF_BROADCAST); /* our LAN's broadcast */
	expect("240.0.0.1:51820", CF_RESERVED);
	expect("[::ffff:127.0.0.1]:51820", CF_RESERVED);
	expect("[::ffff:198.51.100.1]:51820", CF_RESERVED);
	expect("[::10.2.0.3]:51820", CF_RESERVED);
	expect("169.254.1.1:51820", CF_LINK_LOCAL);
	expect("[fe80::1]:51820", CF_LINK_LOCAL);
	expect("10.1.0.2:51820", CF_PRIVATE_REMOTE); /* the peer's LAN, not ours */
	expect("10.3.0.5:51820", CF_PRIVATE_REMOTE); /* a network behind our router */
	expect("172.16.0.1:51820", CF_PRIVATE_REMOTE);
	expect("172.31.255.1:51820", CF_PRIVATE_REMOTE);
	expect("172.32.0.1:51820", CF_OK);
	expect("192.168.1.1:51820", CF_PRIVATE_REMOTE);
	expect("100.64.0.1:51820", CF_PRIVATE_REMOTE);
	expect("100.128.0.1:51820", CF_OK);
	expect("[fd00:9::1]:51820", CF_PRIVATE_REMOTE);
	expect("10.2.0.2:51820", CF_OURS); /* our own LAN address */
	expect("10.2.0.2:22", CF_OURS);	   /* any port */
	expect("10.0.0.2:51820", CF_OURS); /* our tunnel address */
	expect("[2001:db8:2::2]:51820", CF_OURS);
	expect("198.51.100.2:51820", CF_SERVICE);
	expect("192.0.2.3:3478", CF_SERVICE);
	expect("192.0.2.1:3478", CF_SERVICE);

	/* 169.254/16 on-link with a prefix of ours: allowed (IPv4 needs no scope). */
	add_local("169.254.7.1:0", 16);
	expect("169.254.7.9:51820", CF_OK);
	expect("169.254.7.1:51820", CF_OURS);
	/* A host route (/32) makes nothing on-link. */
	add_local("100.64.5.5:0", 32);
	expect("100.64.5.6:51820", CF_PRIVATE_REMOTE);

	struct tsr_addr bad = {.family = 5, .port = 1};
	CHECK_MSG(cf_check(&bad, &self) == CF_RESERVED, "family 5");
}

static void test_ratelimit(void)
{
	struct np_bucket b = {0};
	struct np_dest_table t;
	uint64_t now = 5000000000ULL;
	int n = 0;

	for (int i = 0; i < 100; i++)
		n += np_bucket_take(&b, 10, 20, now);
	CHECK_MSG(n == 20, "burst 20: %d taken", n);
	CHECK_MSG(!np_bucket_take(&b, 10, 20, now + 50000000ULL), "half a token after 50 ms");
	CHECK_MSG(np_bucket_take(&b, 10, 20, now + 100000000ULL), "one token after 100 ms");
	CHECK_MSG(!np_bucket_take(&b, 10, 20, now + 100000000ULL), "and only one");
	n = 0;
	for (int i = 0; i < 100; i++)
		n += np_bucket_take(&b, 10, 20, now + 3600000000000ULL);
	CHECK_MSG(n == 20, "an hour later, the burst again (not more): %d", n);

	struct tsr_addr v = addr("203.0.113.9:1"), v2 = addr("203.0.113.9:2"),
			w = addr("203.0.113.10:1"), s6 = addr("[2001:db8:1:2::1]:1"),
			s6b = addr("[2001:db8:1:2:ffff::9]:7"), s6c = addr("[2001:db8:1:3::1]:1");
	/*
	 * The table is direct-mapped under a random key: two destinations may
	 * share a slot (and so a bucket).  "Its own bucket" is checked under a
	 * key that puts the four destinations in four slots; the slot function
	 * itself must group ports of one IP and addresses of one /64.
	 */
	do
		np_dest_init(&t);
	while (np_dest_slot(&t, &v) == np_dest_slot(&t, &w) ||
	       np_dest_slot(&t, &v) == np_dest_slot(&t, &s6) ||
	       np_dest_slot(&t, &v) == np_dest_slot(&t, &s6c) ||
	       np_dest_slot(&t, &w) == np_dest_slot(&t, &s6) ||
	       np_dest_slot(&t, &w) == np_dest_slot(&t, &s6c) ||
	       np_dest_slot(&t, &s6) == np_dest_slot(&t, &s6c));
	CHECK_MSG(np_dest_slot(&t, &v) == np_dest_slot(&t, &v2), "ports of one IP share a slot");
	CHECK_MSG(np_dest_slot(&t, &s6) == np_dest_slot(&t, &s6b), "one /64 shares a slot");
	n = 0;
	for (int i = 0; i < 50; i++)
		n += np_dest_take(&t, i % 2 ? &v : &v2, 10, 20, now);
	CHECK_MSG(n == 20, "one IP, two ports: %d of 50 (burst 20)", n);
	CHECK_MSG(np_dest_take(&t, &w, 10, 20, now), "another IP has its own bucket");
	n = 0;
	for (int i = 0; i < 50; i++)
		n += np_dest_take(&t, i % 2 ? &s6 : &s6b, 10, 20, now);
	CHECK_MSG(n == 20, "one IPv6 /64: %d of 50", n);
	CHECK_MSG(np_dest_take(&t, &s6c, 10, 20, now), "another /64 has its own bucket");
	/* Many destinations: bounded table, and never more than burst for any one. */
	for (int i = 0; i < 5000; i++) {
		char s[32];
		struct tsr_addr x;

		snprintf(s, sizeof(s), "198.18.%d.%d:9", i / 250, i % 250 + 1);
		x = addr(s);
		np_dest_take(&t, &x, 10, 20, now);
	}
	CHECK_MSG(!np_dest_take(&t, &v, 10, 20, now), "v still limited after 5000 others");
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_filter();
	test_ratelimit();
	if (failures) {
		fprintf(stderr, "test_candfilter: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_candfilter: ok\n");
	return 0;
}
