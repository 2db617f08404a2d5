#!/usr/bin/env bash
# Fetch a Debian kernel and QEMU (x86_64 system emulator) into a local cache,
# without installing QEMU system-wide.
#
# Why not `apt-get install qemu-system-x86`: on these machines the preinstalled
# qemu-utils comes from a newer release, and installing the distribution's
# qemu-system-x86 would replace or remove it. So the packages are downloaded
# with `apt-get download` and unpacked with `dpkg -x` into the cache; the
# shared libraries the emulator needs that the host lacks are unpacked there
# too, and boot.sh runs it with LD_LIBRARY_PATH and -L pointing into the cache.
#
# Idempotent: packages already downloaded and unpacked are not fetched again.
# At the end it writes "$CACHE/env.sh" (sourced by boot.sh) and prints what
# it resolved.
#
# Usage: scripts/qemu/fetch.sh [--update]
#   --update   run `apt-get update` even if the package lists look usable
# Environment: NEXUS_QEMU_CACHE (default: <repo>/.cache/qemu)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
CACHE=${NEXUS_QEMU_CACHE:-$repo/.cache/qemu}
DEBS=$CACHE/debs
ROOT=$CACHE/root
STAMPS=$CACHE/stamps

# The kernel flavour: small, with ext4, NVMe and the 8250 serial console
# built in (virtio-blk is only a module there, hence NVMe for /state).
KERNEL_META=linux-image-cloud-amd64
QEMU_PKG=qemu-system-x86
# Firmware and option ROMs: SeaBIOS, the linuxboot ROM used by -kernel, and
# the keymaps/data dir QEMU expects. ipxe-qemu is not needed (boot.sh attaches
# no network card). qemu-system-common carries the loadable modules, among
# them accel-tcg-x86_64.so: Debian builds TCG as a module, and without it
# QEMU stops with "could not load module for type 'tcg-accel-ops'". Its own
# dependencies (GUI, audio, spice) serve other modules and are not fetched.
DATA_PKGS=(seabios qemu-system-data qemu-system-common)
TCG_MODULE=accel-tcg-x86_64.so

want_update=0
[[ ${1:-} == --update ]] && want_update=1

log() { printf 'fetch: %s\n' "$*" >&2; }
die() { printf 'fetch: error: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (apt-get update/download)"
command -v apt-get >/dev/null || die "apt-get not found: this script needs a Debian host"
mkdir -p "$DEBS" "$ROOT" "$STAMPS"

apt_update() { log "apt-get update"; apt-get update -qq >&2; }

candidate() { # print the candidate version of $1, or nothing
    apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'
}

print_env() {
    # shellcheck source=/dev/null
    . "$CACHE/env.sh"
    printf 'kernel:  %s (%s)\n' "$NEXUS_KERNEL" "$NEXUS_KERNEL_PKG"
    printf 'qemu:    %s (%s)\n' "$NEXUS_QEMU_BIN" "$NEXUS_QEMU_VERSION"
    printf 'libs:    %s\n' "$NEXUS_QEMU_LIBPATH"
    printf 'modules: %s\n' "$NEXUS_QEMU_MODDIR"
    printf 'data:    %s\n' "$NEXUS_QEMU_DATADIRS"
    printf 'env:     %s\n' "$CACHE/env.sh"
}

# Fast path: a complete earlier run (apt-cache is slow, ~2 s a call). Checked
# by what it produced, so a half-finished run is redone.
if (( ! want_update )) && [[ -f $CACHE/env.sh ]] && (
    . "$CACHE/env.sh"
    [[ -f $NEXUS_KERNEL && -x $NEXUS_QEMU_BIN && -f $NEXUS_QEMU_MODDIR/$TCG_MODULE ]] &&
        ! LD_LIBRARY_PATH=$NEXUS_QEMU_LIBPATH ldd "$NEXUS_QEMU_BIN" \
            "$NEXUS_QEMU_MODDIR/$TCG_MODULE" | grep -q 'not found'
); then
    log "cache complete (use --update to re-resolve)"
    print_env
    exit 0
fi

if (( want_update )) || [[ -z $(candidate "$KERNEL_META") ]] || [[ -z $(candidate "$QEMU_PKG") ]]; then
    apt_update
fi
[[ -n $(candidate "$KERNEL_META") ]] || die "no candidate for $KERNEL_META after apt-get update"
[[ -n $(candidate "$QEMU_PKG") ]] || die "no candidate for $QEMU_PKG after apt-get update"

host_has() { # true if package $1 is installed on the host
    [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) == ii* ]]
}

# Download (if needed) and unpack (if needed) one package into $ROOT.
fetch_pkg() {
    local pkg=$1 ver deb stamp
    ver=$(candidate "$pkg")
    [[ -n $ver ]] || die "no candidate version for $pkg"
    stamp=$STAMPS/$pkg=${ver//:/%3a}
    if [[ -e $stamp ]]; then
        return 0
    fi
    deb=$(find "$DEBS" -maxdepth 1 -name "${pkg}_*.deb" 2>/dev/null |
        while read -r f; do
            [[ $(dpkg-deb -f "$f" Version) == "$ver" ]] && printf '%s\n' "$f"
        done | head -n1)
    if [[ -z $deb ]]; then
        log "download $pkg=$ver"
        # Retry once after refreshing the lists: mirrors drop superseded files.
        if ! (cd "$DEBS" && apt-get download -qq -o APT::Sandbox::User=root "$pkg=$ver" >&2); then
            apt_update
            ver=$(candidate "$pkg")
            stamp=$STAMPS/$pkg=${ver//:/%3a}
            (cd "$DEBS" && apt-get download -qq -o APT::Sandbox::User=root "$pkg=$ver" >&2) ||
                die "apt-get download $pkg=$ver failed"
        fi
        deb=$(ls -t "$DEBS"/"${pkg}"_*.deb | head -n1)
    fi
    log "unpack $(basename "$deb")"
    dpkg -x "$deb" "$ROOT"
    touch "$stamp"
}

# Direct "Depends:" of a package (real package names only; alternatives and
# virtual packages, shown as <name>, are skipped).
depends_of() {
    apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances "$1" 2>/dev/null |
        awk '$1 == "Depends:" && $2 !~ /^</ { print $2 }'
}

# --- kernel -----------------------------------------------------------------
kernel_pkg=$(depends_of "$KERNEL_META" | grep -E '^linux-image-' | head -n1)
[[ -n $kernel_pkg ]] || die "could not resolve $KERNEL_META to a kernel package"
fetch_pkg "$kernel_pkg"
kver=${kernel_pkg#linux-image-}
kernel=$ROOT/boot/vmlinuz-$kver
[[ -f $kernel ]] || die "kernel image missing after unpack: $kernel"

# --- QEMU and what it needs that the host lacks ------------------------------
fetch_pkg "$QEMU_PKG"
for p in "${DATA_PKGS[@]}"; do fetch_pkg "$p"; done

# Shared libraries: walk the library dependencies (lib* packages only; the
# emulator binary does not need qemu-system-common or GUI modules) and unpack
# those the host does not have.
declare -A seen=()
queue=()
while read -r d; do [[ $d == lib* ]] && queue+=("$d"); done < <(depends_of "$QEMU_PKG")
while ((${#queue[@]})); do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    [[ -n ${seen[$p]:-} ]] && continue
    seen[$p]=1
    host_has "$p" && continue
    fetch_pkg "$p"
    while read -r d; do [[ $d == lib* ]] && queue+=("$d"); done < <(depends_of "$p")
done

qemu_bin=$ROOT/usr/bin/qemu-system-x86_64
[[ -x $qemu_bin ]] || die "qemu binary missing after unpack: $qemu_bin"
libpath=$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/lib/x86_64-linux-gnu
# Firmware: qemu-system-data's /usr/share/qemu holds absolute symlinks into
# /usr/share/seabios, which do not exist on the host, so the seabios dir is
# given to QEMU as a data dir of its own, searched first.
datadirs=$ROOT/usr/share/seabios:$ROOT/usr/share/qemu

moddir=$ROOT/usr/lib/x86_64-linux-gnu/qemu
[[ -f $moddir/$TCG_MODULE ]] || die "TCG module missing after unpack: $moddir/$TCG_MODULE"
missing=$(LD_LIBRARY_PATH=$libpath ldd "$qemu_bin" "$moddir/$TCG_MODULE" |
    awk '/not found/ { print $1 }' | sort -u)
[[ -z $missing ]] || die "shared libraries still missing for QEMU: $(echo $missing)"
qemu_version=$(LD_LIBRARY_PATH=$libpath "$qemu_bin" --version | head -n1)

cat > "$CACHE/env.sh.tmp" <<ENV
# Written by scripts/qemu/fetch.sh; sourced by scripts/qemu/boot.sh.
NEXUS_KERNEL='$kernel'
NEXUS_KERNEL_PKG='$kernel_pkg=$(candidate "$kernel_pkg")'
NEXUS_QEMU_BIN='$qemu_bin'
NEXUS_QEMU_VERSION='$qemu_version'
NEXUS_QEMU_LIBPATH='$libpath'
NEXUS_QEMU_MODDIR='$moddir'
NEXUS_QEMU_DATADIRS='$datadirs'
ENV
mv "$CACHE/env.sh.tmp" "$CACHE/env.sh"
print_env
