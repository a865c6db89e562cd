#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/bench/bench.sh: tinescale against upstream and Debian wireguard-go,
# side by side in one run.  Not a test (nothing is asserted about speed): it
# measures and prints; only ratios within one run mean anything.
#
# Implementations (rows), both peers the same one, a fresh pair of namespaces
# (veth, outer 10.10.0.11/12, tunnel 10.0.0.1/2, MTU 1420) for every
# measurement, rows alternating within each round:
#   tinescale        $TS_BUILD/tinescale
#   tinescale+pass   the same, one pass-through plugin (tests/plugins) on all
#                    four hooks of both peers
#   wggo-upstream    $TS_BENCH_WGGO_UPSTREAM (default
#                    /work/shared/anchors/wireguard-go), run as `wireguard-go -f IF`
#   wggo-debian      `wireguard-go` from PATH (Debian's package)
# For each: iperf3 TCP A->B with 1 stream (ping under load alongside, CPU of
# both daemons from /proc/PID/stat over it) and with 4 streams; iperf3 UDP
# of 1372-byte datagrams offered at $TS_BENCH_UDP_RATE (goodput and loss);
# idle ping RTT.  Then the NAT lab (tests/net/natlab.sh, two
# endpoint-independent NATs, tinescale): TCP relayed (direct path cut) and
# direct, alternating, each with a ping alongside (RTT under load).  Medians over the rounds; ratios against upstream.
#
#   sudo TS_BUILD=$PWD/build tests/bench/bench.sh [--quick] [--nat]
#
# --quick: 1 round, shorter runs (about 2 minutes); default 3 rounds (about
# 10).  --nat: the NAT lab only (no rows; as TS_BENCH_IMPLS=""), about a
# minute with --quick.  Environment: TS_BENCH_ROUNDS, TS_BENCH_TCP_S, TS_BENCH_UDP_S,
# TS_BENCH_UDP_RATE (3G), TS_BENCH_IMPLS (space-separated subset of the rows),
# TS_BENCH_NAT=0 (skip the NAT lab), TS_BENCH_RELAY_RATE (the relay's --rate
# in the NAT lab, 1000000), TS_BUILD, TS_SRC.  The table goes to
# stdout and $TS_BUILD/bench/results.txt, raw samples to raw.tsv beside it.
QUICK=0
NAT_ONLY=0
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	--nat) NAT_ONLY=1 ;;
	-h | --help)
		sed -n '3,/^QUICK=/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "bench.sh: unknown argument $arg" >&2
		exit 2
		;;
	esac
done
TS_SRC=${TS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../net/lib.sh
. "$TS_SRC/tests/net/lib.sh"
# shellcheck source=../net/natlab.sh
. "$TS_SRC/tests/net/natlab.sh"
require_root
require_cmd iperf3 ping wg

if ((QUICK)); then
	ROUNDS=${TS_BENCH_ROUNDS:-1}
	TCP_S=${TS_BENCH_TCP_S:-3}
	UDP_S=${TS_BENCH_UDP_S:-3}
else
	ROUNDS=${TS_BENCH_ROUNDS:-3}
	TCP_S=${TS_BENCH_TCP_S:-6}
	UDP_S=${TS_BENCH_UDP_S:-4}
fi
UDP_RATE=${TS_BENCH_UDP_RATE:-3G}
UDP_LEN=1372
RELAY_RATE=${TS_BENCH_RELAY_RATE:-1000000}
IMPLS=${TS_BENCH_IMPLS-tinescale tinescale+pass wggo-upstream wggo-debian}
((NAT_ONLY)) && IMPLS=
UPSTREAM=${TS_BENCH_WGGO_UPSTREAM:-/work/shared/anchors/wireguard-go}
HZ=$(getconf CLK_TCK)
OUT=$TS_BUILD/bench
mkdir -p "$OUT"
RAW=$OUT/raw.tsv
printf 'round\timpl\ttcp1_mbit\ttcp4_mbit\tudp_mbit\tudp_loss_pct\trtt_idle_ms\trtt_load_ms\tcpu_s_per_gb\n' >"$RAW"
NATRAW=$OUT/nat-raw.tsv
printf 'round\tpath\ttcp1_mbit\trelay_cpu_s_per_gb\trtt_load_ms\n' >"$NATRAW"

# Upstream runs under the name wireguard-go, as Debian's does: a directory
# holding only that name goes first on PATH for its rows.
SHIM=$OUT/upstream-bin
mkdir -p "$SHIM"
ln -sf "$UPSTREAM" "$SHIM/wireguard-go"
PASS_YAML=$CONFDIR/pass.yaml
printf 'version: 1\nplugin_path: [%s]\nplugins:\n  - {name: p1, use: passthrough, hooks: [plaintext_out, ciphertext_out, ciphertext_in, plaintext_in]}\n' \
	"$TS_BUILD/tests/plugins" >"$PASS_YAML"
for impl in $IMPLS; do
	case $impl in
	tinescale) impl_check tinescale ;;
	tinescale+pass)
		impl_check tinescale
		[[ -e $TS_BUILD/tests/plugins/passthrough.so ]] ||
			fail "$TS_BUILD/tests/plugins/passthrough.so missing (build the whole tree)"
		;;
	wggo-upstream) [[ -x $UPSTREAM ]] || fail "upstream wireguard-go $UPSTREAM missing" ;;
	wggo-debian) require_cmd wireguard-go ;;
	*) fail "unknown row $impl" ;;
	esac
done

# json_mbit FILE: received Mbit/s of an iperf3 TCP run; json_bytes FILE: its bytes.
json_mbit() {
	"$TS_PY" -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6))' "$1"
}
json_bytes() {
	"$TS_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bytes"])' "$1"
}
# ping_avg NS ADDR COUNT INTERVAL: average RTT in ms ("nan" if none came back).
ping_avg() {
	local v
	v=$( (ip netns exec "$1" ping -n -q -c "$3" -i "$4" -W 1 "$2" || true) |
		sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
	echo "${v:-nan}"
}
# tcp NS_C NS_S ADDR STREAMS FILE: one iperf3 TCP run, JSON into FILE.
tcp() {
	iperf_server "$2" "$3"
	local spid=$BG_PID
	ip netns exec "$1" timeout $((TCP_S + 15)) iperf3 -c "$3" -t "$TCP_S" -P "$4" --json >"$5" 2>"$5.err" ||
		fail "iperf3 TCP -P $4 failed: $(head -c 1000 "$5") $(cat "$5.err")"
	bg_wait "$spid" || true
}

# measure ROUND ROW NS_C NS_S ADDR PID_A PID_B
measure() {
	local r=$1 row=$2 c=$3 s=$4 addr=$5 j=$LOGDIR/$2-r$1 t0 t1 tcp1 tcp4 udp loss idle load cpu
	idle=$(ping_avg "$c" "$addr" 50 0.01)
	# One stream, with a ping alongside (load) and both daemons' CPU around it.
	bg "ping-load-$row-$r" ip netns exec "$c" ping -n -q -i 0.05 -w "$((TCP_S + 1))" "$addr"
	local ping_pid=$BG_PID
	t0=$(cpu_ticks "$6" "$7")
	tcp "$c" "$s" "$addr" 1 "$j-tcp1.json"
	t1=$(cpu_ticks "$6" "$7")
	bg_wait "$ping_pid" || true
	load=$(sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p' "$LOGDIR/ping-load-$row-$r.log")
	tcp1=$(json_mbit "$j-tcp1.json")
	cpu=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v b="$(json_bytes "$j-tcp1.json")" \
		'BEGIN { if (b > 0) printf "%.2f", (t / hz) / (b / 1e9); else print "nan" }')
	tcp "$c" "$s" "$addr" 4 "$j-tcp4.json"
	tcp4=$(json_mbit "$j-tcp4.json")
	iperf_server "$s" "$addr"
	local spid=$BG_PID
	ip netns exec "$c" timeout $((UDP_S + 15)) iperf3 -c "$addr" -u -b "$UDP_RATE" -l "$UDP_LEN" \
		-t "$UDP_S" --json >"$j-udp.json" 2>"$j-udp.err" ||
		fail "$row: iperf3 UDP failed: $(head -c 1000 "$j-udp.json") $(cat "$j-udp.err")"
	bg_wait "$spid" || true
	read -r udp loss < <("$TS_PY" - "$j-udp.json" <<'PY'
import json, sys
u = json.load(open(sys.argv[1]))["end"]["sum"]
print(f"{u['bits_per_second'] * (1 - u['lost_percent'] / 100) / 1e6:.1f} {u['lost_percent']:.2f}")
PY
	)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$row" "$tcp1" "$tcp4" "$udp" "$loss" \
		"$idle" "${load:-nan}" "$cpu" >>"$RAW"
	log "round $r $row: TCP $tcp1 / 4x $tcp4 Mbit/s, UDP $udp Mbit/s (loss $loss%)," \
		"RTT $idle idle / ${load:-?} loaded ms, CPU $cpu s/GB"
}

# pair ROUND ROW: fresh namespaces, the row's implementation on both sides.
pair() {
	local r=$1 row=$2 tag=$3 impl=tinescale path=$PATH
	local -a extra=()
	case $row in
	tinescale+pass) extra=(--pipeline "$PASS_YAML") ;;
	wggo-upstream) impl=wireguard-go path=$SHIM:$PATH ;;
	wggo-debian) impl=wireguard-go ;;
	esac
	local na=$PFX-$tag$r-a nb=$PFX-$tag$r-b ia=${PFX}$tag${r}a ib=${PFX}$tag${r}b
	ns_create "$na" "$nb"
	veth "$na" "${PFX}o" "$nb" "${PFX}o"
	assign_addr "$na" "${PFX}o" 10.10.0.11/24
	assign_addr "$nb" "${PFX}o" 10.10.0.12/24
	conf_ini "$CONFDIR/a.conf" a 51820 "$(pub b)" 10.0.0.2/32 10.10.0.12:51820 -
	conf_ini "$CONFDIR/b.conf" b 51820 "$(pub a)" 10.0.0.1/32 10.10.0.11:51820 -
	PATH=$path IMPL=$impl impl_start "$na" "$ia" "$CONFDIR/a.conf" --address 10.0.0.1/24 \
		--mtu 1420 "${extra[@]}"
	PATH=$path IMPL=$impl impl_start "$nb" "$ib" "$CONFDIR/b.conf" --address 10.0.0.2/24 \
		--mtu 1420 "${extra[@]}"
	ping_ok "$na" 10.0.0.2 3
	measure "$r" "$row" "$na" "$nb" 10.0.0.2 "${IF_PID[$ia]}" "${IF_PID[$ib]}"
	impl_stop "$ia"
	impl_stop "$ib"
	ip netns del "$na"
	ip netns del "$nb"
}

# nat_path WANT: both NAT-lab peers on path WANT (relay or direct), and a
# ping through it.
nat_path() {
	wait_peer_note "$IF_A" "$PB" path "$1" 20 || fail "NAT lab: A's path is not $1"
	wait_peer_note "$IF_B" "$PA" path "$1" 20 || fail "NAT lab: B's path is not $1"
	first_ping "$NS_HA" "$TUN_B" 10 >/dev/null || fail "NAT lab: no ping on the $1 path"
}

# nat_tcp WHAT: one iperf3 TCP run A -> B in the NAT lab with a ping from A
# alongside: NAT_MBIT, and NAT_RTT (the ping's average, nan if none came back).
nat_tcp() {
	local name=ping-nat-${1// /-}
	bg "$name" ip netns exec "$NS_HA" ping -n -q -i 0.05 -w "$((TCP_S + 1))" "$TUN_B"
	local ping_pid=$BG_PID
	NAT_MBIT=$(iperf_run "$NS_HB" "$TUN_B" "$NS_HA" "$TCP_S" "$1")
	bg_wait "$ping_pid" || true
	NAT_RTT=$(sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p' "$LOGDIR/$name.log")
	NAT_RTT=${NAT_RTT:-nan}
}

# The NAT lab: relayed (direct path cut) and direct, alternating.
natbench() {
	local r t0 p rp=
	# The relay's per-key budget (default 20,000 frames/s, about 220 Mbit/s
	# of full-size frames) is policy, not capacity: raised here so that what
	# is measured is how fast the relay forwards.
	NATLAB_RELAY_ARGS="--rate $RELAY_RATE" NATLAB_START_CUT=1 natlab_up eim eim
	for p in "${TS_PIDS[@]}"; do
		[[ ${TS_PIDNAME[$p]} == relay ]] && rp=$p
	done
	[[ -n $rp ]] || fail "NAT lab: no relay process"
	for ((r = 1; r <= ROUNDS; r++)); do
		nat_path relay
		t0=$(cpu_ticks "$rp")
		nat_tcp "relayed r$r"
		# The relay's CPU per GB, from the received rate (the bytes it forwarded).
		printf '%s\trelay\t%s\t%s\t%s\n' "$r" "$NAT_MBIT" "$(awk -v t=$(($(cpu_ticks "$rp") - t0)) \
			-v hz="$HZ" -v m="$NAT_MBIT" -v s="$TCP_S" \
			'BEGIN { if (m > 0) printf "%.2f", (t / hz) / (m * s / 8000); else print "nan" }')" \
			"$NAT_RTT" >>"$NATRAW"
		natlab_uncut
		nat_path direct
		nat_tcp "direct r$r"
		printf '%s\tdirect\t%s\tnan\t%s\n' "$r" "$NAT_MBIT" "$NAT_RTT" >>"$NATRAW"
		((r < ROUNDS)) && natlab_cut
	done
	return 0
}

keypair a b
log "rows: $IMPLS; $ROUNDS round(s), TCP ${TCP_S}s (1 and 4 streams), UDP ${UDP_S}s at $UDP_RATE x $UDP_LEN B"
log "upstream: $("$UPSTREAM" --version 2>&1 | head -n 1); debian: $(wireguard-go --version 2>&1 | head -n 1)"
for ((r = 1; r <= ROUNDS; r++)); do
	i=0
	for row in $IMPLS; do
		pair "$r" "$row" "x$i"
		i=$((i + 1))
	done
done
[[ ${TS_BENCH_NAT:-1} == 1 ]] && natbench

"$TS_PY" - "$RAW" "$NATRAW" "$ROUNDS" "$UDP_RATE" "$UDP_LEN" "$RELAY_RATE" >"$OUT/results.txt" <<'PY'
import csv, statistics, sys
raw, natraw, rounds, rate, ulen, relay_rate = sys.argv[1:7]
rows = list(csv.DictReader(open(raw), delimiter="\t"))
cols = [("tcp1_mbit", "TCP1 Mbit/s", True), ("tcp4_mbit", "TCP4 Mbit/s", True),
        ("udp_mbit", "UDP Mbit/s", True), ("udp_loss_pct", "UDP loss %", False),
        ("rtt_idle_ms", "RTT idle ms", False), ("rtt_load_ms", "RTT load ms", False),
        ("cpu_s_per_gb", "CPU s/GB", False)]
labels = []
for r in rows:
    if r["impl"] not in labels:
        labels.append(r["impl"])
def med(label, c):
    v = [float(r[c]) for r in rows if r["impl"] == label and r[c] not in ("nan", "")]
    return statistics.median(v) if v else float("nan")
print(f"tinescale benchmark: medians of {rounds} round(s), rows alternating, fresh namespaces each;")
print(f"MTU 1420, UDP {ulen}-byte datagrams offered at {rate}; CPU = both daemons over the 1-stream TCP run")
print(f"{'':<16}" + "".join(f"{h:>13}" for _, h, _ in cols))
for label in labels:
    print(f"{label:<16}" + "".join(f"{med(label, c):>13.2f}" for c, _, _ in cols))
if "wggo-upstream" in labels:
    for label in labels:
        if label == "wggo-upstream":
            continue
        out = []
        for c, _, _ in cols:
            b = med("wggo-upstream", c)
            out.append(med(label, c) / b if b else float("nan"))
        print(f"{label + '/upstream':<16}" + "".join(f"{x:>13.2f}" for x in out))
print("(throughput: higher is better; loss, RTT, CPU: lower is better)")
nat = list(csv.DictReader(open(natraw), delimiter="\t"))
if nat:
    m = {p: statistics.median(float(r["tcp1_mbit"]) for r in nat if r["path"] == p)
         for p in ("relay", "direct") if any(r["path"] == p for r in nat)}
    if len(m) == 2:
        cpu = statistics.median(float(r["relay_cpu_s_per_gb"]) for r in nat if r["path"] == "relay")
        rtt = {}
        for p in ("relay", "direct"):
            v = [float(r["rtt_load_ms"]) for r in nat if r["path"] == p and r["rtt_load_ms"] != "nan"]
            rtt[p] = statistics.median(v) if v else float("nan")
        print(f"NAT lab (tinescale, EIM NATs, TCP 1 stream, relay --rate {relay_rate}): relayed {m['relay']:.0f} Mbit/s, "
              f"direct {m['direct']:.0f} Mbit/s, relayed/direct {m['relay'] / m['direct']:.2f}; "
              f"relay CPU {cpu:.2f} s/GB; RTT under load relayed {rtt['relay']:.2f} ms, direct {rtt['direct']:.2f} ms")
PY
cat "$OUT/results.txt"
