//! The clients [`super::Upstreams`] holds for one service: the idle ones
//! and a count of those lent to calls.
//!
//! Invariants:
//! - At most [`MAX_CLIENTS`] clients are held (idle and lent together)
//!   once an arrival or a give-back has trimmed the pool; the clients
//!   dropped to keep the bound are the idle ones that waited longest, never
//!   the one that just arrived.
//! - No client is handed out unless [`Client::is_usable`] says so at that
//!   moment; every idle client found unusable on the way is dropped, so a
//!   dead connection never stands in front of a live one.
//! - `lent` counts exactly the clients out with a call: [`Pool::take`]
//!   adds one, [`Pool::give_back`] removes one.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar};
use wire::Client;

/// The most clients held per service. A route has at most 8 lanes; the
/// rest is room for a re-issue that arrives while calls still hold the
/// previous clients.
pub const MAX_CLIENTS: usize = 16;

/// What a give-back did, which decides whom to wake.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Returned {
    /// The client is idle again: one waiter can have it.
    Idle,
    /// The client was dropped (unusable): waiters must look again, since
    /// none may be left to wait for.
    Dropped,
}

pub(super) struct Pool {
    /// Front: idle longest. Calls take from the back, so the clients in use
    /// stay few and warm while the others wait at the front.
    idle: VecDeque<Client>,
    lent: usize,
    /// Woken once per client given back, and all at once when a client is
    /// dropped, an endpoint arrives or the registry closes. Per service, so
    /// a wake-up for one service never lands on a waiter for another.
    pub(super) free: Arc<Condvar>,
}

impl Pool {
    pub(super) fn new() -> Pool {
        Pool {
            idle: VecDeque::new(),
            lent: 0,
            free: Arc::new(Condvar::new()),
        }
    }

    /// A client for a new endpoint: first drop every idle client whose
    /// server is gone, then keep `client`, then trim to the bound.
    pub(super) fn add(&mut self, client: Client) {
        self.idle.retain(Client::is_usable);
        self.idle.push_back(client);
        self.trim();
    }

    fn trim(&mut self) {
        while self.idle.len() > 1 && self.idle.len() + self.lent > MAX_CLIENTS {
            self.idle.pop_front();
        }
    }

    /// Lend a usable idle client, dropping the unusable ones met on the
    /// way. Returns the client, and whether any was dropped.
    pub(super) fn take(&mut self) -> (Option<Client>, bool) {
        let mut dropped = false;
        while let Some(c) = self.idle.pop_back() {
            if c.is_usable() {
                self.lent += 1;
                return (Some(c), dropped);
            }
            dropped = true;
        }
        (None, dropped)
    }

    /// Take back a lent client: kept if still usable, dropped otherwise
    /// (it failed in transport, or its server died during the call).
    pub(super) fn give_back(&mut self, client: Client) -> Returned {
        self.lent = self.lent.saturating_sub(1);
        if client.is_usable() {
            self.idle.push_back(client);
            self.trim();
            Returned::Idle
        } else {
            Returned::Dropped
        }
    }

    /// Clients out with a call.
    pub(super) fn lent(&self) -> usize {
        self.lent
    }

    /// Whether a call could be carried now or once a lent client returns.
    pub(super) fn is_up(&self) -> bool {
        self.lent > 0 || self.idle.iter().any(Client::is_usable)
    }

    /// Idle clients held (usable or not; for tests).
    #[cfg(test)]
    pub(super) fn idle(&self) -> usize {
        self.idle.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    /// A client and its peer's end; dropping the peer kills the client.
    fn pair() -> (Client, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        (Client::from_stream(a), b)
    }

    #[test]
    fn an_arrival_drops_the_dead_idle_clients_first() {
        let mut p = Pool::new();
        let (c1, peer1) = pair();
        let (c2, _peer2) = pair();
        p.add(c1);
        p.add(c2);
        drop(peer1);
        let (c3, _peer3) = pair();
        p.add(c3);
        assert_eq!(p.idle(), 2, "the dead one is gone, the live ones stay");
        assert!(p.is_up());
    }

    #[test]
    fn take_skips_and_drops_dead_clients_and_counts_the_lent() {
        let mut p = Pool::new();
        let (live, _peer) = pair();
        let (dead, dead_peer) = pair();
        p.add(live);
        p.add(dead);
        drop(dead_peer);
        let (c, dropped) = p.take();
        assert!(dropped);
        let c = c.unwrap();
        assert!(c.is_usable());
        assert_eq!((p.lent(), p.idle()), (1, 0));
        assert!(p.is_up(), "a lent client counts");
        // Nothing idle: the next caller has to wait for the lent one.
        assert!(matches!(p.take(), (None, false)));
        assert_eq!(p.give_back(c), Returned::Idle);
        assert_eq!((p.lent(), p.idle()), (0, 1));
    }

    #[test]
    fn a_client_whose_server_died_during_the_call_is_dropped() {
        let mut p = Pool::new();
        let (c, peer) = pair();
        p.add(c);
        let c = p.take().0.unwrap();
        drop(peer);
        assert_eq!(p.give_back(c), Returned::Dropped);
        assert_eq!((p.lent(), p.idle()), (0, 0));
        assert!(!p.is_up());
    }

    #[test]
    fn the_pool_is_bounded_and_drops_the_longest_idle() {
        let mut p = Pool::new();
        let mut peers = Vec::new();
        for _ in 0..MAX_CLIENTS + 5 {
            let (c, peer) = pair();
            p.add(c);
            peers.push(peer);
        }
        assert_eq!(p.idle(), MAX_CLIENTS);
        // The survivors are the newest: exactly the first five peers see
        // their connection closed.
        let closed = |s: &UnixStream| {
            use std::io::Read;
            s.set_nonblocking(true).unwrap();
            matches!((&*s).read(&mut [0u8; 1]), Ok(0))
        };
        let gone: Vec<bool> = peers.iter().map(closed).collect();
        assert_eq!(gone.iter().filter(|g| **g).count(), 5);
        assert!(gone[..5].iter().all(|g| *g));
        // With every slot lent out, an arrival is still kept (never the
        // newest is dropped) and a give-back trims back to the bound.
        let lent: Vec<Client> = (0..MAX_CLIENTS).map(|_| p.take().0.unwrap()).collect();
        let (extra, _extra_peer) = pair();
        p.add(extra);
        assert_eq!((p.lent(), p.idle()), (MAX_CLIENTS, 1));
        for c in lent {
            p.give_back(c);
        }
        assert_eq!((p.lent(), p.idle()), (0, MAX_CLIENTS));
    }
}
