/* SPDX-License-Identifier: MIT */
/*
 * The UDP side of the device, behind an ops table (struct ts_bind_ops) so the
 * engine runs over kernel sockets in the daemon and over an in-memory network
 * in tests; and the kernel implementation (binding, rebinding, marks,
 * source-address control messages).
 */
#ifndef TS_SOCKET_H
#define TS_SOCKET_H

#include <stdbool.h>
#include <stdint.h>

#include "endpoint.h"

/* One datagram of a batch, either way. */
struct ts_dgram {
	/* recv: where to put it, cap bytes of room; send: the bytes, len of them. */
	uint8_t *data;
	size_t cap, len;
	/* recv: who sent it; send: where it goes. */
	union ts_endpoint peer;
	/*
	 * recv: the local address it arrived on (family 0: unknown).  send: the
	 * source address to use (family 0: routing chooses).
	 */
	struct ts_endpoint_src local;
	/* recv: TS_DGRAM_TRUNC. */
	unsigned flags;
	/*
	 * send, filled in by the bind: 0 sent; 1 sent, but not from 'local',
	 * which no longer works (the caller forgets it); or -errno, not sent.
	 */
	int result;
};

#define TS_DGRAM_TRUNC 1u /* larger than cap: the bytes in data are not all of it */

/* The most file descriptors a bind asks the device to poll (IPv4 and IPv6). */
#define TS_BIND_MAX_FDS 2

/*
 * What the device needs of its UDP "sockets".  The device owns ctx once it
 * is given one and calls close exactly once, after its threads have stopped.
 * recv is called by the rx thread only; send by any thread at any time, and
 * concurrently with open.
 */
struct ts_bind_ops {
	/*
	 * Listen on *port for IPv4 and IPv6 (0: any free port, written back),
	 * with fwmark.  Called again to move to another port: on failure the
	 * old port stays; on success the old one is gone.  0 or -errno
	 * (-EADDRINUSE when the port is taken).
	 */
	int (*open)(void *ctx, uint16_t *port, uint32_t fwmark);
	/*
	 * The descriptors to poll for recv, into fds[0..TS_BIND_MAX_FDS) (-1:
	 * none in that slot).  A slot's descriptor never changes once set,
	 * but an absent one may appear after open: the rx thread asks again
	 * after every wake-up.
	 */
	void (*fds)(void *ctx, int fds[TS_BIND_MAX_FDS]);
	/*
	 * Receive up to n datagrams without blocking from the descriptor in
	 * slot 'which', into d[i].data (room d[i].cap).  Returns the count (0:
	 * nothing waiting) or -errno.  Always one datagram per d[i], whatever
	 * the bind receives them as (the kernel bind receives UDP_GRO trains
	 * into buffers of its own and splits them into d[]); what did not fit
	 * may wait inside the bind, where poll() does not see it, so a recv
	 * that filled all n must be followed by another before sleeping.
	 */
	int (*recv)(void *ctx, unsigned which, struct ts_dgram *d, unsigned n);
	/*
	 * Send n datagrams, each to d[i].peer (either family, in any order);
	 * each gets its d[i].result.  One failing datagram does not stop the
	 * others.  The kernel bind sends a run of consecutive datagrams to one
	 * destination from one source, all of one size but the last (which
	 * may be shorter), as one UDP GSO send: callers that keep a peer's
	 * datagrams together in order get the most out of it.  A run shares
	 * its result.
	 */
	void (*send)(void *ctx, struct ts_dgram *d, unsigned n);
	/* 0 or -errno. */
	int (*set_fwmark)(void *ctx, uint32_t fwmark);
	void (*close)(void *ctx);
	/*
	 * Optional (NULL: nothing to give up).  Give the port up now, ahead
	 * of close, while other threads may still use the bind: every
	 * socket is replaced, under the same descriptor number, by one that
	 * is bound to nothing, receives nothing and fails every send.
	 */
	void (*release)(void *ctx);
};

/* Kernel UDP sockets, one per family, bound to the same port. */
extern const struct ts_bind_ops ts_bind_kernel_ops;
/*
 * A new, unbound kernel bind for ts_bind_kernel_ops: 0 or -ENOMEM.  Its
 * fds() are epoll descriptors, one per family, each watching that family's
 * socket: polling them never keeps a replaced socket (and its port) alive.
 * It uses UDP GSO (UDP_SEGMENT) and GRO (UDP_GRO) where the kernel has
 * them, probed on every open, and falls back to a datagram per system call
 * slot where it does not.
 */
int ts_bind_kernel_create(void **ctx);
/*
 * Allow or forbid GSO and GRO on this bind (both allowed by default); takes
 * effect at the next open.  For tests and measurements.
 */
void ts_bind_kernel_set_offload(void *ctx, bool gso, bool gro);

#endif
