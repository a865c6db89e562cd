#!/usr/bin/env bash
# scripts/demo.sh: tinescale's live demo, the seed's experiment with plugins.
#
# Two network namespaces (tsdemo1, tsdemo2) joined by a veth, addressed as
# the seed's two containers were (10.10.0.11 and 10.10.0.12), one tinescale
# in each, configured from configs/peer1.ipc and configs/peer2.ipc, tunnel
# addresses 10.0.0.1 and 10.0.0.2.  Peer 1 runs configs/debug.yaml (hexdump
# on the plaintext hooks): a ping shows its decrypted ICMP.  Then a live
# reload to configs/capture.yaml (pcap-writer), another ping, and tshark's
# summary of the capture.  Then everything is removed.
#
# Owns nothing but the names tsdemo1/tsdemo2 (namespaces, interfaces, their
# sockets) and a private temporary directory.  Every process it starts is
# killed by PID and every namespace deleted on exit, error, Ctrl-C or TERM.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/demo.sh [--build DIR]

tinescale's live demo (root; about 5 seconds; non-interactive):
two peers in network namespaces tsdemo1/tsdemo2, configured from
configs/peer1.ipc and configs/peer2.ipc; peer 1 runs the hexdump plugin
(configs/debug.yaml) and you see the decrypted ICMP of a ping; then a live
reload to pcap-writer (configs/capture.yaml), another ping, and tshark's
summary of the capture.  Everything it created is removed at the end, also
on Ctrl-C.

  --build DIR   the build directory holding tinescale and plugins/
                (default: build/ in the source tree)
  -h, --help    this text

Needs: a build (cmake -S . -B build && cmake --build build), and the
packages scripts/deps.sh installs (iproute2, iputils-ping, tshark).
EOF
}

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$SRC/build
while (($#)); do
	case $1 in
	--build)
		(($# >= 2)) || {
			echo "demo.sh: --build needs a directory" >&2
			exit 2
		}
		BUILD=$2
		shift 2
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "demo.sh: unknown argument '$1' (see --help)" >&2
		exit 2
		;;
	esac
done

NS1=tsdemo1 NS2=tsdemo2 # namespace and WireGuard interface names alike
VETH=tsdemo-veth        # the "cable", one end in each namespace
TS=$BUILD/tinescale
declare -a PIDS=() # every background process we started
declare -a NETNS=() # every namespace we created
TMP=

if [[ -t 1 ]]; then
	B=$'\e[1m' D=$'\e[2m' N=$'\e[0m'
else
	B='' D='' N=''
fi
STEP=0
section() { # TITLE WHY...
	STEP=$((STEP + 1))
	printf '\n%s== %d. %s ==%s\n' "$B" "$STEP" "$1" "$N"
	shift
	local l
	for l in "$@"; do printf '%s   %s%s\n' "$D" "$l" "$N"; done
}
cmdline() { # print a command as a reader would type it (quoted where needed)
	local a out=
	for a in "$@"; do
		# Redirections and '&' are shown as the shell would run them.
		[[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ || $a =~ ^2?\>[^\ ]+$ || $a == '&' ]] ||
			a=$(printf '%q' "$a")
		out+=" $a"
	done
	printf '%s$%s%s\n' "$B" "$out" "$N"
}
run() { # print the command, then run it with its output indented
	cmdline "$@"
	"$@" 2>&1 | sed 's/^/   | /'
}
die() {
	printf 'demo.sh: %s\n' "$*" >&2
	exit 1
}

# --- preflight: everything checked before anything is created ------------
[[ $(id -u) == 0 ]] ||
	die "needs root (network namespaces and TUN devices): sudo scripts/demo.sh"
for c in ip ping tshark wg; do
	command -v "$c" >/dev/null ||
		die "'$c' is not installed: run scripts/deps.sh (as root) first"
done
[[ -x $TS ]] || die "$TS not found: build first (cmake -S . -B build && cmake --build build -j), or pass --build DIR"
BUILD=$(cd "$BUILD" && pwd)
TS=$BUILD/tinescale
for p in hexdump pcap-writer; do
	[[ -f $BUILD/plugins/$p.so ]] || die "$BUILD/plugins/$p.so not found: the build is incomplete"
done
for f in peer1.ipc peer2.ipc debug.yaml capture.yaml; do
	[[ -r $SRC/configs/$f ]] || die "configs/$f missing in $SRC"
done
[[ -c /dev/net/tun ]] || die "/dev/net/tun missing: load the tun module (modprobe tun)"
for ns in "$NS1" "$NS2"; do
	if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
		die "namespace $ns exists: another demo is running, or one was killed with SIGKILL (remove it: ip netns del $ns)"
	fi
	ip link show "$ns" >/dev/null 2>&1 && die "an interface named $ns exists here; remove it first"
done

# --- cleanup: runs on every exit ------------------------------------------
cleanup() {
	local rc=$? i pid
	trap - EXIT INT TERM
	set +e
	# Newest first.  Only our own children, by PID, and only while they are
	# our running jobs (a reaped PID may belong to someone else by now).
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		pid=${PIDS[i]}
		if jobs -pr | grep -qx "$pid"; then
			cmdline kill -TERM "$pid"
			kill -TERM "$pid" 2>/dev/null
			for _ in {1..30}; do
				jobs -pr | grep -qx "$pid" || break
				sleep 0.1
			done
			jobs -pr | grep -qx "$pid" && kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
	done
	for ns in "${NETNS[@]}"; do
		cmdline ip netns del "$ns"
		ip netns del "$ns" 2>/dev/null
	done
	# A daemon that had to be SIGKILLed cannot remove its sockets.
	rm -f "/var/run/wireguard/$NS1.sock" "/var/run/wireguard/$NS2.sock" \
		"/var/run/tinescale/$NS1.ctl" "/var/run/tinescale/$NS2.ctl"
	if [[ -n $TMP ]]; then
		cmdline rm -rf "$TMP"
		rm -rf "$TMP"
	fi
	if ((rc == 0)); then
		printf '\n%sDone: namespaces, processes and files removed.%s\n' "$B" "$N"
	else
		printf '\ndemo.sh: stopped (status %d); namespaces, processes and files removed.\n' "$rc" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TMP=$(mktemp -d /tmp/tsdemo.XXXXXX)
# tinescale drops root once its sockets exist: as its user ("tinescale", or
# "nobody" when there is none) it reads the pipelines here and writes the
# capture here.
if id -u tinescale >/dev/null 2>&1; then chown tinescale "$TMP"; else chown nobody "$TMP"; fi

# yaml_copy SRC DST [PCAP]: SRC with its plugin_path replaced by our build's
# plugins directory (and pcap-writer's `path:` by PCAP), so the demo works
# with any --build and never writes outside its temporary directory.
yaml_copy() {
	awk -v pdir="$BUILD/plugins" -v pcap="${3:-}" '
		/^plugin_path:/ { skip = 1; next }
		skip && /^[ \t]*-/ { next }
		{ skip = 0 }
		pcap != "" && /^[ \t]+path:/ { sub(/path:.*/, "path: " pcap) }
		{ print }
		/^version:/ && !done { print "plugin_path: [" pdir "]"; done = 1 }
	' "$1" >"$2"
}

# start NAME NS ARGS...: tinescale in NS, stdout/stderr to $TMP/NAME.{out,log}.
start() {
	local name=$1 ns=$2 i
	shift 2
	cmdline ip netns exec "$ns" "$TS" -f "$@" "$ns" ">$TMP/$name.out" "2>$TMP/$name.log" "&"
	ip netns exec "$ns" "$TS" -f "$@" "$ns" >"$TMP/$name.out" 2>"$TMP/$name.log" </dev/null &
	PIDS+=("$!")
	printf '   started %s (pid %d)\n' "$name" "$!"
	for i in {1..100}; do # until its link is up with its address (10 s)
		grep -q 'inet ' <<<"$(ip -n "$ns" -o addr show dev "$ns" 2>/dev/null)" && return 0
		jobs -pr | grep -qx "${PIDS[-1]}" || break
		sleep 0.1
	done
	cat "$TMP/$name.log" >&2
	die "tinescale for $ns did not come up (log above)"
}

# ping3: three pings from peer 1 to peer 2 through the tunnel; all must answer.
ping3() {
	run ip netns exec "$NS1" ping -n -c 3 -i 0.3 -W 2 10.0.0.2 && return 0
	printf '\n   peer 1 log:\n' >&2
	sed 's/^/   | /' "$TMP/peer1.log" >&2
	printf '\n   peer 2 log:\n' >&2
	sed 's/^/   | /' "$TMP/peer2.log" >&2
	die "the ping through the tunnel failed (daemon logs above)"
}

# show_new FILE OFFSET: what FILE gained past byte OFFSET.
show_new() {
	tail -c +"$(($2 + 1))" "$1" | sed 's/^/   | /'
}
size() { stat -c %s "$1"; }

section "Two hosts: network namespaces $NS1 and $NS2, joined by a veth" \
	"Like the seed's two containers: outer addresses 10.10.0.11 and 10.10.0.12."
for ns in "$NS1" "$NS2"; do
	run ip netns add "$ns"
	NETNS+=("$ns")
	run ip -n "$ns" link set lo up
done
run ip link add "$VETH" netns "$NS1" type veth peer name "$VETH" netns "$NS2"
run ip -n "$NS1" addr add 10.10.0.11/24 dev "$VETH"
run ip -n "$NS2" addr add 10.10.0.12/24 dev "$VETH"
run ip -n "$NS1" link set "$VETH" up
run ip -n "$NS2" link set "$VETH" up

section "Start tinescale in each namespace" \
	"Keys, peer and endpoint from configs/peerN.ipc (the seed's files); --address" \
	"gives the tunnel interface 10.0.0.N/24 and sets it up.  Peer 1 also loads a" \
	"plugin pipeline: configs/debug.yaml, hexdump on plaintext_out/plaintext_in." \
	"(Run from a copy in $TMP whose plugin_path points at $BUILD/plugins.)"
yaml_copy "$SRC/configs/debug.yaml" "$TMP/debug.yaml"
diff -u --label configs/debug.yaml --label "$TMP/debug.yaml" \
	"$SRC/configs/debug.yaml" "$TMP/debug.yaml" | sed 's/^/   | /' || true
start peer1 "$NS1" --ipc "$SRC/configs/peer1.ipc" --address 10.0.0.1/24 \
	--pipeline "$TMP/debug.yaml"
start peer2 "$NS2" --ipc "$SRC/configs/peer2.ipc" --address 10.0.0.2/24
run "$TS" ctl "$NS1" plugins

section "Ping through the tunnel; hexdump shows the packets in plaintext" \
	"plaintext_out: what peer 1 encrypts (echo request), plaintext_in: what it" \
	"decrypted (echo reply).  On the wire between the namespaces there is only" \
	"WireGuard ciphertext.  The first ping also triggers the handshake."
off=$(size "$TMP/peer1.out")
ping3
sleep 0.5 # hexdump writes from its own thread, every 20 ms
printf '\n   peer 1'\''s stdout (hexdump):\n'
show_new "$TMP/peer1.out" "$off"
run wg show "$NS1"

section "Live reload: swap hexdump for pcap-writer while the tunnel runs" \
	"configs/capture.yaml: pcap-writer on all four hooks.  The new pipeline is" \
	"built aside and published with one pointer swap: no packet lost, the" \
	"WireGuard session untouched.  (Its path: is $TMP/capture.pcapng here.)"
yaml_copy "$SRC/configs/capture.yaml" "$TMP/capture.yaml" "$TMP/capture.pcapng"
diff -u --label configs/capture.yaml --label "$TMP/capture.yaml" \
	"$SRC/configs/capture.yaml" "$TMP/capture.yaml" | sed 's/^/   | /' || true
run "$TS" ctl "$NS1" reload "$TMP/capture.yaml"

section "Remove and re-add the peer, then ping again" \
	"So that the capture holds a fresh handshake too: a removed peer loses its" \
	"session, and the next packet starts a new handshake (initiation, response)."
cmdline wg show "$NS1" peers
pub2=$(wg show "$NS1" peers | head -n 1)
printf '   | %s\n' "$pub2"
run wg set "$NS1" peer "$pub2" remove
run wg addconf "$NS1" "$SRC/configs/peer1.conf"
ping3
sleep 0.5 # pcap-writer flushes whole blocks every 20 ms

section "tshark's summary of the capture" \
	"One pcapng interface per hook: ciphertext_out/ciphertext_in hold WireGuard" \
	"messages (handshake, transport data), plaintext_out/plaintext_in the ICMP."
# One line per packet: the hook (the pcapng interface), protocol, summary.
cmdline tshark -r "$TMP/capture.pcapng" -T fields -e frame.interface_name -e _ws.col.Protocol \
	-e _ws.col.Info
tshark -r "$TMP/capture.pcapng" -T fields -e frame.interface_name -e _ws.col.Protocol \
	-e _ws.col.Info 2>&1 | grep -v 'Running as user "root"' | sed 's/^/   | /'

section "Clean up" "Stop both daemons by PID, delete the namespaces and the temporary files."
# (cleanup, on EXIT, prints each command it runs)
