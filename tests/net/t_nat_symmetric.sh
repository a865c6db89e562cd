#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_nat_symmetric: host A behind an endpoint-independent NAT, host B behind
# an endpoint-dependent ("symmetric": masquerade fully-random) one.  Punching
# cannot work (B's NAT picks a new port toward A, and A's NAT drops what it
# did not ask for), so:
#   - ping answers through the relay within 5 s of start, and the relay's
#     pair counters grow with it;
#   - a 10-second iperf3 run works over the relay (throughput printed);
#   - the path stays "relay" on both sides the whole time (no "path direct"
#     in either log), both endpoints stay the relay's address;
#   - nat_mapping: A endpoint-independent, B endpoint-dependent.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=natlab.sh
. "$(dirname "$0")/natlab.sh"

natlab_up eim edm
relay_ep=$RELAY_ADDR:$RELAY_PORT

t_ping=$(first_ping "$NS_HA" "$TUN_B" 5) || fail "no ping answer A -> B within 5 s"
t_first=$(elapsed "$NATLAB_T0")
awk -v t="$t_first" 'BEGIN { exit !(t <= 5.0) }' || fail "first ping ${t_first}s after start (> 5 s)"
log "first ping answered ${t_first}s after start (${t_ping}s of pinging)"

before=$(relay_pair "$PA" "$PB")
ping_ok "$NS_HA" "$TUN_B" 10
after=$(relay_pair "$PA" "$PB")
((after - before >= 10)) || fail "10 pings A -> B, but the relay forwarded only $((after - before)) A->B frames"
log "relay forwarded $((after - before)) A->B frames for 10 pings"

# Both verdicts: each side has asked both STUN servers by now, or will shortly.
for i in $(seq 50); do
	map_a=$(if_note "$IF_A" nat_mapping)
	map_b=$(if_note "$IF_B" nat_mapping)
	[[ $map_a != unknown && -n $map_a && $map_b != unknown && -n $map_b ]] && break
	sleep 0.1
done
[[ $map_a == endpoint-independent ]] || fail "A's nat_mapping is '$map_a', expected endpoint-independent"
[[ $map_b == endpoint-dependent ]] || fail "B's nat_mapping is '$map_b', expected endpoint-dependent"
log "nat_mapping: A $map_a, B $map_b"

mbps=$(iperf_run "$NS_HB" "$TUN_B" "$NS_HA" 10 "relayed A -> B")

for side in A B; do
	if [[ $side == A ]]; then ifn=$IF_A peer=$PB; else ifn=$IF_B peer=$PA; fi
	[[ $(peer_note "$ifn" "$peer" path) == relay ]] ||
		fail "$side: path is '$(peer_note "$ifn" "$peer" path)', expected relay:
$(ts_status "$ifn")"
	[[ $(wg_endpoint "$ifn" "$peer") == "$relay_ep" ]] ||
		fail "$side: endpoint is '$(wg_endpoint "$ifn" "$peer")', expected the relay $relay_ep"
	! grep -q "path direct" "${IF_LOG[$ifn]}" || fail "$side went direct at some point:
$(grep "path direct" "${IF_LOG[$ifn]}")"
done
ping_ok "$NS_HB" "$TUN_A" 5
impl_alive "$IF_A"
impl_alive "$IF_B"
log "RESULT symmetric: first relayed ping ${t_first}s after start; iperf3 relayed ${mbps} Mbit/s (10 s)"
