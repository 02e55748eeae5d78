//! The C++ suite: compiles every `bindings/cpp/tests/*.cpp` (C++17, `-Wall -Wextra -Werror`)
//! against `bindings/cpp/transom.hpp` and the freshly built shared library, runs each program
//! and reports `N passed, N failed` over their test cases. `TRANSOM_TEST_SCALE` is passed
//! through like for the C suite; `TRANSOM_CPP_SANITIZE=1` builds the programs with ASan + UBSan.

#[path = "support/cbuild.rs"]
mod cbuild;

use std::io::Write;
use std::process::Command;
use std::time::Instant;

/// A program that runs longer than this is killed and counted as failed.
const TIMEOUT_SECONDS: &str = "600";

#[test]
fn cpp_suite() {
    let root = cbuild::repo_root();
    let dir = root.join("bindings/cpp/tests");
    let mut sources: Vec<_> = std::fs::read_dir(&dir)
        .expect("bindings/cpp/tests/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cpp"))
        .collect();
    sources.sort();
    assert!(
        !sources.is_empty(),
        "no C++ tests found in {}",
        dir.display()
    );

    let include = format!("-I{}", root.join("bindings/cpp").display());
    let tests_include = format!("-I{}", dir.display());
    let sanitize = std::env::var("TRANSOM_CPP_SANITIZE").is_ok_and(|v| v == "1");
    let mut flags = vec!["-std=c++17", include.as_str(), tests_include.as_str()];
    if sanitize {
        flags.extend([
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ]);
    }

    let bin = cbuild::bin_dir(if sanitize {
        "cpp-tests-asan"
    } else {
        "cpp-tests"
    });
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut failures = Vec::new();
    for src in &sources {
        let name = src.file_stem().unwrap().to_string_lossy().into_owned();
        let exe = bin.join(&name);
        if let Err(e) = cbuild::compile(src, &exe, &flags, true) {
            failed += 1;
            failures.push(format!("{name}: does not compile\n{e}"));
            continue;
        }
        let start = Instant::now();
        let out = Command::new("timeout")
            .args(["--signal=KILL", TIMEOUT_SECONDS])
            .arg(&exe)
            .output()
            .expect("run C++ test");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let cases = stdout.lines().filter(|l| l.starts_with("ok ")).count();
        passed += cases;
        if out.status.success() {
            println!("cpp-tests/{name}: {cases} ok in {:.2?}", start.elapsed());
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
    report.push_str(&format!("cpp-suite: {passed} passed, {failed} failed\n"));
    let _ = std::io::stderr().write_all(report.as_bytes());
    assert_eq!(failed, 0, "{failed} C++ test program(s) failed");
}
