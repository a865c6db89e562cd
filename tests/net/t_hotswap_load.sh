#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_hotswap_load: 300 hot swaps under unpaced load (issue 11).  Unpaced
# iperf3 TCP A -> B for 2 x 10 s while B pings A every 10 ms and A reloads
# its pipeline 2 x 150 times, cycling hexdump, pcap-writer (both writing files) and
# an empty pipeline (tests/net/swaplab.sh).  Every reload succeeds, iperf3
# completes without a stalled second, no reload renegotiates the session,
# at most 0.5 % of the pings are lost (a saturating flow may overflow the
# TUN's queue now and then whatever the swaps do; the control run of
# tests/bench/swapload.sh measures that), and A has as many fds and threads
# after as before and at most 1 MiB more RSS over the second half.  tests/bench/swapload.sh runs
# 1,000 swaps against a control run and reports the figures.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=swaplab.sh
. "$(dirname "$0")/swaplab.sh"
require_root
require_cmd iperf3
[[ $TS_IMPL_A == tinescale ]] || skip "side A must be tinescale"

swap_setup
# Two halves of 150 reloads, 10 s each.  The first full-speed flow grows the
# data path's buffers and the allocator's arenas to their working size
# (about 6 MiB, swaps or not: tests/bench/swapload.sh's control run shows
# it), so memory is judged on the second half, where a leak per reload
# would show as it did in the first; fds and threads on the whole run.
swap_run first 10 150
B0=$SW_BEFORE
check_half() {
	((SW_RELOADS_OK == 150)) || fail "only $SW_RELOADS_OK of 150 reloads succeeded: $(tail -3 "$LOGDIR/reloads.log")"
	((SW_REKEYED == 0)) || fail "a reload renegotiated the session (handshake time changed)"
	((SW_LOSS * 200 <= SW_SENT)) || fail "ping lost $SW_LOSS of $SW_SENT during the swaps (more than 0.5 %)"
}
check_half
swap_run second 10 150
check_half
read -r fd0 th0 _ <<<"$B0"
read -r _ _ rss0 <<<"$SW_BEFORE"
read -r fd1 th1 rss1 <<<"$SW_AFTER"
((fd1 <= fd0)) || fail "A's open fds grew from $fd0 to $fd1 over 300 reloads: $(ls -l /proc/"${IF_PID[$IF_A]}"/fd)"
((th1 <= th0)) || fail "A's threads grew from $th0 to $th1 over 300 reloads"
((rss1 - rss0 <= 1024)) || fail "A's RSS grew from $rss0 to $rss1 KiB over the second 150 reloads"
log "fds $fd0 -> $fd1, threads $th0 -> $th1 over 300 reloads; RSS $rss0 -> $rss1 KiB over the last 150"
[[ -s $LOGDIR/swap.pcapng && -s $LOGDIR/swap.hex ]] || fail "the plugins wrote nothing"
ping_ok "$NS_B" 10.0.0.1 3
