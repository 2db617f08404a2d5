#!/usr/bin/env bash
# Build the Nexus image's initramfs: nexus-init as /init, every daemon and
# the selftest app next to it, and the configuration it reads.
#
#   /init                 nexus-init (static)
#   /keymintd /keystored /identityd /attestd /bundlemgrd /updated
#   /selftest-client      static binaries, stripped
#   /config/init.toml     the manifest (config/init.toml)
#   /config/policy.toml   the policy (config/policy.toml)
#   /config/trust/        the system trust roots (config/trust/, pkg://trust/)
#
# Usage: scripts/qemu/image.sh [--out FILE]   (default .cache/qemu/image/nexus.cpio.gz)
# Prints the archive's path last. Builds with
#   RUSTFLAGS="-C target-feature=+crt-static" cargo build --release \
#       --target x86_64-unknown-linux-gnu --target-dir target/static -p … --bins
# (see docs/testing/qemu.md for why --target and the separate target dir).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$repo/.cache/qemu/image/nexus.cpio.gz
while (($#)); do
    case $1 in
        --out) out=${2:?}; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) printf 'image: unknown argument: %s\n' "$1" >&2; exit 2 ;;
    esac
done

daemons=(keymintd keystored identityd attestd bundlemgrd updated)
apps=(selftest-client)
triple=x86_64-unknown-linux-gnu
pkgs=()
for p in nexus-init "${daemons[@]}" "${apps[@]}"; do pkgs+=(-p "$p"); done

printf 'image: building static binaries (%s)\n' "${pkgs[*]}" >&2
(cd "$repo" && RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release \
    --target "$triple" --target-dir target/static "${pkgs[@]}" --bins)
bin=$repo/target/static/$triple/release

stage=$(mktemp -d "${TMPDIR:-/tmp}/nexus-image.XXXXXX")
trap 'rm -rf -- "$stage"' EXIT
mkdir -p "$stage/config"
for b in "${daemons[@]}" "${apps[@]}"; do
    [[ -f $bin/$b ]] || { printf 'image: error: %s was not built\n' "$bin/$b" >&2; exit 1; }
    install -m 0755 "$bin/$b" "$stage/$b"
done
install -m 0755 "$bin/nexus-init" "$stage/init"
# Symbols are not needed in the guest; stripping halves what the kernel
# has to decompress under emulation.
strip --strip-all "$stage/init" "${daemons[@]/#/$stage/}" "${apps[@]/#/$stage/}"
install -m 0644 "$repo/config/init.toml" "$stage/config/init.toml"
install -m 0644 "$repo/config/policy.toml" "$stage/config/policy.toml"
cp -a "$repo/config/trust" "$stage/config/trust"

mkdir -p "$(dirname "$out")"
"$here/mkinitramfs.py" -o "$out" --tree "$stage" >&2
printf 'image: %s (%s bytes)\n' "$out" "$(stat -c %s "$out")" >&2
printf '%s\n' "$out"
