#!/usr/bin/env bash
# Chaos soak: three hakeepd on a real (namespaced) network under random faults.
#
#   sudo ./scripts/chaos-soak.sh                      # 600 s, random seed (printed)
#   sudo SOAK_SECONDS=60 SOAK_SEED=1234 ./scripts/chaos-soak.sh   # replay a schedule
#
# Three namespaces (routers a, b, c: 10.88.0.1-3 on eth0) on a bridge that lives in a
# fourth namespace. Each router runs hakeepd from ONE keepalived.conf (`@a`/`@b`/`@c`
# lines): two VRRPv3 instances, advert_int 0.1 s,
#   VI_1  VRID 51  VIP 10.88.0.101   priorities a 150 > b 100 > c 50
#   VI_2  VRID 52  VIP 10.88.0.102   priorities a 150 > c 100 > b 50
# in one vrrp_sync_group (SOAK_SYNC_GROUP=0: no group and fully crossed orders instead,
# VI_2 c 150 > b 100 > a 50).
#
# For SOAK_SECONDS (default 600) a schedule drawn from SOAK_SEED (bash's RANDOM; the
# whole schedule is generated up front, so a seed replays the same faults at the same
# offsets) injects, at most two at a time:
#   loss       nftables drops P % (10-70) of the VRRP (IP protocol 112) a router receives,
#              for 2-10 s
#   partition  two routers drop each other's VRRP, for 3-15 s
#   kill       SIGKILL of a router's hakeepd, restarted 1-6 s later
#   term       SIGTERM of a router's hakeepd (graceful), restarted 1-4 s later
# Router c (SOAK_STEADY) is never stopped: its one process is the memory/fd reference.
# Every second a sampler records each daemon's pid, VmRSS, open fds, /status states and
# which VIPs its eth0 carries ($DIR/samples.tsv).
#
# Checks (each violation is printed; the exit status is 1 if there is any):
#   during the run  a daemon that dies without being killed; SIGTERM not stopping the
#                   daemon within 5 s; a VIP left on eth0 after a graceful stop; a
#                   pid file left after a graceful stop
#   after the last fault + SOAK_SETTLE seconds (default 3)
#                   exactly one MASTER per VRID in the three /status documents; each
#                   VIP on the Master's eth0 and on no other interface of any router
#   memory / fds    on the steady router, with W = min(60, SOAK_SECONDS/4) seconds:
#                   early window = samples in [W, 2W), late window = the last W seconds
#                   of the run; late median RSS <= max(early median x 1.10, early
#                   median + 2 MiB); late median fd count <= early median fd count
#   after SIGTERM of all three
#                   every daemon gone within 5 s, no VIP on any interface, no process
#                   left in any of the namespaces, no socket left in them, no pid file
#
# Needs root, nftables and iproute2 (scripts/install-test-deps.sh); nothing else. Touches nothing
# outside the namespaces it creates; removes them and its processes on any exit. The
# run directory (logs, samples, schedule) is kept on failure or with SOAK_KEEP=1.
set -euo pipefail
# The whole script is one compound command, read before it runs: editing the file
# during a run cannot change the run.
{
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "chaos-soak: needs root (network namespaces)" >&2; exit 1; }
for tool in nft ip ss timeout awk; do
  command -v "$tool" >/dev/null || { echo "chaos-soak: needs $tool" >&2; exit 1; }
done

SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_SETTLE=${SOAK_SETTLE:-3}
SOAK_SYNC_GROUP=${SOAK_SYNC_GROUP:-1}
SOAK_STEADY=${SOAK_STEADY:-c}
if [ -z "${SOAK_SEED:-}" ]; then SOAK_SEED=$(( $(od -An -N2 -tu2 /dev/urandom) )); fi
NODES=(a b c)
VRIDS=(51 52)
declare -A VIP=([51]=10.88.0.101 [52]=10.88.0.102)
declare -A ADDR=([a]=10.88.0.1 [b]=10.88.0.2 [c]=10.88.0.3)
PORT=9650

P=chs$$
DIR=$(mktemp -d /tmp/chaos-soak.XXXXXX)
declare -A PID=()        # router -> current hakeepd pid ('' while stopped)
SAMPLER=
FAILED=0
VIOLATIONS=()
violation() { VIOLATIONS+=("$*"); FAILED=1; echo "!! VIOLATION: $*"; }
log() { printf '[%7.1f s] %s\n' "$(elapsed_s)" "$*"; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $(( t / 1000 )); }
T0=$(now_ms)
elapsed_s() { awk -v a="$T0" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

cleanup() {
  local rc=$?
  set +e
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null && wait "$SAMPLER" 2>/dev/null
  for n in "${NODES[@]}"; do
    [ -n "${PID[$n]:-}" ] && kill -9 "${PID[$n]}" 2>/dev/null
  done
  for ns in "${P}a" "${P}b" "${P}c" "${P}br"; do
    # Anything still inside a namespace this run created is this run's.
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  if [ "$FAILED" = 0 ] && [ "$rc" = 0 ] && [ -z "${SOAK_KEEP:-}" ]; then
    rm -rf "$DIR"
  else
    echo "chaos-soak: run directory kept: $DIR"
  fi
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> chaos soak: seed $SOAK_SEED, $SOAK_SECONDS s, settle $SOAK_SETTLE s, sync group $SOAK_SYNC_GROUP"
echo "    replay: SOAK_SEED=$SOAK_SEED SOAK_SECONDS=$SOAK_SECONDS SOAK_SYNC_GROUP=$SOAK_SYNC_GROUP $0"

if [ -n "${HAKEEPD_BIN:-}" ]; then
  BIN=$HAKEEPD_BIN
else
  echo "==> building hakeepd"
  cargo build --quiet -p hakeepd --bin hakeepd
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/debug/hakeepd
fi
[ -x "$BIN" ] || { echo "chaos-soak: no hakeepd binary at $BIN" >&2; exit 1; }

# ---------------------------------------------------------------- network
ip netns add "${P}br"
ip -n "${P}br" link add br0 type bridge
ip -n "${P}br" link set br0 up
for n in "${NODES[@]}"; do
  ns=$P$n
  ip netns add "$ns"
  ip -n "${P}br" link add "v$n" type veth peer name eth0 netns "$ns"
  ip -n "${P}br" link set "v$n" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "${ADDR[$n]}/24" dev eth0
  ip -n "$ns" link set eth0 up
done
# Fault chains in each router: `loss` and `part`, flushed to heal.
for n in "${NODES[@]}"; do
  ip netns exec "$P$n" nft -f - <<'EOF'
table inet chaos {
  chain loss { }
  chain part { }
  chain input {
    type filter hook input priority 0; policy accept;
    jump loss
    jump part
  }
}
EOF
done

if [ "$SOAK_SYNC_GROUP" = 1 ]; then
  PRIO2=('@a  priority 150' '@c  priority 100' '@b  priority 50')
  GROUP='vrrp_sync_group G1 {
    group {
        VI_1
        VI_2
    }
}'
else
  PRIO2=('@c  priority 150' '@b  priority 100' '@a  priority 50')
  GROUP=
fi
cat >"$DIR/keepalived.conf" <<EOF
global_defs {
    router_id chaos
    vrrp_version 3
}
$GROUP
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
@a  priority 150
@b  priority 100
@c  priority 50
    advert_int 0.1
    virtual_ipaddress {
        ${VIP[51]}/24
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
${PRIO2[0]}
${PRIO2[1]}
${PRIO2[2]}
    advert_int 0.1
    virtual_ipaddress {
        ${VIP[52]}/24
    }
}
EOF

# ---------------------------------------------------------------- daemons
start() { # router
  local n=$1
  echo "---- start at $(elapsed_s) s" >>"$DIR/hakeepd-$n.log"
  ip netns exec "$P$n" "$BIN" -f "$DIR/keepalived.conf" -i "$n" \
    --http "127.0.0.1:$PORT" -p "$DIR/$n.pid" --dump-dir "$DIR" \
    >>"$DIR/hakeepd-$n.log" 2>&1 &
  PID[$n]=$!
  echo "${PID[$n]}" >"$DIR/pid-$n"
}
vips_on() { # router -> the VIPs on any of its interfaces, space separated
  local out
  out=$(ip -n "$P$1" -o -4 addr show 2>/dev/null || true)
  for v in "${VRIDS[@]}"; do
    grep -q " ${VIP[$v]}/" <<<"$out" && printf '%s ' "${VIP[$v]}"
  done
  return 0
}
# stop ROUTER SIGNAL: signals the daemon; for TERM waits for it to exit (5 s).
stop() {
  local n=$1 sig=$2 p=${PID[$1]}
  PID[$n]=
  echo "" >"$DIR/pid-$n"
  kill "-$sig" "$p" 2>/dev/null || { violation "router $n (pid $p) was not running when sent SIG$sig"; }
  local deadline=$(( $(now_ms) + 5000 ))
  while kill -0 "$p" 2>/dev/null; do
    if [ "$sig" = KILL ] || [ "$(now_ms)" -gt "$deadline" ]; then break; fi
    sleep 0.05
  done
  if kill -0 "$p" 2>/dev/null && [ "$sig" = TERM ]; then
    violation "router $n (pid $p) still running 5 s after SIGTERM"
    kill -9 "$p" 2>/dev/null
  fi
  wait "$p" 2>/dev/null || true
  if [ "$sig" = TERM ]; then
    local left
    left=$(vips_on "$n")
    [ -z "$left" ] || violation "router $n: VIP(s) $left left on its interfaces after SIGTERM"
    [ ! -e "$DIR/$n.pid" ] || violation "router $n: pid file left after SIGTERM"
  fi
}
# status_of ROUTER: "51=MASTER 52=BACKUP" from its GET /status (empty if it does not
# answer within 1 s). Plain bash and awk, so that a bare machine needs no HTTP client or
# JSON tool: the VRIDs and states of the objects in the "instances" array, in order.
status_of() {
  ip netns exec "$P$1" timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT &&
    printf 'GET /status HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 &&
    cat <&3" 2>/dev/null | tr -d ' \t\r\n' | awk '{
      s = $0; i = index(s, "\"instances\":["); if (!i) exit
      s = substr(s, i + 13); depth = 1
      for (k = 1; k <= length(s) && depth > 0; k++) {
        c = substr(s, k, 1)
        if (c == "[" || c == "{") depth++; else if (c == "]" || c == "}") depth--
      }
      seg = substr(s, 1, k - 1); n = 0; out = ""
      while (match(seg, /"(state|vrid)":("[A-Z]+"|[0-9]+)/)) {
        tok = substr(seg, RSTART, RLENGTH); seg = substr(seg, RSTART + RLENGTH)
        split(tok, kv, ":"); gsub(/"/, "", kv[1]); gsub(/"/, "", kv[2])
        if (kv[1] == "vrid") v = kv[2]; else st = kv[2]
        if (++n % 2 == 0) out = out (out == "" ? "" : " ") v "=" st
      }
      print out
    }' || true
}

# ---------------------------------------------------------------- sampler
sampler() {
  set +e
  exec >"$DIR/samples.tsv" 2>/dev/null
  echo -e "t_ms\trouter\tpid\trss_kb\tfds\tstates\tvips"
  while :; do
    local t=$(( $(now_ms) - T0 ))
    for n in "${NODES[@]}"; do
      local p rss=- fds=- st
      p=$(cat "$DIR/pid-$n" 2>/dev/null || true)
      if [ -n "$p" ] && [ -r "/proc/$p/status" ]; then
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo -)
        fds=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
      fi
      # fds are counted before /status is asked, so the query's socket is not counted.
      st=$(status_of "$n")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$n" "${p:--}" "${rss:--}" "${fds:--}" \
        "${st:--}" "$(vips_on "$n")"
    done
    local spent=$(( $(now_ms) - T0 - t ))
    [ "$spent" -lt 1000 ] && sleep "$(awk -v s="$spent" 'BEGIN { printf "%.3f", (1000 - s) / 1000 }')"
  done
}

# ---------------------------------------------------------------- schedule
# Generated up front from the seed, in simulated time, so that a seed replays exactly.
RANDOM=$SOAK_SEED
R=0
rnd() { R=$(( $1 + RANDOM % ($2 - $1 + 1) )); } # sets R in [lo, hi]; no subshell
SOAK_MS=$(( SOAK_SECONDS * 1000 ))
WARMUP_MS=$(( SOAK_SECONDS >= 60 ? 5000 : 2000 ))
KILLABLE=()
for n in "${NODES[@]}"; do [ "$n" = "$SOAK_STEADY" ] || KILLABLE+=("$n"); done
declare -A BUSY_UNTIL=()  # resource -> simulated end time (loss-N, down-N, part)
ENDS=()                   # end times of every fault, to count the active ones
SCHEDULE=$DIR/schedule.txt
: >"$SCHEDULE.unsorted"
declare -A COUNT=([loss]=0 [partition]=0 [kill]=0 [term]=0)
t=$WARMUP_MS
while :; do
  rnd 500 4000; t=$(( t + R ))
  [ "$t" -lt "$SOAK_MS" ] || break
  active=0
  for e in "${ENDS[@]}"; do [ "$e" -gt "$t" ] && active=$((active + 1)); done
  [ "$active" -lt 2 ] || continue
  rnd 1 100; pick=$R
  if [ "$pick" -le 35 ]; then
    rnd 0 2; n=${NODES[$R]}
    [ "${BUSY_UNTIL[loss-$n]:-0}" -le "$t" ] || continue
    rnd 10 70; pct=$R; rnd 2000 10000; d=$R
    BUSY_UNTIL[loss-$n]=$((t + d))
    echo "$t 1 loss-on $n $pct" >>"$SCHEDULE.unsorted"
    echo "$((t + d)) 0 loss-off $n" >>"$SCHEDULE.unsorted"
    COUNT[loss]=$((COUNT[loss] + 1))
  elif [ "$pick" -le 60 ]; then
    [ "${BUSY_UNTIL[part]:-0}" -le "$t" ] || continue
    rnd 0 2; i=$R; rnd 1 2; x=${NODES[$i]}; y=${NODES[$(( (i + R) % 3 ))]}
    rnd 3000 15000; d=$R
    BUSY_UNTIL[part]=$((t + d))
    echo "$t 1 part-on $x $y" >>"$SCHEDULE.unsorted"
    echo "$((t + d)) 0 part-off $x $y" >>"$SCHEDULE.unsorted"
    COUNT[partition]=$((COUNT[partition] + 1))
  else
    rnd 0 $(( ${#KILLABLE[@]} - 1 )); n=${KILLABLE[$R]}
    [ "${BUSY_UNTIL[down-$n]:-0}" -le "$t" ] || continue
    if [ "$pick" -le 80 ]; then kind=kill; sig=KILL; rnd 1000 6000; d=$R
    else kind=term; sig=TERM; rnd 1000 4000; d=$R; fi
    BUSY_UNTIL[down-$n]=$((t + d + 500))
    echo "$t 1 stop $n $sig" >>"$SCHEDULE.unsorted"
    echo "$((t + d)) 0 start $n" >>"$SCHEDULE.unsorted"
    COUNT[$kind]=$((COUNT[$kind] + 1))
  fi
  ENDS+=("$((t + d))")
done
sort -n -k1,1 -k2,2 "$SCHEDULE.unsorted" >"$SCHEDULE"
LAST_MS=$(tail -1 "$SCHEDULE" | cut -d' ' -f1)
LAST_MS=${LAST_MS:-0}
echo "==> schedule: ${COUNT[loss]} loss bursts, ${COUNT[partition]} partitions," \
  "${COUNT[kill]} SIGKILL+restart, ${COUNT[term]} SIGTERM+restart; last fault ends at" \
  "$(awk -v m="$LAST_MS" 'BEGIN { printf "%.1f", m / 1000 }') s"

# ---------------------------------------------------------------- run
for n in "${NODES[@]}"; do start "$n"; done
T0=$(now_ms)
sampler &
SAMPLER=$!
STEADY_PID=${PID[$SOAK_STEADY]}

# Sleeps until the run's offset MS, checking every 0.2 s that the daemons that should run
# do; one that died on its own is a violation (and is restarted so the soak goes on).
sleep_until() {
  while :; do
    local left=$(( $1 - ($(now_ms) - T0) ))
    for n in "${NODES[@]}"; do
      local p=${PID[$n]}
      if [ -n "$p" ] && ! kill -0 "$p" 2>/dev/null; then
        wait "$p" 2>/dev/null && rc=0 || rc=$?
        violation "router $n (pid $p) died on its own (status $rc) at $(elapsed_s) s; log tail: $(tail -3 "$DIR/hakeepd-$n.log" | tr '\n' '|')"
        start "$n"
      fi
    done
    [ "$left" -gt 0 ] || return 0
    sleep "$(awk -v l="$left" 'BEGIN { printf "%.3f", (l < 200 ? l : 200) / 1000 }')"
  done
}

sleep_until 1500
while read -r at _ action x y; do
  sleep_until "$at"
  case $action in
    loss-on)
      ip netns exec "$P$x" nft add rule inet chaos loss ip protocol 112 numgen random mod 100 '<' "$y" drop
      log "loss $y % on $x" ;;
    loss-off)
      ip netns exec "$P$x" nft flush chain inet chaos loss
      log "loss on $x healed" ;;
    part-on)
      ip netns exec "$P$x" nft add rule inet chaos part ip saddr "${ADDR[$y]}" ip protocol 112 drop
      ip netns exec "$P$y" nft add rule inet chaos part ip saddr "${ADDR[$x]}" ip protocol 112 drop
      log "partition $x | $y" ;;
    part-off)
      ip netns exec "$P$x" nft flush chain inet chaos part
      ip netns exec "$P$y" nft flush chain inet chaos part
      log "partition $x | $y healed" ;;
    stop)
      stop "$x" "$y"
      log "SIG$y $x" ;;
    start)
      start "$x"
      log "restarted $x (pid ${PID[$x]})" ;;
  esac
done <"$SCHEDULE"
# The run lasts SOAK_SECONDS even if the schedule ended earlier.
[ "$LAST_MS" -ge "$SOAK_MS" ] || sleep_until "$SOAK_MS"
END_MS=$(( $(now_ms) - T0 ))
log "faults over; settling ${SOAK_SETTLE} s"
sleep_until $(( END_MS + SOAK_SETTLE * 1000 ))

# ---------------------------------------------------------------- final checks
[ "${PID[$SOAK_STEADY]}" = "$STEADY_PID" ] ||
  violation "steady router $SOAK_STEADY was restarted (pid $STEADY_PID -> ${PID[$SOAK_STEADY]})"

# check_roles: prints the problems (empty when one Master per VRID holds every VIP alone).
check_roles() {
  local problems=()
  declare -A st=() vips=()
  for n in "${NODES[@]}"; do st[$n]=$(status_of "$n"); vips[$n]=$(vips_on "$n"); done
  for v in "${VRIDS[@]}"; do
    local masters=()
    for n in "${NODES[@]}"; do
      [ -n "${st[$n]}" ] || { problems+=("router $n: /status does not answer"); continue; }
      grep -qw "$v=MASTER" <<<"${st[$n]}" && masters+=("$n")
    done
    [ "${#masters[@]}" = 1 ] ||
      problems+=("VRID $v: ${#masters[@]} Masters (${masters[*]:-none})")
    for n in "${NODES[@]}"; do
      local has=0 is_master=0
      grep -qw "${VIP[$v]}" <<<"${vips[$n]}" && has=1
      [ "${#masters[@]}" = 1 ] && [ "${masters[0]}" = "$n" ] && is_master=1
      if [ "$has" = 1 ] && [ "$is_master" = 0 ]; then
        problems+=("VIP ${VIP[$v]} on router $n, which is not VRID $v's only Master")
      elif [ "$has" = 0 ] && [ "$is_master" = 1 ]; then
        problems+=("VIP ${VIP[$v]} missing on router $n, VRID $v's Master")
      fi
      if [ "$has" = 1 ] && ! grep -q " ${VIP[$v]}/" <<<"$(ip -n "$P$n" -o -4 addr show dev eth0)"; then
        problems+=("VIP ${VIP[$v]} on router $n but not on eth0")
      fi
    done
  done
  for n in "${NODES[@]}"; do
    echo "STATE $n: ${st[$n]:-no answer} | VIPs: ${vips[$n]:-none}"
  done
  printf 'PROBLEM %s\n' "${problems[@]}"
}
roles=$(check_roles)
grep '^STATE' <<<"$roles" | sed 's/^STATE /    /'
if grep -q '^PROBLEM .' <<<"$roles"; then
  while read -r line; do violation "after settle: ${line#PROBLEM }"; done < <(grep '^PROBLEM .' <<<"$roles")
  # Diagnosis only: does it converge later?
  for i in $(seq 1 50); do
    sleep 0.2
    if ! check_roles | grep -q '^PROBLEM .'; then
      echo "    (converged $(awk -v i="$i" 'BEGIN { printf "%.1f", i * 0.2 }') s later)"; break
    fi
    [ "$i" = 50 ] && echo "    (still not converged 10 s later)" && check_roles | sed 's/^/    /'
  done
fi

kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true
SAMPLER=

# Memory and fds of the steady router: early window [W, 2W), late window = last W s.
W=$(( SOAK_SECONDS / 4 < 60 ? SOAK_SECONDS / 4 : 60 ))
read -r early_rss late_rss early_fd late_fd min_rss max_rss min_fd max_fd n_early n_late < <(
  awk -F'\t' -v r="$SOAK_STEADY" -v w="$((W * 1000))" -v end="$END_MS" '
    function median(a, n,   i, j, t) {
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
      return n ? (n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2) : -1
    }
    NR > 1 && $2 == r && $4 != "-" {
      $4 += 0; $5 += 0
      if (mn == "" || $4 < mn) mn = $4; if ($4 > mx) mx = $4
      if (fmn == "" || $5 < fmn) fmn = $5; if ($5 > fmx) fmx = $5
      if ($1 >= w && $1 < 2 * w) { er[++ne] = $4; ef[ne] = $5 }
      if ($1 > end - w && $1 <= end) { lr[++nl] = $4; lf[nl] = $5 }
    }
    END { print median(er, ne), median(lr, nl), median(ef, ne), median(lf, nl), mn, mx, fmn, fmx, ne, nl }
  ' "$DIR/samples.tsv")
rss_limit=$(awk -v e="$early_rss" 'BEGIN { a = e * 1.10; b = e + 2048; printf "%d", (a > b ? a : b) }')
echo "==> memory/fds of steady router $SOAK_STEADY (pid $STEADY_PID), window $W s:"
echo "    RSS median early $early_rss kB ($n_early samples), late $late_rss kB ($n_late samples)," \
  "limit $rss_limit kB; range over the run $min_rss..$max_rss kB"
echo "    fds median early $early_fd, late $late_fd; range over the run $min_fd..$max_fd"
if [ "$n_early" -lt 3 ] || [ "$n_late" -lt 3 ]; then
  violation "too few samples of router $SOAK_STEADY ($n_early early, $n_late late)"
else
  awk -v l="$late_rss" -v m="$rss_limit" 'BEGIN { exit !(l <= m) }' ||
    violation "RSS of router $SOAK_STEADY grew: late median $late_rss kB > limit $rss_limit kB"
  awk -v l="$late_fd" -v e="$early_fd" 'BEGIN { exit !(l <= e) }' ||
    violation "fd count of router $SOAK_STEADY grew: late median $late_fd > early median $early_fd"
fi
for n in "${NODES[@]}"; do
  [ "$n" = "$SOAK_STEADY" ] && continue
  p=${PID[$n]}
  echo "    router $n now: pid $p, RSS $(awk '/^VmRSS:/ { print $2, $3 }' "/proc/$p/status" 2>/dev/null)," \
    "fds $(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)," \
    "$(grep -c '^---- start' "$DIR/hakeepd-$n.log") lifetimes"
done

# Graceful stop of all three, then nothing may be left.
log "SIGTERM to all three"
for n in "${NODES[@]}"; do stop "$n" TERM; done
for n in "${NODES[@]}"; do
  left=$(vips_on "$n")
  [ -z "$left" ] || violation "after the final stop: VIP(s) $left still on router $n"
  procs=$(ip netns pids "$P$n" 2>/dev/null | tr '\n' ' ')
  [ -z "$procs" ] || violation "after the final stop: processes left in namespace of $n: $procs"
  # TIME-WAIT entries are the sampler's closed /status connections, owned by no one.
  socks=$(ip netns exec "$P$n" ss -H -a -n -w -u -t exclude time-wait 2>/dev/null | wc -l)
  [ "$socks" = 0 ] || violation "after the final stop: $socks socket(s) left in namespace of $n"
done
stray=
for f in /proc/[0-9]*/cmdline; do
  p=${f#/proc/}; p=${p%/cmdline}
  [ "$p" = $$ ] && continue
  case $( { tr '\0' ' ' <"$f"; } 2>/dev/null) in *"$DIR/keepalived.conf"*) stray+="$p " ;; esac
done
[ -z "$stray" ] || violation "hakeepd processes of this run still exist: $stray"

echo "==> faults: ${COUNT[loss]} loss bursts, ${COUNT[partition]} partitions," \
  "${COUNT[kill]} SIGKILL+restart, ${COUNT[term]} SIGTERM+restart"
echo "    VRRP transitions logged: $(cat "$DIR"/hakeepd-*.log | grep -c 'VRRP transition' || true)," \
  "to MASTER: $(cat "$DIR"/hakeepd-*.log | grep -c 'VRRP transition.*to=MASTER' || true)"
# Informational (faults are expected to cause these): per VRID, how many 1 s samples
# during the run saw no Master or more than one among the answering daemons.
awk -F'\t' 'NR > 1 {
    n = split($6, kv, " ")
    for (i = 1; i <= n; i++) { if (split(kv[i], p, "=") != 2) continue; if (p[2] == "MASTER") m[$1, p[1]]++; v[p[1]] = 1 }
    t[$1] = 1
  }
  END {
    for (id in v) {
      zero = 0; many = 0; total = 0
      for (s in t) { total++; c = m[s, id] + 0; if (c == 0) zero++; if (c > 1) many++ }
      printf "    VRID %s: %d samples, %d with no Master, %d with several\n", id, total, zero, many
    }
  }' "$DIR/samples.tsv" 2>/dev/null | sort || true
# Quiet samples: no loss or partition in force and no fault began or ended in the 2 s
# before. The daemons that run hear each other then, so each VRID must have exactly one
# Master among them (a SIGKILLed daemon does not answer and is not counted).
read -r QUIET QUIET_BAD QUIET_AT < <(awk -F'\t' -v sched="$SCHEDULE" '
  BEGIN {
    while ((getline line < sched) > 0) {
      split(line, f, " "); ev[++ne] = f[1]
      key = (f[3] ~ /^loss/) ? "loss " f[4] : "part"
      if (f[3] == "loss-on" || f[3] == "part-on") opened[key] = f[1]
      if (f[3] == "loss-off" || f[3] == "part-off") { is[++ni] = opened[key]; ie[ni] = f[1] }
    }
  }
  NR > 1 {
    t[$1] = 1; n = split($6, kv, " ")
    for (i = 1; i <= n; i++) { if (split(kv[i], p, "=") != 2) continue; v[p[1]] = 1; if (p[2] == "MASTER") m[$1, p[1]]++ }
  }
  END {
    quiet = 0; bad = 0; at = ""
    for (s in t) {
      s += 0; ok = (s >= 2000)
      for (i = 1; i <= ne; i++) if (ev[i] > s - 2000 && ev[i] <= s) ok = 0
      for (i = 1; i <= ni; i++) if (is[i] <= s && s <= ie[i]) ok = 0
      if (!ok) continue
      quiet++
      for (id in v) if (m[s, id] + 0 != 1) { bad++; if (length(at) < 200) at = at sprintf("%.0fs:VRID%s=%d,", s / 1000, id, m[s, id] + 0) }
    }
    print quiet, bad, (at == "" ? "-" : at)
  }' "$DIR/samples.tsv")
echo "    quiet samples (no fault in force or within 2 s): $QUIET; VRID checks in them without exactly one Master: $QUIET_BAD ${QUIET_AT/#-/}"
if [ "$SOAK_SYNC_GROUP" = 1 ]; then
  # Sync group G1 from the logs: a stretch where one member is MASTER and the other is
  # not is a split. The group's rule (Master only together, Backup together) allows
  # none beyond the moment its commands take to reach the other member. Informational.
  for n in "${NODES[@]}"; do
    awk -v r="$n" '
      function secs(ts,   h) { split(substr(ts, 12, 15), h, ":"); return h[1] * 3600 + h[2] * 60 + h[3] }
      function close_split(t) { if (split_at != "") { d = t - split_at; total += d; if (d > longest) longest = d; if (d > 0.1) long++; split_at = "" } }
      /^---- start/ { if (last != "") close_split(last); delete st; next }
      /VRRP transition/ {
        t = secs($1); last = t
        for (i = 1; i <= NF; i++) { if ($i ~ /^instance=/) x = substr($i, 10); if ($i ~ /^to=/) y = substr($i, 4) }
        st[x] = y
        m = (st["VI_1"] == "MASTER") + (st["VI_2"] == "MASTER")
        if (m == 1 && split_at == "") { split_at = t; splits++ }
        else if (m != 1) close_split(t)
      }
      END { close_split(last); printf "    sync group on router %s: %d splits (one member MASTER, the other not), %d longer than 100 ms, longest %.3f s, %.1f s in all\n", r, splits, long, longest, total }
    ' "$DIR/hakeepd-$n.log"
  done
fi
if [ "$FAILED" = 0 ]; then
  echo "==> chaos soak PASSED (seed $SOAK_SEED, $SOAK_SECONDS s)"
else
  echo "==> chaos soak FAILED (seed $SOAK_SEED, $SOAK_SECONDS s): ${#VIOLATIONS[@]} violation(s)"
  printf '    - %s\n' "${VIOLATIONS[@]}"
  for n in "${NODES[@]}"; do
    echo "---- last lines of router $n's log"; tail -15 "$DIR/hakeepd-$n.log" | sed 's/^/    /'
  done
  exit 1
fi
exit 0
}
