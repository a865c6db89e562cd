#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_example_dnslog: docs/examples/dnslog.c (packet helpers, async output).
# A DNS query for a name nobody else would ask, sent from A through the
# tunnel to B, appears in the plugin's log file as "query NAME type 1"; a
# reply (QR set) and a non-DNS datagram do not; `ctl plugins` shows the
# output's counts.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
[[ $TS_IMPL_A == tinescale ]] || skip "needs tinescale on side A"
SO=$TS_BUILD/tests/plugins/examples/dnslog.so
[[ -e $SO ]] || fail "$SO missing (build the tree first)"
tunnel_up
ping_ok "$NS_A" 10.0.0.2 2
OUT=$LOGDIR/dns.log
cat >"$CONFDIR/dns.yaml" <<EOF2
version: 1
plugins:
  - { name: dns, use: $SO, hooks: [plaintext_out], config: { path: $OUT } }
EOF2
"$TS_BUILD/tinescale" ctl "$IF_A" reload "$CONFDIR/dns.yaml" >/dev/null || fail "reload dns.yaml failed"
# send QR NAME PORT: one UDP datagram from A to 10.0.0.2:PORT with a DNS message for NAME.
send() {
	ip netns exec "$NS_A" "$TS_PY" - "$1" "$2" "$3" <<'PY'
import socket, struct, sys
qr, name, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
q = struct.pack("!HHHHHH", 0x1234, 0x0100 | (qr << 15), 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
q += struct.pack("!HH", 1, 1)
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(q, ("10.0.0.2", port))
PY
}
send 1 reply-not-logged.example 53
send 0 other-port.example 5353
send 0 tunnel-check.dnslog.example 53
for ((i = 0; i < 50; i++)); do
	grep -q 'tunnel-check' "$OUT" 2>/dev/null && break
	sleep 0.1
done
grep -qx 'query tunnel-check.dnslog.example type 1' "$OUT" 2>/dev/null ||
	fail "the query is not in $OUT: $(cat "$OUT" 2>&1)"
grep -Eq 'reply-not-logged|other-port' "$OUT" && fail "a reply or a non-DNS datagram was logged: $(cat "$OUT")"
"$TS_BUILD/tinescale" ctl "$IF_A" plugins >"$LOGDIR/plugins.txt"
grep -Eq '^  output: written [1-9][0-9]* bytes, dropped 0 records$' "$LOGDIR/plugins.txt" ||
	fail "ctl plugins does not show the output's counts: $(cat "$LOGDIR/plugins.txt")"
log "ok"
