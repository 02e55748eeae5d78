//! Tests of how a conversation's notifications reach blocked threads (the module doc of
//! `actor.rs`, "One wake-up per notification"): crashes and replies handled on the notifying
//! thread when no user code is involved, callbacks and compensations kept on the workers,
//! callbacks before waiters. Real runtime, real threads, no sleeps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::wire::encode_reply;
use super::*;
use crate::actor::{ExitReason, Mailbox, Message, Runtime, SpawnOptions};

const WAIT: Duration = Duration::from_secs(10);

fn worker_thread() -> bool {
    thread::current()
        .name()
        .is_some_and(|n| n.starts_with("transom-worker-"))
}

/// A FAIL conversation whose one participant is a mailbox the test drives.
fn with_mailbox_participant(rt: &Runtime) -> (Mailbox, Conversation) {
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let conv = Conversation::open(
        rt,
        ConversationConfig::new(vec![Participant::External(mb.pid())], OnCrash::Fail),
    )
    .unwrap();
    (mb, conv)
}

#[test]
fn a_crash_without_callbacks_is_recorded_before_exit_returns() {
    let rt = Runtime::new(2).unwrap();
    let (mb, conv) = with_mailbox_participant(&rt);
    rt.exit(mb.pid(), ExitReason::error(3, "gone")).unwrap();
    // Handled on this thread, inside `exit`: no worker involved, nothing to wait for.
    let info = conv
        .await_crash(Some(Duration::ZERO))
        .unwrap()
        .expect("recorded");
    assert_eq!(
        (info.participant, info.reason),
        (mb.pid(), ExitReason::error(3, "gone"))
    );
    assert_eq!(conv.state().phase, Phase::Failed);
}

#[test]
fn a_reply_is_buffered_before_the_participants_send_returns() {
    let rt = Runtime::new(2).unwrap();
    let (mb, conv) = with_mailbox_participant(&rt);
    let first = conv.send(None, b"a").unwrap();
    let second = conv.send(None, b"b").unwrap();
    // Checked under the conversation's lock, sent under it, handled once it is released.
    reply_from_mailbox(&mb, conv.pid(), first, b"one").unwrap();
    let got = conv
        .receive(Some(Duration::ZERO))
        .unwrap()
        .expect("buffered");
    assert_eq!((got.request_id, &*got.payload), (first, &b"one"[..]));
    // A raw reply (the wire protocol, as a participant in another language sends it).
    mb.send(conv.pid(), encode_reply(second, b"two")).unwrap();
    let got = conv
        .receive(Some(Duration::ZERO))
        .unwrap()
        .expect("buffered");
    assert_eq!((got.request_id, &*got.payload), (second, &b"two"[..]));
}

#[test]
fn crash_callbacks_and_compensations_run_on_a_worker_not_on_the_exiting_thread() {
    let rt = Runtime::new(2).unwrap();
    let on_worker = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (
        rt.open_mailbox(SpawnOptions::new()).unwrap(),
        rt.open_mailbox(SpawnOptions::new()).unwrap(),
    );
    let compensate = {
        let on_worker = Arc::clone(&on_worker);
        Box::new(
            move |_: crate::actor::Pid, _: &ExitReason, _: &[InFlight]| {
                on_worker
                    .lock()
                    .unwrap()
                    .push(("compensation", worker_thread()));
                Compensation::Continue
            },
        )
    };
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(
            vec![
                Participant::External(a.pid()),
                Participant::External(b.pid()),
            ],
            OnCrash::Compensate(compensate),
        ),
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    {
        let on_worker = Arc::clone(&on_worker);
        conv.add_crash_callback(move |info| {
            on_worker
                .lock()
                .unwrap()
                .push(("callback", worker_thread()));
            tx.send(info.participant).unwrap();
        });
    }
    rt.exit(a.pid(), ExitReason::error(1, "crash")).unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), a.pid());
    assert_eq!(
        *on_worker.lock().unwrap(),
        vec![("compensation", true), ("callback", true)]
    );
    // Without a compensation, a registered callback alone keeps the crash on a worker.
    let (c, conv) = with_mailbox_participant(&rt);
    let (tx, rx) = mpsc::channel();
    conv.add_crash_callback(move |_| tx.send(worker_thread()).unwrap());
    rt.exit(c.pid(), ExitReason::error(1, "crash")).unwrap();
    assert_eq!(rx.recv_timeout(WAIT), Ok(true));
}

#[test]
fn await_crash_waiters_are_woken_after_the_crash_callbacks_ran() {
    let rt = Runtime::new(2).unwrap();
    let (mb, conv) = with_mailbox_participant(&rt);
    let conv = Arc::new(conv);
    let called = Arc::new(AtomicBool::new(false));
    {
        let called = Arc::clone(&called);
        conv.add_crash_callback(move |_| called.store(true, Ordering::SeqCst));
    }
    let waiter = {
        let (conv, called) = (Arc::clone(&conv), Arc::clone(&called));
        thread::spawn(move || {
            conv.await_crash(Some(WAIT)).unwrap().expect("a crash");
            called.load(Ordering::SeqCst)
        })
    };
    // Crash only once the waiter is parked, so it can only return through the wake-up.
    while conv.parked_waiters() == 0 {
        thread::yield_now();
    }
    rt.exit(mb.pid(), ExitReason::error(1, "crash")).unwrap();
    assert!(waiter.join().unwrap(), "woken before the callback ran");
}

#[test]
fn a_crash_rerouted_to_another_conversations_actor_hands_that_actor_to_a_worker() {
    // The outer actor runs inline on this thread and re-forwards the request to the inner
    // conversation's (idle, inline-capable) actor: inline runs do not nest, so the inner one
    // runs on a worker; both conversations stay consistent.
    let rt = Runtime::new(2).unwrap();
    let crasher = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let (inner_mb, inner) = with_mailbox_participant(&rt);
    let outer = Conversation::open(
        &rt,
        ConversationConfig::new(
            vec![
                Participant::External(crasher.pid()),
                Participant::External(inner.pid()),
            ],
            OnCrash::RouteToNext,
        ),
    )
    .unwrap();
    let id = outer.send(Some(crasher.pid()), b"req").unwrap();
    let Message::User { .. } = crasher.receive(WAIT).unwrap().unwrap() else {
        panic!("expected the request")
    };
    rt.exit(crasher.pid(), ExitReason::error(2, "crash"))
        .unwrap();
    assert!(outer.has_crashed(), "handled inline, before exit returned");
    let s = outer.state();
    assert_eq!((s.phase, s.in_flight), (Phase::Active, 1));
    // The inner actor got the request (not a reply: ignored) and still works.
    let rid = inner.send(None, b"ping").unwrap();
    let Message::User { .. } = inner_mb.receive(WAIT).unwrap().unwrap() else {
        panic!("expected the request")
    };
    reply_from_mailbox(&inner_mb, inner.pid(), rid, b"pong").unwrap();
    assert_eq!(
        &*inner.receive(Some(WAIT)).unwrap().unwrap().payload,
        b"pong"
    );
    assert_eq!(inner.state().phase, Phase::Active);
    assert_ne!(id, 0);
}
