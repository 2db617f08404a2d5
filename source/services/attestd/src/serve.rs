//! The daemon: nexus-daemon's process contract around [`Attestd`] over
//! keystored.
//!
//! Invariants:
//! - attestd reaches the keystore only through the upstream endpoint named
//!   `keystored` (handed over by nexus-init; its channel subject is
//!   `system:attestd`). It holds no key and no state of its own.
//! - `attestd: ready` is printed (by nexus-daemon) only after [`build`]
//!   returned: the device key exists and a self-test token signed through
//!   keystored verified; and after keystored answered `status`.
//! - Every decision attestd makes (`identity.attest`, device key rotation)
//!   goes to the policy engine, which audits it to attestd's audit log.

use crate::error::AttestError;
use crate::handler::{AttestdHandler, SERVICE};
use crate::remote::RemoteBackend;
use crate::service::Attestd;
use nexus_core::{Authorizer, Clock, SystemClock};
use nexus_daemon::{Context, Service, Spec, UpstreamError};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The upstream endpoint attestd calls.
pub const KEYSTORED: &str = "keystored";

/// attestd's process spec: a public socket, keystored upstream.
pub const SPEC: Spec = Spec {
    name: SERVICE,
    version: env!("CARGO_PKG_VERSION"),
    public_socket: true,
    needs_trust_dir: false,
    // keymintd only for its state key (its root guards its audit log).
    upstreams: &[KEYSTORED, "keymintd"],
    owns: &[],
};

/// How long start-up keeps trying to reach keystored for the device key.
const START_PATIENCE: Duration = Duration::from_secs(30);

/// Whether a start-up failure may pass once keystored is reachable.
fn transient(e: &AttestError) -> bool {
    matches!(
        e,
        AttestError::Upstream(UpstreamError::Unavailable(_) | UpstreamError::Transport { .. })
    )
}

/// Build the service: the device key is ensured and self-tested before
/// this returns, so the daemon's ready marker is true when printed.
pub fn build(ctx: &Context) -> Result<Service<AttestdHandler>, AttestError> {
    let authz: Arc<dyn Authorizer> = ctx.policy().clone();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let deadline = Instant::now() + START_PATIENCE;
    let svc = loop {
        let backend = RemoteBackend::new(Box::new(ctx.upstreams().handle(KEYSTORED)))?;
        match Attestd::start(Box::new(backend), authz.clone(), clock.clone()) {
            Ok(svc) => break svc,
            Err(e)
                if transient(&e)
                    && Instant::now() < deadline
                    && ctx.shutdown().reason().is_none() =>
            {
                eprintln!("{SERVICE}: waiting for keystored: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    };
    let device = svc.device_key()?;
    eprintln!(
        "{SERVICE}: device key system/device-attest/device v{} kid={} (software stub, not hardware-backed)",
        device.version, device.kid
    );
    let insecure = svc.status().insecure;
    let markers = ctx.markers().clone();
    let handler = AttestdHandler::new(
        Arc::new(svc),
        Box::new(move |line: &str| {
            if let Err(e) = markers.line(line) {
                eprintln!("{SERVICE}: cannot write a marker: {e}");
            }
        }),
    );
    Ok(Service { handler, insecure })
}

/// The whole process: parse the command line, start, serve, stop.
pub fn serve() -> ExitCode {
    nexus_daemon::run(SPEC, build)
}
