/* Crash callbacks as registrations: transom_conversation_add_crash_callback gives an id,
 * transom_conversation_remove_crash_callback takes it. Exactly once per crash, replay of past
 * crashes to a callback added later, no call once remove returned (remove waits for a call in
 * flight on another thread; from inside the callback it returns at once and the drop follows the
 * call), NOT_FOUND for unknown ids. And what is not a crash: a participant stopped with
 * TRANSOM_EXIT_SHUTDOWN.
 *
 * Participants are mailboxes owned by the test thread, so every crash is injected exactly when
 * the test says. No sleeps: waits are latches with deadlines or transom calls with timeouts. */
#include "actor_support.h"

#define WAIT_S 30

/* ---- a crash recorder ---- */
typedef struct {
    latch fired, dropped;
    atomic_int calls, drops;
    transom_crash_info info;
    pthread_t thread;
    /* remove-from-inside */
    transom_conversation *conv;
    uint64_t id;
    atomic_int remove_status;
    atomic_int drops_during_remove;
    /* blocking calls */
    int block;
    latch entered, release;
} rec;

static void rec_init(rec *r) {
    memset(r, 0, sizeof *r);
    latch_init(&r->fired);
    latch_init(&r->dropped);
    latch_init(&r->entered);
    latch_init(&r->release);
    atomic_store(&r->remove_status, 12345);
}

static void rec_call(void *ctx, const transom_crash_info *info) {
    rec *r = ctx;
    r->info = *info;
    r->thread = pthread_self();
    atomic_fetch_add(&r->calls, 1);
    if (r->block) {
        latch_signal(&r->entered);
        CHECK(latch_wait(&r->release, 1, WAIT_S));
    }
    latch_signal(&r->fired);
}

static void rec_drop(void *ctx) {
    rec *r = ctx;
    atomic_fetch_add(&r->drops, 1);
    latch_signal(&r->dropped);
}

/* Removes itself from inside its own call. */
static void rec_call_remove_self(void *ctx, const transom_crash_info *info) {
    rec *r = ctx;
    atomic_store(&r->remove_status, transom_conversation_remove_crash_callback(r->conv, r->id));
    /* The drop waits for this call to return. */
    atomic_store(&r->drops_during_remove, atomic_load(&r->drops));
    rec_call(ctx, info);
}

static transom_crash_callback cb_of(rec *r) {
    transom_crash_callback cb = {r, rec_call, rec_drop};
    return cb;
}

static uint64_t add(transom_conversation *c, transom_crash_callback cb) {
    uint64_t id = 0;
    CHECK_OK(transom_conversation_add_crash_callback(c, cb, &id));
    CHECK(id != 0);
    return id;
}

/* ---- a conversation over `n` mailbox participants (n <= 3) ---- */
typedef struct {
    transom_runtime *rt;
    transom_mailbox *mb[3];
    transom_pid pid[3];
    size_t n;
    transom_conversation *c;
} world;

static void world_open(world *w, size_t n, transom_on_crash policy) {
    memset(w, 0, sizeof *w);
    CHECK_OK(transom_runtime_new(2, &w->rt));
    w->n = n;
    transom_participant ps[3];
    memset(ps, 0, sizeof ps);
    for (size_t i = 0; i < n; i++) {
        CHECK_OK(transom_mailbox_open(w->rt, NULL, &w->mb[i], &w->pid[i]));
        ps[i].pid = w->pid[i];
    }
    transom_conversation_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.participants = ps;
    cfg.participant_count = n;
    cfg.on_crash = policy;
    CHECK_OK(transom_conversation_open(w->rt, &cfg, &w->c));
}

static void world_crash(world *w, size_t i, int32_t code) {
    transom_exit_reason err = reason_of(TRANSOM_EXIT_ERROR, code, "injected crash");
    CHECK_OK(transom_mailbox_exit(w->mb[i], &err));
}

static void world_free(world *w) {
    transom_conversation_free(w->c);
    for (size_t i = 0; i < w->n; i++) transom_mailbox_free(w->mb[i]);
    transom_runtime_free(w->rt);
}

static void last_error_contains(const char *what) {
    char detail[256];
    size_t len = 0;
    CHECK_OK(transom_last_error(detail, sizeof detail, &len));
    if (strstr(detail, what) == NULL) fprintf(stderr, "last error: %s\n", detail);
    CHECK(strstr(detail, what) != NULL);
}

static void a_callback_added_after_a_crash_gets_it_once_and_a_removed_one_no_more(void) {
    world w;
    world_open(&w, 3, TRANSOM_ON_CRASH_ROUTE_TO_NEXT);
    static rec early, late;
    rec_init(&early);
    rec_init(&late);
    uint64_t early_id = add(w.c, cb_of(&early));
    world_crash(&w, 0, 11);
    CHECK(latch_wait(&early.fired, 1, WAIT_S));
    CHECK(early.info.participant == w.pid[0] && early.info.reason.code == 11);
    CHECK(!pthread_equal(early.thread, pthread_self())); /* on the conversation's worker */

    /* Added after the crash: replayed at once, on this thread, exactly once. */
    uint64_t late_id = add(w.c, cb_of(&late));
    CHECK(late_id != early_id);
    CHECK(atomic_load(&late.calls) == 1 && late.info.participant == w.pid[0]);
    CHECK(pthread_equal(late.thread, pthread_self()));

    /* Removed: dropped by the time remove returns; its id is gone. */
    CHECK_OK(transom_conversation_remove_crash_callback(w.c, early_id));
    CHECK(atomic_load(&early.drops) == 1);
    CHECK_STATUS(transom_conversation_remove_crash_callback(w.c, early_id), TRANSOM_ERR_NOT_FOUND);
    char want[64];
    snprintf(want, sizeof want, "no crash callback with id %llu", (unsigned long long)early_id);
    last_error_contains(want);
    CHECK_STATUS(transom_conversation_remove_crash_callback(w.c, 0), TRANSOM_ERR_NOT_FOUND);
    CHECK_STATUS(transom_conversation_remove_crash_callback(w.c, late_id + 1000), TRANSOM_ERR_NOT_FOUND);

    /* The next crash reaches only the callback still added, once. */
    world_crash(&w, 1, 12);
    CHECK(latch_wait(&late.fired, 2, WAIT_S));
    CHECK(late.info.participant == w.pid[1] && late.info.reason.code == 12);
    transom_conversation_snapshot st;
    CHECK_OK(transom_conversation_state(w.c, &st));
    CHECK(st.crashed == 2);
    world_free(&w); /* the runtime's workers are joined: any extra call would have happened */
    CHECK(atomic_load(&early.calls) == 1 && atomic_load(&early.drops) == 1);
    CHECK(atomic_load(&late.calls) == 2 && atomic_load(&late.drops) == 1);
}

typedef struct {
    transom_conversation *c;
    uint64_t id;
    rec *r;
    atomic_int returned;
    int drops_at_return;
    transom_status status;
    latch started, done;
} remover;

static void *remove_thread(void *arg) {
    remover *m = arg;
    latch_signal(&m->started);
    m->status = transom_conversation_remove_crash_callback(m->c, m->id);
    m->drops_at_return = atomic_load(&m->r->drops);
    atomic_store(&m->returned, 1);
    latch_signal(&m->done);
    return NULL;
}

static void remove_waits_for_a_call_in_flight_on_another_thread(void) {
    world w;
    world_open(&w, 2, TRANSOM_ON_CRASH_ROUTE_TO_NEXT);
    static rec r;
    rec_init(&r);
    r.block = 1;
    uint64_t id = add(w.c, cb_of(&r));
    world_crash(&w, 0, 21);
    CHECK(latch_wait(&r.entered, 1, WAIT_S)); /* the call is in flight on a worker */

    static remover m;
    memset(&m, 0, sizeof m);
    m.c = w.c;
    m.id = id;
    m.r = &r;
    latch_init(&m.started);
    latch_init(&m.done);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, remove_thread, &m) == 0);
    CHECK(latch_wait(&m.started, 1, WAIT_S));
    /* remove cannot return while the call runs (a bounded wait that must time out). */
    CHECK(!latch_wait(&m.done, 1, 1));
    CHECK(atomic_load(&m.returned) == 0 && atomic_load(&r.drops) == 0);
    latch_signal(&r.release);
    CHECK(latch_wait(&m.done, 1, WAIT_S));
    pthread_join(t, NULL);
    CHECK_STATUS(m.status, TRANSOM_OK);
    CHECK(m.drops_at_return == 1); /* dropped after the call, before remove returned */

    world_crash(&w, 1, 22);
    transom_reply reply;
    size_t len = 0;
    CHECK_STATUS(transom_conversation_receive(w.c, 10 * SECOND_NS, &reply, NULL, 0, &len),
                 TRANSOM_ERR_PARTICIPANT_CRASHED); /* the second crash was handled... */
    world_free(&w);
    CHECK(atomic_load(&r.calls) == 1 && atomic_load(&r.drops) == 1); /* ...without a call */
}

static void remove_from_inside_the_callback_returns_at_once_and_the_drop_follows_the_call(void) {
    world w;
    world_open(&w, 2, TRANSOM_ON_CRASH_ROUTE_TO_NEXT);
    static rec self, witness;
    rec_init(&self);
    rec_init(&witness);
    transom_crash_callback cb = {&self, rec_call_remove_self, rec_drop};
    self.conv = w.c;
    self.id = add(w.c, cb); /* no crash yet: nothing runs before the id is known */
    add(w.c, cb_of(&witness));
    world_crash(&w, 0, 31);
    CHECK(latch_wait(&self.fired, 1, WAIT_S));
    CHECK(latch_wait(&self.dropped, 1, WAIT_S));
    CHECK_STATUS(atomic_load(&self.remove_status), TRANSOM_OK);
    CHECK(atomic_load(&self.drops_during_remove) == 0);
    CHECK_STATUS(transom_conversation_remove_crash_callback(w.c, self.id), TRANSOM_ERR_NOT_FOUND);
    world_crash(&w, 1, 32);
    CHECK(latch_wait(&witness.fired, 2, WAIT_S)); /* both crashes handled */
    world_free(&w);
    CHECK(atomic_load(&self.calls) == 1 && atomic_load(&self.drops) == 1);
    CHECK(atomic_load(&witness.calls) == 2 && atomic_load(&witness.drops) == 1);
}

static void each_crash_reaches_each_callback_exactly_once(void) {
    enum { CALLBACKS = 8 };
    world w;
    world_open(&w, 3, TRANSOM_ON_CRASH_ROUTE_TO_NEXT);
    static rec r[CALLBACKS];
    for (int i = 0; i < CALLBACKS; i++) rec_init(&r[i]);
    /* Half added before the first crash, half between the crashes. */
    for (int i = 0; i < CALLBACKS / 2; i++) add(w.c, cb_of(&r[i]));
    world_crash(&w, 0, 41);
    for (int i = CALLBACKS / 2; i < CALLBACKS; i++) add(w.c, cb_of(&r[i]));
    world_crash(&w, 1, 42);
    world_crash(&w, 2, 43);
    for (int i = 0; i < CALLBACKS; i++) CHECK(latch_wait(&r[i].fired, 3, WAIT_S));
    world_free(&w);
    for (int i = 0; i < CALLBACKS; i++) CHECK(atomic_load(&r[i].calls) == 3 && atomic_load(&r[i].drops) == 1);
}

static void a_participant_stopped_with_shutdown_is_not_a_crash(void) {
    world w;
    world_open(&w, 2, TRANSOM_ON_CRASH_FAIL);
    static rec r;
    rec_init(&r);
    add(w.c, cb_of(&r));
    transom_exit_reason shutdown = reason_of(TRANSOM_EXIT_SHUTDOWN, 0, "stopped by its owner");
    CHECK_OK(transom_runtime_exit(w.rt, w.pid[0], &shutdown));
    /* Round-robin: the request goes to the live participant; its reply comes after the exit. */
    uint64_t id = 0;
    CHECK_OK(transom_conversation_send(w.c, 0, (const uint8_t *)"q", 1, &id));
    transom_message m;
    CHECK_OK(transom_mailbox_receive(w.mb[1], 10 * SECOND_NS, &m));
    transom_request req;
    CHECK_OK(transom_conversation_parse_request(&m, &req));
    CHECK(req.request_id == id);
    CHECK_OK(transom_conversation_reply_from_mailbox(w.mb[1], m.from, id, (const uint8_t *)"a", 1));
    transom_reply reply;
    uint8_t buf[4];
    size_t len = 0;
    CHECK_OK(transom_conversation_receive(w.c, 10 * SECOND_NS, &reply, buf, sizeof buf, &len));
    CHECK(reply.request_id == id && reply.from == w.pid[1]);

    transom_participant_state ps[2];
    size_t n = 0;
    CHECK_OK(transom_conversation_participants(w.c, ps, 2, &n));
    CHECK(n == 2 && ps[0].health == TRANSOM_HEALTH_EXITED && ps[0].exited_at_ns > 0);
    CHECK(ps[0].exit_reason.kind == TRANSOM_EXIT_SHUTDOWN);
    CHECK(ps[1].health == TRANSOM_HEALTH_ALIVE);
    transom_conversation_snapshot st;
    CHECK_OK(transom_conversation_state(w.c, &st));
    CHECK(st.phase == TRANSOM_PHASE_ACTIVE && st.crashed == 0);
    bool crashed = true;
    CHECK_OK(transom_conversation_has_crashed(w.c, &crashed));
    CHECK(!crashed);
    transom_crash_info info;
    CHECK_STATUS(transom_conversation_await_crash(w.c, 0, &info), TRANSOM_TIMEOUT);
    CHECK(atomic_load(&r.calls) == 0);

    /* The callback is live: a real crash reaches it and fails the conversation. */
    world_crash(&w, 1, 51);
    CHECK(latch_wait(&r.fired, 1, WAIT_S));
    CHECK(r.info.participant == w.pid[1] && r.info.reason.kind == TRANSOM_EXIT_ERROR);
    CHECK_OK(transom_conversation_state(w.c, &st));
    CHECK(st.phase == TRANSOM_PHASE_FAILED && st.crashed == 1);
    world_free(&w);
    CHECK(atomic_load(&r.calls) == 1 && atomic_load(&r.drops) == 1);
}

int main(void) {
    RUN(a_callback_added_after_a_crash_gets_it_once_and_a_removed_one_no_more);
    RUN(remove_waits_for_a_call_in_flight_on_another_thread);
    RUN(remove_from_inside_the_callback_returns_at_once_and_the_drop_follows_the_call);
    RUN(each_crash_reaches_each_callback_exactly_once);
    RUN(a_participant_stopped_with_shutdown_is_not_a_crash);
    return 0;
}
