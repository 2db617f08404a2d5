//! The [`Keychain`]: clients for keystored, identityd and attestd, and the
//! ways to build one.
//!
//! Invariant: a keychain never names its caller; who it is comes from the
//! channel (the endpoint the supervisor handed over, or the peer uid on a
//! public socket).

use crate::error::KeychainError;
use crate::feed::EndpointFeed;
use crate::service::{LinkConfig, Retry, Service, ServiceClient};
use crate::types::ServiceStatus;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Typed access to keys, the vault, sessions and attestation.
///
/// Methods take `&self` and may be called from several threads; calls to
/// one service are serialized on its connection. For parallel requests to
/// the same service, build several keychains over public sockets.
#[derive(Debug)]
pub struct Keychain {
    pub(crate) keystored: ServiceClient,
    pub(crate) identityd: ServiceClient,
    pub(crate) attestd: ServiceClient,
    feed: Option<EndpointFeed>,
}

impl Keychain {
    /// A keychain over the public sockets in `run_dir`
    /// (`<run>/keystored.sock`, `<run>/identityd.sock`, `<run>/attestd.sock`),
    /// connected on first use and reconnected after a service restarts.
    pub fn connect(run_dir: impl AsRef<Path>) -> Keychain {
        Keychain::connect_with(run_dir, LinkConfig::default())
    }

    /// [`Keychain::connect`] with explicit timeouts.
    pub fn connect_with(run_dir: impl AsRef<Path>, config: LinkConfig) -> Keychain {
        let run = run_dir.as_ref();
        Keychain::from_socket_paths(
            Service::Keystored.socket_in(run),
            Service::Identityd.socket_in(run),
            Service::Attestd.socket_in(run),
            config,
        )
    }

    /// A keychain over three explicit socket paths.
    pub fn from_socket_paths(
        keystored: impl AsRef<Path>,
        identityd: impl AsRef<Path>,
        attestd: impl AsRef<Path>,
        config: LinkConfig,
    ) -> Keychain {
        Keychain {
            keystored: ServiceClient::at_path(Service::Keystored, keystored, config.clone()),
            identityd: ServiceClient::at_path(Service::Identityd, identityd, config.clone()),
            attestd: ServiceClient::at_path(Service::Attestd, attestd, config),
            feed: None,
        }
    }

    /// A keychain over endpoints arriving in `feed` (named `keystored`,
    /// `identityd`, `attestd`). A call to a service whose endpoint has not
    /// arrived waits for it at most [`LinkConfig::endpoint_wait`]; a
    /// re-issued endpoint replaces the old one at the next call.
    pub fn from_feed(feed: EndpointFeed, config: LinkConfig) -> Keychain {
        Keychain {
            keystored: ServiceClient::over_feed(Service::Keystored, feed.clone(), config.clone()),
            identityd: ServiceClient::over_feed(Service::Identityd, feed.clone(), config.clone()),
            attestd: ServiceClient::over_feed(Service::Attestd, feed.clone(), config),
            feed: Some(feed),
        }
    }

    /// A keychain over already connected streams (for instance endpoints
    /// received with `wire::handoff::recv_endpoint`). A service given
    /// `None` can still be supplied later through [`Keychain::feed`].
    pub fn from_streams(
        keystored: Option<UnixStream>,
        identityd: Option<UnixStream>,
        attestd: Option<UnixStream>,
        config: LinkConfig,
    ) -> Keychain {
        let feed = EndpointFeed::new();
        for (svc, s) in [
            (Service::Keystored, keystored),
            (Service::Identityd, identityd),
            (Service::Attestd, attestd),
        ] {
            if let Some(s) = s {
                feed.offer_stream(svc, s);
            }
        }
        Keychain::from_feed(feed, config)
    }

    /// What an app started by nexus-init does: read endpoints from the
    /// control channel (`std::io::stdin()`) on a background thread for the
    /// life of the process, so that endpoints re-issued after a service
    /// restart are picked up.
    pub fn from_control_channel(
        control: impl AsFd + Send + 'static,
        config: LinkConfig,
    ) -> io::Result<Keychain> {
        let feed = EndpointFeed::new();
        feed.spawn_reader(control)?;
        Ok(Keychain::from_feed(feed, config))
    }

    /// The endpoint feed, for a keychain built over endpoints: hand it
    /// endpoints received elsewhere.
    pub fn feed(&self) -> Option<&EndpointFeed> {
        self.feed.as_ref()
    }

    pub(crate) fn client(&self, service: Service) -> Option<&ServiceClient> {
        match service {
            Service::Keystored => Some(&self.keystored),
            Service::Identityd => Some(&self.identityd),
            Service::Attestd => Some(&self.attestd),
            Service::Bundlemgrd | Service::Updated => None,
        }
    }

    /// `status {}` of one of the keychain's services. Idempotent.
    pub fn status(&self, service: Service) -> Result<ServiceStatus, KeychainError> {
        let client = self.client(service).ok_or_else(|| {
            KeychainError::Invalid(format!("{service} is not a keychain service"))
        })?;
        status_of(client)
    }

    /// `status` of keystored, identityd and attestd, each answered or not.
    pub fn status_all(&self) -> Vec<(Service, Result<ServiceStatus, KeychainError>)> {
        [Service::Keystored, Service::Identityd, Service::Attestd]
            .into_iter()
            .map(|s| (s, self.status(s)))
            .collect()
    }
}

/// `status {}` of any service client.
pub fn status_of(client: &ServiceClient) -> Result<ServiceStatus, KeychainError> {
    let r = client.call_op::<nexus_proto::Status>(&nexus_proto::Empty {}, Retry::Idempotent)?;
    Ok(r.into())
}
