/* Exit reasons keep their information: a C behaviour names its own exit reason with
 * transom_behaviour_set_exit_reason (the bindings turn exceptions into one); a mailbox freed
 * without exit says so; crash info carries the participant's index; transom's timestamps are
 * CLOCK_MONOTONIC, comparable with clock_gettime. */
#include "actor_support.h"

static uint64_t clock_ns(void) {
    struct timespec ts;
    CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
    return (uint64_t)ts.tv_sec * SECOND_NS + (uint64_t)ts.tv_nsec;
}

typedef struct {
    int32_t status;          /* what the call returns */
    int set;                 /* 1: set the reason below first */
    transom_exit_reason reason;
    transom_status set_status; /* what transom_behaviour_set_exit_reason answered */
} failing;

static int32_t failing_call(void *ctx, transom_pid self, const transom_message *m) {
    (void)self, (void)m;
    failing *f = ctx;
    if (f->set) f->set_status = transom_behaviour_set_exit_reason(&f->reason);
    return f->status;
}

static transom_exit_reason exit_of(transom_runtime *rt, failing *f) {
    monitor_rec mon;
    monitor_rec_init(&mon);
    transom_spawn_options o;
    memset(&o, 0, sizeof o);
    o.monitor = monitor_of(&mon);
    transom_behaviour_callback b = {f, failing_call, NULL};
    transom_pid pid = 0;
    CHECK_OK(transom_runtime_spawn(rt, b, &o, &pid, NULL));
    CHECK_OK(transom_runtime_send(rt, pid, (const uint8_t *)"x", 1));
    CHECK(latch_wait(&mon.fired, 1, 30));
    /* `mon` lives on this stack frame and the runtime lives on: return only once the monitor's
     * drop has run (the worker may still be inside the callback's latch_signal). */
    CHECK(latch_wait(&mon.dropped, 1, 30));
    return mon.reason;
}

static void a_behaviour_sets_the_reason_its_non_zero_return_exits_with(void) {
    transom_runtime *rt = NULL;
    CHECK_OK(transom_runtime_new(2, &rt));
    failing f = {-1000, 1, reason_of(TRANSOM_EXIT_ERROR, 77, "std::runtime_error: boom"), 99};
    transom_exit_reason r = exit_of(rt, &f);
    CHECK_OK(f.set_status);
    CHECK(r.kind == TRANSOM_EXIT_ERROR && r.code == 77);
    CHECK(strcmp(r.message, "std::runtime_error: boom") == 0);
    /* Any kind: a NORMAL reason ends the process without a crash. */
    failing normal = {1, 1, reason_of(TRANSOM_EXIT_NORMAL, 0, "done"), 99};
    r = exit_of(rt, &normal);
    CHECK(r.kind == TRANSOM_EXIT_NORMAL && strcmp(r.message, "done") == 0);
    /* Without a reason: the generic one, with the status as its code. */
    failing plain = {5, 0, {0}, 0};
    r = exit_of(rt, &plain);
    CHECK(r.kind == TRANSOM_EXIT_ERROR && r.code == 5);
    CHECK(strcmp(r.message, "the C behaviour returned a non-zero status") == 0);
    /* An invalid reason is refused; the process then exits with the generic reason. */
    failing bad = {6, 1, reason_of(99, 1, "x"), 0};
    r = exit_of(rt, &bad);
    CHECK(bad.set_status == TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(r.kind == TRANSOM_EXIT_ERROR && r.code == 6);
    failing unterminated = {6, 1, reason_of(TRANSOM_EXIT_ERROR, 1, ""), 0};
    memset(unterminated.reason.message, 'a', sizeof unterminated.reason.message);
    r = exit_of(rt, &unterminated);
    CHECK(unterminated.set_status == TRANSOM_ERR_INVALID_ARGUMENT);
    transom_runtime_free(rt);
}

/* Returns 0 after setting a reason (discarded), then non-zero without one on the next message. */
static int32_t set_then_continue(void *ctx, transom_pid self, const transom_message *m) {
    (void)self;
    atomic_int *calls = ctx;
    if (atomic_fetch_add(calls, 1) == 0) {
        transom_exit_reason r = reason_of(TRANSOM_EXIT_ERROR, 1, "discarded");
        CHECK_OK(transom_behaviour_set_exit_reason(&r));
        return 0;
    }
    (void)m;
    return 3;
}

static void a_reason_set_by_a_call_that_returns_zero_is_discarded(void) {
    transom_runtime *rt = NULL;
    CHECK_OK(transom_runtime_new(1, &rt));
    monitor_rec mon;
    monitor_rec_init(&mon);
    transom_spawn_options o;
    memset(&o, 0, sizeof o);
    o.monitor = monitor_of(&mon);
    atomic_int calls = 0;
    transom_behaviour_callback b = {&calls, set_then_continue, NULL};
    transom_pid pid = 0;
    CHECK_OK(transom_runtime_spawn(rt, b, &o, &pid, NULL));
    CHECK_OK(transom_runtime_send(rt, pid, (const uint8_t *)"1", 1));
    CHECK_OK(transom_runtime_send(rt, pid, (const uint8_t *)"2", 1));
    CHECK(latch_wait(&mon.fired, 1, 30));
    CHECK(mon.reason.code == 3);
    CHECK(strcmp(mon.reason.message, "the C behaviour returned a non-zero status") == 0);
    transom_runtime_free(rt);
}

static void setting_a_reason_outside_a_behaviour_is_wrong_state(void) {
    transom_exit_reason r = reason_of(TRANSOM_EXIT_ERROR, 1, "x");
    CHECK_STATUS(transom_behaviour_set_exit_reason(&r), TRANSOM_ERR_WRONG_STATE);
    CHECK_STATUS(transom_behaviour_set_exit_reason(NULL), TRANSOM_ERR_NULL_ARGUMENT);
}

static void a_dropped_mailbox_reports_why(void) {
    transom_runtime *rt = NULL;
    CHECK_OK(transom_runtime_new(1, &rt));
    monitor_rec mon;
    monitor_rec_init(&mon);
    transom_spawn_options o;
    memset(&o, 0, sizeof o);
    o.monitor = monitor_of(&mon);
    transom_mailbox *mb = NULL;
    CHECK_OK(transom_mailbox_open(rt, &o, &mb, NULL));
    transom_mailbox_free(mb);
    CHECK(latch_wait(&mon.fired, 1, 30));
    CHECK(mon.reason.kind == TRANSOM_EXIT_DROPPED);
    CHECK(strcmp(mon.reason.message, "mailbox freed without exit") == 0);
    transom_runtime_free(rt);
}

/* ---- crash info: index and CLOCK_MONOTONIC time ---- */
typedef struct {
    latch fired;
    transom_crash_info info;
} crash_rec;

static void crash_call(void *ctx, const transom_crash_info *info) {
    crash_rec *c = ctx;
    c->info = *info;
    latch_signal(&c->fired);
}

static int32_t dies(void *ctx, transom_pid self, const transom_message *m) {
    (void)ctx, (void)self, (void)m;
    transom_exit_reason r = reason_of(TRANSOM_EXIT_ERROR, 42, "participant 2 failed");
    CHECK_OK(transom_behaviour_set_exit_reason(&r));
    return 1;
}

static void crash_info_carries_the_index_and_a_clock_monotonic_time(void) {
    uint64_t a = clock_ns();
    uint64_t t = transom_monotonic_ns();
    uint64_t b = clock_ns();
    CHECK(a <= t && t <= b); /* the same clock as clock_gettime(CLOCK_MONOTONIC) */
    transom_runtime *rt = NULL;
    CHECK_OK(transom_runtime_new(2, &rt));
    transom_mailbox *m0 = NULL, *m1 = NULL;
    transom_pid p0 = 0, p1 = 0;
    CHECK_OK(transom_mailbox_open(rt, NULL, &m0, &p0));
    CHECK_OK(transom_mailbox_open(rt, NULL, &m1, &p1));
    transom_participant ps[3];
    memset(ps, 0, sizeof ps);
    ps[0].pid = p0;
    ps[1].pid = p1;
    ps[2].behaviour.call = dies;
    transom_conversation_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.participants = ps;
    cfg.participant_count = 3;
    cfg.on_crash = TRANSOM_ON_CRASH_FAIL;
    transom_conversation *c = NULL;
    CHECK_OK(transom_conversation_open(rt, &cfg, &c));
    crash_rec rec;
    latch_init(&rec.fired);
    transom_crash_callback cb = {&rec, crash_call, NULL};
    uint64_t id = 0;
    CHECK_OK(transom_conversation_add_crash_callback(c, cb, &id));
    transom_participant_state st[3];
    size_t n = 0;
    CHECK_OK(transom_conversation_participants(c, st, 3, &n));
    CHECK(n == 3);
    uint64_t before = clock_ns();
    uint64_t req = 0;
    CHECK_OK(transom_conversation_send(c, st[2].pid, (const uint8_t *)"go", 2, &req));
    transom_crash_info info;
    CHECK_OK(transom_conversation_await_crash(c, 30 * SECOND_NS, &info));
    uint64_t after = clock_ns();
    CHECK(info.participant == st[2].pid);
    CHECK(info.participant_index == 2);
    CHECK(info.reason.code == 42 && strcmp(info.reason.message, "participant 2 failed") == 0);
    CHECK(info.observed_at_ns >= before && info.observed_at_ns <= after);
    CHECK(latch_wait(&rec.fired, 1, 30));
    CHECK(rec.info.participant_index == 2 && rec.info.observed_at_ns == info.observed_at_ns);
    CHECK_OK(transom_conversation_participants(c, st, 3, &n));
    CHECK(st[2].exited_at_ns == info.observed_at_ns);
    transom_conversation_free(c);
    transom_mailbox_free(m0);
    transom_mailbox_free(m1);
    transom_runtime_free(rt);
}

int main(void) {
    RUN(a_behaviour_sets_the_reason_its_non_zero_return_exits_with);
    RUN(a_reason_set_by_a_call_that_returns_zero_is_discarded);
    RUN(setting_a_reason_outside_a_behaviour_is_wrong_state);
    RUN(a_dropped_mailbox_reports_why);
    RUN(crash_info_carries_the_index_and_a_clock_monotonic_time);
    return 0;
}
