//! Behaviour tests of conversations over a real actor runtime. No sleeps: waits are blocking
//! calls with timeouts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use super::wire::{decode_request, encode_reply};
use super::*;
use crate::actor::{ExitReason, Mailbox, Message, Pid, ProcessContext, Runtime, SpawnOptions};

const WAIT: Duration = Duration::from_secs(10);

fn runtime() -> Runtime {
    Runtime::new(2).unwrap()
}

/// Replies to every request with its own payload; exits with ERROR 7 on the payload "crash".
fn echo_or_crash() -> Participant {
    Participant::spawn(
        |ctx: &ProcessContext, msg: Message| -> Result<(), ExitReason> {
            if let Message::User { from, bytes } = msg {
                if let Some(req) = decode_request(&bytes) {
                    if req.payload == b"crash" {
                        return Err(ExitReason::error(7, "asked to crash"));
                    }
                    let _ = ctx.send(from, encode_reply(req.request_id, req.payload));
                }
            }
            Ok(())
        },
    )
}

/// The next message of a test-controlled mailbox (the one place these tests receive from one).
fn next_message(mb: &Mailbox) -> Message {
    mb.receive(WAIT).unwrap().expect("a message in time")
}

/// The next reply of a conversation, which must come.
fn next_reply(conv: &Conversation) -> Reply {
    conv.receive(Some(WAIT)).unwrap().expect("a reply in time")
}

/// Takes the next request from a test-controlled mailbox participant.
fn next_request(mb: &Mailbox) -> (Pid, u64, TraceContext, Vec<u8>) {
    let Message::User { from, bytes } = next_message(mb) else {
        panic!("expected a request")
    };
    let req = decode_request(&bytes).expect("a well-formed request");
    (from, req.request_id, req.trace, req.payload.to_vec())
}

#[test]
fn receives_whose_spins_run_out_stop_spinning_and_replies_still_arrive() {
    use crate::sync::SpinHistory;
    let rt = runtime();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(vec![echo_or_crash()], OnCrash::Fail),
    )
    .unwrap();
    assert_eq!(
        conv.receive_spin_count(),
        SpinHistory::MAX,
        "a new one spins"
    );
    // Zero-timeout receives do not spin: nothing is recorded.
    for _ in 0..2 * SpinHistory::MAX {
        assert!(conv.receive(Some(Duration::ZERO)).unwrap().is_none());
    }
    assert_eq!(conv.receive_spin_count(), SpinHistory::MAX);
    // Nothing comes: each receive's spin runs out, then its 1 ms timeout.
    for _ in 0..SpinHistory::MAX {
        assert!(conv
            .receive(Some(Duration::from_millis(1)))
            .unwrap()
            .is_none());
    }
    assert_eq!(
        conv.receive_spin_count(),
        0,
        "MAX missed spins stop the spinning"
    );
    // Parked receives still get their replies, in order.
    for p in [&b"a"[..], b"b", b"c"] {
        conv.send(None, p).unwrap();
        assert_eq!(&*next_reply(&conv).payload, p);
    }
}

#[test]
fn requests_are_forwarded_and_replies_received_in_order() {
    let rt = runtime();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(vec![echo_or_crash(), echo_or_crash()], OnCrash::Fail),
    )
    .unwrap();
    assert_eq!(conv.state().phase, Phase::Created);
    let ids: Vec<u64> = (0..4u8).map(|i| conv.send(None, &[i]).unwrap()).collect();
    assert_eq!(conv.state().phase, Phase::Active);
    let mut got: Vec<(u64, Vec<u8>)> = (0..4)
        .map(|_| {
            let r = next_reply(&conv);
            (r.request_id, r.payload.into_vec())
        })
        .collect();
    got.sort();
    let expected: Vec<(u64, Vec<u8>)> = ids
        .iter()
        .zip(0..4u8)
        .map(|(&id, i)| (id, vec![i]))
        .collect();
    assert_eq!(got, expected);
    let s = conv.state();
    assert_eq!(
        (s.sent, s.received, s.crashed, s.in_flight, s.buffered),
        (4, 4, 0, 0, 0)
    );
    let targets: std::collections::HashSet<_> = s.participants.iter().map(|p| p.pid).collect();
    assert_eq!(targets.len(), 2);
    assert_eq!(conv.receive(Some(Duration::from_millis(1))), Ok(None));
    assert_eq!(conv.receive(Some(Duration::ZERO)), Ok(None));
}

#[test]
fn requests_carry_an_id_and_a_child_of_the_conversation_trace() {
    let rt = runtime();
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(vec![Participant::External(mb.pid())], OnCrash::Fail),
    )
    .unwrap();
    let id = conv.send(Some(mb.pid()), b"hello").unwrap();
    let (from, rid, trace, payload) = next_request(&mb);
    assert_eq!(
        (from, rid, payload.as_slice()),
        (conv.pid(), id, &b"hello"[..])
    );
    let root = conv.state().trace;
    assert_eq!(trace.trace_id(), root.trace_id());
    assert_ne!(trace.span_id(), root.span_id());
    mb.send(from, encode_reply(rid, b"world")).unwrap();
    let reply = next_reply(&conv);
    assert_eq!(
        (reply.request_id, reply.from, &*reply.payload),
        (id, mb.pid(), &b"world"[..])
    );
}

#[test]
fn a_dead_participant_fails_the_open_with_noproc_and_leaks_nothing() {
    let rt = runtime();
    let alive = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let dead = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let dead_pid = dead.pid();
    dead.exit_normal().unwrap();
    let before = rt.process_count();
    let r = Conversation::open(
        &rt,
        ConversationConfig::new(
            vec![
                Participant::External(alive.pid()),
                echo_or_crash(),
                Participant::External(dead_pid),
            ],
            OnCrash::Fail,
        ),
    );
    assert_eq!(r.unwrap_err(), ConversationError::NoProc);
    assert_eq!(
        rt.process_count(),
        before,
        "actor and spawned participant are gone"
    );
    assert_eq!(
        alive.exit_reason(),
        None,
        "the external participant was not harmed"
    );
    // And it is no longer linked to anything: an abnormal exit of it affects nobody.
    let other = rt.open_mailbox(SpawnOptions::new()).unwrap();
    alive.exit(ExitReason::error(1, "bye")).unwrap();
    assert_eq!(other.exit_reason(), None);
}

#[test]
fn durable_mode_is_unsupported_and_participants_are_required() {
    let rt = runtime();
    let before = rt.process_count();
    let r = Conversation::open(
        &rt,
        ConversationConfig::new(vec![echo_or_crash()], OnCrash::Fail).mode(Mode::Durable),
    );
    assert!(matches!(r, Err(ConversationError::Unsupported(_))));
    let r = Conversation::open(&rt, ConversationConfig::new(vec![], OnCrash::Fail));
    assert!(matches!(r, Err(ConversationError::InvalidArgument(_))));
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let twice = vec![
        Participant::External(mb.pid()),
        Participant::External(mb.pid()),
    ];
    let r = Conversation::open(&rt, ConversationConfig::new(twice, OnCrash::Fail));
    assert!(matches!(r, Err(ConversationError::InvalidArgument(_))));
    let none = vec![Participant::External(Pid::NONE)];
    let r = Conversation::open(&rt, ConversationConfig::new(none, OnCrash::Fail));
    assert!(matches!(r, Err(ConversationError::InvalidArgument(_))));
    assert_eq!(rt.process_count(), before + 1, "only the test's mailbox");
}

#[test]
fn sending_to_a_pid_that_is_not_a_participant_is_refused() {
    let rt = runtime();
    let outsider = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(vec![echo_or_crash()], OnCrash::Fail),
    )
    .unwrap();
    assert!(matches!(
        conv.send(Some(outsider.pid()), b"x"),
        Err(ConversationError::InvalidArgument(_))
    ));
    // The outsider got nothing: the first message it sees is the test's own marker.
    rt.send(outsider.pid(), &b"marker"[..]).unwrap();
    let Message::User { bytes, .. } = next_message(&outsider) else {
        panic!("expected the marker")
    };
    assert_eq!(&*bytes, b"marker");
    assert_eq!(conv.state().sent, 0);
}

#[test]
fn fail_policy_delivers_buffered_replies_then_reports_the_crash() {
    let rt = runtime();
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(
            vec![Participant::External(mb.pid()), echo_or_crash()],
            OnCrash::Fail,
        ),
    )
    .unwrap();
    let crasher = conv.state().participants[1].pid;
    let first = conv.send(Some(mb.pid()), b"one").unwrap();
    let (from, rid, _, _) = next_request(&mb);
    mb.send(from, encode_reply(rid, b"buffered")).unwrap();
    conv.send(Some(crasher), b"crash").unwrap();

    let info = conv.await_crash(Some(WAIT)).unwrap().unwrap();
    assert_eq!(
        (info.conversation, info.participant, info.policy),
        (conv.pid(), crasher, CrashPolicy::Fail)
    );
    assert_eq!(info.reason, ExitReason::error(7, "asked to crash"));
    assert!(conv.has_crashed());
    let s = conv.state();
    assert_eq!(s.phase, Phase::Failed);
    assert_eq!(s.crashed, 1);
    assert_eq!(s.participants[1].health, Health::Crashed);
    assert_eq!(s.participants[1].exit_reason, Some(info.reason.clone()));

    let r = next_reply(&conv);
    assert_eq!((r.request_id, &*r.payload), (first, &b"buffered"[..]));
    assert_eq!(
        conv.receive(Some(WAIT)),
        Err(ConversationError::ParticipantCrashed)
    );
    assert_eq!(
        conv.send(None, b"x"),
        Err(ConversationError::ParticipantCrashed)
    );
    conv.close();
    assert_eq!(conv.state().phase, Phase::Closed, "FAILED -> CLOSED");
}

#[test]
fn route_to_next_reforwards_the_dead_participants_requests() {
    let rt = runtime();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(vec![echo_or_crash(), echo_or_crash()], OnCrash::RouteToNext),
    )
    .unwrap();
    let first = conv.state().participants[0].pid;
    let second = conv.state().participants[1].pid;
    let (tx, rx) = mpsc::channel();
    conv.add_crash_callback(move |info| tx.send(info.clone()).unwrap());
    // "crash" kills the first participant while the request is in flight to it; the second
    // one gets it re-forwarded and (being the same code) also crashes: none is left.
    let id = conv.send(Some(first), b"crash").unwrap();
    let a = rx.recv_timeout(WAIT).unwrap();
    let b = rx.recv_timeout(WAIT).unwrap();
    assert_eq!((a.participant, a.policy), (first, CrashPolicy::RouteToNext));
    assert_eq!(
        b.participant, second,
        "the request followed to the next participant"
    );
    assert_eq!(
        conv.receive(Some(WAIT)),
        Err(ConversationError::ParticipantCrashed)
    );
    let s = conv.state();
    assert_eq!((s.phase, s.crashed, s.in_flight), (Phase::Failed, 2, 0));
    assert_ne!(id, 0);
}

#[test]
fn route_to_next_keeps_pending_receivers_waiting_for_the_rerouted_reply() {
    let rt = runtime();
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let conv = Arc::new(
        Conversation::open(
            &rt,
            ConversationConfig::new(
                vec![echo_or_crash(), Participant::External(mb.pid())],
                OnCrash::RouteToNext,
            ),
        )
        .unwrap(),
    );
    let crasher = conv.state().participants[0].pid;
    let waiting = {
        let conv = Arc::clone(&conv);
        thread::spawn(move || conv.receive(Some(WAIT)))
    };
    let id = conv.send(Some(crasher), b"crash").unwrap();
    let (from, rid, _, payload) = next_request(&mb);
    assert_eq!(
        (rid, payload.as_slice()),
        (id, &b"crash"[..]),
        "same request, re-forwarded"
    );
    mb.send(from, encode_reply(rid, b"handled")).unwrap();
    let reply = waiting.join().unwrap().unwrap().unwrap();
    assert_eq!(
        (reply.request_id, reply.from, &*reply.payload),
        (id, mb.pid(), &b"handled"[..])
    );
    assert_eq!(conv.state().phase, Phase::Active);
}

#[test]
fn compensate_gets_the_in_flight_requests_and_decides() {
    for decision in [Compensation::Continue, Compensation::Fail] {
        let rt = runtime();
        type Seen = Vec<(Pid, ExitReason, Vec<u64>)>;
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let callback = {
            let seen = Arc::clone(&seen);
            Box::new(move |pid: Pid, reason: &ExitReason, reqs: &[InFlight]| {
                let ids = reqs.iter().map(|r| r.request_id).collect();
                seen.lock().unwrap().push((pid, reason.clone(), ids));
                decision
            })
        };
        let conv = Conversation::open(
            &rt,
            ConversationConfig::new(
                vec![echo_or_crash(), echo_or_crash()],
                OnCrash::Compensate(callback),
            ),
        )
        .unwrap();
        let crasher = conv.state().participants[0].pid;
        let id = conv.send(Some(crasher), b"crash").unwrap();
        let info = conv.await_crash(Some(WAIT)).unwrap().unwrap();
        assert_eq!(info.policy, CrashPolicy::Compensate);
        assert_eq!(
            seen.lock().unwrap().clone(),
            vec![(crasher, ExitReason::error(7, "asked to crash"), vec![id])]
        );
        match decision {
            Compensation::Continue => {
                assert_eq!(conv.state().phase, Phase::Active);
                conv.send(None, b"still working").unwrap();
                assert_eq!(&*next_reply(&conv).payload, b"still working");
            }
            Compensation::Fail => {
                assert_eq!(conv.state().phase, Phase::Failed);
                assert_eq!(
                    conv.receive(Some(WAIT)),
                    Err(ConversationError::ParticipantCrashed)
                );
            }
        }
    }
}

#[test]
fn crash_callbacks_are_called_once_per_crash_and_replayed_when_late() {
    let rt = runtime();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(
            vec![echo_or_crash(), echo_or_crash(), echo_or_crash()],
            OnCrash::Compensate(Box::new(|_, _, _| Compensation::Continue)),
        ),
    )
    .unwrap();
    let pids: Vec<Pid> = conv.state().participants.iter().map(|p| p.pid).collect();
    let early = Arc::new(AtomicUsize::new(0));
    {
        let early = Arc::clone(&early);
        conv.add_crash_callback(move |_| {
            early.fetch_add(1, Ordering::SeqCst);
        });
    }
    conv.send(Some(pids[0]), b"crash").unwrap();
    let first = conv.await_crash(Some(WAIT)).unwrap().unwrap();
    assert_eq!(first.participant, pids[0]);
    let (tx, rx) = mpsc::channel();
    conv.add_crash_callback(move |info| tx.send(info.participant).unwrap());
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        pids[0],
        "replayed at registration"
    );
    conv.send(Some(pids[1]), b"crash").unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), pids[1]);
    assert_eq!(conv.state().crashed, 2);
    drop(conv);
    drop(rt); // joins the workers: any (wrong) extra callback would have run by now
    assert_eq!(early.load(Ordering::SeqCst), 2);
    assert!(rx.try_recv().is_err(), "no duplicate notification");
}

#[test]
fn the_configured_timeout_is_enforced_on_blocked_receivers() {
    let rt = runtime();
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(vec![Participant::External(mb.pid())], OnCrash::Fail)
            .timeout(Duration::from_millis(50)),
    )
    .unwrap();
    let deadline = conv.state().deadline_ns.expect("a deadline");
    assert!(deadline > monotonic_ns() && deadline <= monotonic_ns() + 50_000_000);
    conv.send(None, b"never answered").unwrap();
    assert_eq!(
        conv.receive(Some(WAIT)),
        Err(ConversationError::DeadlineExceeded)
    );
    assert!(monotonic_ns() >= deadline);
    assert_eq!(conv.state().phase, Phase::DeadlineExceeded);
    assert_eq!(
        conv.send(None, b"late"),
        Err(ConversationError::DeadlineExceeded)
    );
}

#[test]
fn complete_refuses_new_sends_but_still_delivers_replies() {
    let rt = runtime();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(vec![echo_or_crash()], OnCrash::Fail),
    )
    .unwrap();
    let id = conv.send(None, b"last").unwrap();
    conv.complete().unwrap();
    assert!(matches!(
        conv.send(None, b"more"),
        Err(ConversationError::WrongPhase(_))
    ));
    assert_eq!(next_reply(&conv).request_id, id);
    assert_eq!(conv.state().phase, Phase::Completing);
}

#[test]
fn close_fails_pending_calls_stops_spawned_and_unlinks_external_participants() {
    let rt = runtime();
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let before = rt.process_count();
    let conv = Arc::new(
        Conversation::open(
            &rt,
            ConversationConfig::new(
                vec![Participant::External(mb.pid()), echo_or_crash()],
                OnCrash::Fail,
            ),
        )
        .unwrap(),
    );
    let spawned = conv.state().participants[1].pid;
    let ready = Arc::new(Barrier::new(3));
    let receiver = {
        let (conv, ready) = (Arc::clone(&conv), Arc::clone(&ready));
        thread::spawn(move || {
            ready.wait();
            conv.receive(None)
        })
    };
    let crash_waiter = {
        let (conv, ready) = (Arc::clone(&conv), Arc::clone(&ready));
        thread::spawn(move || {
            ready.wait();
            conv.await_crash(None)
        })
    };
    ready.wait();
    conv.close();
    conv.close(); // idempotent
    assert_eq!(receiver.join().unwrap(), Err(ConversationError::Closed));
    assert_eq!(crash_waiter.join().unwrap(), Err(ConversationError::Closed));
    assert_eq!(conv.state().phase, Phase::Closed);
    assert!(!rt.is_alive(spawned) && !rt.is_alive(conv.pid()));
    assert_eq!(mb.exit_reason(), None, "external participant left running");
    assert_eq!(rt.process_count(), before);
    assert_eq!(conv.send(None, b"x"), Err(ConversationError::Closed));
}

#[test]
fn dropping_the_conversation_closes_it() {
    let rt = runtime();
    let before = rt.process_count();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(vec![echo_or_crash(), echo_or_crash()], OnCrash::Fail),
    )
    .unwrap();
    assert_eq!(rt.process_count(), before + 3);
    drop(conv);
    assert_eq!(rt.process_count(), before);
}

#[test]
fn runtime_shutdown_resolves_pending_receives() {
    let rt = runtime();
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let conv = Arc::new(
        Conversation::open(
            &rt,
            ConversationConfig::new(vec![Participant::External(mb.pid())], OnCrash::Fail),
        )
        .unwrap(),
    );
    let ready = Arc::new(Barrier::new(2));
    let receiver = {
        let (conv, ready) = (Arc::clone(&conv), Arc::clone(&ready));
        thread::spawn(move || {
            ready.wait();
            conv.receive(None)
        })
    };
    ready.wait();
    drop(rt);
    assert_eq!(receiver.join().unwrap(), Err(ConversationError::Closed));
    assert_eq!(conv.state().phase, Phase::Closed);
    drop(mb);
}

#[test]
fn a_normal_participant_exit_is_not_a_crash() {
    let rt = runtime();
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let mb_pid = mb.pid();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(
            vec![Participant::External(mb_pid), echo_or_crash()],
            OnCrash::Fail,
        ),
    )
    .unwrap();
    mb.exit_normal().unwrap();
    // The echo participant still answers; requests now only go to it.
    let id = conv.send(None, b"a").unwrap();
    let id2 = conv.send(None, b"b").unwrap();
    let mut got = [next_reply(&conv).request_id, next_reply(&conv).request_id];
    got.sort();
    assert_eq!(got, [id, id2]);
    assert!(!conv.has_crashed());
    assert_eq!(conv.state().phase, Phase::Active);
    assert_eq!(conv.state().crashed, 0);
}

#[test]
fn a_shutdown_exit_of_a_participant_is_not_a_crash() {
    let rt = runtime();
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let mb_pid = mb.pid();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(
            vec![Participant::External(mb_pid), echo_or_crash()],
            OnCrash::Fail,
        ),
    )
    .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    {
        let calls = Arc::clone(&calls);
        conv.add_crash_callback(move |_| {
            calls.fetch_add(1, Ordering::SeqCst);
        });
    }
    rt.exit(mb_pid, ExitReason::shutdown()).unwrap();
    // The conversation sees the exit; then a request still goes to the live participant.
    let echoed = conv.send(None, b"after").unwrap();
    assert_eq!(next_reply(&conv).request_id, echoed);
    let s = conv.state();
    let p = &s.participants[0];
    assert_eq!(
        p.exit_reason.as_ref().map(|r| r.kind()),
        Some(crate::actor::ExitKind::Shutdown)
    );
    assert_eq!(
        (p.health, s.phase, s.crashed),
        (Health::Exited, Phase::Active, 0)
    );
    assert!(!conv.has_crashed());
    assert_eq!(conv.await_crash(Some(Duration::ZERO)), Ok(None));
    drop(conv);
    drop(rt);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn receive_into_parks_a_reply_that_does_not_fit() {
    let rt = runtime();
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(vec![Participant::External(mb.pid())], OnCrash::Fail),
    )
    .unwrap();
    let big = conv.send(None, b"q1").unwrap();
    let small = conv.send(None, b"q2").unwrap();
    for _ in 0..2 {
        let (from, rid, _, _) = next_request(&mb);
        let answer: &[u8] = if rid == big { b"0123456789" } else { b"ok" };
        reply_from_mailbox(&mb, from, rid, answer).unwrap();
    }
    let mut buf = [b'#'; 12];
    assert_eq!(
        conv.receive_into(Some(WAIT), &mut buf[..4]),
        Err(ConversationError::BufferTooSmall { needed: 10 })
    );
    assert_eq!(buf, [b'#'; 12], "nothing written");
    let s = conv.state();
    assert_eq!((s.buffered, s.received), (2, 0), "parked, not taken");
    let h = conv
        .receive_into(Some(WAIT), &mut buf[..10])
        .unwrap()
        .unwrap();
    assert_eq!((h.request_id, h.from, h.len), (big, mb.pid(), 10));
    assert_eq!(&buf[..11], b"0123456789#");
    let h = conv.receive_into(Some(WAIT), &mut buf).unwrap().unwrap();
    assert_eq!((h.request_id, h.len, &buf[..2]), (small, 2, &b"ok"[..]));
    assert_eq!(conv.receive_into(Some(Duration::ZERO), &mut []), Ok(None));
    assert_eq!(conv.state().received, 2);
}

#[test]
fn replies_are_checked_against_the_requests_the_conversation_awaits() {
    let rt = runtime();
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(vec![Participant::External(mb.pid())], OnCrash::Fail),
    )
    .unwrap();
    let id = conv.send(None, b"q").unwrap();
    let (from, rid, _, _) = next_request(&mb);
    assert_eq!(
        reply_from_mailbox(&mb, from, rid + 100, b"?"),
        Err(ConversationError::RequestNotFound {
            conversation: conv.pid(),
            request_id: rid + 100
        })
    );
    reply_from_mailbox(&mb, from, rid, b"first").unwrap();
    // The first reply may still be on its way: the second is refused either way.
    assert!(matches!(
        reply(&rt, mb.pid(), from, rid, b"second"),
        Err(ConversationError::RequestNotFound { .. })
    ));
    let r = next_reply(&conv);
    assert_eq!((r.request_id, &*r.payload), (id, &b"first"[..]));
    assert!(matches!(
        reply_from_mailbox(&mb, from, rid, b"third"),
        Err(ConversationError::RequestNotFound { .. })
    ));
    assert_eq!(conv.receive(Some(Duration::from_millis(20))), Ok(None));
    // Not a conversation: the mailbox's own pid, pid 0, a pid of another runtime's numbering.
    assert_eq!(
        reply(&rt, mb.pid(), mb.pid(), rid, b"x"),
        Err(ConversationError::NoConversation(mb.pid()))
    );
    assert_eq!(
        reply(&rt, mb.pid(), Pid::NONE, rid, b"x"),
        Err(ConversationError::NoConversation(Pid::NONE))
    );
    let other = runtime();
    assert!(matches!(
        reply(&other, Pid::NONE, from, rid, b"x"),
        Err(ConversationError::NoConversation(_))
    ));
    // Closed: refused as closed; dropped: no conversation any more.
    let id2 = conv.send(None, b"q2").unwrap();
    let (_, rid2, _, _) = next_request(&mb);
    assert_eq!(rid2, id2);
    conv.close();
    assert_eq!(
        reply_from_mailbox(&mb, from, rid2, b"late"),
        Err(ConversationError::Closed)
    );
    drop(conv);
    assert_eq!(
        reply_from_mailbox(&mb, from, rid2, b"later"),
        Err(ConversationError::NoConversation(from))
    );
}

#[test]
fn replies_to_an_ended_conversation_get_its_ending() {
    let rt = runtime();
    let mb = rt.open_mailbox(SpawnOptions::new()).unwrap();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(
            vec![Participant::External(mb.pid()), echo_or_crash()],
            OnCrash::Fail,
        ),
    )
    .unwrap();
    conv.send(Some(mb.pid()), b"pending").unwrap();
    let (from, rid, _, _) = next_request(&mb);
    let crasher = conv.state().participants[1].pid;
    conv.send(Some(crasher), b"crash").unwrap();
    conv.await_crash(Some(WAIT)).unwrap().unwrap();
    assert_eq!(
        reply_from_mailbox(&mb, from, rid, b"too late"),
        Err(ConversationError::ParticipantCrashed)
    );
}

#[test]
fn a_removed_crash_callback_is_never_called_again_and_is_dropped() {
    struct Probe(Arc<AtomicUsize>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.fetch_add(100, Ordering::SeqCst);
        }
    }
    let rt = runtime();
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(
            vec![echo_or_crash(), echo_or_crash(), echo_or_crash()],
            OnCrash::Compensate(Box::new(|_, _, _| Compensation::Continue)),
        ),
    )
    .unwrap();
    let pids: Vec<Pid> = conv.participants().iter().map(|p| p.pid).collect();
    let removed = Arc::new(AtomicUsize::new(0));
    let id = {
        let probe = Probe(Arc::clone(&removed));
        conv.add_crash_callback(move |_| {
            probe.0.fetch_add(1, Ordering::SeqCst);
        })
    };
    let (tx, rx) = mpsc::channel();
    let kept = conv.add_crash_callback(move |info| tx.send(info.participant).unwrap());
    assert_ne!(id, kept);
    conv.send(Some(pids[0]), b"crash").unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), pids[0]);
    conv.remove_crash_callback(id).unwrap();
    assert_eq!(
        removed.load(Ordering::SeqCst),
        101,
        "called once, then dropped by remove"
    );
    assert_eq!(
        conv.remove_crash_callback(id),
        Err(ConversationError::CrashCallbackNotFound(id))
    );
    assert_eq!(
        conv.remove_crash_callback(CrashCallbackId::from_u64(999))
            .unwrap_err()
            .to_string(),
        "no crash callback with id 999"
    );
    conv.send(Some(pids[1]), b"crash").unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), pids[1]);
    assert_eq!(
        removed.load(Ordering::SeqCst),
        101,
        "not called after remove"
    );
}

#[test]
fn a_crash_callback_can_remove_itself_and_dropping_the_conversation_drops_the_rest() {
    let rt = runtime();
    let conv = Arc::new(
        Conversation::open(
            &rt,
            ConversationConfig::new(
                vec![echo_or_crash(), echo_or_crash()],
                OnCrash::Compensate(Box::new(|_, _, _| Compensation::Continue)),
            ),
        )
        .unwrap(),
    );
    let pids: Vec<Pid> = conv.participants().iter().map(|p| p.pid).collect();
    let (tx, rx) = mpsc::channel();
    let slot: Arc<std::sync::OnceLock<CrashCallbackId>> = Arc::default();
    {
        let weak = Arc::downgrade(&conv);
        let own = Arc::clone(&slot);
        let id = conv.add_crash_callback(move |_| {
            let conv = weak.upgrade().expect("alive during the test");
            tx.send(conv.remove_crash_callback(*own.get().unwrap()))
                .unwrap();
        });
        slot.set(id).unwrap();
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let (seen_tx, seen) = mpsc::channel();
    {
        struct OnDrop(Arc<AtomicUsize>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let d = OnDrop(Arc::clone(&dropped));
        conv.add_crash_callback(move |info| {
            let _ = &d;
            seen_tx.send(info.participant).unwrap();
        });
    }
    conv.send(Some(pids[0]), b"crash").unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Ok(()));
    assert_eq!(seen.recv_timeout(WAIT).unwrap(), pids[0]);
    conv.send(Some(pids[1]), b"crash").unwrap();
    assert_eq!(seen.recv_timeout(WAIT).unwrap(), pids[1]);
    let conv = Arc::try_unwrap(conv).unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    drop(conv);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "dropped with the conversation"
    );
    drop(rt);
    assert!(
        rx.try_recv().is_err(),
        "the removed callback was not called again"
    );
}

#[test]
fn the_compensation_is_dropped_with_the_conversation() {
    struct OnDrop(Arc<AtomicUsize>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let rt = runtime();
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = OnDrop(Arc::clone(&dropped));
    let conv = Conversation::open(
        &rt,
        ConversationConfig::new(
            vec![echo_or_crash()],
            OnCrash::Compensate(Box::new(move |_, _, _| {
                let _ = &d;
                Compensation::Continue
            })),
        ),
    )
    .unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    drop(conv);
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}
