# shellcheck shell=bash
# tests/net/natlab.sh: the NAT traversal lab of DESIGN.md section 7, sourced
# after lib.sh by the t_nat_*.sh scenarios (issue 5).
#
#            "internet" namespace $NS_INET (ip_forward=1)
#             lo: 192.0.2.1, 192.0.2.2  coturn turnserver, STUN only (:3478 each)
#                 192.0.2.3             tinescale-relay (:3478)
#             ${PFX}ia / ${PFX}ib: 198.51.100.254/32, routes to each NAT's WAN
#               |                                   |
#   NAT A $NS_RA  WAN ${PFX}w 198.51.100.1    NAT B $NS_RB  WAN ${PFX}w 198.51.100.2
#                 LAN ${PFX}l 10.1.0.1/24                   LAN ${PFX}l 10.2.0.1/24
#               |                                   |
#   host A $NS_HA ${PFX}e 10.1.0.2/24         host B $NS_HB ${PFX}e 10.2.0.2/24
#     tinescale $IF_A, tunnel 10.0.0.1/24       tinescale $IF_B, tunnel 10.0.0.2/24
#
# NAT modes (nftables, LAB-NOTES.md): eim = `masquerade` (keeps the source
# port, one mapping per inside address:port for every destination:
# endpoint-independent); edm = `masquerade fully-random` (a new random port
# per destination: endpoint-dependent, "symmetric").  Both filter: whatever
# arrives on the WAN without a conntrack entry is dropped (input and forward
# hooks), as real NATs do.  Without that drop two Linux NATs cannot be
# punched at all (the first probe leaves a confirmed conntrack entry on the
# other NAT and its own outbound mapping then clashes: LAB-NOTES.md).
#
# The hosts know each other's public key and tunnel address only: no
# Endpoint.  Their pipeline is configs/nat.yaml with the lab's relay key and
# the build's plugin directory filled in.
#
# Functions: natlab_up MODE_A MODE_B, natlab_cut / natlab_uncut (drop the
# direct path between the two WAN addresses inside the internet namespace),
# and queries: ts_status, if_note, peer_note, peer_endpoint, relay_pair,
# relay_stat, wait_peer_note, first_ping, iperf_run, now_s.

NAT_WAN_A=198.51.100.1
NAT_WAN_B=198.51.100.2
NAT_GW=198.51.100.254
STUN1=192.0.2.1
STUN2=192.0.2.2
RELAY_ADDR=192.0.2.3
RELAY_PORT=3478
TUN_A=10.0.0.1
TUN_B=10.0.0.2

NS_INET=$PFX-inet
NS_RA=$PFX-ra
NS_RB=$PFX-rb
NS_HA=$PFX-ha
NS_HB=$PFX-hb
IF_A=${PFX}na
IF_B=${PFX}nb
RELAY_CTL=$LOGDIR/relay.ctl

# now_s: seconds since the epoch with milliseconds; now_ms: in milliseconds.
now_s() { date +%s.%3N; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# elapsed T0: seconds since T0, with one decimal.
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }

# _nat_rules MODE: the router's ruleset (WAN interface ${PFX}w).
_nat_rules() {
	local rand=""
	[[ $1 == edm ]] && rand=" fully-random"
	cat <<EOF
table ip natlab {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "${PFX}w" masquerade$rand
	}
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "${PFX}w" ct state established,related accept
		iifname "${PFX}w" drop
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "${PFX}w" ct state established,related accept
		iifname "${PFX}w" drop
	}
}
EOF
}

# _router NS WAN_ADDR INET_IF LAN_PREFIX MODE: a NAT router and its host.
_router() {
	local ns=$1 wan=$2 iif=$3 lan=$4 mode=$5 host=$6
	veth "$NS_INET" "$iif" "$ns" "${PFX}w"
	ip -n "$NS_INET" addr add "$NAT_GW/32" dev "$iif"
	ip -n "$NS_INET" route add "$wan/32" dev "$iif" src "$NAT_GW"
	ip -n "$ns" addr add "$wan/32" dev "${PFX}w"
	ip -n "$ns" route add "$NAT_GW/32" dev "${PFX}w" src "$wan"
	ip -n "$ns" route add default via "$NAT_GW" dev "${PFX}w" src "$wan"
	veth "$ns" "${PFX}l" "$host" "${PFX}e"
	ip -n "$ns" addr add "$lan.1/24" dev "${PFX}l"
	ip -n "$host" addr add "$lan.2/24" dev "${PFX}e"
	ip -n "$host" route add default via "$lan.1"
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
	_nat_rules "$mode" | ip netns exec "$ns" nft -f - ||
		fail "nft rules for $ns ($mode) rejected"
}

# _pipeline OUT: configs/nat.yaml with this lab's relay key and plugin dir.
_pipeline() {
	local out=$1 src=$TS_SRC/configs/nat.yaml
	[[ -r $src ]] || fail "$src missing"
	sed -e "s|^plugin_path:.*|plugin_path: [$TS_BUILD/plugins]|" \
		-e "s|relay_public_key:.*|relay_public_key: $(pub relay)|" "$src" >"$out"
	grep -q "relay_public_key: $(pub relay)" "$out" || fail "could not fill in $out"
}

# natlab_up MODE_A MODE_B: build everything, start coturn, the relay and both
# daemons.  Sets NATLAB_T0 (the moment both daemons are up), PA, PB.
# With NATLAB_START_CUT=1 the direct path is cut (natlab_cut) from the start;
# NATLAB_RELAY_ARGS (word-split) go to tinescale-relay (bench.sh raises --rate).
natlab_up() {
	local mode_a=$1 mode_b=$2 i
	local -a relay_args=()
	read -ra relay_args <<<"${NATLAB_RELAY_ARGS:-}"
	require_root
	require_cmd nft turnserver iperf3 ping wg
	[[ -x $TS_BUILD/tinescale-relay ]] || fail "$TS_BUILD/tinescale-relay is not built"
	for i in relay-redirect nat-probe; do
		[[ -r $TS_BUILD/plugins/$i.so ]] || fail "$TS_BUILD/plugins/$i.so is not built"
	done
	ns_create "$NS_INET" "$NS_RA" "$NS_RB" "$NS_HA" "$NS_HB"
	ip -n "$NS_INET" addr add "$STUN1/32" dev lo
	ip -n "$NS_INET" addr add "$STUN2/32" dev lo
	ip -n "$NS_INET" addr add "$RELAY_ADDR/32" dev lo
	ip netns exec "$NS_INET" sysctl -qw net.ipv4.ip_forward=1
	_router "$NS_RA" "$NAT_WAN_A" "${PFX}ia" 10.1.0 "$mode_a" "$NS_HA"
	_router "$NS_RB" "$NAT_WAN_B" "${PFX}ib" 10.2.0 "$mode_b" "$NS_HB"
	log "lab: NAT A $mode_a ($NAT_WAN_A), NAT B $mode_b ($NAT_WAN_B)"

	# coturn, STUN only, on both addresses; its own empty config, database, pidfile.
	: >"$CONFDIR/turnserver.conf"
	bg turnserver ip netns exec "$NS_INET" turnserver -n -c "$CONFDIR/turnserver.conf" -S \
		-L "$STUN1" -L "$STUN2" -p 3478 --no-cli --no-tls --no-dtls \
		--userdb "$CONFDIR/turnserver.db" --pidfile "$CONFDIR/turnserver.pid" \
		--log-file stdout
	keypair relay a b
	PA=$(pub a)
	PB=$(pub b)
	bg relay ip netns exec "$NS_INET" "$TS_BUILD/tinescale-relay" \
		--listen "$RELAY_ADDR:$RELAY_PORT" --key "$CONFDIR/relay.key" --ctl "$RELAY_CTL" \
		--log-level debug -f "${relay_args[@]}"
	for ((i = 0; i < 50; i++)); do
		ip netns exec "$NS_INET" ss -Hlun "sport = :3478" >"$LOGDIR/.ss"
		grep -q "$STUN1:3478" "$LOGDIR/.ss" && grep -q "$STUN2:3478" "$LOGDIR/.ss" &&
			grep -q "$RELAY_ADDR:3478" "$LOGDIR/.ss" && [[ -S $RELAY_CTL ]] && break
		sleep 0.1
	done
	((i < 50)) || fail "STUN or relay not listening after 5 s: $(cat "$LOGDIR/.ss")"

	# Peers: public key and allowed IPs only, no endpoint, no keepalive.
	conf_ini "$CONFDIR/a.conf" a 51820 "$PB" "$TUN_B/32" - -
	conf_ini "$CONFDIR/b.conf" b 51820 "$PA" "$TUN_A/32" - -
	_pipeline "$CONFDIR/nat.yaml"
	# NATLAB_START_CUT=1: the direct path is cut before the daemons start.
	[[ ${NATLAB_START_CUT:-0} == 1 ]] && natlab_cut
	local -a mtu=()
	[[ -n ${NATLAB_MTU:-} ]] && mtu=(--mtu "$NATLAB_MTU")
	impl_start "$NS_HA" "$IF_A" "$CONFDIR/a.conf" --address "$TUN_A/24" \
		--pipeline "$CONFDIR/nat.yaml" "${mtu[@]}"
	impl_start "$NS_HB" "$IF_B" "$CONFDIR/b.conf" --address "$TUN_B/24" \
		--pipeline "$CONFDIR/nat.yaml" "${mtu[@]}"
	# shellcheck disable=SC2034 # read by the t_nat_*.sh scripts
	NATLAB_T0=$(now_s)
}

# natlab_cut / natlab_uncut: drop (or stop dropping) everything between the
# two NATs' WAN addresses in the internet namespace; the relay stays reachable.
natlab_cut() {
	ip netns exec "$NS_INET" nft -f - <<EOF
table ip natcut {
	chain forward {
		type filter hook forward priority filter; policy accept;
		ip saddr $NAT_WAN_A ip daddr $NAT_WAN_B drop
		ip saddr $NAT_WAN_B ip daddr $NAT_WAN_A drop
	}
}
EOF
}
natlab_uncut() { ip netns exec "$NS_INET" nft delete table ip natcut; }

# ts_status IF: `tinescale ctl IF status`.
ts_status() { "$TS_BUILD/tinescale" ctl "$1" status; }

# if_note IF KEY: an interface note's value (empty if none).
if_note() {
	ts_status "$1" 2>/dev/null | awk -v k="  $2: " '
		/^peer: / { exit }
		index($0, k) == 1 { print substr($0, length(k) + 1); exit }'
}

# peer_note IF PEERKEY KEY: a peer's note (or "endpoint") from ctl status.
peer_note() {
	ts_status "$1" 2>/dev/null | awk -v p="peer: $2" -v k="  $3: " '
		/^peer: / { inpeer = ($0 == p) }
		inpeer && index($0, k) == 1 { print substr($0, length(k) + 1); exit }'
}

# wait_peer_note IF PEERKEY KEY VALUE TIMEOUT_S: until the note equals VALUE.
wait_peer_note() {
	local ifn=$1 peer=$2 k=$3 want=$4 end
	end=$(($(now_ms) + $5 * 1000))
	while (($(now_ms) < end)); do
		[[ $(peer_note "$ifn" "$peer" "$k") == "$want" ]] && return 0
		sleep 0.1
	done
	return 1
}

# relay_pair SRCKEY DSTKEY: packets the relay forwarded from SRC to DST (0 if none).
relay_pair() {
	local n
	n=$("$TS_BUILD/tinescale-relay" status --ctl "$RELAY_CTL" |
		awk -v s="$1" -v d="$2" '$1 == "pair" && $2 == s && $4 == d { print $6 }')
	echo "${n:-0}"
}

# relay_stat NAME: one `stat` counter of the relay (0 if absent).
relay_stat() {
	local n
	n=$("$TS_BUILD/tinescale-relay" status --ctl "$RELAY_CTL" |
		awk -v k="$1" '$1 == "stat" && $2 == k { print $3 }')
	echo "${n:-0}"
}

# first_ping NS ADDR TIMEOUT_S: ping once a 0.2 s until one answer; prints
# the seconds it took (fails after TIMEOUT_S).
first_ping() {
	local ns=$1 addr=$2 t0 end
	t0=$(now_s)
	end=$(($(now_ms) + $3 * 1000))
	while (($(now_ms) < end)); do
		if ip netns exec "$ns" ping -n -c 1 -W 0.3 "$addr" >/dev/null 2>&1; then
			elapsed "$t0"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# iperf_run NS_SERVER ADDR NS_CLIENT SECONDS LABEL: a TCP iperf3 run through the
# tunnel; logs and prints the receiver's Mbit/s.
iperf_run() {
	local nss=$1 addr=$2 nsc=$3 secs=$4 label=$5 out mbps
	iperf_server "$nss" "$addr"
	local spid=$BG_PID
	out=$(ip netns exec "$nsc" timeout $((secs + 10)) iperf3 -c "$addr" -t "$secs" -J 2>&1) ||
		fail "iperf3 ($label) failed: $(tail -n 20 <<<"$out")"
	bg_wait "$spid" || true
	mbps=$(/usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
print("%.0f" % (d["end"]["sum_received"]["bits_per_second"] / 1e6))' <<<"$out") ||
		fail "iperf3 ($label): unreadable result"
	log "iperf3 $label: $mbps Mbit/s over ${secs}s"
	echo "$mbps"
}
