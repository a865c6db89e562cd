/* SPDX-License-Identifier: MIT */
/*
 * The tinescale plugin ABI, version 2: the only header a plugin includes.
 *
 * A plugin is a shared object exporting one descriptor:
 *
 *	#include <tinescale/plugin.h>
 *
 *	static enum ts_verdict my_out(void *state, struct ts_packet *pkt) { ... }
 *
 *	TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
 *		.abi_version = TS_PLUGIN_ABI_VERSION,
 *		.struct_size = sizeof(struct ts_plugin_v2),
 *		.name = "example",
 *		.version = "1.0",
 *		.create = my_create,
 *		.destroy = my_destroy,
 *		.plaintext_out = my_out,
 *	};
 *
 * and builds with `cc -shared -fPIC $(pkg-config --cflags tinescale-plugin) my.c -o my.so`.
 * Plugins never link against the daemon: everything they may ask of it is in
 * the service table handed to create().
 *
 * Lifecycle of an instance (one per `plugins:` entry of the pipeline YAML;
 * several entries may use the same .so, each gets its own create()):
 *
 *   1. dlopen, then the host checks abi_version and struct_size.
 *   2. create() on the loading thread (the daemon's main thread or its
 *      control thread), while the previous pipeline still carries traffic.
 *      Timers may be started here.
 *   3. The new pipeline is published with one atomic store: from then on the
 *      hooks run on the data-path threads, event() on the host's event thread.
 *   4. On reload or shutdown the pipeline is unpublished; once every thread
 *      that runs plugin code has passed a quiescent point (no hook or event
 *      of this instance is running or will run again), the host cancels the
 *      instance's remaining timers (waiting for a running callback), then
 *      calls destroy() on the loading thread, then dlclose.  No hook, event
 *      or timer callback of the instance runs during or after destroy().
 *
 * Threads: which thread runs what.
 *
 *   create(), destroy()   the loading thread (daemon main or control thread)
 *   hooks                 the engine's data-path threads (tx, rx, crypto
 *                         workers, handshake, timers), several at once:
 *                         concurrently with each other, with event() and
 *                         with timer callbacks (table below)
 *   event()               the host's event thread: one per interface, so
 *                         events of all instances are serialised, in the
 *                         order the engine reported them
 *   timer callbacks       the host's timer thread: one per interface, one
 *                         callback at a time
 *
 * Which data-path thread runs which hook point.  Data packets pass in
 * batches through crypto workers (online CPUs - 2 by default, see
 * docs/DESIGN-NOTES.md); each point still sees one packet per call and,
 * for any one peer, packets in the order they entered the tunnel:
 *
 *   plaintext_out    the tx thread, in TUN read order, before encryption
 *   ciphertext_out   data: whichever thread releases the batch (a crypto
 *                    worker, or tx), in that same order, one batch at a
 *                    time; handshakes, cookies, keepalives and packets that
 *                    waited for a handshake: the thread that sends them
 *                    (handshake, timers, or the one releasing an rx batch)
 *   ciphertext_in    the rx thread, in receive order (handshake messages
 *                    too: they are queued after this point)
 *   plaintext_in     whichever thread releases the batch (a crypto worker,
 *                    or rx), in receive order, one batch at a time
 *
 * So the two hooks of one packet may run on different threads, and a
 * plugin must not keep per-packet state in thread-local storage between
 * them.  One packet is one IP packet at the plaintext points (never a
 * TUN super-packet) and one UDP datagram at the ciphertext points (never a
 * GRO train).
 *
 * No engine lock and no host lock is held while any of them runs, so every
 * service may be called from all of them (with timer_cancel's one rule
 * below).  Hook code touching state shared with other threads must
 * synchronise it (atomics, or a lock held for a few instructions).
 *
 * HOOKS MUST NOT BLOCK: no sleeping, no blocking I/O, no DNS, no waiting on
 * another thread.  Every packet waits for them.  event() and timer callbacks
 * must not block for long either: each has one thread shared by every
 * instance (a slow event() delays other instances' events; when the queue of
 * 1024 events is full, further events are dropped and counted in
 * `tinescale ctl IFNAME plugins`).
 *
 * A plugin MAY start threads of its own (a writer thread for a log file,
 * say), started in create() and joined in destroy().  From them it may call
 * every service; the host copies what it needs, and inject_datagram only
 * queues the datagram for the engine's rx thread.  timer_cancel from such a
 * thread waits for a running callback of that timer, so it must not hold a
 * lock that the callback takes.
 *
 * Compatibility: structs carrying struct_size are append-only.  A host
 * accepts a descriptor from its own version's first size up to the size it
 * knows; a LARGER descriptor (a plugin built against a newer header) is
 * refused with a message rather than half-honoured.  struct ts_packet and
 * struct ts_event carry the host's struct_size: check it before reading a
 * field appended after 2.0.  A plugin must check host->struct_size before
 * using a service added after 2.0.  Plugins built for version 1 (symbol
 * tinescale_plugin_v1, built against the 1.x header) still load: the host
 * hands them packets and events in the 1.x layout.
 *
 * Version 2.1 appended, all optional: services instance_name, peer_state
 * and the async output (output_open/_write/_stats/_close), and descriptor
 * fields peer_state_size, peer_added, peer_removed, migrate and
 * config_schema; events TS_EVENT_PEER_ADDED and TS_EVENT_PEER_REMOVED.  A
 * descriptor using them is larger than the 2.0 one, so a 2.0 host refuses
 * it: a plugin that sets them may use the 2.1 services unchecked.
 *
 * Version 2.2 appended the descriptor field wire_overhead (optional; 0 for
 * an older descriptor): the bytes ciphertext_out adds, which the daemon's
 * default MTU leaves room for.
 *
 * Version 2.3 appended the services output_open_cb and output_writev
 * (check host->struct_size >= TS_HOST_SERVICES_V2_3_SIZE).
 *
 * Packet helpers (parse, checksums, rewrites) are in <tinescale/packet.h>,
 * header-only.
 */
#ifndef TINESCALE_PLUGIN_H
#define TINESCALE_PLUGIN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_PLUGIN_ABI_VERSION 2
/* The symbol the host looks up in every plugin .so (then the 1.x one, tinescale_plugin_v1). */
#define TS_PLUGIN_SYMBOL "tinescale_plugin_v2"
#define TS_PLUGIN_EXPORT __attribute__((visibility("default")))

/* The hook points, named from this host's view of the tunnel. */
enum ts_hook {
	/* Read from the TUN, peer chosen by allowed-IPs, before encryption: an IP packet. */
	TS_HOOK_PLAINTEXT_OUT = 0,
	/* After encryption, before the UDP send: a WireGuard message; endpoint = destination. */
	TS_HOOK_CIPHERTEXT_OUT = 1,
	/* A UDP datagram as received, before any WireGuard processing; endpoint = source. */
	TS_HOOK_CIPHERTEXT_IN = 2,
	/* Decrypted and allowed-IPs-checked, before the TUN write: an IP packet. */
	TS_HOOK_PLAINTEXT_IN = 3,
};
#define TS_HOOK_COUNT 4

/*
 * What a hook decides.  Any other value is treated as TS_DROP (and counted
 * separately, so `tinescale ctl IFNAME plugins` shows the bug).
 */
enum ts_verdict {
	TS_PASS = 0,   /* continue with the next hook, then the engine */
	TS_DROP = 1,   /* discard the packet; later hooks do not see it */
	TS_STOLEN = 2, /* the plugin consumed it (a STUN reply, a relay frame); stop */
};

/*
 * Priority bands for `priority:` in the YAML (any int is accepted; lower
 * runs first; ties keep file order).
 */
#define TS_PRIORITY_FIRST   0	/* must see packets before anyone else (captures) */
#define TS_PRIORITY_EARLY   50	/* filters, classifiers */
#define TS_PRIORITY_DEFAULT 100 /* the default when the YAML says nothing */
#define TS_PRIORITY_LATE    150 /* path steering (relay-redirect) */
#define TS_PRIORITY_LAST    200 /* sees the final packet (captures after rewrites) */

/* An outer UDP endpoint; layout-identical to the engine's, so sa_family selects the member. */
union ts_plugin_endpoint {
	struct sockaddr sa;    /* sa_family AF_INET, AF_INET6, or 0 = unknown */
	struct sockaddr_in in; /* network byte order, as the socket API has it */
	struct sockaddr_in6 in6;
};

/*
 * One packet passing a hook.  The buffer is
 *
 *	[ headroom bytes ][ data: len bytes ][ tailroom bytes ]
 *
 * A hook may rewrite the bytes in place, grow the packet into the headroom
 * (data -= n; len += n; headroom -= n) or the tailroom (len += n;
 * tailroom -= n), or shrink it the opposite way.  The buffer's two ends must
 * stay where they are: a hook that leaves data - headroom or
 * data + len + tailroom moved gets its packet dropped (counted as invalid).
 * The packet and its buffer belong to the host: do not keep pointers to
 * them after the hook returns (copy what you need, even on TS_STOLEN).
 */
struct ts_packet {
	size_t struct_size; /* set by the host: sizeof its struct ts_packet */
	uint8_t *data;
	size_t len;
	size_t headroom;
	size_t tailroom;
	/*
	 * ciphertext_out: the destination; a hook may change it (redirect).
	 * ciphertext_in: the source; a hook that unwraps a relay frame may
	 * rewrite the datagram and this source, then return TS_PASS.
	 * plaintext hooks: zeroed (sa_family 0); ask peer_info() for the
	 * peer's endpoint.  Changes are ignored.
	 */
	union ts_plugin_endpoint endpoint;
	/* The peer's static public key (32 bytes), NULL when not known (e.g. ciphertext_in). */
	const uint8_t *peer_public_key;
	enum ts_hook hook;
	/*
	 * ciphertext hooks: our own address and port the datagram leaves from
	 * or arrived on.  The port is the listen port; sa_family is 0 when the
	 * address is not known (routing chooses it).  Plaintext hooks: zeroed.
	 */
	union ts_plugin_endpoint local;
};

enum ts_event_type {
	TS_EVENT_HANDSHAKE_COMPLETE = 1, /* a new session with the peer was derived */
	TS_EVENT_PEER_UP = 2,		 /* the peer has a usable session after having none */
	TS_EVENT_PEER_DOWN = 3,		 /* the peer's sessions expired or the peer was removed */
	TS_EVENT_ENDPOINT_CHANGED = 4,	 /* the peer's endpoint moved (roaming, or a plugin) */
	/*
	 * We created a handshake initiation or response: the secrets that
	 * let Wireshark decrypt the session.  Delivered ONLY to instances that
	 * called host->request_secrets() (the host logs a warning when they
	 * do); the engine does not even collect them otherwise.
	 */
	TS_EVENT_HANDSHAKE_SECRETS = 5,
	/*
	 * Appended in 2.1: the peer was added to / removed from the
	 * configuration.  TS_EVENT_PEER_DOWN still follows a removal that
	 * ended a session, so PEER_REMOVED is what tells removal from expiry.
	 * Delivered only to plugins whose descriptor has peer_state_size (2.1);
	 * an event() must ignore types it does not know.
	 */
	TS_EVENT_PEER_ADDED = 6,
	TS_EVENT_PEER_REMOVED = 7,
};

/* Key material of one handshake, for key logs (Wireshark's WireGuard dissector). */
struct ts_handshake_secrets {
	uint8_t local_static_private[32];
	uint8_t remote_static_public[32];
	uint8_t local_ephemeral_private[32];
	uint8_t preshared_key[32]; /* all zero when none is configured */
};

struct ts_event {
	size_t struct_size; /* set by the host: sizeof its struct ts_event */
	enum ts_event_type type;
	const uint8_t *public_key;	   /* the peer, 32 bytes */
	union ts_plugin_endpoint endpoint; /* the peer's endpoint now (sa_family 0 if none) */
	/* TS_EVENT_HANDSHAKE_SECRETS only (else NULL); valid during the call: copy, then forget. */
	const struct ts_handshake_secrets *secrets;
};

/* What the host tells about a peer.  Append-only: set struct_size before peer_info(). */
struct ts_plugin_peer {
	size_t struct_size;
	uint8_t public_key[32];
	union ts_plugin_endpoint endpoint; /* sa_family 0 when unknown */
	uint64_t rx_bytes, tx_bytes;
	uint64_t last_handshake_ns; /* CLOCK_REALTIME ns, 0 = never */
	bool has_session;	    /* a current keypair usable for sending */
};

enum ts_log_level {
	TS_LOG_ERROR = 0,
	TS_LOG_WARN = 1,
	TS_LOG_INFO = 2,
	TS_LOG_DEBUG = 3,
};

/* The instance's `config:` mapping from the YAML, or a node inside it.  Opaque. */
struct ts_config_node;

/* An async output (output_open).  Opaque. */
struct ts_output;

/*
 * output_open_cb's callback, on the output's host thread: rec/len is one
 * record as output_write/_writev queued it; rec NULL means "nothing queued
 * now" (after each run of records, and every tick_ms while idle), and
 * closing true marks the last call, from output_close or after destroy().
 */
typedef void (*ts_output_fn)(void *arg, const void *rec, size_t len, bool closing);

/* Timer handle; 0 means "no timer". */
typedef uint64_t ts_timer_id;

/*
 * The host's services.  Each instance gets its own table (the host knows
 * from it which instance is calling, for log prefixes and timer ownership):
 * pass the pointer create() received back as the first argument.  It stays
 * valid until destroy() returns.
 *
 * Thread-safety: every service may be called from any thread that runs
 * plugin code (create, destroy, hooks, event, timer callbacks) and from the
 * plugin's own threads.  None of them blocks, except timer_cancel, which
 * may wait for a running callback of that timer: call it from create,
 * destroy, event, a timer callback or the plugin's own thread, not from a
 * hook.
 * Errors are negative errno values.
 */
struct ts_host_services {
	size_t struct_size; /* sizeof the host's table; a service added after 2.0 needs a check */

	/* One line to the daemon's log, prefixed with the instance name.  Not rate limited. */
	void (*log)(const struct ts_host_services *host, enum ts_log_level level, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));

	/*
	 * Send a datagram from the device's own UDP socket (the WireGuard
	 * port), bypassing every hook.  0 or -errno (-EAGAIN when the socket
	 * buffer is full: the datagram is dropped, as UDP would).
	 */
	int (*send_datagram)(const struct ts_host_services *host,
			     const union ts_plugin_endpoint *dst, const uint8_t *buf, size_t len);
	/*
	 * Hand a datagram to WireGuard processing as if it had arrived from
	 * src; it does not pass the ciphertext_in hooks again.  The datagram is
	 * copied and queued for the engine's rx thread: 0, -EINVAL, or -EAGAIN
	 * when that queue is full (dropped, as UDP would).
	 */
	int (*inject_datagram)(const struct ts_host_services *host,
			       const union ts_plugin_endpoint *src, const uint8_t *buf, size_t len);

	/* Fill *out (set out->struct_size first).  0 or -ENOENT. */
	int (*peer_info)(const struct ts_host_services *host, const uint8_t public_key[32],
			 struct ts_plugin_peer *out);
	/*
	 * cb for every peer in configuration order; a non-zero return stops
	 * the walk and is returned.  The peer pointer is valid during cb only.
	 */
	int (*peer_foreach)(const struct ts_host_services *host,
			    int (*cb)(void *ctx, const struct ts_plugin_peer *peer), void *ctx);
	/* Roam the peer to ep, as an authenticated packet from ep would.  0 or -ENOENT. */
	int (*peer_set_endpoint)(const struct ts_host_services *host, const uint8_t public_key[32],
				 const union ts_plugin_endpoint *ep);
	/* The peer owning a receiver index (from a data/response/cookie message).  0 or -ENOENT. */
	int (*peer_by_index)(const struct ts_host_services *host, uint32_t local_index,
			     uint8_t public_key_out[32]);

	/* The device's UDP port (host order), 0 before it is bound. */
	uint16_t (*listen_port)(const struct ts_host_services *host);
	/* The device's static public key; false when no private key is configured. */
	bool (*public_key)(const struct ts_host_services *host, uint8_t out[32]);
	/* The interface name. */
	const char *(*ifname)(const struct ts_host_services *host);
	/* CLOCK_MONOTONIC in nanoseconds (ages: ts_ns_since() below). */
	uint64_t (*now_ns)(const struct ts_host_services *host);

	/*
	 * Call cb(arg) every interval_ms milliseconds (first call one interval
	 * from now) on the host's timer thread (one per interface, shared by all
	 * instances, no lock held: cb may call every service), until timer_cancel or the
	 * instance's teardown.  Returns the timer's id, or 0 on failure
	 * (interval_ms 0, no memory, instance being torn down).
	 */
	ts_timer_id (*timer_add)(const struct ts_host_services *host, uint32_t interval_ms,
				 void (*cb)(void *arg), void *arg);
	/*
	 * After it returns, cb will not start again; when cb is running on the
	 * timer thread it waits for it to return (unless called from cb itself,
	 * which is the way to make a one-shot timer).  Unknown ids are ignored.
	 */
	void (*timer_cancel)(const struct ts_host_services *host, ts_timer_id id);

	/*
	 * Typed access to the instance's `config:` mapping (node = the config
	 * pointer create() got, or a node from config_child).  Nodes live as
	 * long as the instance.  For all of them a NULL node means "empty".
	 *
	 * config_string: the scalar under key, NULL when absent or not a scalar.
	 * config_int: 0 and *out set; -ENOENT when absent; -EINVAL when not an
	 *	integer (decimal, 0x hex, optional sign) or out of range.
	 * config_bool: 0 and *out set (true/false/yes/no/on/off/1/0); -ENOENT; -EINVAL.
	 * config_list_len: the length of the sequence under key; -ENOENT when
	 *	absent; -EINVAL when not a sequence.  A scalar is NOT a list of one.
	 * config_list_item: the index-th scalar of that sequence, NULL when out
	 *	of range or not a scalar.
	 * config_child: the mapping or sequence under key (for nested config), or NULL.
	 * config_key_at: the index-th key of a mapping node in file order, NULL
	 *	past the end: lets a plugin reject keys it does not know.
	 */
	const char *(*config_string)(const struct ts_host_services *host,
				     const struct ts_config_node *node, const char *key);
	int (*config_int)(const struct ts_host_services *host, const struct ts_config_node *node,
			  const char *key, long long *out);
	int (*config_bool)(const struct ts_host_services *host, const struct ts_config_node *node,
			   const char *key, bool *out);
	int (*config_list_len)(const struct ts_host_services *host,
			       const struct ts_config_node *node, const char *key);
	const char *(*config_list_item)(const struct ts_host_services *host,
					const struct ts_config_node *node, const char *key,
					size_t index);
	const struct ts_config_node *(*config_child)(const struct ts_host_services *host,
						     const struct ts_config_node *node,
						     const char *key);
	const char *(*config_key_at)(const struct ts_host_services *host,
				     const struct ts_config_node *node, size_t index);

	/*
	 * Appended after 1.0 (check host->struct_size).  Notes: short
	 * key/value strings the engine keeps per peer (public_key) or for the
	 * interface (public_key NULL), shared by every plugin and shown by
	 * `tinescale ctl IFNAME status` as "key: value".  This is how plugins
	 * tell each other and the user what they learned, e.g. nat-probe sets
	 * "path" to "direct" and relay-redirect reads it.  Keys 1..31 bytes of
	 * [a-z0-9_-], values up to 63 printable bytes; value NULL removes the
	 * note.  At most TS_NOTES_MAX notes per peer and for the interface.
	 * note_set: 0, -ENOENT (no such peer), -EINVAL, -ENOSPC.
	 * note_get: 0 and buf filled (NUL-terminated, truncated to len), or
	 * -ENOENT.  Both are safe on data-path threads (a short lock).
	 */
	int (*note_set)(const struct ts_host_services *host, const uint8_t *public_key,
			const char *key, const char *value);
	int (*note_get)(const struct ts_host_services *host, const uint8_t *public_key,
			const char *key, char *buf, size_t len);
	/*
	 * out = X25519(our static private key, remote_public): lets a plugin
	 * prove to a relay, or to a peer, that it speaks for this interface's
	 * public key without ever seeing the private key.  Hash it before use
	 * as a key.  0, -ENOKEY (no private key configured), -EINVAL (a
	 * low-order remote_public).  Safe on any thread.
	 */
	int (*static_dh)(const struct ts_host_services *host, const uint8_t remote_public[32],
			 uint8_t out[32]);
	/*
	 * Opt this instance in to TS_EVENT_HANDSHAKE_SECRETS (session keys).
	 * Call it from create(), and only when the user's config asked for it
	 * (a key log, say): the host logs a warning naming the instance.  The
	 * instance also needs an event callback.  Returns 0.
	 */
	int (*request_secrets)(const struct ts_host_services *host);

	/* ---- appended in 2.1 (check host->struct_size >= TS_HOST_SERVICES_V2_1_SIZE) ---- */

	/*
	 * The instance's name from the YAML (`name:`), unique in the pipeline:
	 * prefix note keys with it so two instances of one plugin do not share
	 * notes.  Valid until destroy() returns.
	 */
	const char *(*instance_name)(const struct ts_host_services *host);
	/*
	 * This instance's slot for a peer: peer_state_size zeroed bytes (see
	 * struct ts_plugin_v2), created on first use or when the peer is
	 * added, freed after peer_removed() and a grace period.  NULL when the
	 * plugin declared no slot, the peer does not exist, or out of memory.
	 * Call it from hooks, event() and timer callbacks only (not from the
	 * plugin's own threads); the pointer is valid until that call returns.
	 * Hooks run concurrently: guard the slot's fields (atomics, a spinlock).
	 */
	void *(*peer_state)(const struct ts_host_services *host, const uint8_t public_key[32]);
	/*
	 * Async output: append records to a file, a FIFO or a socket without
	 * blocking.  target is a path (a regular file is created 0600 and
	 * appended to; a FIFO is opened for writing), "unix:PATH" (a
	 * connected SOCK_STREAM socket), or "stdout:" / "stderr:" (the
	 * daemon's own, left blocking for its stdio).  A thread the host owns writes the
	 * records out; at most max_bytes (0: 1 MiB, at most 64 MiB) wait in
	 * memory.
	 * output_open: the handle, or NULL with one line in err.  Call it from
	 *	create() (it may block briefly: a FIFO without a reader fails
	 *	with ENXIO rather than waiting).
	 * output_write: copies the whole record or nothing: 0, or -ENOBUFS
	 *	when it does not fit (counted as a drop), -EPIPE once writing
	 *	failed.  Never blocks: safe in hooks.
	 * output_stats: records written and dropped so far (either may be NULL).
	 * output_close: writes what is queued (waiting at most one second),
	 *	then frees.  Outputs still open at destroy() are closed by the host
	 *	after destroy() returns.
	 */
	struct ts_output *(*output_open)(const struct ts_host_services *host, const char *target,
					 size_t max_bytes, char *err, size_t errlen);
	int (*output_write)(const struct ts_host_services *host, struct ts_output *out,
			    const void *buf, size_t len);
	void (*output_stats)(const struct ts_host_services *host, struct ts_output *out,
			     uint64_t *written, uint64_t *dropped);
	void (*output_close)(const struct ts_host_services *host, struct ts_output *out);

	/* ---- appended in 2.3 (check host->struct_size >= TS_HOST_SERVICES_V2_3_SIZE) ---- */

	/*
	 * An async output whose records go to fn instead of an fd: for output
	 * that is more than appending bytes (reordering, rotating files).  The
	 * same bounded ring (max_bytes as for output_open; each record takes 4
	 * more), the same drop count, output_write/_writev/_stats/_close as
	 * above.  fn runs on the output's own host thread, one call at a time,
	 * in order, with no host lock held: it may block briefly (a slow disk),
	 * may call log and output_stats, but no service documented for hooks
	 * only (peer_state).  The bytes of each record are wiped once fn
	 * returns (they may be secrets).  output_close waits for fn to finish
	 * what is queued (at most one second, the rest is dropped), then calls
	 * fn(arg, NULL, 0, true) and frees: make a blocking fn return first.
	 */
	struct ts_output *(*output_open_cb)(const struct ts_host_services *host, size_t max_bytes,
					    unsigned tick_ms, ts_output_fn fn, void *arg, char *err,
					    size_t errlen);
	/* output_write of the concatenated iov[0..iovcnt): one record, whole or dropped. */
	int (*output_writev)(const struct ts_host_services *host, struct ts_output *out,
			     const struct iovec *iov, int iovcnt);
};

/*
 * How long before now (a now_ns() reading) then was; 0 when then is later.
 * A time another thread stored (a hook's last-seen time, read by a timer
 * callback) can be later than a now_ns() this thread read a moment ago:
 * now - then would wrap to an age of centuries.
 */
static inline uint64_t ts_ns_since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

#define TS_NOTES_MAX	  8
#define TS_NOTE_KEY_MAX	  31
#define TS_NOTE_VALUE_MAX 63
/* The size of the 1.0 service table, before note_set. */
#define TS_HOST_SERVICES_V1_SIZE offsetof(struct ts_host_services, note_set)
/* The size of the 2.1 service table: instance_name .. output_close are there. */
#define TS_HOST_SERVICES_V2_1_SIZE                                                                 \
	(offsetof(struct ts_host_services, output_close) + sizeof(void (*)(void)))

/* The size of the 2.3 service table: output_open_cb and output_writev are there. */
#define TS_HOST_SERVICES_V2_3_SIZE                                                                 \
	(offsetof(struct ts_host_services, output_writev) + sizeof(void (*)(void)))

/* One key of a plugin's declared config schema (struct ts_plugin_v2.config_schema). */
enum ts_config_type {
	TS_CFG_STRING = 1, /* a non-empty scalar */
	TS_CFG_INT = 2,	   /* an integer in [min, max] (both 0: any) */
	TS_CFG_BOOL = 3,   /* true/false/yes/no/on/off/1/0 */
	TS_CFG_LIST = 4,   /* a sequence of scalars */
	TS_CFG_MAP = 5,	   /* a mapping (not checked further) */
};

struct ts_config_key {
	const char *key; /* NULL ends the array */
	enum ts_config_type type;
	long long min, max; /* TS_CFG_INT only */
	bool required;
};

/* A hook: runs on a data-path thread, must not block, returns a verdict. */
typedef enum ts_verdict (*ts_hook_fn)(void *state, struct ts_packet *pkt);

/* The descriptor every plugin exports as `tinescale_plugin_v2`. */
struct ts_plugin_v2 {
	uint32_t abi_version; /* TS_PLUGIN_ABI_VERSION */
	uint32_t struct_size; /* sizeof(struct ts_plugin_v2) as the plugin was built */
	const char *name;     /* short name, e.g. "hexdump" */
	const char *version;  /* free-form, e.g. "1.0" */

	/*
	 * Make an instance.  Called on the loading thread (main or control
	 * thread), never on a data-path thread.  config is the instance's
	 * `config:` mapping (an empty mapping when the YAML has none).  On
	 * success set *state and return 0; on failure write one line to
	 * err (the host prefixes it with file:line:column and the instance
	 * name), release what was acquired (timers included) and return -1.
	 */
	int (*create)(const struct ts_host_services *host, const struct ts_config_node *config,
		      void **state, char *err, size_t errlen);
	/*
	 * Free the instance.  Called once, on the loading thread, after the
	 * last hook, event and timer callback of the instance have returned.
	 * May be NULL.
	 */
	void (*destroy)(void *state);

	/* Hooks; NULL = not supported (naming it in the YAML is an error). */
	ts_hook_fn plaintext_out;
	ts_hook_fn ciphertext_out;
	ts_hook_fn ciphertext_in;
	ts_hook_fn plaintext_in;

	/*
	 * Optional.  Engine events, delivered to every instance of the
	 * current pipeline that has this callback, whatever its hooks, on the
	 * host's event thread (never a data-path thread, never under an engine
	 * lock), one event at a time.  Runs concurrently with hooks and timer
	 * callbacks.  ev and everything it points to are valid during the call.
	 */
	void (*event)(void *state, const struct ts_event *ev);

	/* ---- appended in 2.1: all optional (0 / NULL) ---- */

	/*
	 * Per-peer state: the host keeps peer_state_size zeroed bytes per
	 * (instance, peer), reached with host->peer_state().  peer_added is
	 * called on the event thread when a peer is added, and on the loading
	 * thread right after create() for the peers already there;
	 * peer_removed on the event thread when a peer is removed, after which
	 * the slot is freed.  Both get the slot.  When migrate is set, a
	 * reload copies the slots to the new instance while the old one still
	 * runs, in 8-byte words each read atomically: keep what hooks change
	 * in 64-bit atomics (a lock inside a slot could be copied locked), and
	 * no pointers into the old instance.
	 */
	size_t peer_state_size;
	void (*peer_added)(void *state, const uint8_t public_key[32], void *peer_state);
	void (*peer_removed)(void *state, const uint8_t public_key[32], void *peer_state);
	/*
	 * State handoff across a reload: when the new pipeline has an instance
	 * of the same name using a plugin of the same name, migrate(old, new)
	 * is called on the loading thread after the new instance's create()
	 * and before it is published, with the peer slots already copied (when
	 * peer_state_size is the same).  The old instance still runs meanwhile
	 * and is destroyed after the new one is published: copy, do not move.
	 * old and new may come from different builds of the plugin.
	 */
	void (*migrate)(void *old_state, void *new_state);
	/*
	 * Optional config schema, an array ended by an entry with key NULL.
	 * The host checks the instance's `config:` against it before create():
	 * unknown keys, wrong types, out-of-range integers and missing required
	 * keys are refused with FILE:LINE:COLUMN of the key.
	 */
	const struct ts_config_key *config_schema;

	/*
	 * ---- appended in 2.2, optional (a descriptor built against an
	 * older header ends before it: 0) ----
	 * The most bytes ciphertext_out adds to a datagram, say a relay's
	 * header in front of it.  Unless --mtu is given, the daemon starts
	 * the interface with its default MTU lowered by the sum of this over
	 * the pipeline's ciphertext_out instances (rounded down to a multiple
	 * of 16, WireGuard's padding), so that grown datagrams still fit the
	 * path instead of leaving as IP fragments.  Read once, at start: a
	 * reload does not change the MTU.
	 */
	uint32_t wire_overhead;
};

/* The 2.1 descriptor size: peer state, migrate and the config schema are there. */
#define TS_PLUGIN_V2_1_SIZE (offsetof(struct ts_plugin_v2, config_schema) + sizeof(void *))

/* The size of the 2.0 descriptor: the smallest a version 2 host accepts. */
#define TS_PLUGIN_V2_MIN_SIZE (offsetof(struct ts_plugin_v2, event) + sizeof(void (*)(void)))

#ifdef __cplusplus
}
#endif

#endif
