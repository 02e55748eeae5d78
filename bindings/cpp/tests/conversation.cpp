// conversation.cpp - transom::conversation: requests, both receive overloads, replies checked
// against the awaited requests, crash policies, crash callbacks (add/remove), state, and
// receives on several threads.
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

using namespace transom;
using namespace std::chrono_literals;

// A participant that replies "<prefix><payload>" to every request.
static auto replier(runtime_ref rt, std::string prefix) {
    return [rt, prefix](pid self, const message &m) {
        auto req = m.as_request();
        if (!req) return 0;
        rt.reply(self, m.from(), req->id(), prefix + std::string(req->text()));
        return 0;
    };
}

static void request_reply_with_the_vector_receive() {
    runtime rt(2);
    conversation c = rt.open_conversation(
        conversation_config().add_spawned(replier(rt.ref(), "re:")).on_crash(TRANSOM_ON_CRASH_FAIL));
    uint64_t id = c.send("ping");
    std::vector<uint8_t> buf; // empty: the receive sizes it
    auto r = c.receive(buf, 10s);
    CHECK(r);
    CHECK_EQ(r->request_id, id);
    CHECK_EQ(r->size, size_t(7));
    CHECK_EQ(std::string(buf.begin(), buf.end()), std::string("re:ping"));
    // A long reply grows the vector.
    std::string big(5000, 'x');
    c.send(big);
    r = c.receive(buf, 10s);
    CHECK(r);
    CHECK_EQ(buf.size(), size_t(5003));
    // Nothing more: a timeout is nullopt, not an exception.
    CHECK(!c.receive(buf, 0ns));
}

static void buffer_receive_reports_the_needed_size_and_keeps_the_reply() {
    runtime rt(2);
    conversation c = rt.open_conversation(
        conversation_config().add_spawned(replier(rt.ref(), "")).on_crash(TRANSOM_ON_CRASH_FAIL));
    c.send("0123456789");
    uint8_t small[4];
    try {
        c.receive(span<uint8_t>(small, sizeof small), 10s);
        CHECK(false);
    } catch (const error &e) {
        CHECK_EQ(e.code(), TRANSOM_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ(e.value(), int64_t(10));
    }
    uint8_t buf[16];
    auto r = c.receive(span<uint8_t>(buf, sizeof buf), 10s);
    CHECK(r);
    CHECK_EQ(std::string_view(reinterpret_cast<char *>(buf), r->size), std::string_view("0123456789"));
    reply raw;
    CHECK_EQ(c.receive(std::nothrow, span<uint8_t>(buf, sizeof buf), 0ns, raw), TRANSOM_TIMEOUT);
}

static void mailbox_participant_replies_from_a_thread() {
    runtime rt(2);
    mailbox worker = rt.open_mailbox();
    conversation c =
        rt.open_conversation(conversation_config().add_existing(worker.pid()).on_crash(TRANSOM_ON_CRASH_FAIL));
    std::thread th([&] {
        auto m = worker.receive(10s);
        CHECK(m);
        auto req = m->as_request();
        CHECK(req);
        CHECK_EQ(req->traceparent().size(), size_t(55));
        worker.reply(m->from(), req->id(), "done");
        // The request is answered: a second reply is refused, not silently dropped.
        CHECK_THROWS(worker.reply(m->from(), req->id(), "again"), TRANSOM_ERR_NOT_FOUND);
        CHECK_THROWS(worker.reply(m->from(), req->id() + 100, "unknown"), TRANSOM_ERR_NOT_FOUND);
    });
    c.send("job", worker.pid());
    std::vector<uint8_t> out;
    auto r = c.receive(out, 10s);
    th.join();
    CHECK(r);
    CHECK(r->from == worker.pid());
    CHECK_EQ(std::string(out.begin(), out.end()), std::string("done"));
    c.complete();
    CHECK_THROWS(c.send("more"), TRANSOM_ERR_WRONG_STATE);
}

static void fail_policy_reports_the_crash_everywhere() {
    runtime rt(2);
    mailbox victim = rt.open_mailbox();
    conversation c =
        rt.open_conversation(conversation_config().add_existing(victim.pid()).on_crash(TRANSOM_ON_CRASH_FAIL));
    latch called;
    crash_info seen;
    std::atomic<int> destroyed{0};
    uint64_t id = c.add_crash_callback([&, t = tracker(&destroyed)](const crash_info &ci) {
        seen = ci;
        called.signal();
    });
    CHECK(id != 0);
    CHECK(!c.has_crashed());
    CHECK(!c.await_crash(0ns));
    victim.exit(exit_reason::failure(9, "oops"));
    auto ci = c.await_crash(10s);
    CHECK(ci);
    CHECK(ci->participant == victim.pid());
    CHECK_EQ(ci->reason.code, 9);
    CHECK_EQ(ci->reason.text(), std::string_view("oops"));
    CHECK_EQ(ci->policy, uint32_t(TRANSOM_ON_CRASH_FAIL));
    CHECK(called.wait(1));
    CHECK(seen.participant == victim.pid());
    CHECK(c.has_crashed());
    std::vector<uint8_t> out;
    CHECK_THROWS(c.receive(out, 10s), TRANSOM_ERR_PARTICIPANT_CRASHED);
    conversation_state st = c.state();
    CHECK_EQ(st.phase, TRANSOM_PHASE_FAILED);
    CHECK_EQ(st.participants.size(), size_t(1));
    CHECK_EQ(st.participants[0].health, TRANSOM_HEALTH_CRASHED);
    CHECK(!st.participants[0].spawned);
    c.free();
    CHECK_EQ(destroyed.load(), 1); // the crash callable is destroyed once the conversation is freed
}

static void crash_callbacks_are_added_and_removed_by_id() {
    runtime rt(2);
    mailbox a = rt.open_mailbox(), b = rt.open_mailbox(), keep = rt.open_mailbox();
    conversation c = rt.open_conversation(conversation_config()
                                              .add_existing(a.pid())
                                              .add_existing(b.pid())
                                              .add_existing(keep.pid())
                                              .on_crash(TRANSOM_ON_CRASH_ROUTE_TO_NEXT));
    std::atomic<int> removed_calls{0}, kept_calls{0}, destroyed{0};
    latch kept;
    uint64_t removed_id = c.add_crash_callback(
        [&, t = tracker(&destroyed)](const crash_info &) { removed_calls.fetch_add(1); });
    uint64_t kept_id = c.add_crash_callback([&](const crash_info &) {
        kept_calls.fetch_add(1);
        kept.signal();
    });
    CHECK(kept_id != removed_id);
    a.exit(exit_reason::failure(1));
    CHECK(kept.wait(1));
    c.remove_crash_callback(removed_id);
    CHECK_EQ(destroyed.load(), 1); // destroyed by the time remove returns
    CHECK_THROWS(c.remove_crash_callback(removed_id), TRANSOM_ERR_NOT_FOUND);
    b.exit(exit_reason::failure(2));
    CHECK(kept.wait(2));
    CHECK_EQ(removed_calls.load(), 1);
    // Added after both crashes: replayed at once, here.
    std::atomic<int> late{0};
    c.add_crash_callback([&](const crash_info &) { late.fetch_add(1); });
    CHECK_EQ(late.load(), 2);
    c.free();
    CHECK_EQ(kept_calls.load(), 2);
}

static void compensate_policy_sees_the_in_flight_requests() {
    runtime rt(2);
    mailbox victim = rt.open_mailbox();
    std::atomic<int> destroyed{0};
    latch decided;
    size_t in_flight_seen = 0;
    std::string payload_seen;
    conversation c = rt.open_conversation(
        conversation_config()
            .add_existing(victim.pid())
            .add_spawned(replier(rt.ref(), "ok:"))
            .on_crash(TRANSOM_ON_CRASH_COMPENSATE)
            .compensate([&, t = tracker(&destroyed)](pid, const exit_reason &, span<const transom_in_flight> reqs) {
                in_flight_seen = reqs.size();
                if (!reqs.empty())
                    payload_seen.assign(reinterpret_cast<const char *>(reqs[0].payload), reqs[0].payload_len);
                decided.signal();
                return TRANSOM_COMPENSATE_CONTINUE;
            }));
    c.send("lost", victim.pid());
    victim.exit(exit_reason::failure(1));
    CHECK(decided.wait(1));
    CHECK_EQ(in_flight_seen, size_t(1));
    CHECK_EQ(payload_seen, std::string("lost"));
    // Carried on: the live participant still answers.
    c.send("x");
    std::vector<uint8_t> out;
    CHECK(c.receive(out, 10s));
    CHECK_EQ(std::string(out.begin(), out.end()), std::string("ok:x"));
    c.free();
    CHECK_EQ(destroyed.load(), 1);
}

static void open_failure_destroys_every_callable_once() {
    runtime rt(1);
    pid dead;
    {
        mailbox m = rt.open_mailbox();
        dead = m.pid();
        m.exit();
    }
    std::atomic<int> destroyed{0};
    CHECK_THROWS(rt.open_conversation(conversation_config()
                                          .add_spawned([t = tracker(&destroyed)](const message &) {})
                                          .add_existing(dead)
                                          .on_crash(TRANSOM_ON_CRASH_COMPENSATE)
                                          .compensate([t = tracker(&destroyed)](pid, const exit_reason &,
                                                                                 span<const transom_in_flight>) {
                                              return 0;
                                          })),
                 TRANSOM_ERR_NOPROC);
    CHECK_EQ(destroyed.load(), 2);
    // No policy: refused, the behaviour destroyed too.
    CHECK_THROWS(rt.open_conversation(conversation_config().add_spawned([t = tracker(&destroyed)](const message &) {})),
                 TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_EQ(destroyed.load(), 3);
}

static void timeout_and_close_end_receives() {
    runtime rt(2);
    mailbox silent = rt.open_mailbox();
    conversation c = rt.open_conversation(
        conversation_config().add_existing(silent.pid()).on_crash(TRANSOM_ON_CRASH_FAIL).timeout(50ms));
    std::vector<uint8_t> out;
    CHECK_THROWS(c.receive(out, 30s), TRANSOM_ERR_DEADLINE_EXCEEDED); // the conversation's own deadline
    CHECK_EQ(c.state().phase, TRANSOM_PHASE_DEADLINE_EXCEEDED);

    conversation d =
        rt.open_conversation(conversation_config().add_existing(silent.pid()).on_crash(TRANSOM_ON_CRASH_FAIL));
    std::thread closer([&] { d.close(); });
    CHECK_THROWS(d.receive(out, 30s), TRANSOM_ERR_CLOSED); // woken by close (or closed already)
    closer.join();
    CHECK_THROWS(d.await_crash(30s), TRANSOM_ERR_CLOSED);
}

static void receives_on_several_threads_share_the_replies() {
    runtime rt(2);
    conversation c = rt.open_conversation(conversation_config()
                                              .add_spawned(replier(rt.ref(), ""))
                                              .add_spawned(replier(rt.ref(), ""))
                                              .on_crash(TRANSOM_ON_CRASH_ROUTE_TO_NEXT));
    const long n = scaled(400);
    std::atomic<long> got{0};
    latch received;
    std::vector<std::thread> ts;
    for (int i = 0; i < 3; ++i)
        ts.emplace_back([&] {
            std::vector<uint8_t> out;
            for (;;) {
                try {
                    auto r = c.receive(out, 30s);
                    CHECK(r);
                    got.fetch_add(1);
                    received.signal();
                } catch (const error &e) {
                    CHECK_EQ(e.code(), TRANSOM_ERR_CLOSED);
                    return;
                }
            }
        });
    for (long i = 0; i < n; ++i) c.send(std::to_string(i));
    CHECK(received.wait(static_cast<int>(n), 60));
    c.close(); // wakes the receivers blocked in receive with TRANSOM_ERR_CLOSED
    for (auto &t : ts) t.join();
    CHECK_EQ(got.load(), n);
}

int main() {
    RUN(request_reply_with_the_vector_receive);
    RUN(buffer_receive_reports_the_needed_size_and_keeps_the_reply);
    RUN(mailbox_participant_replies_from_a_thread);
    RUN(fail_policy_reports_the_crash_everywhere);
    RUN(crash_callbacks_are_added_and_removed_by_id);
    RUN(compensate_policy_sees_the_in_flight_requests);
    RUN(open_failure_destroys_every_callable_once);
    RUN(timeout_and_close_end_receives);
    RUN(receives_on_several_threads_share_the_replies);
    return 0;
}
