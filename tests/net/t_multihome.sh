#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_multihome: a multi-homed host answers from the address it was reached on.
# A has a public address 192.0.2.1 (on lo) besides its veth address
# 10.10.0.11; B knows A only as 192.0.2.1:51820.  If A answered from
# 10.10.0.11 (the kernel's default source for that route), B would move its
# endpoint for A there (the endpoint is the source of the last authenticated
# packet) and lose A as soon as only 192.0.2.1 is reachable (firewall, NAT,
# another route).  Kernel WireGuard and wireguard-go keep the source address
# of each peer's packets ("sticky sockets"); so must tinescale.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root

two_hosts
IF_A=${PFX}wa
IF_B=${PFX}wb
assign_addr "$NS_A" lo 192.0.2.1/32
ip -n "$NS_B" route add 192.0.2.1/32 via 10.10.0.11
keypair a b
PA=$(pub a)
PB=$(pub b)
conf_ini "$CONFDIR/a.conf" a 51820 "$PB" 10.0.0.2/32 - -
conf_ini "$CONFDIR/b.conf" b 51820 "$PA" 10.0.0.1/32 192.0.2.1:51820 -
IMPL=$TS_IMPL_A impl_start "$NS_A" "$IF_A" "$CONFDIR/a.conf" --address 10.0.0.1/24
IMPL=$TS_IMPL_B impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --address 10.0.0.2/24

# B initiates (A has no endpoint for B), A learns B's endpoint and answers.
ping_ok "$NS_B" 10.0.0.1 5
ping_ok "$NS_A" 10.0.0.2 5
[[ $(wg_endpoint "$IF_A" "$PB") == 10.10.0.12:51820 ]] ||
	fail "A did not learn B's endpoint: $(wg_endpoint "$IF_A" "$PB")"
ep=$(wg_endpoint "$IF_B" "$PA")
[[ $ep == 192.0.2.1:51820 ]] ||
	fail "A answered B from another address: B's endpoint for A moved from 192.0.2.1:51820 to $ep"

# Now only 192.0.2.1 may reach B: anything A sends from 10.10.0.11 is dropped.
ip netns exec "$NS_B" nft -f - <<NFT
table inet ${PFX} {
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr 10.10.0.11 meta l4proto udp drop
	}
}
NFT
ping_ok "$NS_A" 10.0.0.2 5
ping_ok "$NS_B" 10.0.0.1 5
impl_alive "$IF_A"
impl_alive "$IF_B"
