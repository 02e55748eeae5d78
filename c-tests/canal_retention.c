/* Canals across retention: a cursor (BEGIN, AT n, or a named checkpoint) positioned below the
 * store's first retained sequence gets one TRANSOM_ITEM_GAP item {gap_from, gap_to} for the
 * removed range, then the first retained event; the gap can be acked and checkpointed; a worker
 * sees it in its batch. Never a silent skip. */
#include <pthread.h>

#include "store_support.h"

#define EVENTS 400
#define PAYLOAD 100

/* A store of small segments (4 KiB) so that truncation removes many whole segments. */
static transom_store *small_store(const char *dir) {
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dir;
    cfg.dir_len = strlen(dir);
    cfg.sync = TRANSOM_SYNC_NEVER;
    cfg.segment_size = 4096;
    transom_store *s = NULL;
    CHECK_OK(transom_store_open(&cfg, &s));
    return s;
}

/* Events 1..EVENTS, in batches of 10: event i has a payload of PAYLOAD bytes (uint8_t)i. */
static void fill(const transom_store *s) {
    static uint8_t payloads[10][PAYLOAD];
    transom_append batch[10];
    transom_receipt r[10];
    for (uint64_t first = 1; first <= EVENTS; first += 10) {
        for (int j = 0; j < 10; j++) {
            memset(payloads[j], (int)(uint8_t)(first + (uint64_t)j), PAYLOAD);
            batch[j] = event_of("ret", 1, payloads[j], PAYLOAD);
        }
        CHECK_OK(transom_store_append_batch(s, batch, 10, r));
        CHECK(r[0].sequence == first);
    }
}

static uint64_t truncate_before(const transom_store *s, uint64_t before) {
    uint64_t first = 0;
    CHECK_OK(transom_store_truncate(s, before, &first));
    CHECK(first > 1 && first <= before);
    return first;
}

static void check_event(const transom_item *it, uint64_t seq) {
    CHECK(it->kind == TRANSOM_ITEM_EVENT);
    CHECK(it->event.sequence == seq);
    CHECK(it->event.payload_len == PAYLOAD && it->event.stream_len == 3);
    CHECK(memcmp(it->event.stream, "ret", 3) == 0);
    for (size_t k = 0; k < PAYLOAD; k++) CHECK(it->event.payload[k] == (uint8_t)seq);
}

static void check_gap(const transom_item *it, uint64_t from, uint64_t to) {
    CHECK(it->kind == TRANSOM_ITEM_GAP);
    CHECK(it->gap_from == from && it->gap_to == to && it->gap_count == to - from + 1);
    CHECK(it->event.payload == NULL && it->event.sequence == 0);
}

/* Pulls everything readable now: one gap {gap_from, first - 1} then first..EVENTS. */
static void expect_gap_then_events(transom_canal *c, size_t cap, uint64_t gap_from, uint64_t first) {
    transom_item items[64];
    size_t n = 0;
    int seen_gap = 0;
    uint64_t next = first;
    for (;;) {
        transom_status st = transom_canal_pull_batch(c, 0, items, cap, &n);
        if (st == TRANSOM_TIMEOUT) break;
        CHECK_STATUS(st, TRANSOM_OK);
        CHECK(n >= 1 && n <= cap);
        for (size_t i = 0; i < n; i++) {
            if (!seen_gap) {
                check_gap(&items[i], gap_from, first - 1);
                seen_gap = 1;
                continue;
            }
            check_event(&items[i], next++);
        }
    }
    CHECK(seen_gap);
    CHECK(next == EVENTS + 1);
}

static transom_canal *cursor_at(const transom_store *s, uint32_t start, uint64_t seq, const char *name) {
    transom_cursor_options o;
    memset(&o, 0, sizeof o);
    o.start = start;
    o.start_sequence = seq;
    if (name) {
        o.name = name;
        o.name_len = strlen(name);
    }
    transom_canal *c = NULL;
    CHECK_OK(transom_canal_open_cursor(s, &o, &c));
    return c;
}

static void cursors_below_the_cut_get_a_gap_then_the_retained_events(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *s = small_store(dir);
    fill(s);
    uint64_t first = truncate_before(s, 150);

    size_t caps[] = {1, 3, 64};
    for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
        transom_canal *c = cursor_at(s, TRANSOM_START_BEGIN, 0, NULL);
        expect_gap_then_events(c, caps[k], 1, first);
        transom_canal_free(c);
    }
    transom_canal *c = cursor_at(s, TRANSOM_START_AT, 40, NULL);
    expect_gap_then_events(c, 64, 40, first);
    transom_canal_free(c);

    /* The gap counts as delivered: acking its end is allowed, one past it is not. */
    c = cursor_at(s, TRANSOM_START_BEGIN, 0, NULL);
    transom_item it;
    size_t n = 0;
    CHECK_OK(transom_canal_pull_batch(c, 0, &it, 1, &n));
    check_gap(&it, 1, first - 1);
    CHECK_STATUS(transom_canal_ack(c, first), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_OK(transom_canal_ack(c, first - 1));
    CHECK_OK(transom_canal_pull_batch(c, 0, &it, 1, &n));
    check_event(&it, first);
    transom_canal_free(c);

    /* At the first retained sequence: no gap. */
    c = cursor_at(s, TRANSOM_START_AT, first, NULL);
    CHECK_OK(transom_canal_pull_batch(c, 0, &it, 1, &n));
    check_event(&it, first);
    transom_canal_free(c);
    close_store(s);
    remove_tree(dir);
}

static void a_durable_checkpoint_below_the_cut_resumes_with_a_gap(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *s = small_store(dir);
    fill(s);
    transom_canal *c = cursor_at(s, TRANSOM_START_NAMED, 0, "below");
    transom_item items[10];
    size_t n = 0;
    CHECK_OK(transom_canal_pull_batch(c, 0, items, 10, &n));
    CHECK(n == 10);
    for (size_t i = 0; i < n; i++) check_event(&items[i], i + 1);
    CHECK_OK(transom_canal_ack(c, 10));
    CHECK_OK(transom_canal_checkpoint(c));
    transom_canal_free(c);
    uint64_t first = truncate_before(s, 200);
    CHECK(first > 11);
    close_store(s);

    s = small_store(dir);
    c = cursor_at(s, TRANSOM_START_NAMED, 0, "below");
    expect_gap_then_events(c, 64, 11, first);
    /* Checkpointed past the gap, it resumes with no gap. */
    CHECK_OK(transom_canal_ack(c, EVENTS));
    CHECK_OK(transom_canal_checkpoint(c));
    transom_canal_free(c);
    c = cursor_at(s, TRANSOM_START_NAMED, 0, "below");
    CHECK_STATUS(transom_canal_pull_batch(c, 0, items, 10, &n), TRANSOM_TIMEOUT);
    transom_canal_free(c);
    close_store(s);
    remove_tree(dir);
}

typedef struct {
    pthread_mutex_t lock;
    uint64_t gaps, gap_from, gap_to, events, next;
    int bad;
} seen_t;

static int32_t seen_call(void *ctx, const transom_item *items, size_t count) {
    seen_t *r = ctx;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < count; i++) {
        if (items[i].kind == TRANSOM_ITEM_GAP) {
            r->gaps++;
            r->gap_from = items[i].gap_from;
            r->gap_to = items[i].gap_to;
            r->next = items[i].gap_to + 1;
        } else if (items[i].event.sequence == r->next && items[i].event.payload[0] == (uint8_t)r->next) {
            r->events++;
            r->next++;
        } else {
            r->bad = 1;
        }
    }
    /* Everything seen: stop, which acks this batch and checkpoints while the store is open. */
    int done = r->next > EVENTS;
    pthread_mutex_unlock(&r->lock);
    return done ? TRANSOM_WORKER_STOP : TRANSOM_WORKER_CONTINUE;
}

static void a_worker_sees_the_gap_and_checkpoints_past_it(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *s = small_store(dir);
    fill(s);
    uint64_t first = truncate_before(s, 120);
    transom_canal *c = cursor_at(s, TRANSOM_START_NAMED, 0, "worker");
    seen_t r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.lock, NULL);
    r.next = 1;
    transom_batch_callback cb = {&r, seen_call, NULL};
    transom_worker *w = NULL;
    CHECK_OK(transom_canal_spawn_worker(c, cb, NULL, &w));
    transom_worker_exit exit_code = -1;
    CHECK_OK(transom_worker_join(w, UINT64_MAX, &exit_code));
    CHECK(exit_code == TRANSOM_WORKER_EXIT_CALLBACK_STOPPED);
    CHECK_OK(transom_store_close(s));
    transom_worker_free(w);
    transom_canal_free(c);
    transom_store_free(s);
    CHECK(!r.bad);
    CHECK(r.gaps == 1 && r.gap_from == 1 && r.gap_to == first - 1);
    CHECK(r.events == EVENTS - first + 1);

    /* The exit checkpoint is at the head: nothing comes again. */
    s = small_store(dir);
    c = cursor_at(s, TRANSOM_START_NAMED, 0, "worker");
    transom_item it;
    size_t n = 0;
    CHECK_STATUS(transom_canal_pull_batch(c, 0, &it, 1, &n), TRANSOM_TIMEOUT);
    transom_canal_free(c);
    close_store(s);
    pthread_mutex_destroy(&r.lock);
    remove_tree(dir);
}

int main(void) {
    RUN(cursors_below_the_cut_get_a_gap_then_the_retained_events);
    RUN(a_durable_checkpoint_below_the_cut_resumes_with_a_gap);
    RUN(a_worker_sees_the_gap_and_checkpoints_past_it);
    return 0;
}
