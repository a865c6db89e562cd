// SPDX-License-Identifier: MIT
/*
 * PING/PONG and candidates codecs, version 2, with their keys, macs and
 * AEAD (probe.h).  Both arrive from the network (probes from anyone on the
 * internet, candidates through the relay): lengths are checked before any
 * read, and the mac (or the AEAD tag) is checked before any field is
 * believed.
 */
#include "probe.h"

#include <blake2.h>
#include <sodium.h>
#include <string.h>

#define OFF_TYPE     4
#define OFF_SENDER   8
#define OFF_COUNTER  40
#define OFF_TXID     48
#define OFF_OBSERVED 60
#define PING_OFF_MAC 60
#define PONG_OFF_MAC 80

#define CAND_OFF_COUNTER 4
#define CAND_OFF_NONCE	 12
#define IN_OFF_FLAGS	 0
#define IN_OFF_COUNT	 1
#define IN_OFF_RECS	 CAND_INNER_LEN

_Static_assert(PROBE_MAC_LEN == TSR_MAC_LEN && PROBE_KEY_LEN == TSR_KEY_LEN, "mac sizes");
_Static_assert(PROBE_PONG_LEN == PONG_OFF_MAC + PROBE_MAC_LEN, "pong layout");
_Static_assert(PROBE_PING_LEN == PING_OFF_MAC + PROBE_MAC_LEN, "ping layout");
_Static_assert(CAND_HDR_LEN == CAND_OFF_NONCE + CAND_NONCE_LEN, "candidates layout");
_Static_assert(CAND_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES &&
		   CAND_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES &&
		   PROBE_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
	       "AEAD sizes");

static const char mac_label[] = "tinescale-probe-v2 mac";
static const char cand_label[] = "tinescale-probe-v2 cand";

/* BLAKE2s-256 keyed with the shared secret over label || from || to. */
static void derive(uint8_t out[PROBE_KEY_LEN], const uint8_t dh[32], const char *label,
		   size_t label_len, const uint8_t from[32], const uint8_t to[32])
{
	blake2s_state st;

	blake2s_init_key(&st, PROBE_KEY_LEN, dh, 32);
	blake2s_update(&st, (const uint8_t *)label, label_len);
	blake2s_update(&st, from, 32);
	blake2s_update(&st, to, 32);
	blake2s_final(&st, out, PROBE_KEY_LEN);
	sodium_memzero(&st, sizeof(st));
}

void probe_keys(struct probe_keys *k, const uint8_t dh[32], const uint8_t self[32],
		const uint8_t peer[32])
{
	derive(k->mac_tx, dh, mac_label, sizeof(mac_label) - 1, self, peer);
	derive(k->mac_rx, dh, mac_label, sizeof(mac_label) - 1, peer, self);
	derive(k->cand_tx, dh, cand_label, sizeof(cand_label) - 1, self, peer);
	derive(k->cand_rx, dh, cand_label, sizeof(cand_label) - 1, peer, self);
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

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
			     uint64_t counter, const uint8_t txid[PROBE_TXID_LEN])
{
	memcpy(out, PROBE_MAGIC, PROBE_MAGIC_LEN);
	out[OFF_TYPE] = type;
	memset(out + OFF_TYPE + 1, 0, 3);
	memcpy(out + OFF_SENDER, sender, PROBE_KEY_LEN);
	put_u64(out + OFF_COUNTER, counter);
	memcpy(out + OFF_TXID, txid, PROBE_TXID_LEN);
}

void probe_ping_encode(uint8_t out[PROBE_PING_LEN], const uint8_t key[PROBE_KEY_LEN],
		       const uint8_t sender[PROBE_KEY_LEN], uint64_t counter,
		       const uint8_t txid[PROBE_TXID_LEN])
{
	put_probe_header(out, PROBE_PING, sender, counter, txid);
	tsr_mac(out + PING_OFF_MAC, out, PING_OFF_MAC, key);
}

int probe_pong_encode(uint8_t out[PROBE_PONG_LEN], const uint8_t key[PROBE_KEY_LEN],
		      const uint8_t sender[PROBE_KEY_LEN], uint64_t counter,
		      const uint8_t txid[PROBE_TXID_LEN], const struct tsr_addr *observed)
{
	uint8_t rec[TSR_ADDR_LEN];

	if (tsr_addr_put(rec, observed) != TSR_OK)
		return PROBE_E_FIELD;
	put_probe_header(out, PROBE_PONG, sender, counter, txid);
	memcpy(out + OFF_OBSERVED, rec, TSR_ADDR_LEN);
	tsr_mac(out + PONG_OFF_MAC, out, PONG_OFF_MAC, key);
	return PROBE_OK;
}

int probe_decode(const uint8_t *buf, size_t len, const uint8_t *key, struct probe_msg *out)
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
	m.counter = get_u64(buf + OFF_COUNTER);
	memcpy(m.txid, buf + OFF_TXID, PROBE_TXID_LEN);
	if (m.type == PROBE_PONG) {
		int r = get_addr(&m.observed, buf + OFF_OBSERVED);

		if (r != PROBE_OK)
			return r;
	}
	if (key && !tsr_mac_ok(buf, mac_off, key))
		return PROBE_E_MAC;
	*out = m;
	return PROBE_OK;
}

size_t cand_encode_nonce(uint8_t *out, size_t outlen, const uint8_t key[PROBE_KEY_LEN],
			 uint64_t counter, const uint8_t nonce[CAND_NONCE_LEN], uint8_t flags,
			 const struct tsr_addr *c, size_t n)
{
	uint8_t plain[CAND_INNER_LEN + CAND_MAX * TSR_ADDR_LEN];
	size_t plen = CAND_INNER_LEN + n * TSR_ADDR_LEN, len = CAND_LEN(n);
	unsigned long long clen;

	if (!out || n > CAND_MAX || outlen < len)
		return 0;
	plain[IN_OFF_FLAGS] = flags;
	plain[IN_OFF_COUNT] = (uint8_t)n;
	plain[2] = plain[3] = 0;
	for (size_t i = 0; i < n; i++)
		if (tsr_addr_put(plain + IN_OFF_RECS + i * TSR_ADDR_LEN, &c[i]) != TSR_OK)
			return 0;
	memcpy(out, CAND_MAGIC, PROBE_MAGIC_LEN);
	put_u64(out + CAND_OFF_COUNTER, counter);
	memcpy(out + CAND_OFF_NONCE, nonce, CAND_NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + CAND_HDR_LEN, &clen, plain, plen, out,
						   CAND_HDR_LEN, NULL, nonce, key);
	sodium_memzero(plain, sizeof(plain));
	return clen == plen + CAND_TAG_LEN ? len : 0;
}

size_t cand_encode(uint8_t *out, size_t outlen, const uint8_t key[PROBE_KEY_LEN], uint64_t counter,
		   uint8_t flags, const struct tsr_addr *c, size_t n)
{
	uint8_t nonce[CAND_NONCE_LEN];

	/* Random 192-bit nonces never repeat in practice: no state to keep. */
	randombytes_buf(nonce, sizeof(nonce));
	return cand_encode_nonce(out, outlen, key, counter, nonce, flags, c, n);
}

int cand_decode(const uint8_t *buf, size_t len, const uint8_t key[PROBE_KEY_LEN],
		struct cand_msg *out)
{
	uint8_t plain[CAND_INNER_LEN + CAND_MAX * TSR_ADDR_LEN];
	unsigned long long plen;
	struct cand_msg m;
	size_t n;
	int r = PROBE_OK;

	if (!buf || len < CAND_LEN(0))
		return PROBE_E_SHORT;
	if (memcmp(buf, CAND_MAGIC, PROBE_MAGIC_LEN))
		return PROBE_E_MAGIC;
	/* The length fixes the count: whole records only, at most CAND_MAX. */
	if ((len - CAND_LEN(0)) % TSR_ADDR_LEN)
		return PROBE_E_LENGTH;
	n = (len - CAND_LEN(0)) / TSR_ADDR_LEN;
	if (n > CAND_MAX)
		return PROBE_E_LENGTH;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plen, NULL, buf + CAND_HDR_LEN,
						       len - CAND_HDR_LEN, buf, CAND_HDR_LEN,
						       buf + CAND_OFF_NONCE, key) != 0 ||
	    plen != CAND_INNER_LEN + n * TSR_ADDR_LEN)
		return PROBE_E_MAC;
	memset(&m, 0, sizeof(m));
	m.counter = get_u64(buf + CAND_OFF_COUNTER);
	memcpy(m.nonce, buf + CAND_OFF_NONCE, CAND_NONCE_LEN);
	m.flags = plain[IN_OFF_FLAGS];
	m.count = plain[IN_OFF_COUNT];
	/* Authentic, so these are the sender's bugs, not forgeries: still refused. */
	if (m.count != n)
		r = PROBE_E_FIELD;
	else if ((m.flags & ~CAND_FLAG_REPLY) || plain[2] || plain[3])
		r = PROBE_E_RESERVED;
	for (size_t i = 0; r == PROBE_OK && i < n; i++)
		r = get_addr(&m.cand[i], plain + IN_OFF_RECS + i * TSR_ADDR_LEN);
	sodium_memzero(plain, sizeof(plain));
	if (r == PROBE_OK)
		*out = m;
	sodium_memzero(&m, sizeof(m));
	return r;
}
