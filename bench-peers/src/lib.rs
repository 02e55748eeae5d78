//! Benchmark-only package: transom measured against peers that are heavy to build (batpak,
//! later kameo/ractor), in the same run. It lives in its own workspace member so that the root
//! crate's `cargo test` never compiles those peers. There is no library code here; see
//! `benches/` and `STORE_RESULTS.md`.
