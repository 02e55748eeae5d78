//! The argument and handle kit: the one place where C arguments become Rust values. Every
//! exported function takes its handles, inputs, outputs, strings, timeouts and callback triples
//! through these helpers, so checks and NULL details are identical everywhere (rustls-ffi's
//! `Castable` + `try_ref_from_ptr!` pattern).
//!
//! Invariant: the macros take the argument's name from the code (`stringify!`), so a NULL
//! detail always names the parameter as the header spells it; every length is checked against
//! its limit before a byte behind the pointer is read.

use std::ffi::{c_char, c_void};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::Duration;

use super::closure::{Closure, DropFn};
use super::status::{guard, Failure, TRANSOM_ERR_INVALID_ARGUMENT, TRANSOM_OK};

/// A C handle type: an opaque struct that C holds only by pointer. Every handle is a `Box`
/// created by its `_new`/`_open` function ([`Handle::publish`]) and released by its `_free`
/// function ([`Handle::free`]); between the two, [`handle!`] and [`handle_mut!`] borrow it.
pub(crate) trait Handle: Sized + 'static {
    /// Moves `self` to the heap and writes the pointer C will hold.
    fn publish(self, out: Out<'_, *mut Self>) {
        out.write(Box::into_raw(Box::new(self)));
    }

    /// The body of a `_free` function: NULL is ignored; otherwise the handle is dropped inside
    /// the panic boundary.
    ///
    /// # Safety
    /// A non-NULL `handle` came from [`Handle::publish`] and is freed once.
    unsafe fn free(handle: *mut Self) {
        if handle.is_null() {
            return;
        }
        let _ = guard(|| {
            // SAFETY: forwarded from this function's contract.
            drop(unsafe { Box::from_raw(handle) });
            Ok(TRANSOM_OK)
        });
    }
}

/// Borrows a pointer argument (a handle or an input struct) for the call.
///
/// The C contract of every function (see `ffi`): a non-NULL pointer is valid for reads for the
/// duration of the call; a handle is not used after its `_free`.
#[inline(always)]
pub(crate) fn as_ref<'a, T>(p: *const T, name: &'static str) -> Result<&'a T, Failure> {
    // SAFETY: see the function's documentation (the C contract).
    unsafe { p.as_ref() }.ok_or(Failure::null(name))
}

/// Borrows a pointer argument mutably for the call (a handle the call may change).
#[inline(always)]
pub(crate) fn as_mut<'a, T>(p: *mut T, name: &'static str) -> Result<&'a mut T, Failure> {
    // SAFETY: the C contract: a non-NULL pointer is valid for reads and writes during the call
    // and not used concurrently where the header says the call needs exclusive access.
    unsafe { p.as_mut() }.ok_or(Failure::null(name))
}

/// An output parameter: checked non-NULL up front, written once, on success only (the rule
/// stated in the header: outputs are written only when the call returns TRANSOM_OK unless a
/// function documents otherwise).
pub(crate) struct Out<'a, T> {
    ptr: NonNull<T>,
    _life: PhantomData<&'a mut T>,
}

impl<'a, T> Out<'a, T> {
    /// Checks `p`.
    #[inline(always)]
    pub(crate) fn new(p: *mut T, name: &'static str) -> Result<Self, Failure> {
        NonNull::new(p)
            .map(|ptr| Out {
                ptr,
                _life: PhantomData,
            })
            .ok_or(Failure::null(name))
    }

    /// Writes the value (without reading or dropping what the caller's memory held).
    #[inline(always)]
    pub(crate) fn write(self, value: T) {
        // SAFETY: the C contract: a non-NULL output pointer is valid for writes of T.
        unsafe { self.ptr.as_ptr().write(value) };
    }
}

impl<'a, T> Out<'a, T> {
    /// An output the caller may leave out: NULL gives `None` (nothing will be written).
    #[inline(always)]
    pub(crate) fn optional(p: *mut T) -> Option<Self> {
        NonNull::new(p).map(|ptr| Out {
            ptr,
            _life: PhantomData,
        })
    }
}

/// Borrows an input struct the caller may leave out (NULL gives `None`: the defaults).
#[inline(always)]
pub(crate) fn optional<'a, T>(p: *const T) -> Option<&'a T> {
    // SAFETY: the C contract: a non-NULL pointer is valid for reads during the call.
    unsafe { p.as_ref() }
}

/// Bytes `(p, len)`: NULL is allowed only with `len == 0`; `len` is checked against `max`
/// before anything is read, and a longer input is `too_long`.
#[inline(always)]
pub(crate) fn check_bytes<'a>(
    p: *const u8,
    len: usize,
    max: usize,
    name: &'static str,
    too_long: impl FnOnce(usize) -> Failure,
) -> Result<&'a [u8], Failure> {
    if len > max {
        return Err(too_long(len));
    }
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure::null(name));
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(format!(
            "`{name}`: length {len} is too large"
        )));
    }
    // SAFETY: the C contract: `p` is valid for reads of `len` bytes during the call; len is
    // within isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A string `(p, len)`: UTF-8, no NUL byte, at most `max` bytes (checked before reading).
#[inline]
pub(crate) fn check_utf8<'a>(
    p: *const c_char,
    len: usize,
    max: usize,
    name: &'static str,
) -> Result<&'a str, Failure> {
    let b = check_bytes(p.cast(), len, max, name, |len| {
        Failure::invalid(format!(
            "`{name}` is {len} bytes long; at most {max} are allowed"
        ))
    })?;
    if b.contains(&0) {
        return Err(Failure::invalid(format!("`{name}` contains a NUL byte")));
    }
    std::str::from_utf8(b).map_err(|_| Failure::invalid(format!("`{name}` is not valid UTF-8")))
}

/// An input array `(p, count)` of `T`: NULL is allowed only with `count == 0`.
#[inline]
pub(crate) fn check_slice<'a, T>(
    p: *const T,
    count: usize,
    name: &'static str,
) -> Result<&'a [T], Failure> {
    if count == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure::null(name));
    }
    if count
        .checked_mul(size_of::<T>())
        .map_or(true, |n| n > isize::MAX as usize)
    {
        return Err(Failure::invalid(format!(
            "`{name}`: count {count} is too large"
        )));
    }
    // SAFETY: the C contract: `p` points to `count` initialised elements, valid for the call.
    Ok(unsafe { std::slice::from_raw_parts(p, count) })
}

/// A caller array `(p, cap)` the call fills: non-NULL and `cap >= 1`.
#[inline]
pub(crate) fn check_array_out<'a, T>(
    p: *mut T,
    cap: usize,
    name: &'static str,
) -> Result<&'a mut [std::mem::MaybeUninit<T>], Failure> {
    if p.is_null() {
        return Err(Failure::null(name));
    }
    if cap == 0 {
        return Err(Failure::fixed(
            TRANSOM_ERR_INVALID_ARGUMENT,
            "`cap` must be at least 1",
        ));
    }
    if cap
        .checked_mul(size_of::<T>())
        .map_or(true, |n| n > isize::MAX as usize)
    {
        return Err(Failure::invalid(format!(
            "`cap` {cap} is too large for `{name}`"
        )));
    }
    // SAFETY: the C contract: `p` is valid for writes of `cap` elements during the call;
    // MaybeUninit makes no claim about their contents.
    Ok(unsafe { std::slice::from_raw_parts_mut(p.cast(), cap) })
}

/// A timeout argument in nanoseconds: `UINT64_MAX` means "no limit" (`None`), 0 "do not
/// block". The one conversion every blocking call uses.
#[inline]
pub(crate) fn timeout(ns: u64) -> Option<Duration> {
    (ns != u64::MAX).then(|| Duration::from_nanos(ns))
}

/// Copies `s` into a fixed C string field: cut at a character boundary to fit with its NUL,
/// the rest zero-filled. Returns the bytes copied (without the NUL).
pub(crate) fn copy_c_str<const N: usize>(dst: &mut [c_char; N], s: &str) -> usize {
    let mut n = s.len().min(N.saturating_sub(1));
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    for (d, &b) in dst.iter_mut().zip(&s.as_bytes()[..n]) {
        *d = b as c_char;
    }
    for d in &mut dst[n..] {
        *d = 0;
    }
    n
}

/// The one conversion from a C callback triple `{ctx, call, drop}` to an owned [`Closure`].
/// transom owns the triple from here on: when `call` is NULL the triple's `drop` runs now and
/// the result is `TRANSOM_ERR_NULL_ARGUMENT` naming the field.
#[inline]
pub(crate) fn take_closure<F: Copy>(
    ctx: *mut c_void,
    call: Option<F>,
    drop: Option<DropFn>,
    name: &'static str,
) -> Result<Closure<F>, Failure> {
    match call {
        Some(call) => Ok(Closure::new(ctx, call, drop)),
        None => {
            // Taking ownership includes releasing it on failure: the C caller must not have to
            // tell a refused triple from an accepted one.
            std::mem::drop(Closure::new(ctx, (), drop));
            Err(Failure::null(name))
        }
    }
}

/// Borrows a handle argument: `handle!(store)` → `&transom_store`, NULL → NULL_ARGUMENT naming
/// `store`.
macro_rules! handle {
    ($p:ident) => {
        $crate::ffi::args::as_ref($p, stringify!($p))
    };
}

/// Borrows a handle argument mutably: `handle_mut!(canal)`.
macro_rules! handle_mut {
    ($p:ident) => {
        $crate::ffi::args::as_mut($p, stringify!($p))
    };
}

/// Borrows an input struct argument: `input!(config)` → `&transom_store_config`.
macro_rules! input {
    ($p:ident) => {
        $crate::ffi::args::as_ref($p, stringify!($p))
    };
}

/// Checks an output argument: `out!(out_store)` → [`Out`].
macro_rules! out {
    ($p:ident) => {
        $crate::ffi::args::Out::new($p, stringify!($p))
    };
}

/// Bytes `(ptr, len)`: `bytes!(payload, len)` (any length) or
/// `bytes!(payload, len, max, |len| failure)` (checked against `max` before reading).
/// Struct fields work too: `bytes!(a.payload, a.payload_len, max, f)`.
macro_rules! bytes {
    ($p:expr, $len:expr) => {
        $crate::ffi::args::check_bytes($p, $len, usize::MAX, stringify!($p), |_| unreachable!())
    };
    ($p:expr, $len:expr, $max:expr, $too_long:expr) => {
        $crate::ffi::args::check_bytes($p, $len, $max, stringify!($p), $too_long)
    };
}

/// A UTF-8 string `(ptr, len)` of at most `max` bytes: `utf8!(stream, stream_len, 255)`.
macro_rules! utf8 {
    ($p:expr, $len:expr, $max:expr) => {
        $crate::ffi::args::check_utf8($p, $len, $max, stringify!($p))
    };
}

/// An input array `(ptr, count)`: `slice!(events, count)`.
macro_rules! slice {
    ($p:expr, $count:expr) => {
        $crate::ffi::args::check_slice($p, $count, stringify!($p))
    };
}

/// A caller array to fill `(ptr, cap)`: `array_out!(items, cap)`.
macro_rules! array_out {
    ($p:ident, $cap:expr) => {
        $crate::ffi::args::check_array_out($p, $cap, stringify!($p))
    };
}

/// A C callback struct `{ctx, call, drop}` → [`Closure`]: `closure!(callback)`; a NULL `call`
/// runs `drop` and gives NULL_ARGUMENT naming `callback.call`.
macro_rules! closure {
    ($cb:expr) => {
        $crate::ffi::args::take_closure(
            $cb.ctx,
            $cb.call,
            $cb.drop,
            concat!(stringify!($cb), ".call"),
        )
    };
}

pub(crate) use {array_out, bytes, closure, handle, handle_mut, input, out, slice, utf8};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::TRANSOM_ERR_NULL_ARGUMENT;

    #[test]
    fn null_details_name_the_parameter_as_written() {
        let store: *const u32 = std::ptr::null();
        let e = handle!(store).unwrap_err();
        assert_eq!(e.code, TRANSOM_ERR_NULL_ARGUMENT);
        assert_eq!(e.detail.to_string(), "argument `store` is NULL");
        let out_count: *mut usize = std::ptr::null_mut();
        let e = out!(out_count).err().unwrap();
        assert_eq!(e.detail.to_string(), "argument `out_count` is NULL");
    }

    #[test]
    fn bytes_checks_the_length_before_the_pointer() {
        // A bogus pointer with an over-limit length is refused without being read.
        let p = 8 as *const u8;
        let e = bytes!(p, usize::MAX, 16, |len| Failure::invalid(format!(
            "{len} too long"
        )))
        .unwrap_err();
        assert_eq!(e.code, TRANSOM_ERR_INVALID_ARGUMENT);
        let empty = bytes!(std::ptr::null::<u8>(), 0).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn utf8_refuses_nul_and_invalid_sequences() {
        let s = b"a\0b";
        assert!(utf8!(s.as_ptr().cast::<c_char>(), 3, 10).is_err());
        let s = [0xffu8, 0xfe];
        assert!(utf8!(s.as_ptr().cast::<c_char>(), 2, 10).is_err());
        let s = b"orders";
        assert_eq!(utf8!(s.as_ptr().cast::<c_char>(), 6, 10).unwrap(), "orders");
        assert!(utf8!(s.as_ptr().cast::<c_char>(), 6, 5).is_err());
    }

    #[test]
    fn timeout_max_means_none() {
        assert_eq!(timeout(u64::MAX), None);
        assert_eq!(timeout(0), Some(Duration::ZERO));
    }

    #[test]
    fn copy_c_str_cuts_at_a_char_boundary_and_terminates() {
        let mut d = [0x7f as c_char; 4];
        assert_eq!(copy_c_str(&mut d, "aé€"), 3); // 'a' + 'é' (2 bytes); '€' does not fit
        assert_eq!(d[3], 0);
        let mut d = [0x7f as c_char; 8];
        assert_eq!(copy_c_str(&mut d, "ab"), 2);
        assert!(d[2..].iter().all(|&c| c == 0));
    }

    #[test]
    fn array_out_refuses_cap_zero() {
        let mut items = [0u64; 2];
        let p = items.as_mut_ptr();
        assert_eq!(
            array_out!(p, 0).unwrap_err().code,
            TRANSOM_ERR_INVALID_ARGUMENT
        );
        assert_eq!(array_out!(p, 2).unwrap().len(), 2);
    }
}
