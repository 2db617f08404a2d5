//! 32 concurrent clients, each on its own endpoint, doing mixed key and
//! vault operations: zero errors, and every write visible afterwards.

use crate::common::{args, bytes, field, text, Stack, ALPHA, DELTA};
use std::thread;
use std::time::Instant;
use wire::{Args, Value};

const CLIENTS: usize = 32;
const ROUNDS: usize = 4;

#[test]
fn thirty_two_concurrent_clients_mixed_ops_without_errors() {
    let s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let alice = s.login("alice", 0x11, 0xa1);
    let bob = s.login("bob", 0x22, 0xb0);
    let t0 = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let subject = if i % 2 == 0 { ALPHA } else { DELTA };
            let mut c = s.keystored.connect(subject);
            let sid = text(&if i % 4 < 2 { alice } else { bob }.to_string());
            thread::spawn(move || {
                let mut errors = Vec::new();
                let mut ok = |r: Result<Value, wire::ClientError>, what: &str| match r {
                    Ok(v) => Some(v),
                    Err(e) => {
                        errors.push(format!("client {i} {what}: {e}"));
                        None
                    }
                };
                for round in 0..ROUNDS {
                    let name = format!("c{i}r{round}");
                    let k = |extra: &[(&'static str, Value)]| {
                        let mut v = vec![("purpose", text("load")), ("name", text(&name))];
                        v.extend_from_slice(extra);
                        args(&v)
                    };
                    ok(
                        c.call("key.create", &k(&[("alg", text("Ed25519"))])),
                        "create",
                    );
                    if let Some(sig) = ok(
                        c.call("key.sign", &k(&[("msg", bytes(name.as_bytes()))])),
                        "sign",
                    ) {
                        ok(
                            c.call(
                                "key.verify",
                                &k(&[("msg", bytes(name.as_bytes())), ("sig", field(&sig, "sig"))]),
                            ),
                            "verify",
                        );
                    }
                    let put = args(&[
                        ("sid", sid.clone()),
                        ("name", text(&name)),
                        ("value", bytes(name.as_bytes())),
                    ]);
                    ok(c.call("vault.put", &put), "put");
                    let got = ok(
                        c.call(
                            "vault.get",
                            &args(&[("sid", sid.clone()), ("name", text(&name))]),
                        ),
                        "get",
                    );
                    if got.is_some_and(|g| field(&g, "value") != bytes(name.as_bytes())) {
                        ok(Err(wire::ClientError::Closed), "get returned another value");
                    }
                    ok(c.call("key.list", &Args::new()), "list");
                    ok(
                        c.call("vault.list", &args(&[("sid", sid.clone())])),
                        "vault.list",
                    );
                }
                errors
            })
        })
        .collect();
    let errors: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let took = t0.elapsed();
    eprintln!(
        "{CLIENTS} clients x {ROUNDS} rounds x 7 ops = {} requests in {took:?}",
        CLIENTS * ROUNDS * 7
    );
    assert!(errors.is_empty(), "{errors:#?}");
    // Each app sees exactly its own keys.
    let mut alpha = s.keystored.connect(ALPHA);
    let keys = field(&alpha.call("key.list", &Args::new()).unwrap(), "keys");
    assert_eq!(keys.as_array().unwrap().len(), CLIENTS / 2 * ROUNDS);
}
