#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each briefly (FUZZ_SECONDS, default
# 15). Uses RUSTC_BOOTSTRAP=1 on the stable toolchain for -Z sanitizer flags.
# A finding fails the run and prints libFuzzer's report (the crashing input is
# kept in fuzz/artifacts/TARGET/).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-15}
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --quiet
fi
cd fuzz
export RUSTC_BOOTSTRAP=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in $(cargo fuzz list); do
  echo "== fuzz $target (${secs} s)"
  if ! cargo fuzz run "$target" -- -max_total_time="$secs" -rss_limit_mb=2048 >"$log" 2>&1; then
    grep -v '^#[0-9]' "$log" | tail -n 80
    echo "fuzz target $target failed" >&2
    exit 1
  fi
  tail -n 1 "$log"
done
