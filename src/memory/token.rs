//! Tokens: by-value 64-bit handles to a slot, checked on every use.
//!
//! Layout of `bits` (most significant first): 8-bit manager tag (never 0, so `bits == 0` is
//! never a live token) | 24-bit slot index | 32-bit slot generation. Every free bumps the slot's
//! generation, so a token outliving its message is refused. Tags cycle through 1..=255: a token
//! is recognised as foreign unless its manager was created a multiple of 255 creations apart.

use std::sync::atomic::{AtomicU32, Ordering};

/// `transom_token`: a handle to one stored message. Copy it freely; it is checked on every use.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Token {
    /// The packed handle; 0 is never a live token.
    pub bits: u64,
}

/// Largest slot index a token can name, so the largest capacity is `MAX_SLOTS`.
pub(crate) const MAX_SLOTS: usize = 1 << 24;

impl Token {
    pub(crate) fn pack(tag: u8, index: u32, generation: u32) -> Token {
        debug_assert!(tag != 0 && (index as usize) < MAX_SLOTS);
        Token {
            bits: (u64::from(tag) << 56) | (u64::from(index) << 32) | u64::from(generation),
        }
    }

    /// The raw bits, e.g. to pass through a queue.
    pub fn bits(self) -> u64 {
        self.bits
    }

    /// Rebuilds a token from [`bits`](Token::bits). Any value is accepted here; managers check it.
    pub fn from_bits(bits: u64) -> Token {
        Token { bits }
    }

    pub(crate) fn tag(self) -> u8 {
        (self.bits >> 56) as u8
    }

    pub(crate) fn index(self) -> u32 {
        ((self.bits >> 32) & 0x00ff_ffff) as u32
    }

    pub(crate) fn generation(self) -> u32 {
        self.bits as u32
    }
}

static NEXT_TAG: AtomicU32 = AtomicU32::new(0);

/// A fresh manager tag in 1..=255.
pub(crate) fn next_tag() -> u8 {
    (NEXT_TAG.fetch_add(1, Ordering::Relaxed) % 255 + 1) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_and_is_never_zero() {
        let t = Token::pack(1, 0, 0);
        assert_ne!(t.bits(), 0);
        let t = Token::pack(255, (MAX_SLOTS - 1) as u32, u32::MAX);
        assert_eq!(
            (t.tag(), t.index(), t.generation()),
            (255, (MAX_SLOTS - 1) as u32, u32::MAX)
        );
    }

    #[test]
    fn consecutive_managers_get_different_tags() {
        let a = next_tag();
        let b = next_tag();
        assert_ne!(a, b);
        assert!(a != 0 && b != 0);
    }
}
