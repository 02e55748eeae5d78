//! The C ABI. Every `extern "C"` function of the library lives below this module, one file per
//! subsystem. Invariant: nothing here holds logic beyond converting arguments, checking them and
//! managing ownership; every exported body runs inside [`status::guard`] so no panic reaches C.

#![allow(non_camel_case_types)]

pub mod closure;
pub mod memory;
pub mod status;
