#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_cookie: the cookie mechanism under load (whitepaper 5.4.7).  An attacker
# X floods A (tinescale) with initiations that carry a valid mac1 but junk
# inside.  A must (1) notice it is under load and answer the flood with
# cookie replies instead of doing Diffie-Hellman for each, and (2) still let
# a legitimate peer B (wireguard-go) in: B gets a cookie reply, retries with
# mac2, and its handshake completes while the flood goes on.
: "${TS_IMPL_B:=wireguard-go}"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root

two_hosts
IF_A=${PFX}wa
IF_B=${PFX}wb
attacker_host "$NS_A"
keypair a b
PA=$(pub a)
PB=$(pub b)
conf_ini "$CONFDIR/a.conf" a 51820 "$PB" 10.0.0.2/32 10.10.0.12:51820 -
conf_ini "$CONFDIR/b.conf" b 51820 "$PA" 10.0.0.1/32 10.10.0.11:51820 -
IMPL=$TS_IMPL_A impl_start "$NS_A" "$IF_A" "$CONFDIR/a.conf" --address 10.0.0.1/24
IMPL=$TS_IMPL_B impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --address 10.0.0.2/24

log "flooding A with valid-mac1 junk initiations for 14 s"
bg flood ip netns exec "$NS_X" "$TS_PY" "$TS_SRC/tests/net/cookie_flood.py" 10.10.9.11 51820 "$PA" 14
flood_pid=$BG_PID
sleep 1.5
# B's first initiation meets the flood: it gets a cookie reply and must come
# back with mac2 on its retry (REKEY_TIMEOUT later).
log "B pings A during the flood"
ip netns exec "$NS_B" ping -n -c 1 -W 1 10.0.0.1 >/dev/null 2>&1 || true
wait_handshake "$NS_B" "$IF_B" "$PA"
kill -0 "$flood_pid" 2>/dev/null || fail "the flood ended before B's handshake: the test proves nothing"
ping_ok "$NS_B" 10.0.0.1 3
bg_wait "$flood_pid" || fail "the flooder failed: $(cat "$LOGDIR/flood.log")"
read -r _ sent _ cookies < <(grep '^sent ' "$LOGDIR/flood.log") || fail "no flood summary"
log "flood: $sent initiations sent, $cookies cookie replies received"
((sent > 10000)) || fail "the flood was too weak to load A ($sent initiations)"
((cookies > 100)) || fail "A answered $sent junk initiations with only $cookies cookie replies"
impl_alive "$IF_A"
ping_ok "$NS_A" 10.0.0.2 3
