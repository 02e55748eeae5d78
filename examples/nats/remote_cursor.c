/* remote_cursor.c - a consumer on another machine: reads a store's events from the NATS
 * JetStream stream its mirror fills, through a remote cursor (the ordinary canal API).
 *
 * Pulls batches, prints each event, acknowledges and checkpoints every batch; stopped and
 * started again with the same consumer name, it resumes after its last checkpoint. Exits
 * after `idle` seconds without a new event.
 *
 *   cc -std=c11 remote_cursor.c $(pkg-config --cflags --libs transom)
 *   ./remote_cursor nats://127.0.0.1:4222 EVENTS billing [idle-seconds]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <transom.h>

static void check(transom_status st, const char *what) {
    if (st == TRANSOM_OK) return;
    char detail[512];
    size_t n;
    transom_last_error(detail, sizeof detail, &n);
    fprintf(stderr, "%s: %s (%s)\n", what, transom_status_str(st), detail);
    exit(1);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s NATS_URL STREAM CONSUMER_NAME [IDLE_SECONDS]\n", argv[0]);
        return 2;
    }
    unsigned long long idle = argc > 4 ? strtoull(argv[4], NULL, 10) : 5;
    transom_nats_url url = {argv[1], strlen(argv[1])};
    transom_remote_cursor_options o;
    memset(&o, 0, sizeof o); /* zero = defaults: prefix "transom", BEGIN for a new consumer */
    o.nats.urls = &url;
    o.nats.url_count = 1;
    o.stream = argv[2];
    o.stream_len = strlen(argv[2]);
    o.name = argv[3];
    o.name_len = strlen(argv[3]);
    transom_canal *c;
    check(transom_canal_open_remote_cursor(&o, &c), "open remote cursor");

    transom_item items[64];
    for (;;) {
        size_t count = 0;
        transom_status st =
            transom_canal_pull_batch(c, idle * 1000000000ull, items, 64, &count);
        if (st == TRANSOM_TIMEOUT) break; /* nothing new for `idle` seconds */
        check(st, "pull");
        uint64_t last = 0;
        for (size_t i = 0; i < count; i++) {
            const transom_event *e = &items[i].event;
            if (items[i].kind == TRANSOM_ITEM_GAP) {
                printf("gap %llu..%llu\n", (unsigned long long)items[i].gap_from,
                       (unsigned long long)items[i].gap_to);
                last = items[i].gap_to;
                continue;
            }
            printf("%llu %.*s kind=%u %.*s\n", (unsigned long long)e->sequence, (int)e->stream_len,
                   e->stream, (unsigned)e->kind, (int)e->payload_len, (const char *)e->payload);
            last = e->sequence;
        }
        /* Handled: acknowledge the batch; the checkpoint returns once the server confirmed. */
        check(transom_canal_ack(c, last), "ack");
        check(transom_canal_checkpoint(c), "checkpoint");
    }
    check(transom_canal_close(c), "close");
    transom_canal_free(c);
    return 0;
}
