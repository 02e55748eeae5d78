/* Conversations from C: crash notification callbacks across threads (participants on runtime
 * workers and as mailboxes owned by C threads; crashes by exit, by a behaviour's status and by
 * freeing a mailbox), the FAIL / ROUTE_TO_NEXT / COMPENSATE policies, receive semantics, the
 * enforced conversation timeout. */
#include "actor_support.h"

/* ---- a C participant on the runtime's workers: echoes requests, dies on "die" ---- */
typedef struct {
    transom_runtime *rt;
    atomic_int handled;
} echo_ctx;

static int32_t echo_handle(void *ctx, transom_pid self, const transom_message *m) {
    echo_ctx *e = ctx;
    transom_request req;
    if (transom_conversation_parse_request(m, &req) != TRANSOM_OK) return 0; /* not a request: ignore */
    atomic_fetch_add(&e->handled, 1);
    if (req.payload_len == 3 && memcmp(req.payload, "die", 3) == 0) return 99;
    return transom_conversation_reply(e->rt, self, m->from, req.request_id, req.payload, req.payload_len) ==
                   TRANSOM_OK
               ? 0
               : 1;
}

/* ---- a crash recorder ---- */
typedef struct {
    latch fired;
    atomic_int calls, drops;
    transom_crash_info info;
    pthread_t thread;
} crash_rec;

static void crash_rec_init(crash_rec *c) {
    latch_init(&c->fired);
    atomic_store(&c->calls, 0);
    atomic_store(&c->drops, 0);
}

static void crash_rec_call(void *ctx, const transom_crash_info *info) {
    crash_rec *c = ctx;
    c->info = *info;
    c->thread = pthread_self();
    atomic_fetch_add(&c->calls, 1);
    latch_signal(&c->fired);
}

static void crash_rec_drop(void *ctx) { atomic_fetch_add(&((crash_rec *)ctx)->drops, 1); }

static transom_crash_callback crash_cb(crash_rec *c) {
    transom_crash_callback cb = {c, crash_rec_call, crash_rec_drop};
    return cb;
}

static transom_conversation *open_conv(transom_runtime *rt, transom_participant *ps, size_t n,
                                       uint32_t policy, uint64_t timeout_ns) {
    transom_conversation_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.participants = ps;
    cfg.participant_count = n;
    cfg.on_crash = policy;
    cfg.timeout_ns = timeout_ns;
    transom_conversation *c = NULL;
    CHECK_OK(transom_conversation_open(rt, &cfg, &c));
    return c;
}

static transom_participant external(transom_pid pid) {
    transom_participant p;
    memset(&p, 0, sizeof p);
    p.pid = pid;
    return p;
}

static transom_participant spawned(echo_ctx *e) {
    transom_participant p;
    memset(&p, 0, sizeof p);
    p.behaviour.ctx = e;
    p.behaviour.call = echo_handle;
    return p;
}

static transom_pid participant_pid(transom_conversation *c, size_t i) {
    transom_participant_state ps[4];
    size_t n = 0;
    CHECK_OK(transom_conversation_participants(c, ps, 4, &n));
    CHECK(i < n);
    return ps[i].pid;
}

static uint64_t add_crash_callback(transom_conversation *c, transom_crash_callback cb) {
    uint64_t id = 0;
    CHECK_OK(transom_conversation_add_crash_callback(c, cb, &id));
    CHECK(id != 0);
    return id;
}

static int32_t phase_of(transom_conversation *c) {
    transom_conversation_snapshot s;
    memset(&s, 0, sizeof s);
    CHECK_OK(transom_conversation_state(c, &s));
    return s.phase;
}

static void crash_by_exit_is_reported_once_on_a_runtime_thread_and_replayed(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    static echo_ctx e;
    e.rt = rt;
    transom_participant ps[1] = {spawned(&e)};
    transom_conversation *c = open_conv(rt, ps, 1, TRANSOM_ON_CRASH_FAIL, 0);
    static crash_rec early, late;
    crash_rec_init(&early);
    crash_rec_init(&late);
    add_crash_callback(c, crash_cb(&early));
    transom_pid p = participant_pid(c, 0), conv = 0;
    CHECK_OK(transom_conversation_pid(c, &conv));
    bool crashed = true;
    CHECK_OK(transom_conversation_has_crashed(c, &crashed));
    CHECK(!crashed);
    uint64_t before = transom_monotonic_ns();
    transom_exit_reason err = reason_of(TRANSOM_EXIT_ERROR, 11, "injected fault");
    CHECK_OK(transom_runtime_exit(rt, p, &err));
    CHECK(latch_wait(&early.fired, 1, 10));
    CHECK(early.info.participant == p && early.info.conversation == conv);
    CHECK(early.info.reason.kind == TRANSOM_EXIT_ERROR && early.info.reason.code == 11);
    CHECK(strcmp(early.info.reason.message, "injected fault") == 0);
    CHECK(early.info.policy == TRANSOM_ON_CRASH_FAIL);
    CHECK(early.info.observed_at_ns >= before && early.info.observed_at_ns <= transom_monotonic_ns());
    CHECK(!pthread_equal(early.thread, pthread_self()));
    CHECK_OK(transom_conversation_has_crashed(c, &crashed));
    CHECK(crashed);
    /* Registered after the crash: replayed at once, on this thread, exactly once. */
    add_crash_callback(c, crash_cb(&late));
    CHECK(atomic_load(&late.calls) == 1 && late.info.participant == p && late.info.reason.code == 11);
    CHECK(pthread_equal(late.thread, pthread_self()));
    CHECK(phase_of(c) == TRANSOM_PHASE_FAILED);
    CHECK_OK(transom_conversation_close(c)); /* close after FAILED */
    CHECK_OK(transom_conversation_close(c)); /* close twice */
    CHECK(phase_of(c) == TRANSOM_PHASE_CLOSED);
    transom_conversation_free(c);
    CHECK(atomic_load(&early.calls) == 1 && atomic_load(&early.drops) == 1);
    CHECK(atomic_load(&late.calls) == 1 && atomic_load(&late.drops) == 1);
    transom_runtime_free(rt);
}

static void a_behaviours_nonzero_status_is_a_crash_with_that_code(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    static echo_ctx e;
    e.rt = rt;
    transom_participant ps[1] = {spawned(&e)};
    transom_conversation *c = open_conv(rt, ps, 1, TRANSOM_ON_CRASH_FAIL, 0);
    static crash_rec rec;
    crash_rec_init(&rec);
    add_crash_callback(c, crash_cb(&rec));
    uint64_t id;
    CHECK_OK(transom_conversation_send(c, 0, (const uint8_t *)"die", 3, &id));
    CHECK(latch_wait(&rec.fired, 1, 10));
    CHECK(rec.info.reason.kind == TRANSOM_EXIT_ERROR && rec.info.reason.code == 99);
    transom_conversation_free(c);
    transom_runtime_free(rt);
    CHECK(atomic_load(&rec.calls) == 1 && atomic_load(&rec.drops) == 1);
}

/* ---- a participant that is a mailbox owned by its own C thread ---- */
typedef struct {
    transom_runtime *rt;
    transom_pid pid;
    latch ready, go;
    int exit_normally;
} mailbox_thread;

static void *mailbox_owner(void *arg) {
    mailbox_thread *t = arg;
    transom_mailbox *mb;
    CHECK_OK(transom_mailbox_open(t->rt, NULL, &mb, &t->pid));
    latch_signal(&t->ready);
    CHECK(latch_wait(&t->go, 1, 30));
    if (t->exit_normally) {
        transom_exit_reason r = reason_of(TRANSOM_EXIT_NORMAL, 0, "bye");
        CHECK_OK(transom_mailbox_exit(mb, &r));
    }
    transom_mailbox_free(mb); /* without a prior exit: DROPPED */
    return NULL;
}

typedef struct {
    transom_conversation *c;
    transom_status result;
    transom_crash_info info;
    latch waiting;
} crash_waiter;

static void *await_crash_thread(void *arg) {
    crash_waiter *w = arg;
    latch_signal(&w->waiting);
    w->result = transom_conversation_await_crash(w->c, 60 * SECOND_NS, &w->info);
    return NULL;
}

static void a_freed_mailbox_participant_wakes_await_crash_on_another_thread(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    static mailbox_thread mt;
    memset(&mt, 0, sizeof mt);
    mt.rt = rt;
    latch_init(&mt.ready);
    latch_init(&mt.go);
    pthread_t owner;
    CHECK(pthread_create(&owner, NULL, mailbox_owner, &mt) == 0);
    CHECK(latch_wait(&mt.ready, 1, 10));
    transom_participant ps[1] = {external(mt.pid)};
    transom_conversation *c = open_conv(rt, ps, 1, TRANSOM_ON_CRASH_FAIL, 0);
    static crash_rec rec;
    crash_rec_init(&rec);
    add_crash_callback(c, crash_cb(&rec));
    static crash_waiter w;
    memset(&w, 0, sizeof w);
    w.c = c;
    latch_init(&w.waiting);
    pthread_t waiter;
    CHECK(pthread_create(&waiter, NULL, await_crash_thread, &w) == 0);
    CHECK(latch_wait(&w.waiting, 1, 10));
    latch_signal(&mt.go); /* the owner frees its mailbox */
    pthread_join(owner, NULL);
    pthread_join(waiter, NULL);
    CHECK(w.result == TRANSOM_OK);
    CHECK(w.info.participant == mt.pid && w.info.reason.kind == TRANSOM_EXIT_DROPPED);
    CHECK(latch_wait(&rec.fired, 1, 10));
    CHECK(rec.info.reason.kind == TRANSOM_EXIT_DROPPED && !pthread_equal(rec.thread, pthread_self()));
    transom_conversation_free(c);
    transom_runtime_free(rt);
    CHECK(atomic_load(&rec.calls) == 1);
}

static void a_normal_exit_is_not_a_crash(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    static mailbox_thread mt;
    memset(&mt, 0, sizeof mt);
    mt.rt = rt;
    mt.exit_normally = 1;
    latch_init(&mt.ready);
    latch_init(&mt.go);
    pthread_t owner;
    CHECK(pthread_create(&owner, NULL, mailbox_owner, &mt) == 0);
    CHECK(latch_wait(&mt.ready, 1, 10));
    transom_participant ps[1] = {external(mt.pid)};
    transom_conversation *c = open_conv(rt, ps, 1, TRANSOM_ON_CRASH_FAIL, 0);
    static crash_rec rec;
    crash_rec_init(&rec);
    add_crash_callback(c, crash_cb(&rec));
    static monitor_rec mon;
    monitor_rec_init(&mon);
    uint64_t mref;
    CHECK_OK(transom_runtime_add_monitor(rt, mt.pid, monitor_of(&mon), &mref));
    latch_signal(&mt.go);
    pthread_join(owner, NULL);
    CHECK(latch_wait(&mon.fired, 1, 10)); /* the exit happened... */
    transom_crash_info info;
    CHECK_STATUS(transom_conversation_await_crash(c, 100000000ull, &info), TRANSOM_TIMEOUT);
    bool crashed = true;
    CHECK_OK(transom_conversation_has_crashed(c, &crashed));
    CHECK(!crashed && atomic_load(&rec.calls) == 0); /* ...and was not a crash */
    transom_participant_state ps_state[1];
    transom_conversation_snapshot s;
    size_t n = 0;
    /* The conversation observes the exit through its link; wait for it via state, bounded. */
    for (int i = 0; i < 1000; i++) {
        CHECK_OK(transom_conversation_participants(c, ps_state, 1, &n));
        CHECK_OK(transom_conversation_state(c, &s));
        if (ps_state[0].health != TRANSOM_HEALTH_ALIVE) break;
        transom_crash_info ignored;
        CHECK_STATUS(transom_conversation_await_crash(c, 1000000ull, &ignored), TRANSOM_TIMEOUT);
    }
    CHECK(ps_state[0].health == TRANSOM_HEALTH_EXITED && ps_state[0].exit_reason.kind == TRANSOM_EXIT_NORMAL);
    CHECK(s.crashed == 0);
    transom_conversation_free(c);
    transom_runtime_free(rt);
}

/* ---- mailbox participants driven by the test thread ---- */
static transom_message next_request(transom_mailbox *mb, transom_request *req) {
    transom_message m;
    CHECK_OK(transom_mailbox_receive(mb, 10 * SECOND_NS, &m));
    CHECK_OK(transom_conversation_parse_request(&m, req));
    return m;
}

static void route_to_next_reforwards_in_flight_requests(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    transom_mailbox *p1, *p2;
    transom_pid pid1, pid2;
    CHECK_OK(transom_mailbox_open(rt, NULL, &p1, &pid1));
    CHECK_OK(transom_mailbox_open(rt, NULL, &p2, &pid2));
    transom_participant ps[2] = {external(pid1), external(pid2)};
    transom_conversation *c = open_conv(rt, ps, 2, TRANSOM_ON_CRASH_ROUTE_TO_NEXT, 0);
    transom_pid conv;
    CHECK_OK(transom_conversation_pid(c, &conv));
    enum { N = 5 };
    uint64_t ids[N];
    for (int i = 0; i < N; i++) {
        char payload[16];
        int n = snprintf(payload, sizeof payload, "job-%d", i);
        CHECK_OK(transom_conversation_send(c, pid1, (const uint8_t *)payload, (size_t)n, &ids[i]));
    }
    /* p1 takes the requests (they are in flight) and crashes without replying. */
    for (int i = 0; i < N; i++) {
        transom_request req;
        transom_message m = next_request(p1, &req);
        CHECK(m.from == conv && req.request_id == ids[i]);
        CHECK(strlen(req.traceparent) == 55 && strncmp(req.traceparent, "00-", 3) == 0);
    }
    transom_exit_reason err = reason_of(TRANSOM_EXIT_ERROR, 3, "p1 down");
    CHECK_OK(transom_mailbox_exit(p1, &err));
    /* p2 gets exactly those requests, with their ids and payloads, and answers them. */
    int seen[N] = {0};
    for (int i = 0; i < N; i++) {
        transom_request req;
        transom_message m = next_request(p2, &req);
        int k = -1;
        for (int j = 0; j < N; j++)
            if (ids[j] == req.request_id) k = j;
        CHECK(k >= 0);
        char payload[16];
        int n = snprintf(payload, sizeof payload, "job-%d", k);
        CHECK(req.payload_len == (size_t)n && memcmp(req.payload, payload, (size_t)n) == 0);
        seen[k]++;
        CHECK_OK(transom_conversation_reply_from_mailbox(p2, m.from, req.request_id, req.payload, req.payload_len));
    }
    for (int k = 0; k < N; k++) CHECK(seen[k] == 1);
    transom_message extra;
    CHECK_STATUS(transom_mailbox_receive(p2, 50000000ull, &extra), TRANSOM_TIMEOUT); /* no duplicates */
    int got[N] = {0};
    for (int i = 0; i < N; i++) {
        transom_reply r;
        size_t len = 0;
        uint8_t buf[32];
        CHECK_OK(transom_conversation_receive(c, 10 * SECOND_NS, &r, buf, sizeof buf, &len));
        CHECK(r.from == pid2);
        for (int j = 0; j < N; j++)
            if (ids[j] == r.request_id) got[j]++;
    }
    for (int k = 0; k < N; k++) CHECK(got[k] == 1);
    transom_reply r;
    size_t len = 0;
    uint8_t buf[32];
    CHECK_STATUS(transom_conversation_receive(c, 50000000ull, &r, buf, sizeof buf, &len), TRANSOM_TIMEOUT);
    CHECK(phase_of(c) == TRANSOM_PHASE_ACTIVE); /* one participant is left: it carries on */
    transom_crash_info info;
    CHECK_OK(transom_conversation_await_crash(c, 10 * SECOND_NS, &info));
    CHECK(info.participant == pid1 && info.policy == TRANSOM_ON_CRASH_ROUTE_TO_NEXT);
    /* When the last one dies too, the conversation fails. */
    CHECK_OK(transom_mailbox_exit(p2, &err));
    CHECK_STATUS(transom_conversation_receive(c, 10 * SECOND_NS, &r, buf, sizeof buf, &len),
                 TRANSOM_ERR_PARTICIPANT_CRASHED);
    CHECK(phase_of(c) == TRANSOM_PHASE_FAILED);
    transom_conversation_free(c);
    transom_mailbox_free(p1);
    transom_mailbox_free(p2);
    transom_runtime_free(rt);
}

/* ---- COMPENSATE ---- */
typedef struct {
    int calls;
    transom_pid participant;
    int32_t reason_code;
    uint64_t ids[16];
    char payloads[16][16];
    size_t count;
    int32_t decision;
    int drops;
} compensation;

static int32_t compensate_call(void *ctx, transom_pid participant, const transom_exit_reason *reason,
                               const transom_in_flight *requests, size_t count) {
    compensation *cp = ctx;
    cp->calls++;
    cp->participant = participant;
    cp->reason_code = reason->code;
    cp->count = count;
    for (size_t i = 0; i < count && i < 16; i++) {
        cp->ids[i] = requests[i].request_id;
        snprintf(cp->payloads[i], sizeof cp->payloads[i], "%.*s", (int)requests[i].payload_len,
                 (const char *)requests[i].payload);
        CHECK(requests[i].participant == participant);
        CHECK(strlen(requests[i].traceparent) == 55);
    }
    return cp->decision;
}

static void compensate_drop(void *ctx) { ((compensation *)ctx)->drops++; }

static void compensate_gets_exactly_the_in_flight_requests(void) {
    for (int decision = 0; decision < 2; decision++) {
        transom_runtime *rt;
        CHECK_OK(transom_runtime_new(2, &rt));
        transom_mailbox *p1, *p2;
        transom_pid pid1, pid2;
        CHECK_OK(transom_mailbox_open(rt, NULL, &p1, &pid1));
        CHECK_OK(transom_mailbox_open(rt, NULL, &p2, &pid2));
        static compensation cp;
        memset(&cp, 0, sizeof cp);
        cp.decision = decision == 0 ? TRANSOM_COMPENSATE_CONTINUE : TRANSOM_COMPENSATE_FAIL;
        transom_participant ps[2] = {external(pid1), external(pid2)};
        transom_conversation_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.participants = ps;
        cfg.participant_count = 2;
        cfg.on_crash = TRANSOM_ON_CRASH_COMPENSATE;
        cfg.compensate.ctx = &cp;
        cfg.compensate.call = compensate_call;
        cfg.compensate.drop = compensate_drop;
        transom_conversation *c;
        CHECK_OK(transom_conversation_open(rt, &cfg, &c));
        uint64_t a1, a2, a3, b1, answered;
        CHECK_OK(transom_conversation_send(c, pid1, (const uint8_t *)"a1", 2, &a1));
        CHECK_OK(transom_conversation_send(c, pid1, (const uint8_t *)"a2", 2, &a2));
        CHECK_OK(transom_conversation_send(c, pid1, (const uint8_t *)"a3", 2, &a3));
        CHECK_OK(transom_conversation_send(c, pid1, (const uint8_t *)"ok", 2, &answered));
        CHECK_OK(transom_conversation_send(c, pid2, (const uint8_t *)"b1", 2, &b1));
        /* p1 answers "ok" (no longer in flight), then crashes with a1..a3 pending. */
        for (int i = 0; i < 4; i++) {
            transom_request req;
            transom_message m = next_request(p1, &req);
            if (req.request_id == answered) CHECK_OK(transom_conversation_reply_from_mailbox(p1, m.from, req.request_id, NULL, 0));
        }
        transom_reply r;
        size_t len = 0;
        uint8_t buf[8];
        CHECK_OK(transom_conversation_receive(c, 10 * SECOND_NS, &r, buf, sizeof buf, &len));
        CHECK(r.request_id == answered);
        transom_exit_reason err = reason_of(TRANSOM_EXIT_ERROR, 77, "p1 crashed");
        CHECK_OK(transom_mailbox_exit(p1, &err));
        transom_crash_info info;
        CHECK_OK(transom_conversation_await_crash(c, 10 * SECOND_NS, &info));
        CHECK(info.policy == TRANSOM_ON_CRASH_COMPENSATE);
        CHECK(cp.calls == 1 && cp.participant == pid1 && cp.reason_code == 77 && cp.count == 3);
        uint64_t want[3] = {a1, a2, a3};
        const char *want_payload[3] = {"a1", "a2", "a3"};
        for (int k = 0; k < 3; k++) {
            int found = 0;
            for (size_t i = 0; i < cp.count; i++)
                if (cp.ids[i] == want[k] && strcmp(cp.payloads[i], want_payload[k]) == 0) found++;
            CHECK(found == 1);
        }
        if (decision == 0) {
            CHECK(phase_of(c) == TRANSOM_PHASE_ACTIVE);
            transom_request req;
            transom_message m = next_request(p2, &req);
            CHECK(req.request_id == b1);
            CHECK_OK(transom_conversation_reply_from_mailbox(p2, m.from, req.request_id, (const uint8_t *)"B", 1));
            CHECK_OK(transom_conversation_receive(c, 10 * SECOND_NS, &r, buf, sizeof buf, &len));
            CHECK(r.request_id == b1 && len == 1 && buf[0] == 'B');
        } else {
            CHECK(phase_of(c) == TRANSOM_PHASE_FAILED);
            CHECK_STATUS(transom_conversation_send(c, 0, (const uint8_t *)"x", 1, NULL),
                         TRANSOM_ERR_PARTICIPANT_CRASHED);
        }
        transom_conversation_free(c);
        CHECK(cp.drops == 1);
        transom_mailbox_free(p1);
        transom_mailbox_free(p2);
        transom_runtime_free(rt);
    }
}

static void receive_semantics_timeouts_buffers_and_fail(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    transom_mailbox *p;
    transom_pid pid;
    CHECK_OK(transom_mailbox_open(rt, NULL, &p, &pid));
    transom_participant ps[1] = {external(pid)};
    transom_conversation *c = open_conv(rt, ps, 1, TRANSOM_ON_CRASH_FAIL, 0);
    CHECK(phase_of(c) == TRANSOM_PHASE_CREATED);
    transom_reply r;
    size_t len = 0;
    uint8_t buf[64];
    /* A timed-out receive does not lose the next reply. */
    CHECK_STATUS(transom_conversation_receive(c, 1000000ull, &r, buf, sizeof buf, &len), TRANSOM_TIMEOUT);
    uint64_t id;
    CHECK_OK(transom_conversation_send(c, 0, (const uint8_t *)"q1", 2, &id));
    CHECK(phase_of(c) == TRANSOM_PHASE_ACTIVE);
    transom_request req;
    transom_message m = next_request(p, &req);
    CHECK_OK(transom_conversation_reply_from_mailbox(p, m.from, req.request_id, (const uint8_t *)"r1", 2));
    CHECK_OK(transom_conversation_receive(c, 10 * SECOND_NS, &r, buf, sizeof buf, &len));
    CHECK(r.request_id == id && len == 2 && memcmp(buf, "r1", 2) == 0);
    /* Two replies buffered, then the participant crashes: replies first, then the crash. */
    uint64_t id2, id3;
    CHECK_OK(transom_conversation_send(c, 0, (const uint8_t *)"q2", 2, &id2));
    CHECK_OK(transom_conversation_send(c, 0, (const uint8_t *)"q3", 2, &id3));
    for (int i = 0; i < 2; i++) {
        m = next_request(p, &req);
        CHECK_OK(transom_conversation_reply_from_mailbox(p, m.from, req.request_id, (const uint8_t *)"rr", 2));
    }
    /* Make sure both replies are buffered before the crash (state counts them). */
    transom_conversation_snapshot s;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < 10000; i++) {
        CHECK_OK(transom_conversation_state(c, &s));
        if (s.buffered == 2) break;
        transom_crash_info ignored;
        CHECK_STATUS(transom_conversation_await_crash(c, 1000000ull, &ignored), TRANSOM_TIMEOUT);
    }
    CHECK(s.buffered == 2 && s.sent == 3);
    transom_exit_reason err = reason_of(TRANSOM_EXIT_ERROR, 5, "gone");
    CHECK_OK(transom_mailbox_exit(p, &err));
    transom_crash_info info;
    CHECK_OK(transom_conversation_await_crash(c, 10 * SECOND_NS, &info));
    CHECK_OK(transom_conversation_receive(c, 10 * SECOND_NS, &r, buf, sizeof buf, &len));
    CHECK(r.request_id == id2);
    CHECK_OK(transom_conversation_receive(c, 10 * SECOND_NS, &r, buf, sizeof buf, &len));
    CHECK(r.request_id == id3);
    CHECK_STATUS(transom_conversation_receive(c, 10 * SECOND_NS, &r, buf, sizeof buf, &len),
                 TRANSOM_ERR_PARTICIPANT_CRASHED);
    CHECK_STATUS(transom_conversation_send(c, 0, (const uint8_t *)"late", 4, NULL),
                 TRANSOM_ERR_PARTICIPANT_CRASHED);
    CHECK(phase_of(c) == TRANSOM_PHASE_FAILED);
    CHECK_OK(transom_conversation_close(c));
    CHECK_OK(transom_conversation_close(c));
    CHECK_STATUS(transom_conversation_send(c, 0, (const uint8_t *)"x", 1, NULL), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_conversation_receive(c, 0, &r, buf, sizeof buf, &len), TRANSOM_ERR_CLOSED);
    transom_conversation_free(c);
    transom_mailbox_free(p);
    transom_runtime_free(rt);
}

/* ---- the conversation's own timeout releases a blocked receiver ---- */
typedef struct {
    transom_conversation *c;
    transom_status result;
    latch started;
} receiver;

static void *receive_thread(void *arg) {
    receiver *rc = arg;
    transom_reply r;
    size_t len = 0;
    uint8_t buf[8];
    latch_signal(&rc->started);
    rc->result = transom_conversation_receive(rc->c, UINT64_MAX, &r, buf, sizeof buf, &len);
    return NULL;
}

static void the_timeout_is_enforced_and_releases_receivers(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    transom_mailbox *p;
    transom_pid pid;
    CHECK_OK(transom_mailbox_open(rt, NULL, &p, &pid));
    transom_participant ps[1] = {external(pid)};
    const uint64_t timeout_ns = 100000000ull; /* 100 ms */
    uint64_t opened = transom_monotonic_ns();
    transom_conversation *c = open_conv(rt, ps, 1, TRANSOM_ON_CRASH_FAIL, timeout_ns);
    transom_conversation_snapshot s;
    memset(&s, 0, sizeof s);
    CHECK_OK(transom_conversation_state(c, &s));
    CHECK(s.deadline_ns >= opened + timeout_ns - 1000000ull && s.deadline_ns <= transom_monotonic_ns() + timeout_ns);
    static receiver rc;
    memset(&rc, 0, sizeof rc);
    rc.c = c;
    latch_init(&rc.started);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, receive_thread, &rc) == 0);
    CHECK(latch_wait(&rc.started, 1, 10));
    pthread_join(t, NULL);
    uint64_t elapsed = transom_monotonic_ns() - opened;
    CHECK(rc.result == TRANSOM_ERR_DEADLINE_EXCEEDED);
    CHECK(elapsed >= timeout_ns);
    CHECK(elapsed < timeout_ns + 2 * SECOND_NS); /* scheduling slack on a loaded 2-core box */
    printf("# DEADLINE_EXCEEDED after %.1f ms (deadline 100 ms after open)\n", (double)elapsed / 1e6);
    CHECK(phase_of(c) == TRANSOM_PHASE_DEADLINE_EXCEEDED);
    CHECK_STATUS(transom_conversation_send(c, 0, (const uint8_t *)"x", 1, NULL), TRANSOM_ERR_DEADLINE_EXCEEDED);
    CHECK_OK(transom_conversation_close(c));
    transom_conversation_free(c);
    transom_mailbox_free(p);
    transom_runtime_free(rt);
}

int main(void) {
    RUN(crash_by_exit_is_reported_once_on_a_runtime_thread_and_replayed);
    RUN(a_behaviours_nonzero_status_is_a_crash_with_that_code);
    RUN(a_freed_mailbox_participant_wakes_await_crash_on_another_thread);
    RUN(a_normal_exit_is_not_a_crash);
    RUN(route_to_next_reforwards_in_flight_requests);
    RUN(compensate_gets_exactly_the_in_flight_requests);
    RUN(receive_semantics_timeouts_buffers_and_fail);
    RUN(the_timeout_is_enforced_and_releases_receivers);
    return 0;
}
