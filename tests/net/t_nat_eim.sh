#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_nat_eim: two hosts behind endpoint-independent (port-preserving) NATs,
# knowing only each other's public key and the relay (natlab.sh draws it),
# started together and left alone (the natural flow):
#   - ping answers within 5 s of start;
#   - within a further 15 s both sides' status says "path: direct", `wg show
#     endpoints` shows the peer's NAT public address (198.51.100.X:port), and
#     the relay's pair counters stop growing while ping continues;
#   - both hosts' nat_mapping is endpoint-independent.
# Prints the times and an iperf3 run over the direct path (not asserted).
# Punching usually wins before the first ping here (the candidates cross the
# relay as soon as both have registered), so the WireGuard traffic may never
# touch the relay: the log says which.  t_nat_failover starts with the
# direct path cut and checks the relay-first sequence with ping counted on
# the relay; t_nat_symmetric checks a pair that stays on the relay.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=natlab.sh
. "$(dirname "$0")/natlab.sh"

natlab_up eim eim

t_ping=$(first_ping "$NS_HA" "$TUN_B" 5) || fail "no ping answer A -> B within 5 s"
t_first=$(elapsed "$NATLAB_T0")
log "first ping answered after ${t_ping}s of pinging, ${t_first}s after start"
awk -v t="$t_first" 'BEGIN { exit !(t <= 5.0) }' || fail "first ping ${t_first}s after start (> 5 s)"
log "at the first ping: path $(peer_note "$IF_A" "$PB" path); relay forwarded A->B $(relay_pair "$PA" "$PB"), B->A $(relay_pair "$PB" "$PA") frames (candidates included)"

wait_peer_note "$IF_A" "$PB" path direct 15 ||
	fail "A: path to B not direct 15 s after the first ping:
$(ts_status "$IF_A")"
wait_peer_note "$IF_B" "$PA" path direct 5 ||
	fail "B: path to A not direct:
$(ts_status "$IF_B")"
t_direct=$(elapsed "$NATLAB_T0")
log "path direct on both sides ${t_direct}s after start"

ep_a=$(wg_endpoint "$IF_A" "$PB")
ep_b=$(wg_endpoint "$IF_B" "$PA")
[[ $ep_a == "$NAT_WAN_B":* ]] || fail "A's endpoint for B is '$ep_a', expected $NAT_WAN_B:port"
[[ $ep_b == "$NAT_WAN_A":* ]] || fail "B's endpoint for A is '$ep_b', expected $NAT_WAN_A:port"
[[ $(peer_note "$IF_A" "$PB" direct_endpoint) == "$ep_a" ]] ||
	fail "A's direct_endpoint note '$(peer_note "$IF_A" "$PB" direct_endpoint)' is not '$ep_a'"
log "wg endpoints: A sees B at $ep_a, B sees A at $ep_b"

# Packets in flight when the path switched may still reach the relay: settle, then compare.
sleep 1
before_ab=$(relay_pair "$PA" "$PB")
before_ba=$(relay_pair "$PB" "$PA")
ping_ok "$NS_HA" "$TUN_B" 15
ping_ok "$NS_HB" "$TUN_A" 5
after_ab=$(relay_pair "$PA" "$PB")
after_ba=$(relay_pair "$PB" "$PA")
((after_ab == before_ab && after_ba == before_ba)) ||
	fail "relay pair counters still grow on the direct path: A->B $before_ab -> $after_ab, B->A $before_ba -> $after_ba"
log "relay pair counters steady while pinging: A->B $after_ab, B->A $after_ba"

map_a=$(if_note "$IF_A" nat_mapping)
map_b=$(if_note "$IF_B" nat_mapping)
[[ $map_a == endpoint-independent ]] || fail "A's nat_mapping is '$map_a', expected endpoint-independent"
[[ $map_b == endpoint-independent ]] || fail "B's nat_mapping is '$map_b', expected endpoint-independent"
[[ $(if_note "$IF_A" stun_mapped) == "$NAT_WAN_A":* ]] ||
	fail "A's stun_mapped '$(if_note "$IF_A" stun_mapped)' is not on $NAT_WAN_A"

mbps=$(iperf_run "$NS_HB" "$TUN_B" "$NS_HA" 3 "direct A -> B")
[[ $(peer_note "$IF_A" "$PB" path) == direct ]] || fail "A's path left direct during iperf3"
impl_alive "$IF_A"
impl_alive "$IF_B"
log "RESULT eim: first ping ${t_first}s, direct ${t_direct}s after start; iperf3 direct ${mbps} Mbit/s"
