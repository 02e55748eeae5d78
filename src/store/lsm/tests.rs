//! The LSM index against a naive in-memory model, over random workloads, flushes, merges,
//! reopens, retention and damage.

use std::collections::HashMap;
use std::path::Path;

use super::*;
use crate::store::secondary::key_hash;
use crate::store::test_dir::TestDir;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// Generates a store-like event history and answers every lookup by brute force.
struct Model {
    rng: Rng,
    streams: u64,
    entries: Vec<IndexEntry>,
    versions: HashMap<u64, u64>,
    stream_hashes: Vec<u128>,
    groups: Vec<EventId>,
    first_retained: u64,
    /// Every entry by stream, group and key, in sequence order (filtered at query time).
    by_stream: HashMap<u128, Vec<(u64, u64)>>,
    by_group: HashMap<EventId, Vec<u64>>,
    by_key: HashMap<u128, Vec<u64>>,
}

impl Model {
    fn new(streams: u64, seed: u64) -> Model {
        Model {
            rng: Rng(seed),
            streams,
            entries: Vec::new(),
            versions: HashMap::new(),
            stream_hashes: Vec::new(),
            groups: Vec::new(),
            first_retained: 0,
            by_stream: HashMap::new(),
            by_group: HashMap::new(),
            by_key: HashMap::new(),
        }
    }

    fn stream_hash(i: u64) -> u128 {
        key_hash(format!("stream-{i}").as_bytes())
    }

    /// The next event of the history.
    fn next_entry(&mut self) -> IndexEntry {
        let sequence = self.entries.len() as u64 + 1;
        let s = self.rng.below(self.streams);
        let version = self.versions.entry(s).or_insert(0);
        *version += 1;
        if *version == 1 {
            self.stream_hashes.push(Self::stream_hash(s));
        }
        let id = EventId::from_u128((u128::from(sequence) << 64) | u128::from(self.rng.next()))
            .expect("non-zero");
        let correlation = if self.groups.is_empty() || self.rng.below(3) == 0 {
            self.groups.push(id);
            id
        } else {
            let recent = self.groups.len().min(50) as u64;
            self.groups[self.groups.len() - 1 - self.rng.below(recent) as usize]
        };
        // A few keys repeat: the index keeps every candidate, as under a hash collision.
        let idempotency_key = (self.rng.below(4) == 0)
            .then(|| key_hash(&(self.rng.below(sequence / 2 + 10)).to_le_bytes()));
        let e = IndexEntry {
            sequence,
            stream: Self::stream_hash(s),
            stream_version: *version,
            correlation: Some(correlation),
            idempotency_key,
        };
        self.entries.push(e);
        (self.by_stream.entry(e.stream).or_default()).push((e.stream_version, sequence));
        self.by_group.entry(correlation).or_default().push(sequence);
        if let Some(k) = idempotency_key {
            self.by_key.entry(k).or_default().push(sequence);
        }
        e
    }

    fn live(&self) -> impl Iterator<Item = &IndexEntry> {
        let fr = self.first_retained;
        self.entries.iter().filter(move |e| e.sequence >= fr)
    }
}

/// Compares `samples` random lookups of each kind (plus misses) with the model. `Err`: the
/// first difference, for the damage tests.
fn compare(ix: &LsmIndex, m: &Model, rng: &mut Rng, samples: usize) -> Result<(), String> {
    let fr = m.first_retained;
    let live = |v: Option<&Vec<u64>>| -> Vec<u64> {
        v.map_or(Vec::new(), |v| {
            v.iter().copied().filter(|&s| s >= fr).collect()
        })
    };
    let pick = |rng: &mut Rng, n: usize| rng.below(n as u64) as usize;
    for _ in 0..samples {
        if m.stream_hashes.is_empty() {
            break;
        }
        let s = m.stream_hashes[pick(rng, m.stream_hashes.len())];
        let all: Vec<(u64, u64)> = (m.by_stream.get(&s).into_iter().flatten())
            .filter(|&&(_, seq)| seq >= fr)
            .copied()
            .collect();
        let max = [1, 2, 3, 17, usize::MAX][pick(rng, 5)];
        let want: Vec<(u64, u64)> = all.iter().rev().take(max).copied().collect();
        let got = ix.stream_versions_desc(s, max);
        if got != want {
            return Err(format!("versions_desc({s:x}, {max}): {got:?} != {want:?}"));
        }
        let top = all.last().map_or(1, |&(v, _)| v);
        let from = 1 + rng.below(top + 1);
        let want: Vec<(u64, u64)> = (all.iter().filter(|(v, _)| *v >= from))
            .take(max)
            .copied()
            .collect();
        let got = ix.stream_range(s, from, max);
        if got != want {
            return Err(format!("range({s:x}, {from}, {max}): {got:?} != {want:?}"));
        }
        let g = m.groups[pick(rng, m.groups.len())];
        let got = ix.correlated(g);
        if got != live(m.by_group.get(&g)) {
            return Err(format!("correlated({g:?}): {got:?}"));
        }
        let e = &m.entries[pick(rng, m.entries.len())];
        if let Some(k) = e.idempotency_key {
            let got = ix.by_idempotency_key(k);
            if got != live(m.by_key.get(&k)) {
                return Err(format!("by_key({k:x}): {got:?}"));
            }
        }
    }
    let miss = Model::stream_hash(u64::MAX);
    if !ix.stream_versions_desc(miss, 5).is_empty() || !ix.stream_range(miss, 1, 5).is_empty() {
        return Err("a missing stream has versions".into());
    }
    if !ix.by_idempotency_key(12345).is_empty() {
        return Err("a missing key has candidates".into());
    }
    Ok(())
}

fn open(dir: &Path) -> (LsmIndex, Opened) {
    LsmIndex::open(dir).expect("open")
}

fn ingest(ix: &mut LsmIndex, m: &mut Model, n: usize) {
    for _ in 0..n {
        let e = m.next_entry();
        ix.add(&e);
    }
}

/// Random flush intervals with checks before and after flushes and after reopens.
fn run_workload(streams: u64, events: usize, flush_every: (u64, u64), samples: usize) {
    let d = TestDir::new("lsm-model");
    let (mut ix, opened) = open(d.path());
    assert_eq!(opened, Opened::Fresh);
    let mut m = Model::new(streams, streams ^ events as u64);
    let mut rng = Rng(7);
    let mut round = 0;
    while m.entries.len() < events {
        let n = flush_every.0 + rng.below(flush_every.1 - flush_every.0);
        ingest(&mut ix, &mut m, n as usize);
        compare(&ix, &m, &mut rng, samples).expect("before flush");
        ix.flush().unwrap();
        assert_eq!(ix.covered(), m.entries.len() as u64);
        compare(&ix, &m, &mut rng, samples).expect("after flush");
        round += 1;
        if round % 4 == 0 {
            drop(ix);
            let (reopened, opened) = open(d.path());
            assert_eq!(opened, Opened::Intact);
            ix = reopened;
            compare(&ix, &m, &mut rng, samples).expect("after reopen");
        }
    }
    assert!(ix.damaged().is_none());
    ix.verify().unwrap();
}

#[test]
fn lookups_match_the_model_for_one_stream() {
    run_workload(1, 20_000, (300, 2_500), 30);
}

#[test]
fn lookups_match_the_model_for_many_streams() {
    run_workload(100, 30_000, (300, 2_500), 200);
}

#[test]
fn lookups_match_the_model_for_100k_distinct_streams() {
    run_workload(100_000, 120_000, (5_000, 9_000), 1_000);
}

fn total_records(ix: &LsmIndex) -> [u64; 3] {
    [
        ix.streams.runs.iter().map(|r| r.meta.count).sum(),
        ix.correlation.runs.iter().map(|r| r.meta.count).sum(),
        ix.idempotency.runs.iter().map(|r| r.meta.count).sum(),
    ]
}

fn model_counts(m: &Model) -> [u64; 3] {
    let live: Vec<&IndexEntry> = m.live().collect();
    let keys = live.iter().filter(|e| e.idempotency_key.is_some()).count();
    [live.len() as u64, live.len() as u64, keys as u64]
}

#[test]
fn merges_never_lose_or_duplicate_entries() {
    let d = TestDir::new("lsm-merge");
    let (mut ix, _) = open(d.path());
    let mut m = Model::new(50, 3);
    let mut rng = Rng(1);
    // 8 × 8 flushes: level-0 runs merge into level 1, eight level-1 runs into level 2.
    for flush in 1..=70 {
        ingest(&mut ix, &mut m, 40);
        ix.flush().unwrap();
        assert_eq!(total_records(&ix), model_counts(&m), "after flush {flush}");
        assert!(ix.streams.runs.len() <= 2 * (merge::FAN_IN - 1) + 1);
        let levels: Vec<u8> = ix.streams.runs.iter().map(|r| r.meta.level).collect();
        assert!(levels.windows(2).all(|w| w[0] >= w[1]), "{levels:?}");
    }
    assert_eq!(ix.streams.runs[0].meta.level, 2);
    let files = fs::read_dir(d.path()).unwrap().count();
    assert_eq!(files, ix.run_count() + 1, "obsolete runs were unlinked");
    compare(&ix, &m, &mut rng, 300).unwrap();
    drop(ix);
    let (ix, opened) = open(d.path());
    assert_eq!(opened, Opened::Intact);
    assert_eq!(total_records(&ix), model_counts(&m));
    compare(&ix, &m, &mut rng, 300).unwrap();
}

#[test]
fn unflushed_entries_are_not_covered_after_reopen_and_replay_restores_them() {
    let d = TestDir::new("lsm-reopen");
    let (mut ix, _) = open(d.path());
    let mut m = Model::new(20, 11);
    ingest(&mut ix, &mut m, 1_000);
    ix.flush().unwrap();
    ingest(&mut ix, &mut m, 500);
    assert_eq!((ix.covered(), ix.unflushed()), (1_000, 500));
    drop(ix); // a crash: the memtable is lost
    let (mut ix, opened) = open(d.path());
    assert_eq!(
        (opened, ix.covered(), ix.unflushed()),
        (Opened::Intact, 1_000, 0)
    );
    for e in &m.entries[ix.covered() as usize..] {
        ix.add(e);
    }
    compare(&ix, &m, &mut Rng(2), 300).unwrap();
    // A flush with nothing new is a no-op; an index with nothing in it flushes fine.
    ix.flush().unwrap();
    ix.flush().unwrap();
    let e = TestDir::new("lsm-empty");
    let (mut empty, _) = open(e.path());
    empty.flush().unwrap();
    assert_eq!(empty.covered(), 0);
}

#[test]
fn retain_from_filters_at_once_and_drops_records_at_merges() {
    let d = TestDir::new("lsm-retain");
    let (mut ix, _) = open(d.path());
    let mut m = Model::new(30, 5);
    let mut rng = Rng(3);
    for _ in 0..6 {
        ingest(&mut ix, &mut m, 500);
        ix.flush().unwrap();
    }
    ingest(&mut ix, &mut m, 300); // some in the memtable too
    let runs_before = ix.run_count();
    // Cut inside the third run: the first two runs of every index go as whole files.
    m.first_retained = 1_200;
    ix.retain_from(1_200).unwrap();
    assert!(ix.run_count() <= runs_before - 6, "{} runs", ix.run_count());
    compare(&ix, &m, &mut rng, 300).unwrap();
    // Retention moving back is ignored.
    ix.retain_from(10).unwrap();
    compare(&ix, &m, &mut rng, 100).unwrap();
    // Retain beyond the memtable's oldest entries, then flush: they are not written.
    m.first_retained = 3_100;
    ix.retain_from(3_100).unwrap();
    ix.flush().unwrap();
    compare(&ix, &m, &mut rng, 300).unwrap();
    // Merges drop what is left below the first retained sequence.
    for _ in 0..8 {
        ingest(&mut ix, &mut m, 200);
        ix.flush().unwrap();
    }
    assert_eq!(total_records(&ix), model_counts(&m));
    drop(ix);
    let (ix, _) = open(d.path());
    assert_eq!(ix.first_retained, 3_100);
    compare(&ix, &m, &mut rng, 300).unwrap();
}

/// A flushed index of a few runs, its model, and the run files.
fn damaged_fixture(tag: &str) -> (TestDir, Model, Vec<std::path::PathBuf>) {
    let d = TestDir::new(tag);
    let (mut ix, _) = open(d.path());
    let mut m = Model::new(200, 9);
    for _ in 0..3 {
        ingest(&mut ix, &mut m, 3_000);
        ix.flush().unwrap();
    }
    let mut runs: Vec<_> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "run"))
        .collect();
    runs.sort();
    (d, m, runs)
}

fn assert_reset(dir: &Path) {
    let (ix, opened) = open(dir);
    assert!(matches!(opened, Opened::Reset { .. }), "{opened:?}");
    assert_eq!((ix.covered(), ix.run_count()), (0, 0));
    assert_eq!(
        fs::read_dir(dir).unwrap().count(),
        0,
        "the damaged index was cleared"
    );
}

#[test]
fn truncated_missing_or_foreign_files_reset_the_index() {
    let (d, _, runs) = damaged_fixture("lsm-trunc");
    let f = fs::OpenOptions::new().write(true).open(&runs[1]).unwrap();
    f.set_len(f.metadata().unwrap().len() - 4).unwrap();
    assert_reset(d.path());

    let (d, _, runs) = damaged_fixture("lsm-missing");
    fs::remove_file(&runs[0]).unwrap();
    assert_reset(d.path());

    let (d, _, runs) = damaged_fixture("lsm-swapped");
    fs::copy(&runs[0], &runs[1]).unwrap();
    assert_reset(d.path());

    let (d, _, _) = damaged_fixture("lsm-manifest-cut");
    let man = d.path().join(manifest::MANIFEST);
    let bytes = fs::read(&man).unwrap();
    fs::write(&man, &bytes[..bytes.len() / 2]).unwrap();
    assert_reset(d.path());

    let (d, _, _) = damaged_fixture("lsm-manifest-gone");
    fs::remove_file(d.path().join(manifest::MANIFEST)).unwrap();
    let (ix, opened) = open(d.path());
    assert_eq!((opened, ix.covered()), (Opened::Fresh, 0));
    assert_eq!(
        fs::read_dir(d.path()).unwrap().count(),
        0,
        "orphan runs deleted"
    );
}

#[test]
fn flipped_bits_anywhere_reset_the_index_or_flag_damage_never_a_wrong_answer() {
    let (d, m, runs) = damaged_fixture("lsm-flip");
    let man = d.path().join(manifest::MANIFEST);
    let mut files = runs.clone();
    files.push(man.clone());
    let pristine: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).unwrap()).collect();
    let mut rng = Rng(99);
    let (mut resets, mut flagged) = (0, 0);
    for trial in 0..60 {
        let which = trial % files.len();
        let mut bytes = pristine[which].clone();
        // Half the trials aim at the records, where only lazy page checks can catch them.
        let at = if trial % 2 == 0 && which < runs.len() {
            run::PAGE + rng.below((bytes.len() - run::PAGE) as u64 / 2) as usize
        } else {
            rng.below(bytes.len() as u64) as usize
        };
        bytes[at] ^= 1 << rng.below(8);
        fs::write(&files[which], &bytes).unwrap();
        // Every byte the index uses is covered by a checksum except the header page's padding.
        let (ix, opened) = open(d.path());
        match opened {
            Opened::Reset { .. } => resets += 1,
            Opened::Fresh => panic!("a manifest existed"),
            Opened::Intact => {
                let answers = compare(&ix, &m, &mut Rng(trial as u64), 400);
                let verified = ix.verify();
                match (answers, ix.damaged()) {
                    (Ok(()), _) => {}
                    (Err(diff), None) => panic!("trial {trial}: wrong answer {diff}"),
                    (Err(_), Some(_)) => {}
                }
                let padding = which < runs.len() && (run::HEADER_LEN..run::PAGE).contains(&at);
                assert_eq!(verified.is_ok(), padding, "trial {trial} at {at}");
                if ix.damaged().is_some() {
                    flagged += 1;
                }
            }
        }
        for (f, b) in files.iter().zip(&pristine) {
            fs::write(f, b).unwrap();
        }
    }
    assert!(
        resets > 0 && flagged > 0,
        "{resets} resets, {flagged} flagged"
    );
}

#[test]
fn reset_after_damage_rebuilds_from_a_replay() {
    let (d, m, runs) = damaged_fixture("lsm-rebuild");
    let mut bytes = fs::read(&runs[0]).unwrap();
    bytes[run::PAGE + 100] ^= 4;
    fs::write(&runs[0], &bytes).unwrap();
    let (mut ix, opened) = open(d.path());
    assert_eq!(opened, Opened::Intact, "records are checked lazily");
    assert!(ix.verify().is_err() && ix.damaged().is_some());
    ix.reset().unwrap();
    assert_eq!((ix.covered(), ix.run_count(), ix.damaged()), (0, 0, None));
    for e in &m.entries {
        ix.add(e);
    }
    ix.flush().unwrap();
    compare(&ix, &m, &mut Rng(5), 300).unwrap();
    drop(ix);
    let (ix, opened) = open(d.path());
    assert_eq!(opened, Opened::Intact);
    compare(&ix, &m, &mut Rng(6), 300).unwrap();
}

#[test]
fn heap_stays_bounded_while_ingesting_1m_entries() {
    let d = TestDir::new("lsm-heap");
    let (mut ix, _) = open(d.path());
    let mut rng = Rng(17);
    let (mut peak, mut after_flush) = (0usize, Vec::new());
    for seq in 1..=1_000_000u64 {
        let c = seq - rng.below(seq.min(8));
        ix.add(&IndexEntry {
            sequence: seq,
            stream: u128::from(rng.below(10_000)) << 32,
            stream_version: seq,
            correlation: EventId::from_u128(u128::from(c)),
            idempotency_key: (seq % 8 == 0).then_some(u128::from(seq)),
        });
        if seq % 65_536 == 0 {
            peak = peak.max(ix.heap_bytes());
            ix.flush().unwrap();
            after_flush.push(ix.heap_bytes());
        }
    }
    // Three memtables of 65,536 entries: ≈ 2.3 + 1.8 + 0.3 MiB of records and links plus
    // their hash maps.
    assert!(peak < 12 << 20, "peak heap {peak} B");
    let (mid, last) = (
        after_flush[after_flush.len() / 2],
        *after_flush.last().unwrap(),
    );
    assert!(
        last <= mid + 4096,
        "heap grew from {mid} to {last} B between 0.5M and 1M entries"
    );
    drop(ix);
    let (ix, _) = open(d.path());
    assert!(
        ix.heap_bytes() < 16 << 10,
        "{} B after reopen",
        ix.heap_bytes()
    );
}
