/* mirror.c - the JetStream mirror through the C API: argument checks with exact codes, a real
 * mirror of events to a real nats-server (started by this program on a free 127.0.0.1 port,
 * or the one named by TRANSOM_NATS_URL), status, wait, close, free, a server that is not
 * there, and a diverged stream. Needs `nats-server` on PATH (Debian: apt-get install
 * nats-server) unless TRANSOM_NATS_URL is set; fails with a clear message otherwise. */
#include "check.h"
#include "nats_support.h"

static char server_url[128];
static nats_server server; /* pid 0 when TRANSOM_NATS_URL names the server */

/* Uses the server named by TRANSOM_NATS_URL, or starts `nats-server -js` on a free port with
 * its own store dir (nats_support.h: waits until it answers PING). */
static void start_server(void) {
    const char *given = getenv("TRANSOM_NATS_URL");
    if (given && *given) {
        snprintf(server_url, sizeof server_url, "%s", given);
        return;
    }
    server = nats_start();
    snprintf(server_url, sizeof server_url, "%s", server.url);
}

static void stop_server(void) {
    if (server.pid > 0) nats_stop(&server);
}

/* Options for `url` and JetStream stream `stream` (strings must outlive the options). */
static transom_nats_url url_entry;

static transom_mirror_options options_for(const char *url, const char *stream) {
    transom_mirror_options o;
    memset(&o, 0, sizeof o);
    url_entry.url = url;
    url_entry.url_len = strlen(url);
    o.nats.urls = &url_entry;
    o.nats.url_count = 1;
    o.nats.request_timeout_ns = 2000000000ull;
    o.stream = stream;
    o.stream_len = strlen(stream);
    return o;
}

static void append_events(transom_store *s, long from, long n) {
    for (long i = from; i < from + n; i++) {
        char payload[32];
        int len = snprintf(payload, sizeof payload, "event-%ld", i);
        transom_append a = event_of(i % 2 ? "orders.eu" : "odd stream*", (uint16_t)(i % 7), payload,
                                    (size_t)len);
        CHECK_OK(transom_store_append(s, &a, NULL));
    }
}

static const uint64_t LONG_NS = 60ull * 1000 * 1000 * 1000;

static void arguments_are_checked_with_exact_codes(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_mirror *m = (transom_mirror *)(uintptr_t)1; /* must stay untouched on failure */
    transom_mirror_options o = options_for(server_url, "CARGS");
    CHECK_STATUS(transom_store_mirror_start(NULL, &o, &m), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_mirror_start(s, NULL, &m), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_mirror_start(s, &o, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    transom_mirror_options bad = o;
    bad.nats.url_count = 0;
    CHECK_STATUS(transom_store_mirror_start(s, &bad, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    bad = o;
    bad.nats.urls = NULL;
    CHECK_STATUS(transom_store_mirror_start(s, &bad, &m), TRANSOM_ERR_NULL_ARGUMENT);
    bad = o;
    bad.stream = "a.b";
    bad.stream_len = 3;
    CHECK_STATUS(transom_store_mirror_start(s, &bad, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    bad.stream_len = 0;
    CHECK_STATUS(transom_store_mirror_start(s, &bad, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    bad = o;
    bad.replicas = 6;
    CHECK_STATUS(transom_store_mirror_start(s, &bad, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    bad = o;
    bad.subject_prefix = "a..b";
    bad.subject_prefix_len = 4;
    CHECK_STATUS(transom_store_mirror_start(s, &bad, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    bad = o;
    transom_nats_url nonsense = {"nats://host:port", 16};
    bad.nats.urls = &nonsense;
    CHECK_STATUS(transom_store_mirror_start(s, &bad, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(m == (transom_mirror *)(uintptr_t)1);
    transom_mirror_report r;
    CHECK_STATUS(transom_mirror_status(NULL, &r), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_mirror_wait(NULL, 1, 0), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_mirror_close(NULL), TRANSOM_ERR_NULL_ARGUMENT);
    transom_mirror_free(NULL);
    CHECK_OK(transom_store_close(s));
    CHECK_STATUS(transom_store_mirror_start(s, &o, &m), TRANSOM_ERR_CLOSED);
    transom_store_free(s);
}

static void a_store_is_mirrored_and_reported(void) {
    long n = scaled(2000);
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    append_events(s, 0, n);
    char stream[64];
    snprintf(stream, sizeof stream, "CMIRROR_%d", (int)getpid()); /* unique on a shared server */
    transom_mirror_options o = options_for(server_url, stream);
    transom_mirror *m = NULL;
    CHECK_OK(transom_store_mirror_start(s, &o, &m));
    CHECK(m != NULL);
    transom_mirror_report r;
    CHECK_STATUS(transom_mirror_status(m, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_OK(transom_mirror_wait(m, (uint64_t)n, LONG_NS));
    CHECK_OK(transom_mirror_status(m, &r));
    CHECK(r.state == TRANSOM_MIRROR_RUNNING);
    CHECK(r.shipped == (uint64_t)n && r.store_head == (uint64_t)n && r.lag == 0);
    CHECK(r.error == TRANSOM_OK && r.error_message[0] == 0);
    /* Appends go on while it runs; it ships them as they commit. */
    append_events(s, n, 10);
    CHECK_OK(transom_mirror_wait(m, (uint64_t)n + 10, LONG_NS));
    CHECK_STATUS(transom_mirror_wait(m, (uint64_t)n + 11, 0), TRANSOM_TIMEOUT);
    CHECK_OK(transom_mirror_close(m));
    CHECK_OK(transom_mirror_close(m)); /* idempotent */
    CHECK_OK(transom_mirror_status(m, &r));
    CHECK(r.state == TRANSOM_MIRROR_STOPPED && r.shipped == (uint64_t)n + 10);
    CHECK_STATUS(transom_mirror_wait(m, (uint64_t)n + 11, LONG_NS), TRANSOM_ERR_CLOSED);
    CHECK_OK(transom_mirror_wait(m, 1, 0)); /* already shipped */
    transom_mirror_free(m);

    /* Another store with other events at the same sequences: the stream diverged. */
    transom_store *other = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    append_events(other, 0, n + 10);
    CHECK_OK(transom_store_mirror_start(other, &o, &m));
    CHECK_STATUS(transom_mirror_wait(m, (uint64_t)n + 10, LONG_NS), TRANSOM_ERR_DIVERGED);
    int64_t value = 0;
    CHECK_OK(transom_last_error_value(&value));
    CHECK(value == n + 10);
    CHECK_OK(transom_mirror_status(m, &r));
    CHECK(r.state == TRANSOM_MIRROR_STOPPED && r.error == TRANSOM_ERR_DIVERGED);
    CHECK(r.error_value == n + 10 && strstr(r.error_message, "diverged") != NULL);
    transom_mirror_free(m); /* free without close closes */
    close_store(other);
    close_store(s);
}

static void a_server_that_is_not_there_is_retried(void) {
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", free_port());
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    append_events(s, 0, 3);
    transom_mirror_options o = options_for(url, "CDOWN");
    transom_mirror *m = NULL;
    CHECK_OK(transom_store_mirror_start(s, &o, &m));
    /* Block on the mirror in 100 ms steps until its first attempt has failed (a slow machine,
     * or valgrind, may take a while to get there). */
    transom_mirror_report r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < 600 && r.retries == 0; i++) {
        CHECK_STATUS(transom_mirror_wait(m, 1, 100000000ull), TRANSOM_TIMEOUT);
        CHECK_OK(transom_mirror_status(m, &r));
    }
    CHECK(r.state == TRANSOM_MIRROR_RETRYING);
    CHECK(r.error == TRANSOM_ERR_UNAVAILABLE && r.retries >= 1 && r.error_message[0] != 0);
    CHECK(r.shipped == 0 && r.store_head == 3 && r.lag == 3);
    /* Appends are not held up by the mirror. */
    append_events(s, 3, 3);
    CHECK_OK(transom_mirror_close(m));
    CHECK_OK(transom_mirror_status(m, &r));
    CHECK(r.state == TRANSOM_MIRROR_STOPPED && r.store_head == 6);
    transom_mirror_free(m);
    close_store(s);
}

int main(void) {
    start_server();
    RUN(arguments_are_checked_with_exact_codes);
    RUN(a_store_is_mirrored_and_reported);
    RUN(a_server_that_is_not_there_is_retried);
    stop_server();
    return 0;
}
