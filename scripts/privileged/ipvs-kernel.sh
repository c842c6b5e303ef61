#!/usr/bin/env bash
# The ha-ipvs kernel suite: builds the ha-ipvs test binaries (and ipvsctl) statically,
# boots Debian's stock kernel ONCE under QEMU (scripts/ipvs-vm.sh) with the ip_vs modules
# loaded and ipvsadm as the oracle, and runs in that one boot:
#   1. ipvs/tests/kernel.rs and the kernel half of ipvs/tests/conformance.rs
#      (HA_IPVS_KERNEL_TESTS=1, one test at a time);
#   2. ipvsctl restore/save round trips diffed against `ipvsadm -Sn`;
#   3. with HA_IPVS_BENCH=1 (default here), the timing figures (@@BENCH lines).
# Exits non-zero when anything fails. Idempotent: all state lives in a temporary VM.
# Needs: qemu-system-x86 linux-image-amd64 busybox-static ipvsadm
# (scripts/install-test-deps.sh), and the x86_64-unknown-linux-gnu Rust target.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
TARGET=x86_64-unknown-linux-gnu
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
# With --target, RUSTFLAGS reach only the target's artifacts (target/$TARGET/), not the
# host's (target/debug): the static build does not invalidate the host cache.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

echo "==> building ha-ipvs kernel tests and ipvsctl (static)"
json=$(cargo test -p ha-ipvs --release --target "$TARGET" --no-run \
  --test kernel --test conformance --message-format=json)
bin_of() { # target name -> executable (cargo prints one JSON message a line)
  grep '"reason":"compiler-artifact"' <<<"$json" | grep -F "\"name\":\"$1\"" |
    grep -o '"executable":"[^"]*"' | sed 's/^"executable":"//; s/"$//' | tail -1
}
KERNEL_BIN=$(bin_of kernel)
CONF_BIN=$(bin_of conformance)
json=$(cargo build -p ha-examples --release --target "$TARGET" --bin ipvsctl --message-format=json)
CTL_BIN=$(bin_of ipvsctl)
for b in "$KERNEL_BIN" "$CONF_BIN" "$CTL_BIN"; do
  [[ -x $b ]] || { echo "ipvs-kernel: missing binary ($b)" >&2; exit 1; }
  ldd "$b" 2>&1 | grep -q 'statically linked\|not a dynamic' ||
    { echo "ipvs-kernel: $b is not static" >&2; exit 1; }
done
cp "$KERNEL_BIN" "${KERNEL_BIN%/*}/ipvs-kernel-tests"
cp "$CONF_BIN" "${CONF_BIN%/*}/ipvs-conformance"

GUEST=$(mktemp /tmp/ipvs-guest.XXXXXX.sh)
trap 'rm -f "$GUEST"' EXIT
cat >"$GUEST" <<'GUEST_EOF'
#!/bin/sh
# Runs in the VM. Every step runs; the status is non-zero if any failed.
export HA_IPVS_KERNEL_TESTS=1 HA_IPVS_BENCH=${HA_IPVS_BENCH:-1} RUST_BACKTRACE=1
fail=0
step() { echo "@@STEP $*"; }
step "kernel tests"
/bin/ipvs-kernel-tests --test-threads=1 --nocapture || fail=1
step "conformance (fake and kernel)"
/bin/ipvs-conformance --include-ignored --test-threads=1 || fail=1

step "ipvsctl: restore, then save diffs clean against ipvsadm -Sn"
cat >/tmp/rules <<'RULES'
-A -t 10.0.0.5:0 -s wlc -p 300 -M 255.255.255.0
-A -t 10.0.0.5:80 -s sh -b sh-fallback,sh-port
-a -t 10.0.0.5:80 -r 10.0.0.2:8080 -m -w 0
-a -t 10.0.0.5:80 -r 10.0.0.3:80 -g -w 1
-a -t 10.0.0.5:80 -r 10.0.0.4:80 -i -w 1 --tun-type gre --tun-nocsum
-a -t 10.0.0.5:80 -r 10.0.0.6:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum
-a -t 10.0.0.5:80 -r 10.0.0.8:80 -i -w 1 --tun-type ipip
-A --sctp-service 10.0.0.9:3868 -s nq
-A -u [2001:db8::1]:53 -s rr -p 60 -M 64 --pe sip
-a -u [2001:db8::1]:53 -r [2001:db8::2]:53 -m -w 1
-A -f 7 -s mh -b mh-port
-a -f 7 -r [2001:db8::9]:0 -i -w 1 --tun-type ipip
-A -f 8 -6 -s lc
-a -f 8 -6 -r [2001:db8::5]:0 -g -w 3
RULES
ctl() { echo "+ ipvsctl $*" >&2; /bin/ipvsctl "$@"; }
ipvsadm -C
ctl restore </tmp/rules || fail=1
ctl save >/tmp/ours || fail=1
ipvsadm -Sn >/tmp/theirs
diff /tmp/ours /tmp/theirs && diff /tmp/rules /tmp/theirs || { echo "ipvsctl save differs"; fail=1; }
ctl list || fail=1
ctl add -t 10.9.9.9:443 -s wrr || fail=1
ctl add -t 10.9.9.9:443 -r 10.8.8.8:443 -m -w 5 || fail=1
ctl edit -t 10.9.9.9:443 -r 10.8.8.8:443 -m -w 9 || fail=1
ctl edit -t 10.9.9.9:443 -s rr -p 30 || fail=1
ipvsadm -Sn | grep -qx -- '-A -t 10.9.9.9:443 -s rr -p 30' || { echo "edit service not seen"; fail=1; }
ipvsadm -Sn | grep -qx -- '-a -t 10.9.9.9:443 -r 10.8.8.8:443 -m -w 9' || { echo "edit dest not seen"; fail=1; }
ctl add -t 10.9.9.9:443 -s wrr && { echo "duplicate add accepted"; fail=1; }
ctl delete -t 10.9.9.9:443 -r 10.8.8.8:443 || fail=1
ctl delete -t 10.9.9.9:443 || fail=1
ctl save >/tmp/ours
diff /tmp/ours /tmp/rules || { echo "table differs after delete"; fail=1; }
# Restore reconciles: an edited file becomes the table, with the minimum of operations.
sed 's/-w 3$/-w 4/' /tmp/rules >/tmp/rules2
ctl restore </tmp/rules2 || fail=1
ipvsadm -Sn | diff - /tmp/rules2 || { echo "restore of an edit differs"; fail=1; }
ipvsadm -C
exit $fail
GUEST_EOF

echo "==> booting the VM (one boot for every kernel test)"
set +e
scripts/ipvs-vm.sh --bin "${KERNEL_BIN%/*}/ipvs-kernel-tests" --bin "${CONF_BIN%/*}/ipvs-conformance" \
  --bin "$CTL_BIN" "$GUEST" | tee /dev/stderr | grep -a '^@@BENCH' >"${CARGO_TARGET_DIR}/ipvs-bench.txt"
rc=${PIPESTATUS[0]}
set -e
if [[ -s ${CARGO_TARGET_DIR}/ipvs-bench.txt ]]; then
  echo "==> benchmark figures (${CARGO_TARGET_DIR}/ipvs-bench.txt)"
  cat "${CARGO_TARGET_DIR}/ipvs-bench.txt"
fi
if [[ $rc != 0 ]]; then
  echo "ipvs-kernel: FAILED (guest status $rc)" >&2
  exit "$rc"
fi
echo "ipvs-kernel: all kernel tests passed"
