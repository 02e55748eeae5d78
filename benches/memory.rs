//! Benchmarks of the slot memory managers against their peers, all measured in the same run
//! (see `BENCHMARKS.md` for the table, the command and the machine).
//!
//! Every workload moves 64-byte payloads. Peers:
//! - `sharded_slab`: `sharded_slab::Slab<[u8; 64]>` (insert / get / remove);
//! - `array_queue`: a `crossbeam_queue::ArrayQueue<u32>` free list of indices over
//!   `Vec<parking_lot::RwLock<[u8; 64]>>` (store = pop index + write lock + copy, read = read
//!   lock, free = push index);
//! - `rwlock_slab`: `parking_lot::RwLock<slab::Slab<[u8; 64]>>` (write-lock insert, read-lock
//!   get, write-lock remove).
//!
//! Groups:
//! - `cycle_1t`: one thread, store + read + free of one message per iteration (the read is a
//!   borrow whose payload reference is passed to `black_box`). The transom rows use the Rust API
//!   (`MemoryManager::{store, read, free}`, the read guard's drop is the release); the
//!   `extern_c_*` rows make the same four calls (store, read, release, remove) through the
//!   exported `transom_manager_*` functions, i.e. the C ABI layer without the PLT.
//! - `store_free_2t`: two threads, each storing and freeing its own messages on one shared
//!   structure; the time is per operation pair of the aggregate (elapsed / (2 * iterations)).
//! - `hot_read_2t`: four messages stored up front, two threads reading them round-robin; the
//!   time is per read of the aggregate.
//!
//! Setting `TRANSOM_CYCLE_REPORT=1` skips criterion and instead times the single-thread cycle
//! with the exact method of `benches/c/c_overhead.c` (a timed loop of N cycles, median of R
//! repeats), so its numbers can be subtracted from the C program's.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, SamplingMode};
use crossbeam_queue::ArrayQueue;
use parking_lot::RwLock;

use transom::ffi::memory::{
    transom_manager, transom_manager_config, transom_manager_free, transom_manager_new,
    transom_manager_read, transom_manager_release, transom_manager_remove,
    transom_manager_required_bytes, transom_manager_store, transom_read_view,
    TRANSOM_MANAGER_CONCURRENT, TRANSOM_MANAGER_HEAP, TRANSOM_MANAGER_STATIC,
};
use transom::memory::{
    required_bytes, ConcurrentManager, Header, HeapManager, MemoryClass, MemoryClassRaw,
    MemoryManager, StaticManager, Token,
};

/// Payload size of every workload.
const PAYLOAD: usize = 64;
/// Slots of every structure (only a few are in use at any time).
const CAPACITY: usize = 1024;
/// Messages read by the hot-reader workload.
const HOT: usize = 4;

type Payload = [u8; PAYLOAD];

fn payload() -> Payload {
    let mut p = [0u8; PAYLOAD];
    for (i, b) in p.iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

/// STATIC storage: `required_bytes` plus slack, so the region can start on a 64-byte boundary
/// like the HEAP and CONCURRENT kinds' (the comparison then measures the kind, not alignment).
fn static_storage() -> Vec<u8> {
    vec![0u8; required_bytes(CAPACITY, PAYLOAD).unwrap() + 64]
}

fn aligned64(storage: &mut [u8]) -> &mut [u8] {
    let pad = storage.as_ptr().align_offset(64);
    &mut storage[pad..]
}

// ---------------------------------------------------------------------------------------------
// Peers

/// The ArrayQueue design: a bounded MPMC queue of free indices over individually locked slots.
struct ArrayQueuePool {
    free: ArrayQueue<u32>,
    slots: Vec<RwLock<Payload>>,
}

impl ArrayQueuePool {
    fn new(capacity: usize) -> Self {
        let free = ArrayQueue::new(capacity);
        for i in 0..capacity {
            free.push(i as u32).expect("queue sized to capacity");
        }
        ArrayQueuePool {
            free,
            slots: (0..capacity).map(|_| RwLock::new([0; PAYLOAD])).collect(),
        }
    }

    #[inline]
    fn store(&self, p: &Payload) -> Option<u32> {
        let i = self.free.pop()?;
        *self.slots[i as usize].write() = *p;
        Some(i)
    }

    #[inline]
    fn read(&self, i: u32) -> parking_lot::RwLockReadGuard<'_, Payload> {
        self.slots[i as usize].read()
    }

    #[inline]
    fn free(&self, i: u32) {
        let _ = self.free.push(i);
    }
}

type ShardedSlab = sharded_slab::Slab<Payload>;
type RwLockSlab = RwLock<slab::Slab<Payload>>;

fn rwlock_slab() -> RwLockSlab {
    RwLock::new(slab::Slab::with_capacity(CAPACITY))
}

// ---------------------------------------------------------------------------------------------
// transom through the exported C ABI functions (called from Rust: no PLT, but the same
// argument checks, kind dispatch and panic guard a C caller gets).

struct CManager {
    ptr: *mut transom_manager,
    _storage: Vec<u8>,
}

impl CManager {
    fn new(kind: u32) -> Self {
        let mut storage = Vec::new();
        if kind == TRANSOM_MANAGER_STATIC {
            let mut need = 0usize;
            // SAFETY: out pointer is valid.
            let s = unsafe { transom_manager_required_bytes(CAPACITY, PAYLOAD, &mut need) };
            assert_eq!(s, 0);
            storage = vec![0u8; need + 64];
        }
        let pad = storage.as_ptr().align_offset(64).min(storage.len());
        let config = transom_manager_config {
            kind,
            capacity: CAPACITY,
            slot_size: PAYLOAD,
            memory_class: MemoryClassRaw::default(),
            storage: if storage.is_empty() {
                std::ptr::null_mut()
            } else {
                // SAFETY: pad <= len.
                unsafe { storage.as_mut_ptr().add(pad).cast() }
            },
            storage_len: storage.len() - pad,
        };
        let mut ptr = std::ptr::null_mut();
        // SAFETY: config and out pointer are valid; storage outlives the manager (dropped after
        // transom_manager_free in Drop).
        let s = unsafe { transom_manager_new(&config, &mut ptr) };
        assert_eq!(s, 0, "transom_manager_new");
        CManager {
            ptr,
            _storage: storage,
        }
    }

    /// store + read + release + remove, as a C caller writes it.
    #[inline]
    fn cycle(&self, h: &Header, p: &Payload) {
        let mut t = Token::default();
        let mut v = transom_read_view {
            header: std::ptr::null(),
            payload: std::ptr::null(),
            len: 0,
        };
        // SAFETY: every pointer is valid for the call; the manager is live.
        unsafe {
            // Statuses are checked like a C caller would (benches/c/c_overhead.c does the same).
            ok(transom_manager_store(
                self.ptr,
                h,
                black_box(p.as_ptr()),
                PAYLOAD,
                &mut t,
            ));
            ok(transom_manager_read(self.ptr, t, &mut v));
            black_box(std::slice::from_raw_parts(v.payload, v.len));
            ok(transom_manager_release(self.ptr, t));
            ok(transom_manager_remove(self.ptr, t));
        }
    }
}

#[inline]
fn ok(status: i32) {
    if status != 0 {
        failed(status);
    }
}

#[cold]
#[inline(never)]
fn failed(status: i32) -> ! {
    panic!("transom call failed with status {status}");
}

impl Drop for CManager {
    fn drop(&mut self) {
        // SAFETY: ptr came from transom_manager_new and is freed once.
        unsafe { transom_manager_free(self.ptr) };
    }
}

// ---------------------------------------------------------------------------------------------
// Workload bodies

#[inline]
fn transom_cycle<M: MemoryManager>(m: &M, h: &Header, p: &Payload) {
    let t = m.store(h, black_box(&p[..])).unwrap();
    {
        let g = m.read(t).unwrap();
        black_box(&*g);
    }
    m.free(t).unwrap();
}

#[inline]
fn sharded_cycle(s: &ShardedSlab, p: &Payload) {
    let k = s.insert(*black_box(p)).unwrap();
    {
        let e = s.get(k).unwrap();
        black_box(&*e);
    }
    s.remove(k);
}

#[inline]
fn aq_cycle(q: &ArrayQueuePool, p: &Payload) {
    let i = q.store(black_box(p)).unwrap();
    {
        let g = q.read(i);
        black_box(&*g);
    }
    q.free(i);
}

#[inline]
fn rwslab_cycle(s: &RwLockSlab, p: &Payload) {
    let k = s.write().insert(*black_box(p));
    {
        let g = s.read();
        black_box(g.get(k).unwrap());
    }
    s.write().remove(k);
}

// ---------------------------------------------------------------------------------------------
// Multi-thread harness

/// Runs `body(thread, iters)` on `threads` threads started together; returns the aggregate time
/// per operation: (last end - first start) / threads, so criterion's time per iteration is the
/// aggregate's time per operation.
fn run_threads<F>(threads: usize, iters: u64, body: F) -> Duration
where
    F: Fn(usize, u64) + Sync,
{
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                let body = &body;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    body(t, iters);
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = spans.iter().map(|s| s.0).min().unwrap();
    let end = spans.iter().map(|s| s.1).max().unwrap();
    (end - start) / threads as u32
}

// ---------------------------------------------------------------------------------------------
// Groups

fn cycle_1t(c: &mut Criterion) {
    let h = Header::new();
    let p = payload();
    let mut g = c.benchmark_group("cycle_1t");

    let mut storage = static_storage();
    let sm = StaticManager::new(
        aligned64(&mut storage),
        CAPACITY,
        PAYLOAD,
        MemoryClass::Host,
    )
    .unwrap();
    g.bench_function("transom_static", |b| b.iter(|| transom_cycle(&sm, &h, &p)));
    drop(sm);

    let hm = HeapManager::new(CAPACITY, PAYLOAD, MemoryClass::Host).unwrap();
    g.bench_function("transom_heap", |b| b.iter(|| transom_cycle(&hm, &h, &p)));
    drop(hm);

    let cm = ConcurrentManager::new(CAPACITY, PAYLOAD, MemoryClass::Host).unwrap();
    g.bench_function("transom_concurrent", |b| {
        b.iter(|| transom_cycle(&cm, &h, &p))
    });
    drop(cm);

    let ss = ShardedSlab::new();
    g.bench_function("sharded_slab", |b| b.iter(|| sharded_cycle(&ss, &p)));
    drop(ss);

    let aq = ArrayQueuePool::new(CAPACITY);
    g.bench_function("array_queue", |b| b.iter(|| aq_cycle(&aq, &p)));
    drop(aq);

    let rs = rwlock_slab();
    g.bench_function("rwlock_slab", |b| b.iter(|| rwslab_cycle(&rs, &p)));
    drop(rs);

    for (name, kind) in [
        ("extern_c_static", TRANSOM_MANAGER_STATIC),
        ("extern_c_heap", TRANSOM_MANAGER_HEAP),
        ("extern_c_concurrent", TRANSOM_MANAGER_CONCURRENT),
    ] {
        let m = CManager::new(kind);
        g.bench_function(name, |b| b.iter(|| m.cycle(&h, &p)));
    }
    g.finish();
}

fn store_free_2t(c: &mut Criterion) {
    const T: usize = 2;
    let h = Header::new();
    let p = payload();
    let mut g = c.benchmark_group("store_free_2t");
    g.sampling_mode(SamplingMode::Flat);

    let cm = ConcurrentManager::new(CAPACITY, PAYLOAD, MemoryClass::Host).unwrap();
    g.bench_function(BenchmarkId::new("transom_concurrent", T), |b| {
        b.iter_custom(|iters| {
            run_threads(T, iters, |_, n| {
                for _ in 0..n {
                    let t = cm.store(&h, black_box(&p[..])).unwrap();
                    cm.free(black_box(t)).unwrap();
                }
            })
        })
    });
    drop(cm);

    let ss = ShardedSlab::new();
    g.bench_function(BenchmarkId::new("sharded_slab", T), |b| {
        b.iter_custom(|iters| {
            run_threads(T, iters, |_, n| {
                for _ in 0..n {
                    let k = ss.insert(*black_box(&p)).unwrap();
                    ss.remove(black_box(k));
                }
            })
        })
    });
    drop(ss);

    let aq = ArrayQueuePool::new(CAPACITY);
    g.bench_function(BenchmarkId::new("array_queue", T), |b| {
        b.iter_custom(|iters| {
            run_threads(T, iters, |_, n| {
                for _ in 0..n {
                    let i = aq.store(black_box(&p)).unwrap();
                    aq.free(black_box(i));
                }
            })
        })
    });
    drop(aq);

    let rs = rwlock_slab();
    g.bench_function(BenchmarkId::new("rwlock_slab", T), |b| {
        b.iter_custom(|iters| {
            run_threads(T, iters, |_, n| {
                for _ in 0..n {
                    let k = rs.write().insert(*black_box(&p));
                    rs.write().remove(black_box(k));
                }
            })
        })
    });
    drop(rs);
    g.finish();
}

fn hot_read_2t(c: &mut Criterion) {
    const T: usize = 2;
    let h = Header::new();
    let p = payload();
    let mut g = c.benchmark_group("hot_read_2t");
    g.sampling_mode(SamplingMode::Flat);

    let cm = ConcurrentManager::new(CAPACITY, PAYLOAD, MemoryClass::Host).unwrap();
    let tokens: Vec<Token> = (0..HOT).map(|_| cm.store(&h, &p).unwrap()).collect();
    g.bench_function(BenchmarkId::new("transom_concurrent", T), |b| {
        b.iter_custom(|iters| {
            run_threads(T, iters, |_, n| {
                for i in 0..n as usize {
                    let g = cm.read(tokens[i % HOT]).unwrap();
                    black_box(&*g);
                }
            })
        })
    });
    drop(cm);

    let ss = ShardedSlab::new();
    let keys: Vec<usize> = (0..HOT).map(|_| ss.insert(p).unwrap()).collect();
    g.bench_function(BenchmarkId::new("sharded_slab", T), |b| {
        b.iter_custom(|iters| {
            run_threads(T, iters, |_, n| {
                for i in 0..n as usize {
                    let e = ss.get(keys[i % HOT]).unwrap();
                    black_box(&*e);
                }
            })
        })
    });
    drop(ss);

    let aq = ArrayQueuePool::new(CAPACITY);
    let idx: Vec<u32> = (0..HOT).map(|_| aq.store(&p).unwrap()).collect();
    g.bench_function(BenchmarkId::new("array_queue", T), |b| {
        b.iter_custom(|iters| {
            run_threads(T, iters, |_, n| {
                for i in 0..n as usize {
                    let g = aq.read(idx[i % HOT]);
                    black_box(&*g);
                }
            })
        })
    });
    drop(aq);

    let rs = rwlock_slab();
    let keys: Vec<usize> = (0..HOT).map(|_| rs.write().insert(p)).collect();
    g.bench_function(BenchmarkId::new("rwlock_slab", T), |b| {
        b.iter_custom(|iters| {
            run_threads(T, iters, |_, n| {
                for i in 0..n as usize {
                    let g = rs.read();
                    black_box(g.get(keys[i % HOT]).unwrap());
                }
            })
        })
    });
    drop(rs);
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = cycle_1t, store_free_2t, hot_read_2t
}

// ---------------------------------------------------------------------------------------------
// TRANSOM_CYCLE_REPORT: the C program's method, for the Rust side of the ABI-overhead figure.

/// Iterations per timed loop and repeats; keep equal to benches/c/c_overhead.c.
const REPORT_ITERS: u64 = 2_000_000;
const REPORT_REPEATS: usize = 15;

/// (median, minimum) ns per cycle over the repeats.
fn median_ns_per_cycle(mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..REPORT_ITERS / 4 {
        f();
    }
    let mut runs: Vec<f64> = (0..REPORT_REPEATS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..REPORT_ITERS {
                f();
            }
            start.elapsed().as_nanos() as f64 / REPORT_ITERS as f64
        })
        .collect();
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (runs[REPORT_REPEATS / 2], runs[0])
}

fn cycle_report() {
    let h = Header::new();
    let p = payload();
    println!("# store+read+release+remove, {PAYLOAD}-byte payload, ns/cycle (median, min) of {REPORT_REPEATS} x {REPORT_ITERS}");
    let mut storage = static_storage();
    let sm = StaticManager::new(
        aligned64(&mut storage),
        CAPACITY,
        PAYLOAD,
        MemoryClass::Host,
    )
    .unwrap();
    let hm = HeapManager::new(CAPACITY, PAYLOAD, MemoryClass::Host).unwrap();
    let cm = ConcurrentManager::new(CAPACITY, PAYLOAD, MemoryClass::Host).unwrap();
    let r_static = median_ns_per_cycle(|| transom_cycle(&sm, &h, &p));
    let r_heap = median_ns_per_cycle(|| transom_cycle(&hm, &h, &p));
    let r_conc = median_ns_per_cycle(|| transom_cycle(&cm, &h, &p));
    println!("rust_api static     {:8.2} {:8.2}", r_static.0, r_static.1);
    println!("rust_api heap       {:8.2} {:8.2}", r_heap.0, r_heap.1);
    println!("rust_api concurrent {:8.2} {:8.2}", r_conc.0, r_conc.1);
    for (name, kind) in [
        ("static    ", TRANSOM_MANAGER_STATIC),
        ("heap      ", TRANSOM_MANAGER_HEAP),
        ("concurrent", TRANSOM_MANAGER_CONCURRENT),
    ] {
        let m = CManager::new(kind);
        let (median, min) = median_ns_per_cycle(|| m.cycle(&h, &p));
        println!("extern_c {name} {median:8.2} {min:8.2}");
    }
}

fn main() {
    if std::env::var_os("TRANSOM_CYCLE_REPORT").is_some() {
        cycle_report();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
