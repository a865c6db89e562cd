#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_metrics: Prometheus metrics and JSON status on a real tunnel.
# - side A runs with --metrics 127.0.0.1:9586 (its namespace's loopback) and
#   a pcap-writer pipeline; a tinescale-relay beside it with --metrics
#   127.0.0.1:9587 gets one garbage datagram from B.
# - after a ping, both /metrics pass `promtool check metrics` and show what a
#   user would look for: the peer's bytes and handshake, the hook instance's
#   packets, the device drop counters, the relay's rejected datagram; a
#   foreign path is 404, a POST 405.
# - a real Prometheus server (temp config and storage, loopback, killed by
#   PID) scrapes both, and its HTTP API returns a nonzero tinescale series.
# - `ctl status --json` / `plugins --json` parse with json.loads and carry the
#   documented keys (docs/observability.md) with the values of this tunnel;
#   no_route stays 0 although the kernel sent its IPv6 chatter into the TUN.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ping curl promtool prometheus

TS=$TS_BUILD/tinescale
two_hosts
IF_A=${PFX}ma
IF_B=${PFX}mb
keypair a b
conf_ini "$CONFDIR/a.conf" a 51820 "$(pub b)" 10.0.0.2/32 10.10.0.12:51820 -
conf_ini "$CONFDIR/b.conf" b 51820 "$(pub a)" 10.0.0.1/32 10.10.0.11:51820 -
cat >"$CONFDIR/a.yaml" <<EOF
version: 1
plugin_path: [$TS_BUILD/plugins]
plugins:
  - name: cap.one
    use: pcap-writer
    hooks: [plaintext_out, plaintext_in]
    config: { path: $LOGDIR/a.pcapng }
EOF
IMPL=tinescale impl_start "$NS_A" "$IF_A" "$CONFDIR/a.conf" --address 10.0.0.1/24 \
	--pipeline "$CONFDIR/a.yaml" --metrics 127.0.0.1:9586
IMPL=tinescale impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --address 10.0.0.2/24
(umask 077 && wg genkey >"$CONFDIR/relay.key")
bg relay ip netns exec "$NS_A" "$TS_BUILD/tinescale-relay" --listen 10.10.0.11:3478 \
	--key "$CONFDIR/relay.key" --ctl "$LOGDIR/relay.ctl" --metrics 127.0.0.1:9587 -f
RELAY_PID=$BG_PID

scrape() { ip netns exec "$NS_A" curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics"; }
# value FILE SERIES-PREFIX: the value of the first sample line starting with it.
value() { awk -v p="$2" 'index($0, p) == 1 { print $NF; exit }' "$1"; }

ping_ok "$NS_A" 10.0.0.2 4
# The relay renders its metrics once a second: wait for the garbage to show.
ip netns exec "$NS_B" bash -c 'echo garbage >/dev/udp/10.10.0.11/3478'
for ((i = 0; i < 50; i++)); do
	scrape 9587 >"$LOGDIR/relay.prom" 2>/dev/null &&
		[[ $(value "$LOGDIR/relay.prom" 'tinescale_relay_rejected_packets_total{reason="garbage"}') == 1 ]] && break
	sleep 0.1
done
((i < 50)) || fail "the relay's metrics never showed the garbage datagram: $(cat "$LOGDIR/relay.prom")"
scrape 9586 >"$LOGDIR/a.prom" || fail "cannot scrape the daemon"
for f in a relay; do
	promtool check metrics <"$LOGDIR/$f.prom" >"$LOGDIR/promtool-$f.log" 2>&1 ||
		fail "promtool rejects $f's metrics: $(cat "$LOGDIR/promtool-$f.log")"
done
P="interface=\"$IF_A\",peer=\"$(pub b)\""
rx=$(value "$LOGDIR/a.prom" "tinescale_peer_receive_bytes_total{$P}")
hs=$(value "$LOGDIR/a.prom" "tinescale_peer_last_handshake_seconds{$P}")
path=$(value "$LOGDIR/a.prom" "tinescale_peer_path{$P,path=\"direct\"}")
hook=$(value "$LOGDIR/a.prom" "tinescale_hook_packets_total{interface=\"$IF_A\",hook=\"plaintext_out\",instance=\"cap.one\",plugin=\"pcap-writer\",verdict=\"pass\"}")
drop=$(value "$LOGDIR/a.prom" "tinescale_device_dropped_packets_total{interface=\"$IF_A\",reason=\"bad_mac\"}")
((${rx:-0} > 0)) || fail "no received bytes for B in the metrics"
((${hs:-0} > $(date +%s) - 60)) || fail "no recent handshake in the metrics: '$hs'"
[[ $path == 1 ]] || fail "peer path direct not 1: '$path'"
((${hook:-0} >= 4)) || fail "the hook instance's pass count is '$hook', expected >= 4"
[[ $drop == 0 ]] || fail "bad_mac drops: '$drop'"
code=$(ip netns exec "$NS_A" curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9586/other)
[[ $code == 404 ]] || fail "GET /other answered $code, expected 404"
code=$(ip netns exec "$NS_A" curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:9586/metrics)
[[ $code == 405 ]] || fail "POST /metrics answered $code, expected 405"
log "daemon and relay metrics: promtool-clean, values as expected, 404/405 elsewhere"

# A real Prometheus server scrapes both.
mkdir -p "$LOGDIR/prom-data"
cat >"$LOGDIR/prometheus.yml" <<EOF
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: tinescale
    static_configs: [ { targets: ['127.0.0.1:9586', '127.0.0.1:9587'] } ]
EOF
bg prometheus ip netns exec "$NS_A" prometheus --config.file="$LOGDIR/prometheus.yml" \
	--storage.tsdb.path="$LOGDIR/prom-data" --web.listen-address=127.0.0.1:9090
PROM_PID=$BG_PID
query() {
	ip netns exec "$NS_A" curl -fsS --max-time 3 "http://127.0.0.1:9090/api/v1/query" \
		--data-urlencode "query=$1" 2>/dev/null
}
nonzero() { # QUERY: does Prometheus hold a sample > 0 for it?
	query "$1" | $TS_PY -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
sys.exit(0 if any(float(s["value"][1]) > 0 for s in r) else 1)' 2>/dev/null
}
for ((i = 0; i < 300; i++)); do # 30 s: Prometheus starts, then scrapes every second
	nonzero "tinescale_peer_receive_bytes_total{peer=\"$(pub b)\"}" &&
		nonzero 'tinescale_relay_rejected_packets_total{reason="garbage"}' && break
	kill -0 "$PROM_PID" 2>/dev/null || fail "prometheus died: $(tail -5 "$LOGDIR/prometheus.log")"
	sleep 0.1
done
((i < 300)) || fail "Prometheus has no nonzero tinescale series after 30 s: $(query up)"
_stop_pid "$PROM_PID"
log "Prometheus scraped the daemon and the relay"

# JSON status and plugins.
"$TS" ctl "$IF_A" status --json >"$LOGDIR/status.json"
"$TS" ctl "$IF_A" plugins --json >"$LOGDIR/plugins.json"
$TS_PY - "$LOGDIR/status.json" "$LOGDIR/plugins.json" "$IF_A" "$(pub a)" "$(pub b)" <<'EOF' || fail "JSON status: see above"
import json, sys, time
status = json.load(open(sys.argv[1]))
plugins = json.load(open(sys.argv[2]))
ifname, pub_a, pub_b = sys.argv[3:6]
def need(obj, keys, where):
    missing = [k for k in keys if k not in obj]
    if missing:
        sys.exit(f"{where}: missing keys {missing} in {sorted(obj)}")
need(status, ["interface", "public_key", "listen_port", "dropped", "peers", "pipeline"], "status")
assert status["interface"] == ifname and status["public_key"] == pub_a, status
assert status["listen_port"] == 51820, status["listen_port"]
need(status["dropped"], ["invalid", "bad_mac", "replayed", "bad_source", "no_route",
                         "not_routed_local", "handshake_queue", "handshake_rate",
                         "inject_queue"], "dropped")
assert all(isinstance(v, int) for v in status["dropped"].values())
# The kernel's own router solicitations and MLD reports are not "no route" drops.
assert status["dropped"]["no_route"] == 0, status["dropped"]
[peer] = status["peers"]
need(peer, ["public_key", "endpoint", "latest_handshake", "rx_bytes", "tx_bytes",
            "has_session", "path"], "peer")
assert peer["public_key"] == pub_b and peer["endpoint"] == "10.10.0.12:51820", peer
assert peer["rx_bytes"] > 0 and peer["tx_bytes"] > 0 and peer["has_session"] is True, peer
assert abs(peer["latest_handshake"] - time.time()) < 120 and peer["path"] == "direct", peer
for p in (status["pipeline"], plugins):
    need(p, ["file", "instances", "hooks", "events_dropped", "captures"], "pipeline")
    [inst] = p["instances"]
    need(inst, ["name", "plugin", "version", "file", "priority", "hooks", "events", "abi"],
         "instance")
    assert inst["name"] == "cap.one" and inst["plugin"] == "pcap-writer", inst
    assert inst["hooks"] == ["plaintext_out", "plaintext_in"], inst
    assert sorted(p["hooks"]) == sorted(["plaintext_out", "ciphertext_out", "ciphertext_in",
                                         "plaintext_in"]), p["hooks"]
    [e] = p["hooks"]["plaintext_out"]
    need(e, ["position", "instance", "plugin", "priority", "packets", "pass", "drop",
             "stolen", "invalid", "timed_calls", "mean_ns"], "hook entry")
    assert e["instance"] == "cap.one" and e["pass"] >= 4 and e["packets"] >= 4, e
    assert e["timed_calls"] >= 4 and e["mean_ns"] is not None and e["mean_ns"] > 0, e
    assert p["hooks"]["ciphertext_in"] == [], p["hooks"]
print("JSON ok")
EOF
python3 -m json.tool "$LOGDIR/status.json" >/dev/null || fail "python3 -m json.tool rejects status --json"
log "status --json and plugins --json: keys and values as documented"
_stop_pid "$RELAY_PID"
