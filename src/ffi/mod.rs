//! The C ABI. Every `extern "C"` function of the library lives below this module, one file per
//! subsystem. Invariant: nothing here holds logic beyond converting arguments, checking them and
//! managing ownership; every exported body runs inside [`status::guard`] so no panic reaches C.

//!
//! # Safety (the contract of every exported function)
//! Each pointer argument is either NULL (refused with `TRANSOM_ERR_NULL_ARGUMENT` unless the
//! function documents NULL as allowed) or valid for the reads/writes its documentation names,
//! for the duration of the call; handles come from their `_new`/`_open` function and are not
//! used after their `_free`/`_close`. Stated once here rather than on each function.

#![allow(non_camel_case_types, clippy::missing_safety_doc)]

pub mod actor;
pub(crate) mod args;
pub mod canal;
pub mod closure;
pub mod conversation;
pub mod log;
pub mod memory;
pub mod mirror;
pub mod nats;
pub mod remote;
pub mod status;
pub mod store;
