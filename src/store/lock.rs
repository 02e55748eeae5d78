//! The exclusive directory lock: one open store per directory, across processes and within one.
//!
//! Invariant: the lock is held exactly as long as the `DirLock` (its open file description)
//! lives; the kernel drops it when the process dies, so a crash never leaves a stale lock.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::error::StoreError;

/// Name of the lock file inside the store directory.
pub const LOCK_FILE: &str = "LOCK";

/// A held `flock(LOCK_EX)` on `<dir>/LOCK`.
#[derive(Debug)]
pub(crate) struct DirLock {
    file: File,
}

/// Unlocks explicitly before the descriptor closes. Closing alone releases an flock only when
/// the *last* descriptor of the open file description closes, and a process that spawns a
/// child on another thread lends the child a copy of every descriptor between its fork and
/// exec (close-on-exec acts only at the exec): a store closed in that window stayed locked and
/// an immediate reopen failed with `Locked` (seen in CI, `tests/cli.rs`, whose tests spawn the
/// CLI in parallel). `LOCK_UN` releases the lock of the description whoever else holds it.
impl Drop for DirLock {
    fn drop(&mut self) {
        // SAFETY: `self.file` owns a valid open descriptor; flock touches no memory of ours.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl DirLock {
    /// Takes the lock without waiting: `Locked` when another open file description holds it
    /// (flock locks belong to the open file description, so a second open in the same process
    /// is refused too).
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, StoreError> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io(format!("opening {}", path.display()), e))?;
        // SAFETY: `file` owns a valid open descriptor for the duration of the call; flock only
        // reads the descriptor number and touches no memory of ours.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(DirLock { file });
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Err(StoreError::Locked(dir.to_path_buf()))
        } else {
            Err(StoreError::io(format!("locking {}", path.display()), err))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_dir::TestDir;

    #[test]
    fn second_lock_on_a_directory_is_refused_until_the_first_is_dropped() {
        let dir = TestDir::new("lock");
        let first = DirLock::acquire(dir.path()).unwrap();
        assert!(matches!(
            DirLock::acquire(dir.path()),
            Err(StoreError::Locked(_))
        ));
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_dropped_lock_is_released_even_while_a_copy_of_its_descriptor_lives() {
        // What a child process forked on another thread holds until its exec.
        let dir = TestDir::new("lock-dup");
        let first = DirLock::acquire(dir.path()).unwrap();
        let copy = first.file.try_clone().unwrap();
        drop(first);
        let second = DirLock::acquire(dir.path()).unwrap();
        drop(copy);
        drop(second);
    }
}
