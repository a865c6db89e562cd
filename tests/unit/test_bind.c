// SPDX-License-Identifier: MIT
/*
 * The kernel UDP bind (ts_bind_kernel_ops) over loopback, without root:
 * batches both ways with source and local addresses, truncation, a pinned
 * source we do not have (sent anyway, reported as 1), moving to another
 * port while keeping the polled descriptors, and a port that is taken.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "log.h"
#include "socket.h"
#include "testutil.h"

static union ts_endpoint loopback(uint16_t port)
{
	union ts_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	ep.in.sin_family = AF_INET;
	ep.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ep.in.sin_port = htons(port);
	return ep;
}

/* Receive n datagrams on slot 0 (IPv4) within a second: how many came. */
static int recv_n(void *ctx, struct ts_dgram *d, uint8_t bufs[][256], unsigned n, size_t cap)
{
	int fds[TS_BIND_MAX_FDS], got = 0;

	ts_bind_kernel_ops.fds(ctx, fds);
	for (int tries = 0; tries < 100 && got < (int)n; tries++) {
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		int r;

		if (poll(&pfd, 1, 10) <= 0)
			continue;
		for (unsigned i = (unsigned)got; i < n; i++) {
			memset(&d[i], 0, sizeof(d[i]));
			d[i].data = bufs[i];
			d[i].cap = cap;
		}
		r = ts_bind_kernel_ops.recv(ctx, 0, d + got, n - (unsigned)got);
		if (r < 0)
			return r;
		got += r;
	}
	return got;
}

static void test_batches(void)
{
	void *ctx;
	uint16_t port = 0;
	uint8_t out[3][256], in[3][256];
	struct ts_dgram d[3], r[3];
	union ts_endpoint self;
	int fds[TS_BIND_MAX_FDS];

	CHECK(ts_bind_kernel_create(&ctx) == 0);
	CHECK(ts_bind_kernel_ops.open(ctx, &port, 0) == 0);
	CHECK(port != 0);
	ts_bind_kernel_ops.fds(ctx, fds);
	CHECK(fds[0] >= 0);
	self = loopback(port);

	memset(d, 0, sizeof(d));
	for (int i = 0; i < 3; i++) {
		memset(out[i], 'a' + i, 100);
		d[i].data = out[i];
		d[i].len = 100 + (size_t)i;
		d[i].peer = self;
	}
	/* Datagram 1 pins 127.0.0.1 as its source; 2 pins one we do not have. */
	d[1].local.family = AF_INET;
	d[1].local.addr.in.s_addr = htonl(INADDR_LOOPBACK);
	d[2].local.family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", &d[2].local.addr.in);
	ts_bind_kernel_ops.send(ctx, d, 3);
	CHECK(d[0].result == 0);
	CHECK(d[1].result == 0);
	CHECK_MSG(d[2].result == 1, "result %d: a source we lack should fall back", d[2].result);

	CHECK(recv_n(ctx, r, in, 3, sizeof(in[0])) == 3);
	for (int i = 0; i < 3; i++) {
		CHECK(r[i].len == 100 + (size_t)i);
		CHECK(r[i].flags == 0);
		CHECK(memcmp(in[i], out[i], r[i].len) == 0);
		/* From ourselves, to 127.0.0.1 (IP_PKTINFO). */
		CHECK(ts_endpoint_equal(&r[i].peer, &self));
		CHECK(r[i].local.family == AF_INET &&
		      r[i].local.addr.in.s_addr == htonl(INADDR_LOOPBACK));
	}

	/* Larger than the buffer: flagged, not passed off as whole. */
	memset(d, 0, sizeof(d));
	d[0].data = out[0];
	d[0].len = 200;
	d[0].peer = self;
	ts_bind_kernel_ops.send(ctx, d, 1);
	CHECK(d[0].result == 0);
	CHECK(recv_n(ctx, r, in, 1, 64) == 1);
	CHECK(r[0].flags & TS_DGRAM_TRUNC);

	/* No address family: refused per datagram. */
	memset(d, 0, sizeof(d));
	d[0].data = out[0];
	d[0].len = 10;
	ts_bind_kernel_ops.send(ctx, d, 1);
	CHECK(d[0].result == -EAFNOSUPPORT);
	ts_bind_kernel_ops.close(ctx);
}

static void test_rebind(void)
{
	void *a = NULL, *b = NULL;
	uint16_t pa = 0, pb = 0, taken;
	int before[TS_BIND_MAX_FDS], after[TS_BIND_MAX_FDS];
	uint8_t out[1][256], in[1][256];
	struct ts_dgram d[1], r[1];

	CHECK(ts_bind_kernel_create(&a) == 0 && ts_bind_kernel_create(&b) == 0);
	CHECK(ts_bind_kernel_ops.open(a, &pa, 0) == 0);
	CHECK(ts_bind_kernel_ops.open(b, &pb, 0) == 0);
	ts_bind_kernel_ops.fds(a, before);

	/* b's port is taken: a keeps its own. */
	taken = pb;
	CHECK(ts_bind_kernel_ops.open(a, &taken, 0) == -EADDRINUSE);

	/* A fresh port: same descriptors (the rx thread may be polling them), new port. */
	pa = 0;
	CHECK(ts_bind_kernel_ops.open(a, &pa, 0) == 0);
	ts_bind_kernel_ops.fds(a, after);
	for (int i = 0; i < TS_BIND_MAX_FDS; i++)
		CHECK(before[i] == after[i]);
	memset(d, 0, sizeof(d));
	memset(out[0], 'x', 20);
	d[0].data = out[0];
	d[0].len = 20;
	d[0].peer = loopback(pa);
	ts_bind_kernel_ops.send(b, d, 1);
	CHECK(d[0].result == 0);
	CHECK(recv_n(a, r, in, 1, sizeof(in[0])) == 1);
	CHECK(r[0].len == 20);
	CHECK(ts_endpoint_equal(&r[0].peer, &(union ts_endpoint){.in = loopback(pb).in}));
	/* SO_MARK needs CAP_NET_ADMIN: without it, a clean -EPERM. */
	CHECK(ts_bind_kernel_ops.set_fwmark(a, 0) == 0 ||
	      ts_bind_kernel_ops.set_fwmark(a, 0) == -EPERM);
	ts_bind_kernel_ops.close(a);
	ts_bind_kernel_ops.close(b);
}

int main(void)
{
	ts_log_set_level(TS_LOG_ERROR);
	test_batches();
	test_rebind();
	return failures ? 1 : 0;
}
