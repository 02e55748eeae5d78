// actor.cpp - transom::runtime, behaviours, mailboxes, links, monitors and close.
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

using namespace transom;
using namespace std::chrono_literals;

static void behaviour_echoes_to_a_mailbox() {
    runtime rt(2);
    mailbox mb = rt.open_mailbox();
    const pid me = mb.pid();
    runtime_ref r = rt.ref();
    pid echo = rt.spawn([r, me](pid self, const message &m) {
        r.send_from(self, me, "echo:" + std::string(m.text()));
    });
    CHECK(echo);
    rt.send(echo, "hi");
    auto got = mb.receive(10s);
    CHECK(got);
    CHECK(got->is_user());
    CHECK_EQ(got->text(), std::string_view("echo:hi"));
    CHECK(got->from() == echo);
}

static void mailbox_receive_times_out_then_gets_the_message() {
    runtime rt(1);
    mailbox a = rt.open_mailbox();
    mailbox b = rt.open_mailbox();
    CHECK(!a.receive(0ns)); // nothing yet: timeout, not an error
    b.send(a.pid(), std::string("x"));
    auto m = a.receive(10s);
    CHECK(m);
    CHECK(m->from() == b.pid());
    CHECK_EQ(m->text(), std::string_view("x"));
    message raw;
    CHECK_EQ(a.receive(std::nothrow, 0ns, raw), TRANSOM_TIMEOUT); // the throwing overload's arguments
    b.send(a.pid(), std::string("y"));
    CHECK_EQ(a.receive(std::nothrow, 10s, raw), TRANSOM_OK);
    CHECK_EQ(raw.text(), std::string_view("y"));
}

static void behaviour_status_and_exception_end_the_process() {
    quiet_callback_exceptions();
    runtime rt(2);
    latch fired;
    exit_reason seen[2];
    auto watch = [&](int i) {
        return [&, i](pid, const exit_reason &r) {
            seen[i] = r;
            fired.signal();
        };
    };
    pid p1 = rt.spawn([](const message &) { return 42; });
    pid p2 = rt.spawn([](const message &) -> int { throw std::runtime_error("boom"); });
    rt.add_monitor(p1, watch(0));
    rt.add_monitor(p2, watch(1));
    uint64_t before = callback_exceptions();
    rt.send(p1, "go");
    rt.send(p2, "go");
    CHECK(fired.wait(2));
    CHECK_EQ(seen[0].kind, TRANSOM_EXIT_ERROR);
    CHECK_EQ(seen[0].code, 42);
    CHECK_EQ(seen[1].kind, TRANSOM_EXIT_ERROR);
    CHECK_EQ(seen[1].code, exception_status);
    CHECK(callback_exceptions() >= before + 1);
}

static void spawn_options_link_trap_and_monitor() {
    runtime rt(2);
    mailbox watcher = rt.open_mailbox(spawn_options().trap_exit());
    latch mon;
    monitor_id ref = 0;
    exit_reason mon_reason;
    pid child = rt.spawn([](const message &) { return 7; },
                         spawn_options().link(watcher.pid()).monitor([&](pid, const exit_reason &r) {
                             mon_reason = r;
                             mon.signal();
                         }),
                         &ref);
    CHECK(ref != 0);
    rt.send(child, "die");
    auto m = watcher.receive(10s);
    CHECK(m);
    CHECK(m->is_exit());
    CHECK(m->from() == child);
    CHECK_EQ(m->reason().code, 7);
    CHECK(mon.wait(1));
    CHECK_EQ(mon_reason.code, 7);
    CHECK(!rt.remove_monitor(ref)); // already fired: no longer registered
}

static void exit_link_unlink_and_noproc() {
    runtime rt(1);
    mailbox a = rt.open_mailbox(spawn_options().trap_exit());
    mailbox b = rt.open_mailbox();
    rt.link(a.pid(), b.pid());
    rt.unlink(a.pid(), b.pid());
    rt.link(a.pid(), b.pid());
    rt.exit(b.pid(), exit_reason::failure(5, "stop"));
    auto m = a.receive(10s);
    CHECK(m && m->is_exit());
    exit_reason why = m->reason();
    CHECK_EQ(why.text(), std::string_view("stop"));
    CHECK_THROWS(b.receive(10s), TRANSOM_ERR_CLOSED);
    CHECK_THROWS(rt.send(b.pid(), "late"), TRANSOM_ERR_NOPROC);
    CHECK_EQ(rt.send(std::nothrow, b.pid(), "late"), TRANSOM_ERR_NOPROC);
    // Monitoring a dead pid fires at once with NOPROC.
    latch l;
    int32_t kind = -1;
    rt.add_monitor(b.pid(), [&](pid, const exit_reason &r) {
        kind = r.kind;
        l.signal();
    });
    CHECK(l.wait(1));
    CHECK_EQ(kind, TRANSOM_EXIT_NOPROC);
}

static void remove_monitor_destroys_the_callable_without_calling_it() {
    runtime rt(1);
    mailbox target = rt.open_mailbox();
    std::atomic<int> destroyed{0}, calls{0};
    monitor_id id = rt.add_monitor(target.pid(), [t = tracker(&destroyed), &calls](pid, const exit_reason &) { ++calls; });
    CHECK(rt.remove_monitor(id));
    CHECK_EQ(destroyed.load(), 1);
    CHECK(!rt.remove_monitor(id)); // no longer registered
    target.exit();
    CHECK_EQ(calls.load(), 0);
    // Pid 0 names no process: refused, the callable destroyed uncalled.
    CHECK_THROWS(rt.add_monitor(pid(), [t = tracker(&destroyed), &calls](pid, const exit_reason &) { ++calls; }),
                 TRANSOM_ERR_NOPROC);
    CHECK_EQ(destroyed.load(), 2);
    CHECK_THROWS(rt.send(pid(), "x"), TRANSOM_ERR_NOPROC);
}

static void close_shuts_down_keeps_the_handle_and_is_idempotent() {
    std::atomic<int> destroyed{0};
    runtime rt(2);
    for (int i = 0; i < 3; ++i) rt.spawn([t = tracker(&destroyed)](const message &) {});
    mailbox mb = rt.open_mailbox();
    rt.close();
    CHECK_EQ(destroyed.load(), 3); // destroyed before close returned
    rt.close();                    // idempotent
    CHECK_THROWS(rt.send(mb.pid(), "x"), TRANSOM_ERR_CLOSED);
    CHECK_THROWS(rt.spawn([t = tracker(&destroyed)](const message &) {}), TRANSOM_ERR_CLOSED);
    CHECK_EQ(destroyed.load(), 4);
    CHECK_THROWS(rt.open_mailbox(), TRANSOM_ERR_CLOSED);
    CHECK_THROWS(mb.receive(0ns), TRANSOM_ERR_CLOSED);
    CHECK_THROWS(mb.exit(), TRANSOM_ERR_CLOSED); // the process exited with SHUTDOWN
}

static void an_explicit_shutdown_is_not_a_crash() {
    runtime rt(2);
    mailbox stopped = rt.open_mailbox();
    mailbox plain = rt.open_mailbox(spawn_options().link(stopped.pid()));
    rt.exit(stopped.pid(), exit_reason(TRANSOM_EXIT_SHUTDOWN));
    CHECK_THROWS(stopped.receive(10s), TRANSOM_ERR_CLOSED);
    rt.send(plain.pid(), "alive?");
    auto m = plain.receive(10s); // the linked process survived
    CHECK(m && m->is_user());
}

static void mailbox_free_is_a_crash_and_exit_is_normal() {
    runtime rt(1);
    mailbox w = rt.open_mailbox(spawn_options().trap_exit());
    {
        mailbox m = rt.open_mailbox(spawn_options().link(w.pid()));
    } // freed without exit: DROPPED
    auto x = w.receive(10s);
    CHECK(x && x->is_exit());
    CHECK_EQ(x->reason().kind, TRANSOM_EXIT_DROPPED);
    mailbox n = rt.open_mailbox(spawn_options().link(w.pid()));
    n.exit();
    auto y = w.receive(10s);
    CHECK(y && y->is_exit());
    CHECK_EQ(y->reason().kind, TRANSOM_EXIT_NORMAL);
}

static void runtime_free_shuts_down_and_destroys_behaviours() {
    std::atomic<int> destroyed{0};
    mailbox survivor;
    {
        runtime rt(2);
        for (int i = 0; i < 5; ++i) rt.spawn([t = tracker(&destroyed)](const message &) {});
        survivor = rt.open_mailbox();
    }
    CHECK_EQ(destroyed.load(), 5); // every behaviour destroyed exactly once by the shutdown
    CHECK_THROWS(survivor.receive(0ns), TRANSOM_ERR_CLOSED); // handle still valid to use/free
}

static void sends_from_many_threads_arrive() {
    runtime rt(2);
    mailbox sink = rt.open_mailbox();
    const pid to = sink.pid();
    const int threads = 4;
    const long per = scaled(2000);
    std::vector<std::thread> ts;
    for (int i = 0; i < threads; ++i)
        ts.emplace_back([&, i] {
            for (long n = 0; n < per; ++n) rt.send(to, std::to_string(i));
        });
    long got = 0;
    while (got < threads * per) {
        auto m = sink.receive(30s);
        CHECK(m);
        ++got;
    }
    for (auto &t : ts) t.join();
    CHECK(!sink.receive(0ns));
}

static void pids_are_value_types() {
    runtime rt(1);
    mailbox a = rt.open_mailbox();
    pid p = a.pid(), q = p;
    CHECK(p == q);
    CHECK(!(p != q));
    CHECK(!pid());
    CHECK(pid(p.value()) == p);
    CHECK(std::hash<pid>()(p) == std::hash<pid>()(q));
}

int main() {
    RUN(behaviour_echoes_to_a_mailbox);
    RUN(mailbox_receive_times_out_then_gets_the_message);
    RUN(behaviour_status_and_exception_end_the_process);
    RUN(spawn_options_link_trap_and_monitor);
    RUN(exit_link_unlink_and_noproc);
    RUN(remove_monitor_destroys_the_callable_without_calling_it);
    RUN(close_shuts_down_keeps_the_handle_and_is_idempotent);
    RUN(an_explicit_shutdown_is_not_a_crash);
    RUN(mailbox_free_is_a_crash_and_exit_is_normal);
    RUN(runtime_free_shuts_down_and_destroys_behaviours);
    RUN(sends_from_many_threads_arrive);
    RUN(pids_are_value_types);
    return 0;
}
