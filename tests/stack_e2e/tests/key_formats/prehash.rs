//! A 64 MiB file signed and verified prehashed through the real stack:
//! only its digest crosses the sockets; `minisign -V` verifies the
//! `.minisig`; one changed byte is refused by both.

use crate::harness::must;
use crate::{booted, nx_ok, nx_out, tool, tool_out};
use std::io::Write;
use std::time::Instant;

#[test]
fn prehashed_sign_and_verify_of_a_64_mib_file_through_the_stack() {
    let (stack, d) = booted();
    let d = d.as_path();
    nx_ok(&stack, d, &["key", "create", "release", "big"]);
    {
        let mut f = must(std::fs::File::create(d.join("big.bin")), "big.bin");
        let chunk: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
        for i in 0..64u8 {
            let mut c = chunk.clone();
            c[0] = i;
            must(f.write_all(&c), "write big.bin");
        }
    }
    assert_eq!(
        std::fs::metadata(d.join("big.bin")).unwrap().len(),
        64 << 20
    );

    // The plain form refuses it (EINVAL naming the limit, before anything
    // is sent), and says what to do.
    let out = nx_out(
        &stack,
        d,
        &["key", "sign", "release", "big", "--in", "big.bin"],
        b"",
    );
    assert_eq!(out.status.code(), Some(16));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--prehash"));

    let t = Instant::now();
    nx_ok(
        &stack,
        d,
        &[
            "key",
            "sign",
            "release",
            "big",
            "--prehash",
            "--in",
            "big.bin",
            "--out",
            "big.sig",
        ],
    );
    eprintln!("nx key sign --prehash of 64 MiB: {:?}", t.elapsed());
    assert_eq!(std::fs::metadata(d.join("big.sig")).unwrap().len(), 64);
    let t = Instant::now();
    nx_ok(
        &stack,
        d,
        &[
            "key",
            "verify",
            "release",
            "big",
            "--prehash",
            "--sig",
            "big.sig",
            "--in",
            "big.bin",
        ],
    );
    eprintln!("nx key verify --prehash of 64 MiB: {:?}", t.elapsed());

    // The minisign form: the stock tool verifies it with the exported key.
    nx_ok(
        &stack,
        d,
        &[
            "key",
            "sign",
            "release",
            "big",
            "--minisig",
            "--in",
            "big.bin",
            "--out",
            "big.bin.minisig",
            "--trusted-comment",
            "big.bin 64 MiB",
        ],
    );
    nx_ok(
        &stack,
        d,
        &[
            "key",
            "export-public",
            "release",
            "big",
            "--format",
            "minisign",
            "--out",
            "big.pub",
        ],
    );
    let out = tool(
        d,
        "minisign",
        &["-V", "-p", "big.pub", "-m", "big.bin"],
        b"",
    );
    assert!(String::from_utf8_lossy(&out).contains("Trusted comment: big.bin 64 MiB"));
    let out = nx_ok(
        &stack,
        d,
        &[
            "key",
            "verify",
            "release",
            "big",
            "--sig",
            "big.bin.minisig",
            "--in",
            "big.bin",
        ],
    );
    assert!(String::from_utf8_lossy(&out).contains("trusted comment: big.bin 64 MiB"));

    // One byte changed at the very end: refused by nx (EPERM) and minisign.
    {
        use std::os::unix::fs::FileExt;
        let f = must(
            std::fs::OpenOptions::new()
                .write(true)
                .open(d.join("big.bin")),
            "open big.bin",
        );
        must(f.write_at(&[0xff], (64 << 20) - 1), "change a byte");
    }
    for sig in ["big.sig", "big.bin.minisig"] {
        let mut args = vec![
            "key", "verify", "release", "big", "--sig", sig, "--in", "big.bin",
        ];
        if sig == "big.sig" {
            args.push("--prehash");
        }
        let out = nx_out(&stack, d, &args, b"");
        assert_eq!(out.status.code(), Some(10), "{sig}: EPERM");
    }
    let out = tool_out(d, "minisign", &["-V", "-p", "big.pub", "-m", "big.bin"]);
    assert!(!out.status.success());
}
