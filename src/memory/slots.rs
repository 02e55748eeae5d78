//! [`SlotManager`]: the one implementation behind all three manager kinds.
//!
//! Storage is one region of `capacity` slots of `stride` bytes each:
//! `[state word u64][free-list link u32][payload len u32][Header, 48 bytes][payload...]`.
//! Invariant: every byte of a slot other than its state word and link is touched only under the
//! state word's protocol (see `state.rs`): by the thread that popped or claimed the slot, or by
//! holders of a read view. The region is zero-initialised at creation; nothing allocates after.
//! The link is the free list's while the slot is FREE; while a write view is out it keeps the
//! header's `qos` and `flags` as they were, so that an invalid edit can be reverted.

use std::alloc::{self, Layout};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};
use std::time::{Duration, Instant};

use super::freelist::Links;
use super::header::{Header, MemoryClass, MemoryClassRaw};
use super::shards::ShardedFreeList;
use super::state::{self, Held};
use super::token::{next_key, Token, MAX_SLOTS};
use super::word::{Flavor, Link, Word};
use super::MemoryError;
use crate::sync::{Condvar, Mutex};

const STATE_OFFSET: usize = 0;
const LINK_OFFSET: usize = 8;
const LEN_OFFSET: usize = 12;
const HEADER_OFFSET: usize = 16;
const PAYLOAD_OFFSET: usize = 64;
/// Alignment of the region (and of every slot, since the stride is a multiple of it).
pub(crate) const REGION_ALIGN: usize = 8;
/// The largest slot size (a header's `payload_len` is 32 bits).
pub const MAX_SLOT_SIZE: usize = u32::MAX as usize - PAYLOAD_OFFSET;
/// The largest capacity (a token's slot index is 24 bits).
pub const MAX_CAPACITY: usize = MAX_SLOTS - 1;
/// How many messages one slot holds in its life: a generation per message, 40 bits of them.
/// The slot is retired after its last message is freed (see [`Stats::retired`]).
pub const MESSAGES_PER_SLOT: u64 = state::MAX_GENERATION + 1;

/// Usage counters of a manager (`transom_manager_stats`).
///
/// `capacity == available + in_use + retired` whenever the manager is quiescent.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Slots currently reserved or holding a message.
    pub in_use: usize,
    /// The largest `in_use` seen since creation.
    pub high_water: usize,
    /// Allocations (store or reserve) refused because no slot was free.
    pub failed_allocs: u64,
    /// Slots retired for good because each held its last possible message (2^40 messages per
    /// slot: a token is never issued twice). They count in `capacity` but are never
    /// `available` again.
    pub retired: usize,
}

/// Bytes per slot for `slot_size` payload bytes.
fn stride(slot_size: usize) -> Result<usize, MemoryError> {
    if slot_size > MAX_SLOT_SIZE {
        return Err(MemoryError::InvalidArgument(
            "slot_size exceeds the maximum slot size",
        ));
    }
    Ok(PAYLOAD_OFFSET + slot_size.div_ceil(REGION_ALIGN) * REGION_ALIGN)
}

/// Bytes of caller storage a STATIC manager of this shape needs, including up to
/// `REGION_ALIGN - 1` bytes to align an unaligned buffer. 0 for capacity 0.
pub fn required_bytes(capacity: usize, slot_size: usize) -> Result<usize, MemoryError> {
    if capacity > MAX_CAPACITY {
        return Err(MemoryError::InvalidArgument(
            "capacity exceeds the maximum capacity",
        ));
    }
    let stride = stride(slot_size)?;
    if capacity == 0 {
        return Ok(0);
    }
    capacity
        .checked_mul(stride)
        .and_then(|n| n.checked_add(REGION_ALIGN - 1))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or(MemoryError::InvalidArgument(
            "capacity * slot_size overflows the address space",
        ))
}

/// What a read view sees: valid until the matching release.
#[derive(Debug, Clone, Copy)]
pub struct RawRead {
    /// The stored header.
    pub header: *const Header,
    /// The payload bytes.
    pub payload: *const u8,
    /// The payload length.
    pub len: usize,
}

/// What a write view may change: valid until the matching release. Changing the length is done
/// by writing `header.payload_len`, which the release validates.
#[derive(Debug, Clone, Copy)]
pub struct RawWrite {
    /// The stored header (write `payload_len` to change the length).
    pub header: *mut Header,
    /// The payload buffer (`capacity` bytes).
    pub payload: *mut u8,
    /// The payload length when the view was taken.
    pub len: usize,
    /// The slot size.
    pub capacity: usize,
}

/// Packs a stored (so valid) header's `qos` and `flags` into a free-list link.
#[inline]
fn stash(h: &Header) -> u32 {
    debug_assert!(h.flags < 1 << 24);
    (u32::from(h.qos) << 24) | h.flags
}

#[inline]
fn unstash(v: u32) -> (u8, u32) {
    ((v >> 24) as u8, v & 0x00ff_ffff)
}

/// A slot manager of flavor `F`. Use it through [`HeapManager`](super::HeapManager),
/// [`ConcurrentManager`](super::ConcurrentManager) or [`StaticManager`](super::StaticManager).
pub struct SlotManager<F: Flavor> {
    base: NonNull<u8>,
    stride: usize,
    capacity: u32,
    slot_size: usize,
    key: u64,
    class: MemoryClass,
    class_raw: MemoryClassRaw,
    /// The free slots and their counts (`available`), sharded so threads on different shards
    /// share no written line (see shards.rs).
    free: ShardedFreeList<F::Word>,
    high_water: F::Word,
    failed: F::Word,
    retired: F::Word,
    /// Producers parked in a `*_wait` allocation (CONCURRENT only; always 0 otherwise).
    waiters: F::Word,
    /// Where they park: taken by a waiter from registering to sleeping, and by a freer only
    /// when `waiters` is non-zero (so a free costs one load when nobody waits).
    park: Mutex<()>,
    /// Signalled (one waiter per freed slot) by `recycle`.
    freed: Condvar,
    /// `Some` when the region was allocated here and must be freed on drop.
    owned: Option<Layout>,
    _flavor: PhantomData<F>,
}

// SAFETY: the region is exclusively owned (or exclusively borrowed for the manager's lifetime),
// so moving the manager to another thread moves all access with it. `F::Word` decides Sync.
unsafe impl<F: Flavor> Send for SlotManager<F> where F::Word: Send {}
// SAFETY: for the concurrent flavor every shared mutation goes through atomics and the slot
// protocol of state.rs; single-threaded words (Cell) are !Sync, so this impl does not apply.
unsafe impl<F: Flavor> Sync for SlotManager<F> where F::Word: Sync {}

impl<F: Flavor> Links for SlotManager<F> {
    type L = F::Link;
    #[inline]
    fn link(&self, index: u32) -> &F::Link {
        // SAFETY: index < capacity (free-list indices are slot indices); the link lives at
        // LINK_OFFSET in an initialised, 8-aligned slot for the manager's lifetime; Link types
        // have the layout of u32.
        unsafe { &*(self.slot(index).add(LINK_OFFSET) as *const F::Link) }
    }
}

impl<F: Flavor> SlotManager<F> {
    /// A manager whose storage is allocated here.
    pub(crate) fn allocate(
        capacity: usize,
        slot_size: usize,
        class: MemoryClass,
    ) -> Result<Self, MemoryError> {
        required_bytes(capacity, slot_size)?;
        let stride = stride(slot_size)?;
        if capacity == 0 {
            // SAFETY: a capacity-0 manager never dereferences its base.
            return Ok(unsafe {
                Self::init(NonNull::dangling(), capacity, slot_size, class, None)
            });
        }
        let layout = Layout::from_size_align(capacity * stride, 64).map_err(|_| {
            MemoryError::InvalidArgument("capacity * slot_size overflows the address space")
        })?;
        // SAFETY: layout has a non-zero size (capacity > 0, stride >= 64).
        let base = NonNull::new(unsafe { alloc::alloc(layout) }).ok_or(MemoryError::OutOfMemory)?;
        // SAFETY: base points to layout.size() = capacity * stride writable bytes, 64-aligned.
        Ok(unsafe { Self::init(base, capacity, slot_size, class, Some(layout)) })
    }

    /// A manager over caller storage (`len` bytes at `ptr`, any alignment).
    ///
    /// # Safety
    /// `ptr..ptr+len` must be writable, unaliased memory that outlives the manager.
    pub(crate) unsafe fn over(
        ptr: *mut u8,
        len: usize,
        capacity: usize,
        slot_size: usize,
        class: MemoryClass,
    ) -> Result<Self, MemoryError> {
        let need = required_bytes(capacity, slot_size)?;
        if capacity == 0 {
            // SAFETY: a capacity-0 manager never dereferences its base.
            return Ok(unsafe { Self::init(NonNull::dangling(), 0, slot_size, class, None) });
        }
        if ptr.is_null() {
            return Err(MemoryError::InvalidArgument(
                "storage is NULL (allowed only with capacity 0)",
            ));
        }
        if len < need {
            return Err(MemoryError::InvalidArgument(
                "storage is smaller than transom_manager_required_bytes(capacity, slot_size)",
            ));
        }
        let base = NonNull::new(ptr).expect("checked above");
        let pad = base.as_ptr().align_offset(REGION_ALIGN);
        // SAFETY: pad < REGION_ALIGN and len >= capacity * stride + REGION_ALIGN - 1, so the
        // aligned region of capacity * stride bytes lies inside the caller's buffer.
        Ok(unsafe { Self::init(base.add(pad), capacity, slot_size, class, None) })
    }

    /// # Safety
    /// `base` is 8-aligned and (for capacity > 0) points to `capacity * stride` writable bytes
    /// owned by the manager for its lifetime.
    unsafe fn init(
        base: NonNull<u8>,
        capacity: usize,
        slot_size: usize,
        class: MemoryClass,
        owned: Option<Layout>,
    ) -> Self {
        let stride = stride(slot_size).expect("checked by the caller");
        if capacity > 0 {
            // SAFETY: the caller guarantees capacity * stride writable bytes. Zero is a valid
            // state word (generation 0, FREE), link, length and header.
            unsafe { ptr::write_bytes(base.as_ptr(), 0, capacity * stride) };
        }
        let mut m = SlotManager {
            base,
            stride,
            capacity: capacity as u32,
            slot_size,
            key: next_key(),
            class,
            class_raw: class.to_raw(),
            free: ShardedFreeList::empty(),
            high_water: F::Word::new(0),
            failed: F::Word::new(0),
            retired: F::Word::new(0),
            waiters: F::Word::new(0),
            park: Mutex::new(()),
            freed: Condvar::new(),
            owned,
            _flavor: PhantomData,
        };
        m.free = ShardedFreeList::new_full(&m, capacity as u32, F::shards());
        m
    }

    /// Test hook: every slot's next message gets generation `gen` (e.g. near
    /// [`state::MAX_GENERATION`], to reach retirement without 2^40 frees). Only on a manager that
    /// has issued nothing yet.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn start_generations_at(&mut self, gen: u64) {
        assert_eq!(self.available(), self.capacity(), "only on a fresh manager");
        for index in 0..self.capacity {
            self.word(index)
                .store(state::pack(gen, state::FREE), Relaxed);
        }
    }

    #[inline]
    fn slot(&self, index: u32) -> *mut u8 {
        debug_assert!(index < self.capacity);
        // SAFETY: index < capacity, so the offset stays inside the region.
        unsafe { self.base.as_ptr().add(index as usize * self.stride) }
    }

    #[inline]
    fn word(&self, index: u32) -> &F::Word {
        // SAFETY: the state word lives at STATE_OFFSET of an initialised, 8-aligned slot for the
        // manager's lifetime; Word types have the layout of u64.
        unsafe { &*(self.slot(index).add(STATE_OFFSET) as *const F::Word) }
    }

    #[inline]
    fn len_ptr(&self, index: u32) -> *mut u32 {
        // SAFETY: inside the slot (see slot()).
        unsafe { self.slot(index).add(LEN_OFFSET) as *mut u32 }
    }

    #[inline]
    fn header_ptr(&self, index: u32) -> *mut Header {
        // SAFETY: inside the slot; HEADER_OFFSET is 8-aligned.
        unsafe { self.slot(index).add(HEADER_OFFSET) as *mut Header }
    }

    #[inline]
    fn payload_ptr(&self, index: u32) -> *mut u8 {
        // SAFETY: inside the slot; the payload area is slot_size bytes long.
        unsafe { self.slot(index).add(PAYLOAD_OFFSET) }
    }

    /// Splits a token into (index, generation) if it names a slot of this manager.
    #[inline]
    fn locate(&self, token: Token) -> Result<(u32, u64), MemoryError> {
        let index = token.index();
        if token.key != self.key || index >= self.capacity {
            return Err(MemoryError::BadToken);
        }
        Ok((index, token.generation()))
    }

    #[inline]
    fn check_len(&self, len: usize) -> Result<u32, MemoryError> {
        if len > self.slot_size {
            return Err(MemoryError::TooLarge {
                len,
                slot_size: self.slot_size,
            });
        }
        Ok(len as u32)
    }

    /// Takes a free slot into RESERVED: (index, generation).
    #[inline]
    fn alloc(&self) -> Result<(u32, u64), MemoryError> {
        self.try_alloc().ok_or_else(|| {
            self.failed.fetch_add(1, Relaxed);
            MemoryError::NoFreeSlots
        })
    }

    /// Like [`alloc`](Self::alloc), waiting up to `timeout` (`None`: no limit) for a slot to be
    /// freed by another thread; `Ok(None)` when the time ran out. Event-driven: the waiter parks
    /// on `freed` and every `recycle` that sees `waiters != 0` wakes one waiter.
    ///
    /// No lost wake-up: a waiter registers (`waiters += 1`, SeqCst) and then looks at the free
    /// list; a freer pushes (SeqCst CAS) and then loads `waiters` (SeqCst). In the single order
    /// of SeqCst operations one of the two comes first, so either the waiter's look (which
    /// reads every shard's head: the free list is sharded, but no free slot is ever off the
    /// shards' lists) sees the pushed slot or the freer sees the waiter and wakes it — under `park`, which the waiter
    /// holds from its look until it sleeps, so the wake cannot fall between the two. A woken
    /// waiter always tries the free list again before it looks at the clock, so a wake is
    /// never spent on a waiter that leaves without trying.
    fn alloc_wait(&self, timeout: Option<Duration>) -> Result<Option<(u32, u64)>, MemoryError> {
        if let Some(got) = self.try_alloc() {
            return Ok(Some(got));
        }
        if timeout == Some(Duration::ZERO) {
            self.failed.fetch_add(1, Relaxed);
            return Ok(None);
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut guard = self.park.lock();
        self.waiters.fetch_add(1, SeqCst);
        // The free list's pop loads its head with Acquire: the fence puts that load after the
        // registration in the SeqCst order (the freer's side is two SeqCst accesses).
        crate::sync::atomic::fence(SeqCst);
        let got = loop {
            if let Some(got) = self.try_alloc() {
                break Some(got);
            }
            match deadline {
                None => guard = self.freed.wait(guard),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break None;
                    }
                    guard = self.freed.wait_timeout(guard, d - now).0;
                }
            }
        };
        self.waiters.fetch_sub(1, SeqCst);
        drop(guard);
        if got.is_none() {
            self.failed.fetch_add(1, Relaxed);
        }
        Ok(got)
    }

    /// Pops a free slot into RESERVED, or `None` when none is free (nothing counted).
    #[inline]
    fn try_alloc(&self) -> Option<(u32, u64)> {
        let home = F::home();
        let (index, from, contended) = self.free.pop(self, home)?;
        if contended {
            F::rehome();
        }
        let after = self.free.count_popped(from);
        if self.free.note_pop(from, after) {
            self.note_high_water(from);
        }
        Some((index, state::reserve_popped(self.word(index))))
    }

    /// The high-water slow path (a pop took its shard's count below the shard's `low` mark, see
    /// shards.rs): records the exact in-use figure and re-arms the marks.
    #[cold]
    #[inline(never)]
    fn note_high_water(&self, home: usize) {
        let left = u64::from(self.capacity).saturating_sub(self.retired.load(Relaxed));
        self.free.rearm(home, left, |in_use| {
            let mut hw = self.high_water.load(Relaxed);
            while in_use > hw {
                match self.high_water.cas(hw, in_use, Relaxed, Relaxed) {
                    Ok(_) => return in_use,
                    Err(seen) => hw = seen,
                }
            }
            hw
        });
    }

    /// Returns a slot whose message of generation `gen` was just freed to the free list, or
    /// counts it retired when that was its last generation (it is then RETIRED, see state.rs).
    #[inline]
    fn recycle(&self, index: u32, gen: u64) {
        if state::retires(gen) {
            self.retired.fetch_add(1, Relaxed);
            return;
        }
        if self.free.push(self, F::home(), index) {
            F::rehome();
        }
        // The free path's whole cost for the blocking allocations: one load (a plain load on
        // x86-64) while nobody waits. SeqCst pairs with the waiter's registration (see
        // alloc_wait).
        crate::sync::seqcst_handshake();
        if self.waiters.load(SeqCst) != 0 {
            self.wake_one();
        }
    }

    /// Wakes one producer parked in `alloc_wait` (taking `park` so the wake cannot fall between
    /// its look at the free list and its sleep).
    #[cold]
    #[inline(never)]
    fn wake_one(&self) {
        let _park = self.park.lock();
        self.freed.notify_one();
    }

    /// Stores a message: the header (checked and stamped) and a copy of `payload`.
    pub fn store(&self, header: &Header, payload: &[u8]) -> Result<Token, MemoryError> {
        let len = self.check_len(payload.len())?;
        let stamped = header.stamped(len, self.class_raw)?;
        let (index, gen) = self.alloc()?;
        // SAFETY: the slot was just popped and is RESERVED by us: no other thread reads or
        // writes its bytes until finish_claim publishes it. len <= slot_size.
        unsafe {
            ptr::write(self.header_ptr(index), stamped);
            ptr::write(self.len_ptr(index), len);
            ptr::copy_nonoverlapping(payload.as_ptr(), self.payload_ptr(index), payload.len());
        }
        state::finish_claim(self.word(index), gen, true);
        Ok(Token::pack(self.key, index, gen))
    }

    /// [`store`](Self::store) that waits up to `timeout` (`None`: no limit) for a free slot
    /// instead of failing with `NoFreeSlots`; `Ok(None)` when the time ran out. Arguments are
    /// checked before waiting. Only for managers another thread frees slots of (CONCURRENT):
    /// the kinds' public wrappers offer it on [`ConcurrentManager`](super::ConcurrentManager).
    pub(crate) fn store_wait(
        &self,
        header: &Header,
        payload: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Option<Token>, MemoryError> {
        let len = self.check_len(payload.len())?;
        let stamped = header.stamped(len, self.class_raw)?;
        let Some((index, gen)) = self.alloc_wait(timeout)? else {
            return Ok(None);
        };
        // SAFETY: as in store: the slot is RESERVED by us; len <= slot_size.
        unsafe {
            ptr::write(self.header_ptr(index), stamped);
            ptr::write(self.len_ptr(index), len);
            ptr::copy_nonoverlapping(payload.as_ptr(), self.payload_ptr(index), payload.len());
        }
        state::finish_claim(self.word(index), gen, true);
        Ok(Some(Token::pack(self.key, index, gen)))
    }

    /// [`reserve_raw`](Self::reserve_raw) that waits like [`store_wait`](Self::store_wait).
    pub(crate) fn reserve_raw_wait(
        &self,
        len: usize,
        timeout: Option<Duration>,
    ) -> Result<Option<(Token, *mut u8)>, MemoryError> {
        let len = self.check_len(len)?;
        let Some((index, gen)) = self.alloc_wait(timeout)? else {
            return Ok(None);
        };
        // SAFETY: the slot is RESERVED by us (see store).
        unsafe { ptr::write(self.len_ptr(index), len) };
        Ok(Some((
            Token::pack(self.key, index, gen),
            self.payload_ptr(index),
        )))
    }

    /// Reserves a slot for a `len`-byte payload the caller writes in place through the returned
    /// pointer, then [`commit`](Self::commit)s or [`abort`](Self::abort)s. Readers cannot see a
    /// reserved slot.
    pub fn reserve_raw(&self, len: usize) -> Result<(Token, *mut u8), MemoryError> {
        let len = self.check_len(len)?;
        let (index, gen) = self.alloc()?;
        // SAFETY: the slot is RESERVED by us (see store).
        unsafe { ptr::write(self.len_ptr(index), len) };
        Ok((Token::pack(self.key, index, gen), self.payload_ptr(index)))
    }

    /// Publishes a reserved slot with `header` (checked and stamped).
    pub fn commit(&self, token: Token, header: &Header) -> Result<(), MemoryError> {
        let (index, gen) = self.locate(token)?;
        let w = self.word(index);
        state::claim_reserved(w, gen)?;
        // SAFETY: the claim gives us exclusive access to the slot's bytes.
        let len = unsafe { ptr::read(self.len_ptr(index)) };
        match header.stamped(len, self.class_raw) {
            Ok(stamped) => {
                // SAFETY: exclusive access (claim).
                unsafe { ptr::write(self.header_ptr(index), stamped) };
                state::finish_claim(w, gen, true);
                Ok(())
            }
            Err(e) => {
                state::finish_claim(w, gen, false);
                Err(e)
            }
        }
    }

    /// Gives a reserved slot back without publishing it.
    pub fn abort(&self, token: Token) -> Result<(), MemoryError> {
        let (index, gen) = self.locate(token)?;
        state::abort(self.word(index), gen)?;
        self.recycle(index, gen);
        Ok(())
    }

    /// Starts a read view (shared; refused with `Borrowed` while a write view exists).
    pub fn acquire_read(&self, token: Token) -> Result<RawRead, MemoryError> {
        let (index, gen) = self.locate(token)?;
        state::acquire_read(self.word(index), gen)?;
        Ok(RawRead {
            header: self.header_ptr(index),
            payload: self.payload_ptr(index),
            // SAFETY: we hold a read view; the length only changes under a write view.
            len: unsafe { ptr::read(self.len_ptr(index)) } as usize,
        })
    }

    /// Starts the exclusive write view (refused with `Borrowed` while any view exists).
    pub fn acquire_write(&self, token: Token) -> Result<RawWrite, MemoryError> {
        let (index, gen) = self.locate(token)?;
        state::acquire_write(self.word(index), gen)?;
        // SAFETY: we hold the write view: nobody else touches the header. The link is unused
        // while the slot is off the free list (a racing pop that reads it fails its CAS).
        let h = unsafe { &*self.header_ptr(index) };
        self.link(index).store(stash(h));
        Ok(RawWrite {
            header: self.header_ptr(index),
            payload: self.payload_ptr(index),
            // SAFETY: we hold the write view.
            len: unsafe { ptr::read(self.len_ptr(index)) } as usize,
            capacity: self.slot_size,
        })
    }

    /// Ends one view of the slot. Ending a write view checks the header like a store does:
    /// `payload_len` over the slot size is refused with `TooLarge`, a `qos` above 3 or unknown
    /// `flags` bits with `InvalidArgument`; then `payload_len`, `qos` and `flags` revert to
    /// their values when the view was taken and the view still ends, so an invalid header is
    /// never visible. Either way `memory_class` is re-stamped, the reserved bytes are zeroed and
    /// `qos` 0 becomes best-effort; the caller fields keep their edits.
    pub fn release(&self, token: Token) -> Result<(), MemoryError> {
        let (index, gen) = self.locate(token)?;
        let w = self.word(index);
        match state::held(w, gen)? {
            Held::Reader => state::release_read(w, gen),
            Held::Writer => {
                let hp = self.header_ptr(index);
                // SAFETY: the writer bit is set: the write view's holder (the caller) has
                // exclusive access to the slot's bytes until release_write below, and is not
                // using them during this call.
                let result = unsafe {
                    let edited = ptr::read(hp);
                    let checked = self
                        .check_len(edited.payload_len as usize)
                        .and_then(|len| edited.stamped(len, self.class_raw));
                    match checked {
                        Ok(h) => {
                            ptr::write(hp, h);
                            ptr::write(self.len_ptr(index), h.payload_len);
                            Ok(())
                        }
                        Err(e) => {
                            // The stash holds the values of a stored (valid) header; sanitizing
                            // only matters if a caller released a view it did not hold while
                            // another thread's take held the slot (a contract violation that
                            // must still not leave an invalid header or panic).
                            let (qos, flags) = unstash(self.link(index).load());
                            let len = ptr::read(self.len_ptr(index));
                            let restored = Header {
                                qos,
                                flags,
                                ..edited
                            };
                            ptr::write(hp, restored.sanitized(len, self.class_raw));
                            Err(e)
                        }
                    }
                };
                state::release_write(w, gen);
                result
            }
        }
    }

    /// Ends a read view held by a `ReadGuard` (the guard proves the view: nothing to check).
    #[inline]
    pub(crate) fn release_read_held(&self, token: Token) {
        state::release_read_held(self.word(token.index()));
    }

    /// A copy of the stored header.
    pub fn peek_header(&self, token: Token) -> Result<Header, MemoryError> {
        let view = self.acquire_read(token)?;
        // SAFETY: we hold a read view, so the header is not being written.
        let h = unsafe { ptr::read(view.header) };
        self.release(token)?;
        Ok(h)
    }

    /// Frees the slot; refused with `Borrowed` while a view is outstanding.
    pub fn free(&self, token: Token) -> Result<(), MemoryError> {
        let (index, gen) = self.locate(token)?;
        state::free(self.word(index), gen)?;
        self.recycle(index, gen);
        Ok(())
    }

    /// Copies the payload into `buf` and frees the slot, in one step. Returns the length. When
    /// `buf` is too small nothing is freed and `BufferTooSmall` says how much is needed.
    pub fn take(&self, token: Token, buf: &mut [u8]) -> Result<usize, MemoryError> {
        // SAFETY: [u8] and [MaybeUninit<u8>] have one layout, and take_uninit writes only
        // initialised bytes, so `buf` stays initialised.
        let buf = unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
        self.take_uninit(token, buf)
    }

    /// [`take`](Self::take) into memory that need not be initialised: on success the first
    /// (returned) length bytes of `buf` are.
    pub fn take_uninit(
        &self,
        token: Token,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Result<usize, MemoryError> {
        let (index, gen) = self.locate(token)?;
        let w = self.word(index);
        state::acquire_write(w, gen)?;
        // SAFETY: the writer bit gives exclusive access.
        let len = unsafe { ptr::read(self.len_ptr(index)) } as usize;
        if buf.len() < len {
            state::release_write(w, gen);
            return Err(MemoryError::BufferTooSmall {
                needed: len,
                cap: buf.len(),
            });
        }
        // SAFETY: exclusive access; buf holds at least len bytes.
        unsafe { ptr::copy_nonoverlapping(self.payload_ptr(index), buf.as_mut_ptr().cast(), len) };
        state::free_held(w, gen);
        self.recycle(index, gen);
        Ok(len)
    }

    /// Frees every committed slot. Refused with `Borrowed` (freeing nothing) when a view is
    /// outstanding. Reserved slots keep their reservation. In a concurrent manager, slots stored
    /// or borrowed by other threads while `clear` runs may survive it.
    pub fn clear(&self) -> Result<(), MemoryError> {
        for index in 0..self.capacity {
            if let Some(gen) = state::committed_generation(self.word(index)) {
                if state::held(self.word(index), gen).is_ok() {
                    return Err(MemoryError::Borrowed);
                }
            }
        }
        for index in 0..self.capacity {
            if let Some(gen) = state::committed_generation(self.word(index)) {
                if state::free(self.word(index), gen).is_ok() {
                    self.recycle(index, gen);
                }
            }
        }
        Ok(())
    }

    /// The read views, write views and reservations outstanding (each counts one), from one
    /// pass over every slot's state word: O(capacity), for teardown checks (a wrapper refusing
    /// to free a manager its views still point into), not for hot paths. While other threads
    /// work the count is a snapshot.
    pub fn outstanding(&self) -> usize {
        (0..self.capacity)
            .map(|i| state::outstanding(self.word(i)) as usize)
            .sum()
    }

    /// Free slots, always within `0..=capacity` (retired slots are never available).
    pub fn available(&self) -> usize {
        self.free.available(u64::from(self.capacity)) as usize
    }

    /// The number of slots.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// The largest payload, in bytes.
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// The class stamped into every header.
    pub fn memory_class(&self) -> MemoryClass {
        self.class
    }

    /// Usage counters.
    pub fn stats(&self) -> Stats {
        // Each counter is exact; read one after the other while other threads work, their sum
        // may be off by the slots in flight, so in_use is clamped to 0..=capacity.
        let retired = self.retired.load(Relaxed) as usize;
        Stats {
            in_use: self
                .capacity()
                .saturating_sub(self.available())
                .saturating_sub(retired),
            high_water: self.high_water.load(Acquire) as usize,
            failed_allocs: self.failed.load(Relaxed),
            retired,
        }
    }
}

impl<F: Flavor> Drop for SlotManager<F> {
    fn drop(&mut self) {
        if let Some(layout) = self.owned {
            // SAFETY: base was allocated in `allocate` with exactly this layout.
            unsafe { alloc::dealloc(self.base.as_ptr(), layout) };
        }
    }
}

impl<F: Flavor> std::fmt::Debug for SlotManager<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotManager")
            .field("capacity", &self.capacity)
            .field("slot_size", &self.slot_size)
            .field("available", &self.available())
            .field("memory_class", &self.class)
            .finish()
    }
}
