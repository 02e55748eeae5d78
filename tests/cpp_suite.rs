//! The C++ suite: compiles every `bindings/cpp/tests/*.cpp` (C++17, `-Wall -Wextra -Werror`)
//! against `bindings/cpp/transom.hpp` and the freshly built shared library, runs each program
//! and reports `N passed, N failed` over their test cases. `TRANSOM_TEST_SCALE` is passed
//! through like for the C suite; `TRANSOM_CPP_SANITIZE=1` builds the programs with ASan + UBSan.

#[path = "support/cbuild.rs"]
mod cbuild;

#[test]
fn cpp_suite() {
    let root = cbuild::repo_root();
    let dir = root.join("bindings/cpp/tests");
    let sources = cbuild::sources(&dir, "cpp");
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
    let kind = if sanitize {
        "cpp-tests-asan"
    } else {
        "cpp-tests"
    };
    cbuild::run_suite("cpp-suite", kind, &sources, &flags, true);
}
