#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Manifest parsing, validation and start order, including the shipped
//! config/init.toml.

use nexus_core::{Coded, ErrorCode};
use nexus_init::{Kind, Manifest, ManifestError};
use std::path::Path;
use std::time::Duration;

fn reject(text: &str) -> ManifestError {
    let e = Manifest::parse(text).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval, "{e}");
    e
}

fn svc(name: &str, extra: &str) -> String {
    format!("[[service]]\nname = \"{name}\"\nsubject = \"system:{name}\"\n{extra}\n")
}

#[test]
fn shipped_manifest_describes_the_stack() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../config/init.toml");
    let m = Manifest::load(&path).unwrap();
    assert_eq!(
        m.start_order_names(),
        [
            "keymintd",
            "keystored",
            "identityd",
            "attestd",
            "bundlemgrd",
            "updated"
        ]
    );
    let app = m.index_of("selftest-client").unwrap();
    let app_svc = &m.services()[app];
    assert_eq!(app_svc.kind(), Kind::App);
    assert_eq!(app_svc.subject().to_string(), "system:selftest");
    let routes: Vec<(String, String)> = m
        .routes()
        .iter()
        .map(|r| {
            (
                m.services()[r.client].name().to_owned(),
                m.services()[r.server].name().to_owned(),
            )
        })
        .collect();
    for (from, to) in [
        ("keystored", "keymintd"),
        ("identityd", "keymintd"),
        ("identityd", "keystored"),
        ("attestd", "keystored"),
        ("attestd", "keymintd"),
        ("bundlemgrd", "keymintd"),
        ("updated", "keymintd"),
        ("selftest-client", "keystored"),
        ("selftest-client", "identityd"),
        ("selftest-client", "attestd"),
        ("selftest-client", "bundlemgrd"),
        ("selftest-client", "updated"),
    ] {
        assert!(routes.contains(&(from.into(), to.into())), "{from} -> {to}");
    }
    assert_eq!(routes.len(), 12);
    // Lanes: keystored's calls to keymintd run four at once; identityd's
    // to keymintd and attestd's to keystored two; the others one.
    let lanes = |from: &str, to: &str| {
        let (c, s) = (m.index_of(from).unwrap(), m.index_of(to).unwrap());
        m.routes()
            .iter()
            .find(|r| r.client == c && r.server == s)
            .unwrap()
            .lanes
    };
    assert_eq!(lanes("keystored", "keymintd"), 4);
    assert_eq!(lanes("identityd", "keymintd"), 2);
    assert_eq!(lanes("attestd", "keystored"), 2);
    assert_eq!(lanes("bundlemgrd", "keymintd"), 1);
    let total: u32 = m.routes().iter().map(|r| u32::from(r.lanes)).sum();
    assert_eq!(total, 12 + 3 + 1 + 1);
    let keymintd = &m.services()[m.index_of("keymintd").unwrap()];
    assert!(!keymintd.public_socket());
    assert!(keymintd.restart());
    assert_eq!(keymintd.ready_marker(), "keymintd: ready");
    // Core daemons, never given up after boot: the two others call, and
    // identityd (sessions, the vault) by its own `core = true`.
    let core: Vec<&str> = m
        .services()
        .iter()
        .filter(|s| s.core())
        .map(|s| s.name())
        .collect();
    assert_eq!(core, ["keymintd", "keystored", "identityd"]);
}

#[test]
fn core_defaults_to_being_called_by_a_daemon() {
    let text = format!(
        "version = 1\n{}{}{}{}[[route]]\nfrom = \"b\"\nto = \"a\"\n[[route]]\nfrom = \"app\"\nto = \"c\"\n",
        svc("a", ""),
        svc("b", "after = [\"a\"]"),
        svc("c", ""),
        "[[service]]\nname = \"app\"\nkind = \"app\"\nsubject = \"system:app\"\n",
    );
    let m = Manifest::parse(&text).unwrap();
    let core = |n: &str| m.services()[m.index_of(n).unwrap()].core();
    // a: a daemon calls it. c: only an app does. b: nobody.
    assert!(core("a") && !core("b") && !core("c") && !core("app"));
    // Explicit values win both ways.
    let text = text
        .replace("name = \"a\"\n", "name = \"a\"\ncore = false\n")
        .replace("name = \"c\"\n", "name = \"c\"\ncore = true\n");
    let m = Manifest::parse(&text).unwrap();
    let core = |n: &str| m.services()[m.index_of(n).unwrap()].core();
    assert!(!core("a") && core("c"));
}

#[test]
fn test_reject_oversized_manifests() {
    let many: String = (0..257).map(|i| svc(&format!("s{i}"), "")).collect();
    assert!(matches!(
        reject(&format!("version = 1\n{many}")),
        ManifestError::TooLarge(_)
    ));
    let two = format!("{}{}", svc("a", ""), svc("b", "after = [\"a\"]"));
    let routes: String = (0..1025)
        .map(|_| "[[route]]\nfrom = \"b\"\nto = \"a\"\n")
        .collect();
    assert!(matches!(
        reject(&format!("version = 1\n{two}{routes}")),
        ManifestError::TooLarge(_)
    ));
    // 1024 copies of one route: the duplicate is found (by a set, not by
    // comparing each with every earlier one).
    let routes: String = (0..1024)
        .map(|_| "[[route]]\nfrom = \"b\"\nto = \"a\"\n")
        .collect();
    assert!(matches!(
        reject(&format!("version = 1\n{two}{routes}")),
        ManifestError::DuplicateRoute { .. }
    ));
    // 256 entries, each after every earlier one: accepted, linear checks.
    let chain: String = (0..256)
        .map(|i| {
            let after: Vec<String> = (0..i).map(|j| format!("\"s{j}\"")).collect();
            svc(&format!("s{i}"), &format!("after = [{}]", after.join(", ")))
        })
        .collect();
    let m = Manifest::parse(&format!("version = 1\n{chain}")).unwrap();
    assert_eq!(m.start_order().len(), 256);
    let big = format!("version = 1\n# {}\n", "x".repeat(1 << 20));
    assert!(matches!(reject(&big), ManifestError::TooLarge(_)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("init.toml");
    std::fs::write(&path, &big).unwrap();
    assert!(matches!(
        Manifest::load(&path).unwrap_err(),
        ManifestError::TooLarge(_)
    ));
}

#[test]
fn test_reject_the_names_init_keeps() {
    for name in ["serve", "init"] {
        assert!(matches!(
            reject(&format!("version = 1\n{}", svc(name, ""))),
            ManifestError::ReservedName(_)
        ));
    }
}

#[test]
fn defaults_and_explicit_values() {
    let text = format!(
        "version = 1\n{}{}",
        svc("a", ""),
        svc(
            "b",
            "binary = \"/opt/b\"\nafter = [\"a\"]\npublic_socket = true\nargs = [\"--x\"]\n\
             ready_marker = \"B is ready\"\nrestart = false\nready_timeout_secs = 7"
        )
    );
    let m = Manifest::parse(&text).unwrap();
    let a = &m.services()[0];
    assert_eq!(a.binary(), Path::new("a"));
    assert_eq!(a.kind(), Kind::Daemon);
    assert!(a.restart() && !a.public_socket() && a.args().is_empty());
    assert_eq!(a.ready_timeout(), Duration::from_secs(30));
    let b = &m.services()[1];
    assert_eq!(b.binary(), Path::new("/opt/b"));
    assert_eq!(b.after(), &[0]);
    assert!(!b.restart() && b.public_socket());
    assert_eq!(b.args(), ["--x"]);
    assert_eq!(b.ready_timeout(), Duration::from_secs(7));
    assert!(b.is_ready_line(b"B is ready"));
    assert_eq!(m.restart_policy(), nexus_init::RestartPolicy::default());
}

#[test]
fn ready_line_accepts_mode_suffixes_only() {
    let m = Manifest::parse(&format!("version = 1\n{}", svc("keystored", ""))).unwrap();
    let s = &m.services()[0];
    assert!(s.is_ready_line(b"keystored: ready"));
    assert!(s.is_ready_line(b"keystored: ready (volatile)"));
    assert!(s.is_ready_line(b"keystored: ready (INSECURE)"));
    assert!(s.is_ready_line(b"keystored: ready (volatile) (INSECURE)"));
    assert!(!s.is_ready_line(b"keystored: ready soon"));
    assert!(!s.is_ready_line(b"keystored: readyx"));
    assert!(!s.is_ready_line(b"keystored: not ready"));
    assert!(!s.is_ready_line(b" keystored: ready"));
    assert!(!s.is_ready_line(b"keystore: ready"));
}

#[test]
fn start_order_follows_dependencies_then_file_order() {
    let text = format!(
        "version = 1\n{}{}{}{}",
        svc("d", "after = [\"c\", \"b\"]"),
        svc("c", "after = [\"a\"]"),
        svc("b", ""),
        svc("a", "")
    );
    let m = Manifest::parse(&text).unwrap();
    // b and a have no dependencies: b comes first in the file. c needs a;
    // d needs both c and b.
    assert_eq!(m.start_order_names(), ["b", "a", "c", "d"]);
}

#[test]
fn apps_are_not_in_the_start_order() {
    let text = format!(
        "version = 1\n{}[[service]]\nname = \"app1\"\nkind = \"app\"\nsubject = \"app:com.example.one\"\nafter = [\"a\"]\n\
         [[route]]\nfrom = \"app1\"\nto = \"a\"\n",
        svc("a", "")
    );
    let m = Manifest::parse(&text).unwrap();
    assert_eq!(m.start_order_names(), ["a"]);
    assert_eq!(m.services()[1].kind(), Kind::App);
    assert!(!m.services()[1].restart());
}

#[test]
fn restart_table_overrides_defaults() {
    let text = "version = 1\n[restart]\ninitial_ms = 10\nmax_ms = 40\nmax_per_minute = 2\n";
    let p = Manifest::parse(text).unwrap().restart_policy();
    assert_eq!(p.initial, Duration::from_millis(10));
    assert_eq!(p.max, Duration::from_millis(40));
    assert_eq!(p.max_per_window, 2);
}

#[test]
fn test_reject_malformed_toml() {
    for text in [
        "version = ",
        "version = 1\n[[service]]\nname = \"a\"",
        "version = \"1\"",
        "version = 1\n[[service]]\nname = 5\nsubject = \"system:a\"",
        "version = 1\n[[service]]\nname = \"a\"\nsubject = \"system:a\"\nafter = \"b\"",
        "",
    ] {
        assert!(matches!(reject(text), ManifestError::Syntax(_)), "{text:?}");
    }
}

#[test]
fn test_reject_unknown_keys() {
    for text in [
        "version = 1\nservices = []",
        &format!("version = 1\n{}", svc("a", "restart_delay = 5")),
        "version = 1\n[[route]]\nfrom = \"a\"\nto = \"b\"\nvia = \"c\"",
        "version = 1\n[restart]\nforever = true",
        &format!("version = 1\n{}", svc("a", "kind = \"service\"")),
    ] {
        assert!(matches!(reject(text), ManifestError::Syntax(_)), "{text:?}");
    }
}

#[test]
fn test_reject_unsupported_version() {
    assert!(matches!(
        reject("version = 2"),
        ManifestError::UnsupportedVersion(2)
    ));
    assert!(matches!(
        reject("version = 0"),
        ManifestError::UnsupportedVersion(0)
    ));
}

#[test]
fn test_reject_bad_names() {
    for name in ["", "-a", ".hidden", "a/b", "a b", &"x".repeat(65)] {
        let text = format!("version = 1\n[[service]]\nname = {name:?}\nsubject = \"system:x\"\n");
        assert!(
            matches!(reject(&text), ManifestError::BadName(_)),
            "{name:?}"
        );
    }
    let text = "version = 1\n[[service]]\nname = \"serve\"\nsubject = \"system:serve\"\n";
    assert!(matches!(reject(text), ManifestError::ReservedName(_)));
}

#[test]
fn test_reject_duplicate_name() {
    let text = format!(
        "version = 1\n{}[[service]]\nname = \"a\"\nsubject = \"system:other\"\n",
        svc("a", "")
    );
    assert!(matches!(reject(&text), ManifestError::DuplicateName(n) if n == "a"));
}

#[test]
fn test_reject_bad_and_duplicate_subjects() {
    for subject in ["keystored", "system:", "root:x", "uid:abc", "app:"] {
        let text = format!("version = 1\n[[service]]\nname = \"a\"\nsubject = {subject:?}\n");
        assert!(
            matches!(reject(&text), ManifestError::BadSubject { .. }),
            "{subject:?}"
        );
    }
    let text = format!(
        "version = 1\n{}[[service]]\nname = \"b\"\nsubject = \"system:a\"\n",
        svc("a", "")
    );
    assert!(matches!(reject(&text), ManifestError::DuplicateSubject(s) if s == "system:a"));
}

#[test]
fn test_reject_unknown_dependency() {
    let text = format!("version = 1\n{}", svc("a", "after = [\"ghost\"]"));
    assert!(matches!(
        reject(&text),
        ManifestError::UnknownDependency { service, dependency } if service == "a" && dependency == "ghost"
    ));
}

#[test]
fn test_reject_dependency_on_app() {
    let text = format!(
        "version = 1\n{}[[service]]\nname = \"app1\"\nkind = \"app\"\nsubject = \"app:com.example.one\"\n",
        svc("a", "after = [\"app1\"]")
    );
    assert!(matches!(reject(&text), ManifestError::AfterApp { .. }));
}

#[test]
fn test_reject_cycles() {
    let text = format!("version = 1\n{}", svc("a", "after = [\"a\"]"));
    assert!(matches!(reject(&text), ManifestError::Cycle(c) if c == ["a", "a"]));

    let text = format!(
        "version = 1\n{}{}{}{}",
        svc("root", ""),
        svc("x", "after = [\"root\", \"z\"]"),
        svc("y", "after = [\"x\"]"),
        svc("z", "after = [\"y\"]")
    );
    match reject(&text) {
        ManifestError::Cycle(c) => {
            assert_eq!(c.len(), 4, "{c:?}");
            assert_eq!(c.first(), c.last());
            for n in ["x", "y", "z"] {
                assert!(c.iter().any(|m| m == n), "{c:?}");
            }
            assert!(!c.iter().any(|m| m == "root"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn test_reject_unknown_route_end() {
    let text = format!(
        "version = 1\n{}[[route]]\nfrom = \"a\"\nto = \"ghost\"\n",
        svc("a", "")
    );
    assert!(
        matches!(reject(&text), ManifestError::UnknownRouteEnd { missing, .. } if missing == "ghost")
    );
    let text = format!(
        "version = 1\n{}[[route]]\nfrom = \"ghost\"\nto = \"a\"\n",
        svc("a", "")
    );
    assert!(
        matches!(reject(&text), ManifestError::UnknownRouteEnd { missing, .. } if missing == "ghost")
    );
}

#[test]
fn test_reject_self_and_duplicate_routes() {
    let text = format!(
        "version = 1\n{}[[route]]\nfrom = \"a\"\nto = \"a\"\n",
        svc("a", "")
    );
    assert!(matches!(reject(&text), ManifestError::SelfRoute(_)));
    let text = format!(
        "version = 1\n{}{}[[route]]\nfrom = \"b\"\nto = \"a\"\n[[route]]\nfrom = \"b\"\nto = \"a\"\n",
        svc("a", ""),
        svc("b", "after = [\"a\"]")
    );
    assert!(matches!(
        reject(&text),
        ManifestError::DuplicateRoute { .. }
    ));
}

fn lanes_route(lanes: &str) -> String {
    format!(
        "version = 1\n{}{}[[route]]\nfrom = \"b\"\nto = \"a\"\n{lanes}",
        svc("a", ""),
        svc("b", "after = [\"a\"]")
    )
}

#[test]
fn route_lanes_default_to_one_and_go_up_to_the_cap() {
    let m = Manifest::parse(&lanes_route("")).unwrap();
    assert_eq!(m.routes()[0].lanes, 1);
    for n in [1, 3, nexus_init::MAX_LANES] {
        let m = Manifest::parse(&lanes_route(&format!("lanes = {n}\n"))).unwrap();
        assert_eq!(m.routes()[0].lanes, n);
    }
    assert_eq!(nexus_init::MAX_LANES, 8);
}

#[test]
fn test_reject_route_lanes_zero_or_over_the_cap() {
    for (n, text) in [
        (0u64, "lanes = 0\n"),
        (9, "lanes = 9\n"),
        (256, "lanes = 256\n"),
        (u64::from(u32::MAX) + 1, "lanes = 4294967296\n"),
    ] {
        let e = reject(&lanes_route(text));
        assert!(
            matches!(&e, ManifestError::BadLanes { from, to, lanes }
                if from == "b" && to == "a" && *lanes == n),
            "{text}: {e}"
        );
        assert!(e.to_string().contains("lanes must be 1..=8"), "{e}");
    }
}

#[test]
fn test_reject_malformed_route_lanes() {
    for text in [
        "lanes = -1\n",
        "lanes = \"4\"\n",
        "lanes = 2.5\n",
        "lanes = true\n",
        "lanes = [4]\n",
        "lanes = 99999999999999999999999\n",
        "lanes = 4\nlanes = 4\n",
    ] {
        assert!(
            matches!(reject(&lanes_route(text)), ManifestError::Syntax(_)),
            "{text}"
        );
    }
}

#[test]
fn test_reject_route_to_app() {
    let text = format!(
        "version = 1\n{}[[service]]\nname = \"app1\"\nkind = \"app\"\nsubject = \"app:com.example.one\"\n\
         [[route]]\nfrom = \"a\"\nto = \"app1\"\n",
        svc("a", "")
    );
    assert!(matches!(reject(&text), ManifestError::RouteToApp { .. }));
}

#[test]
fn test_reject_route_against_start_order() {
    // b calls a but nothing makes b start after a: b would wait forever
    // for an upstream that init has not started.
    let text = format!(
        "version = 1\n{}{}[[route]]\nfrom = \"b\"\nto = \"a\"\n",
        svc("b", ""),
        svc("a", "")
    );
    assert!(matches!(
        reject(&text),
        ManifestError::RouteAgainstOrder { .. }
    ));
    // Transitive order is enough.
    let text = format!(
        "version = 1\n{}{}{}[[route]]\nfrom = \"c\"\nto = \"a\"\n",
        svc("a", ""),
        svc("b", "after = [\"a\"]"),
        svc("c", "after = [\"b\"]")
    );
    Manifest::parse(&text).unwrap();
}

#[test]
fn test_reject_bad_service_fields() {
    type Check = fn(&ManifestError) -> bool;
    let cases: [(&str, Check); 8] = [
        ("binary = \"\"", |e| {
            matches!(e, ManifestError::BadBinary(_))
        }),
        ("args = [\"--state\", \"/\"]", |e| {
            matches!(e, ManifestError::BadArg { .. })
        }),
        ("args = [\"--policy=/x\"]", |e| {
            matches!(e, ManifestError::BadArg { .. })
        }),
        ("args = [\"a\\u0000b\"]", |e| {
            matches!(e, ManifestError::BadArg { .. })
        }),
        ("ready_marker = \"\"", |e| {
            matches!(e, ManifestError::BadMarker(_))
        }),
        ("ready_marker = \"a\\nb\"", |e| {
            matches!(e, ManifestError::BadMarker(_))
        }),
        ("ready_timeout_secs = 0", |e| {
            matches!(e, ManifestError::BadTimeout(_))
        }),
        ("ready_timeout_secs = 3601", |e| {
            matches!(e, ManifestError::BadTimeout(_))
        }),
    ];
    for (extra, ok) in cases {
        let e = reject(&format!("version = 1\n{}", svc("a", extra)));
        assert!(ok(&e), "{extra}: {e:?}");
    }
    // A flag that merely starts like a common one is the service's own.
    Manifest::parse(&format!(
        "version = 1\n{}",
        svc("a", "args = [\"--stateless\"]")
    ))
    .unwrap();
}

#[test]
fn test_reject_daemon_options_on_apps() {
    for extra in [
        "restart = false",
        "core = true",
        "public_socket = true",
        "ready_marker = \"x\"",
        "ready_timeout_secs = 5",
    ] {
        let text = format!(
            "version = 1\n[[service]]\nname = \"app1\"\nkind = \"app\"\nsubject = \"system:app1\"\n{extra}\n"
        );
        assert!(
            matches!(reject(&text), ManifestError::AppOption { .. }),
            "{extra}"
        );
    }
}

#[test]
fn test_reject_bad_restart_policy() {
    for table in [
        "initial_ms = 0",
        "initial_ms = 100\nmax_ms = 50",
        "max_ms = 300001",
        "max_per_minute = 0",
        "max_per_minute = 1001",
        "failed_retry_ms = 999",
        "failed_retry_ms = 3600001",
    ] {
        let e = reject(&format!("version = 1\n[restart]\n{table}\n"));
        assert!(matches!(e, ManifestError::BadRestartPolicy(_)), "{table}");
    }
}

#[test]
fn test_reject_unreadable_manifest() {
    let e = Manifest::load(Path::new("/nonexistent/init.toml")).unwrap_err();
    assert!(matches!(e, ManifestError::Read { .. }));
    assert_eq!(e.code(), ErrorCode::Eio);
}

#[test]
fn sockets_table_sets_mode_and_group() {
    use nexus_init::manifest::{SocketGroup, Sockets};
    let m = Manifest::parse("version = 1\n").unwrap();
    assert_eq!(*m.sockets(), Sockets::default());
    assert_eq!(
        (m.sockets().mode, m.sockets().run_dir_mode()),
        (0o600, 0o700)
    );
    let m = Manifest::parse("version = 1\n[sockets]\ngroup = \"nexus-clients\"\n").unwrap();
    assert_eq!(m.sockets().mode, 0o660);
    assert_eq!(
        m.sockets().group,
        Some(SocketGroup::Name("nexus-clients".into()))
    );
    assert_eq!(m.sockets().run_dir_mode(), 0o750);
    let m = Manifest::parse("version = 1\n[sockets]\ngroup = \"997\"\nmode = \"0666\"\n").unwrap();
    assert_eq!(m.sockets().group, Some(SocketGroup::Gid(997)));
    assert_eq!(m.sockets().run_dir_mode(), 0o755);
    assert!(m.sockets().is_shared());
}

#[test]
fn test_reject_bad_sockets_table() {
    for bad in [
        "mode = \"0777x\"",
        "mode = \"4660\"",
        "mode = \"0460\"",
        "mode = 660",
        "group = \"\"",
        "group = \"-x\"",
        "group = \"a b\"",
        "group = \"99999999999\"",
        "owner = \"root\"",
    ] {
        let text = format!("version = 1\n[sockets]\n{bad}\n");
        let e = reject(&text);
        assert!(
            matches!(e, ManifestError::BadSockets(_) | ManifestError::Syntax(_)),
            "{bad}: {e}"
        );
    }
    let args = svc("a", "args = [\"--socket-mode\", \"0666\"]");
    assert!(matches!(
        reject(&format!("version = 1\n{args}")),
        ManifestError::BadArg { .. }
    ));
}
