#!/usr/bin/python3
"""tests/net/iperf_check.py: judge an `iperf3 --json` result.

Usage: iperf_check.py FILE MIN_MBITS
Fails (exit 1, with a message) when iperf3 reported an error, when any
interval carried 0 bit/s (a stall), or when the received rate is below
MIN_MBITS.  Prints "<received Mbit/s> <retransmits or loss%>" on success."""
import json
import sys


def main():
    path, floor = sys.argv[1], float(sys.argv[2])
    try:
        with open(path) as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"iperf3 output {path} unreadable: {e}")
    if "error" in r:
        sys.exit(f"iperf3 error: {r['error']}")
    ivs = r.get("intervals", [])
    if not ivs:
        sys.exit("iperf3 reported no intervals")
    for i, iv in enumerate(ivs):
        s = iv["sum"]
        # The last interval may be a short remainder; a real stall is a
        # full-length interval with nothing in it.
        if s["bits_per_second"] == 0 and s["seconds"] > 0.5:
            sys.exit(f"stall: interval {i} ({s['start']:.1f}-{s['end']:.1f} s) carried 0 bit/s")
    end = r["end"]
    if "sum_received" in end:  # TCP
        mbit = end["sum_received"]["bits_per_second"] / 1e6
        extra = end.get("sum_sent", {}).get("retransmits", 0)
    else:  # UDP
        mbit = end["sum"]["bits_per_second"] * (1 - end["sum"]["lost_percent"] / 100) / 1e6
        extra = end["sum"]["lost_percent"]
    if mbit < floor:
        sys.exit(f"throughput {mbit:.1f} Mbit/s below the floor of {floor} Mbit/s")
    print(f"{mbit:.1f} {extra}")


if __name__ == "__main__":
    main()
