//! The NATS test harness itself (tests/support/nats.rs): a real 3-node JetStream cluster keeps
//! accepting acknowledged publishes on a 3-replica stream after its leader is SIGKILLed.

#![cfg(feature = "nats")]

#[path = "support/nats.rs"]
mod nats_support;

use nats_support::NatsCluster;

#[test]
fn a_replicated_stream_accepts_publishes_after_its_leader_is_killed() {
    assert!(
        nats_support::server_version().contains("v2."),
        "unexpected nats-server: {}",
        nats_support::server_version()
    );
    let mut c = NatsCluster::three();
    c.create_stream("SMOKE", &["smoke.>"], 3);
    assert_eq!(c.publish_acked("smoke.a", b"one", "m1"), 1);
    let leader = c.stream_leader("SMOKE");
    c.kill(leader);
    assert!(!c.is_running(leader));
    // A new leader is elected among the two survivors; the retried publish lands once.
    assert_eq!(c.publish_acked("smoke.a", b"two", "m2"), 2);
    let new_leader = c.stream_leader("SMOKE");
    assert_ne!(new_leader, leader);
    // The killed node comes back on its ports and directory and catches up.
    c.restart(leader);
    assert_eq!(c.publish_acked("smoke.a", b"three", "m3"), 3);
    assert_eq!(c.stream_state("SMOKE"), (3, 3));
}
