#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_flood: tinescale (A) under handshake floods from an attacker X that
# knows A's public key (flood_gen, tests/bench: valid mac1, junk inside).
#  1. One source at 20,000/s: the tunnel A-B carries pings (at most one lost).
#  2. One source as fast as X can send, for 6 s: `wg show` on A answers
#     within 1 s every time, and some pings still pass (the socket's queue
#     is shared with the flood, so some are lost).
#  3. 1,000 sources at 20,000/s for 10 s: A answers with cookie replies,
#     and B, whose session was removed just before, still completes a new
#     handshake during the flood (cookie, then mac2 on its retry).
# Throughput under flood is tests/bench/flood.sh's business, not this test's.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
FLOOD_GEN=$TS_BUILD/tests/bench/flood_gen
[[ -x $FLOOD_GEN ]] || fail "$FLOOD_GEN missing (build the tree)"

two_hosts
attacker_host "$NS_A"
# 1,000 more sources on X (10.10.16.1 on), routed from A.
"$TS_PY" -c 'import ipaddress, sys
b = ipaddress.IPv4Address("10.10.16.1")
for i in range(1000):
    print(f"addr add {b + i}/32 dev {sys.argv[1]}")' "${PFX}x" | ip -n "$NS_X" -batch -
ip -n "$NS_A" route add 10.10.16.0/22 dev "${PFX}x"
IF_A=${PFX}wa
IF_B=${PFX}wb
keypair a b
PA=$(pub a)
PB=$(pub b)
conf_ini "$CONFDIR/a.conf" a 51820 "$PB" 10.0.0.2/32 10.10.0.12:51820 -
conf_ini "$CONFDIR/b.conf" b 51820 "$PA" 10.0.0.1/32 10.10.0.11:51820 -
impl_start "$NS_A" "$IF_A" "$CONFDIR/a.conf" --address 10.0.0.1/24
impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --address 10.0.0.2/24
ping_ok "$NS_B" 10.0.0.1 3

# The engine's threads are named, and handshake work yields to the data path:
# A's ts-handshake thread runs at nice 10, its ts-rx thread at 0.
thread_nice() { # PID COMM: the nice value of PID's thread named COMM
	local t
	for t in /proc/"$1"/task/*; do
		[[ $(cat "$t/comm" 2>/dev/null) == "$2" ]] || continue
		awk '{ sub(/^.*\) /, ""); print $17 }' "$t/stat"
		return 0
	done
	return 1
}
hs_nice=$(thread_nice "${IF_PID[$IF_A]}" ts-handshake) || fail "no thread named ts-handshake in A's daemon"
rx_nice=$(thread_nice "${IF_PID[$IF_A]}" ts-rx) || fail "no thread named ts-rx in A's daemon"
[[ $hs_nice == 10 && $rx_nice == 0 ]] || fail "ts-handshake at nice $hs_nice and ts-rx at $rx_nice, expected 10 and 0"
log "A's threads: ts-handshake at nice $hs_nice, ts-rx at nice $rx_nice"

# flood_summary NAME: "sent cookies" of a finished flood_gen.
flood_summary() {
	local line
	line=$(grep '^sent ' "$LOGDIR/$1.log") || fail "$1 printed no summary: $(cat "$LOGDIR/$1.log")"
	awk '{ print $2, $4 }' <<<"$line"
}

log "1. one source at 20,000/s for 4 s: the tunnel carries pings"
bg flood1 ip netns exec "$NS_X" "$FLOOD_GEN" -d 10.10.9.11 -k "$PA" -r 20000 -t 4
fpid=$BG_PID
sleep 0.5
ping_ok "$NS_B" 10.0.0.1 10 1
_is_running_job "$fpid" || fail "the flood ended before the pings: the test proves nothing"
bg_wait "$fpid" || fail "flood_gen failed: $(cat "$LOGDIR/flood1.log")"
read -r sent cookies < <(flood_summary flood1)
log "one source at 20,000/s: $sent initiations, $cookies cookie replies"
((sent > 60000)) || fail "the flood was too weak ($sent initiations in 4 s)"

log "2. one source, unthrottled, 6 s: wg show answers within 1 s, some pings pass"
bg floodmax ip netns exec "$NS_X" "$FLOOD_GEN" -d 10.10.9.11 -k "$PA" -r 0 -t 6
fpid=$BG_PID
sleep 0.5
# The UDP socket's queue is shared with the flood: losses are expected, silence is not.
out=$(ip netns exec "$NS_B" ping -n -c 10 -i 0.2 -W 1 10.0.0.1 2>&1) || true
rx=$(sed -n 's/.* \([0-9]\+\) received.*/\1/p' <<<"$out")
((${rx:-0} >= 1)) || fail "no ping passed the tunnel under the unthrottled flood: $out"
log "ping under the unthrottled flood: ${rx}/10"
max=0
while _is_running_job "$fpid"; do
	t0=$(date +%s%N)
	timeout 5 wg show "$IF_A" >/dev/null || fail "wg show $IF_A failed under the flood"
	ms=$((($(date +%s%N) - t0) / 1000000))
	((ms > max)) && max=$ms
	sleep 0.1
done
bg_wait "$fpid" || fail "flood_gen failed: $(cat "$LOGDIR/floodmax.log")"
read -r sent cookies < <(flood_summary floodmax)
log "unthrottled: $sent initiations, $cookies cookie replies; slowest wg show $max ms"
((sent > 20000)) || fail "the flood was too weak to load A ($sent initiations in 6 s)"
((max < 1000)) || fail "wg show took $max ms under the flood"
impl_alive "$IF_A"

log "3. 1,000 sources at 20,000/s for 10 s; B handshakes anew meanwhile"
bg flood1000 ip netns exec "$NS_X" "$FLOOD_GEN" -d 10.10.9.11 -k "$PA" -r 20000 -t 10 \
	-s 10.10.16.1 -n 1000
fpid=$BG_PID
sleep 1
# B forgets its session: its next packet needs a handshake, which meets the flood.
wg set "$IF_B" peer "$PA" remove
wg set "$IF_B" peer "$PA" allowed-ips 10.0.0.1/32 endpoint 10.10.0.11:51820
ip netns exec "$NS_B" ping -n -c 1 -W 1 10.0.0.1 >/dev/null 2>&1 || true
wait_handshake "$NS_B" "$IF_B" "$PA" 8
_is_running_job "$fpid" || fail "the flood ended before B's handshake: the test proves nothing"
ping_ok "$NS_B" 10.0.0.1 3
bg_wait "$fpid" || fail "flood_gen failed: $(cat "$LOGDIR/flood1000.log")"
read -r sent cookies < <(flood_summary flood1000)
log "1,000 sources: $sent initiations, $cookies cookie replies"
((sent > 100000)) || fail "the flood was too weak ($sent initiations in 10 s)"
((cookies > 1000)) || fail "A answered $sent initiations from 1,000 sources with only $cookies cookie replies"
impl_alive "$IF_A"
ping_ok "$NS_A" 10.0.0.2 3
