/* SPDX-License-Identifier: MIT */
/*
 * tinescale-relay's outgoing forwarded frames: queued while one received
 * datagram (a GRO train's frames) is handled, then sent together, one
 * sendmmsg for the lot (a full queue is flushed on the way), with
 * consecutive frames to one destination from one local address and of one
 * size (the last may be shorter) as a single UDP GSO message where the
 * kernel has UDP_SEGMENT.  relay_out.c owns it; the frames' bytes belong to
 * the caller and must stay put until the flush.
 */
#ifndef TS_RELAY_OUT_H
#define TS_RELAY_OUT_H

#include "relay_server.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RELAY_OUT_MAX 256 /* frames queued at most: a flush on the way when full */

struct relay_out_item {
	const uint8_t *buf;
	size_t len;
	struct sockaddr_storage sa; /* a copy: the registration may change before the flush */
	socklen_t salen;
	struct relay_local local;
};

/* A pinned source (IPV6_PKTINFO is the larger) and a UDP_SEGMENT together. */
#define RELAY_OUT_CONTROL_SPACE                                                                    \
	(CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t)))

struct relay_out {
	int fd;
	bool gso; /* UDP_SEGMENT works (off for good after an EIO) */
	unsigned n;
	size_t bytes;		/* queued, for the caller's flush policy */
	uint64_t *tx_datagrams; /* the caller's count of messages the kernel took */
	struct relay_out_item q[RELAY_OUT_MAX];
	/* The flush's scratch: one message per run, off the stack. */
	struct mmsghdr msgs[RELAY_OUT_MAX];
	struct iovec iov[RELAY_OUT_MAX];
	_Alignas(struct cmsghdr) uint8_t control[RELAY_OUT_MAX][RELAY_OUT_CONTROL_SPACE];
	unsigned first[RELAY_OUT_MAX], count[RELAY_OUT_MAX];
};

/*
 * Start an empty queue for the UDP socket fd, probing for UDP GSO.  Every
 * message the kernel takes (a GSO send counts once) is added to
 * *tx_datagrams, a counter of the caller's.
 */
void relay_out_init(struct relay_out *o, int fd, uint64_t *tx_datagrams);
/*
 * Queue len bytes at buf for sa, to leave from local (family 0: routing
 * chooses).  A full queue is flushed first: returns what that flush
 * returns, else 0.
 */
unsigned relay_out_add(struct relay_out *o, const uint8_t *buf, size_t len,
		       const struct sockaddr *sa, socklen_t salen, const struct relay_local *local);
/* Send everything queued and empty the queue: the number of frames that failed. */
unsigned relay_out_flush(struct relay_out *o);

/*
 * Point m's control messages at control (RELAY_OUT_CONTROL_SPACE bytes,
 * aligned for struct cmsghdr): the source local (family 0: none) and the
 * segment size seg (0: none).  No control at all when both are absent.
 */
void relay_out_control(struct msghdr *m, uint8_t *control, const struct relay_local *local,
		       size_t seg);

#endif
