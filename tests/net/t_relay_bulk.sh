#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_relay_bulk: a bulk transfer through tinescale-relay arrives intact, and
# whole.  The NAT lab (natlab.sh, two endpoint-independent NATs,
# configs/nat.yaml) with the direct path cut from the start, so the tunnel is
# relayed; then 50 MB of random bytes go B -> A over TCP (ncat) and 10 MB
# A -> B, each compared by sha256 at the receiver.
# Checks beyond the bytes:
#   - the daemons started at MTU 1360: relay-redirect declares the 56 bytes
#     its SEND header adds (wire_overhead), so a full-size relayed datagram
#     still fits a 1500-byte path;
#   - no IP fragment anywhere: no host, NAT or the relay's namespace
#     fragmented or reassembled a packet (nstat IpFragCreates, IpReasmReqds).
#     A 1420-MTU tunnel's relayed datagrams were all sent as two fragments;
#   - the relay counted the frames it forwarded each way, and sent them as
#     UDP GSO trains (stat tx_datagrams: at least 4 frames a send).
# Not a speed test: the rate is printed, never asserted.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=natlab.sh
. "$(dirname "$0")/natlab.sh"
require_cmd ncat sha256sum nstat

NATLAB_START_CUT=1 natlab_up eim eim
wait_peer_note "$IF_A" "$PB" path relay 20 || fail "A's path to B is not the relay"
wait_peer_note "$IF_B" "$PA" path relay 20 || fail "B's path to A is not the relay"
first_ping "$NS_HA" "$TUN_B" 10 >/dev/null || fail "no ping through the relay"
for ifn in "$IF_A" "$IF_B"; do
	link_mtu=$(ip -n "${IF_NS[$ifn]}" -o link show "$ifn" | sed -n 's/.* mtu \([0-9]*\) .*/\1/p')
	[[ $link_mtu == 1360 ]] || fail "$ifn has MTU ${link_mtu:-?}, expected 1360 (1420 less the relay's 56 bytes, to 16)"
done

DATA=$(mktemp -d /tmp/t_relay_bulk.XXXXXX)
TS_ATEXIT+=("rm -rf $DATA")
head -c 50M /dev/urandom >"$DATA/big"
head -c 10M "$DATA/big" >"$DATA/small"

# xfer FROM_NS TO_NS TO_ADDR FILE WHAT: FILE over TCP; the receiver's sha256 must match.
xfer() {
	local from=$1 to=$2 addr=$3 file=$4 what=$5 port=$((7000 + RANDOM % 1000)) i t0 want
	local got=$LOGDIR/recv-$RANDOM.sha
	want=$(sha256sum <"$file")
	bg "ncat-recv-$to" ip netns exec "$to" bash -c \
		"ncat -l --recv-only '$addr' $port | sha256sum >'$got'"
	local rpid=$BG_PID
	for ((i = 0; i < 50; i++)); do
		ip netns exec "$to" ss -Hltn "sport = :$port" | grep -q . && break
		sleep 0.1
	done
	((i < 50)) || fail "$what: ncat did not listen on $addr:$port"
	t0=$(now_s)
	timeout 60 ip netns exec "$from" ncat --send-only "$addr" $port <"$file" ||
		fail "$what: sending failed"
	bg_wait "$rpid" || fail "$what: receiver failed"
	[[ $(cat "$got") == "$want" ]] ||
		fail "$what: sha256 differs (got $(cat "$got"), want $want)"
	log "$what: $(($(stat -c %s "$file") >> 20)) MB intact in $(elapsed "$t0") s"
}

# counter NS NAME: a kernel SNMP counter of the namespace, since it was made.
counter() {
	local v
	v=$(ip netns exec "$1" nstat -asz "$2" | awk -v k="$2" '$1 == k { print $2 }')
	echo "${v:-0}"
}

ba0=$(relay_pair "$PB" "$PA")
ab0=$(relay_pair "$PA" "$PB")
fw0=$(relay_stat forwarded)
tx0=$(relay_stat tx_datagrams)
xfer "$NS_HB" "$NS_HA" "$TUN_A" "$DATA/big" "B -> A through the relay"
xfer "$NS_HA" "$NS_HB" "$TUN_B" "$DATA/small" "A -> B through the relay"
ba=$(($(relay_pair "$PB" "$PA") - ba0))
ab=$(($(relay_pair "$PA" "$PB") - ab0))
log "relay forwarded B -> A $ba, A -> B $ab frames"
# 50 MB in frames of at most 1360 bytes of inner packet.
((ba >= (50 << 20) / 1360)) || fail "the relay forwarded only $ba frames B -> A for 50 MB"
((ab >= (10 << 20) / 1360)) || fail "the relay forwarded only $ab frames A -> B for 10 MB"
for ns in "$NS_HA" "$NS_HB" "$NS_RA" "$NS_RB" "$NS_INET"; do
	frag=$(counter "$ns" IpFragCreates)
	reasm=$(counter "$ns" IpReasmReqds)
	((frag == 0 && reasm == 0)) ||
		fail "$ns: $frag IP fragments made, $reasm reassembled: relayed datagrams exceed the path MTU"
done
log "relay: $(counter "$NS_INET" UdpInDatagrams) datagrams in for $((ba + ab)) frames (UDP GRO trains count once)"
# Out as UDP GSO trains: a bulk transfer's frames leave several to a send.
fw=$(($(relay_stat forwarded) - fw0))
tx=$(($(relay_stat tx_datagrams) - tx0))
((tx > 0 && fw >= 4 * tx)) || fail "the relay sent $fw frames in $tx datagrams: no GSO trains"
log "relay: $fw frames out in $tx sends ($((fw / tx)) a send: UDP GSO)"
impl_alive "$IF_A"
impl_alive "$IF_B"
