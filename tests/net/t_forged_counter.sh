#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_forged_counter: forged data messages with counter 2^64-1 cost no ping
# (issue 9, defect 1).
#
# A ($TS_IMPL_A) pings B ($TS_IMPL_B, the target) 200 times at 50 ms.  During
# the run an attacker host X, a third address that reaches B over its own link
# (lib.sh attacker_host), forges 25 data messages, one every 0.3 s: each is 32
# bytes, type 4, the receiver index of a live session of B, counter 2^64-1
# and a garbage tag.  X learns the index the way anyone on the path does: it
# reads the tunnel's veth (an AF_PACKET socket opened in A's namespace on the
# A-B link, forged_counter.py; the on-path view of a router or relay), and
# re-reads it before every forgery, so a renegotiated session is attacked too.
# A message that does not authenticate must change nothing: every ping is
# answered (0 lost), B is alive, and B's `tinescale ctl status` counts the
# forgeries as "bad mac" drops (the counter is checked only after the tag,
# as the kernel and wireguard-go do).
#
# Fails on 145b067 (main before the fix): receive_data() compared the
# counter with REJECT_AFTER_MESSAGES before decrypting and then marked the
# keypair as no longer receiving, so B dropped every later packet of the
# session until A renegotiated it.  Measured there, twice: 20 of 200 pings
# answered (90% lost; the first forgery lands after ping 20) and "bad mac 0".
# The same run with Debian's wireguard-go as B (TS_IMPL_B=wireguard-go):
# 200 of 200 answered.  With the counter checked after the tag (a local
# sketch of the fix, not committed): 200 of 200 and "bad mac 25".
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
"$TS_PY" -c 'import ctypes, socket' 2>/dev/null || fail "$TS_PY cannot run forged_counter.py"

FORGED=25
tunnel_up - # no persistent keepalive
attacker_host "$NS_B"
PA=$(pub a)
ping_ok "$NS_A" 10.0.0.2 3

bg ping ip netns exec "$NS_A" ping -n -c 200 -i 0.05 -W 2 10.0.0.2
ping_pid=$BG_PID
sleep 1
log "forging $FORGED data messages (counter 2^64-1) from X to B during the ping"
ip netns exec "$NS_X" timeout 30 "$TS_PY" "$TS_SRC/tests/net/forged_counter.py" \
	"$NS_A" "${PFX}o" 10.10.0.12 10.10.9.11 51820 "$FORGED" 0.3 \
	>"$LOGDIR/forged.out" 2>&1 || fail "forged_counter.py failed: $(cat "$LOGDIR/forged.out")"
n=$(grep -c '^forged ' "$LOGDIR/forged.out")
((n == FORGED)) || fail "only $n of $FORGED forged messages sent: $(cat "$LOGDIR/forged.out")"
log "forged $n, to receiver indexes (count index): $(awk '{print $4}' "$LOGDIR/forged.out" | uniq -c | xargs)"

# 200 pings at 50 ms end about 12 s after the start; bounded so a stuck ping
# fails here instead of at ctest's timeout.
for ((i = 0; i < 300; i++)); do
	_is_running_job "$ping_pid" || break
	sleep 0.1
done
bg_wait "$ping_pid" || true
summary=$(grep 'packets transmitted' "$LOGDIR/ping.log") || fail "ping did not finish: $(tail -3 "$LOGDIR/ping.log")"
log "ping A -> B during the forgeries: $summary"
tx=$(awk '{print $1}' <<<"$summary")
rx=$(awk '{print $4}' <<<"$summary")
bad=
if [[ $TS_IMPL_B == tinescale ]]; then
	status=$("$TS_BUILD/tinescale" ctl "$IF_B" status) || fail "tinescale ctl $IF_B status failed: $status"
	[[ $status =~ bad\ mac\ ([0-9]+) ]] || fail "B's status shows no bad-mac counter:
$status"
	bad=${BASH_REMATCH[1]}
	log "B's drop counters: $(grep -m1 'dropped:' <<<"$status" | xargs)"
else
	log "B is $TS_IMPL_B: no drop counters to check"
fi
((tx == 200 && rx == tx)) ||
	fail "forged data messages cost pings: $summary (none may be lost; B's bad-mac drops: ${bad:-n/a})"
impl_alive "$IF_A"
impl_alive "$IF_B"
ping_ok "$NS_A" 10.0.0.2 3
[[ -z $bad ]] || ((bad >= FORGED)) ||
	fail "B counted $bad bad-mac drops for $FORGED forged messages (each must fail authentication):
$status"
[[ $(wg_endpoint "$IF_B" "$PA") == 10.10.0.11:51820 ]] ||
	fail "A's endpoint on B moved to $(wg_endpoint "$IF_B" "$PA") (a forgery was taken as authentic)"
