#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_wg_tool: the stock `wg` tool drives side A ($TS_IMPL_A) through its UAPI
# socket: show/showconf report the handshake and growing transfer counters;
# `wg set ... peer` adds a third peer (host C, on a second veth) that then
# answers pings; `wg set ... remove` removes it again; `wg syncconf` converges
# to a file (showconf equals the file modulo formatting).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
: "${TS_IMPL_C:=$TS_IMPL_B}"

tunnel_up -
NS_C=$PFX-c
IF_C=${PFX}wc
ns_create "$NS_C"
veth "$NS_A" "${PFX}q" "$NS_C" "${PFX}q"
assign_addr "$NS_A" "${PFX}q" 10.10.1.11/24
assign_addr "$NS_C" "${PFX}q" 10.10.1.13/24
keypair c
PB=$(pub b)
PC=$(pub c)

# --- show / showconf report handshake and transfer ---------------------
ping_ok "$NS_A" 10.0.0.2 3
wait_handshake "$NS_A" "$IF_A" "$PB"
read -r rx0 tx0 < <(wg_transfer "$IF_A" "$PB")
ping_ok "$NS_A" 10.0.0.2 10
ping_ok "$NS_B" 10.0.0.1 5
read -r rx1 tx1 < <(wg_transfer "$IF_A" "$PB")
((rx1 > rx0 + 10 * 84 && tx1 > tx0 + 10 * 84)) ||
	fail "transfer counters did not grow by 10 pings: rx $rx0 -> $rx1, tx $tx0 -> $tx1"
log "transfer rx $rx0 -> $rx1, tx $tx0 -> $tx1"
grep -q 'latest handshake: .*ago' <<<"$(wg show "$IF_A")" ||
	fail "wg show does not print a latest handshake: $(wg show "$IF_A")"
wg showconf "$IF_A" >"$LOGDIR/showconf-1.conf" || fail "wg showconf $IF_A failed"
grep -qxF "PrivateKey = $(key a)" "$LOGDIR/showconf-1.conf" ||
	fail "showconf does not carry the configured private key"
grep -qxF "ListenPort = 51820" "$LOGDIR/showconf-1.conf" || fail "showconf: no ListenPort = 51820"
grep -qxF "PublicKey = $PB" "$LOGDIR/showconf-1.conf" || fail "showconf: peer b missing"
grep -qxF "Endpoint = 10.10.0.12:51820" "$LOGDIR/showconf-1.conf" || fail "showconf: endpoint of b"
[[ $(wg show "$IF_A" public-key) == "$(pub a)" ]] || fail "wg show public-key is not a's"

# --- wg set adds a third peer --------------------------------------------
conf_ini "$CONFDIR/c.conf" c 51820 "$(pub a)" 10.0.0.1/32 10.10.1.11:51820 -
IMPL=$TS_IMPL_C impl_start "$NS_C" "$IF_C" "$CONFDIR/c.conf" --address 10.0.0.3/24
ping_fails "$NS_A" 10.0.0.3
wg set "$IF_A" peer "$PC" allowed-ips 10.0.0.3/32 endpoint 10.10.1.13:51820 ||
	fail "wg set $IF_A peer (add) failed"
grep -qxF "$PC" <<<"$(wg show "$IF_A" peers)" || fail "wg show does not list the added peer"
ping_ok "$NS_A" 10.0.0.3 5
ping_ok "$NS_C" 10.0.0.1 3
ping_ok "$NS_A" 10.0.0.2 3

# --- wg set ... remove ---------------------------------------------------
wg set "$IF_A" peer "$PC" remove || fail "wg set $IF_A peer remove failed"
! grep -qxF "$PC" <<<"$(wg show "$IF_A" peers)" || fail "removed peer still listed: $(wg show "$IF_A")"
ping_fails "$NS_A" 10.0.0.3
ping_ok "$NS_A" 10.0.0.2 3

# --- wg syncconf converges -----------------------------------------------
# b gets one more allowed IP and a keepalive, c comes back: the daemon must
# end up with exactly this file.
cat >"$CONFDIR/sync.conf" <<CONF
[Interface]
PrivateKey = $(key a)
ListenPort = 51820

[Peer]
PublicKey = $PB
AllowedIPs = 10.0.0.2/32, 10.0.2.0/24
Endpoint = 10.10.0.12:51820
PersistentKeepalive = 25

[Peer]
PublicKey = $PC
AllowedIPs = 10.0.0.3/32
Endpoint = 10.10.1.13:51820
CONF
wg syncconf "$IF_A" "$CONFDIR/sync.conf" || fail "wg syncconf failed"
wg showconf "$IF_A" >"$LOGDIR/showconf-2.conf"
want=$("$TS_PY" "$TS_SRC/tests/net/wgconf_norm.py" "$CONFDIR/sync.conf")
got=$("$TS_PY" "$TS_SRC/tests/net/wgconf_norm.py" "$LOGDIR/showconf-2.conf")
[[ $want == "$got" ]] || fail "after syncconf, showconf differs from the file:
$(diff <(echo "$want") <(echo "$got"))"
ping_ok "$NS_A" 10.0.0.3 3
ping_ok "$NS_A" 10.0.0.2 3

# syncconf again with b only: c disappears, b's session survives.
hb=$(hs_time "$IF_A" "$PB")
awk '/^\[Peer\]/ { n++ } n < 2' "$CONFDIR/sync.conf" >"$CONFDIR/sync2.conf"
wg syncconf "$IF_A" "$CONFDIR/sync2.conf" || fail "second wg syncconf failed"
wg showconf "$IF_A" >"$LOGDIR/showconf-3.conf"
want=$("$TS_PY" "$TS_SRC/tests/net/wgconf_norm.py" "$CONFDIR/sync2.conf")
got=$("$TS_PY" "$TS_SRC/tests/net/wgconf_norm.py" "$LOGDIR/showconf-3.conf")
[[ $want == "$got" ]] || fail "after the second syncconf, showconf differs:
$(diff <(echo "$want") <(echo "$got"))"
ping_fails "$NS_A" 10.0.0.3
ping_ok "$NS_A" 10.0.0.2 3
[[ $(hs_time "$IF_A" "$PB") == "$hb" ]] ||
	fail "syncconf without changes to b re-handshook with b (session not kept)"
impl_alive "$IF_A"
