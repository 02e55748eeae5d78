//! `cargo run --example tour`: builds `examples/tour.c` against the freshly built
//! `libtransom.so` (the same way any C program would link it) and runs it, with the
//! `transom-store` tool of this checkout built first so that the tour can run
//! `transom-store verify` and `info` on the store it made.
//!
//! `cargo run --example` builds the library but not the crate's binaries, so the tool is built
//! here with the same cargo, manifest, target directory and profile, and handed to the tour as
//! `TRANSOM_STORE_TOOL` (a tour built by hand finds `transom-store` on PATH instead).

#[path = "../tests/support/cbuild.rs"]
mod cbuild;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// Builds `transom-store` into this build's profile directory and returns its path.
fn build_tool() -> Result<PathBuf, String> {
    let profile_dir = cbuild::profile_dir();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(name) => name.to_owned(),
        None => return Err(format!("no profile in {}", profile_dir.display())),
    };
    let target_dir = profile_dir.parent().ok_or("no target directory")?;
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    println!(
        "(building the transom-store tool: cargo build --bin transom-store --profile {profile})"
    );
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--bin",
            "transom-store",
            "--profile",
            &profile,
        ])
        .arg("--manifest-path")
        .arg(cbuild::repo_root().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .status()
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build --bin transom-store exited with {status}"
        ));
    }
    let tool = profile_dir.join("transom-store");
    if !tool.exists() {
        return Err(format!("{} was not built", tool.display()));
    }
    Ok(tool)
}

fn main() -> ExitCode {
    let tool = match build_tool() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("could not build transom-store for the tour: {e}");
            return ExitCode::FAILURE;
        }
    };
    let src = cbuild::repo_root().join("examples").join("tour.c");
    let exe = cbuild::bin_dir("examples").join("tour");
    if let Err(e) = cbuild::compile(&src, &exe, &["-std=c11", "-D_GNU_SOURCE"], false) {
        eprintln!("could not build the tour:\n{e}");
        return ExitCode::FAILURE;
    }
    match Command::new(&exe).env("TRANSOM_STORE_TOOL", &tool).status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("the tour exited with {s}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("could not run {}: {e}", exe.display());
            ExitCode::FAILURE
        }
    }
}
