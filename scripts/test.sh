#!/usr/bin/env bash
# Sets up and runs every test: unit and property tests, RFC 4475 torture
# messages, interop tests against SIPp and Kamailio (and baresip for media),
# formatting and lint checks, and short fuzz runs.
# Under CI=true a missing peer is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
# A missing peer fails this run, as under CI=true; a developer without the
# peers can opt out with AGENTPHONE_SKIP_MISSING_PEERS=1 (loud SKIP lines).
if [ "${AGENTPHONE_SKIP_MISSING_PEERS:-0}" != "1" ]; then
  export AGENTPHONE_REQUIRE_PEERS=1
fi
# A cold CI build gains nothing from incremental state and it doubles the
# workspace crates' disk use; say how much disk there is, since a full disk
# shows up as an obscure rustc error.
if [ "${CI:-}" = "true" ]; then
  export CARGO_INCREMENTAL=0
fi
df -h . | tail -n 1 | awk '{print "== disk: " $4 " free of " $2}'
bash scripts/setup-build.sh
bash scripts/install-peers.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
# The fuzz crate is outside the workspace, so the line above does not see it.
rustfmt --check --edition 2021 fuzz/fuzz_targets/*.rs
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee /tmp/agentphone-test.log
bash scripts/fuzz-smoke.sh
df -h . | tail -n 1 | awk '{print "== disk: " $4 " free of " $2}'
echo "== all done in $(( $(date +%s) - start )) s"
