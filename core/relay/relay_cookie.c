// SPDX-License-Identifier: MIT
/*
 * tinescale-relay's return-routability cookies (docs/nat-traversal.md,
 * relay protocol version 2): the two secrets, their rotation, and the check
 * of a cookie a REGISTER echoes.  A cookie is a MAC of the source IP:port,
 * so only a sender that receives at that address can learn it; the relay
 * keeps no state per cookie sent.
 */
#include "relay_server.h"

#include <sodium.h>
#include <string.h>

void relay_cookies_init(struct relay_cookies *c, uint64_t rotate_ns, uint64_t now_ns)
{
	/* Both random from the start: an all-zero "previous" secret would be public. */
	randombytes_buf(c->secret, sizeof(c->secret));
	c->born_ns = now_ns;
	c->rotate_ns = rotate_ns;
}

void relay_cookies_wipe(struct relay_cookies *c)
{
	sodium_memzero(c, sizeof(*c));
}

void relay_cookies_rotate(struct relay_cookies *c, uint64_t now_ns)
{
	if (now_ns - c->born_ns < c->rotate_ns)
		return;
	memcpy(c->secret[1], c->secret[0], sizeof(c->secret[0]));
	randombytes_buf(c->secret[0], sizeof(c->secret[0]));
	c->born_ns = now_ns;
}

void relay_cookie_make(const struct relay_cookies *c, uint8_t cookie[TSR_COOKIE_LEN],
		       const struct tsr_addr *a)
{
	tsr_cookie_make(cookie, c->secret[0], a);
}

bool relay_cookie_valid(const struct relay_cookies *c, const uint8_t cookie[TSR_COOKIE_LEN],
			const struct tsr_addr *a)
{
	static const uint8_t none[TSR_COOKIE_LEN];
	uint8_t want[TSR_COOKIE_LEN];
	bool ok = false;

	if (sodium_memcmp(cookie, none, TSR_COOKIE_LEN) == 0)
		return false;
	/* The previous secret too: a cookie handed out just before a rotation still works. */
	for (int i = 0; i < 2 && !ok; i++) {
		tsr_cookie_make(want, c->secret[i], a);
		ok = sodium_memcmp(want, cookie, TSR_COOKIE_LEN) == 0;
	}
	sodium_memzero(want, sizeof(want));
	return ok;
}
