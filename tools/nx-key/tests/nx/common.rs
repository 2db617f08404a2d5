//! Running `nx` in-process (and as the real binary), and a fake stack.

use nexus_keychain::testkit::FakeService;
use nexus_keychain::Service;
use std::path::Path;
use std::sync::{Arc, Mutex};
use wire::Value;

pub struct Outcome {
    pub code: u8,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Outcome {
    pub fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).unwrap()
    }

    pub fn json(&self) -> serde_json::Value {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        let text = self.text();
        assert_eq!(text.lines().count(), 1, "one JSON line: {text}");
        serde_json::from_str(&text).unwrap()
    }
}

/// Run `nx ARGS` with `stdin` (and no `$NEXUS_SID`, whatever the test's
/// own environment holds).
pub fn nx(args: &[&str], stdin: &[u8]) -> Outcome {
    nx_env(args, stdin, None)
}

/// Run `nx ARGS` with `stdin` and `$NEXUS_SID` = `sid_env`.
pub fn nx_env(args: &[&str], stdin: &[u8], sid_env: Option<&str>) -> Outcome {
    let mut input = stdin;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let io = nx_key::io::Io {
        stdin: &mut input,
        terminal: false,
        stdout: &mut out,
        stderr: &mut err,
    };
    let code = nx_key::run_with_sid_env(
        std::iter::once("nx").chain(args.iter().copied()),
        io,
        sid_env.map(str::to_owned),
    );
    Outcome {
        code,
        stdout: out,
        stderr: String::from_utf8(err).unwrap(),
    }
}

/// Run `nx --run DIR ARGS`.
pub fn nx_at(run: &Path, args: &[&str], stdin: &[u8]) -> Outcome {
    let mut all = vec!["--run", run.to_str().unwrap()];
    all.extend_from_slice(args);
    nx(&all, stdin)
}

pub struct Stack {
    pub dir: tempfile::TempDir,
    pub fakes: Vec<(Service, FakeService)>,
    /// A stand-in for nexus-init on `<run>/init.sock`: `init.status` says
    /// every daemon is up, except what [`Stack::set_state`] changed.
    _init: wire::Server,
    states: Arc<Mutex<Vec<(String, String)>>>,
}

/// The daemons of the shipped manifest, in order.
const DAEMONS: [&str; 6] = [
    "keymintd",
    "keystored",
    "identityd",
    "attestd",
    "bundlemgrd",
    "updated",
];

fn fake_init(run: &Path, states: Arc<Mutex<Vec<(String, String)>>>) -> wire::Server {
    let handler = move |_: &wire::CallContext, req: &wire::Request| {
        if req.op() != "init.status" {
            return Err(wire::WireError::unknown_op(req.op()));
        }
        let services = states
            .lock()
            .unwrap()
            .iter()
            .map(|(name, state)| {
                wire::Args::new()
                    .with("name", name.clone())
                    .with("kind", "daemon")
                    .with("core", name == "keymintd")
                    .with("state", state.clone())
                    .with("restarts", u64::from(state != "up"))
                    .with(
                        "last_exit",
                        if state == "up" {
                            Value::Null
                        } else {
                            Value::Text("signal 9".into())
                        },
                    )
                    .with("pid", Value::Null)
                    .into_value()
            })
            .collect();
        Ok(wire::Args::new()
            .with("ready", true)
            .with("services", Value::Array(services))
            .into_value())
    };
    let server = wire::Server::new(handler, wire::ServerConfig::default());
    server
        .listen(
            run.join("init.sock"),
            wire::PeerCredResolver::new(|uid| Some(wire::Subject::Uid(uid))),
        )
        .unwrap();
    server
}

impl Stack {
    pub fn start() -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let fakes = Service::ALL
            .into_iter()
            .map(|s| (s, FakeService::contract_at(dir.path(), s).unwrap()))
            .collect();
        let states = Arc::new(Mutex::new(
            DAEMONS
                .iter()
                .map(|d| (d.to_string(), "up".to_string()))
                .collect(),
        ));
        let init = fake_init(dir.path(), Arc::clone(&states));
        Stack {
            dir,
            fakes,
            _init: init,
            states,
        }
    }

    /// Make init report `service` in `state`.
    pub fn set_state(&self, service: &str, state: &str) {
        for (name, s) in self.states.lock().unwrap().iter_mut() {
            if name == service {
                *s = state.to_owned();
            }
        }
    }

    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Outcome {
        nx_at(self.dir.path(), args, stdin)
    }

    /// Run with `$NEXUS_SID` = `sid`.
    pub fn run_sid(&self, args: &[&str], stdin: &[u8], sid: &str) -> Outcome {
        let mut all = vec!["--run", self.dir.path().to_str().unwrap()];
        all.extend_from_slice(args);
        nx_env(&all, stdin, Some(sid))
    }

    pub fn fake(&self, s: Service) -> &FakeService {
        &self.fakes.iter().find(|(svc, _)| *svc == s).unwrap().1
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}
