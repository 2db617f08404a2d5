//! `nx bench`: load against the running services, next to the raw
//! in-process Ed25519 sign rate for comparison.
//!
//! Measures, each for `--duration` seconds: raw `ed25519-dalek` signing in
//! this process; `key.sign` with 1 client and with `--clients` parallel
//! clients (each its own connection); `vault.put` and `vault.get` latency
//! (needs a session); `attest` latency. Uses the key `bench/nx-bench`
//! (created if missing) and vault entries `nx-bench-0..63` (deleted at
//! the end). A failed call stops the bench with that call's error.

use crate::cli::BenchArgs;
use crate::ctx::Ctx;
use crate::error::NxError;
use crate::io::{read_password, read_sid};
use ed25519_dalek::{Signer, SigningKey};
use nexus_core::{ErrorCode, Label, SessionId};
use nexus_keychain::{CustomClaims, KeyAlg, Keychain, KeychainError};
use serde_json::{json, Value as Json};
use std::path::Path;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

const VAULT_NAMES: usize = 64;

/// Latency figures of one measured op.
struct Lat {
    ops: usize,
    secs: f64,
    sorted_us: Vec<u64>,
}

impl Lat {
    fn measure(
        dur: Duration,
        mut f: impl FnMut(usize) -> Result<(), NxError>,
    ) -> Result<Lat, NxError> {
        let start = Instant::now();
        let mut us = Vec::new();
        while start.elapsed() < dur {
            let t = Instant::now();
            f(us.len())?;
            us.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
        let secs = start.elapsed().as_secs_f64();
        us.sort_unstable();
        Ok(Lat {
            ops: us.len(),
            secs,
            sorted_us: us,
        })
    }

    fn pct(&self, q: f64) -> u64 {
        let n = self.sorted_us.len();
        if n == 0 {
            return 0;
        }
        // Nearest-rank percentile.
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.sorted_us.get(rank - 1).copied().unwrap_or(0)
    }

    fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.ops as f64 / self.secs
        } else {
            0.0
        }
    }

    fn json(&self) -> Json {
        json!({
            "ops": self.ops,
            "ops_per_sec": self.rate().round(),
            "p50_us": self.pct(0.50),
            "p99_us": self.pct(0.99),
        })
    }
}

fn raw_sign_rate(dur: Duration) -> Result<f64, NxError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::getrandom(seed.as_mut_slice()).map_err(|_| NxError::Local {
        code: ErrorCode::Eio,
        msg: "no randomness".into(),
    })?;
    let key = SigningKey::from_bytes(&seed);
    let msg = [0x5au8; 64];
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < dur {
        std::hint::black_box(key.sign(std::hint::black_box(&msg)));
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn parallel_sign(
    run: &Path,
    clients: u64,
    dur: Duration,
    p: &Label,
    n: &Label,
) -> Result<f64, NxError> {
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (run, p, n) = (run.to_path_buf(), p.clone(), n.clone());
            std::thread::spawn(move || -> Result<u64, KeychainError> {
                let kc = Keychain::connect(run);
                let mut count = 0;
                while start.elapsed() < dur {
                    kc.sign(&p, &n, &[0x5a; 64])?;
                    count += 1;
                }
                Ok(count)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        let r = h.join().map_err(|_| NxError::Local {
            code: ErrorCode::Eio,
            msg: "a bench client failed".into(),
        })?;
        total += r?;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// How the vault part got its session, to undo it afterwards.
enum SessionOrigin {
    Given,
    LoggedIn,
    CreatedUser(nexus_core::UserId),
}

fn open_session(
    ctx: &mut Ctx<'_>,
    kc: &Keychain,
    a: &BenchArgs,
) -> Result<Option<(SessionId, SessionOrigin)>, NxError> {
    let (user, origin) = match (&a.login, &a.create_user) {
        (Some(u), _) => (u.clone(), SessionOrigin::LoggedIn),
        (None, Some(u)) => (u.clone(), SessionOrigin::CreatedUser(u.clone())),
        // A given session: --sid-file, else $NEXUS_SID (never stdin here).
        (None, None) => {
            let env = ctx.sid_env.clone().filter(|v| !v.trim().is_empty());
            if a.sid_file.is_none() && env.is_none() {
                return Ok(None);
            }
            let sid = read_sid(&mut ctx.io, a.sid_file.as_deref(), env.as_deref())?;
            return Ok(Some((sid, SessionOrigin::Given)));
        }
    };
    let pw = read_password(&mut ctx.io, a.password.password_file.as_deref(), "Password")?;
    if let SessionOrigin::CreatedUser(u) = &origin {
        kc.user_create(u, &pw)?;
    }
    Ok(Some((kc.login(&user, &pw)?.sid, origin)))
}

fn vault_part(kc: &Keychain, sid: &SessionId, dur: Duration) -> Result<Json, NxError> {
    let value = [0x42u8; 256];
    let name = |i: usize| format!("nx-bench-{}", i % VAULT_NAMES);
    let put = Lat::measure(dur, |i| Ok(kc.put(sid, &name(i), &value).map(drop)?));
    let get = put.and_then(|put| {
        let used = put.ops.min(VAULT_NAMES);
        let get = Lat::measure(dur, |i| {
            Ok(kc.get(sid, &name(i % used.max(1))).map(drop)?)
        })?;
        Ok((put, get, used))
    });
    // Clean up whatever was written, whether or not the measurement failed.
    for i in 0..VAULT_NAMES {
        let _ = kc.del(sid, &name(i));
    }
    let (put, get, _) = get?;
    Ok(json!({ "value_bytes": value.len(), "put": put.json(), "get": get.json() }))
}

/// Run `nx bench`.
pub fn run(ctx: &mut Ctx<'_>, a: BenchArgs) -> Result<(), NxError> {
    let dur = Duration::from_secs(a.duration);
    let kc = ctx.keychain();
    let (p, n) = (
        Label::new("bench").map_err(|_| NxError::usage("bad bench key label"))?,
        Label::new("nx-bench").map_err(|_| NxError::usage("bad bench key label"))?,
    );
    match kc.create_key(&p, &n, KeyAlg::Ed25519) {
        Ok(_) => {}
        Err(KeychainError::Remote {
            code: ErrorCode::Ealready,
            ..
        }) => {}
        Err(e) => return Err(e.into()),
    }
    let raw = raw_sign_rate(dur)?;
    let one = Lat::measure(dur, |_| Ok(kc.sign(&p, &n, &[0x5a; 64]).map(drop)?))?;
    let many = parallel_sign(&ctx.run, a.clients, dur, &p, &n)?;
    let vault = match open_session(ctx, &kc, &a)? {
        None => {
            json!({ "skipped": "no session: give --sid-file (or NEXUS_SID), --login or --create-user" })
        }
        Some((sid, origin)) => {
            let r = vault_part(&kc, &sid, dur);
            match origin {
                SessionOrigin::Given => {}
                SessionOrigin::LoggedIn => {
                    let _ = kc.logout(&sid);
                }
                SessionOrigin::CreatedUser(u) => {
                    let _ = kc.logout(&sid);
                    let _ = kc.user_delete(&u);
                }
            }
            r?
        }
    };
    let nonce = [0x17u8; 16];
    let claims = CustomClaims::new();
    let attest = Lat::measure(dur, |_| Ok(kc.attest(&p, &n, &nonce, &claims).map(drop)?))?;

    let j = json!({
        "duration_secs": a.duration,
        "raw_ed25519_sign_ops_per_sec": raw.round(),
        "sign": {
            "clients_1": one.json(),
            "clients_n": { "clients": a.clients, "ops_per_sec": many.round() },
        },
        "vault": vault,
        "attest": attest.json(),
    });
    let vault_text = match (vault.get("put"), vault.get("get")) {
        (Some(p), Some(g)) => format!(
            "vault put: p50 {} us, p99 {} us\nvault get: p50 {} us, p99 {} us",
            p["p50_us"], p["p99_us"], g["p50_us"], g["p99_us"]
        ),
        _ => format!("vault: {}", vault["skipped"].as_str().unwrap_or("skipped")),
    };
    let human = format!(
        "raw in-process Ed25519 sign: {raw:.0} ops/s\n\
key.sign, 1 client: {:.0} ops/s (p50 {} us, p99 {} us)\n\
key.sign, {} clients: {many:.0} ops/s\n{vault_text}\n\
attest: p50 {} us, p99 {} us",
        one.rate(),
        one.pct(0.5),
        one.pct(0.99),
        a.clients,
        attest.pct(0.5),
        attest.pct(0.99),
    );
    ctx.emit(j, &human)
}
