#!/usr/bin/env bash
# Signatures per second through nexus-ssh-agent and through OpenSSH's
# ssh-agent, same key type (Ed25519) and message, in one run:
#   1. build the stack, nx and the agent (release), start nexus-init on a
#      temporary state directory, create an `ssh` key with `nx ssh add-key`
#   2. start nexus-ssh-agent for it, and `ssh-agent -D` with a fresh
#      Ed25519 key from ssh-keygen
#   3. run the sign_rate example against both sockets (it prints both
#      rates and the ratio)
# Usage: scripts/bench-ssh-agent.sh [sign_rate args, e.g. --seconds 6 --rounds 3]
# Needs openssh-client (scripts/install-test-deps.sh). Everything it starts
# is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -q --bins
cargo build --release -q -p nexus-ssh-agent --example sign_rate
bin=target/release
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"$bin/nexus-init" --state "$tmp/state" >"$tmp/init.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do grep -qx 'init: ready' "$tmp/init.log" && break; sleep 0.1; done
grep -qx 'init: ready' "$tmp/init.log" || { cat "$tmp/init.log"; exit 1; }
"$bin/nx" --run "$tmp/state/run" ssh add-key bench >/dev/null

"$bin/nexus-ssh-agent" --run "$tmp/state/run" --socket "$tmp/nexus.sock" >"$tmp/agent.out" 2>"$tmp/agent.err" &
pids+=($!)
ssh-agent -D -a "$tmp/openssh.sock" >/dev/null &
pids+=($!)
for _ in $(seq 1 100); do [ -S "$tmp/nexus.sock" ] && [ -S "$tmp/openssh.sock" ] && break; sleep 0.05; done
ssh-keygen -q -t ed25519 -N '' -f "$tmp/id_ed25519"
SSH_AUTH_SOCK="$tmp/openssh.sock" ssh-add -q "$tmp/id_ed25519"

"$bin/examples/sign_rate" --nexus "$tmp/nexus.sock" --openssh "$tmp/openssh.sock" "$@"
