#!/usr/bin/env bash
# Postflight for keystore v1.1: the marker harness, nothing else. Every
# argument and environment variable (RUN_UNTIL_MARKER, RUN_TIMEOUT,
# QEMU_TEST_MODE, --host, --runs …) goes to scripts/qemu-test.sh unchanged,
# and its exit status is this script's.
set -euo pipefail
exec "$(cd "$(dirname "$0")/.." && pwd)/scripts/qemu-test.sh" "$@"
