//! `ADD_IDENTITY` and `ADD_ID_CONSTRAINED` (§4.2, §4.2.6): an Ed25519
//! private key, its comment, and the constraints asked for.
//!
//! Invariants: the 32-byte seed is copied out of the message only into an
//! [`Ed25519Seed`] (zeroized on drop, no Debug, no Clone); the private half
//! is checked against the public half before anything else sees it (a key
//! whose halves disagree is malformed); every constraint is parsed whole
//! or the message is refused, so a constraint the agent cannot honour is
//! never silently dropped.

use super::cursor::{Cursor, ParseError};
use super::Request;
use ssh_key::private::Ed25519Keypair;
use zeroize::Zeroizing;

/// The key type name of Ed25519 keys.
pub const ED25519: &[u8] = b"ssh-ed25519";

const CONSTRAIN_LIFETIME: u8 = 1;
const CONSTRAIN_CONFIRM: u8 = 2;
const CONSTRAIN_MAXSIGN: u8 = 3;
const CONSTRAIN_EXTENSION: u8 = 255;

/// OpenSSH's destination restriction (`ssh-add -h`).
pub const EXT_RESTRICT_DESTINATION: &[u8] = b"restrict-destination-v00@openssh.com";
/// OpenSSH's FIDO provider path.
pub const EXT_SK_PROVIDER: &[u8] = b"sk-provider@openssh.com";
/// OpenSSH's certificates associated with a PKCS#11 key.
pub const EXT_ASSOCIATED_CERTS: &[u8] = b"associated-certs-v00@openssh.com";

/// An Ed25519 private key seed (the 32 bytes RFC 8032 calls the private
/// key). Secret: no Debug, no Clone, zeroized on drop.
pub struct Ed25519Seed(Zeroizing<[u8; 32]>);

impl Ed25519Seed {
    /// The seed bytes, for the one call that hands them to the keystore.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A constraint the agent cannot honour, by name (for the refusal's log
/// line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsupported {
    /// `SSH_AGENT_CONSTRAIN_MAXSIGN` (XMSS keys only).
    MaxSign,
    /// A constraint extension, by name.
    Extension(String),
}

/// The constraints of an `ADD_ID_CONSTRAINED`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints {
    /// `ssh-add -t`: seconds the key stays usable.
    pub lifetime: Option<u32>,
    /// `ssh-add -c`: every use needs a confirmation.
    pub confirm: bool,
    /// Constraints present that this agent cannot enforce.
    pub unsupported: Vec<Unsupported>,
}

/// An Ed25519 key to add.
pub struct AddIdentity<'a> {
    /// The private key seed.
    pub seed: Ed25519Seed,
    /// The public key (checked to match the seed).
    pub public: [u8; 32],
    /// The comment, as sent (usually `user@host` or the file name).
    pub comment: &'a [u8],
    /// The constraints.
    pub constraints: Constraints,
}

/// Parse the contents of an add request (after the type byte).
pub(super) fn parse<'a>(c: &mut Cursor<'a>, constrained: bool) -> Result<Request<'a>, ParseError> {
    let key_type = c.string()?;
    if key_type != ED25519 {
        // Other key types have other layouts; the whole message is refused
        // anyway, so the rest is not read.
        c.rest();
        return Ok(Request::AddUnsupported { key_type });
    }
    let public = *c.fixed::<32>("Ed25519 public key")?;
    let pair = c.fixed::<64>("Ed25519 private key")?;
    let comment = c.string()?;
    let constraints = if constrained {
        parse_constraints(c)?
    } else {
        Constraints::default()
    };
    let mut both = Zeroizing::new([0u8; 64]);
    both.copy_from_slice(pair);
    // Checks that the public half of the private part is the one derived
    // from the seed.
    let keypair =
        Ed25519Keypair::from_bytes(&both).map_err(|_| ParseError::Malformed("Ed25519 key pair"))?;
    if keypair.public.0 != public {
        return Err(ParseError::Malformed("Ed25519 key pair"));
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(&both[..32]);
    Ok(Request::Add(AddIdentity {
        seed: Ed25519Seed(seed),
        public,
        comment,
        constraints,
    }))
}

fn parse_constraints(c: &mut Cursor<'_>) -> Result<Constraints, ParseError> {
    let mut out = Constraints::default();
    while !c.is_empty() {
        match c.byte()? {
            CONSTRAIN_LIFETIME => {
                if out.lifetime.replace(c.u32()?).is_some() {
                    return Err(ParseError::Malformed("repeated lifetime constraint"));
                }
            }
            CONSTRAIN_CONFIRM => {
                if out.confirm {
                    return Err(ParseError::Malformed("repeated confirm constraint"));
                }
                out.confirm = true;
            }
            CONSTRAIN_MAXSIGN => {
                c.u32()?;
                out.unsupported.push(Unsupported::MaxSign);
            }
            CONSTRAIN_EXTENSION => {
                let name = c.string()?;
                match name {
                    EXT_RESTRICT_DESTINATION | EXT_SK_PROVIDER => {
                        c.string()?;
                    }
                    EXT_ASSOCIATED_CERTS => {
                        c.boolean()?;
                        c.string()?;
                    }
                    // An unknown extension's contents have no known
                    // length: nothing after it can be read, and the add
                    // is refused for the extension anyway.
                    _ => {
                        c.rest();
                    }
                }
                out.unsupported.push(Unsupported::Extension(
                    String::from_utf8_lossy(name).into_owned(),
                ));
            }
            _ => return Err(ParseError::Malformed("unknown constraint")),
        }
    }
    Ok(out)
}
