//! One typed connection to one service, over either of the two ways to
//! hold one: a public socket path, or endpoints handed over by the
//! supervisor (see [`crate::EndpointFeed`]).
//!
//! Invariants (the retry rule of wire.md §8):
//! - A request is sent at most once unless it is [`Retry::Idempotent`];
//!   an idempotent request is sent again only after the connection was
//!   lost during the previous send. Over a socket path that is bounded by
//!   [`wire::RECONNECT_WAIT`] and [`wire::MAX_SENDS`] (a dying service's
//!   listener can take and reset the first reconnect too); over handed
//!   endpoints it is sent at most twice, the second time on the re-issued
//!   endpoint (the supervisor re-issues only once the old process is
//!   reaped, so that endpoint is the new server's).
//! - Replacing a connection *before* sending (the service closed the
//!   cached one, or the supervisor re-issued the endpoint) is always done:
//!   nothing was sent on the old one.
//! - Waiting for a re-issued endpoint is bounded ([`LinkConfig::endpoint_wait`]);
//!   a caller never hangs forever on a service that is gone.

use crate::error::KeychainError;
use crate::feed::EndpointFeed;
use nexus_proto::Op;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use wire::{Args, Client, ClientConfig, ClientError, ReconnectingClient, Value};

/// The services a client can talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Keys, the vault, the trust store.
    Keystored,
    /// Users and sessions.
    Identityd,
    /// Attestation tokens.
    Attestd,
    /// Signed bundles.
    Bundlemgrd,
    /// Signed system updates.
    Updated,
}

impl Service {
    /// Every service, in a fixed order.
    pub const ALL: [Service; 5] = [
        Service::Keystored,
        Service::Identityd,
        Service::Attestd,
        Service::Bundlemgrd,
        Service::Updated,
    ];

    /// The service's name: its endpoint name and its socket's stem.
    pub fn name(self) -> &'static str {
        match self {
            Service::Keystored => "keystored",
            Service::Identityd => "identityd",
            Service::Attestd => "attestd",
            Service::Bundlemgrd => "bundlemgrd",
            Service::Updated => "updated",
        }
    }

    /// The service with this endpoint name.
    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Its public socket under the runtime directory: `<run>/<svc>.sock`.
    pub fn socket_in(self, run_dir: &Path) -> PathBuf {
        run_dir.join(format!("{}.sock", self.name()))
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a request may be sent again after the connection was lost
/// while it was in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Running it twice changes nothing a caller can observe beyond running
    /// it once (reads, sign, verify, seal, unseal, attest).
    Idempotent,
    /// It must not run twice (create, rotate, put, login …): a lost
    /// connection is reported, because the request may or may not have run.
    Once,
}

/// Timeouts of a link.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The longest one call may take (sending and the whole reply).
    pub call_timeout: Duration,
    /// How long a call waits for the supervisor to hand over a (new)
    /// endpoint when it has none that works.
    pub endpoint_wait: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            call_timeout: Duration::from_secs(30),
            endpoint_wait: Duration::from_secs(10),
        }
    }
}

enum Link {
    Socket(ReconnectingClient),
    Handed {
        feed: EndpointFeed,
        current: Option<Client>,
    },
}

/// A client for one service. Calls are serialized (one request at a time
/// on the connection, as the protocol requires); open several for
/// parallel requests.
pub struct ServiceClient {
    service: Service,
    config: LinkConfig,
    link: Mutex<Link>,
}

impl fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceClient")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl ServiceClient {
    /// A client for `service` at the socket `path`, connected on first use
    /// and reconnected after the service restarts.
    pub fn at_path(service: Service, path: impl AsRef<Path>, config: LinkConfig) -> ServiceClient {
        let wire_config = ClientConfig {
            timeout: config.call_timeout,
        };
        ServiceClient {
            service,
            link: Mutex::new(Link::Socket(ReconnectingClient::new(path, wire_config))),
            config,
        }
    }

    /// A client for `service` over endpoints arriving in `feed`.
    pub fn over_feed(service: Service, feed: EndpointFeed, config: LinkConfig) -> ServiceClient {
        ServiceClient {
            service,
            config,
            link: Mutex::new(Link::Handed {
                feed,
                current: None,
            }),
        }
    }

    /// Which service this is.
    pub fn service(&self) -> Service {
        self.service
    }

    /// Call the typed op `O` (one of `nexus_proto`'s) and read its typed
    /// reply. The encoded request, which may hold a password or a
    /// plaintext, is wiped once the call returns; a reply of the wrong
    /// shape is [`KeychainError::BadReply`].
    pub fn call_op<O: Op>(&self, args: &O::Args, retry: Retry) -> Result<O::Reply, KeychainError> {
        let wire_args = nexus_proto::encode_args::<O>(args)
            .map_err(|e| KeychainError::Invalid(e.to_string()))?;
        let ok = self.call(O::NAME, &wire_args, retry)?;
        drop(wire_args);
        nexus_proto::decode_reply::<O>(ok).map_err(|e| KeychainError::BadReply {
            service: self.service,
            op: O::NAME,
            detail: e.detail,
        })
    }

    /// Call `op` with `args`.
    pub fn call(&self, op: &str, args: &Args, retry: Retry) -> Result<Value, KeychainError> {
        let mut link = self.link.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *link {
            Link::Socket(c) => match retry {
                Retry::Idempotent => c.call_idempotent(op, args),
                Retry::Once => c.call(op, args),
            }
            .map_err(|e| KeychainError::from_client(self.service, e)),
            Link::Handed { feed, current } => match self.handed_once(feed, current, op, args) {
                Err(HandedError::Client(e))
                    if retry == Retry::Idempotent && e.is_connection_lost() =>
                {
                    self.handed_once(feed, current, op, args)
                }
                r => r,
            }
            .map_err(|e| match e {
                HandedError::Client(e) => KeychainError::from_client(self.service, e),
                HandedError::NoEndpoint => KeychainError::NoEndpoint {
                    service: self.service,
                },
            }),
        }
    }

    fn handed_once(
        &self,
        feed: &EndpointFeed,
        current: &mut Option<Client>,
        op: &str,
        args: &Args,
    ) -> Result<Value, HandedError> {
        let wire_config = ClientConfig {
            timeout: self.config.call_timeout,
        };
        // A re-issued endpoint replaces the one in use: the supervisor
        // only re-issues when the old server is gone.
        if let Some(fresh) = feed.take_now(self.service) {
            *current = Some(Client::from_stream_with(fresh, wire_config.clone()));
        }
        if !current.as_ref().is_some_and(Client::is_usable) {
            *current = None;
            let fresh = feed
                .take(self.service, self.config.endpoint_wait)
                .ok_or(HandedError::NoEndpoint)?;
            *current = Some(Client::from_stream_with(fresh, wire_config));
        }
        let client = current.as_mut().ok_or(HandedError::NoEndpoint)?;
        let result = client.call(op, args);
        if let Err(e) = &result {
            if e.is_connection_lost() || !client.is_usable() {
                *current = None;
            }
        }
        result.map_err(HandedError::Client)
    }
}

enum HandedError {
    Client(ClientError),
    NoEndpoint,
}
