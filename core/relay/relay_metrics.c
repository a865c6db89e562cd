// SPDX-License-Identifier: MIT
/* tinescale-relay's metrics: see relay_metrics.h. */
#include "relay_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_http.h"
#include "prom.h"

static void serve_text(void *arg, FILE *f)
{
	struct relay_metrics *m = arg;

	pthread_mutex_lock(&m->mu);
	if (m->text)
		fwrite(m->text, 1, m->len, f);
	pthread_mutex_unlock(&m->mu);
}

int relay_metrics_start(struct relay_metrics *m, const char *addr, char *err, size_t errlen)
{
	pthread_mutex_init(&m->mu, NULL);
	m->text = NULL;
	m->len = 0;
	return ts_metrics_http_start(&m->http, addr, serve_text, m, err, errlen);
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	ts_prom_family(f, name, "counter", help);
	ts_prom_sample(f, name, NULL, v);
}

void relay_metrics_update(struct relay_metrics *m, const struct relay_table *t, uint64_t now_ns,
			  uint64_t uptime_s)
{
	char *text = NULL;
	size_t len = 0;
	unsigned live = 0;
	FILE *f;

	if (!m->http)
		return;
	f = open_memstream(&text, &len);
	if (!f)
		return;
	for (unsigned i = 0; i < t->cfg.max_peers; i++)
		live += relay_reg_live(t, &t->regs[i], now_ns);
	ts_prom_family(f, "tinescale_relay_registrations", "gauge",
		       "Keys registered with the relay now.");
	ts_prom_sample(f, "tinescale_relay_registrations", NULL, live);
	ts_prom_family(f, "tinescale_relay_registrations_max", "gauge",
		       "Keys the relay can hold (--max-peers).");
	ts_prom_sample(f, "tinescale_relay_registrations_max", NULL, t->cfg.max_peers);
	ts_prom_family(f, "tinescale_relay_uptime_seconds", "gauge",
		       "Seconds since the relay started.");
	ts_prom_sample(f, "tinescale_relay_uptime_seconds", NULL, uptime_s);
	counter(f, "tinescale_relay_registers_total", "REGISTER messages accepted.", t->registers);
	counter(f, "tinescale_relay_registers_new_total", "REGISTERs of a key not registered yet.",
		t->registers_new);
	counter(f, "tinescale_relay_moved_total", "Registrations that moved to a new address.",
		t->moved);
	counter(f, "tinescale_relay_expired_total", "Registrations that expired.", t->expired);
	counter(f, "tinescale_relay_forwarded_packets_total", "Datagrams forwarded between peers.",
		t->forwarded);
	counter(f, "tinescale_relay_forwarded_bytes_total", "Bytes of datagrams forwarded.",
		t->forwarded_bytes);
	counter(f, "tinescale_relay_send_errors_total", "Forwarded datagrams the kernel refused.",
		t->send_errors);
	counter(f, "tinescale_relay_rx_datagrams_total",
		"UDP datagrams read (a GRO train of frames counts once).", t->rx_datagrams);
	counter(f, "tinescale_relay_rx_frames_total", "Relay frames read, trains split.",
		t->rx_frames);
	counter(f, "tinescale_relay_tx_datagrams_total",
		"UDP datagrams sent forwarding frames (a GSO train counts once).", t->tx_datagrams);
	counter(f, "tinescale_relay_pairs_untracked_total",
		"Forwarded datagrams of a pair the per-pair table had no room for.",
		t->pairs_untracked);
	counter(f, "tinescale_relay_dh_total", "X25519 computations for new keys.", t->dh);
	counter(f, "tinescale_relay_cookies_sent_total", "COOKIE challenges sent.",
		t->cookies_sent);
	counter(f, "tinescale_relay_cookies_ok_total", "REGISTERs with a valid cookie.",
		t->cookies_ok);
	counter(f, "tinescale_relay_ip_slot_evictions_total",
		"Per-IP rate slots taken over by another address.", t->ip_slot_evictions);
	ts_prom_family(f, "tinescale_relay_rejected_packets_total", "counter",
		       "Datagrams the relay refused, by reason.");
	for (unsigned i = 0; i < RJ_COUNT; i++) {
		const char *l[] = {"reason", relay_reject_name((enum relay_reject)i), NULL};

		ts_prom_sample(f, "tinescale_relay_rejected_packets_total", l, t->rejects[i]);
	}
	if (fclose(f)) {
		free(text);
		return;
	}
	pthread_mutex_lock(&m->mu);
	free(m->text);
	m->text = text;
	m->len = len;
	pthread_mutex_unlock(&m->mu);
}

void relay_metrics_stop(struct relay_metrics *m)
{
	if (!m->http)
		return;
	ts_metrics_http_stop(m->http);
	m->http = NULL;
	free(m->text);
	m->text = NULL;
	pthread_mutex_destroy(&m->mu);
}
