#!/usr/bin/env bash
# docker/entrypoint.sh: what a tinescale container runs, chosen by ROLE.
#
#   ROLE=peer (default)  tinescale in the foreground; it creates the TUN,
#                        applies the config, adds ADDR and sets the link up
#                        itself (--address), so there is nothing to wait for.
#       IFACE      interface name (required), e.g. wg0
#       ADDR       tunnel address(es) in CIDR, space-separated (required), e.g. 10.0.0.1/24
#       IPC_FILE   WireGuard "set" text (default /etc/tinescale/config.ipc), or
#       CONFIG_FILE  a `wg setconf` INI file instead
#       PIPELINE   optional YAML plugin pipeline
#       GATEWAY    optional: default route via this address (a NAT router)
#       LOG_LEVEL  optional: error, warn, info, debug
#   ROLE=relay           tinescale-relay in the foreground.
#       RELAY_LISTEN  ADDR:PORT (default 0.0.0.0:3478)
#       RELAY_KEY     its private key file, as `wg genkey` writes it (required)
#   ROLE=router          a NAT router: nftables masquerade from every other
#                        interface out of the one holding WAN_ADDR; unsolicited
#                        packets arriving on the WAN are dropped, as a home
#                        router does.  Needs net.ipv4.ip_forward=1 (compose: sysctls).
#       WAN_ADDR   this container's address on the "public" network (required)
#       NAT_MODE   eim (default): port-preserving masquerade, one mapping per
#                  inside address:port for every destination (endpoint-independent);
#                  edm (or symmetric): `masquerade fully-random`, a new port per
#                  destination (endpoint-dependent).  Same names and rules as
#                  tests/net/natlab.sh.
#   ROLE=stun            coturn's turnserver as a STUN-only server (RFC 8489 Binding).
#       STUN_PORT  default 3478; listens on every global IPv4 address of the container
#
# Every check fails with one line on stderr saying what to set, and exit 1.
set -euo pipefail

die() {
	echo "entrypoint: $*" >&2
	exit 1
}

need_tun() {
	[[ -c /dev/net/tun ]] ||
		die "/dev/net/tun missing: run with --device /dev/net/tun --cap-add NET_ADMIN (compose: devices: [/dev/net/tun], cap_add: [NET_ADMIN])"
}

# The container's global IPv4 addresses, one per line.
global_ipv4() {
	ip -o -4 addr show scope global | awk '{ sub(/\/.*/, "", $4); print $4 }'
}

role_peer() {
	local -a args=(-f) addrs=()
	local a
	[[ -n ${IFACE:-} ]] || die "IFACE is not set (the tunnel interface name, e.g. IFACE=wg0)"
	[[ -n ${ADDR:-} ]] || die "ADDR is not set (the tunnel address in CIDR, e.g. ADDR=10.0.0.1/24)"
	need_tun
	if [[ -n ${CONFIG_FILE:-} ]]; then
		[[ -r $CONFIG_FILE ]] || die "CONFIG_FILE $CONFIG_FILE is not readable (mount it into the container)"
		args+=(--config "$CONFIG_FILE")
	else
		IPC_FILE=${IPC_FILE:-/etc/tinescale/config.ipc}
		[[ -r $IPC_FILE ]] || die "IPC_FILE $IPC_FILE is not readable (mount the peer's .ipc file there, or set IPC_FILE)"
		args+=(--ipc "$IPC_FILE")
	fi
	read -r -a addrs <<<"$ADDR"
	for a in "${addrs[@]}"; do
		args+=(--address "$a")
	done
	if [[ -n ${PIPELINE:-} ]]; then
		[[ -r $PIPELINE ]] || die "PIPELINE $PIPELINE is not readable"
		args+=(--pipeline "$PIPELINE")
	fi
	[[ -n ${LOG_LEVEL:-} ]] && args+=(--log-level "$LOG_LEVEL")
	if [[ -n ${GATEWAY:-} ]]; then
		ip route replace default via "$GATEWAY" ||
			die "cannot route via GATEWAY $GATEWAY (is it on one of this container's networks?)"
	fi
	echo "entrypoint: tinescale ${args[*]} $IFACE" >&2
	exec tinescale "${args[@]}" "$IFACE"
}

role_relay() {
	local listen=${RELAY_LISTEN:-0.0.0.0:3478}
	[[ -n ${RELAY_KEY:-} ]] || die "RELAY_KEY is not set (a private key file from \`wg genkey\`)"
	[[ -r $RELAY_KEY ]] || die "RELAY_KEY $RELAY_KEY is not readable (mount it into the container)"
	echo "entrypoint: tinescale-relay --listen $listen --key $RELAY_KEY" >&2
	exec tinescale-relay --listen "$listen" --key "$RELAY_KEY"
}

role_router() {
	local wan="" lan=() ifn mode=${NAT_MODE:-eim} masq
	[[ -n ${WAN_ADDR:-} ]] || die "WAN_ADDR is not set (this router's address on the public network)"
	case $mode in
	eim) masq="masquerade" ;;
	edm | symmetric) masq="masquerade fully-random" ;;
	*) die "NAT_MODE '$mode': expected eim, or edm (symmetric)" ;;
	esac
	wan=$(ip -o -4 addr show | awk -v a="$WAN_ADDR" '{ split($4, p, "/") } p[1] == a { print $2; exit }')
	[[ -n $wan ]] || die "no interface holds WAN_ADDR $WAN_ADDR (addresses here: $(global_ipv4 | tr '\n' ' '))"
	while read -r ifn; do
		[[ $ifn != "$wan" && $ifn != lo ]] && lan+=("$ifn")
	done < <(ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }')
	((${#lan[@]})) || die "no LAN interface: attach the router to a private network too"
	if [[ $(cat /proc/sys/net/ipv4/ip_forward) != 1 ]]; then
		echo 1 >/proc/sys/net/ipv4/ip_forward 2>/dev/null ||
			die "IP forwarding is off and /proc/sys is read-only: set sysctls: {net.ipv4.ip_forward: 1} in compose"
	fi
	# nft 1.0.6 wants a ruleset on several lines (see the LAB-NOTES of the design documents).
	nft -f - <<EOF || die "nft rejected the NAT ruleset"
table ip tsnat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "$wan" $masq
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname != "$wan" oifname "$wan" accept
	}
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "$wan" ct state established,related accept
		iifname "$wan" drop
	}
}
EOF
	echo "entrypoint: NAT router ($mode): ${lan[*]} -> $wan ($WAN_ADDR)" >&2
	# Nothing runs in a router but the kernel: wait for `docker stop`.
	local sleeper
	sleep infinity &
	sleeper=$!
	trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM INT
	wait "$sleeper"
}

role_stun() {
	local port=${STUN_PORT:-3478} a n=0
	# -n: no /etc/turnserver.conf; -S: STUN only, no TURN allocations.
	local -a args=(-n -S --no-cli --no-tls --no-dtls --listening-port "$port"
		--userdb /tmp/turndb --pidfile /tmp/turnserver.pid --log-file stdout --simple-log)
	while read -r a; do
		args+=(-L "$a")
		n=$((n + 1))
	done < <(global_ipv4)
	((n)) || die "no global IPv4 address to listen on"
	echo "entrypoint: turnserver ${args[*]}" >&2
	exec turnserver "${args[@]}"
}

case ${ROLE:-peer} in
peer) role_peer ;;
relay) role_relay ;;
router) role_router ;;
stun) role_stun ;;
*) die "ROLE '${ROLE}': expected peer, relay, router or stun" ;;
esac
