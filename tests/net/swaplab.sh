# shellcheck shell=bash
# shellcheck disable=SC2034 # the SW_* results are for the script that sources this
# tests/net/swaplab.sh: hot swaps under unpaced load, shared by
# tests/net/t_hotswap_load.sh (short, asserts) and tests/bench/swapload.sh
# (1,000 reloads against a control run, reports).  Source lib.sh first.
#
# swap_setup: tunnel_up, and three pipelines for A in $CONFDIR: hexdump
# (every hook, into $LOGDIR/swap.hex, rate-limited), pcap-writer (every
# hook, $LOGDIR/swap.pcapng, 96-byte snaplen, rotated at 4 MiB) and an empty
# one; A starts with the empty one, and runs 3 s of unpaced TCP cycling
# through the three to warm up.
# swap_run TAG SECONDS RELOADS: unpaced iperf3 TCP A -> B for SECONDS while
# B pings A every 10 ms, and RELOADS `tinescale ctl A reload`s cycling
# hexdump, pcap-writer, empty, spread evenly over the run, the first at its
# start.  RELOADS=3 is the control: the same three pipelines, a third of the
# run each, with no swap in between.
# Leaves SW_MBIT SW_RETR SW_SENT SW_RECV SW_LOSS SW_RTT (min/avg/max/mdev
# ms) SW_RELOADS_OK, and A's process figures before/after in SW_BEFORE /
# SW_AFTER ("fds threads rss_kib", see proc_figures).

SWAP_PIPES=(hexdump pcap empty)

swap_setup() {
	tunnel_up
	ping_ok "$NS_B" 10.0.0.1 3
	local hooks='[plaintext_out, ciphertext_out, ciphertext_in, plaintext_in]'
	printf 'version: 1\nplugin_path: [%s]\nplugins:\n  - name: hd\n    use: hexdump\n    hooks: %s\n    config: { output: %s, max_bytes: 32, rate_limit: 200 }\n' \
		"$TS_BUILD/plugins" "$hooks" "$LOGDIR/swap.hex" >"$CONFDIR/hexdump.yaml"
	printf 'version: 1\nplugin_path: [%s]\nplugins:\n  - name: pw\n    use: pcap-writer\n    hooks: %s\n    config: { path: %s, snaplen: 96, rotate_bytes: 4194304, rotate_files: 2 }\n' \
		"$TS_BUILD/plugins" "$hooks" "$LOGDIR/swap.pcapng" >"$CONFDIR/pcap.yaml"
	printf 'version: 1\nplugins: []\n' >"$CONFDIR/empty.yaml"
	swap_reload empty || fail "cannot load the empty pipeline: $(tail -2 "$LOGDIR/reloads.log")"
	# Warm up under load: the data path's buffers and the allocator's
	# per-thread arenas grow to their working size at the first full-speed
	# flow (about 6 MiB of RSS), swaps or not; "before" is measured after.
	local p i
	iperf_server "$NS_B" 10.0.0.2
	bg iperf-warmup ip netns exec "$NS_A" iperf3 -c 10.0.0.2 -t 3 --json
	p=$BG_PID
	for i in "${SWAP_PIPES[@]}"; do
		swap_reload "$i" || fail "warm-up reload of $i failed"
		sleep 1
	done
	bg_wait "$p" || fail "warm-up iperf3 failed: $(head -c 2000 "$LOGDIR/iperf-warmup.log")"
}

swap_reload() { # NAME
	"$TS_BUILD/tinescale" ctl "$IF_A" reload "$CONFDIR/$1.yaml" >>"$LOGDIR/reloads.log" 2>&1
}

# proc_figures PID: "fds threads rss_kib" of a running process.
proc_figures() {
	local pid=$1 fds
	fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
	echo "$fds $(awk '$1 == "Threads:" { t = $2 } $1 == "VmRSS:" { r = $2 } END { print t, r }' \
		"/proc/$pid/status")"
}

# swap_settle PID BEFORE: wait (at most 5 s) until PID has no more fds and
# threads than BEFORE says (retired pipelines are freed after a grace period).
swap_settle() {
	local pid=$1 before=$2 i now
	for ((i = 0; i < 50; i++)); do
		now=$(proc_figures "$pid")
		((${now%% *} <= ${before%% *})) &&
			(($(cut -d' ' -f2 <<<"$now") <= $(cut -d' ' -f2 <<<"$before"))) && break
		sleep 0.1
	done
}

swap_run() {
	local tag=$1 secs=$2 reloads=$3 pid=${IF_PID[$IF_A]} i start next now ok=0 ip pp summary
	swap_settle "$pid" "$(proc_figures "$pid")"
	SW_BEFORE=$(proc_figures "$pid")
	SW_HS=$(hs_time "$IF_A" "$(pub b)")
	iperf_server "$NS_B" 10.0.0.2
	bg "iperf-$tag" ip netns exec "$NS_A" iperf3 -c 10.0.0.2 -t "$secs" -i 1 --json
	ip=$BG_PID
	bg "ping-$tag" ip netns exec "$NS_B" ping -n -i 0.01 -W 1 -c $((secs * 100)) 10.0.0.1
	pp=$BG_PID
	start=${EPOCHREALTIME/./}
	for ((i = 0; i < reloads; i++)); do
		# Evenly spread: reload i at i / reloads of the run.
		next=$((start + i * secs * 1000000 / reloads))
		now=${EPOCHREALTIME/./}
		((next > now)) && sleep "$(printf '%d.%06d' $(((next - now) / 1000000)) $(((next - now) % 1000000)))"
		swap_reload "${SWAP_PIPES[i % 3]}" && ok=$((ok + 1))
	done
	SW_RELOADS_OK=$ok
	bg_wait "$ip" || fail "iperf3 ($tag) failed: $(head -c 2000 "$LOGDIR/iperf-$tag.log")"
	bg_wait "$pp" || true
	read -r SW_MBIT SW_RETR < <("$TS_PY" "$TS_SRC/tests/net/iperf_check.py" "$LOGDIR/iperf-$tag.log" 1) ||
		fail "iperf3 ($tag): $("$TS_PY" "$TS_SRC/tests/net/iperf_check.py" "$LOGDIR/iperf-$tag.log" 1 2>&1)"
	summary=$(grep 'packets transmitted' "$LOGDIR/ping-$tag.log") || fail "ping ($tag) did not finish"
	SW_SENT=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$summary")
	SW_RECV=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$summary")
	SW_LOSS=$((SW_SENT - SW_RECV))
	SW_RTT=$(sed -n 's|^rtt min/avg/max/mdev = \([^ ]*\) ms.*|\1|p' "$LOGDIR/ping-$tag.log")
	# Back to the empty pipeline, as before, then the figures again.
	swap_reload empty || fail "reload of the empty pipeline failed"
	swap_settle "$pid" "$SW_BEFORE"
	SW_AFTER=$(proc_figures "$pid")
	[[ $(hs_time "$IF_A" "$(pub b)") == "$SW_HS" ]] && SW_REKEYED=0 || SW_REKEYED=1
	impl_alive "$IF_A"
	impl_alive "$IF_B"
	log "$tag: $ok/$reloads reloads, TCP $SW_MBIT Mbit/s (retransmits $SW_RETR), ping lost $SW_LOSS/$SW_SENT, rtt $SW_RTT ms; A fds/threads/RSS KiB $SW_BEFORE -> $SW_AFTER"
}
