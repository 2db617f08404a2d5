//! Who may call keymintd, and which ops: a fixed table, not a policy.
//!
//! | op | keystored | identityd | attestd | bundlemgrd, updated |
//! |---|---|---|---|---|
//! | `status`, `km.state_key` | yes | yes | yes | yes |
//! | `km.device` | yes | yes | no | no |
//! | `km.trust_key` | yes | no | no | yes |
//! | `km.generate`, `km.import`, `km.sign`, `km.seal`, `km.unseal`, `km.forget`, `km.session.user`, `km.vault.seal`, `km.vault.unseal` | yes | no | no | no |
//! | `km.vault_key.create`, `km.vault_key.rewrap`, `km.session.unseal`, `km.session.lock`, `km.session.end`, `km.session.end_instance`, `km.session.sync`, `km.verifier.mac` | no | yes | no | no |
//!
//! `km.state_key` hands each service the MAC key of its own state root
//! (derived for the caller's subject, so a service gets only its own);
//! `km.trust_key` the key of the trust store's manifest, to its writer
//! (keystored) and its readers.
//!
//! Invariants: any other subject is refused every op, known or not (it
//! learns nothing about the op table); a known caller asking for an op that
//! is not its own is refused the same way (`EPERM`). The table is the route
//! table nexus-init sets up; capabilities were checked by the caller before
//! it got here.

use nexus_core::Subject;

/// The services keymintd serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `system:keystored`: per-key material and vault sealing.
    Keystored,
    /// `system:identityd`: vault keys and session unseal.
    Identityd,
    /// `system:attestd`: its state key only.
    Attestd,
    /// `system:bundlemgrd`: its state key and the trust key.
    Bundlemgrd,
    /// `system:updated`: its state key and the trust key.
    Updated,
}

impl Caller {
    /// The caller a subject is, if any.
    pub fn of(subject: &Subject) -> Option<Caller> {
        let Subject::System(name) = subject else {
            return None;
        };
        match name.as_str() {
            "keystored" => Some(Caller::Keystored),
            "identityd" => Some(Caller::Identityd),
            "attestd" => Some(Caller::Attestd),
            "bundlemgrd" => Some(Caller::Bundlemgrd),
            "updated" => Some(Caller::Updated),
            _ => None,
        }
    }
}

/// keymintd's operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `status`
    Status,
    /// `km.generate`
    Generate,
    /// `km.import`
    Import,
    /// `km.sign`
    Sign,
    /// `km.seal`
    Seal,
    /// `km.unseal`
    Unseal,
    /// `km.forget`
    Forget,
    /// `km.device`
    Device,
    /// `km.vault_key.create`
    VaultKeyCreate,
    /// `km.vault_key.rewrap`
    VaultKeyRewrap,
    /// `km.session.unseal`
    SessionUnseal,
    /// `km.session.lock`
    SessionLock,
    /// `km.session.end`
    SessionEnd,
    /// `km.session.end_instance`
    SessionEndInstance,
    /// `km.session.sync`
    SessionSync,
    /// `km.verifier.mac`
    VerifierMac,
    /// `km.session.user`
    SessionUser,
    /// `km.vault.seal`
    VaultSeal,
    /// `km.vault.unseal`
    VaultUnseal,
    /// `km.state_key`
    StateKey,
    /// `km.trust_key`
    TrustKey,
}

impl Op {
    /// Every op, in table order.
    pub const ALL: [Op; 21] = [
        Op::Status,
        Op::Generate,
        Op::Import,
        Op::Sign,
        Op::Seal,
        Op::Unseal,
        Op::Forget,
        Op::Device,
        Op::VaultKeyCreate,
        Op::VaultKeyRewrap,
        Op::SessionUnseal,
        Op::SessionLock,
        Op::SessionEnd,
        Op::SessionEndInstance,
        Op::SessionSync,
        Op::VerifierMac,
        Op::SessionUser,
        Op::VaultSeal,
        Op::VaultUnseal,
        Op::StateKey,
        Op::TrustKey,
    ];

    /// The op's wire name.
    pub fn name(self) -> &'static str {
        match self {
            Op::Status => "status",
            Op::Generate => "km.generate",
            Op::Import => "km.import",
            Op::Sign => "km.sign",
            Op::Seal => "km.seal",
            Op::Unseal => "km.unseal",
            Op::Forget => "km.forget",
            Op::Device => "km.device",
            Op::VaultKeyCreate => "km.vault_key.create",
            Op::VaultKeyRewrap => "km.vault_key.rewrap",
            Op::SessionUnseal => "km.session.unseal",
            Op::SessionLock => "km.session.lock",
            Op::SessionEnd => "km.session.end",
            Op::SessionEndInstance => "km.session.end_instance",
            Op::SessionSync => "km.session.sync",
            Op::VerifierMac => "km.verifier.mac",
            Op::SessionUser => "km.session.user",
            Op::VaultSeal => "km.vault.seal",
            Op::VaultUnseal => "km.vault.unseal",
            Op::StateKey => "km.state_key",
            Op::TrustKey => "km.trust_key",
        }
    }

    /// The op named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Whether this op may change the session table (and so the stamp
    /// keymintd publishes on its session board).
    pub fn changes_sessions(self) -> bool {
        matches!(
            self,
            Op::SessionUnseal
                | Op::SessionLock
                | Op::SessionEnd
                | Op::SessionEndInstance
                | Op::SessionSync
        )
    }

    /// Whether `caller` may call this op.
    pub fn allows(self, caller: Caller) -> bool {
        match self {
            Op::Status | Op::StateKey => true,
            Op::Device => matches!(caller, Caller::Keystored | Caller::Identityd),
            Op::TrustKey => matches!(
                caller,
                Caller::Keystored | Caller::Bundlemgrd | Caller::Updated
            ),
            Op::Generate
            | Op::Import
            | Op::Sign
            | Op::Seal
            | Op::Unseal
            | Op::Forget
            | Op::SessionUser
            | Op::VaultSeal
            | Op::VaultUnseal => caller == Caller::Keystored,
            Op::VaultKeyCreate
            | Op::VaultKeyRewrap
            | Op::SessionUnseal
            | Op::SessionLock
            | Op::SessionEnd
            | Op::SessionEndInstance
            | Op::SessionSync
            | Op::VerifierMac => caller == Caller::Identityd,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(s: &str) -> Subject {
        s.parse().unwrap()
    }

    #[test]
    fn names_round_trip() {
        for op in Op::ALL {
            assert_eq!(Op::parse(op.name()), Some(op));
        }
        assert_eq!(Op::parse("km.export"), None);
        assert_eq!(Op::parse("KM.SIGN"), None);
    }

    #[test]
    fn only_the_identity_services_are_callers() {
        assert_eq!(
            Caller::of(&subject("system:keystored")),
            Some(Caller::Keystored)
        );
        assert_eq!(
            Caller::of(&subject("system:identityd")),
            Some(Caller::Identityd)
        );
        assert_eq!(
            Caller::of(&subject("system:attestd")),
            Some(Caller::Attestd)
        );
        assert_eq!(
            Caller::of(&subject("system:bundlemgrd")),
            Some(Caller::Bundlemgrd)
        );
        assert_eq!(
            Caller::of(&subject("system:updated")),
            Some(Caller::Updated)
        );
        for other in [
            "system:admin",
            "system:selftest",
            "app:keystored",
            "app:com.example.alpha",
            "uid:0",
            "system:keystored2",
        ] {
            assert_eq!(Caller::of(&subject(other)), None, "{other}");
        }
    }

    /// The table is the protocol's: each op's callers here are the ones
    /// `nexus-proto` (and so services.md) documents, and every keymintd
    /// op of the protocol is in the table.
    #[test]
    fn the_table_is_the_protocols() {
        for op in Op::ALL.into_iter().filter(|op| *op != Op::Status) {
            let info = nexus_proto::ops::find(op.name()).unwrap();
            assert_eq!(info.service, Some(nexus_proto::Service::Keymintd));
            let callers: Vec<&str> = [
                (Caller::Keystored, "keystored"),
                (Caller::Identityd, "identityd"),
                (Caller::Attestd, "attestd"),
                (Caller::Bundlemgrd, "bundlemgrd"),
                (Caller::Updated, "updated"),
            ]
            .into_iter()
            .filter(|(c, _)| op.allows(*c))
            .map(|(_, name)| name)
            .collect();
            assert_eq!(info.callers, callers, "{}", op.name());
        }
        for info in nexus_proto::ops::all() {
            if info.service == Some(nexus_proto::Service::Keymintd) {
                assert!(Op::parse(info.name).is_some(), "{}", info.name);
            }
        }
    }

    #[test]
    fn each_caller_has_exactly_its_own_ops() {
        let keystored: Vec<_> = Op::ALL
            .into_iter()
            .filter(|op| op.allows(Caller::Keystored))
            .map(Op::name)
            .collect();
        let identityd: Vec<_> = Op::ALL
            .into_iter()
            .filter(|op| op.allows(Caller::Identityd))
            .map(Op::name)
            .collect();
        assert_eq!(
            keystored,
            [
                "status",
                "km.generate",
                "km.import",
                "km.sign",
                "km.seal",
                "km.unseal",
                "km.forget",
                "km.device",
                "km.session.user",
                "km.vault.seal",
                "km.vault.unseal",
                "km.state_key",
                "km.trust_key"
            ]
        );
        assert_eq!(
            identityd,
            [
                "status",
                "km.device",
                "km.vault_key.create",
                "km.vault_key.rewrap",
                "km.session.unseal",
                "km.session.lock",
                "km.session.end",
                "km.session.end_instance",
                "km.session.sync",
                "km.verifier.mac",
                "km.state_key"
            ]
        );
        let ops = |c| -> Vec<&str> {
            Op::ALL
                .into_iter()
                .filter(|op| op.allows(c))
                .map(Op::name)
                .collect()
        };
        assert_eq!(ops(Caller::Attestd), ["status", "km.state_key"]);
        for c in [Caller::Bundlemgrd, Caller::Updated] {
            assert_eq!(ops(c), ["status", "km.state_key", "km.trust_key"]);
        }
    }
}
