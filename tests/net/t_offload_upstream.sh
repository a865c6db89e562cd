#!/usr/bin/env bash
# t_offload_upstream: t_offload's transfer, checked by sha256 each way,
# against upstream wireguard-go (TUN offloads and UDP GSO/GRO on), the
# userspace WireGuard a Linux user runs today.  Its binary is not a Debian
# package (../shared/anchors/wireguard-go, or TS_WGGO_UPSTREAM): where it is
# absent the test exits 77 and ctest shows it as skipped, not passed.
exec env TS_OFFLOAD_UPSTREAM=1 TS_OFFLOAD_MB=30 bash "$(dirname "$0")/t_offload.sh"
