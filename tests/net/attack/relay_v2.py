#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The tinescale relay wire format (docs/nat-traversal.md), for tests and attacks.

An independent Python implementation (hashlib's BLAKE2s, python3-cryptography's
X25519) of what core/relay/relay_proto.c encodes: REGISTER with its cookie,
COOKIE, REGISTER_ACK, SEND with its token, RECV, ERROR.  PROTO = 2 by default;
TSR_PROTO=1 in the environment speaks version 1 (no cookie, no token), so the
same attacks can be aimed at a version 1 relay to show what they did there.

Also: a raw-socket sender that forges the IPv4 source address and port
(spoofing), used by relay_attack.py.
"""
import base64
import hashlib
import os
import socket
import struct
import time

from cryptography.hazmat.primitives import serialization as _ser
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

PROTO = int(os.environ.get("TSR_PROTO", "2"))
MAGIC = b"TSR" + bytes([PROTO])
REGISTER, REGISTER_ACK, SEND, RECV, ERROR, COOKIE = 1, 2, 3, 4, 5, 6
REGISTER_LEN = 80 if PROTO == 2 else 64
SEND_HDR_LEN = 56 if PROTO == 2 else 40
RECV_HDR_LEN = 40
ACK_LEN = 56
COOKIE_FRAME_LEN = 40
KIND_WG, KIND_CANDIDATES = 0, 1


def b64(raw):
    return base64.b64encode(raw).decode()


def unb64(text):
    return base64.b64decode(text)


def mac16(key, data):
    return hashlib.blake2s(data, key=key, digest_size=16).digest()


def addr_rec(ip, port):
    """The 20-byte address record (IPv4 only here: the lab is IPv4)."""
    return bytes([4, 0]) + struct.pack(">H", port) + socket.inet_aton(ip) + bytes(12)


def parse_addr_rec(rec):
    if rec[0] == 4:
        return socket.inet_ntoa(rec[4:8]), struct.unpack(">H", rec[2:4])[0]
    return socket.inet_ntop(socket.AF_INET6, rec[4:20]), struct.unpack(">H", rec[2:4])[0]


def parse_hostport(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


class Key:
    """A peer's static key and its K with one relay."""

    def __init__(self, relay_pub, priv=None):
        self.priv = priv or X25519PrivateKey.generate()
        self.pub = self.priv.public_key().public_bytes(_ser.Encoding.Raw, _ser.PublicFormat.Raw)
        dh = self.priv.exchange(X25519PublicKey.from_public_bytes(relay_pub))
        label = b"tinescale-relay-v%d register" % PROTO
        self.k = hashlib.blake2s(label + dh).digest()

    def token(self, ip, port):
        return mac16(self.k, b"tinescale-relay-v2 send" + addr_rec(ip, port))


def register_frame(pub, k, ts=None, cookie=None):
    """A REGISTER; k may be random bytes for a forgery."""
    ts = time.time_ns() if ts is None else ts
    body = MAGIC + bytes([REGISTER, 0, 0, 0]) + pub + struct.pack(">Q", ts)
    if PROTO == 2:
        body += cookie or bytes(16)
    return body + mac16(k, body)


def send_frame(dst_pub, payload, token=None, kind=KIND_WG):
    hdr = MAGIC + bytes([SEND, kind, 0, 0]) + dst_pub
    if PROTO == 2:
        hdr += token or bytes(16)
    return hdr + payload


def frame_type(data):
    if len(data) >= 5 and data[:4] == MAGIC:
        return data[4]
    return None


def parse_ack(data, k):
    """(timestamp, (ip, port)) of a REGISTER_ACK whose mac verifies, else None."""
    if len(data) != ACK_LEN or frame_type(data) != REGISTER_ACK:
        return None
    if mac16(k, data[:40]) != data[40:]:
        return None
    return struct.unpack(">Q", data[8:16])[0], parse_addr_rec(data[16:36])


def parse_cookie(data):
    """(echo, cookie) of a COOKIE frame, else None."""
    if len(data) != COOKIE_FRAME_LEN or frame_type(data) != COOKIE:
        return None
    return data[8:24], data[24:40]


class Peer:
    """A well-behaved peer on a UDP socket: registers (cookie round trip) and sends."""

    def __init__(self, relay, relay_pub, bind=("0.0.0.0", 0), key=None):
        self.relay = relay
        self.key = key or Key(relay_pub)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(bind)
        self.cookie = None
        self.observed = None
        self.last_frame = None

    def recv(self, timeout):
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(65536)
        except (socket.timeout, ConnectionRefusedError):
            return None

    def register(self, ts=None, timeout=1.0, tries=3):
        """Register (answering one COOKIE); returns the observed (ip, port) or None."""
        for _ in range(tries):
            frame = register_frame(self.key.pub, self.key.k, ts, self.cookie)
            self.last_frame = frame
            self.sock.sendto(frame, self.relay)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                data = self.recv(max(0.01, deadline - time.monotonic()))
                if data is None:
                    break
                c = parse_cookie(data)
                if c and c[0] == frame[-16:]:
                    self.cookie = c[1]
                    break  # again, with the cookie
                a = parse_ack(data, self.key.k)
                if a:
                    self.observed = a[1]
                    return self.observed
            if ts is not None:
                ts += 1
        return None

    def send(self, dst_pub, payload, kind=KIND_WG):
        tok = self.key.token(*self.observed) if self.observed else None
        self.sock.sendto(send_frame(dst_pub, payload, tok, kind), self.relay)


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


class Spoofer:
    """Sends UDP over IPv4 with any source address and port (raw socket, IP_HDRINCL)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)

    @staticmethod
    def packet(src, dst, payload):
        """An IPv4+UDP datagram (the kernel fills in the IP checksum and id)."""
        ulen = 8 + len(payload)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0, 64, 17, 0,
                         socket.inet_aton(src[0]), socket.inet_aton(dst[0]))
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, ulen)
        udp = struct.pack("!HHHH", src[1], dst[1], ulen, 0)
        c = _csum(pseudo + udp + payload) or 0xFFFF
        return ip + struct.pack("!HHHH", src[1], dst[1], ulen, c) + payload

    def send(self, src, dst, payload):
        try:
            self.sock.sendto(self.packet(src, dst, payload), (dst[0], 0))
            return True
        except (BlockingIOError, OSError):
            return False

    def send_raw(self, pkt, dst_ip):
        try:
            self.sock.sendto(pkt, (dst_ip, 0))
            return True
        except (BlockingIOError, OSError):
            return False
