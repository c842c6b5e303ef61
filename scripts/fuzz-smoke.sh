#!/usr/bin/env bash
# Builds every cargo-fuzz target in the repository and runs each for a short time
# (HA_FUZZ_SECONDS, default 10). Uses nightly with the address sanitizer when a nightly
# toolchain is present, and stable without a sanitizer otherwise.
# A long campaign: HA_FUZZ_SECONDS=600 ./scripts/fuzz-smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${HA_FUZZ_SECONDS:-10}
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly); sanitizer=(); echo "==> fuzzing with nightly and the address sanitizer"
else
  toolchain=(); sanitizer=(--sanitizer none); echo "==> no nightly toolchain: fuzzing on stable without a sanitizer"
fi
# One target directory for every fuzz crate: libFuzzer and the shared dependencies are
# built once, not once per crate.
target_dir="$PWD/target/fuzz"
status=0
for dir in */fuzz; do
  [ -f "$dir/Cargo.toml" ] || continue
  crate=${dir%/fuzz}
  for target in $(cd "$crate" && cargo "${toolchain[@]}" fuzz list); do
    echo "==> fuzz $crate/$target for ${seconds}s"
    corpus="$dir/corpus/$target"
    mkdir -p "$corpus"
    if [ -d "$dir/seeds/$target" ]; then cp -n "$dir/seeds/$target"/* "$corpus"/ 2>/dev/null || true; fi
    log=$(mktemp)
    if (cd "$crate" && cargo "${toolchain[@]}" fuzz run "${sanitizer[@]}" --target-dir "$target_dir" "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1); then
      tail -n 12 "$log"
    else
      # The crash report (sanitizer summary, panic message, the input saved as an
      # artifact) comes well before cargo-fuzz's own backtrace at the end of the log.
      grep -E -A 12 'ERROR:|panicked|SUMMARY|Test unit written|Base64:|deadly signal' "$log" | head -n 80 || tail -n 80 "$log"
      echo "!! fuzz target $crate/$target failed"; status=1
    fi
    rm -f "$log"
  done
done
exit $status
