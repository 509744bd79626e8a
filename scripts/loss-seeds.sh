#!/usr/bin/env bash
# PESQ-WB of Opus under random loss over many loss patterns, offline.
#
# tests/audio_loss.rs scores one seeded loss pattern per call; how much a 5 %
# loss costs depends a lot on which packets the draw hits (on this speech,
# −0.24 to −0.67 across eight seeds). This replays the same speech through the
# encoder, the relay's loss/jitter draw and the receive chain
# (crates/engine/examples/loss_replay.rs) for SEEDS seeds and prints each
# score and the mean, for the chain as built and for the codec alone (every
# lost packet rebuilt from the next one's FEC, no jitter buffer).
#
#   bash scripts/loss-seeds.sh [LOSS] [JITTER_MS] [SEEDS]     (0.05 0 8)
#
# With REPLAY_RED=1 in the environment each packet carries the one before it
# (RFC 2198 RED, what two agentphones send each other).
set -euo pipefail
cd "$(dirname "$0")/.."
loss=${1:-0.05}
jitter=${2:-0}
seeds=${3:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The speech of tests/audio_loss.rs, made the same way.
espeak-ng -v en-us -s 150 -w "$work/raw.wav" "Thank you for calling customer support. \
My name is Alex, and I will be helping you today. Could you please tell me your account \
number? I can see that your last payment arrived on the third of March. Is there \
anything else I can do for you?"
sox "$work/raw.wav" -r 48000 -c 1 -b 16 "$work/speech.wav" gain -n -3
cargo build -q --release -p agentphone-engine --example loss_replay
replay=target/release/examples/loss_replay
score() { python3 tests/pesq/pesq_wb.py "$work/speech.wav" "$1" | sed -E 's/pesq_wb=([0-9.]+).*/\1/'; }
"$replay" "$work/speech.wav" "$work/clean.wav" 0 0 > /dev/null
clean=$(score "$work/clean.wav")
echo "clean: $clean; loss $loss, jitter 0-$jitter ms"
printf '%-12s %8s %8s\n' seed chain codec
for i in $(seq 1 "$seeds"); do
  # 0x5EED1601 is the test's 5 % loss call, 0x5EED1602 its jitter + loss call.
  seed=$(printf '0x5EED%04X' $((0x1600 + i)))
  "$replay" "$work/speech.wav" "$work/chain.wav" "$loss" "$jitter" "$seed" > /dev/null
  REPLAY_IDEAL=1 "$replay" "$work/speech.wav" "$work/codec.wav" "$loss" "$jitter" "$seed" > /dev/null
  printf '%-12s %8s %8s\n' "$seed" "$(score "$work/chain.wav")" "$(score "$work/codec.wav")"
done | tee "$work/table"
awk -v clean="$clean" 'NR > 0 { c += $2; k += $3; n++ }
  END { printf "mean drop: chain %.2f, codec alone %.2f over %d seeds\n", c / n - clean, k / n - clean, n }' "$work/table"
