//! The C suite: compiles every `c-tests/*.c` against the freshly built shared library, runs
//! each program and reports `N passed, N failed` over their test cases. Stress sizes scale with
//! `TRANSOM_TEST_SCALE` (default 1 = full size), which is passed through to the programs.
//! `TRANSOM_STORE_TOOL` names the `transom-store` binary cargo built for this test, which
//! `c-tests/store_cli.c` runs.

#[path = "support/cbuild.rs"]
mod cbuild;

#[test]
fn c_suite() {
    // The only test of this binary: nothing else reads the environment concurrently.
    std::env::set_var("TRANSOM_STORE_TOOL", env!("CARGO_BIN_EXE_transom-store"));
    let sources = cbuild::sources(&cbuild::repo_root().join("c-tests"), "c");
    cbuild::run_suite(
        "c-suite",
        "c-tests",
        &sources,
        &["-std=c11", "-D_GNU_SOURCE"],
        false,
    );
}
