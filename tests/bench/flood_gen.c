// SPDX-License-Identifier: MIT
/*
 * flood_gen: a fast handshake-initiation flooder for the flood benchmark
 * (tests/bench/flood.sh) and net.t_flood.  It sends what a denial-of-service
 * attacker who knows a responder's public key can send: initiations with a
 * valid mac1 (keyed by that public key) and junk inside, at a fixed rate or
 * as fast as it can, from one source address or cycling over many (raw
 * IPv4 with IP_HDRINCL, so the addresses need not be bound; they must be
 * routed back to this host for cookie replies to be counted).  It counts
 * the cookie replies (64-byte type-3 messages to one of its sender indices)
 * that come back to its UDP port.
 *
 *   flood_gen -d DST_IP -k PUBKEY_BASE64 [-p PORT] [-r RATE] [-t SECONDS]
 *             [-s SRC_IP] [-n SOURCES] [-P SRC_PORT] [-C]
 *
 *   -r  initiations per second (0: unthrottled; default 20000)
 *   -s  first source address (default: the route's own, via a UDP socket)
 *   -n  number of consecutive source addresses from -s (default 1)
 *   -C  answer cookies: decrypt each cookie reply and put a valid mac2 on
 *       what that source sends from then on, as an attacker who owns its
 *       addresses would (the responder's per-source rate limit and its
 *       handshake worker's CPU budget are then what stand in the way)
 *
 * mac1 is precomputed over a pool of distinct initiations, so the sending
 * loop only writes headers and calls sendmmsg.  Prints one line:
 *   sent N cookies M seconds S rate R
 * IPv4 only.  Needs CAP_NET_RAW.
 */
#include <arpa/inet.h>
#include <blake2.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define POOL	    4096 /* distinct initiations (sender indices) */
#define BATCH	    64
#define INIT_LEN    148
#define MAC1_OFFSET 116
#define PKT_LEN	    (sizeof(struct iphdr) + sizeof(struct udphdr) + INIT_LEN)
/* Our sender indices: this prefix, then the pool slot. */
#define INDEX_TAG 0xf1000000u

static uint8_t pool[POOL][INIT_LEN];
static atomic_bool stop;
static atomic_ullong cookies;
static int rx_fd = -1;

/* -C: the latest cookie of each source, written by the receiver, read by the sender. */
struct source_cookie {
	pthread_mutex_t lock;
	bool valid;
	uint8_t cookie[16];
};
static struct source_cookie *src_cookies;
static uint8_t cookie_key[32]; /* HASH("cookie--" || responder's public key) */
static uint32_t src_first;     /* host order */
static unsigned src_count;

static void usage(void)
{
	fprintf(stderr, "usage: flood_gen -d DST_IP -k PUBKEY_BASE64 [-p PORT] [-r RATE] "
			"[-t SECONDS] [-s SRC_IP] [-n SOURCES] [-P SRC_PORT] [-C]\n");
	exit(2);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Initiations with junk bodies and a valid mac1 under the responder's key. */
static void build_pool(const uint8_t pub[32])
{
	static const char label[8] = "mac1----";
	uint8_t in[8 + 32], key[32];

	memcpy(in, label, 8);
	memcpy(in + 8, pub, 32);
	blake2s(key, in, NULL, sizeof(key), sizeof(in), 0);
	memcpy(in, "cookie--", 8);
	blake2s(cookie_key, in, NULL, sizeof(cookie_key), sizeof(in), 0);
	for (uint32_t i = 0; i < POOL; i++) {
		uint8_t *m = pool[i];
		uint32_t v = htole32(1), idx = htole32(INDEX_TAG | i);

		randombytes_buf(m, INIT_LEN);
		memcpy(m, &v, 4); /* type 1, three reserved zero bytes */
		memcpy(m + 4, &idx, 4);
		blake2s(m + MAC1_OFFSET, m, key, 16, MAC1_OFFSET, sizeof(key));
		memset(m + MAC1_OFFSET + 16, 0, 16); /* no mac2: no cookie */
	}
}

/* -C: decrypt a cookie reply to pool slot 'slot' sent to one of our sources. */
static void learn_cookie(struct msghdr *mh, const uint8_t *reply, uint32_t slot)
{
	struct in_pktinfo info;
	struct cmsghdr *c;
	uint8_t cookie[16];
	uint32_t s;

	if (slot >= POOL)
		return;
	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
			break;
	if (!c)
		return;
	memcpy(&info, CMSG_DATA(c), sizeof(info));
	s = ntohl(info.ipi_addr.s_addr) - src_first;
	if (s >= src_count)
		return;
	/* type, receiver index, 24-byte nonce, the cookie sealed with mac1 as ad. */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(cookie, NULL, NULL, reply + 32, 32,
						       pool[slot] + MAC1_OFFSET, 16, reply + 8,
						       cookie_key) != 0)
		return;
	pthread_mutex_lock(&src_cookies[s].lock);
	memcpy(src_cookies[s].cookie, cookie, sizeof(cookie));
	src_cookies[s].valid = true;
	pthread_mutex_unlock(&src_cookies[s].lock);
}

/* Count the cookie replies to our sender indices until told to stop. */
static void *receiver(void *arg)
{
	uint8_t buf[2048];
	(void)arg;

	while (!atomic_load(&stop)) {
		struct pollfd p = {.fd = rx_fd, .events = POLLIN};
		ssize_t n;
		uint32_t idx;

		if (poll(&p, 1, 100) <= 0)
			continue;
		for (;;) {
			uint8_t control[64];
			struct iovec v = {.iov_base = buf, .iov_len = sizeof(buf)};
			struct msghdr mh = {.msg_iov = &v,
					    .msg_iovlen = 1,
					    .msg_control = control,
					    .msg_controllen = sizeof(control)};

			n = recvmsg(rx_fd, &mh, MSG_DONTWAIT);
			if (n <= 0)
				break;
			if (n != 64 || buf[0] != 3 || buf[1] || buf[2] || buf[3])
				continue;
			memcpy(&idx, buf + 4, 4);
			if ((le32toh(idx) & 0xff000000u) != INDEX_TAG)
				continue;
			atomic_fetch_add(&cookies, 1);
			if (src_cookies)
				learn_cookie(&mh, buf, le32toh(idx) & 0xffffffu);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *dst_s = NULL, *key_s = NULL, *src_s = NULL;
	unsigned port = 51820, sport = 40000, nsrc = 1;
	double rate = 20000, seconds = 10;
	struct sockaddr_in dst = {.sin_family = AF_INET}, src = {.sin_family = AF_INET};
	static uint8_t pkts[BATCH][PKT_LEN];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint8_t pub[32];
	size_t publen;
	uint64_t start, end, sent = 0, slot = 0;
	pthread_t rx;
	int fd, c, one = 1;
	bool answer = false;

	while ((c = getopt(argc, argv, "d:k:p:r:t:s:n:P:C")) != -1) {
		switch (c) {
		case 'd':
			dst_s = optarg;
			break;
		case 'k':
			key_s = optarg;
			break;
		case 'p':
			port = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			rate = strtod(optarg, NULL);
			break;
		case 't':
			seconds = strtod(optarg, NULL);
			break;
		case 's':
			src_s = optarg;
			break;
		case 'n':
			nsrc = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'P':
			sport = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'C':
			answer = true;
			break;
		default:
			usage();
		}
	}
	if (!dst_s || !key_s || !nsrc || port > 65535 || sport > 65535 || rate < 0 ||
	    inet_pton(AF_INET, dst_s, &dst.sin_addr) != 1)
		usage();
	if (sodium_init() < 0 ||
	    sodium_base642bin(pub, sizeof(pub), key_s, strlen(key_s), NULL, &publen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    publen != 32) {
		fprintf(stderr, "flood_gen: bad public key\n");
		return 2;
	}
	dst.sin_port = htons((uint16_t)port);

	/* The receiving socket: bound to the source port on every address we use. */
	rx_fd = socket(AF_INET, SOCK_DGRAM, 0);
	src.sin_port = htons((uint16_t)sport);
	setsockopt(rx_fd, SOL_SOCKET, SO_RCVBUF, &(int){4 << 20}, sizeof(int));
	setsockopt(rx_fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	if (rx_fd < 0 || bind(rx_fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
		perror("flood_gen: bind");
		return 1;
	}
	if (src_s) {
		if (inet_pton(AF_INET, src_s, &src.sin_addr) != 1)
			usage();
	} else {
		/* The address the kernel would send from. */
		struct sockaddr_in me;
		socklen_t len = sizeof(me);
		int probe = socket(AF_INET, SOCK_DGRAM, 0);

		if (probe < 0 || connect(probe, (struct sockaddr *)&dst, sizeof(dst)) < 0 ||
		    getsockname(probe, (struct sockaddr *)&me, &len) < 0) {
			perror("flood_gen: route");
			return 1;
		}
		src.sin_addr = me.sin_addr;
		close(probe);
	}

	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one)) < 0) {
		perror("flood_gen: raw socket");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){4 << 20}, sizeof(int));
	build_pool(pub);
	src_first = ntohl(src.sin_addr.s_addr);
	src_count = nsrc;
	if (answer) {
		src_cookies = calloc(nsrc, sizeof(*src_cookies));
		if (!src_cookies)
			return 1;
		for (unsigned i = 0; i < nsrc; i++)
			pthread_mutex_init(&src_cookies[i].lock, NULL);
	}

	for (int i = 0; i < BATCH; i++) {
		struct iphdr *ip = (struct iphdr *)pkts[i];
		struct udphdr *udp = (struct udphdr *)(ip + 1);

		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(PKT_LEN);
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		ip->daddr = dst.sin_addr.s_addr;
		udp->source = htons((uint16_t)sport);
		udp->dest = htons((uint16_t)port);
		udp->len = htons(sizeof(*udp) + INIT_LEN);
		udp->check = 0; /* optional in IPv4; the kernel fills the IP checksum and id */
		iov[i] = (struct iovec){.iov_base = pkts[i], .iov_len = PKT_LEN};
		msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &dst,
						       .msg_namelen = sizeof(dst),
						       .msg_iov = &iov[i],
						       .msg_iovlen = 1}};
	}

	if (pthread_create(&rx, NULL, receiver, NULL) != 0)
		return 1;
	start = now_ns();
	end = start + (uint64_t)(seconds * 1e9);
	for (;;) {
		uint64_t t = now_ns();
		int n;

		if (t >= end)
			break;
		if (rate > 0) {
			/* Ahead of the schedule: sleep until it catches up with what we sent. */
			uint64_t due = (uint64_t)((double)(t - start) * rate / 1e9);

			if (sent > due) {
				uint64_t at = start + (uint64_t)((double)sent * 1e9 / rate);
				struct timespec ts = {.tv_sec = (time_t)(at / 1000000000u),
						      .tv_nsec = (long)(at % 1000000000u)};

				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
				continue;
			}
		}
		for (int i = 0; i < BATCH; i++, slot++) {
			struct iphdr *ip = (struct iphdr *)pkts[i];

			uint8_t *m = pkts[i] + sizeof(struct iphdr) + sizeof(struct udphdr);
			unsigned from = (unsigned)(slot % nsrc);

			ip->saddr = htonl(src_first + from);
			memcpy(m, pool[slot % POOL], INIT_LEN);
			if (src_cookies) {
				struct source_cookie *sc = &src_cookies[from];

				pthread_mutex_lock(&sc->lock);
				if (sc->valid)
					blake2s(m + MAC1_OFFSET + 16, m, sc->cookie, 16,
						MAC1_OFFSET + 16, 16);
				pthread_mutex_unlock(&sc->lock);
			}
		}
		n = sendmmsg(fd, msgs, BATCH, 0);
		if (n < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
				continue;
			perror("flood_gen: sendmmsg");
			break;
		}
		sent += (uint64_t)n;
	}
	seconds = (double)(now_ns() - start) / 1e9;
	/* Late cookie replies still count. */
	usleep(200000);
	atomic_store(&stop, true);
	pthread_join(rx, NULL);
	printf("sent %llu cookies %llu seconds %.2f rate %.0f\n", (unsigned long long)sent,
	       (unsigned long long)atomic_load(&cookies), seconds, (double)sent / seconds);
	return 0;
}
