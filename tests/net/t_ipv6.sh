#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_ipv6: outer IPv6 (fd00::1 and fd00::2 on the veth, endpoints
# [fd00::2]:51820 / [fd00::1]:51820), inner IPv6 (fd10::1/64, fd10::2/64) and
# inner IPv4 (10.0.0.1/24, 10.0.0.2/24) in the same tunnel.  Pings both ways
# in both families, then full-MTU packets (1420, don't fragment): with the
# 80-byte IPv6+UDP+WireGuard overhead they exactly fill the 1500-byte veth.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root

NS_A=$PFX-a
NS_B=$PFX-b
IF_A=${PFX}wa
IF_B=${PFX}wb
ns_create "$NS_A" "$NS_B"
veth "$NS_A" "${PFX}o" "$NS_B" "${PFX}o"
assign_addr "$NS_A" "${PFX}o" fd00::1/64
assign_addr "$NS_B" "${PFX}o" fd00::2/64
keypair a b
PA=$(pub a)
PB=$(pub b)
conf_ini "$CONFDIR/a.conf" a 51820 "$PB" "10.0.0.2/32, fd10::2/128" "[fd00::2]:51820" -
conf_ini "$CONFDIR/b.conf" b 51820 "$PA" "10.0.0.1/32, fd10::1/128" "[fd00::1]:51820" -
IMPL=$TS_IMPL_A impl_start "$NS_A" "$IF_A" "$CONFDIR/a.conf" --mtu 1420 \
	--address 10.0.0.1/24 --address fd10::1/64
IMPL=$TS_IMPL_B impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --mtu 1420 \
	--address 10.0.0.2/24 --address fd10::2/64

ping_ok "$NS_A" fd10::2 5
ping_ok "$NS_B" fd10::1 5
ping_ok "$NS_A" 10.0.0.2 5
ping_ok "$NS_B" 10.0.0.1 5
wait_handshake "$NS_A" "$IF_A" "$PB"
[[ $(wg_endpoint "$IF_A" "$PB") == "[fd00::2]:51820" ]] ||
	fail "A's endpoint for B is $(wg_endpoint "$IF_A" "$PB"), expected [fd00::2]:51820"
[[ $(wg_endpoint "$IF_B" "$PA") == "[fd00::1]:51820" ]] ||
	fail "B's endpoint for A is $(wg_endpoint "$IF_B" "$PA"), expected [fd00::1]:51820"
[[ $(ip -n "$NS_A" -o link show "$IF_A") == *" mtu 1420 "* ]] ||
	fail "--mtu 1420 not applied: $(ip -n "$NS_A" -o link show "$IF_A")"

# Full-size packets, DF set: 1420 - 20 (IPv4) - 8 (ICMP) and 1420 - 40 - 8.
out=$(ip netns exec "$NS_A" ping -n -c 3 -i 0.2 -W 2 -M "do" -s 1392 10.0.0.2 2>&1) ||
	fail "1420-byte IPv4 packets over outer IPv6 do not pass: $out"
out=$(ip netns exec "$NS_B" ping -n -c 3 -i 0.2 -W 2 -M "do" -s 1372 fd10::1 2>&1) ||
	fail "1420-byte IPv6 packets over outer IPv6 do not pass: $out"
log "full-MTU pings pass both families"
# Nothing went over outer IPv4 (there is none), and both daemons live.
impl_alive "$IF_A"
impl_alive "$IF_B"
