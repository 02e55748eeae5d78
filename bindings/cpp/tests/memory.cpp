// memory.cpp - transom::manager and its RAII views, reservations and tokens.
#include <cstring>
#include <thread>
#include <unordered_set>
#include <vector>

#include "check.hpp"

using namespace transom;

static void store_read_remove_round_trip() {
    manager m = manager::heap(4, 64);
    header h;
    h.trace_id = 7;
    h.flags = TRANSOM_FLAG_FIRST_IN_BATCH;
    token t = m.store(h, "hello");
    CHECK(t);
    {
        read_view v = m.read(t);
        CHECK(v);
        CHECK_EQ(v.text(), std::string_view("hello"));
        CHECK_EQ(v.size(), size_t(5));
        CHECK_EQ(v.header().trace_id, uint64_t(7));
        CHECK_EQ(v.header().payload_len, 5u);
        CHECK(v.token() == t);
        // While a read view is outstanding the slot is borrowed.
        CHECK_THROWS(m.remove(t), TRANSOM_ERR_BORROWED);
    }
    // The destructor released the view: remove works, the token is then stale.
    m.remove(t);
    CHECK_THROWS(m.read(t), TRANSOM_ERR_STALE_TOKEN);
    CHECK_EQ(m.available(), size_t(4));
}

static void read_views_stack_and_release_once_each() {
    manager m = manager::concurrent(2, 16);
    token t = m.store(std::string("abc"));
    {
        read_view a = m.read(t);
        read_view b = m.read(t);
        read_view c = std::move(a); // a is now empty: its destructor releases nothing
        CHECK(!a);
        CHECK(c);
        CHECK_THROWS(m.write(t), TRANSOM_ERR_BORROWED);
        b.release(); // explicit early release
        CHECK(!b);
        CHECK_THROWS(b.release(), TRANSOM_ERR_CLOSED); // holds nothing: like a closed handle
    }
    // Every view was released exactly once: the exclusive write view is available.
    { write_view w = m.write(t); }
    m.remove(t);
}

static void write_view_edits_in_place_and_validates_length() {
    manager m = manager::heap(1, 8);
    token t = m.store("12345678");
    {
        write_view w = m.write(t);
        CHECK_EQ(w.capacity(), size_t(8));
        std::memcpy(w.data(), "xy", 2);
        w.resize(2);
        w.header().sequence = 99;
    }
    CHECK_EQ(m.peek_header(t).sequence, uint64_t(99));
    {
        read_view r = m.read(t);
        CHECK_EQ(r.text(), std::string_view("xy"));
    }
    {
        write_view w = m.write(t);
        w.resize(9); // over the slot size: the release reports it and still ends the view
        CHECK_THROWS(w.release(), TRANSOM_ERR_TOO_LARGE);
        CHECK(!w);
    }
    CHECK_EQ(m.read(t).size(), size_t(2));
    {
        write_view w = m.write(t);
        w.header().qos = 200; // invalid: the release reports it and reverts qos
        w.header().flags = TRANSOM_FLAG_LAST_IN_BATCH;
        CHECK_THROWS(w.release(), TRANSOM_ERR_INVALID_ARGUMENT);
    }
    {
        transom::header h = m.peek_header(t);
        CHECK_EQ(h.qos, uint8_t(TRANSOM_QOS_BEST_EFFORT));
        CHECK_EQ(h.flags, 0u);
    }
    CHECK_EQ(m.take(t).size(), size_t(2));
}

static void tokens_of_other_managers_are_refused_after_hundreds_of_managers() {
    manager a = manager::heap(2, 8);
    token ta = a.store("A");
    std::vector<token> firsts;
    for (int i = 0; i < 300; ++i) {
        manager m = manager::concurrent(2, 8);
        token first = m.store("m");
        for (token f : firsts) {
            CHECK(f != first);
            CHECK_THROWS(m.read(f), TRANSOM_ERR_BAD_TOKEN); // kept from a freed manager
        }
        CHECK_THROWS(m.read(ta), TRANSOM_ERR_BAD_TOKEN);
        CHECK_THROWS(m.remove(ta), TRANSOM_ERR_BAD_TOKEN);
        firsts.push_back(first);
    }
    CHECK_EQ(a.read(ta).text(), std::string_view("A"));
}

static void reservation_commits_or_aborts_on_destruction() {
    manager m = manager::heap(2, 32);
    token committed;
    {
        reservation r = m.reserve(4);
        std::memcpy(r.data(), "abcd", 4);
        header h;
        h.sequence = 3;
        committed = r.commit(h);
        CHECK(!r);
    }
    {
        reservation r = m.reserve(4);
        CHECK_EQ(m.available(), size_t(0));
    } // aborted here
    CHECK_EQ(m.available(), size_t(1));
    CHECK_EQ(m.read(committed).text(), std::string_view("abcd"));
    m.remove(committed);
}

static void take_copies_and_frees() {
    manager m = manager::heap(2, 32);
    token t = m.store("payload");
    char small[3];
    try {
        m.take(t, small, sizeof small);
        CHECK(false);
    } catch (const error &e) {
        CHECK_EQ(e.code(), TRANSOM_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ(e.value(), int64_t(7)); // the needed length
    }
    char buf[16];
    CHECK_EQ(m.take(t, buf, sizeof buf), size_t(7));
    CHECK(std::memcmp(buf, "payload", 7) == 0);
    CHECK_THROWS(m.take(t, buf, sizeof buf), TRANSOM_ERR_STALE_TOKEN);
}

static void non_throwing_overloads_return_the_status() {
    manager m = manager::heap(1, 8);
    token t;
    // The throwing overloads' arguments, then the out-parameter.
    CHECK_EQ(m.store(std::nothrow, header(), "ab", t), TRANSOM_OK);
    token t2;
    CHECK_EQ(m.store(std::nothrow, "ab", t2), TRANSOM_ERR_NO_FREE_SLOTS);
    CHECK(!t2); // written on TRANSOM_OK only
    CHECK_EQ(m.store(std::nothrow, header(), "too long!", t2), TRANSOM_ERR_TOO_LARGE);
    reservation r;
    CHECK_EQ(m.reserve(std::nothrow, 1, r), TRANSOM_ERR_NO_FREE_SLOTS);
    CHECK(!r);
    read_view v;
    CHECK_EQ(m.read(std::nothrow, t, v), TRANSOM_OK);
    CHECK_EQ(v.text(), std::string_view("ab"));
    CHECK_EQ(m.remove(std::nothrow, t), TRANSOM_ERR_BORROWED);
    CHECK_EQ(v.release(std::nothrow), TRANSOM_OK);
    write_view w;
    CHECK_EQ(m.write(std::nothrow, t, w), TRANSOM_OK);
    CHECK_EQ(w.release(std::nothrow), TRANSOM_OK);
    CHECK_EQ(m.remove(std::nothrow, t), TRANSOM_OK);
    CHECK_EQ(m.remove(std::nothrow, t), TRANSOM_ERR_STALE_TOKEN);
}

static void static_manager_over_caller_storage() {
    size_t need = manager::required_bytes(4, 16);
    CHECK(need > 0);
    std::vector<unsigned char> storage(need);
    manager m = manager::over(storage.data(), storage.size(), 4, 16, device_memory(3));
    CHECK_EQ(m.capacity(), size_t(4));
    CHECK_EQ(m.slot_size(), size_t(16));
    CHECK(m.memory_class() == device_memory(3));
    token t = m.store("x");
    CHECK(m.read(t).header().memory_class == device_memory(3));
    CHECK_THROWS(manager::over(storage.data(), need - 1, 4, 16), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_THROWS(manager::over(nullptr, need, 4, 16), TRANSOM_ERR_INVALID_ARGUMENT);
}

static void stats_clear_and_failed_allocations() {
    manager m = manager::heap(2, 8);
    m.store("a");
    m.store("b");
    CHECK_THROWS(m.store("c"), TRANSOM_ERR_NO_FREE_SLOTS);
    transom_memory_stats s = m.stats();
    CHECK_EQ(s.in_use, size_t(2));
    CHECK_EQ(s.high_water, size_t(2));
    CHECK_EQ(s.failed_allocs, uint64_t(1));
    CHECK_EQ(s.retired, size_t(0));
    m.clear();
    CHECK_EQ(m.available(), size_t(2));
}

static void tokens_are_value_types() {
    manager m = manager::heap(4, 8);
    token a = m.store("1");
    token b = a; // copies compare equal and hash alike
    CHECK(a == b);
    CHECK(std::hash<token>()(a) == std::hash<token>()(b));
    CHECK(token::from_parts(a.key(), a.slot()) == a);
    CHECK(a.key() != 0);
    CHECK(!token());
    CHECK(token::from_parts(a.key(), a.slot() + 1) != a);
    CHECK(token::from_parts(a.key() + 1, a.slot()) != a);
    std::unordered_set<token> set{a, m.store("2")};
    CHECK_EQ(set.size(), size_t(2));
    CHECK_THROWS(m.read(token()), TRANSOM_ERR_BAD_TOKEN);
}

static void views_move_between_threads() {
    // A CONCURRENT manager: views taken on one thread are released by another.
    manager m = manager::concurrent(1, 8);
    token t = m.store("abc");
    read_view v = m.read(t);
    std::thread th([v = std::move(v)]() mutable { CHECK_EQ(v.text(), std::string_view("abc")); });
    th.join();
    m.remove(t); // the view was released by the lambda's destruction on the other thread
}

static void concurrent_manager_from_many_threads() {
    const long per_thread = scaled(20000);
    const int threads = 4;
    manager m = manager::concurrent(64, 16);
    std::atomic<long> done{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < threads; ++i) {
        // Each thread gets a non-owning manager_ref (a copy of the handle); the owner frees.
        ts.emplace_back([&done, per_thread, r = m.ref(), i] {
            const manager_ref &m = r;
            for (long n = 0; n < per_thread; ++n) {
                token t;
                // Non-throwing path: a full manager is an expected outcome under contention.
                status st = m.store(std::nothrow, header(), bytes(&n, sizeof n), t);
                if (st == TRANSOM_ERR_NO_FREE_SLOTS) {
                    --n;
                    continue;
                }
                CHECK_EQ(st, TRANSOM_OK);
                {
                    read_view v = m.read(t);
                    long got;
                    std::memcpy(&got, v.data(), sizeof got);
                    CHECK_EQ(got, n);
                }
                m.remove(t);
            }
            done.fetch_add(per_thread);
            (void)i;
        });
    }
    for (auto &t : ts) t.join();
    CHECK_EQ(done.load(), per_thread * threads);
    CHECK_EQ(m.available(), size_t(64));
}

int main() {
    RUN(store_read_remove_round_trip);
    RUN(read_views_stack_and_release_once_each);
    RUN(write_view_edits_in_place_and_validates_length);
    RUN(reservation_commits_or_aborts_on_destruction);
    RUN(take_copies_and_frees);
    RUN(non_throwing_overloads_return_the_status);
    RUN(static_manager_over_caller_storage);
    RUN(stats_clear_and_failed_allocations);
    RUN(tokens_are_value_types);
    RUN(tokens_of_other_managers_are_refused_after_hundreds_of_managers);
    RUN(views_move_between_threads);
    RUN(concurrent_manager_from_many_threads);
    return 0;
}
