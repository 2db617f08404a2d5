//! The prelude of an input: well-formed requests that put the stack in a
//! deep state before the plan's own steps (a logged-in session, keys with
//! a signature and a sealed blob, an installed root, bundle and staged
//! update), so that the fuzzer reaches the vault, signatures and
//! artifacts without first having to find each request that leads there.
//! Their outcomes are not checked here (an `EAGAIN` or `EDQUOTA` is a
//! state like any other); the steps that follow are.

use crate::plan::{Daemon, Prelude};
use crate::run::{call, subject};
use crate::stack::World;
use wire::Value;

/// The user the prelude makes, and its password.
pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct horse battery";

fn send(world: &mut World, to: Daemon, who: &str, op: &str, args: &[(&str, Value)]) {
    let Ok(subject) = who.parse::<wire::Subject>() else {
        return;
    };
    let mut a = wire::Args::new();
    for (k, v) in args {
        a = match a.try_with(k, v.clone()) {
            Ok(a) => a,
            Err(_) => return,
        };
    }
    let Ok(req) = wire::Request::new(1, op, a) else {
        return;
    };
    let _ = call(world, to, &subject, &req);
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// Send the prelude's requests.
pub fn run(world: &mut World, p: &Prelude) {
    let admin = "system:admin";
    if let Some(who) = p.session {
        let who = subject(who, None);
        let creds = [("user", text(USER)), ("password", text(PASSWORD))];
        send(world, Daemon::Identityd, admin, "user.create", &creds);
        send(world, Daemon::Identityd, &who, "session.login", &creds);
        let sid = world.pool.lock().expect("pool").get("sid").last().cloned();
        if let Some(sid) = sid {
            let put = [
                ("sid", sid),
                ("name", text("entry")),
                ("value", Value::Bytes(vec![7; 100])),
            ];
            send(world, Daemon::Keystored, &who, "vault.put", &put);
        }
    }
    if let Some(who) = p.keys {
        let who = subject(who, None);
        let key = |purpose: &str, more: (&'static str, Value)| -> Vec<(&'static str, Value)> {
            vec![("purpose", text(purpose)), ("name", text("k")), more]
        };
        for (op, args) in [
            ("key.create", key("sign", ("alg", text("Ed25519")))),
            (
                "key.create",
                key("seal", ("alg", text("XChaCha20-Poly1305"))),
            ),
            (
                "key.sign",
                key("sign", ("msg", Value::Bytes(b"signed".to_vec()))),
            ),
            (
                "key.seal",
                key("seal", ("pt", Value::Bytes(b"sealed plaintext".to_vec()))),
            ),
        ] {
            send(world, Daemon::Keystored, &who, op, &args);
        }
    }
    if p.artifacts {
        let fx = crate::fixtures::get();
        if let Some(root) = fx.root_files.first() {
            send(
                world,
                Daemon::Keystored,
                admin,
                "trust.add",
                &[("root_file", text(root))],
            );
        }
        if let Some(path) = fx.paths.first() {
            send(
                world,
                Daemon::Bundlemgrd,
                admin,
                "bundle.install",
                &[("path", text(path))],
            );
        }
        if let Some(path) = fx.paths.get(crate::fixtures::FIRST_UPDATE) {
            send(
                world,
                Daemon::Updated,
                admin,
                "update.stage",
                &[("path", text(path))],
            );
        }
    }
}
