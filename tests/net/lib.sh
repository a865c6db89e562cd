# shellcheck shell=bash
# tests/net/lib.sh: the network-namespace lab shared by every tests/net/t_*.sh.
#
# Owns: per-run names, namespace/veth creation, starting and configuring a
# WireGuard implementation (tinescale or wireguard-go) inside a namespace,
# the assertions tests share (ping, handshake, endpoints), per-test logs, and
# the cleanup that leaves no namespace, process or socket behind.
#
# Environment (all optional):
#   TS_SRC      source tree (default: two levels above this file)
#   TS_BUILD    build directory holding ./tinescale (default: $TS_SRC/build)
#   TS_IMPL     implementation for both sides: tinescale (default) | wireguard-go
#               (Debian's, on PATH) | wireguard-go-upstream (TS_WGGO_UPSTREAM)
#   TS_WGGO_UPSTREAM  upstream wireguard-go's binary (with TUN offloads and UDP
#               GSO/GRO); default the anchor in /work/shared/anchors
#   TS_IMPL_A   implementation of side A (the "peer1" side); overrides TS_IMPL
#   TS_IMPL_B   implementation of side B (the "peer2" side); overrides TS_IMPL
#   TS_KEEP_LOGS=1  print every daemon log even when the test passes
#   TS_LOG_LEVEL / TS_WGGO_LOG_LEVEL  the daemons' log levels (default debug /
#               verbose; benchmarks lower them so logging is not what is measured)
#
# Sourcing this file sets `set -euo pipefail` and an EXIT/INT/TERM trap.

set -euo pipefail

TS_SRC=${TS_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TS_BUILD=${TS_BUILD:-$TS_SRC/build}
# Absolute: pipelines written under $LOGDIR name plugins by it, and a relative
# plugin_path is taken from the pipeline file's directory.
[[ -d $TS_BUILD ]] && TS_BUILD=$(cd "$TS_BUILD" && pwd)
TS_IMPL=${TS_IMPL:-tinescale}
TS_IMPL_A=${TS_IMPL_A:-$TS_IMPL}
TS_IMPL_B=${TS_IMPL_B:-$TS_IMPL}
if [[ -z ${TS_WGGO_UPSTREAM:-} ]]; then
	# The anchor sits beside the project's checkout (../shared/anchors).
	TS_WGGO_UPSTREAM=$TS_SRC/../shared/anchors/wireguard-go
	[[ -x $TS_WGGO_UPSTREAM ]] || TS_WGGO_UPSTREAM=/work/shared/anchors/wireguard-go
fi
# scapy comes from Debian's python3-scapy: use the system interpreter, not
# whatever python3 comes first on PATH (pyenv shims have no scapy).
TS_PY=${TS_PY:-/usr/bin/python3}
# The kernel here has WireGuard built in; Debian's wireguard-go refuses to run
# then unless told this.
export WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1
# ThreadSanitizer builds (scripts/test.sh, build-tsan): every report goes to
# the process's stderr, which is its log here, where cleanup() looks for it;
# the process keeps running after a report so one run shows them all, and a
# lock-order inversion shows both acquisitions.  Set TSAN_OPTIONS to override.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0 second_deadlock_stack=1 log_path=stderr}

TEST_NAME=$(basename "$0" .sh)
# Unique per run: /var/run/wireguard/IFNAME.sock is one directory for every
# namespace, so every interface name carries the prefix.  "ts" + at most 6 hex
# digits of the PID (pid_max is 2^22) leaves 7 characters of IFNAMSIZ-1 (15).
PFX=$(printf 'ts%x' $$)
LOGDIR=$TS_BUILD/net-logs/$TEST_NAME
CONFDIR=$LOGDIR/conf
rm -rf "$LOGDIR"
mkdir -p "$LOGDIR" "$CONFDIR"
chmod 700 "$CONFDIR" # private keys (throwaway ones, but still)
# tinescale drops root once its sockets exist (core/daemon/privdrop.h), to
# the user "tinescale" or, when there is none, "nobody".  After the drop it
# reads pipeline files and plugins, and plugins write their captures, as
# that user: it may read $CONFDIR (its key files stay 0600 root) and write
# $LOGDIR, as a user of tinescale would arrange for their own directories.
if id -u tinescale >/dev/null 2>&1; then TS_DAEMON_USER=tinescale; else TS_DAEMON_USER=nobody; fi
# Group-writable, not the daemon user's: root's own tools that give up their
# capabilities (dumpcap) must still write here as its owner.
chgrp "$(id -gn "$TS_DAEMON_USER")" "$LOGDIR"
chmod 775 "$LOGDIR"
chgrp "$(id -gn "$TS_DAEMON_USER")" "$CONFDIR"
chmod 750 "$CONFDIR"

declare -a TS_PIDS=()  # every background process this test started
declare -a TS_NETNS=() # every namespace this test created
declare -A TS_PIDNAME=() # pid -> what it is (for messages)
declare -A IF_PID=() IF_NS=() IF_IMPL=() IF_LOG=()
declare -a TS_ATEXIT=() # commands cleanup runs first (e.g. stop a forked daemon)
BG_PID=

log() { printf '[%s %(%T)T] %s\n' "$TEST_NAME" -1 "$*" >&2; }

# fail MESSAGE: the test failed; the EXIT trap prints the logs and cleans up.
fail() {
	printf '\n[%s] FAIL: %s\n\n' "$TEST_NAME" "$*" >&2
	exit 1
}

# skip MESSAGE: a prerequisite is genuinely impossible here (exit 77).
skip() {
	printf '[%s] SKIP: %s\n' "$TEST_NAME" "$*" >&2
	exit 77
}

require_root() {
	[[ $(id -u) == 0 ]] || skip "network namespaces need root"
	command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
}

require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || fail "$c is not installed (scripts/deps.sh installs it)"
	done
}

dump_logs() {
	local f
	for f in "$LOGDIR"/*.log; do
		[[ -e $f ]] || continue
		printf '\n===== %s (last 60 lines) =====\n' "$f" >&2
		tail -n 60 "$f" >&2 || true
	done
}

# _is_running_job PID: PID is one of this shell's background jobs and has not
# exited.  Once bash has reaped a job its PID may belong to someone else, so
# nothing is ever signalled unless it passes this check.  (`jobs` must run in
# this shell, not a $(...) subshell, hence the file.)
_is_running_job() {
	jobs -pr >"$LOGDIR/.jobs" 2>/dev/null || return 1
	grep -qx "$1" "$LOGDIR/.jobs"
}

_untrack() { # pid
	local i
	for i in "${!TS_PIDS[@]}"; do
		[[ ${TS_PIDS[i]} == "$1" ]] && unset 'TS_PIDS[i]'
	done
	TS_PIDS=("${TS_PIDS[@]}")
}

_stop_pid() { # pid: TERM, then KILL after 3 s; always reaped and untracked
	local pid=$1 i
	if _is_running_job "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 30; i++)); do
			_is_running_job "$pid" || break
			sleep 0.1
		done
		if _is_running_job "$pid"; then
			log "pid $pid (${TS_PIDNAME[$pid]:-?}) ignored SIGTERM, killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	_untrack "$pid"
}

cleanup() {
	local rc=$? pid ns i ifn
	trap - EXIT INT TERM
	set +e
	for i in "${TS_ATEXIT[@]}"; do
		eval "$i"
	done
	# Newest first: traffic generators before the daemons they use.
	for ((i = ${#TS_PIDS[@]} - 1; i >= 0; i--)); do
		_stop_pid "${TS_PIDS[i]}"
	done
	for ns in "${TS_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	# A daemon killed with SIGKILL cannot remove its socket; ours only.
	for ifn in "${!IF_PID[@]}"; do
		rm -f "/var/run/wireguard/$ifn.sock" "/var/run/tinescale/$ifn.ctl"
	done
	# Under a sanitizer build (scripts/test.sh runs net tests against
	# build-asan and build-tsan too) any report in a process's log fails the
	# test; a test that failed anyway names them as well.
	if san=$(grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:|(WARNING|ERROR|FATAL): ThreadSanitizer' \
		"$LOGDIR"/*.log 2>/dev/null); then
		printf '\n[%s] FAIL: sanitizer report in %s\n' "$TEST_NAME" "$san" >&2
		[[ $rc == 0 ]] && rc=1
	fi
	if [[ $rc != 0 && $rc != 77 ]] || [[ ${TS_KEEP_LOGS:-0} == 1 ]]; then
		dump_logs
		printf '\n[%s] logs kept in %s\n' "$TEST_NAME" "$LOGDIR" >&2
	fi
	if [[ $rc == 0 ]]; then
		printf '[%s] PASS\n' "$TEST_NAME" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bg NAME CMD...: start CMD in the background, log to $LOGDIR/NAME.log,
# track it; its PID is left in BG_PID (no subshell, so we can wait for it).
bg() {
	local name=$1
	shift
	"$@" >"$LOGDIR/$name.log" 2>&1 </dev/null &
	BG_PID=$!
	TS_PIDS+=("$BG_PID")
	TS_PIDNAME[$BG_PID]=$name
}

# bg_wait PID: wait for a tracked background job, return its status.
bg_wait() {
	local rc=0
	wait "$1" || rc=$?
	_untrack "$1"
	return "$rc"
}

# ns_create NAME...: new namespaces with lo up, IPv4 forwarding off and
# rp_filter off (explicit: new namespaces do not inherit the host's).
ns_create() {
	local ns
	for ns in "$@"; do
		ip netns add "$ns"
		TS_NETNS+=("$ns")
		ip -n "$ns" link set lo up
		ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.default.rp_filter=0
	done
}

# veth NS1 IF1 NS2 IF2: a veth pair between two namespaces, both ends up.
veth() {
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

# assign_addr NS IF CIDR...: add addresses (IPv6 without DAD, usable at once).
assign_addr() {
	local ns=$1 ifn=$2 a
	shift 2
	for a in "$@"; do
		if [[ $a == *:* ]]; then
			ip -n "$ns" addr add "$a" dev "$ifn" nodad
		else
			ip -n "$ns" addr add "$a" dev "$ifn"
		fi
	done
}

# keypair NAME: $CONFDIR/NAME.key and NAME.pub; `key NAME`/`pub NAME` print them.
keypair() {
	local n
	for n in "$@"; do
		(umask 077 && wg genkey >"$CONFDIR/$n.key")
		wg pubkey <"$CONFDIR/$n.key" >"$CONFDIR/$n.pub"
	done
}
key() { cat "$CONFDIR/$1.key"; }
pub() { cat "$CONFDIR/$1.pub"; }

# impl_check IMPL: fail (not skip) when the implementation is unavailable.
impl_check() {
	case $1 in
	tinescale)
		[[ -x $TS_BUILD/tinescale ]] ||
			fail "build/tinescale missing ($TS_BUILD/tinescale is not built)"
		;;
	wireguard-go) require_cmd wireguard-go wg ;;
	wireguard-go-upstream)
		require_cmd wg
		[[ -x $TS_WGGO_UPSTREAM ]] || fail "upstream wireguard-go missing ($TS_WGGO_UPSTREAM)"
		;;
	*) fail "unknown implementation '$1' (tinescale, wireguard-go or wireguard-go-upstream)" ;;
	esac
}

_sock() { printf '/var/run/wireguard/%s.sock' "$1"; }

# uapi IF: send stdin to the UAPI socket raw, print the reply.
uapi() {
	socat -t 5 - "UNIX-CONNECT:$(_sock "$1")"
}

_alive_or_fail() { # IF
	local ifn=$1 rc
	_is_running_job "${IF_PID[$ifn]}" && return 0
	wait "${IF_PID[$ifn]}" 2>/dev/null && rc=0 || rc=$?
	_untrack "${IF_PID[$ifn]}"
	fail "${IF_IMPL[$ifn]} for $ifn (in ${IF_NS[$ifn]}) exited (status $rc); log: ${IF_LOG[$ifn]}
$(tail -n 40 "${IF_LOG[$ifn]}")"
}

# impl_start NS IFNAME CONFIG [--address CIDR]... [--mtu N] [--pipeline F]
# Starts ${IMPL:-tinescale} for IFNAME inside NS (set IMPL per side:
# `IMPL=$TS_IMPL_A impl_start ...`).  CONFIG ending in .ipc is the UAPI "set"
# text, anything else the `wg setconf` INI format.  tinescale gets them as
# --ipc/--config and does --address itself (that is what is tested); for
# wireguard-go the lab applies config, addresses, MTU and link-up by hand.
# TS_TEST_TIME_SCALE in the environment reaches tinescale only.
# Returns once the socket answers, the link exists, and (with --address)
# is up with its addresses.
impl_start() {
	local ns=$1 ifn=$2 conf=$3 impl=${IMPL:-tinescale}
	shift 3
	local -a addrs=() extra=()
	local mtu="" a i
	while (($#)); do
		case $1 in
		--address) addrs+=("$2"); shift 2 ;;
		--mtu) mtu=$2; shift 2 ;;
		*) extra+=("$1"); shift ;;
		esac
	done
	((${#ifn} <= 15)) || fail "interface name $ifn longer than IFNAMSIZ-1"
	[[ -r $conf ]] || fail "config $conf missing"
	impl_check "$impl"
	local logf=$LOGDIR/$impl-$ifn.log
	IF_NS[$ifn]=$ns
	IF_IMPL[$ifn]=$impl
	IF_LOG[$ifn]=$logf
	rm -f "$(_sock "$ifn")"
	case $impl in
	tinescale)
		local -a args=(-f --log-level "${TS_LOG_LEVEL:-debug}")
		if [[ $conf == *.ipc ]]; then args+=(--ipc "$conf"); else args+=(--config "$conf"); fi
		for a in "${addrs[@]}"; do args+=(--address "$a"); done
		[[ -n $mtu ]] && args+=(--mtu "$mtu")
		args+=("${extra[@]}" "$ifn")
		log "start tinescale in $ns: ${args[*]}"
		bg "tinescale-$ifn" ip netns exec "$ns" env \
			${TS_TEST_TIME_SCALE:+TS_TEST_TIME_SCALE=$TS_TEST_TIME_SCALE} \
			"$TS_BUILD/tinescale" "${args[@]}"
		;;
	wireguard-go | wireguard-go-upstream)
		((${#extra[@]} == 0)) || fail "$impl cannot take ${extra[*]}"
		local bin=wireguard-go
		[[ $impl == wireguard-go-upstream ]] && bin=$TS_WGGO_UPSTREAM
		log "start $impl ($bin) in $ns for $ifn"
		bg "$impl-$ifn" ip netns exec "$ns" env LOG_LEVEL="${TS_WGGO_LOG_LEVEL:-verbose}" \
			"$bin" -f "$ifn"
		;;
	esac
	IF_PID[$ifn]=$BG_PID
	for ((i = 0; i < 100; i++)); do # 10 s
		_alive_or_fail "$ifn"
		[[ -S $(_sock "$ifn") ]] && ip -n "$ns" link show "$ifn" >/dev/null 2>&1 && break
		sleep 0.1
	done
	((i < 100)) || fail "$impl for $ifn: no socket $(_sock "$ifn") or no link after 10 s
$(tail -n 40 "$logf")"
	if [[ $impl == wireguard-go* ]]; then
		if [[ $conf == *.ipc ]]; then
			local reply
			reply=$({ printf 'set=1\n'; grep -v '^[[:space:]]*$' "$conf"; printf '\n'; } | uapi "$ifn")
			[[ $reply == *errno=0* ]] || fail "wireguard-go rejected $conf: $reply"
		else
			wg setconf "$ifn" "$conf" || fail "wg setconf $ifn $conf failed"
		fi
		[[ -n $mtu ]] && ip -n "$ns" link set "$ifn" mtu "$mtu"
		((${#addrs[@]})) && assign_addr "$ns" "$ifn" "${addrs[@]}"
		ip -n "$ns" link set "$ifn" up
	fi
	if ((${#addrs[@]})); then
		for ((i = 0; i < 50; i++)); do # 5 s for tinescale to apply --address
			_alive_or_fail "$ifn"
			# Outputs read whole, not piped into grep -q: with pipefail, grep
			# exiting at the first match can kill ip with SIGPIPE.
			local ok=1 lnk adr
			lnk=$(ip -n "$ns" -o link show "$ifn")
			adr=$(ip -n "$ns" -o addr show dev "$ifn")
			[[ $lnk =~ [\<,]UP[,\>] ]] || ok=0
			for a in "${addrs[@]}"; do
				[[ $adr == *" ${a} "* ]] || ok=0
			done
			((ok)) && break
			sleep 0.1
		done
		((i < 50)) || fail "$impl for $ifn: link not up with ${addrs[*]} after 5 s:
$(ip -n "$ns" addr show dev "$ifn")
$(tail -n 40 "$logf")"
	fi
	wg show "$ifn" >/dev/null || fail "wg show $ifn fails against $impl"
	# A scenario run with TINESCALE_WORKERS (tests/net/CMakeLists.txt) must
	# really exercise the crypto workers: the daemon says how many it runs.
	if [[ $impl == tinescale && -n ${TINESCALE_WORKERS:-} ]]; then
		grep -qF ": ${TINESCALE_WORKERS} crypto worker thread(s)" "$logf" ||
			fail "TINESCALE_WORKERS=$TINESCALE_WORKERS did not reach $ifn's daemon: $(grep 'crypto worker' "$logf")"
	fi
	log "$impl up: $ifn in $ns"
}

# stat_ticks FILE: the user + system clock ticks in a /proc stat file (a
# process's, all its threads: /proc/PID/stat; one thread's:
# /proc/PID/task/TID/stat).  Fields counted past "(comm) ", which may hold spaces.
stat_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$1"; }
# cpu_ticks PID...: the processes' ticks added up.
cpu_ticks() {
	local t=0 p
	for p in "$@"; do
		t=$((t + $(stat_ticks "/proc/$p/stat")))
	done
	echo "$t"
}

# impl_alive IF: fail unless the daemon behind IF is still running.
impl_alive() { _alive_or_fail "$1"; }

# impl_stop IF: stop the daemon (SIGTERM) and check it removed its socket.
impl_stop() {
	local ifn=$1
	_stop_pid "${IF_PID[$ifn]}"
	[[ ! -e $(_sock "$ifn") ]] || fail "${IF_IMPL[$ifn]} left $(_sock "$ifn") behind after SIGTERM"
}

# hs_time IF [PEERKEY]: latest handshake (epoch s) with PEERKEY, or the newest
# of all peers; 0 if none.
hs_time() {
	local ifn=$1 peer=${2:-} t=0 k v
	while read -r k v; do
		[[ -z $peer || $k == "$peer" ]] || continue
		((v > t)) && t=$v
	done < <(wg show "$ifn" latest-handshakes)
	echo "$t"
}

# wait_handshake NS IF [PEERKEY] [TIMEOUT_S] [AFTER]: wait until the latest
# handshake is non-zero (and newer than AFTER, epoch seconds).
wait_handshake() {
	local ns=$1 ifn=$2 peer=${3:-} to=${4:-10} after=${5:-0} i t
	for ((i = 0; i < to * 10; i++)); do
		t=$(hs_time "$ifn" "$peer")
		((t > after)) && return 0
		sleep 0.1
	done
	fail "no handshake on $ifn (in $ns) within ${to}s (after $after):
$(wg show "$ifn")"
}

# ping_ok NS ADDR COUNT [MAX_LOST]: COUNT pings at 0.2 s, at most MAX_LOST
# (default 0) lost.
ping_ok() {
	local ns=$1 addr=$2 count=$3 maxlost=${4:-0} out rx
	out=$(ip netns exec "$ns" ping -n -c "$count" -i 0.2 -W 2 "$addr" 2>&1) || true
	rx=$(sed -n 's/.* \([0-9]\+\) received.*/\1/p' <<<"$out")
	rx=${rx:-0}
	((count - rx <= maxlost)) ||
		fail "ping from $ns to $addr: $rx of $count answered (at most $maxlost may be lost):
$out"
	log "ping $ns -> $addr: $rx/$count"
}

# ping_fails NS ADDR: no answer to 3 pings.
ping_fails() {
	local ns=$1 addr=$2 out
	if out=$(ip netns exec "$ns" ping -n -c 3 -i 0.2 -W 1 "$addr" 2>&1); then
		fail "ping from $ns to $addr answered but should not:
$out"
	fi
	log "ping $ns -> $addr fails, as expected"
}

# wg_endpoint IF PEERKEY: the peer's endpoint as `wg show` prints it.
wg_endpoint() {
	wg show "$1" endpoints | awk -v k="$2" '$1 == k { print $2 }'
}

# wg_transfer IF PEERKEY: "rx tx" bytes.
wg_transfer() {
	wg show "$1" transfer | awk -v k="$2" '$1 == k { print $2, $3 }'
}

# iperf_server NS BINDADDR: iperf3 server for one client run; PID in BG_PID.
iperf_server() {
	local ns=$1 addr=$2 i port=${3:-5201}
	bg "iperf3-server-$ns-$port" ip netns exec "$ns" iperf3 -s -1 -B "$addr" -p "$port"
	for ((i = 0; i < 50; i++)); do
		[[ -n $(ip netns exec "$ns" ss -Hltn "sport = :$port") ]] && return 0
		sleep 0.1
	done
	fail "iperf3 server in $ns did not listen on $addr:$port"
}

# conf_ini FILE PRIVKEY_NAME PORT [PEER_PUB ALLOWED ENDPOINT KEEPALIVE]...
# writes a `wg setconf` file; ENDPOINT or KEEPALIVE may be "-" for none.
conf_ini() {
	local f=$1 k=$2 port=$3
	shift 3
	{
		printf '[Interface]\nPrivateKey = %s\nListenPort = %s\n' "$(key "$k")" "$port"
		while (($# >= 4)); do
			printf '\n[Peer]\nPublicKey = %s\nAllowedIPs = %s\n' "$1" "$2"
			[[ $3 != - ]] && printf 'Endpoint = %s\n' "$3"
			[[ $4 != - ]] && printf 'PersistentKeepalive = %s\n' "$4"
			shift 4
		done
	} >"$f"
	chmod 600 "$f"
}

# two_hosts: namespaces $NS_A/$NS_B joined by one veth named ${PFX}o on both
# sides, outer addresses 10.10.0.11/24 and .12/24 as in the seed.
two_hosts() {
	NS_A=$PFX-a
	NS_B=$PFX-b
	ns_create "$NS_A" "$NS_B"
	veth "$NS_A" "${PFX}o" "$NS_B" "${PFX}o"
	assign_addr "$NS_A" "${PFX}o" 10.10.0.11/24
	assign_addr "$NS_B" "${PFX}o" 10.10.0.12/24
}

# attacker_host NS_TARGET: an attacker namespace $NS_X joined to NS_TARGET by a
# second veth named ${PFX}x on both sides: the target is 10.10.9.11/24 on it,
# X is 10.10.9.66/24.
attacker_host() {
	NS_X=$PFX-x
	ns_create "$NS_X"
	veth "$1" "${PFX}x" "$NS_X" "${PFX}x"
	assign_addr "$1" "${PFX}x" 10.10.9.11/24
	assign_addr "$NS_X" "${PFX}x" 10.10.9.66/24
}

# tunnel_up [KEEPALIVE]: two_hosts, then side A ($TS_IMPL_A, interface $IF_A,
# inner 10.0.0.1/24) and side B ($TS_IMPL_B, $IF_B, 10.0.0.2/24), each with
# the other as its only peer at the seed's endpoints.  Fresh keys a and b.
tunnel_up() {
	local ka=${1:--}
	two_hosts
	IF_A=${PFX}wa
	IF_B=${PFX}wb
	keypair a b
	conf_ini "$CONFDIR/a.conf" a 51820 "$(pub b)" 10.0.0.2/32 10.10.0.12:51820 "$ka"
	conf_ini "$CONFDIR/b.conf" b 51820 "$(pub a)" 10.0.0.1/32 10.10.0.11:51820 "$ka"
	IMPL=$TS_IMPL_A impl_start "$NS_A" "$IF_A" "$CONFDIR/a.conf" --address 10.0.0.1/24
	IMPL=$TS_IMPL_B impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --address 10.0.0.2/24
}

# capture_start NS IF NAME [FILTER]: dumpcap (default filter: udp) on IF into
# $LOGDIR/NAME.pcapng; returns once capturing; PID in BG_PID (stop it with
# _stop_pid).
capture_start() {
	local ns=$1 ifn=$2 name=$3 filter=${4:-udp} i
	bg "dumpcap-$name" ip netns exec "$ns" dumpcap -q -i "$ifn" -f "$filter" -w "$LOGDIR/$name.pcapng"
	for ((i = 0; i < 50; i++)); do
		grep -q "File: " "$LOGDIR/dumpcap-$name.log" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "dumpcap on $ifn in $ns did not start: $(cat "$LOGDIR/dumpcap-$name.log")"
}

# wg_initiators NAME: source addresses of the handshake initiations in the
# capture NAME, in order (tshark's WireGuard dissector, heuristics on).
wg_initiators() {
	tshark -r "$LOGDIR/$1.pcapng" -Y 'wg.type == 1' -T fields -e ip.src -e ipv6.src 2>/dev/null |
		tr -d '\t'
}
