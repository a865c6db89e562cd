#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_plugin_hexdump: the hexdump plugin on a real tunnel.
# - hexdump on all four hooks of side A writing to a file: a ping of 3 shows
#   exactly 3 echo requests on plaintext_out and 3 replies on plaintext_in,
#   the handshake and data messages on the ciphertext hooks, header lines
#   naming the peer; the file is mode 0600.
# - reload to output into a FIFO that nobody reads: a flood fills the
#   plugin's buffer, yet 20 pings at 0.05 s all come back, and the daemon log
#   and ctl plugins report the dropped records.
# - rate_limit writes at most that many records a second and counts the rest
#   as skipped; a peers filter naming no peer of ours lets nothing through.
# - a config error (unknown key, bad max_bytes) stops the daemon at start
#   with the plugin's message on stderr.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ping

two_hosts
IF_A=${PFX}ha
IF_B=${PFX}hb
keypair a b
conf_ini "$CONFDIR/a.conf" a 51820 "$(pub b)" 10.0.0.2/32 10.10.0.12:51820 -
conf_ini "$CONFDIR/b.conf" b 51820 "$(pub a)" 10.0.0.1/32 10.10.0.11:51820 -

OUT=$LOGDIR/hexdump.txt
FIFO=$LOGDIR/hexdump.fifo
mkfifo "$FIFO"
chown "$TS_DAEMON_USER" "$FIFO" # the daemon writes it after dropping root

# pipeline FILE OUTPUT MAX_BYTES [CONFIG_LINE]...
pipeline() {
	local f=$1 out=$2 max=$3 l
	shift 3
	{
		printf 'version: 1\nplugin_path: [%s]\nplugins:\n' "$TS_BUILD/plugins"
		printf '  - name: dump\n    use: hexdump\n'
		printf '    hooks: [plaintext_out, ciphertext_out, ciphertext_in, plaintext_in]\n'
		printf '    config:\n      output: %s\n      max_bytes: %s\n' "$out" "$max"
		for l in "$@"; do printf '      %s\n' "$l"; done
	} >"$f"
}
pipeline "$CONFDIR/file.yaml" "$OUT" 96
pipeline "$CONFDIR/fifo.yaml" "$FIFO" 1500

IMPL=tinescale impl_start "$NS_A" "$IF_A" "$CONFDIR/a.conf" --address 10.0.0.1/24 \
	--pipeline "$CONFDIR/file.yaml"
IMPL=$TS_IMPL_B impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --address 10.0.0.2/24

ping_ok "$NS_A" 10.0.0.2 3
sleep 0.3 # the writer flushes every 20 ms

[[ -s $OUT ]] || fail "hexdump wrote nothing to $OUT"
mode=$(stat -c %a "$OUT")
[[ $mode == 600 ]] || fail "$OUT has mode $mode, expected 600"

count() { grep -cE "$1" "$OUT" || true; }
# As a regex: base64 has '+', a quantifier in grep -E.
short_b=$(pub b | cut -c1-8 | sed 's/+/\\+/g')
req=$(count "^[0-9:.]+ plaintext_out peer=$short_b len=84 ipv4 10\.0\.0\.1 > 10\.0\.0\.2 icmp echo-request")
rep=$(count "^[0-9:.]+ plaintext_in peer=$short_b len=84 ipv4 10\.0\.0\.2 > 10\.0\.0\.1 icmp echo-reply")
((req == 3)) || fail "expected 3 echo requests on plaintext_out, found $req:
$(grep -E 'plaintext' "$OUT")"
((rep == 3)) || fail "expected 3 echo replies on plaintext_in, found $rep:
$(grep -E 'plaintext' "$OUT")"
# Side A starts: it sends the initiation and receives the response.
init=$(count "^[0-9:.]+ ciphertext_out peer=$short_b len=148 .* > 10\.10\.0\.12:51820 wg=initiation sender=0x")
resp=$(count "^[0-9:.]+ ciphertext_in peer=$short_b len=92 10\.10\.0\.12:51820 > .* wg=response")
dout=$(count "^[0-9:.]+ ciphertext_out peer=$short_b len=128 .* > 10\.10\.0\.12:51820 wg=data receiver=0x[0-9a-f]{8} counter=")
din=$(count "^[0-9:.]+ ciphertext_in peer=$short_b len=128 10\.10\.0\.12:51820 > .* wg=data")
((init >= 1 && resp >= 1)) ||
	fail "handshake not shown on the ciphertext hooks (initiations $init, responses $resp):
$(grep ciphertext "$OUT")"
((dout >= 3 && din >= 3)) ||
	fail "expected >= 3 data messages each way on the ciphertext hooks, found $dout out, $din in:
$(grep ciphertext "$OUT")"
# The body: hexdump -C lines of the 84-byte echo request (96 bytes max: all of it).
grep -qE '^00000050  [0-9a-f]{2} [0-9a-f]{2} [0-9a-f]{2} [0-9a-f]{2} +\|.{4}\|$' "$OUT" ||
	fail "no hexdump -C line for bytes 0x50..0x53 of an 84-byte packet:
$(head -n 12 "$OUT")"
log "hexdump file: $req requests, $rep replies, $init initiation(s), $resp response(s), $dout/$din data"

# --- A FIFO nobody reads: the tunnel must not care. ---
"$TS_BUILD/tinescale" ctl "$IF_A" reload "$CONFDIR/fifo.yaml" ||
	fail "reload to $CONFDIR/fifo.yaml failed"
impl_alive "$IF_A"
# Flood with big packets: far more text than the pipe (64 KiB) and the
# output's buffer (4 MiB) hold.  Losses here do not matter.
ip netns exec "$NS_A" ping -n -q -f -c 3000 -s 1000 -W 1 10.0.0.2 >"$LOGDIR/flood.log" 2>&1 || true
out=$(ip netns exec "$NS_A" ping -n -c 20 -i 0.05 -W 2 10.0.0.2 2>&1) || true
rx=$(sed -n 's/.* \([0-9]\+\) received.*/\1/p' <<<"$out")
[[ ${rx:-0} == 20 ]] || fail "with a blocked hexdump output, ping got ${rx:-0} of 20:
$out"
log "20/20 pings with hexdump writing into an unread FIFO"
# The stats timer (every 2 s) reports the drops.
for ((i = 0; i < 60; i++)); do
	grep -qE 'records dropped so far' "${IF_LOG[$IF_A]}" && break
	sleep 0.1
done
grep -E 'records dropped so far' "${IF_LOG[$IF_A]}" | tail -n 1 >&2 ||
	fail "no 'records dropped' report in the daemon log"
# The host's output counts them too, in ctl plugins.
plugins=$("$TS_BUILD/tinescale" ctl "$IF_A" plugins) || fail "ctl plugins failed"
grep -qE 'output: written [0-9]+ bytes, dropped [1-9][0-9]* records' <<<"$plugins" ||
	fail "ctl plugins shows no output line with drops:
$plugins"
# Reload back: destroying the blocked instance must not hang (1 s final flush at most).
t0=$(date +%s%N)
"$TS_BUILD/tinescale" ctl "$IF_A" reload "$CONFDIR/file.yaml" ||
	fail "reload from the FIFO pipeline failed"
t1=$(date +%s%N)
(((t1 - t0) / 1000000 < 5000)) || fail "reload away from a blocked FIFO took $(((t1 - t0) / 1000000)) ms"
grep -qE 'records written, [1-9][0-9]* dropped' "${IF_LOG[$IF_A]}" ||
	fail "destroy did not report the dropped records"
ping_ok "$NS_A" 10.0.0.2 3

# --- peers and rate_limit. ---
pipeline "$CONFDIR/rl.yaml" "$LOGDIR/rl.txt" 0 "rate_limit: 2" "peers: [$(pub b)]"
pipeline "$CONFDIR/other.yaml" "$LOGDIR/other.txt" 0 "peers: [$(pub a)]"
# An existing file (the daemon user's, as a file it may write) is made private too.
: >"$LOGDIR/rl.txt" && chown "$TS_DAEMON_USER" "$LOGDIR/rl.txt" && chmod 644 "$LOGDIR/rl.txt"
"$TS_BUILD/tinescale" ctl "$IF_A" reload "$CONFDIR/rl.yaml" >/dev/null || fail "reload rl.yaml failed"
mode=$(stat -c %a "$LOGDIR/rl.txt")
[[ $mode == 600 ]] || fail "an existing output file was left mode $mode, expected 600"
ping_ok "$NS_A" 10.0.0.2 8 # 1.6 s: 32 records over 2 or 3 one-second windows
"$TS_BUILD/tinescale" ctl "$IF_A" reload "$CONFDIR/other.yaml" >/dev/null || fail "reload other.yaml failed"
ping_ok "$NS_A" 10.0.0.2 3
"$TS_BUILD/tinescale" ctl "$IF_A" reload "$CONFDIR/file.yaml" >/dev/null || fail "reload file.yaml failed"
n=$(grep -c ' peer=' "$LOGDIR/rl.txt" || true)
((n >= 2 && n <= 6)) || fail "rate_limit 2/s over < 3 s: $n records written (expected 2..6):
$(cat "$LOGDIR/rl.txt")"
skipped=$(sed -n "s|.*to $LOGDIR/rl.txt: $n records written, 0 dropped, \([0-9]*\) skipped.*|\1|p" "${IF_LOG[$IF_A]}")
# 32 = 8 echo requests and replies on 4 hooks; a keepalive may add one or two.
((${skipped:-0} >= 32 - n)) || fail "the rate-limited instance reported ${skipped:-no} skipped records:
$(grep rl.txt "${IF_LOG[$IF_A]}")"
[[ ! -s $LOGDIR/other.txt ]] || fail "a peers filter naming another key still let packets through:
$(head -n 3 "$LOGDIR/other.txt")"
log "rate_limit: $n records written, $skipped skipped; a peers filter excludes other peers"
impl_alive "$IF_A"
impl_stop "$IF_A"

# --- Config errors stop the daemon at start with the plugin's message. ---
bad_start() { # YAML EXPECTED_MESSAGE
	local rc=0 err
	err=$(ip netns exec "$NS_A" timeout 10 "$TS_BUILD/tinescale" -f --config "$CONFDIR/a.conf" \
		--pipeline "$1" "${PFX}hx" 2>&1 >/dev/null) || rc=$?
	((rc != 0 && rc != 124)) || fail "tinescale started (or hung, rc $rc) with $1:
$err"
	grep -qF -- "$2" <<<"$err" || fail "stderr for $1 lacks '$2':
$err"
	log "rejected as expected: $(grep -F -- "$2" <<<"$err" | head -n 1)"
}
pipeline "$CONFDIR/bad1.yaml" "$OUT" 96 "colour: red"
bad_start "$CONFDIR/bad1.yaml" "unknown config key 'colour' (hexdump accepts max_bytes, output, peers, rate_limit)"
pipeline "$CONFDIR/bad2.yaml" "$OUT" -1
bad_start "$CONFDIR/bad2.yaml" "'max_bytes' must be an integer from 0 to 65535"
pipeline "$CONFDIR/bad3.yaml" /nonexistent-dir/x.txt 96
bad_start "$CONFDIR/bad3.yaml" "cannot open '/nonexistent-dir/x.txt' for writing: No such file or directory"
