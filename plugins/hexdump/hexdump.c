// SPDX-License-Identifier: MIT
/*
 * The hexdump plugin: one header line and a `hexdump -C` body per packet, on
 * any of the four hooks (format.h shows the text).
 *
 *   config:
 *     max_bytes: 96      bytes of each packet shown, 0..65535 (0: header lines only)
 *     output: stdout     stdout | stderr | a file path (appended to, created mode 0600;
 *                        a FIFO works too)
 *     peers: [KEY, ...]  only packets of these peers (base64 public keys); default all
 *     rate_limit: 0      packets per second written, the rest counted as skipped; 0: no limit
 *
 * The data path never waits for the output: a hook copies the packet's first
 * bytes into a 1 MiB record ring (ring.h) and returns; the instance's writer
 * thread formats and writes.  When the output is slower than the traffic the
 * ring fills and records are dropped and counted.  Counts of written, dropped
 * and skipped records go to the daemon's log every 2 s while drops or skips
 * grow, and once at destroy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tinescale/plugin.h>
#include <unistd.h>

#include "format.h"
#include "peers.h"
#include "ring.h"
#include "sink.h"
#include "writer.h"

#define HD_RING_SIZE	  (1u << 20)
#define HD_DEFAULT_BYTES  96
#define HD_MAX_BYTES	  65535
#define HD_SUMMARY_BYTES  64 /* always kept, so the header line can name what it shows */
#define HD_OUTBUF	  65536
#define HD_WAKE_MS	  20   /* the writer's poll period when the ring is quiet */
#define HD_STATS_MS	  2000 /* period of the drop/skip report */
#define HD_FINAL_FLUSH_MS 1000 /* how long destroy lets a slow output drain */

struct hexdump {
	const struct ts_host_services *host;
	struct ring ring;
	struct sink sink;
	struct peerfilter peers;
	size_t max_bytes;
	uint64_t rate_limit;
	char *output; /* for messages */
	pthread_t writer;
	bool writer_started;
	ts_timer_id stats_timer;

	/* Rate limiting, on the data path: a one-second window and its count. */
	_Atomic uint64_t rl_window, rl_count;
	_Atomic uint64_t skipped;
	struct outbuf out; /* the buffer is the writer thread's, the counts everyone's */

	/* Writer thread only. */
	uint8_t *payload;

	/* Stats timer only. */
	uint64_t reported_dropped, reported_skipped;
	int reported_errno;
};

static bool rate_ok(struct hexdump *h, uint64_t mono_ns)
{
	uint64_t sec = mono_ns / 1000000000u;
	uint64_t w = atomic_load_explicit(&h->rl_window, memory_order_relaxed);

	/* Races at the second's boundary let a few packets more or less through: fine. */
	if (w != sec && atomic_compare_exchange_strong_explicit(
			    &h->rl_window, &w, sec, memory_order_relaxed, memory_order_relaxed))
		atomic_store_explicit(&h->rl_count, 0, memory_order_relaxed);
	return atomic_fetch_add_explicit(&h->rl_count, 1, memory_order_relaxed) < h->rate_limit;
}

static enum ts_verdict hd_hook(void *state, struct ts_packet *pkt)
{
	struct hexdump *h = state;
	struct rec r = {.kind = REC_PACKET, .hook = (uint8_t)pkt->hook};
	size_t keep = h->max_bytes > HD_SUMMARY_BYTES ? h->max_bytes : HD_SUMMARY_BYTES;
	bool known = packet_peer(h->host, pkt, r.peer);

	if (!peerfilter_match(&h->peers, h->host, pkt, known ? r.peer : NULL))
		return TS_PASS;
	r.mono_ns = clock_ns(CLOCK_MONOTONIC);
	if (h->rate_limit && !rate_ok(h, r.mono_ns)) {
		atomic_fetch_add_explicit(&h->skipped, 1, memory_order_relaxed);
		return TS_PASS;
	}
	rec_fill_packet(&r, h->host, pkt, known, keep);
	ring_put(&h->ring, &r, pkt->data, r.cap_len, NULL, 0);
	return TS_PASS;
}

static void emit(struct hexdump *h, const char *s, size_t n)
{
	if (HD_OUTBUF - h->out.len < n)
		outbuf_flush(&h->out, &h->sink);
	memcpy(h->out.buf + h->out.len, s, n);
	h->out.len += n;
}

static void format_record(struct hexdump *h, const struct rec *r, const uint8_t *p)
{
	size_t shown = r->cap_len < h->max_bytes ? r->cap_len : h->max_bytes;
	char line[512];
	int n;

	hd_header(r, p, r->cap_len, line, sizeof(line) - 1);
	n = (int)strlen(line);
	line[n++] = '\n';
	emit(h, line, (size_t)n);
	for (size_t off = 0; off < shown; off += 16) {
		char hl[HD_LINE_MAX];
		size_t len = hd_hex_line(p + off, shown - off < 16 ? shown - off : 16, off, hl);

		emit(h, hl, len);
	}
	if (shown && shown < r->orig_len) {
		n = snprintf(line, sizeof(line), "%08zx  ... %zu more bytes\n", shown,
			     (size_t)r->orig_len - shown);
		emit(h, line, (size_t)n);
	}
	if (shown)
		emit(h, "\n", 1);
	h->out.recs++;
}

static void *writer_main(void *arg)
{
	struct hexdump *h = arg;
	bool stop = false;

	while (!stop) {
		uint64_t pos, end;

		stop = ring_wait(&h->ring, HD_WAKE_MS, &pos, &end);
		if (stop)
			outbuf_final(&h->out);
		while (pos < end) {
			struct rec r;

			ring_read(&h->ring, pos, &r, sizeof(r));
			if (r.kind == REC_PACKET && r.cap_len <= HD_MAX_BYTES) {
				ring_read(&h->ring, pos + sizeof(r), h->payload, r.cap_len);
				format_record(h, &r, h->payload);
			}
			pos += r.size;
		}
		outbuf_flush(&h->out, &h->sink);
		ring_release(&h->ring, end);
	}
	return NULL;
}

static uint64_t total_dropped(struct hexdump *h)
{
	return atomic_load(&h->ring.dropped) + atomic_load(&h->out.dropped);
}

static void stats_tick(void *arg)
{
	struct hexdump *h = arg;
	uint64_t dropped = total_dropped(h), skipped = atomic_load(&h->skipped);
	int err = atomic_load(&h->out.err);

	if (err && err != h->reported_errno)
		h->host->log(h->host, TS_LOG_WARN, "writing to %s failed: %s", h->output,
			     strerror(err));
	h->reported_errno = err;
	if (dropped != h->reported_dropped)
		h->host->log(h->host, TS_LOG_WARN,
			     "%llu records dropped so far (output %s too slow), %llu written",
			     (unsigned long long)dropped, h->output,
			     (unsigned long long)atomic_load(&h->out.written));
	if (skipped != h->reported_skipped)
		h->host->log(h->host, TS_LOG_INFO,
			     "%llu records skipped so far (rate_limit %llu/s), %llu written",
			     (unsigned long long)skipped, (unsigned long long)h->rate_limit,
			     (unsigned long long)atomic_load(&h->out.written));
	h->reported_dropped = dropped;
	h->reported_skipped = skipped;
}

/* Let the writer flush what is left and end. */
static void stop_writer(struct hexdump *h)
{
	if (!h->writer_started)
		return;
	ring_stop(&h->ring);
	sink_stop(&h->sink);
	pthread_join(h->writer, NULL);
	h->writer_started = false;
}

static void hd_free(struct hexdump *h)
{
	stop_writer(h);
	sink_close(&h->sink);
	ring_free(&h->ring);
	peerfilter_free(&h->peers);
	free(h->payload);
	free(h->out.buf);
	free(h->output);
	free(h);
}

static const char *const known_keys[] = {"max_bytes", "output", "peers", "rate_limit"};

static int hd_create(const struct ts_host_services *host, const struct ts_config_node *config,
		     void **state, char *err, size_t errlen)
{
	struct hexdump *h;
	const char *out, *bad;
	long long v;
	int ret;

	bad = config_unknown_key(host, config, known_keys,
				 sizeof(known_keys) / sizeof(known_keys[0]));
	if (bad) {
		snprintf(err, errlen,
			 "unknown config key '%s' (hexdump accepts max_bytes, output, "
			 "peers, rate_limit)",
			 bad);
		return -1;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->host = host;
	h->sink.fd = h->sink.stopfd = -1;
	h->out.final_ms = HD_FINAL_FLUSH_MS;
	h->max_bytes = HD_DEFAULT_BYTES;
	ret = host->config_int(host, config, "max_bytes", &v);
	if (ret == 0 && (v < 0 || v > HD_MAX_BYTES))
		ret = -EINVAL;
	if (ret == -EINVAL) {
		snprintf(err, errlen, "'max_bytes' must be an integer from 0 to %d", HD_MAX_BYTES);
		goto fail;
	}
	if (ret == 0)
		h->max_bytes = (size_t)v;
	ret = host->config_int(host, config, "rate_limit", &v);
	if (ret == 0 && v < 0)
		ret = -EINVAL;
	if (ret == -EINVAL) {
		snprintf(err, errlen,
			 "'rate_limit' must be a number of packets per second >= 0 (0: no limit)");
		goto fail;
	}
	if (ret == 0)
		h->rate_limit = (uint64_t)v;
	if (peerfilter_parse(&h->peers, host, config, err, errlen))
		goto fail;
	out = host->config_string(host, config, "output");
	if (!out && config_has_key(host, config, "output")) {
		snprintf(err, errlen, "'output' must be stdout, stderr or a file path");
		goto fail;
	}
	if (!out)
		out = "stdout";
	if (!*out) {
		snprintf(err, errlen, "'output' is empty (stdout, stderr or a file path)");
		goto fail;
	}
	h->output = strdup(out);
	h->payload = malloc(HD_MAX_BYTES + 1);
	h->out.buf = malloc(HD_OUTBUF);
	if (!h->output || !h->payload || !h->out.buf) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!strcmp(out, "stdout"))
		ret = sink_from_fd(&h->sink, STDOUT_FILENO, err, errlen);
	else if (!strcmp(out, "stderr"))
		ret = sink_from_fd(&h->sink, STDERR_FILENO, err, errlen);
	else
		ret = sink_open(&h->sink, out, false, err, errlen);
	if (ret)
		goto fail;
	ret = ring_init(&h->ring, HD_RING_SIZE);
	if (ret) {
		snprintf(err, errlen, "ring buffer: %s", strerror(-ret));
		goto fail;
	}
	/* The writer takes no signals: the daemon handles them on its own threads. */
	ret = writer_start(&h->writer, writer_main, h);
	if (ret) {
		snprintf(err, errlen, "cannot start the writer thread: %s", strerror(ret));
		goto fail;
	}
	h->writer_started = true;
	h->stats_timer = host->timer_add(host, HD_STATS_MS, stats_tick, h);
	if (!h->stats_timer) {
		snprintf(err, errlen, "cannot add the statistics timer");
		goto fail;
	}
	*state = h;
	return 0;
fail:
	hd_free(h);
	return -1;
}

static void hd_destroy(void *state)
{
	struct hexdump *h = state;
	const struct ts_host_services *host = h->host;
	uint64_t dropped, skipped, written;

	/* The host cancelled the stats timer already; the writer flushes what is left. */
	stop_writer(h);
	dropped = total_dropped(h);
	skipped = atomic_load(&h->skipped);
	written = atomic_load(&h->out.written);
	host->log(host, dropped ? TS_LOG_WARN : TS_LOG_INFO,
		  "to %s: %llu records written, %llu dropped, %llu skipped", h->output,
		  (unsigned long long)written, (unsigned long long)dropped,
		  (unsigned long long)skipped);
	hd_free(h);
}

TS_PLUGIN_EXPORT const struct ts_plugin_v2 tinescale_plugin_v2 = {
    .abi_version = TS_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct ts_plugin_v2),
    .name = "hexdump",
    .version = "1.0",
    .create = hd_create,
    .destroy = hd_destroy,
    .plaintext_out = hd_hook,
    .ciphertext_out = hd_hook,
    .ciphertext_in = hd_hook,
    .plaintext_in = hd_hook,
};
