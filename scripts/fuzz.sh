#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Long libFuzzer runs of every target under ASan+UBSan, beyond the short
# ctest runs of CI (which stay as they are: build-fuzz, label fuzz).
#
# Builds the fuzz tree (clang, TS_FUZZ, TS_SANITIZE, RelWithDebInfo), runs
# each target for a given time (and/or number of executions) on a working
# copy of its corpus, then merges what grew back into
# tests/fuzz/corpus/<target>/ with -merge=1: only inputs that add coverage
# are added, and the seeds already there keep their names.  Prints, and
# appends to a results file, the executions, speed, corpus growth and
# crashes of each target.  Exits 1 if any target crashed (the reproducer is
# left in <build>/fuzz-long/<target>/artifacts/).
#
#   scripts/fuzz.sh [-t SECONDS] [-n RUNS] [-j JOBS] [-p PARALLEL]
#                   [-b BUILD_DIR] [-o RESULTS] [--no-merge] [TARGET...]
#
#   -t  seconds each target runs (default 600; per job)
#   -n  stop a job after this many executions (default: no limit)
#   -j  libFuzzer jobs per target, run side by side (-jobs/-workers; default 1)
#   -p  targets run at the same time (default 1)
#   -b  build directory (default build-fuzz-long)
#   -o  results file (default <build>/fuzz-results.txt)
#
# Long runs belong under `nice -n 19` on a shared machine:
#   nice -n 19 scripts/fuzz.sh -t 3600 -n 10000000 -p 9
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=600
runs=-1
jobs=1
parallel=1
build="build-fuzz-long"
results=
merge=1
targets=()

while (($#)); do
	case $1 in
	-t) seconds=$2; shift 2 ;;
	-n) runs=$2; shift 2 ;;
	-j) jobs=$2; shift 2 ;;
	-p) parallel=$2; shift 2 ;;
	-b) build=$2; shift 2 ;;
	-o) results=$2; shift 2 ;;
	--no-merge) merge=0; shift ;;
	-h | --help) sed -n '3,26p' "$0"; exit 0 ;;
	-*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
	*) targets+=("$1"); shift ;;
	esac
done
case $build in /*) ;; *) build=$root/$build ;; esac
results=${results:-$build/fuzz-results.txt}

if ! command -v clang >/dev/null; then
	echo "fuzz.sh: clang is needed (scripts/deps.sh installs it)" >&2
	exit 77
fi

cmake -S "$root" -B "$build" -DTS_FUZZ=ON -DTS_SANITIZE=ON -DCMAKE_C_COMPILER=clang \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 >/dev/null

if ((${#targets[@]} == 0)); then
	for dir in "$root"/tests/fuzz/corpus/*/; do
		targets+=("$(basename "$dir")")
	done
fi

# The executable of a target: anywhere in the build tree (plugins build some).
binary_of() {
	find "$build" -type f -perm -u+x -name "$1" -print -quit
}

# One target: fuzz, merge, and write its summary line to $work/summary.
run_target() {
	local t=$1 bin work corpus start end execs crashes added before
	bin=$(binary_of "$t")
	corpus=$root/tests/fuzz/corpus/$t
	work=$build/fuzz-long/$t
	if [[ -z $bin ]]; then
		echo "$t: no executable in $build" >&2
		printf '%-18s %8s %14s %10s %8s %8s\n' "$t" - - - - "NOT-BUILT" >"$build/fuzz-long/$t.summary"
		return
	fi
	rm -rf "$work"
	mkdir -p "$work/corpus" "$work/artifacts" "$corpus"
	cp -r "$corpus/." "$work/corpus/"
	start=$(date +%s)
	# Each job logs to fuzz-N.log in the working directory; a crash ends that job.
	(cd "$work" && "$bin" -max_total_time="$seconds" -runs="$runs" -max_len=4096 \
		-print_final_stats=1 -jobs="$jobs" -workers="$jobs" \
		-artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/run.log" 2>&1) || true
	end=$(date +%s)
	execs=$(cat "$work"/fuzz-*.log 2>/dev/null | awk '/stat::number_of_executed_units/ {s += $NF} END {print s + 0}')
	crashes=$(find "$work/artifacts" -type f | wc -l)
	before=$(find "$corpus" -type f | wc -l)
	if ((merge)); then
		"$bin" -merge=1 -max_len=4096 "$corpus" "$work/corpus" >"$work/merge.log" 2>&1 || true
	fi
	added=$(($(find "$corpus" -type f | wc -l) - before))
	printf '%-18s %8d %14d %10d %8d %8d\n' "$t" $((end - start)) "$execs" \
		$((execs / (end - start > 0 ? end - start : 1))) "$added" "$crashes" \
		>"$build/fuzz-long/$t.summary"
}

mkdir -p "$build/fuzz-long"
running=0
for t in "${targets[@]}"; do
	run_target "$t" &
	running=$((running + 1))
	if ((running >= parallel)); then
		wait -n || true
		running=$((running - 1))
	fi
done
wait

{
	echo "# scripts/fuzz.sh $(date -u '+%F %T') UTC, commit $(git -C "$root" rev-parse --short HEAD)," \
		"-t $seconds -n $runs -j $jobs -p $parallel"
	printf '%-18s %8s %14s %10s %8s %8s\n' target seconds executions exec/s added crashes
	for t in "${targets[@]}"; do
		cat "$build/fuzz-long/$t.summary"
	done
} | tee -a "$results"

total_crashes=$(find "$build"/fuzz-long/*/artifacts -type f 2>/dev/null | wc -l)
if ((total_crashes > 0)); then
	echo "fuzz.sh: crashes: see $build/fuzz-long/*/artifacts/" >&2
	exit 1
fi
du -sh "$root/tests/fuzz/corpus"
