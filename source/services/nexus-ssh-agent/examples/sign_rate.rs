//! Signatures per second through two SSH agents, in one run: this
//! project's nexus-ssh-agent and OpenSSH's ssh-agent, the same key type
//! (Ed25519) and the same message, one client connection each, measured
//! alternately so that both see the same machine load.
//!
//! ```text
//! cargo run --release -p nexus-ssh-agent --example sign_rate -- \
//!     --nexus NEXUS_SOCK --openssh OPENSSH_SOCK [--seconds 5] [--rounds 3] [--bytes 128]
//! ```
//!
//! `scripts/bench-ssh-agent.sh` starts both agents (and the stack) and runs
//! this. Each agent's first Ed25519 identity signs; every signature of the
//! first request is verified here, so a fast wrong answer cannot pass.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use nexus_ssh_agent::proto::cursor::{put_string, Cursor};
use nexus_ssh_agent::proto::msg;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

struct Agent {
    name: &'static str,
    stream: UnixStream,
    blob: Vec<u8>,
    public: [u8; 32],
}

fn call(s: &mut UnixStream, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(4 + body.len());
    m.extend_from_slice(&(body.len() as u32).to_be_bytes());
    m.extend_from_slice(body);
    s.write_all(&m).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut reply = vec![0; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut reply).unwrap();
    reply
}

impl Agent {
    fn open(name: &'static str, path: &PathBuf) -> Agent {
        let mut stream =
            UnixStream::connect(path).unwrap_or_else(|e| panic!("{name}: {}: {e}", path.display()));
        let reply = call(&mut stream, &[msg::REQUEST_IDENTITIES]);
        let mut c = Cursor::new(&reply);
        assert_eq!(
            c.byte().unwrap(),
            msg::IDENTITIES_ANSWER,
            "{name}: identities"
        );
        let n = c.u32().unwrap();
        for _ in 0..n {
            let blob = c.string().unwrap().to_vec();
            c.string().unwrap();
            let mut k = Cursor::new(&blob);
            if k.string().unwrap() == b"ssh-ed25519" {
                let public = *k.fixed::<32>("key").unwrap();
                return Agent {
                    name,
                    stream,
                    blob,
                    public,
                };
            }
        }
        panic!("{name}: no Ed25519 identity");
    }

    fn sign_request(&self, data: &[u8]) -> Vec<u8> {
        let mut m = vec![msg::SIGN_REQUEST];
        put_string(&mut m, &self.blob);
        put_string(&mut m, data);
        m.extend_from_slice(&0u32.to_be_bytes());
        m
    }

    fn check(&mut self, data: &[u8]) {
        let req = self.sign_request(data);
        let reply = call(&mut self.stream, &req);
        let mut c = Cursor::new(&reply);
        assert_eq!(c.byte().unwrap(), msg::SIGN_RESPONSE, "{}: sign", self.name);
        let blob = c.string().unwrap();
        let mut s = Cursor::new(blob);
        assert_eq!(s.string().unwrap(), b"ssh-ed25519");
        let sig = Signature::from_bytes(s.fixed::<64>("sig").unwrap());
        VerifyingKey::from_bytes(&self.public)
            .unwrap()
            .verify(data, &sig)
            .unwrap_or_else(|_| panic!("{}: bad signature", self.name));
    }

    /// Signatures made in `dur`, one request at a time, and the median
    /// latency.
    fn measure(&mut self, data: &[u8], dur: Duration) -> (u64, Duration) {
        let req = self.sign_request(data);
        let mut lat = Vec::new();
        let start = Instant::now();
        while start.elapsed() < dur {
            let t = Instant::now();
            let reply = call(&mut self.stream, &req);
            assert_eq!(reply[0], msg::SIGN_RESPONSE, "{}: sign", self.name);
            lat.push(t.elapsed());
        }
        let n = lat.len() as u64;
        lat.sort();
        (n, lat[lat.len() / 2])
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut nexus, mut openssh) = (None, None);
    let (mut seconds, mut rounds, mut bytes) = (5u64, 3u32, 128usize);
    while let Some(a) = args.next() {
        let mut v = || args.next().expect("a value");
        match a.as_str() {
            "--nexus" => nexus = Some(PathBuf::from(v())),
            "--openssh" => openssh = Some(PathBuf::from(v())),
            "--seconds" => seconds = v().parse().expect("--seconds N"),
            "--rounds" => rounds = v().parse().expect("--rounds N"),
            "--bytes" => bytes = v().parse().expect("--bytes N"),
            other => panic!("unknown argument {other}"),
        }
    }
    let data: Vec<u8> = (0..bytes).map(|i| (i * 31 % 251) as u8).collect();
    let mut agents = [
        Agent::open("nexus-ssh-agent", &nexus.expect("--nexus SOCK")),
        Agent::open("openssh ssh-agent", &openssh.expect("--openssh SOCK")),
    ];
    for a in &mut agents {
        a.check(&data);
        a.measure(&data, Duration::from_millis(500)); // warm-up
    }
    let per = Duration::from_secs(seconds) / rounds.max(1);
    let mut totals: [(u64, Duration, Vec<Duration>); 2] = Default::default();
    for _ in 0..rounds.max(1) {
        for (i, a) in agents.iter_mut().enumerate() {
            let (n, p50) = a.measure(&data, per);
            totals[i].0 += n;
            totals[i].1 += per;
            totals[i].2.push(p50);
        }
    }
    println!(
        "sign rate, Ed25519, {bytes}-byte message, one connection, {rounds} alternating rounds of {per:?}"
    );
    let mut rates = [0f64; 2];
    for (i, a) in agents.iter().enumerate() {
        let (n, t, p50s) = &totals[i];
        rates[i] = *n as f64 / t.as_secs_f64();
        let mut p = p50s.clone();
        p.sort();
        println!(
            "  {:<18} {:>9.0} signatures/s  (p50 {:?}, {n} signatures)",
            a.name,
            rates[i],
            p[p.len() / 2]
        );
    }
    println!(
        "  ratio nexus-ssh-agent / openssh ssh-agent: {:.2}",
        rates[0] / rates[1]
    );
}
