#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/bench/relay_profile.sh: where a relayed tunnel's time goes.  The NAT
# lab with the direct path cut, one iperf3 TCP stream B->A through
# tinescale-relay, and meanwhile a system-wide `perf record -g`, the relay's
# status and every namespace's UDP counters (nstat).  Not a test.
#
#   sudo TS_BUILD=$PWD/build tests/bench/relay_profile.sh [SECONDS] [direct]
#
# Output in $TS_BUILD/net-logs/relay_profile/: perf.data, report.txt (by
# command and by symbol), nstat-*.txt, relay-status.txt.
TS_SRC=${TS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../net/lib.sh
. "$TS_SRC/tests/net/lib.sh"
# shellcheck source=../net/natlab.sh
. "$TS_SRC/tests/net/natlab.sh"
require_root
require_cmd perf iperf3 nstat
SECS=${1:-8}
WANT=${2:-relay}
cut=1
[[ $WANT == direct ]] && cut=0
NATLAB_RELAY_ARGS="--rate ${TS_BENCH_RELAY_RATE:-1000000}" NATLAB_START_CUT=$cut natlab_up eim eim
wait_peer_note "$IF_A" "$PB" path "$WANT" 20 || fail "A's path is not $WANT"
wait_peer_note "$IF_B" "$PA" path "$WANT" 20 || fail "B's path is not $WANT"
first_ping "$NS_HA" "$TUN_B" 10 >/dev/null || fail "no ping"
for ns in "$NS_INET" "$NS_RA" "$NS_RB" "$NS_HA" "$NS_HB"; do
	ip netns exec "$ns" nstat -n >/dev/null
done
iperf_server "$NS_HA" "$TUN_A"
spid=$BG_PID
bg iperf-client ip netns exec "$NS_HB" iperf3 -c "$TUN_A" -t "$SECS"
cpid=$BG_PID
sleep 1
perf record -a -g -o "$LOGDIR/perf.data" -- sleep $((SECS - 2)) 2>"$LOGDIR/perf-record.err"
bg_wait "$cpid" || fail "iperf3 failed: $(cat "$LOGDIR/iperf-client.log")"
bg_wait "$spid" || true
grep -E 'receiver|sender' "$LOGDIR/iperf-client.log" >&2
for ns in "$NS_INET" "$NS_RA" "$NS_RB" "$NS_HA" "$NS_HB"; do
	ip netns exec "$ns" nstat -a >"$LOGDIR/nstat-$ns.txt"
	log "$ns: $(grep -E 'Udp(InDatagrams|OutDatagrams|RcvbufErrors|SndbufErrors|InErrors)|TcpRetransSegs|IpExtInNoRoutes' "$LOGDIR/nstat-$ns.txt" | awk '{printf "%s=%s ", $1, $2}')"
done
"$TS_BUILD/tinescale-relay" status --ctl "$RELAY_CTL" >"$LOGDIR/relay-status.txt" || true
grep -E 'send_errors|forwarded' "$LOGDIR/relay-status.txt" >&2 || true
grep -E '^reject' "$LOGDIR/relay-status.txt" | awk '$3 != 0' >&2 || true
set +o pipefail # head closes the pipes early
# By thread name, then by symbol within the relay and within the daemons'
# data threads (ts-*).  Filtered from one `--sort comm,sym` listing: perf
# report's --comm option drops and rescales entries of this kind of profile.
perf report -i "$LOGDIR/perf.data" --no-children --sort comm,sym --stdio -g none 2>/dev/null |
	grep -v '^#' | grep -v '^$' >"$LOGDIR/by-comm-sym.txt"
{
	perf report -i "$LOGDIR/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -20
	echo
	echo "tinescale-relay, by symbol (percent of all samples):"
	awk '$2 == "tinescale-relay"' "$LOGDIR/by-comm-sym.txt" | head -40
	echo
	echo "the daemons' ts-* threads, by symbol (percent of all samples):"
	awk '$2 ~ /^ts-/' "$LOGDIR/by-comm-sym.txt" | head -40
} >"$LOGDIR/report.txt"
cat "$LOGDIR/report.txt"
