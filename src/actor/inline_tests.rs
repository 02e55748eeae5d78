//! Tests of inline runs (`process.rs`, "Inline runs"): an idle inline-capable process is run
//! by the thread whose delivery claimed it, a declined message goes to a worker without
//! reordering anything, and `close` waits for an inline run in flight. Real threads, no sleeps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use super::*;

const WAIT: Duration = Duration::from_secs(10);

type Log = Arc<Mutex<Vec<(u8, ThreadId, bool)>>>;

/// Records (first byte, thread, inline) of every message it handles; declines, when inline,
/// the messages whose first byte is in `decline`.
fn logging(log: Log, decline: &'static [u8], done: mpsc::Sender<u8>) -> impl Behaviour {
    move |ctx: &ProcessContext, msg: Message| -> Result<(), ExitReason> {
        let Message::User { bytes, .. } = &msg else {
            return Ok(());
        };
        let b = bytes[0];
        if ctx.is_inline() && decline.contains(&b) {
            ctx.decline(msg);
            return Ok(());
        }
        log.lock()
            .unwrap()
            .push((b, thread::current().id(), ctx.is_inline()));
        let _ = done.send(b);
        Ok(())
    }
}

#[test]
fn an_idle_inline_capable_process_runs_on_the_sending_thread() {
    let rt = Runtime::new(2).unwrap();
    let log = Log::default();
    let (tx, rx) = mpsc::channel();
    let pid = rt
        .spawn(
            logging(Arc::clone(&log), &[], tx),
            SpawnOptions::new().inline(),
        )
        .unwrap()
        .pid;
    rt.send(pid, vec![1u8]).unwrap();
    // Handled inside `send`, on this thread.
    assert_eq!(
        *log.lock().unwrap(),
        vec![(1, thread::current().id(), true)]
    );
    assert_eq!(rx.try_recv(), Ok(1));
    // A process without the option is still run by a worker.
    let (tx, rx) = mpsc::channel();
    let plain = rt
        .spawn(logging(Arc::clone(&log), &[], tx), SpawnOptions::new())
        .unwrap()
        .pid;
    rt.send(plain, vec![2u8]).unwrap();
    assert_eq!(rx.recv_timeout(WAIT), Ok(2));
    let last = log.lock().unwrap()[1];
    assert_ne!(last.1, thread::current().id());
    assert!(!last.2);
}

#[test]
fn a_declined_message_goes_to_a_worker_ahead_of_everything_queued_after_it() {
    let rt = Runtime::new(2).unwrap();
    let log = Log::default();
    let (tx, rx) = mpsc::channel();
    let pid = rt
        .spawn(
            logging(Arc::clone(&log), &[2], tx),
            SpawnOptions::new().inline(),
        )
        .unwrap()
        .pid;
    for b in 1..=5u8 {
        rt.send(pid, vec![b]).unwrap();
    }
    let handled: Vec<u8> = (0..5).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    assert_eq!(handled, vec![1, 2, 3, 4, 5], "one at a time, in order");
    let log = log.lock().unwrap();
    let me = thread::current().id();
    assert_eq!(log[0], (1, me, true));
    assert!(
        log[1].1 != me && !log[1].2,
        "the declined message ran on a worker"
    );
}

#[test]
fn close_waits_for_an_inline_run_in_flight_and_its_behaviour_drop() {
    struct DropCount(Arc<AtomicUsize>);
    impl Drop for DropCount {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let rt = Arc::new(Runtime::new(2).unwrap());
    let drops = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let guard = DropCount(Arc::clone(&drops));
    let pid = rt
        .spawn(
            move |_: &ProcessContext, _: Message| -> Result<(), ExitReason> {
                let _keep = &guard;
                // A test-only block inside an inline run, to hold it in flight.
                started_tx.send(()).unwrap();
                release_rx.lock().unwrap().recv_timeout(WAIT).unwrap();
                Ok(())
            },
            SpawnOptions::new().inline(),
        )
        .unwrap()
        .pid;
    let sender = {
        let rt = Arc::clone(&rt);
        thread::spawn(move || rt.send(pid, vec![1u8]))
    };
    started_rx.recv_timeout(WAIT).unwrap();
    let closer = {
        let (rt, drops) = (Arc::clone(&rt), Arc::clone(&drops));
        thread::spawn(move || {
            rt.close();
            drops.load(Ordering::SeqCst)
        })
    };
    // Release the run only once the shutdown killed the process: its behaviour is then dropped
    // by the inline run, on the sender's thread, and close must wait for that.
    while !rt.is_closed() {
        thread::yield_now();
    }
    release_tx.send(()).unwrap();
    assert_eq!(closer.join().unwrap(), 1, "close returned before the drop");
    assert_eq!(sender.join().unwrap(), Ok(()));
}
