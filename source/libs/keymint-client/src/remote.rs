//! [`RemoteKeyMint`]: the `km.*` ops of `nexus-proto` through a
//! [`Call`] (an upstream endpoint from nexus-init, or one wire client).

use crate::board::BoardReader;
use crate::convert::{ident_to_wire, owner_from_wire, owner_to_wire};
use ed25519_dalek::Signature;
use keymint::{
    Algorithm, AuthSecret, Ed25519Seed, GeneratedKey, KeyIdentity, KeyMintError, KeyOps,
    SessionKeyOps, SessionLookup, SessionRef, SessionStamp, SyncReport, VaultKeyOps, VaultOwner,
    VerifierInput, WrappedKey, WrappedVaultKey,
};
use nexus_core::{AppId, Coded, ErrorCode, InstanceId, Label, SessionId};
use nexus_daemon::{Call, Context, UpstreamError};
use nexus_proto::{
    self as proto, limits, Bytes, Empty, KeyIdent, KmDevice, KmForget, KmForgetArgs, KmGenerate,
    KmGenerateArgs, KmGenerateReply, KmImport, KmImportArgs, KmInstanceArgs, KmSeal, KmSealArgs,
    KmSessionEnd, KmSessionEndInstance, KmSessionLock, KmSessionRef, KmSessionState, KmSessionSync,
    KmSessionSyncArgs, KmSessionUnseal, KmSessionUnsealArgs, KmSessionUser, KmSessionUserArgs,
    KmSign, KmSignArgs, KmUnseal, KmUnsealArgs, KmVaultKeyCreate, KmVaultKeyCreateArgs,
    KmVaultKeyRewrap, KmVaultKeyRewrapArgs, KmVaultSeal, KmVaultSealArgs, KmVaultUnseal,
    KmVaultUnsealArgs, KmVerifierMac, KmVerifierMacArgs, Op, Secret, SidArgs,
};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// keymint in another process.
pub struct RemoteKeyMint {
    call: Box<dyn Call>,
    device_id: [u8; 32],
    insecure: bool,
    board: Option<BoardReader>,
}

impl std::fmt::Debug for RemoteKeyMint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeyMint")
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

fn malformed(what: &str) -> KeyMintError {
    KeyMintError::Remote {
        code: ErrorCode::Eio,
        msg: format!("keymintd sent a malformed reply: {what}"),
    }
}

fn from_upstream(e: UpstreamError) -> KeyMintError {
    // keymintd down or restarting is "try again" (EAGAIN), never "locked".
    if e.is_unavailable() {
        return KeyMintError::Unavailable;
    }
    match e {
        UpstreamError::Remote {
            code: ErrorCode::Elocked,
            ..
        } => KeyMintError::Locked,
        // keymintd's own words: secret-free by the wire contract.
        UpstreamError::Remote { code, msg, .. } => KeyMintError::Remote { code, msg },
        other => KeyMintError::Remote {
            code: other.code(),
            msg: other.to_string(),
        },
    }
}

fn secret(a: &AuthSecret) -> Secret {
    Secret::copy_from(a.expose_secret())
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
            board: None,
        };
        let d = r.request::<KmDevice>(&Empty {})?;
        r.device_id = d
            .device_id
            .into_vec()
            .try_into()
            .map_err(|_| malformed("device_id is not 32 bytes"))?;
        r.insecure = d.insecure;
        Ok(r)
    }

    /// Read keymintd's session board (`crate::board`) for
    /// [`VaultKeyOps::session_stamp`]. Without one, every vault operation
    /// asks keymintd.
    pub fn with_session_board(mut self, board: BoardReader) -> RemoteKeyMint {
        self.board = Some(board);
        self
    }

    /// Send `O` with `args` and read its typed reply. The encoded request
    /// (which may hold an auth secret or a plaintext) is wiped when it is
    /// dropped, here, once sent.
    fn request<O: Op>(&self, args: &O::Args) -> Result<O::Reply, KeyMintError> {
        let wire_args = proto::encode_args::<O>(args).map_err(|e| KeyMintError::Remote {
            code: e.code(),
            msg: e.to_string(),
        })?;
        let ok = self
            .call
            .call(O::NAME, &wire_args, true)
            .map_err(from_upstream)?;
        drop(wire_args);
        proto::decode_reply::<O>(ok).map_err(|e| malformed(&e.detail))
    }

    fn ident(id: &KeyIdentity) -> Result<KeyIdent, KeyMintError> {
        ident_to_wire(id).ok_or(KeyMintError::Invalid("key version 0"))
    }
}

impl RemoteKeyMint {
    /// A `km.generate` or `km.import` reply for `id`, with its public key
    /// held to the strict rules.
    fn generated(id: &KeyIdentity, g: KmGenerateReply) -> Result<GeneratedKey, KeyMintError> {
        let public = match (g.public, id.alg) {
            (Some(pk), Algorithm::Ed25519) => Some(
                keymint::ed25519::parse_public_key(&pk)
                    .map_err(|_| malformed("public is not a valid Ed25519 key"))?,
            ),
            (None, Algorithm::XChaCha20Poly1305) => None,
            _ => return Err(malformed("public does not fit the algorithm")),
        };
        Ok(GeneratedKey {
            wrapped: WrappedKey::from_bytes(g.wrapped.into_vec()),
            public,
        })
    }
}

impl KeyOps for RemoteKeyMint {
    fn generate(&self, id: &KeyIdentity) -> Result<GeneratedKey, KeyMintError> {
        let g = self.request::<KmGenerate>(&KmGenerateArgs {
            ident: Self::ident(id)?,
        })?;
        Self::generated(id, g)
    }

    /// The seed is copied once, into the request's zeroizing `Secret`; the
    /// encoded request is wiped once sent.
    fn import(&self, id: &KeyIdentity, seed: &Ed25519Seed) -> Result<GeneratedKey, KeyMintError> {
        let g = self.request::<KmImport>(&KmImportArgs {
            ident: Self::ident(id)?,
            private: Secret::copy_from(seed.expose_secret()),
        })?;
        Self::generated(id, g)
    }

    fn sign(
        &self,
        id: &KeyIdentity,
        blob: &WrappedKey,
        msg: &[u8],
    ) -> Result<Signature, KeyMintError> {
        let r = self.request::<KmSign>(&KmSignArgs {
            ident: Self::ident(id)?,
            wrapped: Bytes::from(blob.as_bytes()),
            msg: Bytes::from(msg),
        })?;
        Signature::from_slice(&r.sig).map_err(|_| malformed("sig is not 64 bytes"))
    }

    fn seal(
        &self,
        id: &KeyIdentity,
        blob: &WrappedKey,
        aad: &[u8],
        pt: &[u8],
    ) -> Result<Vec<u8>, KeyMintError> {
        let r = self.request::<KmSeal>(&KmSealArgs {
            ident: Self::ident(id)?,
            wrapped: Bytes::from(blob.as_bytes()),
            aad: Bytes::from(aad),
            pt: Secret::copy_from(pt),
        })?;
        Ok(r.sealed.into_vec())
    }

    fn unseal(
        &self,
        id: &KeyIdentity,
        blob: &WrappedKey,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyMintError> {
        let r = self.request::<KmUnseal>(&KmUnsealArgs {
            ident: Self::ident(id)?,
            wrapped: Bytes::from(blob.as_bytes()),
            aad: Bytes::from(aad),
            sealed: Bytes::from(sealed),
        })?;
        Ok(r.pt.into_zeroizing())
    }

    fn forget(&self, app: &AppId, purpose: &Label, name: &Label) -> Result<(), KeyMintError> {
        self.request::<KmForget>(&KmForgetArgs {
            app: app.clone(),
            purpose: purpose.clone(),
            name: name.clone(),
        })?;
        Ok(())
    }

    fn device_id(&self) -> [u8; 32] {
        self.device_id
    }

    fn is_insecure(&self) -> bool {
        self.insecure
    }
}

impl SessionKeyOps for RemoteKeyMint {
    fn create_vault_key(
        &self,
        owner: &VaultOwner,
        auth: &AuthSecret,
    ) -> Result<WrappedVaultKey, KeyMintError> {
        let r = self.request::<KmVaultKeyCreate>(&KmVaultKeyCreateArgs {
            owner: owner_to_wire(owner),
            auth: secret(auth),
        })?;
        Ok(WrappedVaultKey::from_bytes(r.wrapped.into_vec()))
    }

    fn unseal_session(
        &self,
        sid: SessionId,
        owner: &VaultOwner,
        auth: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<(), KeyMintError> {
        self.request::<KmSessionUnseal>(&KmSessionUnsealArgs {
            sid,
            owner: owner_to_wire(owner),
            auth: secret(auth),
            wrapped: Bytes::from(wrapped.as_bytes()),
        })
        .map(drop)
    }

    fn rewrap_vault_key(
        &self,
        owner: &VaultOwner,
        old: &AuthSecret,
        new: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<WrappedVaultKey, KeyMintError> {
        let r = self.request::<KmVaultKeyRewrap>(&KmVaultKeyRewrapArgs {
            owner: owner_to_wire(owner),
            old: secret(old),
            new: secret(new),
            wrapped: Bytes::from(wrapped.as_bytes()),
        })?;
        Ok(WrappedVaultKey::from_bytes(r.wrapped.into_vec()))
    }

    fn lock_session(&self, sid: SessionId) -> Result<bool, KeyMintError> {
        Ok(self
            .request::<KmSessionLock>(&SidArgs { sid })?
            .was_unsealed)
    }

    fn end_session(&self, sid: SessionId) -> Result<bool, KeyMintError> {
        Ok(self.request::<KmSessionEnd>(&SidArgs { sid })?.was_unsealed)
    }

    fn end_instance(&self, instance: InstanceId) -> Result<usize, KeyMintError> {
        let r = self.request::<KmSessionEndInstance>(&KmInstanceArgs { instance })?;
        usize::try_from(r.ended).map_err(|_| malformed("ended is out of range"))
    }

    fn sync_sessions(&self, known: &[SessionRef]) -> Result<SyncReport, KeyMintError> {
        let sessions = known
            .iter()
            .map(|r| KmSessionRef {
                sid: r.sid,
                owner: owner_to_wire(&r.owner),
                active: r.active,
            })
            .collect();
        let r = self.request::<KmSessionSync>(&KmSessionSyncArgs { sessions })?;
        Ok(SyncReport {
            active: r.active,
            ended: usize::try_from(r.ended).map_err(|_| malformed("ended is out of range"))?,
        })
    }

    fn verifier_mac(&self, input: &VerifierInput) -> Result<[u8; 32], KeyMintError> {
        let r = self.request::<KmVerifierMac>(&KmVerifierMacArgs {
            input: Secret::copy_from(input.expose_secret()),
        })?;
        r.mac
            .into_vec()
            .try_into()
            .map_err(|_| malformed("mac is not 32 bytes"))
    }

    /// Asks keymintd each time (`km.device`): the point is to notice a
    /// new keymintd process behind the same endpoint name.
    fn boot_id(&self) -> Result<[u8; 16], KeyMintError> {
        let d = self.request::<KmDevice>(&Empty {})?;
        d.boot_id
            .into_vec()
            .try_into()
            .map_err(|_| malformed("boot_id is not 16 bytes"))
    }
}

impl VaultKeyOps for RemoteKeyMint {
    fn session_user(&self, sid: SessionId) -> Result<SessionLookup, KeyMintError> {
        Ok(self.session_check(sid, &[])?.0)
    }

    fn session_stamp(&self) -> Option<SessionStamp> {
        let board = self.board.as_ref()?;
        // keymintd gone: its sessions went with it, whatever the board
        // still says; ask (and be told EAGAIN).
        if !self.call.is_up() {
            return None;
        }
        board.read()
    }

    /// One `km.session.user`. At most `MAX_SESSION_OTHERS` others are
    /// asked about; the rest are reported as not alive (the vault then
    /// forgets them, which only shortens its cache's life).
    fn session_check_stamped(
        &self,
        sid: SessionId,
        others: &[SessionId],
    ) -> Result<(SessionLookup, Vec<SessionId>, Option<SessionStamp>), KeyMintError> {
        let asked = &others[..others.len().min(limits::MAX_SESSION_OTHERS)];
        let r = self.request::<KmSessionUser>(&KmSessionUserArgs {
            sid,
            others: asked.to_vec(),
        })?;
        if r.others.iter().any(|o| !asked.contains(o)) {
            return Err(malformed("others names a session not asked about"));
        }
        let lookup = match (r.state, r.owner) {
            (KmSessionState::Active, Some(o)) => SessionLookup::Active(owner_from_wire(o)),
            (KmSessionState::Active, None) => {
                return Err(malformed("an active session has no owner"))
            }
            (KmSessionState::Locked, _) => SessionLookup::Locked,
            (KmSessionState::Unknown, _) => SessionLookup::Unknown,
        };
        let stamp = SessionStamp::from_bytes(&r.stamp).ok_or_else(|| malformed("stamp"))?;
        if let Some(board) = &self.board {
            // A board that does not show the stamp just answered may be
            // a file replaced under the open descriptor (or keymintd has
            // not published yet): open it again, which costs only here.
            if board.read().is_none_or(|b| b != stamp) {
                board.reread();
            }
        }
        Ok((lookup, r.others, Some(stamp)))
    }

    fn vault_seal(&self, sid: SessionId, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, KeyMintError> {
        let r = self.request::<KmVaultSeal>(&KmVaultSealArgs {
            sid,
            aad: Bytes::from(aad),
            pt: Secret::copy_from(pt),
        })?;
        Ok(r.sealed.into_vec())
    }

    fn vault_unseal(
        &self,
        sid: SessionId,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyMintError> {
        let r = self.request::<KmVaultUnseal>(&KmVaultUnsealArgs {
            sid,
            aad: Bytes::from(aad),
            sealed: Bytes::from(sealed),
        })?;
        Ok(r.pt.into_zeroizing())
    }
}

/// The endpoint name of keymintd on a client's control channel.
pub const KEYMINTD: &str = "keymintd";

/// How long a client's start-up keeps asking keymintd for `km.device`: the
/// same bound nexus-daemon gives a required upstream.
const STARTUP: Duration = Duration::from_secs(30);

/// Connect a daemon to keymintd through its upstream registry and learn the
/// device (`km.device`); the session board is read from the daemon's run
/// directory, where keymintd, started by the same supervisor, writes it.
/// Transport failures (no endpoint yet, a restart)
/// are retried until the start-up bound, each attempt itself bounded by
/// the registry's wait; a refusal is final.
pub fn connect_upstream(ctx: &Context) -> Result<RemoteKeyMint, KeyMintError> {
    let deadline = Instant::now() + STARTUP;
    loop {
        match RemoteKeyMint::connect(ctx.upstreams().handle(KEYMINTD)) {
            Ok(km) => {
                let board = BoardReader::new(crate::board::board_path(&ctx.config().run));
                return Ok(km.with_session_board(board));
            }
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
