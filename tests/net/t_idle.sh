#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_idle: an idle tunnel costs no CPU.  A user who leaves tinescale running
# with a debugging pipeline expects `top` to show it asleep.  Side A runs
# every packet-path plugin that keeps a thread of its own (hexdump to a file,
# pcap-writer with rotation, both through the host's asynchronous output)
# plus a live `ctl capture`; side B runs no pipeline.  After a ping (so that
# every hook, output and the session are warm) each daemon may use at most
# 5% of one core over 4 idle seconds, counted in /proc/PID/stat clock ticks.
# (A tick deadline on the wrong clock once made the output thread spin: one
# core at 100%, and the hooks starved of its lock.)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ping

TS=$TS_BUILD/tinescale
tunnel_up
cat >"$CONFDIR/idle.yaml" <<EOF
version: 1
plugin_path: [$TS_BUILD/plugins]
plugins:
  - name: dump
    use: hexdump
    hooks: [plaintext_out, plaintext_in]
    config: {output: $LOGDIR/dump.txt}
  - name: pcap
    use: pcap-writer
    hooks: [plaintext_out, ciphertext_out, ciphertext_in, plaintext_in]
    config: {path: $LOGDIR/idle.pcapng, rotate_bytes: 1048576, rotate_files: 2}
EOF
"$TS" ctl "$IF_A" reload "$CONFDIR/idle.yaml" || fail "reload $CONFDIR/idle.yaml failed"
bg capture bash -c 'exec "$0" ctl "$1" capture >/dev/null' "$TS" "$IF_A"
CAPTURE_PID=$BG_PID
ping_ok "$NS_A" 10.0.0.2 3
[[ -s $LOGDIR/dump.txt ]] || fail "hexdump wrote nothing to $LOGDIR/dump.txt: the pipeline is not running"
impl_alive "$IF_A"
kill -0 "$CAPTURE_PID" 2>/dev/null || fail "ctl capture ended early: $(cat "$LOGDIR/capture.log")"

hz=$(getconf CLK_TCK)
secs=4
limit=$((hz * secs * 5 / 100))
declare -A t0
for ifn in "$IF_A" "$IF_B"; do t0[$ifn]=$(cpu_ticks "${IF_PID[$ifn]}"); done
sleep "$secs"
for ifn in "$IF_A" "$IF_B"; do
	used=$(($(cpu_ticks "${IF_PID[$ifn]}") - t0[$ifn]))
	log "$ifn: $used clock ticks of CPU in $secs idle seconds (limit $limit, $hz per second)"
	if ((used > limit)); then
		for t in /proc/"${IF_PID[$ifn]}"/task/*; do
			printf '  thread %s: %s ticks since start\n' "${t##*/}" \
				"$(stat_ticks "$t/stat")" >&2
		done
		fail "$ifn used $used ticks (> $limit, 5% of a core) while idle: something spins"
	fi
done
impl_alive "$IF_A"
ping_ok "$NS_A" 10.0.0.2 2
log "idle: both daemons asleep between packets"
