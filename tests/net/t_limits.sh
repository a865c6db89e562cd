#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_limits: no count limit that WireGuard lacks.  Through the stock `wg`:
#  1. one peer with 130,560 allowed IPs (every a.b.0.0/16 and a::b/128 for a
#     in 1..255, b in 0..255: the list WireGuard's own tests use to make UAPI
#     split its replies) is accepted by `wg setconf`, and `wg show IF
#     allowed-ips` lists every one of them;
#  2. 40 peers with 52 ranges each, and
#  3. 30 peers where only the last has allowed IPs (v4 and v6)
# round-trip through `wg setconf` / `wg showconf` (compared normalised).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd wg

NS=$PFX-a
IFN=${PFX}wl
ns_create "$NS"
keypair a
printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n' "$(key a)" >"$CONFDIR/base.conf"
chmod 600 "$CONFDIR/base.conf"
IMPL=$TS_IMPL_A impl_start "$NS" "$IFN" "$CONFDIR/base.conf"

ms() { echo $(((${EPOCHREALTIME/./} - ${1/./}) / 1000)); }

# setconf_roundtrip NAME: wg setconf the file $CONFDIR/NAME.conf, then its
# showconf must equal it modulo formatting.
setconf_roundtrip() {
	local f=$CONFDIR/$1.conf want got
	wg setconf "$IFN" "$f" || fail "$1: wg setconf refused $f"
	wg showconf "$IFN" >"$LOGDIR/$1.showconf" || fail "$1: wg showconf failed"
	want=$("$TS_PY" "$TS_SRC/tests/net/wgconf_norm.py" "$f")
	got=$("$TS_PY" "$TS_SRC/tests/net/wgconf_norm.py" "$LOGDIR/$1.showconf")
	[[ $want == "$got" ]] || fail "$1: showconf differs from the file set:
$(diff <(echo "$want") <(echo "$got") | head -n 20)"
}

# Random peer public keys: wg takes any 32 bytes.
"$TS_PY" - "$CONFDIR" "$(key a)" <<'PY'
import base64, os, sys
d, priv = sys.argv[1], sys.argv[2]
k = lambda: base64.b64encode(os.urandom(32)).decode()
head = f"[Interface]\nPrivateKey = {priv}\nListenPort = 51820\n"
with open(f"{d}/big.conf", "w") as f:
    f.write(head + f"\n[Peer]\nPublicKey = {k()}\n")
    for a in range(1, 256):
        f.write("AllowedIPs = " + ", ".join(f"{a}.{b}.0.0/16" for b in range(256)) + "\n")
        f.write("AllowedIPs = " + ", ".join(f"{a:x}::{b:x}/128" for b in range(256)) + "\n")
with open(f"{d}/forty.conf", "w") as f:
    f.write(head)
    for p in range(40):
        nets = [f"10.{p}.{r}.0/24" for r in range(26)]
        nets += [f"fd00:{p:x}:{r:x}::/48" for r in range(26)]
        f.write(f"\n[Peer]\nPublicKey = {k()}\nAllowedIPs = {', '.join(nets)}\n")
with open(f"{d}/last.conf", "w") as f:
    f.write(head)
    for p in range(30):
        f.write(f"\n[Peer]\nPublicKey = {k()}\n")
    f.write("AllowedIPs = 192.168.7.0/24, 10.200.0.1/32, fd00:7::/64, 2001:db8::1/128\n")
PY
chmod 600 "$CONFDIR"/*.conf

# --- 1. one peer, 130,560 allowed IPs ---------------------------------------
t0=$EPOCHREALTIME
wg setconf "$IFN" "$CONFDIR/big.conf" || fail "wg setconf with 130,560 allowed IPs refused"
log "setconf of 130,560 allowed IPs: $(ms "$t0") ms"
t0=$EPOCHREALTIME
wg show "$IFN" allowed-ips >"$LOGDIR/big.allowed-ips" || fail "wg show allowed-ips failed"
log "wg show allowed-ips: $(ms "$t0") ms, $(wc -c <"$LOGDIR/big.allowed-ips") bytes"
"$TS_PY" - "$LOGDIR/big.allowed-ips" <<'PY' || fail "wg show allowed-ips does not list all 130,560"
import ipaddress, sys
lines = open(sys.argv[1]).read().split("\n")
lines = [l for l in lines if l]
assert len(lines) == 1, f"{len(lines)} peers listed, want 1"
got = [str(ipaddress.ip_network(n)) for n in lines[0].split("\t")[1].split()]
want = [f"{a}.{b}.0.0/16" for a in range(1, 256) for b in range(256)]
want += [str(ipaddress.ip_network(f"{a:x}::{b:x}/128")) for a in range(1, 256) for b in range(256)]
if len(got) != len(got and set(got)) or set(got) != set(want):
    print(f"listed {len(got)} ({len(set(got))} distinct), want {len(want)}; "
          f"missing e.g. {sorted(set(want) - set(got))[:3]}, extra {sorted(set(got) - set(want))[:3]}")
    sys.exit(1)
PY
impl_alive "$IFN"

# --- 2. 40 peers with 52 ranges each; 3. 30 peers, only the last with any ---
setconf_roundtrip forty
setconf_roundtrip last
# and back to the big one over them, then the small ones again: replacements
setconf_roundtrip big
setconf_roundtrip last
impl_alive "$IFN"
