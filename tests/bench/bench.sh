#!/usr/bin/env bash
# tests/bench/bench.sh: tinescale against wireguard-go, side by side, in one run.
# Not a test (nothing is asserted about speed): it measures and prints.
#
# For each of ROUNDS rounds, alternating implementation A then B (A B A B ...),
# on a fresh pair of namespaces each time:
#   - iperf3 TCP, 10 s, A->B through the tunnel (received Mbit/s)
#   - iperf3 UDP at a fixed offered rate (-b 1G, 1392-byte datagrams that fit
#     the 1420 tunnel MTU), 5 s: received Mbit/s and loss %
#   - ping RTT: average of 50 pings at 10 ms intervals
# plus the same over the bare veth ("direct", no tunnel) once per round.
# Prints medians per implementation and the ratio A/B; writes the table to
# $TS_BUILD/bench/results.txt and the raw samples to raw.tsv beside it.
#
# Environment: TS_BENCH_A (default tinescale if $TS_BUILD/tinescale exists,
# else wireguard-go), TS_BENCH_B (default wireguard-go), TS_BENCH_ROUNDS (3),
# TS_BENCH_TCP_S (10), TS_BENCH_UDP_S (5), TS_BENCH_UDP_RATE (1G),
# TS_BUILD, TS_SRC (as for tests/net).
TS_SRC=${TS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../net/lib.sh
. "$TS_SRC/tests/net/lib.sh"
require_root
require_cmd iperf3 ping

A=${TS_BENCH_A:-}
if [[ -z $A ]]; then
	A=wireguard-go
	[[ -x $TS_BUILD/tinescale ]] && A=tinescale
fi
B=${TS_BENCH_B:-wireguard-go}
ROUNDS=${TS_BENCH_ROUNDS:-3}
TCP_S=${TS_BENCH_TCP_S:-10}
UDP_S=${TS_BENCH_UDP_S:-5}
UDP_RATE=${TS_BENCH_UDP_RATE:-1G}
OUT=$TS_BUILD/bench
mkdir -p "$OUT"
RAW=$OUT/raw.tsv
printf 'round\timpl\ttcp_mbit\tudp_mbit\tudp_loss_pct\trtt_ms\n' >"$RAW"
# Row labels: the same implementation on both sides still gets two rows.
LA="A:$A"
LB="B:$B"

# measure LABEL NS_CLIENT NS_SERVER SERVER_ADDR ROUND
measure() {
	local label=$1 c=$2 s=$3 addr=$4 r=$5 j tcp udp loss rtt
	j=$LOGDIR/$label-r$r
	iperf_server "$s" "$addr"
	ip netns exec "$c" iperf3 -c "$addr" -t "$TCP_S" --json >"$j-tcp.json" 2>"$j-tcp.err" ||
		fail "$label: iperf3 TCP failed: $(head -c 1000 "$j-tcp.json") $(cat "$j-tcp.err")"
	bg_wait "$BG_PID" || true
	iperf_server "$s" "$addr"
	ip netns exec "$c" iperf3 -c "$addr" -u -b "$UDP_RATE" -l 1392 -t "$UDP_S" --json >"$j-udp.json" 2>"$j-udp.err" ||
		fail "$label: iperf3 UDP failed: $(head -c 1000 "$j-udp.json") $(cat "$j-udp.err")"
	bg_wait "$BG_PID" || true
	read -r tcp udp loss < <("$TS_PY" - "$j-tcp.json" "$j-udp.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6
u = json.load(open(sys.argv[2]))["end"]["sum"]
print(f"{t:.1f} {u['bits_per_second'] * (1 - u['lost_percent'] / 100) / 1e6:.1f} {u['lost_percent']:.2f}")
PY
	)
	rtt=$( (ip netns exec "$c" ping -n -q -c 50 -i 0.01 -W 1 "$addr" || true) |
		sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$label" "$tcp" "$udp" "$loss" "${rtt:-nan}" >>"$RAW"
	log "round $r $label: TCP $tcp Mbit/s, UDP $udp Mbit/s (loss $loss%), RTT ${rtt:-?} ms"
}

# pair ROUND LABEL IMPL: fresh namespaces, tunnel with IMPL on both sides,
# measure, tear down.  LABEL "direct" measures the bare veth instead.
pair() {
	local r=$1 label=$2 impl=$3 tag=$4
	NS_A=$PFX-$tag$r-a
	NS_B=$PFX-$tag$r-b
	ns_create "$NS_A" "$NS_B"
	veth "$NS_A" "${PFX}o" "$NS_B" "${PFX}o"
	assign_addr "$NS_A" "${PFX}o" 10.10.0.11/24
	assign_addr "$NS_B" "${PFX}o" 10.10.0.12/24
	if [[ $label == direct ]]; then
		measure direct "$NS_A" "$NS_B" 10.10.0.12 "$r"
	else
		local ia=${PFX}$tag${r}a ib=${PFX}$tag${r}b
		conf_ini "$CONFDIR/a.conf" a 51820 "$(pub b)" 10.0.0.2/32 10.10.0.12:51820 -
		conf_ini "$CONFDIR/b.conf" b 51820 "$(pub a)" 10.0.0.1/32 10.10.0.11:51820 -
		IMPL=$impl impl_start "$NS_A" "$ia" "$CONFDIR/a.conf" --address 10.0.0.1/24 --mtu 1420
		IMPL=$impl impl_start "$NS_B" "$ib" "$CONFDIR/b.conf" --address 10.0.0.2/24 --mtu 1420
		ping_ok "$NS_A" 10.0.0.2 3
		measure "$label" "$NS_A" "$NS_B" 10.0.0.2 "$r"
		impl_stop "$ia"
		impl_stop "$ib"
	fi
	ip netns del "$NS_A"
	ip netns del "$NS_B"
}

keypair a b
log "A = $A, B = $B, $ROUNDS rounds (TCP ${TCP_S}s, UDP ${UDP_S}s at $UDP_RATE, 50 pings)"
for ((r = 1; r <= ROUNDS; r++)); do
	pair "$r" "$LA" "$A" a
	pair "$r" "$LB" "$B" b
	pair "$r" direct - d
done

"$TS_PY" - "$RAW" "$LA" "$LB" "$ROUNDS" >"$OUT/results.txt" <<'PY'
import csv, statistics, sys
raw, la, lb, rounds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = list(csv.DictReader(open(raw), delimiter="\t"))
cols = [("tcp_mbit", "TCP Mbit/s"), ("udp_mbit", "UDP rx Mbit/s"),
        ("udp_loss_pct", "UDP loss %"), ("rtt_ms", "ping RTT ms")]
def med(label, c):
    v = [float(r[c]) for r in rows if r["impl"] == label and r[c] != "nan"]
    return statistics.median(v) if v else float("nan")
print(f"tinescale benchmark: medians of {rounds} rounds, A and B alternating, fresh namespaces each")
print(f"{'':<22}" + "".join(f"{h:>15}" for _, h in cols))
for label in (la, lb, "direct"):
    name = label + (" (no tunnel)" if label == "direct" else "")
    print(f"{name:<22}" + "".join(f"{med(label, c):>15.2f}" for c, _ in cols))
def ratio(c):
    b = med(lb, c)
    return med(la, c) / b if b else float("nan")
print(f"{'ratio A/B':<22}" + "".join(f"{ratio(c):>15.2f}" for c, _ in cols))
print("(throughput: higher is better; loss and RTT: lower is better; the ratio of loss is meaningless when B lost nothing)")
PY
cat "$OUT/results.txt"
