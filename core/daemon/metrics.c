// SPDX-License-Identifier: MIT
/* The daemon's Prometheus exposition: see metrics.h. */
#include "metrics.h"

#include <stdbool.h>
#include <string.h>

#include "capture.h"
#include "endpoint.h"
#include "key.h"
#include "pipeline.h"
#include "pipeline_stats.h"
#include "prom.h"
#include "seam.h"
#include "status_json.h"

#define MAX_PEERS_SHOWN 4096

/* Peers are walked once per family: each family's samples must stand together. */
enum peer_family { PF_RX, PF_TX, PF_HANDSHAKE, PF_PATH, PF_SESSION };

struct peer_walk {
	FILE *f;
	const struct ts_engine_table *eng;
	const char *ifname;
	enum peer_family fam;
	unsigned int n;
};

static int peer_sample(void *arg, const struct ts_peer_info *pi)
{
	struct peer_walk *w = arg;
	char key[TS_KEY_BASE64_LEN], path[32];
	const char *l[] = {"interface", w->ifname, "peer", key, NULL, NULL, NULL};

	if (++w->n > MAX_PEERS_SHOWN)
		return 1;
	ts_key_to_base64(key, pi->public_key);
	switch (w->fam) {
	case PF_RX:
		ts_prom_sample(w->f, "tinescale_peer_receive_bytes_total", l, pi->rx_bytes);
		break;
	case PF_TX:
		ts_prom_sample(w->f, "tinescale_peer_transmit_bytes_total", l, pi->tx_bytes);
		break;
	case PF_HANDSHAKE:
		ts_prom_sample(w->f, "tinescale_peer_last_handshake_seconds", l,
			       pi->last_handshake_ns / 1000000000u);
		break;
	case PF_PATH:
		l[4] = "path";
		l[5] = ts_peer_path(w->eng, pi->public_key, ts_endpoint_is_set(&pi->endpoint), path,
				    sizeof(path));
		ts_prom_sample(w->f, "tinescale_peer_path", l, 1);
		break;
	case PF_SESSION:
		ts_prom_sample(w->f, "tinescale_peer_has_session", l, pi->has_session);
		break;
	}
	return 0;
}

static void peers(FILE *f, const struct ts_engine_table *eng, const char *ifname)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
	    [PF_RX] = {"tinescale_peer_receive_bytes_total", "counter",
		       "Bytes received from the peer (decrypted transport data)."},
	    [PF_TX] = {"tinescale_peer_transmit_bytes_total", "counter",
		       "Bytes sent to the peer (transport data)."},
	    [PF_HANDSHAKE] = {"tinescale_peer_last_handshake_seconds", "gauge",
			      "Unix time of the latest completed handshake, 0 if none."},
	    [PF_PATH] = {"tinescale_peer_path", "gauge",
			 "1 for the path the peer's traffic takes now: direct, relay (nat-probe's "
			 "note) or unknown."},
	    [PF_SESSION] = {"tinescale_peer_has_session", "gauge",
			    "1 when a current session key can send to the peer."},
	};

	for (int i = 0; i < (int)(sizeof(fam) / sizeof(fam[0])); i++) {
		struct peer_walk w = {.f = f, .eng = eng, .ifname = ifname, .fam = i};

		ts_prom_family(f, fam[i].name, fam[i].type, fam[i].help);
		eng->peer_foreach(eng->ctx, peer_sample, &w);
	}
}

/* Hook statistics, one family at a time (each walk of the snapshot writes one family). */
enum hook_family { HF_PACKETS, HF_TIME_SUM, HF_TIME_COUNT };

struct hook_walk {
	FILE *f;
	const char *ifname;
	enum hook_family fam;
};

static void hook_sample(void *arg, const struct ts_hook_stat *st)
{
	struct hook_walk *w = arg;
	const char *l[] = {"interface", w->ifname,	"hook",	  ts_hook_name(st->hook),
			   "instance",	st->inst->name, "plugin", st->inst->plugin,
			   NULL,	NULL,		NULL};
	static const char *const verdict[4] = {"pass", "drop", "stolen", "invalid"};
	const uint64_t v[4] = {st->pass, st->drop, st->stolen, st->invalid};

	switch (w->fam) {
	case HF_PACKETS:
		l[8] = "verdict";
		for (int i = 0; i < 4; i++) {
			l[9] = verdict[i];
			ts_prom_sample(w->f, "tinescale_hook_packets_total", l, v[i]);
		}
		break;
	case HF_TIME_SUM:
		ts_prom_sample_f(w->f, "tinescale_hook_call_duration_seconds_sum", l,
				 (double)st->sampled_ns / 1e9);
		break;
	case HF_TIME_COUNT:
		ts_prom_sample(w->f, "tinescale_hook_call_duration_seconds_count", l, st->samples);
		break;
	}
}

static void hooks(FILE *f, struct ts_pipeline_host *ph, const char *ifname)
{
	struct hook_walk w = {.f = f, .ifname = ifname};
	const struct ts_pipeline_stats_cb cb = {.arg = &w, .hook = hook_sample};
	uint64_t events_dropped;

	ts_prom_family(f, "tinescale_hook_packets_total", "counter",
		       "Packets a hook instance returned, by verdict (invalid: an unknown verdict "
		       "or a moved buffer, handled as drop).");
	w.fam = HF_PACKETS;
	events_dropped = ts_pipeline_stats(ph, &cb);
	ts_prom_family(f, "tinescale_hook_call_duration_seconds", "summary",
		       "Time spent in a hook instance, over the timed calls (the first 64, then "
		       "one packet in 64).");
	w.fam = HF_TIME_SUM;
	ts_pipeline_stats(ph, &cb);
	w.fam = HF_TIME_COUNT;
	ts_pipeline_stats(ph, &cb);
	{
		const char *l[] = {"interface", ifname, NULL};

		ts_prom_family(f, "tinescale_plugin_events_dropped_total", "counter",
			       "Engine events dropped because the plugin event queue was full.");
		ts_prom_sample(f, "tinescale_plugin_events_dropped_total", l, events_dropped);
		ts_prom_family(f, "tinescale_captures", "gauge",
			       "Live captures (tinescale ctl IF capture) running.");
		ts_prom_sample(f, "tinescale_captures", l, ts_capture_count(ph));
	}
}

void ts_metrics_render(FILE *f, const struct ts_engine_table *eng, struct ts_pipeline_host *ph)
{
	const char *ifname = eng->ifname ? eng->ifname(eng->ctx) : "";

	if (eng->drop_counters) {
		struct ts_counter c[32];
		size_t n = eng->drop_counters(eng->ctx, c, 32);

		ts_prom_family(f, "tinescale_device_dropped_packets_total", "counter",
			       "Packets the device dropped, by reason.");
		for (size_t i = 0; i < n && i < 32; i++) {
			const char *l[] = {"interface", ifname, "reason", c[i].name, NULL};

			ts_prom_sample(f, "tinescale_device_dropped_packets_total", l, c[i].value);
		}
	}
	if (eng->listen_port) {
		const char *l[] = {"interface", ifname, NULL};

		ts_prom_family(f, "tinescale_listen_port", "gauge", "The device's UDP port.");
		ts_prom_sample(f, "tinescale_listen_port", l, eng->listen_port(eng->ctx));
	}
	if (eng->peer_foreach)
		peers(f, eng, ifname);
	hooks(f, ph, ifname);
}
