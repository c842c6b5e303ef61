#!/usr/bin/env bash
# The one test command: ./scripts/test.sh
#
# As root on a fresh Debian machine it installs what the tests need, then runs, in order:
#   1. formatting check (cargo fmt) and lints (cargo clippy -D warnings)
#   2. the whole unprivileged test suite (cargo test --workspace), then a short smoke run
#      of every fuzz target (scripts/fuzz-smoke.sh; HA_FUZZ_SECONDS, default 10)
#   3. the privileged suites: Rust tests marked #[ignore = "privileged: ..."] (network
#      namespaces, reference peers) and the kernel suites under QEMU, when present.
# Not as root, step 3 is skipped with a message. Set HA_SKIP_PRIVILEGED=1 to skip it anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '\n==> [%s UTC, +%ss] %s\n' "$(date -u +%T)" "$SECONDS" "$*"; }
is_root() { [ "$(id -u)" = 0 ]; }

if is_root && [ -z "${HA_SKIP_PRIVILEGED:-}" ]; then
  step "installing test dependencies"
  ./scripts/install-test-deps.sh
fi

step "rustfmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "unprivileged tests"
cargo test --workspace

step "fuzz smoke"
./scripts/fuzz-smoke.sh

if ! is_root; then
  step "privileged suites SKIPPED: not root (they need network namespaces, raw sockets and QEMU)"
elif [ -n "${HA_SKIP_PRIVILEGED:-}" ]; then
  step "privileged suites SKIPPED: HA_SKIP_PRIVILEGED is set"
else
  step "privileged suites: network namespaces and reference peers"
  # One test at a time: they create namespaces and start daemons.
  cargo test --workspace -- --ignored --test-threads=1
  for suite in scripts/privileged/*.sh; do
    [ -e "$suite" ] || continue
    step "privileged suite: $suite"
    bash "$suite"
  done
fi
step "all tests passed"
