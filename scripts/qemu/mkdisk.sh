#!/usr/bin/env bash
# Make a fresh, empty ext4 image for the guest's /state disk.
#
# Usage: scripts/qemu/mkdisk.sh [--force] IMAGE [SIZE]
#   SIZE     as truncate(1) takes it (default 64M); the file is sparse
#   --force  replace IMAGE if it exists (otherwise refuse: it may hold
#            state from earlier boots)
# The file system is labelled nexus-state; boot.sh attaches it as NVMe.
set -euo pipefail

log() { printf 'mkdisk: %s\n' "$*" >&2; }
die() { printf 'mkdisk: error: %s\n' "$*" >&2; exit 1; }

force=0
if [[ ${1:-} == --force ]]; then force=1; shift; fi
[[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 [--force] IMAGE [SIZE]"
image=$1
size=${2:-64M}

if ! command -v mkfs.ext4 >/dev/null; then
    [[ $(id -u) -eq 0 ]] || die "mkfs.ext4 missing; install e2fsprogs"
    log "installing e2fsprogs"
    apt-get install -y -qq e2fsprogs >&2
fi

if [[ -e $image ]]; then
    (( force )) || die "$image exists (use --force to replace it)"
    rm -f -- "$image"
fi
mkdir -p -- "$(dirname -- "$image")"
truncate -s "$size" -- "$image"
# -F: it is a regular file, not a block device. The default feature set of
# e2fsprogs 1.47 (orphan_file, metadata_csum) is supported by the 6.1 kernel.
mkfs.ext4 -F -q -L nexus-state -- "$image"
log "made ext4 image $image ($size)"
printf '%s\n' "$image"
