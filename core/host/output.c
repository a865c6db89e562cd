/* SPDX-License-Identifier: MIT */
/*
 * Async output for plugins: output_write() copies a record into a bounded
 * byte ring and returns at once (hooks may not block); a thread the host
 * owns, one per output, writes the ring out to a file, a FIFO or a unix
 * socket.  A record that does not fit is dropped whole and counted.
 *
 * The writer thread never runs plugin code and holds o->lock only to take
 * a chunk and to account for it, never across write(2).  The fd is
 * non-blocking and waited for with poll(), so close() can give up on a
 * reader that never reads (after one second) instead of hanging destroy.
 *
 * output_open_cb (ABI 2.3) has no fd: each record (framed in the ring by a
 * 32-bit length) is handed to the plugin's callback on this thread, for
 * plugins whose output is more than a byte stream (pcap-writer: hold-back,
 * rotation).  The callback runs with no lock held; the record's bytes are
 * wiped after it returns, since they may be session secrets.
 *
 * "stdout:" and "stderr:" (ABI 2.1, appended) write to a duplicate of the
 * daemon's fd 1 or 2.  That one shares its file status flags with the
 * daemon's own stdio, so it stays blocking: the writer waits for POLLOUT and
 * then writes at most PIPE_BUF bytes, which a pipe or terminal with room
 * takes without blocking.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host_internal.h"

#define OUTPUT_DEFAULT_BYTES (1u << 20)
#define OUTPUT_MAX_BYTES     (64u << 20)
#define CLOSE_WAIT_NS	     1000000000ull

struct ts_output {
	struct ts_output *next; /* the instance's list, under in->olock */
	int fd;
	bool sock;
	bool shared; /* a blocking dup of stdout/stderr that is not a regular file */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* data queued / stop */
	/* below: protected by lock */
	uint8_t *ring;
	size_t cap, head, len;
	bool stop, failed;
	uint64_t stop_deadline;
	uint64_t written, dropped;
	/* output_open_cb: fd is -1; the thread's own below. */
	ts_output_fn fn;
	void *arg;
	unsigned tick_ms;
	uint8_t *scratch; /* a record that wraps the ring, made contiguous */
	size_t scratch_cap;
};

static ssize_t out_write(struct ts_output *o, const void *buf, size_t len)
{
	/* MSG_NOSIGNAL: a closed socket is an error to count, not a SIGPIPE. */
	return o->sock ? send(o->fd, buf, len, MSG_NOSIGNAL) : write(o->fd, buf, len);
}

static void *writer_thread(void *arg)
{
	struct ts_output *o = arg;

	pthread_mutex_lock(&o->lock);
	for (;;) {
		size_t n;
		ssize_t w;

		if (!o->len) {
			if (o->stop)
				break;
			pthread_cond_wait(&o->cond, &o->lock);
			continue;
		}
		if (o->stop && mono_ns() > o->stop_deadline)
			break; /* a reader that does not read: give up the rest */
		n = o->cap - o->head < o->len ? o->cap - o->head : o->len;
		pthread_mutex_unlock(&o->lock);
		/* The chunk stays in the ring: only this thread consumes it. */
		if (o->shared) {
			struct pollfd p = {.fd = o->fd, .events = POLLOUT};

			if (poll(&p, 1, 100) <= 0) {
				pthread_mutex_lock(&o->lock);
				continue;
			}
			if (n > PIPE_BUF)
				n = PIPE_BUF;
		}
		w = out_write(o, o->ring + o->head, n);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = {.fd = o->fd, .events = POLLOUT};

			poll(&p, 1, 100);
			w = 0;
		} else if (w < 0 && errno == EINTR) {
			w = 0;
		}
		pthread_mutex_lock(&o->lock);
		if (w < 0) {
			o->failed = true;
			o->len = 0;
			break;
		}
		o->head = (o->head + (size_t)w) % o->cap;
		o->len -= (size_t)w;
		o->written += (uint64_t)w;
	}
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

/* Copy n bytes into the ring at offset pos, wrapping. */
static void ring_put(struct ts_output *o, size_t pos, const void *src, size_t n)
{
	size_t first = o->cap - pos < n ? o->cap - pos : n;

	memcpy(o->ring + pos, src, first);
	memcpy(o->ring, (const uint8_t *)src + first, n - first);
}

/* Copy n bytes at ring offset pos out, wrapping. */
static void ring_get(const struct ts_output *o, size_t pos, void *dst, size_t n)
{
	size_t first = o->cap - pos < n ? o->cap - pos : n;

	memcpy(dst, o->ring + pos, first);
	memcpy((uint8_t *)dst + first, o->ring, n - first);
}

static void ring_zero(struct ts_output *o, size_t pos, size_t n)
{
	size_t first = o->cap - pos < n ? o->cap - pos : n;

	explicit_bzero(o->ring + pos, first);
	explicit_bzero(o->ring, n - first);
}

/* Hand one record (at o->head, o->lock not held) to the callback; false: out of memory. */
static bool deliver(struct ts_output *o, uint32_t rl)
{
	size_t at = (o->head + sizeof(rl)) % o->cap;
	const uint8_t *rec = o->ring + at;

	if (at + rl > o->cap) {
		if (o->scratch_cap < rl) {
			uint8_t *n = realloc(o->scratch, rl);

			if (!n)
				return false;
			o->scratch = n;
			o->scratch_cap = rl;
		}
		ring_get(o, at, o->scratch, rl);
		rec = o->scratch;
	}
	o->fn(o->arg, rec, rl, false);
	if (rec == o->scratch)
		explicit_bzero(o->scratch, rl);
	return true;
}

static void *callback_thread(void *arg)
{
	struct ts_output *o = arg;

	pthread_mutex_lock(&o->lock);
	for (;;) {
		uint32_t rl;
		bool ok;

		if (!o->len) {
			struct timespec ts;

			if (o->stop)
				break;
			if (!o->tick_ms) {
				pthread_cond_wait(&o->cond, &o->lock);
				continue;
			}
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += (long)(o->tick_ms % 1000) * 1000000L;
			ts.tv_sec += o->tick_ms / 1000 + ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			if (pthread_cond_timedwait(&o->cond, &o->lock, &ts) == ETIMEDOUT &&
			    !o->len && !o->stop) {
				pthread_mutex_unlock(&o->lock);
				o->fn(o->arg, NULL, 0, false);
				pthread_mutex_lock(&o->lock);
			}
			continue;
		}
		if (o->stop && mono_ns() > o->stop_deadline) {
			/* The callback is too slow to finish: what is left is dropped. */
			while (o->len) {
				ring_get(o, o->head, &rl, sizeof(rl));
				ring_zero(o, o->head, sizeof(rl) + rl);
				o->head = (o->head + sizeof(rl) + rl) % o->cap;
				o->len -= sizeof(rl) + rl;
				o->dropped++;
			}
			break;
		}
		ring_get(o, o->head, &rl, sizeof(rl));
		pthread_mutex_unlock(&o->lock);
		/* The record stays in the ring until head moves: only this thread moves it. */
		ok = deliver(o, rl);
		ring_zero(o, o->head, sizeof(rl) + rl);
		pthread_mutex_lock(&o->lock);
		o->head = (o->head + sizeof(rl) + rl) % o->cap;
		o->len -= sizeof(rl) + rl;
		if (ok)
			o->written += rl;
		else
			o->dropped++;
		if (!o->len) {
			/* The queue is empty for now: the callback may flush. */
			pthread_mutex_unlock(&o->lock);
			o->fn(o->arg, NULL, 0, false);
			pthread_mutex_lock(&o->lock);
		}
	}
	pthread_mutex_unlock(&o->lock);
	o->fn(o->arg, NULL, 0, true);
	return NULL;
}

static int open_target(const char *target, bool *sock, bool *shared, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	*sock = *shared = false;
	if (!strcmp(target, "stdout:") || !strcmp(target, "stderr:")) {
		fd = fcntl(target[3] == 'o' ? STDOUT_FILENO : STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
		if (fd < 0 || fstat(fd, &st)) {
			snprintf(err, errlen, "output '%s': %s", target, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		/* Regular files take write(2) at once; anything else is waited for. */
		*shared = !S_ISREG(st.st_mode);
		return fd;
	}
	if (!strncmp(target, "unix:", 5)) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};

		if (strlen(target + 5) >= sizeof(sun.sun_path) || !target[5]) {
			snprintf(err, errlen, "output '%.64s': socket path empty or too long",
				 target);
			return -1;
		}
		strcpy(sun.sun_path, target + 5);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
			snprintf(err, errlen, "output '%.64s': %s", target, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		*sock = true;
	} else if (!stat(target, &st) && S_ISFIFO(st.st_mode)) {
		/* Read-write: opening does not wait for a reader (Linux fifo(7)). */
		fd = open(target, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	} else {
		fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot open '%s' for writing: %s", target, strerror(errno));
		return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)) {
		snprintf(err, errlen, "output '%.64s': %s", target, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static struct ts_output *open_common(struct instance *in, const char *target, size_t max_bytes,
				     ts_output_fn fn, void *arg, unsigned tick_ms, char *err,
				     size_t errlen)
{
	struct ts_output *o;
	pthread_condattr_t ca;
	sigset_t all, old;
	char dummy[1];
	int r;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	if (!fn && (!target || !target[0])) {
		snprintf(err, errlen, "output: empty target");
		return NULL;
	}
	if (!target)
		target = "callback";
	if (max_bytes > OUTPUT_MAX_BYTES) {
		snprintf(err, errlen, "output '%.64s': max_bytes %zu above %u", target, max_bytes,
			 OUTPUT_MAX_BYTES);
		return NULL;
	}
	o = calloc(1, sizeof(*o));
	if (!o) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	o->cap = max_bytes ? max_bytes : OUTPUT_DEFAULT_BYTES;
	o->ring = malloc(o->cap);
	if (!o->ring) {
		snprintf(err, errlen, "out of memory");
		free(o);
		return NULL;
	}
	o->fn = fn;
	o->arg = arg;
	o->tick_ms = tick_ms;
	o->fd = fn ? -1 : open_target(target, &o->sock, &o->shared, err, errlen);
	if (!fn && o->fd < 0) {
		free(o->ring);
		free(o);
		return NULL;
	}
	pthread_mutex_init(&o->lock, NULL);
	/* The callback thread's tick is a CLOCK_MONOTONIC deadline: so must its cond be. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&o->cond, &ca);
	pthread_condattr_destroy(&ca);
	/* Every signal blocked in the writer: the daemon takes them on its own thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&o->thread, NULL, fn ? callback_thread : writer_thread, o);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		snprintf(err, errlen, "output '%.64s': cannot start its thread", target);
		pthread_cond_destroy(&o->cond);
		pthread_mutex_destroy(&o->lock);
		if (o->fd >= 0)
			close(o->fd);
		free(o->ring);
		free(o);
		return NULL;
	}
	pthread_mutex_lock(&in->olock);
	o->next = in->outputs;
	in->outputs = o;
	pthread_mutex_unlock(&in->olock);
	return o;
}

struct ts_output *output_open(struct instance *in, const char *target, size_t max_bytes, char *err,
			      size_t errlen)
{
	return open_common(in, target, max_bytes, NULL, NULL, 0, err, errlen);
}

struct ts_output *output_open_cb(struct instance *in, size_t max_bytes, unsigned tick_ms,
				 ts_output_fn fn, void *arg, char *err, size_t errlen)
{
	if (!fn) {
		if (err && errlen)
			snprintf(err, errlen, "output: no callback");
		return NULL;
	}
	return open_common(in, NULL, max_bytes, fn, arg, tick_ms, err, errlen);
}

int output_writev(struct ts_output *o, const struct iovec *iov, int iovcnt)
{
	size_t len = 0, frame;
	int r = 0;

	if (!o || iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if ((!iov[i].iov_base && iov[i].iov_len) || iov[i].iov_len > UINT32_MAX - len)
			return -EINVAL;
		len += iov[i].iov_len;
	}
	/* A callback output frames each record with its length. */
	frame = o->fn ? sizeof(uint32_t) : 0;
	pthread_mutex_lock(&o->lock);
	if (o->failed || o->stop) {
		o->dropped++;
		r = -EPIPE;
	} else if (len + frame > o->cap - o->len) {
		o->dropped++;
		r = -ENOBUFS;
	} else if (len || frame) {
		size_t tail = (o->head + o->len) % o->cap;
		uint32_t rl = (uint32_t)len;

		if (frame) {
			ring_put(o, tail, &rl, frame);
			tail = (tail + frame) % o->cap;
		}
		for (int i = 0; i < iovcnt; i++) {
			ring_put(o, tail, iov[i].iov_base, iov[i].iov_len);
			tail = (tail + iov[i].iov_len) % o->cap;
		}
		o->len += frame + len;
		pthread_cond_signal(&o->cond);
	}
	pthread_mutex_unlock(&o->lock);
	return r;
}

int output_write(struct ts_output *o, const void *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	if (!buf && len)
		return -EINVAL;
	return output_writev(o, &iov, 1);
}

void output_stats(struct ts_output *o, uint64_t *written, uint64_t *dropped)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->lock);
	if (written)
		*written = o->written;
	if (dropped)
		*dropped = o->dropped;
	pthread_mutex_unlock(&o->lock);
}

static void output_free(struct ts_output *o)
{
	pthread_mutex_lock(&o->lock);
	o->stop = true;
	o->stop_deadline = mono_ns() + CLOSE_WAIT_NS;
	pthread_cond_signal(&o->cond);
	pthread_mutex_unlock(&o->lock);
	pthread_join(o->thread, NULL);
	pthread_cond_destroy(&o->cond);
	pthread_mutex_destroy(&o->lock);
	if (o->fd >= 0)
		close(o->fd);
	if (o->fn) {
		/* Records handed to a callback may hold secrets. */
		explicit_bzero(o->ring, o->cap);
		free(o->scratch);
	}
	free(o->ring);
	free(o);
}

void output_close(struct instance *in, struct ts_output *o)
{
	struct ts_output **pp;
	bool mine = false;

	if (!o)
		return;
	pthread_mutex_lock(&in->olock);
	for (pp = &in->outputs; *pp; pp = &(*pp)->next) {
		if (*pp == o) {
			*pp = o->next;
			mine = true;
			break;
		}
	}
	pthread_mutex_unlock(&in->olock);
	/* Another instance's handle, or one closed already: not ours to free. */
	if (mine)
		output_free(o);
}

void outputs_close_all(struct instance *in)
{
	struct ts_output *o;

	while ((o = in->outputs)) {
		in->outputs = o->next;
		output_free(o);
	}
}

void outputs_format(struct instance *in, FILE *out)
{
	pthread_mutex_lock(&in->olock);
	for (struct ts_output *o = in->outputs; o; o = o->next) {
		uint64_t w, d;
		bool failed;

		pthread_mutex_lock(&o->lock);
		w = o->written;
		d = o->dropped;
		failed = o->failed;
		pthread_mutex_unlock(&o->lock);
		fprintf(out, "  output: written %" PRIu64 " bytes, dropped %" PRIu64 " records%s\n",
			w, d, failed ? " (write failed)" : "");
	}
	pthread_mutex_unlock(&in->olock);
}
