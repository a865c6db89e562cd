// SPDX-License-Identifier: MIT
/*
 * tinescale-relay's batched sending (relay_out.c) over loopback, without
 * root: more frames than the queue holds (a flush on the way) for two
 * destinations, runs of one size (which go out
 * as UDP GSO sends where the kernel has it) with a shorter tail, singles
 * in between, and a pinned source address we do not have (sent anyway from
 * wherever routing says); each destination gets its frames whole and in
 * order, with and without GSO, and the sends are counted (one a frame
 * without GSO, fewer with it).
 */
#include "../testutil.h"
#include "relay_out.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

/* More than the queue holds: the full queue is flushed on the way. */
#define N (RELAY_OUT_MAX + 44)

static int udp_socket(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rcvbuf = 1 << 20; /* capped at net.core.rmem_max: room for the frames at least */

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)addr, sizeof(*addr)) == 0);
	CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)addr, &len) == 0);
	return fd;
}

static void run(bool gso)
{
	static uint8_t frames[N][1500], got[65536];
	size_t len[N];
	struct sockaddr_in relay, dst[2];
	int fd = udp_socket(&relay), rx[2] = {udp_socket(&dst[0]), udp_socket(&dst[1])};
	static struct relay_out o; /* large: its flush scratch is inside */
	unsigned failed = 0, next[2] = {0, 0};
	struct relay_local pinned = {.family = AF_INET};
	uint64_t sends = 0;

	inet_pton(AF_INET, "192.0.2.77", &pinned.a4);
	relay_out_init(&o, fd, &sends);
	if (!gso)
		o.gso = false;
	for (unsigned i = 0; i < N; i++) {
		/* 0-39 to dst 0 (1300 bytes, 39 shorter); 40-49 alternate; then dst 1. */
		unsigned to = i < 40 ? 0 : i < 50 ? i % 2 : 1;

		len[i] = i < 40 ? 1300 : i < 50 ? 200 + i : i < 90 ? 1100 : 300;
		if (i == 39 || i == 89 || i == N - 1)
			len[i] = 77;
		for (size_t j = 0; j < len[i]; j++)
			frames[i][j] = (uint8_t)(i * 13 + j);
		failed += relay_out_add(&o, frames[i], len[i], (struct sockaddr *)&dst[to],
					sizeof(dst[to]), i >= 60 && i < 70 ? &pinned : NULL);
	}
	failed += relay_out_flush(&o);
	CHECK_MSG(failed == 0, "gso %d: %u frames failed", gso, failed);
	CHECK(o.n == 0);
	/* Counted per message: one a frame without GSO, fewer with it. */
	CHECK_MSG(gso ? !o.gso || sends < N : sends == N, "gso %d: %llu sends for %d frames", gso,
		  (unsigned long long)sends, N);

	/* Each destination: its frames, in order, one datagram each. */
	for (unsigned i = 0; i < N; i++) {
		unsigned to = i < 40 ? 0 : i < 50 ? i % 2 : 1;
		struct pollfd pfd = {.fd = rx[to], .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 1000) != 1) {
			CHECK_MSG(0, "gso %d: frame %u never arrived", gso, i);
			break;
		}
		n = recv(rx[to], got, sizeof(got), 0);
		CHECK_MSG(n == (ssize_t)len[i] && !memcmp(got, frames[i], len[i]),
			  "gso %d: frame %u: %zd bytes, want %zu (at %u of dst %u)", gso, i, n,
			  len[i], next[to], to);
		next[to]++;
	}
	close(fd);
	close(rx[0]);
	close(rx[1]);
}

int main(void)
{
	run(true);
	run(false);
	return failures ? 1 : 0;
}
