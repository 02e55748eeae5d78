//! A pollable readiness flag: a Linux eventfd (`EFD_NONBLOCK | EFD_CLOEXEC`) that is readable
//! exactly while its owner says "a blocking call would return at once".
//!
//! Invariant: the owner changes the flag only under the same lock that guards the state the
//! flag describes (a queue, a phase, an exit), so readiness and state never disagree once that
//! lock is released: the flag is raised when the state becomes ready and lowered when a call
//! drains it, and a poller never sees readiness that a non-blocking call then cannot honour.
//! The eventfd counter is only ever 0 (lowered) or 1 (raised): `raised` mirrors it, so setting
//! the same value twice makes no system call.
//!
//! Dropping a `ReadyFd` raises it first, then closes it: a duplicate of the descriptor (e.g.
//! one an event loop registered) reports readable once the handle is gone, so a waiter on it
//! wakes and finds the handle closed instead of sleeping forever.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// An eventfd-backed level-triggered readiness flag.
#[derive(Debug)]
pub(crate) struct ReadyFd {
    fd: OwnedFd,
    raised: bool,
}

impl ReadyFd {
    /// A new descriptor, raised when `ready`.
    pub(crate) fn new(ready: bool) -> io::Result<ReadyFd> {
        let fd = create()?;
        let mut r = ReadyFd { fd, raised: false };
        r.set(ready);
        Ok(r)
    }

    /// The descriptor (owned by this value: closed when it is dropped).
    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Raises (readable) or lowers (not readable) the flag; no system call when it already is.
    pub(crate) fn set(&mut self, ready: bool) {
        if ready == self.raised {
            return;
        }
        if ready {
            write_one(self.raw());
        } else {
            drain(self.raw());
        }
        self.raised = ready;
    }
}

impl Drop for ReadyFd {
    fn drop(&mut self) {
        // A duplicate of this descriptor outlives it: leave it readable for good.
        self.set(true);
    }
}

/// The descriptor in `slot`, created (raised when `ready`) on first use.
pub(crate) fn ensure(slot: &mut Option<ReadyFd>, ready: bool) -> io::Result<RawFd> {
    match slot {
        Some(fd) => Ok(fd.raw()),
        None => {
            let fd = ReadyFd::new(ready)?;
            let raw = fd.raw();
            *slot = Some(fd);
            Ok(raw)
        }
    }
}

/// Sets the flag of the descriptor in `slot`, if one was created.
#[inline]
pub(crate) fn update(slot: &mut Option<ReadyFd>, ready: bool) {
    if let Some(fd) = slot {
        fd.set(ready);
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn create() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor we own.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn create() -> io::Result<OwnedFd> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "pollable descriptors need Linux eventfd",
    ))
}

fn write_one(fd: RawFd) {
    let one: u64 = 1;
    loop {
        // SAFETY: writes 8 bytes from a live u64 to a descriptor this module owns.
        let n = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
        // The counter is 0 here (see the module invariant), so EAGAIN (overflow) cannot happen;
        // only a signal can interrupt the call.
        if n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

fn drain(fd: RawFd) {
    let mut value: u64 = 0;
    loop {
        // SAFETY: reads at most 8 bytes into a live u64 from a descriptor this module owns.
        let n = unsafe { libc::read(fd, (&mut value as *mut u64).cast(), 8) };
        // A non-semaphore eventfd read resets the counter to 0; EAGAIN means it was 0 already.
        if n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn readable(fd: RawFd) -> bool {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no waiting.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        n == 1 && p.revents & libc::POLLIN != 0
    }

    #[test]
    fn ready_fd_is_readable_exactly_while_raised() {
        let mut r = ReadyFd::new(false).unwrap();
        assert!(!readable(r.raw()));
        r.set(true);
        r.set(true);
        assert!(readable(r.raw()));
        r.set(false);
        assert!(!readable(r.raw()));
        let mut slot = None;
        let fd = ensure(&mut slot, true).unwrap();
        assert!(readable(fd));
        update(&mut slot, false);
        assert!(!readable(fd));
    }

    #[test]
    fn a_duplicate_reads_ready_after_the_ready_fd_is_dropped() {
        let r = ReadyFd::new(false).unwrap();
        // SAFETY: dup of a live descriptor; the copy is owned here.
        let dup = unsafe { OwnedFd::from_raw_fd(libc::dup(r.raw())) };
        assert!(!readable(dup.as_raw_fd()));
        drop(r);
        assert!(readable(dup.as_raw_fd()));
    }
}
