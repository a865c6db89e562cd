/* SPDX-License-Identifier: MIT */
/*
 * In-memory I/O for running the engine in a test process without root: a
 * fake TUN (struct ts_tun_ops) whose packets the test writes and reads, and
 * a fake UDP network (struct ts_bind_ops) joining several devices by fake
 * addresses (192.0.2.x:port).  The network lets a test drop, duplicate or
 * hold back (reorder) datagrams, inject forged or replayed ones, and move a
 * bind to another address (roaming).
 *
 * Ownership follows the device: a fake TUN or bind given to
 * ts_device_create_with_io() is freed when the device closes it, so the
 * test must not use it after ts_device_destroy().
 */
#ifndef TS_FAKE_IO_H
#define TS_FAKE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"
#include "socket.h"
#include "tun.h"

/* --- the TUN ------------------------------------------------------------ */

struct fake_tun;
extern const struct ts_tun_ops fake_tun_ops;

struct fake_tun *fake_tun_new(void);
/* A packet from the host for the engine to send: 0, or -ENOBUFS (queue full). */
int fake_tun_inject(struct fake_tun *t, const void *pkt, size_t len);
/*
 * Wait up to timeout_ms for a packet the engine wrote to the TUN; its length
 * (truncated to cap), or -ETIMEDOUT.
 */
int fake_tun_take(struct fake_tun *t, void *buf, size_t cap, int timeout_ms);
/* Packets the engine wrote so far (taken or not). */
uint64_t fake_tun_written(struct fake_tun *t);
/* The link disappears: the engine's next read says -ENODEV. */
void fake_tun_gone(struct fake_tun *t);
int fake_tun_mtu(struct fake_tun *t);

/* --- the network --------------------------------------------------------- */

struct fake_net;
struct fake_bind;
extern const struct ts_bind_ops fake_bind_ops;

/* One datagram as the network sees it. */
struct fake_dgram {
	union ts_endpoint src, dst;
	size_t len;
	const uint8_t *data;
};

enum fake_verdict {
	FAKE_PASS, /* deliver */
	FAKE_DROP, /* lose it */
	FAKE_DUP,  /* deliver twice */
	FAKE_HOLD, /* keep it until fake_net_release() */
};

/*
 * Called for every datagram a bind sends (not for injected ones), with the
 * network's lock held: it must not call back into the network.
 */
typedef enum fake_verdict (*fake_filter_fn)(void *arg, const struct fake_dgram *d);

struct fake_net *fake_net_new(void);
/* After every bind on it is closed. */
void fake_net_free(struct fake_net *net);
void fake_net_set_filter(struct fake_net *net, fake_filter_fn fn, void *arg);
/*
 * Deliver a datagram as if src had sent it to dst: 0, -EHOSTUNREACH (no
 * bind there) or -ENOBUFS (its queue is full).
 */
int fake_net_inject(struct fake_net *net, const union ts_endpoint *src,
		    const union ts_endpoint *dst, const void *data, size_t len);
/* Deliver what FAKE_HOLD kept, in the order it was sent. */
void fake_net_release(struct fake_net *net);

/*
 * The most recent datagram a bind sent (whatever the filter said) with this
 * message type (first byte) whose source and destination match (NULL: any),
 * copied into buf (cap bytes): its length, or 0 if none is remembered.
 * The network remembers the last FAKE_LOG_MAX datagrams.
 */
#define FAKE_LOG_MAX 512
size_t fake_net_find_last(struct fake_net *net, uint8_t type, const union ts_endpoint *src,
			  const union ts_endpoint *dst, uint8_t *buf, size_t cap);

/* A bind at IPv4 address addr ("192.0.2.1"); NULL on failure. */
struct fake_bind *fake_bind_new(struct fake_net *net, const char *addr);
/* Where it listens (valid after the device opened it). */
union ts_endpoint fake_bind_endpoint(struct fake_bind *b);
/* Roaming: from now on it sends from, and receives at, addr. */
void fake_bind_set_addr(struct fake_bind *b, const char *addr);
/* Datagrams of a message type (first byte: 1..4) that reached this bind's queue. */
uint64_t fake_bind_received(struct fake_bind *b, uint8_t type);
/* How many times the device called this bind's send, and the most datagrams one call carried. */
void fake_bind_send_calls(struct fake_bind *b, uint64_t *calls, unsigned *most);
/*
 * Without the device's rx thread (fuzzing): take one queued datagram into
 * buf (cap bytes), with its source and our local address.  Length or -EAGAIN.
 */
int fake_bind_pop(struct fake_bind *b, uint8_t *buf, size_t cap, union ts_endpoint *src,
		  struct ts_endpoint_src *local);

/* "192.0.2.1:51820" -> endpoint; aborts on a malformed test constant. */
union ts_endpoint fake_ep(const char *text);

/* Poll cond(arg) every millisecond for up to timeout_ms: its last value. */
bool fake_wait(bool (*cond)(void *arg), void *arg, int timeout_ms);

#endif
