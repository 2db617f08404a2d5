//! Surviving a daemon restart: over public sockets and over endpoints
//! handed over by the supervisor; idempotent calls retried after a
//! connection lost in flight, the others reported.

use crate::common::{config, label, rig};
use nexus_core::{Coded, Subject};
use nexus_keychain::testkit::contract::SID;
use nexus_keychain::testkit::FakeService;
use nexus_keychain::{ErrorCode, KeyAlg, Keychain, KeychainError, LinkConfig, Service};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

#[test]
fn socket_client_reconnects_after_restart() {
    let r = rig();
    let (p, n) = (label("signing"), label("k1"));
    r.kc.sign(&p, &n, b"one").unwrap();
    r.keystored.restart();
    // Not idempotent, yet safe: the closed connection is noticed before
    // sending, so the request goes out once on a fresh connection.
    r.kc.create_key(&p, &n, KeyAlg::Ed25519).unwrap();
    assert_eq!(r.keystored.ops(), ["key.sign", "key.create"]);
}

#[test]
fn idempotent_call_is_retried_once_after_loss_in_flight() {
    let r = rig();
    r.keystored.drop_next(1);
    let s = r.kc.sign(&label("signing"), &label("k1"), b"m").unwrap();
    assert_eq!(s.version, 2);
    assert_eq!(r.keystored.dropped(), 1);
    assert_eq!(r.keystored.ops(), ["key.sign", "key.sign"]);
}

#[test]
fn test_reject_non_idempotent_call_is_not_replayed() {
    let r = rig();
    r.keystored.drop_next(1);
    let e =
        r.kc.create_key(&label("signing"), &label("k1"), KeyAlg::Ed25519)
            .unwrap_err();
    assert!(e.is_transport(), "{e}");
    assert_eq!(e.code(), ErrorCode::Eio);
    assert_eq!(r.keystored.ops(), ["key.create"]);
    // The next call gets a fresh connection.
    r.kc.list_keys(None).unwrap();
}

#[test]
fn idempotent_call_outlasts_repeated_losses() {
    // A dying service can take and lose the first reconnect too.
    let r = rig();
    r.keystored.drop_next(2);
    r.kc.list_keys(None).unwrap();
    assert_eq!(r.keystored.ops(), ["key.list", "key.list", "key.list"]);
}

#[test]
fn test_reject_losses_up_to_the_bound_are_reported() {
    let r = rig();
    let sends = usize::try_from(wire::MAX_SENDS).unwrap();
    r.keystored.drop_next(sends);
    let e = r.kc.list_keys(None).unwrap_err();
    assert!(e.is_transport());
    assert_eq!(r.keystored.ops(), vec!["key.list"; sends]);
}

#[test]
fn vault_put_is_sent_once() {
    let r = rig();
    r.keystored.drop_next(1);
    let sid = SID.parse().unwrap();
    assert!(r.kc.put(&sid, "n", b"v").unwrap_err().is_transport());
    assert_eq!(r.keystored.ops(), ["vault.put"]);
    r.keystored.drop_next(1);
    assert!(r.kc.list(&sid).is_ok());
}

fn short() -> LinkConfig {
    LinkConfig {
        call_timeout: Duration::from_secs(5),
        endpoint_wait: Duration::from_millis(300),
    }
}

#[test]
fn endpoint_client_uses_a_reissued_endpoint() {
    let ks = FakeService::contract_detached(Service::Keystored);
    let kc = Keychain::from_streams(Some(ks.endpoint().unwrap()), None, None, short());
    kc.sign(&label("p"), &label("n"), b"m").unwrap();
    ks.restart();
    kc.feed()
        .unwrap()
        .offer_stream(Service::Keystored, ks.endpoint().unwrap());
    kc.create_key(&label("p"), &label("n"), KeyAlg::Ed25519)
        .unwrap();
    assert_eq!(ks.ops(), ["key.sign", "key.create"]);
}

#[test]
fn test_reject_missing_endpoint_waits_bounded_then_ebusy() {
    let kc = Keychain::from_streams(None, None, None, short());
    let start = Instant::now();
    let e = kc.device_key().unwrap_err();
    assert!(matches!(
        e,
        KeychainError::NoEndpoint {
            service: Service::Attestd
        }
    ));
    assert_eq!(e.code(), ErrorCode::Ebusy);
    assert!(start.elapsed() >= Duration::from_millis(250));
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn endpoint_lost_in_flight_waits_for_the_reissued_one() {
    let ks = FakeService::contract_detached(Service::Keystored);
    ks.drop_next(1);
    let kc = Keychain::from_streams(Some(ks.endpoint().unwrap()), None, None, config());
    let feed = kc.feed().unwrap().clone();
    let fresh = ks.endpoint().unwrap();
    let supervisor = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        feed.offer_stream(Service::Keystored, fresh);
    });
    let s = kc.sign(&label("p"), &label("n"), b"m").unwrap();
    supervisor.join().unwrap();
    assert_eq!(s.version, 2);
    assert_eq!(ks.ops(), ["key.sign", "key.sign"]);
}

#[test]
fn control_channel_delivers_initial_and_reissued_endpoints() {
    let ks = FakeService::contract_detached(Service::Keystored);
    let id = FakeService::contract_detached(Service::Identityd);
    let (supervisor, child) = UnixStream::pair().unwrap();
    let kc = Keychain::from_control_channel(child, config()).unwrap();
    let send = |name: &str, s: UnixStream| {
        let subject: Subject = format!("system:{name}").parse().unwrap();
        wire::handoff::send_endpoint(&supervisor, name, &subject, s.as_fd()).unwrap();
    };
    send("keystored", ks.endpoint().unwrap());
    send("identityd", id.endpoint().unwrap());
    // An endpoint for a service the keychain does not use is closed.
    let (stray, stray_peer) = UnixStream::pair().unwrap();
    send("nonsense", stray);
    kc.sign(&label("p"), &label("n"), b"m").unwrap();
    kc.session_status(&SID.parse().unwrap()).unwrap();

    ks.restart();
    send("keystored", ks.endpoint().unwrap());
    kc.sign(&label("p"), &label("n"), b"m").unwrap();
    assert_eq!(ks.ops(), ["key.sign", "key.sign"]);

    drop(supervisor);
    let feed = kc.feed().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !feed.is_closed() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(feed.is_closed());
    let mut buf = [0u8; 1];
    assert_eq!(std::io::Read::read(&mut &stray_peer, &mut buf).unwrap(), 0);
    // With the supervisor gone, a missing endpoint fails at once.
    let start = Instant::now();
    assert!(kc.device_key().unwrap_err().is_transport());
    assert!(start.elapsed() < Duration::from_secs(1));
}
