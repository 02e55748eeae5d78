//! The three manager kinds: STATIC (caller storage), HEAP (owned storage), both
//! single-threaded, and CONCURRENT (any thread, lock-free). They differ only in where storage
//! comes from and in the word flavor; the algorithm is [`SlotManager`]'s.

use std::marker::PhantomData;
use std::ops::Deref;
use std::time::Duration;

use super::slots::SlotManager;
use super::word::{Concurrent, SingleThreaded};
use super::{
    Header, HeaderStore, MemoryClass, MemoryError, MemoryManager, Reservation, ScopedManager, Token,
};

/// A single-threaded manager over storage the caller provides (stack, shared memory, a DMA
/// region): it never allocates after creation. Size the buffer with
/// [`required_bytes`](super::required_bytes). `Send` but not `Sync`.
pub struct StaticManager<'buf> {
    slots: SlotManager<SingleThreaded>,
    _storage: PhantomData<&'buf mut [u8]>,
}

impl<'buf> StaticManager<'buf> {
    /// A manager of `capacity` slots of `slot_size` payload bytes inside `storage`.
    pub fn new(
        storage: &'buf mut [u8],
        capacity: usize,
        slot_size: usize,
        class: MemoryClass,
    ) -> Result<Self, MemoryError> {
        // SAFETY: the exclusive borrow of `storage` lasts as long as the manager ('buf).
        unsafe {
            Self::from_raw(
                storage.as_mut_ptr(),
                storage.len(),
                capacity,
                slot_size,
                class,
            )
        }
    }

    /// Like [`new`](Self::new) over raw memory.
    ///
    /// # Safety
    /// `len` bytes at `ptr` must be writable, used by nothing else, and outlive the manager.
    pub unsafe fn from_raw(
        ptr: *mut u8,
        len: usize,
        capacity: usize,
        slot_size: usize,
        class: MemoryClass,
    ) -> Result<Self, MemoryError> {
        Ok(StaticManager {
            // SAFETY: forwarded from this function's contract.
            slots: unsafe { SlotManager::over(ptr, len, capacity, slot_size, class)? },
            _storage: PhantomData,
        })
    }
}

/// A single-threaded manager whose storage the library allocates once, at creation.
/// `Send` but not `Sync`.
pub struct HeapManager {
    slots: SlotManager<SingleThreaded>,
}

impl HeapManager {
    /// A manager of `capacity` slots of `slot_size` payload bytes.
    pub fn new(capacity: usize, slot_size: usize, class: MemoryClass) -> Result<Self, MemoryError> {
        Ok(HeapManager {
            slots: SlotManager::allocate(capacity, slot_size, class)?,
        })
    }
}

/// A manager every operation of which is safe from any thread at any time: lock-free
/// allocation and free, per-slot atomic state words, borrows that never block. `Send + Sync`.
pub struct ConcurrentManager {
    slots: SlotManager<Concurrent>,
}

impl ConcurrentManager {
    /// A manager of `capacity` slots of `slot_size` payload bytes.
    pub fn new(capacity: usize, slot_size: usize, class: MemoryClass) -> Result<Self, MemoryError> {
        Ok(ConcurrentManager {
            slots: SlotManager::allocate(capacity, slot_size, class)?,
        })
    }

    /// [`store`](MemoryManager::store) that waits up to `timeout` (`None`: no limit) for another
    /// thread to free a slot (free, take, abort, clear) instead of failing with
    /// [`MemoryError::NoFreeSlots`]. `Ok(None)` when the time ran out (counted in
    /// [`Stats::failed_allocs`](super::Stats::failed_allocs)); `Some(Duration::ZERO)` tries
    /// once. The payload length and the header are checked before waiting. The waiter parks
    /// (no CPU) and is woken by the free that gives it a slot; a free costs one load more only
    /// while nobody waits.
    pub fn store_wait(
        &self,
        header: &Header,
        payload: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Option<Token>, MemoryError> {
        self.slots.store_wait(header, payload, timeout)
    }

    /// [`reserve`](MemoryManager::reserve) that waits like [`store_wait`](Self::store_wait).
    pub fn reserve_wait(
        &self,
        len: usize,
        timeout: Option<Duration>,
    ) -> Result<Option<Reservation<'_, Concurrent>>, MemoryError> {
        Reservation::new_wait(&self.slots, len, timeout)
    }
}

macro_rules! manager_impls {
    ($t:ty, $f:ty) => {
        impl $t {
            /// Test hook: the manager with every slot's first generation set to `gen`.
            #[cfg(all(test, not(loom)))]
            pub(crate) fn starting_at_generation(mut self, gen: u64) -> Self {
                self.slots.start_generations_at(gen);
                self
            }
        }

        impl MemoryManager for $t {
            type Flavor = $f;
            #[inline]
            fn slots(&self) -> &SlotManager<$f> {
                &self.slots
            }
        }

        impl HeaderStore for $t {
            fn peek_header(&self, token: Token) -> Result<Header, MemoryError> {
                self.slots.peek_header(token)
            }
        }

        impl Deref for $t {
            type Target = SlotManager<$f>;
            fn deref(&self) -> &SlotManager<$f> {
                &self.slots
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.slots.fmt(f)
            }
        }
    };
}

manager_impls!(StaticManager<'_>, SingleThreaded);
manager_impls!(HeapManager, SingleThreaded);
manager_impls!(ConcurrentManager, Concurrent);

impl ScopedManager for ConcurrentManager {
    type Handle<'a> = &'a ConcurrentManager;
    fn scoped_handle(&self) -> &ConcurrentManager {
        self
    }
}
