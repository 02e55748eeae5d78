/* actor_support.h - helpers shared by the actor and conversation C tests: a counting latch that
 * callbacks on runtime threads signal and the test thread waits on (with a timeout, never a
 * sleep), and recorders for monitor callbacks. */
#ifndef TRANSOM_ACTOR_SUPPORT_H
#define TRANSOM_ACTOR_SUPPORT_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "check.h"

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
} latch;

static inline void latch_init(latch *l) {
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->count = 0;
}

static inline void latch_signal(latch *l) {
    pthread_mutex_lock(&l->mu);
    l->count++;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

/* Waits until the latch has been signalled `n` times; 0 on timeout (seconds). */
static inline int latch_wait(latch *l, int n, int seconds) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&l->mu);
    int rc = 0;
    while (l->count < n && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&l->cv, &l->mu, &until);
    int ok = l->count >= n;
    pthread_mutex_unlock(&l->mu);
    return ok;
}

static inline int latch_count(latch *l) {
    pthread_mutex_lock(&l->mu);
    int n = l->count;
    pthread_mutex_unlock(&l->mu);
    return n;
}

/* A monitor recorder: what the callback saw, how often it ran and was dropped. */
typedef struct {
    latch fired;
    /* Signalled by the drop: the callback has stopped touching the record (wait for it before
     * a record on the stack goes out of scope while the runtime lives on). */
    latch dropped;
    atomic_int calls;
    atomic_int drops;
    transom_pid pid;
    transom_exit_reason reason;
    pthread_t thread;
} monitor_rec;

static inline void monitor_rec_init(monitor_rec *m) {
    latch_init(&m->fired);
    latch_init(&m->dropped);
    atomic_store(&m->calls, 0);
    atomic_store(&m->drops, 0);
}

static void monitor_rec_call(void *ctx, transom_pid pid, const transom_exit_reason *reason) {
    monitor_rec *m = ctx;
    m->pid = pid;
    m->reason = *reason;
    m->thread = pthread_self();
    atomic_fetch_add(&m->calls, 1);
    latch_signal(&m->fired);
}

static void monitor_rec_drop(void *ctx) {
    monitor_rec *m = ctx;
    atomic_fetch_add(&m->drops, 1);
    latch_signal(&m->dropped);
}

static inline transom_monitor_callback monitor_of(monitor_rec *m) {
    transom_monitor_callback cb = {m, monitor_rec_call, monitor_rec_drop};
    return cb;
}

static inline transom_exit_reason reason_of(int32_t kind, int32_t code, const char *message) {
    transom_exit_reason r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    r.code = code;
    snprintf(r.message, sizeof r.message, "%s", message);
    return r;
}

static const uint64_t SECOND_NS = 1000000000ull;

#endif
