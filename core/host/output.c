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
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* data queued / stop */
	/* below: protected by lock */
	uint8_t *ring;
	size_t cap, head, len;
	bool stop, failed;
	uint64_t stop_deadline;
	uint64_t written, dropped;
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

static int open_target(const char *target, bool *sock, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	*sock = false;
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
		snprintf(err, errlen, "output '%.64s': %s", target, strerror(errno));
		return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)) {
		snprintf(err, errlen, "output '%.64s': %s", target, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct ts_output *output_open(struct instance *in, const char *target, size_t max_bytes, char *err,
			      size_t errlen)
{
	struct ts_output *o;
	sigset_t all, old;
	char dummy[1];
	int r;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	if (!target || !target[0]) {
		snprintf(err, errlen, "output: empty target");
		return NULL;
	}
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
	o->fd = open_target(target, &o->sock, err, errlen);
	if (o->fd < 0) {
		free(o->ring);
		free(o);
		return NULL;
	}
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->cond, NULL);
	/* Every signal blocked in the writer: the daemon takes them on its own thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&o->thread, NULL, writer_thread, o);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		snprintf(err, errlen, "output '%.64s': cannot start its thread", target);
		pthread_cond_destroy(&o->cond);
		pthread_mutex_destroy(&o->lock);
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

int output_write(struct ts_output *o, const void *buf, size_t len)
{
	int r = 0;

	if (!o || (!buf && len))
		return -EINVAL;
	pthread_mutex_lock(&o->lock);
	if (o->failed || o->stop) {
		o->dropped++;
		r = -EPIPE;
	} else if (len > o->cap - o->len) {
		o->dropped++;
		r = -ENOBUFS;
	} else if (len) {
		size_t tail = (o->head + o->len) % o->cap;
		size_t first = o->cap - tail < len ? o->cap - tail : len;

		memcpy(o->ring + tail, buf, first);
		memcpy(o->ring, (const uint8_t *)buf + first, len - first);
		o->len += len;
		pthread_cond_signal(&o->cond);
	}
	pthread_mutex_unlock(&o->lock);
	return r;
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
	close(o->fd);
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
