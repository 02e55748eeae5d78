//! Tiered merging: when the newest `FAN_IN` runs of an index share a level, they are merged
//! into one run of the next level by a streaming k-way merge over their maps (memory: one
//! record per input plus the new run's bloom filter). Records below the first retained
//! sequence are dropped here, which is where retention becomes physical.
//!
//! Invariant: runs of one index cover disjoint, increasing sequence ranges in stack order, and
//! only adjacent runs (the newest `FAN_IN`) are merged, so the stack keeps that order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

use super::record::{sequence_of, Key, Kind};
use super::run::{write_run, Run, RunError, RunMeta};

/// Runs of one level merged at once. With flushes of F events, an index of N events holds at
/// most `(FAN_IN - 1) × log_FAN_IN(N / F)` runs, and every record is rewritten about
/// `log_FAN_IN(N / F)` times in its life.
pub(super) const FAN_IN: usize = 8;

/// The level of the newest `FAN_IN` runs if they should be merged now.
pub(super) fn due<const R: usize>(runs: &[Run<R>]) -> Option<u8> {
    let tail = runs.len().checked_sub(FAN_IN).map(|s| &runs[s..])?;
    let level = tail.last()?.meta.level;
    tail.iter().all(|r| r.meta.level == level).then_some(level)
}

/// Merges `inputs` (adjacent, oldest first) into the run `id` at `path`, dropping records with a
/// sequence below `first_retained`. `None` when nothing is left.
pub(super) fn merge_runs<const R: usize>(
    inputs: &[Run<R>],
    first_retained: u64,
    path: &Path,
    kind: Kind,
    level: u8,
    id: u64,
) -> Result<Option<RunMeta>, RunError> {
    let upper: usize = inputs.iter().map(Run::len).sum();
    let mut pos = vec![0usize; inputs.len()];
    let mut heap = BinaryHeap::with_capacity(inputs.len());
    for (i, r) in inputs.iter().enumerate() {
        if r.len() > 0 {
            heap.push(Reverse((Key(*r.rec(0)?), i)));
        }
    }
    let merged = std::iter::from_fn(|| loop {
        let Reverse((Key(rec), i)) = heap.pop()?;
        pos[i] += 1;
        if pos[i] < inputs[i].len() {
            match inputs[i].rec(pos[i]) {
                Ok(next) => heap.push(Reverse((Key(*next), i))),
                Err(d) => return Some(Err(RunError::Damaged(d))),
            }
        }
        if sequence_of(&rec) >= first_retained {
            return Some(Ok(rec));
        }
    });
    write_run(path, kind, level, id, upper, merged)
}
