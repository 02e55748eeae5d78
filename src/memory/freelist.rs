//! The free list: a stack of slot indices threaded through per-slot links (a Treiber stack).
//!
//! Invariant: the head packs a 32-bit version counter with the top index, and every successful
//! push or pop bumps the counter, so a pop that read a stale link (its slot was popped and pushed
//! back meanwhile: ABA) fails its CAS and retries. Push and pop are O(1) and never wait.

use std::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};

use super::word::{Link, Word};

/// "No slot": the link of the bottom element and the head of an empty list.
pub(crate) const NIL: u32 = u32::MAX;

/// Gives the link of a slot index (stored in the slot itself in a manager).
pub(crate) trait Links {
    type L: Link;
    fn link(&self, index: u32) -> &Self::L;
}

#[inline]
fn head(version: u32, index: u32) -> u64 {
    (u64::from(version) << 32) | u64::from(index)
}

/// A lock-free stack of indices whose links live in `Links`.
pub(crate) struct FreeList<W: Word> {
    head: W,
}

impl<W: Word> FreeList<W> {
    /// A list holding `0..len`, 0 on top; writes the links.
    pub(crate) fn new_full<L: Links>(links: &L, len: u32) -> Self {
        for i in 0..len {
            links.link(i).store(if i + 1 < len { i + 1 } else { NIL });
        }
        FreeList {
            head: W::new(head(0, if len == 0 { NIL } else { 0 })),
        }
    }

    /// An empty list.
    pub(crate) fn empty() -> Self {
        FreeList {
            head: W::new(head(0, NIL)),
        }
    }

    /// Pops the top index, or `None` when empty.
    #[inline]
    pub(crate) fn pop<L: Links>(&self, links: &L) -> Option<u32> {
        self.pop_contended(links).0
    }

    /// [`pop`](Self::pop), also saying whether a CAS failed on the way (another thread worked
    /// on this list at the same time).
    #[inline]
    pub(crate) fn pop_contended<L: Links>(&self, links: &L) -> (Option<u32>, bool) {
        let mut contended = false;
        // Acquire pairs with the Release of the push that published this head, so the link we
        // read and the slot's contents are at least as new as that push.
        let mut h = self.head.load(Acquire);
        loop {
            let index = h as u32;
            if index == NIL {
                return (None, contended);
            }
            let next = links.link(index).load();
            let version = (h >> 32) as u32;
            match self
                .head
                .cas(h, head(version.wrapping_add(1), next), Acquire, Acquire)
            {
                Ok(_) => return (Some(index), contended),
                Err(seen) => {
                    h = seen;
                    contended = true;
                }
            }
        }
    }

    /// Pushes `index` (which the caller owns and which is not in the list).
    #[cfg(test)]
    pub(crate) fn push<L: Links>(&self, links: &L, index: u32) {
        self.push_contended(links, index);
    }

    /// [`push`](Self::push), returning whether a CAS failed on the way.
    #[inline]
    pub(crate) fn push_contended<L: Links>(&self, links: &L, index: u32) -> bool {
        let mut contended = false;
        let mut h = self.head.load(Relaxed);
        loop {
            links.link(index).store(h as u32);
            let version = (h >> 32) as u32;
            // Release publishes the link and everything the freeing thread did to the slot;
            // SeqCst (the same instruction as Release on x86-64) orders the push before the
            // freer's look at the manager's waiter count (SlotManager::alloc_wait).
            match self
                .head
                .cas(h, head(version.wrapping_add(1), index), SeqCst, Relaxed)
            {
                Ok(_) => return contended,
                Err(seen) => {
                    h = seen;
                    contended = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    struct VecLinks(Vec<Cell<u32>>);
    impl Links for VecLinks {
        type L = Cell<u32>;
        fn link(&self, i: u32) -> &Cell<u32> {
            &self.0[i as usize]
        }
    }

    #[test]
    fn pops_every_index_once_then_reuses_pushed_ones() {
        let links = VecLinks((0..4).map(|_| Cell::new(0)).collect());
        let f: FreeList<Cell<u64>> = FreeList::new_full(&links, 4);
        let got: Vec<u32> = std::iter::from_fn(|| f.pop(&links)).collect();
        assert_eq!(got, vec![0, 1, 2, 3]);
        f.push(&links, 2);
        f.push(&links, 0);
        assert_eq!(f.pop(&links), Some(0));
        assert_eq!(f.pop(&links), Some(2));
        assert_eq!(f.pop(&links), None);
    }

    #[test]
    fn empty_list_pops_nothing() {
        let links = VecLinks(Vec::new());
        let f: FreeList<Cell<u64>> = FreeList::new_full(&links, 0);
        assert_eq!(f.pop(&links), None);
    }
}
