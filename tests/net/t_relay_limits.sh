#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_relay_limits: tinescale-relay's own limits (issue 14), in the relay lab
# (relaylab.sh) while A and B keep pinging each other through the relay:
#   1. X sends REGISTERs for as many random keys as it can in 20 s, from its
#      own address with a valid cookie: the relay runs at most its per-IP
#      X25519 budget (burst 20 + 10/s) for them, counts the rest
#      (rate_dh_ip, bad_mac), its memory (VmRSS) stays bounded, A and B stay
#      registered and their pings answer.
#   2. The same from 10,000 forged source addresses (no cookie): COOKIEs are
#      capped (rate_cookie), per-IP budgets recycle in a fixed cache
#      (ip_slot_evictions), memory stays bounded, A and B stay registered.
#   3. The relay restarts (now with TS_TEST_TIME_SCALE=10): A and B, with the
#      default 10 s REGISTER period, are registered again within 15 s (the
#      relay's ERROR "not registered" to their traffic makes them re-register)
#      and the tunnel answers again.
#   4. The 30 s registration lifetime (3 s at scale 10): a key that stops
#      re-registering is gone within the lifetime plus the 1 s sweep, and
#      counted as expired.
# The numbers (keys sent, memory, times) are printed.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=relaylab.sh
. "$(dirname "$0")/relaylab.sh"

relaylab_up --max-peers 4096
rss0=$(relay_rss_kb)
log "relay VmRSS at start ${rss0} kB"

log "1: REGISTER flood with random keys, 20 s"
dh0=$(stat_count dh)
bg keys attack "$NS_X" flood-keys --duration 20
keys_pid=$BG_PID
ping_ok "$NS_A" 10.0.0.2 40 2
ping_ok "$NS_B" 10.0.0.1 40 2
bg_wait "$keys_pid" || fail "flood-keys failed: $(cat "$LOGDIR/keys.log")"
sent=$(sed -n 's/^sent=\([0-9]*\).*/\1/p' "$LOGDIR/keys.log")
sleep 0.5
dh=$(($(stat_count dh) - dh0))
counted=$(($(reject_count rate_dh_ip) + $(reject_count rate_dh) + $(reject_count bad_mac)))
rss1=$(relay_rss_kb)
log "random keys: $(cat "$LOGDIR/keys.log"); relay: X25519 $dh, counted $counted (rate_dh_ip $(reject_count rate_dh_ip), bad_mac $(reject_count bad_mac)), VmRSS ${rss0} -> ${rss1} kB, registrations $(live_regs)"
((sent >= 100000)) || fail "the flood sent only $sent REGISTERs"
((dh <= 20 + 10 * 25)) || fail "the relay ran $dh X25519 for one IP's flood (budget: 20 + 10/s)"
((counted * 2 >= sent)) || fail "only $counted of $sent flood REGISTERs were counted"
((rss1 - rss0 < 8192)) || fail "relay VmRSS grew by $((rss1 - rss0)) kB"
wait_registered 1 "$PA" "$A_ADDR:51820" "$PB" "$B_ADDR:51820" ||
	fail "A or B lost its registration in the flood:
$(relay_status | grep -v '^key')"

log "2: REGISTERs from 10,000 forged sources"
cs0=$(stat_count cookies_sent)
rc0=$(reject_count rate_cookie)
bg spoof attack "$NS_X" flood-keys --spoof 10000 --duration 5
spoof_pid=$BG_PID
ping_ok "$NS_A" 10.0.0.2 20 2
bg_wait "$spoof_pid" || fail "spoofed flood failed: $(cat "$LOGDIR/spoof.log")"
sent=$(sed -n 's/^sent=\([0-9]*\).*/\1/p' "$LOGDIR/spoof.log")
sleep 0.5
cs=$(($(stat_count cookies_sent) - cs0))
rc=$(($(reject_count rate_cookie) - rc0))
rss2=$(relay_rss_kb)
log "spoofed sources: $(cat "$LOGDIR/spoof.log"); relay: cookies_sent $cs, rate_cookie $rc, ip_slot_evictions $(stat_count ip_slot_evictions), send_errors $(stat_count send_errors), VmRSS ${rss2} kB"
(((cs + rc) * 2 >= sent)) || fail "only $((cs + rc)) of $sent spoofed REGISTERs were counted"
((cs <= 20000 * 6 + 40 * 10000)) || fail "the relay sent $cs COOKIEs in 5 s"
(($(stat_count ip_slot_evictions) > 0)) || fail "10,000 sources did not recycle a per-IP slot"
((rss2 - rss0 < 8192)) || fail "relay VmRSS grew by $((rss2 - rss0)) kB"
wait_registered 1 "$PA" "$A_ADDR:51820" "$PB" "$B_ADDR:51820" ||
	fail "A or B lost its registration in the spoofed flood"

log "3: relay restart"
bg ping-restart ip netns exec "$NS_A" ping -n -i 0.2 -W 1 10.0.0.2
ping_pid=$BG_PID
sleep 0.5
_stop_pid "$RELAY_PID"
RELAY_TIME_SCALE=10 relay_start relay2
t0=$(date +%s%N)
wait_registered 15 "$PA" "$A_ADDR:51820" "$PB" "$B_ADDR:51820" ||
	fail "A and B not registered again within 15 s of the restart:
$(relay_status | grep -v '^reject')"
t_rereg=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
# Lifetimes run 10 times faster now: a registration may lapse and come back in between.
ping_ok "$NS_A" 10.0.0.2 5 2
_stop_pid "$ping_pid"
log "restart: A and B registered again ${t_rereg}s after the relay came back"

log "4: registration lifetime (30 s, scaled to 3 s)"
exp0=$(stat_count expired)
out=$(attack "$NS_X" register --count 1) || fail "register failed"
[[ $out == acked=1* ]] || fail "X's key was not registered: $out"
xkey=$(sed -n 's/.* keys=\([^ ,]*\).*/\1/p' <<<"$out")
[[ -n $(key_addr "$xkey") ]] || fail "X's key is not in the relay's status"
t0=$(date +%s%N)
for ((i = 0; i < 60; i++)); do
	[[ -z $(key_addr "$xkey") ]] && break
	sleep 0.1
done
t_exp=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
[[ -z $(key_addr "$xkey") ]] || fail "X's key still registered 6 s after its last REGISTER"
awk -v t="$t_exp" 'BEGIN { exit !(t >= 2.0) }' || fail "X's key expired after ${t_exp}s, before its 3 s lifetime"
(($(stat_count expired) > exp0)) || fail "the expiry was not counted"
log "expiry: X's key gone ${t_exp}s after its only REGISTER (lifetime 3 s at scale 10)"

impl_alive "$IF_A"
impl_alive "$IF_B"
log "RESULT limits: flood VmRSS ${rss0} -> ${rss1} -> ${rss2} kB; re-registered ${t_rereg}s after a restart; expiry after ${t_exp}s"
