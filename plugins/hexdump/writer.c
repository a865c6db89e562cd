// SPDX-License-Identifier: MIT
/* The debug plugins' writer-thread plumbing: see writer.h. */
#include "writer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

void outbuf_flush(struct outbuf *o, struct sink *s)
{
	int ret;

	if (!o->len)
		return;
	if (s->fd < 0) {
		ret = -EBADF;
	} else {
		for (;;) {
			int wait = -1;

			if (o->final) {
				uint64_t now = mono_ms();

				wait = now < o->final_deadline ? (int)(o->final_deadline - now) : 0;
			}
			ret = sink_write(s, o->buf, o->len, wait);
			if (ret != -ECANCELED)
				break;
			/* destroy() is waiting: give the output a last chance, then give up. */
			o->final = true;
			o->final_deadline = mono_ms() + o->final_ms;
		}
	}
	if (ret < 0) {
		atomic_fetch_add(&o->dropped, o->recs);
		if (ret != -ETIMEDOUT)
			atomic_store(&o->err, -ret);
	} else {
		atomic_fetch_add(&o->written, o->recs);
	}
	o->len = 0;
	o->recs = 0;
}

void outbuf_final(struct outbuf *o)
{
	if (!o->final) {
		o->final = true;
		o->final_deadline = mono_ms() + o->final_ms;
	}
}

void rec_fill_packet(struct rec *r, const struct ts_host_services *host,
		     const struct ts_packet *pkt, bool known, size_t keep)
{
	r->real_ns = clock_ns(CLOCK_REALTIME);
	r->flags = known ? REC_HAVE_PEER : 0;
	r->orig_len = pkt->len > UINT32_MAX ? UINT32_MAX : (uint32_t)pkt->len;
	r->cap_len = (uint32_t)(pkt->len < keep ? pkt->len : keep);
	if (pkt->hook == TS_HOOK_CIPHERTEXT_OUT || pkt->hook == TS_HOOK_CIPHERTEXT_IN) {
		r->remote = pkt->endpoint;
		r->local = pkt->local;
		/* An unknown local address still has our port (sin_port is sin6_port). */
		if (!r->local.sa.sa_family && !r->local.in.sin_port)
			r->local.in.sin_port = htons(host->listen_port(host));
	}
}

int writer_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

const char *config_unknown_key(const struct ts_host_services *host,
			       const struct ts_config_node *config, const char *const *known,
			       size_t n)
{
	const char *k;

	for (size_t i = 0; (k = host->config_key_at(host, config, i)); i++) {
		size_t j;

		for (j = 0; j < n; j++)
			if (!strcmp(k, known[j]))
				break;
		if (j == n)
			return k;
	}
	return NULL;
}

bool config_has_key(const struct ts_host_services *host, const struct ts_config_node *config,
		    const char *key)
{
	const char *k;

	for (size_t i = 0; (k = host->config_key_at(host, config, i)); i++)
		if (!strcmp(k, key))
			return true;
	return false;
}
