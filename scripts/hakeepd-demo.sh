#!/usr/bin/env bash
# hakeepd failing over for real, in network namespaces (needs root; touches nothing
# outside the namespaces it creates, and removes them and its processes on exit).
#
#   sudo ./scripts/hakeepd-demo.sh
#
# Three namespaces on one bridge: two routers running hakeepd from ONE keepalived.conf
# (`@a` / `@b` lines give them priorities 150 and 100) and a client pinging the virtual
# address 10.77.0.100 every 20 ms. The demo shows the Master, pulls its cable (the
# bridge port goes down), shows the Backup taking the address and how many pings were
# lost, plugs the cable back (the Master preempts back), then lowers a priority through
# the control API — no reload — and stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "hakeepd-demo: needs root (network namespaces)" >&2; exit 1; }
P=hkdemo$$
DIR=$(mktemp -d /tmp/hakeepd-demo.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for ns in "${P}a" "${P}b" "${P}c" "${P}br"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT

echo "==> building hakeepd"
cargo build --quiet -p hakeepd --bin hakeepd
BIN=${CARGO_TARGET_DIR:-$PWD/target}/debug/hakeepd

echo "==> namespaces ${P}a ${P}b (routers) and ${P}c (client) on a bridge"
ip netns add "${P}br"
ip -n "${P}br" link add br0 type bridge
ip -n "${P}br" link set br0 up
i=1
for n in a b c; do
  ip netns add "$P$n"
  ip -n "${P}br" link add "v$n" type veth peer name eth0 netns "$P$n"
  ip -n "${P}br" link set "v$n" master br0 up
  ip -n "$P$n" link set lo up
  ip -n "$P$n" addr add "10.77.0.$i/24" dev eth0
  ip -n "$P$n" link set eth0 up
  i=$((i + 1))
done

cat >"$DIR/keepalived.conf" <<'EOF'
global_defs {
    router_id demo
    vrrp_version 3
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 77
@a  priority 150
@b  priority 100
    advert_int 0.1
    virtual_ipaddress {
        10.77.0.100/24
    }
}
EOF

start() { # namespace-suffix config-id
  ip netns exec "$P$1" "$BIN" -f "$DIR/keepalived.conf" -i "$2" --http 127.0.0.1:9650 \
    >"$DIR/hakeepd-$1.log" 2>&1 &
  PIDS+=($!)
  LAST=$!
}
owner() {
  for n in a b; do
    if ip -n "$P$n" -o addr show dev eth0 | grep -q '10.77.0.100/'; then printf '%s ' "$n"; fi
  done
}
wait_owner() { # expected
  for _ in $(seq 1 100); do [ "$(owner)" = "$1 " ] && return 0; sleep 0.05; done
  echo "!! expected the address on $1 only, it is on: $(owner)"; return 1
}

start a a
start b b
wait_owner a
echo "==> Master: router a (priority 150) owns 10.77.0.100; b is Backup"

PING=
if command -v ping >/dev/null; then
  ip netns exec "${P}c" ping -i 0.02 -W 1 10.77.0.100 >"$DIR/ping.log" 2>&1 &
  PIDS+=($!)
  PING=$!
else
  echo "    (no ping installed: the client's loss count is skipped; apt-get install iputils-ping)"
fi
sleep 2

echo "==> pull router a's cable"
ip -n "${P}br" link set va down
for _ in $(seq 1 100); do [ "$(owner)" = "b " ] && break; sleep 0.02; done
echo "    router b owns 10.77.0.100 now; a is in FAULT (its interface lost carrier)"
sleep 1
if [ -n "$PING" ]; then
  kill -INT "$PING" 2>/dev/null || true
  sleep 0.3
  echo "    client pinging every 20 ms: $(grep 'packets transmitted' "$DIR/ping.log" || echo 'no summary')"
  echo "    (each lost ping is 20 ms without an answer: the failover gap, ~3 adverts + skew)"
fi

echo "==> plug the cable back: router a preempts"
ip -n "${P}br" link set va up
wait_owner a
echo "    router a is Master again"

echo "==> control API: lower a's priority to 50, live (no reload)"
ip netns exec "${P}a" python3 - <<'EOF' 2>/dev/null || ip netns exec "${P}a" sh -c 'printf "POST /vrrp/VI_1/priority/50 HTTP/1.1\r\n\r\n" | nc -q1 127.0.0.1 9650'
import urllib.request
urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:9650/vrrp/VI_1/priority/50", method="POST"))
EOF
wait_owner b
echo "    router b preempted: it owns 10.77.0.100"
echo "==> a's view (GET /status):"
ip netns exec "${P}a" python3 -c 'import json,urllib.request; s=json.load(urllib.request.urlopen("http://127.0.0.1:9650/status")); i=s["instances"][0]; print("   ", i["name"], i["state"], "priority", i["priority"], "transitions", i["counters"]["transitions"])' 2>/dev/null || true
echo "==> done; cleaning up"
