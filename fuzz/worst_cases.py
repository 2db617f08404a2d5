#!/usr/bin/env python3
"""Write the worst-case inputs of each parser into the fuzz corpus.

Each file is the largest or most expensive shape of its kind that the
parser must refuse (or serve) in one pass over its bytes; the same shapes
are tests of their crates (named below). Run from anywhere:

    python3 fuzz/worst_cases.py

and commit what changed under fuzz/corpus/. The files are reproducible
byte for byte.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1 << 20


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def text(s):
    b = s.encode()
    assert len(b) < 24
    return bytes([0x60 | len(b)]) + b


def frame(body):
    return struct.pack(">I", len(body)) + body


# {v: 1, id: 7, op: "echo", args: <args bytes>}
ENVELOPE = bytes([0xA4]) + text("v") + b"\x01" + text("id") + b"\x07" + text("op") + text("echo") + text("args")


def wire_request():
    # wire tests: server/reject.rs test_reject_mebibyte_request_with_many_keys,
    # test_reject_more_arguments_than_the_cap; src/shape.rs.
    n = 116_000
    keys = b"".join(text("k%d" % i) + b"\x00" for i in range(n))
    many = ENVELOPE + b"\xba" + struct.pack(">I", n) + keys
    assert len(many) <= MIB
    # The attack as it arrives: one frame of 933 KB.
    write("wire_request", "worst-116000-argument-keys-framed", frame(many))
    # The same shapes, smaller (refused at the same item): an indefinite
    # map of 10,000 keys, and a flat array of one-byte items.
    few = b"".join(text("k%d" % i) + b"\x00" for i in range(10_000))
    write("wire_request", "worst-10000-argument-keys-indefinite", ENVELOPE + b"\xbf" + few + b"\xff")
    flat = ENVELOPE + b"\xa1" + text("x") + b"\x9a" + struct.pack(">I", 0x10000) + bytes(0x10000)
    write("wire_request", "worst-one-byte-item-flood", flat)
    write("wire_request", "worst-nesting", ENVELOPE + b"\xa1" + text("x") + b"\x81" * 4096 + b"\x00")
    write("wire_request", "worst-lying-lengths", ENVELOPE + b"\xa1" + text("x") + b"\x5a\xff\xff\xff\xff" + b"\x9b" + b"\xff" * 8)
    seventeen = b"".join(text("a%d" % i) + b"\x00" for i in range(17))
    write("wire_request", "worst-17-arguments", ENVELOPE + bytes([0xB1]) + seventeen)
    write("wire_request", "worst-oversize-prefix", b"\xff\xff\xff\xff")
    # handoff header: more than 4096 bytes, and item floods.
    write("wire_request", "worst-handoff-header-flood", b"\xa3" + b"\x9a\x00\x01\x00\x00" + bytes(0x10000))


def detcbor_check():
    # detcbor tests: tests/worst_case.rs.
    n = 65_600
    write("detcbor_check", "worst-one-byte-item-flood", b"\x9a" + struct.pack(">I", n) + bytes(n))
    write("detcbor_check", "worst-nesting", b"\x81" * 4095 + b"\x00")
    entries = b""
    for i in range(32_767):
        entries += (bytes([i]) if i < 24 else b"\x18" + bytes([i]) if i < 256 else b"\x19" + struct.pack(">H", i)) + b"\xf6"
    write("detcbor_check", "worst-largest-sorted-map", b"\xb9" + struct.pack(">H", 32_767) + entries)
    write("detcbor_check", "worst-lying-count", b"\x9b" + b"\xff" * 8 + b"\x00")


def eat_verify():
    # eat tests: tests/token/reject.rs test_reject_worst_case_tokens.
    max_token = 8192
    write("eat_verify", "worst-over-the-limit", bytes(max_token + 1))
    write("eat_verify", "worst-nesting", b"\xd2" + b"\x81" * (max_token - 2) + b"\x00")
    write("eat_verify", "worst-item-flood", b"\xd2\x99" + struct.pack(">H", max_token - 4) + bytes(max_token - 4))


MANIFEST_HEAD = 'format = 1\nkind = "bundle"\nname = "com.example.app"\nversion = "1.0.0"\nscope = "packages"\n'
HASH = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def trust_parsers():
    # trust tests: tests/it/worst_case.rs.
    out = [MANIFEST_HEAD]
    size, i = len(MANIFEST_HEAD), 0
    while size + 200 < MIB:
        t = '[[file]]\npath = "f%d"\nsize = 5\nsha256 = "%s"\n' % (i, HASH)
        out.append(t)
        size += len(t)
        i += 1
    write("trust_parsers", "worst-manifest-file-table-flood", "".join(out).encode())
    head = MANIFEST_HEAD + "x = "
    write("trust_parsers", "worst-manifest-nesting", (head + "[" * 65536).encode())
    files = []
    for i in range(4096):
        path = "/".join("d%dx%d" % (i, d) for d in range(8))
        files.append('[[file]]\npath = "%s"\nsize = 5\nsha256 = "%s"\n' % (path, HASH))
    write("trust_parsers", "worst-manifest-deepest-paths", (MANIFEST_HEAD + "".join(files)).encode())
    write("trust_parsers", "worst-root-nesting", ("x = " + "[" * (16 * 1024 - 4)).encode())
    write("trust_parsers", "worst-minisign-comment-lines", ("untrusted comment: x\n" * (16 * 1024 // 21)).encode())


def state_records():
    # policy tests: tests/it/reject.rs test_reject_worst_case_policy_files;
    # statefs: record.rs test_reject_malformed_records.
    write("state_records", "worst-policy-nested-arrays", ("version = 1\na = " + "[" * 65536).encode())
    write("state_records", "worst-policy-dotted-key", ("version = 1\n" + ".".join(["a"] * 32768) + " = 1").encode())
    out = ['version = 1\n[[subjects]]\nsubject = "system:admin"\ncapabilities = []\n']
    size, uid = len(out[0]), 0
    while size + 128 < MIB // 4:
        t = '[[uid_map]]\nuid = %d\nsubject = "system:admin"\n' % uid
        out.append(t)
        size += len(t)
        uid += 1
    write("state_records", "worst-policy-uid-map-flood", "".join(out).encode())
    # A record envelope whose length field claims 4 GiB.
    write("state_records", "worst-record-lying-length", b"FUZZ\x00\x01\xff\xff\xff\xff" + bytes(32))


def init_manifest():
    # nexus-init tests: tests/manifest.rs test_reject_oversized_manifests.
    def svc(name, extra=""):
        return '[[service]]\nname = "%s"\nsubject = "system:%s"\n%s\n' % (name, name, extra)

    chain = "".join(
        svc("s%d" % i, "after = [%s]" % ", ".join('"s%d"' % j for j in range(i))) for i in range(256)
    )
    write("init_manifest", "worst-256-entries-each-after-all-earlier", ("version = 1\n" + chain).encode())
    two = svc("a") + svc("b", 'after = ["a"]')
    routes = '[[route]]\nfrom = "b"\nto = "a"\n' * 1024
    write("init_manifest", "worst-1024-copies-of-one-route", ("version = 1\n" + two + routes).encode())
    many = "".join(svc("s%d" % i) for i in range(257))
    write("init_manifest", "worst-257-entries", ("version = 1\n" + many).encode())


if __name__ == "__main__":
    wire_request()
    detcbor_check()
    eat_verify()
    trust_parsers()
    state_records()
    init_manifest()
