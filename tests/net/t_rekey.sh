#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_rekey: timers, sped up by TS_TEST_TIME_SCALE (tinescale only; 20 by
# default: REKEY_AFTER_TIME 6 s, REJECT_AFTER_TIME 9 s).
# 1. A continuous ping (every 50 ms, several REKEY_AFTER_TIME periods) loses
#    no packet while the latest handshake advances at every rekey.
# 2. Traffic stops for 3 * REJECT_AFTER_TIME, after which every key must be
#    gone.  A user sees that when the responder of the last handshake (B, who
#    never rekeys on its own while a session is valid) sends a packet: B must
#    start a fresh handshake (captured on the wire: B initiates), the latest
#    handshake advances, and that first packet still arrives.
# With wireguard-go on either side no scaling is possible: the same checks
# then take real WireGuard times (minutes); see TS_REKEY_SECONDS.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd tshark dumpcap

SCALE=${TS_TEST_TIME_SCALE:-20}
[[ $TS_IMPL_A == wireguard-go || $TS_IMPL_B == wireguard-go ]] && SCALE=1
export TS_TEST_TIME_SCALE=$SCALE
REKEY_AFTER=$((120 / SCALE))  # s
REJECT_AFTER=$((180 / SCALE)) # s
DURATION=${TS_REKEY_SECONDS:-$((REKEY_AFTER * 4 + 1))}
# Handshakes expected during the ping: the first one plus a rekey every
# REKEY_AFTER_TIME (2 s of margin for the first handshake and scheduling).
NEED=$((1 + (DURATION - 2) / REKEY_AFTER))
MAX_LOST=${TS_REKEY_MAX_LOST:-0}
log "scale $SCALE: REKEY_AFTER_TIME ${REKEY_AFTER}s, REJECT_AFTER_TIME ${REJECT_AFTER}s, ping ${DURATION}s, expect >= $NEED handshakes"

tunnel_up -
PA=$(pub a)
PB=$(pub b)

# --- phase 1: rekey under load loses nothing -----------------------------
count=$((DURATION * 20))
bg ping-rekey ip netns exec "$NS_A" ping -n -c "$count" -i 0.05 -W 2 10.0.0.2
ping_pid=$BG_PID
declare -A seen=()
while _is_running_job "$ping_pid"; do
	t=$(hs_time "$IF_A" "$PB")
	((t > 0)) && seen[$t]=1
	sleep 0.5
done
bg_wait "$ping_pid" || true
t=$(hs_time "$IF_A" "$PB")
((t > 0)) && seen[$t]=1
summary=$(grep 'packets transmitted' "$LOGDIR/ping-rekey.log") ||
	fail "ping did not finish: $(tail -n 5 "$LOGDIR/ping-rekey.log")"
tx=$(awk '{print $1}' <<<"$summary")
rx=$(awk '{print $4}' <<<"$summary")
log "ping: $summary; distinct handshake times seen: ${#seen[@]} (${!seen[*]})"
((tx == count)) || fail "ping sent $tx of $count"
((tx - rx <= MAX_LOST)) || fail "rekeying lost $((tx - rx)) of $tx pings (at most $MAX_LOST allowed): $summary"
((${#seen[@]} >= NEED)) ||
	fail "latest handshake advanced only to ${#seen[@]} distinct values in ${DURATION}s (want >= $NEED, one per REKEY_AFTER_TIME=${REKEY_AFTER}s)"

# --- phase 2: after 3 * REJECT_AFTER_TIME of silence the keys are gone -----
last_a=$(hs_time "$IF_A" "$PB")
last_b=$(hs_time "$IF_B" "$PA")
wait_s=$((3 * REJECT_AFTER + 2))
log "silence for ${wait_s}s (3 * REJECT_AFTER_TIME + 2)"
# The capture starts after one REJECT_AFTER_TIME: the passive keepalive that
# follows the last reply is legitimate and comes well before that.
sleep "$REJECT_AFTER"
capture_start "$NS_A" "${PFX}o" expiry
cap_pid=$BG_PID
sleep "$((wait_s - REJECT_AFTER))"
[[ $(hs_time "$IF_B" "$PA") == "$last_b" ]] || fail "a handshake happened during the silence"
# One packet from B; its reply proves the tunnel works again.
ping_ok "$NS_B" 10.0.0.1 1
wait_handshake "$NS_B" "$IF_B" "$PA" 5 "$last_b"
wait_handshake "$NS_A" "$IF_A" "$PB" 5 "$last_a"
sleep 0.5
_stop_pid "$cap_pid"
first=$(wg_initiators expiry | head -n1)
[[ $first == 10.10.0.12 ]] ||
	fail "after expiry the new handshake was initiated by '${first:-nobody}', expected B (10.10.0.12): B kept using a key older than REJECT_AFTER_TIME"
# And nothing crossed the wire in the last 2 * REJECT_AFTER_TIME of silence
# (no keepalive configured, no stray handshake): the first captured packet is
# B's initiation.
n_before=$(tshark -r "$LOGDIR/expiry.pcapng" -Y 'wg.type == 1 && ip.src == 10.10.0.12' -T fields -e frame.number 2>/dev/null | head -n1)
[[ $n_before == 1 ]] || fail "packets crossed the wire during the silence (B's initiation is frame ${n_before:-none}):
$(tshark -r "$LOGDIR/expiry.pcapng" 2>/dev/null | head -n 10)"
ping_ok "$NS_A" 10.0.0.2 3
impl_alive "$IF_A"
impl_alive "$IF_B"
