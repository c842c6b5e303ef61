#!/usr/bin/env bash
# Re-capture the keepalived wire vectors in this directory.
#
# Needs root, keepalived (2.2.7 was used), FRR (8.4.4) and tcpdump:
#   apt-get install -y --no-install-recommends keepalived frr tcpdump python3
# Everything runs inside namespaces created here (vcap1, vcap2 and the bridge vcapbr);
# nothing is sent outside them. Usage: capture.sh [NAME...] (default: all).
set -euo pipefail
cd "$(dirname "$0")"
P=vcap
WORK=$(mktemp -d)
KPID=""; TPID=""

cleanup() {
  [ -n "$TPID" ] && kill "$TPID" 2>/dev/null || true
  if [ -f "$WORK/k.pid" ]; then kill "$(cat "$WORK/k.pid")" 2>/dev/null || true; fi
  [ -n "$KPID" ] && kill "$KPID" 2>/dev/null || true
  for f in vrrpd zebra; do
    [ -f "$WORK/frr/$f.pid" ] && kill "$(cat "$WORK/frr/$f.pid")" 2>/dev/null || true
  done
  sleep 0.3
  for n in ${P}1 ${P}2 ${P}br; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

lab_up() {
  ip netns add ${P}br
  ip -n ${P}br link add br0 type bridge
  ip -n ${P}br link set br0 up
  for i in 1 2; do
    ip netns add "$P$i"
    ip -n ${P}br link add "veth$i" type veth peer name eth0 netns "$P$i"
    ip -n ${P}br link set "veth$i" master br0 up
    ip -n "$P$i" link set lo up
    ip -n "$P$i" addr add "10.99.0.$i/24" dev eth0
    ip -n "$P$i" addr add "fd00:99::$i/64" dev eth0 nodad
    ip -n "$P$i" link set eth0 up
  done
}

pcap_to_hex() {
  python3 - "$1" "$2" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
magic = struct.unpack("<I", data[:4])[0]
e = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
linktype = struct.unpack(e + "I", data[20:24])[0]
assert linktype == 1, linktype
off, out = 24, []
while off + 16 <= len(data):
    _, _, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
    frame = data[off + 16: off + 16 + incl]
    off += 16 + incl
    out.append(frame[14:].hex())  # strip the Ethernet header: IP header onwards
with open(sys.argv[2], "w") as f:
    for line in out:
        f.write(line + "\n")
print(sys.argv[2], len(out), "packets")
PY
}

# instance body (inside vrrp_instance VI_1 { ... }) is read from stdin
run_one() {
  local name=$1 filter=$2
  {
    echo 'global_defs {'
    echo '  router_id vcap'
    echo '  vrrp_garp_master_delay 0'
    echo '  vrrp_garp_master_repeat 1'
    echo '}'
    echo 'vrrp_instance VI_1 {'
    echo '  state MASTER'
    echo '  interface eth0'
    cat
    echo '}'
  } > "$WORK/$name.conf"
  cp "$WORK/$name.conf" "$name.conf"
  ip netns exec ${P}2 tcpdump -i eth0 -U -n -w "$WORK/$name.pcap" -c 3 "$filter" 2>/dev/null &
  TPID=$!
  sleep 0.5
  ip netns exec ${P}1 keepalived -n -l -D -P -f "$WORK/$name.conf" -p "$WORK/k.pid" \
    -r "$WORK/v.pid" >/dev/null 2>&1 &
  KPID=$!
  for _ in $(seq 1 80); do kill -0 "$TPID" 2>/dev/null || break; sleep 0.1; done
  kill "$KPID" 2>/dev/null || true; wait "$KPID" 2>/dev/null || true; KPID=""
  kill "$TPID" 2>/dev/null || true; wait "$TPID" 2>/dev/null || true; TPID=""
  # keepalived leaves the VIPs behind when killed hard: remove them
  ip -n ${P}1 addr flush dev eth0 scope global 2>/dev/null || true
  ip -n ${P}1 addr add 10.99.0.1/24 dev eth0
  ip -n ${P}1 addr add fd00:99::1/64 dev eth0 nodad
  pcap_to_hex "$WORK/$name.pcap" "$name.hex"
}

# FRR vrrpd (VRRPv3 over IPv4) in vcap1: zebra + vrrpd + the VRRP macvlan
run_frr() {
  local name=$1 vrid=$2
  local d="$WORK/frr"; mkdir -p "$d"; chmod 755 "$WORK"; chmod 777 "$d"
  local mac; mac=$(printf '00:00:5e:00:01:%02x' "$vrid")
  ip -n ${P}1 link add "vrrp4-$vrid" link eth0 address "$mac" type macvlan mode bridge
  ip -n ${P}1 link set "vrrp4-$vrid" up
  printf 'hostname vcap\n' > "$d/zebra.conf"
  cat > "$d/vrrpd.conf"
  cp "$d/vrrpd.conf" "$name.conf"
  chmod 666 "$d"/*.conf
  ip netns exec ${P}2 tcpdump -i eth0 -U -n -w "$WORK/$name.pcap" -c 3 'ip proto 112' 2>/dev/null &
  TPID=$!
  sleep 0.5
  ip netns exec ${P}1 /usr/lib/frr/zebra -d -f "$d/zebra.conf" -i "$d/zebra.pid" \
    --vty_socket "$d" -z "$d/zserv.api" -A 127.0.0.1
  sleep 1
  ip netns exec ${P}1 /usr/lib/frr/vrrpd -d -f "$d/vrrpd.conf" -i "$d/vrrpd.pid" \
    --vty_socket "$d" -z "$d/zserv.api" -A 127.0.0.1
  for _ in $(seq 1 100); do kill -0 "$TPID" 2>/dev/null || break; sleep 0.1; done
  kill "$TPID" 2>/dev/null || true; wait "$TPID" 2>/dev/null || true; TPID=""
  for f in vrrpd zebra; do
    [ -f "$d/$f.pid" ] && kill "$(cat "$d/$f.pid")" 2>/dev/null || true
  done
  sleep 0.5
  ip -n ${P}1 link del "vrrp4-$vrid" 2>/dev/null || true
  pcap_to_hex "$WORK/$name.pcap" "$name.hex"
}

want() { [ $# -eq 0 ] || [[ " $ALL " == *" $1 "* ]]; }
ALL="${*:-v2_noauth v2_pass v2_ah v3_ipv4 v3_ipv6 frr_v3_ipv4}"

lab_up
sleep 2  # let the IPv6 link-local addresses leave the tentative state

for name in $ALL; do
  case $name in
  v2_noauth) run_one v2_noauth 'ip proto 112' <<'C'
  virtual_router_id 51
  version 2
  priority 150
  advert_int 1
  virtual_ipaddress {
    10.99.0.100/24 dev eth0
    10.99.0.101/24 dev eth0
  }
C
  ;;
  v2_pass) run_one v2_pass 'ip proto 112' <<'C'
  virtual_router_id 52
  version 2
  priority 200
  advert_int 2
  authentication {
    auth_type PASS
    auth_pass vrrpPass
  }
  virtual_ipaddress {
    10.99.0.102/24 dev eth0
  }
C
  ;;
  v2_ah) run_one v2_ah 'ip proto 51' <<'C'
  virtual_router_id 53
  version 2
  priority 120
  advert_int 1
  authentication {
    auth_type AH
    auth_pass s3cret
  }
  virtual_ipaddress {
    10.99.0.103/24 dev eth0
    10.99.0.104/24 dev eth0
  }
C
  ;;
  v3_ipv4) run_one v3_ipv4 'ip proto 112' <<'C'
  virtual_router_id 54
  version 3
  priority 254
  advert_int 0.5
  virtual_ipaddress {
    10.99.0.105/24 dev eth0
  }
C
  ;;
  v3_ipv6) run_one v3_ipv6 'ip6 proto 112' <<'C'
  virtual_router_id 55
  version 3
  priority 100
  advert_int 0.25
  virtual_ipaddress {
    fd00:99::100/64 dev eth0
    fd00:99::101/64 dev eth0
  }
C
  ;;
  frr_v3_ipv4) run_frr frr_v3_ipv4 56 <<'C'
interface eth0
 vrrp 56 version 3
 vrrp 56 priority 180
 vrrp 56 advertisement-interval 100
 vrrp 56 ip 10.99.0.106
C
  ;;
  esac
done
