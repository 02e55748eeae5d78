//! The C ABI. Every `extern "C"` function of the library lives below this module, one file per
//! subsystem. Invariant: nothing here holds logic beyond converting arguments, checking them and
//! managing ownership; every exported body runs inside [`status::guard`] so no panic reaches C.

#![allow(non_camel_case_types)]
// Every entry point shares one safety contract, stated once in the header preamble and in
// CONVENTIONS.md (pointer arguments are NULL or valid for the documented access; NULL is
// checked), rather than in a `# Safety` section repeated on each function.
#![allow(clippy::missing_safety_doc)]

pub mod closure;
pub mod memory;
pub mod status;
