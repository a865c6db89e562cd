# shellcheck shell=bash
# tests/net/relaylab.sh: the relay lab of issue 14, sourced after lib.sh by
# t_relay_attacks.sh and t_relay_limits.sh.
#
#   A (172.16.1.2) --- INET (relay 192.0.2.3:3478 on lo; no forwarding) --- B (172.16.2.2)
#                        |                    |
#                      X (172.16.3.66,      V (172.16.4.9, a bystander the
#                         the attacker)        attacker would like to flood)
#
# A and B run tinescale with configs/relay-always.yaml (no endpoints: the
# relay is the only way between them).  X runs tests/net/attack/relay_attack.py;
# its raw socket forges source addresses, and INET (rp_filter off) takes them.
#
# Functions: relaylab_up [RELAY ARGS...] (RELAY_TIME_SCALE=N sets the relay's
# TS_TEST_TIME_SCALE; RELAY_REGISTER_MS the peers' register_interval_ms),
# relay_start, relay_status, reject_count, stat_count, key_addr, live_regs,
# pair_packets, relay_cpu_ticks, relay_rss_kb, attack NS CMD..., wait_registered.

RELAY_IP=192.0.2.3
RELAY_PORT=3478
A_ADDR=172.16.1.2
B_ADDR=172.16.2.2
X_ADDR=172.16.3.66
V_ADDR=172.16.4.9
NS_I=$PFX-i
NS_A=$PFX-a
NS_B=$PFX-b
NS_X=$PFX-x
NS_V=$PFX-v
IF_A=${PFX}wa
IF_B=${PFX}wb
RELAY_BIN=$TS_BUILD/tinescale-relay
RELAY_CTL=$LOGDIR/relay.ctl
ATTACK=$TS_SRC/tests/net/attack/relay_attack.py
RELAY_ARGS=()

relay_status() { "$RELAY_BIN" status --ctl "$RELAY_CTL"; }
# reject_count REASON / stat_count NAME: one counter from the relay's status (0 if absent).
reject_count() { relay_status | awk -v n="$1" '$1 == "reject" && $2 == n { v = $3 } END { print v + 0 }'; }
stat_count() { relay_status | awk -v n="$1" '$1 == "stat" && $2 == n { v = $3 } END { print v + 0 }'; }
# key_addr KEY: the address the relay has for KEY ("" when not registered).
key_addr() { relay_status | awk -v k="$1" '$1 == "key" && $2 == k { print $4 }'; }
live_regs() { relay_status | awk '$1 == "registrations" { print $2 }'; }
pair_packets() {
	relay_status | awk -v s="$1" -v d="$2" \
		'$1 == "pair" && $2 == s && $3 == "->" && $4 == d { p = $6 } END { print p + 0 }'
}
# relay_cpu_ticks: user + system clock ticks the relay has used (/proc/PID/stat).
relay_cpu_ticks() { cpu_ticks "$RELAY_PID"; }
relay_rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$RELAY_PID/status"; }

# attack NS CMD [ARGS...]: relay_attack.py against the lab's relay, from NS.
attack() {
	local ns=$1
	shift
	ip netns exec "$ns" "$TS_PY" "$ATTACK" --relay "$RELAY_IP:$RELAY_PORT" \
		--relay-pub "$PR" "$@"
}

# relay_start [LOGNAME]: the relay, with the lab's key and status socket;
# waits for it.  RELAY_PID is its PID (ip netns exec execs it).
relay_start() {
	local i
	bg "${1:-relay}" ip netns exec "$NS_I" env ${RELAY_TIME_SCALE:+TS_TEST_TIME_SCALE=$RELAY_TIME_SCALE} \
		"$RELAY_BIN" --listen "0.0.0.0:$RELAY_PORT" --key "$CONFDIR/relay.key" \
		--ctl "$RELAY_CTL" --log-level info "${RELAY_ARGS[@]}" -f
	RELAY_PID=$BG_PID
	for ((i = 0; i < 50; i++)); do
		[[ -S $RELAY_CTL ]] && relay_status >/dev/null 2>&1 && return 0
		_is_running_job "$RELAY_PID" || fail "tinescale-relay exited: $(cat "$LOGDIR/${1:-relay}.log")"
		sleep 0.1
	done
	fail "tinescale-relay: no status socket $RELAY_CTL after 5 s"
}

# wait_registered TIMEOUT_S KEY ADDR...: every KEY at its ADDR within TIMEOUT_S.
wait_registered() {
	local to=$1 i t ok
	shift
	local -a kv=("$@")
	for ((t = 0; t < to * 10; t++)); do
		ok=1
		for ((i = 0; i < ${#kv[@]}; i += 2)); do
			[[ $(key_addr "${kv[i]}") == "${kv[i + 1]}" ]] || ok=0
		done
		((ok)) && return 0
		sleep 0.1
	done
	return 1
}

relaylab_up() {
	RELAY_ARGS=("$@")
	require_root
	require_cmd wg ping
	"$TS_PY" -c 'import cryptography.hazmat.primitives.asymmetric.x25519' 2>/dev/null ||
		fail "python3-cryptography missing for $TS_PY"
	[[ -x $RELAY_BIN ]] || fail "$RELAY_BIN is not built"
	[[ -e $TS_BUILD/plugins/relay-redirect.so ]] ||
		fail "$TS_BUILD/plugins/relay-redirect.so is not built"
	ns_create "$NS_I" "$NS_A" "$NS_B" "$NS_X" "$NS_V"
	local n ns addr net
	for n in a:$NS_A:$A_ADDR:1 b:$NS_B:$B_ADDR:2 x:$NS_X:$X_ADDR:3 v:$NS_V:$V_ADDR:4; do
		IFS=: read -r _ ns addr net <<<"$n"
		veth "$NS_I" "${PFX}${n%%:*}" "$ns" "${PFX}o"
		assign_addr "$NS_I" "${PFX}${n%%:*}" "172.16.$net.1/24"
		assign_addr "$ns" "${PFX}o" "$addr/24"
		# Each host reaches the relay and nothing else: INET does not forward.
		ip -n "$ns" route add "$RELAY_IP/32" via "172.16.$net.1"
	done
	assign_addr "$NS_I" lo "$RELAY_IP/32"
	ip netns exec "$NS_I" sysctl -qw net.ipv4.ip_forward=0

	keypair a b relay
	PA=$(pub a)
	PB=$(pub b)
	PR=$(pub relay)
	relay_start relay
	sed -e "s|^plugin_path:.*|plugin_path: [$TS_BUILD/plugins]|" \
		-e "s|relay: 192.0.2.3:3478|relay: $RELAY_IP:$RELAY_PORT|" \
		-e "s|relay_public_key: .*|relay_public_key: $PR|" \
		-e "s|# register_interval_ms: 10000.*|register_interval_ms: ${RELAY_REGISTER_MS:-10000}|" \
		"$TS_SRC/configs/relay-always.yaml" >"$CONFDIR/relay.yaml"
	grep -q "relay_public_key: $PR" "$CONFDIR/relay.yaml" || fail "could not fill in relay-always.yaml"
	conf_ini "$CONFDIR/a.conf" a 51820 "$PB" 10.0.0.2/32 - -
	conf_ini "$CONFDIR/b.conf" b 51820 "$PA" 10.0.0.1/32 - -
	impl_start "$NS_A" "$IF_A" "$CONFDIR/a.conf" --address 10.0.0.1/24 --pipeline "$CONFDIR/relay.yaml"
	impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --address 10.0.0.2/24 --pipeline "$CONFDIR/relay.yaml"
	wait_registered 10 "$PA" "$A_ADDR:51820" "$PB" "$B_ADDR:51820" ||
		fail "A and B did not both register within 10 s:
$(relay_status)"
	ping_ok "$NS_A" 10.0.0.2 3 2
}
