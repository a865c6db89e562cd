/* SPDX-License-Identifier: MIT */
/*
 * mac1, mac2 and cookie replies (whitepaper sections 5.4.4 to 5.4.7): the
 * denial-of-service defence of the handshake.  The checker is ours (one per
 * device): it verifies mac1 with our public key and, under load, makes
 * cookies bound to the sender's address.  A maker is per peer: it adds mac1
 * (and mac2 while it holds a fresh cookie) to our handshake messages and
 * consumes the peer's cookie replies.
 *
 * Locking: the checker carries its own lock (secret and keys).  A maker is
 * serialised by its caller (the peer's lock).
 */
#ifndef TS_COOKIE_H
#define TS_COOKIE_H

#include <net/if.h> /* endpoint.h uses IF_NAMESIZE without including it */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"
#include "messages.h"

/* Seconds: the checker's secret lives this long; a maker trusts a cookie this long minus LATENCY.
 */
#define COOKIE_SECRET_MAX_AGE 120
#define COOKIE_SECRET_LATENCY 5

struct cookie_checker {
	uint8_t secret[COOKIE_SECRET_LEN]; /* lock; random, replaced after COOKIE_SECRET_MAX_AGE */
	uint64_t secret_birthdate_ns;	   /* lock; 0 = no secret made yet */
	uint8_t
	    cookie_encryption_key[NOISE_SYMMETRIC_KEY_LEN]; /* lock; HASH("cookie--" || S_pub) */
	uint8_t message_mac1_key[NOISE_SYMMETRIC_KEY_LEN];  /* lock; HASH("mac1----" || S_pub) */
	pthread_mutex_t lock;
};

void cookie_checker_init(struct cookie_checker *c);
void cookie_checker_destroy(struct cookie_checker *c);
/* Derive the keys from our public key; NULL (no identity) makes every mac1 invalid. */
void cookie_checker_precompute_keys(struct cookie_checker *c, const uint8_t our_public[32]);

struct cookie_maker {
	uint8_t cookie[COOKIE_LEN];
	uint64_t birthdate_ns; /* when the cookie was received */
	bool is_valid;
	bool have_sent_mac1; /* a cookie reply is accepted only for a mac1 we sent */
	uint8_t last_mac1_sent[COOKIE_LEN];
	uint8_t cookie_decryption_key[NOISE_SYMMETRIC_KEY_LEN]; /* HASH("cookie--" || S_peer) */
	uint8_t message_mac1_key[NOISE_SYMMETRIC_KEY_LEN];	/* HASH("mac1----" || S_peer) */
};

void cookie_maker_init(struct cookie_maker *m, const uint8_t remote_public[32]);

enum cookie_mac_state {
	INVALID_MAC,
	VALID_MAC_BUT_NO_COOKIE,
	VALID_MAC_WITH_COOKIE,
};

/*
 * msg points at a whole initiation or response (len = its size); the macs
 * are its last 32 bytes.  mac2 is checked only when check_cookie (we are
 * under load).
 */
enum cookie_mac_state cookie_validate_packet(struct cookie_checker *c, const void *msg, size_t len,
					     const union ts_endpoint *src, bool check_cookie);
/* Writes mac1, and mac2 when we hold a fresh cookie (zeros otherwise), into msg's last 32 bytes. */
void cookie_add_mac_to_packet(void *msg, size_t len, struct cookie_maker *m);
/* A cookie reply to msg (the message that arrived under load) from src; receiver_index in host
 * order. */
void cookie_message_create(struct message_handshake_cookie *dst, struct cookie_checker *c,
			   const void *msg, size_t len, uint32_t receiver_index,
			   const union ts_endpoint *src);
/*
 * One cookie reply to make: the message that arrived under load (a whole
 * initiation or response, len bytes) from src, the index to answer (host
 * order), and where the reply goes on the wire (sizeof(struct
 * message_handshake_cookie) bytes, any alignment).
 */
struct cookie_request {
	const void *msg;
	size_t len;
	uint32_t receiver_index;
	const union ts_endpoint *src;
	uint8_t *reply;
};

/*
 * n replies at once, as a flood brings them: one short hold of the
 * checker's lock (a copy of the secret) and one draw of random nonces per
 * COOKIE_NONCE_BATCH replies, instead of one of each per reply.
 */
#define COOKIE_NONCE_BATCH 64
void cookie_messages_create(struct cookie_checker *c, const struct cookie_request *req, unsigned n);
/* Decrypt a cookie reply to the last mac1 we sent; false if it does not authenticate. */
bool cookie_message_consume(const struct message_handshake_cookie *src, struct cookie_maker *m);

/* The same at a given CLOCK_BOOTTIME instant, so tests can drive the ages. */
enum cookie_mac_state cookie_validate_packet_at(struct cookie_checker *c, const void *msg,
						size_t len, const union ts_endpoint *src,
						bool check_cookie, uint64_t now_ns);
void cookie_add_mac_to_packet_at(void *msg, size_t len, struct cookie_maker *m, uint64_t now_ns);
void cookie_message_create_at(struct message_handshake_cookie *dst, struct cookie_checker *c,
			      const void *msg, size_t len, uint32_t receiver_index,
			      const union ts_endpoint *src, uint64_t now_ns);
void cookie_messages_create_at(struct cookie_checker *c, const struct cookie_request *req,
			       unsigned n, uint64_t now_ns);
bool cookie_message_consume_at(const struct message_handshake_cookie *src, struct cookie_maker *m,
			       uint64_t now_ns);

#endif
