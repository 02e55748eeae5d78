//! loom models of the lock-free parts: the free list, its sharded form (per-shard lists and
//! counts, stealing between shards), and the slot state word (40-bit
//! generation, phase, writer bit, 21-bit reader count; a slot at its last generation retires
//! instead of wrapping). They run the library's own generic code (`FreeList`, `state::*`) over
//! loom's atomics, which explore every interleaving allowed by the memory model.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release --no-default-features --lib loom`

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicU32, AtomicU64};
use loom::sync::Arc;
use loom::thread;

use super::freelist::{FreeList, Links};
use super::shards::ShardedFreeList;
use super::state::{self, MAX_GENERATION};
use super::MemoryError;

struct LoomLinks(Vec<AtomicU32>);

impl Links for LoomLinks {
    type L = AtomicU32;
    fn link(&self, index: u32) -> &AtomicU32 {
        &self.0[index as usize]
    }
}

fn list(len: u32) -> (FreeList<AtomicU64>, LoomLinks) {
    let links = LoomLinks((0..len).map(|_| AtomicU32::new(0)).collect());
    let f = FreeList::new_full(&links, len);
    (f, links)
}

#[test]
fn loom_free_list_never_hands_one_slot_to_two_threads() {
    loom::model(|| {
        let (f, links) = list(2);
        let shared = Arc::new((f, links));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let s = Arc::clone(&shared);
                thread::spawn(move || s.0.pop(&s.1))
            })
            .collect();
        let got: Vec<_> = ts.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(got.iter().all(Option::is_some));
        assert_ne!(got[0], got[1]);
        assert_eq!(shared.0.pop(&shared.1), None);
    });
}

#[test]
fn loom_free_list_survives_aba_pop_push_races() {
    // Thread A pops; thread B pops twice and pushes the first slot back (the ABA pattern).
    // Afterwards every slot is accounted for exactly once.
    loom::model(|| {
        let shared = Arc::new(list(3));
        let a = {
            let s = Arc::clone(&shared);
            thread::spawn(move || s.0.pop(&s.1))
        };
        let b = {
            let s = Arc::clone(&shared);
            thread::spawn(move || {
                let x = s.0.pop(&s.1);
                let y = s.0.pop(&s.1);
                if let Some(x) = x {
                    s.0.push(&s.1, x);
                }
                y
            })
        };
        let mut held: Vec<u32> = [a.join().unwrap(), b.join().unwrap()]
            .into_iter()
            .flatten()
            .collect();
        while let Some(i) = shared.0.pop(&shared.1) {
            held.push(i);
        }
        held.sort_unstable();
        assert_eq!(held, vec![0, 1, 2], "a slot was lost or handed out twice");
    });
}

/// Two shards over two slots (both in shard 0 at the start), as a manager builds them.
fn sharded() -> (ShardedFreeList<AtomicU64>, LoomLinks) {
    let links = LoomLinks((0..2).map(|_| AtomicU32::new(0)).collect());
    let f = ShardedFreeList::new_full(&links, 2, 2);
    assert_eq!(f.shards(), 2);
    (f, links)
}

/// Who holds which slot: taking a slot someone else holds fails the model.
struct Owners([loom::sync::atomic::AtomicBool; 2]);

impl Owners {
    fn new() -> Self {
        Owners([
            loom::sync::atomic::AtomicBool::new(false),
            loom::sync::atomic::AtomicBool::new(false),
        ])
    }
    fn take(&self, i: u32) {
        let was = self.0[i as usize].swap(true, loom::sync::atomic::Ordering::Relaxed);
        assert!(!was, "slot {i} handed out twice");
    }
    fn give(&self, i: u32) {
        self.0[i as usize].store(false, loom::sync::atomic::Ordering::Relaxed);
    }
}

/// A pop's decrement left its shard's count within 0..=capacity (2); an underflow wraps to a
/// huge u64. (Increments cannot leave the range: a slot is counted by at most one shard.)
fn check_count(after: u64) {
    assert!(after <= 2, "a shard counts {after} free slots of 2");
}

/// Thread A (home 0) takes up to two slots, then frees them into shard 0; thread B (home 1)
/// takes one (a steal from shard 0, where both start) and frees it into its own shard 1, from
/// where A's second take may steal it. `b_push` is the push B uses, so the broken variant can be
/// swapped in. At the end (quiescent) `available` must be exact and every slot listed once.
fn sharded_model(b_push: fn(&ShardedFreeList<AtomicU64>, &LoomLinks, usize, u32)) {
    loom::model(move || {
        let shared = Arc::new((sharded(), Owners::new()));
        let a = {
            let s = Arc::clone(&shared);
            thread::spawn(move || {
                let ((f, links), owners) = &*s;
                let mut held = Vec::new();
                for _ in 0..2 {
                    if let Some((i, from, _)) = f.pop(links, 0) {
                        owners.take(i);
                        check_count(f.count_popped(from));
                        held.push(i);
                    }
                }
                for i in held {
                    owners.give(i);
                    f.push(links, 0, i);
                }
            })
        };
        let b = {
            let s = Arc::clone(&shared);
            thread::spawn(move || {
                let ((f, links), owners) = &*s;
                if let Some((i, from, _)) = f.pop(links, 1) {
                    owners.take(i);
                    check_count(f.count_popped(from));
                    owners.give(i);
                    b_push(f, links, 1, i);
                }
            })
        };
        a.join().unwrap();
        b.join().unwrap();
        let ((f, links), _) = &*shared;
        assert!(f.count(0) <= 2 && f.count(1) <= 2);
        assert_eq!(f.available(2), 2, "available is not exact at quiescence");
        let mut listed: Vec<u32> =
            std::iter::from_fn(|| f.pop(links, 0).map(|(i, ..)| i)).collect();
        listed.sort_unstable();
        assert_eq!(listed, vec![0, 1], "a slot was lost or listed twice");
    });
}

#[test]
fn loom_sharded_free_list_never_hands_one_slot_to_two_threads_and_counts_stay_in_range() {
    sharded_model(|f, links, home, i| {
        f.push(links, home, i);
    });
}

/// The same model with the count invariant broken (B's free increments its shard's count after
/// the push instead of before): A can steal the slot and decrement the count first, which wraps
/// below 0. The model must catch that.
#[test]
#[should_panic(expected = "free slots of 2")]
fn loom_sharded_model_fails_when_a_free_counts_after_its_push() {
    sharded_model(|f, links, home, i| f.push_counting_late(links, home, i));
}

/// One slot: its state word and payload, the payload guarded only by the state protocol.
struct Slot {
    word: AtomicU64,
    payload: UnsafeCell<[u8; 2]>,
}

#[test]
fn loom_readers_never_see_a_torn_write() {
    loom::model(|| {
        let slot = Arc::new(Slot {
            word: AtomicU64::new(state::pack(0, state::COMMITTED)),
            payload: UnsafeCell::new([1, 1]),
        });
        let writer = {
            let s = Arc::clone(&slot);
            thread::spawn(move || {
                if state::acquire_write(&s.word, 0).is_ok() {
                    // SAFETY (checked by loom): the writer bit excludes every reader.
                    s.payload.with_mut(|p| unsafe { *p = [2, 2] });
                    state::release_write(&s.word, 0);
                }
            })
        };
        let reader = {
            let s = Arc::clone(&slot);
            thread::spawn(move || {
                if state::acquire_read(&s.word, 0).is_ok() {
                    // SAFETY (checked by loom): a reader count excludes the writer.
                    let v = s.payload.with(|p| unsafe { *p });
                    assert!(v == [1, 1] || v == [2, 2], "torn read {v:?}");
                    state::release_read(&s.word, 0).unwrap();
                }
            })
        };
        writer.join().unwrap();
        reader.join().unwrap();
    });
}

#[test]
fn loom_free_races_readers_without_use_after_free() {
    // A reader and a freer race; then the "next owner" rewrites the payload. loom flags a data
    // race if the reader could still be reading when the slot is reused.
    loom::model(|| {
        let slot = Arc::new(Slot {
            word: AtomicU64::new(state::pack(0, state::COMMITTED)),
            payload: UnsafeCell::new([5, 5]),
        });
        let reader = {
            let s = Arc::clone(&slot);
            thread::spawn(move || match state::acquire_read(&s.word, 0) {
                Ok(()) => {
                    // SAFETY (checked by loom): a reader count keeps the slot from being freed.
                    let v = s.payload.with(|p| unsafe { *p });
                    assert_eq!(v, [5, 5]);
                    state::release_read(&s.word, 0).unwrap();
                }
                Err(e) => assert_eq!(e, MemoryError::StaleToken),
            })
        };
        let freer = {
            let s = Arc::clone(&slot);
            thread::spawn(move || loop {
                match state::free(&s.word, 0) {
                    Ok(()) => {
                        // The slot is ours again: reuse it.
                        let gen = state::reserve_popped(&s.word);
                        // SAFETY (checked by loom): RESERVED by us, invisible to readers.
                        s.payload.with_mut(|p| unsafe { *p = [9, 9] });
                        state::finish_claim(&s.word, gen, true);
                        return;
                    }
                    Err(MemoryError::Borrowed) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            })
        };
        reader.join().unwrap();
        freer.join().unwrap();
    });
}

#[test]
fn loom_two_writers_exclude_each_other() {
    loom::model(|| {
        let slot = Arc::new(Slot {
            word: AtomicU64::new(state::pack(3, state::COMMITTED)),
            payload: UnsafeCell::new([0, 0]),
        });
        let ts: Vec<_> = (0..2u8)
            .map(|id| {
                let s = Arc::clone(&slot);
                thread::spawn(move || {
                    if state::acquire_write(&s.word, 3).is_ok() {
                        // SAFETY (checked by loom): one writer at a time.
                        s.payload.with_mut(|p| unsafe { *p = [id, id] });
                        state::release_write(&s.word, 3);
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
    });
}

#[test]
fn loom_the_last_generation_retires_the_slot_and_no_token_works_again() {
    // A slot at its last generation: a reader, a freer and a second, late freer of the same
    // token race. The freer that wins recycles the slot the way the manager does (reuse unless
    // it retired). Afterwards exactly one free succeeded, the reader never saw a reused slot,
    // and no token of the slot, however old, is honoured again: the slot is RETIRED for good.
    loom::model(|| {
        let slot = Arc::new(Slot {
            word: AtomicU64::new(state::pack(MAX_GENERATION, state::COMMITTED)),
            payload: UnsafeCell::new([5, 5]),
        });
        let reader = {
            let s = Arc::clone(&slot);
            thread::spawn(move || match state::acquire_read(&s.word, MAX_GENERATION) {
                Ok(()) => {
                    // SAFETY (checked by loom): a reader count keeps the slot from being freed.
                    let v = s.payload.with(|p| unsafe { *p });
                    assert_eq!(v, [5, 5], "read a reused slot");
                    state::release_read(&s.word, MAX_GENERATION).unwrap();
                }
                Err(e) => assert_eq!(e, MemoryError::StaleToken),
            })
        };
        let freer = |s: Arc<Slot>, retry: bool| {
            thread::spawn(move || loop {
                match state::free(&s.word, MAX_GENERATION) {
                    Ok(()) => {
                        if !state::retires(MAX_GENERATION) {
                            // What recycle would do: the slot goes back into service.
                            let gen = state::reserve_popped(&s.word);
                            // SAFETY (checked by loom): RESERVED by us, invisible to readers.
                            s.payload.with_mut(|p| unsafe { *p = [9, 9] });
                            state::finish_claim(&s.word, gen, true);
                        }
                        return true;
                    }
                    Err(MemoryError::Borrowed) if retry => thread::yield_now(),
                    Err(MemoryError::Borrowed) => return false,
                    Err(MemoryError::StaleToken) => return false,
                    Err(e) => panic!("{e}"),
                }
            })
        };
        let a = freer(Arc::clone(&slot), true);
        let b = freer(Arc::clone(&slot), false);
        reader.join().unwrap();
        let freed = [a.join().unwrap(), b.join().unwrap()];
        assert_eq!(freed.iter().filter(|&&f| f).count(), 1, "one free wins");
        for gen in [0, 1, MAX_GENERATION - 1, MAX_GENERATION] {
            assert_eq!(
                state::acquire_read(&slot.word, gen),
                Err(MemoryError::StaleToken),
                "a token of generation {gen} was honoured again"
            );
        }
        assert_eq!(state::committed_generation(&slot.word), None);
    });
}
