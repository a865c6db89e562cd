#!/usr/bin/env bash
# t_docker: docker/ on a real Docker engine, as a user runs it.
#
#   1. dockerd: use the running engine, or start one (and stop it at the end,
#      putting back the root namespace's iptables as they were: dockerd sets
#      FORWARD to DROP and adds its chains);
#   2. the base image debian:bookworm-slim, unless the engine has it: no
#      registry is reachable, so it is imported from a debootstrap'd bookworm
#      (minbase), cached as a tarball in $TS_BUILD/docker-cache;
#   3. docker/same-net, started with the README's command as written (it
#      builds the image tinescale:latest with BuildKit, whose layer cache makes
#      a rerun with unchanged sources a matter of seconds, then runs
#      `docker-compose up`; a tinescale:latest the engine had is put back
#      after): ping through the tunnel, `wg show` has a handshake, peer1's
#      hexdump log shows the decrypted echo requests and replies;
#   5. docker/nat, NAT_MODE=eim: the peers (no endpoints) meet through the
#      relay within 30 s, then go direct through both NATs;
#   6. docker/nat, NAT_MODE=edm: they meet through the relay and stay there.
# Everything it created (containers, networks, images, the engine) is removed;
# the build cache stays in the engine.  Exit 77 only when no engine can run
# here (dockerd fails to start); missing packages are a failure (deps.sh).
#
# Root; it changes the root namespace's firewall while dockerd runs: run it
# under the netlab lock, like the net tests.  Environment: TS_SRC, TS_BUILD,
# TS_DOCKER (the client, default Debian's /usr/bin/docker).
set -euo pipefail

TS_SRC=${TS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
TS_BUILD=${TS_BUILD:-$TS_SRC/build}
DOCKER=${TS_DOCKER:-/usr/bin/docker}
CACHE=$TS_BUILD/docker-cache
WORK=$TS_BUILD/docker-logs
BASE_TAR=$CACHE/bookworm-minbase.tar
BASE_IMAGE=debian:bookworm-slim
IMAGE=tinescale:latest      # what the README's command builds and compose runs
SAVED=tinescale:t-docker-saved-$$ # the engine's own tinescale:latest, meanwhile
export COMPOSE_HTTP_TIMEOUT=120

started_dockerd=0 imported_base=0 built_image=0 saved_image=0 fw_saved=0 had_docker0=0
README_PID=
declare -a projects=() # compose "dir:project:env" brought up, for cleanup
T0=$SECONDS

log() { printf '[t_docker %(%T)T +%ss] %s\n' -1 $((SECONDS - T0)) "$*" >&2; }
fail() {
	printf '\n[t_docker] FAIL: %s\n\n' "$*" >&2
	exit 1
}
skip() {
	printf '[t_docker] SKIP: %s\n' "$*" >&2
	exit 77
}
dk() { "$DOCKER" "$@"; }

# compose DIR PROJECT [VAR=VALUE...] -- ARGS...: docker-compose in docker/DIR.
compose() {
	local dir=$1 project=$2
	shift 2
	local -a envs=()
	while [[ $1 != -- ]]; do
		envs+=("$1")
		shift
	done
	shift
	(cd "$TS_SRC/docker/$dir" && env "${envs[@]}" docker-compose ${project:+-p "$project"} "$@")
}

cleanup() {
	local rc=$? p dir project envs
	trap - EXIT INT TERM
	set +e
	for p in "${projects[@]}"; do
		IFS=: read -r dir project envs <<<"$p"
		if [[ $rc != 0 ]]; then
			echo "===== docker/$dir logs =====" >&2
			# shellcheck disable=SC2086 # envs: VAR=VALUE words
			compose "$dir" "$project" $envs -- logs --no-color --tail 40 >&2
		fi
		# shellcheck disable=SC2086
		compose "$dir" "$project" $envs -- down -v -t 2 --remove-orphans >/dev/null 2>&1
	done
	if [[ -n $README_PID ]]; then
		kill -TERM "$README_PID" 2>/dev/null
		wait "$README_PID" 2>/dev/null
	fi
	((built_image)) && dk rmi -f "$IMAGE" >/dev/null 2>&1
	if ((saved_image)); then
		dk tag "$SAVED" "$IMAGE" && dk rmi "$SAVED" >/dev/null 2>&1
	fi
	((imported_base)) && dk rmi -f "$BASE_IMAGE" >/dev/null 2>&1
	if ((started_dockerd)); then
		stop_dockerd
		restore_firewall
	fi
	log "done (exit $rc) in $((SECONDS - T0)) s"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. the engine ------------------------------------------------------

# dockerd adds its chains to the root namespace's filter and nat tables and
# sets FORWARD to DROP, and leaves them when it stops.  Put back what was
# there: tables that existed are restored from the saved dump, tables it
# created are emptied.
save_firewall() {
	iptables-save >"$WORK/iptables.before" || return 0
	fw_saved=1
}
restore_firewall() {
	local t
	((fw_saved)) || return 0
	for t in filter nat; do
		grep -qx "\*$t" "$WORK/iptables.before" && continue
		iptables -t "$t" -F 2>/dev/null
		iptables -t "$t" -X 2>/dev/null
	done
	iptables -P FORWARD ACCEPT 2>/dev/null # Linux's default, unless the dump says otherwise
	iptables-restore <"$WORK/iptables.before" || log "could not restore iptables (saved in $WORK)"
	if ((!had_docker0)) && ip link show docker0 >/dev/null 2>&1; then
		ip link del docker0
	fi
}

DOCKERD_PID=
stop_dockerd() {
	local i
	[[ -n $DOCKERD_PID ]] || return 0
	kill -TERM "$DOCKERD_PID" 2>/dev/null
	for ((i = 0; i < 150; i++)); do
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$DOCKERD_PID" 2>/dev/null; then
		log "dockerd ignored SIGTERM for 15 s, killing it"
		kill -KILL "$DOCKERD_PID" 2>/dev/null
	fi
	wait "$DOCKERD_PID" 2>/dev/null
	DOCKERD_PID=
}

[[ $(id -u) == 0 ]] || skip "needs root (dockerd, containers with NET_ADMIN)"
for c in "$DOCKER" dockerd docker-compose debootstrap iptables-save; do
	command -v "$c" >/dev/null || fail "$c is not installed (scripts/deps.sh installs it)"
done
rm -rf "$WORK"
mkdir -p "$WORK" "$CACHE"

# The scenarios' fixed names must be free: never touch a user's containers.
for n in peer1 peer2 nat-peer1 nat-peer2 nat-relay nat-router1 nat-router2 nat-stun1 nat-stun2; do
	if dk inspect "$n" >/dev/null 2>&1; then
		fail "a container named $n exists already (a docker/ scenario is running?): remove it first"
	fi
done

if dk info >/dev/null 2>&1; then
	log "using the running Docker engine"
else
	ip link show docker0 >/dev/null 2>&1 && had_docker0=1
	save_firewall
	log "starting dockerd (log: $WORK/dockerd.log)"
	started_dockerd=1
	dockerd --pidfile "$WORK/dockerd.pid" >"$WORK/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	for ((i = 0; i < 300; i++)); do
		dk info >/dev/null 2>&1 && break
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! dk info >/dev/null 2>&1; then
		tail -n 20 "$WORK/dockerd.log" >&2
		skip "dockerd cannot run here (its log is above)"
	fi
fi
for sub in 203.0.113. 10.1.0. 10.2.0. 10.10.0.; do
	if ip -o -4 addr show | grep -v ' br-' | grep " inet ${sub//./\\.}" >/dev/null; then
		fail "this host has an address in ${sub}0/24, which docker/ uses for its networks"
	fi
done

# --- 2. the base image --------------------------------------------------
t=$SECONDS
if dk image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
	log "$BASE_IMAGE is in the engine already"
else
	if [[ ! -s $BASE_TAR ]]; then
		log "debootstrap --variant=minbase bookworm (once; cached in $BASE_TAR)"
		rm -rf "$CACHE/rootfs"
		debootstrap --variant=minbase bookworm "$CACHE/rootfs" http://deb.debian.org/debian \
			>"$WORK/debootstrap.log" 2>&1 ||
			{
				tail -n 20 "$WORK/debootstrap.log" >&2
				fail "debootstrap failed (log above)"
			}
		# The package cache and lists are not part of an image.
		rm -rf "$CACHE"/rootfs/var/cache/apt/archives/*.deb "$CACHE"/rootfs/var/lib/apt/lists/*
		tar --numeric-owner -C "$CACHE/rootfs" -cf "$BASE_TAR.tmp" . && mv "$BASE_TAR.tmp" "$BASE_TAR"
		rm -rf "$CACHE/rootfs"
	fi
	dk import - "$BASE_IMAGE" <"$BASE_TAR" >/dev/null || fail "docker import of $BASE_TAR failed"
	imported_base=1
fi
log "base image ready ($((SECONDS - t)) s)"

# --- 3. the README's command: build the image, start same-net ----------
if dk image inspect "$IMAGE" >/dev/null 2>&1; then
	dk tag "$IMAGE" "$SAVED" && saved_image=1
fi
readme_cmd=$(sed -n 's/^    \(cd docker\/same-net && .*\)$/\1/p' "$TS_SRC/README.md")
[[ $readme_cmd == *"docker build "*"docker-compose up" ]] ||
	fail "README.md has no '    cd docker/same-net && ... docker build ... && docker-compose up' line"
log "README: $readme_cmd"
t=$SECONDS
built_image=1
projects+=("same-net::")
# As written, with Debian's docker client first on PATH (CI has no other).
(cd "$TS_SRC" && PATH=$(dirname "$DOCKER"):$PATH exec bash -c "$readme_cmd") \
	>"$WORK/same-net-readme.log" 2>&1 </dev/null &
README_PID=$!
until dk image inspect "$IMAGE" >/dev/null 2>&1 && dk exec peer2 true 2>/dev/null; do
	if ! kill -0 "$README_PID" 2>/dev/null; then
		tail -n 40 "$WORK/same-net-readme.log" >&2
		fail "the README's docker command failed (log above)"
	fi
	((SECONDS - t < 600)) || fail "the README's docker command did not start same-net in 10 minutes"
	sleep 0.5
done
log "image built and same-net started ($((SECONDS - t)) s)"

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.5 s until it succeeds.
wait_for() {
	local limit=$1 what=$2 end
	shift 2
	end=$((SECONDS + limit))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < end)) || return 1
		sleep 0.5
	done
	log "$what"
}
status() { dk exec "$1" tinescale ctl wg0 status; }
has() { # CONTAINER REGEX: the peer's ctl status matches REGEX
	status "$1" | grep -E "$2" >/dev/null
}
ping_ok() { dk exec "$1" ping -c 1 -W 1 "$2"; }

# --- 4. same-net --------------------------------------------------------
t=$SECONDS
wait_for 20 "same-net: both daemons answer ctl" bash -c \
	"'$DOCKER' exec peer1 tinescale ctl wg0 status && '$DOCKER' exec peer2 tinescale ctl wg0 status" ||
	fail "same-net: a daemon did not come up in 20 s"
# The first handshake may need WireGuard's 5 s retry when the peers' links
# were still coming up: wait for it, then three pings must all answer.
wait_for 15 "same-net: tunnel up" ping_ok peer1 10.0.0.2 || fail "same-net: no ping answered in 15 s"
dk exec peer1 ping -c 3 -W 2 10.0.0.2 >"$WORK/same-net-ping.log" 2>&1 ||
	fail "same-net: ping 10.0.0.2 through the tunnel failed: $(cat "$WORK/same-net-ping.log")"
grep -q '3 received' "$WORK/same-net-ping.log" || fail "same-net: not every ping came back"
hs=$(dk exec peer1 wg show wg0 latest-handshakes | awk '{ print $2 }')
[[ $hs =~ ^[0-9]+$ && $hs -gt 0 ]] || fail "same-net: wg show has no handshake (latest-handshakes '$hs')"
dk exec peer1 wg show >"$WORK/same-net-wg-show.log"
grep -q 'latest handshake' "$WORK/same-net-wg-show.log" || fail "same-net: no 'latest handshake' in wg show"
# debug.yaml's hexdump runs on plaintext_out and plaintext_in; it writes
# from its own thread, so poll for the third reply.
# (To a file first: `grep -q` closing a pipe early would fail it under pipefail.)
wait_for 5 "same-net: hexdump shows the decrypted pings" bash -c \
	"'$DOCKER' logs peer1 >'$WORK/peer1.log' 2>&1 &&
	 [[ \$(grep -c 'plaintext_in .*icmp echo-reply' '$WORK/peer1.log') -ge 3 ]]" ||
	fail "same-net: peer1's log lacks three decrypted echo replies"
grep -q 'plaintext_out .*10\.0\.0\.1 > 10\.0\.0\.2 icmp echo-request' "$WORK/peer1.log" ||
	fail "same-net: peer1's log lacks the decrypted echo requests"
compose same-net "" -- down -v -t 2 >/dev/null 2>&1
wait "$README_PID" || true # `docker-compose up` returns once its containers are gone
README_PID=
projects=()
log "same-net passed ($((SECONDS - t)) s)"

# --- 5, 6. nat ----------------------------------------------------------
# relay_forwarded: frames tinescale-relay forwarded between the two peers.
relay_forwarded() {
	dk exec nat-relay tinescale-relay status | awk '$1 == "stat" && $2 == "forwarded" { print $3 }'
}

nat_scenario() {
	local mode=$1 up end fwd
	t=$SECONDS
	projects+=("nat:tsci-nat-$mode:NAT_MODE=$mode")
	compose nat "tsci-nat-$mode" NAT_MODE="$mode" -- up -d --no-build >"$WORK/nat-$mode-up.log" 2>&1 ||
		fail "nat $mode: docker-compose up failed: $(cat "$WORK/nat-$mode-up.log")"
	up=$SECONDS
	# Neither peer has an endpoint: the first handshake can only go through
	# the relay (the peers do not know each other's public address yet).
	wait_for 30 "nat $mode: tunnel up" ping_ok nat-peer1 10.0.0.2 ||
		fail "nat $mode: no ping through the tunnel within 30 s of start"
	fwd=$(relay_forwarded)
	[[ $fwd =~ ^[0-9]+$ && $fwd -gt 0 ]] ||
		fail "nat $mode: the relay forwarded nothing (stat forwarded '$fwd'): the peers did not meet through it"
	log "nat $mode: peers met through the relay ($fwd frames forwarded) $((SECONDS - up)) s after start"
	if [[ $mode == eim ]]; then
		wait_for 30 "nat eim: both NATs seen as endpoint-independent" bash -c \
			"'$DOCKER' exec nat-peer1 tinescale ctl wg0 status | grep -q 'nat_mapping: endpoint-independent'" ||
			fail "nat eim: nat_mapping is not endpoint-independent"
		wait_for 30 "nat eim: path direct on both peers" bash -c \
			"'$DOCKER' exec nat-peer1 tinescale ctl wg0 status | grep -q 'path: direct' &&
			 '$DOCKER' exec nat-peer2 tinescale ctl wg0 status | grep -q 'path: direct'" ||
			fail "nat eim: the path did not go direct"
		# Direct means via the other NAT's public mapping, not the relay.
		dk exec nat-peer1 wg show wg0 endpoints | grep '203\.0\.113\.12:' >/dev/null ||
			fail "nat eim: peer1's endpoint is not router2's address: $(dk exec nat-peer1 wg show wg0 endpoints)"
		fwd=$(relay_forwarded)
		dk exec nat-peer1 ping -c 3 -W 2 10.0.0.2 >/dev/null || fail "nat eim: ping on the direct path failed"
		[[ $(relay_forwarded) == "$fwd" ]] || fail "nat eim: pings on the direct path went through the relay"
	else
		wait_for 30 "nat edm: both NATs seen as endpoint-dependent" bash -c \
			"'$DOCKER' exec nat-peer1 tinescale ctl wg0 status | grep -q 'nat_mapping: endpoint-dependent' &&
			 '$DOCKER' exec nat-peer2 tinescale ctl wg0 status | grep -q 'nat_mapping: endpoint-dependent'" ||
			fail "nat edm: nat_mapping is not endpoint-dependent"
		# An observation window, not a synchronisation: longer than one
		# candidate exchange (exchange_interval_s, 10 s), so hole punching
		# has been tried; the path must stay on the relay all along.
		end=$((SECONDS + 12))
		while ((SECONDS < end)); do
			if ! has nat-peer1 'path: relay' || ! has nat-peer2 'path: relay'; then
				fail "nat edm: the path left the relay: $(status nat-peer1)"
			fi
			sleep 1
		done
		fwd=$(relay_forwarded)
		dk exec nat-peer1 ping -c 3 -W 2 10.0.0.2 >/dev/null || fail "nat edm: ping through the relay failed"
		(($(relay_forwarded) >= fwd + 6)) || fail "nat edm: the pings did not go through the relay"
		log "nat edm: still relayed after 12 s, pings forwarded by the relay"
	fi
	compose nat "tsci-nat-$mode" NAT_MODE="$mode" -- down -v -t 2 >/dev/null 2>&1
	projects=()
	log "nat $mode passed ($((SECONDS - t)) s)"
}
nat_scenario eim
nat_scenario edm
log "PASS"
