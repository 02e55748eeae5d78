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

/// A directory holding `libtransom.so` and its SONAME link `libtransom.so.<major>`, so that
/// programs link and load exactly like they would against an installed library.
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
    let soname = format!("libtransom.so.{}", env!("CARGO_PKG_VERSION_MAJOR"));
    for name in ["libtransom.so".to_string(), soname] {
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
