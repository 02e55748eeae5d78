// errors.cpp - transom::error contents, moved-from objects (safe to destroy, refuse use with
// a clear error), move assignment, and callables destroyed exactly once on every path.
#include <string>
#include <thread>
#include <type_traits>

#include "check.hpp"

using namespace transom;
using namespace std::chrono_literals;

// Move-only, not copyable: the C++ classes own their handles.
static_assert(!std::is_copy_constructible_v<manager> && std::is_nothrow_move_constructible_v<manager>);
static_assert(std::is_trivially_copyable_v<manager_ref> && sizeof(manager_ref) == sizeof(void *));
static_assert(std::is_trivially_copyable_v<runtime_ref> && sizeof(runtime_ref) == sizeof(void *));
static_assert(!std::is_copy_constructible_v<read_view> && std::is_nothrow_move_constructible_v<read_view>);
static_assert(!std::is_copy_constructible_v<write_view> && std::is_nothrow_move_constructible_v<write_view>);
static_assert(!std::is_copy_constructible_v<runtime> && std::is_nothrow_move_constructible_v<runtime>);
static_assert(!std::is_copy_constructible_v<mailbox> && std::is_nothrow_move_constructible_v<mailbox>);
static_assert(!std::is_copy_constructible_v<conversation> && std::is_nothrow_move_constructible_v<conversation>);
static_assert(!std::is_copy_constructible_v<store> && std::is_nothrow_move_constructible_v<store>);
static_assert(!std::is_copy_constructible_v<canal> && std::is_nothrow_move_constructible_v<canal>);
static_assert(!std::is_copy_constructible_v<worker> && std::is_nothrow_move_constructible_v<worker>);
// Value types are trivially copyable and as small as the C ones.
static_assert(std::is_trivially_copyable_v<token> && sizeof(token) == sizeof(transom_token));
static_assert(std::is_trivially_copyable_v<pid> && sizeof(pid) == sizeof(transom_pid));
static_assert(sizeof(header) == TRANSOM_HEADER_SIZE);

static void error_carries_code_detail_and_where() {
    manager m = manager::heap(1, 4);
    try {
        m.store("too large");
        CHECK(false);
    } catch (const error &e) {
        CHECK_EQ(e.code(), TRANSOM_ERR_TOO_LARGE);
        CHECK_EQ(std::string(e.where()), std::string("transom_manager_store"));
        CHECK(!e.detail().empty()); // transom_last_error() at the failure
        CHECK(std::string(e.what()).find("TRANSOM_ERR_TOO_LARGE") != std::string::npos);
        CHECK(std::string(e.what()).find(e.detail()) != std::string::npos);
        CHECK_EQ(std::string(e.name()), std::string(status_str(TRANSOM_ERR_TOO_LARGE)));
    }
    // It is a std::exception too.
    try {
        m.read(token());
        CHECK(false);
    } catch (const std::exception &e) {
        CHECK(std::string(e.what()).find("BAD_TOKEN") != std::string::npos);
    }
    CHECK_EQ(version(), uint32_t(TRANSOM_VERSION));
    CHECK_THROWS(manager::heap(size_t(1) << 24, 8), TRANSOM_ERR_INVALID_ARGUMENT); // capacity over 16777215
}

template <class F> static void check_moved_from(const char *what, F &&use) {
    try {
        use();
    } catch (const error &e) {
        if (e.code() != TRANSOM_ERR_CLOSED || e.detail().find("moved from") == std::string::npos) {
            std::fprintf(stderr, "%s: unexpected error %s\n", what, e.what());
            std::exit(1);
        }
        return;
    }
    std::fprintf(stderr, "%s: a moved-from object was used without an error\n", what);
    std::exit(1);
}

static void moved_from_objects_refuse_use_and_destroy_safely() {
    manager m = manager::heap(2, 8);
    token t = m.store("x");
    manager m2 = std::move(m);
    CHECK(!m);
    CHECK(m2);
    check_moved_from("manager::store", [&] { m.store("y"); });
    check_moved_from("manager::read", [&] { m.read(t); });
    check_moved_from("manager::available", [&] { m.available(); });
    check_moved_from("manager_ref of a moved-from manager", [&] { m.ref().store("y"); });
    check_moved_from("default manager_ref", [&] { manager_ref().read(t); });
    token out;
    CHECK_EQ(m.store(std::nothrow, header(), "y", out), TRANSOM_ERR_CLOSED);
    CHECK_EQ(m.remove(std::nothrow, t), TRANSOM_ERR_CLOSED);
    {
        read_view v = m2.read(t);
        read_view v2 = std::move(v);
        check_moved_from("read_view::release", [&] { v.release(); });
        write_view w;
        check_moved_from("write_view::release", [&] { w.release(); });
        reservation r;
        check_moved_from("reservation::commit", [&] { r.commit(); });
    }

    runtime rt(1);
    runtime rt2 = std::move(rt);
    check_moved_from("runtime::send", [&] { rt.send(pid(1), "x"); });
    check_moved_from("runtime::open_mailbox", [&] { rt.open_mailbox(); });
    mailbox mb = rt2.open_mailbox();
    mailbox mb2 = std::move(mb);
    check_moved_from("mailbox::receive", [&] { mb.receive(0ns); });
    check_moved_from("mailbox::pid", [&] { mb.pid(); });
    conversation c =
        rt2.open_conversation(conversation_config().add_existing(mb2.pid()).on_crash(TRANSOM_ON_CRASH_FAIL));
    conversation c2 = std::move(c);
    check_moved_from("conversation::send", [&] { c.send("x"); });
    std::vector<uint8_t> buf;
    check_moved_from("conversation::receive", [&] { c.receive(buf, 0ns); });
    check_moved_from("conversation::state", [&] { c.state(); });

    store s = store::in_memory();
    store s2 = std::move(s);
    check_moved_from("store::append", [&] { s.append("a", 0, "b"); });
    check_moved_from("store::read", [&] { s.read("a"); });
    check_moved_from("store::close", [&] { s.close(); });
    check_moved_from("canal::cursor of a moved-from store", [&] { canal::cursor(s); });
    canal k = canal::cursor(s2);
    canal k2 = std::move(k);
    CHECK(k.pull(1, 0ns).closed()); // like a closed canal: the end of the stream, not an exception
    check_moved_from("canal::interrupt", [&] { k.interrupt(); });
    worker w = worker::spawn(std::move(k2), [](span<const transom_item>) {});
    worker w2 = std::move(w);
    check_moved_from("worker::stop", [&] { w.stop(); });
    check_moved_from("worker::join", [&] { w.join(0ns); });
    CHECK(w2.stop_and_join(30s));
    // Every moved-from object is destroyed here, with its owner: no double free (ASan checks).
}

static void move_assignment_frees_the_previous_handle() {
    std::atomic<int> destroyed{0};
    runtime a(1);
    a.spawn([t = tracker(&destroyed)](const message &) {});
    runtime b(1);
    a = std::move(b); // the first runtime is shut down here: its behaviour destroyed
    CHECK_EQ(destroyed.load(), 1);
    CHECK(a);
    CHECK(!b);

    manager m = manager::heap(1, 4);
    token t = m.store("a");
    read_view v = m.read(t);
    read_view other;
    other = std::move(v);
    other = read_view(); // releases the view
    m.remove(t);
}

static void callables_are_destroyed_once_on_failure_paths() {
    std::atomic<int> destroyed{0};
    runtime moved(1);
    runtime rt = std::move(moved);
    // The C call refuses the NULL runtime but owns the triple: destroyed exactly once.
    CHECK_THROWS(moved.spawn([t = tracker(&destroyed)](const message &) {}), TRANSOM_ERR_CLOSED);
    CHECK_EQ(destroyed.load(), 1);
    CHECK_THROWS(moved.add_monitor(pid(1), [t = tracker(&destroyed)](pid, const exit_reason &) {}),
                 TRANSOM_ERR_CLOSED);
    CHECK_EQ(destroyed.load(), 2);
    CHECK_THROWS(moved.open_mailbox(spawn_options().monitor([t = tracker(&destroyed)](pid, const exit_reason &) {})),
                 TRANSOM_ERR_CLOSED);
    CHECK_EQ(destroyed.load(), 3);
    // Options that never reach C destroy their callable themselves.
    { spawn_options unused = spawn_options().monitor([t = tracker(&destroyed)](pid, const exit_reason &) {}); }
    CHECK_EQ(destroyed.load(), 4);
    {
        conversation_config unused;
        unused.add_spawned([t = tracker(&destroyed)](const message &) {});
        unused.compensate([t = tracker(&destroyed)](pid, const exit_reason &, span<const transom_in_flight>) { return 0; });
    }
    CHECK_EQ(destroyed.load(), 6);
    // A dead pid: the monitor fires once with NOPROC, then is destroyed once.
    latch gone;
    pid dead;
    {
        mailbox m = rt.open_mailbox();
        dead = m.pid();
        m.exit();
    }
    std::atomic<int> calls{0};
    rt.add_monitor(dead, [&calls, t = tracker(&destroyed, &gone)](pid, const exit_reason &) { ++calls; });
    CHECK(gone.wait(1));
    CHECK_EQ(calls.load(), 1);
    CHECK_EQ(destroyed.load(), 7);
    store closed = store::in_memory();
    store s = std::move(closed);
    CHECK_THROWS(closed.add_gate([t = tracker(&destroyed)](const gate_event &) { return 0; }), TRANSOM_ERR_CLOSED);
    CHECK_EQ(destroyed.load(), 8);
}

static void move_only_callables_are_accepted() {
    // std::function would refuse these; the boxes take any callable by move.
    runtime rt(1);
    mailbox sink = rt.open_mailbox();
    auto owned = std::make_unique<std::string>("unique");
    runtime_ref r = rt.ref();
    pid to = sink.pid();
    pid p = rt.spawn([r, to, owned = std::move(owned)](pid self, const message &) { r.send_from(self, to, *owned); });
    rt.send(p, "go");
    auto m = sink.receive(10s);
    CHECK(m);
    CHECK_EQ(m->text(), std::string_view("unique"));
}

static void exception_handler_sees_callback_exceptions() {
    static std::atomic<int> handled{0};
    static std::string where_seen;
    transom::set_callback_exception_handler([](const char *where, const char *) {
        where_seen = where;
        handled.fetch_add(1);
    });
    runtime rt(1);
    latch gone;
    std::atomic<int> destroyed{0};
    pid p = rt.spawn([t = tracker(&destroyed, &gone)](const message &) { throw 42; }); // not a std::exception
    uint64_t before = callback_exceptions();
    rt.send(p, "x");
    CHECK(gone.wait(1)); // the process ended and its behaviour was destroyed
    CHECK_EQ(handled.load(), 1);
    CHECK_EQ(where_seen, std::string("behaviour"));
    CHECK_EQ(callback_exceptions(), before + 1);
    transom::set_callback_exception_handler(nullptr);
}

int main() {
    RUN(error_carries_code_detail_and_where);
    RUN(moved_from_objects_refuse_use_and_destroy_safely);
    RUN(move_assignment_frees_the_previous_handle);
    RUN(callables_are_destroyed_once_on_failure_paths);
    RUN(move_only_callables_are_accepted);
    RUN(exception_handler_sees_callback_exceptions);
    return 0;
}
