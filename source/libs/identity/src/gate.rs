//! The one gate every password check (and user creation or deletion)
//! passes: one holder at a time, with a bounded queue per caller in front
//! of it.
//!
//! - A caller (the subject of the channel) may have at most
//!   `per_caller` checks in flight, waiting or holding the gate; one more
//!   is refused at once ([`Full`]), before any work.
//! - When the gate is released, the next holder is the waiting caller
//!   with the fewest recent failures (its rank, given at entry: the
//!   failures in its budget), then the one served least recently
//!   (never-served callers first), then by arrival. A caller that keeps
//!   many connections busy gets one turn per round, like everyone else,
//!   and callers whose checks keep failing (guessers) go after those whose
//!   do not. A caller without failures therefore waits for at most the
//!   check already holding the gate plus one check of each other caller
//!   of its rank with something waiting, never for a flood's queue.
//!
//! Invariants: the gate has at most one holder; a ticket that gave up
//! (its thread is gone) cannot exist, because a waiter leaves only when
//! admitted; counts never leak (the guard's drop gives everything back,
//! also when unwinding).

use nexus_core::Subject;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Condvar, Mutex, MutexGuard};

/// The caller's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

/// Callers whose last turn is remembered at most; beyond, callers with
/// nothing in flight are forgotten (they then count as never served).
const REMEMBERED: usize = 4096;

#[derive(Default)]
struct State {
    /// Someone holds the gate, or it is reserved for `admitted`.
    busy: bool,
    admitted: Option<u64>,
    next_ticket: u64,
    /// Waiting tickets, in arrival order, with their caller and rank.
    waiting: BTreeMap<u64, (Subject, u32)>,
    in_flight: HashMap<Subject, usize>,
    /// The turn number of each caller's last admission.
    last_turn: HashMap<Subject, u64>,
    turns: u64,
}

impl State {
    fn served(&mut self, caller: &Subject) {
        self.turns += 1;
        if self.last_turn.len() >= REMEMBERED && !self.last_turn.contains_key(caller) {
            let in_flight = &self.in_flight;
            self.last_turn.retain(|s, _| in_flight.contains_key(s));
        }
        self.last_turn.insert(caller.clone(), self.turns);
    }

    /// The ticket to admit next: the lowest rank, then the caller served
    /// least recently, then the oldest ticket.
    fn pick(&self) -> Option<u64> {
        self.waiting
            .iter()
            .min_by_key(|(ticket, (caller, rank))| {
                (
                    *rank,
                    self.last_turn.get(caller).copied().unwrap_or(0),
                    **ticket,
                )
            })
            .map(|(ticket, _)| *ticket)
    }
}

/// The gate.
pub(crate) struct Gate {
    state: Mutex<State>,
    changed: Condvar,
    per_caller: usize,
}

/// Holding the gate. Dropping it lets the next caller in.
pub(crate) struct Held<'a> {
    gate: &'a Gate,
    caller: Subject,
}

impl Gate {
    /// A gate letting each caller have `per_caller` (at least 1) checks in
    /// flight.
    pub(crate) fn new(per_caller: usize) -> Gate {
        Gate {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            per_caller: per_caller.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section is a few map updates that cannot panic
        // half-way; a poisoned state is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait for the gate as `caller` of `rank` (its recent failures), or
    /// [`Full`] at once when the caller already has its share in flight.
    pub(crate) fn enter(&self, caller: &Subject, rank: u32) -> Result<Held<'_>, Full> {
        let mut st = self.lock();
        let n = st.in_flight.get(caller).copied().unwrap_or(0);
        if n >= self.per_caller {
            return Err(Full);
        }
        st.in_flight.insert(caller.clone(), n + 1);
        let held = Held {
            gate: self,
            caller: caller.clone(),
        };
        if !st.busy && st.waiting.is_empty() {
            st.busy = true;
            st.served(caller);
            return Ok(held);
        }
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        st.waiting.insert(ticket, (caller.clone(), rank));
        while st.admitted != Some(ticket) {
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.admitted = None;
        st.waiting.remove(&ticket);
        st.served(caller);
        Ok(held)
    }

    /// How many checks `caller` has in flight (tests and diagnostics).
    #[cfg(test)]
    fn in_flight(&self, caller: &Subject) -> usize {
        self.lock().in_flight.get(caller).copied().unwrap_or(0)
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut st = self.gate.lock();
        match st.in_flight.get(&self.caller).copied() {
            Some(n) if n > 1 => {
                st.in_flight.insert(self.caller.clone(), n - 1);
            }
            _ => {
                st.in_flight.remove(&self.caller);
            }
        }
        // Reserve the gate for the next holder, so that a caller arriving
        // meanwhile queues instead of slipping in.
        st.admitted = st.pick();
        st.busy = st.admitted.is_some();
        drop(st);
        self.gate.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    fn s(name: &str) -> Subject {
        format!("app:com.example.{name}").parse().unwrap()
    }

    /// Park a thread in the gate as `caller`; it reports its name when
    /// admitted and holds the gate until told to go.
    fn queue(
        gate: &Arc<Gate>,
        caller: &str,
        order: &mpsc::Sender<String>,
    ) -> (thread::JoinHandle<()>, mpsc::Sender<()>) {
        queue_ranked(gate, caller, 0, order)
    }

    fn queue_ranked(
        gate: &Arc<Gate>,
        caller: &str,
        rank: u32,
        order: &mpsc::Sender<String>,
    ) -> (thread::JoinHandle<()>, mpsc::Sender<()>) {
        let (go, wait) = mpsc::channel::<()>();
        let (g, order, name) = (Arc::clone(gate), order.clone(), caller.to_owned());
        let before = gate.waiting();
        let h = thread::spawn(move || {
            let held = g.enter(&s(&name), rank).unwrap();
            order.send(name).unwrap();
            wait.recv().unwrap();
            drop(held);
        });
        // Until it is queued (the ticket order is the arrival order).
        while gate.waiting() == before {
            thread::sleep(Duration::from_millis(1));
        }
        (h, go)
    }

    #[test]
    fn test_reject_a_callers_checks_beyond_its_queue_with_full() {
        let gate = Arc::new(Gate::new(2));
        let a = s("guesser");
        let first = gate.enter(&a, 0).unwrap();
        assert_eq!(gate.in_flight(&a), 1);
        // One more may wait; the one after is refused at once.
        let (order_tx, order) = mpsc::channel();
        let (t, go) = queue(&gate, "guesser", &order_tx);
        assert_eq!(gate.enter(&a, 0).err(), Some(Full));
        assert_eq!(gate.in_flight(&a), 2);
        // Another caller is not affected by the guesser's queue.
        let (t2, go2) = queue(&gate, "owner", &order_tx);
        drop(first);
        // The owner was never served: it goes before the guesser's second.
        assert_eq!(order.recv().unwrap(), "owner");
        go2.send(()).unwrap();
        assert_eq!(order.recv().unwrap(), "guesser");
        go.send(()).unwrap();
        t.join().unwrap();
        t2.join().unwrap();
        assert_eq!(gate.in_flight(&a), 0);
        assert_eq!(gate.in_flight(&s("owner")), 0);
        let again = gate.enter(&a, 0).unwrap();
        drop(again);
    }

    #[test]
    fn callers_are_served_round_robin_least_recent_first() {
        let gate = Arc::new(Gate::new(2));
        let (tx, order) = mpsc::channel();
        let holder = gate.enter(&s("a"), 0).unwrap();
        // a queues its second, then b, c arrive with two each.
        let mut parked = Vec::new();
        for name in ["a", "b", "b", "c", "c"] {
            parked.push(queue(&gate, name, &tx));
        }
        drop(holder);
        let mut seen = Vec::new();
        for (i, _) in parked.iter().enumerate() {
            let name = order.recv().unwrap();
            seen.push(name);
            // Release whoever was admitted (each thread waits on its own
            // channel; send to all that are still parked, extra sends are
            // harmless once they are gone).
            let _ = i;
            for (_, go) in &parked {
                let _ = go.send(());
            }
        }
        for (h, _) in parked {
            h.join().unwrap();
        }
        // b and c were never served, a was: b, c, then a, then b, c again.
        assert_eq!(seen, ["b", "c", "a", "b", "c"]);
    }

    #[test]
    fn callers_without_failures_go_before_failing_ones() {
        let gate = Arc::new(Gate::new(2));
        let (tx, order) = mpsc::channel();
        let holder = gate.enter(&s("g1"), 3).unwrap();
        // Sixteen guessing callers wait (ranked by their failures), then
        // the owner arrives last, never served before and without
        // failures: it goes first.
        let mut parked = Vec::new();
        for i in 0..16 {
            parked.push(queue_ranked(&gate, &format!("guess{i:02}"), 1 + i % 3, &tx));
        }
        parked.push(queue_ranked(&gate, "owner", 0, &tx));
        drop(holder);
        let first = order.recv().unwrap();
        for (_, go) in &parked {
            for _ in 0..parked.len() {
                let _ = go.send(());
            }
        }
        for (h, _) in parked {
            h.join().unwrap();
        }
        assert_eq!(first, "owner");
    }
}
