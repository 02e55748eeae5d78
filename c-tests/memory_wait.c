/* Blocking allocation on CONCURRENT managers: transom_manager_store_wait and
 * transom_manager_reserve_wait park a producer until a consumer frees a slot (remove, take,
 * abort, clear), return TRANSOM_TIMEOUT when none is freed in time, check their arguments before
 * waiting, and are refused (TRANSOM_ERR_UNSUPPORTED) by the one-thread STATIC and HEAP kinds.
 * Many producers and consumers through a two-slot manager: every message arrives once. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "memory_support.h"

static transom_manager *concurrent(size_t capacity, size_t slot_size) {
    transom_manager_config c;
    memset(&c, 0, sizeof c);
    c.kind = TRANSOM_MANAGER_CONCURRENT;
    c.capacity = capacity;
    c.slot_size = slot_size;
    transom_manager *m = NULL;
    CHECK_OK(transom_manager_new(&c, &m));
    return m;
}

typedef struct {
    transom_manager *m;
    atomic_int started;
    transom_status st;
    transom_token t;
} producer;

static void *produce_one(void *arg) {
    producer *p = arg;
    transom_header h;
    transom_header_init(&h);
    atomic_store(&p->started, 1);
    p->st = transom_manager_store_wait(p->m, &h, (const uint8_t *)"second", 6, UINT64_MAX, &p->t);
    return NULL;
}

static void a_producer_blocked_on_a_full_manager_is_woken_by_a_remove(void) {
    transom_manager *m = concurrent(1, 16);
    transom_header h;
    transom_header_init(&h);
    transom_token first;
    CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"first", 5, &first));
    producer p = {m, 0, 0, {0, 0}};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, produce_one, &p) == 0);
    while (!atomic_load(&p.started)) sched_yield();
    /* Parked by now or about to look: either way this remove gives it the slot. */
    CHECK_OK(transom_manager_remove(m, first));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_OK(p.st);
    uint8_t buf[16];
    size_t n = 0;
    CHECK_OK(transom_manager_take(m, p.t, buf, sizeof buf, &n));
    CHECK(n == 6 && memcmp(buf, "second", 6) == 0);
    transom_manager_free(m);
}

static void a_wait_times_out_without_output_and_checks_arguments_first(void) {
    transom_manager *m = concurrent(1, 8);
    transom_header h;
    transom_header_init(&h);
    transom_token t, untouched = {77, 77};
    CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"x", 1, &t));
    transom_memory_stats before, after;
    CHECK_OK(transom_manager_stats(m, &before));
    CHECK_STATUS(transom_manager_store_wait(m, &h, (const uint8_t *)"y", 1, 20000000, &untouched),
                 TRANSOM_TIMEOUT);
    CHECK(untouched.key == 77 && untouched.slot == 77);
    CHECK_STATUS(transom_manager_store_wait(m, &h, (const uint8_t *)"y", 1, 0, &untouched), TRANSOM_TIMEOUT);
    uint8_t *p = (uint8_t *)&untouched;
    CHECK_STATUS(transom_manager_reserve_wait(m, 1, 0, &untouched, &p), TRANSOM_TIMEOUT);
    CHECK(p == (uint8_t *)&untouched);
    CHECK_OK(transom_manager_stats(m, &after));
    CHECK(after.failed_allocs == before.failed_allocs + 3);
    /* Arguments before any wait (with no limit, these would otherwise block forever). */
    CHECK_STATUS(transom_manager_store_wait(m, &h, (const uint8_t *)"123456789", 9, UINT64_MAX, &t),
                 TRANSOM_ERR_TOO_LARGE);
    CHECK_STATUS(transom_manager_reserve_wait(m, 9, UINT64_MAX, &t, &p), TRANSOM_ERR_TOO_LARGE);
    transom_header bad = h;
    bad.qos = 9;
    CHECK_STATUS(transom_manager_store_wait(m, &bad, (const uint8_t *)"y", 1, UINT64_MAX, &t),
                 TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_manager_store_wait(NULL, &h, NULL, 0, 0, &t), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_store_wait(m, NULL, NULL, 0, 0, &t), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_store_wait(m, &h, NULL, 1, 0, &t), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_store_wait(m, &h, NULL, 0, 0, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_reserve_wait(m, 1, 0, NULL, &p), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_reserve_wait(m, 1, 0, &t, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    transom_manager_free(m);
}

static void static_and_heap_managers_refuse_to_wait(void) {
    transom_manager_config c;
    memset(&c, 0, sizeof c);
    c.kind = TRANSOM_MANAGER_HEAP;
    c.capacity = 1;
    c.slot_size = 8;
    transom_manager *heap = NULL;
    CHECK_OK(transom_manager_new(&c, &heap));
    transom_header h;
    transom_header_init(&h);
    transom_token t;
    uint8_t *p;
    CHECK_STATUS(transom_manager_store_wait(heap, &h, NULL, 0, 0, &t), TRANSOM_ERR_UNSUPPORTED);
    CHECK_STATUS(transom_manager_reserve_wait(heap, 1, UINT64_MAX, &t, &p), TRANSOM_ERR_UNSUPPORTED);
    transom_manager_free(heap);
    size_t need = 0;
    CHECK_OK(transom_manager_required_bytes(1, 8, &need));
    void *storage = malloc(need);
    c.kind = TRANSOM_MANAGER_STATIC;
    c.storage = storage;
    c.storage_len = need;
    transom_manager *st = NULL;
    CHECK_OK(transom_manager_new(&c, &st));
    CHECK_STATUS(transom_manager_store_wait(st, &h, NULL, 0, UINT64_MAX, &t), TRANSOM_ERR_UNSUPPORTED);
    transom_manager_free(st);
    free(storage);
}

typedef struct {
    transom_manager *m;
    atomic_int started;
    transom_status st;
    transom_token t;
    uint8_t *payload;
} reserver;

static void *reserve_one(void *arg) {
    reserver *r = arg;
    atomic_store(&r->started, 1);
    r->st = transom_manager_reserve_wait(r->m, 4, UINT64_MAX, &r->t, &r->payload);
    return NULL;
}

static void reserve_wait_is_woken_by_abort_and_by_clear(void) {
    transom_manager *m = concurrent(1, 8);
    transom_token held;
    uint8_t *p;
    CHECK_OK(transom_manager_reserve(m, 4, &held, &p));
    reserver r = {m, 0, 0, {0, 0}, NULL};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, reserve_one, &r) == 0);
    while (!atomic_load(&r.started)) sched_yield();
    CHECK_OK(transom_manager_abort(m, held));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_OK(r.st);
    memcpy(r.payload, "abcd", 4);
    transom_header h;
    transom_header_init(&h);
    CHECK_OK(transom_manager_commit(m, r.t, &h));
    /* The manager is full of a committed message: clear frees it and wakes the next waiter. */
    reserver r2 = {m, 0, 0, {0, 0}, NULL};
    CHECK(pthread_create(&th, NULL, reserve_one, &r2) == 0);
    while (!atomic_load(&r2.started)) sched_yield();
    CHECK_OK(transom_manager_clear(m));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_OK(r2.st);
    CHECK_OK(transom_manager_abort(m, r2.t));
    transom_manager_free(m);
}

/* ---- many producers and consumers: tokens handed over through a small ring ---- */
#define PRODUCERS 4
#define CONSUMERS 3
#define RING 64

typedef struct {
    transom_manager *m;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    transom_token ring[RING];
    size_t head, len;
    int producers_left;
    long per_producer;
    atomic_long sum, count;
} shared;

static void *producer_main(void *arg) {
    shared *s = arg;
    transom_header h;
    transom_header_init(&h);
    for (long i = 1; i <= s->per_producer; ++i) {
        transom_token t;
        CHECK_OK(transom_manager_store_wait(s->m, &h, (const uint8_t *)&i, sizeof i, UINT64_MAX, &t));
        pthread_mutex_lock(&s->mu);
        /* The manager has 2 slots and the ring 64 places: the ring never fills. */
        CHECK(s->len < RING);
        s->ring[(s->head + s->len) % RING] = t;
        s->len++;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_lock(&s->mu);
    s->producers_left--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void *consumer_main(void *arg) {
    shared *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (s->len == 0 && s->producers_left > 0) pthread_cond_wait(&s->cv, &s->mu);
        if (s->len == 0) {
            pthread_mutex_unlock(&s->mu);
            return NULL;
        }
        transom_token t = s->ring[s->head];
        s->head = (s->head + 1) % RING;
        s->len--;
        pthread_mutex_unlock(&s->mu);
        long v = 0;
        size_t n = 0;
        CHECK_OK(transom_manager_take(s->m, t, (uint8_t *)&v, sizeof v, &n));
        CHECK(n == sizeof v);
        atomic_fetch_add(&s->sum, v);
        atomic_fetch_add(&s->count, 1);
    }
}

static void many_producers_and_consumers_through_two_slots(void) {
    shared s;
    memset(&s, 0, sizeof s);
    s.m = concurrent(2, 8);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    s.producers_left = PRODUCERS;
    s.per_producer = scaled(20000);
    pthread_t ps[PRODUCERS], cs[CONSUMERS];
    for (int i = 0; i < PRODUCERS; ++i) CHECK(pthread_create(&ps[i], NULL, producer_main, &s) == 0);
    for (int i = 0; i < CONSUMERS; ++i) CHECK(pthread_create(&cs[i], NULL, consumer_main, &s) == 0);
    for (int i = 0; i < PRODUCERS; ++i) CHECK(pthread_join(ps[i], NULL) == 0);
    for (int i = 0; i < CONSUMERS; ++i) CHECK(pthread_join(cs[i], NULL) == 0);
    long n = s.per_producer;
    CHECK(atomic_load(&s.count) == PRODUCERS * n);
    CHECK(atomic_load(&s.sum) == PRODUCERS * (n * (n + 1) / 2));
    size_t avail = 0;
    CHECK_OK(transom_manager_available(s.m, &avail));
    CHECK(avail == 2);
    transom_manager_free(s.m);
}

static void outstanding_counts_views_and_reservations(void) {
    transom_manager *m = concurrent(4, 8);
    transom_header h;
    transom_header_init(&h);
    transom_token t, r;
    uint8_t *p;
    CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"x", 1, &t));
    size_t n = 99;
    CHECK_OK(transom_manager_outstanding(m, &n));
    CHECK(n == 0);
    transom_read_view v;
    CHECK_OK(transom_manager_read(m, t, &v));
    CHECK_OK(transom_manager_read(m, t, &v));
    CHECK_OK(transom_manager_reserve(m, 1, &r, &p));
    CHECK_OK(transom_manager_outstanding(m, &n));
    CHECK(n == 3);
    CHECK_OK(transom_manager_release(m, t));
    CHECK_OK(transom_manager_release(m, t));
    CHECK_OK(transom_manager_abort(m, r));
    CHECK_OK(transom_manager_outstanding(m, &n));
    CHECK(n == 0);
    CHECK_STATUS(transom_manager_outstanding(m, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    transom_manager_free(m);
}

int main(void) {
    RUN(a_producer_blocked_on_a_full_manager_is_woken_by_a_remove);
    RUN(a_wait_times_out_without_output_and_checks_arguments_first);
    RUN(static_and_heap_managers_refuse_to_wait);
    RUN(reserve_wait_is_woken_by_abort_and_by_clear);
    RUN(many_producers_and_consumers_through_two_slots);
    RUN(outstanding_counts_views_and_reservations);
    return 0;
}
