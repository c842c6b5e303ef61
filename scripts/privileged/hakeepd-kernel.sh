#!/usr/bin/env bash
# hakeepd end to end against a real IPVS kernel: builds hakeepd (and ipvsctl) statically,
# boots Debian's stock kernel ONCE under QEMU (scripts/ipvs-vm.sh) and runs in the guest:
#
#   1. A real data path. Network namespaces inside the guest: a client (cl, 10.1.0.2)
#      reaches the virtual server 10.1.0.100:80 (NAT) on the guest, whose real servers
#      are busybox httpd listeners in namespace rs: 10.2.0.2 (TCP_CHECK), 10.2.0.3
#      (HTTP_GET /health, status 200) and the sorry server 10.2.0.9; quorum 1.
#      hakeepd -C programs the service (checked with ipvsadm -Ln and its /status), the
#      client's requests through the VIP get the real servers' answers, a failing
#      HTTP_GET (404) and a killed TCP_CHECK server leave the table within the check
#      interval, with every real server down the quorum is lost and the sorry server
#      serves, a real server coming back brings the quorum back, and SIGTERM withdraws
#      the service.
#   2. With HA_IPVS_BENCH=1 (the default), start-up programming of 1,000 services x 10
#      destinations, side by side in the same boot: `ipvsadm --restore`, `ipvsctl
#      restore` (ha-ipvs' reconciler), keepalived -C (Debian's, when installed) and
#      hakeepd -C on one keepalived.conf without checkers (@@BENCH lines).
#
# Exits non-zero when a check of part 1, or hakeepd's programming in part 2, fails; the
# guest console (with hakeepd's log on failure) is printed as it runs. Idempotent: all
# state lives in a temporary VM. Time-boxed by HAKEEPD_VM_TIMEOUT (seconds, default 420);
# HAKEEPD_BENCH_ROUNDS (default 2) sets the rounds of part 2.
# Needs: qemu-system-x86 linux-image-amd64 busybox-static ipvsadm (keepalived for the
# comparison) from scripts/install-test-deps.sh, and the x86_64-unknown-linux-gnu target.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
TARGET=x86_64-unknown-linux-gnu
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
BENCH=${HA_IPVS_BENCH:-1}

echo "==> building hakeepd and ipvsctl (static)"
json=$(cargo build -p hakeepd -p ha-examples --release --target "$TARGET" --bin hakeepd --bin ipvsctl \
  --message-format=json)
bin_of() { # target name -> executable (cargo prints one JSON message a line)
  grep '"reason":"compiler-artifact"' <<<"$json" | grep -F "\"name\":\"$1\"" |
    grep -o '"executable":"[^"]*"' | sed 's/^"executable":"//; s/"$//' | tail -1
}
HK_BIN=$(bin_of hakeepd)
CTL_BIN=$(bin_of ipvsctl)
for b in "$HK_BIN" "$CTL_BIN"; do
  [[ -x $b ]] || { echo "hakeepd-kernel: missing binary ($b)" >&2; exit 1; }
  ldd "$b" 2>&1 | grep -q 'statically linked\|not a dynamic' ||
    { echo "hakeepd-kernel: $b is not static" >&2; exit 1; }
done

VM_ARGS=(--bin "$HK_BIN" --bin "$CTL_BIN")
KEEPALIVED=$(command -v keepalived || true)
if [[ $BENCH == 1 && -n $KEEPALIVED ]]; then
  VM_ARGS+=(--dyn "$KEEPALIVED")
fi

GUEST=$(mktemp /tmp/hakeepd-guest.XXXXXX.sh)
trap 'rm -f "$GUEST"' EXIT
{
  echo "#!/bin/sh"
  echo "BENCH=$BENCH"
  echo "ROUNDS=${HAKEEPD_BENCH_ROUNDS:-2}"
  echo "KEEPALIVED=$KEEPALIVED"
} >"$GUEST"
cat >>"$GUEST" <<'GUEST_EOF'
# Runs in the VM (busybox sh). Every check runs; the status is non-zero if any failed.
IP=/usr/bin/ip
fail=0
step() { echo "@@STEP $*"; }
bad() { echo "@@FAIL $*"; echo "$*" >>/tmp/failures; fail=1; }
now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# wait_for SECONDS COMMAND...: polls every 0.2 s until COMMAND succeeds.
wait_for() {
  limit=$1; shift
  t0=$(now)
  while ! "$@" >/dev/null 2>&1; do
    [ "$(awk -v a="$t0" -v b="$(now)" -v l="$limit" 'BEGIN { print (b - a > l) }')" = 1 ] &&
      return 1
    usleep 200000
  done
}
echo "root:x:0:0:root:/root:/bin/sh" >/etc/passwd
echo "root:x:0:" >/etc/group
echo hakeepd-vm >/proc/sys/kernel/hostname

# --- topology: client namespace -> director (the guest) -> real-server namespace
step "topology"
$IP netns add cl && $IP netns add rs || { echo "ip netns does not work"; exit 1; }
$IP link add vc type veth peer name eth0 netns cl
$IP link add vr type veth peer name eth0 netns rs
$IP addr add 10.1.0.1/24 dev vc && $IP addr add 10.1.0.100/32 dev vc && $IP link set vc up
$IP addr add 10.2.0.1/24 dev vr && $IP link set vr up
$IP -n cl link set lo up && $IP -n cl addr add 10.1.0.2/24 dev eth0 && $IP -n cl link set eth0 up
$IP -n cl route add default via 10.1.0.1
$IP -n rs link set lo up && $IP -n rs link set eth0 up
for a in 2 3 9; do $IP -n rs addr add 10.2.0.$a/24 dev eth0; done
$IP -n rs route add default via 10.2.0.1
echo 1 >/proc/sys/net/ipv4/ip_forward

mkdir -p /www/rs1 /www/rs2 /www/sorry
echo rs1 >/www/rs1/index.html
echo rs2 >/www/rs2/index.html
echo ok >/www/rs2/health
echo sorry >/www/sorry/index.html
# serve NAME ADDRESS: a foreground busybox httpd in namespace rs; its pid in /run/NAME.pid
serve() {
  $IP netns exec rs httpd -f -p "$2:80" -h "/www/$1" &
  echo $! >"/run/$1.pid"
}
serve rs1 10.2.0.2
serve rs2 10.2.0.3
serve sorry 10.2.0.9
stop() { kill "$(cat "/run/$1.pid")" 2>/dev/null; wait "$(cat "/run/$1.pid")" 2>/dev/null; }

# get NETNS HOST PORT PATH: the body of an HTTP/1.0 GET (busybox wget is unusable here)
get() {
  if [ "$1" = - ]; then
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$4" "$2" | nc -w 3 "$2" "$3"
  else
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$4" "$2" | $IP netns exec "$1" nc -w 3 "$2" "$3"
  fi | tr -d '\r' | sed '1,/^$/d'
}
client() { get cl 10.1.0.100 80 /; }
status() { get - 127.0.0.1 9650 /status | tr -d ' \n'; }

sleep 1
for a in 2 3 9; do
  [ "$(get rs 10.2.0.$a 80 /)" != "" ] || bad "real server 10.2.0.$a does not answer directly"
done

cat >/etc/hakeepd.conf <<'CONF'
global_defs {
  router_id hakeepd-vm
}
virtual_server 10.1.0.100 80 {
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol TCP
  quorum 1
  sorry_server 10.2.0.9 80
  real_server 10.2.0.2 80 {
    weight 1
    TCP_CHECK {
      connect_timeout 1
      retry 0
    }
  }
  real_server 10.2.0.3 80 {
    weight 1
    HTTP_GET {
      url {
        path /health
        status_code 200
      }
      connect_timeout 1
      retry 0
    }
  }
}
CONF

step "hakeepd -t"
/bin/hakeepd -t -f /etc/hakeepd.conf || bad "hakeepd -t rejects the configuration"

step "hakeepd -C programs the service"
/bin/hakeepd -C -n -l -f /etc/hakeepd.conf -p /run/hakeepd.pid --http 127.0.0.1:9650 \
  >/tmp/hakeepd.log 2>&1 &
HK=$!
T0=$(now)
rs_in() { ipvsadm -Ln -t 10.1.0.100:80 2>/dev/null | grep -q -- "-> $1:80 "; }
rs_out() { ipvsadm -Ln -t 10.1.0.100:80 >/dev/null 2>&1 && ! rs_in "$1"; }
svc_in() { ipvsadm -Ln | grep -q '^TCP  10.1.0.100:80 rr'; }
svc_out() { ! ipvsadm -Ln | grep -q '10.1.0.100:80'; }
wait_for 10 rs_in 10.2.0.2 && wait_for 5 rs_in 10.2.0.3 ||
  bad "the service with both real servers is not in the table"
echo "table programmed after $(since "$T0") s"
ipvsadm -Ln
svc_in || bad "service 10.1.0.100:80 (rr) missing"
ipvsadm -Ln -t 10.1.0.100:80 | grep -q -- '-> 10.2.0.2:80 *Masq *1 ' || bad "10.2.0.2 not Masq weight 1"
rs_in 10.2.0.9 && bad "the sorry server is in the table while the quorum is up"
# /status: both alive after their first checks, quorum up, no sorry server
st_ok() {
  s=$(status)
  echo "$s" | grep -q '"name":"10.1.0.100:80/TCP"' &&
    echo "$s" | grep -q '"quorum_up":true' && echo "$s" | grep -q '"sorry_active":false' &&
    echo "$s" | grep -q '"address":"\[*10.2.0.2\]*:80","alive":true' &&
    echo "$s" | grep -q '"address":"\[*10.2.0.3\]*:80","alive":true'
}
wait_for 10 st_ok || { bad "/status does not show the service up"; get - 127.0.0.1 9650 /status; }
get - 127.0.0.1 9650 /metrics | grep -q . || bad "/metrics is empty"

step "a client reaches the real servers through the VIP"
answers=""
for i in 1 2 3 4; do answers="$answers $(client)"; done
echo "client got:$answers"
echo "$answers" | grep -q rs1 || bad "the client never reached rs1 through the VIP"
echo "$answers" | grep -q rs2 || bad "the client never reached rs2 through the VIP"

# Detection bound: delay_loop 1 + connect_timeout 1 + retry 0, with slack for TCG.
BOUND=6
step "HTTP_GET fails (404): 10.2.0.3 leaves the table"
rm /www/rs2/health
T0=$(now)
wait_for $BOUND rs_out 10.2.0.3 || bad "10.2.0.3 still in the table ${BOUND} s after its check failed"
echo "removed after $(since "$T0") s"
rs_in 10.2.0.2 || bad "10.2.0.2 was removed too"
rs_in 10.2.0.9 && bad "sorry server in service with the quorum up"
echo ok >/www/rs2/health
T0=$(now)
wait_for $BOUND rs_in 10.2.0.3 || bad "10.2.0.3 not back ${BOUND} s after its check passed"
echo "back after $(since "$T0") s"

step "TCP_CHECK server killed: 10.2.0.2 leaves the table"
stop rs1
T0=$(now)
wait_for $BOUND rs_out 10.2.0.2 || bad "10.2.0.2 still in the table ${BOUND} s after it died"
echo "removed after $(since "$T0") s"
ipvsadm -Ln
rs_in 10.2.0.9 && bad "sorry server in service with the quorum up (10.2.0.3 alive)"
a=$(client)
[ "$a" = rs2 ] || bad "the client got '$a' instead of rs2"

step "every real server down: quorum lost, the sorry server serves"
stop rs2
T0=$(now)
wait_for $BOUND rs_in 10.2.0.9 || bad "no sorry server ${BOUND} s after the last real server died"
echo "sorry server in after $(since "$T0") s"
ipvsadm -Ln
rs_in 10.2.0.3 && bad "dead 10.2.0.3 still in the table"
st_sorry() {
  s=$(status)
  echo "$s" | grep -q '"quorum_up":false' && echo "$s" | grep -q '"sorry_active":true'
}
wait_for 5 st_sorry || { bad "/status does not show quorum lost and the sorry server"; get - 127.0.0.1 9650 /status; }
a=$(client)
[ "$a" = sorry ] || bad "the client got '$a' instead of the sorry server's page"

step "a real server back: quorum up, the sorry server leaves"
serve rs1 10.2.0.2
T0=$(now)
wait_for $BOUND rs_in 10.2.0.2 || bad "10.2.0.2 not back ${BOUND} s after it came back"
wait_for 3 rs_out 10.2.0.9 || bad "the sorry server stayed with the quorum back"
echo "back after $(since "$T0") s"
ipvsadm -Ln
a=$(client)
[ "$a" = rs1 ] || bad "the client got '$a' instead of rs1"

step "SIGTERM withdraws the service"
kill -TERM $HK
T0=$(now)
wait $HK
rc=$?
[ $rc = 0 ] || bad "hakeepd exited with $rc on SIGTERM"
echo "hakeepd exited after $(since "$T0") s"
svc_out || { bad "the service is still in the table after SIGTERM"; ipvsadm -Ln; }
[ -e /run/hakeepd.pid ] && bad "the pid file was left behind"
if [ $fail != 0 ]; then
  echo "--- hakeepd log"
  cat /tmp/hakeepd.log
fi
stop rs1
stop rs2 2>/dev/null
stop sorry
ipvsadm -C

if [ "$BENCH" = 1 ]; then
  step "start-up programming: 1,000 services x 10 destinations"
  # One table, as ipvsadm rules and as a keepalived.conf without checkers (every real
  # server is then in service at once). Services 10.3.A.B:80 wlc, NAT destinations
  # 10.4.0.1-10:80 weight 1.
  awk 'BEGIN {
    for (i = 0; i < 1000; i++) {
      vip = sprintf("10.3.%d.%d:80", int(i / 250), i % 250 + 1)
      print "-A -t " vip " -s wlc" > "/tmp/rules"
      for (j = 1; j <= 10; j++) print "-a -t " vip " -r 10.4.0." j ":80 -m -w 1" > "/tmp/rules"
    }
  }'
  awk 'BEGIN {
    print "global_defs {\n  router_id bench\n}"
    for (i = 0; i < 1000; i++) {
      printf "virtual_server 10.3.%d.%d 80 {\n  lb_algo wlc\n  lb_kind NAT\n  protocol TCP\n", int(i / 250), i % 250 + 1
      for (j = 1; j <= 10; j++) printf "  real_server 10.4.0.%d 80 {\n    weight 1\n  }\n", j
      print "}"
    }
  }' >/tmp/bench.conf
  # Destinations in the table: /proc/net/ip_vs lists them as "  -> HEX:PORT ...", and
  # reading it costs far less than `ipvsadm -Ln` at this size (same count).
  dests() { grep -c '^  -> [0-9A-F]' /proc/net/ip_vs; }
  full() { [ "$(dests)" = 10000 ]; }
  # until_full LABEL T0: polls every 0.25 s (at most 90 s); prints @@BENCH
  until_full() {
    while ! full; do
      [ "$(awk -v a="$2" -v b="$(now)" 'BEGIN { print (b - a > 90) }')" = 1 ] && {
        echo "@@BENCH $1 incomplete: $(dests) of 10000 destinations after 90 s"
        return 1
      }
      usleep 250000
    done
    echo "@@BENCH $1 $(since "$2") s"
  }
  # daemon_run LABEL COMMAND...: start, time until full, SIGTERM, time until the table
  # is empty again (both withdraw what they configured; waited for at most 10 s, as
  # keepalived takes minutes here), then SIGKILL what is left and flush.
  daemon_run() {
    label=$1; shift
    ipvsadm -C
    T0=$(now)
    "$@" >"/tmp/$label.log" 2>&1 &
    pid=$!
    until_full "$label start-up to 10000 destinations" "$T0"
    r=$?
    kill -TERM $pid
    T1=$(now)
    n=0
    while [ "$(dests)" != 0 ] && [ $n -lt 40 ]; do usleep 250000; n=$((n + 1)); done
    left=$(dests)
    if [ "$left" = 0 ]; then
      echo "@@BENCH $label SIGTERM to an empty table $(since "$T1") s"
    else
      echo "@@BENCH $label SIGTERM: $left destinations still in the table after $(since "$T1") s"
    fi
    # keepalived's checker child has its own pid file.
    kill -KILL $pid $(cat /run/ka_chk.pid 2>/dev/null) 2>/dev/null
    wait $pid
    rm -f /run/ka_chk.pid
    [ $r = 0 ] || tail -20 "/tmp/$label.log"
    ipvsadm -C
    return $r
  }
  run_keepalived() {
    if [ -n "$KEEPALIVED" ] && [ -x "$KEEPALIVED" ]; then
      daemon_run keepalived "$KEEPALIVED" -C -n -l -f /tmp/bench.conf \
        -p /run/ka.pid -c /run/ka_chk.pid ||
        echo "@@BENCH keepalived did not program the table (not a failure of this suite)"
    else
      echo "@@BENCH keepalived not installed on the host: skipped"
    fi
  }
  run_hakeepd() {
    daemon_run hakeepd /bin/hakeepd -C -n -l -f /tmp/bench.conf -p /run/hk-bench.pid ||
      bad "hakeepd -C did not program the 1000 x 10 table"
    # Its own view: when it started and when it programmed the table (guest clock).
    grep -m1 . /tmp/hakeepd.log | sed 's/^/@@BENCH hakeepd log: /'
    grep 'IPVS table updated' /tmp/hakeepd.log | sed 's/^/@@BENCH hakeepd log: /'
  }
  for round in $(seq 1 "$ROUNDS"); do
    # The comparison must not push the boot past the VM's time limit: on a loaded host
    # later rounds are dropped (the first always runs).
    if [ "$round" -gt 1 ] && [ "$(cut -d. -f1 /proc/uptime)" -gt 200 ]; then
      echo "@@BENCH rounds $round-$ROUNDS skipped: the guest has run $(cut -d' ' -f1 /proc/uptime) s"
      break
    fi
    echo "@@BENCH round $round"
    ipvsadm -C
    T0=$(now)
    ipvsadm -R </tmp/rules || bad "ipvsadm --restore failed"
    echo "@@BENCH ipvsadm --restore $(since "$T0") s ($(dests) destinations)"
    full || bad "ipvsadm --restore did not load 10000 destinations"
    ipvsadm -C
    T0=$(now)
    /bin/ipvsctl restore </tmp/rules || bad "ipvsctl restore failed"
    echo "@@BENCH ipvsctl restore $(since "$T0") s ($(dests) destinations)"
    full || bad "ipvsctl restore did not load 10000 destinations"
    # Alternate which daemon goes first, so drift in the host's load spreads evenly.
    if [ $((round % 2)) = 1 ]; then run_keepalived; run_hakeepd; else run_hakeepd; run_keepalived; fi
  done
fi
if [ $fail != 0 ]; then
  echo "@@FAILED checks:"
  cat /tmp/failures
fi
exit $fail
GUEST_EOF

echo "==> booting the VM (one boot: end-to-end test, then the start-up comparison)"
LOG=${CARGO_TARGET_DIR}/hakeepd-console.log
set +e
IPVS_VM_TIMEOUT=${HAKEEPD_VM_TIMEOUT:-420} scripts/ipvs-vm.sh "${VM_ARGS[@]}" "$GUEST" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e
tr -d '\r' <"$LOG" | grep -a '^@@BENCH' >"${CARGO_TARGET_DIR}/hakeepd-bench.txt" || true
if [[ -s ${CARGO_TARGET_DIR}/hakeepd-bench.txt ]]; then
  echo "==> start-up comparison (${CARGO_TARGET_DIR}/hakeepd-bench.txt)"
  cat "${CARGO_TARGET_DIR}/hakeepd-bench.txt"
fi
if [[ $rc != 0 ]]; then
  tr -d '\r' <"$LOG" | grep -a -A50 '^@@FAILED' >&2 || true
  echo "hakeepd-kernel: FAILED (guest status $rc; console in $LOG)" >&2
  exit "$rc"
fi
echo "hakeepd-kernel: hakeepd end to end passed"
