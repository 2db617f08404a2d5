#!/usr/bin/env bash
# Every fuzz target over its committed corpus, then a short fuzzing run of
# each: the fuzz step of scripts/test-all.sh. Fails on any crash, timeout,
# leak or limit reached (libFuzzer exits non-zero and leaves the input in
# fuzz/artifacts/<target>/).
#
#   scripts/fuzz-smoke.sh                       # CI: corpus + 20 s per target
#   NEXUS_FUZZ_SECONDS=600 scripts/fuzz-smoke.sh daemon_requests   # a long run
#
# - NEXUS_FUZZ_SECONDS: seconds of fuzzing per target after the corpus
#   replay (default 20; 0: replay only).
# - Arguments: the targets to run (default: all of them).
#
# Inputs found while fuzzing go to a temporary directory, never into the
# committed corpus (fuzz/corpus/<target>/: the parsers' worst cases and
# daemon_requests' merged corpus; see docs/testing/README.md "Fuzzing").
#
# cargo-fuzz is installed from crates.io if missing (`cargo install
# cargo-fuzz --locked`, about two minutes on a 2-core machine). It runs on
# the stable toolchain: RUSTC_BOOTSTRAP=1 lets it pass the sanitizer flags.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1

SECONDS_EACH="${NEXUS_FUZZ_SECONDS:-20}"
ALL=(wire_request detcbor_check eat_verify trust_parsers state_records ssh_agent
     init_manifest key_files daemon_requests)
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# The limits every run is held to: a superlinear path shows as a timeout,
# an unbounded allocation as a malloc or RSS limit.
common=(-rss_limit_mb=2048 -malloc_limit_mb=512)
opts_for() {
  case "$1" in
    # Whole requests through every daemon (up to 12 requests, some repeated,
    # per input); the daemons' console lines are silenced.
    daemon_requests) echo "-timeout=30 -max_len=8192 -close_fd_mask=2" ;;
    # The agent prints its refusals on stderr.
    ssh_agent) echo "-timeout=10 -max_len=4096 -close_fd_mask=2" ;;
    *) echo "-timeout=10 -max_len=4096" ;;
  esac
}

echo "fuzz-smoke: building the fuzz workspace"
if [ "$#" -eq 0 ]; then cargo fuzz build; else for t in "${TARGETS[@]}"; do cargo fuzz build "$t"; done; fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()

# The end of a failed run's log, then its input replayed with stderr open
# (-close_fd_mask hides a panic's message).
show_failure() {
  tail -n 30 "$2"
  local input
  input="$(ls -t "artifacts/$1"/* 2>/dev/null | head -n 1 || true)"
  if [ -n "$input" ]; then
    echo "fuzz-smoke: $1: replaying $input"
    cargo fuzz run "$1" "$input" -- "${common[@]}" 2>&1 |
      grep -E -A4 'panicked at|ERROR: |SUMMARY' | head -n 40 || true
  fi
}
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "$work/$t"
  read -r -a opts <<<"$(opts_for "$t")"
  # The replay reads every committed input whole (no -max_len): the worst
  # cases are up to 1 MiB.
  replay=()
  for o in "${opts[@]}"; do [[ $o == -max_len=* ]] || replay+=("$o"); done
  echo "fuzz-smoke: $t: replaying $(find "corpus/$t" -type f | wc -l) committed input(s)"
  if ! cargo fuzz run "$t" "$work/$t" "corpus/$t" -- -runs=0 "${common[@]}" "${replay[@]}" \
      >"$work/$t.replay.log" 2>&1; then
    show_failure "$t" "$work/$t.replay.log"
    failed+=("$t (corpus)")
    continue
  fi
  if [ "$SECONDS_EACH" -gt 0 ]; then
    # libFuzzer runs every seed before it mutates, within the same time
    # budget: a short run starts from at most 48 committed inputs (a
    # different sample each run), so that its budget goes to fuzzing.
    seeds=48
    if [ "$SECONDS_EACH" -ge 120 ]; then seeds=1000000; fi
    find "corpus/$t" -type f | shuf -n "$seeds" | xargs -r cp -t "$work/$t"
    if ! cargo fuzz run "$t" "$work/$t" -- -max_total_time="$SECONDS_EACH" \
        "${common[@]}" "${opts[@]}" >"$work/$t.log" 2>&1; then
      show_failure "$t" "$work/$t.log"
      failed+=("$t")
      continue
    fi
    # libFuzzer's last stats line (executions, cov, ft, corpus, exec/s)
    # and its summary.
    grep -E 'DONE|^Done' "$work/$t.log" | tail -n 2 | sed "s/^/fuzz-smoke: $t: /"
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz-smoke: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
echo "fuzz-smoke: ${#TARGETS[@]} target(s) clean"
