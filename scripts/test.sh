#!/usr/bin/env bash
# scripts/test.sh: the project's one test command (README, CI).
#   1. scripts/deps.sh (skip with --no-deps)
#   2. build/       -DTS_WERROR=ON, every ctest (unit, net as root, ...) but
#                   the docker label, then the docker stage: docker/ on a real
#                   engine (tests/docker/t_docker.sh starts and stops dockerd),
#                   and net.t_nat_eim once more on the host dockerd leaves
#   3. build-asan/  ASan+UBSan: the unit tests, then the network scenarios
#                   labelled net-sanitized against the sanitized daemon,
#                   relay and plugins (a sanitizer report fails them)
#   4. build-tsan/  ThreadSanitizer: the unit tests, then the network
#                   scenarios labelled net-tsan (reloads, UAPI sets, timers
#                   and traffic at once); any report fails them
#   5. build-fuzz/  clang + libFuzzer, ctest -L fuzz (only if clang exists)
# Every stage runs even if an earlier one failed; the summary lists them all
# and the exit status is non-zero if any failed.
set -uo pipefail

usage() {
	echo "usage: scripts/test.sh [--no-deps]" >&2
	exit 2
}
deps=1
for a in "$@"; do
	case $a in
	--no-deps) deps=0 ;;
	-h | --help) usage ;;
	*) usage ;;
	esac
done
cd "$(dirname "$0")/.." || exit 1
SRC=$PWD
JOBS=${TS_JOBS:-$(nproc)}
declare -a results=()
rc=0

# stage NAME CMD...: run, record PASS/FAIL.
stage() {
	local name=$1
	shift
	printf '\n=== %s ===\n' "$name"
	if "$@"; then
		results+=("PASS  $name")
	else
		results+=("FAIL  $name")
		rc=1
		return 1
	fi
}

# build_and_test DIR LABEL [EXCLUDED-LABEL] -- CMAKE-ARGS...
build_and_test() {
	local dir=$1 label=$2 exclude=
	shift 2
	if [[ $1 != -- ]]; then
		exclude=$1
		shift
	fi
	shift
	stage "configure $dir" cmake -S "$SRC" -B "$SRC/$dir" -DTS_WERROR=ON "$@" &&
		stage "build $dir" cmake --build "$SRC/$dir" -j "$JOBS" &&
		stage "test $dir${label:+ ($label)}${exclude:+ (all but $exclude)}" \
			ctest --test-dir "$SRC/$dir" --output-on-failure -j "$JOBS" \
			${label:+-L "$label"} ${exclude:+-LE "$exclude"}
}

if ((deps)); then
	stage "dependencies (scripts/deps.sh)" "$SRC/scripts/deps.sh"
fi
build_and_test build "" docker --
# Also when a test above failed; a failed configure leaves no test: an error.
stage "test build (docker)" \
	ctest --test-dir "$SRC/build" --output-on-failure --no-tests=error -L docker &&
	stage "test build (net.t_nat_eim after dockerd)" \
		ctest --test-dir "$SRC/build" --output-on-failure --no-tests=error -R '^net\.t_nat_eim$'
build_and_test build-asan unit -- -DTS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug &&
	stage "test build-asan (net-sanitized)" \
		ctest --test-dir "$SRC/build-asan" --output-on-failure -L net-sanitized
# ThreadSanitizer: a unit test with a report exits 66 at its end (so ctest
# fails it) but runs to completion; reports go to stderr, which ctest shows
# and the net tests' lib.sh greps in each daemon's log.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0 second_deadlock_stack=1 log_path=stderr}
build_and_test build-tsan unit -- -DTS_TSAN=ON &&
	stage "test build-tsan (net-tsan)" \
		ctest --test-dir "$SRC/build-tsan" --output-on-failure -L net-tsan
if command -v clang >/dev/null; then
	build_and_test build-fuzz fuzz -- -DTS_FUZZ=ON -DTS_SANITIZE=ON -DCMAKE_C_COMPILER=clang
else
	results+=("SKIP  build-fuzz (no clang)")
fi

printf '\n=== summary ===\n'
printf '%s\n' "${results[@]}"
exit "$rc"
