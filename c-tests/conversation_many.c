/* Many conversations at once, with injected crashes.
 *
 * 1,000 conversations (scaled by TRANSOM_TEST_SCALE) are open at the same time, 250 per C thread
 * over 4 threads, each with 2 participants that are C callback processes spawned by the
 * conversation and replying with transom_conversation_parse_request + transom_conversation_reply. Policies (FAIL,
 * ROUTE_TO_NEXT, COMPENSATE with a CONTINUE or FAIL decision) and crashes (none, one or both
 * participants; by a poison request the target's behaviour answers with a non-zero status, or by
 * transom_runtime_exit with TRANSOM_EXIT_ERROR) are planned from a seed (TRANSOM_TEST_SEED, or a
 * fixed default). For every conversation:
 *  - every crash reaches its crash callback exactly once, with the right participant, reason,
 *    policy and conversation, also through a callback registered after the crashes (replayed at
 *    once on the registering thread) and through await_crash / has_crashed / the snapshot;
 *  - the phase is what the policy dictates: FAIL -> FAILED after a crash (receive drains, then
 *    PARTICIPANT_CRASHED); ROUTE_TO_NEXT with one of two crashed -> still usable (the poison
 *    request is re-sent to the survivor and answered by it, a new send is answered by it); both
 *    crashed -> FAILED; COMPENSATE -> the callback saw exactly the dead participant's in-flight
 *    requests and its decision holds;
 *  - close gives CLOSED, and no crash callback ever fires for the shutdown of participants.
 * After transom_conversation_free every crash and compensate callback of that conversation has
 * been dropped; after transom_runtime_free every closure created was dropped exactly once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "check.h"

#define THREADS 4
#define PARTICIPANTS 2
#define WAIT_NS 30000000000ull /* generous limit for any single event-driven wait */

enum { METHOD_POISON = 0, METHOD_EXIT = 1 };

static transom_runtime *g_rt;
static atomic_long g_created;  /* closures handed to transom */
static atomic_long g_dropped;  /* their drops */
static atomic_long g_unexpected; /* anything wrong seen inside a callback (checked later) */

/* The poison request: the participant whose pid is `target` crashes with status 40 + index;
 * any other participant (a re-send under ROUTE_TO_NEXT) answers it. */
typedef struct {
    char tag[4];
    uint64_t target;
} poison;

typedef struct slot {
    transom_conversation *c;
    transom_pid conv_pid;
    transom_pid pids[PARTICIPANTS];
    uint32_t policy;
    int32_t decision;       /* COMPENSATE only */
    int crashes;            /* planned: 0, 1 or 2 */
    int victim[2];          /* participant index of crash k */
    int method[2];          /* METHOD_* of crash k */
    int late;               /* register a second crash callback after the crashes */
    uint64_t poison_id[PARTICIPANTS]; /* request id of the poison sent to index i (0: none) */
    atomic_int poisoned[PARTICIPANTS]; /* 1 while a poison to index i is the crash cause */
    /* Written by callbacks. */
    atomic_int crash_calls;
    atomic_int late_calls;
    atomic_int crash_seen[PARTICIPANTS];
    atomic_int compensate_calls;
    atomic_int compensate_inflight[PARTICIPANTS]; /* count seen for index i, +1 (0: not called) */
    atomic_ullong compensate_req[PARTICIPANTS];   /* the request id seen for index i */
    atomic_int cb_created;
    atomic_int cb_dropped;
    pthread_t late_thread;
    atomic_int late_wrong_thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} slot;

typedef struct {
    slot *slot;
    int index;
} part_ctx;

static slot *g_slots;
static long g_per_thread;
static pthread_barrier_t g_barrier;

/* ---- deterministic plan ---- */
static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t seed_from_env(void) {
    const char *s = getenv("TRANSOM_TEST_SEED");
    if (s && *s) return strtoull(s, NULL, 0);
    return 0xC0FFEE1234ull;
}

/* ---- closures ---- */
static int index_of(const slot *s, transom_pid pid) {
    for (int i = 0; i < PARTICIPANTS; i++)
        if (s->pids[i] == pid) return i;
    return -1;
}

static int32_t participant_handle(void *ctx, transom_pid self, const transom_message *m) {
    part_ctx *p = ctx;
    if (m->kind != TRANSOM_MESSAGE_USER) {
        atomic_fetch_add(&g_unexpected, 1);
        return 0;
    }
    transom_request req;
    if (transom_conversation_parse_request(m, &req) != TRANSOM_OK || strlen(req.traceparent) != 55) {
        atomic_fetch_add(&g_unexpected, 1);
        return 0;
    }
    if (req.payload_len == sizeof(poison) && memcmp(req.payload, "KILL", 4) == 0) {
        poison x;
        memcpy(&x, req.payload, sizeof x);
        if (x.target == self) return 40 + p->index; /* crash: TRANSOM_EXIT_ERROR, code 40+i */
    }
    uint8_t out[128];
    size_t n = req.payload_len < sizeof out - 1 ? req.payload_len : sizeof out - 1;
    out[0] = 'R';
    memcpy(out + 1, req.payload, n);
    if (transom_conversation_reply(g_rt, self, m->from, req.request_id, out, n + 1) != TRANSOM_OK)
        atomic_fetch_add(&g_unexpected, 1);
    return 0;
}

static void participant_drop(void *ctx) {
    free(ctx);
    atomic_fetch_add(&g_dropped, 1);
}

static void check_info(slot *s, const transom_crash_info *info) {
    int i = index_of(s, info->participant);
    int ok = i >= 0 && info->conversation == s->conv_pid && info->policy == s->policy &&
             info->reason.kind == TRANSOM_EXIT_ERROR && info->observed_at_ns > 0;
    if (ok) {
        /* Poisoned: the behaviour's status; exited: the code given to transom_runtime_exit. */
        int32_t want = atomic_load(&s->poisoned[i]) ? 40 + i : 70 + i;
        ok = info->reason.code == want;
    }
    if (!ok) atomic_fetch_add(&g_unexpected, 1);
}

static void crash_call(void *ctx, const transom_crash_info *info) {
    slot *s = ctx;
    check_info(s, info);
    int i = index_of(s, info->participant);
    if (i >= 0) atomic_fetch_add(&s->crash_seen[i], 1);
    pthread_mutex_lock(&s->mu);
    atomic_fetch_add(&s->crash_calls, 1);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void late_call(void *ctx, const transom_crash_info *info) {
    slot *s = ctx;
    check_info(s, info);
    if (!pthread_equal(pthread_self(), s->late_thread)) atomic_fetch_add(&s->late_wrong_thread, 1);
    atomic_fetch_add(&s->late_calls, 1);
}

static void slot_callback_drop(void *ctx) {
    slot *s = ctx;
    atomic_fetch_add(&s->cb_dropped, 1);
    atomic_fetch_add(&g_dropped, 1);
}

static int32_t compensate_call(void *ctx, transom_pid participant, const transom_exit_reason *reason,
                               const transom_in_flight *requests, size_t count) {
    slot *s = ctx;
    int i = index_of(s, participant);
    atomic_fetch_add(&s->compensate_calls, 1);
    if (i < 0 || reason == NULL || reason->kind != TRANSOM_EXIT_ERROR) {
        atomic_fetch_add(&g_unexpected, 1);
        return TRANSOM_COMPENSATE_FAIL;
    }
    atomic_store(&s->compensate_inflight[i], (int)count + 1);
    for (size_t k = 0; k < count; k++) {
        if (requests[k].participant != participant || strlen(requests[k].traceparent) != 55)
            atomic_fetch_add(&g_unexpected, 1);
        atomic_store(&s->compensate_req[i], requests[k].request_id);
    }
    return s->decision;
}

/* ---- helpers ---- */
static transom_behaviour_callback participant_behaviour(slot *s, int index) {
    part_ctx *p = malloc(sizeof *p);
    CHECK(p != NULL);
    p->slot = s;
    p->index = index;
    atomic_fetch_add(&g_created, 1);
    transom_behaviour_callback b = {p, participant_handle, participant_drop};
    return b;
}

static void register_callback(slot *s, void (*call)(void *, const transom_crash_info *)) {
    atomic_fetch_add(&g_created, 1);
    atomic_fetch_add(&s->cb_created, 1);
    transom_crash_callback cb = {s, call, slot_callback_drop};
    uint64_t id = 0;
    CHECK_OK(transom_conversation_add_crash_callback(s->c, cb, &id));
    CHECK(id != 0);
}

static int phase_of(const slot *s, transom_conversation_snapshot *st, transom_participant_state *ps) {
    size_t count = 0;
    CHECK_OK(transom_conversation_participants(s->c, ps, PARTICIPANTS, &count));
    CHECK(count == PARTICIPANTS);
    CHECK_OK(transom_conversation_state(s->c, st));
    CHECK(st->participant_count == PARTICIPANTS);
    return st->phase;
}

static int wait_crash_calls(slot *s, int want) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(WAIT_NS / 1000000000ull);
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    while (atomic_load(&s->crash_calls) < want && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&s->cv, &s->mu, &until);
    int got = atomic_load(&s->crash_calls);
    pthread_mutex_unlock(&s->mu);
    return got;
}

/* Receives one reply (must come within WAIT_NS); returns its length. */
static size_t receive_one(slot *s, transom_reply *r, uint8_t *buf, size_t cap) {
    size_t len = 0;
    CHECK_OK(transom_conversation_receive(s->c, WAIT_NS, r, buf, cap, &len));
    CHECK(len >= 1 && len <= cap && buf[0] == 'R');
    return len;
}

/* A round trip to each live participant by pid: the reply comes from it, echoing the payload. */
static void round_trip_each(slot *s, const int *alive) {
    for (int i = 0; i < PARTICIPANTS; i++) {
        if (!alive[i]) continue;
        char msg[32];
        int n = snprintf(msg, sizeof msg, "hello %d", i);
        uint64_t id = 0;
        CHECK_OK(transom_conversation_send(s->c, s->pids[i], (const uint8_t *)msg, (size_t)n, &id));
        transom_reply r;
        uint8_t buf[64];
        size_t len = receive_one(s, &r, buf, sizeof buf);
        CHECK(r.request_id == id && r.from == s->pids[i]);
        CHECK(len == (size_t)n + 1 && memcmp(buf + 1, msg, (size_t)n) == 0);
    }
}

/* ---- the phases of one thread ---- */
static void open_slot(slot *s) {
    transom_participant ps[PARTICIPANTS];
    for (int i = 0; i < PARTICIPANTS; i++) {
        ps[i].pid = 0;
        ps[i].behaviour = participant_behaviour(s, i);
    }
    transom_conversation_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.participants = ps;
    cfg.participant_count = PARTICIPANTS;
    cfg.on_crash = s->policy;
    cfg.mode = TRANSOM_MODE_EPHEMERAL;
    if (s->policy == TRANSOM_ON_CRASH_COMPENSATE) {
        atomic_fetch_add(&g_created, 1);
        atomic_fetch_add(&s->cb_created, 1);
        cfg.compensate.ctx = s;
        cfg.compensate.call = compensate_call;
        cfg.compensate.drop = slot_callback_drop;
    }
    CHECK_OK(transom_conversation_open(g_rt, &cfg, &s->c));
    CHECK(s->c != NULL);
    CHECK_OK(transom_conversation_pid(s->c, &s->conv_pid));
    transom_conversation_snapshot st;
    transom_participant_state pst[PARTICIPANTS];
    CHECK(phase_of(s, &st, pst) == TRANSOM_PHASE_CREATED);
    CHECK(st.pid == s->conv_pid && st.crashed == 0 && st.sent == 0);
    for (int i = 0; i < PARTICIPANTS; i++) {
        CHECK(pst[i].spawned && pst[i].health == TRANSOM_HEALTH_ALIVE && pst[i].pid != 0);
        s->pids[i] = pst[i].pid;
    }
    CHECK(s->pids[0] != s->pids[1]);
    register_callback(s, crash_call);
}

static void inject(slot *s) {
    for (int k = 0; k < s->crashes; k++) {
        int i = s->victim[k];
        if (s->method[k] == METHOD_POISON) {
            poison x;
            memcpy(x.tag, "KILL", 4);
            x.target = s->pids[i];
            atomic_store(&s->poisoned[i], 1);
            transom_status st =
                transom_conversation_send(s->c, s->pids[i], (const uint8_t *)&x, sizeof x, &s->poison_id[i]);
            if (st == TRANSOM_OK) continue;
            /* The first crash already failed the conversation: sends are refused. */
            CHECK_STATUS(st, TRANSOM_ERR_PARTICIPANT_CRASHED);
            CHECK(k == 1);
            atomic_store(&s->poisoned[i], 0);
            s->poison_id[i] = 0;
            s->method[k] = METHOD_EXIT;
        }
        transom_exit_reason r = {TRANSOM_EXIT_ERROR, 70 + i, "injected crash"};
        CHECK_OK(transom_runtime_exit(g_rt, s->pids[i], &r));
    }
}

static int expect_failed(const slot *s) {
    if (s->crashes == 0) return 0;
    switch (s->policy) {
    case TRANSOM_ON_CRASH_FAIL: return 1;
    case TRANSOM_ON_CRASH_ROUTE_TO_NEXT: return s->crashes == PARTICIPANTS;
    default: return s->decision == TRANSOM_COMPENSATE_FAIL;
    }
}

static void verify(slot *s) {
    CHECK(wait_crash_calls(s, s->crashes) == s->crashes);
    int alive[PARTICIPANTS] = {1, 1};
    for (int k = 0; k < s->crashes; k++) alive[s->victim[k]] = 0;
    for (int i = 0; i < PARTICIPANTS; i++) CHECK(atomic_load(&s->crash_seen[i]) == !alive[i]);

    /* The same crashes through every other view. */
    bool crashed = s->crashes == 0;
    CHECK_OK(transom_conversation_has_crashed(s->c, &crashed));
    CHECK(crashed == (s->crashes > 0));
    transom_crash_info info;
    if (s->crashes > 0) {
        CHECK_OK(transom_conversation_await_crash(s->c, WAIT_NS, &info));
        int i = index_of(s, info.participant);
        CHECK(i >= 0 && !alive[i] && info.conversation == s->conv_pid && info.policy == s->policy);
    } else {
        CHECK_STATUS(transom_conversation_await_crash(s->c, 0, &info), TRANSOM_TIMEOUT);
    }
    transom_conversation_snapshot st;
    transom_participant_state pst[PARTICIPANTS];
    int phase = phase_of(s, &st, pst);
    CHECK(st.crashed == (uint64_t)s->crashes);
    for (int i = 0; i < PARTICIPANTS; i++) {
        CHECK(pst[i].pid == s->pids[i]);
        if (alive[i]) {
            CHECK(pst[i].health == TRANSOM_HEALTH_ALIVE && pst[i].exited_at_ns == 0);
        } else {
            CHECK(pst[i].health == TRANSOM_HEALTH_CRASHED && pst[i].exited_at_ns > 0);
            CHECK(pst[i].exit_reason.kind == TRANSOM_EXIT_ERROR);
            CHECK(pst[i].exit_reason.code == (atomic_load(&s->poisoned[i]) ? 40 + i : 70 + i));
        }
    }

    /* COMPENSATE: exactly the dead participant's in-flight requests, once per crash. */
    if (s->policy == TRANSOM_ON_CRASH_COMPENSATE) {
        CHECK(atomic_load(&s->compensate_calls) == s->crashes);
        for (int i = 0; i < PARTICIPANTS; i++) {
            if (alive[i]) {
                CHECK(atomic_load(&s->compensate_inflight[i]) == 0);
            } else if (s->poison_id[i] != 0) {
                CHECK(atomic_load(&s->compensate_inflight[i]) == 2);
                CHECK(atomic_load(&s->compensate_req[i]) == s->poison_id[i]);
            } else {
                CHECK(atomic_load(&s->compensate_inflight[i]) == 1);
            }
        }
    } else {
        CHECK(atomic_load(&s->compensate_calls) == 0);
    }

    /* The phase the policy dictates, and what the conversation still does. */
    transom_reply r;
    size_t len = 0;
    uint8_t buf[64];
    if (expect_failed(s)) {
        CHECK(phase == TRANSOM_PHASE_FAILED);
        /* Buffered replies first (re-sent poison answered before the end), then the failure. */
        transom_status rs;
        int drained = 0;
        while ((rs = transom_conversation_receive(s->c, WAIT_NS, &r, buf, sizeof buf, &len)) == TRANSOM_OK)
            CHECK(++drained <= PARTICIPANTS);
        CHECK_STATUS(rs, TRANSOM_ERR_PARTICIPANT_CRASHED);
        CHECK_STATUS(transom_conversation_send(s->c, 0, (const uint8_t *)"x", 1, NULL),
                     TRANSOM_ERR_PARTICIPANT_CRASHED);
    } else {
        CHECK(phase == TRANSOM_PHASE_ACTIVE);
        if (s->policy == TRANSOM_ON_CRASH_ROUTE_TO_NEXT && s->crashes == 1) {
            int dead = s->victim[0], survivor = 1 - dead;
            if (s->poison_id[dead] != 0) {
                /* The poison was re-sent to the survivor, which answered it. */
                len = receive_one(s, &r, buf, sizeof buf);
                CHECK(r.request_id == s->poison_id[dead] && r.from == s->pids[survivor]);
                CHECK(len == 1 + sizeof(poison) && memcmp(buf + 1, "KILL", 4) == 0);
            }
            /* Round-robin sends skip the dead one. */
            for (int k = 0; k < 2; k++) {
                uint64_t id = 0;
                CHECK_OK(transom_conversation_send(s->c, 0, (const uint8_t *)"next", 4, &id));
                receive_one(s, &r, buf, sizeof buf);
                CHECK(r.request_id == id && r.from == s->pids[survivor]);
            }
            CHECK_STATUS(transom_conversation_send(s->c, s->pids[dead], (const uint8_t *)"x", 1, NULL),
                         TRANSOM_ERR_NOPROC);
        }
        if (s->policy == TRANSOM_ON_CRASH_COMPENSATE && s->crashes == PARTICIPANTS) {
            /* Carried on without anyone: nobody can take a request. */
            CHECK_STATUS(transom_conversation_send(s->c, 0, (const uint8_t *)"x", 1, NULL),
                         TRANSOM_ERR_NOPROC);
        }
        round_trip_each(s, alive);
        CHECK_STATUS(transom_conversation_receive(s->c, 0, &r, buf, sizeof buf, &len), TRANSOM_TIMEOUT);
    }

    /* A callback registered now sees every earlier crash at once, on this thread. */
    if (s->late) {
        s->late_thread = pthread_self();
        register_callback(s, late_call);
        CHECK(atomic_load(&s->late_calls) == s->crashes);
        CHECK(atomic_load(&s->late_wrong_thread) == 0);
    }
}

static void close_slot(slot *s) {
    CHECK_OK(transom_conversation_close(s->c));
    transom_conversation_snapshot st;
    transom_participant_state pst[PARTICIPANTS];
    CHECK(phase_of(s, &st, pst) == TRANSOM_PHASE_CLOSED);
    transom_reply r;
    size_t len = 0;
    CHECK_STATUS(transom_conversation_receive(s->c, WAIT_NS, &r, NULL, 0, &len), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_conversation_send(s->c, 0, (const uint8_t *)"x", 1, NULL), TRANSOM_ERR_CLOSED);
    transom_conversation_free(s->c);
    s->c = NULL;
    /* Every crash and compensate callback of this conversation has been dropped. */
    CHECK(atomic_load(&s->cb_dropped) == atomic_load(&s->cb_created));
    /* Stopping the participants at close is no crash: still exactly the injected ones. */
    CHECK(atomic_load(&s->crash_calls) == s->crashes);
    CHECK(atomic_load(&s->late_calls) == (s->late ? s->crashes : 0));
}

static void *thread_main(void *arg) {
    long t = (long)(intptr_t)arg;
    slot *mine = g_slots + t * g_per_thread;
    for (long k = 0; k < g_per_thread; k++) open_slot(&mine[k]);
    /* Every thread's conversations are open: all of them at once from here on. */
    pthread_barrier_wait(&g_barrier);
    int none[PARTICIPANTS] = {1, 1};
    for (long k = 0; k < g_per_thread; k++) round_trip_each(&mine[k], none);
    for (long k = 0; k < g_per_thread; k++) inject(&mine[k]);
    for (long k = 0; k < g_per_thread; k++) verify(&mine[k]);
    pthread_barrier_wait(&g_barrier);
    for (long k = 0; k < g_per_thread; k++) close_slot(&mine[k]);
    return NULL;
}

static void thousand_conversations_with_random_crashes(void) {
    uint64_t seed = seed_from_env(), rng = seed;
    fprintf(stderr, "conversation_many: seed %llu\n", (unsigned long long)seed);
    g_per_thread = scaled(1000) / THREADS;
    if (g_per_thread < 1) g_per_thread = 1;
    long total = g_per_thread * THREADS;
    g_slots = calloc((size_t)total, sizeof *g_slots);
    CHECK(g_slots != NULL);
    long counts[3][3] = {{0}}; /* [policy-1][crashes] */
    for (long k = 0; k < total; k++) {
        slot *s = &g_slots[k];
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, NULL);
        /* Deterministic from the seed; the first conversations cover every combination. */
        uint64_t x = splitmix(&rng);
        s->policy = (uint32_t)(k < 18 ? (uint64_t)k % 3 : x % 3) + 1;
        s->decision = (x >> 8) & 1 ? TRANSOM_COMPENSATE_CONTINUE : TRANSOM_COMPENSATE_FAIL;
        if (k < 18) s->decision = (k / 9) ? TRANSOM_COMPENSATE_FAIL : TRANSOM_COMPENSATE_CONTINUE;
        uint64_t c = (x >> 16) % 10; /* 40% none, 40% one, 20% both */
        s->crashes = k < 18 ? (int)((k / 3) % 3) : c < 4 ? 0 : c < 8 ? 1 : 2;
        s->victim[0] = (int)((x >> 24) & 1);
        s->victim[1] = 1 - s->victim[0];
        s->method[0] = (int)((x >> 25) & 1);
        s->method[1] = (int)((x >> 26) & 1);
        s->late = (int)((x >> 27) & 1);
        counts[s->policy - 1][s->crashes]++;
    }
    for (int p = 0; p < 3; p++)
        for (int c = 0; c < 3; c++) CHECK(total < 18 || counts[p][c] > 0);

    CHECK_OK(transom_runtime_new(2, &g_rt));
    pthread_barrier_init(&g_barrier, NULL, THREADS);
    pthread_t th[THREADS];
    for (long t = 0; t < THREADS; t++)
        CHECK(pthread_create(&th[t], NULL, thread_main, (void *)(intptr_t)t) == 0);
    for (int t = 0; t < THREADS; t++) CHECK(pthread_join(th[t], NULL) == 0);
    pthread_barrier_destroy(&g_barrier);

    transom_runtime_free(g_rt);
    g_rt = NULL;
    /* Every participant behaviour and every callback: dropped exactly once, nothing left. */
    long created = atomic_load(&g_created), dropped = atomic_load(&g_dropped);
    if (created != dropped) fprintf(stderr, "created %ld closures, dropped %ld\n", created, dropped);
    CHECK(created == dropped);
    CHECK(created >= total * (PARTICIPANTS + 1));
    CHECK(atomic_load(&g_unexpected) == 0);
    long crashes = 0, calls = 0;
    for (long k = 0; k < total; k++) {
        crashes += g_slots[k].crashes;
        calls += atomic_load(&g_slots[k].crash_calls);
        pthread_mutex_destroy(&g_slots[k].mu);
        pthread_cond_destroy(&g_slots[k].cv);
    }
    CHECK(calls == crashes);
    fprintf(stderr, "conversation_many: %ld conversations, %ld crashes, %ld closures\n", total, crashes,
            created);
    free(g_slots);
}

int main(void) {
    RUN(thousand_conversations_with_random_crashes);
    return 0;
}
