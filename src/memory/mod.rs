//! Slot memory managers: a fixed number of slots, each holding one message (a fixed
//! [`Header`] + up to `slot_size` payload bytes), addressed by by-value [`Token`]s.
//!
//! Invariant: a token is honoured only while its slot still holds the message it was issued
//! for, and no token is ever issued twice in a process. A token names its manager by a 64-bit
//! key no other manager of the process ever gets, and its slot by index and generation; every
//! free bumps the slot's generation, and a slot whose generation is exhausted (after 2^40
//! messages) is retired instead of wrapping. So stale tokens (freed, or freed and reused),
//! foreign tokens (another manager's, alive or freed) and forged ones are refused with an
//! error, never used.
//!
//! Three kinds share one algorithm ([`SlotManager`]): [`StaticManager`] over caller storage,
//! [`HeapManager`], both single-threaded, and [`ConcurrentManager`] for any thread. Store and
//! free are O(1) in every kind, however full the manager is. Borrows never block: a conflicting
//! borrow is refused with [`MemoryError::Borrowed`].
//!
//! ```
//! use transom::memory::{ConcurrentManager, Header, MemoryClass, MemoryManager};
//! let m = ConcurrentManager::new(8, 64, MemoryClass::Host).unwrap();
//! let t = m.store(&Header::new(), b"hello").unwrap();
//! assert_eq!(&*m.read(t).unwrap(), b"hello");
//! m.free(t).unwrap();
//! assert!(m.read(t).is_err()); // stale
//! ```

mod error;
mod freelist;
mod guard;
mod header;
mod managers;
mod shards;
mod slots;
mod state;
mod token;
mod word;

#[cfg(all(test, loom))]
mod loom_models;
#[cfg(all(test, not(loom)))]
mod tests;

pub use error::MemoryError;
pub use guard::{ReadGuard, Reservation, WriteGuard};
pub use header::{
    Header, HeaderFlags, MemoryClass, MemoryClassRaw, MemoryKind, Qos, FLAG_DEGRADE_ALLOWED,
    FLAG_FIRST_IN_BATCH, FLAG_LAST_IN_BATCH, QOS_BACKGROUND, QOS_BEST_EFFORT, QOS_LATENCY_CRITICAL,
};
pub use managers::{ConcurrentManager, HeapManager, StaticManager};
pub use slots::{
    required_bytes, RawRead, RawWrite, SlotManager, Stats, MAX_CAPACITY, MAX_SLOT_SIZE,
    MESSAGES_PER_SLOT,
};
pub use token::Token;
pub use word::{Concurrent, Flavor, SingleThreaded};

/// Payload-agnostic access to stored headers.
pub trait HeaderStore {
    /// A copy of the header stored under `token`.
    fn peek_header(&self, token: Token) -> Result<Header, MemoryError>;
}

/// The operations every manager kind offers, with the same semantics and the same error for the
/// same misuse.
pub trait MemoryManager: HeaderStore {
    /// [`SingleThreaded`] or [`Concurrent`].
    type Flavor: Flavor;

    /// The underlying slot manager (also gives the raw, C-style borrow API).
    fn slots(&self) -> &SlotManager<Self::Flavor>;

    /// Copies `payload` into a free slot under `header`; `NoFreeSlots` when full, `TooLarge`
    /// when the payload exceeds the slot size.
    fn store(&self, header: &Header, payload: &[u8]) -> Result<Token, MemoryError> {
        self.slots().store(header, payload)
    }

    /// Reserves a slot for `len` bytes to be written in place, then committed.
    fn reserve(&self, len: usize) -> Result<Reservation<'_, Self::Flavor>, MemoryError> {
        Reservation::new(self.slots(), len)
    }

    /// A shared view; refused with `Borrowed` while a write view exists.
    fn read(&self, token: Token) -> Result<ReadGuard<'_, Self::Flavor>, MemoryError> {
        ReadGuard::new(self.slots(), token)
    }

    /// The exclusive view; refused with `Borrowed` while any view exists.
    fn write(&self, token: Token) -> Result<WriteGuard<'_, Self::Flavor>, MemoryError> {
        WriteGuard::new(self.slots(), token)
    }

    /// Frees the message; refused with `Borrowed` while a view exists (never blocks).
    fn free(&self, token: Token) -> Result<(), MemoryError> {
        self.slots().free(token)
    }

    /// Copies the payload out and frees the slot in one step; returns the payload length.
    fn take(&self, token: Token, buf: &mut [u8]) -> Result<usize, MemoryError> {
        self.slots().take(token, buf)
    }

    /// Frees every message; refused with `Borrowed` while any view exists.
    fn clear(&self) -> Result<(), MemoryError> {
        self.slots().clear()
    }

    /// Free slots, always within `0..=capacity` (retired slots are never available again).
    fn available(&self) -> usize {
        self.slots().available()
    }

    /// The number of slots.
    fn capacity(&self) -> usize {
        self.slots().capacity()
    }

    /// The largest payload, in bytes.
    fn slot_size(&self) -> usize {
        self.slots().slot_size()
    }

    /// The class stamped into every header.
    fn memory_class(&self) -> MemoryClass {
        self.slots().memory_class()
    }

    /// Usage counters.
    fn stats(&self) -> Stats {
        self.slots().stats()
    }
}

impl<M: HeaderStore + ?Sized> HeaderStore for &M {
    fn peek_header(&self, token: Token) -> Result<Header, MemoryError> {
        (**self).peek_header(token)
    }
}

impl<M: MemoryManager + ?Sized> MemoryManager for &M {
    type Flavor = M::Flavor;
    fn slots(&self) -> &SlotManager<M::Flavor> {
        (**self).slots()
    }
}

/// Managers that can hand a per-thread handle to worker threads (e.g. `std::thread::scope`).
pub trait ScopedManager {
    /// The handle a worker uses.
    type Handle<'a>: MemoryManager + Send + 'a
    where
        Self: 'a;

    /// A handle for one worker.
    fn scoped_handle(&self) -> Self::Handle<'_>;
}
