#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_plugin_host: the plugin host defects of issue 12, through the real daemon.
#   1. A .so rebuilt at the same path is what a reload runs: `ctl plugins`
#      shows the new version string, and /proc/PID/maps no longer maps the
#      old (deleted) file once the old instance is gone.
#   2. Notes belong to their instance: 20 reloads, each under a new instance
#      name that sets a note keyed by that name, all succeed (leaked notes
#      would fill the interface's 8 slots); two instances of one plugin keep
#      two notes (instance_name); after a reload without them no note is left.
#   3. A config error names FILE:LINE:COLUMN of the offending key, both for a
#      plugin's own create() error and for a declared schema.
#   4. A descriptor larger than the host knows is refused, naming both sizes.
#   And a plugin built against the 1.x header still loads and runs.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd cc
[[ $TS_IMPL_A == tinescale && $TS_IMPL_B == tinescale ]] || skip "needs tinescale on both sides"

TP=$TS_BUILD/tests/plugins
[[ -e $TP/big_struct.so && -e $TP/counter_v1.so ]] || fail "test plugins missing in $TP (build the tree first)"
tunnel_up
ping_ok "$NS_A" 10.0.0.2 2
Y=$CONFDIR
ctl() { "$TS_BUILD/tinescale" ctl "$@"; }
PID=${IF_PID[$IF_A]}

# build VERSION: tests/plugins/notes_probe.c into $LOGDIR/plug/probe.so, as a user rebuilds it.
mkdir -p "$LOGDIR/plug"
build() {
	cc -shared -fPIC -I"$TS_SRC/include" -DTS_TEST_VERSION="\"$1\"" \
		"$TS_SRC/tests/plugins/notes_probe.c" -o "$LOGDIR/plug/probe.so" ||
		fail "cannot build notes_probe.c"
}

log "1. a rebuilt .so at the same path is reloaded"
build 1.0-first
cat >"$Y/probe.yaml" <<EOF2
version: 1
plugins:
  - { name: probe, use: $LOGDIR/plug/probe.so, hooks: [plaintext_in] }
EOF2
ctl "$IF_A" reload "$Y/probe.yaml" >/dev/null || fail "reload probe.yaml failed"
grep -q 'plugin notes_probe 1.0-first' <<<"$(ctl "$IF_A" plugins)" ||
	fail "first build not loaded: $(ctl "$IF_A" plugins)"
build 2.0-rebuilt
ctl "$IF_A" reload "$Y/probe.yaml" >/dev/null || fail "reload after the rebuild failed"
grep -q 'plugin notes_probe 2.0-rebuilt' <<<"$(ctl "$IF_A" plugins)" ||
	fail "ctl plugins does not show the rebuilt version: $(ctl "$IF_A" plugins)"
grep 'probe.so' "/proc/$PID/maps" >"$LOGDIR/maps.txt" || true
grep -q '(deleted)' "$LOGDIR/maps.txt" &&
	fail "the old build is still mapped: $(cat "$LOGDIR/maps.txt")"
grep -q "$LOGDIR/plug/probe.so" "$LOGDIR/maps.txt" || fail "the new build is not mapped: $(cat "$LOGDIR/maps.txt")"
grep -q 'probe: set by 2.0-rebuilt' <<<"$(ctl "$IF_A" status)" ||
	fail "the note shows the old build: $(ctl "$IF_A" status)"
ping_ok "$NS_A" 10.0.0.2 1

log "2. notes go with their instance: 20 reloads under new names, two instances"
for ((i = 0; i < 20; i++)); do
	printf 'version: 1\nplugins:\n  - { name: n%d, use: %s, hooks: [plaintext_in] }\n' \
		"$i" "$LOGDIR/plug/probe.so" >"$Y/n.yaml"
	ctl "$IF_A" reload "$Y/n.yaml" >"$LOGDIR/reload-n$i.log" 2>&1 ||
		fail "reload $i failed (notes leaked?): $(cat "$LOGDIR/reload-n$i.log")"
done
ctl "$IF_A" status >"$LOGDIR/status-n.txt"
grep -q '^ *n19: set by' "$LOGDIR/status-n.txt" || fail "note n19 missing: $(cat "$LOGDIR/status-n.txt")"
grep -Eq '^ *(n18|probe):' "$LOGDIR/status-n.txt" && fail "old instances' notes left: $(cat "$LOGDIR/status-n.txt")"
cat >"$Y/two.yaml" <<EOF2
version: 1
plugins:
  - { name: left, use: $LOGDIR/plug/probe.so, hooks: [plaintext_in] }
  - { name: right, use: $LOGDIR/plug/probe.so, hooks: [plaintext_in] }
EOF2
ctl "$IF_A" reload "$Y/two.yaml" >/dev/null || fail "reload two.yaml failed"
ctl "$IF_A" status >"$LOGDIR/status-two.txt"
{ grep -q '^ *left: set by' "$LOGDIR/status-two.txt" && grep -q '^ *right: set by' "$LOGDIR/status-two.txt"; } ||
	fail "two instances of one plugin do not keep two notes: $(cat "$LOGDIR/status-two.txt")"
printf 'version: 1\nplugins: []\n' >"$Y/empty.yaml"
ctl "$IF_A" reload "$Y/empty.yaml" >/dev/null || fail "reload empty.yaml failed"
ctl "$IF_A" status >"$LOGDIR/status-empty.txt"
grep -Eq '^ *(left|right|n19): ' "$LOGDIR/status-empty.txt" &&
	fail "notes outlive their instances: $(cat "$LOGDIR/status-empty.txt")"

log "3. config errors point at the key"
cat >"$Y/badcfg.yaml" <<EOF2
version: 1
plugin_path: [$TP]
plugins:
  - name: f
    use: fail_create
    hooks: [plaintext_in]
    config:
      colour: blue
      needle: hay
EOF2
cat >"$Y/badschema.yaml" <<EOF2
version: 1
plugins:
  - name: s
    use: $LOGDIR/plug/probe.so
    hooks: [plaintext_in]
    config:
      label: x
      count: 500
EOF2
cat >"$Y/unknown.yaml" <<EOF2
version: 1
plugins:
  - name: s
    use: $LOGDIR/plug/probe.so
    hooks: [plaintext_in]
    config: { label: x,  colour: blue }
EOF2
declare -A WANT=(
	[badcfg]="badcfg.yaml:9:7: plugin 'f' \(fail_create\): needle 'hay' not found"
	[badschema]="badschema.yaml:8:7: plugin 's' \(notes_probe\): 'count' is 500, expected 1..100"
	[unknown]="unknown.yaml:6:26: plugin 's' \(notes_probe\): unknown key 'colour'"
	[big]="plugin 'big' .*newer tinescale \(descriptor [0-9]+ bytes, this host knows [0-9]+\)"
)
cat >"$Y/big.yaml" <<EOF2
version: 1
plugin_path: [$TP]
plugins:
  - { name: big, use: big_struct, hooks: [] }
EOF2
for b in badcfg badschema unknown big; do
	if ctl "$IF_A" reload "$Y/$b.yaml" >"$LOGDIR/reload-$b.log" 2>&1; then
		fail "reload of $b.yaml succeeded"
	fi
	grep -Eq "${WANT[$b]}" "$LOGDIR/reload-$b.log" ||
		fail "reload $b.yaml: expected /${WANT[$b]}/, got: $(cat "$LOGDIR/reload-$b.log")"
done

log "4. an oversized descriptor is refused at start too"
if ip netns exec "$NS_A" "$TS_BUILD/tinescale" -f --pipeline "$Y/big.yaml" "${PFX}x0" \
	>"$LOGDIR/start-big.log" 2>&1; then
	fail "tinescale started with big.yaml"
fi
grep -Eq "big.yaml:4:23: ${WANT[big]}" "$LOGDIR/start-big.log" ||
	fail "start with big.yaml: expected the sizes, got: $(cat "$LOGDIR/start-big.log")"

log "a plugin built against the 1.x header still loads and runs"
cat >"$Y/v1.yaml" <<EOF2
version: 1
plugin_path: [$TP]
plugins:
  - { name: old, use: counter_v1, hooks: [plaintext_out, plaintext_in] }
EOF2
ctl "$IF_A" reload "$Y/v1.yaml" >/dev/null || fail "reload v1.yaml failed"
ping_ok "$NS_A" 10.0.0.2 3
ctl "$IF_A" plugins >"$LOGDIR/plugins-v1.txt"
grep -q 'instance old: plugin counter .* abi-v1' "$LOGDIR/plugins-v1.txt" ||
	fail "the v1 plugin is not shown as such: $(cat "$LOGDIR/plugins-v1.txt")"
sed -n '/^hook plaintext_out:/,/^hook /p' "$LOGDIR/plugins-v1.txt" | grep -Eq 'old .* pass ([3-9]|[1-9][0-9]+)' ||
	fail "the v1 plugin's hook did not pass the pings: $(cat "$LOGDIR/plugins-v1.txt")"
impl_alive "$IF_A"
log "ok"
