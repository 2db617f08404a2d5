//! Who may call keymintd, and which ops: a fixed table, not a policy.
//!
//! | op | keystored | identityd |
//! |---|---|---|
//! | `status`, `km.device` | yes | yes |
//! | `km.generate`, `km.import`, `km.sign`, `km.seal`, `km.unseal`, `km.session.user`, `km.vault.seal`, `km.vault.unseal` | yes | no |
//! | `km.vault_key.create`, `km.vault_key.rewrap`, `km.session.unseal`, `km.session.lock`, `km.session.end`, `km.session.end_instance`, `km.session.sync`, `km.verifier.mac` | no | yes |
//!
//! Invariants: any other subject is refused every op, known or not (it
//! learns nothing about the op table); a known caller asking for an op that
//! is not its own is refused the same way (`EPERM`). The table is the route
//! table nexus-init sets up; capabilities were checked by the caller before
//! it got here.

use nexus_core::Subject;

/// The two services keymintd serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `system:keystored`: per-key material and vault sealing.
    Keystored,
    /// `system:identityd`: vault keys and session unseal.
    Identityd,
}

impl Caller {
    /// The caller a subject is, if any.
    pub fn of(subject: &Subject) -> Option<Caller> {
        match subject {
            Subject::System(name) if name.as_str() == "keystored" => Some(Caller::Keystored),
            Subject::System(name) if name.as_str() == "identityd" => Some(Caller::Identityd),
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
}

impl Op {
    /// Every op, in table order.
    pub const ALL: [Op; 18] = [
        Op::Status,
        Op::Generate,
        Op::Import,
        Op::Sign,
        Op::Seal,
        Op::Unseal,
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
        }
    }

    /// The op named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Whether `caller` may call this op.
    pub fn allows(self, caller: Caller) -> bool {
        match self {
            Op::Status | Op::Device => true,
            Op::Generate
            | Op::Import
            | Op::Sign
            | Op::Seal
            | Op::Unseal
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
    fn only_the_two_services_are_callers() {
        assert_eq!(
            Caller::of(&subject("system:keystored")),
            Some(Caller::Keystored)
        );
        assert_eq!(
            Caller::of(&subject("system:identityd")),
            Some(Caller::Identityd)
        );
        for other in [
            "system:attestd",
            "system:admin",
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
                "km.device",
                "km.session.user",
                "km.vault.seal",
                "km.vault.unseal"
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
                "km.verifier.mac"
            ]
        );
    }
}
