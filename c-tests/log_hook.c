/* The process-wide log hook (transom_set_log_callback): messages the library logs reach the
 * callback with their level, filtered by the minimum level; replacing the callback waits for
 * its calls in flight and then drops it exactly once; the callback runs with no transom lock
 * held (it may replace the callback and call the runtime from inside); a NULL call restores the
 * default sink (stderr). */
#include "actor_support.h"

#define MAX_LINES 64

typedef struct {
    pthread_mutex_t mu;
    int levels[MAX_LINES];
    char lines[MAX_LINES][256];
    int count;
    atomic_int drops;
    latch got;
} capture;

static void capture_init(capture *c) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    latch_init(&c->got);
}

static void capture_call(void *ctx, transom_log_level level, const char *msg, size_t len) {
    capture *c = ctx;
    CHECK(msg[len] == 0); /* NUL-terminated too */
    pthread_mutex_lock(&c->mu);
    if (c->count < MAX_LINES) {
        c->levels[c->count] = level;
        snprintf(c->lines[c->count], sizeof c->lines[0], "%.*s", (int)len, msg);
        c->count++;
    }
    pthread_mutex_unlock(&c->mu);
    latch_signal(&c->got);
}

static void capture_drop(void *ctx) { atomic_fetch_add(&((capture *)ctx)->drops, 1); }

static transom_log_callback capture_of(capture *c) {
    transom_log_callback cb = {c, capture_call, capture_drop};
    return cb;
}

static int find(capture *c, int level, const char *needle) {
    pthread_mutex_lock(&c->mu);
    int found = 0;
    for (int i = 0; i < c->count; ++i)
        if (c->levels[i] == level && strstr(c->lines[i], needle)) found = 1;
    pthread_mutex_unlock(&c->mu);
    return found;
}

static void restore_default(void) {
    transom_log_callback none = {NULL, NULL, NULL};
    CHECK_OK(transom_set_log_callback(none, TRANSOM_LOG_WARN));
}

static int32_t fail_with_7(void *ctx, transom_pid self, const transom_message *m) {
    (void)ctx, (void)self, (void)m;
    return 7;
}

static void library_messages_reach_the_callback_at_their_level(void) {
    capture c;
    capture_init(&c);
    CHECK_OK(transom_set_log_callback(capture_of(&c), TRANSOM_LOG_INFO));
    transom_runtime *rt = NULL;
    CHECK_OK(transom_runtime_new(1, &rt));
    /* A mailbox freed while its process lives: INFO, naming what happened. */
    transom_mailbox *mb = NULL;
    transom_pid pid = 0;
    CHECK_OK(transom_mailbox_open(rt, NULL, &mb, &pid));
    transom_mailbox_free(mb);
    CHECK(latch_wait(&c.got, 1, 30));
    CHECK(find(&c, TRANSOM_LOG_INFO, "freed without exit"));
    /* A behaviour that ends its process: INFO with the reason. */
    monitor_rec mon;
    monitor_rec_init(&mon);
    transom_spawn_options o;
    memset(&o, 0, sizeof o);
    o.monitor = monitor_of(&mon);
    transom_behaviour_callback b = {NULL, fail_with_7, NULL};
    CHECK_OK(transom_runtime_spawn(rt, b, &o, &pid, NULL));
    CHECK_OK(transom_runtime_send(rt, pid, (const uint8_t *)"x", 1));
    CHECK(latch_wait(&mon.fired, 1, 30));
    CHECK(latch_wait(&c.got, 2, 30));
    CHECK(find(&c, TRANSOM_LOG_INFO, "ended by its behaviour (status 7)"));
    /* The bindings' path: any UTF-8 text at any level; invalid UTF-8 is refused. */
    CHECK_OK(transom_log_write(TRANSOM_LOG_WARN, "from a binding", 14));
    CHECK(find(&c, TRANSOM_LOG_WARN, "from a binding"));
    CHECK_STATUS(transom_log_write(TRANSOM_LOG_WARN, "\xff", 1), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_log_write(TRANSOM_LOG_WARN, NULL, 1), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_OK(transom_log_write(TRANSOM_LOG_WARN, NULL, 0));
    transom_runtime_free(rt);
    CHECK(atomic_load(&c.drops) == 0);
    restore_default();
    CHECK(atomic_load(&c.drops) == 1);
    /* After the replacement the old callback is never called again. */
    int before = c.count;
    CHECK_OK(transom_log_write(TRANSOM_LOG_ERROR, "to stderr (the default sink)", 28));
    CHECK(c.count == before);
}

static void messages_below_the_minimum_level_are_filtered(void) {
    capture c;
    capture_init(&c);
    CHECK_OK(transom_set_log_callback(capture_of(&c), TRANSOM_LOG_WARN));
    CHECK_OK(transom_log_write(TRANSOM_LOG_DEBUG, "debug", 5));
    CHECK_OK(transom_log_write(TRANSOM_LOG_INFO, "info", 4));
    transom_runtime *rt = NULL;
    CHECK_OK(transom_runtime_new(1, &rt));
    transom_mailbox *mb = NULL;
    CHECK_OK(transom_mailbox_open(rt, NULL, &mb, NULL));
    transom_mailbox_free(mb); /* INFO: filtered */
    transom_runtime_free(rt);
    CHECK_OK(transom_log_write(TRANSOM_LOG_WARN, "warn", 4));
    CHECK_OK(transom_log_write(TRANSOM_LOG_ERROR, "error", 5));
    CHECK(c.count == 2);
    CHECK(c.levels[0] == TRANSOM_LOG_WARN && strcmp(c.lines[0], "warn") == 0);
    CHECK(c.levels[1] == TRANSOM_LOG_ERROR && strcmp(c.lines[1], "error") == 0);
    restore_default();
    CHECK(atomic_load(&c.drops) == 1);
}

/* ---- replacement waits for a call in flight, then drops the old callback ---- */
typedef struct {
    latch entered, release;
    atomic_int calls, calls_done, drops, drop_after_calls;
} blocking;

/* The first call blocks until released; later ones (messages logged before the replacement is
 * installed) return at once. */
static void blocking_call(void *ctx, transom_log_level level, const char *msg, size_t len) {
    (void)level, (void)msg, (void)len;
    blocking *b = ctx;
    if (atomic_fetch_add(&b->calls, 1) == 0) {
        latch_signal(&b->entered);
        CHECK(latch_wait(&b->release, 1, 30));
    }
    atomic_fetch_add(&b->calls_done, 1);
}

static void blocking_drop(void *ctx) {
    blocking *b = ctx;
    atomic_store(&b->drop_after_calls, atomic_load(&b->calls_done) == atomic_load(&b->calls));
    atomic_fetch_add(&b->drops, 1);
}

static void *log_once(void *arg) {
    (void)arg;
    CHECK_OK(transom_log_write(TRANSOM_LOG_ERROR, "in flight", 9));
    return NULL;
}

typedef struct {
    capture *next;
    latch done;
} replacer;

static void *replace(void *arg) {
    replacer *r = arg;
    CHECK_OK(transom_set_log_callback(capture_of(r->next), TRANSOM_LOG_WARN));
    latch_signal(&r->done);
    return NULL;
}

static void replacing_waits_for_calls_in_flight_then_drops_the_old_callback(void) {
    blocking b;
    memset(&b, 0, sizeof b);
    latch_init(&b.entered);
    latch_init(&b.release);
    transom_log_callback cb = {&b, blocking_call, blocking_drop};
    CHECK_OK(transom_set_log_callback(cb, TRANSOM_LOG_WARN));
    pthread_t logger, replacer_thread;
    CHECK(pthread_create(&logger, NULL, log_once, NULL) == 0);
    CHECK(latch_wait(&b.entered, 1, 30)); /* the old callback is running */
    capture next;
    capture_init(&next);
    replacer r;
    memset(&r, 0, sizeof r);
    r.next = &next;
    latch_init(&r.done);
    CHECK(pthread_create(&replacer_thread, NULL, replace, &r) == 0);
    /* New messages go to the new callback as soon as it is installed, while the old one is
     * still running; the replacement itself has not returned (it waits for the old call). */
    while (!find(&next, TRANSOM_LOG_WARN, "new")) CHECK_OK(transom_log_write(TRANSOM_LOG_WARN, "new", 3));
    CHECK(latch_count(&r.done) == 0 && atomic_load(&b.drops) == 0);
    latch_signal(&b.release);
    CHECK(pthread_join(logger, NULL) == 0);
    CHECK(pthread_join(replacer_thread, NULL) == 0);
    CHECK(atomic_load(&b.drops) == 1);
    CHECK(atomic_load(&b.drop_after_calls) == 1); /* dropped after its last call returned */
    restore_default();
    CHECK(atomic_load(&next.drops) == 1);
}

/* ---- the callback calls transom, the hook included: no lock is held while it runs ---- */
typedef struct {
    transom_runtime *rt;
    transom_pid to;
    capture *next;
    atomic_int calls, drops;
} reentrant;

static void reentrant_call(void *ctx, transom_log_level level, const char *msg, size_t len) {
    (void)level, (void)msg, (void)len;
    reentrant *r = ctx;
    if (atomic_fetch_add(&r->calls, 1) != 0) return;
    /* Logging from inside goes to stderr (no recursion into this callback). */
    CHECK_OK(transom_log_write(TRANSOM_LOG_ERROR, "inside: to stderr", 17));
    CHECK_OK(transom_runtime_send(r->rt, r->to, (const uint8_t *)"ok", 2));
    /* Replacing from inside returns at once; this callback is dropped when it returns. */
    CHECK_OK(transom_set_log_callback(capture_of(r->next), TRANSOM_LOG_WARN));
    CHECK(atomic_load(&r->drops) == 0);
}

static void reentrant_drop(void *ctx) { atomic_fetch_add(&((reentrant *)ctx)->drops, 1); }

static void the_callback_may_call_transom_and_replace_itself(void) {
    transom_runtime *rt = NULL;
    CHECK_OK(transom_runtime_new(1, &rt));
    transom_mailbox *mb = NULL;
    transom_pid to = 0;
    CHECK_OK(transom_mailbox_open(rt, NULL, &mb, &to));
    capture next;
    capture_init(&next);
    reentrant r = {rt, to, &next, 0, 0};
    transom_log_callback cb = {&r, reentrant_call, reentrant_drop};
    CHECK_OK(transom_set_log_callback(cb, TRANSOM_LOG_WARN));
    CHECK_OK(transom_log_write(TRANSOM_LOG_WARN, "first", 5));
    CHECK(atomic_load(&r.calls) == 1);
    CHECK(atomic_load(&r.drops) == 1);
    transom_message m;
    CHECK_OK(transom_mailbox_receive(mb, 30 * SECOND_NS, &m));
    CHECK(m.len == 2 && memcmp(m.bytes, "ok", 2) == 0);
    CHECK_OK(transom_log_write(TRANSOM_LOG_WARN, "second", 6));
    CHECK(find(&next, TRANSOM_LOG_WARN, "second"));
    restore_default();
    CHECK_OK(transom_mailbox_exit(mb, &(transom_exit_reason){TRANSOM_EXIT_NORMAL, 0, ""}));
    transom_mailbox_free(mb);
    transom_runtime_free(rt);
}

static void a_null_call_restores_the_default_and_drops_its_context(void) {
    capture c;
    capture_init(&c);
    transom_log_callback null_call = {&c, NULL, capture_drop};
    CHECK_OK(transom_set_log_callback(null_call, TRANSOM_LOG_WARN));
    CHECK(atomic_load(&c.drops) == 1); /* owned from the call: dropped at once */
    CHECK_OK(transom_log_write(TRANSOM_LOG_WARN, "default sink (stderr)", 21));
    CHECK(c.count == 0);
}

int main(void) {
    RUN(library_messages_reach_the_callback_at_their_level);
    RUN(messages_below_the_minimum_level_are_filtered);
    RUN(replacing_waits_for_calls_in_flight_then_drops_the_old_callback);
    RUN(the_callback_may_call_transom_and_replace_itself);
    RUN(a_null_call_restores_the_default_and_drops_its_context);
    return 0;
}
