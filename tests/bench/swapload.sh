#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/bench/swapload.sh: hot swaps at full load (issue 11).  Not a test
# (nothing is asserted about speed): it measures and prints, in one run,
# - control: unpaced iperf3 TCP A -> B and a ping B -> A every 10 ms for T
#   seconds while A runs hexdump, pcap-writer and an empty pipeline a third
#   of the time each (3 reloads, at 0, T/3 and 2T/3);
# - swaps: the same load for the same T with N reloads cycling the three
#   (tinescale ctl A reload, evenly spread);
# throughput, retransmits, ping loss and RTT of each, and A's open fds,
# threads and RSS before and after each run (tests/net/swaplab.sh).
#
#   sudo TS_BUILD=build tests/bench/swapload.sh [--quick]
#
# Default N=1000 over T=100 s (about 4 minutes in all); --quick: N=300 over
# T=30 s.  Environment: TS_SWAP_RELOADS, TS_SWAP_SECONDS, TS_BUILD, TS_SRC.
# The table goes to stdout and $TS_BUILD/bench/swapload.txt.
QUICK=0
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	-h | --help)
		sed -n '3,/^QUICK=/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "swapload.sh: unknown argument $arg" >&2
		exit 2
		;;
	esac
done
TS_SRC=${TS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../net/lib.sh
. "$TS_SRC/tests/net/lib.sh"
# shellcheck source=../net/swaplab.sh
. "$TS_SRC/tests/net/swaplab.sh"
require_root
require_cmd iperf3 ping wg

if ((QUICK)); then
	N=${TS_SWAP_RELOADS:-300}
	T=${TS_SWAP_SECONDS:-30}
else
	N=${TS_SWAP_RELOADS:-1000}
	T=${TS_SWAP_SECONDS:-100}
fi
swap_setup
rows=()
row() { # NAME RELOADS
	local lp
	lp=$(awk -v l="$SW_LOSS" -v s="$SW_SENT" 'BEGIN { printf "%.2f", s ? 100 * l / s : 0 }')
	rows+=("$(printf '%-8s %5s/%-5s %8s %7s %6s/%-6s %6s %-27s %-14s %-14s' "$1" \
		"$SW_RELOADS_OK" "$2" "$SW_MBIT" "$SW_RETR" "$SW_LOSS" "$SW_SENT" "$lp" "$SW_RTT" \
		"$SW_BEFORE" "$SW_AFTER")")
}
swap_run control "$T" 3
row control 3
swap_run swaps "$T" "$N"
row swaps "$N"
mkdir -p "$TS_BUILD/bench"
{
	printf 'swapload: %d s each, unpaced iperf3 TCP A->B, ping B->A every 10 ms, %s\n' "$T" "$(date -u +%FT%TZ)"
	printf '%-8s %11s %8s %7s %13s %6s %-27s %-14s %-14s\n' run reloads Mbit/s retrans \
		"ping lost" "loss%" "rtt min/avg/max/mdev ms" "A before" "A after"
	printf '%s\n' "${rows[@]}"
	printf '(A before/after: open fds, threads, RSS KiB; after the warm-up cycle and after the run, back on the empty pipeline)\n'
} | tee "$TS_BUILD/bench/swapload.txt"
