#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_restart: restart right after deletion, as WireGuard's own tests do it.
#  1. 50 times in a row: start the daemon as wg-quick does (`tinescale IF`,
#     which returns once ready), configure it with wg setconf (ListenPort
#     51820), an address and link up, then `ip link del IF` and start the
#     next one at once.  The new daemon must wait for the old one to exit,
#     never refuse, and must get the UDP port.
#     Once more with the old daemon stopped (SIGSTOP) for 0.5 s when its
#     interface goes: the new one must wait for it, not refuse.
#  2. A live daemon holding the interface: a second start is refused, quickly
#     and clearly, and the live one keeps working.
# TS_IMPL_A=wireguard-go runs part 1 against Debian's wireguard-go instead.
# RESTART_ROUNDS overrides the 50.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd wg ss
impl_check "$TS_IMPL_A"
ROUNDS=${RESTART_ROUNDS:-50}

NS=$PFX-a
IFN=${PFX}wr
ns_create "$NS"
keypair a b
conf_ini "$CONFDIR/a.conf" a 51820 "$(pub b)" 10.0.0.2/32 10.10.0.12:51820 -
IF_PID[$IFN]=0 # so cleanup removes a socket a killed daemon left

# The daemons fork away: found by the UAPI socket they listen on (asked in
# their namespace), killed at exit only if /proc still shows that daemon.
sock=/var/run/wireguard/$IFN.sock
sock_pid() {
	ip netns exec "$NS" ss -xlpn 2>/dev/null | grep -F " $sock " |
		sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1
}
kill_daemons() {
	local p
	[[ -n ${old:-} ]] && kill -CONT "$old" 2>/dev/null
	ip -n "$NS" link del "$IFN" 2>/dev/null
	p=$(sock_pid)
	[[ -n $p ]] || return 0
	if grep -qF "$IFN" "/proc/$p/cmdline" 2>/dev/null; then kill -TERM "$p"; fi
}
TS_ATEXIT+=(kill_daemons)

case $TS_IMPL_A in
tinescale) start_cmd=("$TS_BUILD/tinescale" --log-level debug "$IFN") ;;
wireguard-go) start_cmd=(wireguard-go "$IFN") ;;
*) skip "part 1 runs against tinescale or Debian's wireguard-go" ;;
esac

# start_configure N: one wg-quick-style start; fails the test with the
# daemon's words if it refused.
start_configure() {
	local n=$1 out=$LOGDIR/start-$1.log i
	timeout 15 ip netns exec "$NS" "${start_cmd[@]}" >"$out" 2>&1 ||
		fail "round $n: $TS_IMPL_A $IFN refused to start: $(cat "$out")"
	# Debian's wireguard-go returns before its socket exists (LAB-NOTES).
	for ((i = 0; i < 100; i++)); do
		[[ -S $sock ]] && ip -n "$NS" link show "$IFN" >/dev/null 2>&1 && break
		sleep 0.05
	done
	wg setconf "$IFN" "$CONFDIR/a.conf" 2>>"$out" ||
		fail "round $n: wg setconf failed (UDP port 51820 still held?): $(cat "$out")"
	ip -n "$NS" addr add 10.0.0.1/24 dev "$IFN"
	ip -n "$NS" link set "$IFN" up
	[[ $(wg show "$IFN" listen-port) == 51820 ]] || fail "round $n: listen port is not 51820"
}

# --- 1. delete, then start again at once, ROUNDS times ---------------------
t0=$SECONDS
for ((r = 1; r <= ROUNDS; r++)); do
	start_configure "$r"
	ip -n "$NS" link del "$IFN"
done
start_configure $((ROUNDS + 1))
log "$ROUNDS delete-then-start rounds of $TS_IMPL_A in $((SECONDS - t0)) s"
[[ $TS_IMPL_A == tinescale ]] || exit 0

# --- 1b. an old daemon that is slow to go: the new one waits for it ----------
# Stopped (SIGSTOP) while its interface is deleted, it still holds every
# socket and the port; it continues 0.5 s later, sees the deletion and exits.
old=$(sock_pid)
[[ -n $old ]] || fail "no daemon listens on $sock"
kill -STOP "$old"
ip -n "$NS" link del "$IFN"
bg cont bash -c "sleep 0.5; kill -CONT $old"
t0=$EPOCHREALTIME
start_configure slow
ms=$(((${EPOCHREALTIME/./} - ${t0/./}) / 1000))
grep -qF "pid $old holds" "$LOGDIR/start-slow.log" ||
	fail "the new daemon did not wait for the old one ($old): $(cat "$LOGDIR/start-slow.log")"
# Gone, or a zombie its reaper has not collected yet: exited either way.
state=$(awk '{ print $3 }' "/proc/$old/stat" 2>/dev/null || true)
[[ -z $state || $state == Z || $state == X ]] || fail "the old daemon ($old) still runs (state $state)"
log "start after a slow predecessor: waited, ready after $ms ms"

# --- 2. a live daemon holds the interface: refused ---------------------------
live=$(sock_pid)
[[ -n $live ]] || fail "no daemon listens on $sock"
t0=$EPOCHREALTIME
if timeout 15 ip netns exec "$NS" "${start_cmd[@]}" >"$LOGDIR/second.log" 2>&1; then
	fail "a second daemon started while pid $live holds $IFN"
fi
ms=$(((${EPOCHREALTIME/./} - ${t0/./}) / 1000))
log "second start refused after $ms ms: $(cat "$LOGDIR/second.log")"
grep -F "another" "$LOGDIR/second.log" | grep -qF "pid $live " ||
	fail "the refusal does not say another daemon (pid $live) holds $IFN: $(cat "$LOGDIR/second.log")"
((ms < 2000)) || fail "the refusal took $ms ms: a live daemon must be refused at once"
[[ $(sock_pid) == "$live" ]] || fail "the live daemon lost its socket to the refused start"
[[ $(wg show "$IFN" listen-port) == 51820 ]] || fail "the live daemon stopped answering"
ip -n "$NS" link show "$IFN" >/dev/null || fail "the refused start removed $IFN"
