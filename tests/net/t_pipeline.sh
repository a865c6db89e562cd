#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_pipeline: the plugin host through the real daemon (issue 3).
#   - every kind of bad pipeline is refused at start (one line naming
#     FILE:LINE:COLUMN, non-zero exit, no interface left behind) and at
#     reload (ctl fails with the reason, the running pipeline stays, the
#     tunnel keeps forwarding);
#   - a plugin that drops ICMP echo on plaintext_out stops ping while it is
#     loaded, and ping works again after a reload without it;
#   - a byte rewritten on A's ciphertext_out and rewritten back on B's
#     ciphertext_in leaves the tunnel working; rewritten on one side only, the
#     WireGuard authentication rejects it: hooks really see and change the
#     datagrams;
#   - SIGHUP reloads the current file.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
[[ $TS_IMPL_A == tinescale && $TS_IMPL_B == tinescale ]] || skip "needs tinescale on both sides"

TP=$TS_BUILD/tests/plugins
[[ -e $TP/drop_icmp.so ]] || fail "test plugins missing in $TP (build the tree first)"
tunnel_up
ping_ok "$NS_A" 10.0.0.2 3
Y=$CONFDIR
ctl() { "$TS_BUILD/tinescale" ctl "$@"; }

# yaml NAME BODY: a pipeline file with the test plugins on its path.
yaml() {
	printf 'version: 1\nplugin_path: [%s]\n%s\n' "$TP" "$2" >"$Y/$1.yaml"
}
yaml empty 'plugins: []'
yaml drop 'plugins:
  - name: noping
    use: drop_icmp
    hooks: [plaintext_out]'
yaml rw_a 'plugins:
  - name: flip
    use: rewrite
    hooks: [ciphertext_out]
    config: { offset: 20, xor: 90 }'
yaml rw_b 'plugins:
  - name: unflip
    use: rewrite
    hooks: [ciphertext_in]
    config: { offset: 20, xor: 90 }'
# The bad ones, with the message each must produce.
yaml bad_key 'plugins:
  - name: x
    use: drop_icmp
    hooks: [plaintext_out]
    colour: blue'
yaml bad_hook 'plugins:
  - name: x
    use: drop_icmp
    hooks: [plaintext_sideways]'
yaml bad_dup 'plugins:
  - name: x
    use: drop_icmp
    hooks: [plaintext_out]
  - name: x
    use: drop_icmp
    hooks: [plaintext_out]'
yaml bad_missing 'plugins:
  - name: x
    use: no_such_plugin
    hooks: [plaintext_out]'
yaml bad_nodesc 'plugins:
  - name: x
    use: no_descriptor
    hooks: [plaintext_out]'
yaml bad_abi 'plugins:
  - name: x
    use: bad_abi
    hooks: [plaintext_out]'
yaml bad_create 'plugins:
  - name: x
    use: fail_create
    hooks: [plaintext_in]'
yaml bad_syntax 'plugins: [ { name: x'
declare -A WANT=(
	[bad_key]="bad_key.yaml:7:5:.*colour"
	[bad_hook]="bad_hook.yaml:6:13:.*plaintext_sideways"
	[bad_dup]="bad_dup.yaml:7:11:.*duplicate"
	[bad_missing]="bad_missing.yaml:5:10:.*not found"
	[bad_nodesc]="bad_nodesc.yaml:5:10:.*tinescale_plugin_v2"
	[bad_abi]="bad_abi.yaml:5:10:.*ABI version 99, expected 2"
	[bad_create]="bad_create.yaml:4:5: plugin 'x' \(fail_create\): needle is required"
	[bad_syntax]="bad_syntax.yaml:[0-9]+:[0-9]+:"
)

log "bad pipelines at start: refused, nothing left behind"
n=0
for b in "${!WANT[@]}"; do
	ifx=${PFX}x$((n++))
	if ip netns exec "$NS_A" "$TS_BUILD/tinescale" -f --pipeline "$Y/$b.yaml" "$ifx" \
		>"$LOGDIR/start-$b.log" 2>&1; then
		fail "tinescale started with $b.yaml"
	fi
	grep -Eq "${WANT[$b]}" "$LOGDIR/start-$b.log" ||
		fail "start with $b.yaml: expected /${WANT[$b]}/, got: $(cat "$LOGDIR/start-$b.log")"
	ip -n "$NS_A" link show "$ifx" >/dev/null 2>&1 && fail "$ifx left behind after $b.yaml"
	[[ -e /var/run/wireguard/$ifx.sock ]] && fail "socket of $ifx left behind after $b.yaml"
done

log "drop_icmp on plaintext_out: ping fails while loaded"
ctl "$IF_A" reload "$Y/drop.yaml" >/dev/null || fail "reload drop.yaml failed"
ping_fails "$NS_A" 10.0.0.2
ctl "$IF_A" plugins | grep -Eq 'noping.*drop [1-9]' || fail "ctl plugins shows no drops: $(ctl "$IF_A" plugins)"

log "bad pipelines at reload: refused, the running one stays"
for b in "${!WANT[@]}"; do
	if ctl "$IF_A" reload "$Y/$b.yaml" >"$LOGDIR/reload-$b.log" 2>&1; then
		fail "reload of $b.yaml succeeded"
	fi
	grep -Eq "${WANT[$b]}" "$LOGDIR/reload-$b.log" ||
		fail "reload $b.yaml: expected /${WANT[$b]}/, got: $(cat "$LOGDIR/reload-$b.log")"
	grep -q "drop.yaml" <<<"$(ctl "$IF_A" plugins)" || fail "the running pipeline changed after $b.yaml"
done
ping_fails "$NS_A" 10.0.0.2
ping_ok "$NS_B" 10.0.0.1 2 # B -> A requests pass (only A's outgoing echo requests drop)
n=$(grep -c "ctl reload failed, the running pipeline stays" "${IF_LOG[$IF_A]}") || true
((n == ${#WANT[@]})) || fail "A's log records $n rejected reloads, expected ${#WANT[@]}"

log "reload without the plugin: ping works again"
ctl "$IF_A" reload "$Y/empty.yaml" >/dev/null || fail "reload empty.yaml failed"
ping_ok "$NS_A" 10.0.0.2 3

log "rewrite on one side only breaks authentication; on both sides it cancels out"
ctl "$IF_A" reload "$Y/rw_a.yaml" >/dev/null || fail "reload rw_a.yaml failed"
ping_fails "$NS_A" 10.0.0.2
ctl "$IF_B" reload "$Y/rw_b.yaml" >/dev/null || fail "reload rw_b.yaml failed"
ping_ok "$NS_A" 10.0.0.2 3
ctl "$IF_A" reload "$Y/empty.yaml" >/dev/null && ctl "$IF_B" reload "$Y/empty.yaml" >/dev/null
ping_ok "$NS_A" 10.0.0.2 3

log "SIGHUP reloads the current file"
cp "$Y/drop.yaml" "$Y/current.yaml"
ctl "$IF_A" reload "$Y/current.yaml" >/dev/null || fail "reload current.yaml failed"
ping_fails "$NS_A" 10.0.0.2
cp "$Y/empty.yaml" "$Y/current.yaml"
kill -HUP "${IF_PID[$IF_A]}"
for ((i = 0; i < 30; i++)); do
	grep -q "(0 instances)" <<<"$(ctl "$IF_A" plugins)" && break
	sleep 0.1
done
grep -q "(0 instances)" <<<"$(ctl "$IF_A" plugins)" || fail "SIGHUP did not reload: $(ctl "$IF_A" plugins)"
ping_ok "$NS_A" 10.0.0.2 3
impl_alive "$IF_A"
impl_alive "$IF_B"
