#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each briefly (FUZZ_SECONDS, default
# 15). Uses RUSTC_BOOTSTRAP=1 on the stable toolchain for -Z sanitizer flags.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-15}
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --quiet
fi
cd fuzz
export RUSTC_BOOTSTRAP=1
for target in $(cargo fuzz list); do
  echo "== fuzz $target (${secs} s)"
  cargo fuzz run "$target" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 | tail -n 3
done
