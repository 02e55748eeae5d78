//! RAII views over a slot: a shared [`ReadGuard`], the exclusive [`WriteGuard`], and a
//! [`Reservation`] being filled in place. Each ends its borrow when dropped, also during a panic,
//! so a panicking borrower never loses the slot (there is no poisoning).

use std::ops::Deref;

use super::slots::{RawRead, RawWrite, SlotManager};
use super::word::Flavor;
use super::{Header, MemoryError, Token};

/// A shared view of a stored message; many may exist at once.
pub struct ReadGuard<'a, F: Flavor> {
    slots: &'a SlotManager<F>,
    token: Token,
    raw: RawRead,
}

impl<'a, F: Flavor> ReadGuard<'a, F> {
    pub(crate) fn new(slots: &'a SlotManager<F>, token: Token) -> Result<Self, MemoryError> {
        let raw = slots.acquire_read(token)?;
        Ok(ReadGuard { slots, token, raw })
    }

    /// The token this view was taken with.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The stored header.
    pub fn header(&self) -> &Header {
        // SAFETY: the read view keeps the header unchanged and alive while self lives.
        unsafe { &*self.raw.header }
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        // SAFETY: the read view keeps raw.len payload bytes unchanged and alive while self lives.
        unsafe { std::slice::from_raw_parts(self.raw.payload, self.raw.len) }
    }
}

impl<F: Flavor> Deref for ReadGuard<'_, F> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.payload()
    }
}

impl<F: Flavor> Drop for ReadGuard<'_, F> {
    fn drop(&mut self) {
        // The guard proves the read view: no token or state checks needed.
        self.slots.release_read_held(self.token);
    }
}

/// The exclusive view of a stored message. The payload length may change within the slot size
/// ([`set_len`](WriteGuard::set_len)); the header's caller fields may be edited.
pub struct WriteGuard<'a, F: Flavor> {
    slots: &'a SlotManager<F>,
    token: Token,
    raw: RawWrite,
    len: usize,
}

impl<'a, F: Flavor> WriteGuard<'a, F> {
    pub(crate) fn new(slots: &'a SlotManager<F>, token: Token) -> Result<Self, MemoryError> {
        let raw = slots.acquire_write(token)?;
        Ok(WriteGuard {
            slots,
            token,
            raw,
            len: raw.len,
        })
    }

    /// The token this view was taken with.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The stored header.
    pub fn header(&self) -> &Header {
        // SAFETY: the write view gives exclusive access while self lives.
        unsafe { &*self.raw.header }
    }

    /// The header, to edit its caller fields. When the view ends `memory_class` is re-stamped,
    /// the reserved bytes zeroed and `qos`/`flags` checked like a store checks them: invalid
    /// values revert to those the message had (see [`release`](WriteGuard::release)).
    pub fn header_mut(&mut self) -> &mut Header {
        // SAFETY: the write view gives exclusive access while self lives.
        unsafe { &mut *self.raw.header }
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        // SAFETY: exclusive access; len <= capacity bytes of the slot's payload area.
        unsafe { std::slice::from_raw_parts(self.raw.payload, self.len) }
    }

    /// The payload bytes, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        // SAFETY: exclusive access; len <= capacity bytes of the slot's payload area.
        unsafe { std::slice::from_raw_parts_mut(self.raw.payload, self.len) }
    }

    /// Changes the payload length (bytes beyond the old length hold whatever the slot held).
    pub fn set_len(&mut self, len: usize) -> Result<(), MemoryError> {
        if len > self.raw.capacity {
            return Err(MemoryError::TooLarge {
                len,
                slot_size: self.raw.capacity,
            });
        }
        self.len = len;
        Ok(())
    }

    /// The slot size: the largest length [`set_len`](WriteGuard::set_len) accepts.
    pub fn capacity(&self) -> usize {
        self.raw.capacity
    }
}

impl<F: Flavor> WriteGuard<'_, F> {
    /// Ends the view and reports what dropping it would only apply: `InvalidArgument` when the
    /// header's `qos` or `flags` were made invalid (they reverted; the view ended all the same).
    pub fn release(self) -> Result<(), MemoryError> {
        std::mem::ManuallyDrop::new(self).finish()
    }

    fn finish(&self) -> Result<(), MemoryError> {
        // SAFETY: still exclusive until release; len <= capacity <= u32::MAX (checked in set_len).
        unsafe { (*self.raw.header).payload_len = self.len as u32 };
        self.slots.release(self.token)
    }
}

impl<F: Flavor> Drop for WriteGuard<'_, F> {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// A reserved slot being filled in place. Readers cannot see it until
/// [`commit`](Reservation::commit); dropping it uncommitted aborts the reservation.
pub struct Reservation<'a, F: Flavor> {
    slots: &'a SlotManager<F>,
    token: Token,
    payload: *mut u8,
    len: usize,
    done: bool,
}

impl<'a, F: Flavor> Reservation<'a, F> {
    pub(crate) fn new(slots: &'a SlotManager<F>, len: usize) -> Result<Self, MemoryError> {
        let (token, payload) = slots.reserve_raw(len)?;
        Ok(Reservation {
            slots,
            token,
            payload,
            len,
            done: false,
        })
    }

    pub(crate) fn new_wait(
        slots: &'a SlotManager<F>,
        len: usize,
        timeout: Option<std::time::Duration>,
    ) -> Result<Option<Self>, MemoryError> {
        Ok(slots
            .reserve_raw_wait(len, timeout)?
            .map(|(token, payload)| Reservation {
                slots,
                token,
                payload,
                len,
                done: false,
            }))
    }

    /// The token the message will have once committed.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The `len` bytes to fill.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        // SAFETY: the reservation gives exclusive access to len payload bytes while self lives.
        unsafe { std::slice::from_raw_parts_mut(self.payload, self.len) }
    }

    /// Publishes the message with `header`. On error (an invalid header) the reservation is
    /// aborted.
    pub fn commit(mut self, header: &Header) -> Result<Token, MemoryError> {
        self.slots.commit(self.token, header)?;
        self.done = true;
        Ok(self.token)
    }

    /// Gives the slot back unpublished.
    pub fn abort(mut self) {
        self.done = true;
        let _ = self.slots.abort(self.token);
    }
}

impl<F: Flavor> Drop for Reservation<'_, F> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.slots.abort(self.token);
        }
    }
}
