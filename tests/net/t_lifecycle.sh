#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_lifecycle: the daemon's process contract (DESIGN.md section 3) for side A
# ($TS_IMPL_A):
#   1. without -f it returns once the TUN exists and the UAPI socket listens
#      (the wg-quick contract);
#   2. the interface moved to another namespace keeps working: the UDP socket
#      stays where the daemon started;
#   3. deleting the interface makes the daemon exit and remove its socket;
#   4. in the foreground (-f), SIGINT makes it exit, removing socket and TUN.
# Debian's wireguard-go returns before its TUN is ready (LAB-NOTES), so
# check 1 is strict for tinescale only.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
impl_check "$TS_IMPL_A"

two_hosts
NS_C=$PFX-c
ns_create "$NS_C"
IF_A=${PFX}wa
IF_B=${PFX}wb
keypair a b
PA=$(pub a)
conf_ini "$CONFDIR/a.conf" a 51820 "$(pub b)" 10.0.0.2/32 10.10.0.12:51820 -
conf_ini "$CONFDIR/b.conf" b 51820 "$PA" 10.0.0.1/32 10.10.0.11:51820 -
IMPL=$TS_IMPL_B impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --address 10.0.0.2/24

# Daemons we did not start as jobs (they forked away) are found by the UAPI
# socket they listen on (unix sockets are listed per network namespace: ask
# in the daemon's) and killed at exit only if /proc still shows that daemon.
sock=/var/run/wireguard/$IF_A.sock
sock_pid() {
	ip netns exec "$NS_A" ss -xlpn 2>/dev/null | grep -F " $sock " |
		sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1
}
kill_daemons() {
	local p
	p=$(sock_pid)
	[[ -n $p ]] || return 0
	if grep -qF "$IF_A" "/proc/$p/cmdline" 2>/dev/null; then kill -TERM "$p"; fi
}
TS_ATEXIT+=(kill_daemons)

# --- 1. background start ---------------------------------------------------
case $TS_IMPL_A in
tinescale) cmd=("$TS_BUILD/tinescale" --config "$CONFDIR/a.conf" --address 10.0.0.1/24 "$IF_A") ;;
wireguard-go) cmd=(wireguard-go "$IF_A") ;;
esac
start=$SECONDS
timeout 10 ip netns exec "$NS_A" "${cmd[@]}" >"$LOGDIR/daemon-start.log" 2>&1 ||
	fail "$TS_IMPL_A without -f did not return 0 within 10 s: $(cat "$LOGDIR/daemon-start.log")"
ready=1
[[ -S $sock ]] && ip -n "$NS_A" link show "$IF_A" >/dev/null 2>&1 || ready=0
if [[ $TS_IMPL_A == tinescale ]]; then
	((ready)) || fail "tinescale returned before its TUN and $sock were ready"
else
	for ((i = 0; i < 50; i++)); do
		[[ -S $sock ]] && ip -n "$NS_A" link show "$IF_A" >/dev/null 2>&1 && break
		sleep 0.1
	done
fi
pid=$(sock_pid)
[[ -n $pid ]] || fail "no process listens on $sock"
IF_PID[$IF_A]=$pid # for the socket cleanup only
log "daemon pid $pid returned after $((SECONDS - start)) s, socket and link ready"
if [[ $TS_IMPL_A == wireguard-go ]]; then
	wg setconf "$IF_A" "$CONFDIR/a.conf"
	assign_addr "$NS_A" "$IF_A" 10.0.0.1/24
	ip -n "$NS_A" link set "$IF_A" up
fi
ping_ok "$NS_A" 10.0.0.2 3

# --- 2. move the interface to another namespace ---------------------------
ip -n "$NS_A" link set "$IF_A" netns "$NS_C"
assign_addr "$NS_C" "$IF_A" 10.0.0.1/24
ip -n "$NS_C" link set "$IF_A" up
ping_ok "$NS_C" 10.0.0.2 5
ping_ok "$NS_B" 10.0.0.1 3
[[ -d /proc/$pid ]] || fail "daemon died when its interface moved"

# --- 3. deleting the interface ends the daemon ------------------------------
ip -n "$NS_C" link del "$IF_A"
for ((i = 0; i < 50; i++)); do
	[[ -d /proc/$pid ]] || break
	sleep 0.1
done
[[ ! -d /proc/$pid ]] || fail "daemon $pid still runs 5 s after its interface was deleted"
[[ ! -e $sock ]] || fail "daemon exited after ip link del but left $sock behind"
log "ip link del: daemon exited and removed its socket"

# --- 4. foreground, SIGINT ----------------------------------------------------
IF_A2=${PFX}wf
IMPL=$TS_IMPL_A impl_start "$NS_A" "$IF_A2" "$CONFDIR/a.conf" --address 10.0.0.1/24
ping_ok "$NS_A" 10.0.0.2 3
pid=${IF_PID[$IF_A2]}
kill -INT "$pid"
for ((i = 0; i < 50; i++)); do
	_is_running_job "$pid" || break
	sleep 0.1
done
_is_running_job "$pid" && fail "$TS_IMPL_A -f still runs 5 s after SIGINT"
wait "$pid" && rc=0 || rc=$?
_untrack "$pid"
log "SIGINT: exit status $rc"
[[ ! -e /var/run/wireguard/$IF_A2.sock ]] || fail "SIGINT left /var/run/wireguard/$IF_A2.sock behind"
for ((i = 0; i < 20; i++)); do
	ip -n "$NS_A" link show "$IF_A2" >/dev/null 2>&1 || break
	sleep 0.1
done
ip -n "$NS_A" link show "$IF_A2" >/dev/null 2>&1 && fail "SIGINT left interface $IF_A2 behind"
((rc == 0 || rc == 130)) || fail "$TS_IMPL_A exited with status $rc on SIGINT"
