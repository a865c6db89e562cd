#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_seed_ping: the seed's own scenario.  Two peers configured with the seed's
# configs/peer1.ipc and configs/peer2.ipc (--ipc), outer 10.10.0.11/12 on a
# veth pair, inner 10.0.0.1/2 via --address; ping both ways.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root

P1=$TS_SRC/configs/peer1.ipc
P2=$TS_SRC/configs/peer2.ipc
[[ -r $P1 && -r $P2 ]] || fail "configs/peer1.ipc or configs/peer2.ipc missing in $TS_SRC"

two_hosts
IF_A=${PFX}p1
IF_B=${PFX}p2
IMPL=$TS_IMPL_A impl_start "$NS_A" "$IF_A" "$P1" --address 10.0.0.1/24
IMPL=$TS_IMPL_B impl_start "$NS_B" "$IF_B" "$P2" --address 10.0.0.2/24

# The seed's keys: peer1 must know peer2's public key and vice versa.
k2=$(wg show "$IF_B" public-key)
k1=$(wg show "$IF_A" public-key)
grep -qxF "$k2" <<<"$(wg show "$IF_A" peers)" || fail "peer1 does not list peer2's key $k2"
grep -qxF "$k1" <<<"$(wg show "$IF_B" peers)" || fail "peer2 does not list peer1's key $k1"

ping_ok "$NS_A" 10.0.0.2 5
ping_ok "$NS_B" 10.0.0.1 5
wait_handshake "$NS_A" "$IF_A" "$k2"
wait_handshake "$NS_B" "$IF_B" "$k1"
# The seed asks for a keepalive of 15 s: it must be configured.
[[ $(wg show "$IF_A" persistent-keepalive | awk '{print $2}') == 15 ]] ||
	fail "peer1's persistent keepalive is not 15: $(wg show "$IF_A" persistent-keepalive)"
impl_alive "$IF_A"
impl_alive "$IF_B"

# The same file with a NUL byte in it is refused whole (line and reason named),
# and no interface is left behind (tinescale's own contract).
if [[ $TS_IMPL_A == tinescale ]]; then
	BAD=$CONFDIR/nul.ipc
	{ head -n 2 "$P1"; printf '\0\n'; tail -n +3 "$P1"; } >"$BAD"
	if timeout 10 ip netns exec "$NS_A" "$TS_BUILD/tinescale" -f --ipc "$BAD" "${PFX}nul" >"$LOGDIR/nul.log" 2>&1; then
		fail "tinescale accepted an IPC file with a NUL byte"
	fi
	grep -q "line 3: NUL byte" "$LOGDIR/nul.log" || fail "no clear error for the NUL byte: $(cat "$LOGDIR/nul.log")"
	ip -n "$NS_A" link show "${PFX}nul" >/dev/null 2>&1 && fail "${PFX}nul left behind"
	log "an IPC file with a NUL byte is refused"
fi
