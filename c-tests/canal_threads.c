/* Batch pulls across threads: 4 writer threads append 250,000 events each (scaled) to 8
 * streams while 4 cursor threads (different filters) and 2 subscription threads pull batches of
 * up to 256. Every cursor sees exactly its events, in sequence order, no gaps, no duplicates;
 * each subscription sees an ordered stream in which delivered events plus reported gaps account
 * for every event. Closing the store ends every consumer after its buffered items. */
#include <pthread.h>
#include <stdatomic.h>

#include "store_support.h"

#define WRITERS 4
#define STREAMS 8
static const char *STREAM_NAMES[STREAMS] = {"east-0", "east-1", "east-2", "east-3",
                                            "west-0", "west-1", "west-2", "west-3"};

typedef struct {
    uint32_t writer, counter, stream;
} payload_t;

static transom_store *store;
static long per_writer;
static atomic_long written[STREAMS][WRITERS + 1]; /* [stream][kind] */
static pthread_barrier_t start;

static void *writer(void *arg) {
    uint32_t w = (uint32_t)(uintptr_t)arg;
    pthread_barrier_wait(&start);
    for (long i = 0; i < per_writer; i++) {
        payload_t p = {w, (uint32_t)i, (uint32_t)((w * 3 + (uint32_t)i) % STREAMS)};
        uint16_t kind = (uint16_t)(1 + (i % WRITERS)); /* kinds 1..4 */
        transom_append a = event_of(STREAM_NAMES[p.stream], kind, &p, sizeof p);
        CHECK_OK(transom_store_append(store, &a, NULL));
        atomic_fetch_add(&written[p.stream][kind], 1);
    }
    return NULL;
}

typedef struct {
    const char *name;
    const char *prefix;
    uint16_t kinds[4];
    size_t kind_count;
    int subscription;
    uint32_t overflow;
    transom_canal *canal;
    /* results */
    long events, gaps, gap_events, batches;
    int order_ok, filter_ok, gap_ok;
    uint64_t last_seq;
    uint32_t last_counter[STREAMS][WRITERS]; /* +1, so 0 = none yet */
    transom_status final_status;
} consumer;

static int matches(const consumer *c, const transom_event *e) {
    if (c->prefix && (e->stream_len < strlen(c->prefix) || memcmp(e->stream, c->prefix, strlen(c->prefix)) != 0))
        return 0;
    if (c->kind_count == 0) return 1;
    for (size_t k = 0; k < c->kind_count; k++)
        if (c->kinds[k] == e->kind) return 1;
    return 0;
}

static void *consume(void *arg) {
    consumer *c = arg;
    static __thread transom_item items[256];
    c->order_ok = c->filter_ok = c->gap_ok = 1;
    pthread_barrier_wait(&start);
    for (;;) {
        size_t n = 0;
        transom_status st = transom_canal_pull_batch(c->canal, 30 * 1000000000ull, items, 256, &n);
        if (st == TRANSOM_TIMEOUT) continue; /* a slow machine; the close ends the loop */
        if (st != TRANSOM_OK) {
            c->final_status = st;
            return NULL;
        }
        c->batches++;
        if (n == 0 || n > 256) c->order_ok = 0;
        for (size_t i = 0; i < n; i++) {
            const transom_item *it = &items[i];
            if (it->kind == TRANSOM_ITEM_GAP) {
                if (!c->subscription || it->gap_from <= c->last_seq || it->gap_to < it->gap_from ||
                    it->gap_count == 0 || it->gap_count > it->gap_to - it->gap_from + 1)
                    c->gap_ok = 0;
                c->gaps++;
                c->gap_events += (long)it->gap_count;
                c->last_seq = it->gap_to;
                continue;
            }
            const transom_event *e = &it->event;
            if (e->sequence <= c->last_seq) c->order_ok = 0; /* strictly increasing: no duplicates */
            c->last_seq = e->sequence;
            if (!matches(c, e) || e->payload_len != sizeof(payload_t)) {
                c->filter_ok = 0;
                continue;
            }
            payload_t p;
            memcpy(&p, e->payload, sizeof p);
            if (p.writer >= WRITERS || p.stream >= STREAMS) {
                c->filter_ok = 0;
                continue;
            }
            /* A writer's appends to one stream arrive in its order. */
            if (p.counter + 1 <= c->last_counter[p.stream][p.writer]) c->order_ok = 0;
            c->last_counter[p.stream][p.writer] = p.counter + 1;
            c->events++;
        }
    }
}

static long expected_for(const consumer *c) {
    long total = 0;
    for (int s = 0; s < STREAMS; s++) {
        if (c->prefix && strncmp(STREAM_NAMES[s], c->prefix, strlen(c->prefix)) != 0) continue;
        for (int k = 1; k <= WRITERS; k++) {
            int wanted = c->kind_count == 0;
            for (size_t j = 0; j < c->kind_count; j++)
                if (c->kinds[j] == k) wanted = 1;
            if (wanted) total += atomic_load(&written[s][k]);
        }
    }
    return total;
}

static transom_filter filter_of(const consumer *c) {
    transom_filter f;
    memset(&f, 0, sizeof f);
    if (c->prefix) {
        f.stream_prefix = c->prefix;
        f.stream_prefix_len = strlen(c->prefix);
    }
    f.kinds = c->kind_count ? c->kinds : NULL;
    f.kind_count = c->kind_count;
    return f;
}

static void four_writers_four_cursors_two_subscriptions(void) {
    store = open_store(NULL, TRANSOM_SYNC_NEVER);
    per_writer = scaled(250000);
    static consumer cs[6] = {
        {.name = "cursor: everything"},
        {.name = "cursor: prefix east", .prefix = "east"},
        {.name = "cursor: kinds 2,4", .kinds = {2, 4}, .kind_count = 2},
        {.name = "cursor: prefix west-1 + kinds 1,3", .prefix = "west-1", .kinds = {1, 3}, .kind_count = 2},
        {.name = "subscription: drop oldest", .subscription = 1, .overflow = TRANSOM_OVERFLOW_DROP_OLDEST},
        {.name = "subscription: drop newest, prefix west", .prefix = "west", .subscription = 1,
         .overflow = TRANSOM_OVERFLOW_DROP_NEWEST},
    };
    for (int i = 0; i < 6; i++) {
        if (cs[i].subscription) {
            transom_subscription_options o;
            memset(&o, 0, sizeof o);
            o.filter = filter_of(&cs[i]);
            o.capacity = 512;
            o.overflow = cs[i].overflow;
            CHECK_OK(transom_canal_open_subscription(store, &o, &cs[i].canal));
        } else {
            transom_cursor_options o;
            memset(&o, 0, sizeof o);
            o.filter = filter_of(&cs[i]);
            o.start = TRANSOM_START_BEGIN;
            CHECK_OK(transom_canal_open_cursor(store, &o, &cs[i].canal));
        }
    }
    CHECK(pthread_barrier_init(&start, NULL, WRITERS + 6 + 1) == 0);
    pthread_t wt[WRITERS], ct[6];
    for (int i = 0; i < WRITERS; i++) CHECK(pthread_create(&wt[i], NULL, writer, (void *)(uintptr_t)i) == 0);
    for (int i = 0; i < 6; i++) CHECK(pthread_create(&ct[i], NULL, consume, &cs[i]) == 0);
    pthread_barrier_wait(&start);
    for (int i = 0; i < WRITERS; i++) pthread_join(wt[i], NULL);
    /* Closing ends every consumer once it has everything it should. */
    close_store(store);
    for (int i = 0; i < 6; i++) pthread_join(ct[i], NULL);

    long total = WRITERS * per_writer;
    for (int i = 0; i < 6; i++) {
        consumer *c = &cs[i];
        long expect = expected_for(c);
        printf("# %-40s %8ld events, %6ld gaps (%ld dropped), %6ld batches, expected %ld\n", c->name,
               c->events, c->gaps, c->gap_events, c->batches, expect);
        if (c->final_status != TRANSOM_ERR_CLOSED) fprintf(stderr, "%s ended with %d\n", c->name, c->final_status);
        CHECK(c->final_status == TRANSOM_ERR_CLOSED);
        CHECK(c->order_ok && c->filter_ok && c->gap_ok);
        if (c->subscription)
            CHECK(c->events + c->gap_events == expect); /* drops equal the reported gaps */
        else
            CHECK(c->events == expect && c->gaps == 0); /* exactly its events */
        if (i == 0) CHECK(c->events == total && c->last_seq == (uint64_t)total); /* dense 1..N */
        transom_canal_free(c->canal);
    }
    pthread_barrier_destroy(&start);
}

int main(void) {
    RUN(four_writers_four_cursors_two_subscriptions);
    return 0;
}
