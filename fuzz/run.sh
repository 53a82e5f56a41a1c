#!/usr/bin/env bash
# Runs a fuzz target with libFuzzer on the stable toolchain (coverage via sancov flags,
# no sanitizer; cargo-fuzz needs nightly for its -Z flags). Seeds from the wire fixtures.
# Usage: fuzz/run.sh decode|decode_request|otlp [seconds]
set -euo pipefail
cd "$(dirname "$0")"
target=${1:-decode}
secs=${2:-60}
triple=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing" \
  cargo build --release --target "$triple" --bin "$target"
mkdir -p corpus/"$target" artifacts
cp -n ../crates/wire/fixtures/*.snappy corpus/"$target"/ 2>/dev/null || true
# Seeds that reach the v2 histogram, custom-bucket and exemplar paths.
cp -n ../crates/wire/fixtures/fuzz-"$target"-*.bin corpus/"$target"/ 2>/dev/null || true
# OTLP seeds: a selector byte, then a body (see fuzz_targets/otlp.rs).
cp -n ../crates/gateway/fixtures/fuzz-otlp-*.bin corpus/"$target"/ 2>/dev/null || true
"target/$triple/release/$target" corpus/"$target" -artifact_prefix=artifacts/ \
  -max_total_time="$secs" -rss_limit_mb=2048
