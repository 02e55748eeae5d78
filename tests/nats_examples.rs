//! The remote-cursor examples (examples/nats/remote_cursor.c and .py) built and run against a
//! real nats-server holding a mirrored stream: each prints every event once, and a second run
//! with the same consumer name resumes after the first run's checkpoint (prints nothing new
//! until more events arrive).

#![cfg(feature = "nats")]

#[path = "support/cbuild.rs"]
mod cbuild;
#[path = "support/nats.rs"]
mod nats_support;

use std::path::Path;
use std::process::Command;

use nats_support::NatsCluster;
use transom::nats::envelope;
use transom::store::{AppendRequest, Config, EventView, Store};

/// Publishes events `from..=to` (stream "orders", kind 7, payload "order <i>") as the mirror
/// would; creates the stream first when `from` is 1.
fn publish(c: &mut NatsCluster, from: u64, to: u64) {
    if from == 1 {
        c.create_stream("EVENTS", &["transom.>"], 1);
    }
    let store = Store::open(Config::in_memory()).unwrap();
    for i in 1..=to {
        store
            .append(AppendRequest::new(
                "orders",
                7,
                format!("order {i}").into_bytes(),
            ))
            .unwrap();
    }
    let js = c.js();
    let events = store
        .read_from_sequence(from, (to - from + 1) as usize)
        .unwrap();
    c.block_on(async {
        for e in &events {
            let env = envelope::encode(&EventView::of(e), "transom");
            let mut h = async_nats::HeaderMap::new();
            for (name, value) in &env.headers {
                h.insert(*name, value.as_str());
            }
            let ack = js
                .publish_with_headers(env.subject, h, e.payload.clone().into())
                .await
                .unwrap();
            assert_eq!(ack.await.unwrap().sequence, e.sequence);
        }
    });
}

fn expected(from: u64, to: u64) -> String {
    (from..=to)
        .map(|i| format!("{i} orders kind=7 order {i}\n"))
        .collect()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run the example");
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_c_and_python_remote_cursor_examples_consume_and_resume() {
    let mut c = NatsCluster::single();
    publish(&mut c, 1, 20);
    let url = c.url(0);
    let root = cbuild::repo_root();
    let exe = cbuild::bin_dir("examples").join("remote_cursor");
    cbuild::compile(
        &root.join("examples/nats/remote_cursor.c"),
        &exe,
        &["-std=c11"],
        false,
    )
    .unwrap();
    let c_run = |idle: &str| run(Command::new(&exe).args([&url, "EVENTS", "c-example", idle]));
    let py_run = |idle: &str| {
        let lib = cbuild::lib_dir().join("libtransom.so");
        run(Command::new("python3")
            .arg(root.join("examples/nats/remote_cursor.py"))
            .args([&url, "EVENTS", "py-example", idle])
            .env("PYTHONPATH", Path::new(&root).join("bindings/python"))
            .env("TRANSOM_LIBRARY", lib))
    };
    assert_eq!(c_run("1"), expected(1, 20));
    assert_eq!(py_run("1"), expected(1, 20));
    // Both checkpointed everything: a second run sees only what came since.
    publish(&mut c, 21, 25);
    assert_eq!(c_run("1"), expected(21, 25));
    assert_eq!(py_run("1"), expected(21, 25));
}
