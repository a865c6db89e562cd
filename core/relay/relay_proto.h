/* SPDX-License-Identifier: MIT */
/*
 * The tinescale relay wire format (docs: /work/brief/nat.md, DESIGN.md
 * section 6): encoding, decoding and verification of every relay frame, and
 * the 20-byte address record shared with nat-probe.  Compiled into
 * tinescale-relay, relay-redirect.so and nat-probe.so.
 *
 * Pure functions: no I/O, no global state, no allocation.  Decoders accept
 * any (buf, len) and check every length before reading; multi-byte fields
 * are read byte-wise (big-endian), so buffers need no alignment.
 *
 * Frames, version 2 (docs/nat-traversal.md; all integers big-endian):
 *
 *   REGISTER      80  "TSR\2" 1 0 0 0 | public_key[32] | timestamp_ns u64 | cookie[16]
 *                     | mac[16]
 *   REGISTER_ACK  56  "TSR\2" 2 0 0 0 | timestamp_ns u64 (echo) | addr rec[20]
 *                     | expires_s u16 | 0 0 | mac[16]
 *   SEND        56+n  "TSR\2" 3 kind 0 0 | dst_public_key[32] | token[16] | payload[n]
 *   RECV        40+n  "TSR\2" 4 kind 0 0 | src_public_key[32] | payload[n]
 *   ERROR         40  "TSR\2" 5 code 0 0 | public_key[32]
 *   COOKIE        40  "TSR\2" 6 0 0 0 | echo[16] (the REGISTER's mac) | cookie[16]
 *
 *   addr rec[20]: family u8 (4 or 6) | 0 | port u16 | addr[16] (v4 in the first 4)
 *
 * REGISTER and REGISTER_ACK are authenticated with
 *   K     = BLAKE2s-256("tinescale-relay-v2 register" || X25519(peer, relay))
 *   mac   = BLAKE2s-128 keyed with K over the frame up to the mac;
 * a SEND with
 *   token = BLAKE2s-128 keyed with K over ("tinescale-relay-v2 send" || addr rec of
 *           the sender's address as the relay observes it);
 * and the relay's return-routability cookie is
 *   cookie = BLAKE2s-128 keyed with a rotating relay secret over the source's addr rec.
 * Reserved bytes must be zero: decoders reject frames where they are not.
 */
#ifndef TS_RELAY_PROTO_H
#define TS_RELAY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define TSR_MAGIC      "TSR\x02" /* the last byte is the protocol version */
#define TSR_MAGIC_LEN  4
#define TSR_KEY_LEN    32
#define TSR_MAC_LEN    16
#define TSR_ADDR_LEN   20 /* the wire address record */
#define TSR_COOKIE_LEN 16
#define TSR_TOKEN_LEN  16

enum tsr_type {
	TSR_REGISTER = 1,
	TSR_REGISTER_ACK = 2,
	TSR_SEND = 3,
	TSR_RECV = 4,
	TSR_ERROR = 5,
	TSR_COOKIE = 6,
};

/* What a SEND/RECV payload is. The relay forwards only these two. */
enum tsr_kind {
	TSR_KIND_WIREGUARD = 0,	 /* an opaque WireGuard datagram */
	TSR_KIND_CANDIDATES = 1, /* a nat-probe candidates message (authenticated end to end) */
};

/* ERROR codes (the ERROR frame is optional; peers may ignore it). */
enum tsr_error_code {
	TSR_ERR_DST_UNKNOWN = 1,    /* SEND to a key that is not registered */
	TSR_ERR_NOT_REGISTERED = 2, /* SEND from an address with no live registration */
	TSR_ERR_RATE_LIMITED = 3,
	TSR_ERR_TABLE_FULL = 4, /* REGISTER of a new key while the table is full */
};

#define TSR_REGISTER_LEN     80
#define TSR_REGISTER_ACK_LEN 56
#define TSR_SEND_HDR_LEN     56 /* SEND header (with the token); payload follows */
#define TSR_RECV_HDR_LEN     40 /* RECV header; payload follows */
#define TSR_ERROR_LEN	     40
#define TSR_COOKIE_FRAME_LEN 40

/* Protocol constants. */
#define TSR_REGISTRATION_TTL_S	 30		 /* a registration lives this long */
#define TSR_REGISTER_INTERVAL_MS 10000		 /* peers re-register this often */
#define TSR_MAX_CLOCK_SKEW_NS	 120000000000ULL /* a timestamp may be this far behind */
#define TSR_MAX_FUTURE_NS	 10000000000ULL	 /* ... and this far ahead of the relay */
#define TSR_COOKIE_ROTATE_S	 120 /* the relay replaces its cookie secret this often */

/* Results of decoders and verifiers (0 = ok). */
enum tsr_result {
	TSR_OK = 0,
	TSR_E_SHORT = -1,    /* shorter than the frame needs */
	TSR_E_LENGTH = -2,   /* a fixed-size frame with the wrong length */
	TSR_E_MAGIC = -3,    /* not "TSR\2" (another version, or not ours) */
	TSR_E_TYPE = -4,     /* not the expected type */
	TSR_E_RESERVED = -5, /* a reserved byte is not zero */
	TSR_E_FIELD = -6,    /* a field out of range (family, kind, empty payload) */
	TSR_E_MAC = -7,	     /* authentication failed (forged or wrong key) */
	TSR_E_CLOCK = -8,    /* timestamp too far from the verifier's clock */
	TSR_E_REPLAY = -9,   /* timestamp not newer than the last accepted one */
	TSR_E_KEY = -10,     /* X25519 with a low-order public key */
};

/* One address: family 4 or 6 (0 = none), port in host order, v4 in addr[0..3]. */
struct tsr_addr {
	uint8_t family;
	uint16_t port;
	uint8_t addr[16];
};

struct tsr_register {
	uint8_t public_key[TSR_KEY_LEN];
	uint64_t timestamp_ns;		/* CLOCK_REALTIME */
	uint8_t cookie[TSR_COOKIE_LEN]; /* all zero: none */
	uint8_t mac[TSR_MAC_LEN];	/* what a COOKIE echoes */
};

struct tsr_cookie_reply {
	uint8_t echo[TSR_MAC_LEN]; /* the mac of the REGISTER answered */
	uint8_t cookie[TSR_COOKIE_LEN];
};

struct tsr_register_ack {
	uint64_t timestamp_ns; /* echo of the REGISTER's */
	struct tsr_addr observed;
	uint16_t expires_s;
};

/* SEND or RECV.  payload points into the decoded buffer. */
struct tsr_data {
	uint8_t type; /* TSR_SEND or TSR_RECV */
	uint8_t kind; /* enum tsr_kind; decoders accept any value, the caller decides */
	uint8_t public_key[TSR_KEY_LEN]; /* SEND: destination; RECV: source */
	uint8_t token[TSR_TOKEN_LEN];	 /* SEND only */
	const uint8_t *payload;
	size_t payload_len; /* > 0 */
};

struct tsr_error {
	uint8_t code;
	uint8_t public_key[TSR_KEY_LEN];
};

/* Per-key replay state, owned by the verifier (the relay keeps one per registration). */
struct tsr_replay {
	uint64_t last_ns; /* last accepted timestamp; 0 = none yet */
};

/* A short name for a result, for logs and counters ("mac", "replay", ...). */
const char *tsr_result_name(int result);

/* True when buf starts with "TSR\2" and has a type byte; *type set (may be NULL). */
bool tsr_is_frame(const uint8_t *buf, size_t len, uint8_t *type);

/*
 * K from the X25519 shared secret (either side's view of it).  The peer gets
 * dh from host->static_dh(relay_public_key); the relay computes it with
 * tsr_dh().  K is a secret: wipe it.
 */
void tsr_register_key(uint8_t k[TSR_KEY_LEN], const uint8_t dh[TSR_KEY_LEN]);
/* dh = X25519(private_key, public_key).  TSR_OK or TSR_E_KEY. */
int tsr_dh(uint8_t dh[TSR_KEY_LEN], const uint8_t private_key[TSR_KEY_LEN],
	   const uint8_t public_key[TSR_KEY_LEN]);

/* REGISTER: writes TSR_REGISTER_LEN bytes.  cookie may be NULL (none: zeros). */
void tsr_register_encode(uint8_t out[TSR_REGISTER_LEN], const uint8_t public_key[TSR_KEY_LEN],
			 uint64_t timestamp_ns, const uint8_t cookie[TSR_COOKIE_LEN],
			 const uint8_t k[TSR_KEY_LEN]);
/* Structure only (length, magic, type, reserved): the mac needs K, which needs the key. */
int tsr_register_decode(const uint8_t *buf, size_t len, struct tsr_register *out);
/*
 * The relay's check of a REGISTER that tsr_register_decode accepted, in this
 * order: mac with k (TSR_E_MAC), now - 120 s <= timestamp <= now + 10 s
 * (TSR_E_CLOCK), timestamp > replay->last_ns (TSR_E_REPLAY).  On TSR_OK,
 * replay->last_ns becomes the timestamp.  replay may be NULL: no replay check.
 */
int tsr_register_verify(const uint8_t *buf, size_t len, const uint8_t k[TSR_KEY_LEN],
			uint64_t now_realtime_ns, struct tsr_replay *replay);

/* REGISTER_ACK: writes TSR_REGISTER_ACK_LEN bytes; observed->family must be 4 or 6. */
void tsr_register_ack_encode(uint8_t out[TSR_REGISTER_ACK_LEN], const struct tsr_register_ack *ack,
			     const uint8_t k[TSR_KEY_LEN]);
/* Structure and mac (k), so a forged ACK never reaches the caller's state. */
int tsr_register_ack_decode(const uint8_t *buf, size_t len, const uint8_t k[TSR_KEY_LEN],
			    struct tsr_register_ack *out);

/*
 * The SEND token for a registration seen at observed (its REGISTER_ACK's
 * address), from the REGISTER key k.  A secret like k: wipe it.
 */
void tsr_send_token(uint8_t token[TSR_TOKEN_LEN], const uint8_t k[TSR_KEY_LEN],
		    const struct tsr_addr *observed);
/* SEND header: writes TSR_SEND_HDR_LEN bytes; the payload follows it. */
void tsr_send_hdr_encode(uint8_t out[TSR_SEND_HDR_LEN], uint8_t kind,
			 const uint8_t dst_public_key[TSR_KEY_LEN],
			 const uint8_t token[TSR_TOKEN_LEN]);
/* RECV header: writes TSR_RECV_HDR_LEN bytes (memmove: it may overlap the SEND it came from). */
void tsr_recv_hdr_encode(uint8_t out[TSR_RECV_HDR_LEN], uint8_t kind,
			 const uint8_t src_public_key[TSR_KEY_LEN]);
/* A SEND or RECV (type checked against want: TSR_SEND or TSR_RECV). */
int tsr_data_decode(const uint8_t *buf, size_t len, uint8_t want, struct tsr_data *out);

/*
 * cookie = BLAKE2s-128 keyed with secret over a's address record (the
 * relay's return-routability check; secret rotates every TSR_COOKIE_ROTATE_S).
 */
void tsr_cookie_make(uint8_t cookie[TSR_COOKIE_LEN], const uint8_t secret[TSR_KEY_LEN],
		     const struct tsr_addr *a);
/* COOKIE: writes TSR_COOKIE_FRAME_LEN bytes. */
void tsr_cookie_reply_encode(uint8_t out[TSR_COOKIE_FRAME_LEN], const uint8_t echo[TSR_MAC_LEN],
			     const uint8_t cookie[TSR_COOKIE_LEN]);
/* Structure only: the peer compares echo with its last REGISTER's mac itself. */
int tsr_cookie_reply_decode(const uint8_t *buf, size_t len, struct tsr_cookie_reply *out);

/* ERROR: writes TSR_ERROR_LEN bytes. */
void tsr_error_encode(uint8_t out[TSR_ERROR_LEN], uint8_t code,
		      const uint8_t public_key[TSR_KEY_LEN]);
int tsr_error_decode(const uint8_t *buf, size_t len, struct tsr_error *out);

/*
 * mac = BLAKE2s-128 keyed with k over buf[0..n) (the frames' macs, and the
 * nat-probe's).  tsr_mac_ok compares it with buf[n..n+TSR_MAC_LEN) in
 * constant time.
 */
void tsr_mac(uint8_t mac[TSR_MAC_LEN], const uint8_t *buf, size_t n, const uint8_t k[TSR_KEY_LEN]);
bool tsr_mac_ok(const uint8_t *buf, size_t n, const uint8_t k[TSR_KEY_LEN]);

/* The 20-byte address record: put needs family 4 or 6 (else TSR_E_FIELD, nothing written). */
int tsr_addr_put(uint8_t out[TSR_ADDR_LEN], const struct tsr_addr *a);
int tsr_addr_get(struct tsr_addr *a, const uint8_t in[TSR_ADDR_LEN]);

/*
 * sockaddr <-> tsr_addr.  from: AF_INET or AF_INET6 (a v4-mapped v6 address
 * becomes family 4), TSR_E_FIELD otherwise.  to: fills *ss and *sslen
 * (sslen may be NULL), TSR_E_FIELD for family not 4/6.
 */
int tsr_addr_from_sockaddr(struct tsr_addr *a, const struct sockaddr *sa, socklen_t salen);
int tsr_addr_to_sockaddr(const struct tsr_addr *a, struct sockaddr_storage *ss, socklen_t *sslen);
/* Same family, port and address. */
bool tsr_addr_equal(const struct tsr_addr *a, const struct tsr_addr *b);

/* "1.2.3.4:5" or "[::1]:5" (an ADDR without port is refused).  TSR_OK or TSR_E_FIELD. */
int tsr_addr_parse(struct tsr_addr *a, const char *s);
/* Formats as above; buf of TSR_ADDR_STRLEN always suffices.  Returns buf ("?" when invalid). */
#define TSR_ADDR_STRLEN 56
char *tsr_addr_format(const struct tsr_addr *a, char *buf, size_t len);

#endif
