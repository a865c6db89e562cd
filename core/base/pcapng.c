// SPDX-License-Identifier: MIT
/* pcapng blocks, synthesized IP/UDP headers and key log text: see pcapng.h. */
#include "pcapng.h"

#include "bytes.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* An option (code, value) padded to 4; returns the bytes used. */
static size_t put_opt(uint8_t *p, uint16_t code, const void *val, size_t len)
{
	put16(p, code);
	put16(p + 2, (uint16_t)len);
	memcpy(p + 4, val, len);
	memset(p + 4 + len, 0, pad4(len) - len);
	return 4 + pad4(len);
}

static size_t opt_len(size_t len)
{
	return 4 + pad4(len);
}

/* Type and both length fields; body_len is what lies between them. */
static size_t frame(uint8_t *out, uint32_t type, size_t body_len)
{
	size_t total = 12 + body_len;

	put32(out, type);
	put32(out + 4, (uint32_t)total);
	put32(out + total - 4, (uint32_t)total);
	return total;
}

size_t pcapng_shb(uint8_t *out, size_t cap, const char *userappl)
{
	size_t ul = strnlen(userappl, 256), body = 16 + opt_len(ul) + 4, o = 8;

	if (12 + body > cap)
		return 0;
	put32(out + o, PCAPNG_BOM);
	put16(out + o + 4, 1);		/* major */
	put16(out + o + 6, 0);		/* minor */
	put64(out + o + 8, UINT64_MAX); /* section length: not given */
	o += 16;
	o += put_opt(out + o, 4, userappl, ul); /* shb_userappl */
	put32(out + o, 0);			/* opt_endofopt */
	return frame(out, PCAPNG_BT_SHB, body);
}

size_t pcapng_idb(uint8_t *out, size_t cap, uint16_t linktype, uint32_t snaplen, const char *name,
		  const char *description)
{
	size_t nl = strnlen(name, 256), dl = strnlen(description, 256);
	size_t body = 8 + opt_len(nl) + opt_len(dl) + opt_len(1) + 4, o = 8;
	uint8_t tsresol = 9;

	if (12 + body > cap)
		return 0;
	put16(out + o, linktype);
	put16(out + o + 2, 0);
	put32(out + o + 4, snaplen);
	o += 8;
	o += put_opt(out + o, 2, name, nl);	   /* if_name */
	o += put_opt(out + o, 3, description, dl); /* if_description */
	o += put_opt(out + o, 9, &tsresol, 1);	   /* if_tsresol: 10^-9 s */
	put32(out + o, 0);
	return frame(out, PCAPNG_BT_IDB, body);
}

size_t pcapng_epb(uint8_t *out, size_t cap, uint32_t ifid, uint64_t ts_ns, const uint8_t *a,
		  size_t alen, const uint8_t *b, size_t blen, uint32_t orig_len)
{
	size_t len = alen + blen, body = 20 + pad4(len), o = 8;

	if (len > UINT32_MAX - 64 || 12 + body > cap)
		return 0;
	put32(out + o, ifid);
	put32(out + o + 4, (uint32_t)(ts_ns >> 32));
	put32(out + o + 8, (uint32_t)ts_ns);
	put32(out + o + 12, (uint32_t)len);
	put32(out + o + 16, orig_len > len ? orig_len : (uint32_t)len);
	o += 20;
	if (alen)
		memcpy(out + o, a, alen);
	if (blen)
		memcpy(out + o + alen, b, blen);
	memset(out + o + len, 0, pad4(len) - len);
	return frame(out, PCAPNG_BT_EPB, body);
}

size_t pcapng_dsb(uint8_t *out, size_t cap, uint32_t secrets_type, const void *data, size_t len)
{
	size_t body = 8 + pad4(len), o = 8;

	if (len > UINT32_MAX - 64 || 12 + body > cap)
		return 0;
	put32(out + o, secrets_type);
	put32(out + o + 4, (uint32_t)len);
	memcpy(out + o + 8, data, len);
	memset(out + o + 8 + len, 0, pad4(len) - len);
	return frame(out, PCAPNG_BT_DSB, body);
}

uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	uint64_t s = sum;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (i < n)
		s += (uint32_t)p[i] << 8;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

void ipport_from_endpoint(struct ipport *o, const union ts_plugin_endpoint *ep, int family)
{
	memset(o, 0, sizeof(*o));
	switch (ep->sa.sa_family) {
	case AF_INET:
		o->family = AF_INET;
		memcpy(o->addr, &ep->in.sin_addr, 4);
		o->port = ntohs(ep->in.sin_port);
		return;
	case AF_INET6:
		if (IN6_IS_ADDR_V4MAPPED(&ep->in6.sin6_addr)) {
			o->family = AF_INET;
			memcpy(o->addr, &ep->in6.sin6_addr.s6_addr[12], 4);
		} else {
			o->family = AF_INET6;
			memcpy(o->addr, &ep->in6.sin6_addr, 16);
		}
		o->port = ntohs(ep->in6.sin6_port);
		return;
	}
	o->family = family == AF_INET6 ? AF_INET6 : AF_INET;
	o->port = ntohs(ep->in.sin_port); /* sin_port and sin6_port share their offset */
}

size_t synth_udp_header(uint8_t out[SYNTH_HDR_MAX], const struct ipport *src,
			const struct ipport *dst, size_t payload_len, uint32_t payload_sum)
{
	size_t alen = src->family == AF_INET6 ? 16 : 4, ip = src->family == AF_INET6 ? 40 : 20;
	size_t udp_len = 8 + payload_len;
	uint8_t *u = out + ip, pseudo[4];
	uint32_t sum;
	uint16_t c;

	if (udp_len > 0xffff - ip)
		udp_len = 0xffff - ip; /* cannot happen with UDP; keeps the fields sane */
	memset(out, 0, ip + 8);
	if (src->family == AF_INET6) {
		out[0] = 0x60;
		ts_be16_put(out + 4, (uint16_t)udp_len);
		out[6] = IPPROTO_UDP;
		out[7] = 64; /* hop limit */
		memcpy(out + 8, src->addr, 16);
		memcpy(out + 24, dst->addr, 16);
	} else {
		out[0] = 0x45;
		ts_be16_put(out + 2, (uint16_t)(20 + udp_len));
		out[8] = 64; /* TTL */
		out[9] = IPPROTO_UDP;
		memcpy(out + 12, src->addr, 4);
		memcpy(out + 16, dst->addr, 4);
		ts_be16_put(out + 10, csum_fold(csum_add(0, out, 20)));
	}
	ts_be16_put(u, src->port);
	ts_be16_put(u + 2, dst->port);
	ts_be16_put(u + 4, (uint16_t)udp_len);
	/* Pseudo-header: both addresses, the protocol and the UDP length. */
	sum = csum_add(0, out + (ip == 40 ? 8 : 12), 2 * alen);
	pseudo[0] = 0;
	pseudo[1] = IPPROTO_UDP;
	ts_be16_put(pseudo + 2, (uint16_t)udp_len);
	sum = csum_add(sum, pseudo, 4);
	sum = csum_add(sum, u, 8);
	/* payload_sum covers bytes at an even offset (the header is 8): sums add. */
	{
		uint64_t s = (uint64_t)sum + payload_sum;

		sum = (uint32_t)((s & 0xffffffffu) + (s >> 32)); /* end-around carry */
	}
	c = csum_fold(sum);
	ts_be16_put(u + 6, c ? c : 0xffff); /* 0 means "no checksum" in UDP */
	return ip + 8;
}

size_t keylog_text(const uint8_t secrets[128], char *out, size_t cap)
{
	static const char *const names[4] = {
	    "LOCAL_STATIC_PRIVATE_KEY", "REMOTE_STATIC_PUBLIC_KEY", "LOCAL_EPHEMERAL_PRIVATE_KEY",
	    "PRESHARED_KEY", /* must follow the ephemeral key it belongs to */
	};
	size_t o = 0;

	for (int i = 0; i < 4; i++) {
		char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
		size_t nl = strlen(names[i]);

		if (o + nl + 3 + sizeof(b64) > cap) {
			sodium_memzero(b64, sizeof(b64));
			sodium_memzero(out, cap);
			return 0;
		}
		sodium_bin2base64(b64, sizeof(b64), secrets + 32 * i, 32,
				  sodium_base64_VARIANT_ORIGINAL);
		memcpy(out + o, names[i], nl);
		memcpy(out + o + nl, " = ", 3);
		o += nl + 3;
		memcpy(out + o, b64, sizeof(b64) - 1);
		o += sizeof(b64) - 1;
		out[o++] = '\n';
		sodium_memzero(b64, sizeof(b64));
	}
	return o;
}

struct route_cache {
	struct ipport remote, local;
	uint64_t at_ms;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ipport_route_local(const struct ipport *rem, struct ipport *loc)
{
	static __thread struct route_cache cache[8];
	static __thread unsigned next;
	union ts_plugin_endpoint ep = {0};
	socklen_t len = sizeof(ep);
	uint64_t now = mono_ms();
	int fd;

	for (unsigned i = 0; i < 8; i++) {
		struct route_cache *c = &cache[i];

		if (c->at_ms && now - c->at_ms < 1000 && c->remote.family == rem->family &&
		    !memcmp(c->remote.addr, rem->addr, 16)) {
			memcpy(loc->addr, c->local.addr, 16);
			return;
		}
	}
	if (rem->family == AF_INET6) {
		ep.in6.sin6_family = AF_INET6;
		memcpy(&ep.in6.sin6_addr, rem->addr, 16);
		ep.in6.sin6_port = htons(rem->port ? rem->port : 9);
	} else {
		ep.in.sin_family = AF_INET;
		memcpy(&ep.in.sin_addr, rem->addr, 4);
		ep.in.sin_port = htons(rem->port ? rem->port : 9);
	}
	fd = socket(rem->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, &ep.sa, rem->family == AF_INET6 ? sizeof(ep.in6) : sizeof(ep.in)) == 0 &&
	    getsockname(fd, &ep.sa, &len) == 0 && ep.sa.sa_family == rem->family) {
		struct route_cache *c = &cache[next++ % 8];

		if (rem->family == AF_INET6)
			memcpy(loc->addr, &ep.in6.sin6_addr, 16);
		else
			memcpy(loc->addr, &ep.in.sin_addr, 4);
		c->remote = *rem;
		c->local = *loc;
		c->at_ms = now;
	}
	close(fd);
}
