#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# t_plugin_pcap: the pcap-writer plugin on a real tunnel, read back by tshark.
# For a tunnel without and with a preshared key:
# - side A captures all four hooks twice: one file with a key log beside it,
#   one with the secrets embedded; side B (the responder) embeds too.
# - tshark counts exactly the echo requests and replies of the ping on the
#   plaintext interfaces, finds handshake initiation, response and transport
#   data on the ciphertext ones, and decrypts the ICMP inside the WireGuard
#   messages: with the key log (and not without it), and from the embedded
#   secrets with no option at all.  Files are mode 0600.
# Then: rotation by size; reloading the same capture appends a section; 20+
# hot swaps between hexdump and pcap-writer under a ping lose nothing and
# leave valid files; bad configs fail the start with the plugin's message.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ping tshark capinfos mergecap

two_hosts
IF_A=${PFX}pa
IF_B=${PFX}pb
keypair a b
C=$LOGDIR # captures

# cap_yaml FILE INSTANCE-LINES...: a pipeline of pcap-writer instances, each
# "NAME|config line; config line".
cap_yaml() {
	local f=$1 spec name cfg
	shift
	{
		printf 'version: 1\nplugin_path: [%s]\nplugins:\n' "$TS_BUILD/plugins"
		for spec in "$@"; do
			name=${spec%%|*}
			cfg=${spec#*|}
			printf '  - name: %s\n    use: pcap-writer\n' "$name"
			printf '    hooks: [plaintext_out, ciphertext_out, ciphertext_in, plaintext_in]\n'
			printf '    config:\n'
			tr ';' '\n' <<<"$cfg" | sed 's/^ */      /'
		done
	} >"$f"
}

# fields FILE [tshark options...]: one line per packet, tab-separated:
#   interface  wg.type  icmp.type  ip.src  ip.dst  udp.dstport  ip.cksum  udp.cksum
# (inner and outer IP fields comma-separated when a WireGuard message was
# decrypted; checksum status 1 = good, 0 = bad).  Fails on any complaint.
fields() {
	local f=$1 err
	shift
	err=$LOGDIR/tshark.err
	tshark -n -r "$f" "$@" -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -T fields \
		-e frame.interface_name -e wg.type -e icmp.type -e ip.src -e ip.dst \
		-e udp.dstport -e ip.checksum.status -e udp.checksum.status 2>"$err" ||
		fail "tshark cannot read $f: $(cat "$err")"
	! grep -v '^Running as user' "$err" | grep -q . || fail "tshark complains about $f: $(cat "$err")"
}

# count TSV AWK-CONDITION: lines of a fields() output matching it.
count() { awk -F'\t' "$2 { n++ } END { print n + 0 }" "$1"; }

expect() { # WHAT GOT OP WANT
	(($2 $3 $4)) || fail "$1: got $2, expected $3 $4"
}

check_mode() {
	local m f
	for f in "$@"; do
		m=$(stat -c %a "$f")
		[[ $m == 600 ]] || fail "$f has mode $m, expected 600"
	done
}

# Structurally valid, whole blocks only, at least one packet (capinfos is quick).
check_valid() {
	local f out
	for f in "$@"; do
		out=$(capinfos -c -M "$f" 2>&1) || fail "capinfos rejects $f: $out"
		grep -q 'Number of packets: *[1-9]' <<<"$out" || fail "no packets in $f: $out"
	done
}

run_case() { # NAME PSK(0|1)
	local name=$1 psk=$2 n=4 k=
	log "=== case $name (preshared key: $psk) ==="
	conf_ini "$CONFDIR/a.conf" a 51820 "$(pub b)" 10.0.0.2/32 10.10.0.12:51820 -
	conf_ini "$CONFDIR/b.conf" b 51820 "$(pub a)" 10.0.0.1/32 10.10.0.11:51820 -
	if ((psk)); then
		k=$(wg genpsk)
		printf 'PresharedKey = %s\n' "$k" >>"$CONFDIR/a.conf"
		printf 'PresharedKey = %s\n' "$k" >>"$CONFDIR/b.conf"
	fi
	rm -f "$C/$name".*
	cap_yaml "$CONFDIR/$name-a.yaml" \
		"keylogged|path: $C/$name.a-kl.pcapng; keylog: $C/$name.a.keys" \
		"embedded|path: $C/$name.a-emb.pcapng; embed_secrets: true"
	cap_yaml "$CONFDIR/$name-b.yaml" "embedded|path: $C/$name.b-emb.pcapng; embed_secrets: true"
	IMPL=tinescale impl_start "$NS_A" "$IF_A" "$CONFDIR/a.conf" --address 10.0.0.1/24 \
		--pipeline "$CONFDIR/$name-a.yaml"
	IMPL=tinescale impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --address 10.0.0.2/24 \
		--pipeline "$CONFDIR/$name-b.yaml"
	grep -q 'keylog is ON' "${IF_LOG[$IF_A]}" || fail "no warning about keylog in the log"
	grep -q 'embed_secrets is ON' "${IF_LOG[$IF_A]}" || fail "no warning about embed_secrets"
	ping_ok "$NS_A" 10.0.0.2 $n
	sleep 0.3 # flushed every 20 ms
	local kl=$C/$name.a-kl.pcapng emb=$C/$name.a-emb.pcapng bemb=$C/$name.b-emb.pcapng
	local keys=$C/$name.a.keys t=$C/$name
	# While the daemons run, the files are complete, valid and private already.
	check_valid "$kl" "$emb" "$bemb"
	check_mode "$kl" "$emb" "$bemb" "$keys"
	fields "$kl" >"$t.nokeys.tsv"
	fields "$emb" >"$t.emb.tsv"
	fields "$bemb" >"$t.bemb.tsv"
	impl_stop "$IF_A"
	impl_stop "$IF_B"
	check_valid "$kl" "$emb" "$bemb"
	fields "$kl" -o "wg.keylog_file:$keys" >"$t.keylog.tsv"

	local f=$t.keylog.tsv
	expect "$kl: echo requests on plaintext_out" "$(count "$f" '$1 == "plaintext_out" && $3 == 8')" == $n
	expect "$kl: echo replies on plaintext_in" "$(count "$f" '$1 == "plaintext_in" && $3 == 0')" == $n
	expect "$kl: packets on plaintext hooks" "$(count "$f" '$1 ~ /^plaintext_/')" == $((2 * n))
	expect "$kl: initiations sent to 10.10.0.12:51820" \
		"$(count "$f" '$1 == "ciphertext_out" && $2 == 1 && $4 == "10.10.0.11" && $5 == "10.10.0.12" && $6 == 51820')" '>=' 1
	expect "$kl: responses received from 10.10.0.12" \
		"$(count "$f" '$1 == "ciphertext_in" && $2 == 2 && $4 == "10.10.0.12" && $5 == "10.10.0.11"')" '>=' 1
	expect "$kl: transport data sent" "$(count "$f" '$1 == "ciphertext_out" && $2 == 4')" '>=' $n
	expect "$kl: transport data received" "$(count "$f" '$1 == "ciphertext_in" && $2 == 4')" '>=' $n
	expect "$kl: bad IPv4 header checksums" "$(count "$f" '$7 ~ /0/')" == 0
	expect "$kl: bad UDP checksums" "$(count "$f" '$1 ~ /^ciphertext/ && $8 != 1')" == 0
	# Decryption: nothing without keys, everything with them.
	expect "$kl without keys: decrypted ICMP" "$(count "$t.nokeys.tsv" '$2 == 4 && $3 != ""')" == 0
	expect "$kl with the key log: decrypted echo requests" \
		"$(count "$f" '$1 == "ciphertext_out" && $2 == 4 && $3 == 8')" == $n
	expect "$kl with the key log: decrypted echo replies" \
		"$(count "$f" '$1 == "ciphertext_in" && $2 == 4 && $3 == 0')" == $n
	expect "$emb (embedded secrets, no option): decrypted ICMP" \
		"$(count "$t.emb.tsv" '$2 == 4 && $3 != ""')" == $((2 * n))
	# Checked last (below), so that a failure here does not hide the rest.
	got=$(count "$t.bemb.tsv" '$2 == 4 && $3 != ""')
	((got == 2 * n)) || RESPONDER_FAIL+="$bemb (responder side, embedded secrets): decrypted ICMP: got $got, expected $((2 * n))
"
	expect "$keys: handshakes logged" "$(grep -c '^LOCAL_EPHEMERAL_PRIVATE_KEY = ' "$keys")" '>=' 1
	if ((psk)); then
		grep -q "^PRESHARED_KEY = $k\$" "$keys" || fail "the key log does not carry the preshared key"
	fi
	log "case $name: plaintext, handshake, data and decryption (key log, embedded) all found"
}

RESPONDER_FAIL=
run_case nopsk 0
run_case psk 1

# --- Rotation, same-path reload, hot swaps: one daemon pair. ---
conf_ini "$CONFDIR/a.conf" a 51820 "$(pub b)" 10.0.0.2/32 10.10.0.12:51820 -
conf_ini "$CONFDIR/b.conf" b 51820 "$(pub a)" 10.0.0.1/32 10.10.0.11:51820 -
cap_yaml "$CONFDIR/rot.yaml" "rot|path: $C/rot.pcapng; rotate_bytes: 65536; rotate_files: 3"
IMPL=tinescale impl_start "$NS_A" "$IF_A" "$CONFDIR/a.conf" --address 10.0.0.1/24 \
	--pipeline "$CONFDIR/rot.yaml"
IMPL=tinescale impl_start "$NS_B" "$IF_B" "$CONFDIR/b.conf" --address 10.0.0.2/24
ping_ok "$NS_A" 10.0.0.2 2
ip netns exec "$NS_A" ping -n -q -c 400 -i 0.002 -s 600 10.0.0.2 >/dev/null 2>&1 || true
sleep 0.3
for f in rot.pcapng rot.pcapng.1 rot.pcapng.2; do
	[[ -s $C/$f ]] || fail "rotation: $C/$f missing"
	s=$(stat -c %s "$C/$f")
	((s <= 65536)) || fail "rotation: $f has $s bytes, more than rotate_bytes 65536"
	check_valid "$C/$f"
	check_mode "$C/$f"
done
[[ ! -e $C/rot.pcapng.3 ]] || fail "rotation: rot.pcapng.3 exists with rotate_files 3"
log "rotation: rot.pcapng, .1, .2 valid, <= 64 KiB each"

# Reloading the same capture: the new instance appends a section after the old one.
cap_yaml "$CONFDIR/same.yaml" "cap|path: $C/same.pcapng"
"$TS_BUILD/tinescale" ctl "$IF_A" reload "$CONFDIR/same.yaml" >/dev/null || fail "reload failed"
ping_ok "$NS_A" 10.0.0.2 2
"$TS_BUILD/tinescale" ctl "$IF_A" reload "$CONFDIR/same.yaml" >/dev/null || fail "reload failed"
ping_ok "$NS_A" 10.0.0.2 2
sleep 0.3
check_valid "$C/same.pcapng"
fields "$C/same.pcapng" >"$C/same.tsv"
expect "same.pcapng: echo requests over both sections" \
	"$(count "$C/same.tsv" '$1 == "plaintext_out" && $3 == 8')" == 4
# Section Header Blocks, walking the file block by block (little-endian host).
shbs=$("$TS_PY" -c '
import struct, sys
d = open(sys.argv[1], "rb").read()
o = n = 0
while o + 8 <= len(d):
    t, l = struct.unpack_from("<II", d, o)
    n += t == 0x0A0D0D0A
    o += l
print(n if o == len(d) else -1)' "$C/same.pcapng")
expect "same.pcapng: pcapng sections (one per instance)" "$shbs" == 2
log "reload to the same path: one valid file, both instances' packets"

# Hot swaps between hexdump and pcap-writer, back to back under a ping of
# 20 s (at least 20 of them; sanitizer builds reload slower).
cat >"$CONFDIR/hd.yaml" <<YAML
version: 1
plugin_path: [$TS_BUILD/plugins]
plugins:
  - name: dump
    use: hexdump
    hooks: [plaintext_out, ciphertext_out, ciphertext_in, plaintext_in]
    config: { output: $C/swap-hexdump.txt }
YAML
bg ping-swap ip netns exec "$NS_A" ping -n -i 0.05 -c 400 -W 2 10.0.0.2
PING_PID=$BG_PID
sleep 0.2
swaps=0
while _is_running_job "$PING_PID"; do
	if ((swaps % 2)); then
		y=$CONFDIR/hd.yaml
	else
		cap_yaml "$CONFDIR/swap$swaps.yaml" "cap|path: $C/swap$swaps.pcapng"
		y=$CONFDIR/swap$swaps.yaml
	fi
	"$TS_BUILD/tinescale" ctl "$IF_A" reload "$y" >/dev/null || fail "reload $swaps ($y) failed"
	swaps=$((swaps + 1))
	sleep 0.2
done
bg_wait "$PING_PID" || true
rx=$(sed -n 's/.* \([0-9]\+\) received.*/\1/p' "$LOGDIR/ping-swap.log")
[[ ${rx:-0} == 400 ]] || fail "ping under $swaps hot swaps: ${rx:-0} of 400 answered:
$(tail -n 3 "$LOGDIR/ping-swap.log")"
((swaps >= 20)) || fail "only $swaps reloads during the 20 s ping"
# Every capture is valid; all but the last saw the ping (the last may have
# been loaded as the ping ended).
for ((i = 0; i < swaps; i += 2)); do
	if ((i + 2 < swaps)); then
		check_valid "$C/swap$i.pcapng"
	else
		capinfos -M "$C/swap$i.pcapng" >/dev/null 2>&1 || fail "capinfos rejects swap$i.pcapng"
	fi
done
mergecap -w "$C/swap-all.pcapng" "$C"/swap[0-9]*.pcapng || fail "mergecap rejects a swap capture"
fields "$C/swap-all.pcapng" >"$C/swap-all.tsv"
expect "swap captures: echo requests" "$(count "$C/swap-all.tsv" '$1 == "plaintext_out" && $3 == 8')" '>=' $((swaps / 2))
log "$swaps hot swaps under ping: 400/400, every capture valid"
impl_alive "$IF_A"
impl_stop "$IF_A"

# --- Bad configs: the daemon refuses to start, with the plugin's message. ---
bad_start() { # NAME CONFIG-LINES EXPECTED_MESSAGE
	local rc=0 err
	cap_yaml "$CONFDIR/bad-$1.yaml" "bad|$2"
	err=$(ip netns exec "$NS_A" timeout 10 "$TS_BUILD/tinescale" -f --config "$CONFDIR/a.conf" \
		--pipeline "$CONFDIR/bad-$1.yaml" "${PFX}px" 2>&1 >/dev/null) || rc=$?
	((rc != 0 && rc != 124)) || fail "tinescale started (or hung, rc $rc) with bad-$1.yaml:
$err"
	grep -qF -- "$3" <<<"$err" || fail "stderr for bad-$1.yaml lacks '$3':
$err"
	log "rejected as expected: $(grep -F -- "$3" <<<"$err" | head -n 1)"
}
bad_start unknown "path: $C/x.pcapng; colour: red" \
	"unknown config key 'colour' (pcap-writer accepts path, snaplen, peers, rotate_bytes, rotate_files, keylog, embed_secrets)"
bad_start snaplen "path: $C/x.pcapng; snaplen: -5" "'snaplen' must be an integer from 1 to 262144"
bad_start snaplen0 "path: $C/x.pcapng; snaplen: 0" "'snaplen' must be an integer from 1 to 262144"
bad_start nopath "snaplen: 100" "'path' (the capture file) is required"
bad_start unwritable "path: /nonexistent-dir/x.pcapng" \
	"cannot open '/nonexistent-dir/x.pcapng' for writing: No such file or directory"
bad_start dir "path: $C" "cannot open '$C' for writing: Is a directory"
bad_start keylog "path: $C/x.pcapng; keylog: /nonexistent-dir/k" \
	"cannot open '/nonexistent-dir/k' for writing"
bad_start peers "path: $C/x.pcapng; peers: [notakey]" "'peers' item 0 ('notakey') is not a base64 public key"
bad_start rotate "path: $C/x.pcapng; rotate_files: 3" "'rotate_files' needs 'rotate_bytes'"

# The responder decrypts only if the secrets the host hands over at response
# time carry the responder's ephemeral private key.
[[ -z $RESPONDER_FAIL ]] || fail "$RESPONDER_FAIL(the initiator side decrypts: is the LOCAL_EPHEMERAL_PRIVATE_KEY of the responder's secrets right?)"
