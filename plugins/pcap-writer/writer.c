// SPDX-License-Identifier: MIT
/* The pcap-writer's output buffer: see writer.h. */
#include "writer.h"

#include <errno.h>
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
