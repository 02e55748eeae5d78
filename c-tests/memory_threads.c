/* CONCURRENT managers across threads.
 *
 * 1. Four producer threads store messages and hand the tokens through a pthread queue to four
 *    consumer threads that read, verify and remove them: 1,000,000 messages (scaled by
 *    TRANSOM_TEST_SCALE) through a 64-slot manager. At the end every slot is free, every message
 *    arrived exactly once and intact, and the only error ever seen is NO_FREE_SLOTS (retried).
 * 2. Reader threads racing one writer on the same token never observe a torn payload.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "memory_support.h"

#define PRODUCERS 4
#define CONSUMERS 4
#define SLOTS 64
#define SLOT_SIZE 64

/* ---- a bounded blocking queue of tokens (mutex + condition variables) ---- */
#define QCAP 256
typedef struct {
    transom_token items[QCAP];
    size_t head, len;
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
} queue;

static void queue_push(queue *q, transom_token t) {
    pthread_mutex_lock(&q->mu);
    while (q->len == QCAP) pthread_cond_wait(&q->not_full, &q->mu);
    q->items[(q->head + q->len) % QCAP] = t;
    q->len++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

static transom_token queue_pop(queue *q) {
    pthread_mutex_lock(&q->mu);
    while (q->len == 0) pthread_cond_wait(&q->not_empty, &q->mu);
    transom_token t = q->items[q->head];
    q->head = (q->head + 1) % QCAP;
    q->len--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    return t;
}

/* ---- message contents: a function of (producer, index), with an FNV-1a checksum ---- */
static size_t message_len(uint64_t producer, uint64_t i) { return 1 + (size_t)((producer * 7 + i) % SLOT_SIZE); }

static void fill(uint8_t *p, size_t len, uint64_t producer, uint64_t i) {
    uint64_t x = (producer << 40) ^ (i * 0x9E3779B97F4A7C15ull) ^ 0x5bd1e995u;
    for (size_t k = 0; k < len; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[k] = (uint8_t)x;
    }
}

static uint64_t fnv1a(const uint8_t *p, size_t len) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t k = 0; k < len; k++) h = (h ^ p[k]) * 0x100000001b3ull;
    return h;
}

typedef struct {
    transom_manager *m;
    queue q;
    long per_producer;
    atomic_uchar *seen; /* PRODUCERS * per_producer deliveries */
    atomic_long unexpected_errors;
    atomic_long corrupted;
    atomic_long full_retries;
} pipeline;

typedef struct {
    pipeline *p;
    uint64_t id;
} worker;

static void *producer(void *arg) {
    worker *w = arg;
    pipeline *p = w->p;
    uint8_t buf[SLOT_SIZE];
    for (long i = 0; i < p->per_producer; i++) {
        size_t len = message_len(w->id, (uint64_t)i);
        fill(buf, len, w->id, (uint64_t)i);
        transom_header h;
        transom_header_init(&h);
        h.trace_id = w->id;
        h.sequence = (uint64_t)i;
        h.creation_tick = fnv1a(buf, len);
        transom_token t;
        for (;;) {
            transom_status st = transom_manager_store(p->m, &h, buf, len, &t);
            if (st == TRANSOM_OK) break;
            if (st == TRANSOM_ERR_NO_FREE_SLOTS) {
                atomic_fetch_add(&p->full_retries, 1);
                sched_yield();
                continue;
            }
            atomic_fetch_add(&p->unexpected_errors, 1);
            return NULL;
        }
        queue_push(&p->q, t);
    }
    return NULL;
}

static void *consumer(void *arg) {
    worker *w = arg;
    pipeline *p = w->p;
    uint8_t expect[SLOT_SIZE];
    for (;;) {
        transom_token t = queue_pop(&p->q);
        if (t.key == 0) return NULL; /* end marker: {0, 0} is never a live token */
        transom_read_view v;
        if (transom_manager_read(p->m, t, &v) != TRANSOM_OK) {
            atomic_fetch_add(&p->unexpected_errors, 1);
            continue;
        }
        uint64_t producer_id = v.header->trace_id, i = v.header->sequence;
        int ok = producer_id < PRODUCERS && i < (uint64_t)p->per_producer &&
                 v.len == message_len(producer_id, i) && v.header->payload_len == v.len &&
                 fnv1a(v.payload, v.len) == v.header->creation_tick;
        if (ok) {
            fill(expect, v.len, producer_id, i);
            ok = memcmp(expect, v.payload, v.len) == 0;
        }
        if (transom_manager_release(p->m, t) != TRANSOM_OK) atomic_fetch_add(&p->unexpected_errors, 1);
        if (transom_manager_remove(p->m, t) != TRANSOM_OK) atomic_fetch_add(&p->unexpected_errors, 1);
        if (!ok) {
            atomic_fetch_add(&p->corrupted, 1);
            continue;
        }
        atomic_fetch_add(&p->seen[producer_id * (uint64_t)p->per_producer + i], 1);
    }
}

static void million_messages_through_64_slots_lose_nothing(void) {
    static pipeline p;
    void *storage;
    p.m = new_manager(TRANSOM_MANAGER_CONCURRENT, SLOTS, SLOT_SIZE, &storage);
    p.per_producer = scaled(1000000) / PRODUCERS;
    if (p.per_producer < 1) p.per_producer = 1;
    p.seen = calloc((size_t)(PRODUCERS * p.per_producer), sizeof(atomic_uchar));
    CHECK(p.seen != NULL);
    pthread_mutex_init(&p.q.mu, NULL);
    pthread_cond_init(&p.q.not_empty, NULL);
    pthread_cond_init(&p.q.not_full, NULL);

    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    worker pw[PRODUCERS], cw[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) {
        cw[i] = (worker){&p, (uint64_t)i};
        CHECK(pthread_create(&ct[i], NULL, consumer, &cw[i]) == 0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pw[i] = (worker){&p, (uint64_t)i};
        CHECK(pthread_create(&pt[i], NULL, producer, &pw[i]) == 0);
    }
    for (int i = 0; i < PRODUCERS; i++) pthread_join(pt[i], NULL);
    transom_token end = {0};
    for (int i = 0; i < CONSUMERS; i++) queue_push(&p.q, end);
    for (int i = 0; i < CONSUMERS; i++) pthread_join(ct[i], NULL);

    CHECK(atomic_load(&p.unexpected_errors) == 0);
    CHECK(atomic_load(&p.corrupted) == 0);
    long total = PRODUCERS * p.per_producer;
    for (long k = 0; k < total; k++) {
        if (atomic_load(&p.seen[k]) != 1) {
            fprintf(stderr, "message %ld delivered %d times\n", k, (int)atomic_load(&p.seen[k]));
            CHECK(0);
        }
    }
    CHECK(available(p.m) == SLOTS);
    transom_memory_stats s;
    CHECK_OK(transom_manager_stats(p.m, &s));
    CHECK(s.in_use == 0 && s.high_water <= SLOTS);
    CHECK(s.failed_allocs == (uint64_t)atomic_load(&p.full_retries));
    printf("# %ld messages, %ld NO_FREE_SLOTS retries, high water %zu\n", total,
           atomic_load(&p.full_retries), s.high_water);
    free(p.seen);
    free_manager(p.m, storage);
}

/* ---- readers racing one writer ---- */
#define READERS 3
typedef struct {
    transom_manager *m;
    transom_token t;
    long rounds;
    atomic_long torn, reads, writes, unexpected;
} race;

static void *race_writer(void *arg) {
    race *r = arg;
    for (long k = 0; k < r->rounds;) {
        transom_write_view w;
        transom_status st = transom_manager_write(r->m, r->t, &w);
        if (st == TRANSOM_ERR_BORROWED) {
            sched_yield();
            continue;
        }
        if (st != TRANSOM_OK) {
            atomic_fetch_add(&r->unexpected, 1);
            break;
        }
        /* Every byte of a consistent payload equals its length's low byte. */
        size_t len = 1 + (size_t)(k % SLOT_SIZE);
        memset(w.payload, (int)(uint8_t)len, len);
        w.header->payload_len = (uint32_t)len;
        if (transom_manager_release(r->m, r->t) != TRANSOM_OK) atomic_fetch_add(&r->unexpected, 1);
        atomic_fetch_add(&r->writes, 1);
        k++;
    }
    return NULL;
}

static void *race_reader(void *arg) {
    race *r = arg;
    /* A fixed quota of read attempts, raced against the writer's fixed quota of writes: the
     * work is bounded however the threads are scheduled (valgrind serialises them). */
    for (long attempt = 0; attempt < r->rounds * 16; attempt++) {
        transom_read_view v;
        transom_status st = transom_manager_read(r->m, r->t, &v);
        if (st == TRANSOM_ERR_BORROWED) continue;
        if (st != TRANSOM_OK) {
            atomic_fetch_add(&r->unexpected, 1);
            return NULL;
        }
        int ok = v.len >= 1 && v.len <= SLOT_SIZE && v.header->payload_len == v.len;
        for (size_t k = 0; ok && k < v.len; k++) ok = v.payload[k] == (uint8_t)v.len;
        if (!ok) atomic_fetch_add(&r->torn, 1);
        atomic_fetch_add(&r->reads, 1);
        if (transom_manager_release(r->m, r->t) != TRANSOM_OK) atomic_fetch_add(&r->unexpected, 1);
    }
    return NULL;
}

static void readers_racing_a_writer_never_see_a_torn_payload(void) {
    static race r;
    void *storage;
    r.m = new_manager(TRANSOM_MANAGER_CONCURRENT, 4, SLOT_SIZE, &storage);
    r.rounds = scaled(200000);
    uint8_t init[1] = {1};
    transom_header h;
    transom_header_init(&h);
    CHECK_OK(transom_manager_store(r.m, &h, init, 1, &r.t));
    pthread_t w, rd[READERS];
    for (int i = 0; i < READERS; i++) CHECK(pthread_create(&rd[i], NULL, race_reader, &r) == 0);
    CHECK(pthread_create(&w, NULL, race_writer, &r) == 0);
    pthread_join(w, NULL);
    for (int i = 0; i < READERS; i++) pthread_join(rd[i], NULL);
    CHECK(atomic_load(&r.unexpected) == 0);
    CHECK(atomic_load(&r.torn) == 0);
    CHECK(atomic_load(&r.writes) == r.rounds);
    printf("# %ld writes raced by %ld reads, none torn\n", atomic_load(&r.writes), atomic_load(&r.reads));
    CHECK_OK(transom_manager_remove(r.m, r.t));
    CHECK(available(r.m) == 4);
    free_manager(r.m, storage);
}

int main(void) {
    RUN(million_messages_through_64_slots_lose_nothing);
    RUN(readers_racing_a_writer_never_see_a_torn_payload);
    return 0;
}
