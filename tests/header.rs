//! The committed header is part of the API: every name it defines carries the library's prefix,
//! every function and type is documented, and every handle type states its thread-safety.

use std::path::PathBuf;

fn header() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include/transom.h");
    std::fs::read_to_string(p).expect("include/transom.h")
}

#[test]
fn every_defined_name_has_the_transom_prefix() {
    let h = header();
    let mut bad = Vec::new();
    for line in h.lines() {
        let name = if let Some(rest) = line.strip_prefix("#define ") {
            rest.split([' ', '(']).next().unwrap_or("")
        } else if let Some(rest) = line.strip_prefix("typedef struct ") {
            rest.split([' ', '{']).next().unwrap_or("")
        } else if line.starts_with("transom_status ") || line.starts_with("void ") {
            line.split('(')
                .next()
                .unwrap()
                .split([' ', '*'])
                .next_back()
                .unwrap_or("")
        } else {
            continue;
        };
        let ok = name.starts_with("transom_") || name.starts_with("TRANSOM_");
        if !ok {
            bad.push(line.to_string());
        }
    }
    assert!(
        bad.is_empty(),
        "names without the transom prefix:\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_function_is_documented() {
    let h = header();
    let lines: Vec<&str> = h.lines().collect();
    let mut undocumented = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let is_fn = line.contains("transom_")
            && line.contains('(')
            && !line.starts_with(' ')
            && !line.starts_with('#')
            && !line.starts_with(" *")
            && !line.starts_with("/*");
        if is_fn && i > 0 && lines[i - 1].trim() != "*/" {
            undocumented.push(line.to_string());
        }
    }
    assert!(
        undocumented.is_empty(),
        "functions without a doc comment:\n{}",
        undocumented.join("\n")
    );
}

#[test]
fn every_handle_type_states_its_thread_safety() {
    let h = header();
    let lines: Vec<&str> = h.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        // Opaque handles: `typedef struct transom_x transom_x;`
        if line.starts_with("typedef struct transom_") && line.ends_with(';') {
            let doc_start = lines[..i]
                .iter()
                .rposition(|l| l.starts_with("/**"))
                .unwrap();
            let doc = lines[doc_start..i].join("\n");
            assert!(
                doc.contains("Thread safety:"),
                "{line} has no thread-safety sentence"
            );
        }
    }
}

/// The value of `#define NAME value` in the header.
fn define(h: &str, name: &str) -> String {
    let prefix = format!("#define {name} ");
    h.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("the header does not define {name}"))
        .trim()
        .to_string()
}

/// The ABI id from Cargo metadata: `0.<minor>` before 1.0 (Cargo's semver rule: 0.x minors
/// break), `<major>` from 1.0 on. Computed here independently of build.rs.
fn abi_from_cargo() -> String {
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    let minor = env!("CARGO_PKG_VERSION_MINOR");
    if major == "0" {
        format!("0.{minor}")
    } else {
        major.to_string()
    }
}

#[test]
fn version_and_abi_macros_match_cargo_metadata() {
    let h = header();
    assert_eq!(
        define(&h, "TRANSOM_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MAJOR")
    );
    assert_eq!(
        define(&h, "TRANSOM_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_MINOR")
    );
    assert_eq!(
        define(&h, "TRANSOM_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION_PATCH")
    );
    assert_eq!(
        define(&h, "TRANSOM_VERSION_STRING"),
        format!("\"{}\"", env!("CARGO_PKG_VERSION"))
    );
    let abi = abi_from_cargo();
    assert_eq!(
        define(&h, "TRANSOM_ABI_VERSION_STRING"),
        format!("\"{abi}\"")
    );
    assert_eq!(
        define(&h, "TRANSOM_SONAME"),
        format!("\"libtransom.so.{abi}\"")
    );
    // build.rs hands the same SONAME to the tests (tests/support/cbuild.rs links through it).
    assert_eq!(env!("TRANSOM_SONAME"), format!("libtransom.so.{abi}"));
}

/// DT_SONAME of a little-endian ELF64 shared library, read from its `.dynamic` section.
#[cfg(all(
    target_os = "linux",
    target_pointer_width = "64",
    target_endian = "little"
))]
fn elf_soname(elf: &[u8]) -> Option<String> {
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    assert_eq!(&elf[..5], b"\x7fELF\x02", "not an ELF64 file");
    let (shoff, shentsize, shnum) = (u64_at(0x28), u16_at(0x3a), u16_at(0x3c));
    let section = |i: usize| shoff + i * shentsize;
    for i in 0..shnum {
        let sh = section(i);
        if u32_at(sh + 4) != 6 {
            continue; // SHT_DYNAMIC
        }
        let (off, size) = (u64_at(sh + 0x18), u64_at(sh + 0x20));
        let strtab = section(u32_at(sh + 0x28)); // sh_link: the dynamic string table
        let stroff = u64_at(strtab + 0x18);
        for entry in (off..off + size).step_by(16) {
            if u64_at(entry) == 14 {
                // DT_SONAME: an offset into the dynamic string table.
                let start = stroff + u64_at(entry + 8);
                let end = start + elf[start..].iter().position(|&b| b == 0)?;
                return Some(String::from_utf8_lossy(&elf[start..end]).into_owned());
            }
        }
    }
    None
}

#[test]
#[cfg(all(
    target_os = "linux",
    target_pointer_width = "64",
    target_endian = "little"
))]
fn shared_library_soname_carries_the_abi_id() {
    // This test binary is target/<profile>/deps/header-*; cargo builds the cdylib next to it.
    let deps = std::env::current_exe()
        .expect("current_exe")
        .parent()
        .expect("deps dir")
        .to_path_buf();
    let lib = deps.join("libtransom.so");
    let elf = std::fs::read(&lib).unwrap_or_else(|e| panic!("{}: {e}", lib.display()));
    assert_eq!(
        elf_soname(&elf).as_deref(),
        Some(format!("libtransom.so.{}", abi_from_cargo()).as_str()),
        "SONAME of {}",
        lib.display()
    );
}

/// The Python package states the same version and loads the same SONAME.
#[test]
fn python_package_version_and_soname_match_cargo_metadata() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bindings/python");
    let read = |p: &str| {
        std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("bindings/python/{p}: {e}"))
    };
    let assignment = |text: &str, name: &str| -> String {
        let prefix = format!("{name} = ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no `{name} = ` line"))
            .trim()
            .to_string()
    };
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        assignment(&read("pyproject.toml"), "version"),
        format!("\"{version}\"")
    );
    let init = read("transom/__init__.py");
    assert_eq!(assignment(&init, "__version__"), format!("\"{version}\""));
    assert_eq!(
        assignment(&init, "VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MAJOR")
    );
    assert_eq!(
        assignment(&init, "VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_MINOR")
    );
    assert_eq!(
        assignment(&init, "VERSION_PATCH"),
        env!("CARGO_PKG_VERSION_PATCH")
    );
    let ffi = read("transom/_ffi.py");
    assert_eq!(
        assignment(&ffi, "SONAME"),
        format!("\"libtransom.so.{}\"", abi_from_cargo())
    );
}
