//! The memory subsystem's errors. Each variant maps to exactly one C status code
//! (`ffi/status.rs`), so the same misuse gives the same code in every manager kind.

use thiserror::Error;

/// Why a memory-manager operation was refused. A refused operation changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MemoryError {
    /// The token is 0, its slot index is out of range, or it was issued by another manager.
    #[error("bad token: zero, out of range, or issued by another manager")]
    BadToken,
    /// The token's slot was freed (and maybe reused) after the token was issued.
    #[error("stale token: its slot was freed after the token was issued")]
    StaleToken,
    /// A read or write view of the slot (for `clear`: of any slot) is outstanding.
    #[error("the slot is borrowed: a read or write view is outstanding")]
    Borrowed,
    /// Every slot is in use.
    #[error("no free slots")]
    NoFreeSlots,
    /// The payload does not fit in a slot.
    #[error("payload of {len} bytes exceeds the slot size of {slot_size} bytes")]
    TooLarge {
        /// Requested payload length.
        len: usize,
        /// The manager's slot size.
        slot_size: usize,
    },
    /// The slot is not in the state the operation needs.
    #[error("wrong slot state: {0}")]
    WrongState(&'static str),
    /// An argument is out of its documented range.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// A caller buffer is smaller than the payload; nothing was taken.
    #[error("buffer of {cap} bytes is too small for a payload of {needed} bytes")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes offered.
        cap: usize,
    },
    /// The storage could not be allocated.
    #[error("out of memory")]
    OutOfMemory,
}
