#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_sdk: the README's "Write a plugin" build steps, as a user follows them.
#   1. `cmake --install $TS_BUILD --prefix T`, then with PKG_CONFIG_PATH=T/share/pkgconfig
#      `cc -shared -fPIC $(pkg-config --cflags tinescale-plugin) icmp_counter.c -o icmp_counter.so`
#      for docs/examples/icmp_counter.c (and once more with the project's warnings as errors).
#   2. Load it into a running tinescale (side A) with a pipeline: block 10.0.0.3.
#      Side B answers on 10.0.0.2 and 10.0.0.3, both routed to B by A's allowed IPs.
#   3. 3 pings to 10.0.0.2 answer, 3 pings to 10.0.0.3 do not; the plugin's
#      note on the peer, shown by `tinescale ctl IF status`, reads
#      "icmp: requests=3 replies=3 blocked=3", and the host counted 3 drops
#      for the instance on plaintext_out.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd cc pkg-config wg ping

EX=$TS_SRC/docs/examples/icmp_counter.c
[[ -r $EX ]] || fail "docs/examples/icmp_counter.c missing"
PREFIX=$LOGDIR/prefix
cmake --install "$TS_BUILD" --prefix "$PREFIX" >"$LOGDIR/install.log" 2>&1 ||
	fail "cmake --install $TS_BUILD --prefix $PREFIX failed: $(cat "$LOGDIR/install.log")"
export PKG_CONFIG_PATH=$PREFIX/share/pkgconfig
cflags=$(pkg-config --cflags tinescale-plugin) || fail "pkg-config does not know tinescale-plugin in $PKG_CONFIG_PATH"
SO=$LOGDIR/icmp_counter.so
# Exactly the README's command (word splitting of the pkg-config output intended).
# shellcheck disable=SC2086
(cd "$LOGDIR" && cc -shared -fPIC $cflags "$EX" -o icmp_counter.so) ||
	fail "the README's compile command fails for docs/examples/icmp_counter.c"
# shellcheck disable=SC2086
cc -shared -fPIC -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla -Werror $cflags "$EX" -o "$LOGDIR/strict.so" ||
	fail "docs/examples/icmp_counter.c has warnings with the project's flags"
# The other examples build from the installed SDK the same way (packet.h installed too).
for ex in ratelimit dnslog mss_clamp; do
	# shellcheck disable=SC2086
	cc -shared -fPIC -Wall -Wextra -Werror $cflags "$TS_SRC/docs/examples/$ex.c" -o "$LOGDIR/$ex.so" ||
		fail "docs/examples/$ex.c does not build from the installed SDK"
done
log "built $SO with $cflags"

two_hosts
IF_A=${PFX}sa
IF_B=${PFX}sb
keypair a b
conf_ini "$CONFDIR/a.conf" a 51820 "$(pub b)" "10.0.0.2/32, 10.0.0.3/32" 10.10.0.12:51820 -
conf_ini "$CONFDIR/b.conf" b 51820 "$(pub a)" 10.0.0.1/32 10.10.0.11:51820 -
cat >"$CONFDIR/pings.yaml" <<EOF
version: 1
plugins:
  - name: pings
    use: $SO
    hooks: [plaintext_out, plaintext_in]
    config: { block: 10.0.0.3, report_ms: 200 }
EOF
impl_start "$NS_A" "$IF_A" "$CONFDIR/a.conf" --address 10.0.0.1/24 --pipeline "$CONFDIR/pings.yaml"
impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --address 10.0.0.2/24 --address 10.0.0.3/24

ping_ok "$NS_A" 10.0.0.2 3
ping_fails "$NS_A" 10.0.0.3
# ping_fails sends 3 requests; the timer publishes the counts every 200 ms.
want="icmp: requests=3 replies=3 blocked=3"
for ((i = 0; i < 30; i++)); do
	"$TS_BUILD/tinescale" ctl "$IF_A" status >"$LOGDIR/status.txt" 2>&1 || true
	grep -qF "$want" "$LOGDIR/status.txt" && break
	sleep 0.1
done
grep -qF "$want" "$LOGDIR/status.txt" ||
	fail "tinescale ctl $IF_A status does not show '$want':
$(cat "$LOGDIR/status.txt")"
"$TS_BUILD/tinescale" ctl "$IF_A" plugins >"$LOGDIR/plugins.txt" 2>&1 ||
	fail "tinescale ctl $IF_A plugins failed: $(cat "$LOGDIR/plugins.txt")"
sed -n '/^hook plaintext_out:/,/^hook /p' "$LOGDIR/plugins.txt" | grep -Eq 'pings .* drop 3 ' ||
	fail "the host did not count 3 drops for 'pings' on plaintext_out:
$(cat "$LOGDIR/plugins.txt")"
impl_stop "$IF_A"
grep -q 'in all: 3 echo requests, 3 replies, 3 blocked' "${IF_LOG[$IF_A]}" ||
	fail "destroy() did not log the totals: $(tail -n 20 "${IF_LOG[$IF_A]}")"
log "the example plugin builds from the installed SDK, counts and drops as promised"
