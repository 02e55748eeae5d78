/* Remote cursors (transom_canal_open_remote_cursor) against a real nats-server started by this
 * program: exact status codes for NULL and invalid arguments and an unreachable server; items
 * that look like local items; ack + checkpoint survive a reopen (nothing confirmed comes
 * again, nothing unacknowledged is lost); two names each see everything; filters by prefix
 * (server-side and client-side) and kind; a malformed message is CORRUPT naming its JetStream
 * sequence; rewind, interrupt, close and a worker on a remote canal. */
#include <pthread.h>

#include "nats_support.h"

#define SECOND_NS 1000000000ull
#define N_EVENTS 300

static nats_server server;
static const char *STREAM_NAME = "EVENTS";

/* ---- helpers ------------------------------------------------------------------------------ */

static transom_nats_url url_of(const char *url) {
    transom_nats_url u = {url, strlen(url)};
    return u;
}

static transom_remote_cursor_options options_for(const transom_nats_url *url, const char *stream,
                                                 const char *name) {
    transom_remote_cursor_options o;
    memset(&o, 0, sizeof o);
    o.nats.urls = url;
    o.nats.url_count = 1;
    o.nats.connect_timeout_ns = 5 * SECOND_NS;
    o.stream = stream;
    o.stream_len = strlen(stream);
    o.name = name;
    o.name_len = strlen(name);
    o.ack_wait_ns = 2 * SECOND_NS;
    return o;
}

static transom_canal *open_remote(const char *stream, const char *name) {
    transom_nats_url url = url_of(server.url);
    transom_remote_cursor_options o = options_for(&url, stream, name);
    transom_canal *c = NULL;
    CHECK_OK(transom_canal_open_remote_cursor(&o, &c));
    CHECK(c != NULL);
    return c;
}

/* Event i (1-based) of the test stream: stream "orders.eu" for odd, "orders.us" for even
 * sequences up to 200, "audit" above; kind 1 + i % 3; payload "event <i>". */
static const char *stream_of(uint64_t i) { return i > 200 ? "audit" : (i & 1 ? "orders.eu" : "orders.us"); }
static uint16_t kind_of(uint64_t i) { return (uint16_t)(1 + i % 3); }

static void fill(const char *stream_name, const char *prefix, uint64_t first, uint64_t last,
                 const char *omit_at_last) {
    nats_conn c;
    CHECK(nats_open(&c, server.port, 5000));
    if (first == 1) nats_create_stream(&c, stream_name, prefix);
    for (uint64_t i = first; i <= last; i++) {
        char payload[32];
        int len = snprintf(payload, sizeof payload, "event %llu", (unsigned long long)i);
        nats_event e = {i, stream_of(i), i, kind_of(i), 1700000000000000000ull + i, payload, (size_t)len};
        nats_publish_event(&c, prefix, &e, i == last ? omit_at_last : NULL);
    }
    nats_close(&c);
}

static void check_item(const transom_item *it, uint64_t seq) {
    CHECK(it->kind == TRANSOM_ITEM_EVENT);
    CHECK(it->event.sequence == seq);
    CHECK(it->event.stream_version == seq);
    CHECK(it->event.kind == kind_of(seq));
    CHECK(it->event.timestamp_ns == 1700000000000000000ull + seq);
    CHECK(it->event.id.hi == event_id_hi(seq) && it->event.id.lo == event_id_lo(seq));
    CHECK(it->event.correlation_id.hi == 0 && it->event.correlation_id.lo == 0);
    const char *s = stream_of(seq);
    CHECK(it->event.stream_len == strlen(s) && memcmp(it->event.stream, s, strlen(s)) == 0);
    char payload[32];
    int len = snprintf(payload, sizeof payload, "event %llu", (unsigned long long)seq);
    CHECK(it->event.payload_len == (size_t)len && memcmp(it->event.payload, payload, (size_t)len) == 0);
}

/* Pulls until `count` items arrived (each pull waits up to 10 s), checking each item against
 * `want[k]`; returns the last sequence. */
static uint64_t pull_expect(transom_canal *c, const uint64_t *want, size_t count, size_t cap) {
    transom_item items[64];
    CHECK(cap <= 64);
    size_t got = 0;
    uint64_t last = 0;
    while (got < count) {
        size_t n = 0;
        size_t ask = count - got < cap ? count - got : cap;
        CHECK_OK(transom_canal_pull_batch(c, 10 * SECOND_NS, items, ask, &n));
        CHECK(n >= 1 && got + n <= count);
        for (size_t k = 0; k < n; k++) {
            check_item(&items[k], want[got + k]);
            last = want[got + k];
        }
        got += n;
    }
    return last;
}

static size_t range(uint64_t *out, uint64_t first, uint64_t last) {
    size_t n = 0;
    for (uint64_t i = first; i <= last; i++) out[n++] = i;
    return n;
}

/* ---- cases -------------------------------------------------------------------------------- */

static void null_and_invalid_arguments(void) {
    transom_nats_url url = url_of(server.url);
    transom_remote_cursor_options o = options_for(&url, STREAM_NAME, "args");
    transom_canal *c = (transom_canal *)0x1;
    CHECK_STATUS(transom_canal_open_remote_cursor(NULL, &c), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_canal_open_remote_cursor(&o, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    o.name = NULL;
    CHECK_STATUS(transom_canal_open_remote_cursor(&o, &c), TRANSOM_ERR_NULL_ARGUMENT);
    o = options_for(&url, STREAM_NAME, "args");
    o.nats.urls = NULL;
    CHECK_STATUS(transom_canal_open_remote_cursor(&o, &c), TRANSOM_ERR_NULL_ARGUMENT);
    o = options_for(&url, STREAM_NAME, "a.b");
    CHECK_STATUS(transom_canal_open_remote_cursor(&o, &c), TRANSOM_ERR_INVALID_ARGUMENT);
    o = options_for(&url, STREAM_NAME, "");
    CHECK_STATUS(transom_canal_open_remote_cursor(&o, &c), TRANSOM_ERR_INVALID_ARGUMENT);
    o = options_for(&url, "", "args");
    CHECK_STATUS(transom_canal_open_remote_cursor(&o, &c), TRANSOM_ERR_INVALID_ARGUMENT);
    o = options_for(&url, STREAM_NAME, "args");
    o.start = TRANSOM_START_NAMED;
    CHECK_STATUS(transom_canal_open_remote_cursor(&o, &c), TRANSOM_ERR_INVALID_ARGUMENT);
    o.start = 77;
    CHECK_STATUS(transom_canal_open_remote_cursor(&o, &c), TRANSOM_ERR_INVALID_ARGUMENT);
    o.start = TRANSOM_START_AT;
    o.start_sequence = 0;
    CHECK_STATUS(transom_canal_open_remote_cursor(&o, &c), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(c == (transom_canal *)0x1); /* never written on failure */
}

static void unreachable_server_fails_after_the_connect_timeout(void) {
    char url_buf[64];
    snprintf(url_buf, sizeof url_buf, "nats://127.0.0.1:%d", free_port());
    transom_nats_url url = url_of(url_buf);
    transom_remote_cursor_options o = options_for(&url, STREAM_NAME, "nobody");
    o.nats.connect_timeout_ns = SECOND_NS / 2;
    transom_canal *c = NULL;
    double t0 = now_s();
    CHECK_STATUS(transom_canal_open_remote_cursor(&o, &c), TRANSOM_ERR_UNAVAILABLE);
    CHECK(now_s() - t0 < 20);
    CHECK(c == NULL);
}

static void missing_stream_is_unavailable(void) {
    transom_canal *c = NULL;
    transom_nats_url url = url_of(server.url);
    transom_remote_cursor_options o = options_for(&url, "NO_SUCH_STREAM", "x");
    CHECK_STATUS(transom_canal_open_remote_cursor(&o, &c), TRANSOM_ERR_UNAVAILABLE);
}

static void items_look_like_local_items_and_checkpoints_resume(void) {
    static uint64_t want[N_EVENTS];
    transom_canal *c = open_remote(STREAM_NAME, "resume");
    size_t n = range(want, 1, 120);
    CHECK(pull_expect(c, want, n, 50) == 120);
    CHECK_OK(transom_canal_ack(c, 100));
    CHECK_STATUS(transom_canal_ack(c, 121), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_canal_ack(c, 99), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_OK(transom_canal_checkpoint(c));
    transom_canal_free(c);
    /* 101..120 were delivered, not acknowledged: they come again, first, in order. */
    c = open_remote(STREAM_NAME, "resume");
    n = range(want, 101, N_EVENTS);
    CHECK(pull_expect(c, want, n, 64) == N_EVENTS);
    CHECK_OK(transom_canal_ack(c, N_EVENTS));
    CHECK_OK(transom_canal_checkpoint(c));
    transom_canal_free(c);
    c = open_remote(STREAM_NAME, "resume");
    transom_item it[4];
    size_t got = 77;
    CHECK_STATUS(transom_canal_pull_batch(c, SECOND_NS / 5, it, 4, &got), TRANSOM_TIMEOUT);
    CHECK(got == 77);
    transom_canal_free(c);
}

static void two_names_each_see_everything(void) {
    static uint64_t want[N_EVENTS];
    size_t n = range(want, 1, N_EVENTS);
    transom_canal *a = open_remote(STREAM_NAME, "alpha");
    transom_canal *b = open_remote(STREAM_NAME, "beta");
    CHECK(pull_expect(a, want, n, 64) == N_EVENTS);
    CHECK(pull_expect(b, want, n, 17) == N_EVENTS);
    transom_canal_free(a);
    transom_canal_free(b);
}

static void filters_by_prefix_and_kind(void) {
    static uint64_t want[N_EVENTS];
    transom_nats_url url = url_of(server.url);
    /* Server-side: whole subject tokens. */
    transom_remote_cursor_options o = options_for(&url, STREAM_NAME, "eu");
    o.filter.stream_prefix = "orders.";
    o.filter.stream_prefix_len = 7;
    uint16_t kinds[] = {2};
    o.filter.kinds = kinds;
    o.filter.kind_count = 1;
    transom_canal *c = NULL;
    CHECK_OK(transom_canal_open_remote_cursor(&o, &c));
    size_t n = 0;
    for (uint64_t i = 1; i <= 200; i++)
        if (kind_of(i) == 2) want[n++] = i;
    CHECK(pull_expect(c, want, n, 64) == want[n - 1]);
    transom_canal_free(c);
    /* Client-side: a prefix that is not whole tokens. */
    o = options_for(&url, STREAM_NAME, "aud");
    o.filter.stream_prefix = "aud";
    o.filter.stream_prefix_len = 3;
    CHECK_OK(transom_canal_open_remote_cursor(&o, &c));
    n = range(want, 201, N_EVENTS);
    CHECK(pull_expect(c, want, n, 64) == N_EVENTS);
    CHECK_OK(transom_canal_ack(c, N_EVENTS));
    CHECK_OK(transom_canal_checkpoint(c));
    transom_canal_free(c);
    /* The skipped events were acknowledged too: nothing comes again. */
    CHECK_OK(transom_canal_open_remote_cursor(&o, &c));
    transom_item it[4];
    size_t got = 0;
    CHECK_STATUS(transom_canal_pull_batch(c, SECOND_NS / 5, it, 4, &got), TRANSOM_TIMEOUT);
    transom_canal_free(c);
}

static void rewind_interrupt_and_close(void) {
    static uint64_t want[N_EVENTS];
    transom_canal *c = open_remote(STREAM_NAME, "rewinder");
    size_t n = range(want, 1, 30);
    pull_expect(c, want, n, 30);
    CHECK_OK(transom_canal_ack(c, 10));
    CHECK_OK(transom_canal_rewind(c));
    n = range(want, 11, 20);
    pull_expect(c, want, n, 10);
    /* Read everything, then an interrupt wakes the idle pull. */
    n = range(want, 21, N_EVENTS);
    pull_expect(c, want, n, 64);
    CHECK_OK(transom_canal_interrupt(c));
    transom_item it[4];
    size_t got = 0;
    CHECK_STATUS(transom_canal_pull_batch(c, UINT64_MAX, it, 4, &got), TRANSOM_INTERRUPTED);
    int fd = -1;
    CHECK_OK(transom_canal_fd(c, &fd));
    CHECK(fd >= 0);
    CHECK_OK(transom_canal_close(c));
    struct pollfd p = {fd, POLLIN, 0};
    CHECK(poll(&p, 1, 0) == 1);
    CHECK_STATUS(transom_canal_pull_batch(c, UINT64_MAX, it, 4, &got), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_canal_ack(c, 30), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_canal_checkpoint(c), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_canal_rewind(c), TRANSOM_ERR_CLOSED);
    transom_canal_free(c);
}

typedef struct {
    uint64_t next;
    int bad;
    int dropped;
} collector;

static transom_worker_verdict collect(void *ctx, const transom_item *items, size_t count) {
    collector *k = ctx;
    for (size_t i = 0; i < count; i++) {
        if (items[i].kind != TRANSOM_ITEM_EVENT || items[i].event.sequence != k->next) k->bad = 1;
        k->next++;
    }
    return k->next > N_EVENTS ? TRANSOM_WORKER_STOP : TRANSOM_WORKER_CONTINUE;
}

static void dropped(void *ctx) { ((collector *)ctx)->dropped++; }

static void a_worker_runs_on_a_remote_canal(void) {
    collector k = {1, 0, 0};
    transom_canal *c = open_remote(STREAM_NAME, "worker");
    transom_batch_callback cb = {&k, collect, dropped};
    transom_worker_options wo;
    memset(&wo, 0, sizeof wo);
    wo.max_batch = 32;
    wo.checkpoint_every = 2;
    transom_worker *w = NULL;
    CHECK_OK(transom_canal_spawn_worker(c, cb, &wo, &w));
    transom_worker_exit exit_kind = -1;
    CHECK_OK(transom_worker_join(w, 30 * SECOND_NS, &exit_kind));
    CHECK(exit_kind == TRANSOM_WORKER_EXIT_CALLBACK_STOPPED);
    transom_worker_free(w);
    transom_canal_free(c);
    CHECK(!k.bad && k.next == N_EVENTS + 1 && k.dropped == 1);
    /* It checkpointed on exit: nothing comes again. */
    c = open_remote(STREAM_NAME, "worker");
    transom_item it[4];
    size_t got = 0;
    CHECK_STATUS(transom_canal_pull_batch(c, SECOND_NS / 5, it, 4, &got), TRANSOM_TIMEOUT);
    transom_canal_free(c);
}

static void a_malformed_message_is_corrupt_naming_its_sequence(void) {
    fill("BROKEN", "broken", 1, 3, "Transom-Kind");
    transom_nats_url url = url_of(server.url);
    transom_remote_cursor_options o = options_for(&url, "BROKEN", "reader");
    o.subject_prefix = "broken";
    o.subject_prefix_len = 6;
    transom_canal *c = NULL;
    CHECK_OK(transom_canal_open_remote_cursor(&o, &c));
    transom_item it[8];
    size_t got = 0;
    CHECK_OK(transom_canal_pull_batch(c, 10 * SECOND_NS, it, 8, &got));
    CHECK(got == 2);
    for (int round = 0; round < 2; round++) {
        CHECK_STATUS(transom_canal_pull_batch(c, 10 * SECOND_NS, it, 8, &got), TRANSOM_ERR_CORRUPT);
        int64_t value = 0;
        CHECK_OK(transom_last_error_value(&value));
        CHECK(value == 3);
        char detail[512];
        size_t len = 0;
        CHECK_OK(transom_last_error(detail, sizeof detail, &len));
        CHECK(strstr(detail, "sequence 3") && strstr(detail, "Transom-Kind"));
    }
    transom_canal_free(c);
}

int main(void) {
    server = nats_start();
    fill(STREAM_NAME, "transom", 1, N_EVENTS, NULL);
    RUN(null_and_invalid_arguments);
    RUN(unreachable_server_fails_after_the_connect_timeout);
    RUN(missing_stream_is_unavailable);
    RUN(items_look_like_local_items_and_checkpoints_resume);
    RUN(two_names_each_see_everything);
    RUN(filters_by_prefix_and_kind);
    RUN(rewind_interrupt_and_close);
    RUN(a_worker_runs_on_a_remote_canal);
    RUN(a_malformed_message_is_corrupt_naming_its_sequence);
    nats_stop(&server);
    return 0;
}
