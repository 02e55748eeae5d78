// check.hpp - the C++ suite's minimal test helpers (no framework), like c-tests/check.h.
//
// RUN(case) runs one case and prints "ok <name>"; the first failed check prints its location
// and exits with status 1. tests/cpp_suite.rs and ctest read the exit status and count the
// "ok" lines. Waiting is done with latches (condition variable + timeout), never with sleeps.
#ifndef TRANSOM_CPP_CHECK_HPP
#define TRANSOM_CPP_CHECK_HPP

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "transom.hpp"

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            std::fflush(stderr);                                                     \
            std::exit(1);                                                            \
        }                                                                            \
    } while (0)

#define CHECK_EQ(a, b)                                                                       \
    do {                                                                                     \
        auto check_a_ = (a);                                                                 \
        auto check_b_ = (b);                                                                 \
        if (!(check_a_ == check_b_)) {                                                       \
            std::fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%s vs %s)\n", __FILE__, __LINE__, #a, #b, \
                         check_show(check_a_).c_str(), check_show(check_b_).c_str());        \
            std::fflush(stderr);                                                             \
            std::exit(1);                                                                    \
        }                                                                                    \
    } while (0)

// CHECK_THROWS(expr, code): expr throws transom::error with that status code.
#define CHECK_THROWS(expr, want)                                                                       \
    do {                                                                                               \
        bool check_threw_ = false;                                                                     \
        try {                                                                                          \
            (void)(expr);                                                                              \
        } catch (const transom::error &check_e_) {                                                     \
            check_threw_ = true;                                                                       \
            if (check_e_.code() != (want)) {                                                           \
                std::fprintf(stderr, "%s:%d: %s threw %d (%s), expected %d\n", __FILE__, __LINE__, #expr, \
                             check_e_.code(), check_e_.what(), (int)(want));                           \
                std::exit(1);                                                                          \
            }                                                                                          \
        }                                                                                              \
        if (!check_threw_) {                                                                           \
            std::fprintf(stderr, "%s:%d: %s did not throw\n", __FILE__, __LINE__, #expr);              \
            std::exit(1);                                                                              \
        }                                                                                              \
    } while (0)

// Any uncaught exception in a case fails the program with its message.
#define RUN(test)                                                                              \
    do {                                                                                       \
        try {                                                                                  \
            test();                                                                            \
        } catch (const std::exception &run_e_) {                                               \
            std::fprintf(stderr, "%s: uncaught exception: %s\n", #test, run_e_.what());        \
            std::exit(1);                                                                      \
        }                                                                                      \
        std::printf("ok %s\n", #test);                                                         \
        std::fflush(stdout);                                                                   \
    } while (0)

template <class T> std::string check_show(const T &v) {
    if constexpr (std::is_arithmetic_v<T>) {
        return std::to_string(v);
    } else if constexpr (std::is_convertible_v<T, std::string>) {
        return std::string(v);
    } else if constexpr (std::is_same_v<T, std::string_view>) {
        return std::string(v);
    } else if constexpr (std::is_same_v<T, transom::pid>) {
        return "pid " + std::to_string(v.value());
    } else {
        return "?";
    }
}

/// A counting latch: signalled from any thread, waited on with a timeout (seconds).
class latch {
  public:
    void signal() {
        std::lock_guard<std::mutex> g(mu_);
        ++count_;
        cv_.notify_all();
    }
    bool wait(int n, int seconds = 30) {
        std::unique_lock<std::mutex> g(mu_);
        return cv_.wait_for(g, std::chrono::seconds(seconds), [&] { return count_ >= n; });
    }
    int count() {
        std::lock_guard<std::mutex> g(mu_);
        return count_;
    }

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    int count_ = 0;
};

/// Counts destructions of the live (not moved-from) instances of a callable's capture: copies
/// count as instances too, so "exactly one destruction" means the callable was never copied
/// and was destroyed once.
struct tracker {
    std::atomic<int> *destroyed;
    latch *gone = nullptr;
    bool live = true;
    explicit tracker(std::atomic<int> *d, latch *l = nullptr) : destroyed(d), gone(l) {}
    tracker(const tracker &o) : destroyed(o.destroyed), gone(o.gone), live(o.live) {}
    tracker(tracker &&o) noexcept : destroyed(o.destroyed), gone(o.gone), live(o.live) { o.live = false; }
    tracker &operator=(const tracker &) = delete;
    ~tracker() {
        if (live) {
            destroyed->fetch_add(1);
            if (gone) gone->signal();
        }
    }
};

/// Stress sizes scaled by TRANSOM_TEST_SCALE (default 1), never below 1.
inline long scaled(long n) {
    const char *s = std::getenv("TRANSOM_TEST_SCALE");
    double f = 1.0;
    if (s && *s) {
        char *end = nullptr;
        f = std::strtod(s, &end);
        if (end == s || *end != 0 || !(f > 0.0)) {
            std::fprintf(stderr, "TRANSOM_TEST_SCALE must be a positive number, got '%s'\n", s);
            std::exit(2);
        }
    }
    long v = static_cast<long>(static_cast<double>(n) * f);
    return v < 1 ? 1 : v;
}

/// Silences (but keeps counting) callback exceptions reported by transom.hpp.
inline void quiet_callback_exceptions() {
    transom::set_callback_exception_handler([](const char *, const char *) {});
}

#endif
