// store.cpp - transom::store (appends, reads, correlation, gates), transom::canal (cursors,
// subscriptions, pull, interrupt) and transom::worker.
#include <cstdlib>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "check.hpp"

using namespace transom;
using namespace std::chrono_literals;

static std::string temp_dir() {
    char tmpl[] = "/tmp/transom-cpp-XXXXXX";
    char *d = mkdtemp(tmpl);
    CHECK(d != nullptr);
    return d;
}

static void append_read_get_in_memory() {
    store s = store::in_memory();
    receipt a = s.append("orders-1", 1, "created");
    receipt b = s.append("orders-1", 2, "paid");
    CHECK_EQ(a.sequence, uint64_t(1));
    CHECK_EQ(b.stream_version, uint64_t(2));
    CHECK_EQ(s.head(), uint64_t(2));
    std::vector<event> es = s.read("orders-1");
    CHECK_EQ(es.size(), size_t(2));
    CHECK_EQ(es[1].text(), std::string_view("paid"));
    CHECK_EQ(es[1].stream, std::string("orders-1"));
    CHECK_EQ(s.read("orders-1", 2).size(), size_t(1));
    CHECK(s.read("nobody").empty());
    event g = s.get(a.id);
    CHECK_EQ(g.kind, uint16_t(1));
    CHECK_THROWS(s.get(event_id(1, 1)), TRANSOM_ERR_NOT_FOUND);
}

static void reads_grow_the_buffer_as_needed() {
    store s = store::in_memory();
    std::string big(10000, 'p');
    for (int i = 0; i < 40; ++i) s.append("s", 0, big);
    event_buffer b(2, 16); // a page of 2 events; the arena is far too small: grown and retried
    s.read("s", 0, b);
    CHECK_EQ(b.events().size(), size_t(2));
    CHECK_EQ(payload_of(b.events()[1]).size(), size_t(10000));
    CHECK_EQ(s.read("s").size(), size_t(40)); // every page
    CHECK_EQ(s.read("s", 39).size(), size_t(2));
}

static void expected_version_idempotency_and_batches() {
    store s = store::in_memory();
    new_event e("acct", 1, "open");
    e.expected = TRANSOM_EXPECT_NO_STREAM;
    s.append(e);
    CHECK_THROWS(s.append(e), TRANSOM_ERR_CONFLICT);
    new_event k("acct", 2, "deposit");
    k.idempotency_key = "key-1";
    receipt r1 = s.append(k);
    receipt r2 = s.append(k); // the retry gets the original receipt
    CHECK(r1.id == r2.id);
    std::vector<new_event> batch{new_event("acct", 3, "a"), new_event("acct", 3, "b")};
    std::vector<receipt> rs = s.append_batch(batch);
    CHECK_EQ(rs.size(), size_t(2));
    CHECK_EQ(rs[1].stream_version, uint64_t(4));
    receipt rr;
    CHECK_EQ(s.append(std::nothrow, new_event("acct", 9, "raw"), rr), TRANSOM_OK);
    CHECK_EQ(rr.stream_version, uint64_t(5));
    CHECK_EQ(s.append(std::nothrow, "acct", 9, "raw2", rr), TRANSOM_OK);
    CHECK_EQ(rr.stream_version, uint64_t(6));
}

static void correlation_and_causation_chains() {
    store s = store::in_memory();
    receipt root = s.append("a", 1, "root");
    new_event child("b", 2, "child");
    child.correlation_id = root.id;
    child.causation_id = root.id;
    receipt c = s.append(child);
    new_event grandchild("c", 3, "grandchild");
    grandchild.correlation_id = root.id;
    grandchild.causation_id = c.id;
    receipt g = s.append(grandchild);
    std::vector<event> anc = s.ancestors(g.id);
    CHECK_EQ(anc.size(), size_t(2));
    CHECK(anc[0].id == c.id);
    CHECK(anc[1].id == root.id);
    CHECK_EQ(s.correlated(root.id).size(), size_t(3));
}

static void gates_reject_with_code_reason_and_exceptions() {
    quiet_callback_exceptions();
    store s = store::in_memory();
    std::atomic<int> destroyed{0};
    uint64_t g1 = s.add_gate([t = tracker(&destroyed)](const gate_event &e, gate_reason &why) {
        if (e.kind() == 13) {
            why.set("unlucky kind");
            return 77;
        }
        return 0;
    });
    uint64_t g2 = s.add_gate([t = tracker(&destroyed)](const gate_event &e) -> int {
        if (e.text() == "throw") throw std::runtime_error("gate blew up");
        return 0;
    });
    s.append("s", 1, "fine");
    try {
        s.append("s", 13, "x");
        CHECK(false);
    } catch (const error &e) {
        CHECK_EQ(e.code(), TRANSOM_ERR_REJECTED);
        CHECK_EQ(e.value(), int64_t(77));
        CHECK(e.detail().find("unlucky kind") != std::string::npos);
    }
    uint64_t before = callback_exceptions();
    try {
        s.append("s", 1, "throw");
        CHECK(false);
    } catch (const error &e) {
        CHECK_EQ(e.code(), TRANSOM_ERR_REJECTED);
        CHECK_EQ(e.value(), int64_t(exception_status));
        CHECK(e.detail().find("gate blew up") != std::string::npos);
    }
    CHECK_EQ(callback_exceptions(), before + 1);
    s.remove_gate(g1);
    CHECK_EQ(destroyed.load(), 1);
    try {
        s.remove_gate(g1);
        CHECK(false);
    } catch (const error &e) {
        CHECK_EQ(e.code(), TRANSOM_ERR_NOT_FOUND);
        CHECK_EQ(e.detail(), "no gate with id " + std::to_string(g1));
    }
    s.append("s", 13, "now accepted");
    s.close();
    CHECK_EQ(destroyed.load(), 2); // the other gate is destroyed by the close
    s.close();                     // idempotent; the object keeps its handle
    CHECK(s);
    CHECK_THROWS(s.remove_gate(g2), TRANSOM_ERR_CLOSED);
}

static void a_closed_store_refuses_every_call_until_freed() {
    std::string dir = temp_dir();
    store s = store::open(dir);
    receipt r = s.append("c", 1, "kept");
    s.close();
    CHECK_THROWS(s.append("c", 1, "late"), TRANSOM_ERR_CLOSED);
    CHECK_THROWS(s.get(r.id), TRANSOM_ERR_CLOSED);
    CHECK_THROWS(s.read("c"), TRANSOM_ERR_CLOSED);
    CHECK_THROWS(s.head(), TRANSOM_ERR_CLOSED);
    CHECK_THROWS(s.sync(), TRANSOM_ERR_CLOSED);
    CHECK_THROWS(canal::cursor(s), TRANSOM_ERR_CLOSED);
    std::atomic<int> destroyed{0};
    CHECK_THROWS(s.add_gate([t = tracker(&destroyed)](const gate_event &) { return 0; }), TRANSOM_ERR_CLOSED);
    CHECK_EQ(destroyed.load(), 1);
    store again = store::open(dir); // the close released the directory
    CHECK_EQ(again.head(), uint64_t(1));
    s.free();
    CHECK(!s);
    s.free(); // a freed object is empty: freeing again does nothing
    again = store::in_memory(); // move-assignment frees (closing) the old store
    std::string cmd = "rm -rf '" + dir + "'";
    CHECK(std::system(cmd.c_str()) == 0);
}

static void gates_run_on_several_appending_threads() {
    store s = store::in_memory();
    std::atomic<long> calls{0};
    s.add_gate([&](const gate_event &) {
        calls.fetch_add(1);
        return 0;
    });
    const long per = scaled(500);
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i)
        ts.emplace_back([&, i] {
            for (long n = 0; n < per; ++n) s.append("t" + std::to_string(i), 0, "x");
        });
    for (auto &t : ts) t.join();
    CHECK_EQ(calls.load(), 4 * per);
    CHECK_EQ(s.head(), static_cast<uint64_t>(4 * per));
}

static void on_disk_store_locks_reopens_and_syncs() {
    std::string dir = temp_dir();
    store_options o;
    o.dir = dir;
    o.sync = TRANSOM_SYNC_NEVER;
    {
        store s = store::open(o);
        s.append("d", 1, "persisted");
        s.sync();
        CHECK_THROWS(store::open(o), TRANSOM_ERR_LOCKED);
    }
    store s = store::open(o);
    CHECK_EQ(s.head(), uint64_t(1));
    std::vector<event> es = s.read("d");
    CHECK_EQ(es[0].text(), std::string_view("persisted"));
    s.close();
    std::string cmd = "rm -rf '" + dir + "'";
    CHECK(std::system(cmd.c_str()) == 0);
}

static void cursor_pulls_acks_rewinds_and_filters() {
    store s = store::in_memory();
    for (int i = 1; i <= 10; ++i) s.append(i % 2 ? "odd" : "even", static_cast<uint16_t>(i), std::to_string(i));
    canal c = canal::cursor(s);
    batch b = c.pull(4, 0ns);
    CHECK_EQ(b.size(), size_t(4));
    CHECK_EQ(b.status(), TRANSOM_OK);
    CHECK_EQ(b[0].kind, TRANSOM_ITEM_EVENT);
    CHECK_EQ(text_of(b[0].event), std::string_view("1"));
    CHECK_EQ(stream_of(b[1].event), std::string_view("even"));
    c.ack(b[1].event.sequence);
    c.rewind(); // back to the first unacknowledged (3)
    b = c.pull(100, 0ns);
    CHECK_EQ(b.size(), size_t(8));
    CHECK_EQ(b[0].event.sequence, uint64_t(3));
    b = c.pull(100, 0ns);
    CHECK(b.timed_out() && b.empty());
    CHECK_THROWS(c.ack(1), TRANSOM_ERR_INVALID_ARGUMENT); // below the acknowledged position

    cursor_options o;
    o.filter.stream_prefix = "ev";
    o.filter.kinds = {2, 4, 6};
    canal f = canal::cursor(s, o);
    size_t seen = 0;
    for (const transom_item &it : f.pull(100, 0ns)) {
        CHECK_EQ(stream_of(it.event), std::string_view("even"));
        ++seen;
    }
    CHECK_EQ(seen, size_t(3));
    canal at = canal::cursor(s, cursor_options::at(9));
    CHECK_EQ(at.pull(100, 0ns).size(), size_t(2));
    canal end = canal::cursor(s, cursor_options::from_end());
    CHECK(end.pull(100, 0ns).timed_out());
}

static void named_cursor_checkpoints_and_resumes() {
    std::string dir = temp_dir();
    {
        store s = store::open(dir);
        for (int i = 0; i < 5; ++i) s.append("n", 0, "e");
        canal c = canal::cursor(s, cursor_options::named("reader"));
        batch b = c.pull(3, 0ns);
        CHECK_EQ(b.size(), size_t(3));
        c.ack(b[2].event.sequence);
        c.checkpoint();
        CHECK_THROWS(canal::cursor(s, cursor_options::named("reader")), TRANSOM_ERR_NAME_IN_USE);
    }
    {
        store s = store::open(dir);
        canal c = canal::cursor(s, cursor_options::named("reader"));
        batch b = c.pull(100, 0ns);
        CHECK_EQ(b.size(), size_t(2));
        CHECK_EQ(b[0].event.sequence, uint64_t(4));
    }
    std::string cmd = "rm -rf '" + dir + "'";
    CHECK(std::system(cmd.c_str()) == 0);
}

static void subscription_reports_gaps_and_ends_at_close() {
    store s = store::in_memory();
    subscription_options o;
    o.capacity = 2;
    o.overflow = TRANSOM_OVERFLOW_DROP_OLDEST;
    canal sub = canal::subscription(s, o);
    for (int i = 0; i < 5; ++i) s.append("x", 0, std::to_string(i));
    batch b = sub.pull(10, 10s);
    bool gap = false;
    size_t events = 0;
    for (const auto &it : b) {
        if (it.kind == TRANSOM_ITEM_GAP) {
            gap = true;
            CHECK_EQ(it.gap_count, uint64_t(3));
        } else {
            ++events;
        }
    }
    CHECK(gap);
    CHECK_EQ(events, size_t(2));
    s.close();
    b = sub.pull(10, 10s);
    CHECK(b.closed()); // end of stream is a status, not an exception

    store s2 = store::in_memory();
    subscription_options d;
    d.capacity = 1;
    d.overflow = TRANSOM_OVERFLOW_DISCONNECT;
    canal sub2 = canal::subscription(s2, d);
    s2.append("x", 0, "1");
    s2.append("x", 0, "2");
    CHECK_EQ(sub2.pull(10, 10s).size(), size_t(1));
    CHECK_THROWS(sub2.pull(10, 10s), TRANSOM_ERR_DISCONNECTED);
}

static void interrupt_wakes_a_blocked_pull_from_another_thread() {
    store s = store::in_memory();
    canal c = canal::cursor(s, cursor_options::from_end());
    std::thread th([&] { c.interrupt(); }); // before or during the pull: both wake it
    batch b = c.pull(10, forever);
    th.join();
    CHECK(b.interrupted());
    // Non-throwing pull into caller memory.
    s.append("y", 0, "z");
    transom_item items[4];
    batch got;
    CHECK_EQ(c.pull(std::nothrow, span<transom_item>(items, 4), forever, got), TRANSOM_OK);
    CHECK_EQ(got.size(), size_t(1));
    CHECK_EQ(c.pull(std::nothrow, span<transom_item>(items, 4), 0ns, got), TRANSOM_TIMEOUT);
    CHECK(got.timed_out() && got.empty());
    CHECK_EQ(c.pull(std::nothrow, span<transom_item>(items, 0), 0ns, got), TRANSOM_ERR_INVALID_ARGUMENT);
    s.append("y", 0, "w");
    CHECK_EQ(c.pull(std::nothrow, 4, 10s, got), TRANSOM_OK); // the throwing pull(cap, timeout)'s arguments
    CHECK_EQ(got.size(), size_t(1));
    CHECK(c.pull(span<transom_item>(items, 4), 0ns).timed_out());
}

static void close_wakes_a_blocked_pull_and_later_calls_are_closed() {
    store s = store::in_memory();
    canal c = canal::cursor(s, cursor_options::from_end());
    std::thread th([&] { c.close(); }); // before or during the pull: both end it
    batch b = c.pull(10, forever);
    th.join();
    CHECK(b.closed() && b.empty());
    CHECK(c.pull(10, 0ns).closed());
    CHECK_THROWS(c.ack(0), TRANSOM_ERR_CLOSED);
    CHECK_THROWS(c.rewind(), TRANSOM_ERR_CLOSED);
    CHECK_THROWS(c.interrupt(), TRANSOM_ERR_CLOSED);
    c.close(); // idempotent
    CHECK(c);

    subscription_options o;
    o.capacity = 8;
    canal sub = canal::subscription(s, o);
    s.append("x", 0, "buffered");
    sub.close();
    s.append("x", 0, "after the close");
    b = sub.pull(10, 10s);
    CHECK_EQ(b.size(), size_t(1)); // the buffer first
    CHECK_EQ(text_of(b[0].event), std::string_view("buffered"));
    CHECK(sub.pull(10, 10s).closed());
}

static void worker_delivers_batches_and_stops() {
    store s = store::in_memory();
    for (int i = 0; i < 100; ++i) s.append("w", 0, "e");
    canal c = canal::cursor(s);
    std::atomic<int> destroyed{0};
    std::atomic<size_t> seen{0};
    latch all;
    worker_options o;
    o.max_batch = 16;
    worker w = worker::spawn(
        std::move(c),
        [&, t = tracker(&destroyed)](span<const transom_item> items) {
            CHECK(items.size() <= 16);
            if (seen.fetch_add(items.size()) + items.size() == 100) all.signal();
        },
        o);
    CHECK(!c); // the worker owns the canal now
    CHECK(all.wait(1));
    CHECK(!w.join(0ns)); // still running
    auto exit = w.stop_and_join(30s);
    CHECK(exit);
    CHECK_EQ(*exit, TRANSOM_WORKER_EXIT_STOPPED);
    w.free();
    CHECK_EQ(destroyed.load(), 1);
}

static void worker_callback_stop_exception_and_store_close() {
    quiet_callback_exceptions();
    store s = store::in_memory();
    s.append("w", 0, "e");
    std::atomic<int> destroyed{0};
    worker stopper = worker::spawn(canal::cursor(s), [t = tracker(&destroyed)](span<const transom_item>) {
        return TRANSOM_WORKER_STOP;
    });
    CHECK_EQ(*stopper.join(30s), TRANSOM_WORKER_EXIT_CALLBACK_STOPPED);
    uint64_t before = callback_exceptions();
    worker thrower = worker::spawn(canal::cursor(s), [t = tracker(&destroyed)](span<const transom_item>) -> int {
        throw std::runtime_error("batch failed");
    });
    CHECK_EQ(*thrower.join(30s), TRANSOM_WORKER_EXIT_CALLBACK_STOPPED); // rolled back and stopped
    CHECK_EQ(callback_exceptions(), before + 1);
    worker idle = worker::spawn(canal::cursor(s, cursor_options::from_end()), [](span<const transom_item>) {});
    s.close();
    CHECK_EQ(*idle.join(30s), TRANSOM_WORKER_EXIT_CLOSED);
    stopper.free();
    thrower.free();
    CHECK_EQ(destroyed.load(), 2);
}

static void worker_spawn_failure_keeps_the_canal() {
    store s = store::in_memory();
    canal c = canal::cursor(s);
    std::atomic<int> destroyed{0};
    canal empty;
    CHECK_THROWS(worker::spawn(std::move(empty), [t = tracker(&destroyed)](span<const transom_item>) {}),
                 TRANSOM_ERR_CLOSED);
    CHECK_EQ(destroyed.load(), 1); // destroyed although no worker was made
    s.append("k", 0, "v");
    CHECK_EQ(c.pull(1, 0ns).size(), size_t(1)); // c untouched
}

static void retention_truncate_stats_and_reads_by_sequence() {
    std::string dir = temp_dir();
    store_options o;
    o.dir = dir;
    o.segment_size = 4096;
    o.index_flush_events = 16;
    {
        store s = store::open(o);
        for (int i = 0; i < 400; i++) s.append("r", 1, "payload!");
        store_stats st = s.stats();
        CHECK_EQ(st.events, uint64_t(400));
        CHECK_EQ(st.last_sequence, uint64_t(400));
        CHECK(st.segments > 2);
        CHECK_EQ(s.first_sequence(), uint64_t(1));
        CHECK_EQ(s.read_sequence().size(), size_t(400));
        uint64_t first = s.truncate(200);
        CHECK(first > 1 && first <= 200);
        CHECK_EQ(s.first_sequence(), first);
        CHECK_EQ(s.stats().first_sequence, first);
        try {
            s.read_sequence(1);
            CHECK(false);
        } catch (const error &e) {
            CHECK_EQ(e.code(), TRANSOM_ERR_TRUNCATED);
            CHECK_EQ(e.value(), int64_t(first));
        }
        CHECK_THROWS(s.read("r", 1), TRANSOM_ERR_TRUNCATED);
        std::vector<event> rest = s.read_sequence(0);
        CHECK_EQ(rest.size(), size_t(400 - first + 1));
        CHECK_EQ(rest.front().sequence, first);
        CHECK_EQ(s.append("r", 1, "next").stream_version, uint64_t(401)); /* versions keep counting */
        s.close();
    }
    {
        store s = store::open(o);
        CHECK_EQ(s.stats().frames_scanned_at_open, uint64_t(0));
        CHECK(s.first_sequence() > 1);
    }
    o.retention_bytes = 3 * 4096;
    o.retention_age = std::chrono::hours(1);
    {
        store s = store::open(o);
        for (int i = 0; i < 2000; i++) s.append("r", 1, "payload!");
        CHECK(s.stats().bytes_on_disk <= 5 * 4096);
    }
    store m = store::in_memory();
    CHECK_THROWS(m.truncate(5), TRANSOM_ERR_UNSUPPORTED);
    CHECK_EQ(m.stats().segments, uint64_t(0));
    std::string cmd = "rm -rf " + dir;
    CHECK_EQ(std::system(cmd.c_str()), 0);
}

// Retention below a cursor: one gap item for the removed range, then the first retained event,
// from BEGIN, from a named checkpoint and in a worker's batch; reads of removed events throw
// truncated_error.
static void retention_gaps_reach_cursors_and_workers() {
    std::string dir = temp_dir();
    store_options o;
    o.dir = dir;
    o.sync = TRANSOM_SYNC_NEVER;
    o.segment_size = 4096;
    store s = store::open(o);
    receipt first_r = s.append("g", 1, "payload-1");
    for (int i = 2; i <= 400; i++) s.append("g", 1, "payload-" + std::to_string(i));
    {
        canal named = canal::cursor(s, cursor_options::named("proj"));
        batch b = named.pull(10, 0ns);
        CHECK_EQ(b.size(), size_t(10));
        named.ack(10);
        named.checkpoint();
    }
    uint64_t first = s.truncate(200);
    CHECK(first > 11 && first <= 200);
    try {
        s.get(first_r.id);
        CHECK(false);
    } catch (const truncated_error &e) {
        CHECK_EQ(e.code(), TRANSOM_ERR_TRUNCATED);
        CHECK_EQ(e.first_retained(), first);
    }
    CHECK_THROWS(s.read_sequence(1), TRANSOM_ERR_TRUNCATED);

    // From BEGIN: the gap, then every retained event in order.
    canal c = canal::cursor(s);
    batch b = c.pull(1, 0ns);
    CHECK_EQ(b.size(), size_t(1));
    CHECK(is_gap(b[0]));
    CHECK_EQ(b[0].gap_from, uint64_t(1));
    CHECK_EQ(b[0].gap_to, first - 1);
    CHECK_EQ(b[0].gap_count, first - 1);
    c.ack(first - 1); // a gap counts as delivered
    uint64_t next = first;
    for (;;) {
        batch more = c.pull(64, 0ns);
        if (more.timed_out()) break;
        for (const transom_item &it : more) {
            CHECK(!is_gap(it));
            CHECK_EQ(it.event.sequence, next);
            const std::string want = "payload-" + std::to_string(next);
            CHECK_EQ(text_of(it.event), std::string_view(want));
            ++next;
        }
    }
    CHECK_EQ(next, uint64_t(401));

    // The named cursor checkpointed at 10: it resumes with the gap {11, first - 1}.
    canal named = canal::cursor(s, cursor_options::named("proj"));
    b = named.pull(2, 0ns);
    CHECK_EQ(b.size(), size_t(2));
    CHECK(is_gap(b[0]) && !is_gap(b[1]));
    CHECK_EQ(b[0].gap_from, uint64_t(11));
    CHECK_EQ(b[0].gap_to, first - 1);
    CHECK_EQ(b[1].event.sequence, first);
    named.free();

    // A worker gets the gap in its first batch.
    std::atomic<uint64_t> gaps{0}, events{0}, gap_to{0};
    latch all;
    worker w = worker::spawn(canal::cursor(s), [&](span<const transom_item> items) {
        for (const transom_item &it : items) {
            if (is_gap(it)) {
                gaps++;
                gap_to = it.gap_to;
            } else if (++events == 400 - first + 1) {
                all.signal();
            }
        }
    });
    CHECK(all.wait(1));
    CHECK_EQ(*w.stop_and_join(30s), TRANSOM_WORKER_EXIT_STOPPED);
    CHECK_EQ(gaps.load(), uint64_t(1));
    CHECK_EQ(gap_to.load(), first - 1);
    s.close();
    std::string cmd = "rm -rf " + dir;
    CHECK_EQ(std::system(cmd.c_str()), 0);
}

int main() {
    RUN(append_read_get_in_memory);
    RUN(reads_grow_the_buffer_as_needed);
    RUN(expected_version_idempotency_and_batches);
    RUN(correlation_and_causation_chains);
    RUN(gates_reject_with_code_reason_and_exceptions);
    RUN(a_closed_store_refuses_every_call_until_freed);
    RUN(gates_run_on_several_appending_threads);
    RUN(on_disk_store_locks_reopens_and_syncs);
    RUN(cursor_pulls_acks_rewinds_and_filters);
    RUN(named_cursor_checkpoints_and_resumes);
    RUN(subscription_reports_gaps_and_ends_at_close);
    RUN(interrupt_wakes_a_blocked_pull_from_another_thread);
    RUN(close_wakes_a_blocked_pull_and_later_calls_are_closed);
    RUN(worker_delivers_batches_and_stops);
    RUN(worker_callback_stop_exception_and_store_close);
    RUN(worker_spawn_failure_keeps_the_canal);
    RUN(retention_truncate_stats_and_reads_by_sequence);
    RUN(retention_gaps_reach_cursors_and_workers);
    return 0;
}
