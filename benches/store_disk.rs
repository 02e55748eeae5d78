//! The on-disk store (issue 8) against the physical floors of this machine, in the same run.
//!
//! A separate binary from `store.rs` because it installs a counting global allocator (the heap
//! figures must be a real measurement); counting is switched on only around the heap section,
//! so everywhere else an allocation costs one relaxed load more than the system allocator.
//! No criterion: every section alternates transom and its floor round by round (this 2-core
//! machine is shared and noisy) and prints medians on `RESULT` lines; `BENCHMARKS.md` is built
//! from them.
//!
//! Sections (filter: `cargo bench -p transom-benches --bench store_disk -- <substring>`):
//! 1. `heap_reopen`: one store grown to 250k / 500k / 1M / 2M × 1 KiB events. At each size:
//!    two crash reopens (a child process — this binary, `TRANSOM_BENCH_DISK_CHILD` set —
//!    appends the last 65,535 events, i.e. one less than `index_flush_events`, so the whole tail
//!    must be replayed; it calls `sync` and is killed with SIGKILL; the parent times open + read
//!    of the last event), then five clean reopens (open + read the last event, then `close`),
//!    each measuring `Store::stats().heap_bytes` and the allocator's live bytes.
//! 2. `append_never`: 128 B payloads, one thread: single appends under `Never`,
//!    `append_batch_refs` of 1,000 borrowed requests (`Batch1000Refs`, the batch target's row)
//!    and `append_batch` of 1,000 owned requests built in the timed loop (`Batch1000Owned`)
//!    under `Never`, single appends under `EveryN(1000)`, against `write(2)` of
//!    frame-sized buffers (one per event) and the same frames in 64 KiB writes.
//! 3. `durable_always`: `Always`, 1 appender vs a write(frame) + `fdatasync` loop alternating
//!    op by op; 8 appenders vs 1 alternating block by block.
//! 4. `scan`: 1M × 128 B events (100 streams), reopened (sealed segments memory-mapped):
//!    `read_from_sequence(_, 256)` and `Canal::pull_batch(256)` over the whole log vs a per-item
//!    memcpy floor (a 64 B header struct + 128 B payload per item into a reused buffer).
//! 5. `point_reads` (same store): `get(id)` of 200k random ids on a warm cache, and
//!    `read(stream, random version, 256)`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use transom::store::{AppendRef, AppendRequest, Config, EventId, Store, SyncPolicy};

// ---------------------------------------------------------------------------------------------
// Counting allocator: live bytes and their peak, relative to the moment counting was switched on
// (frees of older blocks count negatively, so the delta is exact).

struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);

fn count(delta: i64) {
    if COUNTING.load(Ordering::Relaxed) {
        let now = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
        if delta > 0 {
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as i64);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as i64);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as i64));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's arguments.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counting_start() {
    LIVE.store(0, Ordering::SeqCst);
    PEAK.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
}

/// (live bytes now, peak live bytes) since `counting_start`, and stops counting.
fn counting_stop() -> (i64, i64) {
    let r = (LIVE.load(Ordering::SeqCst), PEAK.load(Ordering::SeqCst));
    COUNTING.store(false, Ordering::SeqCst);
    r
}

// ---------------------------------------------------------------------------------------------
// Helpers

const KIND: u16 = 1;
const STREAM: &str = "bench/1";
const MIB: f64 = 1024.0 * 1024.0;
const CHILD_ENV: &str = "TRANSOM_BENCH_DISK_CHILD";

fn tmp_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("transom-bench-{tag}-"))
        .tempdir_in("/tmp")
        .expect("temp dir under /tmp")
}

fn config(dir: &Path, sync: SyncPolicy) -> Config {
    Config {
        dir: Some(dir.to_path_buf()),
        sync,
        ..Config::default()
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty());
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn fmt_all(v: &[f64], scale: f64, digits: usize) -> String {
    v.iter()
        .map(|x| format!("{:.*}", digits, x * scale))
        .collect::<Vec<_>>()
        .join("/")
}

/// Appends `n` events of `payload_len` bytes in batches of 1,000 (stream chosen by `stream`).
fn fill(store: &Store, n: u64, payload_len: usize, stream: impl Fn(u64) -> String) {
    let payload = vec![0x5Au8; payload_len];
    let mut done = 0;
    while done < n {
        let k = (n - done).min(1000);
        let batch = (0..k)
            .map(|i| AppendRequest::new(stream(done + i), KIND, payload.clone()))
            .collect();
        store.append_batch(batch).expect("fill");
        done += k;
    }
}

fn read_last(store: &Store) -> u64 {
    let head = store.head();
    let last = store.read_from_sequence(head, 1).expect("read last");
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].sequence, head);
    black_box(last[0].payload.len() as u64)
}

fn dir_bytes(path: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(path).expect("list") {
        let e = e.expect("entry");
        let m = e.metadata().expect("metadata");
        total += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

// ---------------------------------------------------------------------------------------------
// 1. Heap and reopen

/// The crash child: opens the store, appends `n` × 1 KiB events in batches of 1,000, `sync`s
/// (so the frames are in the file, past the index's covered sequence), reports and waits to be
/// killed.
fn crash_child(dir: &str) -> ! {
    let n: u64 = std::env::var("TRANSOM_BENCH_DISK_CHILD_EVENTS")
        .expect("events")
        .parse()
        .expect("events number");
    let store = Store::open(config(Path::new(dir), SyncPolicy::Never)).expect("child open");
    fill(&store, n, 1024, |_| STREAM.to_string());
    store.sync().expect("child sync");
    let s = store.stats();
    println!("READY {} {}", store.head(), s.index_covered_sequence);
    std::io::stdout().flush().expect("flush");
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// Runs a child that appends `n` events and is SIGKILLed once it reported; returns the head it
/// reached and the sequence its index covered.
fn crash_append(path: &Path, n: u64) -> (u64, u64) {
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env(CHILD_ENV, path)
        .env("TRANSOM_BENCH_DISK_CHILD_EVENTS", n.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn crash child");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("child report");
    child.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix.
    child.wait().expect("reap");
    let mut it = line.split_whitespace();
    assert_eq!(it.next(), Some("READY"), "child said {line:?}");
    let head = it.next().expect("head").parse().expect("head");
    let covered = it.next().expect("covered").parse().expect("covered");
    (head, covered)
}

fn heap_reopen(full: bool) {
    let (sizes, tail, reps): (&[u64], u64, usize) = if full {
        (&[250_000, 500_000, 1_000_000, 2_000_000], 65_535, 5)
    } else {
        (&[3_000, 6_000], 1_000, 2)
    };
    let dir = tmp_dir("heap");
    let path = dir.path().join("store");
    let mut have = 0u64;
    let mut build = Duration::ZERO;
    for &size in sizes {
        // Grow (cleanly) to size - 2 × tail; the two crash children add the rest.
        let t = Instant::now();
        {
            let store = Store::open(config(&path, SyncPolicy::Never)).expect("open");
            assert_eq!(store.head(), have);
            fill(&store, size - 2 * tail - have, 1024, |_| STREAM.to_string());
            store.close().expect("close");
        }
        build += t.elapsed();

        let (mut crash_ms, mut crash_close_ms, mut scanned, mut replayed, mut tails) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..2 {
            let t = Instant::now();
            let (head, covered) = crash_append(&path, tail);
            build += t.elapsed();
            let t = Instant::now();
            let store = Store::open(config(&path, SyncPolicy::Never)).expect("crash reopen");
            read_last(&store);
            crash_ms.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(store.head(), head, "every synced event survives SIGKILL");
            scanned.push(store.recovery_report().frames_scanned as f64);
            replayed.push(store.recovery_report().index_replayed as f64);
            tails.push((head - covered) as f64);
            let t = Instant::now();
            store.close().expect("close");
            crash_close_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        have = size;

        let (mut open_ms, mut close_ms, mut heap_stats, mut heap_live, mut heap_peak) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut clean_scanned = 0;
        let mut disk = 0;
        for _ in 0..reps {
            counting_start();
            let t = Instant::now();
            let store = Store::open(config(&path, SyncPolicy::Never)).expect("reopen");
            read_last(&store);
            open_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let (live, peak) = counting_stop();
            let stats = store.stats();
            assert_eq!(stats.events, size);
            heap_stats.push(stats.heap_bytes as f64);
            heap_live.push(live as f64);
            heap_peak.push(peak as f64);
            clean_scanned = clean_scanned.max(stats.frames_scanned_at_open);
            disk = stats.bytes_on_disk;
            let t = Instant::now();
            store.close().expect("close");
            close_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "RESULT heap_reopen events {size} disk_mib {:.0} dir_mib {:.0} \
             heap_stats_mib {:.2} heap_live_mib {:.2} heap_peak_during_open_mib {:.2} \
             clean_reopen_ms {:.2} [{}] close_ms {:.2} [{}] clean_frames_scanned {clean_scanned} \
             crash_reopen_ms {:.1} [{}] crash_close_ms [{}] crash_frames_scanned [{}] crash_index_replayed [{}] crash_tail_events [{}]",
            disk as f64 / MIB,
            dir_bytes(&path) as f64 / MIB,
            median(heap_stats.clone()) / MIB,
            median(heap_live.clone()) / MIB,
            median(heap_peak.clone()) / MIB,
            median(open_ms.clone()),
            fmt_all(&open_ms, 1.0, 2),
            median(close_ms.clone()),
            fmt_all(&close_ms, 1.0, 2),
            median(crash_ms.clone()),
            fmt_all(&crash_ms, 1.0, 1),
            fmt_all(&crash_close_ms, 1.0, 1),
            fmt_all(&scanned, 1.0, 0),
            fmt_all(&replayed, 1.0, 0),
            fmt_all(&tails, 1.0, 0),
        );
        println!(
            "RESULT heap_reopen_detail events {size} heap_stats_bytes [{}] heap_live_bytes [{}]",
            fmt_all(&heap_stats, 1.0, 0),
            fmt_all(&heap_live, 1.0, 0)
        );
    }
    println!(
        "RESULT heap_reopen_build_seconds {:.1} (single store grown to {have} events; incl. crash children)",
        build.as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Append under Never / EveryN vs write(2)

/// Bytes a 128 B event of `STREAM` takes in a segment, measured (not assumed).
fn frame_bytes() -> usize {
    let dir = tmp_dir("frame");
    let store = Store::open(config(&dir.path().join("s"), SyncPolicy::Never)).expect("open");
    fill(&store, 1000, 128, |_| STREAM.to_string());
    store.sync().expect("sync");
    let before = store.stats().bytes_on_disk;
    fill(&store, 100_000, 128, |_| STREAM.to_string());
    store.sync().expect("sync");
    let after = store.stats().bytes_on_disk;
    ((after - before) as f64 / 100_000.0).round() as usize
}

#[derive(Clone, Copy, Debug)]
enum AppendKind {
    Single,
    /// `append_batch_refs` of 1,000 borrowed requests (the batch target's row).
    Batch1000Refs,
    /// `append_batch` of 1,000 owned requests built in the timed loop.
    Batch1000Owned,
    EveryN1000,
    FloorWrite,
    FloorBuffered,
}

fn append_run(kind: AppendKind, dir: &Path, n: u64, frame: usize) -> f64 {
    let payload = [0xABu8; 128];
    let path = dir.join(format!("{kind:?}"));
    let rate = match kind {
        AppendKind::Single
        | AppendKind::Batch1000Refs
        | AppendKind::Batch1000Owned
        | AppendKind::EveryN1000 => {
            let sync = if matches!(kind, AppendKind::EveryN1000) {
                SyncPolicy::EveryN(1000)
            } else {
                SyncPolicy::Never
            };
            let store = Store::open(config(&path, sync)).expect("open");
            let t = Instant::now();
            if matches!(kind, AppendKind::Batch1000Refs) {
                let batch = vec![AppendRef::new(STREAM, KIND, &payload); 1000];
                let mut done = 0;
                while done < n {
                    black_box(
                        store
                            .append_batch_refs(black_box(&batch))
                            .expect("append_batch_refs"),
                    );
                    done += 1000;
                }
            } else if matches!(kind, AppendKind::Batch1000Owned) {
                let mut done = 0;
                while done < n {
                    let batch = (0..1000)
                        .map(|_| AppendRequest::new(STREAM, KIND, payload.to_vec()))
                        .collect();
                    black_box(store.append_batch(batch).expect("append_batch"));
                    done += 1000;
                }
            } else {
                for _ in 0..n {
                    black_box(
                        store
                            .append(AppendRequest::new(STREAM, KIND, payload.to_vec()))
                            .expect("append"),
                    );
                }
            }
            let rate = n as f64 / t.elapsed().as_secs_f64();
            store.close().expect("close");
            rate
        }
        AppendKind::FloorWrite | AppendKind::FloorBuffered => {
            let mut file = std::fs::File::create(&path).expect("floor file");
            let frame_buf = vec![0xABu8; frame];
            let t = Instant::now();
            if matches!(kind, AppendKind::FloorWrite) {
                for _ in 0..n {
                    file.write_all(black_box(&frame_buf)).expect("write");
                }
            } else {
                let mut buf = Vec::with_capacity(64 << 10);
                for _ in 0..n {
                    if buf.len() + frame > 64 << 10 {
                        file.write_all(&buf).expect("write");
                        buf.clear();
                    }
                    buf.extend_from_slice(black_box(&frame_buf));
                }
                file.write_all(&buf).expect("write");
            }
            let rate = n as f64 / t.elapsed().as_secs_f64();
            drop(file);
            rate
        }
    };
    if path.is_dir() {
        std::fs::remove_dir_all(&path).expect("remove");
    } else {
        std::fs::remove_file(&path).expect("remove");
    }
    rate
}

fn append_never(full: bool) {
    let (rounds, n) = if full { (5, 300_000u64) } else { (1, 2_000) };
    let frame = frame_bytes();
    println!("RESULT frame_bytes_per_128b_event {frame}");
    let kinds = [
        AppendKind::Single,
        AppendKind::Batch1000Refs,
        AppendKind::Batch1000Owned,
        AppendKind::EveryN1000,
        AppendKind::FloorWrite,
        AppendKind::FloorBuffered,
    ];
    let dir = tmp_dir("append");
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    let (mut single_vs_write, mut batch_vs_single, mut owned_vs_single) =
        (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut this = [0.0; 6];
        for k in 0..kinds.len() {
            let i = (k + round) % kinds.len();
            this[i] = append_run(kinds[i], dir.path(), n, frame);
            rates[i].push(this[i]);
        }
        single_vs_write.push(this[0] / this[4]);
        batch_vs_single.push(this[1] / this[0]);
        owned_vs_single.push(this[2] / this[0]);
    }
    for (k, r) in kinds.iter().zip(&rates) {
        println!(
            "RESULT append_never {k:?} per_s {:.0} [{}] (median of {rounds} rounds of {n} events, 128 B payload, {frame} B frames)",
            median(r.clone()),
            fmt_all(r, 1e-3, 0)
        );
    }
    println!(
        "RESULT append_never ratios single_over_write {:.3} [{}] batch_refs_over_single {:.2} [{}] batch_owned_over_single {:.2} [{}]",
        median(single_vs_write.clone()),
        fmt_all(&single_vs_write, 1.0, 3),
        median(batch_vs_single.clone()),
        fmt_all(&batch_vs_single, 1.0, 2),
        median(owned_vs_single.clone()),
        fmt_all(&owned_vs_single, 1.0, 2)
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Always vs fdatasync, group commit

fn timed_appends(store: &Store, threads: usize, per_thread: u64) -> (f64, u64) {
    let start = Barrier::new(threads + 1);
    let before = store.fsync_count();
    let elapsed = std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                start.wait();
                for _ in 0..per_thread {
                    black_box(
                        store
                            .append(AppendRequest::new(STREAM, KIND, vec![0xAB; 128]))
                            .expect("append"),
                    );
                }
            });
        }
        start.wait();
        Instant::now()
    })
    .elapsed();
    (
        (threads as u64 * per_thread) as f64 / elapsed.as_secs_f64(),
        store.fsync_count() - before,
    )
}

fn durable_always(full: bool) {
    const WRITERS: usize = 8;
    let (rounds, ops) = if full { (11, 40u64) } else { (1, 3) };
    let frame = frame_bytes();
    let dir = tmp_dir("always");
    let one = Store::open(config(&dir.path().join("one"), SyncPolicy::Always)).expect("open");
    let eight = Store::open(config(&dir.path().join("eight"), SyncPolicy::Always)).expect("open");
    let mut raw = std::fs::File::create(dir.path().join("raw")).expect("raw file");
    let frame_buf = vec![0xABu8; frame];
    let mut raw_op = || {
        let t = Instant::now();
        raw.write_all(&frame_buf).expect("write");
        raw.sync_data().expect("fdatasync");
        t.elapsed()
    };
    let one_op = |store: &Store| {
        let t = Instant::now();
        black_box(
            store
                .append(AppendRequest::new(STREAM, KIND, vec![0xAB; 128]))
                .expect("append"),
        );
        t.elapsed()
    };
    let (mut r_raw, mut r_one, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (mut t_raw, mut t_one) = (Duration::ZERO, Duration::ZERO);
        for i in 0..ops {
            if i % 2 == 0 {
                t_raw += raw_op();
                t_one += one_op(&one);
            } else {
                t_one += one_op(&one);
                t_raw += raw_op();
            }
        }
        let (a, b) = (
            ops as f64 / t_raw.as_secs_f64(),
            ops as f64 / t_one.as_secs_f64(),
        );
        r_raw.push(a);
        r_one.push(b);
        ratio.push(b / a);
    }
    println!(
        "RESULT always_one_vs_fsync fsync_per_s {:.0} one_per_s {:.0} ratio {:.3} [{}] (medians of {rounds} rounds of {ops} alternating pairs, {frame} B writes)",
        median(r_raw),
        median(r_one),
        median(ratio.clone()),
        fmt_all(&ratio, 1.0, 3)
    );
    let (mut r1, mut r8, mut ratio8) = (Vec::new(), Vec::new(), Vec::new());
    let (mut fsyncs, mut appends) = (0, 0);
    for round in 0..rounds {
        let (a, (b, f));
        if round % 2 == 0 {
            a = timed_appends(&one, 1, ops).0;
            (b, f) = timed_appends(&eight, WRITERS, ops);
        } else {
            (b, f) = timed_appends(&eight, WRITERS, ops);
            a = timed_appends(&one, 1, ops).0;
        }
        fsyncs += f;
        appends += ops * WRITERS as u64;
        r1.push(a);
        r8.push(b);
        ratio8.push(b / a);
    }
    println!(
        "RESULT always_eight_vs_one one_per_s {:.0} eight_per_s {:.0} ratio {:.2} [{}] fsync_per_append_8 {:.3} (medians of {rounds} rounds of {ops} appends per thread)",
        median(r1),
        median(r8),
        median(ratio8.clone()),
        fmt_all(&ratio8, 1.0, 2),
        fsyncs as f64 / appends as f64
    );
}

// ---------------------------------------------------------------------------------------------
// 4 and 5. Scan and point reads

const STREAMS: u64 = 100;

fn stream_name(i: u64) -> String {
    format!("s/{:03}", i % STREAMS)
}

/// The floor's item: what a reader minimally gets per event, copied out per item.
#[derive(Clone, Copy)]
#[repr(C)]
struct Header {
    id: u128,
    sequence: u64,
    stream_version: u64,
    timestamp_ns: u64,
    kind: u16,
    flags: u16,
    payload_len: u32,
    stream_ref: u64,
    _pad: u64,
}

#[derive(Clone, Copy)]
#[repr(C)]
struct Record {
    header: Header,
    payload: [u8; 128],
}

fn scan_and_reads(full: bool, do_scan: bool, do_point: bool) {
    use transom::canal::{Canal, CursorOptions, Delivery, Pulled, Start};
    const BATCH: usize = 256;
    let (events, rounds, gets, reads) = if full {
        (1_000_000u64, 5, 200_000usize, 2_000usize)
    } else {
        (5_000, 1, 1_000, 10)
    };
    assert_eq!(std::mem::size_of::<Header>(), 64);
    let dir = tmp_dir("scan");
    let path = dir.path().join("store");
    let t = Instant::now();
    {
        let store = Store::open(config(&path, SyncPolicy::Never)).expect("open");
        fill(&store, events, 128, stream_name);
        store.close().expect("close");
    }
    println!(
        "RESULT scan_build_seconds {:.1} ({events} events of 128 B, {STREAMS} streams, {:.0} MiB)",
        t.elapsed().as_secs_f64(),
        dir_bytes(&path) as f64 / MIB
    );
    let store = Arc::new(Store::open(config(&path, SyncPolicy::Never)).expect("reopen"));

    if do_scan {
        let src: Vec<Record> = (0..events)
            .map(|i| Record {
                header: Header {
                    id: i as u128,
                    sequence: i,
                    stream_version: i / STREAMS,
                    timestamp_ns: i,
                    kind: KIND,
                    flags: 0,
                    payload_len: 128,
                    stream_ref: i % STREAMS,
                    _pad: 0,
                },
                payload: [i as u8; 128],
            })
            .collect();
        let floor = || {
            let mut hdrs = [Header { ..src[0].header }; BATCH];
            let mut pays = vec![[0u8; 128]; BATCH];
            let t = Instant::now();
            for chunk in src.chunks(BATCH) {
                for (i, r) in chunk.iter().enumerate() {
                    hdrs[i] = r.header;
                    pays[i] = r.payload;
                }
                black_box((&mut hdrs, &mut pays));
            }
            t.elapsed().as_secs_f64() * 1e9 / events as f64
        };
        let read_seq = || {
            let mut sum = 0u64;
            let mut from = 1;
            let t = Instant::now();
            while from <= events {
                let items = store.read_from_sequence(from, BATCH).expect("read");
                for e in &items {
                    sum = sum.wrapping_add(e.sequence + e.payload[0] as u64);
                }
                from += items.len() as u64;
            }
            black_box(sum);
            t.elapsed().as_secs_f64() * 1e9 / events as f64
        };
        let canal = || {
            let mut c = Canal::cursor(&store, CursorOptions::new(Start::Begin)).expect("cursor");
            let mut sum = 0u64;
            let mut seen = 0;
            let t = Instant::now();
            while seen < events {
                let Pulled::Items(items) = c.pull_batch(BATCH, Some(Duration::ZERO)).expect("pull")
                else {
                    panic!("events are committed")
                };
                for item in items {
                    if let Delivery::Event { sequence, value } = item {
                        sum = sum.wrapping_add(sequence + value.payload[0] as u64);
                    }
                }
                seen += items.len() as u64;
            }
            black_box(sum);
            t.elapsed().as_secs_f64() * 1e9 / events as f64
        };
        // Warm the page cache and the mappings once.
        read_seq();
        let (mut f, mut r, mut c, mut rr, mut cr) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let (a, b, d);
            if round % 2 == 0 {
                a = floor();
                b = read_seq();
                d = canal();
            } else {
                d = canal();
                b = read_seq();
                a = floor();
            }
            f.push(a);
            r.push(b);
            c.push(d);
            rr.push(b / a);
            cr.push(d / a);
        }
        println!(
            "RESULT scan floor_ns {:.2} [{}] read_from_sequence_ns {:.1} [{}] pull_batch_ns {:.1} [{}] \
             read_over_floor {:.1} pull_over_floor {:.1} (per item, medians of {rounds} full passes over {events} events)",
            median(f.clone()),
            fmt_all(&f, 1.0, 2),
            median(r.clone()),
            fmt_all(&r, 1.0, 1),
            median(c.clone()),
            fmt_all(&c, 1.0, 1),
            median(rr),
            median(cr)
        );
    }

    if do_point {
        // Every id, in sequence order, then a random sample of them.
        let mut ids: Vec<EventId> = Vec::with_capacity(events as usize);
        let mut from = 1;
        while from <= events {
            let items = store.read_from_sequence(from, 4096).expect("read");
            ids.extend(items.iter().map(|e| e.id));
            from += items.len() as u64;
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let sample: Vec<EventId> = (0..gets).map(|_| ids[(next() % events) as usize]).collect();
        let reqs: Vec<(String, u64)> = (0..reads)
            .map(|_| {
                let per = events / STREAMS;
                (
                    stream_name(next() % STREAMS),
                    1 + next() % (per - BATCH as u64).max(1),
                )
            })
            .collect();
        let get_pass = || {
            let t = Instant::now();
            for id in &sample {
                black_box(store.get(*id).expect("get").sequence);
            }
            gets as f64 / t.elapsed().as_secs_f64()
        };
        let read_pass = || {
            let t = Instant::now();
            let mut n = 0;
            for (s, v) in &reqs {
                let got = store.read(s, *v, BATCH).expect("read");
                n += got.len();
                black_box(got);
            }
            let e = t.elapsed().as_secs_f64();
            (reads as f64 / e, n as f64 / e)
        };
        get_pass(); // warm
        read_pass();
        let (mut g, mut rc, mut re) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            g.push(get_pass());
            let (a, b) = read_pass();
            rc.push(a);
            re.push(b);
        }
        println!(
            "RESULT point_reads get_per_s {:.0} [{}] read256_calls_per_s {:.0} [{}] read256_events_per_s {:.0} \
             (get: {gets} random ids of {events}, warm; read: {reads} calls of read(stream, random version, 256), {STREAMS} streams; medians of {rounds})",
            median(g.clone()),
            fmt_all(&g, 1e-3, 0),
            median(rc.clone()),
            fmt_all(&rc, 1.0, 0),
            median(re)
        );
    }
    drop(store);
    let _ = dir;
}

// ---------------------------------------------------------------------------------------------

fn main() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        crash_child(&dir);
    }
    // `cargo bench` passes --bench; under `cargo test --benches` only a smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    if selected("append_never") {
        append_never(full);
    }
    if selected("durable_always") {
        durable_always(full);
    }
    let (scan, point) = (selected("scan"), selected("point_reads"));
    if scan || point {
        scan_and_reads(full, scan, point);
    }
    if selected("heap_reopen") {
        heap_reopen(full);
    }
}
