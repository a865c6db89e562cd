#!/usr/bin/env bash
# scripts/deps.sh: install every Debian package the build and the tests need.
# Non-interactive (CI has no stdin); tshark's "non-root capture" question is
# pre-answered (no: the tests capture as root).  Needs root, or sudo.
set -euo pipefail

PACKAGES=(
	# build
	cmake make pkg-config gcc clang clang-format
	libsodium-dev libb2-dev libinih-dev libyaml-dev
	# interop peers and the wg tool
	wireguard-tools wireguard-go
	# network-namespace lab and traffic
	iproute2 iputils-ping iperf3 nftables iptables socat ncat
	tshark python3 python3-scapy python3-cryptography coturn
	# metrics: promtool and a real Prometheus server scrape the daemon and the relay
	prometheus
	# docker/: static checks, and the real engine with a debootstrap'd base image
	debootstrap docker-compose docker.io shellcheck
	# systemd units: systemd-analyze verify
	systemd
)

SUDO=()
if [[ $(id -u) != 0 ]]; then
	command -v sudo >/dev/null || {
		echo "deps.sh: run as root (or install sudo)" >&2
		exit 1
	}
	SUDO=(sudo -n)
fi
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" |
	"${SUDO[@]}" debconf-set-selections
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	"${PACKAGES[@]}" </dev/null
