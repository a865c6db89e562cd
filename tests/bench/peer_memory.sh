#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/bench/peer_memory.sh: memory per peer, tinescale against upstream and
# Debian wireguard-go, side by side in one run.
#
# For each implementation: start it in a fresh namespace with a private key
# and a listen port only, read its resident set (VmRSS), give it N peers
# with one allowed IP each in one `wg setconf`, let it settle for a second,
# read VmRSS again, and print (after - before) / N.  Then check that `wg show
# IF peers` lists all N.  Peers are random keys (any 32 bytes is a key) with
# allowed IPs 10.x.y.z/32.
#
#   sudo TS_BUILD=build tests/bench/peer_memory.sh [--peers N] [--impls "A B"]
#                                                 [--max-bytes B]
#
# --peers N       default 10000
# --impls LIST    any of tinescale, wireguard-go-upstream, wireguard-go
#                 (default: all three; a missing wireguard-go is skipped)
# --max-bytes B   exit 1 if tinescale's cost per peer is above B bytes (the
#                 ctest variant, t_peer_memory, runs --peers 2000 --impls
#                 tinescale --max-bytes with a margin under 2048)
# Memory is not timing: the figures are stable from run to run (within a few
# percent for tinescale; Go's garbage collector makes wireguard-go's vary).
PEERS=10000
IMPLS="tinescale wireguard-go-upstream wireguard-go"
MAX_BYTES=
while (($#)); do
	case $1 in
	--peers) PEERS=$2; shift 2 ;;
	--impls) IMPLS=$2; shift 2 ;;
	--max-bytes) MAX_BYTES=$2; shift 2 ;;
	-h | --help)
		sed -n '3,/^PEERS=/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "peer_memory.sh: unknown argument $1" >&2
		exit 2
		;;
	esac
done
TS_SRC=${TS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../net/lib.sh
. "$TS_SRC/tests/net/lib.sh"
require_root
require_cmd wg

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

keypair base
"$TS_PY" - "$CONFDIR/peers.conf" "$(key base)" "$PEERS" <<'PY'
import base64, os, sys
path, priv, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path, "w") as f:
    f.write(f"[Interface]\nPrivateKey = {priv}\nListenPort = 51820\n")
    for i in range(n):
        k = base64.b64encode(os.urandom(32)).decode()
        f.write(f"[Peer]\nPublicKey = {k}\nAllowedIPs = 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32\n")
PY
printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n' "$(key base)" >"$CONFDIR/base.conf"
chmod 600 "$CONFDIR"/*.conf

declare -A RESULT=()
n=0
for impl in $IMPLS; do
	case $impl in
	wireguard-go) command -v wireguard-go >/dev/null || { log "no Debian wireguard-go: skipped"; continue; } ;;
	wireguard-go-upstream) [[ -x $TS_WGGO_UPSTREAM ]] || { log "no $TS_WGGO_UPSTREAM: skipped"; continue; } ;;
	esac
	n=$((n + 1))
	ns=$PFX-m$n
	ifn=${PFX}m$n
	ns_create "$ns"
	IMPL=$impl impl_start "$ns" "$ifn" "$CONFDIR/base.conf"
	pid=${IF_PID[$ifn]}
	wg show "$ifn" >/dev/null
	sleep 1
	before=$(rss_kb "$pid")
	t0=$EPOCHREALTIME
	wg setconf "$ifn" "$CONFDIR/peers.conf" || fail "$impl: wg setconf of $PEERS peers failed"
	ms=$(((${EPOCHREALTIME/./} - ${t0/./}) / 1000))
	sleep 1
	after=$(rss_kb "$pid")
	got=$(wg show "$ifn" peers | wc -l)
	((got == PEERS)) || fail "$impl: wg show lists $got peers, not $PEERS"
	per=$(((after - before) * 1024 / PEERS))
	RESULT[$impl]=$per
	printf '%-22s RSS %7d kB -> %7d kB: %6d bytes per peer (%.1f KiB); setconf %d ms\n' \
		"$impl" "$before" "$after" "$per" "$(awk "BEGIN { print $per / 1024 }")" "$ms" |
		tee -a "$LOGDIR/results.txt"
	impl_stop "$ifn"
	ip netns del "$ns"
done
if [[ -n $MAX_BYTES && -n ${RESULT[tinescale]:-} ]]; then
	((RESULT[tinescale] <= MAX_BYTES)) ||
		fail "tinescale costs ${RESULT[tinescale]} bytes per peer, more than $MAX_BYTES"
fi
