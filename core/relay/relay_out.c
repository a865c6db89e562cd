// SPDX-License-Identifier: MIT
/* tinescale-relay's batched, segmented sending of forwarded frames (relay_out.h). */
#include "relay_out.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>

/* UDP GSO limits: segments per send, and bytes (one UDP length inside IPv4). */
#define GSO_SEGS      64
#define GSO_BYTES     65507
#define CONTROL_SPACE RELAY_OUT_CONTROL_SPACE

void relay_out_init(struct relay_out *o, int fd, uint64_t *tx_datagrams)
{
	int v = 0;
	socklen_t vlen = sizeof(v);

	o->fd = fd;
	o->n = 0;
	o->bytes = 0;
	o->tx_datagrams = tx_datagrams;
	/* Readable option: the kernel has it (a send may still say EIO). */
	o->gso = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &v, &vlen) == 0;
}

unsigned relay_out_add(struct relay_out *o, const uint8_t *buf, size_t len,
		       const struct sockaddr *sa, socklen_t salen, const struct relay_local *local)
{
	unsigned failed = 0;
	struct relay_out_item *it;

	if (salen > sizeof(it->sa))
		return 1;
	if (o->n == RELAY_OUT_MAX)
		failed = relay_out_flush(o);
	it = &o->q[o->n++];
	it->buf = buf;
	it->len = len;
	memcpy(&it->sa, sa, salen);
	it->salen = salen;
	o->bytes += len;
	if (local)
		it->local = *local;
	else
		memset(&it->local, 0, sizeof(it->local));
	return failed;
}

static bool same_flow(const struct relay_out_item *a, const struct relay_out_item *b)
{
	if (a->salen != b->salen || memcmp(&a->sa, &b->sa, a->salen) != 0 ||
	    a->local.family != b->local.family)
		return false;
	if (a->local.family == AF_INET)
		return a->local.a4.s_addr == b->local.a4.s_addr;
	if (a->local.family == AF_INET6)
		return !memcmp(&a->local.a6, &b->local.a6, sizeof(a->local.a6));
	return true;
}

/* How many of q[0..n) go out with q[0] as one GSO message. */
static unsigned gso_run(const struct relay_out_item *q, unsigned n)
{
	size_t seg = q[0].len, total = seg;
	unsigned run = 1;

	if (!seg)
		return 1;
	while (run < n && run < GSO_SEGS) {
		const struct relay_out_item *x = &q[run];

		if (!x->len || x->len > seg || total + x->len > GSO_BYTES || !same_flow(x, &q[0]))
			break;
		total += x->len;
		run++;
		if (x->len < seg)
			break;
	}
	return run;
}

void relay_out_control(struct msghdr *m, uint8_t *control, const struct relay_local *local,
		       size_t seg)
{
	struct cmsghdr *c;

	memset(control, 0, CONTROL_SPACE);
	m->msg_control = control;
	m->msg_controllen = CONTROL_SPACE;
	c = CMSG_FIRSTHDR(m);
	m->msg_controllen = 0;
	if (local->family == AF_INET) {
		struct in_pktinfo pi = {.ipi_spec_dst = local->a4};

		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		m->msg_controllen += CMSG_SPACE(sizeof(pi));
	} else if (local->family == AF_INET6) {
		struct in6_pktinfo pi = {.ipi6_addr = local->a6};

		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		m->msg_controllen += CMSG_SPACE(sizeof(pi));
	}
	if (seg) {
		uint16_t v = (uint16_t)seg;

		c = (struct cmsghdr *)(control + m->msg_controllen);
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(v));
		memcpy(CMSG_DATA(c), &v, sizeof(v));
		m->msg_controllen += CMSG_SPACE(sizeof(v));
	}
	if (!m->msg_controllen)
		m->msg_control = NULL;
}

/* The errors that say a pinned source address is gone or unusable. */
static bool src_gone(int err)
{
	return err == EINVAL || err == EADDRNOTAVAIL || err == ENETUNREACH || err == EHOSTUNREACH;
}

static bool send_unpinned(int fd, const struct relay_out_item *it)
{
	struct iovec iov = {.iov_base = (void *)it->buf, .iov_len = it->len};
	struct msghdr m = {.msg_name = (void *)&it->sa,
			   .msg_namelen = it->salen,
			   .msg_iov = &iov,
			   .msg_iovlen = 1};

	return sendmsg(fd, &m, MSG_DONTWAIT) >= 0;
}

/* One frame alone; a source address that went away is left to routing. */
static bool send_one(int fd, const struct relay_out_item *it)
{
	_Alignas(struct cmsghdr) uint8_t control[CONTROL_SPACE];
	struct iovec iov = {.iov_base = (void *)it->buf, .iov_len = it->len};
	struct msghdr m = {.msg_name = (void *)&it->sa,
			   .msg_namelen = it->salen,
			   .msg_iov = &iov,
			   .msg_iovlen = 1};

	relay_out_control(&m, control, &it->local, 0);
	if (sendmsg(fd, &m, MSG_DONTWAIT) >= 0)
		return true;
	return m.msg_control && src_gone(errno) && send_unpinned(fd, it);
}

unsigned relay_out_flush(struct relay_out *o)
{
	struct mmsghdr *msgs = o->msgs;
	struct iovec *iov = o->iov;
	unsigned *first = o->first, *count = o->count, k = 0, sent = 0, failed = 0;

	for (unsigned i = 0; i < o->n;) {
		unsigned run = o->gso ? gso_run(o->q + i, o->n - i) : 1;
		struct msghdr *m = &msgs[k].msg_hdr;

		memset(&msgs[k], 0, sizeof(msgs[k]));
		for (unsigned j = i; j < i + run; j++) {
			iov[j].iov_base = (void *)o->q[j].buf;
			iov[j].iov_len = o->q[j].len;
		}
		m->msg_name = &o->q[i].sa;
		m->msg_namelen = o->q[i].salen;
		m->msg_iov = &iov[i];
		m->msg_iovlen = run;
		relay_out_control(m, o->control[k], &o->q[i].local, run > 1 ? o->q[i].len : 0);
		first[k] = i;
		count[k++] = run;
		i += run;
	}
	while (sent < k) {
		int r = sendmmsg(o->fd, msgs + sent, k - sent, MSG_DONTWAIT);
		int err = errno;

		if (r >= 0) {
			sent += (unsigned)r;
			*o->tx_datagrams += (unsigned)r;
			continue;
		}
		if (err == EINTR)
			continue;
		/*
		 * The message at 'sent' failed; the rest still go.  A refused
		 * segmented send (EIO: the device cannot checksum for us, so
		 * GSO stays off; EINVAL: a segment over the path's limit, or
		 * a source gone) is sent frame by frame.  A single frame whose
		 * pinned source went away is left to routing.
		 */
		if (count[sent] > 1) {
			if (err == EIO)
				o->gso = false;
			for (unsigned j = 0; j < count[sent]; j++) {
				if (err == EAGAIN || err == ENOBUFS ||
				    !send_one(o->fd, &o->q[first[sent] + j]))
					failed++;
				else
					(*o->tx_datagrams)++;
			}
		} else if (msgs[sent].msg_hdr.msg_control && src_gone(err) &&
			   send_unpinned(o->fd, &o->q[first[sent]])) {
			(*o->tx_datagrams)++;
		} else {
			failed++;
		}
		sent++;
	}
	o->n = 0;
	o->bytes = 0;
	return failed;
}
