//! Behaviour of the managers, run against every kind through one generic body each.

use super::*;

const SLOT: usize = 64;

/// Runs `body` against a STATIC, a HEAP and a CONCURRENT manager of `capacity` slots.
fn each_kind(capacity: usize, body: impl Fn(&dyn Fn() -> Box<dyn ErasedManager>)) {
    each_kind_from_generation(capacity, 0, body)
}

/// Like [`each_kind`], with every slot's first message at generation `first` (the real
/// managers, started near the end of their generations).
fn each_kind_from_generation(
    capacity: usize,
    first: u64,
    body: impl Fn(&dyn Fn() -> Box<dyn ErasedManager>),
) {
    let need = required_bytes(capacity, SLOT).unwrap();
    let mut buf = vec![0u8; need];
    let (ptr, len) = (buf.as_mut_ptr(), buf.len());
    body(&|| {
        // SAFETY: each test body creates one STATIC manager and drops it before returning; the
        // buffer outlives the body.
        let m = unsafe { StaticManager::from_raw(ptr, len, capacity, SLOT, MemoryClass::Host) };
        Box::new(m.unwrap().starting_at_generation(first))
    });
    drop(buf);
    body(&|| {
        let m = HeapManager::new(capacity, SLOT, MemoryClass::Host).unwrap();
        Box::new(m.starting_at_generation(first))
    });
    body(&|| {
        let m = ConcurrentManager::new(capacity, SLOT, MemoryClass::Host).unwrap();
        Box::new(m.starting_at_generation(first))
    });
}

/// The manager operations the tests use, object-safe so one body covers every kind.
trait ErasedManager {
    fn store(&self, h: &Header, p: &[u8]) -> Result<Token, MemoryError>;
    fn read_copy(&self, t: Token) -> Result<Vec<u8>, MemoryError>;
    fn free(&self, t: Token) -> Result<(), MemoryError>;
    fn raw_read(&self, t: Token) -> Result<RawRead, MemoryError>;
    fn raw_write(&self, t: Token) -> Result<RawWrite, MemoryError>;
    fn release(&self, t: Token) -> Result<(), MemoryError>;
    fn reserve(&self, len: usize) -> Result<(Token, *mut u8), MemoryError>;
    fn commit(&self, t: Token, h: &Header) -> Result<(), MemoryError>;
    fn abort(&self, t: Token) -> Result<(), MemoryError>;
    fn take(&self, t: Token, buf: &mut [u8]) -> Result<usize, MemoryError>;
    fn clear(&self) -> Result<(), MemoryError>;
    fn peek(&self, t: Token) -> Result<Header, MemoryError>;
    fn available(&self) -> usize;
    fn stats(&self) -> Stats;
}

impl<M: MemoryManager> ErasedManager for M {
    fn store(&self, h: &Header, p: &[u8]) -> Result<Token, MemoryError> {
        MemoryManager::store(self, h, p)
    }
    fn read_copy(&self, t: Token) -> Result<Vec<u8>, MemoryError> {
        Ok(MemoryManager::read(self, t)?.to_vec())
    }
    fn free(&self, t: Token) -> Result<(), MemoryError> {
        MemoryManager::free(self, t)
    }
    fn raw_read(&self, t: Token) -> Result<RawRead, MemoryError> {
        self.slots().acquire_read(t)
    }
    fn raw_write(&self, t: Token) -> Result<RawWrite, MemoryError> {
        self.slots().acquire_write(t)
    }
    fn release(&self, t: Token) -> Result<(), MemoryError> {
        self.slots().release(t)
    }
    fn reserve(&self, len: usize) -> Result<(Token, *mut u8), MemoryError> {
        self.slots().reserve_raw(len)
    }
    fn commit(&self, t: Token, h: &Header) -> Result<(), MemoryError> {
        self.slots().commit(t, h)
    }
    fn abort(&self, t: Token) -> Result<(), MemoryError> {
        self.slots().abort(t)
    }
    fn take(&self, t: Token, buf: &mut [u8]) -> Result<usize, MemoryError> {
        MemoryManager::take(self, t, buf)
    }
    fn clear(&self) -> Result<(), MemoryError> {
        MemoryManager::clear(self)
    }
    fn peek(&self, t: Token) -> Result<Header, MemoryError> {
        self.peek_header(t)
    }
    fn available(&self) -> usize {
        MemoryManager::available(self)
    }
    fn stats(&self) -> Stats {
        MemoryManager::stats(self)
    }
}

fn header(seq: u64) -> Header {
    Header {
        sequence: seq,
        trace_id: 0xfeed,
        ..Header::new()
    }
}

#[test]
fn store_read_free_round_trip_keeps_payload_and_stamps_header() {
    each_kind(4, |new| {
        let m = new();
        let t = m.store(&header(9), b"payload").unwrap();
        assert_ne!(t.key, 0);
        assert_eq!(m.read_copy(t).unwrap(), b"payload");
        let h = m.peek(t).unwrap();
        assert_eq!(
            (h.sequence, h.trace_id, h.payload_len, h.qos),
            (9, 0xfeed, 7, QOS_BEST_EFFORT)
        );
        assert_eq!(m.available(), 3);
        m.free(t).unwrap();
        assert_eq!(m.available(), 4);
    });
}

#[test]
fn stale_token_is_refused_after_free_and_after_reuse() {
    each_kind(1, |new| {
        let m = new();
        let old = m.store(&header(1), b"a").unwrap();
        m.free(old).unwrap();
        assert_eq!(m.read_copy(old), Err(MemoryError::StaleToken));
        assert_eq!(m.free(old), Err(MemoryError::StaleToken), "double free");
        let new_t = m.store(&header(2), b"b").unwrap();
        assert_ne!(new_t, old, "reuse gets a new generation");
        assert_eq!(m.read_copy(old), Err(MemoryError::StaleToken));
        assert_eq!(m.free(old), Err(MemoryError::StaleToken));
        assert_eq!(
            m.read_copy(new_t).unwrap(),
            b"b",
            "the new message is untouched"
        );
    });
}

#[test]
fn zero_out_of_range_and_foreign_tokens_are_bad() {
    each_kind(2, |new| {
        let m = new();
        let other = HeapManager::new(2, SLOT, MemoryClass::Host).unwrap();
        let foreign = MemoryManager::store(&other, &header(0), b"x").unwrap();
        let mine = m.store(&header(0), b"y").unwrap();
        assert_eq!(m.read_copy(Token::default()), Err(MemoryError::BadToken));
        assert_eq!(m.read_copy(foreign), Err(MemoryError::BadToken));
        assert_eq!(m.free(foreign), Err(MemoryError::BadToken));
        let out_of_range = Token::pack(mine.key, 2, 0);
        assert_eq!(m.read_copy(out_of_range), Err(MemoryError::BadToken));
        assert_eq!(
            MemoryManager::read(&other, foreign).unwrap().payload(),
            b"x"
        );
    });
}

#[test]
fn full_manager_refuses_store_and_counts_failures() {
    each_kind(2, |new| {
        let m = new();
        let a = m.store(&header(0), b"1").unwrap();
        let _b = m.store(&header(0), b"2").unwrap();
        assert_eq!(m.store(&header(0), b"3"), Err(MemoryError::NoFreeSlots));
        assert_eq!(m.reserve(1).map(|r| r.0), Err(MemoryError::NoFreeSlots));
        let s = m.stats();
        assert_eq!((s.in_use, s.high_water, s.failed_allocs), (2, 2, 2));
        m.free(a).unwrap();
        assert_eq!(m.stats().in_use, 1);
        assert_eq!(m.stats().high_water, 2);
        m.store(&header(0), b"4").unwrap();
    });
}

#[test]
fn payload_over_slot_size_is_too_large_and_takes_no_slot() {
    each_kind(1, |new| {
        let m = new();
        let big = vec![0u8; SLOT + 1];
        assert_eq!(
            m.store(&header(0), &big),
            Err(MemoryError::TooLarge {
                len: SLOT + 1,
                slot_size: SLOT
            })
        );
        assert_eq!(
            m.reserve(SLOT + 1).map(|r| r.0),
            Err(MemoryError::TooLarge {
                len: SLOT + 1,
                slot_size: SLOT
            })
        );
        assert_eq!(m.available(), 1);
        m.store(&header(0), &big[..SLOT]).unwrap();
    });
}

#[test]
fn capacity_zero_is_legal_and_always_full() {
    each_kind(0, |new| {
        let m = new();
        assert_eq!(m.available(), 0);
        assert_eq!(m.store(&header(0), b""), Err(MemoryError::NoFreeSlots));
        m.clear().unwrap();
    });
}

#[test]
fn free_and_clear_are_refused_while_a_view_is_outstanding() {
    each_kind(2, |new| {
        let m = new();
        let t = m.store(&header(0), b"abc").unwrap();
        m.raw_read(t).unwrap();
        assert_eq!(m.free(t), Err(MemoryError::Borrowed));
        assert_eq!(m.clear(), Err(MemoryError::Borrowed));
        assert_eq!(m.raw_write(t).map(|_| ()), Err(MemoryError::Borrowed));
        let mut buf = [0u8; 8];
        assert_eq!(m.take(t, &mut buf), Err(MemoryError::Borrowed));
        m.release(t).unwrap();
        assert!(matches!(m.release(t), Err(MemoryError::WrongState(_))));
        m.raw_write(t).unwrap();
        assert_eq!(m.raw_read(t).map(|_| ()), Err(MemoryError::Borrowed));
        assert_eq!(m.free(t), Err(MemoryError::Borrowed));
        m.release(t).unwrap();
        m.clear().unwrap();
        assert_eq!(m.available(), 2);
        assert_eq!(m.read_copy(t), Err(MemoryError::StaleToken));
    });
}

#[test]
fn reserve_commit_abort_and_invisibility_before_commit() {
    each_kind(2, |new| {
        let m = new();
        let (t, p) = m.reserve(5).unwrap();
        // SAFETY: the reservation gives 5 writable bytes at p.
        unsafe { std::ptr::copy_nonoverlapping(b"hello".as_ptr(), p, 5) };
        assert!(
            matches!(m.read_copy(t), Err(MemoryError::WrongState(_))),
            "invisible before commit"
        );
        assert!(matches!(m.free(t), Err(MemoryError::WrongState(_))));
        m.commit(t, &header(3)).unwrap();
        assert!(
            matches!(m.commit(t, &header(3)), Err(MemoryError::WrongState(_))),
            "commit twice"
        );
        assert!(matches!(m.abort(t), Err(MemoryError::WrongState(_))));
        assert_eq!(m.read_copy(t).unwrap(), b"hello");
        assert_eq!(m.peek(t).unwrap().payload_len, 5);
        let (t2, _) = m.reserve(1).unwrap();
        m.abort(t2).unwrap();
        assert_eq!(m.abort(t2), Err(MemoryError::StaleToken));
        assert_eq!(m.commit(t2, &header(0)), Err(MemoryError::StaleToken));
        assert_eq!(m.available(), 1);
    });
}

#[test]
fn commit_with_an_invalid_header_keeps_the_reservation() {
    each_kind(1, |new| {
        let m = new();
        let (t, _) = m.reserve(0).unwrap();
        let bad = Header {
            qos: 9,
            ..Header::new()
        };
        assert!(matches!(
            m.commit(t, &bad),
            Err(MemoryError::InvalidArgument(_))
        ));
        m.commit(t, &header(0)).unwrap();
    });
}

#[test]
fn write_view_length_is_revalidated_on_release() {
    each_kind(1, |new| {
        let m = new();
        let t = m.store(&header(0), b"abcd").unwrap();
        let w = m.raw_write(t).unwrap();
        assert_eq!((w.len, w.capacity), (4, SLOT));
        // SAFETY: the write view gives exclusive access to the header and SLOT payload bytes.
        unsafe {
            *w.payload = b'X';
            (*w.header).payload_len = (SLOT + 1) as u32;
            (*w.header).memory_class = MemoryClass::Shared.to_raw();
        }
        assert!(matches!(m.release(t), Err(MemoryError::TooLarge { .. })));
        let h = m.peek(t).unwrap();
        assert_eq!(h.payload_len, 4, "previous length restored");
        assert_eq!(
            h.memory_class,
            MemoryClass::Host.to_raw(),
            "class re-stamped"
        );
        assert_eq!(m.read_copy(t).unwrap(), b"Xbcd");
        let w = m.raw_write(t).unwrap();
        // SAFETY: as above.
        unsafe { (*w.header).payload_len = 2 };
        m.release(t).unwrap();
        assert_eq!(m.read_copy(t).unwrap(), b"Xb");
    });
}

#[test]
fn take_copies_out_and_frees_but_not_into_a_short_buffer() {
    each_kind(1, |new| {
        let m = new();
        let t = m.store(&header(0), b"takeme").unwrap();
        let mut short = [0u8; 3];
        assert_eq!(
            m.take(t, &mut short),
            Err(MemoryError::BufferTooSmall { needed: 6, cap: 3 })
        );
        let mut buf = [0u8; 16];
        assert_eq!(m.take(t, &mut buf), Ok(6));
        assert_eq!(&buf[..6], b"takeme");
        assert_eq!(m.take(t, &mut buf), Err(MemoryError::StaleToken));
        assert_eq!(m.available(), 1);
    });
}

#[test]
fn header_flags_and_qos_are_validated_on_store() {
    each_kind(1, |new| {
        let m = new();
        let bad = Header {
            flags: 1 << 7,
            ..Header::new()
        };
        assert!(matches!(
            m.store(&bad, b""),
            Err(MemoryError::InvalidArgument(_))
        ));
        let ok = Header {
            flags: FLAG_FIRST_IN_BATCH | FLAG_LAST_IN_BATCH | FLAG_DEGRADE_ALLOWED,
            qos: QOS_LATENCY_CRITICAL,
            ..Header::new()
        };
        let t = m.store(&ok, b"").unwrap();
        assert_eq!(m.peek(t).unwrap().qos, QOS_LATENCY_CRITICAL);
        assert_eq!(m.available(), 0);
    });
}

#[test]
fn shape_is_validated_and_overflow_is_an_error() {
    assert!(matches!(
        required_bytes(MAX_CAPACITY + 1, 1),
        Err(MemoryError::InvalidArgument(_))
    ));
    assert!(matches!(
        required_bytes(1, MAX_SLOT_SIZE + 1),
        Err(MemoryError::InvalidArgument(_))
    ));
    assert!(matches!(
        required_bytes(usize::MAX, usize::MAX),
        Err(MemoryError::InvalidArgument(_))
    ));
    // The largest shape is a valid number of bytes on 64-bit, but no machine can allocate it.
    assert_eq!(
        HeapManager::new(MAX_CAPACITY, MAX_SLOT_SIZE, MemoryClass::Host).map(|_| ()),
        Err(MemoryError::OutOfMemory)
    );
    assert_eq!(required_bytes(0, 64).unwrap(), 0);
    assert!(ConcurrentManager::new(MAX_CAPACITY + 1, 8, MemoryClass::Host).is_err());
    let mut small = [0u8; 16];
    assert!(matches!(
        StaticManager::new(&mut small, 1, 64, MemoryClass::Host),
        Err(MemoryError::InvalidArgument(_))
    ));
}

#[test]
fn tokens_of_other_managers_are_refused_after_hundreds_of_managers() {
    // The 8-bit tag of 0.1 wrapped after 255 managers: A's tokens then worked in a successor.
    let a = HeapManager::new(2, SLOT, MemoryClass::Host).unwrap();
    let ta = MemoryManager::store(&a, &header(1), b"A's").unwrap();
    let kept = {
        let freed = HeapManager::new(2, SLOT, MemoryClass::Host).unwrap();
        MemoryManager::store(&freed, &header(2), b"freed").unwrap()
    };
    let mut firsts = std::collections::HashSet::new();
    for _ in 0..600 {
        let m = HeapManager::new(2, SLOT, MemoryClass::Host).unwrap();
        let first = MemoryManager::store(&m, &header(3), b"mine").unwrap();
        assert!(
            firsts.insert(first),
            "first tokens of two managers are equal"
        );
        for t in [ta, kept] {
            assert_eq!(
                MemoryManager::read(&m, t).map(|_| ()),
                Err(MemoryError::BadToken)
            );
            assert_eq!(MemoryManager::free(&m, t), Err(MemoryError::BadToken));
        }
        assert_eq!(&*MemoryManager::read(&m, first).unwrap(), b"mine");
    }
    assert_eq!(&*MemoryManager::read(&a, ta).unwrap(), b"A's");
}

#[test]
fn a_slot_whose_generation_is_exhausted_is_retired_not_reused() {
    // Each slot starts two generations before the end: its 2nd message is its last one.
    let last = MESSAGES_PER_SLOT - 1;
    each_kind_from_generation(2, last - 1, |new| {
        let m = new();
        let mut issued = std::collections::HashSet::new();
        // Slot reuse by free (store + free), by take, and by abort: 2 messages per slot.
        let t1 = m.store(&header(1), b"a").unwrap();
        m.free(t1).unwrap();
        let t2 = m.store(&header(2), b"b").unwrap();
        assert_eq!(t2.index(), t1.index(), "LIFO reuse of the same slot");
        assert_eq!(t2.generation(), last);
        let mut buf = [0u8; 8];
        assert_eq!(m.take(t2, &mut buf), Ok(1));
        let s = m.stats();
        assert_eq!((s.retired, s.in_use, m.available()), (1, 0, 1));
        let (r1, _) = m.reserve(1).unwrap();
        assert_ne!(r1.index(), t1.index(), "the retired slot is not handed out");
        m.abort(r1).unwrap();
        let t3 = m.store(&header(3), b"c").unwrap();
        assert_eq!((t3.index(), t3.generation()), (r1.index(), last));
        m.free(t3).unwrap();
        for t in [t1, t2, r1, t3] {
            assert!(issued.insert(t), "a token was issued twice");
            assert_eq!(m.read_copy(t), Err(MemoryError::StaleToken));
            assert_eq!(m.free(t), Err(MemoryError::StaleToken));
        }
        // Both slots retired: the manager is full for good, and says why in its stats.
        let s = m.stats();
        assert_eq!((s.retired, s.in_use, m.available()), (2, 0, 0));
        assert_eq!(m.store(&header(4), b"d"), Err(MemoryError::NoFreeSlots));
        assert_eq!(m.stats().failed_allocs, 1);
        m.clear().unwrap();
        assert_eq!(m.available(), 0);
    });
}

#[test]
fn clear_retires_slots_at_their_last_generation() {
    each_kind_from_generation(2, MESSAGES_PER_SLOT - 1, |new| {
        let m = new();
        let a = m.store(&header(1), b"a").unwrap();
        let b = m.store(&header(2), b"b").unwrap();
        assert_eq!(m.stats().high_water, 2);
        m.clear().unwrap();
        assert_eq!(m.read_copy(a), Err(MemoryError::StaleToken));
        assert_eq!(m.read_copy(b), Err(MemoryError::StaleToken));
        let s = m.stats();
        assert_eq!(
            (s.retired, s.in_use, s.high_water, m.available()),
            (2, 0, 2, 0)
        );
    });
}

#[test]
fn high_water_does_not_count_retired_slots_as_in_use() {
    each_kind_from_generation(3, MESSAGES_PER_SLOT - 1, |new| {
        let m = new();
        let t = m.store(&header(1), b"a").unwrap();
        m.free(t).unwrap(); // retires slot 0
        let t = m.store(&header(1), b"a").unwrap();
        let s = m.stats();
        assert_eq!((s.retired, s.in_use, s.high_water), (1, 1, 1));
        m.free(t).unwrap();
    });
}

#[test]
fn write_view_header_is_checked_like_a_store_and_reverted_when_invalid() {
    each_kind(1, |new| {
        let m = new();
        let h = Header {
            qos: QOS_BACKGROUND,
            flags: FLAG_LAST_IN_BATCH,
            ..header(5)
        };
        let t = m.store(&h, b"abcd").unwrap();
        for (qos, flags, what) in [
            (200, FLAG_FIRST_IN_BATCH, "qos"),
            (QOS_LATENCY_CRITICAL, 0xff, "flags"),
        ] {
            let w = m.raw_write(t).unwrap();
            // SAFETY: the write view gives exclusive access to the header and payload.
            unsafe {
                *w.payload = b'X';
                (*w.header).qos = qos;
                (*w.header).flags = flags;
                (*w.header).reserved0 = 9;
                (*w.header).reserved1 = 0xdead;
                (*w.header).payload_len = 3;
                (*w.header).sequence = 99;
            }
            assert!(
                matches!(m.release(t), Err(MemoryError::InvalidArgument(_))),
                "{what}"
            );
            let got = m.peek(t).unwrap();
            assert_eq!(
                (
                    got.qos,
                    got.flags,
                    got.payload_len,
                    got.reserved0,
                    got.reserved1
                ),
                (QOS_BACKGROUND, FLAG_LAST_IN_BATCH, 4, 0, 0),
                "{what}: checked fields reverted, reserved zeroed"
            );
            assert_eq!(got.sequence, 99, "caller fields keep their edits");
            assert_eq!(m.read_copy(t).unwrap(), b"Xbcd", "the view ended");
        }
        // A valid edit applies; qos 0 is stored as best-effort, reserved bytes as zero.
        let w = m.raw_write(t).unwrap();
        // SAFETY: as above.
        unsafe {
            (*w.header).qos = 0;
            (*w.header).flags = FLAG_DEGRADE_ALLOWED;
            (*w.header).reserved1 = 7;
        }
        m.release(t).unwrap();
        let got = m.peek(t).unwrap();
        assert_eq!(
            (got.qos, got.flags, got.reserved1),
            (QOS_BEST_EFFORT, FLAG_DEGRADE_ALLOWED, 0)
        );
    });
}

#[test]
fn static_storage_null_is_an_invalid_argument_unless_capacity_is_zero() {
    // SAFETY: NULL storage is refused (or, with capacity 0, never touched).
    let r =
        unsafe { StaticManager::from_raw(std::ptr::null_mut(), 1 << 20, 1, 8, MemoryClass::Host) };
    assert!(matches!(r, Err(MemoryError::InvalidArgument(m)) if m.contains("NULL")));
    // SAFETY: as above.
    let r = unsafe { StaticManager::from_raw(std::ptr::null_mut(), 0, 0, 8, MemoryClass::Host) };
    assert_eq!(r.unwrap().capacity(), 0);
}

/// Tests that use one kind directly, through the public trait (no erased helper in scope).
mod direct {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    use super::super::*;
    use super::{header, SLOT};

    #[test]
    fn static_manager_lives_in_the_callers_buffer_at_any_alignment() {
        let need = required_bytes(3, 16).unwrap();
        let mut buf = vec![0u8; need + 1];
        let (base, size) = (buf.as_ptr() as usize, buf.len());
        let m = StaticManager::new(&mut buf[1..], 3, 16, MemoryClass::Device(7)).unwrap();
        let t = m.store(&header(1), b"in place").unwrap();
        assert_eq!(
            m.peek_header(t).unwrap().memory_class,
            MemoryClass::Device(7).to_raw()
        );
        assert_eq!(m.memory_class(), MemoryClass::Device(7));
        let r = MemoryManager::read(&m, t).unwrap();
        let p = r.payload().as_ptr() as usize;
        assert!(
            p > base && p < base + size,
            "payload lives in the caller's buffer"
        );
    }

    #[test]
    fn guards_release_on_drop_even_when_the_borrower_panics() {
        let m = ConcurrentManager::new(1, SLOT, MemoryClass::Host).unwrap();
        let t = m.store(&header(0), b"x").unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _w = m.write(t).unwrap();
            panic!("borrower dies");
        }));
        assert!(r.is_err());
        m.free(t).unwrap();
        let t = m.store(&header(0), b"y").unwrap();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _r = m.read(t).unwrap();
            panic!("reader dies");
        }));
        m.free(t).unwrap();
        assert_eq!(m.available(), 1);
    }

    #[test]
    fn rust_guards_edit_length_and_reservations_abort_on_drop() {
        let m = HeapManager::new(2, 8, MemoryClass::Host).unwrap();
        let t = m.store(&Header::new(), b"12345678").unwrap();
        {
            let mut w = m.write(t).unwrap();
            assert_eq!(
                w.set_len(9),
                Err(MemoryError::TooLarge {
                    len: 9,
                    slot_size: 8
                })
            );
            w.set_len(3).unwrap();
            w.payload_mut().copy_from_slice(b"abc");
            w.header_mut().sequence = 77;
        }
        {
            let mut w = m.write(t).unwrap();
            w.header_mut().qos = 9;
            assert!(matches!(w.release(), Err(MemoryError::InvalidArgument(_))));
        }
        assert_eq!(m.peek_header(t).unwrap().qos, QOS_BEST_EFFORT, "reverted");
        let r = m.read(t).unwrap();
        assert_eq!(
            (r.payload(), r.header().sequence, r.header().payload_len),
            (&b"abc"[..], 77, 3)
        );
        drop(r);
        {
            let mut res = m.reserve(2).unwrap();
            res.payload_mut().copy_from_slice(b"zz");
            assert_eq!(m.available(), 0);
        }
        assert_eq!(m.available(), 1, "dropped reservation was aborted");
        let mut res = m.reserve(2).unwrap();
        res.payload_mut().copy_from_slice(b"ok");
        let t2 = res.commit(&Header::new()).unwrap();
        assert_eq!(&*m.read(t2).unwrap(), b"ok");
    }

    #[test]
    fn store_and_free_cost_does_not_depend_on_fill_level() {
        // O(1): the free list hands out the most recently freed slot without scanning. With one
        // slot free in a nearly full manager, store must pick exactly that slot.
        let m = ConcurrentManager::new(10_000, 8, MemoryClass::Host).unwrap();
        let tokens: Vec<_> = (0..10_000)
            .map(|_| m.store(&Header::new(), b"").unwrap())
            .collect();
        m.free(tokens[5_000]).unwrap();
        let t = m.store(&Header::new(), b"").unwrap();
        assert_eq!(t.index(), tokens[5_000].index());
    }

    #[test]
    fn concurrent_store_read_free_from_many_threads_loses_nothing() {
        let m = Arc::new(ConcurrentManager::new(16, SLOT, MemoryClass::Host).unwrap());
        let threads = 4;
        let per = 20_000;
        let done = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|id| {
                let (m, done, start) = (Arc::clone(&m), Arc::clone(&done), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    for i in 0..per {
                        let payload = [(id * 31 + i) as u8; SLOT];
                        let t = loop {
                            match m.store(&Header::new(), &payload) {
                                Ok(t) => break t,
                                Err(MemoryError::NoFreeSlots) => std::hint::spin_loop(),
                                Err(e) => panic!("{e}"),
                            }
                        };
                        assert_eq!(&*m.read(t).unwrap(), &payload[..]);
                        m.free(t).unwrap();
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(done.load(Ordering::Relaxed), threads * per);
        assert_eq!(m.available(), 16);
    }

    #[test]
    fn scoped_handles_share_one_concurrent_manager() {
        let m = ConcurrentManager::new(8, SLOT, MemoryClass::Host).unwrap();
        std::thread::scope(|s| {
            for _ in 0..2 {
                let h = m.scoped_handle();
                s.spawn(move || {
                    for _ in 0..1000 {
                        let t = h.store(&Header::new(), b"w").unwrap();
                        h.free(t).unwrap();
                    }
                });
            }
        });
        assert_eq!(MemoryManager::available(&m), 8);
    }

    #[test]
    fn store_wait_is_woken_by_a_free_on_another_thread() {
        use std::sync::mpsc;
        use std::time::Duration;
        let m = ConcurrentManager::new(1, SLOT, MemoryClass::Host).unwrap();
        let first = m.store(&header(0), b"full").unwrap();
        let (ready, waiting) = mpsc::channel();
        std::thread::scope(|s| {
            let producer = s.spawn(|| {
                ready.send(()).unwrap();
                m.store_wait(&header(0), b"second", None).unwrap()
            });
            waiting.recv().unwrap();
            // Whether the producer is parked yet or not, the free gives it the slot.
            m.free(first).unwrap();
            let t = producer
                .join()
                .unwrap()
                .expect("no timeout without a limit");
            assert_eq!(&*m.read(t).unwrap(), b"second");
        });
        // Nothing free: a bounded wait times out without storing (and counts a failure).
        let before = m.stats().failed_allocs;
        assert_eq!(
            m.store_wait(&header(0), b"x", Some(Duration::from_millis(20))),
            Ok(None)
        );
        assert_eq!(
            m.store_wait(&header(0), b"x", Some(Duration::ZERO)),
            Ok(None)
        );
        assert_eq!(m.stats().failed_allocs, before + 2);
        // Arguments are checked before any wait.
        assert!(matches!(
            m.store_wait(&header(0), &[0; SLOT + 1], None),
            Err(MemoryError::TooLarge { .. })
        ));
        assert!(m.reserve_wait(1, Some(Duration::ZERO)).unwrap().is_none());
    }

    #[test]
    fn reserve_wait_is_woken_by_abort_take_and_clear() {
        let m = ConcurrentManager::new(1, SLOT, MemoryClass::Host).unwrap();
        let r = m.reserve(4).unwrap();
        std::thread::scope(|s| {
            // The waiter's reservation is aborted when its guard drops.
            let waiter = s.spawn(|| m.reserve_wait(4, None).unwrap().unwrap().token());
            r.abort();
            let t = waiter.join().unwrap();
            assert!(m.abort(t).is_err());
        });
        let t = m.store(&header(0), b"take").unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| m.store_wait(&header(0), b"after take", None).unwrap());
            let mut buf = [0u8; SLOT];
            assert_eq!(m.take(t, &mut buf).unwrap(), 4);
            let t2 = waiter.join().unwrap().unwrap();
            std::thread::scope(|s2| {
                let w2 = s2.spawn(|| m.store_wait(&header(0), b"after clear", None).unwrap());
                // clear frees t2 (whether or not the waiter is parked yet).
                loop {
                    m.clear().unwrap();
                    if m.peek_header(t2).is_err() {
                        break;
                    }
                }
                assert!(w2.join().unwrap().is_some());
            });
        });
    }

    #[test]
    fn many_producers_wait_for_few_slots_and_every_message_arrives() {
        use std::sync::mpsc;
        const PRODUCERS: u64 = 6;
        const EACH: u64 = 2000;
        let m = ConcurrentManager::new(2, SLOT, MemoryClass::Host).unwrap();
        let (tx, rx) = mpsc::channel::<Token>();
        std::thread::scope(|s| {
            for p in 0..PRODUCERS {
                let tx = tx.clone();
                let m = &m;
                s.spawn(move || {
                    for i in 0..EACH {
                        let v = p * EACH + i;
                        let t = m
                            .store_wait(&header(0), &v.to_le_bytes(), None)
                            .unwrap()
                            .unwrap();
                        tx.send(t).unwrap();
                    }
                });
            }
            drop(tx);
            let mut sum = 0u64;
            let mut n = 0u64;
            for t in rx {
                let mut buf = [0u8; 8];
                assert_eq!(m.take(t, &mut buf).unwrap(), 8);
                sum += u64::from_le_bytes(buf);
                n += 1;
            }
            let total = PRODUCERS * EACH;
            assert_eq!(n, total);
            assert_eq!(sum, total * (total - 1) / 2);
        });
        assert_eq!(m.available(), 2);
    }

    #[test]
    fn outstanding_counts_views_and_reservations() {
        let m = HeapManager::new(4, SLOT, MemoryClass::Host).unwrap();
        let t = m.store(&header(0), b"x").unwrap();
        assert_eq!(m.outstanding(), 0);
        let r1 = MemoryManager::read(&m, t).unwrap();
        let r2 = MemoryManager::read(&m, t).unwrap();
        let res = m.reserve(1).unwrap();
        assert_eq!(m.outstanding(), 3);
        drop((r1, r2));
        let t2 = m.store(&header(0), b"y").unwrap();
        let w = MemoryManager::write(&m, t2).unwrap();
        assert_eq!(m.outstanding(), 2);
        drop(w);
        res.abort();
        assert_eq!(m.outstanding(), 0);
    }
}

#[test]
fn a_thread_takes_slots_another_thread_freed_into_its_own_shard() {
    // Every slot freed by `a` sits in a's home shard; `main` (another home) must still get all.
    let cm = ConcurrentManager::new(4, 8, MemoryClass::Host).unwrap();
    let m: &SlotManager<Concurrent> = &cm;
    std::thread::scope(|s| {
        s.spawn(|| {
            let ts: Vec<Token> = (0..4)
                .map(|_| m.store(&Header::new(), b"x").unwrap())
                .collect();
            for t in ts {
                m.free(t).unwrap();
            }
        });
    });
    assert_eq!(m.available(), 4);
    let ts: Vec<Token> = (0..4)
        .map(|_| m.store(&Header::new(), b"y").unwrap())
        .collect();
    assert_eq!(m.available(), 0);
    assert_eq!(m.store(&Header::new(), b"z"), Err(MemoryError::NoFreeSlots));
    for t in ts {
        m.free(t).unwrap();
    }
    assert_eq!(m.available(), 4);
}

#[test]
fn high_water_is_exact_when_threads_take_turns() {
    let cm = ConcurrentManager::new(16, 8, MemoryClass::Host).unwrap();
    let m: &SlotManager<Concurrent> = &cm;
    let first: Vec<Token> = std::thread::scope(|s| {
        s.spawn(|| {
            (0..3)
                .map(|_| m.store(&Header::new(), b"a").unwrap())
                .collect()
        })
        .join()
        .unwrap()
    });
    assert_eq!(m.stats().high_water, 3);
    let second: Vec<Token> = std::thread::scope(|s| {
        s.spawn(|| {
            (0..4)
                .map(|_| m.store(&Header::new(), b"b").unwrap())
                .collect()
        })
        .join()
        .unwrap()
    });
    assert_eq!(m.stats().high_water, 7);
    for t in first {
        m.free(t).unwrap();
    }
    let third: Vec<Token> = (0..5)
        .map(|_| m.store(&Header::new(), b"c").unwrap())
        .collect();
    assert_eq!((m.stats().in_use, m.stats().high_water), (9, 9));
    for t in second.into_iter().chain(third) {
        m.free(t).unwrap();
    }
    assert_eq!(
        (m.stats().in_use, m.stats().high_water, m.available()),
        (0, 9, 16)
    );
}

#[test]
fn two_threads_storing_and_freeing_leave_every_slot_available() {
    let cm = ConcurrentManager::new(8, 8, MemoryClass::Host).unwrap();
    let m: &SlotManager<Concurrent> = &cm;
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..20_000 {
                    let t = m.store(&Header::new(), b"p").unwrap();
                    assert!(m.available() <= 8);
                    m.free(t).unwrap();
                }
            });
        }
    });
    let s = m.stats();
    assert_eq!((m.available(), s.in_use, s.failed_allocs), (8, 0, 0));
    assert!(s.high_water >= 1 && s.high_water <= 8);
}
