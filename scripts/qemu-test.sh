#!/usr/bin/env bash
# The marker harness: boot the whole identity stack three times and judge
# each boot only by the markers it printed.
#
#   RUN_UNTIL_MARKER=1 RUN_TIMEOUT=185s ./scripts/qemu-test.sh          # QEMU (default)
#   ./scripts/qemu-test.sh --host          (or QEMU_TEST_MODE=host)      # on this host
#
# QEMU mode: nexus-init is /init (PID 1) in an initramfs holding every
# daemon, selftest-client and /config (scripts/qemu/image.sh); the kernel
# command line passes `-- --selftest`, so init runs the selftest app once
# the stack is up, then powers off. Host mode: target/debug/nexus-init
# --selftest on a temporary state directory.
#
#   A  fresh state (QEMU: new ext4 disk)   durable; selftest seeds: "persist seeded"
#   B  the same state again                durable; "persist ok"
#   C  no state (QEMU: no disk; host: --volatile)
#                                          every ready line says "(volatile)";
#                                          "persist skipped (volatile)"; no
#                                          marker may claim persistence
#
# Every boot must show, in this order: keystored: ready, attestd: ready,
# init: ready, SELFTEST: keystore v1.1 sign ok, … rotate ok, … seal ok,
# … attest ok, … vault ok, … trust ok, the persistence marker, … done,
# init: selftest exit 0 (QEMU adds the state line first and
# "init: power off (exit 0)" last). Every daemon's ready line must be
# there, none may say INSECURE. Any FAIL marker, a missing marker or the
# timeout fails the boot. Pass/fail never comes from an exit status.
#
# Environment:
#   RUN_TIMEOUT       per-boot limit, e.g. 185s, 3m, 120 (default 185s)
#   RUN_UNTIL_MARKER  1: end a boot as soon as its last marker is seen
#                     (QEMU: after a bounded wait for the power-off);
#                     0 (default): wait for the boot to end by itself
#   QEMU_TEST_MODE    qemu (default) or host
# Options:
#   --host / --qemu   choose the mode
#   --runs N          repeat the A/B/C sequence N times (fresh state each
#                     time) and print the median time per boot
#   --out DIR         logs and images (default .cache/qemu-test/<mode>)
#   --no-build        use the binaries/image already built
#
# Output: the mode, one line per boot (verdict, host seconds from start
# to the last required marker, log path), the medians with --runs, and
# "qemu-test: N passed, M failed". Exit status 0 only if all passed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
mode=${QEMU_TEST_MODE:-qemu}
runs=1 out='' build=1
while (($#)); do
    case $1 in
        --host) mode=host; shift ;;
        --qemu) mode=qemu; shift ;;
        --runs) runs=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) printf 'qemu-test: unknown argument: %s\n' "$1" >&2; exit 2 ;;
    esac
done
case $mode in qemu|host) ;; *) printf 'qemu-test: unknown mode %s\n' "$mode" >&2; exit 2 ;; esac
[[ $runs =~ ^[1-9][0-9]*$ ]] || { printf 'qemu-test: bad --runs\n' >&2; exit 2; }
out=${out:-$repo/.cache/qemu-test/$mode}
mkdir -p "$out"

# RUN_TIMEOUT: seconds, with an optional s/m suffix.
to_secs() {
    case $1 in
        *m) echo $(( ${1%m} * 60 )) ;;
        *s) echo "${1%s}" ;;
        *) echo "$1" ;;
    esac
}
timeout_s=$(to_secs "${RUN_TIMEOUT:-185s}")
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || { printf 'qemu-test: bad RUN_TIMEOUT\n' >&2; exit 2; }
until_marker=${RUN_UNTIL_MARKER:-0}
# The selftest app must end (and init report it) well inside the boot limit.
selftest_timeout=$(( timeout_s > 60 ? timeout_s - 30 : timeout_s / 2 + 1 ))

printf 'qemu-test: mode %s, %d run(s), RUN_TIMEOUT=%ss per boot, RUN_UNTIL_MARKER=%s\n' \
    "$mode" "$runs" "$timeout_s" "$until_marker"
printf 'qemu-test: logs in %s\n' "$out"

daemons=(keymintd keystored identityd attestd bundlemgrd updated)
S='SELFTEST: keystore v1.1'

if ((build)); then
    if [[ $mode == qemu ]]; then
        "$here/qemu/fetch.sh" >/dev/null
        "$here/qemu/image.sh" --out "$out/nexus.cpio.gz" >/dev/null
    else
        pkgs=()
        for p in nexus-init "${daemons[@]}" selftest-client; do pkgs+=(-p "$p"); done
        (cd "$repo" && cargo build --quiet "${pkgs[@]}" --bins)
    fi
fi

# The ordered marker list of one boot, one extended regex per line.
# $1: A|B|C.
required() {
    local kind=$1 ready_sfx
    if [[ $kind == C ]]; then ready_sfx=' \(volatile\)'; else ready_sfx=''; fi
    if [[ $mode == qemu ]]; then
        if [[ $kind == C ]]; then
            echo '^init: no state disk; every service runs volatile$'
        else
            echo '^init: state mounted \(/dev/nvme0n1 at /state\)$'
        fi
    fi
    echo "^keystored: ready${ready_sfx}\$"
    echo "^attestd: ready${ready_sfx}\$"
    echo '^init: ready$'
    local step
    for step in sign rotate seal attest vault; do echo "^$S $step ok\$"; done
    echo "^$S trust ok \\(denials only\\)\$"
    case $kind in
        A) echo "^$S persist seeded\$" ;;
        B) echo "^$S persist ok\$" ;;
        C) echo "^$S persist skipped \\(volatile\\)\$" ;;
    esac
    echo "^$S done\$"
    echo '^init: selftest exit 0$'
    if [[ $mode == qemu ]]; then echo '^init: power off \(exit 0\)$'; fi
}

# Check a log against the ordered list; print problems; 0 if all good.
# $1: kind, $2: log.
check_log() {
    local kind=$1 log=$2 clean ok=0 at=0 n re d
    clean=$(mktemp)
    tr -d '\r' < "$log" > "$clean"
    while IFS= read -r re; do
        n=$(awk -v re="$re" -v from="$at" 'NR > from && $0 ~ re { print NR; exit }' "$clean")
        if [[ -z $n ]]; then
            if grep -Eq -- "$re" "$clean"; then
                printf '  out of order: %s\n' "$re"
            else
                printf '  missing: %s\n' "$re"
            fi
            ok=1
        else
            at=$n
        fi
    done < <(required "$kind")
    for d in "${daemons[@]}"; do
        if ! grep -Eq "^$d: ready" "$clean"; then
            printf '  missing: %s: ready\n' "$d"; ok=1
        fi
        if [[ $kind == C ]] && grep -E "^$d: ready" "$clean" | grep -vq '(volatile)'; then
            printf '  %s did not say volatile\n' "$d"; ok=1
        fi
        if [[ $kind != C ]] && grep -E "^$d: ready" "$clean" | grep -q '(volatile)'; then
            printf '  %s ran volatile on a durable boot\n' "$d"; ok=1
        fi
    done
    if grep -Eq '^[a-z-]+: ready.*\(INSECURE\)' "$clean"; then
        printf '  a daemon runs INSECURE\n'; ok=1
    fi
    if grep -Eq "^($S .* FAIL|init: FAIL|init: failed|init: boot failed)" "$clean"; then
        grep -E "^($S .* FAIL|init: FAIL|init: failed|init: boot failed)" "$clean" | sed 's/^/  /'
        ok=1
    fi
    if [[ $kind == C ]] && grep -Eq "^$S persist (seeded|ok)" "$clean"; then
        printf '  a volatile boot claimed persistence\n'; ok=1
    fi
    rm -f "$clean"
    return $ok
}


declare -A times=()
passed=0 failed=0
results=()

# One boot. $1: name (A1…), $2: kind, $3: disk image or state dir or ''.
boot() {
    local name=$1 kind=$2 where=$3 log=$out/$1.log pid t0 t1 to_all=missed verdict
    rm -f "$log" "$out/$name.stderr"
    : > "$log"
    t0=$(date +%s.%N)
    if [[ $mode == qemu ]]; then
        local disk_arg=()
        [[ -n $where ]] && disk_arg=(--disk "$where")
        "$here/qemu/boot.sh" --initrd "$out/nexus.cpio.gz" --log "$log" "${disk_arg[@]}" \
            --mem 512 --timeout "$timeout_s" \
            --append "-- --selftest --selftest-timeout $selftest_timeout" \
            >/dev/null 2>"$out/$name.stderr" &
    else
        local state_arg=(--volatile)
        [[ -n $where ]] && state_arg=(--state "$where")
        timeout -k 5 "$timeout_s" "$repo/target/debug/nexus-init" --selftest \
            --selftest-timeout "$selftest_timeout" "${state_arg[@]}" \
            >"$log" 2>"$out/$name.stderr" </dev/null &
    fi
    pid=$!
    # Poll often: with no disk, power-off follows the last marker within
    # milliseconds. Look at the log before asking whether the run is over.
    # Each required marker's arrival (host seconds since the start) goes
    # to NAME.times; the boot is complete when all have arrived.
    local res=() seen=() left i snap
    mapfile -t res < <(required "$kind")
    left=${#res[@]}
    snap=$(mktemp)
    : > "$out/$name.times"
    while :; do
        tr -d '\r' < "$log" > "$snap"
        for i in "${!res[@]}"; do
            [[ -z ${seen[i]:-} ]] || continue
            if grep -Eq -- "${res[i]}" "$snap"; then
                seen[i]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
                left=$((left - 1))
            fi
        done
        if ((left == 0)); then
            to_all=$(printf '%s\n' "${seen[@]}" | sort -n | tail -1)s
            break
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    rm -f "$snap"
    for i in "${!res[@]}"; do
        printf '%s\t%s\n' "${seen[i]:-missed}" "${res[i]}" >> "$out/$name.times"
    done
    if [[ $until_marker == 1 && $to_all != missed ]]; then
        # The markers are in; give the boot a bounded moment to finish
        # (QEMU: init syncs, unmounts /state and powers off), then end it:
        # TERM to the launcher and its direct children (timeout(1), which
        # passes it on to QEMU or nexus-init).
        for ((i = 0; i < 200; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
            printf 'qemu-test: %s: still running 10 s after its last marker; stopping it\n' "$name" >&2
            # shellcheck disable=SC2046
            kill -TERM $(pgrep -P "$pid") "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" || true
    if problems=$(check_log "$kind" "$log"); then
        verdict=pass; passed=$((passed + 1))
    else
        verdict=FAIL; failed=$((failed + 1))
        [[ $to_all == missed ]] && problems+=$'\n  (no complete marker set before the boot ended or timed out)'
    fi
    times[$kind]+="${to_all%s} "
    results+=("$(printf '%-3s %-4s all-markers=%s log=%s' "$name" "$verdict" "$to_all" "$log")")
    printf '%s\n' "${results[-1]}"
    [[ $verdict == pass ]] || printf '%s\n' "$problems"
}

for ((r = 1; r <= runs; r++)); do
    if [[ $mode == qemu ]]; then
        "$here/qemu/mkdisk.sh" --force "$out/state.img" 64M >/dev/null
        boot "A$r" A "$out/state.img"
        boot "B$r" B "$out/state.img"
        boot "C$r" C ''
    else
        state=$out/state
        rm -rf -- "$state"
        boot "A$r" A "$state"
        boot "B$r" B "$state"
        boot "C$r" C ''
    fi
done

if ((runs > 1)); then
    for k in A B C; do
        # shellcheck disable=SC2086
        med=$(printf '%s\n' ${times[$k]} | grep -v missed | sort -n |
              awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
        printf 'qemu-test: boot %s median to all markers: %ss (runs: %s)\n' "$k" "$med" "${times[$k]% }"
    done
fi
printf 'qemu-test: %d passed, %d failed (mode %s)\n' "$passed" "$failed" "$mode"
((failed == 0))
