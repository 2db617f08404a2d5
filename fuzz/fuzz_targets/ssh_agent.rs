//! Fuzz the SSH agent's message handling: the framed messages of one
//! connection are parsed and answered by a real `Agent` over an in-memory
//! keystore with one key. Nothing may panic; a parsed request must get a
//! reply that encodes; a message the parser refuses must not change what
//! the agent answers next.

#![no_main]

use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use nexus_core::{AppId, ErrorCode, Label};
use nexus_keychain::{
    CreatedKey, KeyAlg, KeyInfo, KeyState, KeyVersion, KeychainError, Kid, Signed, VersionState,
};
use nexus_ssh_agent::proto::add::Ed25519Seed;
use nexus_ssh_agent::proto::{parse_request, MAX_MESSAGE_LEN};
use nexus_ssh_agent::{Agent, AgentConfig, Connection, ImportError, KeyBackend};

struct OneKey(SigningKey);

fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

impl KeyBackend for OneKey {
    fn list(&self) -> Result<Vec<KeyInfo>, KeychainError> {
        let public = self.0.verifying_key().to_bytes();
        Ok(vec![KeyInfo {
            app: AppId::system(),
            purpose: label("ssh"),
            name: label("k"),
            alg: KeyAlg::Ed25519,
            state: KeyState::Active,
            primary: 1,
            min_version: 1,
            created: 0,
            rotated: 0,
            versions: vec![KeyVersion {
                version: 1,
                state: VersionState::Active,
                created: 0,
                kid: Some(Kid::from_bytes(public)),
                public_key: Some(public.to_vec()),
            }],
        }])
    }

    fn sign(&self, _: &Label, _: &Label, data: &[u8]) -> Result<Signed, KeychainError> {
        Ok(Signed {
            sig: self.0.sign(data).to_bytes().to_vec(),
            kid: Kid::from_bytes(self.0.verifying_key().to_bytes()),
            version: 1,
        })
    }

    fn import_ed25519(
        &self,
        _: &Label,
        _: &Label,
        _: &Ed25519Seed,
    ) -> Result<CreatedKey, ImportError> {
        Err(ImportError::Keychain(KeychainError::Remote {
            code: ErrorCode::Edquota,
            msg: "full".into(),
        }))
    }
}

fuzz_target!(|data: &[u8]| {
    let agent = Agent::new(
        Box::new(OneKey(SigningKey::from_bytes(&[7; 32]))),
        AgentConfig::new(label("ssh")),
    );
    let mut conn = Connection::default();
    let mut rest = data;
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len == 0 || len > MAX_MESSAGE_LEN || len > rest.len() - 4 {
            break;
        }
        let body = &rest[4..4 + len];
        rest = &rest[4 + len..];
        if let Ok(req) = parse_request(body) {
            let reply = agent.handle(&mut conn, req).encode();
            assert!(!reply.is_empty() && reply.len() <= MAX_MESSAGE_LEN);
        }
    }
    let _ = parse_request(data);
    let _ = nexus_ssh_agent::bind::verify(data);
});
