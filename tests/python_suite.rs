//! The Python suite: runs `python3 -m unittest discover -s bindings/python/tests -v` against the
//! freshly built shared library (`TRANSOM_LIBRARY`) and the package from the source tree, and
//! reports `python-suite: N passed, N failed` parsed from unittest's summary. Builds nothing:
//! the cdylib is the one cargo built for this test run. `TRANSOM_PYTHON` picks the interpreter
//! (default `python3`).

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

/// A suite that runs longer than this is killed and counted as failed.
const TIMEOUT_SECONDS: &str = "600";

/// target/<profile>, found from the running test binary (target/<profile>/deps/…).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("profile dir")
        .to_path_buf()
}

/// The cdylib of this build: `cargo test` builds the library as a dependency into
/// <profile>/deps/ (fresh); <profile>/libtransom.so exists only after a `cargo build` and may
/// be older than the sources, so deps/ comes first.
fn library() -> PathBuf {
    let profile = profile_dir();
    [profile.join("deps"), profile.clone()]
        .into_iter()
        .map(|d| d.join("libtransom.so"))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{}/deps/libtransom.so was not built", profile.display()))
}

/// (tests run, failures + errors, skipped) from unittest's closing lines, e.g.
/// `Ran 81 tests in 3.5s` and `OK (skipped=1)` / `FAILED (failures=2, errors=1)`.
fn summary(output: &str) -> Option<(usize, usize, usize)> {
    let ran = output.lines().rev().find_map(|l| {
        let rest = l.strip_prefix("Ran ")?;
        rest.split_whitespace().next()?.parse::<usize>().ok()
    })?;
    let verdict = output
        .lines()
        .rev()
        .find(|l| l.starts_with("OK") || l.starts_with("FAILED"))?;
    let count = |key: &str| -> usize {
        verdict
            .split(['(', ')', ','])
            .filter_map(|part| part.trim().strip_prefix(key))
            .filter_map(|v| v.strip_prefix('=')?.parse::<usize>().ok())
            .sum()
    };
    let failed = count("failures") + count("errors") + count("unexpected successes");
    Some((ran, failed, count("skipped")))
}

#[test]
fn python_suite() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let pkg = root.join("bindings").join("python");
    let lib = library();
    let python = std::env::var("TRANSOM_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let pythonpath = match std::env::var_os("PYTHONPATH") {
        Some(old) if !old.is_empty() => {
            let mut p = pkg.clone().into_os_string();
            p.push(":");
            p.push(old);
            p
        }
        _ => pkg.clone().into_os_string(),
    };
    let out = Command::new("timeout")
        .args(["--signal=KILL", TIMEOUT_SECONDS])
        .arg(&python)
        .args(["-m", "unittest", "discover", "-s"])
        .arg(pkg.join("tests"))
        .arg("-v")
        .current_dir(&root)
        .env("TRANSOM_LIBRARY", &lib)
        .env("TRANSOM_HEADER", root.join("include").join("transom.h"))
        .env("PYTHONPATH", pythonpath)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // unittest reports on stderr; written straight to the process's stderr (not captured by
    // libtest) so the per-test lines and the summary are visible in `cargo test` output.
    let mut report = format!(
        "python-suite: {python} with TRANSOM_LIBRARY={}\n",
        lib.display()
    );
    report.push_str(&stdout);
    report.push_str(&stderr);
    let (passed, failed) = match summary(&stderr) {
        Some((ran, failed, skipped)) => {
            if skipped > 0 {
                report.push_str(&format!("python-suite: {skipped} skipped\n"));
            }
            (ran - failed - skipped, failed)
        }
        None => (0, 1),
    };
    report.push_str(&format!("python-suite: {passed} passed, {failed} failed\n"));
    let _ = std::io::stderr().write_all(report.as_bytes());
    assert!(
        out.status.success() && failed == 0,
        "python suite failed ({}): {failed} failed",
        out.status
    );
}

#[test]
fn summary_parses_unittest_verdicts() {
    let ok = "test_a ... ok\n\n------\nRan 81 tests in 3.5s\n\nOK\n";
    assert_eq!(summary(ok), Some((81, 0, 0)));
    let skipped = "Ran 5 tests in 0.1s\n\nOK (skipped=2)\n";
    assert_eq!(summary(skipped), Some((5, 0, 2)));
    let failed = "Ran 9 tests in 0.1s\n\nFAILED (failures=2, errors=1, skipped=1)\n";
    assert_eq!(summary(failed), Some((9, 3, 1)));
    assert_eq!(summary("Traceback: ImportError\n"), None);
}
