#!/usr/bin/env bash
# Installs what the privileged test suites need, when missing. Idempotent; needs root.
#   keepalived, frr        reference peers for VRRP and BFD interop (network namespaces)
#   iproute2, nftables     network namespaces, veth, macvlan; loss and partitions
#   tcpdump, tshark        packet captures
#   qemu-system-x86, linux-image-amd64, busybox-static, ipvsadm
#                          a Debian kernel with IPVS under QEMU (this host's kernel has none)
set -euo pipefail
packages=(keepalived frr iproute2 nftables tcpdump tshark qemu-system-x86 linux-image-amd64 busybox-static ipvsadm kmod cpio iputils-ping)
need=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  echo "==> installing: ${need[*]}"
  apt-get update -qq
  # tshark asks whether non-root users may capture; answer no, non-interactively.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# keepalived and FRR must not run as system services: tests start their own instances.
for svc in keepalived frr; do
  systemctl disable --now "$svc" >/dev/null 2>&1 || true
  pkill -x "$svc" >/dev/null 2>&1 || true
done
echo "==> test dependencies present"
