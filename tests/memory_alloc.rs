//! A STATIC manager never allocates after creation, failing calls included: every
//! `transom_manager_*` error path (and the success paths) runs under a counting global allocator
//! and must not allocate, while `transom_last_error` still gives the right detail.
//!
//! Counting is per thread (a `const` thread-local flag), so allocations by the test harness's
//! other threads do not count; the counted work runs on a fresh thread, so the first failure
//! recorded on a thread (its detail buffer's first use) is covered too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::c_char;
use std::ptr::{null, null_mut};

use transom::ffi::memory::*;
use transom::ffi::status::*;
use transom::memory::{Header, MemoryClassRaw, Stats, Token};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    // try_with: the flags are const thread-locals without destructors, but be safe during
    // thread teardown anyway.
    let _ = ARMED.try_with(|a| {
        if a.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: forwards to the system allocator unchanged; the counting touches only const,
// destructor-free thread-locals (no allocation, no re-entrance).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made on this thread while `f` runs.
fn allocations_in<R>(f: impl FnOnce() -> R) -> (R, usize) {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (r, COUNT.with(Cell::get))
}

/// One checked call: its status and whether the detail matched, recorded without allocating.
#[derive(Clone, Copy)]
struct Step {
    what: &'static str,
    got: transom_status,
    want: transom_status,
    detail_ok: bool,
    detail_len: usize,
    detail: [u8; 160],
}

struct Steps {
    steps: [Option<Step>; 96],
    n: usize,
}

impl Steps {
    /// Records `got` against `want`; `detail` is compared with this thread's last error
    /// (`None`: not compared, for successful calls).
    fn check(
        &mut self,
        what: &'static str,
        got: transom_status,
        want: transom_status,
        detail: Option<&str>,
    ) {
        let mut buf = [0 as c_char; 160];
        let mut len = 0usize;
        // SAFETY: buf has 160 writable bytes, len is writable.
        unsafe { transom_last_error(buf.as_mut_ptr(), buf.len(), &mut len) };
        let mut bytes = [0u8; 160];
        let n = len.min(159);
        for (d, s) in bytes.iter_mut().zip(&buf[..n]) {
            *d = *s as u8;
        }
        let detail_ok = match detail {
            None => true,
            Some(d) => len == d.len() && &bytes[..n] == d.as_bytes(),
        };
        self.steps[self.n] = Some(Step {
            what,
            got,
            want,
            detail_ok,
            detail_len: n,
            detail: bytes,
        });
        self.n += 1;
    }
}

fn header() -> Header {
    Header {
        trace_id: 7,
        ..Header::new()
    }
}

const BAD_TOKEN: &str = "bad token: zero, out of range, or issued by another manager";
const STALE: &str = "stale token: its slot was freed after the token was issued";
const BORROWED: &str = "the slot is borrowed: a read or write view is outstanding";

/// Every failure path of the memory C API on a STATIC manager (plus the success paths).
fn exercise(m: *const transom_manager, other: *const transom_manager, s: &mut Steps) {
    // SAFETY: m and other are live managers; every pointer passed below is valid or NULL on
    // purpose (refused before use).
    unsafe {
        let h = header();
        let payload = [b'p'; 65];
        let mut t = Token::default();
        let mut t2 = Token::default();
        let mut foreign = Token::default();
        let mut p: *mut u8 = null_mut();
        let mut rv = std::mem::zeroed::<transom_read_view>();
        let mut wv = std::mem::zeroed::<transom_write_view>();
        let mut hd = Header::default();
        let mut n = 0usize;
        let mut buf = [0u8; 64];
        let mut stats = Stats::default();
        let mut class = MemoryClassRaw::default();

        // Success paths first: a STATIC manager never allocates at all after creation.
        let st = transom_manager_store(m, &h, payload.as_ptr(), 5, &mut t);
        s.check("store", st, TRANSOM_OK, None);
        let st = transom_manager_store(other, &h, payload.as_ptr(), 1, &mut foreign);
        s.check("store (other manager)", st, TRANSOM_OK, None);
        let st = transom_manager_read(m, t, &mut rv);
        s.check("read", st, TRANSOM_OK, None);

        // BORROWED while a read view is out.
        let st = transom_manager_write(m, t, &mut wv);
        s.check("write while read", st, TRANSOM_ERR_BORROWED, Some(BORROWED));
        let st = transom_manager_remove(m, t);
        s.check(
            "remove while read",
            st,
            TRANSOM_ERR_BORROWED,
            Some(BORROWED),
        );
        let st = transom_manager_clear(m);
        s.check("clear while read", st, TRANSOM_ERR_BORROWED, Some(BORROWED));
        let st = transom_manager_take(m, t, buf.as_mut_ptr(), buf.len(), &mut n);
        s.check("take while read", st, TRANSOM_ERR_BORROWED, Some(BORROWED));
        let st = transom_manager_release(m, t);
        s.check("release", st, TRANSOM_OK, None);

        // WRONG_STATE.
        let st = transom_manager_release(m, t);
        s.check(
            "release without a view",
            st,
            TRANSOM_ERR_WRONG_STATE,
            Some("wrong slot state: no view of the slot is outstanding"),
        );
        let st = transom_manager_commit(m, t, &h);
        s.check(
            "commit of a committed slot",
            st,
            TRANSOM_ERR_WRONG_STATE,
            Some("wrong slot state: the slot is committed, not reserved"),
        );
        let st = transom_manager_abort(m, t);
        s.check(
            "abort of a committed slot",
            st,
            TRANSOM_ERR_WRONG_STATE,
            Some("wrong slot state: the slot is committed, not reserved"),
        );

        // BORROWED while a write view is out; the release checks the header.
        let st = transom_manager_write(m, t, &mut wv);
        s.check("write", st, TRANSOM_OK, None);
        let st = transom_manager_read(m, t, &mut rv);
        s.check(
            "read while written",
            st,
            TRANSOM_ERR_BORROWED,
            Some(BORROWED),
        );
        let st = transom_manager_peek_header(m, t, &mut hd);
        s.check(
            "peek while written",
            st,
            TRANSOM_ERR_BORROWED,
            Some(BORROWED),
        );
        (*wv.header).qos = 200;
        let st = transom_manager_release(m, t);
        s.check(
            "release with qos 200",
            st,
            TRANSOM_ERR_INVALID_ARGUMENT,
            Some("invalid argument: header qos must be 0 (default), 1, 2 or 3"),
        );
        let st = transom_manager_write(m, t, &mut wv);
        s.check("write again", st, TRANSOM_OK, None);
        (*wv.header).payload_len = 65;
        let st = transom_manager_release(m, t);
        s.check(
            "release with payload_len 65",
            st,
            TRANSOM_ERR_TOO_LARGE,
            Some("payload of 65 bytes exceeds the slot size of 64 bytes"),
        );

        // BAD_TOKEN: zero, foreign, out of range.
        for (what, tok) in [
            ("read token {0,0}", Token::default()),
            ("read foreign token", foreign),
            (
                "read out-of-range token",
                Token::from_parts(t.key, u64::MAX),
            ),
        ] {
            let st = transom_manager_read(m, tok, &mut rv);
            s.check(what, st, TRANSOM_ERR_BAD_TOKEN, Some(BAD_TOKEN));
        }
        let st = transom_manager_remove(m, foreign);
        s.check("remove foreign", st, TRANSOM_ERR_BAD_TOKEN, Some(BAD_TOKEN));

        // BUFFER_TOO_SMALL, then take for real, then STALE everywhere.
        let st = transom_manager_take(m, t, buf.as_mut_ptr(), 2, &mut n);
        s.check(
            "take into 2 bytes",
            st,
            TRANSOM_ERR_BUFFER_TOO_SMALL,
            Some("buffer of 2 bytes is too small for a payload of 5 bytes"),
        );
        let st = transom_manager_take(m, t, buf.as_mut_ptr(), buf.len(), &mut n);
        s.check("take", st, TRANSOM_OK, None);
        let st = transom_manager_read(m, t, &mut rv);
        s.check("read stale", st, TRANSOM_ERR_STALE_TOKEN, Some(STALE));
        let st = transom_manager_remove(m, t);
        s.check("remove stale", st, TRANSOM_ERR_STALE_TOKEN, Some(STALE));
        let st = transom_manager_peek_header(m, t, &mut hd);
        s.check("peek stale", st, TRANSOM_ERR_STALE_TOKEN, Some(STALE));
        let st = transom_manager_take(m, t, buf.as_mut_ptr(), buf.len(), &mut n);
        s.check("take stale", st, TRANSOM_ERR_STALE_TOKEN, Some(STALE));
        let st = transom_manager_commit(m, t, &h);
        s.check("commit stale", st, TRANSOM_ERR_STALE_TOKEN, Some(STALE));

        // TOO_LARGE and INVALID_ARGUMENT on store and reserve; NO_FREE_SLOTS.
        let st = transom_manager_store(m, &h, payload.as_ptr(), 65, &mut t2);
        s.check(
            "store 65 bytes",
            st,
            TRANSOM_ERR_TOO_LARGE,
            Some("payload of 65 bytes exceeds the slot size of 64 bytes"),
        );
        let st = transom_manager_store(m, &h, null(), usize::MAX, &mut t2);
        s.check(
            "store usize::MAX bytes from NULL",
            st,
            TRANSOM_ERR_TOO_LARGE,
            Some("payload of 18446744073709551615 bytes exceeds the slot size of 64 bytes"),
        );
        let st = transom_manager_reserve(m, 65, &mut t2, &mut p);
        s.check(
            "reserve 65 bytes",
            st,
            TRANSOM_ERR_TOO_LARGE,
            Some("payload of 65 bytes exceeds the slot size of 64 bytes"),
        );
        let bad_qos = Header { qos: 200, ..h };
        let st = transom_manager_store(m, &bad_qos, payload.as_ptr(), 1, &mut t2);
        s.check(
            "store qos 200",
            st,
            TRANSOM_ERR_INVALID_ARGUMENT,
            Some("invalid argument: header qos must be 0 (default), 1, 2 or 3"),
        );
        let bad_flags = Header { flags: 0xff, ..h };
        let st = transom_manager_store(m, &bad_flags, payload.as_ptr(), 1, &mut t2);
        s.check(
            "store flags 0xff",
            st,
            TRANSOM_ERR_INVALID_ARGUMENT,
            Some(
                "invalid argument: header flags has bits other than FIRST_IN_BATCH, \
                 LAST_IN_BATCH, DEGRADE_ALLOWED",
            ),
        );
        let st = transom_manager_reserve(m, 1, &mut t2, &mut p);
        s.check("reserve", st, TRANSOM_OK, None);
        let st = transom_manager_read(m, t2, &mut rv);
        s.check(
            "read reserved",
            st,
            TRANSOM_ERR_WRONG_STATE,
            Some("wrong slot state: the slot is reserved, not committed"),
        );
        let st = transom_manager_commit(m, t2, &bad_qos);
        s.check(
            "commit qos 200",
            st,
            TRANSOM_ERR_INVALID_ARGUMENT,
            Some("invalid argument: header qos must be 0 (default), 1, 2 or 3"),
        );
        let st = transom_manager_store(m, &h, payload.as_ptr(), 1, &mut t);
        s.check("store into the last slot", st, TRANSOM_OK, None);
        let st = transom_manager_store(m, &h, payload.as_ptr(), 1, &mut t);
        s.check(
            "store when full",
            st,
            TRANSOM_ERR_NO_FREE_SLOTS,
            Some("no free slots"),
        );
        let st = transom_manager_reserve(m, 1, &mut t, &mut p);
        s.check(
            "reserve when full",
            st,
            TRANSOM_ERR_NO_FREE_SLOTS,
            Some("no free slots"),
        );
        let st = transom_manager_abort(m, t2);
        s.check("abort", st, TRANSOM_OK, None);
        let st = transom_manager_abort(m, t2);
        s.check("abort stale", st, TRANSOM_ERR_STALE_TOKEN, Some(STALE));

        // NULL arguments, each named.
        let st = transom_manager_store(null(), &h, payload.as_ptr(), 1, &mut t2);
        s.check(
            "store NULL manager",
            st,
            TRANSOM_ERR_NULL_ARGUMENT,
            Some("argument `manager` is NULL"),
        );
        let st = transom_manager_store(m, null(), payload.as_ptr(), 1, &mut t2);
        s.check(
            "store NULL header",
            st,
            TRANSOM_ERR_NULL_ARGUMENT,
            Some("argument `header` is NULL"),
        );
        let st = transom_manager_store(m, &h, null(), 1, &mut t2);
        s.check(
            "store NULL payload",
            st,
            TRANSOM_ERR_NULL_ARGUMENT,
            Some("argument `payload` is NULL"),
        );
        let st = transom_manager_store(m, &h, payload.as_ptr(), 1, null_mut());
        s.check(
            "store NULL out_token",
            st,
            TRANSOM_ERR_NULL_ARGUMENT,
            Some("argument `out_token` is NULL"),
        );
        let st = transom_manager_take(m, t, null_mut(), 8, &mut n);
        s.check(
            "take NULL buf",
            st,
            TRANSOM_ERR_NULL_ARGUMENT,
            Some("argument `buf` is NULL"),
        );
        let st = transom_manager_read(m, t, null_mut());
        s.check(
            "read NULL out_view",
            st,
            TRANSOM_ERR_NULL_ARGUMENT,
            Some("argument `out_view` is NULL"),
        );
        let st = transom_manager_stats(m, null_mut());
        s.check(
            "stats NULL",
            st,
            TRANSOM_ERR_NULL_ARGUMENT,
            Some("argument `out_stats` is NULL"),
        );
        let st = transom_manager_available(m, null_mut());
        s.check(
            "available NULL",
            st,
            TRANSOM_ERR_NULL_ARGUMENT,
            Some("argument `out_count` is NULL"),
        );

        // The queries succeed without allocating too.
        let st = transom_manager_stats(m, &mut stats);
        s.check("stats", st, TRANSOM_OK, None);
        let st = transom_manager_memory_class(m, &mut class);
        s.check("memory_class", st, TRANSOM_OK, None);
        let st = transom_manager_capacity(m, &mut n);
        s.check("capacity", st, TRANSOM_OK, None);
    }
}

#[test]
fn static_manager_failure_paths_allocate_nothing_and_keep_their_details() {
    std::thread::spawn(|| {
        let mut storage = vec![0u8; 4096];
        let config = transom_manager_config {
            kind: TRANSOM_MANAGER_STATIC,
            capacity: 2,
            slot_size: 64,
            memory_class: MemoryClassRaw::default(),
            storage: storage.as_mut_ptr().cast(),
            storage_len: storage.len(),
        };
        let mut m: *mut transom_manager = null_mut();
        let mut other: *mut transom_manager = null_mut();
        let mut other_storage = vec![0u8; 4096];
        let other_config = transom_manager_config {
            storage: other_storage.as_mut_ptr().cast(),
            ..config
        };
        // SAFETY: valid configs whose storage outlives the managers.
        unsafe {
            assert_eq!(transom_manager_new(&config, &mut m), TRANSOM_OK);
            assert_eq!(transom_manager_new(&other_config, &mut other), TRANSOM_OK);
        }
        let mut steps = Steps {
            steps: [None; 96],
            n: 0,
        };
        let ((), allocations) = allocations_in(|| exercise(m, other, &mut steps));

        // Creation failures of a STATIC manager allocate nothing either.
        let mut bad = config;
        bad.storage = null_mut();
        let mut small = config;
        small.storage_len = 16;
        let mut kind = config;
        kind.kind = 9;
        let mut class = config;
        class.memory_class.kind = 7;
        let mut out: *mut transom_manager = null_mut();
        let mut creation = Steps {
            steps: [None; 96],
            n: 0,
        };
        let ((), creation_allocations) = allocations_in(|| {
            for (what, c, detail) in [
                (
                    "new STATIC with NULL storage",
                    &bad,
                    "invalid argument: storage is NULL (allowed only with capacity 0)",
                ),
                (
                    "new STATIC with too small storage",
                    &small,
                    "invalid argument: storage is smaller than \
                     transom_manager_required_bytes(capacity, slot_size)",
                ),
                (
                    "new with an unknown kind",
                    &kind,
                    "config->kind is not a TRANSOM_MANAGER_* kind",
                ),
                (
                    "new with an unknown memory class",
                    &class,
                    "invalid argument: memory class: kind must be 0..=3 and device 0 unless \
                     kind is DEVICE",
                ),
            ] {
                // SAFETY: every config is refused before its storage is touched.
                let st = unsafe { transom_manager_new(c, &mut out) };
                creation.check(what, st, TRANSOM_ERR_INVALID_ARGUMENT, Some(detail));
            }
        });

        // SAFETY: both managers came from transom_manager_new; freed once.
        unsafe {
            transom_manager_free(m);
            transom_manager_free(other);
        }
        drop((storage, other_storage));

        let mut failures = Vec::new();
        let mut checked = 0;
        for step in steps.steps.iter().chain(&creation.steps).flatten() {
            checked += 1;
            if step.got != step.want || !step.detail_ok {
                failures.push(format!(
                    "{}: got {} want {}, detail {:?}",
                    step.what,
                    step.got,
                    step.want,
                    String::from_utf8_lossy(&step.detail[..step.detail_len])
                ));
            }
        }
        assert!(
            out.is_null(),
            "a refused transom_manager_new wrote its output"
        );
        assert!(failures.is_empty(), "{failures:#?}");
        assert!(checked >= 50, "only {checked} calls were checked");
        eprintln!(
            "memory_alloc: {checked} calls on STATIC managers ({} failing), allocations: \
             {allocations} (calls on a live manager), {creation_allocations} (refused creations)",
            steps
                .steps
                .iter()
                .chain(&creation.steps)
                .flatten()
                .filter(|s| s.want != TRANSOM_OK)
                .count()
        );
        assert_eq!(allocations, 0, "calls on a STATIC manager allocated");
        assert_eq!(creation_allocations, 0, "refused creations allocated");
    })
    .join()
    .unwrap();
}

#[test]
fn the_allocation_counter_counts() {
    // The test above cannot pass by accident: an allocation on the armed thread is seen.
    let (v, n) = allocations_in(|| std::hint::black_box(vec![1u8; 32]));
    drop(v);
    assert_eq!(n, 1);
    // Through the library too: creating a HEAP manager allocates its storage and handle.
    let mut m: *mut transom_manager = null_mut();
    let config = transom_manager_config {
        kind: TRANSOM_MANAGER_HEAP,
        capacity: 1,
        slot_size: 8,
        memory_class: MemoryClassRaw::default(),
        storage: null_mut(),
        storage_len: 0,
    };
    // SAFETY: a valid config; the manager is freed below.
    let (st, n) = allocations_in(|| unsafe { transom_manager_new(&config, &mut m) });
    assert_eq!((st, n), (TRANSOM_OK, 2));
    // SAFETY: m came from transom_manager_new.
    unsafe { transom_manager_free(m) };
}
