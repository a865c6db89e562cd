#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_roaming: B roams while it keeps sending; A follows.
# A is at 10.10.0.11 (veth 1, 10.10.0.0/24); veth 2 (10.10.3.0/24) is B's
# second way there (B routes 10.10.0.11 via A's 10.10.3.11 after the move).
# One address per side, so which source address A answers from does not
# matter here (t_multihome checks that).  B pings A every 100 ms while
#   step 1: B's address on veth 1 changes from 10.10.0.12 to 10.10.0.22;
#   step 2: B moves to veth 2 (10.10.3.12) and veth 1 goes down.
# After each step A's `wg show endpoints` shows B's new address, and pings
# work both ways; the continuous ping loses at most a few packets per move.
# Step 0 first changes B's listen port (a NAT rebinding seen from A).
#
# Debian's wireguard-go (0.0.20220316) as B cannot roam this way on its own:
# it pins the source address it last used (IP_PKTINFO) and clears it only on
# EINVAL, while this kernel answers ENETUNREACH for a vanished source address,
# so it never sends again.  Only when B is wireguard-go the test re-sets B's
# endpoint after each move (that clears its pinned source); tinescale, like
# kernel WireGuard, must cope without that help.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root

NS_A=$PFX-a
NS_B=$PFX-b
IF_A=${PFX}wa
IF_B=${PFX}wb
ns_create "$NS_A" "$NS_B"
veth "$NS_A" "${PFX}1" "$NS_B" "${PFX}1"
veth "$NS_A" "${PFX}2" "$NS_B" "${PFX}2"
assign_addr "$NS_A" "${PFX}1" 10.10.0.11/24
assign_addr "$NS_A" "${PFX}2" 10.10.3.11/24
# Keep 10.10.0.22 when the primary 10.10.0.12 goes away.
ip netns exec "$NS_B" sysctl -qw "net.ipv4.conf.${PFX}1.promote_secondaries=1"
assign_addr "$NS_B" "${PFX}1" 10.10.0.12/24
keypair a b
PA=$(pub a)
PB=$(pub b)
conf_ini "$CONFDIR/a.conf" a 51820 "$PB" 10.0.0.2/32 10.10.0.12:51820 -
conf_ini "$CONFDIR/b.conf" b 51820 "$PA" 10.0.0.1/32 10.10.0.11:51820 -
IMPL=$TS_IMPL_A impl_start "$NS_A" "$IF_A" "$CONFDIR/a.conf" --address 10.0.0.1/24
IMPL=$TS_IMPL_B impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --address 10.0.0.2/24
ping_ok "$NS_B" 10.0.0.1 3
ping_ok "$NS_A" 10.0.0.2 3
[[ $(wg_endpoint "$IF_A" "$PB") == 10.10.0.12:51820 ]] ||
	fail "A's endpoint for B is $(wg_endpoint "$IF_A" "$PB") before roaming"

# wait_endpoint WANT: A's endpoint for B becomes WANT within 5 s.
wait_endpoint() {
	local i
	for ((i = 0; i < 50; i++)); do
		[[ $(wg_endpoint "$IF_A" "$PB") == "$1" ]] && return 0
		sleep 0.1
	done
	fail "A's endpoint for B is $(wg_endpoint "$IF_A" "$PB"), expected $1 after B roamed"
}

# B's helper for the old wireguard-go only (see the header).
nudge_b() {
	[[ $TS_IMPL_B == wireguard-go ]] || return 0
	wg set "$IF_B" peer "$PA" endpoint 10.10.0.11:51820
}

bg ping-roam ip netns exec "$NS_B" ping -n -i 0.1 -W 1 -w 14 10.0.0.1
ping_pid=$BG_PID
sleep 1

log "step 0: B's listen port 51820 -> 51821"
wg set "$IF_B" listen-port 51821
wait_endpoint 10.10.0.12:51821
ping_ok "$NS_A" 10.0.0.2 3

log "step 1: B's address 10.10.0.12 -> 10.10.0.22"
assign_addr "$NS_B" "${PFX}1" 10.10.0.22/24
ip -n "$NS_B" addr del 10.10.0.12/24 dev "${PFX}1"
nudge_b
wait_endpoint 10.10.0.22:51821
sleep 2
ping_ok "$NS_A" 10.0.0.2 3

log "step 2: B moves to veth 2 (10.10.3.12), veth 1 loses its address and goes down"
assign_addr "$NS_B" "${PFX}2" 10.10.3.12/24
ip -n "$NS_B" route replace 10.10.0.11/32 via 10.10.3.11
ip -n "$NS_B" addr flush dev "${PFX}1"
ip -n "$NS_B" link set "${PFX}1" down
nudge_b
wait_endpoint 10.10.3.12:51821
ping_ok "$NS_A" 10.0.0.2 3

bg_wait "$ping_pid" || true
summary=$(grep 'packets transmitted' "$LOGDIR/ping-roam.log") || fail "continuous ping did not finish"
tx=$(awk '{print $1}' <<<"$summary")
rx=$(awk '{print $4}' <<<"$summary")
log "continuous ping B -> A: $summary"
# Three moves; a packet or two per move may be in flight on a vanished address.
((tx >= 120 && tx - rx <= 6)) || fail "continuous ping during roaming lost too much: $summary"
ping_ok "$NS_B" 10.0.0.1 3
impl_alive "$IF_A"
impl_alive "$IF_B"
