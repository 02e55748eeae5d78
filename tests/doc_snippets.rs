//! The documentation's programs and names, checked on every `cargo test`.
//!
//! Every fenced block of README.md and docs/COOKBOOK.md whose info string starts with `c`,
//! `cpp` or `python` is a complete program: C blocks are compiled as C11 and C++ blocks as
//! C++17 (`-Wall -Wextra -Werror -pedantic`) against include/ (and bindings/cpp/) and the
//! freshly built libtransom.so, Python blocks are run with the package from the source tree;
//! then each program runs (in a fresh, empty directory, killed after 120 s) and must exit 0. A
//! block whose info string also has the word `no-run` (e.g. ```` ```c no-run ````) is only
//! built. The invariant: a reader can paste any of these blocks into a file and it works.
//!
//! Names: every `transom_*` / `TRANSOM_*` name the documents mention, in code or prose, is
//! defined by include/transom.h (a name ending in `_`, as in `TRANSOM_ERR_*`, must prefix one),
//! or is one of the few non-header names in [`NOT_IN_HEADER`]. So a renamed function cannot
//! linger in the prose either.

#[path = "support/cbuild.rs"]
mod cbuild;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The documents whose programs and names are checked (relative to the repository root).
const DOCS: &[&str] = &["README.md", "docs/COOKBOOK.md"];

/// Names the documents may use that the header does not define, and what they are.
const NOT_IN_HEADER: &[&str] = &[
    "transom_static",     // CMake target transom::transom_static
    "TRANSOM_TEST_SCALE", // environment: stress sizes of the C suite
    "TRANSOM_LIBRARY",    // environment: the library the Python package loads
    "TRANSOM_BUILD_TESTS",
    "TRANSOM_BUILD_EXAMPLES",
    "TRANSOM_BUILD_CPP_TESTS", // CMake options (CMakeLists.txt)
    "TRANSOM_CARGO_TARGET_DIR",
    "TRANSOM_NATS_URL", // environment: the server examples/mirror.c and c-tests/mirror.c use
    // The remote cursor (issue 9, branch nats9r): in the header once that branch is merged.
    "transom_canal_open_remote_cursor",
    "transom_remote_cursor_options",
];

/// Seconds a documented program may run.
const RUN_TIMEOUT_SECONDS: &str = "120";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    C,
    Cpp,
    Python,
}

#[derive(Debug)]
struct Snippet {
    /// e.g. `README.md:63` (the line of the opening fence).
    origin: String,
    /// A file-name-safe form of `origin`, e.g. `README-63`.
    stem: String,
    lang: Lang,
    run: bool,
    code: String,
}

/// The fenced blocks of `text` in one of the checked languages. Fences open and close at
/// column 0 with three or more backticks.
fn snippets(doc: &str, text: &str) -> Vec<Snippet> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let fence_len = 3 + info.chars().take_while(|&c| c == '`').count();
        let fence = "`".repeat(fence_len);
        let info = info.trim_start_matches('`').trim();
        let mut words = info.split_whitespace();
        let lang = match words.next() {
            Some("c") => Some(Lang::C),
            Some("cpp") | Some("c++") => Some(Lang::Cpp),
            Some("python") => Some(Lang::Python),
            _ => None,
        };
        let run = !words.any(|w| w == "no-run");
        let mut code = String::new();
        let mut closed = false;
        for (_, l) in lines.by_ref() {
            if l.trim_end() == fence {
                closed = true;
                break;
            }
            code.push_str(l);
            code.push('\n');
        }
        assert!(closed, "{doc}:{}: the fenced block is never closed", n + 1);
        if let Some(lang) = lang {
            let stem = format!(
                "{}-{}",
                Path::new(doc)
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
                n + 1
            );
            out.push(Snippet {
                origin: format!("{doc}:{}", n + 1),
                stem,
                lang,
                run,
                code,
            });
        }
    }
    out
}

fn read(rel: &str) -> String {
    let path = cbuild::repo_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fresh, empty directory for one program to run in.
fn fresh_dir(base: &Path, stem: &str) -> PathBuf {
    let dir = base.join(format!("{stem}.run"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create run dir");
    dir
}

/// Builds (and unless `no-run`, runs) one snippet; Err carries what a reader needs to fix it.
fn check(s: &Snippet, bin: &Path, python: &str) -> Result<(), String> {
    let root = cbuild::repo_root();
    let run_dir = fresh_dir(bin, &s.stem);
    let mut cmd = match s.lang {
        Lang::C | Lang::Cpp => {
            let (ext, cpp) = if s.lang == Lang::C {
                ("c", false)
            } else {
                ("cpp", true)
            };
            let src = bin.join(format!("{}.{ext}", s.stem));
            std::fs::write(&src, &s.code).expect("write snippet");
            let exe = bin.join(&s.stem);
            let cpp_include = format!("-I{}", root.join("bindings/cpp").display());
            let flags: Vec<&str> = if cpp {
                vec!["-std=c++17", "-pedantic", &cpp_include]
            } else {
                vec!["-std=c11", "-pedantic"]
            };
            cbuild::compile(&src, &exe, &flags, cpp)?;
            if !s.run {
                return Ok(());
            }
            let mut cmd = Command::new("timeout");
            cmd.args(["--signal=KILL", RUN_TIMEOUT_SECONDS]).arg(&exe);
            cmd
        }
        Lang::Python => {
            let src = bin.join(format!("{}.py", s.stem));
            std::fs::write(&src, &s.code).expect("write snippet");
            // Syntax only (also for `no-run` blocks); writes no bytecode.
            let compiled = Command::new(python)
                .args([
                    "-c",
                    "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')",
                ])
                .arg(&src)
                .output()
                .map_err(|e| format!("cannot run {python}: {e}"))?;
            if !compiled.status.success() {
                return Err(String::from_utf8_lossy(&compiled.stderr).into_owned());
            }
            if !s.run {
                return Ok(());
            }
            let mut cmd = Command::new("timeout");
            cmd.args(["--signal=KILL", RUN_TIMEOUT_SECONDS])
                .arg(python)
                .arg(&src)
                .env("PYTHONPATH", root.join("bindings/python"))
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env("TRANSOM_LIBRARY", cbuild::lib_dir().join("libtransom.so"));
            cmd
        }
    };
    let out = cmd
        .current_dir(&run_dir)
        .output()
        .map_err(|e| format!("cannot run the program: {e}"))?;
    if out.status.success() {
        let _ = std::fs::remove_dir_all(&run_dir);
        Ok(())
    } else {
        Err(format!(
            "the program failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn documented_programs_build_and_run() {
    let python = std::env::var("TRANSOM_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let bin = cbuild::bin_dir("doc-snippets");
    let all: Vec<Snippet> = DOCS.iter().flat_map(|d| snippets(d, &read(d))).collect();
    for lang in [Lang::C, Lang::Cpp, Lang::Python] {
        assert!(
            all.iter().any(|s| s.lang == lang),
            "no {lang:?} block found in {DOCS:?}: is the extraction broken?"
        );
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut report = String::new();
    for s in &all {
        match check(s, &bin, &python) {
            Ok(()) => {
                passed += 1;
                println!(
                    "{} ({:?}{}): ok",
                    s.origin,
                    s.lang,
                    if s.run { "" } else { ", built only" }
                );
            }
            Err(e) => {
                failed += 1;
                report.push_str(&format!("FAILED {} ({:?}): {e}\n", s.origin, s.lang));
            }
        }
    }
    report.push_str(&format!("doc-snippets: {passed} passed, {failed} failed\n"));
    let _ = std::io::stderr().write_all(report.as_bytes());
    assert_eq!(failed, 0, "{failed} documented program(s) failed");
}

/// Every `transom_…` and `TRANSOM_…` identifier in `text`: (name, is_prefix). A name is a
/// prefix when it ends in `_` (as in `TRANSOM_ERR_*` or `transom_X_free`).
fn mentioned_names(text: &str) -> Vec<(String, bool)> {
    let bytes = text.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        let (lower, upper) = (rest.starts_with("transom_"), rest.starts_with("TRANSOM_"));
        let at_boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if (lower || upper) && at_boundary {
            let len = rest
                .bytes()
                .take_while(|&b| {
                    b == b'_'
                        || b.is_ascii_digit()
                        || (lower && b.is_ascii_lowercase())
                        || (upper && b.is_ascii_uppercase())
                })
                .count();
            let name = &rest[..len];
            names.push((name.to_string(), name.ends_with('_')));
            i += len;
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    names
}

#[test]
fn documented_names_exist_in_the_header() {
    let header = read("include/transom.h");
    let defined: BTreeSet<String> = mentioned_names(&header)
        .into_iter()
        .filter(|(_, prefix)| !prefix)
        .map(|(n, _)| n)
        .collect();
    assert!(
        defined.contains("transom_manager_new"),
        "header names not found"
    );
    let mut unknown = BTreeSet::new();
    for doc in DOCS {
        for (name, prefix) in mentioned_names(&read(doc)) {
            let known = if prefix {
                defined.iter().any(|d| d.starts_with(&name))
            } else {
                defined.contains(&name) || NOT_IN_HEADER.contains(&name.as_str())
            };
            if !known {
                unknown.insert(format!("{doc}: {name}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "names the documents use but include/transom.h does not define (renamed? add real \
         non-header names to NOT_IN_HEADER):\n{}",
        unknown.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn extraction_finds_blocks_and_flags() {
    let doc = "text\n```c\nint main(void) { return 0; }\n```\n```sh\nls\n```\n\
               ````cpp no-run\nint main() {}\n````\n```python\nprint(1)\n```\n";
    let s = snippets("X.md", doc);
    assert_eq!(s.len(), 3);
    assert_eq!(
        (s[0].lang, s[0].run, s[0].origin.as_str()),
        (Lang::C, true, "X.md:2")
    );
    assert_eq!(s[0].code, "int main(void) { return 0; }\n");
    assert_eq!((s[1].lang, s[1].run), (Lang::Cpp, false));
    assert_eq!(s[2].lang, Lang::Python);
    let names =
        mentioned_names("`TRANSOM_ERR_*`, transom_X_free, xtransom_no, transom_store_open(");
    assert_eq!(
        names,
        vec![
            ("TRANSOM_ERR_".to_string(), true),
            ("transom_".to_string(), true),
            ("transom_store_open".to_string(), false)
        ]
    );
}
