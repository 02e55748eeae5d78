//! Wake-up latency of threads blocked in transom (issue 11), against the bare futex-wake floor
//! measured in the same run:
//!
//! - `floor`: a thread parked in `std::thread::park` (a futex wait on Linux), woken by
//!   `Thread::unpark` — no library, the physical floor of handing work to a sleeping thread;
//! - `mailbox_send`: a thread blocked in `Mailbox::receive`, a message sent from another thread;
//! - `mailbox_exit`: a trapping mailbox thread blocked in `receive`, a linked process crashed
//!   (`exit` → EXIT message, through the runtime);
//! - `await_crash`: a thread blocked in `Conversation::await_crash`, a participant crashed;
//! - `conv_receive`: a thread blocked in `Conversation::receive`; the clock starts in the
//!   participant right before it sends the reply (the notification: actor hop + wake);
//! - `live_pull`: a thread blocked in a subscription buffer's pull (`LiveBuffer::pull_until`),
//!   an event pushed from another thread (what a commit does for a subscription canal);
//! - `canal_sub_pull` / `canal_cursor_pull`: a thread blocked in `Canal::pull_batch`, an event
//!   appended to an in-memory store (includes the append itself);
//! - `canal_sub_notify` / `canal_cursor_notify`: the same, with the clock started when the
//!   store begins notifying its commit listeners (the canal's own notification path);
//! - `spin_handoff` / `spin_handoff_late`: a mailbox receiver in its spin window (a 10 µs busy
//!   spin before it parks) when the message comes, 0.5 µs / 6 µs after it entered `receive`;
//! - `on_crash` / `on_crash_with_waiter`: crash → first instruction of the `on_crash` callback,
//!   with nobody else waiting vs with a thread blocked in `await_crash` on the same
//!   conversation;
//! - `…/pinned`: the same with every thread of the process pinned to CPU 0
//!   (`sched_setaffinity`, like `taskset -c 0`).
//!
//! Every sample lets the waiter go fully idle first (a pause well beyond every spin window), then
//! reads the clock, notifies, and takes the waiter's clock reading right after it returned.
//! Before each sample of each path the bench also takes one floor sample (its own pause, then a
//! bare unpark): the *paired floor*. The ratios of a row use its paired floor, measured in the
//! same seconds, because this VM switches between modes in which any cross-CPU wake-up costs
//! ~3 µs or ~25 µs, and a floor row measured earlier in the round can be in the other mode. Each
//! round measures every path once; percentiles (p50/p90/p99) are per round, and the summary gives
//! the median over rounds of each, plus the per-round ratios to the same round's floor. Lines
//! start with `RESULT` for scripts. Finally the idle CPU use of a runtime and of a canal blocked
//! in a pull, over `TRANSOM_WAKE_IDLE_MS` (10 s) each.
//!
//! **Early and late wake-ups.** On this VM a woken thread almost always runs on the CPU of the
//! thread that woke it, and the scheduler (EEVDF) either lets it preempt the waker at once
//! (*early*: the waiter's clock reading comes before the notifying call returned) or queues it
//! until the waker blocks (*late*). Which one happens depends on how much CPU each thread used
//! recently — for the bare floor it is a coin flip, about half and half — and the two modes
//! differ by ~2 µs, so a row's p50 jumps between them with a few percent change of that
//! fraction. Every row whose notifier is the bench thread therefore also reports the share of
//! early samples and the p50 of each mode, with ratios to the paired floor's p50 *in the same
//! mode*: what the path costs, apart from the scheduler's coin.
//!
//! Knobs: `TRANSOM_WAKE_ROUNDS` (5), `TRANSOM_WAKE_N` (samples per path per round, 1500),
//! `TRANSOM_WAKE_PAUSE_US` (300), `TRANSOM_WAKE_IDLE_MS` (10000), `TRANSOM_WAKE_ONLY` (a
//! comma-separated list of path names, e.g. `floor,await_crash`: only those rows, for
//! iterating; the floor and the base of a pinned row are always measured, and the idle-CPU
//! check is skipped), `TRANSOM_WAKE_PAIRED` (1; 0 turns the paired floor off: ratios then
//! use the round's floor row, and a round takes half the time).
//!
//! Run: `cargo bench -p transom-benches --bench wake`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use transom::actor::{ExitReason, Message, ProcessContext, Runtime, SpawnOptions};
use transom::canal::{
    Canal, CursorOptions, LiveBuffer, Overflow, Pulled, Start, SubscriptionOptions,
};
use transom::conversation::wire::{decode_request, encode_reply};
use transom::conversation::{Conversation, ConversationConfig, OnCrash, Participant};
use transom::store::{AppendRequest, Config, Store};

const WAIT: Duration = Duration::from_secs(10);
const WORKERS: usize = 2;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone, Copy, Debug)]
struct P {
    p50: u64,
    p90: u64,
    p99: u64,
}

fn percentiles(mut ns: Vec<u64>) -> P {
    ns.sort_unstable();
    let n = ns.len();
    let at = |q: f64| ns[((n as f64 * q) as usize).min(n - 1)];
    P {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

/// The floor measured *paired* with every path: before each sample of a path, `idle` first
/// takes one floor sample (its own full pause, then a bare unpark of a parked thread), so each
/// path's samples interleave with floor samples taken in the same seconds. This VM switches
/// between modes in which every cross-CPU wake-up costs ~3 µs or ~25 µs (other guests and
/// sessions); a floor row measured tens of seconds earlier can sit in the other mode, the
/// paired floor cannot.
struct PairedFloor {
    gen: Arc<AtomicU64>,
    waiter: thread::Thread,
    rx: Receiver<Instant>,
    samples: Vec<Sample>,
}

/// One wake-up: its latency, and whether it was early (the woken thread's clock reading came
/// before the notifying call returned, see the module doc).
#[derive(Clone, Copy, Debug)]
struct Sample {
    ns: u64,
    early: bool,
}

impl Sample {
    /// Notified at `t0`, the notifying call returned at `returned`, the waiter woke at `woke`.
    fn new(t0: Instant, returned: Instant, woke: Instant) -> Sample {
        Sample {
            ns: ns(woke.saturating_duration_since(t0)),
            early: woke < returned,
        }
    }
}

std::thread_local! {
    /// The classified samples of the row being measured (see [`Reporter::take`]).
    static SAMPLES: std::cell::RefCell<Vec<Sample>> = const { std::cell::RefCell::new(Vec::new()) };
}

static PAIRED: std::sync::Mutex<Option<PairedFloor>> = std::sync::Mutex::new(None);

impl PairedFloor {
    fn start() {
        let gen = Arc::new(AtomicU64::new(0));
        let (tx, rx) = bounded(1);
        let waiter = floor_waiter(Arc::clone(&gen), tx);
        *PAIRED.lock().unwrap() = Some(PairedFloor {
            gen,
            waiter: waiter.thread().clone(),
            rx,
            samples: Vec::new(),
        });
    }

    fn sample(&mut self, pause: Duration) {
        thread::sleep(pause);
        let t0 = Instant::now();
        self.gen.fetch_add(1, Ordering::Release);
        self.waiter.unpark();
        let returned = Instant::now();
        let t1 = self.rx.recv_timeout(WAIT).expect("floor woken");
        self.samples.push(Sample::new(t0, returned, t1));
    }

    /// The floor samples taken since the last call.
    fn take() -> Vec<Sample> {
        PAIRED
            .lock()
            .unwrap()
            .as_mut()
            .map_or_else(Vec::new, |f| std::mem::take(&mut f.samples))
    }
}

/// Lets every waiter and worker finish its spin and park (after one paired floor sample, see
/// [`PairedFloor`]). Not a test: the point is idleness.
fn idle(pause: Duration) {
    if let Some(f) = PAIRED.lock().unwrap().as_mut() {
        f.sample(pause);
    }
    thread::sleep(pause);
}

// ---------------------------------------------------------------------------------------------
// CPU pinning of the whole process (every thread, like `taskset -c 0`)
// ---------------------------------------------------------------------------------------------

fn set_all_threads(cpus: &[usize]) {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET write within it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        // SAFETY: as above; `c` is below CPU_SETSIZE on this machine.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let tid: libc::pid_t = entry
            .expect("task")
            .file_name()
            .to_string_lossy()
            .parse()
            .expect("tid");
        // SAFETY: a valid set of the right size; a tid that exited just fails.
        unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    }
}

fn all_cpus() -> Vec<usize> {
    (0..thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(2))
        .collect()
}

/// Runs `f` with every thread (present and future) of the process on CPU 0 only.
fn pinned<R>(f: impl FnOnce() -> R) -> R {
    set_all_threads(&[0]);
    let r = f();
    set_all_threads(&all_cpus());
    r
}

// ---------------------------------------------------------------------------------------------
// The paths. Each returns one sample (ns) per notification.
// ---------------------------------------------------------------------------------------------

/// A waiter thread that reports the clock after each wake.
struct Reporter {
    rx: Receiver<Instant>,
}

impl Reporter {
    /// The latency from `t0` to the waiter's report. Call right after the notifying call
    /// returned: the sample is also classified early or late (see [`Sample`]) for the row.
    fn take(&self, t0: Instant) -> u64 {
        let returned = Instant::now();
        let woke = self.rx.recv_timeout(WAIT).expect("woken");
        let s = Sample::new(t0, returned, woke);
        SAMPLES.with(|v| v.borrow_mut().push(s));
        s.ns
    }
}

/// The early share and the p50 of each mode of `samples` (a mode's p50 is `None` when it has
/// fewer than 20 samples).
struct Modes {
    early_share: f64,
    early_p50: Option<u64>,
    late_p50: Option<u64>,
}

fn modes(samples: &[Sample]) -> Modes {
    let p50 = |early: bool| {
        let v: Vec<u64> = samples
            .iter()
            .filter(|s| s.early == early)
            .map(|s| s.ns)
            .collect();
        (v.len() >= 20).then(|| percentiles(v).p50)
    };
    Modes {
        early_share: samples.iter().filter(|s| s.early).count() as f64
            / samples.len().max(1) as f64,
        early_p50: p50(true),
        late_p50: p50(false),
    }
}

/// The floor's waiter: parked until `gen` moves, then reports the time it woke; returns once
/// `gen` is `u64::MAX` (or the report cannot be sent).
fn floor_waiter(gen: Arc<AtomicU64>, tx: Sender<Instant>) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name("floor-waiter".into())
        .spawn(move || {
            let mut seen = 0;
            loop {
                let mut g = gen.load(Ordering::Acquire);
                while g == seen {
                    thread::park();
                    g = gen.load(Ordering::Acquire);
                }
                let t = Instant::now();
                if g == u64::MAX || tx.send(t).is_err() {
                    return;
                }
                seen = g;
            }
        })
        .expect("floor waiter thread")
}

fn floor(n: usize, pause: Duration) -> Vec<u64> {
    let gen = Arc::new(AtomicU64::new(0));
    let (tx, rx) = bounded(1);
    let waiter = floor_waiter(Arc::clone(&gen), tx);
    let r = Reporter { rx };
    let th = waiter.thread().clone();
    let mut out = Vec::with_capacity(n);
    for i in 1..=n as u64 {
        idle(pause);
        let t0 = Instant::now();
        gen.store(i, Ordering::Release);
        th.unpark();
        out.push(r.take(t0));
    }
    gen.store(u64::MAX, Ordering::Release);
    th.unpark();
    waiter.join().unwrap();
    out
}

/// A mailbox thread blocked in receive; per sample `prepare` runs before the pause and
/// `notify` (given what it returned) makes one message arrive after it.
fn mailbox<X>(
    rt: &Runtime,
    n: usize,
    pause: Duration,
    trap: bool,
    mut prepare: impl FnMut(transom::actor::Pid) -> X,
    notify: impl Fn(transom::actor::Pid, X),
) -> Vec<u64> {
    let mb = rt.open_mailbox(SpawnOptions::new()).expect("mailbox");
    if trap {
        mb.set_trap_exit(true).unwrap();
    }
    let pid = mb.pid();
    let (tx, rx) = bounded(1);
    let waiter = thread::spawn(move || {
        while let Ok(Some(m)) = mb.receive(Duration::MAX) {
            let t = Instant::now();
            if let Message::User { bytes, .. } = &m {
                if bytes.first() == Some(&0xff) {
                    return;
                }
            }
            tx.send(t).unwrap();
        }
    });
    let r = Reporter { rx };
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let x = prepare(pid);
        idle(pause);
        let t0 = Instant::now();
        notify(pid, x);
        out.push(r.take(t0));
    }
    rt.send(pid, vec![0xffu8]).unwrap();
    waiter.join().unwrap();
    out
}

fn mailbox_send(rt: &Runtime, n: usize, pause: Duration) -> Vec<u64> {
    mailbox(
        rt,
        n,
        pause,
        false,
        |_| (),
        |pid, ()| rt.send(pid, vec![1u8]).unwrap(),
    )
}

/// Each sample: a fresh process linked to the trapping mailbox, crashed after the pause.
fn mailbox_exit(rt: &Runtime, n: usize, pause: Duration) -> Vec<u64> {
    mailbox(
        rt,
        n,
        pause,
        true,
        |mb| {
            let p = rt
                .spawn(
                    |_: &ProcessContext, _: Message| -> Result<(), ExitReason> { Ok(()) },
                    SpawnOptions::new(),
                )
                .expect("spawn")
                .pid;
            rt.link(mb, p).expect("link");
            p
        },
        |_, p| rt.exit(p, ExitReason::error(1, "bench crash")).unwrap(),
    )
}

fn idle_participant() -> Participant {
    Participant::spawn(|_: &ProcessContext, _: Message| -> Result<(), ExitReason> { Ok(()) })
}

/// A thread blocked in await_crash on a fresh conversation per sample.
fn await_crash(rt: &Runtime, n: usize, pause: Duration) -> Vec<u64> {
    let (conv_tx, conv_rx) = bounded::<Arc<Conversation>>(1);
    let (tx, rx) = bounded(1);
    let waiter = thread::spawn(move || {
        while let Ok(c) = conv_rx.recv() {
            c.await_crash(Some(WAIT)).unwrap().expect("crash");
            tx.send(Instant::now()).unwrap();
        }
    });
    let r = Reporter { rx };
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let c = Arc::new(
            Conversation::open(
                rt,
                ConversationConfig::new(vec![idle_participant()], OnCrash::Fail),
            )
            .expect("open"),
        );
        let p = c.participants()[0].pid;
        conv_tx.send(Arc::clone(&c)).unwrap();
        idle(pause);
        let t0 = Instant::now();
        rt.exit(p, ExitReason::error(1, "bench crash")).unwrap();
        out.push(r.take(t0));
        c.close();
    }
    drop(conv_tx);
    waiter.join().unwrap();
    out
}

/// Crash → on_crash callback, alternating sample by sample between nobody else waiting and a
/// thread blocked in await_crash on the same conversation (A/B interleaved, so the machine's
/// load hits both alike). Returns (without waiter, with waiter).
fn on_crash(rt: &Runtime, n: usize, pause: Duration) -> (Vec<u64>, Vec<u64>) {
    let (conv_tx, conv_rx) = bounded::<Arc<Conversation>>(1);
    let (ready_tx, ready_rx) = bounded::<()>(1);
    let waiter = thread::spawn(move || {
        while let Ok(c) = conv_rx.recv() {
            ready_tx.send(()).unwrap();
            c.await_crash(Some(WAIT)).unwrap().expect("crash");
        }
    });
    let (tx, rx) = bounded::<Instant>(1);
    let (mut alone, mut with) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..2 * n {
        let with_waiter = i % 2 == 1;
        let tx = tx.clone();
        let cfg = ConversationConfig::new(vec![idle_participant()], OnCrash::Fail);
        let c = Arc::new(Conversation::open(rt, cfg).expect("open"));
        c.add_crash_callback(move |_| {
            let t = Instant::now();
            let _ = tx.try_send(t);
        });
        let p = c.participants()[0].pid;
        if with_waiter {
            conv_tx.send(Arc::clone(&c)).unwrap();
            ready_rx.recv().unwrap();
        }
        idle(pause);
        let t0 = Instant::now();
        rt.exit(p, ExitReason::error(1, "bench crash")).unwrap();
        let t1 = rx.recv_timeout(WAIT).expect("callback ran");
        let sample = ns(t1.saturating_duration_since(t0));
        if with_waiter {
            with.push(sample);
        } else {
            alone.push(sample);
        }
        c.close();
    }
    drop(conv_tx);
    waiter.join().unwrap();
    (alone, with)
}

/// A thread blocked in Conversation::receive; the clock starts in the participant just before
/// it sends the reply.
fn conv_receive(rt: &Runtime, n: usize, pause: Duration) -> Vec<u64> {
    let t0s: Arc<(AtomicU64, Instant)> = Arc::new((AtomicU64::new(0), Instant::now()));
    let echo = {
        let t0s = Arc::clone(&t0s);
        Participant::spawn(
            move |ctx: &ProcessContext, msg: Message| -> Result<(), ExitReason> {
                if let Message::User { from, bytes } = msg {
                    if let Some(req) = decode_request(&bytes) {
                        let reply = encode_reply(req.request_id, req.payload);
                        t0s.0.store(ns(t0s.1.elapsed()), Ordering::Release);
                        let _ = ctx.send(from, reply);
                    }
                }
                Ok(())
            },
        )
    };
    let c = Arc::new(
        Conversation::open(rt, ConversationConfig::new(vec![echo], OnCrash::Fail)).expect("open"),
    );
    let (tx, rx) = bounded(1);
    let waiter = {
        let c = Arc::clone(&c);
        thread::spawn(move || {
            while let Ok(Some(_)) = c.receive(Some(WAIT)) {
                tx.send(Instant::now()).unwrap();
            }
        })
    };
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        idle(pause);
        c.send(None, b"x").unwrap();
        let t1 = rx.recv_timeout(WAIT).expect("reply");
        let t0 = t0s.1 + Duration::from_nanos(t0s.0.load(Ordering::Acquire));
        out.push(ns(t1.saturating_duration_since(t0)));
    }
    c.close();
    waiter.join().unwrap();
    out
}

fn live_pull(n: usize, pause: Duration) -> Vec<u64> {
    let buf = Arc::new(LiveBuffer::<u64>::new(1024, Overflow::DropNewest).unwrap());
    let (tx, rx) = bounded(1);
    let waiter = {
        let buf = Arc::clone(&buf);
        thread::spawn(move || {
            let mut out = Vec::new();
            while buf.pull(16, None, &mut out).is_ok() {
                tx.send(Instant::now()).unwrap();
            }
        })
    };
    let r = Reporter { rx };
    let mut out = Vec::with_capacity(n);
    for i in 1..=n as u64 {
        idle(pause);
        let t0 = Instant::now();
        buf.push(i, i);
        out.push(r.take(t0));
    }
    buf.close();
    waiter.join().unwrap();
    out
}

/// Where a canal-pull sample's clock starts.
#[derive(Clone, Copy, PartialEq)]
enum ClockFrom {
    /// Right before `Store::append`: the append's own cost is in the sample.
    Append,
    /// When the store starts telling its commit listeners: a listener registered before the
    /// canal's (listeners are called in registration order) reads the clock. The sample is
    /// the canal's notification alone: its listener, the wake-up, the pull's re-read.
    Commit,
}

fn canal_pull(n: usize, pause: Duration, cursor: bool, from: ClockFrom) -> Vec<u64> {
    let store = Arc::new(Store::open(Config::in_memory()).expect("store"));
    let base = Instant::now();
    let committed_at = Arc::new(AtomicU64::new(0));
    if from == ClockFrom::Commit {
        let committed_at = Arc::clone(&committed_at);
        store.on_commit(move |_| committed_at.store(ns(base.elapsed()), Ordering::Release));
    }
    let mut canal = if cursor {
        Canal::cursor(&store, CursorOptions::new(Start::End)).unwrap()
    } else {
        Canal::subscription(&store, SubscriptionOptions::new(1024, Overflow::DropNewest)).unwrap()
    };
    let closer = canal.closer();
    let (tx, rx) = bounded(1);
    let waiter = thread::spawn(move || loop {
        match canal.pull_batch(16, None) {
            Ok(Pulled::Items(_)) => tx.send(Instant::now()).unwrap(),
            Ok(_) => {}
            Err(_) => return,
        }
    });
    let r = Reporter { rx };
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        idle(pause);
        let t0 = Instant::now();
        store
            .append(AppendRequest::new("s", 1, vec![1u8]))
            .expect("append");
        let t0 = match from {
            ClockFrom::Append => t0,
            ClockFrom::Commit => base + Duration::from_nanos(committed_at.load(Ordering::Acquire)),
        };
        out.push(r.take(t0));
    }
    closer.close();
    waiter.join().unwrap();
    out
}

/// An atomic alone on its cache lines (two, for the adjacent-line prefetcher).
#[derive(Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

/// A mailbox receiver still in its spin window: it records the time it enters `receive`, the
/// sender sends `delay` after that, and the receiver records the time `receive` returned. Both
/// threads busy-wait on atomics between samples (no park, no channel), so the sender is awake
/// and the message really arrives `delay` into the receiver's spin — a sender that parks between
/// samples wakes microseconds late, so the message came at a random point of the spin (or after
/// it, once the receiver had parked).
fn spin_handoff(rt: &Runtime, n: usize, delay: Duration) -> Vec<u64> {
    let mb = rt.open_mailbox(SpawnOptions::new()).expect("mailbox");
    let pid = mb.pid();
    let base = Instant::now();
    let since = move || (base.elapsed().as_nanos() as u64).max(1);
    // 0 = nothing new; otherwise ns since `base`. Each on its own cache lines: the sender
    // writes them, and a line shared with the receiver's own data (the heap puts small
    // allocations side by side) would add a cache-line transfer to the receiver's path.
    let entered = Arc::new(Padded::default());
    let returned = Arc::new(Padded::default());
    let waiter = {
        let (entered, returned) = (Arc::clone(&entered), Arc::clone(&returned));
        thread::spawn(move || loop {
            entered.0.store(since(), Ordering::Release);
            match mb.receive(Duration::MAX) {
                Ok(Some(Message::User { bytes, .. })) if bytes.first() != Some(&0xff) => {
                    returned.0.store(since(), Ordering::Release)
                }
                _ => return,
            }
        })
    };
    let spin_take = |a: &AtomicU64| loop {
        let v = a.swap(0, Ordering::AcqRel);
        if v != 0 {
            return v;
        }
        std::hint::spin_loop();
    };
    let delay = ns(delay);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t_enter = spin_take(&entered.0);
        while since() < t_enter + delay {
            std::hint::spin_loop();
        }
        let t0 = since();
        rt.send(pid, vec![1u8]).unwrap();
        out.push(spin_take(&returned.0).saturating_sub(t0));
    }
    rt.send(pid, vec![0xffu8]).unwrap();
    waiter.join().unwrap();
    out
}

// ---------------------------------------------------------------------------------------------
// Idle CPU
// ---------------------------------------------------------------------------------------------

fn process_cpu() -> Duration {
    // SAFETY: getrusage fills the zeroed struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn idle_cpu(window: Duration) {
    {
        let rt = Runtime::new(WORKERS).expect("runtime");
        let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
        // Some work first, so the workers have spun and parked.
        for _ in 0..1000 {
            rt.send(mb.pid(), vec![1u8]).unwrap();
        }
        while let Ok(Some(_)) = mb.try_receive() {}
        let blocked = thread::spawn(move || mb.receive(window + Duration::from_secs(5)));
        let c0 = process_cpu();
        thread::sleep(window);
        let used = process_cpu() - c0;
        println!(
            "RESULT idle_cpu/runtime_with_blocked_mailbox window_ms={} cpu_us={}",
            window.as_millis(),
            used.as_micros()
        );
        drop(rt);
        let _ = blocked.join();
    }
    {
        let store = Arc::new(Store::open(Config::in_memory()).expect("store"));
        let mut sub =
            Canal::subscription(&store, SubscriptionOptions::new(64, Overflow::DropNewest))
                .unwrap();
        let mut cur = Canal::cursor(&store, CursorOptions::new(Start::End)).unwrap();
        let (c1, c2) = (sub.closer(), cur.closer());
        let t1 = thread::spawn(move || while let Ok(Pulled::Items(_)) = sub.pull_batch(8, None) {});
        let t2 = thread::spawn(move || while let Ok(Pulled::Items(_)) = cur.pull_batch(8, None) {});
        let c0 = process_cpu();
        thread::sleep(window);
        let used = process_cpu() - c0;
        println!(
            "RESULT idle_cpu/canals_blocked_in_pull window_ms={} cpu_us={}",
            window.as_millis(),
            used.as_micros()
        );
        c1.close();
        c2.close();
        t1.join().unwrap();
        t2.join().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rounds = env_u64("TRANSOM_WAKE_ROUNDS", 5) as usize;
    let n = env_u64("TRANSOM_WAKE_N", 1500) as usize;
    let pause = Duration::from_micros(env_u64("TRANSOM_WAKE_PAUSE_US", 300));
    let idle_window = Duration::from_millis(env_u64("TRANSOM_WAKE_IDLE_MS", 10_000));
    let rt = Runtime::new(WORKERS).expect("runtime");
    // Warm-up.
    let _ = mailbox_send(&rt, 200, Duration::from_micros(50));
    let _ = on_crash(&rt, 200, Duration::from_micros(50));

    let only: Option<Vec<String>> = std::env::var("TRANSOM_WAKE_ONLY")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect());
    // A row is measured when no filter is set, when it is named, or when it is the floor or
    // the base of a named pinned row (the ratios need them).
    let wanted = |name: &str| match &only {
        None => true,
        Some(names) => {
            name == "floor"
                || name == "floor/pinned"
                || names.iter().any(|n| {
                    n == name
                        || n.trim_end_matches("/pinned") == name
                        || (name.starts_with("on_crash") && n.starts_with("on_crash"))
                })
        }
    };
    if env_u64("TRANSOM_WAKE_PAIRED", 1) != 0 {
        PairedFloor::start();
    }
    let _ = PairedFloor::take();
    let mut all: BTreeMap<&'static str, Vec<P>> = BTreeMap::new();
    // Per row and round: the paired floor (see `PairedFloor`), when the row has one.
    let mut paired: BTreeMap<&'static str, Vec<P>> = BTreeMap::new();
    // Per row and round: the early/late split of the row and of its paired floor.
    let mut split: BTreeMap<&'static str, Vec<(Modes, Modes)>> = BTreeMap::new();
    for round in 0..rounds {
        let mut row = |name: &'static str, measure: &mut dyn FnMut() -> Vec<u64>| {
            if !wanted(name) {
                return;
            }
            let _ = PairedFloor::take();
            SAMPLES.with(|v| v.borrow_mut().clear());
            let p = percentiles(measure());
            let classified = SAMPLES.with(|v| std::mem::take(&mut *v.borrow_mut()));
            let fl = PairedFloor::take();
            if !classified.is_empty() && !fl.is_empty() {
                let (m, f) = (modes(&classified), modes(&fl));
                let show = |x: Option<u64>| x.map_or("-".to_owned(), |v| v.to_string());
                println!(
                    "RESULT wake/{name} round={round} early_share={:.2} early_p50_ns={} late_p50_ns={} paired_floor_early_share={:.2} paired_floor_early_p50_ns={} paired_floor_late_p50_ns={}",
                    m.early_share, show(m.early_p50), show(m.late_p50),
                    f.early_share, show(f.early_p50), show(f.late_p50)
                );
                split.entry(name).or_default().push((m, f));
            }
            let fl: Vec<u64> = fl.iter().map(|s| s.ns).collect();
            // The A/B `on_crash` rows are measured together: the second shares the pairing.
            let fl = if fl.is_empty() && name == "on_crash_with_waiter" {
                paired.get("on_crash").and_then(|v| v.last().copied())
            } else if fl.is_empty() {
                None
            } else {
                Some(percentiles(fl))
            };
            let paired_text = fl.map_or(String::new(), |f| {
                format!(
                    " paired_floor_p50_ns={} paired_floor_p99_ns={}",
                    f.p50, f.p99
                )
            });
            println!(
                "RESULT wake/{name} round={round} n={n} p50_ns={} p90_ns={} p99_ns={}{paired_text}",
                p.p50, p.p90, p.p99
            );
            all.entry(name).or_default().push(p);
            if let Some(f) = fl {
                paired.entry(name).or_default().push(f);
            }
        };
        row("floor", &mut || floor(n, pause));
        row("mailbox_send", &mut || mailbox_send(&rt, n, pause));
        row("mailbox_exit", &mut || mailbox_exit(&rt, n, pause));
        row("await_crash", &mut || await_crash(&rt, n, pause));
        row("conv_receive", &mut || conv_receive(&rt, n, pause));
        row("live_pull", &mut || live_pull(n, pause));
        row("canal_sub_pull", &mut || {
            canal_pull(n, pause, false, ClockFrom::Append)
        });
        row("canal_cursor_pull", &mut || {
            canal_pull(n, pause, true, ClockFrom::Append)
        });
        row("canal_sub_notify", &mut || {
            canal_pull(n, pause, false, ClockFrom::Commit)
        });
        row("canal_cursor_notify", &mut || {
            canal_pull(n, pause, true, ClockFrom::Commit)
        });
        row("spin_handoff", &mut || {
            spin_handoff(&rt, n, Duration::from_nanos(500))
        });
        row("spin_handoff_late", &mut || {
            spin_handoff(&rt, n, Duration::from_micros(6))
        });
        let mut with_waiter = None;
        row("on_crash", &mut || {
            let (alone, with) = on_crash(&rt, n, pause);
            with_waiter = Some(with);
            alone
        });
        row("on_crash_with_waiter", &mut || {
            with_waiter.take().expect("measured with on_crash")
        });
        let np = n / 2;
        row("floor/pinned", &mut || pinned(|| floor(np, pause)));
        row("mailbox_send/pinned", &mut || {
            pinned(|| mailbox_send(&rt, np, pause))
        });
        row("mailbox_exit/pinned", &mut || {
            pinned(|| mailbox_exit(&rt, np, pause))
        });
        row("await_crash/pinned", &mut || {
            pinned(|| await_crash(&rt, np, pause))
        });
        row("conv_receive/pinned", &mut || {
            pinned(|| conv_receive(&rt, np, pause))
        });
        row("live_pull/pinned", &mut || pinned(|| live_pull(np, pause)));
        row("canal_sub_pull/pinned", &mut || {
            pinned(|| canal_pull(np, pause, false, ClockFrom::Append))
        });
        row("canal_cursor_pull/pinned", &mut || {
            pinned(|| canal_pull(np, pause, true, ClockFrom::Append))
        });
    }

    println!("\nSUMMARY (median over {rounds} rounds; ratios are per-round, then the median;");
    println!("floor = the floor paired sample by sample with the row, else the round's floor row)");
    println!(
        "{:<26} {:>8} {:>8} {:>8} {:>10} {:>10} {:>12} {:>10}",
        "path", "p50_ns", "p90_ns", "p99_ns", "p50/floor", "p99/floor", "pinned/2cpu", "floor_p50"
    );
    let floor_of = |name: &str| -> Vec<P> {
        match paired.get(name) {
            Some(f) if f.len() == all[name].len() => f.clone(),
            _ => all[if name.ends_with("/pinned") {
                "floor/pinned"
            } else {
                "floor"
            }]
            .clone(),
        }
    };
    for (name, ps) in &all {
        let is_pinned = name.ends_with("/pinned");
        let fl = floor_of(name);
        let floor_p50 = median(fl.iter().map(|p| p.p50 as f64).collect());
        let m = |f: fn(&P) -> u64| median(ps.iter().map(|p| f(p) as f64).collect());
        let r = |f: fn(&P) -> u64| {
            median(
                ps.iter()
                    .zip(&fl)
                    .map(|(p, q)| f(p) as f64 / f(q) as f64)
                    .collect(),
            )
        };
        let pin = if is_pinned {
            let base = &all[name.trim_end_matches("/pinned")];
            format!(
                "{:.2}",
                median(
                    ps.iter()
                        .zip(base)
                        .map(|(p, q)| p.p50 as f64 / q.p50 as f64)
                        .collect()
                )
            )
        } else {
            "-".into()
        };
        println!(
            "{:<26} {:>8.0} {:>8.0} {:>8.0} {:>10.2} {:>10.2} {:>12} {:>10.0}",
            name,
            m(|p| p.p50),
            m(|p| p.p90),
            m(|p| p.p99),
            r(|p| p.p50),
            r(|p| p.p99),
            pin,
            floor_p50
        );
        println!(
            "RESULT summary/{name} p50_ns={:.0} p90_ns={:.0} p99_ns={:.0} p50_over_floor={:.3} p99_over_floor={:.3} pinned_over_2cpu={pin} floor_p50_ns={floor_p50:.0}",
            m(|p| p.p50),
            m(|p| p.p90),
            m(|p| p.p99),
            r(|p| p.p50),
            r(|p| p.p99)
        );
    }
    println!(
        "\nEARLY / LATE (see the module doc: early = the woken thread ran before the notifying"
    );
    println!(
        "call returned; ratios to the paired floor's p50 in the same mode, median over rounds)"
    );
    println!(
        "{:<26} {:>8} {:>12} {:>14} {:>14}",
        "path", "early", "floor_early", "early/floor", "late/floor"
    );
    for (name, rounds) in &split {
        let med_of = |v: Vec<f64>| if v.is_empty() { f64::NAN } else { median(v) };
        let ratio = |pick: fn(&Modes) -> Option<u64>| {
            med_of(
                rounds
                    .iter()
                    .filter_map(|(m, f)| Some(pick(m)? as f64 / pick(f)? as f64))
                    .collect(),
            )
        };
        let early = med_of(rounds.iter().map(|(m, _)| m.early_share).collect());
        let floor_early = med_of(rounds.iter().map(|(_, f)| f.early_share).collect());
        let (re, rl) = (ratio(|m| m.early_p50), ratio(|m| m.late_p50));
        println!(
            "{:<26} {:>8.2} {:>12.2} {:>14.2} {:>14.2}",
            name, early, floor_early, re, rl
        );
        println!(
            "RESULT split/{name} early_share={early:.3} floor_early_share={floor_early:.3} early_p50_over_floor_early={re:.3} late_p50_over_floor_late={rl:.3}"
        );
    }
    if let (Some(with), Some(alone)) = (all.get("on_crash_with_waiter"), all.get("on_crash")) {
        let wc = median(
            with.iter()
                .zip(alone)
                .map(|(a, b)| a.p50 as f64 / b.p50 as f64)
                .collect(),
        );
        println!("RESULT summary/on_crash_with_waiter_over_no_waiter p50_ratio={wc:.3}");
    }
    drop(rt);
    if only.is_none() {
        idle_cpu(idle_window);
    }
}
