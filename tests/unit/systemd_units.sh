#!/usr/bin/env bash
# systemd_units: systemd/*.service.in, with ExecStart pointing at this
# build's binaries, pass `systemd-analyze verify` with no message at all
# (an unknown or misspelt directive is only a warning there: it fails here),
# and `systemd-analyze security` rates each at most 3.0 (hardening kept).
set -euo pipefail
TS_SRC=${TS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
TS_BUILD=${TS_BUILD:-$TS_SRC/build}
command -v systemd-analyze >/dev/null || {
	echo "[systemd_units] SKIP: systemd-analyze is not installed (scripts/deps.sh installs systemd)" >&2
	exit 77
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
units=()
for f in "$TS_SRC"/systemd/*.service.in; do
	u=$(basename "$f" .in)
	sed "s|@BINDIR@|$TS_BUILD|g" "$f" >"$tmp/$u"
	# A template is verified as an instance of itself.
	[[ $u == *@.service ]] && mv "$tmp/$u" "$tmp/${u%@.service}@wg0.service" && u=${u%@.service}@wg0.service
	units+=("$tmp/$u")
done
((${#units[@]} >= 2)) || {
	echo "[systemd_units] FAIL: expected systemd/tinescale@.service.in and tinescale-relay.service.in" >&2
	exit 1
}
rc=0
for u in "${units[@]}"; do
	if ! out=$(systemd-analyze verify --man=no "$u" 2>&1) || [[ -n $out ]]; then
		echo "[systemd_units] FAIL: systemd-analyze verify $(basename "$u"):" >&2
		echo "$out" >&2
		rc=1
	fi
	if ! out=$(systemd-analyze security --offline=yes --threshold=30 "$u" 2>&1); then
		echo "[systemd_units] FAIL: $(basename "$u") exposure above 3.0:" >&2
		echo "$out" | tail -n 3 >&2
		rc=1
	fi
	[[ $rc == 0 ]] && echo "[systemd_units] ok: $(basename "$u")"
done
exit "$rc"
