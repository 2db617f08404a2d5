//! The `after` relation: the daemons' start order, cycle detection and
//! reachability.
//!
//! Invariants: the start order contains every daemon exactly once, each
//! after all of its dependencies; among daemons whose dependencies are all
//! placed, file order decides, so the order is stable and predictable. A
//! cycle is reported with its members, never broken arbitrarily.

use crate::error::ManifestError;
use crate::manifest::{Kind, Service};

/// The daemons' start order (indices), or the cycle that prevents one.
pub(crate) fn start_order(services: &[Service]) -> Result<Vec<usize>, ManifestError> {
    let daemons: Vec<usize> = (0..services.len())
        .filter(|&i| services[i].kind() == Kind::Daemon)
        .collect();
    let mut placed = vec![false; services.len()];
    let mut order = Vec::with_capacity(daemons.len());
    while order.len() < daemons.len() {
        let next = daemons
            .iter()
            .copied()
            .find(|&i| !placed[i] && services[i].after().iter().all(|&d| placed[d]));
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => return Err(ManifestError::Cycle(find_cycle(services, &placed))),
        }
    }
    Ok(order)
}

/// A cycle among the unplaced daemons. Each of them waits for at least one
/// other unplaced daemon (otherwise it would have been placed), so walking
/// those edges must revisit a node.
fn find_cycle(services: &[Service], placed: &[bool]) -> Vec<String> {
    let unplaced = |i: &usize| !placed[*i] && services[*i].kind() == Kind::Daemon;
    let Some(mut at) = (0..services.len()).find(unplaced) else {
        return Vec::new();
    };
    let mut path: Vec<usize> = Vec::new();
    loop {
        if let Some(pos) = path.iter().position(|&p| p == at) {
            let mut cycle: Vec<String> = path[pos..]
                .iter()
                .map(|&i| services[i].name().to_owned())
                .collect();
            cycle.push(services[at].name().to_owned());
            return cycle;
        }
        path.push(at);
        match services[at].after().iter().copied().find(unplaced) {
            Some(next) => at = next,
            None => {
                return path
                    .iter()
                    .map(|&i| services[i].name().to_owned())
                    .collect()
            }
        }
    }
}

/// Which entries `from` (transitively) starts after, by index: one walk
/// over the `after` edges, O(entries + edges).
pub(crate) fn starts_after(services: &[Service], from: usize) -> Vec<bool> {
    let mut seen = vec![false; services.len()];
    let mut stack = vec![from];
    while let Some(i) = stack.pop() {
        for &d in services[i].after() {
            if !seen[d] {
                seen[d] = true;
                stack.push(d);
            }
        }
    }
    seen
}
