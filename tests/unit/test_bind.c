// SPDX-License-Identifier: MIT
/*
 * The kernel UDP bind (ts_bind_kernel_ops) over loopback, without root:
 * batches both ways with source and local addresses, truncation, a pinned
 * source we do not have (sent anyway, reported as 1), moving to another
 * port while keeping the polled descriptors, and a port that is taken;
 * moving back and forth between two ports while another thread sleeps in
 * poll() on the bind's descriptors, as the rx thread does; runs of
 * datagrams (UDP GSO and GRO where the kernel has them) arriving one per
 * ts_dgram, in order, with and without the offloads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

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

/* A free UDP port on loopback (for both families, as open needs). */
static uint16_t free_port(void)
{
	void *t;
	uint16_t port = 0;

	CHECK(ts_bind_kernel_create(&t) == 0);
	CHECK(ts_bind_kernel_ops.open(t, &port, 0) == 0);
	ts_bind_kernel_ops.close(t);
	return port;
}

struct poller {
	void *bind;
	int stop_fd;
	atomic_uint wakeups;
};

/* The rx thread's wait: poll the bind's descriptors until told to stop. */
static void *poller_main(void *arg)
{
	struct poller *p = arg;

	for (;;) {
		struct pollfd pfd[TS_BIND_MAX_FDS + 1];
		int fds[TS_BIND_MAX_FDS];

		ts_bind_kernel_ops.fds(p->bind, fds);
		for (int i = 0; i < TS_BIND_MAX_FDS; i++)
			pfd[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
		pfd[TS_BIND_MAX_FDS] = (struct pollfd){.fd = p->stop_fd, .events = POLLIN};
		if (poll(pfd, TS_BIND_MAX_FDS + 1, -1) < 0)
			continue;
		if (pfd[TS_BIND_MAX_FDS].revents)
			return NULL;
		atomic_fetch_add(&p->wakeups, 1);
	}
}

/*
 * Regression: moving back to the port left a moment ago failed with
 * EADDRINUSE while the rx thread slept in poll() on the replaced socket,
 * which kept it (and its port) alive.
 */
static void test_port_flip(void)
{
	struct poller p = {0};
	pthread_t t;
	uint16_t ports[2] = {free_port(), free_port()}, port;
	int failed = 0, first_err = 0;
	uint8_t out[1][256], in[1][256];
	struct ts_dgram d[1], r[1];
	void *peer;

	CHECK(ports[0] != ports[1]);
	CHECK(ts_bind_kernel_create(&p.bind) == 0);
	port = ports[0];
	CHECK(ts_bind_kernel_ops.open(p.bind, &port, 0) == 0);
	p.stop_fd = eventfd(0, EFD_CLOEXEC);
	CHECK(p.stop_fd >= 0);
	CHECK(pthread_create(&t, NULL, poller_main, &p) == 0);
	for (int i = 1; i <= 2000; i++) {
		int ret;

		/* Give the poller a chance to be asleep in poll() now and then. */
		if (i % 100 == 0)
			usleep(1000);
		port = ports[i % 2];
		ret = ts_bind_kernel_ops.open(p.bind, &port, 0);
		if (ret < 0 && !failed++)
			first_err = ret;
	}
	CHECK_MSG(!failed, "%d of 2000 moves failed, the first with %s", failed,
		  strerror(-first_err));

	/* It listens where it says, and the poller hears it. */
	CHECK(ts_bind_kernel_create(&peer) == 0);
	port = 0;
	CHECK(ts_bind_kernel_ops.open(peer, &port, 0) == 0);
	memset(d, 0, sizeof(d));
	memset(out[0], 'f', 30);
	d[0].data = out[0];
	d[0].len = 30;
	d[0].peer = loopback(ports[0]);
	ts_bind_kernel_ops.send(peer, d, 1);
	CHECK(d[0].result == 0);
	CHECK(recv_n(p.bind, r, in, 1, sizeof(in[0])) == 1);
	CHECK(r[0].len == 30);
	CHECK(write(p.stop_fd, &(uint64_t){1}, sizeof(uint64_t)) == sizeof(uint64_t));
	pthread_join(t, NULL);
	close(p.stop_fd);
	ts_bind_kernel_ops.close(peer);
	ts_bind_kernel_ops.close(p.bind);
}

#define RUN_N 100

/* A datagram's bytes: which one it is, so order and splitting show. */
static void fill(uint8_t *buf, size_t len, unsigned i)
{
	for (size_t j = 0; j < len; j++)
		buf[j] = (uint8_t)(i * 7 + j);
}

/*
 * Runs that GSO can send as one (two peers' trains, interleaved with
 * singles and a shorter tail) arrive one datagram per ts_dgram, in order,
 * whole, through a receive batch smaller than what is waiting.
 */
static void runs(bool offload)
{
	static uint8_t out[RUN_N][1500], in[RUN_N][65535];
	struct ts_dgram d[RUN_N], r[RUN_N];
	size_t want[RUN_N];
	void *a = NULL, *b = NULL;
	uint16_t pa = 0, pb = 0;
	int fds[TS_BIND_MAX_FDS], got = 0;

	CHECK(ts_bind_kernel_create(&a) == 0 && ts_bind_kernel_create(&b) == 0);
	ts_bind_kernel_set_offload(a, offload, offload);
	ts_bind_kernel_set_offload(b, offload, offload);
	CHECK(ts_bind_kernel_ops.open(a, &pa, 0) == 0);
	CHECK(ts_bind_kernel_ops.open(b, &pb, 0) == 0);
	memset(d, 0, sizeof(d));
	for (unsigned i = 0; i < RUN_N; i++) {
		/* 0-49: 1400 bytes but 49; 50-59 singles of varying size; 60-99: 1200, 99 short. */
		want[i] = i < 50 ? 1400 : i < 60 ? 100 + i : 1200;
		if (i == 49)
			want[i] = 333;
		if (i == 99)
			want[i] = 1;
		fill(out[i], want[i], i);
		d[i].data = out[i];
		d[i].len = want[i];
		d[i].peer = loopback(pa);
	}
	/* Two sends, so one call carries more than one run. */
	ts_bind_kernel_ops.send(b, d, 64);
	ts_bind_kernel_ops.send(b, d + 64, RUN_N - 64);
	for (unsigned i = 0; i < RUN_N; i++)
		CHECK_MSG(d[i].result == 0, "datagram %u: %d", i, d[i].result);

	ts_bind_kernel_ops.fds(a, fds);
	for (int tries = 0; tries < 200 && got < RUN_N; tries++) {
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		int n;

		if (poll(&pfd, 1, 10) <= 0 && !got)
			continue;
		do {
			unsigned room = RUN_N - (unsigned)got < 7 ? RUN_N - (unsigned)got : 7;

			for (unsigned i = 0; i < room; i++) {
				memset(&r[got + (int)i], 0, sizeof(r[0]));
				r[got + (int)i].data = in[got + (int)i];
				r[got + (int)i].cap = sizeof(in[0]);
			}
			n = ts_bind_kernel_ops.recv(a, 0, r + got, room);
			CHECK(n >= 0);
			if (n > 0)
				got += n;
		} while (n == 7 && got < RUN_N);
	}
	CHECK_MSG(got == RUN_N, "offload %d: %d of %d datagrams", offload, got, RUN_N);
	for (int i = 0; i < got; i++) {
		CHECK_MSG(r[i].len == want[i] && !memcmp(in[i], out[i], want[i]),
			  "offload %d: datagram %d: %zu bytes, want %zu", offload, i, r[i].len,
			  want[i]);
		CHECK(r[i].flags == 0);
		CHECK(ts_endpoint_equal(&r[i].peer, &(union ts_endpoint){.in = loopback(pb).in}));
		CHECK(r[i].local.family == AF_INET);
	}
	ts_bind_kernel_ops.close(a);
	ts_bind_kernel_ops.close(b);
}

static void test_runs(void)
{
	runs(true);
	runs(false);
}

int main(void)
{
	ts_log_set_level(TS_LOG_ERROR);
	test_batches();
	test_rebind();
	test_port_flip();
	test_runs();
	return failures ? 1 : 0;
}
