#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_sdnotify: the systemd notification protocol (systemd/tinescale@.service
# and tinescale-relay.service are Type=notify), against a stand-in for
# systemd's socket (sdnotify_listen.py):
# - tinescale -f sends READY=1 (with a STATUS= line) once, and at that moment
#   the interface is up with its address, `wg show` and `tinescale ctl`
#   answer: what `systemctl start` returning promises;
# - SIGHUP (systemctl reload) sends RELOADING=1, then READY=1 again;
# - SIGTERM sends STOPPING=1;
# - tinescale-relay sends READY=1 when its status socket answers, here to
#   an abstract socket (@name, as systemd may use).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root

ns_create "$PFX-a"
NS=$PFX-a
IFN=${PFX}n
keypair a
conf_ini "$CONFDIR/a.conf" a 51820

# wait_line FILE REGEX N: FILE has at least N lines matching REGEX (10 s bound).
wait_line() {
	local i n
	for ((i = 0; i < 100; i++)); do
		n=$(grep -cE "$2" "$1" 2>/dev/null) || true
		((${n:-0} >= $3)) && return 0
		sleep 0.1
	done
	fail "$(basename "$1"): no $3 line(s) matching '$2' in 10 s: $(tr '\n' '|' <"$1")"
}

# --- tinescale ---
SOCK=$LOGDIR/notify.sock
NLOG=$LOGDIR/notify.txt
bg listener "$TS_PY" "$TS_SRC/tests/net/sdnotify_listen.py" "$SOCK" "$NLOG" \
	ip netns exec "$NS" bash -c "ip -o link show dev $IFN | grep -q ',UP' &&
		ip -o -4 addr show dev $IFN | grep -q ' 10.0.0.1/24 ' &&
		wg show $IFN listen-port | grep -qx 51820 &&
		'$TS_BUILD/tinescale' ctl $IFN status"
LISTENER=$BG_PID
wait_line "$NLOG" '^LISTENING$' 1
log "start tinescale with NOTIFY_SOCKET=$SOCK"
bg "tinescale-$IFN" ip netns exec "$NS" env NOTIFY_SOCKET="$SOCK" \
	"$TS_BUILD/tinescale" -f --config "$CONFDIR/a.conf" --address 10.0.0.1/24 "$IFN"
DAEMON=$BG_PID
IF_PID[$IFN]=$DAEMON # lib.sh's cleanup removes its sockets if it dies
wait_line "$NLOG" '^CHECK rc=' 1
grep -qx 'CHECK rc=0' "$NLOG" ||
	fail "at READY=1 the interface was not ready (up, 10.0.0.1/24, wg show, ctl): $(tr '\n' '|' <"$NLOG")"
grep -qx "STATUS=interface $IFN up, UDP port 51820" "$NLOG" || fail "no STATUS= line with READY=1"
log "READY=1 came when the interface was up and served"

kill -HUP "$DAEMON"
wait_line "$NLOG" '^CHECK rc=' 2
[[ $(grep -E '^(READY|RELOADING)=1$' "$NLOG" | tr '\n' ' ') == "READY=1 RELOADING=1 READY=1 " ]] ||
	fail "SIGHUP: expected RELOADING=1 then READY=1: $(tr '\n' '|' <"$NLOG")"
[[ $(grep -c '^CHECK rc=0$' "$NLOG") == 2 ]] || fail "after the reload's READY=1 the interface was not served"
log "SIGHUP: RELOADING=1, then READY=1"

kill -TERM "$DAEMON"
bg_wait "$DAEMON" || fail "tinescale exited non-zero on SIGTERM"
bg_wait "$LISTENER" || fail "the listener saw no STOPPING=1: $(tr '\n' '|' <"$NLOG")"
grep -qx 'STOPPING=1' "$NLOG" || fail "no STOPPING=1"
log "SIGTERM: STOPPING=1"

# --- tinescale-relay, abstract socket (they belong to a network namespace:
# the listener runs in the relay's) ---
RLOG=$LOGDIR/notify-relay.txt
RCTL=$LOGDIR/relay.ctl
ASOCK=@tinescale-test-$PFX
(umask 077 && wg genkey >"$CONFDIR/relay.key")
bg relay-listener ip netns exec "$NS" "$TS_PY" "$TS_SRC/tests/net/sdnotify_listen.py" "$ASOCK" "$RLOG" \
	"$TS_BUILD/tinescale-relay" status --ctl "$RCTL"
RLISTENER=$BG_PID
wait_line "$RLOG" '^LISTENING$' 1
bg relay ip netns exec "$NS" env NOTIFY_SOCKET="$ASOCK" "$TS_BUILD/tinescale-relay" \
	--listen 127.0.0.1:3478 --key "$CONFDIR/relay.key" --ctl "$RCTL"
RELAY=$BG_PID
wait_line "$RLOG" '^CHECK rc=' 1
grep -qx 'CHECK rc=0' "$RLOG" || fail "at READY=1 the relay's status socket did not answer"
kill -TERM "$RELAY"
bg_wait "$RELAY" || fail "tinescale-relay exited non-zero on SIGTERM"
bg_wait "$RLISTENER" || fail "the relay's listener saw no STOPPING=1: $(tr '\n' '|' <"$RLOG")"
log "tinescale-relay: READY=1 with its status socket answering, STOPPING=1 on SIGTERM"
