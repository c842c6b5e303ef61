#!/usr/bin/env bash
# scripts/ipvs-vm.sh — run a guest script under Debian's stock kernel (IPVS as modules)
# in a QEMU VM with a throw-away busybox initramfs, and exit with the guest's status.
#
# The development and CI machines run a kernel without IPVS, so the kernel backend of
# ha-ipvs can only be exercised inside a VM. KVM is not usable there: QEMU's software
# emulation (TCG) is the default.
#
# This script builds nothing. Usage:
#
#   scripts/ipvs-vm.sh [--bin PATH]... [--dyn PATH]... GUEST_SCRIPT
#
#   --bin PATH   a static binary, copied to /bin/NAME in the guest
#   --dyn PATH   a dynamically linked host binary, copied to the same path in the guest
#                with its libraries (ipvsadm and iproute2's ip are always copied)
#   GUEST_SCRIPT a busybox sh script, run as /test.sh after the modules are loaded
#
# Environment: IPVS_VM_TIMEOUT (seconds, default 900), IPVS_VM_MEM (MiB, default 1024),
# IPVS_VM_ACCEL (tcg or kvm, default tcg), IPVS_VM_KERNEL_VERSION (default: newest
# installed *-amd64), IPVS_VM_MODULES (extra modules to load), IPVS_VM_APPEND (extra
# kernel command line).
#
# In the guest: PATH=/usr/sbin:/usr/bin:/bin:/sbin, /proc /sys /dev mounted, lo and a
# dummy interface "dummy0" (10.0.0.1/24) up, /tmp writable. Busybox sh prefers its own
# applets to $PATH, so call copied binaries by absolute path (/usr/bin/ip, /usr/sbin/...).
#
# Output: the guest console. The guest prints "@@RESULT rc=N" when the script ends.
# Exit status: N; 124 on timeout; 3 when the guest printed no result; 2 on bad usage.
set -euo pipefail

usage() { sed -n '2,30p' "$0" >&2; exit 2; }

BINS=()
DYNS=()
SCRIPT=
while (($#)); do
  case $1 in
    --bin) BINS+=("$2"); shift 2 ;;
    --dyn) DYNS+=("$2"); shift 2 ;;
    -h|--help) usage ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) [[ -z $SCRIPT ]] || usage; SCRIPT=$1; shift ;;
  esac
done
[[ -n $SCRIPT && -r $SCRIPT ]] || usage

TIMEOUT=${IPVS_VM_TIMEOUT:-900}
MEM=${IPVS_VM_MEM:-1024}
ACCEL=${IPVS_VM_ACCEL:-tcg}
KV=${IPVS_VM_KERNEL_VERSION:-$(ls /lib/modules | grep -- '-amd64$' | sort -V | tail -1 || true)}
KERNEL=/boot/vmlinuz-$KV
if [[ -z $KV || ! -r $KERNEL ]]; then
  echo "ipvs-vm: no Debian kernel image (install linux-image-amd64: scripts/install-test-deps.sh)" >&2
  exit 1
fi
for tool in qemu-system-x86_64 cpio gzip modinfo busybox ipvsadm; do
  command -v "$tool" >/dev/null || { echo "ipvs-vm: $tool is missing (scripts/install-test-deps.sh)" >&2; exit 1; }
done
BUSYBOX=/bin/busybox # busybox-static: the guest has no C library for a dynamic one
[[ -x $BUSYBOX ]] || { echo "ipvs-vm: $BUSYBOX is missing (busybox-static)" >&2; exit 1; }

# Schedulers, persistence engine, tunnels and the interfaces the tests use. Modules a
# kernel lacks are skipped with a message.
MODULES="crc32c_generic ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh
  ip_vs_sh ip_vs_sed ip_vs_nq ip_vs_fo ip_vs_ovf ip_vs_mh ip_vs_twos nf_conntrack_sip
  ip_vs_pe_sip ip_vs_ftp dummy veth ${IPVS_VM_MODULES:-}"

WORK=$(mktemp -d /tmp/ipvs-vm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

R=$WORK/root
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,run,lib/modules,usr/sbin,usr/bin}
cp "$BUSYBOX" "$R/bin/busybox"
ln -sf busybox "$R/bin/sh"

# Modules and their dependencies, in load order (dependencies first).
declare -A seen=()
order=()
add_mod() {
  local m=$1 d f
  [[ -n ${seen[$m]:-} ]] && return 0
  seen[$m]=1
  if ! f=$(modinfo -k "$KV" -n "$m" 2>/dev/null); then
    echo "ipvs-vm: module $m not in $KV, skipped"
    return 0
  fi
  for d in $(modinfo -k "$KV" -F depends "$m" | tr ',' ' '); do add_mod "$d"; done
  case $f in
    *.ko) cp "$f" "$R/lib/modules/$m.ko" ;;
    *.ko.xz) xz -dc "$f" >"$R/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$f" >"$R/lib/modules/$m.ko" ;;
    *) return 0 ;; # built in
  esac
  order+=("$m")
}
for m in $MODULES; do add_mod "$m"; done
printf '%s\n' "${order[@]}" >"$R/etc/modules.order"

copy_dyn() {
  local b=$1 l
  install -D -m755 "$b" "$R$b"
  for l in $(ldd "$b" | grep -o '/[^ ]*'); do install -D -m755 "$l" "$R$l"; done
}
copy_dyn "$(command -v ipvsadm)"
if [[ -x /usr/bin/ip ]]; then copy_dyn /usr/bin/ip; elif [[ -x /sbin/ip ]]; then copy_dyn /sbin/ip; fi
for b in "${DYNS[@]}"; do copy_dyn "$b"; done
for b in "${BINS[@]}"; do install -m755 "$b" "$R/bin/$(basename "$b")"; done
install -m755 "$SCRIPT" "$R/test.sh"

cat >"$R/init" <<'EOF'
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/bin:/sbin HOME=/tmp TMPDIR=/tmp
mkdir -p /run /var /tmp
ln -s /run /var/run
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
echo "@@BOOTED uptime=$(cut -d' ' -f1 /proc/uptime)"
for m in $(cat /etc/modules.order); do
  insmod /lib/modules/$m.ko || echo "ipvs-vm: insmod $m failed"
done
IP=/usr/bin/ip; [ -x $IP ] || IP=/sbin/ip; [ -x $IP ] || IP="busybox ip"
$IP link set lo up
$IP link show dummy0 >/dev/null 2>&1 || $IP link add dummy0 type dummy
$IP link set dummy0 up
$IP addr add 10.0.0.1/24 dev dummy0
/bin/sh /test.sh
rc=$?
echo "@@RESULT rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
EOF
chmod 755 "$R/init"

(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) >"$WORK/initrd.cpio.gz"
echo "ipvs-vm: kernel $KV, accel $ACCEL, initramfs $(du -h "$WORK/initrd.cpio.gz" | cut -f1), timeout ${TIMEOUT}s"

case $ACCEL in
  kvm) ACC=(-accel kvm -cpu host) ;;
  *) ACC=(-accel tcg) ;;
esac
start=$(date +%s)
set +e
timeout --foreground -k 5 "$TIMEOUT" qemu-system-x86_64 "${ACC[@]}" -m "$MEM" -smp 1 \
  -kernel "$KERNEL" -initrd "$WORK/initrd.cpio.gz" \
  -append "console=ttyS0 quiet panic=-1 oops=panic ${IPVS_VM_APPEND:-}" \
  -nographic -no-reboot -nodefaults -serial stdio -net none </dev/null 2>&1 |
  tee "$WORK/console.log"
qrc=${PIPESTATUS[0]}
set -e
echo "ipvs-vm: qemu exit $qrc after $(($(date +%s) - start)) s"
if [[ $qrc == 124 ]]; then
  echo "ipvs-vm: TIMEOUT after ${TIMEOUT}s" >&2
  exit 124
fi
line=$(tr -d '\r' <"$WORK/console.log" | grep -a '^@@RESULT rc=' | tail -1 || true)
if [[ -z $line ]]; then
  echo "ipvs-vm: the guest printed no @@RESULT line" >&2
  exit 3
fi
rc=$(sed -n 's/^@@RESULT rc=\([0-9]*\).*/\1/p' <<<"$line")
exit "${rc:-3}"
