#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_readme: every command README.md shows in a code block is run, as written,
# by this test or by the test named below; the --help blocks are the
# programs' output, byte for byte; the plugin walk-through's C blocks are
# docs/examples/ratelimit.c.  A new shell block that no test runs fails
# here: add it to the table below.
#
#   try command       here: all but scripts/deps.sh (test.sh's first stage),
#                     `cmake --install build` under DESTDIR (not into /usr/local
#                     of the test machine), then scripts/demo.sh
#   scripts/test.sh   is the suite itself (.ci/run runs it)
#   systemctl ...     needs systemd as PID 1: the units are checked by
#                     unit.systemd_units, READY=1 by net.t_sdnotify
#   two wg0 (blue/green), tinescale-relay, the SDK
#   build, `TS_BUILD=... t_demo.sh`: here
#   docker/same-net   tests/docker/t_docker.sh runs that line as written
#   capture, --metrics, --json  net.t_capture and net.t_metrics run them (with
#                     the test's interface names, tshark -c, a scraper)
#   ctest -L ...      scripts/test.sh runs these labels
# Only with TS_BUILD = TS_SRC/build (the README's build/); otherwise skipped.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd cmake cc pkg-config wg nsenter unshare tshark
[[ $(cd "$TS_BUILD" && pwd) == "$(cd "$TS_SRC/build" 2>/dev/null && pwd)" ]] ||
	skip "the README's commands use build/: run with TS_BUILD=\$TS_SRC/build"

R=$TS_SRC/README.md
BLOCKS=$TS_SRC/tests/net/readme_blocks.py
block() { "$TS_PY" "$BLOCKS" "$R" get "$1"; }

# --- every shell block has a runner --------------------------------------
# shellcheck disable=SC2016 # the README's text, not expanded
declare -A RUNNER=(
	['scripts/deps.sh && cmake -S . -B build && cmake --build build -j"$(nproc)" && cmake --install build && scripts/demo.sh']=try
	['scripts/test.sh']=suite
	['scripts/test.sh            # deps, then build/ (every ctest; docker/ on a real engine']=suite
	['systemctl enable --now tinescale@wg0     # /etc/tinescale/wg0.conf (wg setconf format)']=systemd
	['for ns in blue green; do']=twons
	['tinescale-relay --listen 0.0.0.0:3478 --key relay.key      # on a public host']=relay
	['cmake --install build --prefix /tmp/ts']=sdk
	['tinescale ctl wg0 capture | tshark -i -          # or: | wireshark -k -i -']=observe
	['cd docker/same-net && DOCKER_BUILDKIT=1 docker build -f ../Dockerfile -t tinescale ../.. && docker-compose up']=docker
	['ctest --test-dir build -L unit --output-on-failure']=ctest
)
declare -A BLOCKNO=()
while IFS=$'\t' read -r n first; do
	if [[ -n ${RUNNER[$first]:-} ]]; then
		BLOCKNO[${RUNNER[$first]}]+="$n "
	elif [[ $first =~ ^(sudo|scripts/|cmake|ctest|tinescale|wg|ip|cd|export|cc|systemctl|for|docker|nsenter|tshark|debootstrap|apt|git|make|bash|\./)( |$) ]]; then
		fail "README block $n ('$first') is a command no test runs: add it to t_readme.sh"
	fi
done < <("$TS_PY" "$BLOCKS" "$R" list)
for r in try twons relay sdk ctest; do
	[[ -n ${BLOCKNO[$r]:-} ]] || fail "README lost its '$r' block (update t_readme.sh)"
done

# --- the --help blocks and the example ----------------------------------
for cmd in "tinescale --help" "tinescale ctl --help" "tinescale-relay --help"; do
	want=$("$TS_PY" "$BLOCKS" "$R" after "\`$cmd\`:") || fail "README has no block after \`$cmd\`:"
	# shellcheck disable=SC2086 # the command's words
	got=$("$TS_BUILD"/$cmd 2>&1) || true
	[[ $got == "$want" ]] || fail "README's \`$cmd\` block is not the output:
$(diff <(echo "$want") <(echo "$got"))"
done
# The walk-through's C blocks are docs/examples/ratelimit.c, verbatim.
"$TS_PY" - "$R" "$TS_SRC/docs/examples/ratelimit.c" <<'PY' || fail "README's plugin walk-through is not docs/examples/ratelimit.c"
import re, sys
readme, src = (open(p, encoding="utf-8").read() for p in sys.argv[1:3])
blocks = re.findall(r"^```c\n(.*?)^```", readme, flags=re.S | re.M)
bad = [b.split("\n")[0] for b in blocks if b not in src]
if not blocks or bad:
    sys.exit("not in ratelimit.c: %s" % (bad or "no C block"))
PY
log "the --help blocks and the plugin example match"

# --- the try command -----------------------------------------------------
try=$(block "${BLOCKNO[try]%% *}")
try=${try%$'\n'}
[[ $try == "scripts/deps.sh && "* ]] || fail "the try command no longer starts with scripts/deps.sh"
DEST=$LOGDIR/destdir
log "try command, without scripts/deps.sh, cmake --install under DESTDIR=$DEST"
(cd "$TS_SRC" && DESTDIR=$DEST bash -ec "${try#scripts/deps.sh && }") >"$LOGDIR/try.log" 2>&1 ||
	fail "the try command failed: $(tail -n 30 "$LOGDIR/try.log")"
grep -q 'Done: namespaces, processes and files removed' "$LOGDIR/try.log" || fail "the demo did not finish"
for f in bin/tinescale bin/tinescale-relay lib/tinescale/plugins/hexdump.so \
	share/pkgconfig/tinescale-plugin.pc lib/systemd/system/tinescale@.service; do
	[[ -e $DEST/usr/local/$f ]] || fail "cmake --install build installs no /usr/local/$f"
done
# Debian's root PATH has /usr/local/bin: `tinescale` is then typed as is.
INSTALLED=$DEST/usr/local/bin

# --- two wg0 in two namespaces, and the SDK section's `wg set` -----------
for ns in blue green; do
	ip netns list | awk '{ print $1 }' | grep -x "$ns" >/dev/null && fail "a namespace $ns exists already"
done
TS_ATEXIT+=("ip -n blue link del wg0 2>/dev/null; ip -n green link del wg0 2>/dev/null; ip netns del blue 2>/dev/null; ip netns del green 2>/dev/null")
twons=$(block "${BLOCKNO[twons]%% *}")
last=$(grep '^ip -n blue link del' <<<"$twons") || fail "the blue/green block lost its clean-up line"
(cd "$TS_SRC" && PATH=$INSTALLED:$PATH bash -ec "${twons%"$last"*}") >"$LOGDIR/twons.log" 2>&1 ||
	fail "the blue/green block failed: $(cat "$LOGDIR/twons.log")"
grep -q '^interface: wg0' "$LOGDIR/twons.log" || fail "wg show wg0 in green showed nothing"
for ns in blue green; do
	pid=$(ip netns pids "$ns" | head -n 1) # the daemon, then its root helper
	[[ -n $pid ]] || fail "no daemon in $ns"
	nsenter -t "$pid" -m -n wg show wg0 listen-port | grep -x 51820 >/dev/null || fail "wg0 in $ns is not served"
done
(cd "$TS_SRC" && bash -ec "$last") || fail "the blue/green clean-up line failed"
for ((i = 0; i < 50; i++)); do
	ip netns list | grep -E '^(blue|green)( |$)' >/dev/null || break
	sleep 0.1
done
pgrep -f 'tinescale --ipc configs/peer1.ipc wg0$' && fail "a blue/green daemon survived its interface"
log "two wg0 in two namespaces, each with its own /run"

# --- tinescale-relay (the NAT pair section's first line) -----------------
relay=$(block "${BLOCKNO[relay]%% *}" | head -n 1)
RDIR=$LOGDIR/relay
mkdir -p "$RDIR"
(umask 077 && wg genkey >"$RDIR/relay.key")
ns_create "$PFX-r"
# shellcheck disable=SC2016 # $1, $2: sh -c's arguments
bg relay ip netns exec "$PFX-r" unshare -m sh -c \
	'mount -t tmpfs tmpfs /run/tinescale && cd "$1" && exec bash -c "$2"' sh "$RDIR" "PATH=$INSTALLED:\$PATH; $relay"
for ((i = 0; i < 50; i++)); do
	grep -q 'listening on 0.0.0.0:3478' "$LOGDIR/relay.log" && break
	sleep 0.1
done
grep -q 'listening on 0.0.0.0:3478' "$LOGDIR/relay.log" || fail "the README's tinescale-relay line did not start"
log "tinescale-relay --listen 0.0.0.0:3478 --key relay.key runs"

# --- the SDK build, at the top of a source tree ---------------------------
SDK=$LOGDIR/sdk
mkdir -p "$SDK"
ln -s "$TS_SRC/build" "$SDK/build"
ln -s "$TS_SRC/docs" "$SDK/docs"
had_ts=0
[[ -e /tmp/ts ]] && had_ts=1
((had_ts)) || TS_ATEXIT+=("rm -rf /tmp/ts")
(cd "$SDK" && bash -ec "$(block "${BLOCKNO[sdk]%% *}")") >"$LOGDIR/sdk.log" 2>&1 ||
	fail "the SDK block failed: $(cat "$LOGDIR/sdk.log")"
nm -D "$SDK/ratelimit.so" | grep ' tinescale_plugin_v2$' >/dev/null || fail "ratelimit.so exports no tinescale_plugin_v2"
log "the SDK block builds ratelimit.so"

# --- the Testing section's one-scenario line ------------------------------
line=$(block "${BLOCKNO[ctest]%% *}" | grep 'bash tests/net/t_demo.sh') ||
	fail "the Testing block lost its t_demo.sh line"
(cd "$TS_SRC" && bash -ec "${line%%#*}") >"$LOGDIR/t_demo.log" 2>&1 ||
	fail "$line failed: $(tail -n 20 "$LOGDIR/t_demo.log")"
log "README commands: all ran"
