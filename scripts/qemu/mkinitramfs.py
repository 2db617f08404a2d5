#!/usr/bin/env python3
"""Build a Linux initramfs (newc cpio, optionally gzip) for the Nexus image.

Written in Python (standard library only) rather than with cpio(1) because:
- it needs no extra package on a fresh machine;
- it can put the /dev/console and /dev/null device nodes in the archive
  without root (mknod) — the kernel opens /dev/console for /init's fds
  0/1/2 *before* /init runs, and Rust's runtime aborts at start-up if fds
  0..2 are closed and /dev/null cannot be opened;
- the output is reproducible: sorted entries, uid/gid 0, fixed mtime
  (SOURCE_DATE_EPOCH or 0), sequential inode numbers.

The archive always holds the directories /dev /proc /sys /state /tmp /run
and the nodes /dev/console (c 5,1) and /dev/null (c 1,3); /init and every
other executable ELF added must be statically linked (there is no libc in
the image), unless --allow-dynamic.

Usage:
  mkinitramfs.py -o OUT [--init BIN] [--add SRC:DEST[:MODE]]... [--tree DIR]...
  mkinitramfs.py --list ARCHIVE      # print mode, size and name of each entry
OUT ending in .gz is gzip-compressed (the kernel config has RD_GZIP=y).
"""

import argparse
import gzip
import os
import stat
import struct
import sys

DIRS = ["dev", "proc", "sys", "state", "tmp", "run"]
NODES = [("dev/console", stat.S_IFCHR | 0o600, 5, 1), ("dev/null", stat.S_IFCHR | 0o666, 1, 3)]
NEWC_MAGIC = b"070701"
PT_INTERP = 3


def fail(msg):
    print(f"mkinitramfs: error: {msg}", file=sys.stderr)
    sys.exit(1)


def elf_is_dynamic(data):
    """True if `data` is an ELF64 little-endian file with a PT_INTERP header."""
    if data[:4] != b"\x7fELF" or len(data) < 64 or data[4] != 2 or data[5] != 1:
        return False
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 4 > len(data):
            return False
        p_type, = struct.unpack_from("<I", data, off)
        if p_type == PT_INTERP:
            return True
    return False


class Archive:
    def __init__(self, mtime):
        self.entries = {}  # name -> (mode, data, rdev_major, rdev_minor)
        self.mtime = mtime

    def add_dir(self, name, mode=0o755):
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            self.entries.setdefault("/".join(parts[:i]), (stat.S_IFDIR | mode, b"", 0, 0))

    def add(self, name, mode, data=b"", rmaj=0, rmin=0):
        name = name.strip("/")
        if not name or ".." in name.split("/"):
            fail(f"bad archive path: {name!r}")
        if "/" in name:
            self.add_dir(name.rsplit("/", 1)[0])
        self.entries[name] = (mode, data, rmaj, rmin)

    def add_file(self, src, dest, mode=None, allow_dynamic=False):
        try:
            with open(src, "rb") as f:
                data = f.read()
            st = os.stat(src)
        except OSError as e:
            fail(f"cannot read {src}: {e}")
        perm = mode if mode is not None else stat.S_IMODE(st.st_mode)
        if perm & 0o111 and elf_is_dynamic(data) and not allow_dynamic:
            fail(f"{src} is dynamically linked; the image has no libc (build with crt-static)")
        self.add(dest, stat.S_IFREG | perm, data)

    def add_tree(self, root, allow_dynamic=False):
        if not os.path.isdir(root):
            fail(f"not a directory: {root}")
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            if rel != ".":
                self.add_dir(rel, stat.S_IMODE(os.stat(dirpath).st_mode))
            for fn in filenames:
                src = os.path.join(dirpath, fn)
                dest = fn if rel == "." else f"{rel}/{fn}"
                if os.path.islink(src):
                    self.add(dest, stat.S_IFLNK | 0o777, os.readlink(src).encode())
                else:
                    self.add_file(src, dest, allow_dynamic=allow_dynamic)

    def encode(self):
        out = bytearray()
        names = sorted(self.entries) + ["TRAILER!!!"]
        for ino, name in enumerate(names, start=1):
            if name == "TRAILER!!!":
                mode, data, rmaj, rmin, ino = 0, b"", 0, 0, 0
            else:
                mode, data, rmaj, rmin = self.entries[name]
            nlink = 2 if stat.S_ISDIR(mode) else 1
            fields = [ino, mode, 0, 0, nlink, self.mtime if name != "TRAILER!!!" else 0,
                      len(data), 0, 0, rmaj, rmin, len(name) + 1, 0]
            out += NEWC_MAGIC + b"".join(b"%08X" % v for v in fields)
            out += name.encode() + b"\0"
            out += b"\0" * (-len(out) % 4)
            out += data
            out += b"\0" * (-len(out) % 4)
        return bytes(out)


def list_archive(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    pos = 0
    while True:
        if raw[pos:pos + 6] != NEWC_MAGIC:
            fail(f"bad newc magic at offset {pos}")
        fields = [int(raw[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, rmaj, rmin, namesize = fields[1], fields[6], fields[9], fields[10], fields[11]
        pos += 110
        name = raw[pos:pos + namesize - 1].decode()
        pos += namesize
        pos += -pos % 4
        if name == "TRAILER!!!":
            return
        extra = f" ({rmaj},{rmin})" if stat.S_ISCHR(mode) else ""
        print(f"{stat.filemode(mode)} {size:>10} /{name}{extra}")
        pos += size
        pos += -pos % 4


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output")
    ap.add_argument("--init", help="executable to install as /init")
    ap.add_argument("--add", action="append", default=[], metavar="SRC:DEST[:MODE]",
                    help="add one file at DEST (octal MODE optional)")
    ap.add_argument("--tree", action="append", default=[], metavar="DIR",
                    help="add a staging directory's contents at the archive root")
    ap.add_argument("--allow-dynamic", action="store_true")
    ap.add_argument("--list", metavar="ARCHIVE", help="list an archive and exit")
    args = ap.parse_args()

    if args.list:
        list_archive(args.list)
        return
    if not args.output:
        fail("-o OUT is required")

    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    ar = Archive(mtime)
    for d in DIRS:
        ar.add_dir(d)
    for name, mode, rmaj, rmin in NODES:
        ar.add(name, mode, b"", rmaj, rmin)
    for tree in args.tree:
        ar.add_tree(tree, args.allow_dynamic)
    for spec in args.add:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            fail(f"--add wants SRC:DEST[:MODE], got {spec!r}")
        mode = int(parts[2], 8) if len(parts) == 3 else None
        ar.add_file(parts[0], parts[1], mode, args.allow_dynamic)
    if args.init:
        ar.add_file(args.init, "init", 0o755, args.allow_dynamic)
    if "init" not in ar.entries:
        fail("the archive has no /init (use --init or put init in a --tree)")

    data = ar.encode()
    if args.output.endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.output)
    print(f"mkinitramfs: wrote {args.output} ({len(data)} bytes, {len(ar.entries)} entries)")


if __name__ == "__main__":
    main()
