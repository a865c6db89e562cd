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
 * The data path never waits for the output: a hook formats the packet's
 * first bytes (CPU only, a few microseconds for the default 96 bytes) and
 * hands the text to the host's async output (output_open), whose thread
 * writes it.  When the output is slower than the traffic its 4 MiB buffer
 * fills and records are dropped and counted (also in `tinescale ctl IF
 * plugins`).  Counts of written, dropped and skipped records go to the
 * daemon's log every 2 s while drops or skips grow, and once at destroy.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <tinescale/plugin.h>

#include "format.h"
#include "peers.h"
#include "rec.h"

#define HD_OUT_BYTES	 (4u << 20)
#define HD_DEFAULT_BYTES 96
#define HD_MAX_BYTES	 65535
#define HD_SUMMARY_BYTES 64    /* always kept, so the header line can name what it shows */
#define HD_STACK_TEXT	 16384 /* text of up to ~2600 bytes shown is formatted on the stack */
#define HD_STATS_MS	 2000  /* period of the drop/skip report */
#define HD_FLUSH_MS	 1000  /* how long destroy lets a slow output drain */

struct hexdump {
	const struct ts_host_services *host;
	struct ts_output *out;
	struct peerfilter peers;
	size_t max_bytes;
	uint64_t rate_limit;
	char *output; /* for messages */
	ts_timer_id stats_timer;

	/* Rate limiting, on the data path: a one-second window and its count. */
	_Atomic uint64_t rl_window, rl_count;
	/* Records handed to the output, refused by it, and skipped by rate_limit. */
	_Atomic uint64_t written, dropped, skipped, bytes;
	_Atomic bool failed; /* the output said -EPIPE: writing failed */

	/* Stats timer only. */
	uint64_t reported_dropped, reported_skipped;
	bool reported_failed;
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

/* The text of a record: header line, hexdump -C body.  buf has room for text_max(). */
static size_t format_record(const struct hexdump *h, const struct rec *r, const uint8_t *p,
			    char *buf)
{
	size_t shown = r->cap_len < h->max_bytes ? r->cap_len : h->max_bytes, len;

	hd_header(r, p, r->cap_len, buf, 511);
	len = strlen(buf);
	buf[len++] = '\n';
	for (size_t off = 0; off < shown; off += 16)
		len += hd_hex_line(p + off, shown - off < 16 ? shown - off : 16, off, buf + len);
	if (shown && shown < r->orig_len)
		len += (size_t)snprintf(buf + len, 64, "%08zx  ... %zu more bytes\n", shown,
					(size_t)r->orig_len - shown);
	if (shown)
		buf[len++] = '\n';
	return len;
}

/* Room format_record needs for shown bytes: header, lines, "more", blank line. */
static size_t text_max(size_t shown)
{
	return 512 + (shown + 15) / 16 * HD_LINE_MAX + 64 + 1;
}

static enum ts_verdict hd_hook(void *state, struct ts_packet *pkt)
{
	struct hexdump *h = state;
	struct rec r = {.kind = REC_PACKET, .hook = (uint8_t)pkt->hook};
	size_t keep = h->max_bytes > HD_SUMMARY_BYTES ? h->max_bytes : HD_SUMMARY_BYTES, need, len;
	bool known = packet_peer(h->host, pkt, r.peer);
	char stack[HD_STACK_TEXT], *text = stack;
	int ret;

	if (!peerfilter_match(&h->peers, h->host, pkt, known ? r.peer : NULL))
		return TS_PASS;
	r.mono_ns = clock_ns(CLOCK_MONOTONIC);
	if (h->rate_limit && !rate_ok(h, r.mono_ns)) {
		atomic_fetch_add_explicit(&h->skipped, 1, memory_order_relaxed);
		return TS_PASS;
	}
	rec_fill_packet(&r, h->host, pkt, known, keep);
	need = text_max(r.cap_len < h->max_bytes ? r.cap_len : h->max_bytes);
	if (need > sizeof(stack) && !(text = malloc(need))) {
		atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
		return TS_PASS;
	}
	len = format_record(h, &r, pkt->data, text);
	ret = h->host->output_write(h->host, h->out, text, len);
	if (text != stack)
		free(text);
	if (ret == 0) {
		atomic_fetch_add_explicit(&h->written, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&h->bytes, len, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
		if (ret == -EPIPE)
			atomic_store_explicit(&h->failed, true, memory_order_relaxed);
	}
	return TS_PASS;
}

static void stats_tick(void *arg)
{
	struct hexdump *h = arg;
	uint64_t dropped = atomic_load(&h->dropped), skipped = atomic_load(&h->skipped);
	bool failed = atomic_load(&h->failed);

	if (failed && !h->reported_failed)
		h->host->log(h->host, TS_LOG_WARN, "writing to %s failed", h->output);
	h->reported_failed = failed;
	if (dropped != h->reported_dropped)
		h->host->log(h->host, TS_LOG_WARN,
			     "%llu records dropped so far (output %s too slow), %llu written",
			     (unsigned long long)dropped, h->output,
			     (unsigned long long)atomic_load(&h->written));
	if (skipped != h->reported_skipped)
		h->host->log(h->host, TS_LOG_INFO,
			     "%llu records skipped so far (rate_limit %llu/s), %llu written",
			     (unsigned long long)skipped, (unsigned long long)h->rate_limit,
			     (unsigned long long)atomic_load(&h->written));
	h->reported_dropped = dropped;
	h->reported_skipped = skipped;
}

static void hd_free(struct hexdump *h)
{
	if (h->out)
		h->host->output_close(h->host, h->out);
	peerfilter_free(&h->peers);
	free(h->output);
	free(h);
}

static const char *const known_keys[] = {"max_bytes", "output", "peers", "rate_limit"};

static int hd_create(const struct ts_host_services *host, const struct ts_config_node *config,
		     void **state, char *err, size_t errlen)
{
	struct hexdump *h;
	const char *out, *bad;
	struct stat st;
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
	if (!h->output) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!strcmp(out, "stdout")) {
		out = "stdout:";
	} else if (!strcmp(out, "stderr")) {
		out = "stderr:";
	} else if (!stat(out, &st) && S_ISREG(st.st_mode) && (st.st_mode & 07777) != 0600 &&
		   chmod(out, 0600)) {
		/* Packets are private: an existing file is made 0600 as a new one is created. */
		snprintf(err, errlen, "cannot make '%s' mode 0600: %s", out, strerror(errno));
		goto fail;
	}
	h->out = host->output_open(host, out, HD_OUT_BYTES, err, errlen);
	if (!h->out)
		goto fail;
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
	uint64_t dropped, skipped, written, out_bytes = 0;
	struct timespec tick = {.tv_nsec = 10 * 1000000};

	/* The hooks are done: let the output drain for a while, then count. */
	for (int i = 0; i < HD_FLUSH_MS / 10; i++) {
		host->output_stats(host, h->out, &out_bytes, NULL);
		if (out_bytes >= atomic_load(&h->bytes) || atomic_load(&h->failed))
			break;
		nanosleep(&tick, NULL);
	}
	dropped = atomic_load(&h->dropped);
	skipped = atomic_load(&h->skipped);
	written = atomic_load(&h->written);
	host->log(host, dropped ? TS_LOG_WARN : TS_LOG_INFO,
		  "to %s: %llu records written, %llu dropped, %llu skipped%s", h->output,
		  (unsigned long long)written, (unsigned long long)dropped,
		  (unsigned long long)skipped,
		  out_bytes < atomic_load(&h->bytes) ? " (the output did not take the last of them)"
						     : "");
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
