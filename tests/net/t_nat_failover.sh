#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_nat_failover: two endpoint-independent NATs; the direct path between the
# NATs' WAN addresses is cut and restored by an nft drop inside the internet
# namespace (the relay stays reachable throughout).
#   1. Start with the path cut: ping answers through the relay within 5 s
#      (the relay's pair counters grow with the pings); status says relay.
#   2. Restore it: within 15 s both sides say direct, `wg show` shows the
#      NAT addresses, and the relay's counters stop growing.
#   3. Cut it under a continuous ping: within 15 s both sides say relay and
#      ping answers again; the pings lost fit in that window.
#   4. Restore it: direct again within 20 s.
# Prints the times and iperf3 throughput relayed (step 1) and direct (step 2).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=natlab.sh
. "$(dirname "$0")/natlab.sh"

PING_GAP=0.2

# both_path WANT TIMEOUT: both sides' path note becomes WANT.
both_path() {
	wait_peer_note "$IF_A" "$PB" path "$1" "$2" ||
		fail "A: path to B not $1 within $2 s:
$(ts_status "$IF_A")"
	wait_peer_note "$IF_B" "$PA" path "$1" 5 ||
		fail "B: path to A not $1:
$(ts_status "$IF_B")"
}

log "step 1: direct path cut from the start"
NATLAB_START_CUT=1 natlab_up eim eim
t_ping=$(first_ping "$NS_HA" "$TUN_B" 5) || fail "no ping answer A -> B within 5 s (relay)"
t_first=$(elapsed "$NATLAB_T0")
awk -v t="$t_first" 'BEGIN { exit !(t <= 5.0) }' || fail "first ping ${t_first}s after start (> 5 s)"
[[ $(peer_note "$IF_A" "$PB" path) == relay ]] || fail "A's path is not relay while cut"
before=$(relay_pair "$PA" "$PB")
ping_ok "$NS_HA" "$TUN_B" 5
after=$(relay_pair "$PA" "$PB")
((after - before >= 5)) || fail "5 pings A -> B, but the relay forwarded $((after - before)) A->B frames"
log "first relayed ping ${t_first}s after start (${t_ping}s of pinging); relay forwarded $((after - before)) frames for 5 pings"
mbps_relay=$(iperf_run "$NS_HB" "$TUN_B" "$NS_HA" 3 "relayed A -> B")

log "step 2: direct path restored"
natlab_uncut
t0=$(now_s)
both_path direct 15
t_direct=$(elapsed "$t0")
[[ $(wg_endpoint "$IF_A" "$PB") == "$NAT_WAN_B":* ]] ||
	fail "A's endpoint for B is '$(wg_endpoint "$IF_A" "$PB")', expected $NAT_WAN_B:port"
[[ $(wg_endpoint "$IF_B" "$PA") == "$NAT_WAN_A":* ]] ||
	fail "B's endpoint for A is '$(wg_endpoint "$IF_B" "$PA")', expected $NAT_WAN_A:port"
log "direct ${t_direct}s after the restore"
sleep 1
before=$(relay_pair "$PA" "$PB")
ping_ok "$NS_HA" "$TUN_B" 5
after=$(relay_pair "$PA" "$PB")
((after == before)) || fail "relay A->B counter grew on the direct path: $before -> $after"
mbps_direct=$(iperf_run "$NS_HB" "$TUN_B" "$NS_HA" 3 "direct A -> B")

log "step 3: cut under a continuous ping"
bg ping-failover ip netns exec "$NS_HA" ping -n -i "$PING_GAP" -W 1 "$TUN_B"
ping_pid=$BG_PID
sleep 1
natlab_cut
t0=$(now_s)
both_path relay 15
t_fallback=$(elapsed "$t0")
[[ $(wg_endpoint "$IF_A" "$PB") == "$RELAY_ADDR:$RELAY_PORT" ]] ||
	fail "A's endpoint after the fallback is '$(wg_endpoint "$IF_A" "$PB")', not the relay"
log "back on the relay ${t_fallback}s after the cut"
ping_ok "$NS_HB" "$TUN_A" 5

log "step 4: restored again"
natlab_uncut
t0=$(now_s)
both_path direct 20
t_redirect=$(elapsed "$t0")
log "direct again ${t_redirect}s after the restore"
sleep 1
kill -INT "$ping_pid" 2>/dev/null || true
bg_wait "$ping_pid" || true
summary=$(grep 'packets transmitted' "$LOGDIR/ping-failover.log") ||
	fail "continuous ping printed no summary"
tx=$(awk '{print $1}' <<<"$summary")
rx=$(awk '{print $4}' <<<"$summary")
# Only the window between the cut and the fallback may lose pings (plus one
# in flight at each switch).
maxlost=$(awk -v t="$t_fallback" -v g="$PING_GAP" 'BEGIN { printf "%d", (t + 1) / g + 2 }')
log "continuous ping: $summary (at most $maxlost may be lost)"
((tx - rx <= maxlost)) || fail "continuous ping lost $((tx - rx)) > $maxlost: $summary"
impl_alive "$IF_A"
impl_alive "$IF_B"
log "RESULT failover: first relayed ping ${t_first}s after start; direct ${t_direct}s after restore; relay ${t_fallback}s after cut; direct ${t_redirect}s after restore; iperf3 relayed ${mbps_relay} Mbit/s, direct ${mbps_direct} Mbit/s"
