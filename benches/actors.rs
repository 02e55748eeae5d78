//! Actor and conversation benchmarks, peers measured in the same run:
//!
//! 1. crash-to-callback latency (a participant's `exit` call → the first instruction of the
//!    conversation's `on_crash` callback), p50/p99 over >= 100,000 crashes, supervisor idle;
//!    through the Rust API and through the C ABI (`extern "C"` callback);
//! 2. request/reply round trip through a conversation vs a crossbeam-channel ping-pong floor;
//! 3. fire-and-forget throughput into one process vs ractor on a current-thread tokio runtime;
//! 4. the cost of opening (and closing) a conversation with 2 spawned participants;
//! 5. the idle CPU use of a runtime with no work.
//!
//! (2) and (3) are measured twice: by criterion, and interleaved A/B in short alternating
//! batches (same load for both sides on a shared machine), reported as per-round ratios.
//!
//! Criterion's statistics give no percentiles, so (1) is a plain timing loop over a `Vec` of
//! samples, and (5) reads `getrusage` over a window of wall time. They and the interleaved A/B
//! runs print one line each starting with `RESULT`, so that runs can be compared by a script.
//! Knobs (environment): `TRANSOM_BENCH_CRASHES` (default 100000), `TRANSOM_BENCH_IDLE_MS`
//! (2000), `TRANSOM_BENCH_AB_ROUNDS` (40).
//!
//! Run: `cargo bench -p transom-benches --bench actors`.

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use transom::actor::{ExitReason, Message, ProcessContext, Runtime, SpawnOptions};
use transom::conversation::wire::{decode_request, encode_reply};
use transom::conversation::{Conversation, ConversationConfig, OnCrash, Participant};

const WAIT: Duration = Duration::from_secs(10);
/// Workers of every transom runtime here (the machine has 2 cores).
const WORKERS: usize = 2;
/// Crashes measured per crash-latency mode.
const CRASHES: usize = 100_000;
/// Messages per fire-and-forget iteration.
const FIRE_N: u64 = 10_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A participant that replies to every request with its payload.
fn echo_participant() -> Participant {
    Participant::spawn(
        |ctx: &ProcessContext, msg: Message| -> Result<(), ExitReason> {
            if let Message::User { from, bytes } = msg {
                if let Some(req) = decode_request(&bytes) {
                    let _ = ctx.send(from, encode_reply(req.request_id, req.payload));
                }
            }
            Ok(())
        },
    )
}

/// A participant that does nothing (it only exists to crash).
fn idle_participant() -> Participant {
    Participant::spawn(|_: &ProcessContext, _: Message| -> Result<(), ExitReason> { Ok(()) })
}

// ---------------------------------------------------------------------------------------------
// 1. Crash-to-callback latency
// ---------------------------------------------------------------------------------------------

/// How the runtime is left before each crash.
#[derive(Clone, Copy, Debug)]
enum Pause {
    /// Idle long enough that every worker has finished its spin and parked (the supervisor is
    /// alive and has nothing to do): the case the target is about.
    Parked(Duration),
    /// Crash right after the conversation is opened (workers may still be spinning from the
    /// previous iteration's close).
    BackToBack,
}

struct Percentiles {
    n: usize,
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    max: u64,
    mean: u64,
}

fn percentiles(mut ns: Vec<u64>) -> Percentiles {
    ns.sort_unstable();
    let n = ns.len();
    let at = |q: f64| ns[((n as f64 * q) as usize).min(n - 1)];
    Percentiles {
        n,
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        p999: at(0.999),
        max: ns[n - 1],
        mean: ns.iter().sum::<u64>() / n as u64,
    }
}

fn print_latency(label: &str, p: &Percentiles) {
    println!(
        "RESULT crash_to_callback/{label} n={} p50_ns={} p90_ns={} p99_ns={} p999_ns={} max_ns={} mean_ns={}",
        p.n, p.p50, p.p90, p.p99, p.p999, p.max, p.mean
    );
}

fn pause(p: Pause) {
    if let Pause::Parked(d) = p {
        // Not a test: the point is to let the runtime go idle, which takes wall time.
        thread::sleep(d);
    }
}

/// One crash per iteration through the Rust API: open a conversation with one idle
/// participant, register `on_crash` (its first instruction reads the clock), let the runtime go
/// idle, read the clock, `exit` the participant with an ERROR reason, wait for the callback.
fn crash_latency_rust(rt: &Runtime, n: usize, mode: Pause) -> Vec<u64> {
    let (tx, rx) = crossbeam_channel::bounded::<Instant>(1);
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let conv = Conversation::open(
            rt,
            ConversationConfig::new(vec![idle_participant()], OnCrash::Fail),
        )
        .expect("open");
        let tx = tx.clone();
        conv.add_crash_callback(move |_info| {
            let t = Instant::now();
            let _ = tx.try_send(t);
        });
        let pid = conv.state().participants[0].pid;
        let reason = ExitReason::error(1, "bench crash");
        pause(mode);
        let t0 = Instant::now();
        rt.exit(pid, reason).expect("exit");
        let t1 = rx.recv_timeout(WAIT).expect("crash callback");
        samples.push(t1.saturating_duration_since(t0).as_nanos() as u64);
        drop(conv);
    }
    samples
}

/// The same through the C ABI: `transom_conversation_open` with one participant whose behaviour
/// is an `extern "C" fn`, a `transom_crash_callback` whose `call` is an `extern "C" fn` (that is
/// "the C callback"; its first instruction reads the clock), `transom_runtime_exit` timed.
mod c_abi {
    use super::*;
    use std::ffi::{c_char, c_void};
    use std::ptr;
    use transom::ffi::actor::{
        transom_behaviour_callback, transom_exit_reason, transom_message, transom_pid,
        transom_runtime, transom_runtime_exit, transom_runtime_free, transom_runtime_new,
        TRANSOM_EXIT_ERROR,
    };
    use transom::ffi::conversation::{
        transom_compensate_callback, transom_conversation, transom_conversation_add_crash_callback,
        transom_conversation_config, transom_conversation_free, transom_conversation_open,
        transom_conversation_participants, transom_crash_callback, transom_crash_info,
        transom_participant, transom_participant_state, TRANSOM_MODE_EPHEMERAL,
        TRANSOM_ON_CRASH_FAIL,
    };
    use transom::ffi::status::TRANSOM_OK;

    unsafe extern "C" fn idle_handle(
        _ctx: *mut c_void,
        _self_pid: transom_pid,
        _message: *const transom_message,
    ) -> i32 {
        0
    }

    /// The C crash callback: `ctx` is a `crossbeam_channel::Sender<Instant>` owned by the bench.
    unsafe extern "C" fn on_crash(ctx: *mut c_void, _info: *const transom_crash_info) {
        let t = Instant::now();
        // SAFETY: ctx points to the Sender that `crash_latency_ffi` keeps alive until every
        // conversation is freed (and free waits for calls in flight).
        let tx = unsafe { &*(ctx as *const crossbeam_channel::Sender<Instant>) };
        let _ = tx.try_send(t);
    }

    pub struct CRuntime(*mut transom_runtime);

    impl CRuntime {
        pub fn new(workers: usize) -> CRuntime {
            let mut rt = ptr::null_mut();
            // SAFETY: rt is a valid out pointer.
            assert_eq!(unsafe { transom_runtime_new(workers, &mut rt) }, TRANSOM_OK);
            CRuntime(rt)
        }
    }

    impl Drop for CRuntime {
        fn drop(&mut self) {
            // SAFETY: from transom_runtime_new, freed once, no other calls race it.
            unsafe { transom_runtime_free(self.0) }
        }
    }

    pub fn crash_latency_ffi(rt: &CRuntime, n: usize, mode: Pause) -> Vec<u64> {
        let (tx, rx) = crossbeam_channel::bounded::<Instant>(1);
        let tx_ctx = &tx as *const crossbeam_channel::Sender<Instant> as *mut c_void;
        let mut reason = transom_exit_reason {
            kind: TRANSOM_EXIT_ERROR,
            code: 1,
            message: [0; 256],
        };
        for (d, s) in reason.message.iter_mut().zip(b"bench crash") {
            *d = *s as c_char;
        }
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let participant = transom_participant {
                pid: 0,
                behaviour: transom_behaviour_callback {
                    ctx: ptr::null_mut(),
                    call: Some(idle_handle),
                    drop: None,
                },
            };
            let config = transom_conversation_config {
                participants: &participant,
                participant_count: 1,
                on_crash: TRANSOM_ON_CRASH_FAIL,
                compensate: transom_compensate_callback {
                    ctx: ptr::null_mut(),
                    call: None,
                    drop: None,
                },
                timeout_ns: 0,
                mode: TRANSOM_MODE_EPHEMERAL,
            };
            let mut conv: *mut transom_conversation = ptr::null_mut();
            // SAFETY: valid runtime, config and out pointer for the duration of the call.
            let st = unsafe { transom_conversation_open(rt.0, &config, &mut conv) };
            assert_eq!(st, TRANSOM_OK, "transom_conversation_open");
            let cb = transom_crash_callback {
                ctx: tx_ctx,
                call: Some(on_crash),
                drop: None,
            };
            // SAFETY: conv is open; the callback's ctx outlives the conversation.
            let mut cb_id = 0u64;
            assert_eq!(
                unsafe { transom_conversation_add_crash_callback(conv, cb, &mut cb_id) },
                TRANSOM_OK
            );
            // SAFETY: all-zero is a valid value of this plain C struct.
            let mut part: transom_participant_state = unsafe { std::mem::zeroed() };
            let mut count = 0usize;
            // SAFETY: conv is open; `part` is one writable participant entry.
            assert_eq!(
                unsafe { transom_conversation_participants(conv, &mut part, 1, &mut count) },
                TRANSOM_OK
            );
            let pid = part.pid;
            pause(mode);
            let t0 = Instant::now();
            // SAFETY: valid runtime and reason.
            let st = unsafe { transom_runtime_exit(rt.0, pid, &reason) };
            assert_eq!(st, TRANSOM_OK, "transom_runtime_exit");
            let t1 = rx.recv_timeout(WAIT).expect("C crash callback");
            samples.push(t1.saturating_duration_since(t0).as_nanos() as u64);
            // SAFETY: from transom_conversation_open, freed once.
            unsafe { transom_conversation_free(conv) };
        }
        samples
    }
}

/// Diagnostics that split the crash latency: the same scheduling hop without the conversation
/// (a runtime monitor callback), and the machine's floor for waking a parked thread (a
/// `Condvar`-parked thread notified by the timing thread; no transom involved).
mod diag {
    use super::*;
    use std::sync::{Arc, Condvar, Mutex};

    pub fn monitor_latency(rt: &Runtime, n: usize, mode: Pause) -> Vec<u64> {
        let (tx, rx) = crossbeam_channel::bounded::<Instant>(1);
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let pid = rt
                .spawn(
                    |_: &ProcessContext, _: Message| -> Result<(), ExitReason> { Ok(()) },
                    SpawnOptions::new(),
                )
                .expect("spawn")
                .pid;
            let tx = tx.clone();
            rt.monitor(pid, move |_, _| {
                let t = Instant::now();
                let _ = tx.try_send(t);
            })
            .expect("monitor");
            let reason = ExitReason::error(1, "bench crash");
            pause(mode);
            let t0 = Instant::now();
            rt.exit(pid, reason).expect("exit");
            let t1 = rx.recv_timeout(WAIT).expect("monitor callback");
            samples.push(t1.saturating_duration_since(t0).as_nanos() as u64);
        }
        samples
    }

    /// A thread blocked in `Condvar::wait` (futex), woken by `notify_one` after the pause.
    pub fn thread_wake_floor(n: usize, mode: Pause) -> Vec<u64> {
        let pair = Arc::new((Mutex::new((0u64, None::<Instant>)), Condvar::new()));
        let (tx, rx) = crossbeam_channel::bounded::<Instant>(1);
        let waiter = {
            let pair = Arc::clone(&pair);
            thread::spawn(move || {
                let (m, cv) = &*pair;
                let mut seen = 0u64;
                loop {
                    let mut g = m.lock().unwrap();
                    while g.0 == seen {
                        g = cv.wait(g).unwrap();
                    }
                    let t = Instant::now();
                    seen = g.0;
                    if seen == u64::MAX {
                        return;
                    }
                    drop(g);
                    let _ = tx.try_send(t);
                }
            })
        };
        let mut samples = Vec::with_capacity(n);
        let (m, cv) = &*pair;
        for i in 1..=n as u64 {
            pause(mode);
            let t0 = Instant::now();
            m.lock().unwrap().0 = i;
            cv.notify_one();
            let t1 = rx.recv_timeout(WAIT).expect("woken");
            samples.push(t1.saturating_duration_since(t0).as_nanos() as u64);
        }
        m.lock().unwrap().0 = u64::MAX;
        cv.notify_one();
        waiter.join().unwrap();
        samples
    }
}

fn bench_crash_latency(_c: &mut Criterion) {
    let n = env_usize("TRANSOM_BENCH_CRASHES", CRASHES);
    let n_diag = (n / 5).max(1_000);
    let idle = Pause::Parked(Duration::from_micros(200));
    {
        let rt = Runtime::new(WORKERS).expect("runtime");
        // Warm-up (allocator, page faults, lazily created thread state).
        let _ = crash_latency_rust(&rt, 2_000, Pause::BackToBack);
        let p = percentiles(crash_latency_rust(&rt, n, idle));
        print_latency("rust/idle_parked", &p);
        let p = percentiles(crash_latency_rust(&rt, n, Pause::BackToBack));
        print_latency("rust/back_to_back", &p);
        let p = percentiles(diag::monitor_latency(&rt, n_diag, idle));
        print_latency("diag_monitor_callback/idle_parked", &p);
        let p = percentiles(diag::monitor_latency(&rt, n_diag, Pause::BackToBack));
        print_latency("diag_monitor_callback/back_to_back", &p);
        // Not idle: a process that keeps sending itself messages keeps the workers out of
        // the park, so this shows the cost of the path itself without a thread wake-up.
        let busy = rt
            .spawn(
                |ctx: &ProcessContext, _: Message| -> Result<(), ExitReason> {
                    let _ = ctx.send(ctx.pid(), Box::<[u8]>::default());
                    Ok(())
                },
                SpawnOptions::new(),
            )
            .expect("spawn")
            .pid;
        rt.send(busy, Box::<[u8]>::default()).expect("send");
        let p = percentiles(crash_latency_rust(&rt, n_diag, Pause::BackToBack));
        print_latency("diag_rust_workers_kept_busy/back_to_back", &p);
        rt.exit(busy, ExitReason::shutdown()).expect("exit busy");
    }
    {
        let rt = c_abi::CRuntime::new(WORKERS);
        let _ = c_abi::crash_latency_ffi(&rt, 2_000, Pause::BackToBack);
        let p = percentiles(c_abi::crash_latency_ffi(&rt, n, idle));
        print_latency("c_abi/idle_parked", &p);
        let p = percentiles(c_abi::crash_latency_ffi(&rt, n, Pause::BackToBack));
        print_latency("c_abi/back_to_back", &p);
    }
    let p = percentiles(diag::thread_wake_floor(n_diag, idle));
    print_latency("diag_condvar_thread_wake_floor/idle_parked", &p);
}

// ---------------------------------------------------------------------------------------------
// 2. Request/reply round trip
// ---------------------------------------------------------------------------------------------

fn bench_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("round_trip");
    g.throughput(Throughput::Elements(1));

    // Floor: two threads, two bounded(1) channels.
    {
        let (to_b, b_rx) = crossbeam_channel::bounded::<u64>(1);
        let (to_a, a_rx) = crossbeam_channel::bounded::<u64>(1);
        let peer = thread::spawn(move || {
            while let Ok(v) = b_rx.recv() {
                if to_a.send(v).is_err() {
                    break;
                }
            }
        });
        g.bench_function("crossbeam_channel_ping_pong", |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                to_b.send(i).unwrap();
                black_box(a_rx.recv().unwrap())
            })
        });
        drop(to_b);
        peer.join().unwrap();
    }

    let rt = Runtime::new(WORKERS).expect("runtime");

    // Conversation: send -> participant (callback process) -> reply -> receive.
    {
        let conv = Conversation::open(
            &rt,
            ConversationConfig::new(vec![echo_participant()], OnCrash::Fail),
        )
        .expect("open");
        g.bench_function("transom_conversation", |b| {
            b.iter(|| {
                let id = conv.send(None, b"ping").unwrap();
                let r = conv.receive(Some(WAIT)).unwrap().unwrap();
                debug_assert_eq!(r.request_id, id);
                black_box(r)
            })
        });
    }

    // Diagnostic: the bare runtime (mailbox process <-> callback echo process), no
    // conversation bookkeeping, to split the cost.
    {
        let inbox = rt.open_mailbox(SpawnOptions::new()).expect("mailbox");
        let reply_to = inbox.pid();
        let echo = rt
            .spawn(
                move |ctx: &ProcessContext, msg: Message| -> Result<(), ExitReason> {
                    if let Message::User { bytes, .. } = msg {
                        let _ = ctx.send(reply_to, bytes);
                    }
                    Ok(())
                },
                SpawnOptions::new(),
            )
            .expect("spawn")
            .pid;
        g.bench_function("transom_actor_mailbox_echo", |b| {
            b.iter(|| {
                inbox.send(echo, &b"ping"[..]).unwrap();
                black_box(inbox.receive(WAIT).unwrap().expect("a message in time"))
            })
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// 3. Fire-and-forget throughput into one process
// ---------------------------------------------------------------------------------------------

mod ractor_peer {
    use super::*;
    use ractor::{Actor, ActorProcessingErr, ActorRef};

    /// Counts messages; reports every `every`-th on `done`.
    pub struct Counter;

    pub struct Args {
        pub every: u64,
        pub done: tokio::sync::mpsc::UnboundedSender<u64>,
    }

    pub struct State {
        count: u64,
        every: u64,
        done: tokio::sync::mpsc::UnboundedSender<u64>,
    }

    impl Actor for Counter {
        type Msg = Box<[u8]>;
        type State = State;
        type Arguments = Args;

        async fn pre_start(
            &self,
            _myself: ActorRef<Self::Msg>,
            args: Args,
        ) -> Result<State, ActorProcessingErr> {
            Ok(State {
                count: 0,
                every: args.every,
                done: args.done,
            })
        }

        async fn handle(
            &self,
            _myself: ActorRef<Self::Msg>,
            msg: Self::Msg,
            state: &mut State,
        ) -> Result<(), ActorProcessingErr> {
            black_box(msg);
            state.count += 1;
            if state.count.is_multiple_of(state.every) {
                let _ = state.done.send(state.count);
            }
            Ok(())
        }
    }
}

fn bench_fire_and_forget(c: &mut Criterion) {
    let mut g = c.benchmark_group("fire_and_forget");
    g.throughput(Throughput::Elements(FIRE_N));
    let payload = 7u64.to_le_bytes();

    {
        let rt = Runtime::new(WORKERS).expect("runtime");
        let (done_tx, done_rx) = crossbeam_channel::unbounded::<u64>();
        let mut count = 0u64;
        let pid = rt
            .spawn(
                move |_: &ProcessContext, msg: Message| -> Result<(), ExitReason> {
                    black_box(msg);
                    count += 1;
                    if count.is_multiple_of(FIRE_N) {
                        let _ = done_tx.send(count);
                    }
                    Ok(())
                },
                SpawnOptions::new(),
            )
            .expect("spawn")
            .pid;
        g.bench_function("transom_callback_process", |b| {
            b.iter(|| {
                for _ in 0..FIRE_N {
                    rt.send(pid, &payload[..]).unwrap();
                }
                black_box(done_rx.recv_timeout(WAIT).unwrap())
            })
        });
    }

    {
        let tokio_rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio");
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let (actor, handle) = tokio_rt
            .block_on(ractor::Actor::spawn(
                None,
                ractor_peer::Counter,
                ractor_peer::Args {
                    every: FIRE_N,
                    done: done_tx,
                },
            ))
            .expect("ractor spawn");
        g.bench_function("ractor_current_thread_tokio", |b| {
            b.iter(|| {
                tokio_rt.block_on(async {
                    for _ in 0..FIRE_N {
                        let sent = actor.send_message(Box::from(&payload[..]));
                        assert!(sent.is_ok(), "ractor send");
                    }
                    black_box(done_rx.recv().await.unwrap())
                })
            })
        });
        actor.stop(None);
        let _ = tokio_rt.block_on(handle);
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// 2b/3b. Interleaved A/B: the peer and transom alternate in short batches, so both see the same
// machine load (this box is shared and noisy; criterion measures them minutes apart).
// ---------------------------------------------------------------------------------------------

/// Per-op nanoseconds of `f` run `ops` times.
fn time_batch(ops: u64, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..ops {
        f();
    }
    t.elapsed().as_nanos() as f64 / ops as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn print_ab(name: &str, peer: &str, a: Vec<f64>, ours: &str, b: Vec<f64>) {
    let mut ratios: Vec<f64> = b.iter().zip(&a).map(|(b, a)| b / a).collect();
    ratios.sort_by(|x, y| x.partial_cmp(y).unwrap());
    let q = |f: f64| ratios[((ratios.len() as f64 * f) as usize).min(ratios.len() - 1)];
    println!(
        "RESULT {name} rounds={} {peer}_ns_per_op={:.1} {ours}_ns_per_op={:.1} median_ratio_{ours}_over_{peer}={:.3} ratio_p25={:.3} ratio_p75={:.3}",
        a.len(),
        median(a),
        median(b),
        q(0.5),
        q(0.25),
        q(0.75)
    );
}

fn bench_interleaved(_c: &mut Criterion) {
    let rounds = env_usize("TRANSOM_BENCH_AB_ROUNDS", 40);

    // Round trip: crossbeam ping-pong vs conversation send/receive.
    {
        let (to_b, b_rx) = crossbeam_channel::bounded::<u64>(1);
        let (to_a, a_rx) = crossbeam_channel::bounded::<u64>(1);
        let peer = thread::spawn(move || {
            while let Ok(v) = b_rx.recv() {
                if to_a.send(v).is_err() {
                    break;
                }
            }
        });
        let rt = Runtime::new(WORKERS).expect("runtime");
        let conv = Conversation::open(
            &rt,
            ConversationConfig::new(vec![echo_participant()], OnCrash::Fail),
        )
        .expect("open");
        let ops = 2_000;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            a.push(time_batch(ops, || {
                to_b.send(1).unwrap();
                black_box(a_rx.recv().unwrap());
            }));
            b.push(time_batch(ops, || {
                conv.send(None, b"ping").unwrap();
                black_box(conv.receive(Some(WAIT)).unwrap().unwrap());
            }));
        }
        print_ab("round_trip_interleaved", "crossbeam", a, "conversation", b);
        drop(to_b);
        peer.join().unwrap();
    }

    // Fire-and-forget: ractor (current-thread tokio) vs a transom callback process.
    {
        let payload = 7u64.to_le_bytes();
        let rt = Runtime::new(WORKERS).expect("runtime");
        let (done_tx, done_rx) = crossbeam_channel::unbounded::<u64>();
        let mut count = 0u64;
        let pid = rt
            .spawn(
                move |_: &ProcessContext, msg: Message| -> Result<(), ExitReason> {
                    black_box(msg);
                    count += 1;
                    if count.is_multiple_of(FIRE_N) {
                        let _ = done_tx.send(count);
                    }
                    Ok(())
                },
                SpawnOptions::new(),
            )
            .expect("spawn")
            .pid;
        let tokio_rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio");
        let (rdone_tx, mut rdone_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let (actor, handle) = tokio_rt
            .block_on(ractor::Actor::spawn(
                None,
                ractor_peer::Counter,
                ractor_peer::Args {
                    every: FIRE_N,
                    done: rdone_tx,
                },
            ))
            .expect("ractor spawn");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            tokio_rt.block_on(async {
                for _ in 0..FIRE_N {
                    let sent = actor.send_message(Box::from(&payload[..]));
                    assert!(sent.is_ok(), "ractor send");
                }
                black_box(rdone_rx.recv().await.unwrap());
            });
            a.push(t.elapsed().as_nanos() as f64 / FIRE_N as f64);
            let t = Instant::now();
            for _ in 0..FIRE_N {
                rt.send(pid, &payload[..]).unwrap();
            }
            black_box(done_rx.recv_timeout(WAIT).unwrap());
            b.push(t.elapsed().as_nanos() as f64 / FIRE_N as f64);
        }
        // Report as time per message; transom's speedup is the inverse of the ratio.
        print_ab("fire_and_forget_interleaved", "ractor", a, "transom", b);
        actor.stop(None);
        let _ = tokio_rt.block_on(handle);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Spawn cost of a conversation with 2 participants
// ---------------------------------------------------------------------------------------------

fn bench_spawn(c: &mut Criterion) {
    let mut g = c.benchmark_group("conversation_spawn");
    g.throughput(Throughput::Elements(1));
    let rt = Runtime::new(WORKERS).expect("runtime");
    g.bench_function("open_close_2_participants", |b| {
        b.iter(|| {
            let conv = Conversation::open(
                &rt,
                ConversationConfig::new(
                    vec![echo_participant(), echo_participant()],
                    OnCrash::Fail,
                ),
            )
            .unwrap();
            drop(black_box(conv)); // drop = close
        })
    });
    // Open alone (close untimed), to see how the total splits.
    g.bench_function("open_only_2_participants", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let conv = Conversation::open(
                    &rt,
                    ConversationConfig::new(
                        vec![echo_participant(), echo_participant()],
                        OnCrash::Fail,
                    ),
                )
                .unwrap();
                total += t.elapsed();
                drop(black_box(conv));
            }
            total
        })
    });
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// 5. Idle CPU use
// ---------------------------------------------------------------------------------------------

/// User + system CPU time of the whole process (all threads).
fn process_cpu() -> Duration {
    // SAFETY: `usage` is a plain C struct that getrusage fully writes on success; zeroed is a
    // valid bit pattern for it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU-seconds per wall-second over `window`, the calling thread blocked on a channel.
fn cpu_per_wall(window: Duration) -> f64 {
    let (_tx, rx) = crossbeam_channel::bounded::<()>(0);
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    let _ = rx.recv_timeout(window);
    let wall = t0.elapsed();
    let cpu = process_cpu() - cpu0;
    cpu.as_secs_f64() / wall.as_secs_f64()
}

fn bench_idle_cpu(_c: &mut Criterion) {
    let window = Duration::from_millis(env_usize("TRANSOM_BENCH_IDLE_MS", 2_000) as u64);
    // Baseline: no runtime at all (criterion and the test harness threads, if any).
    let base = cpu_per_wall(window);
    println!("RESULT idle_cpu/no_runtime cpu_s_per_wall_s={base:.6}");

    let rt = Runtime::new(2).expect("runtime");
    let fresh = cpu_per_wall(window);
    println!("RESULT idle_cpu/runtime_2_workers_fresh cpu_s_per_wall_s={fresh:.6}");

    // After some work, with an idle conversation (supervisor alive, 2 participants) left open.
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(vec![echo_participant(), echo_participant()], OnCrash::Fail),
    )
    .expect("open");
    for _ in 0..1_000 {
        conv.send(None, b"x").unwrap();
        conv.receive(Some(WAIT)).unwrap().unwrap();
    }
    let after = cpu_per_wall(window);
    println!("RESULT idle_cpu/runtime_2_workers_idle_conversation cpu_s_per_wall_s={after:.6}");
    drop(conv);
    drop(rt);
}

// ---------------------------------------------------------------------------------------------

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_idle_cpu, bench_round_trip, bench_fire_and_forget, bench_interleaved,
        bench_spawn, bench_crash_latency
}
criterion_main!(benches);
