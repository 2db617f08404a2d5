#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests of the nexus-init binary with contract-following test
//! children (this same executable, re-run with `--contract-child`).
//!
//! Own harness (harness = false) because the children are this binary:
//! `main` either plays a child or runs the tests, printing libtest-style
//! results. An optional argument filters tests by substring.

mod child;
mod harness;

use harness::{
    app_entry, await_state, call, child_entry, entry, field, init_status, pid_of, unit, wait_gone,
    Init,
};
use rustix::process::Signal;
use std::time::Instant;
use wire::Args;

fn route(from: &str, to: &str) -> String {
    format!("[[route]]\nfrom = \"{from}\"\nto = \"{to}\"\n")
}

/// `up` serves; `mid` calls `up`, serves `mid.sock` and relays.
fn two_tier(extra_mid: &[&str]) -> String {
    let mut mid = vec!["--needs", "up", "--listen"];
    mid.extend_from_slice(extra_mid);
    format!(
        "{}{}{}",
        child_entry("up", "", &[]),
        child_entry("mid", "after = [\"up\"]\npublic_socket = true", &mid),
        route("mid", "up")
    )
}

/// `[sockets]` and `--run`: the run directory outside the private state
/// directory gets the group and a mode that lets the group through, and
/// every public socket (init's own included) the manifest's mode and group.
fn sockets_get_the_manifest_mode_and_group() {
    use std::os::unix::fs::MetadataExt;
    let gid = if rustix::process::geteuid().is_root() {
        4242
    } else {
        rustix::process::getegid().as_raw()
    };
    let manifest = format!("[sockets]\ngroup = \"{gid}\"\n{}", two_tier(&[]));
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("sockets");
    let mut init = Init::start(&manifest, &["--run", run.to_str().unwrap()]);
    init.expect(&format!("NEXUS_RUN={}; export NEXUS_RUN;", run.display()));
    init.expect("init: ready");
    let meta = |p: &std::path::Path| std::fs::symlink_metadata(p).unwrap();
    assert_eq!(meta(&run).mode() & 0o7777, 0o750);
    assert_eq!(meta(&run).gid(), gid);
    for sock in ["mid.sock", "init.sock"] {
        let m = meta(&run.join(sock));
        assert_eq!((m.mode() & 0o7777, m.gid()), (0o660, gid), "{sock}");
    }
    assert_eq!(meta(&init.dir.path().join("state")).mode() & 0o7777, 0o700);
    let r = call(&run.join("mid.sock"), "relay", Args::new().with("to", "up"));
    assert_eq!(field(&r, "service").as_text(), Some("up"));
    init.signal(Signal::Term);
    assert_eq!(init.wait_exit().code(), Some(0), "{:#?}", init.seen);
}

/// `Type=notify`: with `$NOTIFY_SOCKET` set, init sends `READY=1` (and
/// the run directory) once `init: ready` is printed and `STOPPING=1` when
/// shutdown begins; its children never see the variable.
fn systemd_readiness_is_notified_and_kept_from_children() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("notify");
    let rx = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    rx.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut init = Init::start_env(&two_tier(&[]), &[], &[("NOTIFY_SOCKET", path.as_os_str())]);
    init.expect("init: ready");
    let mut buf = [0u8; 512];
    let n = rx.recv(&mut buf).unwrap();
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    let run = init.run_dir();
    assert_eq!(
        msg,
        format!("READY=1\nSTATUS=serving; run directory {}", run.display())
    );
    let r = call(&run.join("mid.sock"), "relay", Args::new().with("to", "up"));
    assert_eq!(
        field(&r, "notify_socket").as_bool(),
        Some(false),
        "upstream"
    );
    let r = call(&run.join("mid.sock"), "status", Args::new());
    assert_eq!(field(&r, "notify_socket").as_bool(), Some(false), "mid");
    init.signal(Signal::Term);
    let n = rx.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert_eq!(init.wait_exit().code(), Some(0));
}

fn boot_order_markers_and_endpoints() {
    let mut init = Init::start(&two_tier(&[]), &[]);
    let run = init.run_dir();
    let export = format!("NEXUS_RUN={}; export NEXUS_RUN;", run.display());
    for line in [
        &format!("init: run directory {}", run.display()),
        &export,
        "init: start up",
        "up: ready",
        "init: up up",
        "init: start mid",
        "mid: ready",
        "init: up mid",
        "init: ready",
    ] {
        init.expect(line);
    }
    // Nothing else came between: the markers are exactly in this order.
    assert_eq!(init.seen.len(), 9, "{:#?}", init.seen);

    // mid reaches up through the endpoint init handed out, and up sees the
    // subject init attached: mid's, from the manifest.
    let sock = init.run_dir().join("mid.sock");
    let r = call(&sock, "relay", Args::new().with("to", "up"));
    assert_eq!(field(&r, "service").as_text(), Some("up"));
    assert_eq!(field(&r, "caller").as_text(), Some("system:mid"));
    assert_eq!(field(&r, "volatile").as_bool(), Some(false));
    let state = init.dir.path().join("state");
    assert_eq!(
        field(&r, "state").as_text(),
        Some(state.to_str().unwrap()),
        "--state passed down"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&run), 0o700, "no [sockets]: only init's user");
    assert_eq!(mode(&sock), 0o600);
    let up_pid = pid_of(&r);
    let mid_pid = pid_of(&call(&sock, "status", Args::new()));

    init.signal(Signal::Term);
    let st = init.wait_exit();
    assert_eq!(st.code(), Some(0), "{:#?}", init.seen);
    assert!(init.seen.iter().any(|l| l == "init: shutdown"));
    assert_eq!(init.seen.last().map(String::as_str), Some("init: stopped"));
    assert!(
        wait_gone(up_pid) && wait_gone(mid_pid),
        "children outlived init"
    );
}

fn restart_reissues_endpoints_both_ways() {
    let mut init = Init::start(&two_tier(&[]), &[]);
    init.expect("init: ready");
    let sock = init.run_dir().join("mid.sock");
    let before = call(&sock, "relay", Args::new().with("to", "up"));
    let old_up = pid_of(&before);

    // The server dies: it is restarted and mid gets a new endpoint to it.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(i32::try_from(old_up).unwrap()).unwrap(),
        Signal::Kill,
    )
    .unwrap();
    init.expect("init: restart up (status signal 9)");
    init.expect("init: up up");
    let after = call(&sock, "relay", Args::new().with("to", "up"));
    let new_up = pid_of(&after);
    assert_ne!(new_up, old_up, "relay answered by a dead upstream?");
    assert_eq!(field(&after, "caller").as_text(), Some("system:mid"));

    // The client dies: once restarted it gets a new endpoint to up.
    let old_mid = pid_of(&call(&sock, "status", Args::new()));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(i32::try_from(old_mid).unwrap()).unwrap(),
        Signal::Kill,
    )
    .unwrap();
    init.expect("init: restart mid (status signal 9)");
    init.expect("mid: ready");
    init.expect("init: up mid");
    let again = call(&sock, "relay", Args::new().with("to", "up"));
    assert_eq!(pid_of(&again), new_up);
    assert_ne!(pid_of(&call(&sock, "status", Args::new())), old_mid);

    init.signal(Signal::Term);
    assert_eq!(init.wait_exit().code(), Some(0));
}

/// `lanes = 3`: every hand-out (boot, the server's restart, the client's
/// restart) gives the route three working endpoints, each its own server
/// connection.
fn route_lanes_hand_out_that_many_endpoints() {
    let manifest = format!(
        "{}{}[[route]]\nfrom = \"mid\"\nto = \"up\"\nlanes = 3\n",
        child_entry("up", "", &[]),
        child_entry(
            "mid",
            "after = [\"up\"]\npublic_socket = true",
            &["--needs", "up", "--listen"]
        ),
    );
    let mut init = Init::start(&manifest, &[]);
    init.expect("init: ready");
    let sock = init.run_dir().join("mid.sock");
    let int = |v: &wire::Value| u64::try_from(v.as_integer().unwrap()).unwrap();
    // Through every endpoint mid holds: three, all answered by up.
    let lanes = |want_pid: u32| {
        let r = call(&sock, "lanes", Args::new().with("to", "up"));
        assert_eq!(int(field(&r, "answered")), 3, "{r:?}");
        let pids = field(&r, "pids").as_array().unwrap();
        assert_eq!(pids.len(), 3);
        for p in pids {
            assert_eq!(int(p), u64::from(want_pid));
        }
    };
    let status = call(&sock, "relay", Args::new().with("to", "up"));
    let up_pid = pid_of(&status);
    assert_eq!(int(field(&status, "serves")), 3, "up serves 3");
    lanes(up_pid);

    // The server restarts: three new endpoints, the dead ones gone.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(i32::try_from(up_pid).unwrap()).unwrap(),
        Signal::Kill,
    )
    .unwrap();
    init.expect("init: restart up (status signal 9)");
    init.expect("init: up up");
    let status = call(&sock, "relay", Args::new().with("to", "up"));
    let new_up = pid_of(&status);
    assert_ne!(new_up, up_pid);
    assert_eq!(int(field(&status, "serves")), 3);
    lanes(new_up);

    // The client restarts: up serves three more.
    let old_mid = pid_of(&call(&sock, "status", Args::new()));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(i32::try_from(old_mid).unwrap()).unwrap(),
        Signal::Kill,
    )
    .unwrap();
    init.expect("init: restart mid (status signal 9)");
    init.expect("init: up mid");
    let status = call(&sock, "relay", Args::new().with("to", "up"));
    assert_eq!(pid_of(&status), new_up);
    assert_eq!(int(field(&status, "serves")), 6);
    lanes(new_up);

    init.signal(Signal::Term);
    assert_eq!(init.wait_exit().code(), Some(0));
}

fn crash_loop_is_capped_and_fails_boot() {
    let manifest = format!(
        "[restart]\ninitial_ms = 10\nmax_ms = 20\nmax_per_minute = 3\n{}",
        child_entry(
            "flaky",
            "",
            &["--exit-after-ms", "0", "--exit-code", "3", "--no-ready"]
        )
    );
    let mut init = Init::start(&manifest, &[]);
    init.expect("init: start flaky");
    for _ in 0..3 {
        init.expect("init: restart flaky (status exit 3)");
    }
    init.expect_prefix("init: failed flaky (status exit 3; 3 restarts");
    init.expect("init: boot failed: flaky did not come up");
    assert_eq!(init.wait_exit().code(), Some(1));
    assert!(!init.seen.iter().any(|l| l == "init: ready"));
}

fn kill(pid: u32) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap(),
        Signal::Kill,
    )
    .unwrap();
}

/// After boot: a core daemon (`up`, which `mid` calls) killed far more often
/// than the crash-loop count is always restarted; a leaf daemon in a crash
/// loop is failed, then tried again. `init.status` on init.sock tells
/// each state as it goes.
fn after_boot_core_daemons_are_never_given_up() {
    let manifest = format!(
        "[restart]\ninitial_ms = 10\nmax_ms = 50\nmax_per_minute = 2\nfailed_retry_ms = 1000\n{}{}",
        two_tier(&[]),
        child_entry("leaf", "", &[]),
    );
    let mut init = Init::start(&manifest, &[]);
    init.expect("init: ready");
    let status = init_status(&init);
    assert_eq!(field(&status, "ready").as_bool(), Some(true));
    for name in ["up", "mid", "leaf"] {
        assert_eq!(unit(&status, name).0, "up", "{status:?}");
    }
    let core = |name: &str| field(entry(&status, name), "core").as_bool().unwrap();
    assert!(core("up") && !core("mid") && !core("leaf"));

    // Five kills of the core daemon, two more than the crash-loop count.
    for _ in 0..5 {
        let pid = await_state(&init, "up", "up").unwrap();
        kill(pid);
        init.expect("init: restart up (status signal 9)");
    }
    await_state(&init, "up", "up");
    let sock = init.run_dir().join("mid.sock");
    assert_eq!(
        field(
            &call(&sock, "relay", Args::new().with("to", "up")),
            "service"
        )
        .as_text(),
        Some("up")
    );
    assert!(!init.seen.iter().any(|l| l.starts_with("init: failed up")));

    // The leaf: failed after the third death, tried again a second later.
    for _ in 0..2 {
        let pid = await_state(&init, "leaf", "up").unwrap();
        kill(pid);
        init.expect("init: restart leaf (status signal 9)");
    }
    let pid = await_state(&init, "leaf", "up").unwrap();
    kill(pid);
    init.expect_prefix("init: failed leaf (status signal 9; 2 restarts within the last minute; trying again in 1 s)");
    await_state(&init, "leaf", "failed");
    init.expect("init: restart leaf (status signal 9)");
    await_state(&init, "leaf", "up");
    let status = init_status(&init);
    let restarts = |name: &str| {
        let one = entry(&status, name);
        (
            field(one, "restarts").as_integer().unwrap(),
            field(one, "last_exit").as_text().map(str::to_owned),
        )
    };
    assert_eq!(restarts("up"), (5.into(), Some("signal 9".into())));
    assert_eq!(restarts("leaf"), (3.into(), Some("signal 9".into())));
    assert_eq!(restarts("mid"), (0.into(), None));

    init.signal(Signal::Term);
    assert_eq!(init.wait_exit().code(), Some(0));
    assert!(!init.run_dir().join("init.sock").exists());
}

fn ready_timeout_kills_the_service() {
    let manifest = format!(
        "[restart]\nmax_per_minute = 1\n{}",
        child_entry("mute", "ready_timeout_secs = 1", &["--no-ready"])
    );
    let started = Instant::now();
    let mut init = Init::start(&manifest, &[]);
    init.expect("init: restart mute (status signal 9)");
    init.expect_prefix("init: failed mute (status signal 9; 1 restarts");
    assert_eq!(init.wait_exit().code(), Some(1));
    assert!(
        started.elapsed().as_secs_f64() >= 2.0,
        "killed before its timeout"
    );
}

fn public_socket_is_checked_at_readiness() {
    // The marker alone is not enough: a public service must have bound
    // <run>/<name>.sock.
    let manifest = format!(
        "[restart]\nmax_per_minute = 1\n{}",
        child_entry("liar", "public_socket = true", &[])
    );
    let mut init = Init::start(&manifest, &[]);
    init.expect("liar: ready");
    init.expect("init: restart liar (status signal 9)");
    init.expect_prefix("init: failed liar");
    assert_eq!(init.wait_exit().code(), Some(1));
    assert!(!init.seen.iter().any(|l| l == "init: up liar"));
}

fn selftest_status_propagates() {
    let manifest = format!(
        "{}{}{}",
        two_tier(&[]),
        app_entry(&["--needs", "up", "--needs", "mid", "--exit-code", "7"]),
        route("selftest-client", "up") + &route("selftest-client", "mid")
    );
    let mut init = Init::start(&manifest, &["--selftest"]);
    init.expect("init: ready");
    init.expect("init: start selftest-client");
    init.expect("child selftest-client: upstream up volatile=Some(false)");
    init.expect("child selftest-client: upstream mid volatile=Some(false)");
    init.expect("init: selftest exit 7");
    init.expect("init: shutdown");
    assert_eq!(init.wait_exit().code(), Some(7));
}

fn volatile_is_passed_down() {
    let manifest = format!(
        "{}{}{}",
        child_entry("up", "", &[]),
        app_entry(&["--needs", "up"]),
        route("selftest-client", "up")
    );
    let mut init = Init::start(&manifest, &["--volatile", "--selftest"]);
    init.expect("up: ready (volatile)");
    init.expect("init: up up");
    init.expect("child selftest-client: upstream up volatile=Some(true)");
    init.expect("init: selftest exit 0");
    assert_eq!(init.wait_exit().code(), Some(0));
    assert!(
        !init.dir.path().join("state").exists(),
        "volatile mode made a state dir"
    );
}

fn stubborn_child_is_killed_at_shutdown() {
    let manifest = child_entry(
        "stubborn",
        "public_socket = true",
        &["--ignore-term", "--listen"],
    );
    let mut init = Init::start(&manifest, &["--stop-timeout", "1"]);
    init.expect("init: ready");
    let pid = pid_of(&call(
        &init.run_dir().join("stubborn.sock"),
        "status",
        Args::new(),
    ));
    let t = Instant::now();
    init.signal(Signal::Int);
    init.expect("init: SIGINT, shutting down");
    assert_eq!(init.wait_exit().code(), Some(0));
    assert!(
        t.elapsed().as_secs_f64() >= 1.0,
        "did not wait the stop timeout"
    );
    assert!(wait_gone(pid), "SIGKILL was not sent");
}

fn children_exit_when_init_is_killed() {
    // Without init the control channel closes; a contract-following
    // service takes that as the order to stop.
    let mut init = Init::start(&two_tier(&[]), &[]);
    init.expect("init: ready");
    let sock = init.run_dir().join("mid.sock");
    let up = pid_of(&call(&sock, "relay", Args::new().with("to", "up")));
    let mid = pid_of(&call(&sock, "status", Args::new()));
    init.signal(Signal::Kill);
    init.wait_exit();
    assert!(
        wait_gone(up) && wait_gone(mid),
        "children outlived a killed init"
    );
}

fn test_reject_missing_binary() {
    let manifest = "[[service]]\nname = \"ghost\"\nbinary = \"/nonexistent/ghost\"\nsubject = \"system:ghost\"\n";
    let mut init = Init::start(manifest, &[]);
    let line = init.expect_prefix("init: FAIL");
    assert!(line.contains("ENOENT"), "{line}");
    assert_eq!(init.wait_exit().code(), Some(2));
    assert!(!init.seen.iter().any(|l| l.starts_with("init: start")));
}

const TESTS: &[(&str, fn())] = &[
    (
        "systemd_readiness_is_notified_and_kept_from_children",
        systemd_readiness_is_notified_and_kept_from_children,
    ),
    (
        "sockets_get_the_manifest_mode_and_group",
        sockets_get_the_manifest_mode_and_group,
    ),
    (
        "boot_order_markers_and_endpoints",
        boot_order_markers_and_endpoints,
    ),
    (
        "restart_reissues_endpoints_both_ways",
        restart_reissues_endpoints_both_ways,
    ),
    (
        "route_lanes_hand_out_that_many_endpoints",
        route_lanes_hand_out_that_many_endpoints,
    ),
    (
        "crash_loop_is_capped_and_fails_boot",
        crash_loop_is_capped_and_fails_boot,
    ),
    (
        "after_boot_core_daemons_are_never_given_up",
        after_boot_core_daemons_are_never_given_up,
    ),
    (
        "ready_timeout_kills_the_service",
        ready_timeout_kills_the_service,
    ),
    (
        "public_socket_is_checked_at_readiness",
        public_socket_is_checked_at_readiness,
    ),
    ("selftest_status_propagates", selftest_status_propagates),
    ("volatile_is_passed_down", volatile_is_passed_down),
    (
        "stubborn_child_is_killed_at_shutdown",
        stubborn_child_is_killed_at_shutdown,
    ),
    (
        "children_exit_when_init_is_killed",
        children_exit_when_init_is_killed,
    ),
    ("test_reject_missing_binary", test_reject_missing_binary),
];

fn main() {
    if std::env::args().any(|a| a == "--contract-child") {
        child::main();
        return;
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let started = Instant::now();
    let chosen: Vec<_> = TESTS
        .iter()
        .filter(|(name, _)| filter.as_deref().is_none_or(|f| name.contains(f)))
        .collect();
    println!("\nrunning {} tests", chosen.len());
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, test) in &chosen {
        match std::panic::catch_unwind(test) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    let filtered = TESTS.len() - chosen.len();
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    if !failed.is_empty() {
        println!("\nfailures:\n    {}", failed.join("\n    "));
    }
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed; 0 ignored; 0 measured; {filtered} filtered out; finished in {:.2}s\n",
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}
