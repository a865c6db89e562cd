#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_secrets: no private or preshared key in any log or capture (issue 11).
# Two tinescale peers with a preshared key (A's from its INI file, B's
# through `wg set ... preshared-key`), both logging at debug level, both
# running hexdump (whole packets) and pcap-writer without key log or
# embedded secrets on every hook; traffic, a reload, a private key change
# on B and its renewed handshake, `tinescale ctl status`.  Then every file
# the run produced (daemon logs, hexdump text, pcapng captures, ctl and wg
# outputs) is searched for each private and preshared key (old and new)
# as base64, hex (either case) and raw bytes: one hit fails the test.
# Files that carry secrets on purpose (pcap-writer's keylog) must be 0600.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd wg
[[ $TS_IMPL_A == tinescale && $TS_IMPL_B == tinescale ]] || skip "both sides must be tinescale"

two_hosts
IF_A=${PFX}sa
IF_B=${PFX}sb
keypair a b b2
(umask 077 && wg genpsk >"$CONFDIR/psk.key")
OUT=$LOGDIR/out # everything searched
mkdir -p "$OUT"
chown "$TS_DAEMON_USER" "$OUT"
conf_ini "$CONFDIR/a.conf" a 51820 "$(pub b)" 10.0.0.2/32 10.10.0.12:51820 -
printf 'PresharedKey = %s\n' "$(cat "$CONFDIR/psk.key")" >>"$CONFDIR/a.conf"
conf_ini "$CONFDIR/b.conf" b 51820 "$(pub a)" 10.0.0.1/32 10.10.0.11:51820 -
pipe() { # SIDE
	{
		printf 'version: 1\nplugin_path: [%s]\nplugins:\n' "$TS_BUILD/plugins"
		printf '  - name: hd\n    use: hexdump\n    hooks: [plaintext_out, ciphertext_out, ciphertext_in, plaintext_in]\n'
		printf '    config: { output: %s/%s.hex, max_bytes: 65535 }\n' "$OUT" "$1"
		printf '  - name: pw\n    use: pcap-writer\n    hooks: [plaintext_out, ciphertext_out, ciphertext_in, plaintext_in]\n'
		printf '    config: { path: %s/%s.pcapng }\n' "$OUT" "$1"
	} >"$CONFDIR/$1.yaml"
}
pipe a
pipe b
impl_start "$NS_A" "$IF_A" "$CONFDIR/a.conf" --address 10.0.0.1/24 --pipeline "$CONFDIR/a.yaml"
impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --address 10.0.0.2/24 --pipeline "$CONFDIR/b.yaml"
wg set "$IF_B" peer "$(pub a)" preshared-key "$CONFDIR/psk.key"
ping_ok "$NS_B" 10.0.0.1 5
"$TS_BUILD/tinescale" ctl "$IF_A" reload >"$OUT/reload.txt" 2>&1 || fail "reload failed: $(cat "$OUT/reload.txt")"
# A key log next to a capture: secrets on purpose, so 0600 and not searched.
printf 'version: 1\nplugin_path: [%s]\nplugins:\n  - name: kl\n    use: pcap-writer\n    hooks: [ciphertext_out, ciphertext_in]\n    config: { path: %s/kl.pcapng, keylog: %s/kl.keys }\n' \
	"$TS_BUILD/plugins" "$LOGDIR" "$LOGDIR" >"$CONFDIR/kl.yaml"
"$TS_BUILD/tinescale" ctl "$IF_B" reload "$CONFDIR/kl.yaml" >/dev/null || fail "keylog reload failed"
# B's new private key: A learns its new public key, a new handshake follows.
wg set "$IF_B" private-key "$CONFDIR/b2.key"
wg set "$IF_A" peer "$(pub b)" remove
wg set "$IF_A" peer "$(pub b2)" allowed-ips 10.0.0.2/32 endpoint 10.10.0.12:51820 \
	preshared-key "$CONFDIR/psk.key"
# B may not initiate again within REKEY_TIMEOUT (5 s) of its last initiation.
for ((i = 0; i < 15; i++)); do
	ip netns exec "$NS_B" ping -n -c 1 -W 1 10.0.0.1 >/dev/null 2>&1 && break
done
ping_ok "$NS_B" 10.0.0.1 5
"$TS_BUILD/tinescale" ctl "$IF_B" reload "$CONFDIR/b.yaml" >/dev/null || fail "reload of b.yaml failed"
ping_ok "$NS_A" 10.0.0.2 3
for i in "$IF_A" "$IF_B"; do
	"$TS_BUILD/tinescale" ctl "$i" status >"$OUT/status-$i.txt"
	wg show "$i" >"$OUT/wgshow-$i.txt"
done
impl_stop "$IF_A"
impl_stop "$IF_B"
[[ $(stat -c %a "$LOGDIR/kl.keys") == 600 ]] || fail "the key log is mode $(stat -c %a "$LOGDIR/kl.keys")"
grep -q . "$LOGDIR/kl.keys" || fail "the key log is empty: the run made no handshake?"
for f in a b; do [[ -s $OUT/$f.hex && -s $OUT/$f.pcapng ]] || fail "no hexdump or capture for $f"; done

files=("$LOGDIR"/tinescale-*.log "$OUT"/*)
"$TS_PY" - "$CONFDIR/a.key" "$CONFDIR/b.key" "$CONFDIR/b2.key" "$CONFDIR/psk.key" -- "${files[@]}" <<'PY' ||
import base64, sys
args = sys.argv[1:]
sep = args.index("--")
keys, files = args[:sep], args[sep + 1:]
needles = []
for k in keys:
    b64 = open(k).read().strip()
    raw = base64.b64decode(b64)
    assert len(raw) == 32
    for form, n in (("base64", b64.encode()), ("hex", raw.hex().encode()),
                    ("HEX", raw.hex().upper().encode()), ("raw", raw),
                    ("base64 without padding", b64.rstrip("=").encode())):
        needles.append((k, form, n))
hits = 0
for f in files:
    data = open(f, "rb").read()
    for k, form, n in needles:
        if n in data:
            print(f"{f}: contains {k} as {form}")
            hits += 1
print(f"searched {len(files)} files ({sum(len(open(f, 'rb').read()) for f in files)} bytes) for {len(keys)} keys in {len(needles) // len(keys)} encodings: {hits} hits")
sys.exit(1 if hits else 0)
PY
	fail "key material found in logs or captures"
log "no key in ${#files[@]} files"
