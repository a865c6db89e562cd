#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_example_ratelimit: docs/examples/ratelimit.c (per-peer state, schema, migrate).
#   - rate 2/s, burst 10 on A's plaintext_out: of 30 pings sent 10 ms apart,
#     about 10 pass and the rest are dropped (counted by the host);
#   - a reload of the same pipeline keeps the buckets (migrate): 10 more
#     pings right after get at most a few through, not a fresh burst of 10;
#   - a rate out of the schema's range is refused at its key.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
[[ $TS_IMPL_A == tinescale ]] || skip "needs tinescale on side A"
SO=$TS_BUILD/tests/plugins/examples/ratelimit.so
[[ -e $SO ]] || fail "$SO missing (build the tree first)"
tunnel_up
ping_ok "$NS_A" 10.0.0.2 2
ctl() { "$TS_BUILD/tinescale" ctl "$@"; }
cat >"$CONFDIR/rl.yaml" <<EOF2
version: 1
plugins:
  - name: limit
    use: $SO
    hooks: [plaintext_out]
    config: { rate: 2, burst: 10 }
EOF2
# burst NAME COUNT: COUNT pings 10 ms apart; prints how many were answered.
burst() {
	ip netns exec "$NS_A" ping -n -q -c "$2" -i 0.01 -W 1 10.0.0.2 >"$LOGDIR/$1.txt" 2>&1 || true
	sed -n 's/.* \([0-9]\+\) received.*/\1/p' "$LOGDIR/$1.txt"
}
ctl "$IF_A" reload "$CONFDIR/rl.yaml" >/dev/null || fail "reload rl.yaml failed"
rx=$(burst first 30)
log "first burst: $rx of 30 answered"
((rx >= 8 && rx <= 13)) || fail "rate 2/s burst 10: $rx of 30 pings answered, expected about 10"
ctl "$IF_A" plugins >"$LOGDIR/plugins.txt"
grep -Eq 'limit \(ratelimit 1.0\) priority 100: packets [0-9]+ pass [0-9]+ drop (1[5-9]|2[0-9])' \
	"$LOGDIR/plugins.txt" || fail "the host did not count the drops: $(cat "$LOGDIR/plugins.txt")"

log "a reload keeps the buckets"
ctl "$IF_A" reload "$CONFDIR/rl.yaml" >/dev/null || fail "second reload failed"
rx=$(burst second 10)
log "after the reload: $rx of 10 answered"
((rx <= 4)) || fail "after a reload $rx of 10 pings passed: the buckets started over (no migrate)"

log "the schema refuses a rate out of range, at its key"
sed 's/rate: 2,/rate: 0,/' "$CONFDIR/rl.yaml" >"$CONFDIR/bad.yaml"
if ctl "$IF_A" reload "$CONFDIR/bad.yaml" >"$LOGDIR/bad.txt" 2>&1; then
	fail "rate 0 accepted"
fi
grep -q "bad.yaml:6:15: plugin 'limit' (ratelimit): 'rate' is 0, expected 1..10000000" "$LOGDIR/bad.txt" ||
	fail "unexpected error: $(cat "$LOGDIR/bad.txt")"
impl_stop "$IF_A"
grep -Eq "plugin 'limit': dropped [0-9]+ packets" "${IF_LOG[$IF_A]}" || fail "destroy() did not log its drops"
log "ok"
