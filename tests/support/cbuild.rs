//! Compiles C (and C++) programs against the freshly built `libtransom.so`, for the C suite
//! (`tests/c_suite.rs`) and the tour (`examples/tour.rs`). Uses the `cc` crate to find the
//! system compiler the same way build scripts do.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where cargo put this build's artifacts (target/<profile>), found from the running binary
/// (target/<profile>/deps/… for tests, target/<profile>/examples/… for examples).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("exe dir");
    dir.parent().expect("profile dir").to_path_buf()
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A directory holding `libtransom.so` and its SONAME link `libtransom.so.<abi>` (from build.rs),
/// so that programs link and load exactly like they would against an installed library.
pub fn lib_dir() -> PathBuf {
    let profile = profile_dir();
    // `cargo test` and `cargo run --example` build the library only as a dependency: the fresh
    // cdylib is in <profile>/deps/, and <profile>/libtransom.so exists only after a `cargo
    // build` (and may be older than the sources). Prefer deps/.
    let built = [profile.join("deps"), profile.clone()]
        .into_iter()
        .map(|d| d.join("libtransom.so"))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{}/deps/libtransom.so was not built (crate-type cdylib)",
                profile.display()
            )
        });
    let dir = profile.join("transom-c").join("lib");
    std::fs::create_dir_all(&dir).expect("create lib dir");
    for name in ["libtransom.so", env!("TRANSOM_SONAME")] {
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&built, &link).expect("symlink libtransom");
    }
    dir
}

/// The output directory for compiled test programs.
pub fn bin_dir(kind: &str) -> PathBuf {
    let dir = profile_dir().join("transom-c").join(kind);
    std::fs::create_dir_all(&dir).expect("create bin dir");
    dir
}

fn compiler(cpp: bool) -> Command {
    let target = env!("TRANSOM_BUILD_TARGET");
    let mut build = cc::Build::new();
    build
        .cargo_metadata(false)
        .cpp(cpp)
        .target(target)
        .host(target)
        .opt_level(1)
        .debug(true)
        .warnings(true);
    build.get_compiler().to_command()
}

/// Compiles `src` into `exe`, linked against the shared library. `flags` come first (e.g.
/// `-std=c11`). Returns the compiler's diagnostics on failure.
pub fn compile(src: &Path, exe: &Path, flags: &[&str], cpp: bool) -> Result<(), String> {
    let root = repo_root();
    let lib = lib_dir();
    let mut cmd = compiler(cpp);
    cmd.args(flags)
        .args(["-Wall", "-Wextra", "-Werror"])
        .arg(format!("-I{}", root.join("include").display()))
        .arg(format!("-I{}", root.join("c-tests").display()))
        .arg("-o")
        .arg(exe)
        .arg(src)
        .arg(format!("-L{}", lib.display()))
        .arg("-ltransom")
        .arg("-lpthread")
        .arg(format!("-Wl,-rpath,{}", lib.display()));
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run the C compiler: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
        Err(format!(
            "{} {} failed:\n{}{}",
            cmd.get_program().to_string_lossy(),
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Every file in `dir` ending in `.ext`, sorted; panics when there is none.
pub fn sources(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut sources: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    sources.sort();
    assert!(!sources.is_empty(), "no *.{ext} tests in {}", dir.display());
    sources
}

/// Compiles each of `sources` into `bin_dir(kind)` and runs it (killed after 600 s). Each
/// program prints `ok <case>` per passing case and exits non-zero on the first failure. Writes
/// the failures and `<label>: N passed, N failed` straight to stderr (not captured by libtest,
/// so the summary is always visible) and panics if any program failed.
pub fn run_suite(label: &str, kind: &str, sources: &[PathBuf], flags: &[&str], cpp: bool) {
    use std::io::Write;
    use std::time::Instant;

    let bin = bin_dir(kind);
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut failures = Vec::new();
    for src in sources {
        let name = src.file_stem().unwrap().to_string_lossy().into_owned();
        let exe = bin.join(&name);
        if let Err(e) = compile(src, &exe, flags, cpp) {
            failed += 1;
            failures.push(format!("{name}: does not compile\n{e}"));
            continue;
        }
        let start = Instant::now();
        let out = Command::new("timeout")
            .args(["--signal=KILL", "600"])
            .arg(&exe)
            .output()
            .expect("run a test program");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let cases = stdout.lines().filter(|l| l.starts_with("ok ")).count();
        passed += cases;
        if out.status.success() {
            println!("{kind}/{name}: {cases} ok in {:.2?}", start.elapsed());
        } else {
            failed += 1;
            failures.push(format!(
                "{name}: {} after {cases} passing cases\n{stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let mut report = String::new();
    for f in &failures {
        report.push_str(&format!("FAILED {f}\n"));
    }
    report.push_str(&format!("{label}: {passed} passed, {failed} failed\n"));
    let _ = std::io::stderr().write_all(report.as_bytes());
    assert_eq!(failed, 0, "{failed} test program(s) failed");
}
