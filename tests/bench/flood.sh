#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/bench/flood.sh: an established tunnel under a handshake flood,
# tinescale against Debian's and upstream wireguard-go, in one run.  Not a
# test (nothing is asserted about speed): it measures and prints; only
# ratios within one run mean anything.
#
# Each row, both peers running the same implementation, gets fresh
# namespaces A and B (veth, outer 10.10.0.11/12, tunnel 10.0.0.1/2, MTU
# 1420) and an attacker X on a second veth into A (10.10.9.66, plus 1,000
# addresses 10.10.16.1... routed to it).  X runs flood_gen (tests/bench,
# built with the tree): initiations with a valid mac1 for A's public key and
# junk inside.  Per row:
#   unflooded   iperf3 TCP B->A, 1 stream (A receives the bulk and the flood),
#               before and after the two floods below (their mean)
#   flood x1    the same while X sends 20,000 initiations/s from one address
#   flood x1000 the same while X sends 20,000/s cycling over 1,000 addresses
#               (under load these get cookie replies; cookies/s is what came back)
#   flood x1000C the same, the sources answering the cookies (flood_gen -C): a
#               valid mac2 from then on, so each source's rate limit and the
#               handshake work are what is measured
#   unthrottled X sends as fast as it can for 10 s, no tunnel traffic:
#               `wg show` on A every 100 ms, its slowest answer; A's CPU
#               (all threads, % of one core) is what the flood costs it
# Rows alternate within each round; the table has the medians.  The daemons
# log at info (tinescale) and error (wireguard-go, whose verbose level logs
# every datagram of the flood).
#
#   sudo TS_BUILD=build tests/bench/flood.sh [--quick]
#
# --quick: 1 round, 4-second iperf3 runs (about 2 minutes); default 3 rounds
# (about 5 minutes).  Environment: TS_FLOOD_ROUNDS, TS_FLOOD_TCP_S,
# TS_FLOOD_RATE (20000), TS_FLOOD_UNTHROTTLED_S (10), TS_FLOOD_IMPLS (a
# space-separated subset of: tinescale wggo-debian wggo-upstream),
# TS_BUILD, TS_SRC.  The table goes to stdout and
# $TS_BUILD/bench/flood-results.txt, raw samples to flood-raw.tsv.
QUICK=0
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	-h | --help)
		sed -n '3,/^QUICK=/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "flood.sh: unknown argument $arg" >&2
		exit 2
		;;
	esac
done
TS_SRC=${TS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../net/lib.sh
. "$TS_SRC/tests/net/lib.sh"
require_root
require_cmd iperf3 wg

if ((QUICK)); then
	ROUNDS=${TS_FLOOD_ROUNDS:-1}
	TCP_S=${TS_FLOOD_TCP_S:-4}
else
	ROUNDS=${TS_FLOOD_ROUNDS:-3}
	TCP_S=${TS_FLOOD_TCP_S:-5}
fi
RATE=${TS_FLOOD_RATE:-20000}
UNTHROTTLED_S=${TS_FLOOD_UNTHROTTLED_S:-10}
IMPLS=${TS_FLOOD_IMPLS-tinescale wggo-debian wggo-upstream}
FLOOD_GEN=$TS_BUILD/tests/bench/flood_gen
NSRC=1000
SRC_BASE=10.10.16.1
HZ=$(getconf CLK_TCK)
OUT=$TS_BUILD/bench
mkdir -p "$OUT"
RAW=$OUT/flood-raw.tsv
printf 'round\timpl\tclean_mbit\tflood1_mbit\tflood1000_mbit\tcookies1000_per_s\tflood1000c_mbit\twgshow_max_ms\tunthrottled_rate\tcpu_pct\n' >"$RAW"

[[ -x $FLOOD_GEN ]] || fail "$FLOOD_GEN missing (build the tree)"
for impl in $IMPLS; do
	case $impl in
	tinescale) impl_check tinescale ;;
	wggo-debian) require_cmd wireguard-go ;;
	wggo-upstream) [[ -x $TS_WGGO_UPSTREAM ]] || fail "upstream wireguard-go $TS_WGGO_UPSTREAM missing" ;;
	*) fail "unknown row $impl" ;;
	esac
done

json_mbit() {
	"$TS_PY" -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6))' "$1"
}

# tcp NS_C NS_S ADDR FILE: one iperf3 TCP run (1 stream), its Mbit/s in
# MBIT (not printed: the iperf3 server must be this shell's job).
tcp() {
	iperf_server "$2" "$3"
	local spid=$BG_PID
	ip netns exec "$1" timeout $((TCP_S + 15)) iperf3 -c "$3" -t "$TCP_S" --json >"$4" 2>"$4.err" ||
		fail "iperf3 failed: $(head -c 1000 "$4") $(cat "$4.err")"
	bg_wait "$spid" || true
	MBIT=$(json_mbit "$4")
}

# flood NAME RATE SECONDS [SOURCES [-C]]: flood_gen in X against A, in the background.
flood() {
	local -a src=()
	[[ ${4:-1} -gt 1 ]] && src=(-s "$SRC_BASE" -n "$4")
	bg "$1" ip netns exec "$NS_X" "$FLOOD_GEN" -d 10.10.9.11 -p 51820 -k "$PA" -r "$2" -t "$3" \
		"${src[@]}" "${@:5}"
}

# flood_result NAME: "sent cookies seconds rate" of a finished flood.
flood_result() {
	local line
	line=$(grep '^sent ' "$LOGDIR/$1.log") || fail "flood $1 printed no summary: $(cat "$LOGDIR/$1.log")"
	awk '{ print $2, $4, $6, $8 }' <<<"$line"
}

# row ROUND IMPL TAG
row() {
	local r=$1 impl=$2 tag=$3 lib_impl ia ib j clean f1 f1000 f1000c fpid sent cookies secs rate
	case $impl in
	tinescale) lib_impl=tinescale ;;
	wggo-debian) lib_impl=wireguard-go ;;
	wggo-upstream) lib_impl=wireguard-go-upstream ;;
	esac
	NS_A=$PFX-$tag$r-a
	NS_B=$PFX-$tag$r-b
	NS_X=$PFX-$tag$r-x
	ia=${PFX}$tag${r}a
	ib=${PFX}$tag${r}b
	j=$LOGDIR/$impl-r$r
	ns_create "$NS_A" "$NS_B" "$NS_X"
	veth "$NS_A" "${PFX}o" "$NS_B" "${PFX}o"
	assign_addr "$NS_A" "${PFX}o" 10.10.0.11/24
	assign_addr "$NS_B" "${PFX}o" 10.10.0.12/24
	veth "$NS_A" "${PFX}x" "$NS_X" "${PFX}x"
	assign_addr "$NS_A" "${PFX}x" 10.10.9.11/24
	assign_addr "$NS_X" "${PFX}x" 10.10.9.66/24
	# The 1,000 flooding sources live on X, routed from A.
	"$TS_PY" -c 'import ipaddress, sys
b = ipaddress.IPv4Address(sys.argv[1])
for i in range(int(sys.argv[2])):
    print(f"addr add {b + i}/32 dev {sys.argv[3]}")' "$SRC_BASE" "$NSRC" "${PFX}x" |
		ip -n "$NS_X" -batch -
	ip -n "$NS_A" route add 10.10.16.0/22 dev "${PFX}x"
	IMPL=$lib_impl impl_start "$NS_A" "$ia" "$CONFDIR/a.conf" --address 10.0.0.1/24 --mtu 1420
	IMPL=$lib_impl impl_start "$NS_B" "$ib" "$CONFDIR/b.conf" --address 10.0.0.2/24 --mtu 1420
	ping_ok "$NS_B" 10.0.0.1 3
	local apid=${IF_PID[$ia]}

	tcp "$NS_B" "$NS_A" 10.0.0.1 "$j-clean.json"
	clean=$MBIT

	flood "flood1-$impl-r$r" "$RATE" $((TCP_S + 2))
	fpid=$BG_PID
	sleep 0.5
	tcp "$NS_B" "$NS_A" 10.0.0.1 "$j-flood1.json"
	f1=$MBIT
	bg_wait "$fpid" || fail "flood_gen failed: $(cat "$LOGDIR/flood1-$impl-r$r.log")"
	read -r sent cookies secs rate < <(flood_result "flood1-$impl-r$r")
	log "$impl r$r: one source: $sent initiations at $rate/s, $cookies cookie replies"

	flood "flood1000-$impl-r$r" "$RATE" $((TCP_S + 2)) "$NSRC"
	fpid=$BG_PID
	sleep 0.5
	tcp "$NS_B" "$NS_A" 10.0.0.1 "$j-flood1000.json"
	f1000=$MBIT
	bg_wait "$fpid" || fail "flood_gen failed: $(cat "$LOGDIR/flood1000-$impl-r$r.log")"
	read -r sent cookies secs rate < <(flood_result "flood1000-$impl-r$r")
	local cps
	cps=$(awk -v c="$cookies" -v s="$secs" 'BEGIN { printf "%.0f", c / s }')
	log "$impl r$r: 1,000 sources: $sent initiations at $rate/s, $cookies cookie replies"

	# The same sources answering the cookies: mac2 valid from then on.
	flood "flood1000c-$impl-r$r" "$RATE" $((TCP_S + 2)) "$NSRC" -C
	fpid=$BG_PID
	sleep 0.5
	tcp "$NS_B" "$NS_A" 10.0.0.1 "$j-flood1000c.json"
	f1000c=$MBIT
	bg_wait "$fpid" || fail "flood_gen failed: $(cat "$LOGDIR/flood1000c-$impl-r$r.log")"
	read -r sent cookies secs rate < <(flood_result "flood1000c-$impl-r$r")
	log "$impl r$r: 1,000 sources answering cookies: $sent initiations at $rate/s, $cookies cookie replies"

	# Unflooded again: the reference is the mean of before and after, so a
	# change in the machine's load during the row weighs on both sides.
	tcp "$NS_B" "$NS_A" 10.0.0.1 "$j-clean2.json"
	clean=$(awk -v a="$clean" -v b="$MBIT" 'BEGIN { printf "%.1f", (a + b) / 2 }')

	# Unthrottled, with `wg show` polled throughout.
	local t0 c0 c1 t1 max=0 a b ms
	flood "flood-max-$impl-r$r" 0 "$UNTHROTTLED_S"
	fpid=$BG_PID
	c0=$(cpu_ticks "$apid")
	t0=$(date +%s%N)
	while _is_running_job "$fpid"; do
		a=$(date +%s%N)
		timeout 10 wg show "$ia" >/dev/null || fail "$impl: wg show failed under the flood"
		b=$(date +%s%N)
		ms=$(((b - a) / 1000000))
		((ms > max)) && max=$ms
		sleep 0.1
	done
	t1=$(date +%s%N)
	c1=$(cpu_ticks "$apid")
	bg_wait "$fpid" || fail "flood_gen failed: $(cat "$LOGDIR/flood-max-$impl-r$r.log")"
	read -r sent cookies secs rate < <(flood_result "flood-max-$impl-r$r")
	local cpu
	cpu=$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", 100 * (c / hz) / (ns / 1e9) }')
	log "$impl r$r: unthrottled: $sent initiations at $rate/s, wg show max $max ms, A's CPU $cpu%"
	impl_alive "$ia"

	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$impl" "$clean" "$f1" "$f1000" "$cps" \
		"$f1000c" "$max" "$rate" "$cpu" >>"$RAW"
	log "round $r $impl: unflooded $clean, one source $f1, 1,000 sources $f1000," \
		"answering cookies $f1000c Mbit/s"
	impl_stop "$ia"
	impl_stop "$ib"
	ip netns del "$NS_A"
	ip netns del "$NS_B"
	ip netns del "$NS_X"
}

export TS_LOG_LEVEL=${TS_LOG_LEVEL:-info} TS_WGGO_LOG_LEVEL=${TS_WGGO_LOG_LEVEL:-error}
keypair a b
PA=$(pub a)
conf_ini "$CONFDIR/a.conf" a 51820 "$(pub b)" 10.0.0.2/32 10.10.0.12:51820 -
conf_ini "$CONFDIR/b.conf" b 51820 "$PA" 10.0.0.1/32 10.10.0.11:51820 -
log "rows: $IMPLS; $ROUNDS round(s), iperf3 ${TCP_S}s, flood $RATE/s"
log "upstream: $("$TS_WGGO_UPSTREAM" --version 2>&1 | head -n 1); debian: $(wireguard-go --version 2>&1 | head -n 1)"
for ((r = 1; r <= ROUNDS; r++)); do
	i=0
	for impl in $IMPLS; do
		row "$r" "$impl" "f$i"
		i=$((i + 1))
	done
done

"$TS_PY" - "$RAW" "$ROUNDS" "$RATE" "$UNTHROTTLED_S" >"$OUT/flood-results.txt" <<'PY'
import csv, statistics, sys
raw, rounds, rate, ut = sys.argv[1:5]
rows = list(csv.DictReader(open(raw), delimiter="\t"))
labels = []
for r in rows:
    if r["impl"] not in labels:
        labels.append(r["impl"])
def med(label, f):
    v = [f(r) for r in rows if r["impl"] == label]
    v = [x for x in v if x == x]
    return statistics.median(v) if v else float("nan")
def num(c):
    return lambda r: float(r[c]) if r[c] not in ("", "nan") else float("nan")
def ratio(c):
    return lambda r: float(r[c]) / float(r["clean_mbit"]) if float(r["clean_mbit"]) > 0 else float("nan")
cols = [("unflooded Mbit/s", num("clean_mbit"), "%.0f"),
        ("x1 Mbit/s", num("flood1_mbit"), "%.0f"), ("x1 ratio", ratio("flood1_mbit"), "%.2f"),
        ("x1000 Mbit/s", num("flood1000_mbit"), "%.0f"), ("x1000 ratio", ratio("flood1000_mbit"), "%.2f"),
        ("cookies/s", num("cookies1000_per_s"), "%.0f"),
        ("x1000C ratio", ratio("flood1000c_mbit"), "%.2f"),
        ("wg show max ms", num("wgshow_max_ms"), "%.0f"),
        ("max flood /s", num("unthrottled_rate"), "%.0f"),
        ("A CPU %", num("cpu_pct"), "%.0f")]
print(f"handshake flood benchmark: medians of {rounds} round(s), rows alternating, fresh namespaces each;")
print(f"iperf3 TCP B->A, 1 stream, MTU 1420; x1 / x1000: {rate} valid-mac1 initiations/s from 1 / 1,000 sources;")
print(f"ratio = flooded / unflooded of the same round; cookies/s: replies the 1,000 sources got;")
print(f"x1000C: the 1,000 sources answer the cookies (valid mac2: rate limit and handshake CPU are what is left);")
print(f"unthrottled ({ut} s, no tunnel traffic): slowest `wg show`, flood rate reached, A's CPU (% of a core)")
print(f"{'':<14}" + "".join(f"{h:>17}" for h, _, _ in cols))
for label in labels:
    print(f"{label:<14}" + "".join(f"{f % med(label, g):>17}" for _, g, f in cols))
PY
cat "$OUT/flood-results.txt"
