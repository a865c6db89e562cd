// SPDX-License-Identifier: MIT
/*
 * The in-memory TUN and UDP network of fake_io.h.  Each queue is a FIFO
 * under one lock, paired with an eventfd that is readable exactly while the
 * queue has something for the engine (so the engine's poll() loops work
 * unchanged).
 */
#include "fake_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Deeper than any test fills: a full queue drops, as a socket buffer would. */
#define FAKE_QUEUE_MAX 8192

struct fake_item {
	struct fake_item *next;
	union ts_endpoint src;
	struct ts_endpoint_src local;
	size_t len;
	uint8_t data[];
};

struct fake_queue {
	struct fake_item *head, *tail;
	size_t count;
};

static struct fake_item *item_new(const void *data, size_t len)
{
	struct fake_item *it = calloc(1, sizeof(*it) + len);

	if (!it)
		abort(); /* a test without memory cannot say anything useful */
	memcpy(it->data, data, len);
	it->len = len;
	return it;
}

static void queue_push(struct fake_queue *q, struct fake_item *it)
{
	it->next = NULL;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->count++;
}

static struct fake_item *queue_pop(struct fake_queue *q)
{
	struct fake_item *it = q->head;

	if (!it)
		return NULL;
	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	q->count--;
	return it;
}

static void queue_clear(struct fake_queue *q)
{
	struct fake_item *it;

	while ((it = queue_pop(q)))
		free(it);
}

static void efd_set(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0)
		perror("fake_io: eventfd write");
}

static void efd_clear(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		perror("fake_io: eventfd read");
}

/* --- the TUN ------------------------------------------------------------ */

struct fake_tun {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fake_queue in;  /* host -> engine (the engine's read) */
	struct fake_queue out; /* engine -> host (the engine's write) */
	int efd;	       /* readable while 'in' has packets or the link is gone */
	bool gone;
	int mtu;
	uint64_t written;
};

struct fake_tun *fake_tun_new(void)
{
	struct fake_tun *t = calloc(1, sizeof(*t));
	pthread_condattr_t attr;

	if (!t)
		return NULL;
	t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->efd < 0) {
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&attr);
	/* fake_tun_take's deadline is on the monotonic clock. */
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &attr);
	pthread_condattr_destroy(&attr);
	return t;
}

int fake_tun_inject(struct fake_tun *t, const void *pkt, size_t len)
{
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	if (t->in.count >= FAKE_QUEUE_MAX) {
		ret = -ENOBUFS;
	} else {
		if (!t->in.count && !t->gone)
			efd_set(t->efd);
		queue_push(&t->in, item_new(pkt, len));
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

static void deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int fake_tun_take(struct fake_tun *t, void *buf, size_t cap, int timeout_ms)
{
	struct fake_item *it;
	struct timespec until;
	int ret;

	deadline_in(&until, timeout_ms);
	pthread_mutex_lock(&t->lock);
	while (!t->out.count)
		if (pthread_cond_timedwait(&t->cond, &t->lock, &until) == ETIMEDOUT)
			break;
	it = queue_pop(&t->out);
	pthread_mutex_unlock(&t->lock);
	if (!it)
		return -ETIMEDOUT;
	ret = (int)(it->len < cap ? it->len : cap);
	memcpy(buf, it->data, (size_t)ret);
	free(it);
	return ret;
}

uint64_t fake_tun_written(struct fake_tun *t)
{
	uint64_t n;

	pthread_mutex_lock(&t->lock);
	n = t->written;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void fake_tun_gone(struct fake_tun *t)
{
	pthread_mutex_lock(&t->lock);
	if (!t->gone && !t->in.count)
		efd_set(t->efd);
	t->gone = true;
	pthread_mutex_unlock(&t->lock);
}

int fake_tun_mtu(struct fake_tun *t)
{
	int mtu;

	pthread_mutex_lock(&t->lock);
	mtu = t->mtu;
	pthread_mutex_unlock(&t->lock);
	return mtu;
}

static int ftun_read(void *ctx, uint8_t *const bufs[], size_t lens[], unsigned n, size_t cap)
{
	struct fake_tun *t = ctx;
	unsigned i = 0;

	pthread_mutex_lock(&t->lock);
	if (t->gone) {
		pthread_mutex_unlock(&t->lock);
		return -ENODEV;
	}
	for (; i < n && t->in.count; i++) {
		struct fake_item *it = queue_pop(&t->in);

		/* A TUN hands over whole packets; cap is the engine's buffer. */
		lens[i] = it->len < cap ? it->len : cap;
		memcpy(bufs[i], it->data, lens[i]);
		free(it);
	}
	if (!t->in.count)
		efd_clear(t->efd);
	pthread_mutex_unlock(&t->lock);
	return (int)i;
}

static int ftun_write(void *ctx, const uint8_t *const pkts[], const size_t lens[], unsigned n)
{
	struct fake_tun *t = ctx;

	pthread_mutex_lock(&t->lock);
	if (t->gone) {
		pthread_mutex_unlock(&t->lock);
		return -EIO;
	}
	for (unsigned i = 0; i < n; i++) {
		if (t->out.count < FAKE_QUEUE_MAX)
			queue_push(&t->out, item_new(pkts[i], lens[i]));
		t->written++;
	}
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	return (int)n;
}

static int ftun_wait_fd(void *ctx)
{
	return ((struct fake_tun *)ctx)->efd;
}

static int ftun_set_mtu(void *ctx, int mtu)
{
	struct fake_tun *t = ctx;

	if (mtu < 576 || mtu > 65535)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	t->mtu = mtu;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static void ftun_close(void *ctx)
{
	struct fake_tun *t = ctx;

	queue_clear(&t->in);
	queue_clear(&t->out);
	close(t->efd);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	free(t);
}

const struct ts_tun_ops fake_tun_ops = {
    .read = ftun_read,
    .write = ftun_write,
    .wait_fd = ftun_wait_fd,
    .set_mtu = ftun_set_mtu,
    .close = ftun_close,
};

/* --- the network ---------------------------------------------------------- */

struct fake_bind {
	struct fake_net *net;
	struct fake_bind *next;
	struct in_addr addr;
	uint16_t port; /* 0: not open */
	struct fake_queue q;
	int efd; /* readable while q has datagrams */
	uint64_t received[5];
	uint64_t send_calls; /* calls to send, and the most datagrams one carried */
	unsigned send_most;
};

struct fake_log_entry {
	union ts_endpoint src, dst;
	size_t len;
	uint8_t *data;
};

struct fake_net {
	pthread_mutex_t lock;
	struct fake_bind *binds;
	uint16_t next_port;
	fake_filter_fn filter;
	void *filter_arg;
	struct fake_queue held; /* item->local unused; the destination is in held_dst */
	union ts_endpoint held_dst[FAKE_QUEUE_MAX];
	struct fake_log_entry log[FAKE_LOG_MAX];
	size_t log_next;
};

struct fake_net *fake_net_new(void)
{
	struct fake_net *net = calloc(1, sizeof(*net));

	if (!net)
		return NULL;
	pthread_mutex_init(&net->lock, NULL);
	net->next_port = 40000;
	return net;
}

void fake_net_free(struct fake_net *net)
{
	if (!net)
		return;
	queue_clear(&net->held);
	for (size_t i = 0; i < FAKE_LOG_MAX; i++)
		free(net->log[i].data);
	pthread_mutex_destroy(&net->lock);
	free(net);
}

void fake_net_set_filter(struct fake_net *net, fake_filter_fn fn, void *arg)
{
	pthread_mutex_lock(&net->lock);
	net->filter = fn;
	net->filter_arg = arg;
	pthread_mutex_unlock(&net->lock);
}

void fake_bind_send_calls(struct fake_bind *b, uint64_t *calls, unsigned *most)
{
	pthread_mutex_lock(&b->net->lock);
	*calls = b->send_calls;
	*most = b->send_most;
	pthread_mutex_unlock(&b->net->lock);
}

/* Net lock held. */
static struct fake_bind *bind_at(struct fake_net *net, const union ts_endpoint *ep)
{
	struct fake_bind *b;

	if (ep->sa.sa_family != AF_INET)
		return NULL;
	for (b = net->binds; b; b = b->next)
		if (b->port && b->port == ntohs(ep->in.sin_port) &&
		    b->addr.s_addr == ep->in.sin_addr.s_addr)
			return b;
	return NULL;
}

/* Net lock held. */
static int deliver(struct fake_net *net, const union ts_endpoint *src, const union ts_endpoint *dst,
		   const void *data, size_t len)
{
	struct fake_bind *b = bind_at(net, dst);
	struct fake_item *it;

	if (!b)
		return -EHOSTUNREACH;
	if (b->q.count >= FAKE_QUEUE_MAX)
		return -ENOBUFS;
	it = item_new(data, len);
	it->src = *src;
	it->local.family = AF_INET;
	it->local.addr.in = b->addr;
	if (!b->q.count)
		efd_set(b->efd);
	queue_push(&b->q, it);
	if (len && ((const uint8_t *)data)[0] >= 1 && ((const uint8_t *)data)[0] <= 4)
		b->received[((const uint8_t *)data)[0]]++;
	return 0;
}

int fake_net_inject(struct fake_net *net, const union ts_endpoint *src,
		    const union ts_endpoint *dst, const void *data, size_t len)
{
	int ret;

	pthread_mutex_lock(&net->lock);
	ret = deliver(net, src, dst, data, len);
	pthread_mutex_unlock(&net->lock);
	return ret;
}

void fake_net_release(struct fake_net *net)
{
	struct fake_item *it;
	size_t i = 0;

	pthread_mutex_lock(&net->lock);
	while ((it = queue_pop(&net->held))) {
		deliver(net, &it->src, &net->held_dst[i++], it->data, it->len);
		free(it);
	}
	pthread_mutex_unlock(&net->lock);
}

/* Net lock held. */
static void log_add(struct fake_net *net, const struct fake_dgram *d)
{
	struct fake_log_entry *e = &net->log[net->log_next++ % FAKE_LOG_MAX];
	uint8_t *copy = malloc(d->len ? d->len : 1);

	if (!copy)
		abort();
	memcpy(copy, d->data, d->len);
	free(e->data);
	e->data = copy;
	e->len = d->len;
	e->src = d->src;
	e->dst = d->dst;
}

size_t fake_net_find_last(struct fake_net *net, uint8_t type, const union ts_endpoint *src,
			  const union ts_endpoint *dst, uint8_t *buf, size_t cap)
{
	size_t found = 0;

	pthread_mutex_lock(&net->lock);
	for (size_t k = 0; k < FAKE_LOG_MAX && k < net->log_next; k++) {
		const struct fake_log_entry *e = &net->log[(net->log_next - 1 - k) % FAKE_LOG_MAX];

		if (!e->len || e->data[0] != type || (src && !ts_endpoint_equal(src, &e->src)) ||
		    (dst && !ts_endpoint_equal(dst, &e->dst)))
			continue;
		found = e->len < cap ? e->len : cap;
		memcpy(buf, e->data, found);
		break;
	}
	pthread_mutex_unlock(&net->lock);
	return found;
}

struct fake_bind *fake_bind_new(struct fake_net *net, const char *addr)
{
	struct fake_bind *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	if (inet_pton(AF_INET, addr, &b->addr) != 1) {
		free(b);
		return NULL;
	}
	b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->efd < 0) {
		free(b);
		return NULL;
	}
	b->net = net;
	pthread_mutex_lock(&net->lock);
	b->next = net->binds;
	net->binds = b;
	pthread_mutex_unlock(&net->lock);
	return b;
}

/* Net lock held. */
static union ts_endpoint bind_ep(const struct fake_bind *b)
{
	union ts_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	ep.in.sin_family = AF_INET;
	ep.in.sin_addr = b->addr;
	ep.in.sin_port = htons(b->port);
	return ep;
}

union ts_endpoint fake_bind_endpoint(struct fake_bind *b)
{
	union ts_endpoint ep;

	pthread_mutex_lock(&b->net->lock);
	ep = bind_ep(b);
	pthread_mutex_unlock(&b->net->lock);
	return ep;
}

void fake_bind_set_addr(struct fake_bind *b, const char *addr)
{
	struct in_addr a;

	if (inet_pton(AF_INET, addr, &a) != 1)
		abort();
	pthread_mutex_lock(&b->net->lock);
	b->addr = a;
	pthread_mutex_unlock(&b->net->lock);
}

uint64_t fake_bind_received(struct fake_bind *b, uint8_t type)
{
	uint64_t n;

	if (type < 1 || type > 4)
		return 0;
	pthread_mutex_lock(&b->net->lock);
	n = b->received[type];
	pthread_mutex_unlock(&b->net->lock);
	return n;
}

/* Net lock held. */
static struct fake_item *bind_take(struct fake_bind *b)
{
	struct fake_item *it = queue_pop(&b->q);

	if (it && !b->q.count)
		efd_clear(b->efd);
	return it;
}

int fake_bind_pop(struct fake_bind *b, uint8_t *buf, size_t cap, union ts_endpoint *src,
		  struct ts_endpoint_src *local)
{
	struct fake_item *it;
	size_t len;

	pthread_mutex_lock(&b->net->lock);
	it = bind_take(b);
	pthread_mutex_unlock(&b->net->lock);
	if (!it)
		return -EAGAIN;
	len = it->len < cap ? it->len : cap;
	memcpy(buf, it->data, len);
	*src = it->src;
	*local = it->local;
	free(it);
	return (int)len;
}

static int fbind_open(void *ctx, uint16_t *port, uint32_t fwmark)
{
	struct fake_bind *b = ctx;
	struct fake_net *net = b->net;
	union ts_endpoint want;
	int ret = 0;

	(void)fwmark;
	pthread_mutex_lock(&net->lock);
	if (!*port)
		*port = net->next_port++;
	want = bind_ep(b);
	want.in.sin_port = htons(*port);
	if (bind_at(net, &want) && bind_at(net, &want) != b)
		ret = -EADDRINUSE;
	else
		b->port = *port;
	pthread_mutex_unlock(&net->lock);
	return ret;
}

static void fbind_fds(void *ctx, int fds[TS_BIND_MAX_FDS])
{
	struct fake_bind *b = ctx;

	fds[0] = b->efd;
	for (int i = 1; i < TS_BIND_MAX_FDS; i++)
		fds[i] = -1;
}

static int fbind_recv(void *ctx, unsigned which, struct ts_dgram *d, unsigned n)
{
	struct fake_bind *b = ctx;
	unsigned i = 0;

	if (which != 0)
		return -EBADF;
	pthread_mutex_lock(&b->net->lock);
	for (; i < n; i++) {
		struct fake_item *it = bind_take(b);

		if (!it)
			break;
		d[i].len = it->len < d[i].cap ? it->len : d[i].cap;
		d[i].flags = it->len > d[i].cap ? TS_DGRAM_TRUNC : 0;
		memcpy(d[i].data, it->data, d[i].len);
		d[i].peer = it->src;
		d[i].local = it->local;
		free(it);
	}
	pthread_mutex_unlock(&b->net->lock);
	return (int)i;
}

/* Net lock held. */
static void send_one(struct fake_bind *b, struct ts_dgram *d)
{
	struct fake_net *net = b->net;
	struct fake_dgram fd = {.src = bind_ep(b), .dst = d->peer, .len = d->len, .data = d->data};
	enum fake_verdict v = FAKE_PASS;

	if (d->peer.sa.sa_family != AF_INET) {
		d->result = -EAFNOSUPPORT;
		return;
	}
	/* A pinned source we no longer have: sent from our address, as the kernel bind does. */
	d->result = d->local.family == AF_INET && d->local.addr.in.s_addr != b->addr.s_addr;
	log_add(net, &fd);
	if (net->filter)
		v = net->filter(net->filter_arg, &fd);
	switch (v) {
	case FAKE_DROP:
		break;
	case FAKE_HOLD:
		if (net->held.count < FAKE_QUEUE_MAX) {
			struct fake_item *it = item_new(d->data, d->len);

			it->src = fd.src;
			net->held_dst[net->held.count] = d->peer;
			queue_push(&net->held, it);
		}
		break;
	case FAKE_DUP:
		deliver(net, &fd.src, &d->peer, d->data, d->len);
		/* fall through */
	case FAKE_PASS:
		/* Like UDP: a datagram to nowhere is lost without an error. */
		deliver(net, &fd.src, &d->peer, d->data, d->len);
		break;
	}
}

static void fbind_send(void *ctx, struct ts_dgram *d, unsigned n)
{
	struct fake_bind *b = ctx;

	pthread_mutex_lock(&b->net->lock);
	b->send_calls++;
	if (n > b->send_most)
		b->send_most = n;
	for (unsigned i = 0; i < n; i++) {
		if (!b->port)
			d[i].result = -EBADF;
		else
			send_one(b, &d[i]);
	}
	pthread_mutex_unlock(&b->net->lock);
}

static int fbind_set_fwmark(void *ctx, uint32_t fwmark)
{
	(void)ctx;
	(void)fwmark;
	return 0;
}

static void fbind_close(void *ctx)
{
	struct fake_bind *b = ctx, **pp;

	pthread_mutex_lock(&b->net->lock);
	for (pp = &b->net->binds; *pp; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	pthread_mutex_unlock(&b->net->lock);
	queue_clear(&b->q);
	close(b->efd);
	free(b);
}

const struct ts_bind_ops fake_bind_ops = {
    .open = fbind_open,
    .fds = fbind_fds,
    .recv = fbind_recv,
    .send = fbind_send,
    .set_fwmark = fbind_set_fwmark,
    .close = fbind_close,
};

union ts_endpoint fake_ep(const char *text)
{
	union ts_endpoint ep;

	if (ts_endpoint_parse(&ep, text) < 0) {
		fprintf(stderr, "fake_ep: bad endpoint %s\n", text);
		abort();
	}
	return ep;
}

bool fake_wait(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
	struct timespec tick = {.tv_nsec = 1000000L}, until, now;

	deadline_in(&until, timeout_ms);
	for (;;) {
		if (cond(arg))
			return true;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > until.tv_sec ||
		    (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec))
			return cond(arg);
		nanosleep(&tick, NULL);
	}
}
