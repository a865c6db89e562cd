// SPDX-License-Identifier: MIT
/*
 * The relay wire format: encoders, decoders and verifiers of every relay
 * frame (layouts in relay_proto.h).  Everything here is pure; the relay
 * server, relay-redirect and nat-probe do the I/O.
 *
 * Every decoder checks the length before it reads a byte and reads integers
 * byte-wise, so it is safe on any attacker-supplied buffer at any alignment.
 */
#include "relay_proto.h"

#include <arpa/inet.h>
#include <blake2.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Offsets shared by all frames. */
#define OFF_TYPE 4
#define OFF_B5	 5 /* kind or code for SEND/RECV/ERROR, reserved otherwise */
#define OFF_KEY	 8 /* REGISTER, SEND, RECV, ERROR */

/* REGISTER */
#define REG_OFF_TS     40
#define REG_OFF_COOKIE 48
#define REG_OFF_MAC    64
/* SEND */
#define SEND_OFF_TOKEN 40
/* COOKIE */
#define COOKIE_OFF_ECHO	  8
#define COOKIE_OFF_COOKIE 24
/* REGISTER_ACK */
#define ACK_OFF_TS	8
#define ACK_OFF_ADDR	16
#define ACK_OFF_EXPIRES 36
#define ACK_OFF_MAC	40

static const char register_label[] = "tinescale-relay-v2 register";
static const char send_label[] = "tinescale-relay-v2 send";

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

static void put_header(uint8_t *out, uint8_t type, uint8_t b5)
{
	memcpy(out, TSR_MAGIC, TSR_MAGIC_LEN);
	out[OFF_TYPE] = type;
	out[OFF_B5] = b5;
	out[6] = 0;
	out[7] = 0;
}

/* Magic and type; the caller checks the length it needs beyond the 8-byte header. */
static int check_header(const uint8_t *buf, size_t len, uint8_t want)
{
	if (!buf || len < 8)
		return TSR_E_SHORT;
	if (memcmp(buf, TSR_MAGIC, TSR_MAGIC_LEN) != 0)
		return TSR_E_MAGIC;
	if (buf[OFF_TYPE] != want)
		return TSR_E_TYPE;
	return TSR_OK;
}

void tsr_mac(uint8_t mac[TSR_MAC_LEN], const uint8_t *buf, size_t n, const uint8_t k[TSR_KEY_LEN])
{
	blake2s(mac, buf, k, TSR_MAC_LEN, n, TSR_KEY_LEN);
}

/* Constant time: the mac is the only thing keeping strangers out. */
bool tsr_mac_ok(const uint8_t *buf, size_t n, const uint8_t k[TSR_KEY_LEN])
{
	uint8_t mac[TSR_MAC_LEN];
	bool ok;

	tsr_mac(mac, buf, n, k);
	ok = sodium_memcmp(mac, buf + n, TSR_MAC_LEN) == 0;
	sodium_memzero(mac, sizeof(mac));
	return ok;
}

const char *tsr_result_name(int result)
{
	switch (result) {
	case TSR_OK:
		return "ok";
	case TSR_E_SHORT:
		return "short";
	case TSR_E_LENGTH:
		return "length";
	case TSR_E_MAGIC:
		return "magic";
	case TSR_E_TYPE:
		return "type";
	case TSR_E_RESERVED:
		return "reserved";
	case TSR_E_FIELD:
		return "field";
	case TSR_E_MAC:
		return "mac";
	case TSR_E_CLOCK:
		return "clock";
	case TSR_E_REPLAY:
		return "replay";
	case TSR_E_KEY:
		return "key";
	}
	return "unknown";
}

bool tsr_is_frame(const uint8_t *buf, size_t len, uint8_t *type)
{
	if (!buf || len < TSR_MAGIC_LEN + 1 || memcmp(buf, TSR_MAGIC, TSR_MAGIC_LEN) != 0)
		return false;
	if (type)
		*type = buf[OFF_TYPE];
	return true;
}

void tsr_register_key(uint8_t k[TSR_KEY_LEN], const uint8_t dh[TSR_KEY_LEN])
{
	uint8_t in[sizeof(register_label) - 1 + TSR_KEY_LEN];

	memcpy(in, register_label, sizeof(register_label) - 1);
	memcpy(in + sizeof(register_label) - 1, dh, TSR_KEY_LEN);
	blake2s(k, in, NULL, TSR_KEY_LEN, sizeof(in), 0);
	sodium_memzero(in, sizeof(in));
}

int tsr_dh(uint8_t dh[TSR_KEY_LEN], const uint8_t private_key[TSR_KEY_LEN],
	   const uint8_t public_key[TSR_KEY_LEN])
{
	/* libsodium refuses an all-zero result, i.e. a low-order public key. */
	if (crypto_scalarmult(dh, private_key, public_key) != 0) {
		sodium_memzero(dh, TSR_KEY_LEN);
		return TSR_E_KEY;
	}
	return TSR_OK;
}

void tsr_register_encode(uint8_t out[TSR_REGISTER_LEN], const uint8_t public_key[TSR_KEY_LEN],
			 uint64_t timestamp_ns, const uint8_t cookie[TSR_COOKIE_LEN],
			 const uint8_t k[TSR_KEY_LEN])
{
	put_header(out, TSR_REGISTER, 0);
	memcpy(out + OFF_KEY, public_key, TSR_KEY_LEN);
	put_u64(out + REG_OFF_TS, timestamp_ns);
	if (cookie)
		memcpy(out + REG_OFF_COOKIE, cookie, TSR_COOKIE_LEN);
	else
		memset(out + REG_OFF_COOKIE, 0, TSR_COOKIE_LEN);
	tsr_mac(out + REG_OFF_MAC, out, REG_OFF_MAC, k);
}

int tsr_register_decode(const uint8_t *buf, size_t len, struct tsr_register *out)
{
	int r = check_header(buf, len, TSR_REGISTER);

	if (r)
		return r;
	if (len != TSR_REGISTER_LEN)
		return len < TSR_REGISTER_LEN ? TSR_E_SHORT : TSR_E_LENGTH;
	if (!all_zero(buf + 5, 3))
		return TSR_E_RESERVED;
	memcpy(out->public_key, buf + OFF_KEY, TSR_KEY_LEN);
	out->timestamp_ns = get_u64(buf + REG_OFF_TS);
	memcpy(out->cookie, buf + REG_OFF_COOKIE, TSR_COOKIE_LEN);
	memcpy(out->mac, buf + REG_OFF_MAC, TSR_MAC_LEN);
	return TSR_OK;
}

int tsr_register_verify(const uint8_t *buf, size_t len, const uint8_t k[TSR_KEY_LEN],
			uint64_t now_realtime_ns, struct tsr_replay *replay)
{
	struct tsr_register reg;
	int r = tsr_register_decode(buf, len, &reg);

	if (r)
		return r;
	if (!tsr_mac_ok(buf, REG_OFF_MAC, k))
		return TSR_E_MAC;
	/*
	 * Asymmetric: far in the past is merely stale, but a timestamp far in
	 * the future would raise the replay state (and the relay's floor for new
	 * keys) beyond what honest clocks reach for that long.
	 */
	if (reg.timestamp_ns > now_realtime_ns
		? reg.timestamp_ns - now_realtime_ns > TSR_MAX_FUTURE_NS
		: now_realtime_ns - reg.timestamp_ns > TSR_MAX_CLOCK_SKEW_NS)
		return TSR_E_CLOCK;
	if (replay) {
		if (reg.timestamp_ns <= replay->last_ns)
			return TSR_E_REPLAY;
		replay->last_ns = reg.timestamp_ns;
	}
	return TSR_OK;
}

void tsr_register_ack_encode(uint8_t out[TSR_REGISTER_ACK_LEN], const struct tsr_register_ack *ack,
			     const uint8_t k[TSR_KEY_LEN])
{
	put_header(out, TSR_REGISTER_ACK, 0);
	put_u64(out + ACK_OFF_TS, ack->timestamp_ns);
	if (tsr_addr_put(out + ACK_OFF_ADDR, &ack->observed) != TSR_OK)
		memset(out + ACK_OFF_ADDR, 0, TSR_ADDR_LEN); /* decoders reject family 0 */
	put_u16(out + ACK_OFF_EXPIRES, ack->expires_s);
	out[ACK_OFF_EXPIRES + 2] = 0;
	out[ACK_OFF_EXPIRES + 3] = 0;
	tsr_mac(out + ACK_OFF_MAC, out, ACK_OFF_MAC, k);
}

int tsr_register_ack_decode(const uint8_t *buf, size_t len, const uint8_t k[TSR_KEY_LEN],
			    struct tsr_register_ack *out)
{
	struct tsr_register_ack ack;
	int r = check_header(buf, len, TSR_REGISTER_ACK);

	if (r)
		return r;
	if (len != TSR_REGISTER_ACK_LEN)
		return len < TSR_REGISTER_ACK_LEN ? TSR_E_SHORT : TSR_E_LENGTH;
	if (!all_zero(buf + 5, 3) || !all_zero(buf + ACK_OFF_EXPIRES + 2, 2))
		return TSR_E_RESERVED;
	/* The mac first: nothing of a forged frame is interpreted. */
	if (!tsr_mac_ok(buf, ACK_OFF_MAC, k))
		return TSR_E_MAC;
	r = tsr_addr_get(&ack.observed, buf + ACK_OFF_ADDR);
	if (r)
		return r;
	ack.timestamp_ns = get_u64(buf + ACK_OFF_TS);
	ack.expires_s = get_u16(buf + ACK_OFF_EXPIRES);
	*out = ack;
	return TSR_OK;
}

void tsr_send_token(uint8_t token[TSR_TOKEN_LEN], const uint8_t k[TSR_KEY_LEN],
		    const struct tsr_addr *observed)
{
	uint8_t in[sizeof(send_label) - 1 + TSR_ADDR_LEN];

	memcpy(in, send_label, sizeof(send_label) - 1);
	if (tsr_addr_put(in + sizeof(send_label) - 1, observed) != TSR_OK)
		memset(in + sizeof(send_label) - 1, 0, TSR_ADDR_LEN);
	blake2s(token, in, k, TSR_TOKEN_LEN, sizeof(in), TSR_KEY_LEN);
}

void tsr_send_hdr_encode(uint8_t out[TSR_SEND_HDR_LEN], uint8_t kind,
			 const uint8_t dst_public_key[TSR_KEY_LEN],
			 const uint8_t token[TSR_TOKEN_LEN])
{
	put_header(out, TSR_SEND, kind);
	memcpy(out + OFF_KEY, dst_public_key, TSR_KEY_LEN);
	memcpy(out + SEND_OFF_TOKEN, token, TSR_TOKEN_LEN);
}

void tsr_recv_hdr_encode(uint8_t out[TSR_RECV_HDR_LEN], uint8_t kind,
			 const uint8_t src_public_key[TSR_KEY_LEN])
{
	/* memmove first: the relay builds a RECV over the SEND it came from. */
	memmove(out + OFF_KEY, src_public_key, TSR_KEY_LEN);
	put_header(out, TSR_RECV, kind);
}

int tsr_data_decode(const uint8_t *buf, size_t len, uint8_t want, struct tsr_data *out)
{
	size_t hdr = want == TSR_SEND ? TSR_SEND_HDR_LEN : TSR_RECV_HDR_LEN;
	int r;

	if (want != TSR_SEND && want != TSR_RECV)
		return TSR_E_TYPE;
	r = check_header(buf, len, want);
	if (r)
		return r;
	if (len < hdr)
		return TSR_E_SHORT;
	if (!all_zero(buf + 6, 2))
		return TSR_E_RESERVED;
	if (len == hdr)
		return TSR_E_FIELD; /* nothing to carry */
	out->type = want;
	out->kind = buf[OFF_B5];
	memcpy(out->public_key, buf + OFF_KEY, TSR_KEY_LEN);
	if (want == TSR_SEND)
		memcpy(out->token, buf + SEND_OFF_TOKEN, TSR_TOKEN_LEN);
	else
		memset(out->token, 0, TSR_TOKEN_LEN);
	out->payload = buf + hdr;
	out->payload_len = len - hdr;
	return TSR_OK;
}

void tsr_cookie_make(uint8_t cookie[TSR_COOKIE_LEN], const uint8_t secret[TSR_KEY_LEN],
		     const struct tsr_addr *a)
{
	uint8_t rec[TSR_ADDR_LEN];

	if (tsr_addr_put(rec, a) != TSR_OK)
		memset(rec, 0, sizeof(rec));
	blake2s(cookie, rec, secret, TSR_COOKIE_LEN, sizeof(rec), TSR_KEY_LEN);
}

void tsr_cookie_reply_encode(uint8_t out[TSR_COOKIE_FRAME_LEN], const uint8_t echo[TSR_MAC_LEN],
			     const uint8_t cookie[TSR_COOKIE_LEN])
{
	put_header(out, TSR_COOKIE, 0);
	memcpy(out + COOKIE_OFF_ECHO, echo, TSR_MAC_LEN);
	memcpy(out + COOKIE_OFF_COOKIE, cookie, TSR_COOKIE_LEN);
}

int tsr_cookie_reply_decode(const uint8_t *buf, size_t len, struct tsr_cookie_reply *out)
{
	int r = check_header(buf, len, TSR_COOKIE);

	if (r)
		return r;
	if (len != TSR_COOKIE_FRAME_LEN)
		return len < TSR_COOKIE_FRAME_LEN ? TSR_E_SHORT : TSR_E_LENGTH;
	if (!all_zero(buf + 5, 3))
		return TSR_E_RESERVED;
	memcpy(out->echo, buf + COOKIE_OFF_ECHO, TSR_MAC_LEN);
	memcpy(out->cookie, buf + COOKIE_OFF_COOKIE, TSR_COOKIE_LEN);
	return TSR_OK;
}

void tsr_error_encode(uint8_t out[TSR_ERROR_LEN], uint8_t code,
		      const uint8_t public_key[TSR_KEY_LEN])
{
	put_header(out, TSR_ERROR, code);
	memcpy(out + OFF_KEY, public_key, TSR_KEY_LEN);
}

int tsr_error_decode(const uint8_t *buf, size_t len, struct tsr_error *out)
{
	int r = check_header(buf, len, TSR_ERROR);

	if (r)
		return r;
	if (len != TSR_ERROR_LEN)
		return len < TSR_ERROR_LEN ? TSR_E_SHORT : TSR_E_LENGTH;
	if (!all_zero(buf + 6, 2))
		return TSR_E_RESERVED;
	out->code = buf[OFF_B5];
	memcpy(out->public_key, buf + OFF_KEY, TSR_KEY_LEN);
	return TSR_OK;
}

int tsr_addr_put(uint8_t out[TSR_ADDR_LEN], const struct tsr_addr *a)
{
	if (a->family != 4 && a->family != 6)
		return TSR_E_FIELD;
	out[0] = a->family;
	out[1] = 0;
	put_u16(out + 2, a->port);
	memset(out + 4, 0, 16);
	memcpy(out + 4, a->addr, a->family == 4 ? 4 : 16);
	return TSR_OK;
}

int tsr_addr_get(struct tsr_addr *a, const uint8_t in[TSR_ADDR_LEN])
{
	if (in[0] != 4 && in[0] != 6)
		return TSR_E_FIELD;
	if (in[1] != 0 || (in[0] == 4 && !all_zero(in + 8, 12)))
		return TSR_E_RESERVED;
	memset(a, 0, sizeof(*a));
	a->family = in[0];
	a->port = get_u16(in + 2);
	memcpy(a->addr, in + 4, in[0] == 4 ? 4 : 16);
	return TSR_OK;
}

int tsr_addr_from_sockaddr(struct tsr_addr *a, const struct sockaddr *sa, socklen_t salen)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(a, 0, sizeof(*a));
	if (!sa || salen < (socklen_t)sizeof(sa_family_t))
		return TSR_E_FIELD;
	if (sa->sa_family == AF_INET && salen >= (socklen_t)sizeof(struct sockaddr_in)) {
		struct sockaddr_in in;

		memcpy(&in, sa, sizeof(in));
		a->family = 4;
		a->port = ntohs(in.sin_port);
		memcpy(a->addr, &in.sin_addr, 4);
		return TSR_OK;
	}
	if (sa->sa_family == AF_INET6 && salen >= (socklen_t)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 in6;

		memcpy(&in6, sa, sizeof(in6));
		a->port = ntohs(in6.sin6_port);
		if (memcmp(in6.sin6_addr.s6_addr, v4mapped, 12) == 0) {
			a->family = 4;
			memcpy(a->addr, in6.sin6_addr.s6_addr + 12, 4);
		} else {
			a->family = 6;
			memcpy(a->addr, in6.sin6_addr.s6_addr, 16);
		}
		return TSR_OK;
	}
	return TSR_E_FIELD;
}

int tsr_addr_to_sockaddr(const struct tsr_addr *a, struct sockaddr_storage *ss, socklen_t *sslen)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == 4) {
		struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(a->port)};

		memcpy(&in.sin_addr, a->addr, 4);
		memcpy(ss, &in, sizeof(in));
		if (sslen)
			*sslen = sizeof(in);
		return TSR_OK;
	}
	if (a->family == 6) {
		struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(a->port)};

		memcpy(in6.sin6_addr.s6_addr, a->addr, 16);
		memcpy(ss, &in6, sizeof(in6));
		if (sslen)
			*sslen = sizeof(in6);
		return TSR_OK;
	}
	return TSR_E_FIELD;
}

bool tsr_addr_equal(const struct tsr_addr *a, const struct tsr_addr *b)
{
	if (a->family != b->family || a->port != b->port)
		return false;
	return memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16) == 0;
}

int tsr_addr_parse(struct tsr_addr *a, const char *s)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port, *end;
	size_t hlen;
	char *stop;
	unsigned long p;
	bool bracketed;

	memset(a, 0, sizeof(*a));
	if (!s)
		return TSR_E_FIELD;
	bracketed = s[0] == '[';
	if (bracketed) {
		end = strchr(s, ']');
		if (!end || end[1] != ':')
			return TSR_E_FIELD;
		hlen = (size_t)(end - s - 1);
		s++;
		port = end + 2;
	} else {
		end = strrchr(s, ':');
		if (!end)
			return TSR_E_FIELD;
		hlen = (size_t)(end - s);
		port = end + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return TSR_E_FIELD;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	/* An IPv6 address needs brackets, or its last group would read as the port. */
	if (!bracketed && strchr(host, ':'))
		return TSR_E_FIELD;
	if (port[0] < '0' || port[0] > '9')
		return TSR_E_FIELD;
	errno = 0;
	p = strtoul(port, &stop, 10);
	if (errno || *stop != '\0' || p > 65535)
		return TSR_E_FIELD;
	if (!bracketed && inet_pton(AF_INET, host, a->addr) == 1) {
		a->family = 4;
	} else if (inet_pton(AF_INET6, host, a->addr) == 1) {
		a->family = 6;
	} else {
		memset(a, 0, sizeof(*a));
		return TSR_E_FIELD;
	}
	a->port = (uint16_t)p;
	return TSR_OK;
}

char *tsr_addr_format(const struct tsr_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (!buf || len == 0)
		return buf;
	if ((a->family != 4 && a->family != 6) ||
	    !inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->addr, host, sizeof(host))) {
		snprintf(buf, len, "?");
		return buf;
	}
	if (a->family == 4)
		snprintf(buf, len, "%s:%u", host, a->port);
	else
		snprintf(buf, len, "[%s]:%u", host, a->port);
	return buf;
}
