//! `transom::store` against batpak 0.10 (crates.io), in the same run.
//!
//! Workloads (64-byte payloads throughout):
//! 1. `append_64b`: single-appender throughput, in memory and on disk without fsync, transom
//!    vs batpak with its closest settings (`MemFs`; disk with the periodic fsync disabled).
//! 2. `durable_always`: the raw fsync rate of this disk (our own write + `sync_data` loop in
//!    the same directory), then transom `SyncPolicy::Always` with 1 and with 8 appenders.
//!    Because the disk's fsync cost drifts with other processes' writes, the same three are
//!    also measured interleaved, round by round (`durable_paired`, not criterion), and the
//!    targets are judged on those paired ratios.
//! 3. `reopen`: `Store::open` (recovery) of a 1,000,000-event on-disk store, warm page cache.
//! 4. wake-up latency (not criterion): append → a thread blocked in `wait_for_sequence`
//!    wakes; p50/p99 over 10,000 samples, one `Barrier` round per sample, no sleeps.
//! 5. `pull_batch_256`: `Canal::pull_batch(256)` per item vs a floor of copying 64-byte records
//!    out of a `Vec`.
//! 6. `scan_1m_128b`: a cursor's `pull_batch(256)` over 1M × 128 B events in sealed, mapped
//!    segments vs a per-item memcpy floor (header + 128 B payload into a reused buffer).
//!
//! Besides criterion's output, lines starting with `RESULT` carry the numbers criterion does
//! not compute (fsyncs per append, latency percentiles); `BENCHMARKS.md` is built from both.
//! Run: `cargo bench -p transom-benches --bench store`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use transom::store::{AppendRequest, Config, Store, SyncPolicy, WaitOutcome};

const PAYLOAD: [u8; 64] = [0xAB; 64];
const STREAM: &str = "bench/1";
const KIND: u16 = 1;
const REOPEN_EVENTS: u64 = 1_000_000;
const WAKE_SAMPLES: usize = 10_000;
const DURABLE_APPENDERS: usize = 8;

/// On-disk work goes under /tmp (the disk the numbers describe), never the repository.
fn tmp_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("transom-bench-{tag}-"))
        .tempdir_in("/tmp")
        .expect("temp dir under /tmp")
}

fn transom_config(dir: Option<PathBuf>, sync: SyncPolicy) -> Config {
    Config {
        dir,
        sync,
        ..Config::default()
    }
}

fn transom_append(store: &Store) {
    black_box(
        store
            .append(AppendRequest::new(STREAM, KIND, PAYLOAD.to_vec()))
            .expect("transom append"),
    );
}

/// batpak's closest settings: its payload goes through serde (MessagePack); serialising the
/// 64 bytes as one `bin` keeps the stored payload at 64 + 2 bytes, like transom's raw bytes.
mod peer {
    use super::*;
    use batpak::prelude::{Coordinate, EventKind};
    use batpak::store::{MemFs, Store, StoreConfig};

    pub struct Bytes64(pub [u8; 64]);

    impl serde::Serialize for Bytes64 {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }

    pub struct Batpak {
        pub store: Store,
        coord: Coordinate,
        kind: EventKind,
        payload: Bytes64,
    }

    impl Batpak {
        /// `None`: the pure in-memory `MemFs` backend. `Some(dir)`: the real filesystem with the
        /// periodic fsync pushed out of reach (`sync_every_n_events = u32::MAX`), the nearest it
        /// has to transom's `SyncPolicy::Never`.
        pub fn open(dir: Option<&Path>) -> Batpak {
            let config = match dir {
                None => StoreConfig::new("/virtual/bench").with_fs(Arc::new(MemFs::new())),
                Some(d) => StoreConfig::new(d),
            }
            .with_sync_every_n_events(u32::MAX);
            Batpak {
                store: Store::open(config).expect("batpak open"),
                coord: Coordinate::new("bench:entity", "bench:scope").expect("coordinate"),
                kind: EventKind::custom(0xF, 1),
                payload: Bytes64(PAYLOAD),
            }
        }

        pub fn append(&self) {
            let receipt = self
                .store
                .append(&self.coord, self.kind, &self.payload)
                .expect("batpak append");
            let _ = black_box(receipt);
        }

        pub fn close(self) {
            self.store.close().expect("batpak close");
        }
    }
}

/// Workload 1. Each sample gets a fresh store (opened and closed outside the timed region) so
/// the index never grows without bound and both stores are measured from the same start.
fn append_throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_64b");
    g.throughput(Throughput::Elements(1))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    g.bench_function("transom/in_memory", |b| {
        b.iter_custom(|iters| {
            let store = Store::open(Config::in_memory()).expect("open");
            let t = Instant::now();
            for _ in 0..iters {
                transom_append(&store);
            }
            let elapsed = t.elapsed();
            drop(store);
            elapsed
        })
    });
    g.bench_function("batpak/in_memory", |b| {
        b.iter_custom(|iters| {
            let store = peer::Batpak::open(None);
            let t = Instant::now();
            for _ in 0..iters {
                store.append();
            }
            let elapsed = t.elapsed();
            store.close();
            elapsed
        })
    });
    g.bench_function("transom/disk_never", |b| {
        b.iter_custom(|iters| {
            let dir = tmp_dir("never");
            let store = Store::open(transom_config(
                Some(dir.path().join("store")),
                SyncPolicy::Never,
            ))
            .expect("open");
            let t = Instant::now();
            for _ in 0..iters {
                transom_append(&store);
            }
            let elapsed = t.elapsed();
            drop(store);
            elapsed
        })
    });
    g.bench_function("batpak/disk_no_fsync", |b| {
        b.iter_custom(|iters| {
            let dir = tmp_dir("batpak");
            let store = peer::Batpak::open(Some(&dir.path().join("store")));
            let t = Instant::now();
            for _ in 0..iters {
                store.append();
            }
            let elapsed = t.elapsed();
            store.close();
            elapsed
        })
    });
    g.finish();
}

/// Workload 2. fsync-bound: few samples, `iter_custom`, one store per bench (the disk does not
/// care how long the log is). fsyncs per append are counted over every timed call.
fn durable_always(c: &mut Criterion) {
    let mut g = c.benchmark_group("durable_always");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    let dir = tmp_dir("always");

    g.throughput(Throughput::Elements(1));
    g.bench_function("raw_fsync_64b", |b| {
        use std::io::Write;
        let path = dir.path().join("raw-fsync");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("raw fsync file");
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                file.write_all(&PAYLOAD).expect("write");
                file.sync_data().expect("fsync");
            }
            t.elapsed()
        });
        drop(file);
        std::fs::remove_file(&path).expect("remove raw fsync file");
    });

    {
        let store = Store::open(transom_config(
            Some(dir.path().join("one")),
            SyncPolicy::Always,
        ))
        .expect("open");
        let (mut appends, mut fsyncs) = (0u64, 0u64);
        g.bench_function("transom/1_appender", |b| {
            b.iter_custom(|iters| {
                let before = store.fsync_count();
                let t = Instant::now();
                for _ in 0..iters {
                    transom_append(&store);
                }
                let elapsed = t.elapsed();
                fsyncs += store.fsync_count() - before;
                appends += iters;
                elapsed
            })
        });
        if appends > 0 {
            println!(
                "RESULT durable_1_fsync_per_append {:.4}",
                fsyncs as f64 / appends as f64
            );
        }
    }

    {
        let store = Store::open(transom_config(
            Some(dir.path().join("eight")),
            SyncPolicy::Always,
        ))
        .expect("open");
        let (mut appends, mut fsyncs) = (0u64, 0u64);
        // One iteration = one append on each of the 8 threads.
        g.throughput(Throughput::Elements(DURABLE_APPENDERS as u64));
        g.bench_function("transom/8_appenders", |b| {
            b.iter_custom(|iters| {
                let start = Barrier::new(DURABLE_APPENDERS + 1);
                let before = store.fsync_count();
                let elapsed = std::thread::scope(|s| {
                    for _ in 0..DURABLE_APPENDERS {
                        s.spawn(|| {
                            start.wait();
                            for _ in 0..iters {
                                transom_append(&store);
                            }
                        });
                    }
                    start.wait();
                    let t = Instant::now();
                    // Leaving the scope joins every appender: the clock stops after the last.
                    t
                })
                .elapsed();
                fsyncs += store.fsync_count() - before;
                appends += iters * DURABLE_APPENDERS as u64;
                elapsed
            })
        });
        if appends > 0 {
            println!(
                "RESULT durable_8_fsync_per_append {:.4}",
                fsyncs as f64 / appends as f64
            );
        }
    }
    g.finish();
}

/// Appends `per_thread` events from each of `threads` threads (released together by a barrier);
/// returns appends per second and the fsyncs the store issued meanwhile.
fn timed_appends(store: &Store, threads: usize, per_thread: u64) -> (f64, u64) {
    let start = Barrier::new(threads + 1);
    let before = store.fsync_count();
    let elapsed = std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                start.wait();
                for _ in 0..per_thread {
                    transom_append(store);
                }
            });
        }
        start.wait();
        Instant::now()
    })
    .elapsed();
    let appends = threads as u64 * per_thread;
    (
        appends as f64 / elapsed.as_secs_f64(),
        store.fsync_count() - before,
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Workload 2, paired. On this shared ext4 disk an fsync's cost depends on what every other
/// process has dirtied (a data=ordered journal commit writes their data too), so it drifts by
/// 10x within seconds and benches run one after another compare different disks. So:
/// - 1 appender vs the raw fsync rate alternate *operation by operation* (one raw write+fsync,
///   one append, which goes first alternating), each side's time summed; ratio per round of
///   `ops` pairs, median over the rounds;
/// - 8 appenders vs 1 appender alternate block by block (`ops` appends per thread), ratio per
///   round, median over the rounds.
fn durable_paired(full: bool) {
    let (rounds, ops) = if full { (15, 40u64) } else { (2, 5) };
    let dir = tmp_dir("paired");
    let one = Store::open(transom_config(
        Some(dir.path().join("one")),
        SyncPolicy::Always,
    ))
    .expect("open");
    let eight = Store::open(transom_config(
        Some(dir.path().join("eight")),
        SyncPolicy::Always,
    ))
    .expect("open");
    let mut raw = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("raw-fsync"))
        .expect("raw fsync file");
    let mut raw_fsync = || {
        use std::io::Write;
        let t = Instant::now();
        raw.write_all(&PAYLOAD).expect("write");
        raw.sync_data().expect("fsync");
        t.elapsed()
    };
    let one_append = |store: &Store| {
        let t = Instant::now();
        transom_append(store);
        t.elapsed()
    };

    let (mut r_raw, mut r_one, mut one_over_raw) = (Vec::new(), Vec::new(), Vec::new());
    let (mut fs_one, mut n_one) = (0, 0);
    for _ in 0..rounds {
        let (mut t_raw, mut t_one) = (Duration::ZERO, Duration::ZERO);
        let before = one.fsync_count();
        for i in 0..ops {
            if i % 2 == 0 {
                t_raw += raw_fsync();
                t_one += one_append(&one);
            } else {
                t_one += one_append(&one);
                t_raw += raw_fsync();
            }
        }
        (fs_one, n_one) = (fs_one + one.fsync_count() - before, n_one + ops);
        let (raw_rate, one_rate) = (
            ops as f64 / t_raw.as_secs_f64(),
            ops as f64 / t_one.as_secs_f64(),
        );
        r_raw.push(raw_rate);
        r_one.push(one_rate);
        one_over_raw.push(one_rate / raw_rate);
    }

    let (mut r_one_b, mut r_eight, mut eight_over_one) = (Vec::new(), Vec::new(), Vec::new());
    let (mut fs_eight, mut n_eight) = (0, 0);
    for round in 0..rounds {
        let (one_rate, (eight_rate, f8));
        if round % 2 == 0 {
            one_rate = timed_appends(&one, 1, ops).0;
            (eight_rate, f8) = timed_appends(&eight, DURABLE_APPENDERS, ops);
        } else {
            (eight_rate, f8) = timed_appends(&eight, DURABLE_APPENDERS, ops);
            one_rate = timed_appends(&one, 1, ops).0;
        }
        (fs_eight, n_eight) = (fs_eight + f8, n_eight + ops * DURABLE_APPENDERS as u64);
        r_one_b.push(one_rate);
        r_eight.push(eight_rate);
        eight_over_one.push(eight_rate / one_rate);
    }
    println!(
        "RESULT paired_one_vs_raw raw_fsync_per_s {:.1} one_per_s {:.1} ratio {:.3} (medians of {rounds} rounds of {ops} alternating pairs)",
        median(r_raw),
        median(r_one),
        median(one_over_raw)
    );
    println!(
        "RESULT paired_eight_vs_one one_per_s {:.1} eight_per_s {:.1} ratio {:.3} (medians of {rounds} rounds of {ops} appends per thread)",
        median(r_one_b),
        median(r_eight),
        median(eight_over_one)
    );
    println!(
        "RESULT paired_fsync_per_append one {:.4} eight {:.4}",
        fs_one as f64 / n_one as f64,
        fs_eight as f64 / n_eight as f64
    );
}

/// Workload 3's store: 1,000,000 single appends under `Never`, then `sync` + close.
fn build_reopen_store() -> (tempfile::TempDir, PathBuf) {
    let dir = tmp_dir("reopen");
    let path = dir.path().join("store");
    let t = Instant::now();
    {
        let store =
            Store::open(transom_config(Some(path.clone()), SyncPolicy::Never)).expect("open");
        for _ in 0..REOPEN_EVENTS {
            transom_append(&store);
        }
        store.sync().expect("sync");
        store.close().expect("close");
    }
    let bytes: u64 = std::fs::read_dir(&path)
        .expect("list")
        .map(|e| e.expect("entry").metadata().expect("metadata").len())
        .sum();
    println!(
        "RESULT reopen_build_seconds {:.3} (store of {REOPEN_EVENTS} events, {bytes} bytes)",
        t.elapsed().as_secs_f64()
    );
    (dir, path)
}

/// Workload 3. The store is built once (Never, then `sync` + close), then only `Store::open`
/// is timed; the page cache is warm (dropping it would disturb the other users of the machine).
fn reopen(c: &mut Criterion) {
    // Built on first use only, so a filter that skips this bench skips the build too.
    let mut built: Option<(tempfile::TempDir, PathBuf)> = None;
    let mut g = c.benchmark_group("reopen");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    g.bench_function("transom/1m_events", |b| {
        let (_, path) = built.get_or_insert_with(build_reopen_store);
        let path = path.clone();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let store = Store::open(transom_config(Some(path.clone()), SyncPolicy::Never))
                    .expect("reopen");
                total += t.elapsed();
                assert_eq!(store.head(), REOPEN_EVENTS);
                // Outside the timed region: freeing 1M events is not recovery, and neither is
                // glibc consolidating those freed chunks, which it would otherwise do on the next
                // open's first large allocation (a restarted process starts with a clean heap).
                drop(store);
                // SAFETY: malloc_trim only returns free heap memory to the OS; no preconditions.
                unsafe { libc::malloc_trim(0) };
            }
            total
        })
    });
    g.finish();
}

/// Workload 5: `Canal::pull_batch(256)` per item against an in-memory floor: the same number of
/// 64-byte records in a `Vec`, 256 copied out per batch into a reused buffer. The canal side
/// does the same useful work: pull 256 items (cursor from the start of an in-memory store,
/// nothing to wait for) and copy each payload into the same kind of buffer. `pull_only`
/// skips the copy (the items are zero-copy `Arc<Event>` views). Per-item cost = batch time /
/// 256; the cursor is re-created outside the timed region when it reaches the end.
fn pull_batch(c: &mut Criterion) {
    use transom::canal::{Canal, CursorOptions, Delivery, Pulled, Start};
    const EVENTS: usize = 1 << 18;
    const BATCH: usize = 256;
    let mut g = c.benchmark_group("pull_batch_256");
    g.throughput(Throughput::Elements(BATCH as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    let records: Vec<[u8; 64]> = (0..EVENTS).map(|i| [i as u8; 64]).collect();
    g.bench_function("floor/vec_copy_out", |b| {
        let mut out = vec![[0u8; 64]; BATCH];
        let mut pos = 0;
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                if pos + BATCH > EVENTS {
                    pos = 0;
                }
                out.copy_from_slice(&records[pos..pos + BATCH]);
                black_box(&mut out);
                pos += BATCH;
            }
            t.elapsed()
        })
    });
    drop(records);

    let store = Arc::new(Store::open(Config::in_memory()).expect("open"));
    for chunk in 0..EVENTS / 1024 {
        store
            .append_batch(
                (0..1024)
                    .map(|i| AppendRequest::new(STREAM, KIND, vec![(chunk * 1024 + i) as u8; 64]))
                    .collect(),
            )
            .expect("fill");
    }
    let cursor = || Canal::cursor(&store, CursorOptions::new(Start::Begin)).expect("cursor");
    for copy in [true, false] {
        let name = if copy {
            "transom/pull_and_copy_out"
        } else {
            "transom/pull_only"
        };
        g.bench_function(name, |b| {
            let mut out = vec![[0u8; 64]; BATCH];
            let mut canal = cursor();
            let mut left = EVENTS;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    if left < BATCH {
                        canal = cursor();
                        left = EVENTS;
                    }
                    let t = Instant::now();
                    let Pulled::Items(items) =
                        canal.pull_batch(BATCH, Some(Duration::ZERO)).expect("pull")
                    else {
                        panic!("events are committed")
                    };
                    if copy {
                        for (dst, item) in out.iter_mut().zip(items) {
                            if let Delivery::Event { value, .. } = item {
                                dst.copy_from_slice(value.payload);
                            }
                        }
                        black_box(&mut out);
                    } else {
                        black_box(items);
                    }
                    total += t.elapsed();
                    assert_eq!(items.len(), BATCH);
                    left -= BATCH;
                }
                total
            })
        });
    }
    g.finish();
}

/// Workload 6 (`scan_1m_128b`): a cursor's `pull_batch(256)` scanning 1,000,000 × 128 B events
/// of an on-disk store, all in sealed (memory-mapped) segments, warm page cache — against a
/// per-item memcpy floor in the same run: the same number of records (a 48-byte header + 128 B
/// payload, laid out back to back like the log) copied one by one into a reused 256-slot buffer.
/// One iteration = the whole 1M scan (a fresh cursor from the start). The canal side checks
/// every frame's CRC-32C and hands out views (no per-event allocation or copy).
fn scan_1m(c: &mut Criterion) {
    use transom::canal::{Canal, CursorOptions, Pulled, Start};
    const EVENTS: usize = 1_000_000;
    const BATCH: usize = 256;
    #[derive(Clone, Copy, Default)]
    #[allow(dead_code)]
    struct Header {
        id: u128,
        sequence: u64,
        stream_version: u64,
        timestamp_ns: u64,
        kind: u16,
        stream_len: u16,
        payload_len: u32,
    }
    #[derive(Clone, Copy)]
    struct Record {
        header: Header,
        payload: [u8; 128],
    }
    let mut g = c.benchmark_group("scan_1m_128b");
    g.throughput(Throughput::Elements(EVENTS as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    let records: Vec<Record> = (0..EVENTS)
        .map(|i| Record {
            header: Header {
                sequence: i as u64,
                ..Header::default()
            },
            payload: [i as u8; 128],
        })
        .collect();
    g.bench_function("floor/memcpy_header_and_payload", |b| {
        let mut out = vec![
            Record {
                header: Header::default(),
                payload: [0; 128]
            };
            BATCH
        ];
        b.iter(|| {
            for chunk in records.chunks(BATCH) {
                for (dst, src) in out.iter_mut().zip(chunk) {
                    dst.header = src.header;
                    dst.payload.copy_from_slice(&src.payload);
                }
                black_box(&mut out);
            }
        })
    });
    drop(records);

    let dir = tmp_dir("scan");
    let store = Arc::new(
        Store::open(Config {
            segment_size: 16 << 20,
            ..transom_config(Some(dir.path().join("store")), SyncPolicy::Never)
        })
        .expect("open"),
    );
    // 1M events to scan, then more than a segment's worth so that all of them are sealed.
    for chunk in 0..(EVENTS + 120_000) / 1000 {
        store
            .append_batch(
                (0..1000)
                    .map(|i| AppendRequest::new(STREAM, KIND, vec![(chunk * 1000 + i) as u8; 128]))
                    .collect(),
            )
            .expect("fill");
    }
    g.bench_function("transom/pull_batch_256", |b| {
        b.iter(|| {
            let mut canal =
                Canal::cursor(&store, CursorOptions::new(Start::Begin)).expect("cursor");
            let mut left = EVENTS;
            while left > 0 {
                let Pulled::Items(items) = canal
                    .pull_batch(BATCH.min(left), Some(Duration::ZERO))
                    .expect("pull")
                else {
                    panic!("events are committed")
                };
                black_box(items);
                left -= items.len();
            }
        })
    });
    g.finish();
    // Criterion measured the steady state: each sealed segment's CRCs are checked once per
    // process (per map), by the first scan. Here the first scan after a reopen, CRCs included.
    let config = store.config().clone();
    store.close().expect("close");
    drop(store);
    let store = Arc::new(Store::open(config).expect("reopen"));
    let mut canal = Canal::cursor(&store, CursorOptions::new(Start::Begin)).expect("cursor");
    let (mut left, t) = (EVENTS, Instant::now());
    while left > 0 {
        let Pulled::Items(items) = canal
            .pull_batch(BATCH.min(left), Some(Duration::ZERO))
            .expect("pull")
        else {
            panic!("events are committed")
        };
        left -= black_box(items).len();
    }
    let took = t.elapsed();
    println!(
        "RESULT scan_1m_128b_first_pass_with_crc ms {:.1} events_per_s {:.0}",
        took.as_secs_f64() * 1e3,
        EVENTS as f64 / took.as_secs_f64()
    );
}

/// The kernel's scheduling state of one of our threads (`S` = sleeping in the kernel).
fn thread_state(tid: i32) -> u8 {
    let stat = std::fs::read(format!("/proc/self/task/{tid}/stat")).expect("thread stat");
    // "pid (comm) S ...": comm may hold spaces or parentheses, so look after the last ')'.
    let close = stat.iter().rposition(|&b| b == b')').expect("comm");
    stat[close + 2]
}

/// Workload 4: append → blocked waiter wake-up. Per sample: both threads meet at a barrier; the
/// waiter publishes that it is about to wait and calls `wait_for_sequence(head, None)`; the
/// appender waits until the waiter is asleep in the kernel (its only possible sleep after
/// publishing is that wait), reads the clock, appends; the waiter reads the clock on return.
/// Latency = wake time − time just before `append` was called (so it includes the append).
fn wake_latency(store: &Store, samples: usize) -> Vec<Duration> {
    let base = Instant::now();
    let barrier = Barrier::new(2);
    let armed = AtomicU64::new(0);
    let waiter_tid = AtomicU64::new(0);
    let woke_ns = AtomicU64::new(0);
    let mut out = Vec::with_capacity(samples);
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: gettid has no preconditions and cannot fail.
            let tid = unsafe { libc::gettid() };
            waiter_tid.store(tid as u64, Ordering::SeqCst);
            for i in 1..=samples as u64 {
                barrier.wait();
                let after = store.head();
                armed.store(i, Ordering::SeqCst);
                let outcome = store.wait_for_sequence(after, None);
                woke_ns.store(base.elapsed().as_nanos() as u64, Ordering::SeqCst);
                assert!(matches!(outcome, WaitOutcome::Ready(h) if h > after));
                barrier.wait();
            }
        });
        for i in 1..=samples as u64 {
            barrier.wait();
            let tid = waiter_tid.load(Ordering::SeqCst) as i32;
            while armed.load(Ordering::SeqCst) != i {
                std::hint::spin_loop();
            }
            while thread_state(tid) != b'S' {
                std::hint::spin_loop();
            }
            let sent = base.elapsed();
            transom_append(store);
            barrier.wait();
            let woke = Duration::from_nanos(woke_ns.load(Ordering::SeqCst));
            out.push(woke.saturating_sub(sent));
        }
    });
    out
}

fn report_wake(name: &str, store: &Store, samples: usize) {
    let mut lat = wake_latency(store, samples);
    lat.sort();
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e6;
    println!(
        "RESULT wake_{name}_us p50 {:.2} p90 {:.2} p99 {:.2} p999 {:.2} max {:.2} n {}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        pct(1.0),
        lat.len()
    );
}

fn wake_up(full: bool) {
    let samples = if full { WAKE_SAMPLES } else { 100 };
    let store = Store::open(Config::in_memory()).expect("open");
    report_wake("in_memory", &store, samples);
    let dir = tmp_dir("wake");
    let store = Store::open(transom_config(
        Some(dir.path().join("store")),
        SyncPolicy::Never,
    ))
    .expect("open");
    report_wake("disk_never", &store, samples);
}

/// Criterion's positional filters (arguments that are neither flags nor a flag's value).
fn filters() -> Vec<String> {
    const VALUE_FLAGS: &[&str] = &[
        "--profile-time",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--measurement-time",
        "--warm-up-time",
        "--sample-size",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--color",
        "--output-format",
        "--format",
        "--plotting-backend",
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    args.iter()
        .enumerate()
        .filter(|(i, a)| {
            !a.starts_with('-') && (*i == 0 || !VALUE_FLAGS.contains(&args[i - 1].as_str()))
        })
        .map(|(_, a)| a.clone())
        .collect()
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    append_throughput(&mut c);
    durable_always(&mut c);
    reopen(&mut c);
    pull_batch(&mut c);
    scan_1m(&mut c);
    c.final_summary();
    // `cargo bench` passes --bench; under `cargo test --benches` only a smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    // The sections outside criterion honour a filter the same way (substring of their name).
    let filters = filters();
    let selected =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    if selected("durable_paired") {
        durable_paired(full);
    }
    if selected("wake_up") {
        wake_up(full);
    }
}
