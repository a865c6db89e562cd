#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_wgquick: `WG_QUICK_USERSPACE_IMPLEMENTATION=tinescale wg-quick up FILE`
# brings A's interface up from a wg-quick file (Address, MTU, peers, routes),
# the tunnel to B works, and `wg-quick down` removes the interface, which
# makes the daemon exit and remove its UAPI socket.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd wg-quick
[[ $TS_IMPL_A == tinescale ]] || skip "side A must be tinescale"

two_hosts
IF_A=${PFX}q
IF_B=${PFX}wb
keypair a b
conf_ini "$CONFDIR/b.conf" b 51820 "$(pub a)" 10.0.0.1/32 10.10.0.11:51820 -
IMPL=$TS_IMPL_B impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --address 10.0.0.2/24
# wg-quick names the interface after the file.
cat >"$CONFDIR/$IF_A.conf" <<CONF
[Interface]
PrivateKey = $(key a)
ListenPort = 51820
Address = 10.0.0.1/24
MTU = 1380

[Peer]
PublicKey = $(pub b)
AllowedIPs = 10.0.0.2/32, 10.77.0.0/16
Endpoint = 10.10.0.12:51820
CONF
chmod 600 "$CONFDIR/$IF_A.conf"
# The daemon forks away: make sure it goes even if the test fails midway.
TS_ATEXIT+=("ip -n $NS_A link del $IF_A 2>/dev/null")
# wg-quick runs `tinescale IFNAME`: put our build first on its PATH.
ip netns exec "$NS_A" env PATH="$TS_BUILD:$PATH" WG_QUICK_USERSPACE_IMPLEMENTATION=tinescale \
	wg-quick up "$CONFDIR/$IF_A.conf" >"$LOGDIR/wg-quick-up.log" 2>&1 ||
	fail "wg-quick up failed: $(cat "$LOGDIR/wg-quick-up.log")"
grep -q "^\[#\] tinescale $IF_A" "$LOGDIR/wg-quick-up.log" ||
	fail "wg-quick did not start tinescale: $(cat "$LOGDIR/wg-quick-up.log")"
[[ $(ip -n "$NS_A" -o link show "$IF_A") == *"mtu 1380"* ]] || fail "MTU 1380 not applied"
grep -q "dev $IF_A" <<<"$(ip -n "$NS_A" route show 10.77.0.0/16)" || fail "wg-quick's route for the allowed IPs is missing"
ping_ok "$NS_A" 10.0.0.2 3
ping_ok "$NS_B" 10.0.0.1 3
[[ $(wg show "$IF_A" latest-handshakes | awk '{print $2}') != 0 ]] || fail "no handshake on $IF_A"
pid=$(ip netns exec "$NS_A" ss -Hxlp "src /var/run/wireguard/$IF_A.sock" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
[[ -n $pid ]] || fail "no process listens on /var/run/wireguard/$IF_A.sock"
ip netns exec "$NS_A" wg-quick down "$CONFDIR/$IF_A.conf" >"$LOGDIR/wg-quick-down.log" 2>&1 ||
	fail "wg-quick down failed: $(cat "$LOGDIR/wg-quick-down.log")"
for ((i = 0; i < 50; i++)); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$pid" 2>/dev/null && { kill "$pid"; fail "the daemon ($pid) survived wg-quick down"; }
[[ -e /var/run/wireguard/$IF_A.sock ]] && fail "the UAPI socket survived wg-quick down"
log "wg-quick up/down drove tinescale (pid $pid)"
