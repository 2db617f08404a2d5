//! Endpoint handoff: the supervisor passes a connected socket, with the
//! name of the endpoint and the subject of its other end, to a child over
//! a control channel (a Unix stream, the child's stdin), using
//! `SCM_RIGHTS`.
//!
//! Message layout: one frame (4-byte big-endian length, then a CBOR map
//! `{"v": 1, "name": text, "subject": text}`, at most
//! [`MAX_HEADER_LEN`] bytes) sent in one `sendmsg` whose ancillary data
//! carries exactly one descriptor.
//!
//! Invariants:
//! - The receiver reads exactly one message's bytes, so the descriptors of
//!   the next message are never consumed early; it accepts exactly one
//!   descriptor per message and closes any others (and refuses the
//!   message) — descriptors are never leaked.
//! - The received descriptor is close-on-exec and must be a connected Unix
//!   stream socket; the name is a valid label and the subject a valid
//!   subject, or the message is refused.
//! - No `unsafe`: rustix's ancillary buffers own the descriptors.

use crate::frame::{self, PREFIX_LEN};
use crate::message::{decode_value, fields, to_body, ProtocolError};
use ciborium::Value;
use nexus_core::{Coded, ErrorCode, Label, Subject};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketType,
};
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// The largest handoff header (the CBOR map), in bytes.
pub const MAX_HEADER_LEN: usize = 4096;

/// The most CBOR items a handoff header may hold (it needs 7).
const MAX_HEADER_ITEMS: usize = 32;

/// Handoff header version.
pub const HANDOFF_VERSION: u64 = 1;

/// How many descriptors one receive makes room for: more than the one
/// expected, so that a sender passing a few too many is detected (and the
/// extras closed) rather than silently truncated.
const FD_ROOM: usize = 4;

/// `MSG_CTRUNC` (Linux `<sys/socket.h>`): the kernel had more ancillary
/// data than room and discarded (closed) the rest.
const MSG_CTRUNC: u32 = 0x8;

/// An endpoint received from the supervisor.
#[derive(Debug)]
pub struct Endpoint {
    /// The endpoint's name (which service or client it connects).
    pub name: Label,
    /// The subject of the process at the other end.
    pub subject: Subject,
    /// The connected socket.
    pub stream: UnixStream,
}

/// Why an endpoint could not be passed or received.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandoffError {
    /// The control channel failed.
    #[error("control channel error: {0}")]
    Io(#[from] io::Error),
    /// The control channel was closed at a message boundary: no more
    /// endpoints will come.
    #[error("control channel closed")]
    Closed,
    /// The control channel was closed inside a message.
    #[error("control channel closed inside a message")]
    Truncated,
    /// The message carried no descriptor.
    #[error("handoff message carries no descriptor")]
    NoDescriptor,
    /// The message carried more than one descriptor (all were closed).
    #[error("handoff message carries more than one descriptor")]
    ExtraDescriptors,
    /// The descriptor is not a connected Unix stream socket.
    #[error("handed-over descriptor is not a connected Unix stream socket")]
    NotAStreamSocket,
    /// The header is malformed.
    #[error("bad handoff header: {0}")]
    Header(ProtocolError),
    /// The endpoint name is not a valid label.
    #[error("bad endpoint name")]
    BadName,
    /// The subject is not a valid subject.
    #[error("bad endpoint subject")]
    BadSubject,
}

impl Coded for HandoffError {
    fn code(&self) -> ErrorCode {
        match self {
            HandoffError::Io(_) | HandoffError::Closed | HandoffError::Truncated => ErrorCode::Eio,
            HandoffError::NoDescriptor
            | HandoffError::ExtraDescriptors
            | HandoffError::NotAStreamSocket
            | HandoffError::Header(_)
            | HandoffError::BadName
            | HandoffError::BadSubject => ErrorCode::Einval,
        }
    }
}

struct Header<'a>(&'a str, &'a Subject);

impl Serialize for Header<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("v", &HANDOFF_VERSION)?;
        m.serialize_entry("name", self.0)?;
        m.serialize_entry("subject", &self.1.to_string())?;
        m.end()
    }
}

/// The bytes of a handoff message (without its descriptor).
pub fn encode_header(name: &str, subject: &Subject) -> Result<Vec<u8>, HandoffError> {
    Label::new(name).map_err(|_| HandoffError::BadName)?;
    let body = to_body(&Header(name, subject)).map_err(HandoffError::Header)?;
    // A handoff header names an endpoint and a subject: nothing secret.
    frame::encode_frame(&body, MAX_HEADER_LEN)
        .map(|framed| framed.to_vec())
        .map_err(|_| HandoffError::Header(ProtocolError::TooLarge))
}

/// Parse a handoff header body (the CBOR map).
pub fn decode_header(body: &[u8]) -> Result<(Label, Subject), HandoffError> {
    if body.len() > MAX_HEADER_LEN {
        return Err(HandoffError::Header(ProtocolError::TooLarge));
    }
    crate::shape::check(body, MAX_HEADER_ITEMS).map_err(HandoffError::Header)?;
    let (value, trailing) = decode_value(body).map_err(HandoffError::Header)?;
    if trailing {
        return Err(HandoffError::Header(ProtocolError::TrailingBytes));
    }
    let Value::Map(map) = value else {
        return Err(HandoffError::Header(ProtocolError::NotMap));
    };
    let [v, name, subject] = fields(map, ["v", "name", "subject"]).map_err(HandoffError::Header)?;
    let text = |v: Option<Value>, field| match v {
        Some(Value::Text(t)) => Ok(t),
        Some(_) => Err(HandoffError::Header(ProtocolError::WrongType(field))),
        None => Err(HandoffError::Header(ProtocolError::MissingField(field))),
    };
    let version = v
        .ok_or(HandoffError::Header(ProtocolError::MissingField("v")))?
        .as_integer()
        .and_then(|i| u64::try_from(i).ok())
        .ok_or(HandoffError::Header(ProtocolError::WrongType("v")))?;
    if version != HANDOFF_VERSION {
        return Err(HandoffError::Header(ProtocolError::UnsupportedVersion));
    }
    let name = Label::new(text(name, "name")?).map_err(|_| HandoffError::BadName)?;
    let subject = text(subject, "subject")?
        .parse::<Subject>()
        .map_err(|_| HandoffError::BadSubject)?;
    Ok((name, subject))
}

/// Pass `fd` (one end of a connected Unix stream) to the process at the
/// other end of `control`, naming the endpoint `name` and its peer
/// `subject`.
pub fn send_endpoint(
    control: &UnixStream,
    name: &str,
    subject: &Subject,
    fd: BorrowedFd<'_>,
) -> Result<(), HandoffError> {
    let bytes = encode_header(name, subject)?;
    let fds = [fd];
    let mut space = [0u8; rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = SendAncillaryBuffer::new(&mut space);
    if !cmsg.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(HandoffError::Io(io::ErrorKind::OutOfMemory.into()));
    }
    let sent = loop {
        match rustix::net::sendmsg(
            control,
            &[IoSlice::new(&bytes)],
            &mut cmsg,
            SendFlags::NOSIGNAL,
        ) {
            Err(rustix::io::Errno::INTR) => {}
            r => break r.map_err(io::Error::from)?,
        }
    };
    // The descriptor travels with the first byte; the rest, if the kernel
    // took only part, follows as plain bytes.
    frame::send_all(control, bytes.get(sent..).unwrap_or_default())?;
    Ok(())
}

/// Fill `buf` from `control`, collecting any descriptors that arrive.
/// Returns `false` if the channel ended before the first byte.
fn recv_exact(
    control: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> Result<bool, HandoffError> {
    let mut got = 0;
    while got < buf.len() {
        let mut space = [0u8; rustix::cmsg_space!(ScmRights(FD_ROOM))];
        let mut cmsg = RecvAncillaryBuffer::new(&mut space);
        let rest = buf.get_mut(got..).unwrap_or_default();
        let mut iov = [IoSliceMut::new(rest)];
        let r = match rustix::net::recvmsg(control, &mut iov, &mut cmsg, RecvFlags::CMSG_CLOEXEC) {
            Err(rustix::io::Errno::INTR) => continue,
            r => r.map_err(io::Error::from)?,
        };
        for msg in cmsg.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = msg {
                fds.extend(received);
            }
        }
        if r.flags.bits() & MSG_CTRUNC != 0 {
            return Err(HandoffError::ExtraDescriptors);
        }
        if r.bytes == 0 {
            return if got == 0 {
                Ok(false)
            } else {
                Err(HandoffError::Truncated)
            };
        }
        got += r.bytes;
    }
    Ok(true)
}

/// Receive one endpoint from the supervisor over `control` (normally the
/// process's stdin). Blocks until a message arrives;
/// [`HandoffError::Closed`] when the supervisor closed the channel.
pub fn recv_endpoint(control: impl AsFd) -> Result<Endpoint, HandoffError> {
    let control = control.as_fd();
    // Descriptors collected here are closed on every error path by drop.
    let mut fds = Vec::new();
    let mut prefix = [0u8; PREFIX_LEN];
    if !recv_exact(control, &mut prefix, &mut fds)? {
        return if fds.is_empty() {
            Err(HandoffError::Closed)
        } else {
            Err(HandoffError::Truncated)
        };
    }
    let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
    if len == 0 {
        return Err(HandoffError::Header(ProtocolError::BadCbor));
    }
    if len > MAX_HEADER_LEN {
        return Err(HandoffError::Header(ProtocolError::TooLarge));
    }
    let mut body = vec![0u8; len];
    if !recv_exact(control, &mut body, &mut fds)? {
        return Err(HandoffError::Truncated);
    }
    let fd = match (fds.pop(), fds.is_empty()) {
        (Some(fd), true) => fd,
        (None, _) => return Err(HandoffError::NoDescriptor),
        (Some(_), false) => return Err(HandoffError::ExtraDescriptors),
    };
    let (name, subject) = decode_header(&body)?;
    let is_unix_stream = rustix::net::sockopt::get_socket_type(&fd)
        .is_ok_and(|t| t == SocketType::STREAM)
        && rustix::net::sockopt::get_socket_domain(&fd).is_ok_and(|d| d == AddressFamily::UNIX)
        && rustix::net::sockopt::get_socket_acceptconn(&fd).is_ok_and(|listening| !listening);
    if !is_unix_stream {
        return Err(HandoffError::NotAStreamSocket);
    }
    Ok(Endpoint {
        name,
        subject,
        stream: UnixStream::from(fd),
    })
}
