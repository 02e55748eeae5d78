/* Canals that outlive things: a named cursor's checkpoint survives closing and reopening its
 * store; a worker's STOP_AND_ROLLBACK batch comes again; workers end the documented way (stop,
 * callback, closed store, failed checkpoint, disconnected subscription) with their callback's
 * drop run exactly once; closing a store wakes every blocked pull after its items. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "store_support.h"

#define SECOND_NS 1000000000ull

/* ---- helpers ------------------------------------------------------------------------------ */

/* Appends events `first..first+n-1` (their sequences, if the store holds first-1 events) in
 * batches of `chunk`; event i has kind 1 + (i & 1), stream "odd"/"even" and its sequence as
 * payload. */
static void append_chunked(const transom_store *s, uint64_t first, long n, long chunk) {
    transom_append *batch = calloc((size_t)chunk, sizeof *batch);
    uint64_t *payloads = calloc((size_t)chunk, sizeof *payloads);
    transom_receipt *r = calloc((size_t)chunk, sizeof *r);
    CHECK(batch && payloads && r);
    long done = 0;
    while (done < n) {
        long k = n - done < chunk ? n - done : chunk;
        for (long j = 0; j < k; j++) {
            uint64_t seq = first + (uint64_t)(done + j);
            payloads[j] = seq;
            batch[j] = event_of(seq & 1 ? "odd" : "even", (uint16_t)(1 + (seq & 1)), &payloads[j],
                                sizeof payloads[j]);
        }
        CHECK_OK(transom_store_append_batch(s, batch, (size_t)k, r));
        CHECK(r[0].sequence == first + (uint64_t)done && r[k - 1].sequence == r[0].sequence + (uint64_t)(k - 1));
        done += k;
    }
    free(batch);
    free(payloads);
    free(r);
}

static void append_range(const transom_store *s, uint64_t first, long n) { append_chunked(s, first, n, 256); }

static uint64_t payload_seq(const transom_item *it) {
    uint64_t v = 0;
    CHECK(it->kind == TRANSOM_ITEM_EVENT && it->event.payload_len == sizeof v);
    memcpy(&v, it->event.payload, sizeof v);
    return v;
}

static transom_canal *named_cursor(const transom_store *s, const char *name) {
    transom_cursor_options o;
    memset(&o, 0, sizeof o);
    o.start = TRANSOM_START_NAMED;
    o.name = name;
    o.name_len = strlen(name);
    transom_canal *c = NULL;
    CHECK_OK(transom_canal_open_cursor(s, &o, &c));
    CHECK(c != NULL);
    return c;
}

static transom_canal *plain_cursor(const transom_store *s, uint32_t start) {
    transom_cursor_options o;
    memset(&o, 0, sizeof o);
    o.start = start;
    transom_canal *c = NULL;
    CHECK_OK(transom_canal_open_cursor(s, &o, &c));
    return c;
}

static transom_canal *subscription(const transom_store *s, size_t capacity, uint32_t overflow) {
    transom_subscription_options o;
    memset(&o, 0, sizeof o);
    o.capacity = capacity;
    o.overflow = overflow;
    transom_canal *c = NULL;
    CHECK_OK(transom_canal_open_subscription(s, &o, &c));
    return c;
}

/* Pulls until nothing is ready (timeout 0) and checks that exactly `from..=to` came, densely and
 * in order, with their payloads. */
static void expect_exactly(transom_canal *c, uint64_t from, uint64_t to) {
    enum { MAX = 1000 };
    static transom_item items[MAX];
    uint64_t next = from;
    for (;;) {
        size_t n = 0;
        transom_status st = transom_canal_pull_batch(c, 0, items, MAX, &n);
        if (st == TRANSOM_TIMEOUT) break;
        CHECK_OK(st);
        CHECK(n >= 1 && n <= MAX);
        for (size_t i = 0; i < n; i++) {
            CHECK(items[i].kind == TRANSOM_ITEM_EVENT);
            CHECK(items[i].event.sequence == next);
            CHECK(payload_seq(&items[i]) == next);
            next++;
        }
    }
    CHECK(next == to + 1);
}

static void join_path(char *out, size_t cap, const char *dir, const char *rel) {
    int w = snprintf(out, cap, "%s/%s", dir, rel);
    CHECK(w > 0 && (size_t)w < cap);
}

/* The acknowledged sequence stored in <dir>/checkpoints/<name>.ckpt (20 bytes, format in
 * src/canal/checkpoint.rs). */
static uint64_t checkpoint_on_disk(const char *dir, const char *name) {
    char path[512];
    int w = snprintf(path, sizeof path, "%s/checkpoints/%s.ckpt", dir, name);
    CHECK(w > 0 && (size_t)w < sizeof path);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    unsigned char b[32];
    size_t len = fread(b, 1, sizeof b, f);
    fclose(f);
    CHECK(len == 20);
    CHECK(memcmp(b, "TRCK", 4) == 0);
    uint64_t seq = 0;
    for (int i = 7; i >= 0; i--) seq = (seq << 8) | b[8 + i];
    return seq;
}

/* A condition every helper thread and callback reports through. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
} signal_t;

static void signal_init(signal_t *g) {
    CHECK(pthread_mutex_init(&g->mu, NULL) == 0);
    CHECK(pthread_cond_init(&g->cv, NULL) == 0);
}

static void signal_destroy(signal_t *g) {
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

/* Waits (mutex held) until *flag >= want; fails the test after a minute instead of hanging. */
static void wait_at_least(signal_t *g, const long *flag, long want) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    while (*flag < want) {
        int rc = pthread_cond_timedwait(&g->cv, &g->mu, &deadline);
        CHECK(rc == 0 || rc == ETIMEDOUT);
        if (rc == ETIMEDOUT) CHECK(*flag >= want);
    }
}

/* A worker callback's context: answers per call, records what it got, may block a call until
 * released, and counts its drops. */
enum { MAX_CALLS = 8, MAX_REC = 64 };
typedef struct {
    signal_t sig;
    int32_t answers[MAX_CALLS]; /* answer of call i; the last one repeats */
    long calls;
    long events;
    long gaps;
    uint64_t batch[MAX_CALLS][MAX_REC];
    size_t batch_len[MAX_CALLS];
    uint64_t last_seq; /* every event's sequence must exceed the previous one */
    int out_of_order;
    long block_call;   /* call number (1-based) that waits for `released`; 0: none */
    long released;
    long entered;      /* set when the blocking call is entered */
    transom_worker *self;
    int join_from_inside; /* call transom_worker_join etc. from the first call */
    transom_status inside_join, inside_join_forever, inside_stop_and_join, inside_stop;
    long drops;
} rec_t;

static void rec_init(rec_t *r) {
    memset(r, 0, sizeof *r);
    signal_init(&r->sig);
}

static int32_t rec_call(void *ctx, const transom_item *items, size_t count) {
    rec_t *r = ctx;
    pthread_mutex_lock(&r->sig.mu);
    long call = r->calls;
    if (call < MAX_CALLS) {
        r->batch_len[call] = count < MAX_REC ? count : MAX_REC;
    }
    for (size_t i = 0; i < count; i++) {
        if (items[i].kind == TRANSOM_ITEM_GAP) {
            r->gaps += (long)items[i].gap_count;
            continue;
        }
        uint64_t seq = items[i].event.sequence;
        if (seq <= r->last_seq) r->out_of_order = 1;
        r->last_seq = seq;
        r->events++;
        if (call < MAX_CALLS && i < MAX_REC) r->batch[call][i] = seq;
    }
    int32_t answer = r->answers[call < MAX_CALLS ? call : MAX_CALLS - 1];
    if (r->join_from_inside && call == 0) {
        int32_t ex = -1;
        r->inside_join = transom_worker_join(r->self, 0, &ex);
        r->inside_join_forever = transom_worker_join(r->self, UINT64_MAX, &ex);
        r->inside_stop_and_join = transom_worker_stop_and_join(r->self, UINT64_MAX, &ex);
        r->inside_stop = transom_worker_stop(r->self);
    }
    r->calls++;
    if (r->block_call == call + 1) {
        r->entered = 1;
        pthread_cond_broadcast(&r->sig.cv);
        wait_at_least(&r->sig, &r->released, 1);
    }
    pthread_cond_broadcast(&r->sig.cv);
    pthread_mutex_unlock(&r->sig.mu);
    return answer;
}

static void rec_drop(void *ctx) {
    rec_t *r = ctx;
    pthread_mutex_lock(&r->sig.mu);
    r->drops++;
    pthread_cond_broadcast(&r->sig.cv);
    pthread_mutex_unlock(&r->sig.mu);
}

static transom_batch_callback rec_callback(rec_t *r) {
    transom_batch_callback cb = {r, rec_call, rec_drop};
    return cb;
}

static long rec_get(rec_t *r, const long *field) {
    pthread_mutex_lock(&r->sig.mu);
    long v = *field;
    pthread_mutex_unlock(&r->sig.mu);
    return v;
}

static void rec_wait(rec_t *r, const long *field, long want) {
    pthread_mutex_lock(&r->sig.mu);
    wait_at_least(&r->sig, field, want);
    pthread_mutex_unlock(&r->sig.mu);
}

static void rec_release(rec_t *r) {
    pthread_mutex_lock(&r->sig.mu);
    r->released = 1;
    pthread_cond_broadcast(&r->sig.cv);
    pthread_mutex_unlock(&r->sig.mu);
}

static transom_worker *spawn(transom_canal *c, rec_t *r, size_t max_batch, uint32_t checkpoint_every) {
    transom_worker_options o;
    memset(&o, 0, sizeof o);
    o.max_batch = max_batch;
    o.checkpoint_every = checkpoint_every;
    transom_worker *w = NULL;
    CHECK_OK(transom_canal_spawn_worker(c, rec_callback(r), &o, &w));
    CHECK(w != NULL);
    transom_canal_free(c); /* the worker has the canal now; the handle is released */
    return w;
}

/* Frees the worker and checks that its callback's drop ran exactly once. */
static void free_worker(transom_worker *w, rec_t *r) {
    transom_worker_free(w);
    CHECK(rec_get(r, &r->drops) == 1);
    signal_destroy(&r->sig);
}

/* ---- tests -------------------------------------------------------------------------------- */

/* Durable cursor: ack half of 10,000 events, checkpoint, close, reopen: delivery resumes at the
 * first unacked event. */
static void durable_cursor_resumes_at_the_first_unacked_event_after_reopen(void) {
    long n = scaled(10000);
    if (n < 2) n = 2;
    uint64_t half = (uint64_t)n / 2;
    char dir[256];
    temp_dir(dir, sizeof dir);

    transom_store *s = open_store(dir, TRANSOM_SYNC_NEVER);
    append_range(s, 1, n);
    transom_canal *c = named_cursor(s, "durable");
    expect_exactly(c, 1, (uint64_t)n);
    CHECK_OK(transom_canal_ack(c, half));
    CHECK_OK(transom_canal_checkpoint(c));
    CHECK(checkpoint_on_disk(dir, "durable") == half);
    transom_canal_free(c);
    close_store(s);

    /* Reopened store: resumes at half + 1 and the rest follows densely to n. */
    s = open_store(dir, TRANSOM_SYNC_NEVER);
    c = named_cursor(s, "durable");
    {
        transom_item it[1];
        size_t got = 0;
        CHECK_OK(transom_canal_pull_batch(c, 0, it, 1, &got));
        CHECK(got == 1 && it[0].event.sequence == half + 1 && payload_seq(&it[0]) == half + 1);
    }
    expect_exactly(c, half + 2, (uint64_t)n);
    /* Acknowledged but never checkpointed: freeing loses it, the checkpoint stays at half. */
    CHECK_OK(transom_canal_ack(c, (uint64_t)n));
    transom_canal_free(c);
    CHECK(checkpoint_on_disk(dir, "durable") == half);
    c = named_cursor(s, "durable");
    expect_exactly(c, half + 1, (uint64_t)n);
    transom_canal_free(c);
    close_store(s);
    remove_tree(dir);
}

/* STOP_AND_ROLLBACK re-delivers its batch: to a new cursor of the same name after the worker is
 * freed, whether it was the first batch or came after a CONTINUE (which stays acknowledged). */
static void stop_and_rollback_redelivers_its_batch(void) {
    for (int continue_first = 0; continue_first < 2; continue_first++) {
        char dir[256];
        temp_dir(dir, sizeof dir);
        transom_store *s = open_store(dir, TRANSOM_SYNC_NEVER);
        append_range(s, 1, 10);
        rec_t r;
        rec_init(&r);
        int rb = continue_first; /* the call that rolls back */
        for (int i = 0; i < MAX_CALLS; i++) r.answers[i] = TRANSOM_WORKER_CONTINUE;
        r.answers[rb] = TRANSOM_WORKER_STOP_AND_ROLLBACK;
        transom_worker *w = spawn(named_cursor(s, "rollback"), &r, 4, 0);
        int32_t exit_kind = -1;
        CHECK_OK(transom_worker_join(w, 60 * SECOND_NS, &exit_kind));
        CHECK(exit_kind == TRANSOM_WORKER_EXIT_CALLBACK_STOPPED);
        CHECK(r.calls == rb + 1);
        /* Everything was committed before the worker started: batches of exactly 4. */
        CHECK(r.batch_len[rb] == 4);
        for (int i = 0; i < 4; i++) CHECK(r.batch[rb][i] == (uint64_t)(4 * rb + i + 1));
        /* The name is held until the worker is freed. */
        transom_cursor_options o;
        memset(&o, 0, sizeof o);
        o.start = TRANSOM_START_NAMED;
        o.name = "rollback";
        o.name_len = 8;
        transom_canal *busy = NULL;
        CHECK_STATUS(transom_canal_open_cursor(s, &o, &busy), TRANSOM_ERR_NAME_IN_USE);
        free_worker(w, &r);

        /* Only the CONTINUE batch was checkpointed on exit. */
        if (continue_first) CHECK(checkpoint_on_disk(dir, "rollback") == 4);
        transom_canal *c = named_cursor(s, "rollback");
        transom_item it[4];
        size_t got = 0;
        CHECK_OK(transom_canal_pull_batch(c, 0, it, 4, &got));
        CHECK(got == 4);
        for (size_t i = 0; i < 4; i++) CHECK(it[i].event.sequence == r.batch[rb][i]);
        transom_canal_free(c);
        close_store(s);
        remove_tree(dir);
    }
}

/* CONTINUE acknowledges every batch: after stop, the exit checkpoint holds the last sequence and
 * a reopened cursor has nothing left. */
static void continue_acks_and_the_exit_checkpoint_keeps_it(void) {
    long n = scaled(1000);
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *s = open_store(dir, TRANSOM_SYNC_NEVER);
    append_range(s, 1, n);
    rec_t r;
    rec_init(&r);
    transom_worker *w = spawn(named_cursor(s, "acks"), &r, 7, 0);
    rec_wait(&r, &r.events, n);
    int32_t exit_kind = -1;
    CHECK_OK(transom_worker_stop_and_join(w, 60 * SECOND_NS, &exit_kind));
    CHECK(exit_kind == TRANSOM_WORKER_EXIT_STOPPED);
    CHECK(r.events == n && r.gaps == 0 && !r.out_of_order && r.last_seq == (uint64_t)n);
    /* Repeated joins give the same result. */
    exit_kind = -1;
    CHECK_OK(transom_worker_join(w, 0, &exit_kind));
    CHECK(exit_kind == TRANSOM_WORKER_EXIT_STOPPED);
    CHECK_OK(transom_worker_join(w, 0, NULL));
    free_worker(w, &r);
    CHECK(checkpoint_on_disk(dir, "acks") == (uint64_t)n);
    transom_canal *c = named_cursor(s, "acks");
    expect_exactly(c, (uint64_t)n + 1, (uint64_t)n); /* nothing */
    transom_canal_free(c);
    close_store(s);
    remove_tree(dir);
}

/* A worker blocked in a pull on an idle store: a join with a short timeout says TIMEOUT, and
 * transom_worker_stop wakes it (exit STOPPED, callback never called). Cursor and subscription. */
static void stop_wakes_a_worker_blocked_on_an_idle_store(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    for (int sub = 0; sub < 2; sub++) {
        rec_t r;
        rec_init(&r);
        transom_canal *c = sub ? subscription(s, 8, TRANSOM_OVERFLOW_DROP_NEWEST)
                               : plain_cursor(s, TRANSOM_START_BEGIN);
        transom_worker *w = spawn(c, &r, 0, 0);
        int32_t exit_kind = -1;
        CHECK_STATUS(transom_worker_join(w, 20 * 1000 * 1000, &exit_kind), TRANSOM_TIMEOUT);
        CHECK_STATUS(transom_worker_join(w, 0, NULL), TRANSOM_TIMEOUT);
        CHECK_OK(transom_worker_stop(w));
        CHECK_OK(transom_worker_stop(w)); /* idempotent */
        CHECK_OK(transom_worker_join(w, 60 * SECOND_NS, &exit_kind));
        CHECK(exit_kind == TRANSOM_WORKER_EXIT_STOPPED);
        CHECK(rec_get(&r, &r.calls) == 0);
        free_worker(w, &r);
    }
    close_store(s);
}

/* Join (and stop_and_join) from inside the worker's own callback is WRONG_STATE, at once, even
 * without a timeout; stop from inside works and the worker ends STOPPED after the callback. */
static void join_from_inside_the_callback_is_wrong_state(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    rec_t r;
    rec_init(&r);
    r.join_from_inside = 1;
    r.answers[0] = TRANSOM_WORKER_CONTINUE;
    transom_worker *w = spawn(plain_cursor(s, TRANSOM_START_BEGIN), &r, 0, 0);
    pthread_mutex_lock(&r.sig.mu);
    r.self = w; /* before the first event exists, so before the first call */
    pthread_mutex_unlock(&r.sig.mu);
    append_range(s, 1, 3);
    int32_t exit_kind = -1;
    CHECK_OK(transom_worker_join(w, 60 * SECOND_NS, &exit_kind));
    CHECK(exit_kind == TRANSOM_WORKER_EXIT_STOPPED);
    CHECK(r.inside_join == TRANSOM_ERR_WRONG_STATE);
    CHECK(r.inside_join_forever == TRANSOM_ERR_WRONG_STATE);
    CHECK(r.inside_stop_and_join == TRANSOM_ERR_WRONG_STATE);
    CHECK(r.inside_stop == TRANSOM_OK);
    CHECK(r.calls == 1 && r.events == 3);
    free_worker(w, &r);
    close_store(s);
}

/* Closing the store ends a subscription worker after it delivered everything: exit CLOSED. */
static void closing_the_store_ends_a_subscription_worker_after_everything(void) {
    long n = scaled(1000);
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    rec_t r;
    rec_init(&r);
    transom_worker *w = spawn(subscription(s, (size_t)n, TRANSOM_OVERFLOW_DISCONNECT), &r, 16, 0);
    append_range(s, 1, n);
    close_store(s);
    int32_t exit_kind = -1;
    CHECK_OK(transom_worker_join(w, 60 * SECOND_NS, &exit_kind));
    CHECK(exit_kind == TRANSOM_WORKER_EXIT_CLOSED);
    CHECK(r.events == n && r.gaps == 0 && !r.out_of_order && r.last_seq == (uint64_t)n);
    free_worker(w, &r);
}

/* A failed checkpoint ends the worker and join returns its error (IO), repeatedly: during the
 * run (checkpoint_every = 1) and at exit (default exit checkpoint). The failure: a regular file
 * named `checkpoints` where the checkpoint directory should be. */
static void a_failed_checkpoint_is_the_workers_terminal_error(void) {
    for (int at_exit = 0; at_exit < 2; at_exit++) {
        char dir[256], blocker[512];
        temp_dir(dir, sizeof dir);
        join_path(blocker, sizeof blocker, dir, "checkpoints");
        transom_store *s = open_store(dir, TRANSOM_SYNC_NEVER);
        append_range(s, 1, 10);
        /* Opened while there is no checkpoint directory yet: no checkpoint, starts at BEGIN. */
        transom_canal *c = named_cursor(s, "blocked");
        int fd = open(blocker, O_CREAT | O_WRONLY | O_EXCL, 0644);
        CHECK(fd >= 0);
        close(fd);
        rec_t r;
        rec_init(&r);
        transom_worker *w = spawn(c, &r, 4, at_exit ? 0 : 1);
        int32_t exit_kind = -1;
        if (at_exit) {
            rec_wait(&r, &r.events, 10);
            CHECK_STATUS(transom_worker_stop_and_join(w, 60 * SECOND_NS, &exit_kind), TRANSOM_ERR_IO);
        } else {
            CHECK_STATUS(transom_worker_join(w, 60 * SECOND_NS, &exit_kind), TRANSOM_ERR_IO);
            /* It stopped at the first failed checkpoint, after the first batch. */
            CHECK(r.calls == 1 && r.events == 4);
        }
        CHECK_STATUS(transom_worker_join(w, 0, &exit_kind), TRANSOM_ERR_IO);
        CHECK_STATUS(transom_worker_join(w, UINT64_MAX, NULL), TRANSOM_ERR_IO);
        free_worker(w, &r);
        /* While `checkpoints` is a file, a named cursor cannot even read its checkpoint. */
        transom_cursor_options o;
        memset(&o, 0, sizeof o);
        o.start = TRANSOM_START_NAMED;
        o.name = "blocked";
        o.name_len = 7;
        transom_canal *none = NULL;
        CHECK_STATUS(transom_canal_open_cursor(s, &o, &none), TRANSOM_ERR_IO);
        CHECK(none == NULL);
        /* Nothing was saved: with the directory possible again, it starts at BEGIN. */
        CHECK(unlink(blocker) == 0);
        c = named_cursor(s, "blocked");
        expect_exactly(c, 1, 10);
        transom_canal_free(c);
        close_store(s);
        remove_tree(dir);
    }
}

/* A DISCONNECT subscription worker that overflows: its buffered events are still delivered,
 * then join returns TRANSOM_ERR_DISCONNECTED. */
static void an_overflowing_disconnect_worker_ends_disconnected(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    rec_t r;
    rec_init(&r);
    r.block_call = 1;
    transom_worker *w = spawn(subscription(s, 2, TRANSOM_OVERFLOW_DISCONNECT), &r, 16, 0);
    append_range(s, 1, 1);
    rec_wait(&r, &r.entered, 1); /* the callback holds [1]; the buffer is empty */
    append_range(s, 2, 3);       /* 2 and 3 fill the buffer, 4 overflows it */
    int32_t exit_kind = -1;
    CHECK_STATUS(transom_worker_join(w, 20 * 1000 * 1000, &exit_kind), TRANSOM_TIMEOUT);
    rec_release(&r);
    CHECK_STATUS(transom_worker_join(w, 60 * SECOND_NS, &exit_kind), TRANSOM_ERR_DISCONNECTED);
    CHECK_STATUS(transom_worker_join(w, 0, NULL), TRANSOM_ERR_DISCONNECTED);
    CHECK(r.events == 3 && r.gaps == 0 && r.last_seq == 3 && !r.out_of_order);
    CHECK(r.batch_len[0] == 1 && r.batch[0][0] == 1);
    free_worker(w, &r);
    close_store(s);
}

/* The callback's drop runs exactly once: after a normal end, when freed while blocked, when freed
 * without any join, and when freed from inside its own callback (then once the callback
 * returned). */
static int32_t free_self(void *ctx, const transom_item *items, size_t count) {
    rec_t *r = ctx;
    int32_t answer = rec_call(ctx, items, count);
    pthread_mutex_lock(&r->sig.mu);
    transom_worker *w = r->self;
    pthread_mutex_unlock(&r->sig.mu);
    transom_worker_free(w); /* stops it and returns at once */
    CHECK(rec_get(r, &r->drops) == 0); /* not while the callback runs */
    return answer;
}

static void the_callback_drop_runs_exactly_once(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    /* Freed while blocked in a pull, never joined. */
    rec_t r;
    rec_init(&r);
    transom_worker *w = spawn(plain_cursor(s, TRANSOM_START_END), &r, 0, 0);
    CHECK(rec_get(&r, &r.drops) == 0);
    free_worker(w, &r);

    /* Freed after the callback said STOP and join saw it. */
    rec_init(&r);
    r.answers[0] = TRANSOM_WORKER_STOP;
    append_range(s, 1, 2);
    w = spawn(plain_cursor(s, TRANSOM_START_BEGIN), &r, 0, 0);
    int32_t exit_kind = -1;
    CHECK_OK(transom_worker_join(w, 60 * SECOND_NS, &exit_kind));
    CHECK(exit_kind == TRANSOM_WORKER_EXIT_CALLBACK_STOPPED);
    free_worker(w, &r);

    /* Freed from inside its own callback. */
    rec_init(&r);
    transom_worker_options o;
    memset(&o, 0, sizeof o);
    transom_batch_callback cb = {&r, free_self, rec_drop};
    w = NULL;
    transom_canal *c = plain_cursor(s, TRANSOM_START_END);
    CHECK_OK(transom_canal_spawn_worker(c, cb, &o, &w));
    transom_canal_free(c);
    pthread_mutex_lock(&r.sig.mu);
    r.self = w;
    pthread_mutex_unlock(&r.sig.mu);
    append_range(s, 3, 1);
    rec_wait(&r, &r.drops, 1);
    CHECK(r.calls == 1 && r.drops == 1);
    signal_destroy(&r.sig);
    close_store(s);
}

/* Close while 4 threads are blocked in pull_batch: all wake, buffered items come first, then
 * CLOSED. Two cursors (all events; kind 2 only) and two subscriptions (all events; streams
 * starting "ev") on one store. */
typedef struct {
    transom_canal *canal;
    pthread_barrier_t *latch;
    uint16_t only_kind;     /* 0: any */
    const char *prefix;     /* NULL: any */
    long events, gaps, mismatched, out_of_order;
    transom_status final, after;
    /* Phase B only: after its first batch, report it and wait until the store is closed. */
    signal_t *pause;
    long *first_batches, *closed;
} puller_t;

static void *pull_until_closed(void *arg) {
    puller_t *p = arg;
    transom_item items[4];
    uint64_t last = 0;
    int rc = pthread_barrier_wait(p->latch);
    CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
    for (;;) {
        size_t n = 0;
        transom_status st = transom_canal_pull_batch(p->canal, UINT64_MAX, items, 4, &n);
        if (st != TRANSOM_OK) {
            p->final = st;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (items[i].kind == TRANSOM_ITEM_GAP) {
                p->gaps += (long)items[i].gap_count;
                continue;
            }
            const transom_event *e = &items[i].event;
            if (e->sequence <= last) p->out_of_order++;
            last = e->sequence;
            if (p->only_kind && e->kind != p->only_kind) p->mismatched++;
            if (p->prefix && (e->stream_len < strlen(p->prefix) ||
                              memcmp(e->stream, p->prefix, strlen(p->prefix)) != 0))
                p->mismatched++;
            p->events++;
        }
        if (p->pause) {
            pthread_mutex_lock(&p->pause->mu);
            (*p->first_batches)++;
            pthread_cond_broadcast(&p->pause->cv);
            wait_at_least(p->pause, p->closed, 1);
            pthread_mutex_unlock(&p->pause->mu);
            p->pause = NULL;
        }
    }
    size_t n = 0;
    p->after = transom_canal_pull_batch(p->canal, 0, items, 4, &n);
    return NULL;
}

/* Phase A (`paused` 0): the four threads block, one commit wakes them, the store closes at
 * once. Phase B (`paused` 1): each thread, after its first batch, waits until the close has
 * returned, so every one of them still has committed events to receive after the close. */
static void four_pullers_then_close(int paused) {
    long n = scaled(1000);
    if (n < 8) n = 8;
    transom_store *s = open_store(NULL, TRANSOM_SYNC_NEVER);
    pthread_barrier_t latch;
    CHECK(pthread_barrier_init(&latch, NULL, 5) == 0);
    signal_t pause;
    signal_init(&pause);
    long first_batches = 0, closed = 0;
    uint16_t kind2[] = {2};
    puller_t p[4];
    memset(p, 0, sizeof p);
    p[0].canal = plain_cursor(s, TRANSOM_START_BEGIN);
    {
        transom_cursor_options o;
        memset(&o, 0, sizeof o);
        o.filter.kinds = kind2;
        o.filter.kind_count = 1;
        CHECK_OK(transom_canal_open_cursor(s, &o, &p[1].canal));
        p[1].only_kind = 2;
    }
    p[2].canal = subscription(s, (size_t)n, TRANSOM_OVERFLOW_DROP_NEWEST);
    {
        transom_subscription_options o;
        memset(&o, 0, sizeof o);
        o.capacity = (size_t)n;
        o.overflow = TRANSOM_OVERFLOW_DROP_NEWEST;
        o.filter.stream_prefix = "ev";
        o.filter.stream_prefix_len = 2;
        CHECK_OK(transom_canal_open_subscription(s, &o, &p[3].canal));
        p[3].prefix = "even";
    }
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        p[i].latch = &latch;
        if (paused) {
            p[i].pause = &pause;
            p[i].first_batches = &first_batches;
            p[i].closed = &closed;
        }
        CHECK(pthread_create(&t[i], NULL, pull_until_closed, &p[i]) == 0);
    }
    int rc = pthread_barrier_wait(&latch);
    CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
    /* One commit, then the close: everything the pullers get comes after they were woken. */
    append_chunked(s, 1, n, n);
    if (paused) {
        pthread_mutex_lock(&pause.mu);
        wait_at_least(&pause, &first_batches, 4);
        pthread_mutex_unlock(&pause.mu);
    }
    close_store(s);
    pthread_mutex_lock(&pause.mu);
    closed = 1;
    pthread_cond_broadcast(&pause.cv);
    pthread_mutex_unlock(&pause.mu);
    for (int i = 0; i < 4; i++) CHECK(pthread_join(t[i], NULL) == 0);
    pthread_barrier_destroy(&latch);
    signal_destroy(&pause);
    long odd = (n + 1) / 2, even = n / 2;
    long want[4] = {n, odd, n, even};
    for (int i = 0; i < 4; i++) {
        if (p[i].events != want[i] || p[i].final != TRANSOM_ERR_CLOSED)
            fprintf(stderr, "puller %d (%s): %ld of %ld events, then %d (%s)\n", i,
                    i < 2 ? "cursor" : "subscription", p[i].events, want[i], p[i].final,
                    transom_status_str(p[i].final));
    }
    for (int i = 0; i < 4; i++) {
        CHECK(p[i].gaps == 0 && p[i].mismatched == 0 && p[i].out_of_order == 0);
        CHECK(p[i].final == TRANSOM_ERR_CLOSED);
        CHECK(p[i].after == TRANSOM_ERR_CLOSED);
    }
    for (int i = 0; i < 4; i++) CHECK(p[i].events == want[i]);
    for (int i = 0; i < 4; i++) transom_canal_free(p[i].canal);
}

static void close_wakes_four_blocked_pulls_after_their_items(void) { four_pullers_then_close(0); }

static void close_hands_committed_events_to_pullers_that_paused_mid_stream(void) {
    four_pullers_then_close(1);
}

/* Closing the store ends a cursor worker only after it delivered everything (exit CLOSED). The
 * worker's first batch (event 1 of n, max_batch 1) is still in its callback when the store is
 * closed; the remaining committed events must still be delivered. */
static void closing_the_store_ends_a_cursor_worker_after_everything(void) {
    long n = scaled(100);
    if (n < 2) n = 2;
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    append_range(s, 1, n);
    rec_t r;
    rec_init(&r);
    r.block_call = 1;
    transom_worker *w = spawn(plain_cursor(s, TRANSOM_START_BEGIN), &r, 1, 0);
    rec_wait(&r, &r.entered, 1);
    close_store(s);
    rec_release(&r);
    int32_t exit_kind = -1;
    CHECK_OK(transom_worker_join(w, 60 * SECOND_NS, &exit_kind));
    CHECK(exit_kind == TRANSOM_WORKER_EXIT_CLOSED);
    if (r.events != n) fprintf(stderr, "cursor worker: %ld of %ld events before CLOSED\n", r.events, n);
    CHECK(r.events == n && r.last_seq == (uint64_t)n && !r.out_of_order);
    free_worker(w, &r);
}

int main(void) {
    RUN(durable_cursor_resumes_at_the_first_unacked_event_after_reopen);
    RUN(stop_and_rollback_redelivers_its_batch);
    RUN(continue_acks_and_the_exit_checkpoint_keeps_it);
    RUN(stop_wakes_a_worker_blocked_on_an_idle_store);
    RUN(join_from_inside_the_callback_is_wrong_state);
    RUN(closing_the_store_ends_a_subscription_worker_after_everything);
    RUN(a_failed_checkpoint_is_the_workers_terminal_error);
    RUN(an_overflowing_disconnect_worker_ends_disconnected);
    RUN(the_callback_drop_runs_exactly_once);
    /* Last: these pin the cursor-after-transom_store_close bug (see the report). */
    RUN(close_wakes_four_blocked_pulls_after_their_items);
    RUN(close_hands_committed_events_to_pullers_that_paused_mid_stream);
    RUN(closing_the_store_ends_a_cursor_worker_after_everything);
    return 0;
}
