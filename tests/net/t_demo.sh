#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_demo: the README's demo (scripts/demo.sh) as a user runs it, non-interactively.
#   1. A full run: its output must show the ping's ICMP echo request and reply
#      in hexdump form (plaintext_out / plaintext_in header lines and hex
#      bytes) and tshark's summary of the capture (WireGuard handshake and
#      transport lines, ICMP lines); afterwards no tsdemo namespace, socket,
#      temporary directory or process it started may remain.
#   2. Ctrl-C in the middle (SIGINT to its whole process group, as a terminal
#      sends it): same cleanliness, exit status 130.
#   3. SIGTERM to the script alone after the live reload: same, status 143.
#   4. A namespace tsdemo1 already exists: it refuses to start, and does not
#      delete what it did not create.
#   5. Not root: a clear message, nothing created.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd tshark ping wg

DEMO=$TS_SRC/scripts/demo.sh
[[ -x $DEMO ]] || fail "scripts/demo.sh missing or not executable"

# check_clean OUTFILE WHAT: nothing of the demo run whose output is OUTFILE remains.
check_clean() {
	local out=$1 what=$2 pid ns tmp
	for ns in tsdemo1 tsdemo2; do
		ip netns list | awk '{print $1}' | grep -qx "$ns" &&
			fail "$what: namespace $ns left behind"
		[[ -e /var/run/wireguard/$ns.sock ]] && fail "$what: /var/run/wireguard/$ns.sock left behind"
		[[ -e /var/run/tinescale/$ns.ctl ]] && fail "$what: /var/run/tinescale/$ns.ctl left behind"
	done
	# The demo names every process it starts: "started peer1 (pid N)".
	while read -r pid; do
		if [[ -e /proc/$pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q tsdemo; then
			fail "$what: process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline")) still runs"
		fi
	done < <(sed -n 's/.*started peer[12] (pid \([0-9]*\)).*/\1/p' "$out")
	if pgrep -af 'tinescale.* tsdemo[12]$' >"$LOGDIR/pgrep.txt"; then
		fail "$what: tinescale processes for tsdemo1/2 still run: $(cat "$LOGDIR/pgrep.txt")"
	fi
	tmp=$(grep -o '/tmp/tsdemo\.[A-Za-z0-9]*' "$out" | head -n 1 || true)
	[[ -n $tmp && -e $tmp ]] && fail "$what: temporary directory $tmp left behind"
	log "$what: nothing left behind"
}

# wait_output FILE PATTERN PID: until FILE has a line matching PATTERN (30 s).
wait_output() {
	local i
	for ((i = 0; i < 300; i++)); do
		grep -q "$2" "$1" && return 0
		_is_running_job "$3" || fail "demo exited before printing '$2':
$(cat "$1")"
		sleep 0.1
	done
	fail "demo did not print '$2' within 30 s:
$(cat "$1")"
}

# --- 1. the full run ---------------------------------------------------------
OUT=$LOGDIR/demo-full.log
log "full run: scripts/demo.sh --build $TS_BUILD"
rc=0
timeout 120 "$DEMO" --build "$TS_BUILD" >"$OUT" 2>&1 </dev/null || rc=$?
((rc == 0)) || fail "scripts/demo.sh exited with status $rc:
$(tail -n 60 "$OUT")"
grep -Eq 'plaintext_out peer=[^ ]+ len=84 ipv4 10\.0\.0\.1 > 10\.0\.0\.2 icmp echo-request' "$OUT" ||
	fail "no hexdump header of the echo request (plaintext_out) in the demo's output:
$(cat "$OUT")"
grep -Eq 'plaintext_in peer=[^ ]+ len=84 ipv4 10\.0\.0\.2 > 10\.0\.0\.1 icmp echo-reply' "$OUT" ||
	fail "no hexdump header of the echo reply (plaintext_in) in the demo's output"
# The bytes themselves: an IPv4 header of 84 bytes (45 00 00 54), source and
# destination 10.0.0.1/10.0.0.2 on the next line with ICMP type 8 (request)
# or 0 (reply).
grep -Eq '00000000  45 00 00 54 ' "$OUT" || fail "no hex line of an 84-byte IPv4 packet"
grep -Eq '00000010  0a 00 00 02 08 00 ' "$OUT" || fail "no hex line of an echo request to 10.0.0.2"
grep -Eq '00000010  0a 00 00 01 00 00 ' "$OUT" || fail "no hex line of an echo reply to 10.0.0.1"
grep -q 'reloaded ' "$OUT" || fail "the live reload was not reported"
# tshark -T fields: hook, protocol and summary, tab-separated.
for pat in 'ciphertext_out\s+WireGuard\s+Handshake Initiation' \
	'ciphertext_in\s+WireGuard\s+Handshake Response' \
	'ciphertext_out\s+WireGuard\s+Transport Data' \
	'ciphertext_in\s+WireGuard\s+Transport Data' \
	'plaintext_out\s+ICMP\s+Echo \(ping\) request' \
	'plaintext_in\s+ICMP\s+Echo \(ping\) reply'; do
	grep -Eq "$pat" "$OUT" || fail "tshark summary lacks a line matching '$pat':
$(grep -A 30 "tshark's summary" "$OUT")"
done
grep -q 'Done: namespaces, processes and files removed' "$OUT" || fail "no closing line"
check_clean "$OUT" "full run"

# --- 2. Ctrl-C while the tunnel is up ---------------------------------------
OUT=$LOGDIR/demo-int.log
set -m # the demo gets its own process group, as in a terminal
"$DEMO" --build "$TS_BUILD" >"$OUT" 2>&1 </dev/null &
pid=$!
set +m
TS_PIDS+=("$pid")
TS_PIDNAME[$pid]=demo-int
wait_output "$OUT" 'started peer2' "$pid"
sleep 0.3
log "Ctrl-C: SIGINT to process group $pid"
kill -INT -- "-$pid"
rc=0
bg_wait "$pid" || rc=$?
((rc == 130)) || fail "after SIGINT the demo exited with $rc, expected 130:
$(tail -n 20 "$OUT")"
check_clean "$OUT" "SIGINT"

# --- 3. SIGTERM to the script alone, after the reload ------------------------
OUT=$LOGDIR/demo-term.log
"$DEMO" --build "$TS_BUILD" >"$OUT" 2>&1 </dev/null &
pid=$!
TS_PIDS+=("$pid")
TS_PIDNAME[$pid]=demo-term
wait_output "$OUT" 'reloaded ' "$pid"
log "SIGTERM to the demo's pid $pid"
kill -TERM "$pid"
rc=0
bg_wait "$pid" || rc=$?
((rc == 143)) || fail "after SIGTERM the demo exited with $rc, expected 143:
$(tail -n 20 "$OUT")"
check_clean "$OUT" "SIGTERM"

# --- 4. a namespace of that name exists ------------------------------------
ns_create tsdemo1 # lib.sh deletes it at exit whatever happens
OUT=$LOGDIR/demo-busy.log
rc=0
timeout 30 "$DEMO" --build "$TS_BUILD" >"$OUT" 2>&1 </dev/null || rc=$?
((rc != 0)) || fail "the demo ran although namespace tsdemo1 existed"
grep -q 'namespace tsdemo1 exists' "$OUT" || fail "no clear message about tsdemo1: $(cat "$OUT")"
ip netns list | awk '{print $1}' | grep -qx tsdemo1 ||
	fail "the demo deleted a namespace tsdemo1 it did not create"
ip netns list | awk '{print $1}' | grep -qx tsdemo2 && fail "the demo created tsdemo2 before refusing"
ip netns del tsdemo1
TS_NETNS=()

# --- 5. not root -------------------------------------------------------------
if command -v setpriv >/dev/null; then
	OUT=$LOGDIR/demo-user.log
	rc=0
	# A copy nobody can read: the checkout may sit under a 0700 home (/root).
	user_copy=$(mktemp /tmp/tsdemo-user.XXXXXX)
	TS_ATEXIT+=("rm -f $user_copy")
	cp "$DEMO" "$user_copy"
	chmod 755 "$user_copy"
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		bash "$user_copy" --build "$TS_BUILD" </dev/null >"$OUT" 2>&1 || rc=$?
	((rc != 0)) || fail "the demo ran without root"
	grep -q 'needs root' "$OUT" || fail "no clear 'needs root' message: $(cat "$OUT")"
fi
log "demo output, hexdump, tshark summary, Ctrl-C, SIGTERM, refusal: all as expected"
