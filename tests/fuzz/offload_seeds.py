#!/usr/bin/python3
# Writes the seed corpus of fuzz_offload (tests/fuzz/corpus/fuzz_offload):
# a struct virtio_net_hdr (host order, little-endian) and a packet each.
#   python3 tests/fuzz/offload_seeds.py tests/fuzz/corpus/fuzz_offload
import os
import struct
import sys


def csum(b, s=0):
    if len(b) % 2:
        b += b"\0"
    for i in range(0, len(b), 2):
        s += b[i] << 8 | b[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def vnet(flags, gso_type, hdr_len, gso_size, csum_start, csum_offset):
    return struct.pack("<BBHHHH", flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)


def ip_hdr(v6, proto, l4_len, v6_first_word, v4_id, v4_frag):
    """An IP header for l4_len bytes of proto, and the pseudo-header's sum."""
    if v6:
        src, dst = bytes(range(0xE0, 0xF0)), bytes(range(0x10, 0x20))
        ip = struct.pack("!IHBB", v6_first_word, l4_len, proto, 64) + src + dst
        return ip, csum(src + dst + struct.pack("!IxxxB", l4_len, proto))
    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + l4_len, v4_id, v4_frag, 64, proto, 0) + src + dst
    ip = ip[:10] + struct.pack("!H", ~csum(ip) & 0xFFFF) + ip[12:]
    return ip, csum(src + dst + struct.pack("!xBH", proto, l4_len))


def tcp(v6, opts, payload, flags=0x18):
    th = struct.pack("!HHIIBBHHH", 40000, 5201, 0xFFFFF000, 7, (20 + len(opts)) // 4 << 4,
                     flags, 501, 0, 0) + opts
    l4 = th + payload
    ip, ps = ip_hdr(v6, 6, len(l4), 0x600A0042, 0xFFF0, 0x4000)
    l4 = l4[:16] + struct.pack("!H", ps) + l4[18:]
    return ip + l4


def udp(payload, v6=False):
    l4 = struct.pack("!HHHH", 1000, 2000, 8 + len(payload), 0) + payload
    ip, ps = ip_hdr(v6, 17, len(l4), 0x60000000, 1, 0)
    return ip + l4[:6] + struct.pack("!H", ps) + l4[8:]


ts = bytes([1, 1, 8, 10]) + bytes(range(8))
seeds = {
    "tcp4": vnet(1, 1, 40, 500, 20, 16) + tcp(False, b"", bytes(range(256)) * 8),
    "tcp4_ts": vnet(1, 1, 52, 700, 20, 16) + tcp(False, ts, bytes(range(200)) * 10),
    "tcp6": vnet(1, 4, 60, 600, 40, 16) + tcp(True, b"", bytes(range(100)) * 20),
    "tcp6_ts_fin": vnet(1, 4, 72, 300, 40, 16) + tcp(True, ts, bytes(1000), 0x19),
    "udp4_uso": vnet(1, 5, 28, 400, 20, 6) + udp(bytes(range(250)) * 5),
    "udp6_uso": vnet(1, 5, 48, 1200, 40, 6) + udp(bytes(range(200)) * 31, v6=True),
    "csum_only": vnet(1, 0, 0, 0, 20, 6) + udp(b"hello"),
    "plain": vnet(0, 0, 0, 0, 0, 0) + udp(b"plain"),
    "bad_ufo": vnet(1, 3, 28, 400, 20, 6) + udp(bytes(900)),
    "bad_gso0": vnet(1, 1, 40, 0, 20, 16) + tcp(False, b"", bytes(900)),
}
os.makedirs(sys.argv[1], exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(sys.argv[1], name), "wb") as f:
        f.write(data)
