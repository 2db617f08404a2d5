//! Shared test fixtures: a real server on a socket in a temp dir with a
//! small set of ops, and helpers to speak raw frames to it.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use wire::frame::read_frame;
use wire::{
    decode_reply, Args, CallContext, Client, ErrorCode, PeerCredResolver, Reply, Request, Server,
    ServerConfig, Subject, Value, WireError, MAX_FRAME_LEN,
};

/// Tags of `sleep` requests that reached the handler.
static ENTERED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Whether a `sleep` request with `tag` has reached its handler.
pub fn entered(tag: &str) -> bool {
    ENTERED.lock().unwrap().iter().any(|t| t == tag)
}

/// The ops every test server knows.
pub fn handler(ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
    let a = req.args();
    match req.op() {
        "echo" => Ok(a.clone().into_value()),
        "echo_text" => Ok(Value::Text(a.text("msg")?.to_owned())),
        "whoami" => Ok(Args::new()
            .with("subject", ctx.subject().to_string())
            .with("uid", ctx.uid().map_or(Value::Null, Value::from))
            .with("pid", ctx.pid().map_or(Value::Null, Value::from))
            .with("server_pid", std::process::id())
            .into_value()),
        "sleep" => {
            if let Some(tag) = a.opt_text("tag")? {
                ENTERED.lock().unwrap().push(tag.to_owned());
            }
            std::thread::sleep(Duration::from_millis(a.u64("ms")?));
            Ok(Value::Bool(true))
        }
        "big" => Ok(Value::Bytes(vec![
            0;
            usize::try_from(a.u64("len")?).unwrap()
        ])),
        "fail" => Err(WireError::new(ErrorCode::Enoent, "no such key")),
        "panic" => panic!("handler blew up on purpose"),
        other => Err(WireError::unknown_op(other)),
    }
}

pub struct TestServer {
    pub server: Server,
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::with_config(ServerConfig::default())
    }

    pub fn with_config(config: ServerConfig) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.sock");
        let server = Server::new(handler, config);
        server
            .listen(&path, PeerCredResolver::new(|uid| Some(Subject::Uid(uid))))
            .unwrap();
        TestServer {
            server,
            path,
            _dir: dir,
        }
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.path).unwrap()
    }

    pub fn raw(&self) -> UnixStream {
        let s = UnixStream::connect(&self.path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.shutdown();
    }
}

pub fn echo_ok(c: &mut Client, tag: &str) {
    let args = Args::new().with("msg", tag.to_owned());
    assert_eq!(c.call("echo", &args).unwrap(), args.into_value());
}

pub fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).unwrap();
    out
}

pub fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

pub fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (text(k), v)).collect())
}

/// Read one reply frame from a raw stream.
pub fn read_reply(s: &mut UnixStream) -> Reply {
    let body = read_frame(s, MAX_FRAME_LEN)
        .unwrap()
        .expect("a reply frame");
    decode_reply(&body).unwrap()
}

/// The server closed the connection: the next read sees end of stream.
pub fn assert_closed(s: &mut UnixStream) {
    let mut b = [0u8; 1];
    assert_eq!(s.read(&mut b).unwrap(), 0, "connection should be closed");
}

/// Poll `cond` for up to 5 s.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}
