//! `cargo run --example tour`: builds `examples/tour.c` against the freshly built
//! `libtransom.so` (the same way any C program would link it) and runs it.

#[path = "../tests/support/cbuild.rs"]
mod cbuild;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let src = cbuild::repo_root().join("examples").join("tour.c");
    let exe = cbuild::bin_dir("examples").join("tour");
    if let Err(e) = cbuild::compile(&src, &exe, &["-std=c11", "-D_GNU_SOURCE"], false) {
        eprintln!("could not build the tour:\n{e}");
        return ExitCode::FAILURE;
    }
    match Command::new(&exe).status() {
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
