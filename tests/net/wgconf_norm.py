#!/usr/bin/python3
"""tests/net/wgconf_norm.py: print a `wg setconf`/`wg showconf` file in a
canonical form (keys lower-cased, peers sorted by public key, allowed IPs
sorted, defaults dropped) so two configs can be compared modulo formatting.

Usage: wgconf_norm.py FILE"""
import ipaddress
import sys

DEFAULTS = {"persistentkeepalive": {"0", "off"}, "fwmark": {"0", "off"}}


def norm(path):
    iface, peers, cur = {}, {}, None
    with open(path) as f:
        for raw in f:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("["):
                sect = line.strip("[]").strip().lower()
                cur = {} if sect == "peer" else iface
                if sect == "peer":
                    peers[id(cur)] = cur
                continue
            k, _, v = line.partition("=")
            k, v = k.strip().lower(), v.strip()
            if v.lower() in DEFAULTS.get(k, ()):
                continue
            if k == "allowedips":
                nets = cur.setdefault(k, set())
                for a in v.split(","):
                    if a.strip():
                        nets.add(str(ipaddress.ip_network(a.strip(), strict=False)))
            else:
                cur[k] = v
    out = ["[Interface]"] + [f"{k} = {iface[k]}" for k in sorted(iface)]
    for p in sorted(peers.values(), key=lambda p: p.get("publickey", "")):
        out.append("[Peer]")
        for k in sorted(p):
            v = ", ".join(sorted(p[k])) if k == "allowedips" else p[k]
            out.append(f"{k} = {v}")
    return "\n".join(out)


if __name__ == "__main__":
    print(norm(sys.argv[1]))
