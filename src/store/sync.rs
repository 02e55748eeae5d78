//! Durability: the sync policies and group commit.
//!
//! Under [`SyncPolicy::Always`] an appender writes its frames under the store's writer lock,
//! releases it, then waits here until an fsync that started after its write has finished. The
//! first waiter becomes the leader and fsyncs everything written so far; the others are released
//! by that one fsync, so concurrent appenders share fsyncs and writers keep writing while the
//! leader syncs. Appenders arriving during an fsync form the next group; its leader first waits
//! (briefly, bounded) for every appender already inside an append to write, then fsyncs them
//! all at once (see [`GroupCommit::wait_durable`]).
//!
//! Invariant: `synced` only ever moves to a `written` value observed *before* the fsync began,
//! and `written` is published together with the file holding it (earlier segments were fsynced
//! at rollover), so `synced >= n` really means "sequence n is on stable storage". After a failed
//! fsync nothing is ever reported durable again (the page cache may have dropped the dirty
//! data): the store must be reopened.

use crate::sync::{Condvar, Mutex, MutexGuard};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::StoreError;
use super::segment::SyncCounter;

/// When appends reach stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// An append returns only after its frames are fsynced (acknowledged = durable), and its
    /// events become visible to readers only then. Concurrent appenders share fsyncs.
    #[default]
    Always,
    /// The append that brings the number of unsynced events to N or more writes and fsyncs
    /// them (sharing the fsync with concurrent appenders) before it returns. Events are
    /// visible as soon as appended and buffered like `Never` in between: a process crash
    /// loses the acknowledged events still in the write buffer (fewer than N, and less than
    /// 64 KiB of frames plus the last batch), a machine crash at most the events after the
    /// last fsync (fewer than N acknowledged ones).
    EveryN(u32),
    /// The store fsyncs frames only in [`Store::sync`](super::Store::sync),
    /// [`Store::close`](super::Store::close), at segment rollover and at each index flush
    /// (every `Config::index_flush_events` events). Events are visible as soon as appended;
    /// they are held in the store's write buffer until it holds 64 KiB (or a sync, rollover,
    /// index flush or close writes it). A crash of the process loses the acknowledged events
    /// still in that buffer (less than 64 KiB of frames plus the last batch); a crash of the
    /// machine may lose any acknowledged event after the last fsync, and since pages are
    /// written back in any order it may leave a hole that recovery reports as `Corrupt`
    /// rather than a clean torn tail.
    Never,
}

/// Longest a leader waits for the appenders already inside `append` to join its fsync.
const MAX_GATHER: Duration = Duration::from_millis(1);

#[derive(Debug)]
struct State {
    written: u64,
    synced: u64,
    /// A leader is elected: gathering its group (`running` is `None`) or fsyncing.
    leading: bool,
    /// What the running fsync makes durable.
    running: Option<u64>,
    /// Completed fsync rounds; the group being led is `generation`.
    generation: u64,
    /// Appenders inside an `Always` append (from its start until it returns).
    in_flight: usize,
    /// The sequences the waiting appenders need durable (each appender once, removed when
    /// an fsync covers it).
    waiting: Vec<u64>,
    /// How long the last fsync took: the bound of a leader's gathering.
    last_sync: Duration,
    file: Option<(Arc<File>, PathBuf)>,
    failed: Option<String>,
    #[cfg(test)]
    hold_until_written: u64,
}

#[derive(Debug)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    /// Followers, by the parity of the generation whose fsync covers them: a completed fsync
    /// wakes only its own group.
    done: [Condvar; 2],
    /// The gathering leader: woken when an appender starts waiting or leaves.
    gather: Condvar,
}

/// An appender inside an `Always` append; counted so a leader knows whom to wait for.
pub(crate) struct InFlight<'a>(&'a GroupCommit);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.in_flight -= 1;
        if st.leading && st.running.is_none() {
            self.0.gather.notify_one();
        }
    }
}

impl GroupCommit {
    /// Everything up to `durable` is already on stable storage.
    pub(crate) fn new(durable: u64) -> Self {
        GroupCommit {
            state: Mutex::new(State {
                written: durable,
                synced: durable,
                leading: false,
                running: None,
                generation: 0,
                in_flight: 0,
                waiting: Vec::new(),
                last_sync: Duration::ZERO,
                file: None,
                failed: None,
                #[cfg(test)]
                hold_until_written: 0,
            }),
            done: [Condvar::new(), Condvar::new()],
            gather: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Counts an `Always` appender from the start of its append until the guard drops.
    pub(crate) fn enter(&self) -> InFlight<'_> {
        self.lock().in_flight += 1;
        InFlight(self)
    }

    /// Records that sequences up to `seq` are written into `file` (the current segment). Called
    /// under the store's writer lock, so `written` and `file` move together and in order.
    pub(crate) fn note_written(&self, seq: u64, file: &Arc<File>, path: &Path) {
        let mut st = self.lock();
        st.written = seq;
        let same = st.file.as_ref().is_some_and(|(f, _)| Arc::ptr_eq(f, file));
        if !same {
            st.file = Some((file.clone(), path.to_path_buf()));
        }
        #[cfg(test)]
        self.gather.notify_all();
    }

    pub(crate) fn written(&self) -> u64 {
        self.lock().written
    }

    /// The highest sequence known durable.
    pub(crate) fn synced(&self) -> u64 {
        self.lock().synced
    }

    /// The failure that poisoned durability, if any.
    pub(crate) fn failure(&self) -> Option<String> {
        self.lock().failed.clone()
    }

    /// Blocks until `seq` is durable, leading an fsync if none is running. `publish(n)` is
    /// called (under the internal lock; it must be quick) when this thread made sequences up to
    /// `n` durable; the return value is then `Some(n)` so the caller can wake readers.
    ///
    /// Grouping: an appender that arrives while an fsync runs never starts its own; it joins
    /// the next group. When the fsync ends its leader wakes its own group (one wake each) and
    /// one appender of the next group, which leads it: before it fsyncs, it waits — at most
    /// as long as the last fsync took, and at most [`MAX_GATHER`] — until every appender
    /// inside an `Always` append has written and is waiting, so one write + fsync covers all
    /// of them. A lone appender never waits.
    pub(crate) fn wait_durable(
        &self,
        seq: u64,
        counter: &SyncCounter,
        publish: &dyn Fn(u64),
    ) -> Result<Option<u64>, StoreError> {
        let mut st = self.lock();
        let mut registered = false;
        loop {
            if st.synced >= seq {
                return Ok(None);
            }
            if let Some(why) = &st.failed {
                return Err(StoreError::io(
                    "durability lost after a failed fsync; reopen the store",
                    io::Error::other(why.clone()),
                ));
            }
            if !registered {
                registered = true;
                st.waiting.push(seq);
                if st.leading && st.running.is_none() {
                    self.gather.notify_one();
                }
            }
            if st.leading {
                let group = match st.running {
                    Some(target) if target < seq => st.generation + 1,
                    _ => st.generation,
                };
                st = self.done[(group % 2) as usize].wait(st);
                continue;
            }
            st.leading = true;
            let deadline = Instant::now() + st.last_sync.min(MAX_GATHER);
            while st.waiting.len() < st.in_flight {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                st = self.gather.wait_timeout(st, deadline - now).0;
            }
            #[cfg(test)]
            {
                while st.written < st.hold_until_written {
                    st = self.gather.wait(st);
                }
                st.hold_until_written = 0;
            }
            let target = st.written;
            st.running = Some(target);
            let (file, path) = st.file.clone().expect("written > synced implies a segment");
            drop(st);
            let started = Instant::now();
            let result = counter.sync(&file, &path);
            let took = started.elapsed();
            st = self.lock();
            st.leading = false;
            st.running = None;
            st.last_sync = took;
            let group = st.generation;
            st.generation += 1;
            match result {
                Ok(()) => {
                    st.synced = st.synced.max(target);
                    let synced = st.synced;
                    st.waiting.retain(|&s| s > synced);
                    publish(target);
                    self.done[(group % 2) as usize].notify_all();
                    if !st.waiting.is_empty() {
                        // Hand the next group its leader.
                        self.done[((group + 1) % 2) as usize].notify_one();
                    }
                    if st.synced >= seq {
                        return Ok(Some(target));
                    }
                }
                Err(e) => {
                    st.failed = Some(e.to_string());
                    st.waiting.clear();
                    self.done[0].notify_all();
                    self.done[1].notify_all();
                    return Err(e);
                }
            }
        }
    }

    /// Test hook: appenders counted inside an `Always` append, and waiters not yet durable.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (usize, usize) {
        let st = self.lock();
        (st.in_flight, st.waiting.len())
    }

    /// Test hook: blocks until sequences up to `n` are written (not necessarily durable).
    #[cfg(test)]
    pub(crate) fn wait_written(&self, n: u64) {
        let mut st = self.lock();
        while st.written < n {
            st = self.gather.wait(st);
        }
    }

    /// Test hook: the next leader waits until `n` sequences are written before it fsyncs, so a
    /// test can gather every concurrent appender into one group without relying on timing.
    #[cfg(test)]
    pub(crate) fn hold_next_sync_until_written(&self, n: u64) {
        self.lock().hold_until_written = n;
    }
}
