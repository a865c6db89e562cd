// SPDX-License-Identifier: MIT
/*
 * The candidate filter (candfilter.h).  The order of the checks only
 * decides which reason is reported: every refusal is a refusal.
 */
#include "candfilter.h"

#include <string.h>

const char *cf_verdict_name(enum cf_verdict v)
{
	switch (v) {
	case CF_OK:
		return "ok";
	case CF_PORT:
		return "port 0";
	case CF_UNSPECIFIED:
		return "unspecified";
	case CF_LOOPBACK:
		return "loopback";
	case CF_MULTICAST:
		return "multicast";
	case CF_BROADCAST:
		return "broadcast";
	case CF_RESERVED:
		return "reserved";
	case CF_LINK_LOCAL:
		return "link-local";
	case CF_PRIVATE_REMOTE:
		return "private, not on-link";
	case CF_OURS:
		return "our own address";
	case CF_SERVICE:
		return "our mapped address, the relay or a STUN server";
	}
	return "?";
}

/* The first plen bits of a and b agree (same family assumed). */
static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned plen)
{
	unsigned bytes = plen / 8, bits = plen % 8;

	if (memcmp(a, b, bytes))
		return false;
	if (bits) {
		uint8_t m = (uint8_t)(0xff << (8 - bits));

		if ((a[bytes] & m) != (b[bytes] & m))
			return false;
	}
	return true;
}

static bool in(const uint8_t *a, const uint8_t *net, unsigned plen)
{
	return prefix_match(a, net, plen);
}

/* On-link: inside a prefix of one of our interfaces (not a host route). */
static bool on_link(const struct tsr_addr *a, const struct cf_self *s)
{
	unsigned max = a->family == 4 ? 32 : 128;

	for (int i = 0; i < s->nlocal; i++) {
		const struct cf_prefix *p = &s->local[i];

		if (p->addr.family == a->family && p->plen < max &&
		    prefix_match(a->addr, p->addr.addr, p->plen))
			return true;
	}
	return false;
}

/* The broadcast address of one of our on-link IPv4 prefixes (/30 and wider). */
static bool directed_broadcast(const struct tsr_addr *a, const struct cf_self *s)
{
	for (int i = 0; i < s->nlocal; i++) {
		const struct cf_prefix *p = &s->local[i];
		uint32_t net, host, mask;

		if (p->addr.family != 4 || p->plen > 30)
			continue;
		mask = p->plen ? ~(uint32_t)0 << (32 - p->plen) : 0;
		net = (uint32_t)p->addr.addr[0] << 24 | (uint32_t)p->addr.addr[1] << 16 |
		      (uint32_t)p->addr.addr[2] << 8 | p->addr.addr[3];
		host = (uint32_t)a->addr[0] << 24 | (uint32_t)a->addr[1] << 16 |
		       (uint32_t)a->addr[2] << 8 | a->addr[3];
		if ((host & mask) == (net & mask) && (host | mask) == ~(uint32_t)0)
			return true;
	}
	return false;
}

static enum cf_verdict check4(const struct tsr_addr *a, const struct cf_self *s)
{
	static const uint8_t zero8[1] = {0}, lo[1] = {127}, ll[2] = {169, 254}, p10[1] = {10},
			     p172[2] = {172, 16}, p192[2] = {192, 168}, cgn[2] = {100, 64},
			     mc[1] = {224}, rsv[1] = {240}, bcast[4] = {255, 255, 255, 255};
	const uint8_t *x = a->addr;

	if (in(x, zero8, 8))
		return CF_UNSPECIFIED;
	if (in(x, lo, 8))
		return CF_LOOPBACK;
	if (!memcmp(x, bcast, 4) || directed_broadcast(a, s))
		return CF_BROADCAST;
	if (in(x, mc, 4))
		return CF_MULTICAST;
	if (in(x, rsv, 4))
		return CF_RESERVED;
	if (in(x, ll, 16))
		return on_link(a, s) ? CF_OK : CF_LINK_LOCAL;
	if (in(x, p10, 8) || in(x, p172, 12) || in(x, p192, 16) || in(x, cgn, 10))
		return on_link(a, s) ? CF_OK : CF_PRIVATE_REMOTE;
	return CF_OK;
}

static enum cf_verdict check6(const struct tsr_addr *a, const struct cf_self *s)
{
	static const uint8_t zero[16] = {0}, lo[16] = {[15] = 1},
			     mapped[12] = {[10] = 0xff, [11] = 0xff}, ll[2] = {0xfe, 0x80},
			     mc[1] = {0xff}, ula[1] = {0xfc};
	const uint8_t *x = a->addr;

	if (!memcmp(x, zero, 16))
		return CF_UNSPECIFIED;
	if (!memcmp(x, lo, 16))
		return CF_LOOPBACK;
	if (in(x, mc, 8))
		return CF_MULTICAST;
	/* IPv4 in IPv6 clothing (::ffff:a.b.c.d, ::a.b.c.d) would dodge the IPv4 rules. */
	if (in(x, mapped, 96) || in(x, zero, 96))
		return CF_RESERVED;
	/* No scope in the address record: a link-local address names no one link. */
	if (in(x, ll, 10))
		return CF_LINK_LOCAL;
	if (in(x, ula, 7))
		return on_link(a, s) ? CF_OK : CF_PRIVATE_REMOTE;
	return CF_OK;
}

enum cf_verdict cf_check(const struct tsr_addr *a, const struct cf_self *s)
{
	enum cf_verdict v;

	if (a->family != 4 && a->family != 6)
		return CF_RESERVED;
	if (!a->port)
		return CF_PORT;
	v = a->family == 4 ? check4(a, s) : check6(a, s);
	if (v != CF_OK)
		return v;
	for (int i = 0; i < s->nlocal; i++)
		if (s->local[i].addr.family == a->family &&
		    !memcmp(s->local[i].addr.addr, a->addr, a->family == 4 ? 4 : 16))
			return CF_OURS;
	for (int i = 0; i < s->nservice; i++)
		if (tsr_addr_equal(&s->service[i], a))
			return CF_SERVICE;
	return CF_OK;
}
