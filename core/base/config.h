/* SPDX-License-Identifier: MIT */
/*
 * The configuration data model shared by the UAPI socket (`wg` set/get),
 * the --ipc loader and the --config INI loader, in wireguard-tools' style:
 * one plain struct with "which fields are set" flags carries a partial
 * update (set) as well as a full description (get).  Parsers here only
 * build the model; applying it to a device is the device code's job.
 */
#ifndef TS_CONFIG_H
#define TS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* endpoint.h uses IF_NAMESIZE without including <net/if.h>. */
#include <net/if.h>

#include "endpoint.h"

/*
 * How many peers a request holds and how many prefixes a peer holds is
 * bounded by memory only, as in kernel WireGuard and wireguard-go (the
 * device itself refuses more than MAX_PEERS_PER_DEVICE peers, as the
 * kernel does).  What stays fixed bounds a single line, and the size of an
 * INI file, so that reading /dev/zero or an endless pipe ends; a file that
 * size holds about 50 million prefixes.
 */
#define TS_UAPI_MAX_LINE 1024 /* bytes per UAPI line, without the '\n' */
#define TS_INI_MAX_FILE	 (1024 * 1024 * 1024)

struct ts_allowedip {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t cidr;
	bool remove; /* "allowed_ip=-..." removes this one prefix */
};

enum {
	TS_PEER_REMOVE_ME = 1U << 0,
	TS_PEER_REPLACE_ALLOWEDIPS = 1U << 1,
	TS_PEER_HAS_PUBLIC_KEY = 1U << 2,
	TS_PEER_HAS_PRESHARED_KEY = 1U << 3, /* all-zero key = remove the PSK */
	TS_PEER_HAS_KEEPALIVE = 1U << 4,     /* 0 = off */
	TS_PEER_HAS_ENDPOINT = 1U << 5,
	TS_PEER_UPDATE_ONLY = 1U << 6,
};

struct ts_peer_config {
	uint32_t flags;
	uint8_t public_key[32], preshared_key[32];
	union ts_endpoint endpoint;
	uint16_t persistent_keepalive;
	struct ts_allowedip *allowedips;
	size_t n_allowedips, cap_allowedips;
	/* Filled for get only. */
	uint64_t rx_bytes, tx_bytes;
	int64_t last_handshake_sec, last_handshake_nsec;
	int protocol_version;
};

enum {
	TS_DEV_REPLACE_PEERS = 1U << 0,
	TS_DEV_HAS_PRIVATE_KEY = 1U << 1, /* all-zero key = remove the private key */
	TS_DEV_HAS_LISTEN_PORT = 1U << 2,
	TS_DEV_HAS_FWMARK = 1U << 3, /* 0 = off */
};

struct ts_config {
	uint32_t flags;
	uint8_t private_key[32];
	uint16_t listen_port;
	uint32_t fwmark;
	struct ts_peer_config *peers;
	size_t n_peers, cap_peers;
};

void ts_config_init(struct ts_config *c);
/* Frees everything and wipes the private and preshared keys; c is left initialised. */
void ts_config_free(struct ts_config *c);
/*
 * Appends a zeroed peer.  Returns NULL with errno ENOMEM.  Earlier struct
 * ts_peer_config pointers into c->peers are invalidated (the array may
 * move): keep indices.
 */
struct ts_peer_config *ts_config_add_peer(struct ts_config *c);
/* Returns 0 or -ENOMEM. */
int ts_peer_config_add_allowedip(struct ts_peer_config *p, const struct ts_allowedip *a);

/*
 * Parse the body of a "set=1" request (the lines after set=1, without the
 * terminating blank line, which the caller strips) or, with TS_PARSE_FILE,
 * a whole --ipc file, where blank lines, lines starting with '#', a
 * trailing '\r' and one leading "set=1" line are also accepted.
 * TS_PARSE_GET parses a get response instead (the keys that
 * ts_config_format_uapi() writes, errno=0 included): for tests and tools.
 *
 * 'out' is overwritten (it must not own memory); on failure it is left
 * empty.  Returns 0, or -EINVAL (syntax, bad value, key in the wrong
 * place), -EPROTO (unknown key) or -ENOMEM, with a
 * one-line message "line N: key: expected ..." in err.  Messages never
 * contain the value of a key.  Nothing is applied.
 *
 * A public_key that appears twice in one request is merged into the first
 * entry, so each key appears once in out->peers, and the result equals
 * applying the blocks one after another as wireguard-go does: later fields
 * win, allowed_ip lists append, replace_allowed_ips=true discards the
 * prefixes listed before it, remove=true turns the entry into a removal.
 * Two sequences cannot be expressed by one entry and are rejected with
 * -EINVAL: a key repeated after its remove=true, and a block without
 * update_only after one with it.
 */
enum { TS_PARSE_FILE = 1U << 0, TS_PARSE_GET = 1U << 1 };
int ts_config_parse_uapi(const char *text, size_t len, unsigned flags, struct ts_config *out,
			 char *err, size_t errlen);

/*
 * Load a `wg setconf` INI file: [Interface] PrivateKey ListenPort FwMark,
 * [Peer] PublicKey PresharedKey AllowedIPs Endpoint PersistentKeepalive.
 * As wg does: section and key names are case-insensitive, '#' starts a
 * comment anywhere, all white space is ignored, AllowedIPs is a comma list
 * (a prefix length defaults to /32 or /128) and may repeat, FwMark and
 * PersistentKeepalive take "off", Endpoint may be a host name (resolved with
 * getaddrinfo, first answer wins).  The result has TS_DEV_REPLACE_PEERS and
 * every peer TS_PEER_REPLACE_ALLOWEDIPS, as setconf sends.  Peers repeating
 * a public key are merged as described above.
 *
 * Unknown sections and keys are errors (-EPROTO), as are wg-quick's keys
 * (Address, DNS, MTU, Table, PreUp, PostUp, PreDown, PostDown, SaveConfig)
 * unless TS_INI_ALLOW_QUICK is given; then Address and MTU come back in
 * *extras (if extras is not NULL) and the others are ignored.
 * TS_INI_NO_DNS refuses host names (numeric endpoints only).
 *
 * 'out' (and *extras) are overwritten and left empty on failure.  Returns 0
 * or a negative errno with "FILE:LINE: key 'X': expected ..." in err.
 */
enum { TS_INI_ALLOW_QUICK = 1U << 0, TS_INI_NO_DNS = 1U << 1 };
struct ts_ini_extras {
	char **addresses; /* "10.0.0.1/24" as written, each validated */
	size_t n_addresses;
	int mtu; /* 0 = unset */
};
int ts_config_load_ini(const char *path, unsigned flags, struct ts_config *out,
		       struct ts_ini_extras *extras, char *err, size_t errlen);
/* The same from memory; 'name' stands for the file in messages. */
int ts_config_parse_ini_string(const char *text, size_t len, const char *name, unsigned flags,
			       struct ts_config *out, struct ts_ini_extras *extras, char *err,
			       size_t errlen);
void ts_ini_extras_free(struct ts_ini_extras *x);

/*
 * Format a get response body in the order `wg` and wireguard-go use:
 * private_key (if set and non-zero), listen_port (if HAS_LISTEN_PORT),
 * fwmark (if non-zero), then per peer public_key, preshared_key (if set and
 * non-zero), protocol_version, endpoint (if set), last_handshake_time_sec,
 * last_handshake_time_nsec, tx_bytes, rx_bytes,
 * persistent_keepalive_interval, allowed_ip lines.  Without the final
 * "errno=0\n\n".
 *
 * ts_config_write_uapi() streams it: it formats into a small buffer of its
 * own (wiped before it returns) and hands each full buffer to sink, so a
 * get response of any size costs no more than the model it prints.  It
 * stops at the first non-zero return of sink and returns it; 0 when done.
 *
 * ts_config_format_uapi() collects the same text in one malloc'd
 * NUL-terminated string of *len bytes (for tests and tools), to be released
 * with ts_config_free_text() (which wipes it), or returns NULL with errno
 * ENOMEM.
 */
typedef int (*ts_config_sink)(void *ctx, const char *text, size_t len);
int ts_config_write_uapi(const struct ts_config *c, ts_config_sink sink, void *ctx);
char *ts_config_format_uapi(const struct ts_config *c, size_t *len);
void ts_config_free_text(char *text, size_t len);

/*
 * Internal, shared by config.c and config_ini.c: the merge of repeated
 * public keys.  A parser appends each peer block with ts_config_add_peer()
 * and calls ts_config_finish_peer() when the block ends; if the key was
 * seen before, the block is folded into the earlier entry and dropped.
 * Returns 0, -ENOMEM, or -EINVAL with *why set to a static explanation.
 */
struct ts_peer_dedup {
	uint32_t *slots; /* peer index + 1, 0 = empty; open addressing */
	size_t cap, used;
	uint8_t hash_key[16]; /* SipHash key, random per request */
};
int ts_config_finish_peer(struct ts_config *c, struct ts_peer_dedup *d, const char **why);
void ts_peer_dedup_free(struct ts_peer_dedup *d);
/* Parses "ip/cidr" (cidr optional if !need_cidr); 0 or -EINVAL. */
int ts_allowedip_parse(struct ts_allowedip *a, const char *text, bool need_cidr);
/* Copies at most 40 printable bytes of s into out[48] for error messages. */
const char *ts_config_sanitize(char out[static 48], const char *s);

#endif
