#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_docker_config: static checks of docker/ (no Docker engine here):
# every docker/**/docker-compose*.y*ml must pass `docker-compose -f F config -q`,
# every docker/**/*.sh must pass `bash -n` and shellcheck.  With docker/ empty
# there is nothing to check yet: skipped (77).  Files present but no compose
# file is a failure: the scenarios are the point of docker/.
set -euo pipefail
TS_SRC=${TS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
D=$TS_SRC/docker
fail() {
	printf '[t_docker_config] FAIL: %s\n' "$*" >&2
	exit 1
}

if [[ ! -d $D || -z $(find "$D" -mindepth 1 -not -name '.gitkeep' -print -quit) ]]; then
	echo "[t_docker_config] SKIP: docker/ is empty, nothing to check yet" >&2
	exit 77
fi
mapfile -t composes < <(find "$D" -type f \( -name 'docker-compose*.yml' -o -name 'docker-compose*.yaml' \) | sort)
mapfile -t scripts < <(find "$D" -type f -name '*.sh' | sort)
((${#composes[@]})) || fail "docker/ has files but no docker-compose*.y*ml"
command -v docker-compose >/dev/null || fail "docker-compose not installed (scripts/deps.sh installs it)"
for f in "${composes[@]}"; do
	# `config` resolves env files and build contexts relative to the file.
	out=$(cd "$(dirname "$f")" && docker-compose -f "$f" config -q 2>&1) ||
		fail "docker-compose config rejects ${f#"$TS_SRC"/}:
$out"
	echo "[t_docker_config] ok: ${f#"$TS_SRC"/}"
done
for f in "${scripts[@]}"; do
	bash -n "$f" || fail "bash -n ${f#"$TS_SRC"/}"
	if command -v shellcheck >/dev/null; then
		shellcheck -x "$f" || fail "shellcheck ${f#"$TS_SRC"/}"
	fi
	echo "[t_docker_config] ok: ${f#"$TS_SRC"/}"
done
echo "[t_docker_config] PASS: ${#composes[@]} compose files, ${#scripts[@]} scripts"
