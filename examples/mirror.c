/* mirror.c - mirror an event store to a NATS JetStream stream, in ~80 lines.
 *
 * Opens an in-memory store, starts a mirror to a new JetStream stream EXAMPLE_<pid> (created
 * by the mirror, subjects transom.>), appends events and waits until JetStream holds them all,
 * each at its own sequence. (A stream is one store's: a second, different store mirrored to
 * the same stream would stop with TRANSOM_ERR_DIVERGED, hence one stream per run here.) With no server at the URL the mirror keeps retrying in the background and
 * the store keeps working: the program shows that state and exits 0.
 *
 *   nats-server -js &                      # Debian: apt-get install nats-server
 *   cc -std=c11 mirror.c $(pkg-config --cflags --libs transom)
 *   ./a.out [nats://127.0.0.1:4222]        # or TRANSOM_NATS_URL
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <transom.h>

static void check(transom_status st, const char *what) {
    if (st == TRANSOM_OK) return;
    char detail[256];
    size_t n;
    transom_last_error(detail, sizeof detail, &n);
    fprintf(stderr, "%s: %s (%s)\n", what, transom_status_str(st), detail);
    exit(1);
}

static const char *state_name(transom_mirror_state s) {
    switch (s) {
    case TRANSOM_MIRROR_CONNECTING: return "CONNECTING";
    case TRANSOM_MIRROR_RUNNING: return "RUNNING";
    case TRANSOM_MIRROR_RETRYING: return "RETRYING";
    default: return "STOPPED";
    }
}

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : getenv("TRANSOM_NATS_URL");
    if (!url || !*url) url = "nats://127.0.0.1:4222";

    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg); /* in memory */
    transom_store *store;
    check(transom_store_open(&cfg, &store), "open store");

    transom_nats_url server = {url, strlen(url)};
    transom_mirror_options o;
    memset(&o, 0, sizeof o);
    o.nats.urls = &server;
    o.nats.url_count = 1;
    char stream[32];
    snprintf(stream, sizeof stream, "EXAMPLE_%d", (int)getpid());
    o.stream = stream;
    o.stream_len = strlen(stream);
    transom_mirror *mirror;
    check(transom_store_mirror_start(store, &o, &mirror), "start mirror");

    uint64_t last = 0;
    for (int i = 0; i < 1000; i++) {
        char payload[32];
        int len = snprintf(payload, sizeof payload, "order %d", i);
        transom_append a;
        memset(&a, 0, sizeof a);
        a.stream = "orders.eu";
        a.stream_len = strlen(a.stream);
        a.kind = 1;
        a.payload = (const uint8_t *)payload;
        a.payload_len = (size_t)len;
        transom_receipt r;
        check(transom_store_append(store, &a, &r), "append"); /* never waits for the mirror */
        last = r.sequence;
    }

    transom_status st = transom_mirror_wait(mirror, last, 3000000000ull); /* 3 s */
    transom_mirror_report rep;
    check(transom_mirror_status(mirror, &rep), "status");
    printf("mirror %s: shipped %llu of %llu (lag %llu)\n", state_name(rep.state),
           (unsigned long long)rep.shipped, (unsigned long long)rep.store_head,
           (unsigned long long)rep.lag);
    if (st == TRANSOM_TIMEOUT && rep.error == TRANSOM_ERR_UNAVAILABLE) {
        printf("no JetStream server at %s (%s); start one with: nats-server -js\n", url,
               rep.error_message);
    } else {
        check(st, "wait for the mirror");
        printf("JetStream stream %s holds sequences 1..%llu\n", stream, (unsigned long long)last);
    }
    check(transom_mirror_close(mirror), "close mirror"); /* awaits in-flight acknowledgements */
    transom_mirror_free(mirror);
    check(transom_store_close(store), "close store");
    transom_store_free(store);
    return 0;
}
