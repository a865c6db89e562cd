/* SPDX-License-Identifier: MIT */
/*
 * The WireGuard wire format and the protocol constants, in one place.
 * Every length check in the engine is written against sizeof() of these
 * structs, never against bare numbers.  All multi-byte integers on the
 * wire are little-endian; use le32toh()/le64toh() when reading them.
 */
#ifndef TS_MESSAGES_H
#define TS_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

enum {
	NOISE_PUBLIC_KEY_LEN = 32,
	NOISE_SYMMETRIC_KEY_LEN = 32,
	NOISE_TIMESTAMP_LEN = 12,
	NOISE_AUTHTAG_LEN = 16,
	NOISE_HASH_LEN = 32,
	COOKIE_SECRET_LEN = 32,
	COOKIE_NONCE_LEN = 24,
	COOKIE_LEN = 16,
};

#define noise_encrypted_len(plain_len) ((plain_len) + NOISE_AUTHTAG_LEN)

/* Timers of the whitepaper, section 6; times in seconds. */
#define REKEY_AFTER_MESSAGES	       (1ULL << 60)
#define REJECT_AFTER_MESSAGES	       (UINT64_MAX - COUNTER_WINDOW_SIZE - 1)
#define REKEY_TIMEOUT		       5
#define REKEY_TIMEOUT_JITTER_MAX_MS    333
#define REKEY_AFTER_TIME	       120
#define REJECT_AFTER_TIME	       180
#define INITIATIONS_PER_SECOND	       50
#define MAX_PEERS_PER_DEVICE	       (1U << 20)
#define KEEPALIVE_TIMEOUT	       10
#define MAX_TIMER_HANDSHAKES	       (90 / REKEY_TIMEOUT)
#define MAX_QUEUED_INCOMING_HANDSHAKES 4096
#define MAX_STAGED_PACKETS	       128
#define MAX_QUEUED_PACKETS	       1024

/* Width of the sliding window of accepted receive counters. */
#define COUNTER_WINDOW_SIZE 8192ULL

enum message_type {
	MESSAGE_INVALID = 0,
	MESSAGE_HANDSHAKE_INITIATION = 1,
	MESSAGE_HANDSHAKE_RESPONSE = 2,
	MESSAGE_HANDSHAKE_COOKIE = 3,
	MESSAGE_DATA = 4,
};

/* One byte of type, then three reserved zero bytes: read as a LE32. */
struct message_header {
	uint32_t type;
};

struct message_macs {
	uint8_t mac1[COOKIE_LEN];
	uint8_t mac2[COOKIE_LEN];
};

struct message_handshake_initiation {
	struct message_header header;
	uint32_t sender_index;
	uint8_t unencrypted_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t encrypted_static[noise_encrypted_len(NOISE_PUBLIC_KEY_LEN)];
	uint8_t encrypted_timestamp[noise_encrypted_len(NOISE_TIMESTAMP_LEN)];
	struct message_macs macs;
};

struct message_handshake_response {
	struct message_header header;
	uint32_t sender_index;
	uint32_t receiver_index;
	uint8_t unencrypted_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t encrypted_nothing[noise_encrypted_len(0)];
	struct message_macs macs;
};

struct message_handshake_cookie {
	struct message_header header;
	uint32_t receiver_index;
	uint8_t nonce[COOKIE_NONCE_LEN];
	uint8_t encrypted_cookie[noise_encrypted_len(COOKIE_LEN)];
};

struct message_data {
	struct message_header header;
	uint32_t key_idx;
	uint64_t counter;
	uint8_t encrypted_data[];
};

#define message_data_len(plain_len) (noise_encrypted_len(plain_len) + sizeof(struct message_data))

enum {
	MESSAGE_PADDING_MULTIPLE = 16,
	MESSAGE_MINIMUM_LENGTH = message_data_len(0),
};

_Static_assert(sizeof(struct message_handshake_initiation) == 148, "initiation size");
_Static_assert(sizeof(struct message_handshake_response) == 92, "response size");
_Static_assert(sizeof(struct message_handshake_cookie) == 64, "cookie size");
_Static_assert(sizeof(struct message_data) == 16, "data header size");

/*
 * Classify a datagram by its first four bytes: WireGuard messages are a type
 * 1..4 followed by three zero bytes and an exact (or minimum) length.
 * Returns MESSAGE_INVALID for anything else.
 */
enum message_type message_determine_type(const uint8_t *buf, size_t len);

#endif
