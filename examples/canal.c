/* canal.c - an event store and a cursor pulling batches, in ~70 lines.
 *
 * Appends events, reads them back in batches through a named cursor, acknowledges and
 * checkpoints, then shows that a new cursor with the same name resumes after the checkpoint.
 *
 *   cc -std=c11 canal.c $(pkg-config --cflags --libs transom)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <transom.h>

static void check(transom_status st, const char *what) {
    if (st == TRANSOM_OK) return;
    char detail[256];
    size_t n;
    transom_last_error(detail, sizeof detail, &n);
    fprintf(stderr, "%s: %s (%s)\n", what, transom_status_str(st), detail);
    exit(1);
}

static transom_canal *open_named(transom_store *s) {
    transom_cursor_options o;
    memset(&o, 0, sizeof o);
    o.start = TRANSOM_START_NAMED;
    o.name = "example";
    o.name_len = 7;
    transom_canal *c;
    check(transom_canal_open_cursor(s, &o, &c), "open cursor");
    return c;
}

int main(void) {
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg); /* dir NULL: an in-memory store */
    transom_store *s;
    check(transom_store_open(&cfg, &s), "open store");
    for (int i = 0; i < 10; i++) {
        char payload[32];
        int n = snprintf(payload, sizeof payload, "reading %d", i);
        transom_append a;
        memset(&a, 0, sizeof a);
        a.stream = "sensor-1";
        a.stream_len = 8;
        a.kind = 1;
        a.payload = (const uint8_t *)payload;
        a.payload_len = (size_t)n;
        check(transom_store_append(s, &a, NULL), "append");
    }

    transom_canal *c = open_named(s);
    transom_item items[4];
    size_t count = 0; /* written on TRANSOM_OK only */
    check(transom_canal_pull_batch(c, 1000000000ull, items, 4, &count), "pull");
    for (size_t i = 0; i < count; i++)
        printf("seq %llu: %.*s\n", (unsigned long long)items[i].event.sequence,
               (int)items[i].event.payload_len, (const char *)items[i].event.payload);
    check(transom_canal_ack(c, items[count - 1].event.sequence), "ack");
    check(transom_canal_checkpoint(c), "checkpoint");
    transom_canal_free(c);

    c = open_named(s); /* same name: resumes after the checkpoint */
    check(transom_canal_pull_batch(c, 1000000000ull, items, 4, &count), "pull");
    printf("resumed at seq %llu\n", (unsigned long long)items[0].event.sequence);
    transom_canal_free(c);
    check(transom_store_close(s), "close"); /* fsync, unlock; the handle stays valid */
    transom_store_free(s);
    return 0;
}
