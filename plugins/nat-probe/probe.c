// SPDX-License-Identifier: MIT
/*
 * PING/PONG and candidates codecs with their macs (probe.h).  Both arrive
 * from the network (probes from anyone on the internet, candidates through
 * the relay): lengths are checked before any read, and the mac is checked
 * before any field is believed.
 */
#include "probe.h"

#include <blake2.h>
#include <sodium.h>
#include <string.h>

#define OFF_TYPE     4
#define OFF_SENDER   8
#define OFF_TXID     40
#define OFF_OBSERVED 52
#define PING_OFF_MAC 52
#define PONG_OFF_MAC 72

#define CAND_OFF_TXID  4
#define CAND_OFF_FLAGS 16
#define CAND_OFF_COUNT 17

static const char probe_label[] = "tinescale-probe-v1";

void probe_key(uint8_t pk[PROBE_KEY_LEN], const uint8_t dh[32])
{
	uint8_t in[sizeof(probe_label) - 1 + 32];

	memcpy(in, probe_label, sizeof(probe_label) - 1);
	memcpy(in + sizeof(probe_label) - 1, dh, 32);
	blake2s(pk, in, NULL, PROBE_KEY_LEN, sizeof(in), 0);
	sodium_memzero(in, sizeof(in));
}

/* The macs are the relay frames' (relay_proto.h): keyed BLAKE2s-128. */
_Static_assert(PROBE_MAC_LEN == TSR_MAC_LEN && PROBE_KEY_LEN == TSR_KEY_LEN, "mac sizes");

/*
 * An address record: a reserved byte is PROBE_E_RESERVED (checked first),
 * anything else tsr_addr_get refuses (family, v4 tail) PROBE_E_FIELD.
 */
static int get_addr(struct tsr_addr *a, const uint8_t rec[TSR_ADDR_LEN])
{
	if (rec[1])
		return PROBE_E_RESERVED;
	if (tsr_addr_get(a, rec) != TSR_OK)
		return PROBE_E_FIELD;
	return PROBE_OK;
}

const char *probe_result_name(int result)
{
	switch (result) {
	case PROBE_OK:
		return "ok";
	case PROBE_E_SHORT:
		return "short";
	case PROBE_E_LENGTH:
		return "length";
	case PROBE_E_MAGIC:
		return "magic";
	case PROBE_E_TYPE:
		return "type";
	case PROBE_E_RESERVED:
		return "reserved";
	case PROBE_E_FIELD:
		return "field";
	case PROBE_E_MAC:
		return "mac";
	}
	return "?";
}

bool probe_is_probe(const uint8_t *buf, size_t len)
{
	return buf && len >= PROBE_MAGIC_LEN && !memcmp(buf, PROBE_MAGIC, PROBE_MAGIC_LEN);
}

bool cand_is_cand(const uint8_t *buf, size_t len)
{
	return buf && len >= PROBE_MAGIC_LEN && !memcmp(buf, CAND_MAGIC, PROBE_MAGIC_LEN);
}

static void put_probe_header(uint8_t *out, uint8_t type, const uint8_t sender[PROBE_KEY_LEN],
			     const uint8_t txid[PROBE_TXID_LEN])
{
	memcpy(out, PROBE_MAGIC, PROBE_MAGIC_LEN);
	out[OFF_TYPE] = type;
	memset(out + OFF_TYPE + 1, 0, 3);
	memcpy(out + OFF_SENDER, sender, PROBE_KEY_LEN);
	memcpy(out + OFF_TXID, txid, PROBE_TXID_LEN);
}

void probe_ping_encode(uint8_t out[PROBE_PING_LEN], const uint8_t pk[PROBE_KEY_LEN],
		       const uint8_t sender[PROBE_KEY_LEN], const uint8_t txid[PROBE_TXID_LEN])
{
	put_probe_header(out, PROBE_PING, sender, txid);
	tsr_mac(out + PING_OFF_MAC, out, PING_OFF_MAC, pk);
}

int probe_pong_encode(uint8_t out[PROBE_PONG_LEN], const uint8_t pk[PROBE_KEY_LEN],
		      const uint8_t sender[PROBE_KEY_LEN], const uint8_t txid[PROBE_TXID_LEN],
		      const struct tsr_addr *observed)
{
	uint8_t rec[TSR_ADDR_LEN];

	if (tsr_addr_put(rec, observed) != TSR_OK)
		return PROBE_E_FIELD;
	put_probe_header(out, PROBE_PONG, sender, txid);
	memcpy(out + OFF_OBSERVED, rec, TSR_ADDR_LEN);
	tsr_mac(out + PONG_OFF_MAC, out, PONG_OFF_MAC, pk);
	return PROBE_OK;
}

int probe_decode(const uint8_t *buf, size_t len, const uint8_t *pk, struct probe_msg *out)
{
	struct probe_msg m;
	size_t want, mac_off;

	if (!buf || len < OFF_TYPE + 4)
		return PROBE_E_SHORT;
	if (memcmp(buf, PROBE_MAGIC, PROBE_MAGIC_LEN))
		return PROBE_E_MAGIC;
	switch (buf[OFF_TYPE]) {
	case PROBE_PING:
		want = PROBE_PING_LEN;
		mac_off = PING_OFF_MAC;
		break;
	case PROBE_PONG:
		want = PROBE_PONG_LEN;
		mac_off = PONG_OFF_MAC;
		break;
	default:
		return PROBE_E_TYPE;
	}
	/* Fixed sizes: anything else is not a probe of ours. */
	if (len != want)
		return len < want ? PROBE_E_SHORT : PROBE_E_LENGTH;
	if (buf[OFF_TYPE + 1] | buf[OFF_TYPE + 2] | buf[OFF_TYPE + 3])
		return PROBE_E_RESERVED;
	memset(&m, 0, sizeof(m));
	m.type = buf[OFF_TYPE];
	memcpy(m.sender, buf + OFF_SENDER, PROBE_KEY_LEN);
	memcpy(m.txid, buf + OFF_TXID, PROBE_TXID_LEN);
	if (m.type == PROBE_PONG) {
		int r = get_addr(&m.observed, buf + OFF_OBSERVED);

		if (r != PROBE_OK)
			return r;
	}
	if (pk && !tsr_mac_ok(buf, mac_off, pk))
		return PROBE_E_MAC;
	*out = m;
	return PROBE_OK;
}

size_t cand_encode(uint8_t *out, size_t outlen, const uint8_t pk[PROBE_KEY_LEN],
		   const uint8_t txid[PROBE_TXID_LEN], uint8_t flags, const struct tsr_addr *c,
		   size_t n)
{
	size_t len = CAND_LEN(n);

	if (!out || n > CAND_MAX || outlen < len)
		return 0;
	memcpy(out, CAND_MAGIC, PROBE_MAGIC_LEN);
	memcpy(out + CAND_OFF_TXID, txid, PROBE_TXID_LEN);
	out[CAND_OFF_FLAGS] = flags;
	out[CAND_OFF_COUNT] = (uint8_t)n;
	for (size_t i = 0; i < n; i++)
		if (tsr_addr_put(out + CAND_HDR_LEN + i * TSR_ADDR_LEN, &c[i]) != TSR_OK)
			return 0;
	tsr_mac(out + len - PROBE_MAC_LEN, out, len - PROBE_MAC_LEN, pk);
	return len;
}

int cand_decode(const uint8_t *buf, size_t len, const uint8_t pk[PROBE_KEY_LEN],
		struct cand_msg *out)
{
	struct cand_msg m;
	size_t n;

	if (!buf || len < CAND_LEN(0))
		return PROBE_E_SHORT;
	if (memcmp(buf, CAND_MAGIC, PROBE_MAGIC_LEN))
		return PROBE_E_MAGIC;
	n = buf[CAND_OFF_COUNT];
	if (n > CAND_MAX)
		return PROBE_E_FIELD;
	/* The count fixes the length exactly. */
	if (len != CAND_LEN(n))
		return len < CAND_LEN(n) ? PROBE_E_SHORT : PROBE_E_LENGTH;
	if (buf[CAND_OFF_FLAGS] & ~CAND_FLAG_REPLY)
		return PROBE_E_RESERVED;
	if (!tsr_mac_ok(buf, len - PROBE_MAC_LEN, pk))
		return PROBE_E_MAC;
	memset(&m, 0, sizeof(m));
	memcpy(m.txid, buf + CAND_OFF_TXID, PROBE_TXID_LEN);
	m.flags = buf[CAND_OFF_FLAGS];
	m.count = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		int r = get_addr(&m.cand[i], buf + CAND_HDR_LEN + i * TSR_ADDR_LEN);

		if (r != PROBE_OK)
			return r;
	}
	*out = m;
	return PROBE_OK;
}
