//! The per-slot state word and its transitions.
//!
//! Layout (most significant first): 40-bit generation | 2-bit phase | writer bit | 21-bit reader
//! count. Invariant: a slot's bytes may be written only by whoever moved the word into
//! RESERVED, or set the writer bit; they may be read by whoever holds a reader count or the
//! writer bit. Every transition is one CAS, so no operation waits for another: a conflicting
//! borrow is reported (`Borrowed`), never waited for. Freeing bumps the generation, which is
//! what makes every older token stale; the generation never wraps: freeing a message of the
//! last generation ([`MAX_GENERATION`]) moves the slot to RETIRED for good, so no
//! `(slot, generation)` pair is ever issued twice.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

pub(crate) use super::token::MAX_GENERATION;
use super::word::Word;
use super::MemoryError;

/// The most read views one slot can have at once; one more is refused with `Borrowed`.
pub(crate) const MAX_READERS: u64 = (1 << 21) - 1;
const READERS_MASK: u64 = MAX_READERS;
const WRITER: u64 = 1 << 21;
const PHASE_SHIFT: u32 = 22;
const PHASE_MASK: u64 = 0b11 << PHASE_SHIFT;
const GEN_SHIFT: u32 = 24;
const _: () = assert!(MAX_GENERATION == u64::MAX >> GEN_SHIFT);

/// The slot is on the free list.
pub(crate) const FREE: u64 = 0;
/// The slot was handed out by `reserve` and is not visible to readers yet.
pub(crate) const RESERVED: u64 = 1;
/// The slot holds a committed message.
pub(crate) const COMMITTED: u64 = 2;
/// The slot's last generation was freed: it is never used again (not on the free list).
pub(crate) const RETIRED: u64 = 3;

#[inline]
pub(crate) fn generation(s: u64) -> u64 {
    s >> GEN_SHIFT
}
#[inline]
fn phase(s: u64) -> u64 {
    (s & PHASE_MASK) >> PHASE_SHIFT
}
#[inline]
fn readers(s: u64) -> u64 {
    s & READERS_MASK
}
#[inline]
pub(crate) fn pack(generation: u64, phase: u64) -> u64 {
    debug_assert!(generation <= MAX_GENERATION);
    (generation << GEN_SHIFT) | (phase << PHASE_SHIFT)
}

/// Whether freeing a message of generation `gen` retires its slot (instead of freeing it for
/// reuse): the caller must then not put the slot back on the free list.
#[inline]
pub(crate) fn retires(gen: u64) -> bool {
    gen == MAX_GENERATION
}

/// The word of a slot after its message of generation `gen` is freed: FREE with the next
/// generation, or RETIRED when `gen` was the last one.
#[inline]
fn freed(gen: u64) -> u64 {
    if retires(gen) {
        pack(gen, RETIRED)
    } else {
        pack(gen + 1, FREE)
    }
}

/// Checks that `s` belongs to `gen` and is in `want`; any borrow is allowed.
#[inline]
fn check(s: u64, gen: u64, want: u64) -> Result<(), MemoryError> {
    if generation(s) != gen {
        return Err(MemoryError::StaleToken);
    }
    match (phase(s), want) {
        (p, w) if p == w => Ok(()),
        // A FREE slot at the token's generation never issued that token: it is forged.
        (FREE, _) => Err(MemoryError::BadToken),
        // A retired slot's last message was freed: its token is stale like any other.
        (RETIRED, _) => Err(MemoryError::StaleToken),
        (RESERVED, _) => Err(MemoryError::WrongState(
            "the slot is reserved, not committed",
        )),
        _ => Err(MemoryError::WrongState(
            "the slot is committed, not reserved",
        )),
    }
}

/// Takes a FREE slot just popped from the free list into RESERVED; returns its generation.
/// Only the popper can touch the word now (no live token names it), so a store suffices.
#[inline]
pub(crate) fn reserve_popped<W: Word>(w: &W) -> u64 {
    let gen = generation(w.load(Relaxed));
    w.store(pack(gen, RESERVED), Relaxed);
    gen
}

/// RESERVED (unclaimed) -> RESERVED + writer: exclusive right to fill the header on commit.
pub(crate) fn claim_reserved<W: Word>(w: &W, gen: u64) -> Result<(), MemoryError> {
    let s = w.load(Acquire);
    check(s, gen, RESERVED)?;
    if s & WRITER != 0 {
        return Err(MemoryError::Borrowed);
    }
    w.cas(s, s | WRITER, Acquire, Relaxed)
        .map(|_| ())
        .map_err(|_| MemoryError::Borrowed)
}

/// Ends a claim: publishes the slot as COMMITTED, or (`commit == false`) back to RESERVED.
#[inline]
pub(crate) fn finish_claim<W: Word>(w: &W, gen: u64, commit: bool) {
    let phase = if commit { COMMITTED } else { RESERVED };
    w.store(pack(gen, phase), Release);
}

/// RESERVED (unclaimed) -> FREE with the next generation (or RETIRED, see [`retires`]).
pub(crate) fn abort<W: Word>(w: &W, gen: u64) -> Result<(), MemoryError> {
    let s = w.load(Acquire);
    check(s, gen, RESERVED)?;
    if s & WRITER != 0 {
        return Err(MemoryError::Borrowed);
    }
    w.cas(s, freed(gen), AcqRel, Relaxed)
        .map(|_| ())
        .map_err(|_| MemoryError::Borrowed)
}

/// Adds a reader to a COMMITTED slot without a writer. The first CAS guesses "no borrows", so
/// the common case is one RMW with no load before it (no shared-then-exclusive line upgrade).
pub(crate) fn acquire_read<W: Word>(w: &W, gen: u64) -> Result<(), MemoryError> {
    let mut s = pack(gen, COMMITTED);
    loop {
        match w.cas(s, s + 1, Acquire, Acquire) {
            Ok(_) => return Ok(()),
            Err(seen) => s = seen,
        }
        check(s, gen, COMMITTED)?;
        if s & WRITER != 0 || readers(s) == READERS_MASK {
            return Err(MemoryError::Borrowed);
        }
    }
}

/// Ends a read view its holder is known to have (a `ReadGuard`): one RMW, nothing to check.
#[inline]
pub(crate) fn release_read_held<W: Word>(w: &W) {
    w.fetch_sub(1, Release);
}

/// COMMITTED without borrows -> COMMITTED + writer.
pub(crate) fn acquire_write<W: Word>(w: &W, gen: u64) -> Result<(), MemoryError> {
    let s = w.load(Acquire);
    check(s, gen, COMMITTED)?;
    if s & (WRITER | READERS_MASK) != 0 {
        return Err(MemoryError::Borrowed);
    }
    w.cas(s, s | WRITER, Acquire, Relaxed)
        .map(|_| ())
        .map_err(|_| MemoryError::Borrowed)
}

/// What a release found: which kind of view it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    Reader,
    Writer,
}

/// Which view is outstanding on a COMMITTED slot (for `release`, which is by token).
pub(crate) fn held<W: Word>(w: &W, gen: u64) -> Result<Held, MemoryError> {
    let s = w.load(Acquire);
    check(s, gen, COMMITTED)?;
    if s & WRITER != 0 {
        Ok(Held::Writer)
    } else if readers(s) > 0 {
        Ok(Held::Reader)
    } else {
        Err(MemoryError::WrongState(
            "no view of the slot is outstanding",
        ))
    }
}

/// Ends one read view.
pub(crate) fn release_read<W: Word>(w: &W, gen: u64) -> Result<(), MemoryError> {
    let mut s = w.load(Relaxed);
    loop {
        check(s, gen, COMMITTED)?;
        if readers(s) == 0 || s & WRITER != 0 {
            return Err(MemoryError::WrongState(
                "no read view of the slot is outstanding",
            ));
        }
        match w.cas(s, s - 1, Release, Relaxed) {
            Ok(_) => return Ok(()),
            Err(seen) => s = seen,
        }
    }
}

/// Ends the write view (the caller held it, so nobody else changed the word).
#[inline]
pub(crate) fn release_write<W: Word>(w: &W, gen: u64) {
    w.store(pack(gen, COMMITTED), Release);
}

/// COMMITTED without borrows -> FREE with the next generation (or RETIRED, see [`retires`]):
/// one CAS from the expected word, whose failure value says why it was refused.
pub(crate) fn free<W: Word>(w: &W, gen: u64) -> Result<(), MemoryError> {
    match w.cas(pack(gen, COMMITTED), freed(gen), AcqRel, Acquire) {
        Ok(_) => Ok(()),
        Err(seen) => {
            check(seen, gen, COMMITTED)?;
            Err(MemoryError::Borrowed)
        }
    }
}

/// A writer-held slot (from `acquire_write` or `claim_reserved`) -> FREE with the next
/// generation (or RETIRED, see [`retires`]).
#[inline]
pub(crate) fn free_held<W: Word>(w: &W, gen: u64) {
    w.store(freed(gen), Release);
}

/// How many views and reservations the word records: its readers, its writer, or 1 for a
/// RESERVED slot (whose reservation the commit or abort ends).
#[inline]
pub(crate) fn outstanding<W: Word>(w: &W) -> u64 {
    let s = w.load(Acquire);
    match phase(s) {
        RESERVED => 1,
        COMMITTED => readers(s) + u64::from(s & WRITER != 0),
        _ => 0,
    }
}

/// For `clear`: if the word is COMMITTED, returns its generation.
#[inline]
pub(crate) fn committed_generation<W: Word>(w: &W) -> Option<u64> {
    let s = w.load(Acquire);
    (phase(s) == COMMITTED).then(|| generation(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn reserve_commit_read_write_free_cycle() {
        let w = Cell::new(0u64);
        let g = reserve_popped(&w);
        assert_eq!(
            acquire_read(&w, g),
            Err(MemoryError::WrongState(
                "the slot is reserved, not committed"
            ))
        );
        claim_reserved(&w, g).unwrap();
        finish_claim(&w, g, true);
        acquire_read(&w, g).unwrap();
        acquire_read(&w, g).unwrap();
        assert_eq!(held(&w, g), Ok(Held::Reader));
        assert_eq!(acquire_write(&w, g), Err(MemoryError::Borrowed));
        assert_eq!(free(&w, g), Err(MemoryError::Borrowed));
        release_read(&w, g).unwrap();
        release_read(&w, g).unwrap();
        assert!(matches!(
            release_read(&w, g),
            Err(MemoryError::WrongState(_))
        ));
        acquire_write(&w, g).unwrap();
        assert_eq!(acquire_read(&w, g), Err(MemoryError::Borrowed));
        assert_eq!(held(&w, g), Ok(Held::Writer));
        release_write(&w, g);
        free(&w, g).unwrap();
        assert_eq!(acquire_read(&w, g), Err(MemoryError::StaleToken));
        assert_eq!(free(&w, g), Err(MemoryError::StaleToken));
        // The next generation is free, not issued: a token forged for it is bad.
        assert_eq!(acquire_read(&w, g + 1), Err(MemoryError::BadToken));
    }

    #[test]
    fn abort_only_applies_to_unclaimed_reservations() {
        let w = Cell::new(pack(7, FREE));
        let g = reserve_popped(&w);
        assert_eq!(g, 7);
        claim_reserved(&w, g).unwrap();
        assert_eq!(abort(&w, g), Err(MemoryError::Borrowed));
        finish_claim(&w, g, false);
        abort(&w, g).unwrap();
        assert_eq!(generation(w.get()), 8);
        assert!(matches!(abort(&w, g), Err(MemoryError::StaleToken)));
    }

    #[test]
    fn the_last_generation_retires_the_slot_instead_of_wrapping() {
        // Every path that frees: free, free_held (take) and abort.
        let w = Cell::new(pack(MAX_GENERATION, COMMITTED));
        assert!(retires(MAX_GENERATION) && !retires(MAX_GENERATION - 1));
        free(&w, MAX_GENERATION).unwrap();
        assert_eq!(w.get(), pack(MAX_GENERATION, RETIRED));
        assert_eq!(
            acquire_read(&w, MAX_GENERATION),
            Err(MemoryError::StaleToken)
        );
        assert_eq!(
            acquire_write(&w, MAX_GENERATION),
            Err(MemoryError::StaleToken)
        );
        assert_eq!(free(&w, MAX_GENERATION), Err(MemoryError::StaleToken));
        assert_eq!(acquire_read(&w, 0), Err(MemoryError::StaleToken));
        assert_eq!(committed_generation(&w), None);

        let w = Cell::new(pack(MAX_GENERATION, COMMITTED));
        acquire_write(&w, MAX_GENERATION).unwrap();
        free_held(&w, MAX_GENERATION);
        assert_eq!(w.get(), pack(MAX_GENERATION, RETIRED));

        let w = Cell::new(pack(MAX_GENERATION, FREE));
        let g = reserve_popped(&w);
        abort(&w, g).unwrap();
        assert_eq!(w.get(), pack(MAX_GENERATION, RETIRED));
        assert_eq!(abort(&w, g), Err(MemoryError::StaleToken));
    }

    #[test]
    fn reader_count_saturates_with_borrowed() {
        let w = Cell::new(pack(5, COMMITTED) | (MAX_READERS - 1));
        acquire_read(&w, 5).unwrap();
        assert_eq!(acquire_read(&w, 5), Err(MemoryError::Borrowed));
        assert_eq!(readers(w.get()), MAX_READERS);
        assert_eq!(
            generation(w.get()),
            5,
            "the count never spills into the writer bit"
        );
        release_read(&w, 5).unwrap();
        acquire_read(&w, 5).unwrap();
    }
}
