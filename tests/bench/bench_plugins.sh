#!/usr/bin/env bash
# tests/bench/bench_plugins.sh: what plugins cost, measured (never asserted).
# One tinescale tunnel between two namespaces; for each round, every
# pipeline variant in turn (alternating, so drift hits them all alike) is
# loaded on BOTH peers with `tinescale ctl reload`, then iperf3 TCP runs
# A -> B for TS_BENCH_TCP_S seconds:
#   none      no plugin
#   pass1     one pass-through plugin (tests/plugins/passthrough.so) on all four hooks
#   pass10    ten such instances on all four hooks
#   hexdump   hexdump on all four hooks, output /dev/null (max_bytes 96)
#   pcap      pcap-writer on all four hooks, to a file in the log dir
# Prints median Mbit/s per variant and the ratio to "none"; writes the table
# to $TS_BUILD/bench/plugins.txt.  Environment: TS_BENCH_ROUNDS (3),
# TS_BENCH_TCP_S (8), TS_BUILD, TS_SRC.
# shellcheck source=../net/lib.sh
. "$(dirname "$0")/../net/lib.sh"
require_root
require_cmd iperf3
ROUNDS=${TS_BENCH_ROUNDS:-3}
TCP_S=${TS_BENCH_TCP_S:-8}
OUT=$TS_BUILD/bench
mkdir -p "$OUT"
TP=$TS_BUILD/tests/plugins
[[ -e $TP/passthrough.so && -e $TS_BUILD/plugins/hexdump.so && -e $TS_BUILD/plugins/pcap-writer.so ]] ||
	fail "plugins missing in $TS_BUILD (build the whole tree first)"
TS_IMPL_A=tinescale TS_IMPL_B=tinescale
HOOKS='[plaintext_out, ciphertext_out, ciphertext_in, plaintext_in]'

variant() { # NAME SIDE: writes $CONFDIR/NAME-SIDE.yaml
	local f=$CONFDIR/$1-$2.yaml i
	{
		printf 'version: 1\nplugin_path: [%s, %s]\nplugins:' "$TP" "$TS_BUILD/plugins"
		case $1 in
		none) printf ' []\n' ;;
		pass1) printf '\n  - {name: p1, use: passthrough, hooks: %s}\n' "$HOOKS" ;;
		pass10)
			printf '\n'
			for i in $(seq 1 10); do
				printf '  - {name: p%s, use: passthrough, hooks: %s}\n' "$i" "$HOOKS"
			done
			;;
		hexdump)
			printf '\n  - {name: dump, use: hexdump, hooks: %s, config: {output: /dev/null, max_bytes: 96}}\n' "$HOOKS" ;;
		pcap)
			printf '\n  - {name: cap, use: pcap-writer, hooks: %s, config: {path: %s}}\n' \
				"$HOOKS" "$LOGDIR/cap-$2.pcapng" ;;
		esac
	} >"$f"
}

VARIANTS=(none pass1 pass10 hexdump pcap)
for v in "${VARIANTS[@]}"; do
	variant "$v" a
	variant "$v" b
done
tunnel_up
ping_ok "$NS_A" 10.0.0.2 3
RAW=$OUT/plugins-raw.tsv
printf 'round\tvariant\ttcp_mbit\n' >"$RAW"
for ((r = 1; r <= ROUNDS; r++)); do
	for v in "${VARIANTS[@]}"; do
		"$TS_BUILD/tinescale" ctl "$IF_A" reload "$CONFDIR/$v-a.yaml" >/dev/null ||
			fail "reload $v on A failed"
		"$TS_BUILD/tinescale" ctl "$IF_B" reload "$CONFDIR/$v-b.yaml" >/dev/null ||
			fail "reload $v on B failed"
		iperf_server "$NS_B" 10.0.0.2
		ip netns exec "$NS_A" iperf3 -c 10.0.0.2 -t "$TCP_S" --json >"$LOGDIR/$v-r$r.json" ||
			fail "iperf3 with $v failed"
		bg_wait "$BG_PID" || true
		t=$("$TS_PY" -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6))' "$LOGDIR/$v-r$r.json")
		printf '%s\t%s\t%s\n' "$r" "$v" "$t" >>"$RAW"
		log "round $r $v: TCP $t Mbit/s"
	done
done
"$TS_PY" - "$RAW" "$ROUNDS" >"$OUT/plugins.txt" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
names = []
for r in rows:
    if r["variant"] not in names:
        names.append(r["variant"])
med = {n: statistics.median(float(r["tcp_mbit"]) for r in rows if r["variant"] == n) for n in names}
print(f"plugin cost: TCP through the tunnel, medians of {sys.argv[2]} rounds, variants alternating")
print(f"{'pipeline (both peers)':<34}{'TCP Mbit/s':>12}{'vs none':>10}")
desc = {"none": "none", "pass1": "1 pass-through x 4 hooks", "pass10": "10 pass-through x 4 hooks",
        "hexdump": "hexdump x 4 hooks (/dev/null)", "pcap": "pcap-writer x 4 hooks"}
for n in names:
    print(f"{desc.get(n, n):<34}{med[n]:>12.1f}{med[n] / med['none']:>10.3f}")
PY
cat "$OUT/plugins.txt"
