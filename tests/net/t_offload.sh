#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_offload: bulk TCP through the tunnel over the TUN offloads (TSO
# super-packets cut in userspace, segments coalesced on the way in), checked
# by sha256 at the far end, each way:
#   tinescale both sides, MTU 1420, IPv4 in IPv4: 200 MB each way, and the
#     TUN's status shows offloads on, super-packets split and merged;
#   tinescale both sides, MTU 1280, IPv6 in IPv6, and MTU 8920 (jumbo veth);
#   against Debian's wireguard-go (offloads on);
#   A with a plain TUN (TINESCALE_TUN_OFFLOAD=0) against B with offloads.
# Each round also sends 20,000 UDP datagrams each way in bursts of equal
# sizes (udp_check.py): every one that arrives must be whole and alone (a
# coalescer that joined, cut or mixed datagrams shows as bad), at least half
# must arrive, and a tinescale receiver whose kernel has USO must have
# written some of them as UDP super-packets (its merged count rises).
# TS_OFFLOAD_MB (default 200) and TS_OFFLOAD_SMALL_MB (default 30) size them.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ncat sha256sum
# TS_OFFLOAD_UPSTREAM=1 (t_offload_upstream.sh): only the round against
# upstream wireguard-go, which is not a Debian package: skipped, and shown
# as skipped, where its binary is absent.
UPSTREAM_ONLY=${TS_OFFLOAD_UPSTREAM:-0}
if ((UPSTREAM_ONLY)); then
	[[ -x $TS_WGGO_UPSTREAM ]] ||
		skip "upstream wireguard-go not found at $TS_WGGO_UPSTREAM (set TS_WGGO_UPSTREAM)"
fi

PLAIN_A=0
BIG=${TS_OFFLOAD_MB:-200}
SMALL=${TS_OFFLOAD_SMALL_MB:-30}
NS_A=$PFX-a
NS_B=$PFX-b
ns_create "$NS_A" "$NS_B"
veth "$NS_A" "${PFX}o" "$NS_B" "${PFX}o"
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set "${PFX}o" mtu 9000; done
assign_addr "$NS_A" "${PFX}o" 10.10.0.11/24 fd00::1/64
assign_addr "$NS_B" "${PFX}o" 10.10.0.12/24 fd00::2/64
keypair a b
DATA=$(mktemp -d /tmp/t_offload.XXXXXX)
TS_ATEXIT+=("rm -rf $DATA")
head -c "${BIG}M" /dev/urandom >"$DATA/big"
head -c "${SMALL}M" "$DATA/big" >"$DATA/small"
SUM_BIG=$(sha256sum <"$DATA/big")
SUM_SMALL=$(sha256sum <"$DATA/small")

# xfer FROM_NS TO_NS TO_ADDR FILE SUM WHAT: send FILE over TCP, compare the sha256
# the receiver computed.
xfer() {
	local from=$1 to=$2 addr=$3 file=$4 want=$5 what=$6 port=$((7000 + RANDOM % 1000)) i
	local got=$LOGDIR/recv-$RANDOM.sha t0 t1
	bg "ncat-recv-$to" ip netns exec "$to" bash -c \
		"ncat -l --recv-only '$addr' $port | sha256sum >'$got'"
	local rpid=$BG_PID
	for ((i = 0; i < 50; i++)); do
		ip netns exec "$to" ss -Hltn "sport = :$port" | grep -q . && break
		sleep 0.1
	done
	((i < 50)) || fail "$what: ncat did not listen on $addr:$port"
	t0=$(date +%s.%N)
	timeout 60 ip netns exec "$from" ncat --send-only "$addr" $port <"$file" ||
		fail "$what: sending failed"
	bg_wait "$rpid" || fail "$what: receiver failed"
	t1=$(date +%s.%N)
	[[ $(cat "$got") == "$want" ]] ||
		fail "$what: sha256 differs (got $(cat "$got"), want $want)"
	log "$what: $(du -m "$file" | cut -f1) MB intact in $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s"
}

# merged_of IF: the "merged" count in a tinescale interface's status (0 without offloads).
merged_of() {
	local st
	st=$("$TS_BUILD/tinescale" ctl "$1" status | grep 'tun offloads:') || {
		echo 0
		return
	}
	[[ $st =~ merged\ ([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
}

# udp_xfer FROM_NS TO_NS TO_ADDR SIZE TO_IF WHAT: 20,000 datagrams of about SIZE
# bytes; TO_IF is the receiver's interface if it is tinescale (else empty).
udp_xfer() {
	local from=$1 to=$2 addr=$3 size=$4 toif=$5 what=$6 port=$((8000 + RANDOM % 1000))
	local name=udp-recv-$RANDOM m0=0 m1 uso=0 i res out
	if [[ -n $toif ]]; then
		m0=$(merged_of "$toif")
		"$TS_BUILD/tinescale" ctl "$toif" status | grep -q 'tun offloads:.* uso' && uso=1
	fi
	bg "$name" ip netns exec "$to" "$TS_PY" "$TS_SRC/tests/net/udp_check.py" \
		recv "$addr" "$port" "$size" 2
	local rpid=$BG_PID
	out=$LOGDIR/$name.log
	for ((i = 0; i < 50; i++)); do
		grep -q ready "$out" && break
		sleep 0.1
	done
	((i < 50)) || fail "$what: UDP receiver not ready"
	ip netns exec "$from" "$TS_PY" "$TS_SRC/tests/net/udp_check.py" send "$addr" "$port" \
		20000 "$size" >/dev/null || fail "$what: UDP sender failed"
	bg_wait "$rpid" || fail "$what: UDP receiver failed"
	res=$(tail -n 1 "$out")
	[[ $res =~ got=([0-9]+)\ bad=([0-9]+) ]] || fail "$what: UDP receiver said '$res'"
	((BASH_REMATCH[2] == 0)) || fail "$what: UDP datagrams joined, cut or mixed: $res"
	((BASH_REMATCH[1] >= 10000)) || fail "$what: under half the UDP datagrams arrived: $res"
	if ((uso)); then
		m1=$(merged_of "$toif")
		((m1 > m0)) || fail "$what: the receiver has USO but merged no UDP ($m0 -> $m1)"
	fi
	log "$what: UDP $res of 20000, receiver merged ${m1:-n/a} (was $m0, uso $uso)"
}

# round N IMPL_B MTU OUTER(4|6) INNER(4|6) FILE SUM: both ways through a fresh tunnel.
round() {
	local n=$1 implb=$2 mtu=$3 outer=$4 inner=$5 file=$6 sum=$7
	local ia=${PFX}a$n ib=${PFX}b$n epa=10.10.0.11:51820 epb=10.10.0.12:51820
	local aa=10.0.0.1 ab=10.0.0.2 plen=24 host=32
	[[ $outer == 6 ]] && epa="[fd00::1]:51820" epb="[fd00::2]:51820"
	[[ $inner == 6 ]] && aa=fd10::1 ab=fd10::2 plen=64 host=128
	conf_ini "$CONFDIR/a$n.conf" a 51820 "$(pub b)" "$ab/$host" "$epb" -
	conf_ini "$CONFDIR/b$n.conf" b 51820 "$(pub a)" "$aa/$host" "$epa" -
	if ((PLAIN_A)); then
		TINESCALE_TUN_OFFLOAD=0 IMPL=tinescale impl_start "$NS_A" "$ia" "$CONFDIR/a$n.conf" \
			--mtu "$mtu" --address "$aa/$plen"
	else
		IMPL=tinescale impl_start "$NS_A" "$ia" "$CONFDIR/a$n.conf" --mtu "$mtu" \
			--address "$aa/$plen"
	fi
	IMPL=$implb impl_start "$NS_B" "$ib" "$CONFDIR/b$n.conf" --mtu "$mtu" --address "$ab/$plen"
	ping_ok "$NS_A" "$ab" 5
	local what="round $n (B: $implb, MTU $mtu, IPv$inner in IPv$outer)"
	xfer "$NS_A" "$NS_B" "$ab" "$file" "$sum" "$what A->B"
	xfer "$NS_B" "$NS_A" "$aa" "$file" "$sum" "$what B->A"
	local st side=A sif=$ia
	if ((PLAIN_A)); then
		! "$TS_BUILD/tinescale" ctl "$ia" status | grep 'tun offloads:' ||
			fail "$what: A has offloads with TINESCALE_TUN_OFFLOAD=0"
		side=B sif=$ib
	fi
	st=$("$TS_BUILD/tinescale" ctl "$sif" status | grep 'tun offloads:') ||
		fail "$what: no TUN offloads in $side's status"
	log "$what: $side's $st"
	# Both directions moved bulk TCP: super-packets were cut and coalesced, none refused.
	[[ $st =~ split\ ([0-9]+),\ merged\ ([0-9]+),\ refused\ ([0-9]+) ]] ||
		fail "$what: unreadable status: $st"
	((BASH_REMATCH[1] > 0 && BASH_REMATCH[2] > 0 && BASH_REMATCH[3] == 0)) ||
		fail "$what: offloads unused or refusing: $st"
	local uia=$ia uib=$ib
	((PLAIN_A)) && uia=
	[[ $implb == tinescale ]] || uib=
	udp_xfer "$NS_A" "$NS_B" "$ab" $((mtu - 100)) "$uib" "$what A->B"
	udp_xfer "$NS_B" "$NS_A" "$aa" $((mtu - 100)) "$uia" "$what B->A"
	impl_alive "$ia"
	impl_alive "$ib"
	impl_stop "$ia"
	impl_stop "$ib"
}

if ((UPSTREAM_ONLY)); then
	round 5 wireguard-go-upstream 1420 6 4 "$DATA/small" "$SUM_SMALL"
	log "transfers with upstream wireguard-go intact"
	exit 0
fi
round 1 tinescale 1420 4 4 "$DATA/big" "$SUM_BIG"
round 2 tinescale 1280 6 6 "$DATA/small" "$SUM_SMALL"
round 3 tinescale 8920 4 4 "$DATA/small" "$SUM_SMALL"
round 4 wireguard-go 1420 4 4 "$DATA/small" "$SUM_SMALL"
# A plain TUN (no IFF_VNET_HDR) on A against offloads on B.
PLAIN_A=1 round 6 tinescale 1420 4 4 "$DATA/small" "$SUM_SMALL"
log "all transfers intact"
