#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_interop_wggo: tinescale (side A) against Debian's wireguard-go (side B).
# Each side takes a turn as handshake initiator (fresh daemons, no keepalive,
# the first packet sent from that side); a capture on the veth proves who sent
# the first initiation.  Then ping both ways and a 10 s iperf3 TCP run through
# the tunnel (round 1 A->B, round 2 B->A) that must never stall.
: "${TS_IMPL_B:=wireguard-go}"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd iperf3 tshark dumpcap

MIN_MBIT=${TS_MIN_MBIT:-10}
two_hosts
keypair a b

# round N INITIATOR(a|b): start both daemons afresh, send first from INITIATOR.
round() {
	local n=$1 who=$2 ia=${PFX}a$1 ib=${PFX}b$1
	conf_ini "$CONFDIR/a.conf" a 51820 "$(pub b)" 10.0.0.2/32 10.10.0.12:51820 -
	conf_ini "$CONFDIR/b.conf" b 51820 "$(pub a)" 10.0.0.1/32 10.10.0.11:51820 -
	capture_start "$NS_A" "${PFX}o" "round$n"
	local cap_pid=$BG_PID
	IMPL=$TS_IMPL_A impl_start "$NS_A" "$ia" "$CONFDIR/a.conf" --address 10.0.0.1/24
	IMPL=$TS_IMPL_B impl_start "$NS_B" "$ib" "$CONFDIR/b.conf" --address 10.0.0.2/24
	# Nothing may have been sent before the chosen initiator's first packet.
	[[ $(hs_time "$ia") == 0 && $(hs_time "$ib") == 0 ]] ||
		fail "round $n: a handshake happened before any traffic"
	if [[ $who == a ]]; then
		ping_ok "$NS_A" 10.0.0.2 5
		ping_ok "$NS_B" 10.0.0.1 5
	else
		ping_ok "$NS_B" 10.0.0.1 5
		ping_ok "$NS_A" 10.0.0.2 5
	fi
	wait_handshake "$NS_A" "$ia"
	wait_handshake "$NS_B" "$ib"
	sleep 0.5
	_stop_pid "$cap_pid"
	local first
	first=$(wg_initiators "round$n" | head -n1)
	local want=10.10.0.11
	[[ $who == b ]] && want=10.10.0.12
	[[ $first == "$want" ]] ||
		fail "round $n: first handshake initiation came from '${first:-nobody}', expected $want ($who)"
	log "round $n: $who ($want) initiated, as intended"

	local client=$NS_A server=$NS_B saddr=10.0.0.2
	if [[ $who == b ]]; then client=$NS_B server=$NS_A saddr=10.0.0.1; fi
	iperf_server "$server" "$saddr"
	local srv=$BG_PID res=$LOGDIR/iperf-round$n.json
	ip netns exec "$client" iperf3 -c "$saddr" -t 10 -i 1 --json >"$res" 2>&1 ||
		fail "round $n: iperf3 client failed: $(head -c 2000 "$res")"
	bg_wait "$srv" || true
	local r
	r=$("$TS_PY" "$TS_SRC/tests/net/iperf_check.py" "$res" "$MIN_MBIT") ||
		fail "round $n ($client -> $saddr): $r"
	log "round $n: iperf3 TCP $client -> $saddr: $r (Mbit/s, retransmits)"
	impl_alive "$ia"
	impl_alive "$ib"
	impl_stop "$ia"
	impl_stop "$ib"
}

log "side A: $TS_IMPL_A, side B: $TS_IMPL_B"
round 1 a
round 2 b
