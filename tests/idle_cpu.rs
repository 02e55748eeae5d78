//! Spinning never costs an idle process CPU: a runtime whose workers have nothing to do, a
//! mailbox thread blocked in `receive`, a conversation thread blocked in `await_crash` and two
//! canals blocked in `pull_batch` use (almost) no CPU over a window of wall time.
//!
//! Its own test binary (one test), so the process's CPU time (`getrusage(RUSAGE_SELF)`) is only
//! this test's threads. The window is wall time by design (the quantity measured is CPU per
//! second of idleness); the bench (`benches/wake.rs`) measures the same over 10 s.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use transom::actor::{ExitReason, Message, ProcessContext, Runtime, SpawnOptions};
use transom::canal::{Canal, CursorOptions, Overflow, Pulled, Start, SubscriptionOptions};
use transom::conversation::{Conversation, ConversationConfig, OnCrash, Participant};
use transom::store::{Config, Store};

fn process_cpu() -> Duration {
    // SAFETY: getrusage fills the zeroed struct it is given a valid pointer to.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[test]
fn an_idle_runtime_and_idle_canals_use_no_cpu_while_blocked() {
    const WINDOW: Duration = Duration::from_millis(1500);
    let rt = Runtime::new(2).unwrap();

    // Some traffic first, so the workers went through their spin-then-park cycle.
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    for _ in 0..1000 {
        rt.send(mb.pid(), vec![1u8]).unwrap();
    }
    let mut got = 0;
    while let Ok(Some(_)) = mb.try_receive() {
        got += 1;
    }
    assert_eq!(got, 1000);
    let mb_pid = mb.pid();
    let receiver = thread::spawn(move || mb.receive(Duration::from_secs(60)));

    let conv = Arc::new(
        Conversation::open(
            &rt,
            ConversationConfig::new(
                vec![Participant::spawn(
                    |_: &ProcessContext, _: Message| -> Result<(), ExitReason> { Ok(()) },
                )],
                OnCrash::Fail,
            ),
        )
        .unwrap(),
    );
    let crash_waiter = {
        let conv = Arc::clone(&conv);
        thread::spawn(move || conv.await_crash(Some(Duration::from_secs(60))))
    };

    let store = Arc::new(Store::open(Config::in_memory()).unwrap());
    let mut sub =
        Canal::subscription(&store, SubscriptionOptions::new(64, Overflow::DropNewest)).unwrap();
    let mut cur = Canal::cursor(&store, CursorOptions::new(Start::End)).unwrap();
    let (close_sub, close_cur) = (sub.closer(), cur.closer());
    let puller_a = thread::spawn(move || {
        while let Ok(Pulled::Items(_)) = sub.pull_batch(8, Some(Duration::from_secs(60))) {}
    });
    let puller_b = thread::spawn(move || {
        while let Ok(Pulled::Items(_)) = cur.pull_batch(8, Some(Duration::from_secs(60))) {}
    });

    let before = process_cpu();
    thread::sleep(WINDOW); // the measurement window itself, not a synchronisation
    let used = process_cpu() - before;

    // Wake everyone through the API (each blocked call returns).
    rt.send(mb_pid, vec![2u8]).unwrap();
    assert!(receiver.join().unwrap().unwrap().is_some());
    conv.close();
    assert!(crash_waiter.join().unwrap().is_err());
    close_sub.close();
    close_cur.close();
    puller_a.join().unwrap();
    puller_b.join().unwrap();

    // A single spinning thread would use the whole window; allow 5 % for the spins before
    // parking, timer ticks and a noisy shared machine.
    assert!(
        used < WINDOW / 20,
        "{used:?} of CPU over {WINDOW:?} while everything was blocked"
    );
}
