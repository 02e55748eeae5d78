//! Gates: caller closures that judge each event of an append before anything is written.
//!
//! Invariant: gates run with no store lock held (a gate may read the store, and a C gate must
//! never be called under a library lock), in registration order, on the appending thread.
//! After [`Gates::unregister`] returns, the gate is never called again, and its closure is
//! dropped once the last in-flight call has returned.

use crate::sync::{Condvar, Mutex, RwLock};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::error::StoreError;
use super::event::{AppendRequest, EventId};

/// A gate's refusal: passed through unchanged as [`StoreError::Rejected`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Caller-defined code.
    pub code: i32,
    /// Caller-defined reason.
    pub reason: String,
}

impl Rejection {
    /// A refusal with `code` and `reason`.
    pub fn new(code: i32, reason: impl Into<String>) -> Self {
        Rejection {
            code,
            reason: reason.into(),
        }
    }
}

/// What a gate sees of an event about to be appended. Sequence, id, version and timestamp are
/// not assigned yet: they are decided at commit, after every gate has passed.
#[derive(Debug, Clone, Copy)]
pub struct PendingEvent<'a> {
    /// Target stream (already validated).
    pub stream: &'a str,
    /// Kind.
    pub kind: u16,
    /// Payload.
    pub payload: &'a [u8],
    /// Correlation id.
    pub correlation_id: Option<EventId>,
    /// Causation id.
    pub causation_id: Option<EventId>,
    /// Idempotency key.
    pub idempotency_key: Option<&'a [u8]>,
    /// Position in the batch (0 for a single append).
    pub index: usize,
    /// Number of events in the batch (1 for a single append).
    pub batch_len: usize,
}

/// The closure type of a gate.
pub type GateFn = dyn Fn(&PendingEvent<'_>) -> Result<(), Rejection> + Send + Sync;

/// Names a registered gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GateId(u64);

impl GateId {
    /// The raw value (for the C API).
    pub fn as_u64(self) -> u64 {
        self.0
    }
    /// Wraps a raw value.
    pub fn from_u64(raw: u64) -> Self {
        GateId(raw)
    }
}

#[derive(Default)]
struct Calls {
    in_flight: usize,
    removed: bool,
}

struct Entry {
    id: u64,
    gate: Box<GateFn>,
    calls: Mutex<Calls>,
    idle: Condvar,
}

thread_local! {
    /// Gates running on this thread (so unregistering a gate from inside itself cannot wait for
    /// its own call to finish).
    static RUNNING: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

#[derive(Default)]
pub(crate) struct Gates {
    list: RwLock<Vec<Arc<Entry>>>,
    next: AtomicU64,
}

impl Gates {
    pub(crate) fn register(&self, gate: Box<GateFn>) -> GateId {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Arc::new(Entry {
            id,
            gate,
            calls: Mutex::new(Calls::default()),
            idle: Condvar::new(),
        });
        self.list.write().push(entry);
        GateId(id)
    }

    /// Removes a gate and waits until its in-flight calls have returned (except a call on this
    /// very thread: unregistering a gate from inside itself returns at once, and the call in
    /// progress is its last). `false` when no such gate is registered.
    pub(crate) fn unregister(&self, id: GateId) -> bool {
        let entry = {
            let mut list = self.list.write();
            let Some(pos) = list.iter().position(|e| e.id == id.0) else {
                return false;
            };
            list.remove(pos)
        };
        let own = RUNNING.with(|r| r.borrow().iter().filter(|&&g| g == id.0).count());
        let mut calls = entry.calls.lock();
        calls.removed = true;
        while calls.in_flight > own {
            calls = entry.idle.wait(calls);
        }
        true
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.read().is_empty()
    }

    /// Runs every gate on every request, in order; the first refusal or panic wins.
    pub(crate) fn check(&self, requests: &[AppendRequest]) -> Result<(), StoreError> {
        let snapshot: Vec<Arc<Entry>> = self.list.read().clone();
        if snapshot.is_empty() {
            return Ok(());
        }
        for (index, r) in requests.iter().enumerate() {
            let pending = PendingEvent {
                stream: &r.stream,
                kind: r.kind,
                payload: &r.payload,
                correlation_id: r.correlation_id,
                causation_id: r.causation_id,
                idempotency_key: r.idempotency_key.as_deref(),
                index,
                batch_len: requests.len(),
            };
            for entry in &snapshot {
                call(entry, &pending)?;
            }
        }
        Ok(())
    }
}

/// Decrements the in-flight count even when the gate panics.
struct InFlight<'a>(&'a Entry);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        RUNNING.with(|r| {
            let mut r = r.borrow_mut();
            if let Some(pos) = r.iter().rposition(|&g| g == self.0.id) {
                r.remove(pos);
            }
        });
        let mut calls = self.0.calls.lock();
        calls.in_flight -= 1;
        if calls.in_flight == 0 {
            self.0.idle.notify_all();
        }
    }
}

fn call(entry: &Entry, pending: &PendingEvent<'_>) -> Result<(), StoreError> {
    {
        let mut calls = entry.calls.lock();
        if calls.removed {
            return Ok(()); // unregistered after our snapshot: as if it had never been there
        }
        calls.in_flight += 1;
    }
    RUNNING.with(|r| r.borrow_mut().push(entry.id));
    let _guard = InFlight(entry);
    match catch_unwind(AssertUnwindSafe(|| (entry.gate)(pending))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(Rejection { code, reason })) => Err(StoreError::Rejected { code, reason }),
        Err(panic) => Err(StoreError::GatePanicked(format!(
            "gate {} panicked: {}",
            entry.id,
            crate::sync::panic_message(panic.as_ref()).to_owned()
        ))),
    }
}
