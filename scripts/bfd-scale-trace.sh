#!/usr/bin/env bash
# Runs the bfd_scale harness once with the kernel's trace ring armed, and keeps the
# trace if a session went falsely Down: the harness stops tracing at the first false
# Down (BFD_SCALE_FTRACE=1), so the ring ends with the moments before it. Root only.
#
#   scripts/bfd-scale-trace.sh OUT_DIR [SESSIONS] [SECS]
#
# Events: scheduler switches, NET_RX softirqs, each packet's veth transmit and receive
# (the same skb address on both), UDP/socket drops, and every recvmmsg with its result,
# which is enough to tell "the peer stopped sending" from "we stopped receiving" from
# "the kernel held the packets". The tracing costs about 10 % of a core per engine.
# Environment: BFD_SCALE_CHRT (default "chrt -f 20"; empty for normal priority).
set -euo pipefail
out=${1:?usage: $0 OUT_DIR [SESSIONS] [SECS]}
sessions=${2:-1000}
secs=${3:-60}
tracing=/sys/kernel/tracing
mkdir -p "$out"
[ -e "$tracing/trace" ] || mount -t tracefs nodev "$tracing"
cd "$(dirname "$0")/.."
cargo bench -p ha-benches --bench bfd_scale --no-run 2>/dev/null
bin=$(ls -t target/release/deps/bfd_scale-* | grep -v '\.d$' | head -1)

disarm() {
    echo 0 >"$tracing/tracing_on"
    echo >"$tracing/set_event"
}
trap disarm EXIT
echo 0 >"$tracing/tracing_on"
echo >"$tracing/trace"
echo 100000 >"$tracing/buffer_size_kb"
echo 1 >"$tracing/options/overwrite"
for event in sched:sched_switch irq:softirq_entry irq:softirq_exit net:net_dev_xmit \
    net:netif_receive_skb skb:kfree_skb sock:sock_rcvqueue_full udp:udp_fail_queue_rcv_skb \
    syscalls:sys_enter_recvmmsg syscalls:sys_exit_recvmmsg; do
    echo "$event" >>"$tracing/set_event"
done
echo 1 >"$tracing/tracing_on"
# shellcheck disable=SC2086 # BFD_SCALE_CHRT is a command prefix, split on purpose
BFD_SCALE_FTRACE=1 BFD_SCALE_SESSIONS=$sessions BFD_SCALE_PEERS=ours BFD_SCALE_SECS=$secs \
    ${BFD_SCALE_CHRT-chrt -f 20} "$bin" --bench | tee "$out/harness.txt"
echo 0 >"$tracing/tracing_on"
if grep -q "first false Down" "$out/harness.txt"; then
    cp "$tracing/trace" "$out/trace.txt"
    echo "trace of the run up to the first false Down: $out/trace.txt"
else
    echo "no false Down: no trace kept"
fi
echo >"$tracing/trace"
