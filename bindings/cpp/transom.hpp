// transom.hpp - header-only C++17 RAII wrapper over the transom C API (include/transom.h).
//
// Every C handle has a move-only owner class; tokens and pids are small value types; failures
// throw transom::error (status code + transom_last_error detail + transom_last_error_value),
// and the hot paths also have non-throwing overloads: the same arguments as the throwing one,
// with std::nothrow first and the result as a last out-parameter (written on TRANSOM_OK only),
// returning the status. Callbacks take any callable: it is moved into a heap box handed to C as
// a {ctx, call, drop} triple, so transom destroys it exactly once (drop), after the last call.
// No C++ exception crosses into C: a trampoline catches everything, reports it
// (transom::callback_exceptions(); by default through transom's log, i.e. stderr) and maps it
// to the callback's failure answer; in a behaviour the exception's type and what() become the
// process's exit reason.
//
// An object that holds no handle — moved from, freed (free()), or default-constructed — is
// safe to destroy and behaves like a closed one: any other use throws transom::error with
// code TRANSOM_ERR_CLOSED and a detail saying so (the non-throwing overloads return
// TRANSOM_ERR_CLOSED), the code a closed handle gives. The check costs nothing on success: it
// runs only once the C call (which refuses the NULL handle) has failed.
//
// Views and reservations point into their manager: destroying a manager while one is
// outstanding would make their destructors use freed memory, so the manager's destructor (and
// free(), and move assignment) checks and calls std::terminate with a message on transom's log
// instead (like std::thread's destructor for a joinable thread). Release them first.
//
// Thread safety is the C API's: see the comment on each class.
#ifndef TRANSOM_HPP
#define TRANSOM_HPP

#if !defined(__cplusplus) || __cplusplus < 201703L
#if !(defined(_MSVC_LANG) && _MSVC_LANG >= 201703L)
#error "transom.hpp needs C++17 or later"
#endif
#endif

#include "transom.h"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#if defined(__GNUG__)
#include <cxxabi.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TRANSOM_HPP_COLD __attribute__((noinline, cold))
#define TRANSOM_HPP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define TRANSOM_HPP_COLD
#define TRANSOM_HPP_UNLIKELY(x) (x)
#endif

namespace transom {

/// The result of a C call: TRANSOM_OK, a negative error or a positive outcome.
using status = transom_status;

/// Timeouts: any std::chrono duration; `forever` means "no limit" (UINT64_MAX in C).
using nanoseconds = std::chrono::nanoseconds;
inline constexpr nanoseconds forever = nanoseconds::max();

/// The status a callback's exception maps to when it is not a transom::error: a behaviour's
/// exit code, a gate's rejection code.
inline constexpr int32_t exception_status = -1000;

/// The static name and description of a status code.
inline const char *status_str(status s) noexcept { return transom_status_str(s); }

/// The library's run-time version (compare with TRANSOM_VERSION).
inline uint32_t version() noexcept { return transom_version(); }

/// CLOCK_MONOTONIC in nanoseconds, the clock of crash and state timestamps (compare with
/// clock_gettime(CLOCK_MONOTONIC) or std::chrono::steady_clock on Linux).
inline uint64_t monotonic_ns() noexcept { return transom_monotonic_ns(); }

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A failed transom call: the status code, where it happened, this thread's
/// transom_last_error() detail and transom_last_error_value() at the time of the failure.
class error : public std::runtime_error {
  public:
    error(status code, std::string where, std::string detail, int64_t value = 0)
        : std::runtime_error(compose(code, where, detail)), code_(code), value_(value),
          where_(std::move(where)), detail_(std::move(detail)) {}

    /// The status code (negative).
    status code() const noexcept { return code_; }
    /// transom_status_str(code()).
    const char *name() const noexcept { return transom_status_str(code_); }
    /// The C function or C++ method that failed.
    const std::string &where() const noexcept { return where_; }
    /// transom_last_error() of the failure (or the wrapper's own explanation).
    const std::string &detail() const noexcept { return detail_; }
    /// transom_last_error_value(): a gate's code for TRANSOM_ERR_REJECTED, the byte offset for
    /// TRANSOM_ERR_CORRUPT; for TRANSOM_ERR_BUFFER_TOO_SMALL from a wrapper, the needed size.
    int64_t value() const noexcept { return value_; }

  private:
    static std::string compose(status code, const std::string &where, const std::string &detail) {
        std::string s = where;
        s += ": ";
        s += transom_status_str(code);
        if (!detail.empty()) {
            s += " (";
            s += detail;
            s += ")";
        }
        return s;
    }

    status code_;
    int64_t value_;
    std::string where_;
    std::string detail_;
};

/// TRANSOM_ERR_TRUNCATED: the event asked for was removed by retention or
/// transom_store_truncate (or an append reused the idempotency key of a removed event).
/// Caught as transom::error too; first_retained() is where the log now starts.
class truncated_error : public error {
  public:
    using error::error;
    /// The store's first retained sequence (value()).
    uint64_t first_retained() const noexcept { return uint64_t(value()); }
};

namespace detail {

/// This thread's transom_last_error() as a string.
inline std::string last_error_detail() {
    char small[256];
    size_t len = 0;
    status st = transom_last_error(small, sizeof small, &len);
    if (st == TRANSOM_OK) return std::string(small, len);
    if (st == TRANSOM_ERR_BUFFER_TOO_SMALL) {
        std::string big(len + 1, '\0');
        size_t len2 = 0;
        if (transom_last_error(&big[0], big.size(), &len2) == TRANSOM_OK) {
            big.resize(len2);
            return big;
        }
        return std::string(small, std::strlen(small));
    }
    return std::string();
}

inline constexpr const char *no_handle_detail =
    "the object holds no handle (moved from, freed or default-constructed): it is closed";

/// Throws the error for a failed C call; `handle` NULL means the C++ object held no handle,
/// which is reported like a closed handle (TRANSOM_ERR_CLOSED).
[[noreturn]] TRANSOM_HPP_COLD inline void fail(status st, const char *where, const void *handle) {
    if (handle == nullptr) {
        throw error(TRANSOM_ERR_CLOSED, where, no_handle_detail);
    }
    std::string d = last_error_detail();
    int64_t v = 0;
    (void)transom_last_error_value(&v);
    if (st == TRANSOM_ERR_TRUNCATED) throw truncated_error(st, where, std::move(d), v);
    throw error(st, where, std::move(d), v);
}

/// Throws when `st` is an error; returns it otherwise (OK or a positive outcome).
inline status check(status st, const char *where, const void *handle) {
    if (TRANSOM_HPP_UNLIKELY(st < 0)) fail(st, where, handle);
    return st;
}

[[noreturn]] TRANSOM_HPP_COLD inline void fail_used_after_move(const char *where) {
    throw error(TRANSOM_ERR_CLOSED, where, no_handle_detail);
}

/// A non-throwing overload's answer: the C call's status, except that a call on no handle
/// (which C refuses as NULL_ARGUMENT) is TRANSOM_ERR_CLOSED, like the throwing overload.
inline status nothrow_status(status st, const void *handle) noexcept {
    if (TRANSOM_HPP_UNLIKELY(st == TRANSOM_ERR_NULL_ARGUMENT) && handle == nullptr) return TRANSOM_ERR_CLOSED;
    return st;
}

/// Writes `text` to transom's log at `level` (invalid UTF-8 bytes become '?').
void log_text(transom_log_level level, std::string_view text) noexcept;

constexpr uint64_t to_ns(nanoseconds d) noexcept {
    return d == nanoseconds::max() ? UINT64_MAX : d.count() <= 0 ? 0 : static_cast<uint64_t>(d.count());
}

// Callback exception reporting.
using exception_handler = void (*)(const char *where, const char *what);

/// The length of the valid UTF-8 character starting at s[i], or 0 when it is not one
/// (overlong forms, surrogates and values above U+10FFFF included, as Rust's str checks).
inline size_t utf8_char(std::string_view s, size_t i) noexcept {
    auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = at(i);
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else return 0;
    if (i + n > s.size() || at(i + 1) < lo || at(i + 1) > hi) return 0;
    for (size_t k = 2; k < n; ++k)
        if ((at(i + k) & 0xc0) != 0x80) return 0;
    return n;
}

/// `s` as valid UTF-8 (each byte that starts no valid character becomes '?'), cut to at most
/// `max` bytes on a character boundary.
inline std::string utf8_clip(std::string_view s, size_t max) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        size_t n = utf8_char(s, i);
        size_t take = n == 0 ? 1 : n;
        if (out.size() + take > max) break;
        if (n == 0) out.push_back('?');
        else out.append(s.data() + i, n);
        i += take;
    }
    return out;
}

inline void log_text(transom_log_level level, std::string_view text) noexcept {
    try {
        std::string t = utf8_clip(text, text.size());
        (void)transom_log_write(level, t.data(), t.size());
    } catch (...) {
        // Out of memory while reporting: nothing to do.
    }
}

/// The name of the exception in flight (demangled where the ABI allows), e.g.
/// "std::runtime_error"; call inside a catch block.
inline std::string current_exception_type() {
#if defined(__GNUG__)
    const std::type_info *t = abi::__cxa_current_exception_type();
    if (t == nullptr) return "unknown exception";
    int st = 0;
    char *d = abi::__cxa_demangle(t->name(), nullptr, nullptr, &st);
    std::string name = (st == 0 && d != nullptr) ? std::string(d) : std::string(t->name());
    std::free(d);
    return name;
#else
    try {
        throw;
    } catch (const std::exception &e) {
        return typeid(e).name();
    } catch (...) {
        return "unknown exception";
    }
#endif
}

/// "Type: what()" of the exception in flight; call inside a catch block.
inline std::string current_exception_text() {
    std::string text = current_exception_type();
    try {
        throw;
    } catch (const std::exception &e) {
        text += ": ";
        text += e.what();
    } catch (...) {
    }
    return text;
}

inline void default_exception_handler(const char *where, const char *what) {
    std::string line = "exception in ";
    line += where;
    line += " callback: ";
    line += what;
    log_text(TRANSOM_LOG_WARN, line);
}

inline std::atomic<uint64_t> callback_exception_count{0};
inline std::atomic<exception_handler> callback_exception_handler{&default_exception_handler};

/// Called inside a catch block of a trampoline: counts and reports the exception in flight.
inline void report_current_exception(const char *where) noexcept {
    callback_exception_count.fetch_add(1, std::memory_order_relaxed);
    exception_handler h = callback_exception_handler.load(std::memory_order_acquire);
    try {
        std::string text = current_exception_text();
        try {
            throw;
        } catch (const std::exception &) {
        } catch (...) {
            text += " (not derived from std::exception)";
        }
        h(where, text.c_str());
    } catch (...) {
        // The handler itself threw: nothing may cross into C.
    }
}

} // namespace detail

/// How many exceptions callbacks have thrown (and transom::hpp swallowed) in this process.
inline uint64_t callback_exceptions() noexcept {
    return detail::callback_exception_count.load(std::memory_order_relaxed);
}

/// Replaces what happens with a callback's exception after it is counted (default: a WARN
/// message "exception in <where> callback: <type>: <what>" on transom's log, which goes to
/// stderr unless set_log_callback chose otherwise). `nullptr` restores the default. The handler
/// runs on the callback's thread, with `what` = "<type>: <what()>".
inline void set_callback_exception_handler(void (*handler)(const char *where, const char *what)) noexcept {
    detail::callback_exception_handler.store(handler ? handler : &detail::default_exception_handler,
                                             std::memory_order_release);
}

// ---------------------------------------------------------------------------------------------
// Small value types
// ---------------------------------------------------------------------------------------------

/// A minimal std::span for C++17: a pointer and a count.
template <class T> class span {
  public:
    using element_type = T;
    using value_type = std::remove_cv_t<T>;
    using iterator = T *;

    constexpr span() noexcept = default;
    constexpr span(T *data, size_t size) noexcept : data_(data), size_(size) {}
    template <class A, class U = T, class = std::enable_if_t<std::is_const_v<U>>>
    span(const std::vector<value_type, A> &v) noexcept : data_(v.data()), size_(v.size()) {}
    template <class A>
    span(std::vector<value_type, A> &v) noexcept : data_(v.data()), size_(v.size()) {}

    constexpr T *data() const noexcept { return data_; }
    constexpr size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr T *begin() const noexcept { return data_; }
    constexpr T *end() const noexcept { return data_ + size_; }
    constexpr T &operator[](size_t i) const noexcept { return data_[i]; }
    constexpr T &front() const noexcept { return data_[0]; }
    constexpr T &back() const noexcept { return data_[size_ - 1]; }

  private:
    T *data_ = nullptr;
    size_t size_ = 0;
};

/// Input bytes: anything byte-like (pointer + length, string_view, std::string, vector).
class bytes {
  public:
    constexpr bytes() noexcept = default;
    bytes(const void *data, size_t size) noexcept
        : data_(static_cast<const uint8_t *>(data)), size_(size) {}
    bytes(std::string_view s) noexcept
        : data_(reinterpret_cast<const uint8_t *>(s.data())), size_(s.size()) {}
    bytes(const char *s) noexcept : bytes(std::string_view(s)) {}
    bytes(const std::string &s) noexcept : bytes(std::string_view(s)) {}
    template <class A>
    bytes(const std::vector<uint8_t, A> &v) noexcept : data_(v.data()), size_(v.size()) {}
    bytes(span<const uint8_t> s) noexcept : data_(s.data()), size_(s.size()) {}

    const uint8_t *data() const noexcept { return data_; }
    size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

  private:
    const uint8_t *data_ = nullptr;
    size_t size_ = 0;
};

inline std::string_view as_text(span<const uint8_t> b) noexcept {
    return std::string_view(reinterpret_cast<const char *>(b.data()), b.size());
}

/// A handle to one stored message (transom_token, 128 bits: the issuing manager's key and the
/// slot's index and generation): copy it freely, it is checked on every use. A token is never
/// issued twice in a process.
class token {
  public:
    constexpr token() noexcept = default;
    constexpr explicit token(transom_token t) noexcept : t_(t) {}
    /// Rebuilds a token from key() and slot() (e.g. after passing it through a queue).
    static constexpr token from_parts(uint64_t key, uint64_t slot) noexcept {
        return token(transom_token{key, slot});
    }
    /// The issuing manager's key (never 0 for a live token).
    constexpr uint64_t key() const noexcept { return t_.key; }
    /// The slot index (upper 24 bits) and generation (lower 40 bits).
    constexpr uint64_t slot() const noexcept { return t_.slot; }
    constexpr transom_token raw() const noexcept { return t_; }
    /// false for the null token {0, 0} (never a live one).
    constexpr explicit operator bool() const noexcept { return t_.key != 0 || t_.slot != 0; }
    friend constexpr bool operator==(token a, token b) noexcept {
        return a.t_.key == b.t_.key && a.t_.slot == b.t_.slot;
    }
    friend constexpr bool operator!=(token a, token b) noexcept { return !(a == b); }

  private:
    transom_token t_{0, 0};
};

/// A process id: never reused within a runtime; the default (0) names no process.
class pid {
  public:
    constexpr pid() noexcept = default;
    constexpr explicit pid(transom_pid v) noexcept : v_(v) {}
    constexpr transom_pid value() const noexcept { return v_; }
    constexpr explicit operator bool() const noexcept { return v_ != 0; }
    friend constexpr bool operator==(pid a, pid b) noexcept { return a.v_ == b.v_; }
    friend constexpr bool operator!=(pid a, pid b) noexcept { return a.v_ != b.v_; }
    friend constexpr bool operator<(pid a, pid b) noexcept { return a.v_ < b.v_; }

  private:
    transom_pid v_ = 0;
};

/// A 128-bit event id; the default ({0, 0}) means "none".
struct event_id {
    uint64_t hi = 0;
    uint64_t lo = 0;
    constexpr event_id() noexcept = default;
    constexpr event_id(uint64_t h, uint64_t l) noexcept : hi(h), lo(l) {}
    constexpr explicit event_id(transom_event_id id) noexcept : hi(id.hi), lo(id.lo) {}
    constexpr transom_event_id raw() const noexcept { return transom_event_id{hi, lo}; }
    constexpr explicit operator bool() const noexcept { return hi != 0 || lo != 0; }
    friend constexpr bool operator==(event_id a, event_id b) noexcept { return a.hi == b.hi && a.lo == b.lo; }
    friend constexpr bool operator!=(event_id a, event_id b) noexcept { return !(a == b); }
};

/// A message header (transom_header) initialised like transom_header_init: zero, best effort.
struct header : transom_header {
    header() noexcept : transom_header{} { qos = TRANSOM_QOS_BEST_EFFORT; }
    explicit header(const transom_header &h) noexcept : transom_header(h) {}
};

/// Memory classes (transom_memory_class).
inline constexpr transom_memory_class host_memory() noexcept { return {TRANSOM_MEMORY_HOST, 0}; }
inline constexpr transom_memory_class pinned_host_memory() noexcept { return {TRANSOM_MEMORY_PINNED_HOST, 0}; }
inline constexpr transom_memory_class device_memory(uint8_t device) noexcept { return {TRANSOM_MEMORY_DEVICE, device}; }
inline constexpr transom_memory_class shared_memory() noexcept { return {TRANSOM_MEMORY_SHARED, 0}; }
inline constexpr bool operator==(transom_memory_class a, transom_memory_class b) noexcept {
    return a.kind == b.kind && a.device == b.device;
}
inline constexpr bool operator!=(transom_memory_class a, transom_memory_class b) noexcept { return !(a == b); }

/// Why a process exited (transom_exit_reason), with constructors and a text accessor.
struct exit_reason : transom_exit_reason {
    exit_reason() noexcept : transom_exit_reason{} {}
    /// `msg` is cut to 255 bytes on a UTF-8 character boundary.
    explicit exit_reason(int32_t k, int32_t c = 0, std::string_view msg = {}) noexcept : transom_exit_reason{} {
        kind = k;
        code = c;
        size_t n = 0;
        while (n < msg.size()) {
            size_t ch = detail::utf8_char(msg, n);
            if (ch == 0) ch = 1;
            if (n + ch > sizeof(message) - 1) break;
            n += ch;
        }
        if (n) std::memcpy(message, msg.data(), n);
        message[n] = 0;
    }
    exit_reason(const transom_exit_reason &r) noexcept : transom_exit_reason(r) {
        message[sizeof(message) - 1] = 0;
    }
    static exit_reason normal() noexcept { return exit_reason(TRANSOM_EXIT_NORMAL); }
    static exit_reason killed() noexcept { return exit_reason(TRANSOM_EXIT_KILLED); }
    static exit_reason failure(int32_t c, std::string_view msg = {}) noexcept {
        return exit_reason(TRANSOM_EXIT_ERROR, c, msg);
    }
    std::string_view text() const & noexcept { return std::string_view(message); }
    std::string_view text() const && = delete; // would dangle: keep the reason in a variable
};

// ---------------------------------------------------------------------------------------------
// Callback boxes: a callable on the heap, handed to C as {ctx, call, drop}
// ---------------------------------------------------------------------------------------------

namespace detail {

template <class F> struct box {
    F f;
    template <class G> explicit box(G &&g) : f(std::forward<G>(g)) {}
    static void drop(void *ctx) noexcept { delete static_cast<box *>(ctx); }
    static F &of(void *ctx) noexcept { return static_cast<box *>(ctx)->f; }
};

/// Owns a C callback triple until it is handed to C (release): the destructor runs its drop,
/// so a triple that never reached C is still destroyed exactly once.
template <class T> class closure {
  public:
    closure() noexcept : t_{} {}
    explicit closure(T t) noexcept : t_(t) {}
    closure(closure &&o) noexcept : t_(o.t_) { o.t_ = T{}; }
    closure &operator=(closure &&o) noexcept {
        if (this != &o) {
            reset();
            t_ = o.t_;
            o.t_ = T{};
        }
        return *this;
    }
    closure(const closure &) = delete;
    closure &operator=(const closure &) = delete;
    ~closure() { reset(); }

    /// Hands the triple over (C owns it from the call that receives it, also on failure).
    T release() noexcept {
        T t = t_;
        t_ = T{};
        return t;
    }
    bool empty() const noexcept { return t_.ctx == nullptr && t_.drop == nullptr; }

  private:
    void reset() noexcept {
        if (t_.drop) t_.drop(t_.ctx);
        t_ = T{};
    }
    T t_;
};

template <class F> using box_of = box<std::decay_t<F>>;

} // namespace detail

// ---------------------------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------------------------

namespace detail {

template <class F>
void log_call(void *ctx, transom_log_level level, const char *message, size_t len) noexcept {
    try {
        std::invoke(box<F>::of(ctx), level, std::string_view(message, len));
    } catch (...) {
        // Reporting it would log again, from inside the log callback: dropped.
    }
}

} // namespace detail

/// Sends transom's log messages of level `min_level` and above (TRANSOM_LOG_DEBUG, _INFO, _WARN,
/// _ERROR) to `f(transom_log_level, std::string_view message)`, for the whole process (see
/// transom_set_log_callback): panics inside transom, exceptions thrown by callbacks (this
/// wrapper's default exception handler logs them at WARN), mailboxes freed without an exit.
/// `f` may run on any thread, several at once, with no transom lock held; an exception it
/// throws is dropped. The previous callback is destroyed once its calls in flight returned.
template <class F> void set_log_callback(F &&f, transom_log_level min_level = TRANSOM_LOG_WARN) {
    using B = detail::box_of<F>;
    using D = std::decay_t<F>;
    static_assert(std::is_invocable_v<D &, transom_log_level, std::string_view>,
                  "a log callback is callable as f(transom_log_level, std::string_view)");
    detail::closure<transom_log_callback> cb(
        transom_log_callback{new B(std::forward<F>(f)), &detail::log_call<D>, &B::drop});
    detail::check(transom_set_log_callback(cb.release(), min_level), "transom_set_log_callback", &min_level);
}

/// Restores the default log sink (one line per message on stderr) with `min_level`.
inline void reset_log_callback(transom_log_level min_level = TRANSOM_LOG_WARN) noexcept {
    (void)transom_set_log_callback(transom_log_callback{nullptr, nullptr, nullptr}, min_level);
}

// ---------------------------------------------------------------------------------------------
// Memory managers
// ---------------------------------------------------------------------------------------------

class manager_ref;

/// A shared read view of one message (transom_manager_read), released by its destructor (or
/// release()). Move-only. Its manager must outlive it: destroying a manager while a view is
/// outstanding terminates the program with a message (see transom::manager).
class read_view {
  public:
    read_view() noexcept : m_(nullptr), t_{}, v_{} {}
    read_view(read_view &&o) noexcept : m_(o.m_), t_(o.t_), v_(o.v_) { o.m_ = nullptr; }
    read_view &operator=(read_view &&o) noexcept {
        if (this != &o) {
            (void)release(std::nothrow);
            m_ = o.m_;
            t_ = o.t_;
            v_ = o.v_;
            o.m_ = nullptr;
        }
        return *this;
    }
    read_view(const read_view &) = delete;
    read_view &operator=(const read_view &) = delete;
    ~read_view() {
        if (m_) (void)transom_manager_release(m_, t_.raw());
    }

    const transom_header &header() const noexcept { return *v_.header; }
    const uint8_t *data() const noexcept { return v_.payload; }
    size_t size() const noexcept { return v_.len; }
    span<const uint8_t> payload() const noexcept { return {v_.payload, v_.len}; }
    std::string_view text() const noexcept { return as_text(payload()); }
    transom::token token() const noexcept { return t_; }
    /// true while the view is held.
    explicit operator bool() const noexcept { return m_ != nullptr; }

    /// Ends the view now (the destructor then does nothing).
    void release() { detail::check(release(std::nothrow), "transom::read_view::release", m_); }
    status release(std::nothrow_t) noexcept {
        if (!m_) return TRANSOM_ERR_CLOSED; // holds no view: like a closed handle
        status st = transom_manager_release(m_, t_.raw());
        m_ = nullptr;
        return st;
    }

  private:
    friend class manager_ref;
    read_view(const transom_manager *m, transom::token t, const transom_read_view &v) noexcept : m_(m), t_(t), v_(v) {}
    const transom_manager *m_;
    transom::token t_;
    transom_read_view v_;
};

/// The exclusive write view of one message (transom_manager_write), released by its destructor
/// (or release(), which reports an invalid header: a length over the slot size, a qos above 3,
/// unknown flag bits; those fields then revert). Move-only.
class write_view {
  public:
    write_view() noexcept : m_(nullptr), t_{}, v_{} {}
    write_view(write_view &&o) noexcept : m_(o.m_), t_(o.t_), v_(o.v_) { o.m_ = nullptr; }
    write_view &operator=(write_view &&o) noexcept {
        if (this != &o) {
            (void)release(std::nothrow);
            m_ = o.m_;
            t_ = o.t_;
            v_ = o.v_;
            o.m_ = nullptr;
        }
        return *this;
    }
    write_view(const write_view &) = delete;
    write_view &operator=(const write_view &) = delete;
    ~write_view() {
        if (m_) (void)transom_manager_release(m_, t_.raw());
    }

    /// The stored header; its caller fields, qos and flags may be edited (checked on release).
    transom_header &header() const noexcept { return *v_.header; }
    uint8_t *data() const noexcept { return v_.payload; }
    /// The payload length when the view was taken.
    size_t size() const noexcept { return v_.len; }
    /// The slot size.
    size_t capacity() const noexcept { return v_.capacity; }
    span<uint8_t> buffer() const noexcept { return {v_.payload, v_.capacity}; }
    /// Sets the new payload length (validated by the release: at most capacity()).
    void resize(size_t n) const noexcept {
        v_.header->payload_len = n > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(n);
    }
    transom::token token() const noexcept { return t_; }
    explicit operator bool() const noexcept { return m_ != nullptr; }

    /// Ends the view: throws TRANSOM_ERR_TOO_LARGE when the new length exceeds the slot, or
    /// TRANSOM_ERR_INVALID_ARGUMENT for a qos above 3 or unknown flag bits (length, qos and flags
    /// then revert); the view is ended either way.
    void release() {
        const transom_manager *m = m_;
        status st = release(std::nothrow);
        if (st < 0) detail::fail(st, "transom_manager_release", m);
    }
    status release(std::nothrow_t) noexcept {
        if (!m_) return TRANSOM_ERR_CLOSED; // holds no view: like a closed handle
        status st = transom_manager_release(m_, t_.raw());
        m_ = nullptr;
        return st;
    }

  private:
    friend class manager_ref;
    write_view(const transom_manager *m, transom::token t, const transom_write_view &v) noexcept : m_(m), t_(t), v_(v) {}
    const transom_manager *m_;
    transom::token t_;
    transom_write_view v_;
};

/// A reserved slot (transom_manager_reserve): write the payload in place, then commit(). The
/// destructor aborts a reservation that was not committed. Move-only.
class reservation {
  public:
    reservation() noexcept = default;
    reservation(reservation &&o) noexcept : m_(o.m_), t_(o.t_), p_(o.p_), n_(o.n_) { o.m_ = nullptr; }
    reservation &operator=(reservation &&o) noexcept {
        if (this != &o) {
            if (m_) (void)transom_manager_abort(m_, t_.raw());
            m_ = o.m_;
            t_ = o.t_;
            p_ = o.p_;
            n_ = o.n_;
            o.m_ = nullptr;
        }
        return *this;
    }
    reservation(const reservation &) = delete;
    reservation &operator=(const reservation &) = delete;
    ~reservation() {
        if (m_) (void)transom_manager_abort(m_, t_.raw());
    }

    uint8_t *data() const noexcept { return p_; }
    size_t size() const noexcept { return n_; }
    span<uint8_t> buffer() const noexcept { return {p_, n_}; }
    transom::token token() const noexcept { return t_; }
    explicit operator bool() const noexcept { return m_ != nullptr; }

    /// Publishes the message; returns its token. On a bad header it stays reserved.
    transom::token commit(const transom_header &h = transom::header()) {
        detail::check(transom_manager_commit(m_, t_.raw(), &h), "transom_manager_commit", m_);
        m_ = nullptr;
        return t_;
    }
    /// Gives the slot back unpublished.
    void abort() {
        detail::check(transom_manager_abort(m_, t_.raw()), "transom_manager_abort", m_);
        m_ = nullptr;
    }

  private:
    friend class manager_ref;
    const transom_manager *m_ = nullptr;
    transom::token t_;
    uint8_t *p_ = nullptr;
    size_t n_ = 0;
};

/// Every manager operation on a non-owning handle (manager derives from it; manager::ref()
/// copies it). It must not be used after the manager is freed.
class manager_ref {
  public:
    manager_ref() noexcept = default;
    explicit manager_ref(transom_manager *h) noexcept : h_(h) {}
    transom_manager *get() const noexcept { return h_; }
    explicit operator bool() const noexcept { return h_ != nullptr; }

    // --- store / read / release / remove: the hot path ---

    transom::token store(const transom_header &h, bytes payload) const {
        transom_token t;
        detail::check(transom_manager_store(h_, &h, payload.data(), payload.size(), &t), "transom_manager_store", h_);
        return transom::token(t);
    }
    transom::token store(bytes payload) const { return store(transom::header(), payload); }
    /// Non-throwing store: the throwing overloads' arguments, then `out` (written on OK only).
    status store(std::nothrow_t, const transom_header &h, bytes payload, transom::token &out) const noexcept {
        transom_token t;
        status st = transom_manager_store(h_, &h, payload.data(), payload.size(), &t);
        if (TRANSOM_HPP_UNLIKELY(st != TRANSOM_OK)) return detail::nothrow_status(st, h_);
        out = transom::token(t);
        return st;
    }
    status store(std::nothrow_t, bytes payload, transom::token &out) const noexcept {
        return store(std::nothrow, transom::header(), payload, out);
    }

    /// Waits up to `timeout` for a free slot (CONCURRENT managers: parked until another thread
    /// frees one; see transom_manager_store_wait); nullopt when the time ran out. Throws
    /// TRANSOM_ERR_UNSUPPORTED for STATIC and HEAP managers.
    std::optional<transom::token> store_wait(const transom_header &h, bytes payload, nanoseconds timeout = forever) const {
        transom_token t;
        if (detail::check(transom_manager_store_wait(h_, &h, payload.data(), payload.size(), detail::to_ns(timeout), &t),
                          "transom_manager_store_wait", h_) != TRANSOM_OK)
            return std::nullopt;
        return transom::token(t);
    }
    std::optional<transom::token> store_wait(bytes payload, nanoseconds timeout = forever) const {
        return store_wait(transom::header(), payload, timeout);
    }
    /// Non-throwing: TRANSOM_OK (`out` written), TRANSOM_TIMEOUT or an error.
    status store_wait(std::nothrow_t, const transom_header &h, bytes payload, nanoseconds timeout,
                      transom::token &out) const noexcept {
        transom_token t;
        status st = transom_manager_store_wait(h_, &h, payload.data(), payload.size(), detail::to_ns(timeout), &t);
        if (st != TRANSOM_OK) return detail::nothrow_status(st, h_);
        out = transom::token(t);
        return st;
    }

    read_view read(transom::token t) const {
        transom_read_view raw; // written by the C call on success, read only then
        detail::check(transom_manager_read(h_, t.raw(), &raw), "transom_manager_read", h_);
        return read_view(h_, t, raw);
    }
    /// Non-throwing: on success `out` holds the view (its previous view is released first).
    status read(std::nothrow_t, transom::token t, read_view &out) const noexcept {
        (void)out.release(std::nothrow);
        status st = transom_manager_read(h_, t.raw(), &out.v_);
        if (TRANSOM_HPP_UNLIKELY(st != TRANSOM_OK)) return detail::nothrow_status(st, h_);
        out.m_ = h_;
        out.t_ = t;
        return st;
    }

    write_view write(transom::token t) const {
        transom_write_view raw;
        detail::check(transom_manager_write(h_, t.raw(), &raw), "transom_manager_write", h_);
        return write_view(h_, t, raw);
    }
    status write(std::nothrow_t, transom::token t, write_view &out) const noexcept {
        (void)out.release(std::nothrow);
        status st = transom_manager_write(h_, t.raw(), &out.v_);
        if (TRANSOM_HPP_UNLIKELY(st != TRANSOM_OK)) return detail::nothrow_status(st, h_);
        out.m_ = h_;
        out.t_ = t;
        return st;
    }

    /// Frees the message (every copy of the token becomes stale).
    void remove(transom::token t) const {
        detail::check(transom_manager_remove(h_, t.raw()), "transom_manager_remove", h_);
    }
    status remove(std::nothrow_t, transom::token t) const noexcept {
        return detail::nothrow_status(transom_manager_remove(h_, t.raw()), h_);
    }

    // --- the rest ---

    reservation reserve(size_t len) const {
        reservation r;
        detail::check(reserve(std::nothrow, len, r), "transom_manager_reserve", h_);
        return r;
    }
    /// Non-throwing: on success `out` holds the reservation (its previous one is aborted first).
    status reserve(std::nothrow_t, size_t len, reservation &out) const noexcept {
        out = reservation();
        transom_token t;
        uint8_t *p = nullptr;
        status st = transom_manager_reserve(h_, len, &t, &p);
        if (st != TRANSOM_OK) return detail::nothrow_status(st, h_);
        out.m_ = h_;
        out.t_ = transom::token(t);
        out.p_ = p;
        out.n_ = len;
        return st;
    }
    /// reserve() that waits like store_wait(); nullopt when the time ran out.
    std::optional<reservation> reserve_wait(size_t len, nanoseconds timeout = forever) const {
        reservation r;
        if (detail::check(reserve_wait(std::nothrow, len, timeout, r), "transom_manager_reserve_wait", h_) != TRANSOM_OK)
            return std::nullopt;
        return std::optional<reservation>(std::move(r));
    }
    status reserve_wait(std::nothrow_t, size_t len, nanoseconds timeout, reservation &out) const noexcept {
        out = reservation();
        transom_token t;
        uint8_t *p = nullptr;
        status st = transom_manager_reserve_wait(h_, len, detail::to_ns(timeout), &t, &p);
        if (st != TRANSOM_OK) return detail::nothrow_status(st, h_);
        out.m_ = h_;
        out.t_ = transom::token(t);
        out.p_ = p;
        out.n_ = len;
        return st;
    }

    transom::header peek_header(transom::token t) const {
        transom::header h;
        detail::check(transom_manager_peek_header(h_, t.raw(), &h), "transom_manager_peek_header", h_);
        return h;
    }

    /// Copies the payload into `buf` and frees the slot; returns the length. Too small a buffer
    /// throws TRANSOM_ERR_BUFFER_TOO_SMALL with value() = the needed length (nothing freed).
    size_t take(transom::token t, void *buf, size_t cap) const {
        size_t n = 0;
        status st = transom_manager_take(h_, t.raw(), static_cast<uint8_t *>(buf), cap, &n);
        if (st == TRANSOM_ERR_BUFFER_TOO_SMALL) {
            throw error(st, "transom_manager_take", detail::last_error_detail(), static_cast<int64_t>(n));
        }
        detail::check(st, "transom_manager_take", h_);
        return n;
    }
    std::vector<uint8_t> take(transom::token t) const {
        transom_header h;
        detail::check(transom_manager_peek_header(h_, t.raw(), &h), "transom_manager_peek_header", h_);
        std::vector<uint8_t> out(h.payload_len);
        for (;;) {
            size_t n = 0;
            status st = transom_manager_take(h_, t.raw(), out.data(), out.size(), &n);
            if (st == TRANSOM_ERR_BUFFER_TOO_SMALL && n > out.size()) { // a writer grew it meanwhile
                out.resize(n);
                continue;
            }
            detail::check(st, "transom_manager_take", h_);
            out.resize(n);
            return out;
        }
    }

    /// Frees every committed message (TRANSOM_ERR_BORROWED while any view is outstanding).
    void clear() const { detail::check(transom_manager_clear(h_), "transom_manager_clear", h_); }

    size_t available() const {
        size_t n = 0;
        detail::check(transom_manager_available(h_, &n), "transom_manager_available", h_);
        return n;
    }
    size_t capacity() const {
        size_t n = 0;
        detail::check(transom_manager_capacity(h_, &n), "transom_manager_capacity", h_);
        return n;
    }
    size_t slot_size() const {
        size_t n = 0;
        detail::check(transom_manager_slot_size(h_, &n), "transom_manager_slot_size", h_);
        return n;
    }
    transom_memory_class memory_class() const {
        transom_memory_class c{};
        detail::check(transom_manager_memory_class(h_, &c), "transom_manager_memory_class", h_);
        return c;
    }
    transom_memory_stats stats() const {
        transom_memory_stats s{};
        detail::check(transom_manager_stats(h_, &s), "transom_manager_stats", h_);
        return s;
    }
    /// Outstanding read views, write views and reservations (O(capacity): a teardown check).
    size_t outstanding() const {
        size_t n = 0;
        detail::check(transom_manager_outstanding(h_, &n), "transom_manager_outstanding", h_);
        return n;
    }

  protected:
    transom_manager *h_ = nullptr;
};


namespace detail {

/// Frees a manager, unless views or reservations of it are outstanding: their destructors would
/// then use freed memory, so this terminates the program with a message on transom's log
/// instead (like std::thread's destructor for a joinable thread).
inline void free_manager(transom_manager *h) noexcept {
    if (h == nullptr) return;
    size_t n = 0;
    if (TRANSOM_HPP_UNLIKELY(transom_manager_outstanding(h, &n) == TRANSOM_OK && n != 0)) {
        char msg[256];
        std::snprintf(msg, sizeof msg,
                      "transom::manager destroyed while %zu view(s) or reservation(s) of it are outstanding "
                      "(their destructors would use the freed manager): release them first; terminating",
                      n);
        log_text(TRANSOM_LOG_ERROR, msg);
        std::terminate();
    }
    transom_manager_free(h);
}

} // namespace detail

/// A slot memory manager (transom_manager). Thread safety: a CONCURRENT manager may be used
/// from any number of threads at once; STATIC and HEAP ones by one thread at a time, although
/// every operation is const (const means the handle is not replaced, not that the slots are
/// unchanged). Views and reservations must not outlive it: its destructor, free() and move
/// assignment check (transom_manager_outstanding, O(capacity)) and call std::terminate with a
/// message when one is still outstanding, instead of leaving it to read freed memory.
class manager : public manager_ref {
  public:
    /// Creates a manager from a C config (see transom_manager_config).
    explicit manager(const transom_manager_config &config) {
        transom_manager *h = nullptr;
        detail::check(transom_manager_new(&config, &h), "transom_manager_new", &config);
        h_ = h;
    }
    static manager heap(size_t capacity, size_t slot_size, transom_memory_class mc = host_memory()) {
        return manager(transom_manager_config{TRANSOM_MANAGER_HEAP, capacity, slot_size, mc, nullptr, 0});
    }
    static manager concurrent(size_t capacity, size_t slot_size, transom_memory_class mc = host_memory()) {
        return manager(transom_manager_config{TRANSOM_MANAGER_CONCURRENT, capacity, slot_size, mc, nullptr, 0});
    }
    /// A STATIC manager over caller storage (at least required_bytes(capacity, slot_size)),
    /// which must stay alive and untouched until the manager is freed.
    static manager over(void *storage, size_t storage_len, size_t capacity, size_t slot_size,
                        transom_memory_class mc = host_memory()) {
        return manager(transom_manager_config{TRANSOM_MANAGER_STATIC, capacity, slot_size, mc, storage, storage_len});
    }
    static size_t required_bytes(size_t capacity, size_t slot_size) {
        size_t n = 0;
        detail::check(transom_manager_required_bytes(capacity, slot_size, &n), "transom_manager_required_bytes", &n);
        return n;
    }

    manager(manager &&o) noexcept : manager_ref(o.h_) { o.h_ = nullptr; }
    manager &operator=(manager &&o) noexcept {
        if (this != &o) {
            detail::free_manager(h_);
            h_ = o.h_;
            o.h_ = nullptr;
        }
        return *this;
    }
    manager(const manager &) = delete;
    manager &operator=(const manager &) = delete;
    ~manager() { detail::free_manager(h_); }

    /// Frees the manager now (every token of it becomes invalid; later calls throw
    /// TRANSOM_ERR_CLOSED). Terminates when a view or reservation is outstanding (see above).
    void free() noexcept {
        detail::free_manager(h_);
        h_ = nullptr;
    }
    /// A non-owning copy of the handle: every operation, for hot loops (a local copy keeps
    /// the handle in a register) and for sharing with threads that do not own the manager.
    manager_ref ref() const noexcept { return manager_ref(h_); }
};

// ---------------------------------------------------------------------------------------------
// Actors: messages, runtime, mailboxes, monitors
// ---------------------------------------------------------------------------------------------

/// A conversation request as a participant receives it (transom_request); payload and
/// traceparent point into the message (same lifetime).
class request {
  public:
    explicit request(const transom_request &r) noexcept : r_(r) {}
    uint64_t id() const noexcept { return r_.request_id; }
    std::string_view traceparent() const noexcept { return std::string_view(r_.traceparent); }
    span<const uint8_t> payload() const noexcept { return {r_.payload, r_.payload_len}; }
    std::string_view text() const noexcept { return as_text(payload()); }
    const transom_request &raw() const noexcept { return r_; }

  private:
    transom_request r_;
};

/// A message as a behaviour or mailbox sees it (transom_message). Its bytes are valid during
/// the behaviour call, or until the mailbox's next receive.
class message {
  public:
    message() noexcept : m_{} {}
    explicit message(const transom_message &m) noexcept : m_(m) {}
    int32_t kind() const noexcept { return m_.kind; }
    bool is_user() const noexcept { return m_.kind == TRANSOM_MESSAGE_USER; }
    bool is_exit() const noexcept { return m_.kind == TRANSOM_MESSAGE_EXIT; }
    /// The sender (USER; no process when a plain thread sent it), or the exited process (EXIT).
    transom::pid from() const noexcept { return transom::pid(m_.from); }
    span<const uint8_t> payload() const noexcept { return {m_.bytes, m_.len}; }
    std::string_view text() const noexcept { return as_text(payload()); }
    /// The exit reason of an EXIT message (a default reason for USER).
    exit_reason reason() const noexcept { return m_.reason ? exit_reason(*m_.reason) : exit_reason(); }
    /// The conversation request this message carries, if it is one.
    std::optional<transom::request> as_request() const noexcept {
        transom_request r{};
        if (transom_conversation_parse_request(&m_, &r) != TRANSOM_OK) return std::nullopt;
        return transom::request(r);
    }
    const transom_message &raw() const noexcept { return m_; }

  private:
    transom_message m_;
};

namespace detail {

/// Inside a behaviour's catch block: reports the exception and makes "<type>: <what()>" (cut
/// to 255 bytes) the process's exit reason, {TRANSOM_EXIT_ERROR, code}; returns `code`.
inline int32_t behaviour_failed(int32_t code) noexcept {
    report_current_exception("behaviour");
    try {
        exit_reason r(TRANSOM_EXIT_ERROR, code, utf8_clip(current_exception_text(), sizeof(r.message) - 1));
        (void)transom_behaviour_set_exit_reason(&r);
    } catch (...) {
        // No memory for the text: the process exits with the generic reason.
    }
    return code;
}

template <class F> int32_t behaviour_call(void *ctx, transom_pid self, const transom_message *m) noexcept {
    try {
        F &f = box<F>::of(ctx);
        message msg(*m);
        if constexpr (std::is_invocable_v<F &, pid, const message &>) {
            using R = std::invoke_result_t<F &, pid, const message &>;
            if constexpr (std::is_void_v<R>) {
                std::invoke(f, pid(self), msg);
                return 0;
            } else {
                return static_cast<int32_t>(std::invoke(f, pid(self), msg));
            }
        } else {
            using R = std::invoke_result_t<F &, const message &>;
            if constexpr (std::is_void_v<R>) {
                std::invoke(f, msg);
                return 0;
            } else {
                return static_cast<int32_t>(std::invoke(f, msg));
            }
        }
    } catch (const error &e) {
        return behaviour_failed(e.code() != 0 ? e.code() : exception_status);
    } catch (...) {
        return behaviour_failed(exception_status);
    }
}

template <class F> closure<transom_behaviour_callback> make_behaviour(F &&f) {
    using B = box_of<F>;
    using D = std::decay_t<F>;
    static_assert(std::is_invocable_v<D &, pid, const message &> || std::is_invocable_v<D &, const message &>,
                  "a behaviour is callable as f(transom::pid self, const transom::message&) or "
                  "f(const transom::message&), returning void or an int status");
    auto *b = new B(std::forward<F>(f));
    return closure<transom_behaviour_callback>(transom_behaviour_callback{b, &behaviour_call<D>, &B::drop});
}

template <class F> void monitor_call(void *ctx, transom_pid p, const transom_exit_reason *r) noexcept {
    try {
        std::invoke(box<F>::of(ctx), pid(p), exit_reason(*r));
    } catch (...) {
        report_current_exception("monitor");
    }
}

template <class F> closure<transom_monitor_callback> make_monitor(F &&f) {
    using B = box_of<F>;
    using D = std::decay_t<F>;
    static_assert(std::is_invocable_v<D &, pid, const exit_reason &>,
                  "a monitor is callable as f(transom::pid, const transom::exit_reason&)");
    auto *b = new B(std::forward<F>(f));
    return closure<transom_monitor_callback>(transom_monitor_callback{b, &monitor_call<D>, &B::drop});
}

} // namespace detail

/// A monitor id (transom_runtime_add_monitor / transom_runtime_remove_monitor); 0 is none.
using monitor_id = uint64_t;

/// Options applied atomically with a spawn or mailbox open.
class spawn_options {
  public:
    spawn_options() = default;
    // Setters chain on lvalues and on temporaries (spawn_options().link(p).trap_exit()).
    spawn_options &link(transom::pid p) & noexcept {
        link_ = p;
        return *this;
    }
    spawn_options &&link(transom::pid p) && noexcept { return std::move(link(p)); }
    spawn_options &trap_exit(bool on = true) & noexcept {
        trap_ = on;
        return *this;
    }
    spawn_options &&trap_exit(bool on = true) && noexcept { return std::move(trap_exit(on)); }
    /// Monitors the new process with `f(pid, const exit_reason&)`, destroyed exactly once.
    template <class F> spawn_options &monitor(F &&f) & {
        monitor_ = detail::make_monitor(std::forward<F>(f));
        return *this;
    }
    template <class F> spawn_options &&monitor(F &&f) && { return std::move(monitor(std::forward<F>(f))); }

    /// The C struct; hands the monitor over (call once, right before the C call).
    transom_spawn_options release() noexcept {
        transom_spawn_options o{};
        o.link = link_.value();
        o.trap_exit = trap_;
        o.monitor = monitor_.release();
        return o;
    }

  private:
    transom::pid link_;
    bool trap_ = false;
    detail::closure<transom_monitor_callback> monitor_;
};

class mailbox;
class conversation;
class conversation_config;

/// A non-owning reference to a runtime: every runtime operation. Copy it into behaviours. It
/// must not be used after the runtime is freed (after close() it may: every call then throws
/// TRANSOM_ERR_CLOSED). Thread safety: any number of threads at once, close() included.
class runtime_ref {
  public:
    runtime_ref() noexcept = default;
    explicit runtime_ref(const transom_runtime *h) noexcept : h_(h) {}

    const transom_runtime *get() const noexcept { return h_; }
    explicit operator bool() const noexcept { return h_ != nullptr; }

    /// Spawns a callback process running `f` (called as f(pid self, const message&) or
    /// f(const message&); return non-zero, or throw, to end it with TRANSOM_EXIT_ERROR).
    /// `f` is destroyed exactly once, after the process exited; also when this throws.
    /// `out_monitor_id` receives the id of the options' monitor (0 without one).
    template <class F>
    transom::pid spawn(F &&f, spawn_options options = {}, monitor_id *out_monitor_id = nullptr) const {
        auto b = detail::make_behaviour(std::forward<F>(f));
        transom_spawn_options o = options.release();
        transom_pid p = 0;
        detail::check(transom_runtime_spawn(h_, b.release(), &o, &p, out_monitor_id), "transom_runtime_spawn", h_);
        return transom::pid(p);
    }

    void send(transom::pid to, bytes data) const {
        detail::check(transom_runtime_send(h_, to.value(), data.data(), data.size()), "transom_runtime_send", h_);
    }
    status send(std::nothrow_t, transom::pid to, bytes data) const noexcept {
        return detail::nothrow_status(transom_runtime_send(h_, to.value(), data.data(), data.size()), h_);
    }
    void send_from(transom::pid from, transom::pid to, bytes data) const {
        detail::check(transom_runtime_send_from(h_, from.value(), to.value(), data.data(), data.size()),
                      "transom_runtime_send_from", h_);
    }
    void exit(transom::pid p, const transom_exit_reason &reason) const {
        detail::check(transom_runtime_exit(h_, p.value(), &reason), "transom_runtime_exit", h_);
    }
    void link(transom::pid a, transom::pid b) const {
        detail::check(transom_runtime_link(h_, a.value(), b.value()), "transom_runtime_link", h_);
    }
    void unlink(transom::pid a, transom::pid b) const {
        detail::check(transom_runtime_unlink(h_, a.value(), b.value()), "transom_runtime_unlink", h_);
    }
    /// Monitors `p`: `f(pid, const exit_reason&)` runs exactly once (NOPROC at once when `p` is
    /// dead), then is destroyed; or is destroyed by remove_monitor. Throws NOPROC for pid 0.
    template <class F> monitor_id add_monitor(transom::pid p, F &&f) const {
        auto cb = detail::make_monitor(std::forward<F>(f));
        uint64_t id = 0;
        detail::check(transom_runtime_add_monitor(h_, p.value(), cb.release(), &id), "transom_runtime_add_monitor",
                      h_);
        return id;
    }
    /// No call of the monitor is in flight or will start once this returns. true when this
    /// stopped the callback before it ran, false when the monitor is not registered (it fired,
    /// was removed, or is unknown).
    bool remove_monitor(monitor_id id) const {
        status st = transom_runtime_remove_monitor(h_, id);
        if (st == TRANSOM_ERR_NOT_FOUND) return false;
        detail::check(st, "transom_runtime_remove_monitor", h_);
        return true;
    }
    /// Shuts the runtime down (transom_runtime_close): live processes exit with SHUTDOWN,
    /// blocked calls throw TRANSOM_ERR_CLOSED, every behaviour and monitor callable has been
    /// destroyed when this returns (from another thread than the runtime's own). Idempotent;
    /// later calls throw TRANSOM_ERR_CLOSED.
    void close() const { detail::check(transom_runtime_close(h_), "transom_runtime_close", h_); }
    /// Replies to a conversation request as process `from` (a behaviour passes its self pid).
    void reply(transom::pid from, transom::pid conversation, uint64_t request_id, bytes payload) const {
        detail::check(transom_conversation_reply(h_, from.value(), conversation.value(), request_id, payload.data(),
                                            payload.size()),
                      "transom_conversation_reply", h_);
    }

    inline mailbox open_mailbox(spawn_options options = {}) const;
    inline conversation open_conversation(conversation_config config) const;

  protected:
    const transom_runtime *h_ = nullptr;
};

/// An actor runtime (transom_runtime), closed and freed by its destructor. Move-only.
/// Thread safety: any number of threads at once, callbacks and close() included; not while
/// freeing.
class runtime : public runtime_ref {
  public:
    /// `workers` threads (0: the available parallelism).
    explicit runtime(size_t workers = 0) {
        transom_runtime *h = nullptr;
        detail::check(transom_runtime_new(workers, &h), "transom_runtime_new", this);
        h_ = h;
    }
    runtime(runtime &&o) noexcept : runtime_ref(o.h_) { o.h_ = nullptr; }
    runtime &operator=(runtime &&o) noexcept {
        if (this != &o) {
            free();
            h_ = o.h_;
            o.h_ = nullptr;
        }
        return *this;
    }
    runtime(const runtime &) = delete;
    runtime &operator=(const runtime &) = delete;
    ~runtime() { free(); }

    /// Closes (see close()) if still open and frees the handle.
    void free() noexcept {
        transom_runtime_free(const_cast<transom_runtime *>(h_));
        h_ = nullptr;
    }
    runtime_ref ref() const noexcept { return runtime_ref(h_); }
};

/// A mailbox process owned by C++ code (transom_mailbox); the destructor frees it (exiting it
/// with TRANSOM_EXIT_DROPPED unless exit() ran). Thread safety: one thread at a time.
class mailbox {
  public:
    mailbox() noexcept = default;
    mailbox(mailbox &&o) noexcept : h_(o.h_), pid_(o.pid_) { o.h_ = nullptr; }
    mailbox &operator=(mailbox &&o) noexcept {
        if (this != &o) {
            transom_mailbox_free(h_);
            h_ = o.h_;
            pid_ = o.pid_;
            o.h_ = nullptr;
        }
        return *this;
    }
    mailbox(const mailbox &) = delete;
    mailbox &operator=(const mailbox &) = delete;
    ~mailbox() { transom_mailbox_free(h_); }

    void free() noexcept {
        transom_mailbox_free(h_);
        h_ = nullptr;
    }
    transom_mailbox *get() const noexcept { return h_; }
    explicit operator bool() const noexcept { return h_ != nullptr; }

    /// The next message (valid until the next receive), or nullopt on timeout. Throws
    /// TRANSOM_ERR_CLOSED once the process exited or the runtime shut down.
    std::optional<message> receive(nanoseconds timeout = forever) {
        transom_message m{};
        status st = detail::check(transom_mailbox_receive(h_, detail::to_ns(timeout), &m), "transom_mailbox_receive", h_);
        if (st != TRANSOM_OK) return std::nullopt;
        return message(m);
    }
    /// Non-throwing: TRANSOM_OK (`out` written), TRANSOM_TIMEOUT, or an error.
    status receive(std::nothrow_t, nanoseconds timeout, message &out) noexcept {
        transom_message m;
        status st = transom_mailbox_receive(h_, detail::to_ns(timeout), &m);
        if (st != TRANSOM_OK) return detail::nothrow_status(st, h_);
        out = message(m);
        return st;
    }
    void send(transom::pid to, bytes data) {
        detail::check(transom_mailbox_send(h_, to.value(), data.data(), data.size()), "transom_mailbox_send", h_);
    }
    transom::pid pid() const {
        transom_pid p = 0;
        detail::check(transom_mailbox_pid(h_, &p), "transom_mailbox_pid", h_);
        return transom::pid(p);
    }
    /// The pollable descriptor (transom_mailbox_fd): readable while receive(0) would not
    /// wait. Owned by this object: wait on it, never close it.
    int fd() const {
        int fd = -1;
        detail::check(transom_mailbox_fd(h_, &fd), "transom_mailbox_fd", h_);
        return fd;
    }
    /// Ends this mailbox's process (normal(): linked processes survive). Throws
    /// TRANSOM_ERR_CLOSED when it had already exited, like every call but pid() then.
    void exit(const transom_exit_reason &reason = exit_reason::normal()) {
        detail::check(transom_mailbox_exit(h_, &reason), "transom_mailbox_exit", h_);
    }
    void reply(transom::pid conversation, uint64_t request_id, bytes payload) {
        detail::check(transom_conversation_reply_from_mailbox(h_, conversation.value(), request_id, payload.data(), payload.size()),
                      "transom_conversation_reply_from_mailbox", h_);
    }

  private:
    friend class runtime_ref;
    transom_mailbox *h_ = nullptr;
    transom_pid pid_ = 0;
};

inline mailbox runtime_ref::open_mailbox(spawn_options options) const {
    transom_spawn_options o = options.release();
    mailbox mb;
    detail::check(transom_mailbox_open(h_, &o, &mb.h_, &mb.pid_), "transom_mailbox_open", h_);
    return mb;
}

// ---------------------------------------------------------------------------------------------
// Conversations
// ---------------------------------------------------------------------------------------------

/// A participant crash (transom_crash_info).
struct crash_info {
    transom::pid conversation;
    transom::pid participant;
    /// The participant's index in the conversation (open order).
    size_t participant_index = 0;
    exit_reason reason;
    transom_on_crash policy = 0;
    /// CLOCK_MONOTONIC nanoseconds (transom::monotonic_ns()).
    uint64_t observed_at_ns = 0;
    crash_info() = default;
    explicit crash_info(const transom_crash_info &c) noexcept
        : conversation(c.conversation), participant(c.participant), participant_index(c.participant_index),
          reason(c.reason), policy(c.policy), observed_at_ns(c.observed_at_ns) {}
};

/// A received reply's header; the payload went to the caller's buffer.
struct reply {
    uint64_t request_id = 0;
    transom::pid from;
    size_t size = 0;
};

/// A conversation snapshot (transom_conversation_state) with its participants
/// (transom_conversation_participants).
struct conversation_state {
    transom::pid pid;
    transom_phase phase = 0;
    uint64_t deadline_ns = 0, sent = 0, received = 0, crashed = 0;
    size_t in_flight = 0, buffered = 0;
    std::string traceparent;
    std::vector<transom_participant_state> participants;
};

namespace detail {

template <class F> void crash_call(void *ctx, const transom_crash_info *info) noexcept {
    try {
        std::invoke(box<F>::of(ctx), crash_info(*info));
    } catch (...) {
        report_current_exception("crash");
    }
}

template <class F>
int32_t compensate_call(void *ctx, transom_pid p, const transom_exit_reason *r, const transom_in_flight *reqs,
                        size_t count) noexcept {
    try {
        return static_cast<int32_t>(
            std::invoke(box<F>::of(ctx), pid(p), exit_reason(*r), span<const transom_in_flight>(reqs, count)));
    } catch (...) {
        report_current_exception("compensate");
        return TRANSOM_COMPENSATE_FAIL;
    }
}

} // namespace detail

/// One participant: an existing process, or a behaviour the conversation spawns (and stops).
class participant {
  public:
    static participant existing(transom::pid p) noexcept {
        participant x;
        x.pid_ = p;
        return x;
    }
    /// A callback process spawned by the conversation (see runtime_ref::spawn for `f`).
    template <class F> static participant spawn(F &&f) {
        participant x;
        x.b_ = detail::make_behaviour(std::forward<F>(f));
        return x;
    }
    transom_participant release() noexcept {
        transom_participant p{};
        p.pid = pid_.value();
        p.behaviour = b_.release();
        return p;
    }

  private:
    participant() = default;
    transom::pid pid_;
    detail::closure<transom_behaviour_callback> b_;
};

/// How to open a conversation (builder). There is no default crash policy.
class conversation_config {
  public:
    // Setters chain on lvalues and on temporaries.
    conversation_config &add(participant p) & {
        participants_.push_back(std::move(p));
        return *this;
    }
    conversation_config &&add(participant p) && { return std::move(add(std::move(p))); }
    conversation_config &add_existing(transom::pid p) & { return add(participant::existing(p)); }
    conversation_config &&add_existing(transom::pid p) && { return std::move(add_existing(p)); }
    template <class F> conversation_config &add_spawned(F &&f) & { return add(participant::spawn(std::forward<F>(f))); }
    template <class F> conversation_config &&add_spawned(F &&f) && { return std::move(add_spawned(std::forward<F>(f))); }
    /// TRANSOM_ON_CRASH_FAIL, _ROUTE_TO_NEXT or _COMPENSATE (then set compensate()).
    conversation_config &on_crash(transom_on_crash policy) & noexcept {
        policy_ = policy;
        return *this;
    }
    conversation_config &&on_crash(transom_on_crash policy) && noexcept { return std::move(on_crash(policy)); }
    /// The COMPENSATE policy's decision: f(pid, const exit_reason&, span<const
    /// transom_in_flight>) returning TRANSOM_COMPENSATE_CONTINUE or _FAIL (an exception fails).
    /// Destroyed exactly once, when the conversation is freed.
    template <class F> conversation_config &compensate(F &&f) & {
        using B = detail::box_of<F>;
        using D = std::decay_t<F>;
        static_assert(std::is_invocable_v<D &, transom::pid, const exit_reason &, span<const transom_in_flight>>,
                      "a compensation is callable as f(pid, const exit_reason&, span<const transom_in_flight>)");
        auto *b = new B(std::forward<F>(f));
        compensate_ = detail::closure<transom_compensate_callback>(
            transom_compensate_callback{b, &detail::compensate_call<D>, &B::drop});
        return *this;
    }
    template <class F> conversation_config &&compensate(F &&f) && { return std::move(compensate(std::forward<F>(f))); }
    /// The conversation's deadline, this long after open (then phase DEADLINE_EXCEEDED); 0 or
    /// forever: none.
    conversation_config &timeout(nanoseconds t) & noexcept {
        timeout_ = t;
        return *this;
    }
    conversation_config &&timeout(nanoseconds t) && noexcept { return std::move(timeout(t)); }
    conversation_config &mode(transom_mode m) & noexcept {
        mode_ = m;
        return *this;
    }
    conversation_config &&mode(transom_mode m) && noexcept { return std::move(mode(m)); }

  private:
    friend class runtime_ref;
    std::vector<participant> participants_;
    transom_on_crash policy_ = 0;
    detail::closure<transom_compensate_callback> compensate_;
    nanoseconds timeout_{0};
    transom_mode mode_ = TRANSOM_MODE_EPHEMERAL;
};

/// A supervised conversation (transom_conversation), freed by its destructor (which closes
/// it). Thread safety: any number of threads at once (receive and await_crash may block
/// several; close() may race them and wakes them with CLOSED), except free/destruction.
class conversation {
  public:
    conversation() noexcept = default;
    conversation(conversation &&o) noexcept : h_(o.h_) { o.h_ = nullptr; }
    conversation &operator=(conversation &&o) noexcept {
        if (this != &o) {
            transom_conversation_free(h_);
            h_ = o.h_;
            o.h_ = nullptr;
        }
        return *this;
    }
    conversation(const conversation &) = delete;
    conversation &operator=(const conversation &) = delete;
    ~conversation() { transom_conversation_free(h_); }

    void free() noexcept {
        transom_conversation_free(h_);
        h_ = nullptr;
    }
    transom_conversation *get() const noexcept { return h_; }
    explicit operator bool() const noexcept { return h_ != nullptr; }

    /// Sends a request to `to` (default: the next live participant); returns its id.
    uint64_t send(bytes payload, transom::pid to = {}) const {
        uint64_t id = 0;
        detail::check(transom_conversation_send(h_, to.value(), payload.data(), payload.size(), &id),
                      "transom_conversation_send", h_);
        return id;
    }

    /// Receives the oldest reply into `out` (resized to the payload), or nullopt on timeout.
    /// Throws PARTICIPANT_CRASHED, DEADLINE_EXCEEDED, CLOSED as the C call reports them
    /// (buffered replies come first).
    std::optional<reply> receive(std::vector<uint8_t> &out, nanoseconds timeout = forever) const {
        if (out.size() < out.capacity()) out.resize(out.capacity());
        if (out.empty()) out.resize(256);
        const uint64_t ns = detail::to_ns(timeout);
        for (;;) {
            transom_reply r{};
            size_t len = 0;
            status st = transom_conversation_receive(h_, ns, &r, out.data(), out.size(), &len);
            if (st == TRANSOM_ERR_BUFFER_TOO_SMALL && len > out.size()) { // parked: grow, take it
                out.resize(len);
                continue;
            }
            st = detail::check(st, "transom_conversation_receive", h_);
            if (st != TRANSOM_OK) {
                out.clear();
                return std::nullopt;
            }
            out.resize(len);
            return reply{r.request_id, transom::pid(r.from), len};
        }
    }
    /// Receives into a caller buffer. Too small: throws TRANSOM_ERR_BUFFER_TOO_SMALL with
    /// value() = the needed size; the reply stays parked, first in line for the next receive.
    std::optional<reply> receive(span<uint8_t> buf, nanoseconds timeout = forever) const {
        transom_reply r{};
        size_t len = 0;
        status st = transom_conversation_receive(h_, detail::to_ns(timeout), &r, buf.data(), buf.size(), &len);
        if (st == TRANSOM_ERR_BUFFER_TOO_SMALL) {
            throw error(st, "transom_conversation_receive", detail::last_error_detail(), static_cast<int64_t>(len));
        }
        if (detail::check(st, "transom_conversation_receive", h_) != TRANSOM_OK) return std::nullopt;
        return reply{r.request_id, transom::pid(r.from), len};
    }
    /// Non-throwing receive into a caller buffer: TRANSOM_OK (`out` written), TRANSOM_TIMEOUT,
    /// or an error; for TRANSOM_ERR_BUFFER_TOO_SMALL `out.size` is the needed size (the reply
    /// stays parked, first in line).
    status receive(std::nothrow_t, span<uint8_t> buf, nanoseconds timeout, reply &out) const noexcept {
        transom_reply r{};
        size_t len = 0;
        status st = transom_conversation_receive(h_, detail::to_ns(timeout), &r, buf.data(), buf.size(), &len);
        if (st == TRANSOM_ERR_BUFFER_TOO_SMALL) out.size = len;
        if (st != TRANSOM_OK) return detail::nothrow_status(st, h_);
        out = reply{r.request_id, transom::pid(r.from), len};
        return st;
    }

    /// No more requests (phase COMPLETING); replies can still be received.
    void complete() const { detail::check(transom_conversation_complete(h_), "transom_conversation_complete", h_); }

    /// Adds `f(const crash_info&)`, called once per crashed participant (at once, here, for
    /// past crashes); destroyed exactly once (remove_crash_callback, or when the conversation is
    /// freed). Returns its id for remove_crash_callback.
    template <class F> uint64_t add_crash_callback(F &&f) const {
        using B = detail::box_of<F>;
        using D = std::decay_t<F>;
        static_assert(std::is_invocable_v<D &, const crash_info &>, "a crash callback is callable as f(const crash_info&)");
        detail::closure<transom_crash_callback> cb(
            transom_crash_callback{new B(std::forward<F>(f)), &detail::crash_call<D>, &B::drop});
        uint64_t id = 0;
        detail::check(transom_conversation_add_crash_callback(h_, cb.release(), &id),
                      "transom_conversation_add_crash_callback", h_);
        return id;
    }
    /// Removes a crash callback: not called once this returns (waits for a call in flight on
    /// another thread; from inside the callback returns at once); its callable is destroyed
    /// after its last call. Throws NOT_FOUND for an unknown id.
    void remove_crash_callback(uint64_t id) const {
        detail::check(transom_conversation_remove_crash_callback(h_, id), "transom_conversation_remove_crash_callback",
                      h_);
    }

    /// The first participant crash, or nullopt on timeout. Throws CLOSED when it closed first.
    std::optional<crash_info> await_crash(nanoseconds timeout = forever) const {
        transom_crash_info c{};
        if (detail::check(transom_conversation_await_crash(h_, detail::to_ns(timeout), &c),
                          "transom_conversation_await_crash", h_) != TRANSOM_OK)
            return std::nullopt;
        return crash_info(c);
    }
    bool has_crashed() const {
        bool c = false;
        detail::check(transom_conversation_has_crashed(h_, &c), "transom_conversation_has_crashed", h_);
        return c;
    }
    /// The participants, in open order (their number never changes after open).
    std::vector<transom_participant_state> participants() const {
        transom_conversation_snapshot snap{};
        detail::check(transom_conversation_state(h_, &snap), "transom_conversation_state", h_);
        std::vector<transom_participant_state> ps(snap.participant_count);
        size_t n = 0;
        detail::check(transom_conversation_participants(h_, ps.data(), ps.size(), &n),
                      "transom_conversation_participants", h_);
        ps.resize(n);
        return ps;
    }
    conversation_state state() const {
        conversation_state s;
        {
            transom_conversation_snapshot snap{};
            detail::check(transom_conversation_state(h_, &snap), "transom_conversation_state", h_);
            s.participants = participants();
            s.pid = transom::pid(snap.pid);
            s.phase = snap.phase;
            s.deadline_ns = snap.deadline_ns;
            s.sent = snap.sent;
            s.received = snap.received;
            s.crashed = snap.crashed;
            s.in_flight = snap.in_flight;
            s.buffered = snap.buffered;
            size_t tl = 0;
            while (tl < sizeof snap.traceparent && snap.traceparent[tl] != 0) ++tl;
            s.traceparent.assign(snap.traceparent, tl);
            return s;
        }
    }
    /// The conversation actor's pid (participants reply to it).
    transom::pid pid() const {
        transom_pid p = 0;
        detail::check(transom_conversation_pid(h_, &p), "transom_conversation_pid", h_);
        return transom::pid(p);
    }
    /// The pollable descriptor for replies (transom_conversation_fd): readable while a
    /// receive with timeout 0 would not wait. Owned by this object: wait on it, never close it.
    int fd() const {
        int fd = -1;
        detail::check(transom_conversation_fd(h_, &fd), "transom_conversation_fd", h_);
        return fd;
    }
    /// The pollable descriptor for crashes (transom_conversation_crash_fd): readable once
    /// await_crash would not wait.
    int crash_fd() const {
        int fd = -1;
        detail::check(transom_conversation_crash_fd(h_, &fd), "transom_conversation_crash_fd", h_);
        return fd;
    }
    /// Closes (idempotent; never waits for a callback, so callable from inside one).
    void close() const { detail::check(transom_conversation_close(h_), "transom_conversation_close", h_); }

  private:
    friend class runtime_ref;
    transom_conversation *h_ = nullptr;
};

inline conversation runtime_ref::open_conversation(conversation_config config) const {
    // Every closure goes to C in this call (C owns them also on failure).
    std::vector<transom_participant> ps;
    ps.reserve(config.participants_.size()); // may throw: nothing handed over yet
    for (auto &p : config.participants_) ps.push_back(p.release());
    transom_conversation_config c{};
    c.participants = ps.data();
    c.participant_count = ps.size();
    c.on_crash = config.policy_;
    c.compensate = config.compensate_.release();
    c.timeout_ns = config.timeout_ == forever ? 0 : detail::to_ns(config.timeout_); // 0: none
    c.mode = config.mode_;
    conversation conv;
    detail::check(transom_conversation_open(h_, &c, &conv.h_), "transom_conversation_open", h_);
    return conv;
}

// ---------------------------------------------------------------------------------------------
// The event store
// ---------------------------------------------------------------------------------------------

/// How to open a store; an empty dir is an in-memory store.
struct store_options {
    std::string dir;
    transom_sync_policy sync = TRANSOM_SYNC_ALWAYS;
    uint32_t sync_every_n = 0;
    size_t max_payload = 0;
    uint64_t segment_size = 0;
    /// Retention by size (bytes of segments kept; 0 = keep everything).
    uint64_t retention_bytes = 0;
    /// Retention by age (segments whose newest event is older are deleted; 0 = keep all).
    std::chrono::nanoseconds retention_age{0};
    /// Index files are made durable every this many events (0 = the default, 65,536).
    uint64_t index_flush_events = 0;
};

/// A store's sizes and bookkeeping (transom_store_statistics; see the C header).
using store_stats = transom_store_statistics;

/// One event to append (its views must outlive the append call).
struct new_event {
    std::string_view stream;
    uint16_t kind = 0;
    bytes payload;
    event_id correlation_id;
    event_id causation_id;
    bytes idempotency_key;
    transom_expected_version_kind expected = TRANSOM_EXPECT_ANY;
    uint64_t expected_version = 0;

    new_event() = default;
    new_event(std::string_view s, uint16_t k, bytes p = {}) noexcept : stream(s), kind(k), payload(p) {}
    transom_append raw() const noexcept {
        transom_append a{};
        a.stream = stream.data();
        a.stream_len = stream.size();
        a.kind = kind;
        a.payload = payload.data();
        a.payload_len = payload.size();
        a.correlation_id = correlation_id.raw();
        a.causation_id = causation_id.raw();
        a.idempotency_key = idempotency_key.data();
        a.idempotency_key_len = idempotency_key.size();
        a.expected = expected;
        a.expected_version = expected_version;
        return a;
    }
};

/// Proof of a committed append.
struct receipt {
    event_id id;
    uint64_t sequence = 0;
    uint64_t stream_version = 0;
    receipt() = default;
    explicit receipt(const transom_receipt &r) noexcept
        : id(r.id), sequence(r.sequence), stream_version(r.stream_version) {}
};

/// An event copied out of the store (owns its stream name and payload).
struct event {
    event_id id;
    uint64_t sequence = 0, stream_version = 0, timestamp_ns = 0;
    event_id correlation_id, causation_id;
    uint16_t kind = 0;
    std::string stream;
    std::vector<uint8_t> payload;
    event() = default;
    explicit event(const transom_event &e)
        : id(e.id), sequence(e.sequence), stream_version(e.stream_version), timestamp_ns(e.timestamp_ns),
          correlation_id(e.correlation_id), causation_id(e.causation_id), kind(e.kind),
          stream(e.stream, e.stream_len), payload(e.payload, e.payload + e.payload_len) {}
    std::string_view text() const & noexcept {
        return std::string_view(reinterpret_cast<const char *>(payload.data()), payload.size());
    }
    std::string_view text() const && = delete; // would dangle: keep the event in a variable
};

/// true for a TRANSOM_ITEM_GAP item: the sequences gap_from..=gap_to (gap_count of them) were
/// not delivered (a subscription's overflow dropped them, or retention removed them before a
/// cursor read them). A cursor's gap counts as delivered: ack(gap_to) moves past it.
inline bool is_gap(const transom_item &it) noexcept { return it.kind == TRANSOM_ITEM_GAP; }

/// Views into a transom_event (stream name, payload), e.g. of a pulled item.
inline std::string_view stream_of(const transom_event &e) noexcept { return std::string_view(e.stream, e.stream_len); }
inline span<const uint8_t> payload_of(const transom_event &e) noexcept { return {e.payload, e.payload_len}; }
inline std::string_view text_of(const transom_event &e) noexcept {
    return std::string_view(reinterpret_cast<const char *>(e.payload), e.payload_len);
}

/// Reusable caller memory for store reads (transom_event_buffer): grows as answers need.
class event_buffer {
  public:
    /// Room for `events` events (at least 1) and an `arena` of bytes; reads that return more
    /// than fits (get, ancestors, correlated) grow both, store::read pages by cap().
    explicit event_buffer(size_t events = 16, size_t arena = 4096)
        : events_(events ? events : 1), arena_(arena) {}
    /// The number of events it holds (transom_event_buffer.cap).
    size_t cap() const noexcept { return events_.size(); }
    /// The events of the last read (pointers into this buffer, valid until the next read).
    span<const transom_event> events() const noexcept { return {events_.data(), count_}; }
    std::vector<event> copy() const {
        std::vector<event> v;
        v.reserve(count_);
        for (size_t i = 0; i < count_; ++i) v.emplace_back(events_[i]);
        return v;
    }

    /// Runs `call(transom_event_buffer*)` until the answer fits.
    template <class Call> void fill(Call &&call, const char *where, const void *handle) {
        for (;;) {
            transom_event_buffer b{};
            b.events = events_.data();
            b.cap = events_.size();
            b.arena = arena_.data();
            b.arena_cap = arena_.size();
            status st = call(&b);
            if (st == TRANSOM_ERR_BUFFER_TOO_SMALL && (b.total > events_.size() || b.arena_needed > arena_.size())) {
                if (b.total > events_.size()) events_.resize(b.total);
                if (b.arena_needed > arena_.size()) arena_.resize(b.arena_needed);
                continue; // the answer changed size or did not fit: again, with room for it
            }
            count_ = 0;
            detail::check(st, where, handle);
            count_ = b.count;
            return;
        }
    }

  private:
    std::vector<transom_event> events_;
    std::vector<uint8_t> arena_;
    size_t count_ = 0;
};

namespace detail {

/// A gate's reason buffer: set() copies (truncated, NUL-terminated) into transom's buffer.
class gate_reason_writer {
  public:
    gate_reason_writer(char *buf, size_t cap) noexcept : buf_(buf), cap_(cap) {}
    void set(std::string_view why) noexcept {
        if (!buf_ || cap_ == 0) return;
        size_t n = why.size() < cap_ - 1 ? why.size() : cap_ - 1;
        if (n) std::memcpy(buf_, why.data(), n);
        buf_[n] = 0;
    }

  private:
    char *buf_;
    size_t cap_;
};

} // namespace detail

using gate_reason = detail::gate_reason_writer;

/// What a gate sees of an event about to be appended (valid during the call).
class gate_event {
  public:
    explicit gate_event(const transom_gate_event &e) noexcept : e_(&e) {}
    std::string_view stream() const noexcept { return std::string_view(e_->stream, e_->stream_len); }
    uint16_t kind() const noexcept { return e_->kind; }
    span<const uint8_t> payload() const noexcept { return {e_->payload, e_->payload_len}; }
    std::string_view text() const noexcept { return as_text(payload()); }
    event_id correlation_id() const noexcept { return event_id(e_->correlation_id); }
    event_id causation_id() const noexcept { return event_id(e_->causation_id); }
    size_t index() const noexcept { return e_->index; }
    size_t batch_len() const noexcept { return e_->batch_len; }
    const transom_gate_event &raw() const noexcept { return *e_; }

  private:
    const transom_gate_event *e_;
};

namespace detail {

template <class F>
int32_t gate_call(void *ctx, const transom_gate_event *ev, char *reason, size_t cap) noexcept {
    gate_reason_writer w(reason, cap);
    try {
        F &f = box<F>::of(ctx);
        gate_event e(*ev);
        if constexpr (std::is_invocable_v<F &, const gate_event &, gate_reason &>) {
            return static_cast<int32_t>(std::invoke(f, e, w));
        } else {
            return static_cast<int32_t>(std::invoke(f, e));
        }
    } catch (const std::exception &ex) {
        w.set(ex.what());
        report_current_exception("gate");
        return exception_status;
    } catch (...) {
        w.set("exception in gate");
        report_current_exception("gate");
        return exception_status;
    }
}

} // namespace detail

/// An embedded event store (transom_store), released (closed first if needed) by its
/// destructor. Move-only. Thread safety: any number of threads at once, close() included;
/// not while it is destroyed or freed.
class store {
  public:
    static store open(const store_options &o) {
        transom_store_config c{};
        c.dir = o.dir.empty() ? nullptr : o.dir.data();
        c.dir_len = o.dir.size();
        c.sync = o.sync;
        c.sync_every_n = o.sync_every_n;
        c.max_payload = o.max_payload;
        c.segment_size = o.segment_size;
        c.retention_bytes = o.retention_bytes;
        c.retention_age_ns = o.retention_age.count() > 0 ? uint64_t(o.retention_age.count()) : 0;
        c.index_flush_events = o.index_flush_events;
        store s;
        detail::check(transom_store_open(&c, &s.h_), "transom_store_open", &c);
        return s;
    }
    static store open(std::string_view dir) {
        store_options o;
        o.dir = std::string(dir);
        return open(o);
    }
    static store in_memory() { return open(store_options{}); }

    store() noexcept = default;
    store(store &&o) noexcept : h_(o.h_) { o.h_ = nullptr; }
    store &operator=(store &&o) noexcept {
        if (this != &o) {
            transom_store_free(h_);
            h_ = o.h_;
            o.h_ = nullptr;
        }
        return *this;
    }
    store(const store &) = delete;
    store &operator=(const store &) = delete;
    ~store() { transom_store_free(h_); }

    /// Closes the store (fsync, directory unlocked, gates removed, canals drain then end); the
    /// object keeps its handle: later calls throw TRANSOM_ERR_CLOSED, close() again does
    /// nothing. Throws TRANSOM_ERR_IO when the final fsync failed (the store is closed anyway).
    void close() const { detail::check(transom_store_close(h_), "transom_store_close", h_); }
    /// Releases the handle now (closing the store first if it is open; that close's error is
    /// not reported: call close() first to see it).
    void free() noexcept {
        transom_store_free(h_);
        h_ = nullptr;
    }
    transom_store *get() const noexcept { return h_; }
    explicit operator bool() const noexcept { return h_ != nullptr; }

    receipt append(const new_event &e) const {
        transom_append a = e.raw();
        transom_receipt r{};
        detail::check(transom_store_append(h_, &a, &r), "transom_store_append", h_);
        return receipt(r);
    }
    receipt append(std::string_view stream, uint16_t kind, bytes payload = {}) const {
        return append(new_event(stream, kind, payload));
    }
    /// Non-throwing: TRANSOM_OK (`out` written) or an error.
    status append(std::nothrow_t, const new_event &e, receipt &out) const noexcept {
        transom_append a = e.raw();
        transom_receipt r{};
        status st = transom_store_append(h_, &a, &r);
        if (st != TRANSOM_OK) return detail::nothrow_status(st, h_);
        out = receipt(r);
        return st;
    }
    status append(std::nothrow_t, std::string_view stream, uint16_t kind, bytes payload, receipt &out) const noexcept {
        return append(std::nothrow, new_event(stream, kind, payload), out);
    }
    /// All-or-nothing.
    std::vector<receipt> append_batch(const std::vector<new_event> &events) const {
        std::vector<transom_append> as;
        as.reserve(events.size());
        for (const auto &e : events) as.push_back(e.raw());
        std::vector<transom_receipt> rs(events.size());
        detail::check(transom_store_append_batch(h_, as.data(), as.size(), rs.data()), "transom_store_append_batch", h_);
        std::vector<receipt> out;
        out.reserve(rs.size());
        for (const auto &r : rs) out.emplace_back(r);
        return out;
    }

    /// The event with this id (throws NOT_FOUND).
    event get(event_id id) const {
        event_buffer b(1, 256);
        get(id, b);
        return event(b.events()[0]);
    }
    void get(event_id id, event_buffer &b) const {
        b.fill([&](transom_event_buffer *x) { return transom_store_get(h_, id.raw(), x); }, "transom_store_get", h_);
    }
    /// Every event of a stream from `from_version` (1-based; 0 = the start), page by page.
    std::vector<event> read(std::string_view stream, uint64_t from_version = 0) const {
        event_buffer b(256, 64 * 1024);
        std::vector<event> out;
        for (;;) {
            read(stream, from_version, b);
            span<const transom_event> page = b.events();
            for (const auto &e : page) out.emplace_back(e);
            if (page.size() < b.cap()) return out;
            from_version = page.back().stream_version + 1;
        }
    }
    /// One page: up to `b.cap()` events of a stream (the arena grows as needed).
    void read(std::string_view stream, uint64_t from_version, event_buffer &b) const {
        b.fill([&](transom_event_buffer *x) { return transom_store_read(h_, stream.data(), stream.size(), from_version, x); },
               "transom_store_read", h_);
    }
    /// Every event from global sequence `from` (0 = the first retained) to the head, page by
    /// page. Throws truncated_error (TRANSOM_ERR_TRUNCATED; first_retained()) below it.
    std::vector<event> read_sequence(uint64_t from = 0) const {
        event_buffer b(256, 64 * 1024);
        std::vector<event> out;
        for (;;) {
            read_sequence(from, b);
            span<const transom_event> page = b.events();
            for (const auto &e : page) out.emplace_back(e);
            if (page.size() < b.cap()) return out;
            from = page.back().sequence + 1;
        }
    }
    /// One page: up to `b.cap()` events from global sequence `from`.
    void read_sequence(uint64_t from, event_buffer &b) const {
        b.fill([&](transom_event_buffer *x) { return transom_store_read_sequence(h_, from, x); },
               "transom_store_read_sequence", h_);
    }
    std::vector<event> ancestors(event_id id) const {
        event_buffer b;
        b.fill([&](transom_event_buffer *x) { return transom_store_ancestors(h_, id.raw(), x); }, "transom_store_ancestors", h_);
        return b.copy();
    }
    std::vector<event> correlated(event_id id) const {
        event_buffer b;
        b.fill([&](transom_event_buffer *x) { return transom_store_correlated(h_, id.raw(), x); }, "transom_store_correlated",
               h_);
        return b.copy();
    }

    void sync() const { detail::check(transom_store_sync(h_), "transom_store_sync", h_); }
    /// Removes whole sealed segments whose events are all below `before_sequence`; returns
    /// the first retained sequence. Throws TRANSOM_ERR_UNSUPPORTED in memory.
    uint64_t truncate(uint64_t before_sequence) const {
        uint64_t first = 0;
        detail::check(transom_store_truncate(h_, before_sequence, &first), "transom_store_truncate", h_);
        return first;
    }
    /// The first retained sequence (1 until retention removed something).
    uint64_t first_sequence() const {
        uint64_t s = 0;
        detail::check(transom_store_first_sequence(h_, &s), "transom_store_first_sequence", h_);
        return s;
    }
    store_stats stats() const {
        store_stats st{};
        detail::check(transom_store_stats(h_, &st), "transom_store_stats", h_);
        return st;
    }
    uint64_t head() const {
        uint64_t s = 0;
        detail::check(transom_store_head(h_, &s), "transom_store_head", h_);
        return s;
    }

    /// Registers a gate `f(const gate_event&)` or `f(const gate_event&, gate_reason&)`
    /// returning 0 to accept or a rejection code; it may run on several threads at once. An
    /// exception rejects with transom::exception_status and its what() as the reason. `f` is
    /// destroyed exactly once (remove_gate, close or the destructor).
    template <class F> uint64_t add_gate(F &&f) const {
        using B = detail::box_of<F>;
        using D = std::decay_t<F>;
        static_assert(std::is_invocable_v<D &, const gate_event &> || std::is_invocable_v<D &, const gate_event &, gate_reason &>,
                      "a gate is callable as f(const gate_event&) or f(const gate_event&, gate_reason&)");
        detail::closure<transom_gate_callback> g(transom_gate_callback{new B(std::forward<F>(f)), &detail::gate_call<D>, &B::drop});
        uint64_t id = 0;
        detail::check(transom_store_add_gate(h_, g.release(), &id), "transom_store_add_gate", h_);
        return id;
    }
    /// Waits for the gate's calls in flight; its callable is destroyed after its last call.
    /// Throws TRANSOM_ERR_NOT_FOUND for an id that names no gate.
    void remove_gate(uint64_t id) const {
        detail::check(transom_store_remove_gate(h_, id), "transom_store_remove_gate", h_);
    }

  private:
    transom_store *h_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Canals and workers
// ---------------------------------------------------------------------------------------------

/// Which events a canal delivers (the views must live during the open call only).
struct filter {
    std::string_view stream_prefix;
    std::vector<uint16_t> kinds;
    transom_filter raw() const noexcept {
        transom_filter f{};
        f.stream_prefix = stream_prefix.empty() ? nullptr : stream_prefix.data();
        f.stream_prefix_len = stream_prefix.size();
        f.kinds = kinds.empty() ? nullptr : kinds.data();
        f.kind_count = kinds.size();
        return f;
    }
};

struct cursor_options {
    transom::filter filter;
    transom_start_kind start = TRANSOM_START_BEGIN;
    uint64_t start_sequence = 0;
    std::string_view name;

    static cursor_options from_begin() { return cursor_options{}; }
    static cursor_options from_end() {
        cursor_options o;
        o.start = TRANSOM_START_END;
        return o;
    }
    static cursor_options at(uint64_t sequence) {
        cursor_options o;
        o.start = TRANSOM_START_AT;
        o.start_sequence = sequence;
        return o;
    }
    static cursor_options named(std::string_view n) {
        cursor_options o;
        o.start = TRANSOM_START_NAMED;
        o.name = n;
        return o;
    }
};

struct subscription_options {
    transom::filter filter;
    size_t capacity = 1024;
    transom_overflow_policy overflow = TRANSOM_OVERFLOW_DROP_OLDEST;
};

/// The result of a pull: items (valid until the next pull or the canal's free) and the status:
/// TRANSOM_OK, TRANSOM_TIMEOUT, TRANSOM_INTERRUPTED (no items), or TRANSOM_ERR_CLOSED (end of
/// stream: every item was handed out, or the canal was closed). Other errors throw.
class batch {
  public:
    batch() noexcept = default;
    batch(const transom_item *items, size_t count, status st) noexcept : items_(items), count_(count), status_(st) {}
    const transom_item *begin() const noexcept { return items_; }
    const transom_item *end() const noexcept { return items_ + count_; }
    const transom_item *data() const noexcept { return items_; }
    const transom_item &operator[](size_t i) const noexcept { return items_[i]; }
    size_t size() const noexcept { return count_; }
    bool empty() const noexcept { return count_ == 0; }
    transom::status status() const noexcept { return status_; }
    bool timed_out() const noexcept { return status_ == TRANSOM_TIMEOUT; }
    bool interrupted() const noexcept { return status_ == TRANSOM_INTERRUPTED; }
    bool closed() const noexcept { return status_ == TRANSOM_ERR_CLOSED; }
    /// true when it holds items.
    explicit operator bool() const noexcept { return count_ != 0; }

  private:
    const transom_item *items_ = nullptr;
    size_t count_ = 0;
    transom::status status_ = TRANSOM_OK;
};

class worker;

/// A consumer of a store's events: a cursor or a subscription (transom_canal), freed by its
/// destructor. Thread safety: one thread at a time; interrupt() and close() from any thread.
class canal {
  public:
    static canal cursor(const store &s, const cursor_options &o = {}) {
        transom_cursor_options c{};
        c.filter = o.filter.raw();
        c.start = o.start;
        c.start_sequence = o.start_sequence;
        c.name = o.name.empty() ? nullptr : o.name.data();
        c.name_len = o.name.size();
        canal k;
        detail::check(transom_canal_open_cursor(s.get(), &c, &k.h_), "transom_canal_open_cursor", s.get());
        return k;
    }
    static canal subscription(const store &s, const subscription_options &o = {}) {
        transom_subscription_options c{};
        c.filter = o.filter.raw();
        c.capacity = o.capacity;
        c.overflow = o.overflow;
        canal k;
        detail::check(transom_canal_open_subscription(s.get(), &c, &k.h_), "transom_canal_open_subscription", s.get());
        return k;
    }

    canal() noexcept = default;
    canal(canal &&o) noexcept : h_(o.h_), items_(std::move(o.items_)), cap_(o.cap_) {
        o.h_ = nullptr;
        o.cap_ = 0;
    }
    canal &operator=(canal &&o) noexcept {
        if (this != &o) {
            transom_canal_free(h_);
            h_ = o.h_;
            items_ = std::move(o.items_);
            cap_ = o.cap_;
            o.h_ = nullptr;
            o.cap_ = 0;
        }
        return *this;
    }
    canal(const canal &) = delete;
    canal &operator=(const canal &) = delete;
    ~canal() { transom_canal_free(h_); }

    /// Frees now (a named cursor's unsaved acks are not checkpointed).
    void free() noexcept {
        transom_canal_free(h_);
        h_ = nullptr;
    }
    transom_canal *get() const noexcept { return h_; }
    explicit operator bool() const noexcept { return h_ != nullptr; }

    /// Pulls up to `cap` items into the canal's own array (see batch).
    batch pull(size_t cap = 256, nanoseconds timeout = forever) {
        if (TRANSOM_HPP_UNLIKELY(cap > cap_)) grow(cap);
        return pull(span<transom_item>(items_.get(), cap), timeout);
    }
    /// Non-throwing pull(cap, timeout): the status (TRANSOM_OK, TRANSOM_TIMEOUT,
    /// TRANSOM_INTERRUPTED, TRANSOM_ERR_CLOSED at the end of the stream, or another error) and
    /// `out`, which is written for every status but an error other than CLOSED.
    status pull(std::nothrow_t, size_t cap, nanoseconds timeout, batch &out) noexcept {
        if (TRANSOM_HPP_UNLIKELY(cap > cap_)) {
            try {
                grow(cap);
            } catch (...) {
                return TRANSOM_ERR_OUT_OF_MEMORY;
            }
        }
        return pull(std::nothrow, span<transom_item>(items_.get(), cap), timeout, out);
    }
    /// Pulls into caller memory (items valid until the next pull or the canal's free); see
    /// pull(cap, timeout).
    batch pull(span<transom_item> items, nanoseconds timeout = forever) {
        batch b;
        status st = pull(std::nothrow, items, timeout, b);
        if (TRANSOM_HPP_UNLIKELY(st < 0) && st != TRANSOM_ERR_CLOSED) detail::fail(st, "transom_canal_pull_batch", h_);
        return b;
    }
    status pull(std::nothrow_t, span<transom_item> items, nanoseconds timeout, batch &out) noexcept {
        size_t n = 0; // written on TRANSOM_OK only
        status st = transom_canal_pull_batch(h_, detail::to_ns(timeout), items.data(), items.size(), &n);
        if (TRANSOM_HPP_UNLIKELY(st < 0)) {
            st = detail::nothrow_status(st, h_);
            if (st != TRANSOM_ERR_CLOSED) return st;
        }
        out = batch(items.data(), n, st);
        return st;
    }

    /// Wakes a blocked pull (or the next one) with TRANSOM_INTERRUPTED. Any thread.
    void interrupt() const { detail::check(transom_canal_interrupt(h_), "transom_canal_interrupt", h_); }
    /// The pollable descriptor (transom_canal_fd): readable while a pull with timeout 0 would
    /// not wait. Owned by this object: wait on it, never close it.
    int fd() const {
        int fd = -1;
        detail::check(transom_canal_fd(h_, &fd), "transom_canal_fd", h_);
        return fd;
    }
    /// Closes the canal (any thread; a blocked pull wakes): a subscription hands out its
    /// buffer, then pulls return TRANSOM_ERR_CLOSED; ack/checkpoint/rewind/interrupt throw
    /// TRANSOM_ERR_CLOSED. The object keeps its handle until destroyed or freed. Idempotent.
    void close() const { detail::check(transom_canal_close(h_), "transom_canal_close", h_); }
    void ack(uint64_t sequence) { detail::check(transom_canal_ack(h_, sequence), "transom_canal_ack", h_); }
    void checkpoint() { detail::check(transom_canal_checkpoint(h_), "transom_canal_checkpoint", h_); }
    void rewind() { detail::check(transom_canal_rewind(h_), "transom_canal_rewind", h_); }

  private:
    friend class worker;
    void grow(size_t max) {
        items_.reset(new transom_item[max]);
        cap_ = max;
    }
    transom_canal *h_ = nullptr;
    std::unique_ptr<transom_item[]> items_;
    size_t cap_ = 0;
};

namespace detail {

template <class F>
transom_worker_verdict batch_call(void *ctx, const transom_item *items, size_t count) noexcept {
    try {
        F &f = box<F>::of(ctx);
        span<const transom_item> s(items, count);
        if constexpr (std::is_void_v<std::invoke_result_t<F &, span<const transom_item>>>) {
            std::invoke(f, s);
            return TRANSOM_WORKER_CONTINUE;
        } else {
            return static_cast<transom_worker_verdict>(std::invoke(f, s));
        }
    } catch (...) {
        report_current_exception("worker batch");
        return TRANSOM_WORKER_STOP_AND_ROLLBACK;
    }
}

} // namespace detail

struct worker_options {
    size_t max_batch = 0;
    uint32_t checkpoint_every = 0;
    bool checkpoint_on_exit = true;
};

/// A thread pulling batches from a canal into a callback (transom_worker); the destructor
/// stops it, joins it and frees it with its canal. Thread safety: any thread, except free.
class worker {
  public:
    /// Starts a worker over `c`: `f(span<const transom_item>)` returns void (CONTINUE) or
    /// TRANSOM_WORKER_CONTINUE/_STOP/_STOP_AND_ROLLBACK; an exception means STOP_AND_ROLLBACK.
    /// On success the worker owns the canal (`c` becomes empty: its handle is freed); on
    /// failure `c` is unchanged and `f` has been destroyed. `f` may run before this returns.
    template <class F> static worker spawn(canal &&c, F &&f, const worker_options &o = {}) {
        using B = detail::box_of<F>;
        using D = std::decay_t<F>;
        static_assert(std::is_invocable_v<D &, span<const transom_item>>,
                      "a batch callback is callable as f(transom::span<const transom_item>)");
        detail::closure<transom_batch_callback> cb(
            transom_batch_callback{new B(std::forward<F>(f)), &detail::batch_call<D>, &B::drop});
        transom_worker_options wo{};
        wo.max_batch = o.max_batch;
        wo.checkpoint_every = o.checkpoint_every;
        wo.no_checkpoint_on_exit = !o.checkpoint_on_exit;
        worker w;
        detail::check(transom_canal_spawn_worker(c.h_, cb.release(), &wo, &w.h_), "transom_canal_spawn_worker", c.h_);
        c.free(); // the worker owns the canal; the handle has nothing left
        return w;
    }

    worker() noexcept = default;
    worker(worker &&o) noexcept : h_(o.h_) { o.h_ = nullptr; }
    worker &operator=(worker &&o) noexcept {
        if (this != &o) {
            transom_worker_free(h_);
            h_ = o.h_;
            o.h_ = nullptr;
        }
        return *this;
    }
    worker(const worker &) = delete;
    worker &operator=(const worker &) = delete;
    ~worker() { transom_worker_free(h_); }

    /// Stops, joins (the callable is destroyed) and frees now.
    void free() noexcept {
        transom_worker_free(h_);
        h_ = nullptr;
    }
    transom_worker *get() const noexcept { return h_; }
    explicit operator bool() const noexcept { return h_ != nullptr; }

    /// Asks it to stop, without waiting. Any thread, the callback included.
    void stop() const { detail::check(transom_worker_stop(h_), "transom_worker_stop", h_); }
    /// The pollable descriptor (transom_worker_fd): readable once the worker has ended.
    /// Owned by this object: wait on it, never close it.
    int fd() const {
        int fd = -1;
        detail::check(transom_worker_fd(h_, &fd), "transom_worker_fd", h_);
        return fd;
    }
    /// TRANSOM_WORKER_EXIT_* once it ended normally, nullopt while it runs past the timeout;
    /// its terminal error (e.g. DISCONNECTED, IO) is thrown.
    std::optional<transom_worker_exit> join(nanoseconds timeout = forever) const {
        transom_worker_exit e = 0;
        if (detail::check(transom_worker_join(h_, detail::to_ns(timeout), &e), "transom_worker_join", h_) != TRANSOM_OK)
            return std::nullopt;
        return e;
    }
    std::optional<transom_worker_exit> stop_and_join(nanoseconds timeout = forever) const {
        transom_worker_exit e = 0;
        if (detail::check(transom_worker_stop_and_join(h_, detail::to_ns(timeout), &e), "transom_worker_stop_and_join",
                          h_) != TRANSOM_OK)
            return std::nullopt;
        return e;
    }

  private:
    transom_worker *h_ = nullptr;
};

} // namespace transom

namespace std {
template <> struct hash<transom::pid> {
    size_t operator()(transom::pid p) const noexcept { return hash<uint64_t>()(p.value()); }
};
template <> struct hash<transom::token> {
    size_t operator()(transom::token t) const noexcept {
        return hash<uint64_t>()(t.key() * 0x9e3779b97f4a7c15ull ^ t.slot());
    }
};
} // namespace std

#undef TRANSOM_HPP_COLD
#undef TRANSOM_HPP_UNLIKELY

#endif // TRANSOM_HPP
