#!/usr/bin/python3
"""tests/net/bad_packets.py: throw hostile datagrams at a WireGuard UDP port.

Usage: bad_packets.py DST_IP DST_PORT RESPONDER_PUBKEY_B64 CAPTURE.pcapng [SEED]

Sends, from this namespace, every kind of bad input a WireGuard receiver must
shrug off, and prints one line per category with the number sent:
  - each message type (1 initiation, 2 response, 3 cookie reply, 4 data)
    truncated and over-long by a byte or more, and at the exact length with
    random contents (so the MACs / the AEAD tag are wrong);
  - handshake initiations with a *valid* mac1 (computed from the responder's
    public key, as any sender can) but garbage contents, so the receiver gets
    past the cheap check and must fail in the handshake itself;
  - data messages carrying a real receiver index taken from the capture but a
    forged ciphertext, and with a far-future counter;
  - unknown message types and non-zero reserved bytes; empty datagrams;
    random garbage of random lengths;
  - the same initiation split into IP fragments (scapy), and a UDP checksum
    error (dropped by the kernel, must be harmless);
  - replays: every WireGuard message found in CAPTURE (a capture of the
    tunnel's real traffic) resent verbatim, several times.
"""
import base64
import hashlib
import os
import random
import socket
import struct
import sys
import time

from scapy.all import IP, UDP, Raw, fragment, rdpcap, send  # noqa: E402

SIZES = {1: 148, 2: 92, 3: 64}  # exact lengths; data (4) is >= 32


def hdr(t, reserved=b"\0\0\0"):
    return bytes([t]) + reserved


def mac1_key(pub):
    return hashlib.blake2s(b"mac1----" + pub).digest()


def with_mac1(msg, key):
    """msg without its two 16-byte MACs; returns msg || mac1 || zero mac2."""
    m1 = hashlib.blake2s(msg, key=key, digest_size=16).digest()
    return msg + m1 + b"\0" * 16


def main():
    dst, port = sys.argv[1], int(sys.argv[2])
    pub = base64.b64decode(sys.argv[3])
    capture = sys.argv[4]
    rng = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
    rb = lambda n: bytes(rng.getrandbits(8) for _ in range(n))  # noqa: E731

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    counts = {}

    def tx(cat, payload):
        s.sendto(payload, (dst, port))
        counts[cat] = counts.get(cat, 0) + 1
        # Pace a little: the point is bad input, not a flood that starves
        # the continuous ping on a 2-core VM.
        if counts[cat] % 50 == 0:
            time.sleep(0.01)

    for t, n in SIZES.items():
        for ln in sorted({0, 1, 4, 8, n // 2, n - 16, n - 1}):
            tx(f"type{t}-truncated", (hdr(t) + rb(n))[: max(ln, 1)])
        for extra in (1, 16, 500):
            tx(f"type{t}-overlong", hdr(t) + rb(n - 4 + extra))
        for _ in range(30):
            tx(f"type{t}-random-body", hdr(t) + rb(n - 4))
    for ln in (1, 4, 8, 15, 16, 31):
        tx("type4-truncated", (hdr(4) + rb(40))[:ln])
    for ln in (32, 48, 100, 1000, 1500):
        for _ in range(10):
            tx("type4-random-index", hdr(4) + rb(ln - 4))

    key = mac1_key(pub)
    for _ in range(40):
        tx("type1-valid-mac1-garbage", with_mac1(hdr(1) + rb(148 - 4 - 32), key))

    for t in (0, 5, 6, 127, 255):
        tx("unknown-type", hdr(t) + rb(rng.choice((32, 64, 92, 148))))
    tx("reserved-nonzero", hdr(1, b"\1\0\0") + rb(144))
    tx("reserved-nonzero", hdr(4, b"\0\0\1") + rb(60))
    for _ in range(5):
        tx("empty", b"")
    for _ in range(300):
        tx("random-garbage", rb(rng.randrange(0, 1600)))

    # Replays from a real capture of this tunnel.
    pkts = [p for p in rdpcap(capture) if p.haslayer(UDP) and p.haslayer(Raw)]
    wg = [bytes(p[Raw].load) for p in pkts if bytes(p[Raw].load)[:1] in (b"\1", b"\2", b"\3", b"\4")]
    data = [m for m in wg if m[0] == 4]
    if not wg or not data:
        sys.exit(f"no WireGuard data packet in {capture}: cannot test replays")
    for _ in range(3):
        for m in wg:
            tx(f"replay-type{m[0]}", m)
    # Real receiver index, forged ciphertext / counters.
    for m in data[:5]:
        idx = m[4:8]
        tx("type4-real-index-forged", hdr(4) + idx + m[8:16] + rb(len(m) - 16))
        tx("type4-real-index-future-counter",
           hdr(4) + idx + struct.pack("<Q", 2**63 + rng.getrandbits(32)) + m[16:])
        tx("type4-real-index-flipped-tag", m[:-1] + bytes([m[-1] ^ 1]))

    # IP-level oddities through scapy.
    init = with_mac1(hdr(1) + rb(112), key)
    frags = fragment(IP(dst=dst) / UDP(sport=40000, dport=port) / Raw(init), fragsize=64)
    send(frags, verbose=0)
    counts["ip-fragments (one initiation)"] = len(frags)
    send(IP(dst=dst) / UDP(sport=40001, dport=port, chksum=0x1234) / Raw(init), verbose=0)
    counts["bad-udp-checksum"] = 1

    for k in sorted(counts):
        print(f"{k}: {counts[k]}")
    print(f"total: {sum(counts.values())}")


if __name__ == "__main__":
    main()
