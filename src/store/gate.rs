//! Gates: caller closures that judge each event of an append before anything is written.
//!
//! Invariant: gates run with no store lock held (a gate may read the store, and a C gate must
//! never be called under a library lock), in registration order, on the appending thread.
//! Each gate is a [`Registration`] (the crate's callback-lifetime primitive): after
//! [`Gates::unregister`] returns, the gate is never called again, no call is in flight and its
//! closure has been dropped — except when unregistered from inside itself: then unregister
//! returns at once and the closure is dropped when the last call in flight returns.

use crate::sync::{Registration, RwLock};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::StoreError;
#[cfg(test)]
use super::event::AppendRequest;
use super::event::{EventId, Requests};

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

#[derive(Clone)]
struct Entry {
    id: u64,
    gate: Registration<Box<GateFn>>,
}

#[derive(Default)]
pub(crate) struct Gates {
    list: RwLock<Vec<Entry>>,
    next: AtomicU64,
}

impl Gates {
    pub(crate) fn register(&self, gate: Box<GateFn>) -> GateId {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.list.write().push(Entry {
            id,
            gate: Registration::new(gate),
        });
        GateId(id)
    }

    /// Removes a gate, waits until its in-flight calls have returned and drops its closure
    /// (from inside the gate itself: returns at once, and the closure is dropped when the last
    /// call in flight returns). No store lock is held meanwhile. `false` when no such gate is
    /// registered.
    pub(crate) fn unregister(&self, id: GateId) -> bool {
        let entry = {
            let mut list = self.list.write();
            let Some(pos) = list.iter().position(|e| e.id == id.0) else {
                return false;
            };
            list.remove(pos)
        };
        entry.gate.close();
        true
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.read().is_empty()
    }

    /// Runs every gate on every request, in order; the first refusal or panic wins.
    pub(crate) fn check<R: Requests + ?Sized>(&self, requests: &R) -> Result<(), StoreError> {
        let snapshot: Vec<Entry> = self.list.read().clone();
        if snapshot.is_empty() {
            return Ok(());
        }
        for index in 0..requests.count() {
            let r = requests.at(index);
            let pending = PendingEvent {
                stream: r.stream,
                kind: r.kind,
                payload: r.payload,
                correlation_id: r.correlation_id,
                causation_id: r.causation_id,
                idempotency_key: r.idempotency_key,
                index,
                batch_len: requests.count(),
            };
            for entry in &snapshot {
                call(entry, &pending)?;
            }
        }
        Ok(())
    }
}

/// Runs one gate unless it was unregistered after the caller's snapshot (then it is as if it
/// had never been there).
fn call(entry: &Entry, pending: &PendingEvent<'_>) -> Result<(), StoreError> {
    let outcome = entry
        .gate
        .invoke(|gate| catch_unwind(AssertUnwindSafe(|| gate(pending))));
    match outcome {
        None | Some(Ok(Ok(()))) => Ok(()),
        Some(Ok(Err(Rejection { code, reason }))) => Err(StoreError::Rejected { code, reason }),
        Some(Err(panic)) => Err(StoreError::GatePanicked(format!(
            "gate {} panicked: {}",
            entry.id,
            crate::sync::panic_message(panic.as_ref())
        ))),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::{mpsc, Arc, Barrier};
    use std::thread;
    use std::time::Duration;

    /// Counts its drops.
    struct DropCount(Arc<AtomicUsize>);

    impl Drop for DropCount {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn request() -> Vec<AppendRequest> {
        vec![AppendRequest::new("s", 1, b"x".to_vec())]
    }

    #[test]
    fn unregister_waits_for_a_call_on_another_thread_then_drops_the_gate() {
        let gates = Arc::new(Gates::default());
        let drops = Arc::new(AtomicUsize::new(0));
        let entered = Arc::new(Barrier::new(2));
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = crate::sync::Mutex::new(release_rx);
        let id = {
            let entered = Arc::clone(&entered);
            let count = DropCount(Arc::clone(&drops));
            gates.register(Box::new(move |_| {
                let _keep = &count;
                entered.wait();
                release_rx
                    .lock()
                    .recv_timeout(Duration::from_secs(10))
                    .unwrap();
                Err(Rejection::new(3, "no"))
            }))
        };
        let appender = {
            let gates = Arc::clone(&gates);
            thread::spawn(move || gates.check(&request()[..]))
        };
        entered.wait();
        let (done_tx, done_rx) = mpsc::channel();
        let remover = {
            let gates = Arc::clone(&gates);
            let drops = Arc::clone(&drops);
            thread::spawn(move || {
                let found = gates.unregister(id);
                done_tx.send(drops.load(Ordering::SeqCst)).unwrap();
                found
            })
        };
        // unregister cannot return while the gate runs.
        assert!(done_rx.recv_timeout(Duration::from_millis(50)).is_err());
        release_tx.send(()).unwrap();
        assert_eq!(done_rx.recv().unwrap(), 1, "the gate was dropped first");
        assert!(remover.join().unwrap());
        assert!(matches!(
            appender.join().unwrap(),
            Err(StoreError::Rejected { code: 3, .. })
        ));
        // Gone: no call, and an unknown id is reported.
        assert!(gates.check(&request()[..]).is_ok());
        assert!(!gates.unregister(id));
        assert!(gates.is_empty());
    }

    #[test]
    fn unregister_from_inside_the_gate_returns_at_once_and_drops_it_after_the_call() {
        let gates = Arc::new(Gates::default());
        let drops = Arc::new(AtomicUsize::new(0));
        let id = Arc::new(AtomicU64::new(0));
        let raw = {
            let weak = Arc::downgrade(&gates);
            let id = Arc::clone(&id);
            let count = DropCount(Arc::clone(&drops));
            let drops = Arc::clone(&drops);
            gates.register(Box::new(move |_| {
                let _keep = &count;
                let gates = weak.upgrade().unwrap();
                assert!(gates.unregister(GateId(id.load(Ordering::SeqCst))));
                // Returned at once; the gate is still alive while this call runs.
                assert_eq!(drops.load(Ordering::SeqCst), 0);
                Ok(())
            }))
        };
        id.store(raw.as_u64(), Ordering::SeqCst);
        assert!(gates.check(&request()[..]).is_ok());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(gates.is_empty());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use crate::sync::Arc;
    use loom::thread;

    /// Counts its drops.
    struct DropCount(Arc<AtomicUsize>);

    impl Drop for DropCount {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    /// `unregister` racing an append's gate check (the store's own snapshot + call code): the
    /// gate is dropped exactly once and before `unregister` returns, and never called after.
    #[test]
    fn loom_gate_unregister_racing_a_check_drops_once_and_stops_calls() {
        loom::model(|| {
            let gates = Arc::new(Gates::default());
            let calls = Arc::new(AtomicUsize::new(0));
            let drops = Arc::new(AtomicUsize::new(0));
            let id = {
                let calls = Arc::clone(&calls);
                let count = DropCount(Arc::clone(&drops));
                gates.register(Box::new(move |_| {
                    let _keep = &count;
                    calls.fetch_add(1, SeqCst);
                    Ok(())
                }))
            };
            let appender = {
                let gates = Arc::clone(&gates);
                thread::spawn(move || {
                    gates
                        .check(&[AppendRequest::new("s", 1, b"x".to_vec())][..])
                        .is_ok()
                })
            };
            assert!(gates.unregister(id));
            assert_eq!(drops.load(SeqCst), 1, "unregister returned before the drop");
            let calls_at_unregister = calls.load(SeqCst);
            assert!(appender.join().unwrap());
            assert_eq!(
                calls.load(SeqCst),
                calls_at_unregister,
                "called after unregister"
            );
            assert!(!gates.unregister(id));
        });
    }
}
