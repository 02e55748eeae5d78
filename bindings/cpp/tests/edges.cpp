// edges.cpp - the sharp edges of issue 10: views outliving their manager, closed and freed
// handles, the non-throwing overloads' arguments, exceptions as exit reasons, crash info, the
// log hook and the blocking store/reserve.
#include "check.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

using namespace transom;
using namespace std::chrono_literals;

/// Runs `body` in a forked child with stderr captured; returns (terminated by SIGABRT, stderr).
template <class F> static std::pair<bool, std::string> in_child(F &&body) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    std::fflush(nullptr);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        body();
        _exit(0);
    }
    close(fds[1]);
    std::string err;
    char buf[512];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) err.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child);
    return {WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, err};
}

static void a_view_outliving_its_manager_terminates_with_a_message_instead_of_reading_freed_memory() {
    // The bug: the view's destructor released into the freed manager. Now the manager refuses
    // to go while a view, write view or reservation is outstanding.
    auto read = in_child([] {
        read_view v;
        {
            manager m = manager::heap(2, 8);
            token t = m.store("x");
            v = m.read(t);
        } // terminates here
    });
    CHECK(read.first);
    CHECK(read.second.find("outstanding") != std::string::npos);
    auto reserved = in_child([] {
        manager m = manager::concurrent(2, 8);
        reservation r = m.reserve(4);
        m.free();
    });
    CHECK(reserved.first);
    auto written = in_child([] {
        manager m = manager::heap(2, 8);
        write_view w = m.write(m.store("y"));
        m = manager::heap(1, 1); // move assignment frees the old manager
    });
    CHECK(written.first);
    // Released first, the manager goes quietly; free() then makes it a closed object.
    manager m = manager::heap(2, 8);
    token t = m.store("z");
    {
        read_view v = m.read(t);
        CHECK_EQ(m.outstanding(), size_t(1));
    }
    CHECK_EQ(m.outstanding(), size_t(0));
    m.free();
    CHECK_THROWS(m.read(t), TRANSOM_ERR_CLOSED);
}

static void closed_and_freed_handles_throw_closed() {
    // Closed: the C library answers CLOSED.
    store s = store::in_memory();
    s.close();
    CHECK_THROWS(s.append("a", 1, "x"), TRANSOM_ERR_CLOSED);
    receipt r;
    CHECK_EQ(s.append(std::nothrow, "a", 1, "x", r), TRANSOM_ERR_CLOSED);
    // Freed: the object holds no handle and answers like a closed one.
    s.free();
    CHECK_THROWS(s.append("a", 1, "x"), TRANSOM_ERR_CLOSED);
    CHECK_THROWS(s.head(), TRANSOM_ERR_CLOSED);
    CHECK_THROWS(s.close(), TRANSOM_ERR_CLOSED);
    CHECK_THROWS(canal::cursor(s), TRANSOM_ERR_CLOSED);
    CHECK_EQ(s.append(std::nothrow, "a", 1, "x", r), TRANSOM_ERR_CLOSED);
    store s2 = store::in_memory();
    canal c = canal::cursor(s2);
    c.free();
    CHECK(c.pull(1, 0ns).closed());
    CHECK_THROWS(c.ack(1), TRANSOM_ERR_CLOSED);
    manager m = manager::concurrent(1, 8);
    token t = m.store("x");
    m.free();
    CHECK_THROWS(m.store("y"), TRANSOM_ERR_CLOSED);
    CHECK_THROWS(m.store_wait("y", 0ns), TRANSOM_ERR_CLOSED);
    token out;
    CHECK_EQ(m.store(std::nothrow, "y", out), TRANSOM_ERR_CLOSED);
    read_view v;
    CHECK_EQ(m.read(std::nothrow, t, v), TRANSOM_ERR_CLOSED);
    CHECK_EQ(v.release(std::nothrow), TRANSOM_ERR_CLOSED); // an empty view holds nothing either
    write_view w;
    CHECK_EQ(w.release(std::nothrow), TRANSOM_ERR_CLOSED);
    runtime rt(1);
    mailbox mb = rt.open_mailbox();
    pid p = mb.pid();
    mb.free();
    CHECK_THROWS(mb.receive(0ns), TRANSOM_ERR_CLOSED);
    message msg;
    CHECK_EQ(mb.receive(std::nothrow, 0ns, msg), TRANSOM_ERR_CLOSED);
    mailbox peer = rt.open_mailbox();
    conversation conv = rt.open_conversation(conversation_config().add_existing(peer.pid()).on_crash(TRANSOM_ON_CRASH_FAIL));
    conv.free();
    CHECK_THROWS(conv.send("x"), TRANSOM_ERR_CLOSED);
    rt.free();
    CHECK_THROWS(rt.send(p, "x"), TRANSOM_ERR_CLOSED);
    CHECK_EQ(rt.send(std::nothrow, p, "x"), TRANSOM_ERR_CLOSED);
}

static void nothrow_overloads_take_the_throwing_ones_arguments() {
    manager m = manager::concurrent(2, 8);
    header h;
    h.trace_id = 7;
    token a = m.store(h, "abc");
    token b;
    CHECK_EQ(m.store(std::nothrow, h, "abc", b), TRANSOM_OK); // store(h, payload) + out
    CHECK_EQ(m.peek_header(b).trace_id, uint64_t(7));
    token c;
    CHECK_EQ(m.store(std::nothrow, "abc", c), TRANSOM_ERR_NO_FREE_SLOTS); // store(payload) + out
    CHECK_EQ(m.store_wait(std::nothrow, h, "abc", 0ns, c), TRANSOM_TIMEOUT);
    m.remove(a);
    m.remove(b);
}

static std::string reason_text(const exit_reason &r) { return std::string(r.text()); }

static void a_behaviours_exception_becomes_its_exit_reason() {
    quiet_callback_exceptions();
    runtime rt(2);
    struct seen {
        latch done;
        std::mutex mu;
        std::vector<exit_reason> reasons;
    } s;
    auto watch = [&s](pid, const exit_reason &r) {
        {
            std::lock_guard<std::mutex> g(s.mu);
            s.reasons.push_back(r);
        }
        s.done.signal();
    };
    pid p1 = rt.spawn([](const message &) { throw std::runtime_error("boom"); }, spawn_options().monitor(watch));
    rt.send(p1, "x");
    CHECK(s.done.wait(1));
    std::string what2 = "std::invalid_argument: " + std::string(231, 'b') + "\xc3\xa9";
    pid p2 = rt.spawn([what2](const message &) { throw std::invalid_argument(what2.substr(23)); },
                      spawn_options().monitor(watch));
    rt.send(p2, "x");
    CHECK(s.done.wait(2));
    pid p3 = rt.spawn([](const message &) { throw 42; }, spawn_options().monitor(watch));
    rt.send(p3, "x");
    CHECK(s.done.wait(3));
    pid p4 = rt.spawn([](const message &) { return 5; }, spawn_options().monitor(watch)); // plain status
    rt.send(p4, "x");
    CHECK(s.done.wait(4));
    std::lock_guard<std::mutex> g(s.mu);
    CHECK_EQ(s.reasons[0].kind, TRANSOM_EXIT_ERROR);
    CHECK_EQ(s.reasons[0].code, exception_status);
    CHECK_EQ(reason_text(s.reasons[0]), std::string("std::runtime_error: boom"));
    // 23 + 231 = 254 bytes, then a 2-byte character that does not fit: cut before it.
    CHECK_EQ(reason_text(s.reasons[1]).size(), size_t(254));
    CHECK_EQ(reason_text(s.reasons[1]), what2.substr(0, 254));
    CHECK_EQ(reason_text(s.reasons[2]), std::string("int"));
    CHECK_EQ(s.reasons[3].code, 5);
    CHECK_EQ(reason_text(s.reasons[3]), std::string("the C behaviour returned a non-zero status"));
    transom::set_callback_exception_handler(nullptr);
}

static uint64_t clock_monotonic_ns() {
    timespec ts{};
    CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

static void crash_info_carries_the_participant_index_and_a_clock_monotonic_time() {
    quiet_callback_exceptions();
    runtime rt(2);
    mailbox first = rt.open_mailbox();
    conversation c = rt.open_conversation(
        conversation_config()
            .add_existing(first.pid())
            .add_spawned([](const message &) { throw std::logic_error("participant bug"); })
            .on_crash(TRANSOM_ON_CRASH_FAIL));
    uint64_t before = clock_monotonic_ns();
    c.send("x", pid(c.participants()[1].pid));
    auto crash = c.await_crash(30s);
    uint64_t after = clock_monotonic_ns();
    CHECK(crash);
    CHECK_EQ(crash->participant_index, size_t(1));
    CHECK(crash->participant == pid(c.participants()[1].pid));
    CHECK_EQ(reason_text(crash->reason), std::string("std::logic_error: participant bug"));
    CHECK(crash->observed_at_ns >= before && crash->observed_at_ns <= after);
    uint64_t now = monotonic_ns();
    CHECK(now >= after && now <= clock_monotonic_ns());
    // A mailbox freed without exit says so.
    latch gone;
    exit_reason dropped;
    {
        mailbox m = rt.open_mailbox(spawn_options().monitor([&](pid, const exit_reason &r) {
            dropped = r;
            gone.signal();
        }));
    }
    CHECK(gone.wait(1));
    CHECK_EQ(dropped.kind, TRANSOM_EXIT_DROPPED);
    CHECK_EQ(reason_text(dropped), std::string("mailbox freed without exit"));
    transom::set_callback_exception_handler(nullptr);
}

static void callback_exceptions_and_library_events_reach_the_log_hook() {
    struct captured {
        std::mutex mu;
        std::vector<std::pair<transom_log_level, std::string>> lines;
        latch got;
    };
    static captured cap; // outlives the callback (dropped at reset, below)
    set_log_callback(
        [](transom_log_level level, std::string_view msg) {
            {
                std::lock_guard<std::mutex> g(cap.mu);
                cap.lines.emplace_back(level, std::string(msg));
            }
            cap.got.signal();
        },
        TRANSOM_LOG_INFO);
    runtime rt(1);
    pid p = rt.spawn([](const message &) { throw std::runtime_error("logged"); });
    rt.send(p, "x");
    CHECK(cap.got.wait(2)); // the wrapper's WARN, then the library's INFO (process ended)
    { mailbox m = rt.open_mailbox(); } // INFO: freed without exit
    CHECK(cap.got.wait(3));
    reset_log_callback();
    std::lock_guard<std::mutex> g(cap.mu);
    bool warn = false, ended = false, freed = false;
    for (auto &l : cap.lines) {
        if (l.first == TRANSOM_LOG_WARN && l.second == "exception in behaviour callback: std::runtime_error: logged")
            warn = true;
        if (l.first == TRANSOM_LOG_INFO && l.second.find("std::runtime_error: logged") != std::string::npos &&
            l.second.find("ended by its behaviour") != std::string::npos)
            ended = true;
        if (l.first == TRANSOM_LOG_INFO && l.second.find("freed without exit") != std::string::npos) freed = true;
    }
    CHECK(warn);
    CHECK(ended);
    CHECK(freed);
}

static void store_wait_blocks_until_a_consumer_removes() {
    manager m = manager::concurrent(1, 16);
    token held = m.store("first");
    std::optional<token> got;
    latch started;
    std::thread producer([&] {
        started.signal();
        got = m.store_wait("second"); // parked: the manager is full
    });
    CHECK(started.wait(1));
    m.remove(held); // wakes it (or it finds the slot free when it looks)
    producer.join();
    CHECK(got);
    CHECK_EQ(m.read(*got).text(), std::string_view("second"));
    CHECK(!m.store_wait("third", 10ms)); // full: times out
    std::thread consumer([&] { m.remove(*got); });
    std::optional<reservation> r = m.reserve_wait(5, forever);
    consumer.join();
    CHECK(r);
    std::memcpy(r->data(), "fifth", 5);
    token t = r->commit();
    CHECK_EQ(m.read(t).text(), std::string_view("fifth"));
    manager heap = manager::heap(1, 8);
    CHECK_THROWS(heap.store_wait("x", 0ns), TRANSOM_ERR_UNSUPPORTED);
    CHECK_THROWS(heap.reserve_wait(1, 0ns), TRANSOM_ERR_UNSUPPORTED);
    m.remove(t);
}

static void many_producers_and_consumers_share_a_small_concurrent_manager() {
    const long per = scaled(2000);
    const int producers = 4, consumers = 2;
    manager m = manager::concurrent(3, 8);
    manager_ref ref = m.ref();
    std::mutex mu;
    std::condition_variable cv;
    std::vector<token> queue;
    std::atomic<long> received{0};
    std::atomic<int> producers_left{producers};
    std::vector<std::thread> ts;
    for (int p = 0; p < producers; ++p) {
        ts.emplace_back([&] {
            for (long i = 0; i < per; ++i) {
                auto t = ref.store_wait(bytes(&i, sizeof i), forever);
                CHECK(t);
                std::lock_guard<std::mutex> g(mu);
                queue.push_back(*t);
                cv.notify_one();
            }
            std::lock_guard<std::mutex> g(mu);
            --producers_left;
            cv.notify_all();
        });
    }
    for (int c = 0; c < consumers; ++c) {
        ts.emplace_back([&] {
            for (;;) {
                token t;
                {
                    std::unique_lock<std::mutex> g(mu);
                    cv.wait(g, [&] { return !queue.empty() || producers_left == 0; });
                    if (queue.empty()) return;
                    t = queue.back();
                    queue.pop_back();
                }
                long v = 0;
                CHECK_EQ(ref.take(t, &v, sizeof v), sizeof v);
                received.fetch_add(1);
            }
        });
    }
    for (auto &t : ts) t.join();
    CHECK_EQ(received.load(), per * producers);
    CHECK_EQ(m.available(), size_t(3));
}

int main() {
    RUN(a_view_outliving_its_manager_terminates_with_a_message_instead_of_reading_freed_memory);
    RUN(closed_and_freed_handles_throw_closed);
    RUN(nothrow_overloads_take_the_throwing_ones_arguments);
    RUN(a_behaviours_exception_becomes_its_exit_reason);
    RUN(crash_info_carries_the_participant_index_and_a_clock_monotonic_time);
    RUN(callback_exceptions_and_library_events_reach_the_log_hook);
    RUN(store_wait_blocks_until_a_consumer_removes);
    RUN(many_producers_and_consumers_share_a_small_concurrent_manager);
    return 0;
}
