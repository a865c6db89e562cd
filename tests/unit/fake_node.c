// SPDX-License-Identifier: MIT
/*
 * A device over fake I/O, configured by UAPI text, and the packets it
 * carries (fake_node.h).
 */
#include "fake_node.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "key.h"

int fake_device_new(struct fake_net *net, const char *name, const char *addr, int mtu,
		    struct ts_device **dev, struct fake_tun **tun, struct fake_bind **bind,
		    char *err, size_t errlen)
{
	*tun = fake_tun_new();
	*bind = fake_bind_new(net, addr);
	if (!*tun || !*bind) {
		snprintf(err, errlen, "fake TUN or bind: out of memory");
		return -ENOMEM;
	}
	/* The device owns (and on failure closes) both from here on. */
	return ts_device_create_with_io(dev, name, mtu, &fake_tun_ops, *tun, &fake_bind_ops, *bind,
					err, errlen);
}

int fake_device_apply(struct ts_device *dev, const char *text, char *err, size_t errlen)
{
	struct ts_config cfg;
	int ret = ts_config_parse_uapi(text, strlen(text), 0, &cfg, err, errlen);

	if (ret < 0)
		return ret;
	ret = ts_device_apply(dev, &cfg, err, errlen);
	ts_config_free(&cfg);
	return ret;
}

int fake_device_add_peer(struct ts_device *dev, const uint8_t priv[32], const uint8_t pub[32],
			 const char *allowed_ip, const union ts_endpoint *ep, char *err,
			 size_t errlen)
{
	char text[512], priv_hex[TS_KEY_HEX_LEN], pub_hex[TS_KEY_HEX_LEN],
	    ep_str[TS_ENDPOINT_STRLEN];

	ts_key_to_hex(priv_hex, priv);
	ts_key_to_hex(pub_hex, pub);
	if (ep)
		ts_endpoint_str(ep, ep_str);
	snprintf(text, sizeof(text), "private_key=%s\npublic_key=%s\nallowed_ip=%s\n%s%s%s",
		 priv_hex, pub_hex, allowed_ip, ep ? "endpoint=" : "", ep ? ep_str : "",
		 ep ? "\n" : "");
	return fake_device_apply(dev, text, err, errlen);
}

size_t fake_ipv4_udp(uint8_t *p, unsigned from, unsigned to, size_t payload)
{
	size_t len = 28 + payload;

	memset(p, 0, len);
	p[0] = 0x45; /* version 4, a 20-byte header */
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64; /* TTL */
	p[9] = 17; /* UDP */
	p[12] = 10, p[15] = (uint8_t)from;
	p[16] = 10, p[19] = (uint8_t)to;
	return len;
}

bool fake_tun_carried(struct fake_tun *from, struct fake_tun *to, const uint8_t *pkt, size_t len,
		      int timeout_ms)
{
	uint8_t got[2048];
	int n;

	if (fake_tun_inject(from, pkt, len) < 0)
		return false;
	for (;;) {
		n = fake_tun_take(to, got, sizeof(got), timeout_ms);
		if (n < 0)
			return false;
		if ((size_t)n == len && memcmp(got, pkt, len) == 0)
			return true;
	}
}
