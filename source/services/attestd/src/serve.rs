//! The daemon: nexus-daemon's process contract around [`Attestd`] over
//! keystored.
//!
//! Invariants:
//! - attestd reaches the keystore only through the upstream endpoint named
//!   `keystored` (handed over by nexus-init; its channel subject is
//!   `system:attestd`). It holds no key and no state of its own.
//! - `attestd: ready` is printed (by nexus-daemon) only after [`build`]
//!   returned: the device key exists and a self-test token signed through
//!   keystored verified (or, if the device key is unusable and could not
//!   be healed, after that was said on the console); and after keystored
//!   answered `status`. The state of the device key never stops the start.
//! - Every healing step of the device key (`device.rs`) is a console line
//!   and an audit record (`attest.device_key.heal`, subject
//!   `system:attestd`).
//! - Every decision attestd makes (`identity.attest`, device key rotation)
//!   goes to the policy engine, which audits it to attestd's audit log.

use crate::device::{self, DeviceEvent};
use crate::error::AttestError;
use crate::handler::{AttestdHandler, SERVICE};
use crate::remote::RemoteBackend;
use crate::service::{Attestd, DeviceEventFn};
use nexus_core::{Authorizer, Clock, Subject, SystemClock};
use nexus_daemon::{AuditLog, Context, Service, Spec};
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

/// The audit action of a device key healing step.
pub const HEAL_ACTION: &str = "attest.device_key.heal";

/// Console line and audit record for each device key event.
fn device_events(audit: AuditLog) -> DeviceEventFn {
    let me: Option<Subject> = format!("system:{SERVICE}").parse().ok();
    Box::new(move |e: &DeviceEvent| {
        eprintln!("{SERVICE}: {e}");
        let Some(me) = &me else { return };
        if let Err(err) = audit.record(
            me,
            HEAL_ACTION,
            &e.audit_target(),
            e.is_healed(),
            e.audit_reason(),
        ) {
            eprintln!("{SERVICE}: audit record failed: {err}");
        }
    })
}

/// Build the service: the device key is ensured and self-tested before
/// this returns, so the daemon's ready marker is true when printed.
pub fn build(ctx: &Context) -> Result<Service<AttestdHandler>, AttestError> {
    let authz: Arc<dyn Authorizer> = ctx.policy().clone();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let deadline = Instant::now() + START_PATIENCE;
    let svc = loop {
        let backend = RemoteBackend::new(Box::new(ctx.upstreams().handle(KEYSTORED)))?;
        let events = device_events(ctx.audit().clone());
        match Attestd::start_with(Box::new(backend), authz.clone(), clock.clone(), events) {
            Ok(svc) => break svc,
            Err(e)
                if device::transient(&e)
                    && Instant::now() < deadline
                    && ctx.shutdown().reason().is_none() =>
            {
                eprintln!("{SERVICE}: waiting for keystored: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    };
    match svc.device_key() {
        Ok(device) => eprintln!(
            "{SERVICE}: device key {} v{} kid={} (software stub, not hardware-backed)",
            device.key, device.version, device.kid
        ),
        Err(e) => eprintln!("{SERVICE}: serving without a device key: {e}"),
    }
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
