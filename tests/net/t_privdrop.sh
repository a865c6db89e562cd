#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_privdrop: the daemon drops root once its TUN and sockets exist (issue 11).
# - /proc of the running daemon, every thread: uid and gid of the daemon
#   user (tinescale, else nobody), CapEff = CapPrm = CapBnd = CAP_NET_ADMIN
#   alone, nothing inheritable or ambient, NoNewPrivs 1, not dumpable
#   (its /proc files belong to root); the helper left as root has no
#   capability at all.
# - The UAPI and ctl sockets are root-owned, mode 0600, and root's clients
#   (wg, tinescale ctl) still work.
# - After the drop: a ctl reload loads pcap-writer, whose capture fills
#   under a ping; `wg set listen-port` rebinds to a port >= 1024 (and the
#   tunnel follows it) but not below 1024, which needs a capability the
#   daemon no longer has.
# - A daemon configured with a port below 1024 keeps CAP_NET_BIND_SERVICE
#   too; --no-drop keeps root; SIGTERM and even SIGKILL leave no socket file
#   behind (the root helper removes them).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd capinfos
[[ $TS_IMPL_A == tinescale && $TS_IMPL_B == tinescale ]] || skip "both sides must be tinescale"

CAP_NET_ADMIN=$((1 << 12))
CAP_NET_BIND_SERVICE=$((1 << 10))
uid=$(id -u "$TS_DAEMON_USER")
gid=$(id -g "$TS_DAEMON_USER")
ctl() { "$TS_BUILD/tinescale" ctl "$@"; }
field() { sed -n "s/^$2:\t*//p" "$1"; } # FILE KEY: the value, tabs kept

# check_creds PID CAPS: every thread of PID runs as the daemon user with CAPS.
check_creds() {
	local pid=$1 caps=$2 st t n=0
	for st in /proc/"$pid"/task/*/status; do
		t=${st%/status}
		[[ $(field "$st" Uid) == "$uid"$'\t'"$uid"$'\t'"$uid"$'\t'"$uid" ]] ||
			fail "thread ${t##*/} of $pid: Uid $(field "$st" Uid), expected $uid"
		[[ $(field "$st" Gid) == "$gid"$'\t'"$gid"$'\t'"$gid"$'\t'"$gid" ]] ||
			fail "thread ${t##*/} of $pid: Gid $(field "$st" Gid), expected $gid"
		[[ $(field "$st" Groups) == "$gid"?( ) ]] ||
			fail "thread ${t##*/} of $pid: supplementary groups '$(field "$st" Groups)'"
		for c in CapEff CapPrm CapBnd; do
			(($((16#$(field "$st" $c))) == caps)) ||
				fail "thread ${t##*/} of $pid: $c $(field "$st" $c), expected $(printf %016x "$caps")"
		done
		for c in CapInh CapAmb; do
			(($((16#$(field "$st" $c))) == 0)) || fail "thread ${t##*/} of $pid: $c $(field "$st" $c)"
		done
		[[ $(field "$st" NoNewPrivs) == 1 ]] || fail "thread ${t##*/} of $pid: NoNewPrivs not set"
		n=$((n + 1))
	done
	# Not dumpable: the kernel makes the process's /proc files root's.
	[[ $(stat -c %u /proc/"$pid"/status) == 0 ]] ||
		fail "$pid is dumpable: /proc/$pid/status belongs to uid $(stat -c %u /proc/"$pid"/status)"
	log "pid $pid: $n threads as $TS_DAEMON_USER ($uid:$gid), caps $(printf %x "$caps"), no_new_privs, not dumpable"
}

# helper_of PID: the root helper the daemon forked.
helper_of() { pgrep -P "$1" -x tinescale-priv; }

check_sockets() { # IF
	local s
	for s in "/var/run/wireguard/$1.sock" "/var/run/tinescale/$1.ctl"; do
		[[ $(stat -c '%u %a %F' "$s") == "0 600 socket" ]] ||
			fail "$s: $(stat -c 'owner %u mode %a %F' "$s"), expected root's, 0600"
	done
}

tunnel_up
ping_ok "$NS_B" 10.0.0.1 3
PA=${IF_PID[$IF_A]}
check_creds "$PA" $CAP_NET_ADMIN
check_sockets "$IF_A"
HA=$(helper_of "$PA") || fail "no root helper under $PA"
st=/proc/$HA/status
[[ $(field "$st" Uid) == $'0\t0\t0\t0' && $((16#$(field "$st" CapEff))) == 0 &&
	$((16#$(field "$st" CapPrm))) == 0 && $((16#$(field "$st" CapBnd))) == 0 ]] ||
	fail "the helper $HA is not capability-less root: $(grep -E '^(Uid|Cap)' "$st")"
log "helper $HA: uid 0 without any capability"

# A reload after the drop: plugins load and pcap-writer writes its capture.
cap=$LOGDIR/after-drop.pcapng
printf 'version: 1\nplugin_path: [%s]\nplugins:\n  - name: cap\n    use: pcap-writer\n    hooks: [plaintext_out, plaintext_in]\n    config:\n      path: %s\n' \
	"$TS_BUILD/plugins" "$cap" >"$CONFDIR/pcap.yaml"
ctl "$IF_A" reload "$CONFDIR/pcap.yaml" >/dev/null || fail "ctl reload after the drop failed"
ping_ok "$NS_B" 10.0.0.1 5
printf 'version: 1\nplugins: []\n' >"$CONFDIR/empty.yaml"
ctl "$IF_A" reload "$CONFDIR/empty.yaml" >/dev/null || fail "ctl reload of an empty pipeline failed"
n=$(capinfos -M -c -T "$cap" | awk -F'\t' 'NR == 2 { print $2 }')
((n >= 10)) || fail "the capture made after the drop has $n packets, expected the 10 of the ping"
[[ $(stat -c '%U %a' "$cap") == "$TS_DAEMON_USER 600" ]] ||
	fail "capture $cap: $(stat -c 'owner %U mode %a' "$cap")"
log "reload after the drop: pcap-writer captured $n packets"

# Rebinding after the drop: >= 1024 works and the tunnel follows it.
wg set "$IF_A" listen-port 52011 || fail "wg set listen-port 52011 after the drop failed"
[[ $(wg show "$IF_A" listen-port) == 52011 ]] || fail "listen port is $(wg show "$IF_A" listen-port)"
wg set "$IF_B" peer "$(pub a)" endpoint 10.10.0.11:52011
ping_ok "$NS_B" 10.0.0.1 3
# ... below 1024 needs CAP_NET_BIND_SERVICE, which this daemon gave up.
if wg set "$IF_A" listen-port 853 2>"$LOGDIR/lowport.err"; then
	fail "wg set listen-port 853 worked without CAP_NET_BIND_SERVICE"
fi
[[ $(wg show "$IF_A" listen-port) == 52011 ]] || fail "a refused rebind changed the port"
ping_ok "$NS_B" 10.0.0.1 3
log "listen-port: 52011 taken after the drop, 853 refused ($(cat "$LOGDIR/lowport.err"))"
impl_alive "$IF_A"

# A port below 1024 from the start keeps CAP_NET_BIND_SERVICE too.
IF_C=${PFX}wc
keypair c
conf_ini "$CONFDIR/c.conf" c 853
impl_start "$NS_B" "$IF_C" "$CONFDIR/c.conf"
check_creds "${IF_PID[$IF_C]}" $((CAP_NET_ADMIN | CAP_NET_BIND_SERVICE))
wg set "$IF_C" listen-port 854 || fail "rebinding below 1024 with CAP_NET_BIND_SERVICE failed"
# SIGKILL: the daemon cannot clean up, its helper does.
PC=${IF_PID[$IF_C]}
HC=$(helper_of "$PC") || fail "no root helper under $PC"
kill -KILL "$PC"
bg_wait "$PC" || true
for ((i = 0; i < 50; i++)); do
	[[ -e /var/run/wireguard/$IF_C.sock || -e /var/run/tinescale/$IF_C.ctl || -e /proc/$HC ]] || break
	sleep 0.1
done
((i < 50)) || fail "after SIGKILL: sockets $(ls /var/run/wireguard/"$IF_C".sock /var/run/tinescale/"$IF_C".ctl 2>&1) / helper $HC still there"
log "SIGKILL: the helper removed the socket files and exited"

# --no-drop: the escape hatch stays root.
IF_D=${PFX}wd
keypair d
conf_ini "$CONFDIR/d.conf" d 51830
impl_start "$NS_B" "$IF_D" "$CONFDIR/d.conf" --no-drop
[[ $(field /proc/"${IF_PID[$IF_D]}"/status Uid) == $'0\t0\t0\t0' ]] || fail "--no-drop dropped root"
grep -q -- '--no-drop: staying root' "${IF_LOG[$IF_D]}" || fail "--no-drop is not logged"
impl_stop "$IF_D"

# SIGTERM: both socket files gone when the daemon has exited, helper too.
impl_stop "$IF_A"
[[ ! -e /var/run/tinescale/$IF_A.ctl ]] || fail "the ctl socket of $IF_A is left behind"
[[ ! -e /proc/$HA ]] || fail "the helper $HA outlived its daemon"
log "SIGTERM: socket files removed, helper gone"
