#!/usr/bin/env bash
# Sets up and runs the demo: two agentphone endpoints on loopback, one calls the
# other, no server needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-build.sh
cargo build --release --quiet
exec ./target/release/agentphone demo "$@"
