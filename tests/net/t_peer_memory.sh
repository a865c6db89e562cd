#!/usr/bin/env bash
# t_peer_memory: 2,000 peers with one allowed IP each cost tinescale at most
# 1,792 bytes of resident memory per peer (the budget is 2 KiB; about 1,150
# is what it costs today).  Memory, not time: the figure is the same from
# run to run.  tests/bench/peer_memory.sh does the same at 10,000 peers
# against both wireguard-go builds.
exec bash "$(dirname "$0")/../bench/peer_memory.sh" --peers 2000 --impls tinescale --max-bytes 1792
