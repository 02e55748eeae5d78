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
