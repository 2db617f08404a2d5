//! The run directory: where the public sockets live, and who may reach
//! them.
//!
//! The state directory is always private (0700). The run directory is
//! separate from it whenever anyone besides init's user may connect
//! (`[sockets]` in the manifest): it then gets the group and mode that let
//! exactly those callers through (`rwxr-x---` and the socket group for a
//! group, `rwxr-xr-x` when the sockets are open to every local user, who
//! is then admitted or refused by the policy's uid map), and each socket
//! file gets `[sockets] mode` and group.
//!
//! Invariants: the directory is a real directory (not a symlink) owned by
//! init's user; an existing directory shared with everyone (world-writable
//! or sticky, such as `/tmp`) is refused rather than changed; its mode and
//! group are set exactly on every start, so a directory widened by hand is
//! narrowed back.

use crate::error::InitError;
use crate::manifest::{SocketGroup, Sockets};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Where group names are looked up.
pub const GROUP_FILE: &str = "/etc/group";

/// The gid of `[sockets] group`: a number as given, a name looked up in
/// `group_file` (`/etc/group`; groups known only to other NSS sources
/// must be given by number).
pub fn resolve_group(group: &SocketGroup, group_file: &Path) -> Result<u32, InitError> {
    let name = match group {
        SocketGroup::Gid(g) => return Ok(*g),
        SocketGroup::Name(n) => n,
    };
    let text = fs::read_to_string(group_file).map_err(|source| InitError::Dir {
        path: group_file.to_path_buf(),
        source,
    })?;
    text.lines()
        .filter_map(|line| {
            let mut f = line.split(':');
            let (n, _pw, gid) = (f.next()?, f.next()?, f.next()?);
            (n == name).then(|| gid.parse::<u32>().ok()).flatten()
        })
        .next()
        .ok_or_else(|| InitError::UnknownGroup(name.clone()))
}

/// Create `dir` if missing (its missing parents world-traversable, as
/// `mkdir -p` makes them, so that the sockets can be reached through
/// them), check it, and give it the group `gid` (if any) and the mode
/// `sockets` calls for.
pub fn prepare(dir: &Path, sockets: &Sockets, gid: Option<u32>) -> Result<(), InitError> {
    let err = |source| InitError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                fs::create_dir_all(parent).map_err(err)?;
            }
            fs::DirBuilder::new().mode(0o700).create(dir).map_err(err)?;
        }
        Err(e) => return Err(err(e)),
        Ok(m) if m.file_type().is_dir() && m.mode() & 0o1002 != 0 => {
            return Err(InitError::SharedRunDir(dir.to_path_buf()))
        }
        Ok(_) => {}
    }
    let meta = fs::symlink_metadata(dir).map_err(err)?;
    if !meta.file_type().is_dir() {
        return Err(InitError::NotADirectory(dir.to_path_buf()));
    }
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(InitError::ForeignOwner(dir.to_path_buf()));
    }
    if let Some(gid) = gid.filter(|&g| g != meta.gid()) {
        std::os::unix::fs::lchown(dir, None, Some(gid)).map_err(err)?;
    }
    let mode = sockets.run_dir_mode();
    if meta.mode() & 0o7777 != mode {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(err)?;
    }
    Ok(())
}

/// The line that sets `NEXUS_RUN` in a POSIX shell (as `ssh-agent -s`
/// prints `SSH_AUTH_SOCK`), quoting the path when it needs it.
pub fn export_line(dir: &Path) -> String {
    let text = dir.to_string_lossy();
    let plain = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b'+' | b','));
    let value = if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    };
    format!("NEXUS_RUN={value}; export NEXUS_RUN;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{Coded, ErrorCode};

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn the_mode_follows_who_may_connect() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/run");
        let private = Sockets::default();
        prepare(&dir, &private, None).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(
            mode(&tmp.path().join("a/b")) & 0o055,
            0o055,
            "parents traversable"
        );
        let group = Sockets {
            mode: 0o660,
            group: Some(SocketGroup::Gid(0)),
        };
        prepare(&dir, &group, Some(rustix::process::getegid().as_raw())).unwrap();
        assert_eq!(mode(&dir), 0o750);
        let everyone = Sockets {
            mode: 0o666,
            group: None,
        };
        prepare(&dir, &everyone, None).unwrap();
        assert_eq!(mode(&dir), 0o755);
        prepare(&dir, &private, None).unwrap();
        assert_eq!(mode(&dir), 0o700, "narrowed back");
    }

    #[test]
    fn test_reject_shared_or_foreign_run_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = tmp.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let e = prepare(&shared, &Sockets::default(), None).unwrap_err();
        assert!(matches!(e, InitError::SharedRunDir(_)), "{e}");
        assert_eq!(e.code(), ErrorCode::Einval);
        assert_eq!(mode(&shared), 0o1777, "left alone");
        let file = tmp.path().join("file");
        fs::write(&file, b"").unwrap();
        let e = prepare(&file, &Sockets::default(), None).unwrap_err();
        assert!(matches!(e, InitError::NotADirectory(_)), "{e}");
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(tmp.path(), &link).unwrap();
        let e = prepare(&link, &Sockets::default(), None).unwrap_err();
        assert!(matches!(e, InitError::NotADirectory(_)), "{e}");
    }

    #[test]
    fn groups_resolve_by_number_or_from_the_group_file() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("group");
        fs::write(&f, "root:x:0:\nnexus-clients:x:997:alice,bob\nbroken\n").unwrap();
        let name = |n: &str| SocketGroup::Name(n.to_owned());
        assert_eq!(resolve_group(&name("nexus-clients"), &f).unwrap(), 997);
        assert_eq!(resolve_group(&SocketGroup::Gid(42), &f).unwrap(), 42);
        let e = resolve_group(&name("nexus"), &f).unwrap_err();
        assert!(matches!(e, InitError::UnknownGroup(_)), "{e}");
        assert_eq!(e.code(), ErrorCode::Einval);
    }

    #[test]
    fn the_export_line_is_shell_safe() {
        assert_eq!(
            export_line(Path::new("/run/nexus")),
            "NEXUS_RUN=/run/nexus; export NEXUS_RUN;"
        );
        assert_eq!(
            export_line(Path::new("/tmp/it's here")),
            r"NEXUS_RUN='/tmp/it'\''s here'; export NEXUS_RUN;"
        );
    }
}
