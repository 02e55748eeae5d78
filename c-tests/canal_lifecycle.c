/* The canal handle's lifecycle and the pull's array rules: transom_canal_close wakes a pull
 * blocked on another thread, a closed subscription hands out its buffer first, every later
 * call is CLOSED and a second close is OK; transom_canal_free releases (open or closed, NULL
 * accepted); pull_batch refuses cap 0 and writes `items`/`*out_count` on TRANSOM_OK only;
 * after a spawn the handle has no canal and must still be freed. */
#include <pthread.h>

#include "store_support.h"

#define SECOND_NS 1000000000ull
#define SENTINEL ((size_t)0x5a5a5a5a)

static void append_n(const transom_store *s, int n) {
    for (int i = 0; i < n; i++) {
        transom_append a = event_of("s", 1, "e", 1);
        CHECK_OK(transom_store_append(s, &a, NULL));
    }
}

static transom_canal *cursor_at(const transom_store *s, transom_start_kind start) {
    transom_cursor_options o;
    memset(&o, 0, sizeof o);
    o.start = start;
    transom_canal *c = NULL;
    CHECK_OK(transom_canal_open_cursor(s, &o, &c));
    return c;
}

static transom_canal *subscription(const transom_store *s, size_t capacity) {
    transom_subscription_options o;
    memset(&o, 0, sizeof o);
    o.capacity = capacity;
    o.overflow = TRANSOM_OVERFLOW_DROP_OLDEST;
    transom_canal *c = NULL;
    CHECK_OK(transom_canal_open_subscription(s, &o, &c));
    return c;
}

/* An item array whose entries all read `kind` 0x5a5a5a5a until something writes them. */
static void poison(transom_item *items, size_t n) { memset(items, 0x5a, n * sizeof *items); }

static int untouched(const transom_item *items, size_t n) {
    transom_item p;
    memset(&p, 0x5a, sizeof p);
    for (size_t i = 0; i < n; i++)
        if (memcmp(&items[i], &p, sizeof p) != 0) return 0;
    return 1;
}

static void cap_zero_is_invalid_and_failures_write_no_output(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_canal *c = cursor_at(s, TRANSOM_START_END);
    transom_item items[4];
    size_t n = SENTINEL;
    poison(items, 4);
    CHECK_STATUS(transom_canal_pull_batch(c, 0, items, 0, &n), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_canal_pull_batch(c, UINT64_MAX, items, 0, &n), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_canal_pull_batch(c, 0, NULL, 0, &n), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(n == SENTINEL && untouched(items, 4));
    /* TIMEOUT: nothing written. */
    CHECK_STATUS(transom_canal_pull_batch(c, 0, items, 4, &n), TRANSOM_TIMEOUT);
    CHECK_STATUS(transom_canal_pull_batch(c, 1000, items, 4, &n), TRANSOM_TIMEOUT);
    CHECK(n == SENTINEL && untouched(items, 4));
    /* INTERRUPTED: nothing written. */
    CHECK_OK(transom_canal_interrupt(c));
    CHECK_STATUS(transom_canal_pull_batch(c, 60 * SECOND_NS, items, 4, &n), TRANSOM_INTERRUPTED);
    CHECK(n == SENTINEL && untouched(items, 4));
    /* OK: both written. */
    append_n(s, 2);
    CHECK_OK(transom_canal_pull_batch(c, 0, items, 4, &n));
    CHECK(n == 2 && items[0].kind == TRANSOM_ITEM_EVENT && items[1].event.sequence == 2);
    CHECK(untouched(items + 2, 2));
    /* CLOSED (the store closed, everything handed out): nothing written. */
    close_store(s);
    n = SENTINEL;
    poison(items, 4);
    CHECK_STATUS(transom_canal_pull_batch(c, UINT64_MAX, items, 4, &n), TRANSOM_ERR_CLOSED);
    CHECK(n == SENTINEL && untouched(items, 4));
    transom_canal_free(c);
}

typedef struct {
    transom_canal *canal;
    pthread_barrier_t *ready;
    transom_status got;
    size_t n;
    uint64_t first;
} puller_t;

/* Pulls without a time limit until the pull fails; records the first pulled sequence. */
static void *pull_until_failure(void *arg) {
    puller_t *p = arg;
    transom_item it[8];
    int rc = pthread_barrier_wait(p->ready);
    CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
    for (;;) {
        size_t n = SENTINEL;
        transom_status st = transom_canal_pull_batch(p->canal, UINT64_MAX, it, 8, &n);
        if (st != TRANSOM_OK) {
            p->got = st;
            CHECK(n == SENTINEL);
            return NULL;
        }
        if (p->n == 0) p->first = it[0].event.sequence;
        p->n += n;
    }
}

static void close_wakes_a_pull_blocked_on_another_thread(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    for (int sub = 0; sub < 2; sub++) {
        transom_canal *c = sub ? subscription(s, 8) : cursor_at(s, TRANSOM_START_END);
        pthread_barrier_t ready;
        CHECK(pthread_barrier_init(&ready, NULL, 2) == 0);
        puller_t p = {c, &ready, 0, 0, 0};
        pthread_t t;
        CHECK(pthread_create(&t, NULL, pull_until_failure, &p) == 0);
        int rc = pthread_barrier_wait(&ready);
        CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
        /* Blocked (or about to block) without a time limit: only the close ends it. */
        CHECK_OK(transom_canal_close(c));
        CHECK(pthread_join(t, NULL) == 0);
        pthread_barrier_destroy(&ready);
        CHECK_STATUS(p.got, TRANSOM_ERR_CLOSED);
        CHECK(p.n == 0);
        /* The store is not closed: appends still work, the closed canal sees none of them. */
        append_n(s, 1);
        transom_item it[2];
        size_t n = SENTINEL;
        CHECK_STATUS(transom_canal_pull_batch(c, 0, it, 2, &n), TRANSOM_ERR_CLOSED);
        CHECK(n == SENTINEL);
        CHECK_OK(transom_canal_close(c)); /* idempotent */
        transom_canal_free(c);
    }
    close_store(s);
}

static void a_closed_subscription_hands_out_its_buffer_first(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_canal *sub = subscription(s, 8);
    append_n(s, 3);
    CHECK_OK(transom_canal_close(sub));
    append_n(s, 2); /* after the close: not received */
    transom_item it[8];
    size_t n = 0;
    CHECK_OK(transom_canal_pull_batch(sub, UINT64_MAX, it, 2, &n));
    CHECK(n == 2 && it[0].event.sequence == 1 && it[1].event.sequence == 2);
    CHECK_OK(transom_canal_pull_batch(sub, UINT64_MAX, it, 8, &n));
    CHECK(n == 1 && it[0].event.sequence == 3);
    n = SENTINEL;
    CHECK_STATUS(transom_canal_pull_batch(sub, UINT64_MAX, it, 8, &n), TRANSOM_ERR_CLOSED);
    CHECK(n == SENTINEL);
    transom_canal_free(sub);
    close_store(s);
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long events;
    int dropped;
} seen_t;

static int32_t count_items(void *ctx, const transom_item *items, size_t count) {
    (void)items;
    seen_t *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->events += (long)count;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return TRANSOM_WORKER_CONTINUE;
}

static void seen_drop(void *ctx) {
    seen_t *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->dropped++;
    pthread_mutex_unlock(&s->mu);
}

static void every_call_after_close_is_closed(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    append_n(s, 4);
    transom_cursor_options o;
    memset(&o, 0, sizeof o);
    o.start = TRANSOM_START_NAMED;
    o.name = "reader";
    o.name_len = 6;
    transom_canal *c = NULL;
    CHECK_OK(transom_canal_open_cursor(s, &o, &c));
    transom_item it[2];
    size_t n = 0;
    CHECK_OK(transom_canal_pull_batch(c, 0, it, 2, &n));
    CHECK_OK(transom_canal_ack(c, 2));
    CHECK_OK(transom_canal_checkpoint(c)); /* checkpoint before closing */
    CHECK_OK(transom_canal_close(c));
    CHECK_OK(transom_canal_close(c));
    n = SENTINEL;
    CHECK_STATUS(transom_canal_pull_batch(c, 0, it, 2, &n), TRANSOM_ERR_CLOSED);
    CHECK(n == SENTINEL);
    CHECK_STATUS(transom_canal_ack(c, 2), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_canal_checkpoint(c), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_canal_rewind(c), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_canal_interrupt(c), TRANSOM_ERR_CLOSED);
    static seen_t seen = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    transom_batch_callback cb = {&seen, count_items, seen_drop};
    transom_worker *w = NULL;
    CHECK_STATUS(transom_canal_spawn_worker(c, cb, NULL, &w), TRANSOM_ERR_CLOSED);
    CHECK(w == NULL && seen.dropped == 1 && seen.events == 0);
    /* The name is held until the handle is freed; then it resumes after the checkpoint. */
    transom_canal *again = NULL;
    CHECK_STATUS(transom_canal_open_cursor(s, &o, &again), TRANSOM_ERR_NAME_IN_USE);
    transom_canal_free(c); /* free after close */
    CHECK_OK(transom_canal_open_cursor(s, &o, &again));
    CHECK_OK(transom_canal_pull_batch(again, 0, it, 2, &n));
    CHECK(n == 2 && it[0].event.sequence == 3);
    transom_canal_free(again); /* free without close */
    transom_canal_free(NULL);
    CHECK_STATUS(transom_canal_close(NULL), TRANSOM_ERR_NULL_ARGUMENT);
    close_store(s);
    remove_tree(dir);
}

static void a_spawned_canal_handle_is_inert_until_freed(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    append_n(s, 3);
    transom_canal *c = cursor_at(s, TRANSOM_START_BEGIN);
    static seen_t seen = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    transom_batch_callback cb = {&seen, count_items, seen_drop};
    transom_worker *w = NULL;
    CHECK_OK(transom_canal_spawn_worker(c, cb, NULL, &w));
    transom_item it[2];
    size_t n = SENTINEL;
    CHECK_STATUS(transom_canal_pull_batch(c, 0, it, 2, &n), TRANSOM_ERR_CLOSED);
    CHECK(n == SENTINEL);
    CHECK_STATUS(transom_canal_rewind(c), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_canal_checkpoint(c), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_canal_interrupt(c), TRANSOM_ERR_CLOSED);
    CHECK_OK(transom_canal_close(c)); /* does not reach the worker's canal */
    transom_canal_free(c);
    /* The worker keeps running on its canal: it sees every event, also later ones. */
    append_n(s, 2);
    pthread_mutex_lock(&seen.mu);
    while (seen.events < 5) pthread_cond_wait(&seen.cv, &seen.mu);
    pthread_mutex_unlock(&seen.mu);
    transom_worker_exit exit_kind = -1;
    CHECK_OK(transom_worker_stop_and_join(w, 60 * SECOND_NS, &exit_kind));
    CHECK(exit_kind == TRANSOM_WORKER_EXIT_STOPPED);
    transom_worker_free(w);
    CHECK(seen.dropped == 1 && seen.events == 5);
    close_store(s);
}

int main(void) {
    RUN(cap_zero_is_invalid_and_failures_write_no_output);
    RUN(close_wakes_a_pull_blocked_on_another_thread);
    RUN(a_closed_subscription_hands_out_its_buffer_first);
    RUN(every_call_after_close_is_closed);
    RUN(a_spawned_canal_handle_is_inert_until_freed);
    return 0;
}
