// SPDX-License-Identifier: MIT
/*
 * The WireGuard handshake (whitepaper section 5.4): creating and consuming
 * the initiation and the response, and deriving the transport keys.  Peers,
 * index tables, macs/cookies and timers live elsewhere.
 *
 * The Noise pattern, IKpsk2:
 *
 *	<- s
 *	...
 *	-> e, es, s, ss, {t}
 *	<- e, ee, se, psk, {}
 *
 * Each step below is labelled with its token.  Every function computes into
 * locals and commits to the handshake only on success, and wipes the locals
 * at its single exit label on every path.
 */
#include "noise.h"

#include <blake2.h>
#include <endian.h>
#include <sodium.h>
#include <string.h>

#include "clock.h"
#include "crypto.h"

static const char handshake_name[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
static const char identifier_name[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";

/* h = HASH(h || data) */
static void mix_hash(uint8_t h[NOISE_HASH_LEN], const void *data, size_t len)
{
	blake2s_state st;

	/* Fixed, valid parameters: libb2 cannot fail here. */
	blake2s_init(&st, NOISE_HASH_LEN);
	blake2s_update(&st, h, NOISE_HASH_LEN);
	blake2s_update(&st, data, len);
	blake2s_final(&st, h, NOISE_HASH_LEN);
	sodium_memzero(&st, sizeof(st));
}

/*
 * The state both sides start from, for the responder's static key:
 * ck = HASH(construction), h = HASH(HASH(ck || identifier) || S_resp).
 */
static void handshake_start(uint8_t ck[NOISE_HASH_LEN], uint8_t h[NOISE_HASH_LEN],
			    const uint8_t responder_static[NOISE_PUBLIC_KEY_LEN])
{
	ts_blake2s(ck, handshake_name, sizeof(handshake_name) - 1);
	memcpy(h, ck, NOISE_HASH_LEN);
	mix_hash(h, identifier_name, sizeof(identifier_name) - 1);
	mix_hash(h, responder_static, NOISE_PUBLIC_KEY_LEN);
}

/* (ck, key) = KDF2(ck, DH(priv, pub)); key may be NULL for KDF1.  False on a low-order point. */
static bool mix_dh(uint8_t ck[NOISE_HASH_LEN], uint8_t *key, const uint8_t priv[32],
		   const uint8_t pub[32])
{
	uint8_t dh[NOISE_PUBLIC_KEY_LEN];
	bool ok = ts_x25519(dh, priv, pub);

	if (ok)
		ts_kdf(ck, key, NULL, dh, sizeof(dh), ck);
	sodium_memzero(dh, sizeof(dh));
	return ok;
}

/* dst = AEAD(key, 0, src, h); h = HASH(h || dst) */
static void encrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t len,
			     const uint8_t key[NOISE_SYMMETRIC_KEY_LEN], uint8_t h[NOISE_HASH_LEN])
{
	ts_aead_encrypt(dst, src, len, h, NOISE_HASH_LEN, 0, key);
	mix_hash(h, dst, noise_encrypted_len(len));
}

/* dst = AEAD-open(key, 0, src, h); h = HASH(h || src).  srclen includes the tag. */
static bool decrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t srclen,
			     const uint8_t key[NOISE_SYMMETRIC_KEY_LEN], uint8_t h[NOISE_HASH_LEN])
{
	if (!ts_aead_decrypt(dst, src, srclen, h, NOISE_HASH_LEN, 0, key))
		return false;
	mix_hash(h, src, srclen);
	return true;
}

static void put_le32(uint32_t *field, uint32_t v)
{
	uint32_t le = htole32(v);

	memcpy(field, &le, sizeof(le));
}

static uint32_t get_le32(const uint32_t *field)
{
	uint32_t le;

	memcpy(&le, field, sizeof(le));
	return le32toh(le);
}

void noise_identity_set(struct noise_identity *id, const uint8_t priv[32])
{
	sodium_memzero(id, sizeof(*id));
	if (sodium_is_zero(priv, NOISE_PUBLIC_KEY_LEN))
		return;
	memcpy(id->static_private, priv, NOISE_PUBLIC_KEY_LEN);
	ts_x25519_clamp(id->static_private);
	id->has_identity = ts_x25519_public(id->static_public, id->static_private);
	if (!id->has_identity)
		sodium_memzero(id, sizeof(*id));
}

void noise_handshake_precompute(struct noise_handshake *hs, const struct noise_identity *id)
{
	/* ts_x25519 leaves zeros behind when the peer's key is a low-order point. */
	if (!id->has_identity ||
	    !ts_x25519(hs->precomputed_static_static, id->static_private, hs->remote_static))
		sodium_memzero(hs->precomputed_static_static, NOISE_PUBLIC_KEY_LEN);
}

void noise_handshake_set_psk(struct noise_handshake *hs, const uint8_t psk[32])
{
	if (psk)
		memcpy(hs->preshared_key, psk, NOISE_SYMMETRIC_KEY_LEN);
	else
		sodium_memzero(hs->preshared_key, NOISE_SYMMETRIC_KEY_LEN);
}

void noise_handshake_init(struct noise_handshake *hs, const struct noise_identity *id,
			  const uint8_t remote_static[32], const uint8_t psk[32])
{
	sodium_memzero(hs, sizeof(*hs));
	memcpy(hs->remote_static, remote_static, NOISE_PUBLIC_KEY_LEN);
	noise_handshake_set_psk(hs, psk);
	noise_handshake_precompute(hs, id);
}

void noise_handshake_clear(struct noise_handshake *hs)
{
	sodium_memzero(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	sodium_memzero(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	sodium_memzero(hs->hash, sizeof(hs->hash));
	sodium_memzero(hs->chaining_key, sizeof(hs->chaining_key));
	hs->local_index = 0;
	hs->remote_index = 0;
	hs->state = HANDSHAKE_ZEROED;
}

bool noise_create_initiation_with_ephemeral(struct message_handshake_initiation *dst,
					    struct noise_handshake *hs,
					    const struct noise_identity *id, uint32_t local_index,
					    const uint8_t ephemeral_private[32],
					    const uint8_t timestamp[12])
{
	uint8_t ck[NOISE_HASH_LEN], h[NOISE_HASH_LEN], key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t e_priv[NOISE_PUBLIC_KEY_LEN];
	bool ret = false;

	/* Without our key, or toward a low-order peer key, ss cannot be computed. */
	if (!id->has_identity ||
	    sodium_is_zero(hs->precomputed_static_static, NOISE_PUBLIC_KEY_LEN))
		return false;

	memset(dst, 0, sizeof(*dst));
	put_le32(&dst->header.type, MESSAGE_HANDSHAKE_INITIATION);
	put_le32(&dst->sender_index, local_index);
	handshake_start(ck, h, hs->remote_static);

	/* e */
	memcpy(e_priv, ephemeral_private, sizeof(e_priv));
	if (!ts_x25519_public(dst->unencrypted_ephemeral, e_priv))
		goto out;
	ts_kdf(ck, NULL, NULL, dst->unencrypted_ephemeral, NOISE_PUBLIC_KEY_LEN, ck);
	mix_hash(h, dst->unencrypted_ephemeral, NOISE_PUBLIC_KEY_LEN);

	/* es */
	if (!mix_dh(ck, key, e_priv, hs->remote_static))
		goto out;

	/* s */
	encrypt_and_hash(dst->encrypted_static, id->static_public, NOISE_PUBLIC_KEY_LEN, key, h);

	/* ss */
	ts_kdf(ck, key, NULL, hs->precomputed_static_static, NOISE_PUBLIC_KEY_LEN, ck);

	/* {t} */
	encrypt_and_hash(dst->encrypted_timestamp, timestamp, NOISE_TIMESTAMP_LEN, key, h);

	memcpy(hs->ephemeral_private, e_priv, sizeof(e_priv));
	memcpy(hs->hash, h, sizeof(h));
	memcpy(hs->chaining_key, ck, sizeof(ck));
	sodium_memzero(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	hs->remote_index = 0;
	hs->local_index = local_index;
	hs->state = HANDSHAKE_CREATED_INITIATION;
	ret = true;
out:
	if (!ret)
		sodium_memzero(dst, sizeof(*dst));
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(h, sizeof(h));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(e_priv, sizeof(e_priv));
	return ret;
}

bool noise_create_initiation(struct message_handshake_initiation *dst, struct noise_handshake *hs,
			     const struct noise_identity *id, uint32_t local_index)
{
	uint8_t e_priv[NOISE_PUBLIC_KEY_LEN], e_pub[NOISE_PUBLIC_KEY_LEN];
	uint8_t timestamp[NOISE_TIMESTAMP_LEN];
	bool ret;

	ts_x25519_generate(e_priv, e_pub);
	tai64n_now(timestamp);
	ret = noise_create_initiation_with_ephemeral(dst, hs, id, local_index, e_priv, timestamp);
	sodium_memzero(e_priv, sizeof(e_priv));
	return ret;
}

bool noise_consume_initiation_decrypt(const struct message_handshake_initiation *src,
				      const struct noise_identity *id,
				      struct noise_initiation_result *out)
{
	uint8_t ck[NOISE_HASH_LEN], h[NOISE_HASH_LEN], key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t e[NOISE_PUBLIC_KEY_LEN], s[NOISE_PUBLIC_KEY_LEN], t[NOISE_TIMESTAMP_LEN];
	bool ret = false;

	sodium_memzero(out, sizeof(*out));
	if (!id->has_identity)
		return false;

	handshake_start(ck, h, id->static_public);

	/* e */
	memcpy(e, src->unencrypted_ephemeral, sizeof(e));
	ts_kdf(ck, NULL, NULL, e, sizeof(e), ck);
	mix_hash(h, e, sizeof(e));

	/* es */
	if (!mix_dh(ck, key, id->static_private, e))
		goto out;

	/* s */
	if (!decrypt_and_hash(s, src->encrypted_static, sizeof(src->encrypted_static), key, h))
		goto out;

	/* ss: the peer is not known yet, so no precomputation to use. */
	if (!mix_dh(ck, key, id->static_private, s))
		goto out;

	/* {t} */
	if (!decrypt_and_hash(t, src->encrypted_timestamp, sizeof(src->encrypted_timestamp), key,
			      h))
		goto out;

	memcpy(out->remote_static, s, sizeof(s));
	memcpy(out->remote_ephemeral, e, sizeof(e));
	memcpy(out->hash, h, sizeof(h));
	memcpy(out->chaining_key, ck, sizeof(ck));
	memcpy(out->timestamp, t, sizeof(t));
	out->remote_index = get_le32(&src->sender_index);
	ret = true;
out:
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(h, sizeof(h));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(e, sizeof(e));
	sodium_memzero(s, sizeof(s));
	sodium_memzero(t, sizeof(t));
	return ret;
}

bool noise_consume_initiation_accept(struct noise_handshake *hs,
				     const struct noise_initiation_result *r, uint64_t now_ns)
{
	const uint64_t min_interval = NSEC_PER_SEC / INITIATIONS_PER_SECOND;
	bool replay, flood;

	if (sodium_memcmp(hs->remote_static, r->remote_static, NOISE_PUBLIC_KEY_LEN) != 0)
		return false;
	/* A peer we could not initiate to (invalid key, or no identity when it was set up). */
	if (sodium_is_zero(hs->precomputed_static_static, NOISE_PUBLIC_KEY_LEN))
		return false;

	/*
	 * TAI64N is big-endian, so byte order is time order.  An initiation whose
	 * timestamp is not newer than the last accepted one is a replay: an
	 * attacker could otherwise make us drop our current session for it.
	 */
	replay = memcmp(r->timestamp, hs->latest_timestamp, NOISE_TIMESTAMP_LEN) <= 0;
	/* 0 = never consumed; a clock that went backwards counts as not flooding. */
	flood = hs->last_initiation_consumption_ns != 0 &&
		now_ns >= hs->last_initiation_consumption_ns &&
		now_ns - hs->last_initiation_consumption_ns < min_interval;
	if (replay || flood)
		return false;

	memcpy(hs->remote_ephemeral, r->remote_ephemeral, NOISE_PUBLIC_KEY_LEN);
	memcpy(hs->hash, r->hash, NOISE_HASH_LEN);
	memcpy(hs->chaining_key, r->chaining_key, NOISE_HASH_LEN);
	memcpy(hs->latest_timestamp, r->timestamp, NOISE_TIMESTAMP_LEN);
	hs->last_initiation_consumption_ns = now_ns;
	hs->remote_index = r->remote_index;
	/* An initiation of ours still in flight is abandoned: theirs wins. */
	sodium_memzero(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	/* local_index stays: the caller may still have it hashed and must unhash it. */
	hs->state = HANDSHAKE_CONSUMED_INITIATION;
	return true;
}

bool noise_create_response_with_ephemeral(struct message_handshake_response *dst,
					  struct noise_handshake *hs,
					  const struct noise_identity *id, uint32_t local_index,
					  const uint8_t ephemeral_private[32])
{
	uint8_t ck[NOISE_HASH_LEN], h[NOISE_HASH_LEN], key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t tau[NOISE_HASH_LEN], e_priv[NOISE_PUBLIC_KEY_LEN];
	bool ret = false;

	if (hs->state != HANDSHAKE_CONSUMED_INITIATION || !id->has_identity)
		return false;

	memset(dst, 0, sizeof(*dst));
	put_le32(&dst->header.type, MESSAGE_HANDSHAKE_RESPONSE);
	put_le32(&dst->sender_index, local_index);
	put_le32(&dst->receiver_index, hs->remote_index);
	memcpy(ck, hs->chaining_key, sizeof(ck));
	memcpy(h, hs->hash, sizeof(h));

	/* e */
	memcpy(e_priv, ephemeral_private, sizeof(e_priv));
	if (!ts_x25519_public(dst->unencrypted_ephemeral, e_priv))
		goto out;
	ts_kdf(ck, NULL, NULL, dst->unencrypted_ephemeral, NOISE_PUBLIC_KEY_LEN, ck);
	mix_hash(h, dst->unencrypted_ephemeral, NOISE_PUBLIC_KEY_LEN);

	/* ee */
	if (!mix_dh(ck, NULL, e_priv, hs->remote_ephemeral))
		goto out;

	/* se */
	if (!mix_dh(ck, NULL, e_priv, hs->remote_static))
		goto out;

	/* psk */
	ts_kdf(ck, tau, key, hs->preshared_key, NOISE_SYMMETRIC_KEY_LEN, ck);
	mix_hash(h, tau, sizeof(tau));

	/* {} */
	encrypt_and_hash(dst->encrypted_nothing, NULL, 0, key, h);

	memcpy(hs->hash, h, sizeof(h));
	memcpy(hs->chaining_key, ck, sizeof(ck));
	/* Our ephemeral has done its work (ee, se): keep no copy. */
	sodium_memzero(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	hs->local_index = local_index;
	hs->state = HANDSHAKE_CREATED_RESPONSE;
	ret = true;
out:
	if (!ret)
		sodium_memzero(dst, sizeof(*dst));
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(h, sizeof(h));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(tau, sizeof(tau));
	sodium_memzero(e_priv, sizeof(e_priv));
	return ret;
}

bool noise_create_response(struct message_handshake_response *dst, struct noise_handshake *hs,
			   const struct noise_identity *id, uint32_t local_index)
{
	uint8_t e_priv[NOISE_PUBLIC_KEY_LEN], e_pub[NOISE_PUBLIC_KEY_LEN];
	bool ret;

	ts_x25519_generate(e_priv, e_pub);
	ret = noise_create_response_with_ephemeral(dst, hs, id, local_index, e_priv);
	sodium_memzero(e_priv, sizeof(e_priv));
	return ret;
}

bool noise_consume_response(const struct message_handshake_response *src,
			    struct noise_handshake *hs, const struct noise_identity *id)
{
	uint8_t ck[NOISE_HASH_LEN], h[NOISE_HASH_LEN], key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t tau[NOISE_HASH_LEN], e[NOISE_PUBLIC_KEY_LEN];
	uint8_t nothing[1];
	bool ret = false;

	if (hs->state != HANDSHAKE_CREATED_INITIATION || !id->has_identity ||
	    get_le32(&src->receiver_index) != hs->local_index)
		return false;

	memcpy(ck, hs->chaining_key, sizeof(ck));
	memcpy(h, hs->hash, sizeof(h));

	/* e */
	memcpy(e, src->unencrypted_ephemeral, sizeof(e));
	ts_kdf(ck, NULL, NULL, e, sizeof(e), ck);
	mix_hash(h, e, sizeof(e));

	/* ee */
	if (!mix_dh(ck, NULL, hs->ephemeral_private, e))
		goto out;

	/* se */
	if (!mix_dh(ck, NULL, id->static_private, e))
		goto out;

	/* psk */
	ts_kdf(ck, tau, key, hs->preshared_key, NOISE_SYMMETRIC_KEY_LEN, ck);
	mix_hash(h, tau, sizeof(tau));

	/* {} */
	if (!decrypt_and_hash(nothing, src->encrypted_nothing, sizeof(src->encrypted_nothing), key,
			      h))
		goto out;

	memcpy(hs->remote_ephemeral, e, sizeof(e));
	memcpy(hs->hash, h, sizeof(h));
	memcpy(hs->chaining_key, ck, sizeof(ck));
	hs->remote_index = get_le32(&src->sender_index);
	hs->state = HANDSHAKE_CONSUMED_RESPONSE;
	ret = true;
out:
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(h, sizeof(h));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(tau, sizeof(tau));
	sodium_memzero(e, sizeof(e));
	return ret;
}

bool noise_begin_session(struct noise_handshake *hs, struct noise_keys *out)
{
	uint8_t first[NOISE_SYMMETRIC_KEY_LEN], second[NOISE_SYMMETRIC_KEY_LEN];
	bool initiator;

	if (hs->state == HANDSHAKE_CONSUMED_RESPONSE)
		initiator = true;
	else if (hs->state == HANDSHAKE_CREATED_RESPONSE)
		initiator = false;
	else
		return false;

	/* (T_send_i, T_recv_i) = (T_recv_r, T_send_r) = KDF2(ck, empty) */
	ts_kdf(first, second, NULL, NULL, 0, hs->chaining_key);
	memcpy(out->sending, initiator ? first : second, NOISE_SYMMETRIC_KEY_LEN);
	memcpy(out->receiving, initiator ? second : first, NOISE_SYMMETRIC_KEY_LEN);
	out->local_index = hs->local_index;
	out->remote_index = hs->remote_index;
	out->is_initiator = initiator;

	sodium_memzero(first, sizeof(first));
	sodium_memzero(second, sizeof(second));
	noise_handshake_clear(hs);
	return true;
}
