#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_probe_attacks: issue 14's attacks on nat-probe, in the NAT lab (natlab.sh),
# with the toolkit tests/net/attack/probe_v2.py playing the attacker from the
# "internet" namespace (it sees and spoofs what crosses it).  Each step
# failed against nat-probe's version 1 messages.
#   5. With the direct path cut (relayed), a captured candidates message for B
#      is replayed to B, and B's own candidates message is reflected back to
#      it as if from A: B refuses both (per-peer "replay" and "bad_mac").
#   6. With only B -> A cut, B's punch PONG is re-sent to A from a third
#      address V (a STUN server's): A's path and WireGuard endpoint for B do
#      not move (`wg show`, `tinescale ctl status`), the PONG is counted.
#   3. Direct path: one captured PING from A is replayed to B 2,000 times
#      with a spoofed source: B sends at most one PONG for it (a capture on
#      B's own interface counts them).
#   7. Relayed again: A, turned malicious, names as its candidates a host on a
#      second LAN behind B's router, 127.0.0.1, B's own LAN address and a
#      multicast address: nothing is sent to any of them (captures on that
#      host and in B's namespace), the refusals are counted and logged.  A
#      public third party named too (a malicious peer can always name one: its
#      candidates cannot be verified before they are PINGed) gets at most 5
#      PINGs a second however many messages name it.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=natlab.sh
. "$(dirname "$0")/natlab.sh"

require_cmd dumpcap tshark
ATK=$TS_SRC/tests/net/attack/probe_v2.py
RELAY_EP=$RELAY_ADDR:$RELAY_PORT
NS_T=$PFX-t
T_ADDR=10.3.0.5  # a host on a second LAN behind NAT B
T2_ADDR=192.0.2.50 # a public third party (in the internet namespace)

# atk NAME ARGS...: run the toolkit in the internet namespace, log to NAME.log,
# print its JSON answer.
atk() {
	local name=$1
	shift
	ip netns exec "$NS_INET" "$TS_PY" "$ATK" "$@" >"$LOGDIR/$name.log" 2>&1 ||
		fail "probe_v2.py $* failed: $(cat "$LOGDIR/$name.log")"
	tail -n 1 "$LOGDIR/$name.log"
}
# jget KEY: a field of the JSON on stdin.
jget() { "$TS_PY" -c 'import json, sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1"; }
# field NOTE KEY: the number after KEY in a note like "replay 3 rate 0 ..." (0 if none).
field() { awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } } END { }' <<<"$1" | grep . || echo 0; }
refused() { field "$(peer_note "$1" "$2" probe_refused)" "$3"; }
rejects() { field "$(if_note "$1" probe_rejects)" "$2"; }
# bad MESSAGE: an attack succeeded; the other steps still run (so one run
# against the old code shows every finding), the test fails at the end.
BAD=0
bad() {
	printf '\n[%s] FAIL: %s\n\n' "$TEST_NAME" "$*" >&2
	BAD=$((BAD + 1))
}
# wait_until TIMEOUT_S CMD...: poll CMD every 0.1 s.
wait_until() {
	local end=$(($(now_ms) + $1 * 1000))
	shift
	while (($(now_ms) < end)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
# cut_b_to_a: drop only B -> A between the WAN addresses (A -> B passes), in
# place of whatever natcut held, in one nft transaction: going through "both
# open" (natlab_uncut, then this) let a genuine PONG through, and A went
# direct to B's real address (seen once in ten runs).
cut_b_to_a() {
	ip netns exec "$NS_INET" nft -f - <<EOF
table ip natcut {
	chain forward {
		type filter hook forward priority filter; policy accept;
	}
}
flush chain ip natcut forward
add rule ip natcut forward ip saddr $NAT_WAN_B ip daddr $NAT_WAN_A drop
EOF
}

NATLAB_START_CUT=1 natlab_up eim eim
T_START=$(now_s)
# The third parties: T behind B's router (B's host routes there through it), T2 public.
ns_create "$NS_T"
veth "$NS_RB" "${PFX}t" "$NS_T" "${PFX}t"
ip -n "$NS_RB" addr add 10.3.0.1/24 dev "${PFX}t"
ip -n "$NS_T" addr add "$T_ADDR/24" dev "${PFX}t"
ip -n "$NS_T" route add default via 10.3.0.1
ip -n "$NS_INET" addr add "$T2_ADDR/32" dev lo
ip netns exec "$NS_HB" ping -n -c 1 -W 2 "$T_ADDR" >/dev/null || fail "B cannot reach T at $T_ADDR"

log "step 5: candidates replayed and reflected (relayed pair)"
first_ping "$NS_HA" "$TUN_B" 5 >/dev/null || fail "no relayed ping A -> B within 5 s"
bg grab-recv ip netns exec "$NS_INET" "$TS_PY" "$ATK" grab --iface "${PFX}ib" --what recv-cand \
	--src "$RELAY_ADDR" --dst "$NAT_WAN_B" --timeout 20
g1=$BG_PID
bg grab-send ip netns exec "$NS_INET" "$TS_PY" "$ATK" grab --iface "${PFX}ib" --what send-cand \
	--src "$NAT_WAN_B" --dst "$RELAY_ADDR" --timeout 20
g2=$BG_PID
bg_wait "$g1" || fail "no candidates message to B seen: $(cat "$LOGDIR/grab-recv.log")"
bg_wait "$g2" || fail "no candidates message from B seen: $(cat "$LOGDIR/grab-send.log")"
recv=$(tail -n 1 "$LOGDIR/grab-recv.log")
send=$(tail -n 1 "$LOGDIR/grab-send.log")
b_relay_ep=$(jget dst <<<"$recv")
log "captured A's candidates to B (for $b_relay_ep) and B's to A"
replay0=$(refused "$IF_B" "$PA" replay)
badmac0=$(rejects "$IF_B" bad_mac)
atk inject-cand inject --src "$RELAY_EP" --dst "$b_relay_ep" --hex "$(jget hex <<<"$recv")" --count 3 >/dev/null
atk reflect-cand reflect --send-hex "$(jget hex <<<"$send")" --relay "$RELAY_EP" --dst "$b_relay_ep" >/dev/null
replay_grew() { (($(refused "$IF_B" "$PA" replay) >= replay0 + 3)); }
badmac_grew() { (($(rejects "$IF_B" bad_mac) >= badmac0 + 1)); }
wait_until 3 replay_grew || bad "B did not count the 3 replayed candidates messages as replays:
$(ts_status "$IF_B")"
wait_until 3 badmac_grew || bad "B did not refuse its own candidates reflected back as A's:
$(ts_status "$IF_B")"
log "B refused the replays (replay $replay0 -> $(refused "$IF_B" "$PA" replay)) and the reflection (bad_mac $badmac0 -> $(rejects "$IF_B" bad_mac))"

log "step 6: B's PONG re-sent to A from a third address V"
V=$STUN1:3478
cut_b_to_a
pong_src() { (($(refused "$IF_A" "$PB" pong_src) >= 1)); }
# A copy counts (as pong_src) only while its PING is outstanding: A's next
# punch round, 200 ms later, replaces the transaction.  The sniff-and-resend
# in Python can miss that window on a loaded machine, so the attacker tries
# up to 4 fresh PONGs; each must leave A's path alone.
for attempt in 1 2 3 4; do
	pong=$(atk grab-pong grab --iface "${PFX}ib" --what pong --src "$NAT_WAN_B" --dst "$NAT_WAN_A" \
		--timeout 25 --resend-from "$V" --resend-count 3)
	log "attempt $attempt: captured B's PONG to $(jget dst <<<"$pong") and re-sent it from $V"
	wait_until 3 pong_src && break
done
pong_src || bad "A never saw the re-sent PONG in 4 attempts (no pong_src count):
$(ts_status "$IF_A")"
sleep 1
! grep -q "path direct" "${IF_LOG[$IF_A]}" || bad "A moved its path on a PONG from V:
$(grep "path direct" "${IF_LOG[$IF_A]}")"
[[ $(peer_note "$IF_A" "$PB" path) == relay ]] || bad "A's path is not relay:
$(ts_status "$IF_A")"
[[ $(wg_endpoint "$IF_A" "$PB") == "$RELAY_EP" ]] ||
	bad "A's WireGuard endpoint for B is $(wg_endpoint "$IF_A" "$PB"), not the relay"
log "A: path relay, endpoint $(wg_endpoint "$IF_A" "$PB"); probe_refused: $(peer_note "$IF_A" "$PB" probe_refused)"

log "step 3: one PING replayed 2,000 times with a spoofed source"
ip netns exec "$NS_INET" nft delete table ip natcut
# (Old code: A may still be "direct" via V until 3 PONGs are missed: wait for B's address.)
wait_peer_note "$IF_A" "$PB" direct_endpoint "$NAT_WAN_B:51820" 25 ||
	fail "A: path not direct to $NAT_WAN_B:51820 25 s after the uncut:
$(ts_status "$IF_A")"
wait_peer_note "$IF_B" "$PA" path direct 5 || fail "B: path not direct"
capture_start "$NS_HB" "${PFX}e" b-out "udp and src host 10.2.0.2"
cap=$BG_PID
ping=$(atk grab-ping grab --iface "${PFX}ib" --what ping --src "$NAT_WAN_A" --dst "$NAT_WAN_B" --timeout 10)
txid=$(jget txid <<<"$ping")
sleep 0.3 # the genuine PONG first: then every copy is a replay
inj=$(atk inject-ping inject --src "$STUN2:3478" --dst "$(jget dst <<<"$ping")" \
	--hex "$(jget hex <<<"$ping")" --count 2000)
sleep 1
_stop_pid "$cap"
counts=$(atk count-ping count --pcap "$LOGDIR/b-out.pcapng" --src 10.2.0.2 --txid "$txid")
echo_n=$(jget pongs_echoing <<<"$counts")
log "2000 replays of PING $txid in $(jget seconds <<<"$inj") s: B sent $echo_n PONGs for it; all B's probes in the capture: $counts"
((echo_n <= 1)) || bad "B answered the replayed PING $echo_n times (at most once allowed)"
(($(jget pongs <<<"$counts") + $(jget pings <<<"$counts") <= 40)) ||
	bad "B sent $counts probes while 2000 replays arrived"
(($(refused "$IF_B" "$PA" replay) >= 1000)) || bad "B counted only $(refused "$IF_B" "$PA" replay) replays"

log "step 7: A names third parties, loopback, B's own address and multicast"
natlab_cut
wait_peer_note "$IF_B" "$PA" path relay 15 || fail "B: path not back to relay after the cut"
capture_start "$NS_T" "${PFX}t" t "udp"
cap_t=$BG_PID
capture_start "$NS_HB" any b-any "udp and dst portrange 47001-47004"
cap_b=$BG_PID
capture_start "$NS_INET" "${PFX}ib" t2 "udp and dst host $T2_ADDR"
cap_t2=$BG_PID
cand0=$(refused "$IF_B" "$PA" cand)
t7=$(now_ms)
atk cands cands --key "$CONFDIR/a.key" --peer-pub "$PB" --relay "$RELAY_EP" --dst "$b_relay_ep" \
	--cand "$T_ADDR:47001" --cand 127.0.0.1:47002 --cand 10.2.0.2:47003 --cand 224.0.0.251:47004 \
	--cand "$T2_ADDR:47005" --count 40 --gap 0.02 >/dev/null
sleep 2
_stop_pid "$cap_t"
_stop_pid "$cap_b"
_stop_pid "$cap_t2"
t7=$(($(now_ms) - t7))
# Punch rounds stay 200 ms apart: at most 5 PINGs a second to any one candidate.
max_t2=$((5 * t7 / 1000 + 2))
n_t=$(tshark -r "$LOGDIR/t.pcapng" 2>/dev/null | wc -l)
n_b=$(tshark -r "$LOGDIR/b-any.pcapng" 2>/dev/null | wc -l)
n_t2=$(tshark -r "$LOGDIR/t2.pcapng" 2>/dev/null | wc -l)
cand1=$(refused "$IF_B" "$PA" cand)
log "datagrams to T $T_ADDR: $n_t; to 127.0.0.1, 10.2.0.2 or 224.0.0.251: $n_b; to public $T2_ADDR: $n_t2 in $t7 ms; B refused $((cand1 - cand0)) candidates"
((n_t == 0)) || bad "B sent $n_t datagrams to the host $T_ADDR behind its router"
((n_b == 0)) || bad "B sent $n_b datagrams to loopback, its own address or multicast:
$(tshark -r "$LOGDIR/b-any.pcapng" 2>/dev/null | head)"
((cand1 - cand0 >= 4)) || bad "B counted $((cand1 - cand0)) refused candidates (expected >= 4)"
grep -q "candidate 127.0.0.1:47002 refused (loopback" "${IF_LOG[$IF_B]}" ||
	bad "B did not log the refused loopback candidate"
((n_t2 <= max_t2)) || bad "B sent $n_t2 PINGs to the public third party in $t7 ms (at most $max_t2: 5/s)"
impl_alive "$IF_A"
impl_alive "$IF_B"
((BAD == 0)) || fail "$BAD attack outcome(s) above"
log "RESULT probe attacks: all refused in $(elapsed "$T_START") s"
