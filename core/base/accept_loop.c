// SPDX-License-Identifier: MIT
/* The accept thread: see accept_loop.h. */
#include "accept_loop.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

struct ts_accept_loop {
	int fd, stop_fd, flags;
	pthread_t thread;
	void (*serve)(void *arg, int cfd);
	void *arg;
};

static void *loop_thread(void *arg)
{
	struct ts_accept_loop *l = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = l->fd, .events = POLLIN},
				      {.fd = l->stop_fd, .events = POLLIN}};
		int cfd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		cfd = accept4(l->fd, NULL, NULL, l->flags | SOCK_CLOEXEC);
		if (cfd >= 0)
			l->serve(l->arg, cfd);
	}
	return NULL;
}

int ts_accept_loop_start(struct ts_accept_loop **out, int fd, int flags,
			 void (*serve)(void *arg, int cfd), void *arg)
{
	struct ts_accept_loop *l = calloc(1, sizeof(*l));
	sigset_t all, old;
	int r;

	if (!l)
		return -ENOMEM;
	l->fd = fd;
	l->flags = flags;
	l->serve = serve;
	l->arg = arg;
	l->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (l->stop_fd < 0) {
		r = -errno;
		free(l);
		return r;
	}
	/* Signals stay with the threads that wait for them (signalfd, ppoll). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&l->thread, NULL, loop_thread, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		close(l->stop_fd);
		free(l);
		return -r;
	}
	*out = l;
	return 0;
}

void ts_accept_loop_stop(struct ts_accept_loop *l)
{
	uint64_t one = 1;

	if (!l)
		return;
	/* An eventfd write fails only when the counter would overflow: not with one write. */
	if (write(l->stop_fd, &one, sizeof(one)) != sizeof(one))
		abort();
	pthread_join(l->thread, NULL);
	close(l->stop_fd);
	free(l);
}
