//! The largest shapes the trust parsers can be handed: a manifest file at
//! its size limit made of file tables or of nesting, the deepest paths in
//! the largest manifest, and root and signature files at their limits.
//! Each is refused or accepted; none costs more than a pass over its bytes
//! (the TOML parser is linear and caps its own nesting; the manifest's
//! checks go through sorted sets). In `trust::verify` a manifest is parsed
//! only after its signature verified under a trusted root. The same inputs
//! seed `fuzz/corpus/trust_parsers/` (`fuzz/worst_cases.py`).

use nexus_core::{Coded, ErrorCode};
use trust::minisign::{MinisignPublicKey, MinisignSignature};
use trust::{
    FieldError, Manifest, ManifestError, RootError, TrustRoot, MAX_FILES, MAX_MANIFEST_LEN,
    MAX_PATH_DEPTH, MAX_ROOT_FILE,
};

const HASH: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

fn head() -> String {
    "format = 1\nkind = \"bundle\"\nname = \"com.example.app\"\nversion = \"1.0.0\"\nscope = \"packages\"\n".into()
}

fn file(path: &str) -> String {
    format!("[[file]]\npath = \"{path}\"\nsize = 5\nsha256 = \"{HASH}\"\n")
}

#[test]
fn test_reject_a_manifest_of_too_many_file_tables() {
    let mut text = head();
    let mut i = 0;
    while text.len() + 200 < MAX_MANIFEST_LEN {
        text.push_str(&file(&format!("f{i}")));
        i += 1;
    }
    assert!(i > MAX_FILES);
    let e = Manifest::parse(text.as_bytes()).unwrap_err();
    assert_eq!(e, ManifestError::Bounds);
    assert_eq!(e.code(), ErrorCode::Einval);
}

#[test]
fn test_reject_a_manifest_of_nesting() {
    let mut text = head();
    text.push_str("x = ");
    text.push_str(&"[".repeat(MAX_MANIFEST_LEN - text.len()));
    assert_eq!(
        Manifest::parse(text.as_bytes()),
        Err(ManifestError::Field(FieldError::Syntax))
    );
    let mut text = head();
    let dotted = vec!["a"; (MAX_MANIFEST_LEN - text.len()) / 2 - 4].join(".");
    text.push_str(&dotted);
    text.push_str(" = 1\n");
    assert_eq!(
        Manifest::parse(text.as_bytes()),
        Err(ManifestError::Field(FieldError::Syntax))
    );
}

#[test]
fn the_largest_manifest_with_the_deepest_paths_is_accepted() {
    // MAX_FILES files, each MAX_PATH_DEPTH segments deep, all under
    // distinct directories: every prefix of every path is checked against
    // the set of files.
    let mut text = head();
    for i in 0..MAX_FILES {
        let segs: Vec<String> = (0..MAX_PATH_DEPTH).map(|d| format!("d{i}x{d}")).collect();
        text.push_str(&file(&segs.join("/")));
    }
    assert!(text.len() <= MAX_MANIFEST_LEN);
    let m = Manifest::parse(text.as_bytes()).unwrap();
    assert_eq!(m.files().len(), MAX_FILES);
    // The last file replaced by a directory of another file: a conflict.
    let mut conflict = head();
    for i in 0..MAX_FILES - 1 {
        let segs: Vec<String> = (0..MAX_PATH_DEPTH).map(|d| format!("d{i}x{d}")).collect();
        conflict.push_str(&file(&segs.join("/")));
    }
    let deepest: Vec<String> = (0..MAX_PATH_DEPTH)
        .map(|d| format!("d{}x{d}", MAX_FILES - 2))
        .collect();
    conflict.push_str(&file(&deepest[..MAX_PATH_DEPTH - 1].join("/")));
    assert!(matches!(
        Manifest::parse(conflict.as_bytes()),
        Err(ManifestError::PathConflict(_))
    ));
}

#[test]
fn test_reject_root_and_signature_files_at_their_limits() {
    let nested = format!("x = {}", "[".repeat(MAX_ROOT_FILE - 4));
    assert_eq!(nested.len(), MAX_ROOT_FILE);
    assert!(TrustRoot::parse(nested.as_bytes()).is_err());
    assert_eq!(
        TrustRoot::parse(&vec![b'#'; MAX_ROOT_FILE + 1]),
        Err(RootError::TooLarge)
    );
    let lines = "untrusted comment: x\n".repeat(trust::minisign::MAX_MINISIGN_FILE / 21);
    assert!(MinisignSignature::parse(lines.as_bytes()).is_err());
    assert!(MinisignPublicKey::parse(lines.as_bytes()).is_err());
    let over = vec![b'a'; trust::minisign::MAX_MINISIGN_FILE + 1];
    assert!(MinisignSignature::parse(&over).is_err());
}
