#!/usr/bin/env bash
# Boot the kernel fetched by fetch.sh with an initramfs, under QEMU, and
# capture the serial console in a log file.
#
# Usage: scripts/qemu/boot.sh --initrd FILE --log FILE [options]
#   --disk IMAGE     attach IMAGE (raw ext4, see mkdisk.sh) as an NVMe disk;
#                    without it the guest has no state disk
#   --timeout SECS   hard limit for the whole run (default 120)
#   --mem MB         guest memory (default 256)
#   --smp N          guest CPUs (default 1; TCG with more threads takes
#                    host cores other builds need)
#   --append ARGS    extra kernel command-line arguments
#   --cpu MODEL      guest CPU model (default max; see the note on entropy)
#   --kvm            use KVM instead of software emulation (TCG)
#
# Exit status: QEMU's, or 124 if the timeout ended it. QEMU exits 0 even
# after a guest kernel panic, so a caller must judge the run by the markers
# in the log, never by this status. The last line printed is "log: FILE".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
CACHE=${NEXUS_QEMU_CACHE:-$repo/.cache/qemu}

die() { printf 'boot: error: %s\n' "$*" >&2; exit 2; }

initrd='' logfile='' disk='' timeout_s=120 mem=256 smp=1 append='' accel=tcg cpu=max
while (($#)); do
    case $1 in
        --initrd) initrd=${2:?}; shift 2 ;;
        --log) logfile=${2:?}; shift 2 ;;
        --disk) disk=${2:?}; shift 2 ;;
        --timeout) timeout_s=${2:?}; shift 2 ;;
        --mem) mem=${2:?}; shift 2 ;;
        --smp) smp=${2:?}; shift 2 ;;
        --append) append=${2:?}; shift 2 ;;
        --cpu) cpu=${2:?}; shift 2 ;;
        --kvm) accel=kvm; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done
[[ -n $initrd ]] || die "--initrd is required"
[[ -n $logfile ]] || die "--log is required"
[[ -f $initrd ]] || die "no such initramfs: $initrd"
[[ -z $disk || -f $disk ]] || die "no such disk image: $disk"

if [[ ! -f $CACHE/env.sh ]]; then
    "$here/fetch.sh" >&2
fi
# shellcheck source=/dev/null
. "$CACHE/env.sh"

# Data dirs: one -L per entry, searched in order (seabios first, see fetch.sh).
datadir_args=()
IFS=: read -r -a dirs <<< "$NEXUS_QEMU_DATADIRS"
for d in "${dirs[@]}"; do datadir_args+=(-L "$d"); done

disk_args=()
if [[ -n $disk ]]; then
    # NVMe is built into the kernel flavour used; virtio-blk is a module.
    disk_args=(-drive "file=$disk,if=none,id=st,format=raw"
               -device "nvme,serial=nexusstate,drive=st")
fi

# -cpu max gives the guest RDRAND/RDSEED, so its RNG is initialised by the
# time /init runs; without it getrandom(2) blocks for about a second.
# panic=-1 makes a kernel panic reboot at once, and -no-reboot turns that
# reboot into QEMU exiting, so a broken boot ends instead of hanging.
cmdline="console=ttyS0 panic=-1 ${append}"

mkdir -p -- "$(dirname -- "$logfile")"
: > "$logfile"

start=$(date +%s.%N)
status=0
LD_LIBRARY_PATH=$NEXUS_QEMU_LIBPATH QEMU_MODULE_DIR=$NEXUS_QEMU_MODDIR timeout -k 5 "$timeout_s" \
    "$NEXUS_QEMU_BIN" "${datadir_args[@]}" \
    -nodefaults -no-user-config -display none \
    -machine pc -accel "$accel" -cpu "$cpu" -smp "$smp" -m "$mem" \
    -kernel "$NEXUS_KERNEL" -initrd "$initrd" -append "$cmdline" \
    "${disk_args[@]}" \
    -serial "file:$logfile" -no-reboot \
    </dev/null || status=$?
end=$(date +%s.%N)

elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
if ((status == 124)); then
    printf 'boot: timed out after %ss (limit %ss)\n' "$elapsed" "$timeout_s" >&2
else
    printf 'boot: qemu exited %d after %ss\n' "$status" "$elapsed" >&2
fi
printf 'log: %s\n' "$logfile"
exit "$status"
