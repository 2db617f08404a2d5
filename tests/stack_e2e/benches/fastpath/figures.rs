//! Latency samples and the floors the stack is compared with: a raw
//! in-process Ed25519 sign and strict verify, a bare Unix-socket round
//! trip (and the same through the project's wire server, for what the
//! server adds), a bare atomic write, and OpenSSH's ssh-agent signing over
//! its socket.

use ed25519_dalek::{Signer, SigningKey};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The per-op latencies of one measurement.
pub struct Lat {
    pub secs: f64,
    pub sorted: Vec<Duration>,
}

impl Lat {
    /// Call `f` (with the call's index) for `dur`, timing each call.
    pub fn measure(dur: Duration, mut f: impl FnMut(usize)) -> Lat {
        let start = Instant::now();
        let mut all = Vec::new();
        while start.elapsed() < dur {
            let t = Instant::now();
            f(all.len());
            all.push(t.elapsed());
        }
        let secs = start.elapsed().as_secs_f64();
        all.sort_unstable();
        Lat { secs, sorted: all }
    }

    /// Nearest-rank percentile, in µs.
    pub fn pct_us(&self, q: f64) -> f64 {
        let n = self.sorted.len();
        if n == 0 {
            return 0.0;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.sorted[rank - 1].as_secs_f64() * 1e6
    }

    pub fn p50(&self) -> f64 {
        self.pct_us(0.5)
    }

    pub fn rate(&self) -> f64 {
        self.sorted.len() as f64 / self.secs
    }

    pub fn line(&self) -> String {
        format!(
            "{:>9.0} ops/s  p50 {:>7.1} µs  p99 {:>8.1} µs",
            self.rate(),
            self.p50(),
            self.pct_us(0.99)
        )
    }
}

/// Raw Ed25519 signing of 64 bytes in this process.
pub fn raw_sign(dur: Duration) -> Lat {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let msg = [0x5au8; 64];
    Lat::measure(dur, |_| {
        std::hint::black_box(key.sign(std::hint::black_box(&msg)));
    })
}

/// Raw strict Ed25519 verification of a 64-byte message's signature in
/// this process: what attestd spends checking each token's device
/// signature (`verify_strict`, as `keymint::ed25519::verify` does).
pub fn raw_verify(dur: Duration) -> Lat {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let public = key.verifying_key();
    let msg = [0x5au8; 64];
    let sig = key.sign(&msg);
    Lat::measure(dur, |_| {
        std::hint::black_box(public.verify_strict(std::hint::black_box(&msg), &sig)).unwrap();
    })
}

/// A 64-byte request and a 64-byte answer over a Unix socket pair, echoed
/// by a second thread: the cost of one hop with no work at either end.
pub fn bare_round_trip(dur: Duration) -> Lat {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while b.read_exact(&mut buf).is_ok() {
            if b.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let mut buf = [0x33u8; 64];
    let lat = Lat::measure(dur, |_| {
        a.write_all(&buf).unwrap();
        a.read_exact(&mut buf).unwrap();
    });
    drop(a);
    echo.join().unwrap();
    lat
}

/// The same 64 bytes through the project's own wire server (epoll,
/// one-shot arming, an echo handler) and wire client: what one hop costs
/// the stack before any service does any work.
pub fn wire_round_trip(dir: &Path, dur: Duration) -> Lat {
    use wire::{Args, Client, PeerCredResolver, Server, ServerConfig, Subject, Value};
    let path = dir.join("echo.sock");
    let server = Server::new(
        |_: &wire::CallContext, req: &wire::Request| Ok(req.args().clone().into_value()),
        ServerConfig::default(),
    );
    server
        .listen(&path, PeerCredResolver::new(|uid| Some(Subject::Uid(uid))))
        .unwrap();
    let mut client = Client::connect(&path).unwrap();
    let args = Args::new().with("msg", Value::Bytes(vec![0x33; 64]));
    let lat = Lat::measure(dur, |_| {
        client.call("echo", &args).unwrap();
    });
    drop(client);
    server.shutdown();
    lat
}

/// An atomic replacement of a file holding `bytes` as statefs does it:
/// write a temporary file, fsync it, rename it over the target, fsync the
/// directory.
pub fn bare_atomic_write(dir: &Path, bytes: &[u8], dur: Duration) -> Lat {
    std::fs::create_dir_all(dir).unwrap();
    let target = dir.join("vault.kv");
    let d = std::fs::File::open(dir).unwrap();
    Lat::measure(dur, |i| {
        let tmp = dir.join(format!(".tmp.{i}"));
        let mut f = std::fs::File::create(&tmp).unwrap();
        f.write_all(bytes).unwrap();
        f.sync_all().unwrap();
        std::fs::rename(&tmp, &target).unwrap();
        d.sync_all().unwrap();
    })
}

/// OpenSSH's ssh-agent signing 64 bytes with an Ed25519 key over its
/// socket (a fresh agent, the key added with ssh-add); `None` when
/// ssh-agent or ssh-add is not installed.
pub fn ssh_agent(dir: &Path, dur: Duration) -> Option<Lat> {
    use ssh_key::private::{Ed25519Keypair, PrivateKey};
    let sock = dir.join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let until = Instant::now() + Duration::from_secs(10);
    while !sock.exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&[9u8; 32]));
    let file = dir.join("agent-key");
    let text = key.to_openssh(ssh_key::LineEnding::LF).unwrap();
    std::fs::write(&file, text.as_bytes()).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let added = Command::new("ssh-add")
        .arg(&file)
        .env("SSH_AUTH_SOCK", &sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    if !added.success() {
        let _ = agent.kill();
        return None;
    }
    let blob = key.public_key().to_bytes().unwrap();
    // SSH_AGENTC_SIGN_REQUEST: byte 13, string key blob, string data,
    // uint32 flags; the answer is SSH_AGENT_SIGN_RESPONSE (14).
    let data = [0x5au8; 64];
    let mut body = vec![13u8];
    body.extend_from_slice(&(blob.len() as u32).to_be_bytes());
    body.extend_from_slice(&blob);
    body.extend_from_slice(&(data.len() as u32).to_be_bytes());
    body.extend_from_slice(&data);
    body.extend_from_slice(&0u32.to_be_bytes());
    let mut request = (body.len() as u32).to_be_bytes().to_vec();
    request.extend_from_slice(&body);
    let mut s = UnixStream::connect(&sock).unwrap();
    let lat = Lat::measure(dur, |_| {
        s.write_all(&request).unwrap();
        let mut len = [0u8; 4];
        s.read_exact(&mut len).unwrap();
        let mut answer = vec![0u8; u32::from_be_bytes(len) as usize];
        s.read_exact(&mut answer).unwrap();
        assert_eq!(answer[0], 14, "ssh-agent refused the sign request");
    });
    let _ = agent.kill();
    let _ = agent.wait();
    Some(lat)
}
