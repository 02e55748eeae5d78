//! Canals: consumers that pull batches of store events across threads.
//!
//! Invariant: a canal never loses an item silently. Items buffered when a canal closes are
//! handed out before the close is reported, and a subscription that has to drop events reports
//! them in-band as gaps.
//!
//! - A **cursor** ([`Canal::cursor`]) reads the store's log in sequence order from a start
//!   ([`Start`]): ordered, at-least-once, with an explicit [`Canal::ack`] and, when named,
//!   durable [`Canal::checkpoint`]s that a later cursor of the same name resumes after.
//! - A **subscription** ([`Canal::subscription`]) receives events as they commit, into a
//!   bounded buffer with an [`Overflow`] policy; drops are reported in-band as
//!   [`Delivery::Gap`]. A cursor reports events that retention removed before it read them
//!   the same way.
//! - Both pull with [`Canal::pull_batch`]: returns as soon as at least one item is ready,
//!   [`Pulled::TimedOut`] after the timeout, [`CanalError::Closed`] only after everything was
//!   handed out. Waiting parks the thread (commit listeners wake it); nothing polls.
//! - A **worker** ([`spawn_worker`]) runs the pull loop on its own thread with a batch
//!   callback; [`Worker::stop`] wakes it, [`Worker::join`] returns how it ended.
//! - Closing the store closes its canals: cursors deliver every committed matching event,
//!   subscriptions their buffer, then both report `Closed` and workers end with
//!   [`WorkerExit::Closed`]. Canals hold the store weakly and never keep it alive: once the
//!   last `Arc<Store>` is dropped, a cursor reports `Closed` at its next pull even if it had
//!   not read everything (nothing is lost for at-least-once: the unacknowledged events are
//!   still on disk and come again from the checkpoint), while a subscription still hands out
//!   its buffer first.
//!
//! ## For the C API
//!
//! - **Batch views**: [`Pulled::Items`] borrows the canal: each item's event is an
//!   [`EventView`](crate::store::EventView) whose stream name, payload and key point into a
//!   sealed segment's memory map (zero-copy), the canal's reusable buffer (the segment being
//!   appended to) or an in-memory store's event; the canal holds all of them (an `Arc` of each
//!   map or event). An item stays valid until the next `pull_batch` on that canal (whatever that
//!   pull returns) or the canal's destruction — not beyond, but also across a store close or
//!   drop and across a retention that deletes its segment. `Item::to_owned_item` copies one out.
//! - **Retention**: a cursor below the store's first retained sequence gets one in-band gap
//!   item for the removed range, then continues (see [`Canal::pull_batch`]).
//! - **Timeouts**: `None` waits without limit, `Some(ZERO)` does not wait.
//! - **Timeouts are outcomes**: a pull that times out is `Ok(Pulled::TimedOut)`, a join that
//!   times out `Ok(None)`; no error means "the wait ended".
//! - **Close**: [`Canal::close`] (or a [`Closer`] from another thread) closes a canal for its
//!   consumer, independently of the store: buffered items first, then `Closed` everywhere.
//! - **Workers**: [`spawn_worker`] takes the canal (handed back in [`SpawnError`] if refused).
//!   [`Worker::join`] → `Ok(Some(Ok(WorkerExit)))` for a normal end (`Stopped`,
//!   `CallbackStopped`, `Closed`), `Ok(Some(Err(WorkerError)))` for `Panic { message }`,
//!   `Checkpoint(e)` or `Canal(e)` (e.g. `Disconnected`), `Ok(None)` while it runs past the
//!   timeout, `Err(JoinError::FromWorkerThread)` from its own callback. After the end,
//!   [`Worker::take_canal`] gives the canal back; dropping the worker drops it.
//! - **Checkpoints**: `<store dir>/checkpoints/<name>.ckpt`, 20 bytes, format in
//!   [`checkpoint`]; in-memory stores keep them in memory for the store's lifetime.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use transom::canal::{Canal, CursorOptions, Pulled, Start};
//! use transom::store::{AppendRequest, Config, Store};
//! let store = Arc::new(Store::open(Config::in_memory()).unwrap());
//! store.append(AppendRequest::new("orders/1", 1, b"created".to_vec())).unwrap();
//! let mut cursor = Canal::cursor(&store, CursorOptions::new(Start::Begin)).unwrap();
//! let Pulled::Items(items) = cursor.pull_batch(16, Some(Duration::from_secs(1))).unwrap() else {
//!     panic!("one event is committed")
//! };
//! assert_eq!(items.len(), 1);
//! cursor.ack(1).unwrap();
//! ```

#[allow(clippy::module_inception)]
mod canal;
pub mod checkpoint;
mod cursor;
mod error;
mod filter;
mod live;
mod subscription;
mod worker;

#[cfg(test)]
mod tests;

pub use canal::{Canal, CanalKind, Closer, Interrupter, Item, Pulled};
#[cfg(feature = "nats")]
pub(crate) use cursor::check_ack;
pub use cursor::{CursorOptions, Start};
pub use error::CanalError;
pub use filter::Filter;
pub(crate) use filter::PREFIX_TOO_LONG;
pub use live::{Delivery, LiveBuffer, Overflow, PullWait, Pushed};
pub use subscription::SubscriptionOptions;
pub use worker::{
    spawn_worker, JoinError, SpawnError, Worker, WorkerAction, WorkerError, WorkerExit,
    WorkerOptions, WorkerResult,
};
