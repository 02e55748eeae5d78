//! Benchmark-only package: transom's actor runtime and supervised conversations measured against
//! peers (ractor on a current-thread tokio runtime, a crossbeam-channel ping-pong floor), in the
//! same run. It lives in its own workspace member so that the root crate's `cargo test` never
//! compiles those peers. There is no library code here; see `benches/actors.rs` and
//! `RESULTS.md`.
