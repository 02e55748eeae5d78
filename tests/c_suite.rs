//! The C suite: compiles every `c-tests/*.c` against the freshly built shared library, runs
//! each program and reports `N passed, N failed` over their test cases. Stress sizes scale with
//! `TRANSOM_TEST_SCALE` (default 1 = full size), which is passed through to the programs.

#[path = "support/cbuild.rs"]
mod cbuild;

use std::io::Write;
use std::process::Command;
use std::time::Instant;

/// A program that runs longer than this is killed and counted as failed.
const TIMEOUT_SECONDS: &str = "600";

#[test]
fn c_suite() {
    let dir = cbuild::repo_root().join("c-tests");
    let mut sources: Vec<_> = std::fs::read_dir(&dir)
        .expect("c-tests/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    assert!(!sources.is_empty(), "no C tests found in {}", dir.display());

    let bin = cbuild::bin_dir("c-tests");
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut failures = Vec::new();
    for src in &sources {
        let name = src.file_stem().unwrap().to_string_lossy().into_owned();
        let exe = bin.join(&name);
        if let Err(e) = cbuild::compile(src, &exe, &["-std=c11", "-D_GNU_SOURCE"], false) {
            failed += 1;
            failures.push(format!("{name}: does not compile\n{e}"));
            continue;
        }
        let start = Instant::now();
        let out = Command::new("timeout")
            .args(["--signal=KILL", TIMEOUT_SECONDS])
            .arg(&exe)
            .output()
            .expect("run C test");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let cases = stdout.lines().filter(|l| l.starts_with("ok ")).count();
        passed += cases;
        if out.status.success() {
            println!("c-tests/{name}: {cases} ok in {:.2?}", start.elapsed());
        } else {
            failed += 1;
            failures.push(format!(
                "{name}: {} after {cases} passing cases\n{stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    // Written straight to the process's stderr (not captured by libtest) so that the summary is
    // always visible in `cargo test` output.
    let mut report = String::new();
    for f in &failures {
        report.push_str(&format!("FAILED {f}\n"));
    }
    report.push_str(&format!("c-suite: {passed} passed, {failed} failed\n"));
    let _ = std::io::stderr().write_all(report.as_bytes());
    assert_eq!(failed, 0, "{failed} C test program(s) failed");
}
