#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_capture: `tinescale ctl IF capture` streamed live into tshark while pings
# run, with no pipeline loaded:
# - all hooks, `| tshark -i -`: the echo requests (plaintext_out) and replies
#   (plaintext_in) of the ping appear, and WireGuard data on UDP 51820 on the
#   ciphertext interfaces; stopping the client (SIGTERM) ends the capture
#   on the daemon's side too (log line, captures back to 0 in status --json).
# - tshark -c N exits first: the client dies of SIGPIPE, the daemon notices.
# - --hooks ciphertext_in: only UDP datagrams to port 51820, no plaintext.
# - --peer: B's key shows the pings, an unknown key shows nothing.
# - --secrets: the stream carries a Decryption Secrets Block from which
#   tshark decrypts the ICMP inside the WireGuard data; the daemon warns.
# - a bad hook or option is refused with the bad word named.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ping tshark mkfifo

TS=$TS_BUILD/tinescale
tunnel_up
ping_ok "$NS_A" 10.0.0.2 2

captures() { # IF: running captures, from status --json
	"$TS" ctl "$1" status --json | $TS_PY -c 'import json,sys; print(json.load(sys.stdin)["pipeline"]["captures"])'
}

wait_captures() { # IF N
	local i
	for ((i = 0; i < 50; i++)); do
		[[ $(captures "$1") == "$2" ]] && return 0
		sleep 0.1
	done
	fail "$1: $(captures "$1") captures running, expected $2"
}

# live NAME TSHARK-ARGS -- CTL-ARGS: start `ctl IF_A capture CTL-ARGS | tshark
# -i - TSHARK-ARGS` (through a FIFO, so that each side has its own PID);
# tshark's fields go to $LOGDIR/NAME.tsv.  Leaves CTL_PID and TSHARK_PID.
live() {
	local name=$1 fifo=$LOGDIR/$1.fifo
	shift
	local -a targs=() cargs=()
	while [[ $1 != -- ]]; do targs+=("$1"); shift; done
	shift
	cargs=("$@")
	rm -f "$fifo"
	mkfifo "$fifo"
	bg "tshark-$name" bash -c 'exec tshark -n -l -i - "${@:2}" -T fields -e frame.interface_name \
		-e icmp.type -e udp.dstport -e wg.type <"$0" >"$1.tsv"' "$fifo" "$LOGDIR/$name" "${targs[@]}"
	TSHARK_PID=$BG_PID
	bg "ctl-$name" bash -c 'exec "$0" ctl "$1" capture "${@:3}" >"$2"' "$TS" "$IF_A" "$fifo" "${cargs[@]}"
	CTL_PID=$BG_PID
	wait_captures "$IF_A" 1
}

count() { awk -F'\t' "$2 { n++ } END { print n + 0 }" "$1"; }
expect() { # WHAT GOT OP WANT (OP: == or >=)
	local ok=0
	case $3 in
	==) ok=$(($2 == $4)) ;;
	'>=') ok=$(($2 >= $4)) ;;
	esac
	((ok)) || fail "$1: got $2, expected $3 $4"
}

# 1. Everything, stopped like a user's ^C (SIGTERM here: background jobs of a
# script ignore SIGINT).
live all --
ping_ok "$NS_A" 10.0.0.2 4
sleep 0.3 # the stream is written every 20 ms
kill -TERM "$CTL_PID"
bg_wait "$CTL_PID" || true
bg_wait "$TSHARK_PID" || fail "tshark failed: $(cat "$LOGDIR/tshark-all.log")"
wait_captures "$IF_A" 0
f=$LOGDIR/all.tsv
expect "echo requests on plaintext_out" "$(count "$f" '$1 == "plaintext_out" && $2 == 8')" '>=' 4
expect "echo replies on plaintext_in" "$(count "$f" '$1 == "plaintext_in" && $2 == 0')" '>=' 4
expect "WireGuard data sent to UDP 51820" "$(count "$f" '$1 == "ciphertext_out" && $3 == 51820 && $4 == 4')" '>=' 4
expect "WireGuard data received" "$(count "$f" '$1 == "ciphertext_in" && $4 == 4')" '>=' 4
grep -q 'capture ended' "${IF_LOG[$IF_A]}" || fail "the daemon did not log the end of the capture"
log "all hooks: requests, replies and WireGuard data seen live; stopping the client ended it"

# 2. The reader goes first: tshark -c 4 exits, the client gets SIGPIPE.
live sigpipe -c 4 --
ping_ok "$NS_A" 10.0.0.2 6
bg_wait "$TSHARK_PID" || fail "tshark -c failed: $(cat "$LOGDIR/tshark-sigpipe.log")"
ip netns exec "$NS_A" ping -n -c 2 -i 0.2 10.0.0.2 >/dev/null # something to write into the closed pipe
bg_wait "$CTL_PID" || true
wait_captures "$IF_A" 0
expect "packets read before tshark stopped" "$(count "$LOGDIR/sigpipe.tsv" 'NF')" == 4
log "tshark -c: the client died of SIGPIPE, the daemon ended the capture"

# 3. One hook: only WireGuard's UDP datagrams.
live cin -- --hooks ciphertext_in
ping_ok "$NS_A" 10.0.0.2 4
sleep 0.3
kill -TERM "$CTL_PID"
bg_wait "$CTL_PID" || true
bg_wait "$TSHARK_PID" || true
f=$LOGDIR/cin.tsv
expect "datagrams on ciphertext_in" "$(count "$f" '$1 == "ciphertext_in" && $3 == 51820')" '>=' 4
expect "anything else" "$(count "$f" '!($1 == "ciphertext_in" && $3 == 51820)')" == 0
wait_captures "$IF_A" 0
log "--hooks ciphertext_in: only UDP/51820 on ciphertext_in"

# 4. Peer filter: B's packets, then a key nobody has.
live peer -- --hooks plaintext_out,plaintext_in --peer "$(pub b)"
ping_ok "$NS_A" 10.0.0.2 3
sleep 0.3
kill -TERM "$CTL_PID"
bg_wait "$CTL_PID" || true
bg_wait "$TSHARK_PID" || true
expect "--peer B: echo requests" "$(count "$LOGDIR/peer.tsv" '$2 == 8')" '>=' 3
wait_captures "$IF_A" 0
live nopeer -- --peer "$(wg genkey | wg pubkey)"
ping_ok "$NS_A" 10.0.0.2 3
sleep 0.3
kill -TERM "$CTL_PID"
bg_wait "$CTL_PID" || true
bg_wait "$TSHARK_PID" || true
expect "--peer (unknown key): packets" "$(count "$LOGDIR/nopeer.tsv" 'NF')" == 0
wait_captures "$IF_A" 0
log "--peer: the peer's packets only"

# 5. Secrets: a fresh handshake while capturing, decrypted from the stream alone.
bg ctl-secrets bash -c 'exec "$0" ctl "$1" capture --secrets >"$2"' "$TS" "$IF_A" "$LOGDIR/secrets.pcapng"
CTL_PID=$BG_PID
wait_captures "$IF_A" 1
grep -q 'capture with --secrets for pid' "${IF_LOG[$IF_A]}" || fail "no warning about --secrets in the log"
# A new handshake: B forgets A (its session goes), A's next packet starts one.
before=$(hs_time "$IF_A")
ip netns exec "$NS_B" wg set "$IF_B" peer "$(pub a)" remove
ip netns exec "$NS_B" wg set "$IF_B" peer "$(pub a)" allowed-ips 10.0.0.1/32 endpoint 10.10.0.11:51820
ip netns exec "$NS_A" wg set "$IF_A" peer "$(pub b)" remove
ip netns exec "$NS_A" wg set "$IF_A" peer "$(pub b)" allowed-ips 10.0.0.2/32 endpoint 10.10.0.12:51820
ping_ok "$NS_A" 10.0.0.2 4 1
wait_handshake "$NS_A" "$IF_A" "$(pub b)" 10 "$((before - 1))"
sleep 0.3
kill -TERM "$CTL_PID"
bg_wait "$CTL_PID" || true
wait_captures "$IF_A" 0
tshark -n -r "$LOGDIR/secrets.pcapng" -T fields -e frame.interface_name -e wg.type -e icmp.type \
	>"$LOGDIR/secrets.tsv" 2>"$LOGDIR/secrets.err" || fail "tshark cannot read the --secrets stream: $(cat "$LOGDIR/secrets.err")"
expect "--secrets: decrypted echo requests in WireGuard data" \
	"$(count "$LOGDIR/secrets.tsv" '$1 == "ciphertext_out" && $2 == 4 && $3 == 8')" '>=' 3
log "--secrets: tshark decrypts the tunnel from the stream alone"

# 6. Mistakes are named.
out=$("$TS" ctl "$IF_A" capture --hooks plaintext_in,bogus 2>&1) && fail "a bad hook was accepted"
grep -q "bogus" <<<"$out" || fail "the bad hook is not named: $out"
out=$("$TS" ctl "$IF_A" capture --frobnicate 2>&1) && fail "a bad option was accepted"
grep -q -- "--frobnicate" <<<"$out" || fail "the bad option is not named: $out"
out=$("$TS" ctl "$IF_A" captrue 2>&1) && fail "a mistyped command was accepted"
grep -q "unknown command 'captrue'" <<<"$out" || fail "the mistyped command is not named: $out"
log "bad hook, option and command: refused and named"
