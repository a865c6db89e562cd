// SPDX-License-Identifier: MIT
/*
 * mac1/mac2 and cookie replies (whitepaper 5.4.4 - 5.4.7):
 *
 *	mac1   = MAC(HASH("mac1----" || S_receiver), msg up to mac1)
 *	cookie = MAC(secret, source address bytes)   secret replaced every 120 s
 *	mac2   = MAC(cookie, msg up to mac2)
 *	reply  = XAEAD(HASH("cookie--" || S_sender_of_reply), random nonce, cookie, ad = mac1)
 *
 * MAC is keyed BLAKE2s with a 16-byte output.
 */
#include "cookie.h"

#include <endian.h>
#include <sodium.h>
#include <string.h>

#include "clock.h"
#include "crypto.h"

static const char mac1_label[] = "mac1----";
static const char cookie_label[] = "cookie--";

/* HASH(label || pub); both labels are 8 bytes. */
static void derive_key(uint8_t key[NOISE_SYMMETRIC_KEY_LEN], const char label[9],
		       const uint8_t pub[NOISE_PUBLIC_KEY_LEN])
{
	uint8_t buf[8 + NOISE_PUBLIC_KEY_LEN];

	memcpy(buf, label, 8);
	memcpy(buf + 8, pub, NOISE_PUBLIC_KEY_LEN);
	ts_blake2s(key, buf, sizeof(buf));
}

/* The macs trail every handshake message; where mac1 and mac2 begin. */
static size_t mac1_offset(size_t len)
{
	return len - sizeof(struct message_macs);
}

static size_t mac2_offset(size_t len)
{
	return mac1_offset(len) + COOKIE_LEN;
}

void cookie_checker_init(struct cookie_checker *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	/* birthdate 0: a fresh secret is drawn on first use. */
	randombytes_buf(c->secret, sizeof(c->secret));
}

void cookie_checker_destroy(struct cookie_checker *c)
{
	pthread_mutex_destroy(&c->lock);
	sodium_memzero(c, sizeof(*c));
}

void cookie_checker_precompute_keys(struct cookie_checker *c, const uint8_t our_public[32])
{
	pthread_mutex_lock(&c->lock);
	if (our_public) {
		derive_key(c->cookie_encryption_key, cookie_label, our_public);
		derive_key(c->message_mac1_key, mac1_label, our_public);
	} else {
		sodium_memzero(c->cookie_encryption_key, sizeof(c->cookie_encryption_key));
		sodium_memzero(c->message_mac1_key, sizeof(c->message_mac1_key));
	}
	pthread_mutex_unlock(&c->lock);
}

/*
 * Called with c->lock held: a copy of the secret, drawn afresh once the old
 * one is COOKIE_SECRET_MAX_AGE old.  The MACs are computed on the copy,
 * after the lock is dropped: rx checks mac2 while the handshake thread
 * makes replies.
 */
static void secret_copy_locked(uint8_t secret[COOKIE_SECRET_LEN], struct cookie_checker *c,
			       uint64_t now_ns)
{
	if (ts_has_expired(c->secret_birthdate_ns, COOKIE_SECRET_MAX_AGE * NSEC_PER_SEC, now_ns)) {
		randombytes_buf(c->secret, sizeof(c->secret));
		c->secret_birthdate_ns = now_ns;
	}
	memcpy(secret, c->secret, COOKIE_SECRET_LEN);
}

static void make_cookie(uint8_t cookie[COOKIE_LEN], const uint8_t secret[COOKIE_SECRET_LEN],
			const union ts_endpoint *src)
{
	unsigned char addr[18];
	size_t addrlen;

	addrlen = ts_endpoint_addr_bytes(src, addr);
	ts_blake2s_mac(cookie, COOKIE_LEN, secret, COOKIE_SECRET_LEN, addr, addrlen);
}

enum cookie_mac_state cookie_validate_packet_at(struct cookie_checker *c, const void *msg,
						size_t len, const union ts_endpoint *src,
						bool check_cookie, uint64_t now_ns)
{
	const uint8_t *bytes = msg;
	uint8_t key[NOISE_SYMMETRIC_KEY_LEN], cookie[COOKIE_LEN], computed[COOKIE_LEN];
	uint8_t secret[COOKIE_SECRET_LEN];
	enum cookie_mac_state ret = INVALID_MAC;

	/* Callers pass whole handshake messages; anything shorter has no macs to check. */
	if (len < sizeof(struct message_macs))
		return INVALID_MAC;

	pthread_mutex_lock(&c->lock);
	memcpy(key, c->message_mac1_key, sizeof(key));
	pthread_mutex_unlock(&c->lock);
	/* No identity: nobody can have addressed a valid mac1 to us. */
	if (sodium_is_zero(key, sizeof(key)))
		goto out;

	ts_blake2s_mac(computed, COOKIE_LEN, key, sizeof(key), bytes, mac1_offset(len));
	if (sodium_memcmp(computed, bytes + mac1_offset(len), COOKIE_LEN) != 0)
		goto out;
	ret = VALID_MAC_BUT_NO_COOKIE;
	if (!check_cookie)
		goto out;

	pthread_mutex_lock(&c->lock);
	secret_copy_locked(secret, c, now_ns);
	pthread_mutex_unlock(&c->lock);
	make_cookie(cookie, secret, src);
	ts_blake2s_mac(computed, COOKIE_LEN, cookie, sizeof(cookie), bytes, mac2_offset(len));
	if (sodium_memcmp(computed, bytes + mac2_offset(len), COOKIE_LEN) == 0)
		ret = VALID_MAC_WITH_COOKIE;
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(cookie, sizeof(cookie));
	sodium_memzero(computed, sizeof(computed));
	return ret;
}

enum cookie_mac_state cookie_validate_packet(struct cookie_checker *c, const void *msg, size_t len,
					     const union ts_endpoint *src, bool check_cookie)
{
	return cookie_validate_packet_at(c, msg, len, src, check_cookie, ts_now_ns());
}

/* One reply into r->reply, with the nonce given, under a copy of the secret and key. */
static void write_reply(const struct cookie_request *r, const uint8_t secret[COOKIE_SECRET_LEN],
			const uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
			const uint8_t nonce[COOKIE_NONCE_LEN])
{
	const uint8_t *msg = r->msg;
	uint8_t *out = r->reply, cookie[COOKIE_LEN];
	uint32_t le;

	memset(out, 0, sizeof(struct message_handshake_cookie));
	if (r->len < sizeof(struct message_macs))
		return;
	le = htole32(MESSAGE_HANDSHAKE_COOKIE);
	memcpy(out + offsetof(struct message_handshake_cookie, header), &le, sizeof(le));
	le = htole32(r->receiver_index);
	memcpy(out + offsetof(struct message_handshake_cookie, receiver_index), &le, sizeof(le));
	memcpy(out + offsetof(struct message_handshake_cookie, nonce), nonce, COOKIE_NONCE_LEN);
	make_cookie(cookie, secret, r->src);
	/* The mac1 as associated data ties the reply to the message it answers. */
	ts_xaead_encrypt(out + offsetof(struct message_handshake_cookie, encrypted_cookie), cookie,
			 COOKIE_LEN, msg + mac1_offset(r->len), COOKIE_LEN, nonce, key);
	sodium_memzero(cookie, sizeof(cookie));
}

void cookie_messages_create_at(struct cookie_checker *c, const struct cookie_request *req,
			       unsigned n, uint64_t now_ns)
{
	uint8_t secret[COOKIE_SECRET_LEN], key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t nonce[COOKIE_NONCE_BATCH][COOKIE_NONCE_LEN];

	if (!n)
		return;
	pthread_mutex_lock(&c->lock);
	secret_copy_locked(secret, c, now_ns);
	memcpy(key, c->cookie_encryption_key, sizeof(key));
	pthread_mutex_unlock(&c->lock);
	for (unsigned i = 0; i < n; i++) {
		unsigned k = i % COOKIE_NONCE_BATCH;

		/* Random nonces (XChaCha20's 24 bytes need no counter): one draw for many. */
		if (k == 0)
			randombytes_buf(nonce, COOKIE_NONCE_LEN * (n - i < COOKIE_NONCE_BATCH
								       ? n - i
								       : COOKIE_NONCE_BATCH));
		write_reply(&req[i], secret, key, nonce[k]);
	}
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(key, sizeof(key));
}

void cookie_messages_create(struct cookie_checker *c, const struct cookie_request *req, unsigned n)
{
	cookie_messages_create_at(c, req, n, ts_now_ns());
}

void cookie_message_create_at(struct message_handshake_cookie *dst, struct cookie_checker *c,
			      const void *msg, size_t len, uint32_t receiver_index,
			      const union ts_endpoint *src, uint64_t now_ns)
{
	struct cookie_request r = {.msg = msg,
				   .len = len,
				   .receiver_index = receiver_index,
				   .src = src,
				   .reply = (uint8_t *)dst};

	cookie_messages_create_at(c, &r, 1, now_ns);
}

void cookie_message_create(struct message_handshake_cookie *dst, struct cookie_checker *c,
			   const void *msg, size_t len, uint32_t receiver_index,
			   const union ts_endpoint *src)
{
	cookie_message_create_at(dst, c, msg, len, receiver_index, src, ts_now_ns());
}

void cookie_maker_init(struct cookie_maker *m, const uint8_t remote_public[32])
{
	sodium_memzero(m, sizeof(*m));
	derive_key(m->cookie_decryption_key, cookie_label, remote_public);
	derive_key(m->message_mac1_key, mac1_label, remote_public);
}

void cookie_add_mac_to_packet_at(void *msg, size_t len, struct cookie_maker *m, uint64_t now_ns)
{
	uint8_t *bytes = msg;
	/* The checker forgets its secret after MAX_AGE; allow for the trip the cookie made. */
	const uint64_t cookie_life = (COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY) * NSEC_PER_SEC;

	if (len < sizeof(struct message_macs))
		return;

	ts_blake2s_mac(bytes + mac1_offset(len), COOKIE_LEN, m->message_mac1_key,
		       sizeof(m->message_mac1_key), bytes, mac1_offset(len));
	memcpy(m->last_mac1_sent, bytes + mac1_offset(len), COOKIE_LEN);
	m->have_sent_mac1 = true;

	if (m->is_valid && !ts_has_expired(m->birthdate_ns, cookie_life, now_ns))
		ts_blake2s_mac(bytes + mac2_offset(len), COOKIE_LEN, m->cookie, sizeof(m->cookie),
			       bytes, mac2_offset(len));
	else
		memset(bytes + mac2_offset(len), 0, COOKIE_LEN);
}

void cookie_add_mac_to_packet(void *msg, size_t len, struct cookie_maker *m)
{
	cookie_add_mac_to_packet_at(msg, len, m, ts_now_ns());
}

bool cookie_message_consume_at(const struct message_handshake_cookie *src, struct cookie_maker *m,
			       uint64_t now_ns)
{
	uint8_t cookie[COOKIE_LEN];

	/* Only a reply to a mac1 we actually sent can authenticate (it is the AD). */
	if (!m->have_sent_mac1)
		return false;
	if (!ts_xaead_decrypt(cookie, src->encrypted_cookie, sizeof(src->encrypted_cookie),
			      m->last_mac1_sent, COOKIE_LEN, src->nonce, m->cookie_decryption_key))
		return false;

	memcpy(m->cookie, cookie, COOKIE_LEN);
	m->birthdate_ns = now_ns;
	m->is_valid = true;
	/* One reply per mac1: a replayed reply finds nothing to match. */
	m->have_sent_mac1 = false;
	sodium_memzero(cookie, sizeof(cookie));
	return true;
}

bool cookie_message_consume(const struct message_handshake_cookie *src, struct cookie_maker *m)
{
	return cookie_message_consume_at(src, m, ts_now_ns());
}
