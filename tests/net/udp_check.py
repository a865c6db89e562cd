#!/usr/bin/python3
"""tests/net/udp_check.py: UDP datagrams through a tunnel, each checked whole.

  udp_check.py recv ADDR PORT SIZE SECS   prints "got=N bad=B sizes=K" after
                                           SECS of silence (or 30 s in all)
  udp_check.py send ADDR PORT COUNT SIZE  sends COUNT datagrams in bursts of 64

Datagram i is SIZE bytes, except that every 16th is shorter (SIZE - 1 - i %
SIZE/2): a burst of equal datagrams is what a receiver's coalescing (GRO)
joins, and a shorter one must end a group.  Its bytes are a function of i
(the first 4 are i), so the receiver can tell a datagram cut short, joined
to another, or with bytes of another (bad) from a lost one (not counted).
"""
import hashlib
import socket
import sys
import time


def size_of(i, size):
    return size - 1 - i % (size // 2) if i % 16 == 15 else size


def body(i, size):
    n = size_of(i, size)
    seed = hashlib.sha256(i.to_bytes(4, "big")).digest()
    out = i.to_bytes(4, "big") + (seed * (n // 32 + 1))
    return out[:n]


def recv(addr, port, size, quiet):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    s.bind((addr, port))
    print("ready", flush=True)
    got = bad = 0
    sizes = set()
    start = time.monotonic()
    s.settimeout(30)
    while time.monotonic() - start < 30:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        s.settimeout(quiet)
        if len(d) < 4:
            bad += 1
            continue
        i = int.from_bytes(d[:4], "big")
        if d == body(i, size):
            got += 1
            sizes.add(len(d))
        else:
            bad += 1
    print("got=%d bad=%d sizes=%d" % (got, bad, len(sizes)), flush=True)


def send(addr, port, count, size):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.connect((addr, port))
    for base in range(0, count, 64):
        for i in range(base, min(count, base + 64)):
            s.send(body(i, size))
        time.sleep(0.002)
    print("sent=%d" % count, flush=True)


def main():
    mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "recv":
        recv(addr, port, int(sys.argv[4]), float(sys.argv[5]))
    else:
        send(addr, port, int(sys.argv[4]), int(sys.argv[5]))


if __name__ == "__main__":
    main()
