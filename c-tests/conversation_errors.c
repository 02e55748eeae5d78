/* Bad input to the actor and conversation API: every case gets its exact status code, and every
 * closure handed in is owned by transom even when the call fails (its drop runs exactly once,
 * its call never). Plus the documented edge behaviours: monitors of unknown pids fire with
 * NOPROC, links to dead pids signal NOPROC, a dead participant fails the open and leaves nothing
 * behind, close is idempotent in every phase, a reply that does not fit the buffer is kept for
 * the next receive, and transom_runtime_free / transom_runtime_remove_monitor called from inside
 * transom callbacks neither deadlock nor strand anything.
 *
 * No sleeps: every wait is a blocking transom call with a timeout or a condition variable
 * signalled by a callback (with a deadline, so that a missing event fails instead of hanging).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "check.h"

#define SECOND 1000000000ull
#define WAIT_S 30 /* deadline of any event-driven wait */
#define UNKNOWN_PID ((transom_pid)0x7fffffffffffull) /* never spawned */

/* ---- a counter that can be waited for ---- */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int calls;
    atomic_int drops;
    /* What the last call saw. */
    transom_pid pid;
    transom_exit_reason reason;
    transom_crash_info info;
    /* For callbacks that call back into transom. */
    transom_runtime *rt;
    uint64_t mref;
    atomic_int status;
    atomic_int freed;           /* transom_runtime_free returned inside the callback */
    atomic_int dropped_after_free;
} probe;

static void probe_init(probe *p) {
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_store(&p->status, 12345);
}

static void probe_destroy(probe *p) {
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

/* Adds one to `*counter` and wakes the waiters, both under the mutex: probe_wait sees the new
 * count only after this unlocked, so its caller may then destroy the probe or let it go out of
 * scope (counting before the lock let probe_wait return while the callback's thread had still to
 * lock and broadcast on a probe that was gone). */
static void probe_count(probe *p, atomic_int *counter) {
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(counter, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Waits until calls >= calls_min and drops >= drops_min (or the deadline). */
static void probe_wait(probe *p, int calls_min, int drops_min) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_S;
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    while ((atomic_load(&p->calls) < calls_min || atomic_load(&p->drops) < drops_min) &&
           rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
    pthread_mutex_unlock(&p->mu);
    CHECK(atomic_load(&p->calls) >= calls_min);
    CHECK(atomic_load(&p->drops) >= drops_min);
}

static void probe_drop(void *ctx) {
    probe *p = ctx;
    if (atomic_load(&p->freed)) atomic_fetch_add(&p->dropped_after_free, 1);
    probe_count(p, &p->drops);
}

/* ---- closures ---- */
static int32_t sink_handle(void *ctx, transom_pid self, const transom_message *m) {
    (void)self;
    (void)m;
    probe *p = ctx;
    probe_count(p, &p->calls);
    return 0;
}

/* A participant: "crash" ends it with status 5, "big" answers 10 bytes, "empty" answers 0
 * bytes, anything else is echoed. */
static transom_runtime *g_rt;
static int32_t participant_handle(void *ctx, transom_pid self, const transom_message *m) {
    probe *p = ctx;
    atomic_fetch_add(&p->calls, 1);
    transom_request req;
    if (transom_conversation_parse_request(m, &req) != TRANSOM_OK) return 0;
    if (req.payload_len == 5 && memcmp(req.payload, "crash", 5) == 0) return 5;
    const uint8_t *out = req.payload;
    size_t len = req.payload_len;
    if (len == 3 && memcmp(out, "big", 3) == 0) {
        out = (const uint8_t *)"0123456789";
        len = 10;
    } else if (len == 5 && memcmp(out, "empty", 5) == 0) {
        len = 0;
    }
    atomic_store(&p->status, transom_conversation_reply(g_rt, self, m->from, req.request_id, out, len));
    return 0;
}

static void monitor_call(void *ctx, transom_pid pid, const transom_exit_reason *reason) {
    probe *p = ctx;
    p->pid = pid;
    p->reason = *reason;
    probe_count(p, &p->calls);
}

static void crash_call(void *ctx, const transom_crash_info *info) {
    probe *p = ctx;
    p->info = *info;
    probe_count(p, &p->calls);
}

static int32_t compensate_continue(void *ctx, transom_pid participant, const transom_exit_reason *reason,
                                   const transom_in_flight *requests, size_t count) {
    (void)participant;
    (void)reason;
    (void)requests;
    (void)count;
    probe *p = ctx;
    atomic_fetch_add(&p->calls, 1);
    return TRANSOM_COMPENSATE_CONTINUE;
}

static transom_behaviour_callback sink(probe *p) {
    transom_behaviour_callback b = {p, sink_handle, probe_drop};
    return b;
}

static transom_behaviour_callback participant(probe *p) {
    transom_behaviour_callback b = {p, participant_handle, probe_drop};
    return b;
}

static transom_monitor_callback monitor_cb(probe *p) {
    transom_monitor_callback cb = {p, monitor_call, probe_drop};
    return cb;
}

static transom_crash_callback crash_cb(probe *p) {
    transom_crash_callback cb = {p, crash_call, probe_drop};
    return cb;
}

/* ---- helpers ---- */
static transom_runtime *new_runtime(void) {
    transom_runtime *rt = NULL;
    CHECK_OK(transom_runtime_new(2, &rt));
    CHECK(rt != NULL);
    g_rt = rt;
    return rt;
}

static transom_mailbox *open_mailbox(transom_runtime *rt, int trap, transom_pid *pid) {
    transom_spawn_options o;
    memset(&o, 0, sizeof o);
    o.trap_exit = (uint32_t)trap;
    transom_mailbox *mb = NULL;
    CHECK_OK(transom_mailbox_open(rt, &o, &mb, pid));
    CHECK(mb != NULL && *pid != 0);
    return mb;
}

/* A pid that was alive and is now dead (a mailbox that exited). */
static transom_pid dead_pid(transom_runtime *rt) {
    transom_pid pid = 0;
    transom_mailbox *mb = open_mailbox(rt, 0, &pid);
    transom_exit_reason normal = {TRANSOM_EXIT_NORMAL, 0, ""};
    CHECK_OK(transom_mailbox_exit(mb, &normal));
    transom_mailbox_free(mb);
    return pid;
}

/* Alive: nothing queued and not CLOSED. */
static void check_mailbox_alive_and_empty(transom_mailbox *mb) {
    transom_message m;
    CHECK_STATUS(transom_mailbox_receive(mb, 0, &m), TRANSOM_TIMEOUT);
}

static transom_conversation_config config_of(transom_participant *ps, size_t n, uint32_t on_crash) {
    transom_conversation_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.participants = ps;
    cfg.participant_count = n;
    cfg.on_crash = on_crash;
    cfg.mode = TRANSOM_MODE_EPHEMERAL;
    return cfg;
}

static transom_conversation *open_with(transom_runtime *rt, probe *p, size_t n, uint32_t on_crash) {
    transom_participant ps[4];
    CHECK(n <= 4);
    for (size_t i = 0; i < n; i++) {
        ps[i].pid = 0;
        ps[i].behaviour = participant(p);
    }
    transom_conversation_config cfg = config_of(ps, n, on_crash);
    transom_conversation *c = NULL;
    CHECK_OK(transom_conversation_open(rt, &cfg, &c));
    CHECK(c != NULL);
    return c;
}

static uint64_t add_crash_callback(transom_conversation *c, transom_crash_callback cb) {
    uint64_t id = 0;
    CHECK_OK(transom_conversation_add_crash_callback(c, cb, &id));
    CHECK(id != 0);
    return id;
}

/* The first `n` participants (n <= 4) of `c`, in open order. */
static void participants_of(const transom_conversation *c, transom_participant_state *ps, size_t n) {
    size_t count = 0;
    CHECK_OK(transom_conversation_participants(c, ps, n, &count));
    CHECK(count == n);
}

static int32_t phase_of(const transom_conversation *c) {
    transom_conversation_snapshot st;
    memset(&st, 0, sizeof st);
    CHECK_OK(transom_conversation_state(c, &st));
    return st.phase;
}

#define SENTINEL_PTR ((void *)0x5a5a)

/* ---- tests ---- */

static void null_arguments_to_runtime_and_mailbox_functions(void) {
    transom_runtime *rt = NULL;
    CHECK_STATUS(transom_runtime_new(1, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    rt = new_runtime();
    transom_runtime_free(NULL); /* accepted */

    probe b, m;
    probe_init(&b);
    probe_init(&m);
    transom_pid pid = 0, self = 0;
    uint64_t mref = 0;
    transom_spawn_options o;
    memset(&o, 0, sizeof o);
    o.monitor = monitor_cb(&m);

    /* spawn: the behaviour and the options' monitor are owned (dropped) also on failure. */
    CHECK_STATUS(transom_runtime_spawn(NULL, sink(&b), &o, &pid, &mref), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&b.drops) == 1 && atomic_load(&m.drops) == 1);
    CHECK_STATUS(transom_runtime_spawn(rt, sink(&b), &o, NULL, &mref), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&b.drops) == 2 && atomic_load(&m.drops) == 2);
    transom_behaviour_callback no_handle = {&b, NULL, probe_drop};
    CHECK_STATUS(transom_runtime_spawn(rt, no_handle, &o, &pid, &mref), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&b.drops) == 3 && atomic_load(&m.drops) == 3);
    CHECK(pid == 0 && mref == 0);
    /* A monitor with a NULL call is "no monitor": its drop runs at once, the spawn succeeds. */
    o.monitor.call = NULL;
    CHECK_OK(transom_runtime_spawn(rt, sink(&b), &o, &pid, NULL));
    CHECK(pid != 0 && atomic_load(&m.drops) == 4 && atomic_load(&b.drops) == 3);
    CHECK(atomic_load(&m.calls) == 0);

    /* send / send_from */
    const uint8_t data[1] = {'x'};
    CHECK_STATUS(transom_runtime_send(NULL, pid, data, 1), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_runtime_send(rt, pid, NULL, 1), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_runtime_send_from(NULL, 0, pid, data, 1), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_runtime_send_from(rt, 0, pid, NULL, 1), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_OK(transom_runtime_send(rt, pid, NULL, 0)); /* NULL is allowed when len is 0 */
    probe_wait(&b, 1, 3);
    CHECK(atomic_load(&b.calls) == 1); /* only the valid send arrived */

    /* exit / link / unlink / remove_monitor */
    transom_exit_reason err = {TRANSOM_EXIT_ERROR, 1, "boom"};
    CHECK_STATUS(transom_runtime_exit(NULL, pid, &err), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_runtime_exit(rt, pid, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_runtime_link(NULL, pid, pid), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_runtime_unlink(NULL, pid, pid), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_runtime_remove_monitor(NULL, 1), TRANSOM_ERR_NULL_ARGUMENT);

    /* monitor: the callback is owned also on failure, and never called. */
    probe m2;
    probe_init(&m2);
    CHECK_STATUS(transom_runtime_add_monitor(NULL, pid, monitor_cb(&m2), &mref), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&m2.drops) == 1);
    CHECK_STATUS(transom_runtime_add_monitor(rt, pid, monitor_cb(&m2), NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&m2.drops) == 2);
    transom_monitor_callback no_call = {&m2, NULL, probe_drop};
    CHECK_STATUS(transom_runtime_add_monitor(rt, pid, no_call, &mref), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&m2.drops) == 3 && atomic_load(&m2.calls) == 0);

    /* mailbox_open: the options' monitor is owned also on failure. */
    transom_mailbox *mb = SENTINEL_PTR;
    probe m3;
    probe_init(&m3);
    o.monitor = monitor_cb(&m3);
    CHECK_STATUS(transom_mailbox_open(NULL, &o, &mb, &self), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&m3.drops) == 1);
    CHECK_STATUS(transom_mailbox_open(rt, &o, NULL, &self), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&m3.drops) == 2 && atomic_load(&m3.calls) == 0);
    CHECK(mb == SENTINEL_PTR);
    mb = NULL;
    CHECK_OK(transom_mailbox_open(rt, NULL, &mb, NULL)); /* out_pid may be NULL */
    CHECK(mb != NULL);
    CHECK_OK(transom_mailbox_pid(mb, &self));
    CHECK(self != 0);

    transom_message msg;
    CHECK_STATUS(transom_mailbox_receive(NULL, 0, &msg), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_mailbox_receive(mb, 0, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_mailbox_send(NULL, pid, data, 1), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_mailbox_send(mb, pid, NULL, 1), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_mailbox_pid(NULL, &self), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_mailbox_pid(mb, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_mailbox_exit(NULL, &err), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_mailbox_exit(mb, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    transom_mailbox_free(NULL); /* accepted */

    /* request_parse */
    transom_request req;
    transom_message user;
    memset(&user, 0, sizeof user);
    user.kind = TRANSOM_MESSAGE_USER;
    user.bytes = data;
    user.len = 1;
    CHECK_STATUS(transom_conversation_parse_request(NULL, &req), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_parse_request(&user, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    user.bytes = NULL;
    user.len = 80;
    CHECK_STATUS(transom_conversation_parse_request(&user, &req), TRANSOM_ERR_NULL_ARGUMENT);
    /* Not a request: INVALID_ARGUMENT (no NULL involved). */
    user.bytes = (const uint8_t *)"hello, this is not a conversation request at all.........................";
    user.len = strlen((const char *)user.bytes);
    CHECK_STATUS(transom_conversation_parse_request(&user, &req), TRANSOM_ERR_INVALID_ARGUMENT);
    user.len = 0;
    user.bytes = NULL;
    CHECK_STATUS(transom_conversation_parse_request(&user, &req), TRANSOM_ERR_INVALID_ARGUMENT);
    transom_exit_reason normal = {TRANSOM_EXIT_NORMAL, 0, ""};
    transom_message exitmsg = {TRANSOM_MESSAGE_EXIT, pid, NULL, 0, &normal};
    CHECK_STATUS(transom_conversation_parse_request(&exitmsg, &req), TRANSOM_ERR_INVALID_ARGUMENT);

    /* replies */
    CHECK_STATUS(transom_conversation_reply(NULL, pid, self, 1, data, 1), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_reply(rt, pid, self, 1, NULL, 1), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_reply_from_mailbox(NULL, pid, 1, data, 1), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_reply_from_mailbox(mb, pid, 1, NULL, 1), TRANSOM_ERR_NULL_ARGUMENT);

    /* None of it had an effect: the mailbox got nothing and is alive. */
    check_mailbox_alive_and_empty(mb);
    transom_mailbox_free(mb);
    transom_runtime_free(rt);
    CHECK(atomic_load(&b.drops) == 4); /* the spawned sink, at shutdown */
    CHECK(atomic_load(&m.calls) == 0 && atomic_load(&m2.calls) == 0 && atomic_load(&m3.calls) == 0);
    CHECK(atomic_load(&m.drops) == 4 && atomic_load(&m2.drops) == 3 && atomic_load(&m3.drops) == 2);
    probe_destroy(&b);
    probe_destroy(&m);
    probe_destroy(&m2);
    probe_destroy(&m3);
}

static void null_arguments_to_conversation_functions(void) {
    transom_runtime *rt = new_runtime();
    probe p, k;
    probe_init(&p);
    probe_init(&k);
    transom_participant ps[2] = {{0, participant(&p)}, {0, participant(&p)}};
    transom_conversation_config cfg = config_of(ps, 2, TRANSOM_ON_CRASH_FAIL);
    transom_conversation *c = SENTINEL_PTR;

    /* open: every behaviour of the config is owned (dropped) also on failure. */
    CHECK_STATUS(transom_conversation_open(NULL, &cfg, &c), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&p.drops) == 2);
    CHECK_STATUS(transom_conversation_open(rt, NULL, &c), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_open(rt, &cfg, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&p.drops) == 4);
    cfg.participants = NULL; /* with participant_count 2 */
    cfg.on_crash = TRANSOM_ON_CRASH_COMPENSATE;
    cfg.compensate.ctx = &k;
    cfg.compensate.call = compensate_continue;
    cfg.compensate.drop = probe_drop;
    CHECK_STATUS(transom_conversation_open(rt, &cfg, &c), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&k.drops) == 1);
    /* A participant with a NULL handle: both participants' drops run. */
    transom_participant half[2] = {{0, participant(&p)}, {0, {&p, NULL, probe_drop}}};
    cfg = config_of(half, 2, TRANSOM_ON_CRASH_FAIL);
    CHECK_STATUS(transom_conversation_open(rt, &cfg, &c), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&p.drops) == 6 && atomic_load(&p.calls) == 0);
    CHECK(c == SENTINEL_PTR); /* written only on success */

    c = open_with(rt, &p, 2, TRANSOM_ON_CRASH_FAIL);
    uint64_t id = 0;
    const uint8_t data[1] = {'x'};
    CHECK_STATUS(transom_conversation_send(NULL, 0, data, 1, &id), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_send(c, 0, NULL, 1, &id), TRANSOM_ERR_NULL_ARGUMENT);
    transom_reply r;
    size_t len = 0;
    uint8_t buf[16];
    CHECK_STATUS(transom_conversation_receive(NULL, 0, &r, buf, sizeof buf, &len), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_receive(c, 0, NULL, buf, sizeof buf, &len), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_receive(c, 0, &r, NULL, 4, &len), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_complete(NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_receive(c, 0, &r, buf, sizeof buf, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    /* add_crash_callback: owned also on failure. */
    probe cb;
    probe_init(&cb);
    uint64_t cbid = 77;
    CHECK_STATUS(transom_conversation_add_crash_callback(NULL, crash_cb(&cb), &cbid), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&cb.drops) == 1);
    CHECK_STATUS(transom_conversation_add_crash_callback(c, crash_cb(&cb), NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&cb.drops) == 2);
    transom_crash_callback no_call = {&cb, NULL, probe_drop};
    CHECK_STATUS(transom_conversation_add_crash_callback(c, no_call, &cbid), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&cb.drops) == 3 && atomic_load(&cb.calls) == 0 && cbid == 77);
    CHECK_STATUS(transom_conversation_remove_crash_callback(NULL, 1), TRANSOM_ERR_NULL_ARGUMENT);
    transom_crash_info info;
    CHECK_STATUS(transom_conversation_await_crash(NULL, 0, &info), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_await_crash(c, 0, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    bool crashed = true;
    CHECK_STATUS(transom_conversation_has_crashed(NULL, &crashed), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_has_crashed(c, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    transom_conversation_snapshot st;
    memset(&st, 0, sizeof st);
    CHECK_STATUS(transom_conversation_state(NULL, &st), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_state(c, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    transom_participant_state pst[2];
    size_t count = 99;
    CHECK_STATUS(transom_conversation_participants(NULL, pst, 2, &count), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_participants(c, NULL, 2, &count), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_participants(c, pst, 2, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_participants(c, pst, 0, &count), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(count == 99);
    transom_pid cpid = 0;
    CHECK_STATUS(transom_conversation_pid(NULL, &cpid), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_pid(c, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_close(NULL), TRANSOM_ERR_NULL_ARGUMENT);
    transom_conversation_free(NULL); /* accepted */

    /* None of it changed anything: still CREATED, nothing sent. A capacity of 1 for two
     * participants is BUFFER_TOO_SMALL: nothing written but the count needed. */
    memset(pst, 0xee, sizeof pst);
    memset(&st, 0, sizeof st);
    CHECK_OK(transom_conversation_state(c, &st));
    CHECK(st.phase == TRANSOM_PHASE_CREATED && st.sent == 0 && st.participant_count == 2);
    CHECK_STATUS(transom_conversation_participants(c, pst, 1, &count), TRANSOM_ERR_BUFFER_TOO_SMALL);
    CHECK(count == 2 && pst[0].pid == 0xeeeeeeeeeeeeeeeeull); /* untouched */
    int64_t needed = 0;
    CHECK_OK(transom_last_error_value(&needed));
    CHECK(needed == 2);
    count = 0;
    CHECK_OK(transom_conversation_participants(c, pst, 2, &count));
    CHECK(count == 2);
    CHECK(pst[0].spawned && pst[0].health == TRANSOM_HEALTH_ALIVE && pst[0].pid != 0);
    CHECK(pst[1].spawned && pst[1].pid != pst[0].pid);
    CHECK_OK(transom_conversation_has_crashed(c, &crashed));
    CHECK(!crashed);
    CHECK_OK(transom_conversation_pid(c, &cpid));
    CHECK(cpid == st.pid && cpid != 0);
    /* NULL is allowed for an empty payload, an unwanted request id and a 0-byte buffer. */
    CHECK_OK(transom_conversation_send(c, 0, NULL, 0, NULL));
    len = 99;
    CHECK_OK(transom_conversation_receive(c, 10 * SECOND, &r, NULL, 0, &len));
    CHECK(len == 0 && r.request_id != 0);

    transom_conversation_free(c);
    transom_runtime_free(rt);
    CHECK(atomic_load(&p.drops) == 8 && atomic_load(&p.calls) == 1);
    CHECK(atomic_load(&k.drops) == 1 && atomic_load(&k.calls) == 0);
    probe_destroy(&p);
    probe_destroy(&k);
    probe_destroy(&cb);
}

static void pid_zero_and_unknown_pids_are_noproc(void) {
    transom_runtime *rt = new_runtime();
    transom_pid self = 0;
    transom_mailbox *mb = open_mailbox(rt, 1, &self);
    const uint8_t data[1] = {'x'};
    transom_exit_reason err = {TRANSOM_EXIT_ERROR, 1, "boom"};
    transom_pid dead = dead_pid(rt);

    CHECK_STATUS(transom_runtime_send(rt, 0, data, 1), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_send(rt, UNKNOWN_PID, data, 1), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_send(rt, dead, data, 1), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_send_from(rt, self, 0, data, 1), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_send_from(rt, self, UNKNOWN_PID, data, 1), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_mailbox_send(mb, 0, data, 1), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_mailbox_send(mb, UNKNOWN_PID, data, 1), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_mailbox_send(mb, dead, data, 1), TRANSOM_ERR_NOPROC);

    CHECK_STATUS(transom_runtime_exit(rt, 0, &err), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_exit(rt, UNKNOWN_PID, &err), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_exit(rt, dead, &err), TRANSOM_ERR_NOPROC);

    CHECK_STATUS(transom_runtime_link(rt, 0, self), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_link(rt, self, 0), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_unlink(rt, 0, self), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_unlink(rt, self, 0), TRANSOM_ERR_NOPROC);
    CHECK_OK(transom_runtime_unlink(rt, self, UNKNOWN_PID)); /* no link: no effect */

    probe m;
    probe_init(&m);
    uint64_t mref = 77;
    CHECK_STATUS(transom_runtime_add_monitor(rt, 0, monitor_cb(&m), &mref), TRANSOM_ERR_NOPROC);
    CHECK(atomic_load(&m.drops) == 1 && atomic_load(&m.calls) == 0 && mref == 77);

    /* A reply to pid 0, an unknown pid or a live process that is no conversation: NOPROC (no
     * such conversation), and nothing is sent. */
    CHECK_STATUS(transom_conversation_reply(rt, self, 0, 1, data, 1), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_conversation_reply(rt, self, UNKNOWN_PID, 1, data, 1), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_conversation_reply(rt, 0, self, 1, data, 1), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_conversation_reply_from_mailbox(mb, 0, 1, data, 1), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_conversation_reply_from_mailbox(mb, UNKNOWN_PID, 1, data, 1), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_conversation_reply_from_mailbox(mb, self, 1, data, 1), TRANSOM_ERR_NOPROC);

    /* A conversation refuses a pid that is not one of its participants, live or not. */
    probe p;
    probe_init(&p);
    transom_conversation *c = open_with(rt, &p, 1, TRANSOM_ON_CRASH_FAIL);
    CHECK_STATUS(transom_conversation_send(c, self, data, 1, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_conversation_send(c, UNKNOWN_PID, data, 1, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(phase_of(c) == TRANSOM_PHASE_CREATED);
    transom_conversation_free(c);

    /* The trapping mailbox saw no signal from any of this. */
    check_mailbox_alive_and_empty(mb);
    transom_mailbox_free(mb);
    transom_runtime_free(rt);
    CHECK(atomic_load(&m.calls) == 0 && atomic_load(&p.drops) == 1);
    probe_destroy(&m);
    probe_destroy(&p);
}

static void monitor_of_an_unknown_or_dead_pid_fires_at_once_with_noproc(void) {
    transom_runtime *rt = new_runtime();
    transom_pid targets[2] = {UNKNOWN_PID, dead_pid(rt)};
    for (int i = 0; i < 2; i++) {
        probe m;
        probe_init(&m);
        uint64_t mref = 0;
        CHECK_OK(transom_runtime_add_monitor(rt, targets[i], monitor_cb(&m), &mref));
        CHECK(mref != 0);
        probe_wait(&m, 1, 1);
        CHECK(atomic_load(&m.calls) == 1 && atomic_load(&m.drops) == 1);
        CHECK(m.pid == targets[i] && m.reason.kind == TRANSOM_EXIT_NOPROC);
        CHECK_STATUS(transom_runtime_remove_monitor(rt, mref), TRANSOM_ERR_NOT_FOUND);
        probe_destroy(&m);
    }
    transom_runtime_free(rt);
}

static void links_to_dead_pids_signal_noproc(void) {
    transom_runtime *rt = new_runtime();
    transom_pid dead = dead_pid(rt);
    transom_message msg;

    /* A trapping process gets the NOPROC exit signal as a message; the link call says NOPROC. */
    transom_pid a = 0;
    transom_mailbox *trapping = open_mailbox(rt, 1, &a);
    CHECK_STATUS(transom_runtime_link(rt, a, dead), TRANSOM_ERR_NOPROC);
    CHECK_OK(transom_mailbox_receive(trapping, 10 * SECOND, &msg));
    CHECK(msg.kind == TRANSOM_MESSAGE_EXIT && msg.from == dead && msg.reason != NULL);
    CHECK(msg.reason->kind == TRANSOM_EXIT_NOPROC);
    CHECK_STATUS(transom_runtime_link(rt, a, UNKNOWN_PID), TRANSOM_ERR_NOPROC);
    CHECK_OK(transom_mailbox_receive(trapping, 10 * SECOND, &msg));
    CHECK(msg.kind == TRANSOM_MESSAGE_EXIT && msg.from == UNKNOWN_PID);
    CHECK(msg.reason->kind == TRANSOM_EXIT_NOPROC);
    /* Linking from the dead side: NOPROC and nothing happens to the live one. */
    CHECK_STATUS(transom_runtime_link(rt, dead, a), TRANSOM_ERR_NOPROC);
    check_mailbox_alive_and_empty(trapping);

    /* A non-trapping process is killed by it. */
    transom_pid b = 0;
    transom_mailbox *plain = open_mailbox(rt, 0, &b);
    probe m;
    probe_init(&m);
    uint64_t mref = 0;
    CHECK_OK(transom_runtime_add_monitor(rt, b, monitor_cb(&m), &mref));
    CHECK_STATUS(transom_runtime_link(rt, b, dead), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_mailbox_receive(plain, 10 * SECOND, &msg), TRANSOM_ERR_CLOSED);
    probe_wait(&m, 1, 1);
    CHECK(m.pid == b && m.reason.kind == TRANSOM_EXIT_NOPROC);

    /* Spawn options linking to a dead pid: the new process gets the signal at once. */
    transom_spawn_options o;
    memset(&o, 0, sizeof o);
    o.link = dead;
    o.trap_exit = 1;
    transom_mailbox *linked = NULL;
    CHECK_OK(transom_mailbox_open(rt, &o, &linked, NULL));
    CHECK_OK(transom_mailbox_receive(linked, 10 * SECOND, &msg));
    CHECK(msg.kind == TRANSOM_MESSAGE_EXIT && msg.from == dead && msg.reason->kind == TRANSOM_EXIT_NOPROC);

    transom_mailbox_free(linked);
    transom_mailbox_free(plain);
    transom_mailbox_free(trapping);
    transom_runtime_free(rt);
    probe_destroy(&m);
}

static void invalid_exit_reasons_are_refused(void) {
    transom_runtime *rt = new_runtime();
    transom_pid self = 0, other = 0;
    transom_mailbox *mb = open_mailbox(rt, 0, &self);
    transom_mailbox *target = open_mailbox(rt, 0, &other);
    transom_exit_reason bad[5];
    memset(bad, 0, sizeof bad);
    bad[0].kind = 99;
    bad[1].kind = -1;
    bad[2].kind = TRANSOM_EXIT_DEADLINE_EXCEEDED + 1;
    bad[3].kind = TRANSOM_EXIT_ERROR;
    memset(bad[3].message, 'a', sizeof bad[3].message); /* no NUL */
    bad[4].kind = TRANSOM_EXIT_ERROR;
    strcpy(bad[4].message, "bad \xff\xfe utf-8"); /* not UTF-8 */
    for (int i = 0; i < 5; i++) {
        CHECK_STATUS(transom_runtime_exit(rt, other, &bad[i]), TRANSOM_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(transom_mailbox_exit(mb, &bad[i]), TRANSOM_ERR_INVALID_ARGUMENT);
    }
    /* Both still alive. */
    check_mailbox_alive_and_empty(mb);
    check_mailbox_alive_and_empty(target);
    /* 255 bytes + NUL is the longest valid message. */
    transom_exit_reason longest = {TRANSOM_EXIT_ERROR, 3, ""};
    memset(longest.message, 'b', 255);
    CHECK_OK(transom_runtime_exit(rt, other, &longest));
    transom_message msg;
    CHECK_STATUS(transom_mailbox_receive(target, 10 * SECOND, &msg), TRANSOM_ERR_CLOSED);

    /* After a valid exit the mailbox refuses everything with CLOSED. */
    transom_exit_reason normal = {TRANSOM_EXIT_NORMAL, 0, ""};
    CHECK_OK(transom_mailbox_exit(mb, &normal));
    CHECK_STATUS(transom_mailbox_exit(mb, &normal), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_mailbox_receive(mb, 0, &msg), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_mailbox_send(mb, self, (const uint8_t *)"x", 1), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_conversation_reply_from_mailbox(mb, self, 1, (const uint8_t *)"x", 1), TRANSOM_ERR_CLOSED);
    transom_pid again = 0;
    CHECK_OK(transom_mailbox_pid(mb, &again)); /* also after it exited */
    CHECK(again == self);
    transom_mailbox_free(mb);
    transom_mailbox_free(target);
    transom_runtime_free(rt);
}

static void too_many_workers_are_refused(void) {
    transom_runtime *rt = SENTINEL_PTR;
    CHECK_STATUS(transom_runtime_new(5000, &rt), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_runtime_new(1025, &rt), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_runtime_new(SIZE_MAX, &rt), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(rt == SENTINEL_PTR);
}

static void conversation_configs_are_validated_and_their_closures_dropped(void) {
    transom_runtime *rt = new_runtime();
    probe p, k;
    probe_init(&p);
    probe_init(&k);
    transom_conversation *c = SENTINEL_PTR;
    int drops = 0, kdrops = 0;

    /* No participants. */
    transom_conversation_config cfg = config_of(NULL, 0, TRANSOM_ON_CRASH_FAIL);
    CHECK_STATUS(transom_conversation_open(rt, &cfg, &c), TRANSOM_ERR_INVALID_ARGUMENT);
    transom_participant ps[2];
    cfg = config_of(ps, 0, TRANSOM_ON_CRASH_FAIL);
    CHECK_STATUS(transom_conversation_open(rt, &cfg, &c), TRANSOM_ERR_INVALID_ARGUMENT);

#define TWO()                                                                                       \
    do {                                                                                            \
        ps[0].pid = 0;                                                                              \
        ps[0].behaviour = participant(&p);                                                          \
        ps[1].pid = 0;                                                                              \
        ps[1].behaviour = participant(&p);                                                          \
    } while (0)
#define COMPENSATE(cfg)                                                                             \
    do {                                                                                            \
        (cfg).compensate.ctx = &k;                                                                  \
        (cfg).compensate.call = compensate_continue;                                                \
        (cfg).compensate.drop = probe_drop;                                                         \
    } while (0)

    /* Missing or unknown crash policy. */
    TWO();
    cfg = config_of(ps, 2, 0);
    CHECK_STATUS(transom_conversation_open(rt, &cfg, &c), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(atomic_load(&p.drops) == (drops += 2));
    TWO();
    cfg = config_of(ps, 2, TRANSOM_ON_CRASH_COMPENSATE + 1);
    CHECK_STATUS(transom_conversation_open(rt, &cfg, &c), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(atomic_load(&p.drops) == (drops += 2));
    /* COMPENSATE without a callback (a drop alone does not count); the drop still runs. */
    TWO();
    cfg = config_of(ps, 2, TRANSOM_ON_CRASH_COMPENSATE);
    COMPENSATE(cfg);
    cfg.compensate.call = NULL;
    CHECK_STATUS(transom_conversation_open(rt, &cfg, &c), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(atomic_load(&p.drops) == (drops += 2) && atomic_load(&k.drops) == ++kdrops);
    /* A compensate callback with another policy. */
    TWO();
    cfg = config_of(ps, 2, TRANSOM_ON_CRASH_ROUTE_TO_NEXT);
    COMPENSATE(cfg);
    CHECK_STATUS(transom_conversation_open(rt, &cfg, &c), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(atomic_load(&p.drops) == (drops += 2) && atomic_load(&k.drops) == ++kdrops);
    /* DURABLE is not supported yet; an unknown mode is invalid. */
    TWO();
    cfg = config_of(ps, 2, TRANSOM_ON_CRASH_COMPENSATE);
    COMPENSATE(cfg);
    cfg.mode = TRANSOM_MODE_DURABLE;
    CHECK_STATUS(transom_conversation_open(rt, &cfg, &c), TRANSOM_ERR_UNSUPPORTED);
    CHECK(atomic_load(&p.drops) == (drops += 2) && atomic_load(&k.drops) == ++kdrops);
    TWO();
    cfg = config_of(ps, 2, TRANSOM_ON_CRASH_FAIL);
    cfg.mode = 7;
    CHECK_STATUS(transom_conversation_open(rt, &cfg, &c), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(atomic_load(&p.drops) == (drops += 2));
    /* The same external pid twice. */
    transom_pid ext = 0;
    transom_mailbox *mb = open_mailbox(rt, 0, &ext);
    transom_participant twice[3] = {{ext, {NULL, NULL, NULL}}, {0, participant(&p)}, {ext, {NULL, NULL, NULL}}};
    cfg = config_of(twice, 3, TRANSOM_ON_CRASH_FAIL);
    CHECK_STATUS(transom_conversation_open(rt, &cfg, &c), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(atomic_load(&p.drops) == (drops += 1));
    check_mailbox_alive_and_empty(mb); /* not linked, not signalled */

    CHECK(c == SENTINEL_PTR);
    CHECK(atomic_load(&p.calls) == 0 && atomic_load(&k.calls) == 0);
    transom_mailbox_free(mb);
    transom_runtime_free(rt);
    CHECK(atomic_load(&p.drops) == drops && atomic_load(&k.drops) == kdrops);
    probe_destroy(&p);
    probe_destroy(&k);
#undef TWO
#undef COMPENSATE
}

static void a_dead_participant_fails_the_open_and_leaves_nothing_behind(void) {
    transom_runtime *rt = new_runtime();
    probe a, b, k;
    probe_init(&a);
    probe_init(&b);
    probe_init(&k);
    transom_pid live = 0;
    transom_mailbox *mb = open_mailbox(rt, 0, &live); /* not trapping: a stale link would kill it */
    transom_pid dead = dead_pid(rt);
    transom_pid missing[2] = {dead, UNKNOWN_PID};
    for (int i = 0; i < 2; i++) {
        transom_participant ps[4] = {
            {0, participant(&a)}, {live, {NULL, NULL, NULL}}, {missing[i], {NULL, NULL, NULL}}, {0, participant(&b)}};
        transom_conversation_config cfg = config_of(ps, 4, TRANSOM_ON_CRASH_COMPENSATE);
        cfg.compensate.ctx = &k;
        cfg.compensate.call = compensate_continue;
        cfg.compensate.drop = probe_drop;
        transom_conversation *c = SENTINEL_PTR;
        CHECK_STATUS(transom_conversation_open(rt, &cfg, &c), TRANSOM_ERR_NOPROC);
        CHECK(c == SENTINEL_PTR);
        /* The participant spawned before the failure was stopped and dropped, the one after it
         * never started, the compensate callback was dropped: all when open returned. */
        CHECK(atomic_load(&a.drops) == i + 1 && atomic_load(&b.drops) == i + 1);
        CHECK(atomic_load(&k.drops) == i + 1);
        CHECK(atomic_load(&a.calls) == 0 && atomic_load(&b.calls) == 0 && atomic_load(&k.calls) == 0);
        /* The live external participant was unlinked: the conversation's exit did not kill it. */
        check_mailbox_alive_and_empty(mb);
    }
    transom_mailbox_free(mb);
    transom_runtime_free(rt);
    CHECK(atomic_load(&a.drops) == 2 && atomic_load(&b.drops) == 2 && atomic_load(&k.drops) == 2);
    probe_destroy(&a);
    probe_destroy(&b);
    probe_destroy(&k);
}

static void send_after_close_is_closed_and_close_is_idempotent(void) {
    transom_runtime *rt = new_runtime();
    probe p, cb;
    probe_init(&p);
    probe_init(&cb);
    transom_conversation *c = open_with(rt, &p, 1, TRANSOM_ON_CRASH_FAIL);
    add_crash_callback(c, crash_cb(&cb));
    uint64_t id = 0;
    CHECK_OK(transom_conversation_send(c, 0, (const uint8_t *)"hi", 2, &id));
    transom_reply r;
    size_t len = 0;
    uint8_t buf[16];
    CHECK_OK(transom_conversation_receive(c, 10 * SECOND, &r, buf, sizeof buf, &len));
    CHECK(r.request_id == id && len == 2 && memcmp(buf, "hi", 2) == 0);
    /* COMPLETING refuses sends with WRONG_STATE. */
    CHECK_OK(transom_conversation_complete(c));
    CHECK(phase_of(c) == TRANSOM_PHASE_COMPLETING);
    CHECK_STATUS(transom_conversation_send(c, 0, (const uint8_t *)"x", 1, NULL), TRANSOM_ERR_WRONG_STATE);
    CHECK_OK(transom_conversation_complete(c)); /* COMPLETING -> COMPLETING */

    CHECK_OK(transom_conversation_close(c));
    CHECK_OK(transom_conversation_close(c));
    CHECK(phase_of(c) == TRANSOM_PHASE_CLOSED);
    CHECK_STATUS(transom_conversation_send(c, 0, (const uint8_t *)"x", 1, NULL), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_conversation_receive(c, 10 * SECOND, &r, buf, sizeof buf, &len), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_conversation_complete(c), TRANSOM_ERR_CLOSED);
    transom_crash_info info;
    CHECK_STATUS(transom_conversation_await_crash(c, 10 * SECOND, &info), TRANSOM_ERR_CLOSED);
    bool crashed = true;
    CHECK_OK(transom_conversation_has_crashed(c, &crashed));
    CHECK(!crashed);
    CHECK_OK(transom_conversation_close(c));
    transom_conversation_free(c);
    /* Stopping the spawned participant at close was no crash. */
    CHECK(atomic_load(&cb.calls) == 0 && atomic_load(&cb.drops) == 1);
    transom_runtime_free(rt);
    CHECK(atomic_load(&p.drops) == 1);
    probe_destroy(&p);
    probe_destroy(&cb);
}

static void close_after_failed_is_ok(void) {
    transom_runtime *rt = new_runtime();
    probe p, cb;
    probe_init(&p);
    probe_init(&cb);
    transom_conversation *c = open_with(rt, &p, 2, TRANSOM_ON_CRASH_FAIL);
    add_crash_callback(c, crash_cb(&cb));
    transom_participant_state pst[2];
    participants_of(c, pst, 2);
    transom_conversation_snapshot st;
    CHECK_OK(transom_conversation_state(c, &st));
    uint64_t id = 0;
    CHECK_OK(transom_conversation_send(c, pst[1].pid, (const uint8_t *)"crash", 5, &id));
    transom_crash_info info;
    CHECK_OK(transom_conversation_await_crash(c, 10 * SECOND, &info));
    CHECK(info.participant == pst[1].pid && info.conversation == st.pid);
    CHECK(info.reason.kind == TRANSOM_EXIT_ERROR && info.reason.code == 5);
    CHECK(info.policy == TRANSOM_ON_CRASH_FAIL);
    probe_wait(&cb, 1, 0);
    CHECK(phase_of(c) == TRANSOM_PHASE_FAILED);
    transom_reply r;
    size_t len = 0;
    CHECK_STATUS(transom_conversation_receive(c, 10 * SECOND, &r, NULL, 0, &len), TRANSOM_ERR_PARTICIPANT_CRASHED);
    CHECK_STATUS(transom_conversation_send(c, 0, (const uint8_t *)"x", 1, NULL),
                 TRANSOM_ERR_PARTICIPANT_CRASHED);
    CHECK_STATUS(transom_conversation_complete(c), TRANSOM_ERR_PARTICIPANT_CRASHED);

    CHECK_OK(transom_conversation_close(c));
    CHECK(phase_of(c) == TRANSOM_PHASE_CLOSED);
    CHECK_OK(transom_conversation_close(c));
    CHECK_STATUS(transom_conversation_receive(c, 10 * SECOND, &r, NULL, 0, &len), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_conversation_send(c, 0, (const uint8_t *)"x", 1, NULL), TRANSOM_ERR_CLOSED);
    /* The crash is still on record after close (CLOSED is only "closed without one"). */
    CHECK_OK(transom_conversation_await_crash(c, 10 * SECOND, &info));
    CHECK(info.participant == pst[1].pid);
    transom_conversation_free(c);
    if (atomic_load(&cb.calls) != 1 || atomic_load(&cb.drops) != 1)
        fprintf(stderr, "crash callback: %d calls (last: participant %llu, kind %d, code %d), %d drops\n",
                atomic_load(&cb.calls), (unsigned long long)cb.info.participant, cb.info.reason.kind,
                cb.info.reason.code, atomic_load(&cb.drops));
    CHECK(atomic_load(&cb.calls) == 1 && atomic_load(&cb.drops) == 1);
    transom_runtime_free(rt);
    CHECK(atomic_load(&p.drops) == 2);
    probe_destroy(&p);
    probe_destroy(&cb);
}

static void a_reply_too_big_for_the_buffer_is_kept_for_the_next_receive(void) {
    transom_runtime *rt = new_runtime();
    probe p;
    probe_init(&p);
    transom_conversation *c = open_with(rt, &p, 1, TRANSOM_ON_CRASH_FAIL);
    uint64_t id = 0, id2 = 0;
    CHECK_OK(transom_conversation_send(c, 0, (const uint8_t *)"big", 3, &id));
    CHECK_OK(transom_conversation_send(c, 0, (const uint8_t *)"empty", 5, &id2));
    transom_reply r;
    size_t len = 0;
    uint8_t buf[16];
    memset(buf, '#', sizeof buf);
    memset(&r, 0, sizeof r);
    /* Too small: only *out_len is written (the capacity needed, also the last error value); the
     * reply stays first in line. */
    CHECK_STATUS(transom_conversation_receive(c, 10 * SECOND, &r, buf, 4, &len), TRANSOM_ERR_BUFFER_TOO_SMALL);
    CHECK(len == 10 && r.request_id == 0 && r.from == 0);
    CHECK(buf[0] == '#'); /* nothing copied */
    int64_t needed = 0;
    CHECK_OK(transom_last_error_value(&needed));
    CHECK(needed == 10);
    len = 0;
    CHECK_STATUS(transom_conversation_receive(c, 0, &r, NULL, 0, &len), TRANSOM_ERR_BUFFER_TOO_SMALL);
    CHECK(len == 10 && r.request_id == 0);
    CHECK_STATUS(transom_conversation_receive(c, 0, &r, buf, 9, &len), TRANSOM_ERR_BUFFER_TOO_SMALL);
    CHECK(len == 10);
    transom_conversation_snapshot st;
    CHECK_OK(transom_conversation_state(c, &st));
    CHECK(st.received == 0); /* not taken */
    /* The same reply, in full, with exactly enough room. */
    memset(&r, 0, sizeof r);
    CHECK_OK(transom_conversation_receive(c, 10 * SECOND, &r, buf, 10, &len));
    CHECK(r.request_id == id && len == 10 && memcmp(buf, "0123456789", 10) == 0);
    CHECK(buf[10] == '#');
    /* An empty reply fits a NULL buffer of capacity 0. */
    CHECK_OK(transom_conversation_receive(c, 10 * SECOND, &r, NULL, 0, &len));
    CHECK(r.request_id == id2 && len == 0);
    CHECK_STATUS(transom_conversation_receive(c, 0, &r, buf, sizeof buf, &len), TRANSOM_TIMEOUT);
    transom_conversation_free(c);
    transom_runtime_free(rt);
    CHECK(atomic_load(&p.drops) == 1 && atomic_load(&p.status) == TRANSOM_OK);
    probe_destroy(&p);
}

/* ---- transom_runtime_free from inside callbacks ---- */
static int32_t free_runtime_handle(void *ctx, transom_pid self, const transom_message *m) {
    (void)self;
    (void)m;
    probe *p = ctx;
    transom_runtime_free(p->rt);
    atomic_store(&p->freed, 1);
    probe_count(p, &p->calls);
    return 0;
}

static void free_runtime_monitor(void *ctx, transom_pid pid, const transom_exit_reason *reason) {
    (void)pid;
    (void)reason;
    probe *p = ctx;
    transom_runtime_free(p->rt);
    atomic_store(&p->freed, 1);
    probe_count(p, &p->calls);
}

typedef struct {
    transom_conversation *c;
    transom_mailbox *mb;
    transom_status receive, await, mailbox;
    pthread_barrier_t *ready;
} blocked;

/* Blocks on the conversation (receive, then await_crash) with no timeout of its own. */
static void *block_on_conversation(void *arg) {
    blocked *b = arg;
    pthread_barrier_wait(b->ready);
    transom_reply r;
    size_t len = 0;
    b->receive = transom_conversation_receive(b->c, UINT64_MAX, &r, NULL, 0, &len);
    transom_crash_info info;
    b->await = transom_conversation_await_crash(b->c, UINT64_MAX, &info);
    return NULL;
}

/* `how` 0: from a behaviour's handle; 1: from a monitor callback. While it happens, the main
 * thread is blocked in a mailbox receive without a time limit of its own and another thread in
 * a conversation receive: both are released with CLOSED, and every drop runs. */
static void free_runtime_from_inside(int how) {
    transom_runtime *rt = new_runtime();
    probe killer, parts, others, cb;
    probe_init(&killer);
    probe_init(&parts);
    probe_init(&others);
    probe_init(&cb);
    killer.rt = rt;

    transom_pid main_pid = 0, victim = 0;
    transom_mailbox *mb = open_mailbox(rt, 0, &main_pid);
    for (int i = 0; i < 3; i++) {
        transom_pid pid = 0;
        CHECK_OK(transom_runtime_spawn(rt, sink(&others), NULL, &pid, NULL));
    }
    transom_conversation *c = open_with(rt, &parts, 2, TRANSOM_ON_CRASH_ROUTE_TO_NEXT);
    add_crash_callback(c, crash_cb(&cb));

    pthread_barrier_t ready;
    pthread_barrier_init(&ready, NULL, 2);
    blocked bl = {c, mb, 1, 1, 1, &ready};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, block_on_conversation, &bl) == 0);
    pthread_barrier_wait(&ready);

    transom_mailbox *trigger = NULL;
    if (how == 0) {
        transom_behaviour_callback b = {&killer, free_runtime_handle, probe_drop};
        CHECK_OK(transom_runtime_spawn(rt, b, NULL, &victim, NULL));
        CHECK_OK(transom_runtime_send(rt, victim, (const uint8_t *)"free", 4));
    } else {
        CHECK(transom_mailbox_open(rt, NULL, &trigger, &victim) == TRANSOM_OK);
        transom_monitor_callback m = {&killer, free_runtime_monitor, probe_drop};
        uint64_t mref = 0;
        CHECK_OK(transom_runtime_add_monitor(rt, victim, m, &mref));
        transom_exit_reason normal = {TRANSOM_EXIT_NORMAL, 0, ""};
        CHECK_OK(transom_mailbox_exit(trigger, &normal));
    }
    /* Released by the shutdown, not by a timeout. */
    transom_message msg;
    CHECK_STATUS(transom_mailbox_receive(mb, UINT64_MAX, &msg), TRANSOM_ERR_CLOSED);
    CHECK(pthread_join(th, NULL) == 0);
    pthread_barrier_destroy(&ready);
    CHECK_STATUS(bl.receive, TRANSOM_ERR_CLOSED);
    CHECK_STATUS(bl.await, TRANSOM_ERR_CLOSED);

    /* transom_runtime_free returned inside the callback, then the callback's own drop ran. */
    probe_wait(&killer, 1, 1);
    CHECK(atomic_load(&killer.calls) == 1 && atomic_load(&killer.drops) == 1);
    CHECK(atomic_load(&killer.dropped_after_free) == 1);
    /* Every other process's behaviour was dropped (by the free itself). */
    probe_wait(&others, 0, 3);
    probe_wait(&parts, 0, 2);
    CHECK(atomic_load(&others.drops) == 3 && atomic_load(&parts.drops) == 2);

    /* The handles stay valid to use (CLOSED) and to free. */
    CHECK_STATUS(transom_mailbox_receive(mb, 0, &msg), TRANSOM_ERR_CLOSED);
    transom_reply r;
    size_t len = 0;
    CHECK_STATUS(transom_conversation_receive(c, 0, &r, NULL, 0, &len), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_conversation_send(c, 0, (const uint8_t *)"x", 1, NULL), TRANSOM_ERR_CLOSED);
    transom_mailbox_free(mb);
    transom_mailbox_free(trigger);
    transom_conversation_free(c);
    CHECK(atomic_load(&cb.drops) == 1);
    g_rt = NULL;
    probe_destroy(&killer);
    probe_destroy(&parts);
    probe_destroy(&others);
    probe_destroy(&cb);
}

static void runtime_free_from_inside_a_behaviour(void) { free_runtime_from_inside(0); }
static void runtime_free_from_inside_a_monitor_callback(void) { free_runtime_from_inside(1); }

/* ---- demonitor ---- */
static void demonitor_self(void *ctx, transom_pid pid, const transom_exit_reason *reason) {
    (void)pid;
    (void)reason;
    probe *p = ctx;
    atomic_store(&p->status, transom_runtime_remove_monitor(p->rt, p->mref));
    probe_count(p, &p->calls);
}

static void demonitor_from_inside_its_own_callback_returns_not_found(void) {
    transom_runtime *rt = new_runtime();
    probe p;
    probe_init(&p);
    p.rt = rt;
    transom_pid pid = 0;
    transom_mailbox *mb = open_mailbox(rt, 0, &pid);
    transom_monitor_callback m = {&p, demonitor_self, probe_drop};
    uint64_t mref = 0;
    CHECK_OK(transom_runtime_add_monitor(rt, pid, m, &mref));
    p.mref = mref; /* before the monitored process can exit */
    transom_exit_reason err = {TRANSOM_EXIT_ERROR, 9, "bye"};
    CHECK_OK(transom_mailbox_exit(mb, &err));
    probe_wait(&p, 1, 1);
    CHECK_STATUS(atomic_load(&p.status), TRANSOM_ERR_NOT_FOUND);
    CHECK(atomic_load(&p.calls) == 1 && atomic_load(&p.drops) == 1);
    CHECK_STATUS(transom_runtime_remove_monitor(rt, mref), TRANSOM_ERR_NOT_FOUND);
    transom_mailbox_free(mb);
    transom_runtime_free(rt);
    CHECK(atomic_load(&p.calls) == 1 && atomic_load(&p.drops) == 1);
    probe_destroy(&p);
}

static void demonitor_before_the_exit_drops_the_callback_uncalled(void) {
    transom_runtime *rt = new_runtime();
    probe p, later;
    probe_init(&p);
    probe_init(&later);
    transom_pid pid = 0;
    transom_mailbox *mb = open_mailbox(rt, 0, &pid);
    uint64_t mref = 0, mref2 = 0;
    CHECK_OK(transom_runtime_add_monitor(rt, pid, monitor_cb(&p), &mref));
    CHECK_OK(transom_runtime_remove_monitor(rt, mref));
    CHECK(atomic_load(&p.drops) == 1 && atomic_load(&p.calls) == 0); /* dropped when it returned */
    CHECK_STATUS(transom_runtime_remove_monitor(rt, mref), TRANSOM_ERR_NOT_FOUND);
    CHECK_STATUS(transom_runtime_remove_monitor(rt, 0), TRANSOM_ERR_NOT_FOUND);
    CHECK_STATUS(transom_runtime_remove_monitor(rt, 0x7fffffffffffull), TRANSOM_ERR_NOT_FOUND);
    /* The process exits; a second monitor sees it, the removed one never does. */
    CHECK_OK(transom_runtime_add_monitor(rt, pid, monitor_cb(&later), &mref2));
    CHECK(mref2 != mref);
    transom_mailbox_free(mb); /* exits with DROPPED */
    probe_wait(&later, 1, 1);
    CHECK(later.pid == pid && later.reason.kind == TRANSOM_EXIT_DROPPED);
    transom_runtime_free(rt);
    CHECK(atomic_load(&p.calls) == 0 && atomic_load(&p.drops) == 1);
    probe_destroy(&p);
    probe_destroy(&later);
}

/* transom_conversation_free "waits for crash callbacks running on other threads" and "every crash
 * ... callback's drop has run ... when this returns". Here the crash callback is still running
 * on a worker when free starts: it returns only once free's close has stopped the conversation
 * actor (seen through a monitor on the actor, so it is released by free itself, without any
 * sleep). free must then wait for the callback and for its drop: the drop has run when free
 * returns, never after. (The drop, when it runs on a worker, waits up to a second for free to
 * return, which makes a drop that runs concurrently with free's return observable.) */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int called, actor_exited, free_returned;
    atomic_int drops, drops_after_free, released_by_timeout;
    pthread_t main_thread;
} inflight;

static int inflight_wait(inflight *x, int *flag, int seconds) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&x->mu);
    int rc = 0;
    while (!*flag && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&x->cv, &x->mu, &until);
    int got = *flag;
    pthread_mutex_unlock(&x->mu);
    return got;
}

static void inflight_set(inflight *x, int *flag) {
    pthread_mutex_lock(&x->mu);
    *flag = 1;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

static void inflight_actor_exit(void *ctx, transom_pid pid, const transom_exit_reason *reason) {
    (void)pid;
    (void)reason;
    inflight *x = ctx;
    inflight_set(x, &x->actor_exited);
}

static void inflight_crash(void *ctx, const transom_crash_info *info) {
    (void)info;
    inflight *x = ctx;
    inflight_set(x, &x->called);
    /* Still in flight when free starts; released by free's close stopping the actor. */
    if (!inflight_wait(x, &x->actor_exited, WAIT_S)) atomic_fetch_add(&x->released_by_timeout, 1);
}

static void inflight_drop(void *ctx) {
    inflight *x = ctx;
    if (!pthread_equal(pthread_self(), x->main_thread)) inflight_wait(x, &x->free_returned, 1);
    pthread_mutex_lock(&x->mu);
    if (x->free_returned) atomic_fetch_add(&x->drops_after_free, 1);
    pthread_mutex_unlock(&x->mu);
    atomic_fetch_add(&x->drops, 1);
}

static void conversation_free_waits_for_the_drop_of_a_callback_in_flight(void) {
    long rounds = 3; /* the interleaving is forced: every round takes it */
    for (long i = 0; i < rounds; i++) {
        transom_runtime *rt = new_runtime();
        probe p;
        probe_init(&p);
        inflight *x = calloc(1, sizeof *x);
        CHECK(x != NULL);
        pthread_mutex_init(&x->mu, NULL);
        pthread_cond_init(&x->cv, NULL);
        x->main_thread = pthread_self();
        transom_conversation *c = open_with(rt, &p, 2, TRANSOM_ON_CRASH_ROUTE_TO_NEXT);
        transom_crash_callback cb = {x, inflight_crash, inflight_drop};
        add_crash_callback(c, cb);
        transom_participant_state pst[2];
        participants_of(c, pst, 2);
        transom_conversation_snapshot st;
        CHECK_OK(transom_conversation_state(c, &st));
        transom_monitor_callback m = {x, inflight_actor_exit, NULL};
        uint64_t mref = 0;
        CHECK_OK(transom_runtime_add_monitor(rt, st.pid, m, &mref));
        transom_exit_reason err = {TRANSOM_EXIT_ERROR, 1, "crash"};
        CHECK_OK(transom_runtime_exit(rt, pst[0].pid, &err));
        CHECK(inflight_wait(x, &x->called, WAIT_S));

        transom_conversation_free(c);
        int drops_at_return = atomic_load(&x->drops);
        inflight_set(x, &x->free_returned);
        CHECK(atomic_load(&x->released_by_timeout) == 0);
        if (drops_at_return != 1 || atomic_load(&x->drops_after_free) != 0)
            fprintf(stderr, "round %ld: %d drops when transom_conversation_free returned, %d after\n", i,
                    drops_at_return, atomic_load(&x->drops_after_free));
        CHECK(drops_at_return == 1);
        CHECK(atomic_load(&x->drops_after_free) == 0);
        transom_runtime_free(rt);
        CHECK(atomic_load(&x->drops) == 1);
        pthread_mutex_destroy(&x->mu);
        pthread_cond_destroy(&x->cv);
        free(x);
        probe_destroy(&p);
    }
}

/* The header: transom_runtime_free makes "every live process exit with TRANSOM_EXIT_SHUTDOWN
 * (monitors and crash callbacks see it)". A conversation's live participants are live
 * processes: their SHUTDOWN must reach the conversation's crash callbacks, as it reaches their
 * monitors. */
/* An orderly shutdown is not a crash: monitors see SHUTDOWN, conversations are ended (their
 * calls return CLOSED) without crash reports, and every callback is dropped. */
static void runtime_free_is_not_reported_as_a_crash(void) {
    transom_runtime *rt = new_runtime();
    probe p, cb, m;
    probe_init(&p);
    probe_init(&cb);
    probe_init(&m);
    transom_conversation *c = open_with(rt, &p, 1, TRANSOM_ON_CRASH_FAIL);
    add_crash_callback(c, crash_cb(&cb));
    transom_participant_state pst[1];
    participants_of(c, pst, 1);
    uint64_t mref = 0;
    CHECK_OK(transom_runtime_add_monitor(rt, pst[0].pid, monitor_cb(&m), &mref));

    transom_runtime_free(rt);
    g_rt = NULL;
    /* The monitor saw it. */
    CHECK(atomic_load(&m.calls) == 1 && m.reason.kind == TRANSOM_EXIT_SHUTDOWN);
    transom_reply r;
    size_t len = 0;
    uint8_t buf[8];
    CHECK_STATUS(transom_conversation_receive(c, 0, &r, buf, sizeof buf, &len), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_conversation_send(c, 0, (const uint8_t *)"x", 1, NULL), TRANSOM_ERR_CLOSED);
    transom_conversation_free(c);
    CHECK(atomic_load(&cb.drops) == 1 && atomic_load(&p.drops) == 1);
    CHECK(atomic_load(&cb.calls) == 0);
    probe_destroy(&p);
    probe_destroy(&cb);
    probe_destroy(&m);
}

int main(void) {
    RUN(null_arguments_to_runtime_and_mailbox_functions);
    RUN(null_arguments_to_conversation_functions);
    RUN(pid_zero_and_unknown_pids_are_noproc);
    RUN(monitor_of_an_unknown_or_dead_pid_fires_at_once_with_noproc);
    RUN(links_to_dead_pids_signal_noproc);
    RUN(invalid_exit_reasons_are_refused);
    RUN(too_many_workers_are_refused);
    RUN(conversation_configs_are_validated_and_their_closures_dropped);
    RUN(a_dead_participant_fails_the_open_and_leaves_nothing_behind);
    RUN(send_after_close_is_closed_and_close_is_idempotent);
    RUN(close_after_failed_is_ok);
    RUN(a_reply_too_big_for_the_buffer_is_kept_for_the_next_receive);
    RUN(runtime_free_from_inside_a_behaviour);
    RUN(runtime_free_from_inside_a_monitor_callback);
    RUN(demonitor_from_inside_its_own_callback_returns_not_found);
    RUN(demonitor_before_the_exit_drops_the_callback_uncalled);
    RUN(conversation_free_waits_for_the_drop_of_a_callback_in_flight);
    RUN(runtime_free_is_not_reported_as_a_crash);
    return 0;
}
