//! Behaviour tests of the actor runtime: pids, delivery, links, monitors, panics, mailboxes and
//! shutdown. No sleeps: every wait is a channel receive or an API call with a timeout.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// Long enough that it only matters when something is broken.
const WAIT: Duration = Duration::from_secs(10);

fn runtime(workers: usize) -> Runtime {
    Runtime::new(workers).expect("runtime starts")
}

/// Pins the closure signature a behaviour needs (helps closure type inference).
fn behaviour<F>(f: F) -> F
where
    F: FnMut(&ProcessContext, Message) -> Result<(), ExitReason> + Send + 'static,
{
    f
}

/// A behaviour that forwards every message it handles into a channel.
fn recorder(tx: Sender<Message>) -> impl Behaviour {
    behaviour(move |_, msg| {
        let _ = tx.send(msg);
        Ok(())
    })
}

/// A behaviour that counts its drops.
struct Counted<B> {
    inner: B,
    drops: Arc<AtomicUsize>,
}

impl<B: Behaviour> Behaviour for Counted<B> {
    fn handle(&mut self, ctx: &ProcessContext, msg: Message) -> Result<(), ExitReason> {
        self.inner.handle(ctx, msg)
    }
}

impl<B> Drop for Counted<B> {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

fn idle() -> impl Behaviour {
    behaviour(|_, _| Ok(()))
}

/// Monitors `pid` and returns the channel its callback reports on.
fn watch(rt: &RuntimeHandle, pid: Pid) -> Receiver<(Pid, ExitReason)> {
    let (tx, rx) = mpsc::channel();
    rt.monitor(pid, move |p, r| {
        let _ = tx.send((p, r.clone()));
    })
    .expect("monitor");
    rx
}

fn exit_of(rx: &Receiver<(Pid, ExitReason)>) -> ExitReason {
    rx.recv_timeout(WAIT).expect("monitor fired").1
}

fn user(msg: Message) -> (Pid, Vec<u8>) {
    match msg {
        Message::User { from, bytes } => (from, bytes.into_vec()),
        other => panic!("expected a user message, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Pids and delivery
// ---------------------------------------------------------------------------------------------

#[test]
fn pids_are_never_reused_even_after_exit() {
    let rt = runtime(2);
    let mut seen = HashSet::new();
    let mut last = 0;
    for i in 0..200 {
        let pid = if i % 2 == 0 {
            let pid = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
            let gone = watch(&rt, pid);
            rt.exit(pid, ExitReason::kill()).unwrap();
            exit_of(&gone);
            pid
        } else {
            let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
            let pid = mb.pid();
            mb.exit_normal().unwrap();
            pid
        };
        assert!(pid.is_valid());
        assert!(pid.as_raw() > last, "pids only grow");
        last = pid.as_raw();
        assert!(seen.insert(pid), "{pid} reused");
    }
    assert_eq!(rt.process_count(), 0, "no process leaked");
}

#[test]
fn sends_are_fifo_per_sender_receiver_pair() {
    const SENDERS: u8 = 4;
    const PER_SENDER: u32 = 2000;
    let rt = runtime(2);
    let inbox = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let (tx, rx) = mpsc::channel();
    let relay = rt.spawn(recorder(tx), SpawnOptions::new()).unwrap().pid;
    let start = Arc::new(Barrier::new(SENDERS as usize));
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let h = rt.handle();
            let start = Arc::clone(&start);
            let (to_mb, to_cb) = (inbox.pid(), relay);
            thread::spawn(move || {
                start.wait();
                for i in 0..PER_SENDER {
                    let mut payload = vec![s];
                    payload.extend_from_slice(&i.to_le_bytes());
                    let from = Pid::from_raw(1000 + u64::from(s));
                    h.send_from(from, to_mb, payload.clone()).unwrap();
                    h.send_from(from, to_cb, payload).unwrap();
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let check = |next: &mut dyn FnMut() -> Message| {
        let mut expected = vec![0u32; SENDERS as usize];
        for _ in 0..(u32::from(SENDERS) * PER_SENDER) {
            let (from, bytes) = user(next());
            let s = bytes[0];
            assert_eq!(from, Pid::from_raw(1000 + u64::from(s)));
            let i = u32::from_le_bytes(bytes[1..5].try_into().unwrap());
            assert_eq!(i, expected[s as usize], "sender {s} out of order");
            expected[s as usize] += 1;
        }
    };
    check(&mut || inbox.receive(WAIT).unwrap().expect("a message in time"));
    check(&mut || rx.recv_timeout(WAIT).unwrap());
    assert_eq!(inbox.try_receive(), Ok(None), "nothing extra");
}

#[test]
fn send_to_a_dead_or_unknown_pid_returns_noproc() {
    let rt = runtime(1);
    let pid = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
    let gone = watch(&rt, pid);
    rt.exit(pid, ExitReason::error(1, "stop")).unwrap();
    exit_of(&gone);
    assert_eq!(rt.send(pid, &b"late"[..]), Err(ActorError::NoProc));
    assert_eq!(
        rt.send(Pid::from_raw(u64::MAX), &b"x"[..]),
        Err(ActorError::NoProc)
    );
    assert_eq!(rt.send(Pid::NONE, &b"x"[..]), Err(ActorError::NoProc));
    assert_eq!(rt.exit(pid, ExitReason::kill()), Err(ActorError::NoProc));
}

#[test]
fn a_callback_process_runs_on_one_worker_at_a_time() {
    let rt = runtime(4);
    let inside = Arc::new(AtomicUsize::new(0));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let pid = {
        let (inside, overlaps) = (Arc::clone(&inside), Arc::clone(&overlaps));
        rt.spawn(
            behaviour(move |_, _| {
                if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                    overlaps.fetch_add(1, Ordering::SeqCst);
                }
                thread::yield_now();
                inside.fetch_sub(1, Ordering::SeqCst);
                tx.send(()).unwrap();
                Ok(())
            }),
            SpawnOptions::new(),
        )
        .unwrap()
        .pid
    };
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let h = rt.handle();
            thread::spawn(move || {
                for _ in 0..500 {
                    h.send(pid, &b"x"[..]).unwrap();
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    for _ in 0..2000 {
        rx.recv_timeout(WAIT).unwrap();
    }
    assert_eq!(overlaps.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------------------------------------
// Links and exit signals
// ---------------------------------------------------------------------------------------------

#[test]
fn abnormal_exit_kills_non_trapping_linked_processes_with_the_same_reason() {
    let rt = runtime(2);
    let a = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
    let b = rt.spawn(idle(), SpawnOptions::new().link(a)).unwrap().pid;
    let c = rt.spawn(idle(), SpawnOptions::new().link(b)).unwrap().pid;
    let (wa, wb, wc) = (watch(&rt, a), watch(&rt, b), watch(&rt, c));
    let reason = ExitReason::error(42, "disk on fire");
    rt.exit(a, reason.clone()).unwrap();
    assert_eq!(exit_of(&wa), reason);
    assert_eq!(exit_of(&wb), reason, "reason reaches links unchanged");
    assert_eq!(exit_of(&wc), reason, "the cascade follows the chain");
    assert_eq!(rt.process_count(), 0);
}

#[test]
fn trapping_linked_process_gets_an_exit_message_and_survives() {
    let rt = runtime(2);
    let a = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
    let (tx, rx) = mpsc::channel();
    let b = rt
        .spawn(recorder(tx), SpawnOptions::new().link(a).trap_exit(true))
        .unwrap()
        .pid;
    let reason = ExitReason::new(ExitKind::DeadlineExceeded, -3, "deadline");
    rt.exit(a, reason.clone()).unwrap();
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Message::Exit { pid: a, reason }
    );
    assert!(rt.is_alive(b));
    rt.send(b, &b"still here"[..]).unwrap();
    assert_eq!(user(rx.recv_timeout(WAIT).unwrap()).1, b"still here");
}

#[test]
fn normal_exit_does_not_kill_linked_processes() {
    let rt = runtime(2);
    let a = rt
        .spawn(
            behaviour(|_, _| Err(ExitReason::normal())),
            SpawnOptions::new(),
        )
        .unwrap()
        .pid;
    let (tx, rx) = mpsc::channel();
    let b = rt
        .spawn(recorder(tx), SpawnOptions::new().link(a))
        .unwrap()
        .pid;
    let (ttx, trx) = mpsc::channel();
    let t = rt
        .spawn(recorder(ttx), SpawnOptions::new().link(a).trap_exit(true))
        .unwrap()
        .pid;
    let wa = watch(&rt, a);
    rt.send(a, &b"finish"[..]).unwrap();
    assert_eq!(exit_of(&wa), ExitReason::normal());
    // The trapping one is told; the non-trapping one is untouched and still serves messages.
    assert_eq!(
        trx.recv_timeout(WAIT).unwrap(),
        Message::Exit {
            pid: a,
            reason: ExitReason::normal()
        }
    );
    rt.send(b, &b"alive?"[..]).unwrap();
    assert_eq!(user(rx.recv_timeout(WAIT).unwrap()).1, b"alive?");
    assert!(rt.is_alive(b) && rt.is_alive(t));
}

#[test]
fn linking_to_a_dead_pid_delivers_noproc_at_once() {
    let rt = runtime(1);
    let dead = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
    let wd = watch(&rt, dead);
    rt.exit(dead, ExitReason::kill()).unwrap();
    exit_of(&wd);

    // Non-trapping: the caller dies with NOPROC, synchronously.
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    assert_eq!(mb.link(dead), Err(ActorError::NoProc));
    assert_eq!(mb.exit_reason(), Some(ExitReason::noproc()));
    assert_eq!(mb.receive(WAIT), Err(ActorError::Closed));

    // Trapping: an EXIT {dead, NOPROC} message, and no half link left behind.
    let trapper = rt
        .open_mailbox(SpawnOptions::new().trap_exit(true))
        .unwrap();
    assert_eq!(trapper.link(dead), Err(ActorError::NoProc));
    assert_eq!(
        trapper.try_receive().unwrap(),
        Some(Message::Exit {
            pid: dead,
            reason: ExitReason::noproc()
        })
    );
    assert!(rt.is_alive(trapper.pid()));

    // At spawn: the option is applied atomically, the monitor given with it sees NOPROC.
    let (tx, rx) = mpsc::channel();
    let spawned = rt
        .spawn(
            idle(),
            SpawnOptions::new().link(dead).monitor(move |p, r| {
                let _ = tx.send((p, r.clone()));
            }),
        )
        .unwrap();
    assert!(spawned.monitor.is_some());
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        (spawned.pid, ExitReason::noproc())
    );
    assert!(!rt.is_alive(spawned.pid));
}

#[test]
fn spawn_options_are_atomic_against_a_racing_exit_of_the_link_target() {
    let rt = runtime(2);
    let reason = ExitReason::error(11, "racing");
    for round in 0..200 {
        let target = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
        let killer = {
            let (h, reason) = (rt.handle(), reason.clone());
            thread::spawn(move || h.exit(target, reason))
        };
        let trap = round % 2 == 0;
        let (tx, rx) = mpsc::channel();
        let (mtx, mrx) = mpsc::channel();
        let child = rt
            .spawn(
                recorder(tx),
                SpawnOptions::new()
                    .link(target)
                    .trap_exit(trap)
                    .monitor(move |p, r| {
                        let _ = mtx.send((p, r.clone()));
                    }),
            )
            .unwrap()
            .pid;
        killer.join().unwrap().unwrap();
        // Either the link was made before the exit (the child sees the exit's reason) or the
        // target was already dead (the child sees NOPROC) — never a child left unlinked.
        if trap {
            let Message::Exit { pid, reason: got } = rx.recv_timeout(WAIT).unwrap() else {
                panic!("expected an EXIT message")
            };
            assert_eq!(pid, target);
            assert!(got == reason || got == ExitReason::noproc(), "got {got}");
            assert!(rt.is_alive(child));
            rt.exit(child, ExitReason::kill()).unwrap();
            mrx.recv_timeout(WAIT).unwrap();
        } else {
            let (pid, got) = mrx.recv_timeout(WAIT).unwrap();
            assert_eq!(pid, child);
            assert!(got == reason || got == ExitReason::noproc(), "got {got}");
        }
    }
    assert_eq!(rt.process_count(), 0);
}

#[test]
fn concurrent_exits_of_one_process_fire_its_monitor_once() {
    let rt = runtime(2);
    for _ in 0..100 {
        let pid = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
        let calls = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        {
            let calls = Arc::clone(&calls);
            rt.monitor(pid, move |_, r| {
                calls.fetch_add(1, Ordering::SeqCst);
                let _ = tx.send(r.clone());
            })
            .unwrap();
        }
        let start = Arc::new(Barrier::new(4));
        let exits: Vec<_> = (0..4)
            .map(|i| {
                let (h, start) = (rt.handle(), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    h.exit(pid, ExitReason::error(i, "one of four"))
                })
            })
            .collect();
        let results: Vec<_> = exits.into_iter().map(|t| t.join().unwrap()).collect();
        let oks = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(oks, 1, "exactly one exit wins: {results:?}");
        assert!(results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(ActorError::NoProc))));
        let got = rx.recv_timeout(WAIT).unwrap();
        assert_eq!(got.message(), "one of four");
        let w = watch(&rt, pid); // a duplicate would have been queued before this one
        exit_of(&w);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn kill_is_untrappable_but_killed_propagates_as_trappable() {
    let rt = runtime(2);
    let (tx, rx) = mpsc::channel();
    let victim = rt
        .spawn(recorder(tx), SpawnOptions::new().trap_exit(true))
        .unwrap()
        .pid;
    let (wtx, wrx) = mpsc::channel();
    let witness = rt
        .spawn(
            recorder(wtx),
            SpawnOptions::new().link(victim).trap_exit(true),
        )
        .unwrap()
        .pid;
    let wv = watch(&rt, victim);

    // A trappable reason only becomes a message.
    rt.exit(victim, ExitReason::error(1, "please")).unwrap();
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Message::Exit {
            pid: Pid::NONE,
            reason: ExitReason::error(1, "please")
        }
    );
    assert!(rt.is_alive(victim));

    // KILL is not.
    let kill = ExitReason::new(ExitKind::Killed, 9, "sigkill");
    rt.exit(victim, kill.clone()).unwrap();
    assert_eq!(exit_of(&wv), kill);
    assert_eq!(
        wrx.recv_timeout(WAIT).unwrap(),
        Message::Exit {
            pid: victim,
            reason: kill
        },
        "linked trapping processes see KILLED as an ordinary exit message"
    );
    assert!(rt.is_alive(witness));
}

#[test]
fn exit_with_normal_terminates_a_non_trapping_process() {
    let rt = runtime(1);
    let pid = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
    let w = watch(&rt, pid);
    rt.exit(pid, ExitReason::normal()).unwrap();
    assert_eq!(exit_of(&w), ExitReason::normal());
}

#[test]
fn unlink_stops_the_cascade() {
    let rt = runtime(1);
    let a = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    mb.link(a).unwrap();
    mb.unlink(a).unwrap();
    let wa = watch(&rt, a);
    rt.exit(a, ExitReason::error(1, "x")).unwrap();
    exit_of(&wa);
    assert_eq!(mb.exit_reason(), None);
    assert_eq!(mb.try_receive(), Ok(None));
}

#[test]
fn a_behaviour_can_spawn_a_linked_child_whose_crash_kills_it() {
    let rt = runtime(2);
    let (tx, rx) = mpsc::channel();
    let parent = rt
        .spawn(
            behaviour(move |ctx, _| {
                let child = ctx
                    .spawn(
                        behaviour(|_, _| Err(ExitReason::error(5, "child failed"))),
                        SpawnOptions::new().link(ctx.pid()),
                    )
                    .unwrap()
                    .pid;
                tx.send(child).unwrap();
                ctx.send(child, &b"go"[..])
                    .map_err(|e| ExitReason::error(1, e.to_string()))
            }),
            SpawnOptions::new(),
        )
        .unwrap()
        .pid;
    let wp = watch(&rt, parent);
    rt.send(parent, &b"start"[..]).unwrap();
    let child = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(exit_of(&wp), ExitReason::error(5, "child failed"));
    assert!(!rt.is_alive(child));
}

#[test]
fn a_process_killed_while_handling_sends_nothing_more() {
    let rt = runtime(2);
    let inbox = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let to = inbox.pid();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (after_tx, after_rx) = mpsc::channel();
    let pid = rt
        .spawn(
            behaviour(move |ctx, _| {
                entered_tx.send(()).unwrap();
                go_rx.recv_timeout(WAIT).unwrap();
                after_tx
                    .send((ctx.send(to, &b"ghost"[..]), ctx.exit_reason()))
                    .unwrap();
                Ok(())
            }),
            SpawnOptions::new(),
        )
        .unwrap()
        .pid;
    rt.send(pid, &b"go"[..]).unwrap();
    entered_rx.recv_timeout(WAIT).unwrap();
    rt.exit(pid, ExitReason::kill()).unwrap();
    go_tx.send(()).unwrap();
    let (sent, reason) = after_rx.recv_timeout(WAIT).unwrap();
    assert_eq!(sent, Err(ActorError::Closed));
    assert_eq!(reason, Some(ExitReason::kill()));
    assert_eq!(inbox.try_receive(), Ok(None));
}

// ---------------------------------------------------------------------------------------------
// Monitors
// ---------------------------------------------------------------------------------------------

#[test]
fn stacked_monitors_each_fire_exactly_once() {
    let rt = runtime(2);
    let pid = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
    let calls = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    for _ in 0..3 {
        let (calls, tx) = (Arc::clone(&calls), tx.clone());
        rt.monitor(pid, move |p, r| {
            calls.fetch_add(1, Ordering::SeqCst);
            tx.send((p, r.clone())).unwrap();
        })
        .unwrap();
    }
    let reason = ExitReason::error(3, "gone");
    rt.exit(pid, reason.clone()).unwrap();
    assert_eq!(rt.exit(pid, ExitReason::kill()), Err(ActorError::NoProc));
    for _ in 0..3 {
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), (pid, reason.clone()));
    }
    drop(rt); // joins the workers: every queued callback has run
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn monitoring_a_dead_pid_fires_at_once_with_noproc() {
    let rt = runtime(1);
    let pid = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
    let w = watch(&rt, pid);
    rt.exit(pid, ExitReason::error(1, "x")).unwrap();
    exit_of(&w);
    let late = watch(&rt, pid);
    assert_eq!(
        late.recv_timeout(WAIT).unwrap(),
        (pid, ExitReason::noproc())
    );
    let never = Pid::from_raw(1 << 40);
    assert_eq!(exit_of(&watch(&rt, never)), ExitReason::noproc());
    // Pid 0 names no process: refused with NoProc, the callback dropped uncalled.
    let (calls, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let guard = Counted {
        inner: (),
        drops: Arc::clone(&dropped),
    };
    let c = Arc::clone(&calls);
    assert_eq!(
        rt.monitor(Pid::NONE, move |_, _| {
            let _ = &guard;
            c.fetch_add(1, Ordering::SeqCst);
        }),
        Err(ActorError::NoProc)
    );
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn demonitor_before_exit_means_the_callback_never_runs() {
    let rt = runtime(2);
    let pid = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
    let calls = Arc::new(AtomicUsize::new(0));
    let mref = {
        let calls = Arc::clone(&calls);
        rt.monitor(pid, move |_, _| {
            calls.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap()
    };
    assert_eq!(rt.demonitor(mref), Ok(true));
    assert_eq!(rt.demonitor(mref), Ok(false), "second demonitor is a no-op");
    let w = watch(&rt, pid);
    rt.exit(pid, ExitReason::kill()).unwrap();
    exit_of(&w);
    drop(rt);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn no_monitor_call_starts_after_demonitor_returns_even_when_racing_the_exit() {
    let rt = runtime(2);
    for _ in 0..200 {
        let pid = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
        let returned = Arc::new(AtomicBool::new(false));
        let late_calls = Arc::new(AtomicUsize::new(0));
        let mref = {
            let (returned, late_calls) = (Arc::clone(&returned), Arc::clone(&late_calls));
            rt.monitor(pid, move |_, _| {
                if returned.load(Ordering::SeqCst) {
                    late_calls.fetch_add(1, Ordering::SeqCst);
                }
            })
            .unwrap()
        };
        let killer = {
            let h = rt.handle();
            thread::spawn(move || h.exit(pid, ExitReason::kill()))
        };
        rt.demonitor(mref).unwrap();
        returned.store(true, Ordering::SeqCst);
        killer.join().unwrap().unwrap();
        // Give a wrongly late callback the chance to show: this NOPROC monitor is queued after
        // the exit's monitor job, so by the time it reports, that job has at least started.
        let w = watch(&rt, pid);
        exit_of(&w);
        assert_eq!(late_calls.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn demonitor_from_inside_its_own_callback_does_not_deadlock() {
    let rt = runtime(1);
    let pid = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
    let slot: Arc<OnceLock<MonitorRef>> = Arc::new(OnceLock::new());
    let (tx, rx) = mpsc::channel();
    let mref = {
        let (slot, h, tx) = (Arc::clone(&slot), rt.handle(), tx.clone());
        rt.monitor(pid, move |_, _| {
            let me = *slot.get().expect("ref stored before the exit");
            tx.send(h.demonitor(me)).unwrap();
        })
        .unwrap()
    };
    slot.set(mref).unwrap();
    rt.exit(pid, ExitReason::kill()).unwrap();
    assert_eq!(
        rx.recv_timeout(WAIT),
        Ok(Ok(false)),
        "returns at once, callback already running"
    );
}

#[test]
fn a_panicking_monitor_callback_does_not_take_down_the_worker() {
    let rt = runtime(1);
    let pid = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
    rt.monitor(pid, |_, _| panic!("monitor callback panics"))
        .unwrap();
    let w = watch(&rt, pid);
    rt.exit(pid, ExitReason::kill()).unwrap();
    exit_of(&w);
    let (tx, rx) = mpsc::channel();
    let p = rt.spawn(recorder(tx), SpawnOptions::new()).unwrap().pid;
    rt.send(p, &b"ok"[..]).unwrap();
    assert_eq!(user(rx.recv_timeout(WAIT).unwrap()).1, b"ok");
}

// ---------------------------------------------------------------------------------------------
// Behaviours: errors, panics, drops
// ---------------------------------------------------------------------------------------------

#[test]
fn a_panic_ends_only_that_process_and_the_runtime_keeps_working() {
    // One worker: it must survive the panic for the rest to work, and it drops the behaviour
    // before it runs the monitor job queued by the exit, which the drop count below relies on.
    let rt = runtime(1);
    let drops = Arc::new(AtomicUsize::new(0));
    let bomb = rt
        .spawn(
            Counted {
                inner: behaviour(|_, _| panic!("boom")),
                drops: Arc::clone(&drops),
            },
            SpawnOptions::new(),
        )
        .unwrap()
        .pid;
    let (tx, rx) = mpsc::channel();
    let bystander = rt.spawn(recorder(tx), SpawnOptions::new()).unwrap().pid;
    let wb = watch(&rt, bomb);
    rt.send(bomb, &b"light the fuse"[..]).unwrap();
    let reason = exit_of(&wb);
    assert_eq!((reason.kind(), reason.message()), (ExitKind::Panic, "boom"));
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "dropped once, right after the panic"
    );

    rt.send(bystander, &b"hello"[..]).unwrap();
    assert_eq!(user(rx.recv_timeout(WAIT).unwrap()).1, b"hello");
    let (tx2, rx2) = mpsc::channel();
    let fresh = rt.spawn(recorder(tx2), SpawnOptions::new()).unwrap().pid;
    rt.send(fresh, &b"new"[..]).unwrap();
    assert_eq!(user(rx2.recv_timeout(WAIT).unwrap()).1, b"new");
}

#[test]
fn an_error_return_ends_the_process_with_that_reason() {
    let rt = runtime(1);
    let pid = rt
        .spawn(
            behaviour(|_, _| Err(ExitReason::error(-17, "bad input"))),
            SpawnOptions::new(),
        )
        .unwrap()
        .pid;
    let w = watch(&rt, pid);
    rt.send(pid, &b"x"[..]).unwrap();
    assert_eq!(exit_of(&w), ExitReason::error(-17, "bad input"));
}

#[test]
fn a_killed_process_drops_its_behaviour_exactly_once() {
    let rt = runtime(2);
    let drops = Arc::new(AtomicUsize::new(0));
    let mut pids = Vec::new();
    for _ in 0..50 {
        let pid = rt
            .spawn(
                Counted {
                    inner: idle(),
                    drops: Arc::clone(&drops),
                },
                SpawnOptions::new(),
            )
            .unwrap()
            .pid;
        for _ in 0..10 {
            rt.send(pid, &b"work"[..]).unwrap();
        }
        pids.push(pid);
    }
    for &pid in &pids {
        let w = watch(&rt, pid);
        rt.exit(pid, ExitReason::kill()).unwrap();
        exit_of(&w);
    }
    drop(rt);
    assert_eq!(drops.load(Ordering::SeqCst), 50);
}

// ---------------------------------------------------------------------------------------------
// Mailboxes
// ---------------------------------------------------------------------------------------------

#[test]
fn dropping_a_mailbox_ends_it_with_dropped() {
    let rt = runtime(1);
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let linked = rt
        .spawn(idle(), SpawnOptions::new().link(mb.pid()))
        .unwrap()
        .pid;
    let (wm, wl) = (watch(&rt, mb.pid()), watch(&rt, linked));
    let owner = thread::spawn(move || drop(mb)); // the owning thread "dies" with its handle
    owner.join().unwrap();
    assert_eq!(exit_of(&wm), ExitReason::dropped());
    assert_eq!(exit_of(&wl), ExitReason::dropped(), "DROPPED is abnormal");
}

#[test]
fn a_normal_mailbox_exit_is_normal() {
    let rt = runtime(1);
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let linked = rt
        .spawn(idle(), SpawnOptions::new().link(mb.pid()))
        .unwrap()
        .pid;
    let w = watch(&rt, mb.pid());
    mb.exit_normal().unwrap();
    assert_eq!(exit_of(&w), ExitReason::normal());
    assert!(rt.is_alive(linked));
}

#[test]
fn a_timed_out_receive_does_not_lose_the_next_message() {
    let rt = runtime(1);
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    assert_eq!(mb.receive(Duration::from_millis(5)), Ok(None));
    rt.send(mb.pid(), &b"after the timeout"[..]).unwrap();
    assert_eq!(
        user(mb.receive(WAIT).unwrap().expect("in time")).1,
        b"after the timeout"
    );
}

#[test]
fn receives_racing_their_timeouts_lose_nothing() {
    const N: u32 = 5000;
    let rt = runtime(1);
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let to = mb.pid();
    let sender = {
        let h = rt.handle();
        thread::spawn(move || {
            for i in 0..N {
                h.send(to, i.to_le_bytes().to_vec()).unwrap();
            }
        })
    };
    let deadline = Instant::now() + WAIT;
    let (mut next, mut timeouts) = (0u32, 0u32);
    while next < N {
        assert!(Instant::now() < deadline, "stuck at message {next}");
        match mb.receive(Duration::from_micros(20)) {
            Ok(Some(msg)) => {
                let i = u32::from_le_bytes(user(msg).1.try_into().unwrap());
                assert_eq!(i, next, "lost or reordered");
                next += 1;
            }
            Ok(None) => timeouts += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    sender.join().unwrap();
    assert_eq!(mb.try_receive(), Ok(None));
    let _ = timeouts; // how many raced is machine-dependent; losing none is the point
}

#[test]
fn a_mailbox_killed_through_a_link_wakes_its_blocked_receiver_with_closed() {
    let rt = runtime(1);
    let a = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
    let mb = rt.open_mailbox(SpawnOptions::new().link(a)).unwrap();
    let ready = Arc::new(Barrier::new(2));
    let receiver = {
        let ready = Arc::clone(&ready);
        thread::spawn(move || {
            ready.wait();
            let r = mb.receive(Duration::MAX);
            (r, mb.exit_reason(), mb.send(Pid::from_raw(1), &b"x"[..]))
        })
    };
    ready.wait();
    rt.exit(a, ExitReason::error(8, "upstream")).unwrap();
    let (r, reason, send) = receiver.join().unwrap();
    assert_eq!(r, Err(ActorError::Closed));
    assert_eq!(reason, Some(ExitReason::error(8, "upstream")));
    assert_eq!(send, Err(ActorError::Closed));
}

// ---------------------------------------------------------------------------------------------
// Runtime lifecycle
// ---------------------------------------------------------------------------------------------

#[test]
fn runtime_drop_shuts_everything_down_in_order() {
    let rt = runtime(2);
    let handle = rt.handle();
    let drops = Arc::new(AtomicUsize::new(0));
    let seen: Arc<Mutex<Vec<ExitReason>>> = Arc::new(Mutex::new(Vec::new()));
    let record = |seen: &Arc<Mutex<Vec<ExitReason>>>| {
        let seen = Arc::clone(seen);
        move |_: Pid, r: &ExitReason| seen.lock().unwrap().push(r.clone())
    };
    for i in 0..20 {
        let opts = SpawnOptions::new().monitor(record(&seen));
        let opts = if i % 2 == 0 {
            opts.trap_exit(true)
        } else {
            opts
        };
        let pid = rt
            .spawn(
                Counted {
                    inner: idle(),
                    drops: Arc::clone(&drops),
                },
                opts,
            )
            .unwrap()
            .pid;
        rt.send(pid, &b"busy"[..]).unwrap();
    }
    let mb = rt
        .open_mailbox(SpawnOptions::new().monitor(record(&seen)))
        .unwrap();
    let ready = Arc::new(Barrier::new(2));
    let blocked = {
        let ready = Arc::clone(&ready);
        thread::spawn(move || {
            ready.wait();
            let r = mb.receive(Duration::MAX);
            (r, mb.exit_reason())
        })
    };
    ready.wait();
    drop(rt);

    assert_eq!(
        drops.load(Ordering::SeqCst),
        20,
        "every behaviour dropped once"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 21, "every monitor ran before drop returned");
    assert!(seen.iter().all(|r| *r == ExitReason::shutdown()));
    let (r, reason) = blocked.join().unwrap();
    assert_eq!(r, Err(ActorError::Closed));
    assert_eq!(reason, Some(ExitReason::shutdown()));
    assert_eq!(
        Arc::strong_count(&handle.inner),
        1,
        "the workers are gone (they held the runtime)"
    );
    assert!(handle.is_closed());
    assert_eq!(handle.process_count(), 0);
}

#[test]
fn after_shutdown_calls_return_closed_and_drop_their_callbacks() {
    let rt = runtime(1);
    let handle = rt.handle();
    let pid = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
    rt.close();
    let drops = Arc::new(AtomicUsize::new(0));
    let r = handle.spawn(
        Counted {
            inner: idle(),
            drops: Arc::clone(&drops),
        },
        SpawnOptions::new(),
    );
    assert_eq!(r.unwrap_err(), ActorError::Closed);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(handle.send(pid, &b"x"[..]), Err(ActorError::Closed));
    assert!(matches!(
        handle.open_mailbox(SpawnOptions::new()),
        Err(ActorError::Closed)
    ));
    assert!(matches!(
        handle.monitor(pid, |_, _| {}),
        Err(ActorError::Closed)
    ));
    assert_eq!(
        handle.exit(pid, ExitReason::kill()),
        Err(ActorError::Closed)
    );
}

#[test]
fn worker_count_defaults_to_available_parallelism_and_is_bounded() {
    let rt = runtime(0);
    let expected = thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(rt.worker_count(), expected);
    assert!(matches!(
        Runtime::new(Runtime::MAX_WORKERS + 1),
        Err(ActorError::InvalidArgument(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Randomised topology
// ---------------------------------------------------------------------------------------------

/// A small deterministic generator (xorshift64*), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_link_graphs_and_kills_leak_nothing_and_fire_every_monitor_once() {
    for seed in 1..=8u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let rt = runtime(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let fired = Arc::new(Mutex::new(Vec::<Pid>::new()));
        let mut pids = Vec::new();
        for i in 0..150 {
            let mut opts = SpawnOptions::new().trap_exit(rng.below(3) == 0);
            if i > 0 && rng.below(2) == 0 {
                opts = opts.link(pids[rng.below(pids.len())]);
            }
            let fired = Arc::clone(&fired);
            opts = opts.monitor(move |p, _| fired.lock().unwrap().push(p));
            let fail = rng.below(4) == 0;
            let pid = rt
                .spawn(
                    Counted {
                        inner: behaviour(move |_, msg| match msg {
                            Message::User { .. } if fail => Err(ExitReason::error(1, "random")),
                            _ => Ok(()),
                        }),
                        drops: Arc::clone(&drops),
                    },
                    opts,
                )
                .unwrap()
                .pid;
            pids.push(pid);
            if i > 1 && rng.below(3) == 0 {
                let _ = rt.link(pid, pids[rng.below(pids.len())]);
            }
        }
        // Messages (some behaviours fail on them), explicit exits of every kind, then KILL all.
        for _ in 0..300 {
            let _ = rt.send(pids[rng.below(pids.len())], &b"m"[..]);
        }
        for _ in 0..40 {
            let kind = ExitKind::ALL[rng.below(ExitKind::ALL.len())];
            let _ = rt.exit(pids[rng.below(pids.len())], ExitReason::new(kind, 0, "x"));
        }
        let handle = rt.handle();
        for &pid in &pids {
            let _ = rt.exit(pid, ExitReason::kill());
        }
        assert_eq!(rt.process_count(), 0, "seed {seed}: every process is dead");
        drop(rt); // drains the queued monitor callbacks and joins the workers
        assert_eq!(drops.load(Ordering::SeqCst), pids.len(), "seed {seed}");
        let mut fired = fired.lock().unwrap().clone();
        fired.sort();
        assert_eq!(fired, pids, "seed {seed}: each monitor fired exactly once");
        assert_eq!(Arc::strong_count(&handle.inner), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------------------------

#[test]
fn send_after_delivers_once_the_delay_has_passed() {
    let rt = runtime(1);
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let start = Instant::now();
    rt.send_after(mb.pid(), Duration::from_millis(20), &b"tick"[..])
        .unwrap();
    let (from, bytes) = user(mb.receive(WAIT).unwrap().expect("in time"));
    assert!(start.elapsed() >= Duration::from_millis(20), "not early");
    assert_eq!((from, bytes.as_slice()), (Pid::NONE, &b"tick"[..]));
}

#[test]
fn a_cancelled_timer_never_arrives() {
    let rt = runtime(1);
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let t = rt
        .send_after(mb.pid(), Duration::from_millis(5), &b"cancelled"[..])
        .unwrap();
    rt.send_after(mb.pid(), Duration::from_millis(15), &b"sentinel"[..])
        .unwrap();
    assert!(rt.cancel_timer(t));
    // Timers are delivered in deadline order, so the cancelled one would have come first.
    assert_eq!(
        user(mb.receive(WAIT).unwrap().expect("in time")).1,
        b"sentinel"
    );
    assert!(!rt.cancel_timer(t));
}

#[test]
fn a_callback_process_can_time_itself_out() {
    let rt = runtime(1);
    let pid = rt
        .spawn(
            behaviour(|ctx, msg| match msg.bytes() {
                Some(b"start") => ctx
                    .send_after(ctx.pid(), Duration::from_millis(10), &b"deadline"[..])
                    .map(|_| ())
                    .map_err(|e| ExitReason::error(1, e.to_string())),
                Some(b"deadline") => Err(ExitReason::deadline_exceeded()),
                _ => Ok(()),
            }),
            SpawnOptions::new(),
        )
        .unwrap()
        .pid;
    let w = watch(&rt, pid);
    rt.send(pid, &b"start"[..]).unwrap();
    assert_eq!(exit_of(&w), ExitReason::deadline_exceeded());
}

#[test]
fn shutdown_drops_pending_timers_without_waiting_for_them() {
    let rt = runtime(1);
    let handle = rt.handle();
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    rt.send_after(mb.pid(), Duration::from_secs(3600), &b"in an hour"[..])
        .unwrap();
    drop(rt); // would hang for an hour if the timer thread waited for its timers
    assert_eq!(
        handle.send_after(mb.pid(), Duration::ZERO, &b"x"[..]),
        Err(ActorError::Closed)
    );
    assert_eq!(
        Arc::strong_count(&handle.inner),
        2,
        "the handle and the mailbox's"
    );
}

// ---------------------------------------------------------------------------------------------
// One meaning per outcome: pid 0, closed mailboxes, SHUTDOWN, close
// ---------------------------------------------------------------------------------------------

#[test]
fn pid_zero_names_no_process_and_sets_nothing_off() {
    let rt = runtime(1);
    let trapper = rt
        .open_mailbox(SpawnOptions::new().trap_exit(true))
        .unwrap();
    let plain = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let none = Pid::NONE;
    assert_eq!(rt.send(none, &b"x"[..]), Err(ActorError::NoProc));
    assert_eq!(
        rt.send_from(trapper.pid(), none, &b"x"[..]),
        Err(ActorError::NoProc)
    );
    assert_eq!(trapper.send(none, &b"x"[..]), Err(ActorError::NoProc));
    assert_eq!(rt.exit(none, ExitReason::kill()), Err(ActorError::NoProc));
    assert_eq!(rt.set_trap_exit(none, true), Err(ActorError::NoProc));
    assert_eq!(
        rt.send_after(none, Duration::ZERO, &b"x"[..]),
        Err(ActorError::NoProc)
    );
    for (a, b) in [(none, trapper.pid()), (trapper.pid(), none)] {
        assert_eq!(rt.link(a, b), Err(ActorError::NoProc));
        assert_eq!(rt.unlink(a, b), Err(ActorError::NoProc));
    }
    // Unlike a dead pid, 0 sends no NOPROC signal: the trapping mailbox gets no message and
    // the plain one is not killed.
    assert_eq!(plain.link(none), Err(ActorError::NoProc));
    assert_eq!(trapper.try_receive(), Ok(None));
    assert!(rt.is_alive(plain.pid()));
    // A spawn option linking to 0 is no link.
    let linked = rt
        .open_mailbox(SpawnOptions::new().link(none).trap_exit(true))
        .unwrap();
    assert_eq!(linked.try_receive(), Ok(None));
}

#[test]
fn after_its_process_exited_every_mailbox_call_is_closed() {
    let rt = runtime(1);
    let other = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let check_closed = |mb: &Mailbox| {
        assert_eq!(mb.receive(Duration::ZERO), Err(ActorError::Closed));
        assert_eq!(mb.send(other.pid(), &b"x"[..]), Err(ActorError::Closed));
        assert_eq!(mb.link(other.pid()), Err(ActorError::Closed));
        assert_eq!(mb.unlink(other.pid()), Err(ActorError::Closed));
        assert_eq!(mb.set_trap_exit(true), Err(ActorError::Closed));
        assert_eq!(mb.exit(ExitReason::kill()), Err(ActorError::Closed));
        assert_eq!(mb.exit_normal(), Err(ActorError::Closed));
    };
    // Exited by its own exit: the first reason stands.
    let a = rt.open_mailbox(SpawnOptions::new()).unwrap();
    a.exit(ExitReason::error(3, "first")).unwrap();
    check_closed(&a);
    assert_eq!(a.exit_reason(), Some(ExitReason::error(3, "first")));
    // Killed from outside.
    let b = rt.open_mailbox(SpawnOptions::new()).unwrap();
    rt.exit(b.pid(), ExitReason::kill()).unwrap();
    check_closed(&b);
    // The runtime closed.
    let c = rt.open_mailbox(SpawnOptions::new()).unwrap();
    rt.close();
    check_closed(&c);
    assert_eq!(c.exit_reason(), Some(ExitReason::shutdown()));
}

#[test]
fn an_explicit_shutdown_exit_is_an_orderly_stop_not_a_crash() {
    let rt = runtime(2);
    let stopped = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let plain = rt
        .open_mailbox(SpawnOptions::new().link(stopped.pid()))
        .unwrap();
    let trapping = rt
        .open_mailbox(SpawnOptions::new().link(stopped.pid()).trap_exit(true))
        .unwrap();
    let w = watch(&rt, stopped.pid());
    rt.exit(stopped.pid(), ExitReason::shutdown()).unwrap();
    assert_eq!(exit_of(&w), ExitReason::shutdown());
    // The trapping process hears of it; the plain one survives, as after a NORMAL exit.
    assert_eq!(
        trapping.receive(WAIT).unwrap(),
        Some(Message::Exit {
            pid: stopped.pid(),
            reason: ExitReason::shutdown()
        })
    );
    assert!(rt.is_alive(plain.pid()));
    assert_eq!(plain.try_receive(), Ok(None));
    // A crash by contrast kills it, with the reason unchanged.
    let crashed = rt.open_mailbox(SpawnOptions::new()).unwrap();
    plain.link(crashed.pid()).unwrap();
    let wp = watch(&rt, plain.pid());
    crashed.exit(ExitReason::error(1, "crash")).unwrap();
    assert_eq!(exit_of(&wp), ExitReason::error(1, "crash"));
}

#[test]
fn close_is_idempotent_and_later_calls_return_closed() {
    let rt = runtime(2);
    let pid = rt.spawn(idle(), SpawnOptions::new()).unwrap().pid;
    let mref = rt.monitor(pid, |_, _| {}).unwrap();
    rt.close();
    rt.close();
    assert!(rt.is_closed());
    assert_eq!(rt.send(pid, &b"x"[..]), Err(ActorError::Closed));
    assert_eq!(rt.send(Pid::NONE, &b"x"[..]), Err(ActorError::Closed));
    assert_eq!(rt.link(pid, pid), Err(ActorError::Closed));
    assert_eq!(rt.unlink(pid, pid), Err(ActorError::Closed));
    assert_eq!(rt.set_trap_exit(pid, true), Err(ActorError::Closed));
    assert_eq!(rt.demonitor(mref), Err(ActorError::Closed));
    assert!(matches!(
        rt.open_mailbox(SpawnOptions::new()),
        Err(ActorError::Closed)
    ));
}

#[test]
fn close_returns_once_the_behaviours_in_flight_have_been_dropped() {
    let rt = Arc::new(runtime(2));
    let drops = Arc::new(AtomicUsize::new(0));
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let busy = rt
        .spawn(
            Counted {
                inner: behaviour(move |_, _| {
                    entered_tx.send(()).unwrap();
                    release_rx
                        .lock()
                        .unwrap()
                        .recv_timeout(WAIT)
                        .expect("released");
                    Ok(())
                }),
                drops: Arc::clone(&drops),
            },
            SpawnOptions::new(),
        )
        .unwrap()
        .pid;
    // The busy process's monitor runs on the other worker once the close has begun.
    let shut = watch(&rt, busy);
    rt.send(busy, &b"block"[..]).unwrap();
    entered_rx.recv_timeout(WAIT).unwrap();
    let closers: Vec<_> = (0..2)
        .map(|_| {
            let (rt, drops) = (Arc::clone(&rt), Arc::clone(&drops));
            thread::spawn(move || {
                rt.close();
                drops.load(Ordering::SeqCst)
            })
        })
        .collect();
    assert_eq!(exit_of(&shut), ExitReason::shutdown());
    assert_eq!(drops.load(Ordering::SeqCst), 0, "still running its handle");
    release_tx.send(()).unwrap();
    for c in closers {
        assert_eq!(c.join().unwrap(), 1, "close returned before the drop");
    }
}

#[test]
fn close_from_inside_a_behaviour_returns_and_a_later_close_joins_its_worker() {
    let rt = Arc::new(runtime(2));
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let pid = {
        let inner_rt = Arc::clone(&rt);
        rt.spawn(
            Counted {
                inner: behaviour(move |ctx, _| {
                    inner_rt.close();
                    tx.send(ctx.send(ctx.pid(), &b"x"[..])).unwrap();
                    Ok(())
                }),
                drops: Arc::clone(&drops),
            },
            SpawnOptions::new(),
        )
        .unwrap()
        .pid
    };
    rt.send(pid, &b"close"[..]).unwrap();
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Err(ActorError::Closed),
        "close returned inside the behaviour; the process is dead"
    );
    rt.close();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}
