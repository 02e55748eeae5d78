//! Tokens: by-value 128-bit handles to a slot, checked on every use.
//!
//! Layout: `key` is the issuing manager's key, drawn from a process-wide counter that starts at
//! 1 and never repeats (so `key == 0` is never live and no two managers of a process, alive or
//! freed, share a key); `slot` packs the slot index (upper 24 bits) and the slot's generation
//! (lower 40 bits). Invariant: a manager never issues the same `(index, generation)` twice (a
//! slot whose generation is exhausted is retired, see `state.rs`), so no token is ever issued
//! twice in a process.

use std::sync::atomic::{AtomicU64, Ordering};

/// `transom_token`: a handle to one stored message. Copy it freely; it is checked on every use.
///
/// `key` names the manager that issued it (a per-manager 64-bit key, never 0, never reused in
/// the process); `slot` is the slot index (bits 40..63) and the slot's generation (bits 0..39).
/// `{0, 0}` is never a live token. Treat both fields as opaque: compare, copy and hash them.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Token {
    /// The issuing manager's key; 0 is never a live token.
    pub key: u64,
    /// Slot index (upper 24 bits) and generation (lower 40 bits).
    pub slot: u64,
}

/// Bits of `slot` holding the generation.
pub(crate) const GENERATION_BITS: u32 = 40;
/// The last generation a slot can have: freeing a message of this generation retires the slot.
pub(crate) const MAX_GENERATION: u64 = (1 << GENERATION_BITS) - 1;
/// Bits of `slot` holding the index.
const INDEX_BITS: u32 = 64 - GENERATION_BITS;
/// Number of slot indices a token can name, so the largest capacity is `MAX_SLOTS - 1`.
pub(crate) const MAX_SLOTS: usize = 1 << INDEX_BITS;

impl Token {
    #[inline]
    pub(crate) fn pack(key: u64, index: u32, generation: u64) -> Token {
        debug_assert!(key != 0 && (index as usize) < MAX_SLOTS && generation <= MAX_GENERATION);
        Token {
            key,
            slot: (u64::from(index) << GENERATION_BITS) | generation,
        }
    }

    /// The two words (`key`, `slot`), e.g. to pass a token through a queue of integers.
    pub fn to_parts(self) -> (u64, u64) {
        (self.key, self.slot)
    }

    /// Rebuilds a token from [`to_parts`](Token::to_parts). Any value is accepted here; managers
    /// check it on use.
    pub fn from_parts(key: u64, slot: u64) -> Token {
        Token { key, slot }
    }

    /// The token as one 128-bit number (`key` in the upper half).
    pub fn to_u128(self) -> u128 {
        (u128::from(self.key) << 64) | u128::from(self.slot)
    }

    /// Rebuilds a token from [`to_u128`](Token::to_u128).
    pub fn from_u128(v: u128) -> Token {
        Token {
            key: (v >> 64) as u64,
            slot: v as u64,
        }
    }

    #[inline]
    pub(crate) fn index(self) -> u32 {
        (self.slot >> GENERATION_BITS) as u32
    }

    #[inline]
    pub(crate) fn generation(self) -> u64 {
        self.slot & MAX_GENERATION
    }
}

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// A fresh manager key: 1, 2, 3, … for the life of the process, never 0, never repeated.
pub(crate) fn next_key() -> u64 {
    // At a billion managers per second the counter lasts 584 years; still, a wrapped counter
    // would repeat keys, so it stops instead.
    NEXT_KEY
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |k| k.checked_add(1))
        .expect("2^64 - 1 memory managers created: manager keys are exhausted")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_and_covers_every_index_and_generation() {
        let t = Token::pack(1, 0, 0);
        assert_ne!(t, Token::default());
        let t = Token::pack(u64::MAX, (MAX_SLOTS - 1) as u32, MAX_GENERATION);
        assert_eq!(
            (t.key, t.index(), t.generation()),
            (u64::MAX, (MAX_SLOTS - 1) as u32, MAX_GENERATION)
        );
        assert_eq!(Token::from_parts(t.key, t.slot), t);
        assert_eq!(Token::from_u128(t.to_u128()), t);
        assert_eq!(t.to_parts(), (t.key, t.slot));
    }

    #[test]
    fn consecutive_managers_get_different_nonzero_keys() {
        let a = next_key();
        let b = next_key();
        assert!(b > a && a != 0);
    }
}
