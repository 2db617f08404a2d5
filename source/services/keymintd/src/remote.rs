//! [`RemoteKeyMint`]: keymint's [`KeyOps`] and [`VaultKeyOps`] over a wire
//! connection to keymintd. keystored and identityd use it so that they
//! hold only wrapped blobs and never private key material.
//!
//! Invariants:
//! - Errors come back as their code only ([`KeyMintError::Remote`]), except
//!   `ELOCKED`, which becomes [`KeyMintError::Locked`] so callers keep
//!   telling "locked" from every other failure, and keymintd being down,
//!   which becomes [`KeyMintError::Unavailable`] (`EAGAIN`, naming
//!   keymintd), never "locked" or "not unsealed". A reply of the wrong shape
//!   is `EIO`. No remote text is carried into the error.
//! - Byte strings built into a request (auth secrets, plaintexts) are
//!   zeroized once the request has been sent; plaintexts in replies move
//!   straight into zeroizing buffers.
//! - Public keys from keymintd pass the strict parser (canonical, not
//!   small-order) before a caller sees them.
//! - Every op is sent as idempotent: keymintd keeps no state that a repeat
//!   could corrupt (generate makes a fresh key the caller alone stores;
//!   session unseal and end are idempotent).

use crate::params;
use ed25519_dalek::Signature;
use keymint::{
    AuthSecret, GeneratedKey, KeyIdentity, KeyMintError, KeyOps, VaultKeyOps, WrappedKey,
    WrappedVaultKey,
};
use nexus_core::{Coded, ErrorCode, SessionId, UserId};
use nexus_daemon::{Call, Context, UpstreamError};
use std::time::{Duration, Instant};
use wire::{Args, Value};
use zeroize::Zeroizing;

/// keymint in another process.
pub struct RemoteKeyMint {
    call: Box<dyn Call>,
    device_id: [u8; 32],
    insecure: bool,
}

impl std::fmt::Debug for RemoteKeyMint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeyMint")
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

fn malformed() -> KeyMintError {
    KeyMintError::Remote {
        code: ErrorCode::Eio,
    }
}

fn from_upstream(e: &UpstreamError) -> KeyMintError {
    if e.is_unavailable() {
        return KeyMintError::Unavailable;
    }
    match e.code() {
        ErrorCode::Elocked => KeyMintError::Locked,
        code => KeyMintError::Remote { code },
    }
}

/// The fields of a reply map, taken out by name (moved, not copied).
struct Fields(Vec<(Value, Value)>);

impl Fields {
    fn of(v: Value) -> Result<Fields, KeyMintError> {
        match v {
            Value::Map(pairs) => Ok(Fields(pairs)),
            _ => Err(malformed()),
        }
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k.as_text() == Some(name))?;
        Some(self.0.swap_remove(i).1)
    }

    fn bytes(&mut self, name: &str) -> Result<Vec<u8>, KeyMintError> {
        match self.take(name) {
            Some(Value::Bytes(b)) => Ok(b),
            _ => Err(malformed()),
        }
    }

    fn bool(&mut self, name: &str) -> Result<bool, KeyMintError> {
        match self.take(name) {
            Some(Value::Bool(b)) => Ok(b),
            _ => Err(malformed()),
        }
    }

    fn count(&mut self, name: &str) -> Result<usize, KeyMintError> {
        match self.take(name) {
            Some(Value::Integer(i)) => usize::try_from(i).map_err(|_| malformed()),
            _ => Err(malformed()),
        }
    }
}

impl RemoteKeyMint {
    /// Connect through `call` and learn the device id and mode
    /// (`km.device`), which [`KeyOps::device_id`] and
    /// [`KeyOps::is_insecure`] then report without a round trip.
    pub fn connect(call: impl Call + 'static) -> Result<RemoteKeyMint, KeyMintError> {
        let mut r = RemoteKeyMint {
            call: Box::new(call),
            device_id: [0; 32],
            insecure: false,
        };
        let mut f = r.request("km.device", Args::new())?;
        r.device_id = f.bytes("device_id")?.try_into().map_err(|_| malformed())?;
        r.insecure = f.bool("insecure")?;
        Ok(r)
    }

    fn request(&self, op: &str, args: Args) -> Result<Fields, KeyMintError> {
        let result = self.call.call(op, &args, true);
        params::scrub(args);
        Fields::of(result.map_err(|e| from_upstream(&e))?)
    }

    fn with_ident(id: &KeyIdentity) -> Args {
        Args::new().with("ident", params::ident_value(id))
    }

    fn plaintext(mut f: Fields) -> Result<Zeroizing<Vec<u8>>, KeyMintError> {
        match f.take("pt") {
            Some(Value::Bytes(b)) => Ok(Zeroizing::new(b)),
            _ => Err(malformed()),
        }
    }

    fn secret(a: &AuthSecret) -> Value {
        Value::Bytes(a.expose_secret().to_vec())
    }
}

impl KeyOps for RemoteKeyMint {
    fn generate(&self, id: &KeyIdentity) -> Result<GeneratedKey, KeyMintError> {
        let mut f = self.request("km.generate", Self::with_ident(id))?;
        let wrapped = WrappedKey::from_bytes(f.bytes("wrapped")?);
        let public = match (f.take("public"), id.alg) {
            (Some(Value::Bytes(pk)), keymint::Algorithm::Ed25519) => {
                Some(keymint::ed25519::parse_public_key(&pk).map_err(|_| malformed())?)
            }
            (Some(Value::Null), keymint::Algorithm::XChaCha20Poly1305) => None,
            _ => return Err(malformed()),
        };
        Ok(GeneratedKey { wrapped, public })
    }

    fn sign(
        &self,
        id: &KeyIdentity,
        blob: &WrappedKey,
        msg: &[u8],
    ) -> Result<Signature, KeyMintError> {
        let args = Self::with_ident(id)
            .with("wrapped", Value::Bytes(blob.as_bytes().to_vec()))
            .with("msg", Value::Bytes(msg.to_vec()));
        let sig = self.request("km.sign", args)?.bytes("sig")?;
        Signature::from_slice(&sig).map_err(|_| malformed())
    }

    fn seal(
        &self,
        id: &KeyIdentity,
        blob: &WrappedKey,
        aad: &[u8],
        pt: &[u8],
    ) -> Result<Vec<u8>, KeyMintError> {
        let args = Self::with_ident(id)
            .with("wrapped", Value::Bytes(blob.as_bytes().to_vec()))
            .with("aad", Value::Bytes(aad.to_vec()))
            .with("pt", Value::Bytes(pt.to_vec()));
        self.request("km.seal", args)?.bytes("sealed")
    }

    fn unseal(
        &self,
        id: &KeyIdentity,
        blob: &WrappedKey,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyMintError> {
        let args = Self::with_ident(id)
            .with("wrapped", Value::Bytes(blob.as_bytes().to_vec()))
            .with("aad", Value::Bytes(aad.to_vec()))
            .with("sealed", Value::Bytes(sealed.to_vec()));
        Self::plaintext(self.request("km.unseal", args)?)
    }

    fn device_id(&self) -> [u8; 32] {
        self.device_id
    }

    fn is_insecure(&self) -> bool {
        self.insecure
    }
}

impl VaultKeyOps for RemoteKeyMint {
    fn create_vault_key(
        &self,
        user: &UserId,
        auth: &AuthSecret,
    ) -> Result<WrappedVaultKey, KeyMintError> {
        let args = Args::new()
            .with("user", user.as_str())
            .with("auth", Self::secret(auth));
        let wrapped = self
            .request("km.vault_key.create", args)?
            .bytes("wrapped")?;
        Ok(WrappedVaultKey::from_bytes(wrapped))
    }

    fn unseal_session(
        &self,
        sid: SessionId,
        user: &UserId,
        auth: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<(), KeyMintError> {
        let args = Args::new()
            .with("sid", sid.to_string())
            .with("user", user.as_str())
            .with("auth", Self::secret(auth))
            .with("wrapped", Value::Bytes(wrapped.as_bytes().to_vec()));
        self.request("km.session.unseal", args).map(drop)
    }

    fn rewrap_vault_key(
        &self,
        user: &UserId,
        old: &AuthSecret,
        new: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<WrappedVaultKey, KeyMintError> {
        let args = Args::new()
            .with("user", user.as_str())
            .with("old", Self::secret(old))
            .with("new", Self::secret(new))
            .with("wrapped", Value::Bytes(wrapped.as_bytes().to_vec()));
        let wrapped = self
            .request("km.vault_key.rewrap", args)?
            .bytes("wrapped")?;
        Ok(WrappedVaultKey::from_bytes(wrapped))
    }

    /// An unreachable keymintd is reported as "was not unsealed": if it
    /// died, its session table (in memory only) died with it.
    fn end_session(&self, sid: SessionId) -> bool {
        let args = Args::new().with("sid", sid.to_string());
        match self.request("km.session.end", args) {
            Ok(mut f) => f.bool("was_unsealed").unwrap_or(false),
            Err(e) => {
                eprintln!("keymint: ending a session failed: {e}");
                false
            }
        }
    }

    fn end_all_sessions(&self) -> Result<usize, KeyMintError> {
        self.request("km.session.end_all", Args::new())?
            .count("ended")
    }

    /// A failure to ask is an error, never "not unsealed": a caller must
    /// not report a session as locked because keymintd is down.
    fn session_user(&self, sid: SessionId) -> Result<Option<UserId>, KeyMintError> {
        let args = Args::new().with("sid", sid.to_string());
        let mut f = self.request("km.session.user", args)?;
        match f.take("user") {
            Some(Value::Text(t)) => UserId::new(t).map(Some).map_err(|_| malformed()),
            Some(Value::Null) | None => Ok(None),
            Some(_) => Err(malformed()),
        }
    }

    fn vault_seal(&self, sid: SessionId, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, KeyMintError> {
        let args = Args::new()
            .with("sid", sid.to_string())
            .with("aad", Value::Bytes(aad.to_vec()))
            .with("pt", Value::Bytes(pt.to_vec()));
        self.request("km.vault.seal", args)?.bytes("sealed")
    }

    fn vault_unseal(
        &self,
        sid: SessionId,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyMintError> {
        let args = Args::new()
            .with("sid", sid.to_string())
            .with("aad", Value::Bytes(aad.to_vec()))
            .with("sealed", Value::Bytes(sealed.to_vec()));
        Self::plaintext(self.request("km.vault.unseal", args)?)
    }
}

/// The endpoint name of keymintd on a client's control channel.
pub const KEYMINTD: &str = "keymintd";

/// How long a client's start-up keeps asking keymintd for `km.device`: the
/// same bound nexus-daemon gives a required upstream.
const STARTUP: Duration = Duration::from_secs(30);

/// Connect a daemon to keymintd through its upstream registry and learn the
/// device (`km.device`). Transport failures (no endpoint yet, a restart)
/// are retried until the start-up bound, each attempt itself bounded by
/// the registry's wait; a refusal is final.
pub fn connect_upstream(ctx: &Context) -> Result<RemoteKeyMint, KeyMintError> {
    let deadline = Instant::now() + STARTUP;
    loop {
        match RemoteKeyMint::connect(ctx.upstreams().handle(KEYMINTD)) {
            Ok(km) => return Ok(km),
            Err(e)
                if matches!(
                    e.code(),
                    ErrorCode::Eio | ErrorCode::Ebusy | ErrorCode::Eagain
                ) && Instant::now() < deadline
                    && ctx.shutdown().reason().is_none() =>
            {
                eprintln!("{}: still waiting for keymintd: {e}", ctx.spec().name);
                // Calls to a service that is down fail at once: wait for
                // its endpoint rather than spin.
                ctx.upstreams().wait_connected(KEYMINTD, deadline);
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}
