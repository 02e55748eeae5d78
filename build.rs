//! Build script: generates `include/transom.h` with cbindgen and gives the shared library its
//! SONAME. The header is committed; CI regenerates it and fails when the copy differs.
//!
//! The ABI id is `0.<minor>` while the major version is 0 (Cargo's semver rule: a 0.x minor
//! release breaks) and `<major>` from 1.0 on; the SONAME is `libtransom.so.<abi>`, so a binary
//! linked against another ABI cannot load this library by mistake. CMakeLists.txt (TRANSOM_ABI)
//! and .ci/run (`abi`) compute the same id; tests/header.rs checks the header against Cargo.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("version major");
    let minor = env::var("CARGO_PKG_VERSION_MINOR").expect("version minor");
    let patch = env::var("CARGO_PKG_VERSION_PATCH").expect("version patch");

    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    // Tests and the tour compile C with the cc crate, which needs the target triple.
    println!(
        "cargo:rustc-env=TRANSOM_BUILD_TARGET={}",
        env::var("TARGET").expect("TARGET")
    );

    // The ABI id: 0.<minor> before 1.0, <major> from 1.0 on. SONAME libtransom.so.<abi>.
    let abi = if major == "0" {
        format!("0.{minor}")
    } else {
        major.clone()
    };
    let soname = format!("libtransom.so.{abi}");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    // Tests and the tour link C programs through a SONAME link, exactly like an installed library.
    println!("cargo:rustc-env=TRANSOM_SONAME={soname}");

    // loom builds replace the atomics; the header does not depend on them.
    if env::var("CARGO_CFG_LOOM").is_ok() {
        return;
    }

    let mut config =
        cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    let version_macros = format!(
        "\n/** Version of the transom headers, generated from Cargo metadata: the major version. */\n\
         #define TRANSOM_VERSION_MAJOR {major}\n\
         /** The minor version of the transom headers. */\n\
         #define TRANSOM_VERSION_MINOR {minor}\n\
         /** The patch version of the transom headers. */\n\
         #define TRANSOM_VERSION_PATCH {patch}\n\
         /** The version as one number: MAJOR * 10000 + MINOR * 100 + PATCH (compare with transom_version()). */\n\
         #define TRANSOM_VERSION (TRANSOM_VERSION_MAJOR * 10000 + TRANSOM_VERSION_MINOR * 100 + TRANSOM_VERSION_PATCH)\n\
         /** The version as a string literal. */\n\
         #define TRANSOM_VERSION_STRING \"{major}.{minor}.{patch}\"\n\
         /** The ABI id as a string literal: \"0.<minor>\" before 1.0 (every 0.x minor release breaks the ABI), \"<major>\" from 1.0 on. Binaries built against one ABI id cannot load a library of another: the SONAME carries it. */\n\
         #define TRANSOM_ABI_VERSION_STRING \"{abi}\"\n\
         /** The shared library's SONAME on ELF systems, e.g. for dlopen(). */\n\
         #define TRANSOM_SONAME \"{soname}\"\n"
    );
    config.after_includes = Some(version_macros);

    let bindings = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("cbindgen failed to generate include/transom.h");
    let mut raw = Vec::new();
    bindings.write(&mut raw);
    let out = parenthesize_negative_macros(&String::from_utf8(raw).expect("UTF-8 header"));
    let out = out.into_bytes();
    let path = dir.join("include").join("transom.h");
    // Rewrite only on change so that an unchanged header keeps its mtime.
    if fs::read(&path).ok().as_deref() != Some(out.as_slice()) {
        fs::create_dir_all(path.parent().expect("include dir")).expect("create include/");
        fs::write(&path, out).expect("write include/transom.h");
    }
}

/// `#define X -1` becomes `#define X (-1)`, so the macros expand safely in any expression.
fn parenthesize_negative_macros(header: &str) -> String {
    let mut out = String::with_capacity(header.len() + 64);
    for line in header.lines() {
        let mut parts = line.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("#define"), Some(name), Some(value))
                if value.starts_with('-') && value[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                out.push_str(&format!("#define {name} ({value})"));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
