#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_relay_basic: two tinescale peers that cannot reach each other talk
# through tinescale-relay (relay-redirect, mode always, configs/relay-always.yaml).
#
#   A (172.16.1.2) --- INET (relay 192.0.2.3:3478 on lo; no forwarding) --- B (172.16.2.2)
#                        |
#                      X (172.16.3.66, the attacker)
#
# The peers are configured with PublicKey/AllowedIPs only: no endpoints.
# Checks: both register (relay status, notes in `tinescale ctl IF status`),
# ping works both ways while A and B have no direct route, the relay's pair
# counters grow.  Then X attacks the relay: a forged REGISTER for A's key,
# a replayed REGISTER (a valid one for a third key, sent twice), SEND from an
# unregistered address, truncated and garbage frames, a SEND to an unknown
# key, and floods: 150 valid REGISTERs for random keys from one IP (X25519
# budget per IP, the table stays bounded) and 2000 forged ones from one port
# without a cookie (COOKIE budget per IP).
# Each is counted under its reason in the relay's status, A's registration
# does not move, and the ping keeps working.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd wg ping
"$TS_PY" -c 'import cryptography.hazmat.primitives.asymmetric.x25519' 2>/dev/null ||
	fail "python3-cryptography missing for $TS_PY"
RELAY_BIN=$TS_BUILD/tinescale-relay
[[ -x $RELAY_BIN ]] || fail "$RELAY_BIN is not built"
[[ -e $TS_BUILD/plugins/relay-redirect.so ]] || fail "$TS_BUILD/plugins/relay-redirect.so is not built"

RELAY_IP=192.0.2.3
RELAY_PORT=3478
MAX_PEERS=32
NS_I=$PFX-i
NS_A=$PFX-a
NS_B=$PFX-b
NS_X=$PFX-x
ns_create "$NS_I" "$NS_A" "$NS_B" "$NS_X"
veth "$NS_I" "${PFX}a" "$NS_A" "${PFX}o"
veth "$NS_I" "${PFX}b" "$NS_B" "${PFX}o"
veth "$NS_I" "${PFX}x" "$NS_X" "${PFX}o"
assign_addr "$NS_I" "${PFX}a" 172.16.1.1/24
assign_addr "$NS_A" "${PFX}o" 172.16.1.2/24
assign_addr "$NS_I" "${PFX}b" 172.16.2.1/24
assign_addr "$NS_B" "${PFX}o" 172.16.2.2/24
assign_addr "$NS_I" "${PFX}x" 172.16.3.1/24
assign_addr "$NS_X" "${PFX}o" 172.16.3.66/24
assign_addr "$NS_I" lo "$RELAY_IP/32"
# Each host reaches the relay and nothing else: INET does not forward.
ip -n "$NS_A" route add "$RELAY_IP/32" via 172.16.1.1
ip -n "$NS_B" route add "$RELAY_IP/32" via 172.16.2.1
ip -n "$NS_X" route add "$RELAY_IP/32" via 172.16.3.1
ip netns exec "$NS_I" sysctl -qw net.ipv4.ip_forward=0

keypair a b relay
PA=$(pub a)
PB=$(pub b)
PR=$(pub relay)
CTL=$LOGDIR/relay.ctl
relay_status() { "$RELAY_BIN" status --ctl "$CTL"; }
# reject_count REASON / stat_count NAME: one counter from the relay's status.
reject_count() { relay_status | awk -v n="$1" '$1 == "reject" && $2 == n { print $3 }'; }
stat_count() { relay_status | awk -v n="$1" '$1 == "stat" && $2 == n { print $3 }'; }
# pair_packets SRC DST: packets the relay forwarded from SRC's key to DST's (0 if none).
pair_packets() {
	relay_status | awk -v s="$1" -v d="$2" \
		'$1 == "pair" && $2 == s && $3 == "->" && $4 == d { p = $6 } END { print p + 0 }'
}
# key_addr KEY: the address the relay has for KEY ("" when not registered).
key_addr() { relay_status | awk -v k="$1" '$1 == "key" && $2 == k { print $4 }'; }

# relay_wait NAME PID CTL: the relay started as `bg NAME` answers on CTL within 5 s.
relay_wait() {
	local i
	for ((i = 0; i < 50; i++)); do
		[[ -S $3 ]] && "$RELAY_BIN" status --ctl "$3" >/dev/null 2>&1 && return 0
		_is_running_job "$2" || fail "tinescale-relay ($1) exited: $(cat "$LOGDIR/$1.log")"
		sleep 0.1
	done
	fail "tinescale-relay ($1): no status socket $3 after 5 s"
}

bg relay ip netns exec "$NS_I" "$RELAY_BIN" --listen "0.0.0.0:$RELAY_PORT" \
	--key "$CONFDIR/relay.key" --ctl "$CTL" --max-peers "$MAX_PEERS" --log-level info -f
RELAY_PID=$BG_PID
relay_wait relay "$RELAY_PID" "$CTL"
[[ $(stat -c %a "$CTL") == 600 ]] || fail "relay status socket mode $(stat -c %a "$CTL"), want 600"
grep -q "^relay 0.0.0.0:$RELAY_PORT public_key $PR " <<<"$(relay_status)" ||
	fail "relay status does not show its listen address and key:
$(relay_status)"

# The relay runs as SCHED_BATCH (core/relay/relay_sched.h) and logs it.
policy() { chrt -p "$1" | sed -n 's/.*current scheduling policy: //p'; }
[[ $(policy "$RELAY_PID") == SCHED_BATCH ]] ||
	fail "tinescale-relay runs as $(policy "$RELAY_PID"), expected SCHED_BATCH"
grep -q 'scheduling: SCHED_BATCH' "$LOGDIR/relay.log" ||
	fail "the relay's log does not say it runs as SCHED_BATCH"
# A policy its starter chose is kept, and --sched inherit changes nothing.
for case in "chrt -i 0:batch:SCHED_IDLE" "env:inherit:SCHED_OTHER"; do
	IFS=: read -r wrap want expect <<<"$case"
	ctl2=$LOGDIR/relay-$want.ctl
	# shellcheck disable=SC2086 # wrap is a command and its arguments
	bg "relay-$want" ip netns exec "$NS_I" $wrap "$RELAY_BIN" --listen 127.0.0.1:3479 \
		--key "$CONFDIR/relay.key" --ctl "$ctl2" --sched "$want" -f
	p2=$BG_PID
	relay_wait "relay-$want" "$p2" "$ctl2"
	got=$(policy "$p2")
	_stop_pid "$p2"
	[[ $got == "$expect" ]] || fail "'$wrap tinescale-relay --sched $want' runs as $got, expected $expect"
	grep -q "scheduling: $expect, as started" "$LOGDIR/relay-$want.log" ||
		fail "--sched $want: the log does not say $expect is kept: $(cat "$LOGDIR/relay-$want.log")"
done
log "scheduling: SCHED_BATCH by default; chrt's SCHED_IDLE and --sched inherit kept"

# The example pipeline, with this lab's relay and build.
sed -e "s|^plugin_path:.*|plugin_path: [$TS_BUILD/plugins]|" \
	-e "s|relay: 192.0.2.3:3478|relay: $RELAY_IP:$RELAY_PORT|" \
	-e "s|relay_public_key: .*|relay_public_key: $PR|" \
	"$TS_SRC/configs/relay-always.yaml" >"$CONFDIR/relay.yaml"
grep -q "relay_public_key: $PR" "$CONFDIR/relay.yaml" || fail "could not fill in relay-always.yaml"

# No endpoints: the relay is the only way.
conf_ini "$CONFDIR/a.conf" a 51820 "$PB" 10.0.0.2/32 - -
conf_ini "$CONFDIR/b.conf" b 51820 "$PA" 10.0.0.1/32 - -
IF_A=${PFX}wa
IF_B=${PFX}wb
impl_start "$NS_A" "$IF_A" "$CONFDIR/a.conf" --address 10.0.0.1/24 --pipeline "$CONFDIR/relay.yaml"
impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --address 10.0.0.2/24 --pipeline "$CONFDIR/relay.yaml"

for ((i = 0; i < 100; i++)); do
	[[ -n $(key_addr "$PA") && -n $(key_addr "$PB") ]] && break
	sleep 0.1
done
((i < 100)) || fail "A and B did not both register within 10 s:
$(relay_status)"
[[ $(key_addr "$PA") == 172.16.1.2:51820 ]] || fail "relay sees A at $(key_addr "$PA"), want 172.16.1.2:51820"
[[ $(key_addr "$PB") == 172.16.2.2:51820 ]] || fail "relay sees B at $(key_addr "$PB"), want 172.16.2.2:51820"
grep -q "register $PA from 172.16.1.2:51820" "$LOGDIR/relay.log" ||
	fail "relay log lacks A's registration line"

# relay-redirect gave the endpoint-less peers the relay as endpoint.
[[ $(wg_endpoint "$IF_A" "$PB") == "$RELAY_IP:$RELAY_PORT" ]] ||
	fail "A's endpoint for B is '$(wg_endpoint "$IF_A" "$PB")', want the relay"
[[ $(wg_endpoint "$IF_B" "$PA") == "$RELAY_IP:$RELAY_PORT" ]] ||
	fail "B's endpoint for A is '$(wg_endpoint "$IF_B" "$PA")', want the relay"

# There is no direct path, so whatever works below went through the relay.
ping_fails "$NS_A" 172.16.2.2
ping_ok "$NS_A" 10.0.0.2 5 1
ping_ok "$NS_B" 10.0.0.1 5
wait_handshake "$NS_A" "$IF_A" "$PB"

ab=$(pair_packets "$PA" "$PB")
ba=$(pair_packets "$PB" "$PA")
((ab > 0 && ba > 0)) || fail "relay shows no forwarded pair A->B ($ab) / B->A ($ba):
$(relay_status)"
ping_ok "$NS_A" 10.0.0.2 5
ab2=$(pair_packets "$PA" "$PB")
ba2=$(pair_packets "$PB" "$PA")
((ab2 >= ab + 5 && ba2 >= ba + 5)) ||
	fail "pair counters did not grow by the 5 pings: A->B $ab -> $ab2, B->A $ba -> $ba2"
relay_status | awk -v s="$PA" -v d="$PB" '$1 == "pair" && $2 == s && $3 == "->" && $4 == d &&
	$5 == "packets" && $6 > 0 && $7 == "bytes" && $8 > 0 && NF == 8' | grep -q . ||
	fail "no 'pair A -> B packets N bytes M' line:
$(relay_status)"
log "relay pair counters: A->B $ab -> $ab2, B->A $ba -> $ba2"

# The notes relay-redirect publishes.
st=$("$TS_BUILD/tinescale" ctl "$IF_A" status) || fail "tinescale ctl $IF_A status failed"
for want in "relay: $RELAY_IP:$RELAY_PORT" "relay_key: $PR" "relay_registered: yes" \
	"relay_mapped: 172.16.1.2:51820"; do
	grep -qF "$want" <<<"$st" || fail "ctl status of $IF_A lacks '$want':
$st"
done

# ---------------------------------------------------------------- attacks
cat >"$CONFDIR/attack.py" <<'EOF'
# Hostile and odd relay frames (docs/nat-traversal.md, version 2), sent to the relay.
import os, socket, sys, time
sys.path.insert(0, os.environ["TS_ATTACK_DIR"])
import relay_v2 as rv

RELAY = (sys.argv[2], int(sys.argv[3]))
RELAY_PUB = rv.unb64(sys.argv[4])
MAGIC = rv.MAGIC

def expect(s, what, check):
    s.settimeout(2.0)
    try:
        data = s.recv(2048)
    except socket.timeout:
        sys.exit(f"no {what} from the relay")
    if not check(data):
        sys.exit(f"unexpected answer instead of {what}: {data.hex()}")

def drain(s):
    s.settimeout(0.2)
    try:
        while s.recv(2048):
            pass
    except socket.timeout:
        pass

cmd = sys.argv[1]
if cmd == "forge":  # REGISTER for someone else's key, with a cookie (so the mac is looked at)
    victim = rv.unb64(sys.argv[5])
    me = rv.Peer(RELAY, RELAY_PUB)
    if not me.register():
        sys.exit("could not register a key of our own")
    me.sock.sendto(rv.register_frame(victim, os.urandom(32), cookie=me.cookie), RELAY)
    # also a correctly formed frame whose mac is keyed with the wrong DH
    other = rv.Key(RELAY_PUB)
    frame = rv.register_frame(other.pub, other.k, cookie=me.cookie)
    me.sock.sendto(frame[:8] + victim + frame[40:], RELAY)
elif cmd == "replay":  # a valid REGISTER for a third key, then the same bytes again
    p = rv.Peer(RELAY, RELAY_PUB)
    if not p.register():
        sys.exit("no REGISTER_ACK for the third key")
    frame = p.last_frame
    p.sock.sendto(frame, RELAY)           # replay from the same address
    p.sock.sendto(frame, RELAY)           # and again
    s2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s2.bind(("0.0.0.0", 0))
    s2.sendto(frame, RELAY)               # and from another port: must not move the key
    expect(s2, "COOKIE", lambda d: rv.parse_cookie(d) is not None)
    drain(p.sock)
    # The registered third key sends to a key nobody registered: ERROR dst unknown.
    p.send(os.urandom(32), b"x" * 32)
    expect(p.sock, "ERROR", lambda d: len(d) == 40 and d[:6] == MAGIC + b"\x05\x01")
    print(rv.b64(p.key.pub))
elif cmd == "unregistered":  # SEND from an address with no registration
    dst = rv.unb64(sys.argv[5])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    # ERRORs to one IP are limited to one a second: ask until one comes.
    s.settimeout(0.6)
    for _ in range(4):
        s.sendto(rv.send_frame(dst, b"\x04\x00\x00\x00" + b"y" * 28, os.urandom(16)), RELAY)
        try:
            d = s.recv(2048)
        except socket.timeout:
            continue
        if len(d) == 40 and d[:6] == MAGIC + b"\x05\x02":
            break
        sys.exit(f"unexpected answer instead of ERROR: {d.hex()}")
    else:
        sys.exit("no ERROR from the relay")
elif cmd == "junk":  # truncated frames and garbage
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    k = rv.Key(RELAY_PUB)
    frame = rv.register_frame(k.pub, k.k)
    for n in (4, 5, 8, 40, 79):
        s.sendto(frame[:n], RELAY)                                  # truncated
    s.sendto(frame + b"\x00", RELAY)                                # too long
    s.sendto(MAGIC + bytes([3, 0, 0, 0]) + os.urandom(48), RELAY)   # SEND, no payload
    s.sendto(MAGIC[:3], RELAY)                                      # truncated magic
    for _ in range(10):
        s.sendto(os.urandom(60), RELAY)                             # garbage
    s.sendto(b"\x01\x00\x00\x00" + os.urandom(144), RELAY)         # a WireGuard-looking one
    s.sendto(MAGIC + bytes([9, 0, 0, 0]) + os.urandom(32), RELAY)   # unknown type
elif cmd == "flood_valid":  # valid REGISTERs for random keys, one port, with its cookie
    p = rv.Peer(RELAY, RELAY_PUB)
    if not p.register():
        sys.exit("could not register a first key")
    keys = [rv.Key(RELAY_PUB) for _ in range(int(sys.argv[5]))]
    for k in keys:
        p.sock.sendto(rv.register_frame(k.pub, k.k, cookie=p.cookie), RELAY)
    acked, ks = 0, {k.k for k in keys}
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        d = p.recv(0.2)
        if d is not None:
            acked += any(rv.parse_ack(d, k) for k in ks)
    print(acked + 1)
elif cmd == "flood_forged":  # REGISTERs for random keys from one port, garbage macs, no cookie
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(int(sys.argv[5])):
        s.sendto(rv.register_frame(os.urandom(32), os.urandom(32)), RELAY)
else:
    sys.exit(f"unknown command {cmd}")
EOF
attack() { ip netns exec "$NS_X" env TS_ATTACK_DIR="$TS_SRC/tests/net/attack" "$TS_PY" "$CONFDIR/attack.py" "$1" "$RELAY_IP" "$RELAY_PORT" "$PR" "${@:2}"; }
# wait_count KIND NAME MIN: the counter reaches MIN within 5 s.
wait_count() {
	local v i
	for ((i = 0; i < 50; i++)); do
		v=$("${1}_count" "$2")
		((v >= $3)) && return 0
		sleep 0.1
	done
	fail "relay counter $1 $2 is $v, want >= $3:
$(relay_status)"
}
a_addr=$(key_addr "$PA")

attack forge "$PA" || fail "forge attack script failed"
wait_count reject bad_mac 2
[[ $(key_addr "$PA") == "$a_addr" ]] || fail "a forged REGISTER moved A to $(key_addr "$PA")"

PC=$(attack replay) || fail "replay attack script failed"
wait_count reject replay 2
[[ $(key_addr "$PC") == 172.16.3.66:* ]] || fail "the third key is not registered from X: $(key_addr "$PC")"
c_addr=$(key_addr "$PC")
wait_count reject dst_unknown 1

attack unregistered "$PB" || fail "unregistered-SEND attack script failed"
wait_count reject not_registered 1

attack junk || fail "junk attack script failed"
wait_count reject truncated 7
wait_count reject garbage 12
wait_count reject unknown_type 1
ping_ok "$NS_A" 10.0.0.2 3

log "flood: valid REGISTERs for 150 random keys from one IP (table of $MAX_PEERS)"
# Each costs an X25519 at the relay: one IP gets a burst of 20 and then 10/s
# (rate_dh_ip), so most are refused before any X25519.
acked=$(attack flood_valid 150) || fail "flood_valid failed"
wait_count reject rate_dh_ip 100
log "flood: 2000 forged REGISTERs from one port"
rc0=$(reject_count rate_cookie)
attack flood_forged 2000 || fail "flood_forged failed"
ping_ok "$NS_B" 10.0.0.1 5
st=$(relay_status)
read -r live entries max < <(awk '$1 == "registrations" { print $2, $4, $6 }' <<<"$st")
((live <= MAX_PEERS && entries <= MAX_PEERS && max == MAX_PEERS)) ||
	fail "registration table not bounded: $live live, $entries entries, max $max"
((acked <= MAX_PEERS - 3)) || fail "$acked flood keys registered in a table of $MAX_PEERS"
# 2000 REGISTERs without a cookie: a COOKIE each, within 40 + 20/s for one IP.
wait_count reject rate_cookie $((rc0 + 1500))
log "after the floods: $live registrations ($acked flood keys), table_full $(reject_count table_full), rate_dh_ip $(reject_count rate_dh_ip), rate_cookie $(reject_count rate_cookie), bad_mac $(reject_count bad_mac)"
[[ $(key_addr "$PA") == "$a_addr" && $(key_addr "$PB") == 172.16.2.2:51820 ]] ||
	fail "A or B lost its registration in the flood:
$(relay_status | grep -v '^key' | head -40)"
[[ $(key_addr "$PC") == "$c_addr" ]] || fail "the replayed REGISTER moved the third key"
grep -q "rejected bad_mac from" "$LOGDIR/relay.log" || fail "relay log has no rejection line"
nlines=$(grep -c "rejected " "$LOGDIR/relay.log")
((nlines < 100)) || fail "relay logged $nlines rejection lines: not rate limited"

# The tunnel still works, through the relay, and the counters still grow.
ab=$(pair_packets "$PA" "$PB")
ping_ok "$NS_A" 10.0.0.2 5
ping_ok "$NS_B" 10.0.0.1 5
(($(pair_packets "$PA" "$PB") >= ab + 5)) || fail "pair A->B stopped counting after the attacks"
impl_alive "$IF_A"
impl_alive "$IF_B"
_is_running_job "$RELAY_PID" || fail "tinescale-relay died: $(tail -n 20 "$LOGDIR/relay.log")"

# The relay removes its status socket when stopped.
_stop_pid "$RELAY_PID"
[[ ! -e $CTL ]] || fail "tinescale-relay left $CTL behind"
