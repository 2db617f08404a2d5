#!/usr/bin/env bash
# The project's whole test suite: the README's test command, and what CI runs.
#
#   1. install what the tests need beyond cargo (scripts/install-test-deps.sh)
#   2. formatting and lints (cargo fmt --check, clippy -D warnings)
#   3. every unit, host, interop and end-to-end test of the workspace
#   4. keystore_v1_1_host on its own: it is the one package that turns on
#      keymint's test-only `insecure-deterministic` feature, and cargo would
#      otherwise unify that feature into every daemon built in the same run
#   5. every fuzz target over its committed corpus, then fuzzed for 20 s
#      (scripts/fuzz-smoke.sh; installs cargo-fuzz if missing)
#   6. the marker harness: scripts/qemu-test.sh (three QEMU boots)
#
# Set NEXUS_TEST_SKIP_FUZZ=1 to skip step 5 and NEXUS_TEST_SKIP_QEMU=1 to
# skip step 6 (a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "installing test dependencies"
./scripts/install-test-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (workspace, production features)"
cargo test --workspace --exclude keystore_v1_1_host --locked

step "cargo test -p keystore_v1_1_host (deterministic mode enabled for this package only)"
cargo test -p keystore_v1_1_host --locked -- --nocapture

if [ "${NEXUS_TEST_SKIP_FUZZ:-0}" = "1" ]; then
  step "fuzz smoke skipped (NEXUS_TEST_SKIP_FUZZ=1)"
else
  step "fuzz smoke: ./scripts/fuzz-smoke.sh (every target: its corpus, then 20 s of fuzzing)"
  ./scripts/fuzz-smoke.sh
fi

if [ "${NEXUS_TEST_SKIP_QEMU:-0}" = "1" ]; then
  step "marker harness skipped (NEXUS_TEST_SKIP_QEMU=1)"
else
  step "marker harness: RUN_UNTIL_MARKER=1 RUN_TIMEOUT=185s ./scripts/qemu-test.sh"
  RUN_UNTIL_MARKER=1 RUN_TIMEOUT=185s ./scripts/qemu-test.sh
fi

step "all tests passed"
