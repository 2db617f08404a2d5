//! The trust step: what the selftest's subject must NOT be able to do to
//! the trust store and its two consumers, checked against the running
//! services.
//!
//! The selftest holds no trust-write, bundle-install or update-stage
//! capability, so it cannot legitimately give the trust store a root for
//! a key it made; it therefore proves the denials only, and its marker
//! says so: `trust ok (denials only)`. The throw-away minisign key signs
//! real artifacts (a bundle and an update, in a private temporary
//! directory), so the services are refused something well-formed, not
//! something they could reject for its shape.
//!
//! Invariants: each denial must be the contract's exact code (`EPERM`);
//! after the refused `trust.add` the key is confirmed absent from
//! `trust.list`, and after the refused install the bundle is absent from
//! `bundle.list` and no update is pending for it.

use crate::keys::{label, SignKey, PURPOSE};
use crate::report::{at, check, refused, StepError};
use nexus_core::{ErrorCode, Label};
use nexus_keychain::{Keychain, Retry, ServiceClient, TrustAdd};
use nexus_proto::{self as proto, ArtifactArgs, Empty};
use std::fs;
use trust::minisign::MinisignSecretKey;
use trust::{Kind, Scope, Version};

/// The name of the throw-away bundle.
const BUNDLE: &str = "org.nexus.selftest";

fn local(what: &'static str) -> impl FnOnce(std::io::Error) -> StepError {
    move |source| StepError::Local { what, source }
}

fn publish(
    dir: &std::path::Path,
    kind: Kind,
    name: &str,
    key: &MinisignSecretKey,
) -> Result<(), StepError> {
    fs::create_dir(dir).map_err(local("artifact directory"))?;
    fs::write(dir.join("hello.txt"), b"nexus selftest artifact\n")
        .map_err(local("artifact file"))?;
    trust::sign_artifact(
        dir,
        kind,
        label(name)?,
        Version::parse("999.0").map_err(|_| StepError::Check("bad version".into()))?,
        kind.scope(),
        key,
        &format!("selftest {} {name}", kind.as_str()),
    )?;
    Ok(())
}

fn path_args(dir: &std::path::Path) -> Result<ArtifactArgs, StepError> {
    let path = dir
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| StepError::Check("temporary path is not UTF-8".into()))?;
    Ok(ArtifactArgs { path, force: None })
}

/// Run the denial checks.
pub fn trust(
    kc: &Keychain,
    bundles: &ServiceClient,
    updates: &ServiceClient,
    sign_key: &SignKey,
) -> Result<(), StepError> {
    let key = MinisignSecretKey::generate()
        .map_err(|e| StepError::Check(format!("minisign key: {e}")))?;
    let kid = keymint::kid::ed25519_kid(key.public_key().verifying_key());

    // 1. The trust store: a system subject without identity.trust.write.
    let add = TrustAdd::Key {
        public_key: key.public_key().to_file_text(),
        label: Label::new("selftest-temp").map_err(|_| StepError::Check("label".into()))?,
        scopes: vec![Scope::Packages.as_str().to_owned()],
        not_before: None,
        not_after: None,
    };
    refused("trust.add", ErrorCode::Eperm, kc.trust_add(&add))?;
    let roots = kc.trust_list().map_err(at("trust.list"))?;
    check(roots.iter().all(|r| r.kid != kid), || {
        "a refused root is in the trust store".into()
    })?;

    // 2. bundlemgrd and updated: well-formed signed artifacts, refused.
    let tmp = tempfile::Builder::new()
        .prefix("nexus-selftest-")
        .tempdir()
        .map_err(local("temporary directory"))?;
    let bundle_dir = tmp.path().join("bundle");
    publish(&bundle_dir, Kind::Bundle, BUNDLE, &key)?;
    let install = path_args(&bundle_dir)?;
    refused(
        "bundle.install",
        ErrorCode::Eperm,
        bundles.call_op::<proto::BundleInstall>(&install, Retry::Once),
    )?;
    let listed = bundles
        .call_op::<proto::BundleList>(&Empty {}, Retry::Idempotent)
        .map_err(at("bundle.list"))?;
    check(
        listed.bundles.iter().all(|b| b.name.as_str() != BUNDLE),
        || "a refused bundle is installed".into(),
    )?;

    let update_dir = tmp.path().join("update");
    publish(&update_dir, Kind::Update, updated_product(), &key)?;
    let stage = path_args(&update_dir)?;
    refused(
        "update.stage",
        ErrorCode::Eperm,
        updates.call_op::<proto::UpdateStage>(&stage, Retry::Once),
    )?;
    let st = updates
        .call_op::<proto::UpdateStatus>(&Empty {}, Retry::Idempotent)
        .map_err(at("update.status"))?;
    check(st.pending.is_none(), || {
        "an update is pending after a refused stage".into()
    })?;

    // 3. The capability matrix on keys: no export for the selftest.
    refused(
        "key.export",
        ErrorCode::Eperm,
        kc.export_wrapped(&label(PURPOSE)?, &sign_key.name, None),
    )?;
    eprintln!(
        "selftest: trust: trust.add, bundle.install, update.stage, key.export refused with EPERM (temp root kid={kid})"
    );
    Ok(())
}

/// The product name updated accepts (the denial must not hinge on a
/// wrong product name).
fn updated_product() -> &'static str {
    "nexus-os"
}
