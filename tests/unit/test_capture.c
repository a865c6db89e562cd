// SPDX-License-Identifier: MIT
/*
 * The live capture through the host's hook table, as the engine drives it,
 * into a socketpair standing for `tinescale ctl IF capture`: no capture
 * means the hook points stay inactive; a capture makes them active and the
 * stream is a pcapng section (SHB, one IDB per hook taken, EPBs with the
 * right interface, the synthesized IPv4/UDP header of a ciphertext packet
 * with our and the peer's address); a reader that reads nothing never
 * blocks the data path (packets are dropped, the calls return); the reader
 * closing ends the capture; --hooks limits the interfaces.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture.h"
#include "pcapng.h"
#include "pipeline.h"
#include "rcu.h"
#include "seam.h"
#include "testutil.h"

static size_t read_some(int fd, uint8_t *buf, size_t cap, size_t want)
{
	size_t have = 0;

	while (have < want) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			break;
		n = read(fd, buf + have, cap - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	return have;
}

static uint32_t u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void wait_count(struct ts_pipeline_host *ph, unsigned int want)
{
	for (int i = 0; i < 500 && ts_capture_count(ph) != want; i++)
		usleep(10000);
	CHECK_MSG(ts_capture_count(ph) == want, "%u captures, expected %u", ts_capture_count(ph),
		  want);
}

int main(void)
{
	struct ts_pipeline_host *ph;
	const struct ts_hook_table *ht;
	struct ts_capture_opts all = {0}, one = {0};
	uint8_t ip4[28] = {0x45, 0, 0, 28, [8] = 64, [9] = 17, [12] = 10, 0, 0, 1, 10, 0, 0, 2};
	uint8_t wg[32] = {4};
	uint8_t buf[1 << 16], *big;
	union ts_endpoint peer = {0};
	struct ts_endpoint_src local = {.family = AF_INET};
	char err[256];
	size_t n, at;
	int sv[2], blocks = 0, epbs = 0;

	if (ts_pipeline_host_create(&ph, NULL) || ts_rcu_thread_register())
		return 1;
	ts_rcu_online(); /* as the engine's data-path threads are */
	ht = ts_pipeline_hook_table(ph);
	CHECK(!ht->active(ht->ctx, TS_HP_PLAINTEXT_OUT));

	/* All hooks: a plaintext packet and a WireGuard datagram. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 1;
	CHECK(ts_capture_start(ph, &all, sv[0], err, sizeof(err)) == 0);
	for (int h = 0; h < TS_HOOK_COUNT; h++)
		CHECK(ht->active(ht->ctx, (enum ts_hook_point)h));
	{
		struct ts_hook_pkt p = {.data = ip4, .len = sizeof(ip4)};

		CHECK(ht->run(ht->ctx, TS_HP_PLAINTEXT_OUT, &p));
	}
	peer.in.sin_family = AF_INET;
	peer.in.sin_port = htons(51820);
	inet_pton(AF_INET, "192.0.2.1", &peer.in.sin_addr);
	inet_pton(AF_INET, "192.0.2.2", &local.addr.in);
	{
		struct ts_hook_pkt p = {.data = wg,
					.len = sizeof(wg),
					.ep = &peer,
					.local = &local,
					.listen_port = 51821};

		CHECK(ht->run(ht->ctx, TS_HP_CIPHERTEXT_OUT, &p));
	}
	n = read_some(sv[1], buf, sizeof(buf), 1);
	/* Everything is written within 20 ms; give it all the time it needs. */
	for (int i = 0; i < 100; i++) {
		int count = 0;

		for (at = 0; at + 12 <= n; at += u32(buf + at + 4))
			count += u32(buf + at) == PCAPNG_BT_EPB;
		if (count == 2)
			break;
		n += read_some(sv[1], buf + n, sizeof(buf) - n, 1);
	}
	for (at = 0; at + 12 <= n && u32(buf + at + 4) >= 12; at += u32(buf + at + 4)) {
		const uint8_t *b = buf + at;
		uint32_t type = u32(b);

		if (blocks == 0)
			CHECK(type == PCAPNG_BT_SHB);
		else if (blocks <= 4)
			CHECK(type == PCAPNG_BT_IDB);
		else if (type == PCAPNG_BT_EPB && epbs++ == 0) {
			CHECK(u32(b + 8) == TS_HOOK_PLAINTEXT_OUT && u32(b + 20) == sizeof(ip4));
			CHECK(!memcmp(b + 28, ip4, sizeof(ip4)));
		} else if (type == PCAPNG_BT_EPB) {
			const uint8_t *pkt = b + 28;

			CHECK(u32(b + 8) == TS_HOOK_CIPHERTEXT_OUT &&
			      u32(b + 20) == 28 + sizeof(wg));
			CHECK(pkt[0] == 0x45 && pkt[9] == 17);
			CHECK(!memcmp(pkt + 12, "\xc0\x00\x02\x02", 4)); /* from us */
			CHECK(!memcmp(pkt + 16, "\xc0\x00\x02\x01", 4)); /* to the peer */
			CHECK(pkt[20] == 51821 >> 8 && pkt[21] == (51821 & 0xff));
			CHECK(pkt[22] == 51820 >> 8 && pkt[23] == (51820 & 0xff));
			CHECK(!memcmp(pkt + 28, wg, sizeof(wg)));
		}
		blocks++;
	}
	CHECK_MSG(blocks == 7 && epbs == 2, "%d blocks, %d packets", blocks, epbs);

	/* A reader that reads nothing: 8 MiB of packets, none of the calls waits. */
	big = calloc(1, 65535);
	if (!big)
		return 1;
	big[0] = 0x45;
	for (int i = 0; i < 128; i++) {
		struct ts_hook_pkt p = {.data = big, .len = 65535};

		CHECK(ht->run(ht->ctx, TS_HP_PLAINTEXT_IN, &p));
	}
	free(big);

	/* The reader goes: the capture ends, the hooks go quiet. */
	close(sv[1]);
	ts_rcu_offline(); /* the capture's thread waits for a grace period */
	wait_count(ph, 0);
	ts_rcu_online();
	CHECK(!ht->active(ht->ctx, TS_HP_PLAINTEXT_OUT));

	/* --hooks: one interface, the others stay inactive. */
	CHECK(ts_capture_parse_hooks("ciphertext_in", &one.hooks, err, sizeof(err)) == 0);
	CHECK(ts_capture_parse_hooks("plaintext_in,nope", &one.hooks, err, sizeof(err)) ==
		  -EINVAL &&
	      strstr(err, "'nope'"));
	CHECK(ts_capture_parse_hooks("ciphertext_in", &one.hooks, err, sizeof(err)) == 0);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 1;
	CHECK(ts_capture_start(ph, &one, sv[0], err, sizeof(err)) == 0);
	CHECK(ht->active(ht->ctx, TS_HP_CIPHERTEXT_IN));
	CHECK(!ht->active(ht->ctx, TS_HP_PLAINTEXT_OUT));
	n = read_some(sv[1], buf, sizeof(buf), 1);
	blocks = 0;
	for (at = 0; at + 12 <= n && u32(buf + at + 4) >= 12; at += u32(buf + at + 4))
		blocks += u32(buf + at) == PCAPNG_BT_IDB;
	CHECK_MSG(blocks == 1, "%d interfaces for one hook", blocks);

	/* The host going away ends a capture whose reader is still there. */
	ts_rcu_offline();
	ts_pipeline_host_destroy(ph);
	CHECK(read_some(sv[1], buf, sizeof(buf), sizeof(buf)) < sizeof(buf)); /* EOF */
	close(sv[1]);
	ts_rcu_thread_unregister();
	if (!failures)
		printf("test_capture: all checks passed\n");
	return failures ? 1 : 0;
}
