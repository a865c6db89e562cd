#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_example_mss: docs/examples/mss_clamp.c (packet helpers, RFC 1624 rewrite).
# With mss 1000 on A's plaintext_out, the SYN of a TCP connection from A to
# B arrives at B (captured on B's tunnel interface, read with tshark) with
# MSS 1000 and a TCP checksum tshark verifies as good, and the connection
# is established (B's kernel accepted the rewritten SYN).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd tshark dumpcap socat
[[ $TS_IMPL_A == tinescale ]] || skip "needs tinescale on side A"
SO=$TS_BUILD/tests/plugins/examples/mss_clamp.so
[[ -e $SO ]] || fail "$SO missing (build the tree first)"
tunnel_up
ping_ok "$NS_A" 10.0.0.2 2
cat >"$CONFDIR/mss.yaml" <<EOF2
version: 1
plugins:
  - { name: clamp, use: $SO, hooks: [plaintext_out, plaintext_in], config: { mss: 1000 } }
EOF2
"$TS_BUILD/tinescale" ctl "$IF_A" reload "$CONFDIR/mss.yaml" >/dev/null || fail "reload mss.yaml failed"
capture_start "$NS_B" "$IF_B" syn "tcp port 5555"
CAP_PID=$BG_PID
bg server ip netns exec "$NS_B" socat -u TCP-LISTEN:5555,bind=10.0.0.2 "OPEN:$LOGDIR/received,creat"
for ((i = 0; i < 50; i++)); do
	ip netns exec "$NS_B" ss -ltn | grep -q ':5555 ' && break
	sleep 0.1
done
echo through-the-clamp | ip netns exec "$NS_A" socat -u - TCP:10.0.0.2:5555,connect-timeout=5 ||
	fail "the TCP connection through the clamp failed"
for ((i = 0; i < 50; i++)); do
	grep -q through-the-clamp "$LOGDIR/received" 2>/dev/null && break
	sleep 0.1
done
grep -q through-the-clamp "$LOGDIR/received" || fail "B did not receive the data"
# dumpcap writes as it captures: wait until the SYN is in the file, then stop it.
for ((i = 0; i < 50; i++)); do
	[[ -n $(tshark -r "$LOGDIR/syn.pcapng" -Y 'tcp.flags.syn == 1' 2>/dev/null) ]] && break
	sleep 0.1
done
_stop_pid "$CAP_PID"
tshark -r "$LOGDIR/syn.pcapng" -o tcp.check_checksum:TRUE \
	-Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0' \
	-T fields -e tcp.options.mss_val -e tcp.checksum.status >"$LOGDIR/syn.txt" 2>&1 ||
	fail "tshark failed: $(cat "$LOGDIR/syn.txt")"
log "SYN as B saw it: $(cat "$LOGDIR/syn.txt")"
grep -Pq '^1000\t(1|Good)$' "$LOGDIR/syn.txt" ||
	fail "the SYN at B does not carry MSS 1000 with a good checksum: $(cat "$LOGDIR/syn.txt")"
log "ok"
