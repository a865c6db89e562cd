#!/usr/bin/python3
"""A stand-in for systemd's notification socket (sd_notify(3)).

    sdnotify_listen.py SOCKET LOG [CHECK...]

Binds an AF_UNIX datagram socket at SOCKET (a path, or @name for the
abstract namespace), writes "LISTENING" to LOG, then one line per state
line received ("READY=1", "STATUS=...").  On every READY=1 it runs CHECK
at once, as `systemctl start` returning would let a user, and writes
"CHECK rc=N".  It exits after STOPPING=1, or after 60 s of silence.
"""
import socket
import subprocess
import sys


def main():
    path, log = sys.argv[1], sys.argv[2]
    check = sys.argv[3:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + path[1:] if path.startswith("@") else path)
    sock.settimeout(60)
    with open(log, "a", buffering=1) as out:
        out.write("LISTENING\n")
        while True:
            try:
                msg = sock.recv(4096).decode("utf-8", "replace")
            except socket.timeout:
                out.write("TIMEOUT\n")
                return 1
            lines = msg.split("\n")
            for line in lines:
                out.write(line + "\n")
            if "READY=1" in lines and check:
                rc = subprocess.call(check, stdout=subprocess.DEVNULL)
                out.write("CHECK rc=%d\n" % rc)
            if "STOPPING=1" in lines:
                return 0


if __name__ == "__main__":
    sys.exit(main())
