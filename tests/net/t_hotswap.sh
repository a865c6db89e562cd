#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_hotswap: swap A's pipeline 200 times while traffic flows (issue 3).
# iperf3 TCP (paced at 100 Mbit/s) runs A -> B and B pings A every 50 ms
# while `tinescale ctl A
# reload` alternates between two pipelines (pass-through counters on all
# four hooks: one instance, then three).  Every reload succeeds, iperf3
# completes without a stalled second, the ping loses nothing, the session
# is never renegotiated by a reload, and A is still alive (under an ASan
# build, lib.sh fails the test on any sanitizer report in its log).
# iperf3 is paced below the tunnel's capacity on purpose: a saturating TCP
# flow overflows the TUN's transmit ring (500 packets, no backpressure to
# the qdisc) and drops some pings with or without reloads (so does
# wireguard-go); a paced flow leaves every lost ping to the swaps' account.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd iperf3
[[ $TS_IMPL_A == tinescale ]] || skip "side A must be tinescale"

TP=$TS_BUILD/tests/plugins
[[ -e $TP/counter.so ]] || fail "test plugins missing in $TP (build the tree first)"
tunnel_up
ping_ok "$NS_B" 10.0.0.1 3
ctl() { "$TS_BUILD/tinescale" ctl "$@"; }
printf 'version: 1\nplugin_path: [%s]\nplugins:\n  - name: c1\n    use: counter\n    hooks: [plaintext_out, ciphertext_out, ciphertext_in, plaintext_in]\n' \
	"$TP" >"$CONFDIR/one.yaml"
{
	printf 'version: 1\nplugin_path: [%s]\nplugins:\n' "$TP"
	for i in 1 2 3; do
		printf '  - name: c%s\n    use: counter\n    priority: %s\n' "$i" $((100 - i))
		printf '    hooks: [plaintext_out, ciphertext_out, ciphertext_in, plaintext_in]\n'
		printf '    config: { id: %s }\n' "$i"
	done
} >"$CONFDIR/three.yaml"
hs_before=$(hs_time "$IF_A" "$(pub b)")

iperf_server "$NS_B" 10.0.0.2
bg iperf ip netns exec "$NS_A" iperf3 -c 10.0.0.2 -t 20 -i 1 -b 100M --json
iperf_pid=$BG_PID
bg ping ip netns exec "$NS_B" ping -n -i 0.05 -c 400 -W 2 10.0.0.1
ping_pid=$BG_PID
sleep 1
log "200 reloads under load"
ok=0
for ((i = 0; i < 200; i++)); do
	f=one
	((i % 2)) && f=three
	ctl "$IF_A" reload "$CONFDIR/$f.yaml" >>"$LOGDIR/reloads.log" 2>&1 && ok=$((ok + 1))
	sleep 0.05
done
log "$ok of 200 reloads succeeded"
((ok == 200)) || fail "only $ok of 200 reloads succeeded: $(tail -3 "$LOGDIR/reloads.log")"
bg_wait "$iperf_pid" || fail "iperf3 failed: $(head -c 2000 "$LOGDIR/iperf.log")"
r=$("$TS_PY" "$TS_SRC/tests/net/iperf_check.py" "$LOGDIR/iperf.log" 10) || fail "iperf3 during the swaps: $r"
log "iperf3 TCP during 200 reloads: $r (Mbit/s, retransmits)"
bg_wait "$ping_pid" || true
summary=$(grep 'packets transmitted' "$LOGDIR/ping.log") || fail "ping did not finish"
log "ping during the swaps: $summary"
[[ $summary == *" 0% packet loss"* ]] || fail "ping lost packets during the swaps: $summary"
ping_ok "$NS_B" 10.0.0.1 3
ctl "$IF_A" plugins | grep -Eq 'c1 \(counter.*packets [1-9]' ||
	fail "the last pipeline saw no packets: $(ctl "$IF_A" plugins)"
[[ $(hs_time "$IF_A" "$(pub b)") == "$hs_before" ]] ||
	fail "a reload renegotiated the session (handshake time changed)"
impl_alive "$IF_A"
impl_alive "$IF_B"
