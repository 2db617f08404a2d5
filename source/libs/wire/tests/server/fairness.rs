//! Fair share between callers: connection caps per subject and in total
//! with a reserve, handler threads shared per subject, and idle
//! connections that hold no thread.

use crate::common::*;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use wire::{Args, Client, ErrorCode, PeerCredResolver, Server, ServerConfig, Subject};

/// A server on a temp socket whose resolver gives each new connection the
/// subject `uid:<n>` for the `n` the test has set last: two subjects over
/// one uid, so no second account is needed.
struct TwoSubjects {
    server: Server,
    path: std::path::PathBuf,
    next: Arc<AtomicU32>,
    _dir: tempfile::TempDir,
}

impl TwoSubjects {
    fn start(config: ServerConfig) -> TwoSubjects {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.sock");
        let next = Arc::new(AtomicU32::new(1000));
        let who = Arc::clone(&next);
        let server = Server::new(handler, config);
        server
            .listen(
                &path,
                PeerCredResolver::new(move |_| Some(Subject::Uid(who.load(Ordering::SeqCst)))),
            )
            .unwrap();
        TwoSubjects {
            server,
            path,
            next,
            _dir: dir,
        }
    }

    /// A connection as `uid:<uid>`, and its first `whoami`: admission
    /// happens at accept, so the call settles it before the subject the
    /// resolver hands out changes.
    fn try_as(&self, uid: u32) -> (Client, Result<String, wire::ClientError>) {
        self.next.store(uid, Ordering::SeqCst);
        let mut c = Client::connect(&self.path).unwrap();
        let first = whoami(&mut c);
        (c, first)
    }

    /// A connection as `uid:<uid>` that must be admitted.
    fn connect_as(&self, uid: u32) -> Client {
        let (c, first) = self.try_as(uid);
        assert_eq!(first.unwrap(), format!("uid:{uid}"));
        c
    }
}

impl Drop for TwoSubjects {
    fn drop(&mut self) {
        self.server.shutdown();
    }
}

fn whoami(c: &mut Client) -> Result<String, wire::ClientError> {
    let v = c.call("whoami", &Args::new())?;
    Ok(Args::from_value(v)
        .unwrap()
        .text("subject")
        .unwrap()
        .to_owned())
}

#[test]
fn test_reject_one_subject_over_its_cap_while_another_gets_in() {
    let srv = TwoSubjects::start(ServerConfig {
        max_connections: 8,
        max_connections_per_subject: 4,
        reserved_connections: 2,
        ..ServerConfig::default()
    });
    // The hog holds its cap of idle connections.
    let mut hog: Vec<Client> = (0..4).map(|_| srv.connect_as(1000)).collect();
    for c in &mut hog {
        assert_eq!(whoami(c).unwrap(), "uid:1000");
    }
    let (_over, refused) = srv.try_as(1000);
    let e = refused.unwrap_err();
    assert_eq!(e.remote_code(), Some(ErrorCode::Ebusy), "{e}");
    assert_eq!(
        e.to_string(),
        "EBUSY: too many connections from this subject"
    );
    assert_eq!(srv.server.public_connections(), 4);
    // Another subject is served, and its connections coexist with the
    // hog's.
    let mut other = srv.connect_as(2000);
    assert_eq!(whoami(&mut other).unwrap(), "uid:2000");
    for c in &mut hog {
        assert_eq!(whoami(c).unwrap(), "uid:1000");
    }
}

#[test]
fn test_reject_the_reserve_for_subjects_that_hold_many() {
    let srv = TwoSubjects::start(ServerConfig {
        max_connections: 6,
        max_connections_per_subject: 4,
        reserved_connections: 2,
        ..ServerConfig::default()
    });
    // Two subjects fill the open part (4 of 6).
    let _a: Vec<Client> = (0..3).map(|_| srv.connect_as(1)).collect();
    let mut b: Vec<Client> = (0..1).map(|_| srv.connect_as(2)).collect();
    assert_eq!(srv.server.public_connections(), 4);
    // The reserve is for subjects holding fewer than RESERVE_SHARE: `a`
    // holds 3 and may take one more slot; then it holds 4 and may not.
    const { assert!(wire::RESERVE_SHARE == 4) };
    let mut a4 = srv.connect_as(1);
    assert_eq!(whoami(&mut a4).unwrap(), "uid:1");
    b.push(srv.connect_as(2));
    assert_eq!(whoami(&mut b[1]).unwrap(), "uid:2");
    assert_eq!(srv.server.public_connections(), 6);
    let (_third, refused) = srv.try_as(3);
    let e = refused.unwrap_err();
    assert_eq!(e.to_string(), "EBUSY: too many connections");
    drop(a4);
    assert!(eventually(|| srv.server.public_connections() == 5));
    let mut third = srv.connect_as(3);
    assert_eq!(whoami(&mut third).unwrap(), "uid:3");
}

#[test]
fn one_subject_cannot_take_every_handler_thread() {
    let srv = TwoSubjects::start(ServerConfig {
        max_workers: 8,
        max_busy_per_subject: 2,
        ..ServerConfig::default()
    });
    // Six slow requests from one subject: two execute, four wait.
    let slow: Vec<Client> = (0..6).map(|_| srv.connect_as(1000)).collect();
    let tags: Vec<String> = (0..6).map(|i| format!("fair-slow-{i}")).collect();
    let runs: Vec<_> = slow
        .into_iter()
        .zip(tags.clone())
        .map(|(mut c, tag)| {
            thread::spawn(move || {
                c.call("sleep", &Args::new().with("ms", 1500u64).with("tag", tag))
                    .unwrap();
            })
        })
        .collect();
    assert!(eventually(
        || tags.iter().filter(|t| entered(t)).count() == 2
    ));
    // Another subject's request runs at once, while four of the slow ones
    // still wait for their own subject's turn.
    let mut other = srv.connect_as(2000);
    assert_eq!(whoami(&mut other).unwrap(), "uid:2000");
    assert!(tags.iter().filter(|t| entered(t)).count() <= 4);
    for r in runs {
        r.join().unwrap();
    }
    assert!(tags.iter().all(|t| entered(t)), "every parked request ran");
}

#[test]
fn many_idle_connections_and_busy_ones_coexist() {
    let srv = TestServer::start();
    // One subject, just under its default cap of 256.
    let mut idle: Vec<UnixStream> = (0..250).map(|_| srv.raw()).collect();
    assert!(eventually(|| srv.server.public_connections() == 250));
    let mut c = srv.client();
    for i in 0..50 {
        echo_ok(&mut c, &format!("through {i}"));
    }
    // Every idle one can still make a call.
    for s in idle.iter_mut().step_by(37) {
        let mut client = Client::from_stream(s.try_clone().unwrap());
        echo_ok(&mut client, "idle woke");
    }
}
