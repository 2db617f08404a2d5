//! Who is on the other end of a connection.
//!
//! Invariant: a connection's [`Subject`] is settled once, when the
//! connection is admitted, from the channel alone: the kernel's peer
//! credentials for a public socket, or the fixed subject the supervisor
//! attached to a handed-over endpoint. Nothing a client sends can change it.

use crate::error::WireError;
use nexus_core::{ErrorCode, Subject};
use std::io;
use std::os::unix::net::UnixStream;

/// The kernel's credentials of the process that connected (`SO_PEERCRED`,
/// taken when it called `connect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
    /// Process id (as seen from the server's pid namespace).
    pub pid: u32,
}

impl PeerCred {
    /// Read the peer credentials of a connected Unix stream.
    pub fn of(stream: &UnixStream) -> io::Result<PeerCred> {
        let c = rustix::net::sockopt::get_socket_peercred(stream)?;
        Ok(PeerCred {
            uid: c.uid.as_raw(),
            gid: c.gid.as_raw(),
            pid: c.pid.as_raw_nonzero().get().unsigned_abs(),
        })
    }
}

/// Decides the subject of a connection accepted on a socket.
pub trait SubjectResolver: Send + Sync + 'static {
    /// The subject for a peer with these credentials. An error is sent to
    /// the peer (with request id 0) and the connection is closed; return
    /// `EPERM` for a peer that has no business on this socket.
    fn resolve(&self, peer: &PeerCred) -> Result<Subject, WireError>;
}

/// Maps the peer's uid to a subject with a function the daemon supplies
/// (normally the policy's uid mapping). `None` means the uid is unknown to
/// the policy: the connection is refused with `EPERM`, with a message that
/// names the uid (and, with [`PeerCredResolver::refusing_with`], what the
/// daemon wants to say of it: which policy file to change).
pub struct PeerCredResolver<F> {
    map: F,
    refusal: Option<Box<dyn Fn(u32) -> String + Send + Sync>>,
}

impl<F> PeerCredResolver<F>
where
    F: Fn(u32) -> Option<Subject> + Send + Sync + 'static,
{
    /// A resolver over `map`.
    pub fn new(map: F) -> Self {
        PeerCredResolver { map, refusal: None }
    }

    /// The same resolver, refusing an unknown uid with the message
    /// `refusal(uid)` (which must name nothing secret: the peer reads it).
    #[must_use]
    pub fn refusing_with(
        mut self,
        refusal: impl Fn(u32) -> String + Send + Sync + 'static,
    ) -> Self {
        self.refusal = Some(Box::new(refusal));
        self
    }
}

impl<F> SubjectResolver for PeerCredResolver<F>
where
    F: Fn(u32) -> Option<Subject> + Send + Sync + 'static,
{
    fn resolve(&self, peer: &PeerCred) -> Result<Subject, WireError> {
        (self.map)(peer.uid).ok_or_else(|| {
            let msg = match &self.refusal {
                Some(f) => f(peer.uid),
                None => format!("no subject is mapped to uid {}", peer.uid),
            };
            WireError::new(ErrorCode::Eperm, msg)
        })
    }
}

/// Every connection on this socket has the same subject.
pub struct FixedSubject(pub Subject);

impl SubjectResolver for FixedSubject {
    fn resolve(&self, _peer: &PeerCred) -> Result<Subject, WireError> {
        Ok(self.0.clone())
    }
}

/// What a handler knows about its caller. Built by the server only.
#[derive(Debug, Clone)]
pub struct CallContext {
    subject: Subject,
    peer: Option<PeerCred>,
    connection: u64,
}

impl CallContext {
    /// A context for `subject` with no peer credentials: what a handed-over
    /// endpoint gets, and what host tests use to call a handler directly.
    pub fn new(subject: Subject) -> CallContext {
        CallContext {
            subject,
            peer: None,
            connection: 0,
        }
    }

    pub(crate) fn for_connection(
        subject: Subject,
        peer: Option<PeerCred>,
        connection: u64,
    ) -> CallContext {
        CallContext {
            subject,
            peer,
            connection,
        }
    }

    /// Who is calling.
    pub fn subject(&self) -> &Subject {
        &self.subject
    }

    /// The peer's credentials, for connections accepted on a socket.
    pub fn peer(&self) -> Option<&PeerCred> {
        self.peer.as_ref()
    }

    /// The peer's uid, if known.
    pub fn uid(&self) -> Option<u32> {
        self.peer.map(|p| p.uid)
    }

    /// The peer's pid, if known.
    pub fn pid(&self) -> Option<u32> {
        self.peer.map(|p| p.pid)
    }

    /// A number identifying the connection within this server (for logs).
    pub fn connection_id(&self) -> u64 {
        self.connection
    }
}
