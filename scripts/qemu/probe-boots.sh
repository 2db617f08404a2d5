#!/usr/bin/env bash
# Prove the boot machinery with the pid1 crate's boot_probe as /init:
#   A  fresh ext4 disk      -> "probe: state mounted …", "probe: boot count 1 persistent"
#   B  the same disk again  -> "probe: boot count 2 persistent"
#   C  no disk              -> "probe: state volatile (no disk)", "probe: boot count 1 volatile"
# Every boot must also print "probe: entropy ready", "probe: reaped …" and
# "probe: done …", and no "probe: FAIL". Pass/fail comes only from these
# markers in the serial log, never from QEMU's exit status.
#
# For each boot it prints the host time from starting boot.sh to the
# "probe: done" line appearing in the log, the guest's uptime at that line,
# and QEMU's whole run time.
#
# Usage: scripts/qemu/probe-boots.sh [--runs N] [--out DIR]
#   --runs N   repeat the A/B/C sequence N times (default 1), fresh disk each
#   --out DIR  where logs, the initramfs and the disk go
#              (default <repo>/.cache/qemu/probe)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=1
out=$repo/.cache/qemu/probe
while (($#)); do
    case $1 in
        --runs) runs=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        *) printf 'probe-boots: unknown argument: %s\n' "$1" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"

"$here/fetch.sh" >/dev/null

# A static binary: the initramfs has no libc. --target keeps the static
# flag away from build scripts and proc macros; the separate target dir
# keeps this build from invalidating the normal one.
triple=x86_64-unknown-linux-gnu
(cd "$repo" && RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release \
    --target "$triple" --target-dir target/static -p pid1 --example boot_probe)
probe=$repo/target/static/$triple/release/examples/boot_probe
"$here/mkinitramfs.py" -o "$out/probe.cpio.gz" --init "$probe" >&2

passed=0 failed=0
results=()

# boot NAME DISK-OR-EMPTY EXPECTED-LINE...
boot() {
    local name=$1 disk=$2 log=$out/$1.log t0 t1 to_marker total uptime ok=1 line
    shift 2
    rm -f "$log"
    t0=$(date +%s.%N)
    local disk_arg=()
    [[ -n $disk ]] && disk_arg=(--disk "$disk")
    "$here/boot.sh" --initrd "$out/probe.cpio.gz" --log "$log" "${disk_arg[@]}" \
        --timeout 120 >/dev/null 2>"$out/$name.boot" &
    local pid=$!
    # Poll the log (the last marker is followed by power-off within
    # milliseconds when there is no disk to sync, so poll often, and look at
    # the log before asking whether QEMU is still running).
    to_marker=missed
    while :; do
        if [[ -f $log ]] && grep -q '^probe: done' "$log"; then
            t1=$(date +%s.%N)
            to_marker=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2fs", b - a }')
            break
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.01
    done
    wait "$pid" || true
    total=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    uptime=$(sed -n 's/^probe: done uptime=//p' "$log" | tr -d '\r')
    for line in "$@" "probe: entropy ready" "probe: done uptime="; do
        if ! grep -qF -- "$line" "$log"; then
            printf 'probe-boots: %s: missing marker: %s\n' "$name" "$line" >&2
            ok=0
        fi
    done
    grep -q '^probe: reaped pid=[0-9]* exit=3' "$log" || {
        printf 'probe-boots: %s: missing marker: probe: reaped\n' "$name" >&2; ok=0; }
    if grep -q 'probe: FAIL' "$log"; then
        grep 'probe: FAIL' "$log" >&2
        ok=0
    fi
    if ((ok)); then passed=$((passed + 1)); verdict=pass; else failed=$((failed + 1)); verdict=FAIL; fi
    results+=("$(printf '%-4s %-5s marker=%s guest_uptime=%s qemu_total=%ss log=%s' \
        "$name" "$verdict" "$to_marker" "${uptime:-none}" "$total" "$log")")
}

for ((r = 1; r <= runs; r++)); do
    "$here/mkdisk.sh" --force "$out/state.img" 64M >/dev/null
    boot "A$r" "$out/state.img" "probe: state mounted dev=/dev/nvme0n1" "probe: boot count 1 persistent"
    boot "B$r" "$out/state.img" "probe: state mounted dev=/dev/nvme0n1" "probe: boot count 2 persistent"
    boot "C$r" "" "probe: state volatile (no disk)" "probe: boot count 1 volatile"
done

printf '%s\n' "${results[@]}"
printf 'probe-boots: %d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
