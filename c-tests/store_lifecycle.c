/* The store handle's lifecycle and output rules: transom_store_close shuts the store down and
 * keeps the handle (every later call is CLOSED, a second close is OK), transom_store_free
 * releases it (closing first when needed; NULL accepted); gates are removed by id (an unknown
 * id is NOT_FOUND naming the gate); outputs are written on TRANSOM_OK only. */
#include "store_support.h"

static event_space sp;

typedef struct {
    int calls;
    int drops;
} gate_ctx;

static int32_t counting_gate(void *ctx, const transom_gate_event *e, char *reason, size_t cap) {
    (void)e;
    (void)reason;
    (void)cap;
    ((gate_ctx *)ctx)->calls++;
    return 0;
}

static void count_drop(void *ctx) { ((gate_ctx *)ctx)->drops++; }

static void expect_detail(const char *want) {
    char detail[512];
    size_t n = 0;
    CHECK_OK(transom_last_error(detail, sizeof detail, &n));
    if (strcmp(detail, want) != 0) {
        fprintf(stderr, "detail: got \"%s\", want \"%s\"\n", detail, want);
        CHECK(0);
    }
}

static void every_call_after_close_is_closed(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    for (int on_disk = 0; on_disk < 2; on_disk++) {
        transom_store *s = open_store(on_disk ? dir : NULL, TRANSOM_SYNC_ALWAYS);
        static gate_ctx g;
        memset(&g, 0, sizeof g);
        transom_gate_callback gate = {&g, counting_gate, count_drop};
        uint64_t gid = 0;
        CHECK_OK(transom_store_add_gate(s, gate, &gid));
        transom_append a = event_of("s", 1, "p", 1);
        transom_receipt r;
        CHECK_OK(transom_store_append(s, &a, &r));
        CHECK(g.calls == 1);

        CHECK_OK(transom_store_close(s));
        CHECK(g.drops == 1); /* the close removed the gate */
        CHECK_OK(transom_store_close(s)); /* idempotent */

        transom_receipt untouched;
        memset(&untouched, 0x5a, sizeof untouched);
        transom_receipt out = untouched;
        CHECK_STATUS(transom_store_append(s, &a, &out), TRANSOM_ERR_CLOSED);
        expect_detail("the store is closed");
        CHECK(memcmp(&out, &untouched, sizeof out) == 0);
        CHECK_STATUS(transom_store_append_batch(s, &a, 1, &out), TRANSOM_ERR_CLOSED);
        CHECK(memcmp(&out, &untouched, sizeof out) == 0);
        CHECK(g.calls == 1); /* no gate ran for the refused appends */

        transom_event_buffer *b = space(&sp);
        b->count = 77;
        CHECK_STATUS(transom_store_get(s, r.id, b), TRANSOM_ERR_CLOSED);
        CHECK_STATUS(transom_store_read(s, "s", 1, 0, b), TRANSOM_ERR_CLOSED);
        CHECK_STATUS(transom_store_ancestors(s, r.id, b), TRANSOM_ERR_CLOSED);
        CHECK_STATUS(transom_store_correlated(s, r.id, b), TRANSOM_ERR_CLOSED);
        CHECK(b->count == 77);
        CHECK_STATUS(transom_store_sync(s), TRANSOM_ERR_CLOSED);
        uint64_t head = 99;
        CHECK_STATUS(transom_store_head(s, &head), TRANSOM_ERR_CLOSED);
        CHECK(head == 99);

        /* add_gate on a closed store owns the triple too: its drop runs. */
        uint64_t id = 99;
        CHECK_STATUS(transom_store_add_gate(s, gate, &id), TRANSOM_ERR_CLOSED);
        CHECK(id == 99 && g.drops == 2);
        CHECK_STATUS(transom_store_remove_gate(s, gid), TRANSOM_ERR_CLOSED);

        transom_cursor_options co;
        memset(&co, 0, sizeof co);
        transom_subscription_options so;
        memset(&so, 0, sizeof so);
        so.capacity = 4;
        transom_canal *c = NULL;
        CHECK_STATUS(transom_canal_open_cursor(s, &co, &c), TRANSOM_ERR_CLOSED);
        CHECK_STATUS(transom_canal_open_subscription(s, &so, &c), TRANSOM_ERR_CLOSED);
        CHECK(c == NULL);

        CHECK_OK(transom_store_close(s)); /* still OK */
        transom_store_free(s);
        CHECK(g.drops == 2);
    }
    remove_tree(dir);
}

static void close_releases_the_directory_and_free_without_close_closes(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dir;
    cfg.dir_len = strlen(dir);

    /* Closed: the directory is free for another store while the handle still exists. */
    transom_store *s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    transom_append a = event_of("s", 1, "kept", 4);
    CHECK_OK(transom_store_append(s, &a, NULL));
    CHECK_OK(transom_store_close(s));
    transom_store *second = NULL;
    CHECK_OK(transom_store_open(&cfg, &second));
    uint64_t head = 0;
    CHECK_OK(transom_store_head(second, &head));
    CHECK(head == 1);
    transom_store_free(s); /* free after close: releases the handle only */

    /* Freed without a close: the free closes it (fsync, lock released, gates dropped). */
    static gate_ctx g;
    memset(&g, 0, sizeof g);
    transom_gate_callback gate = {&g, counting_gate, count_drop};
    uint64_t gid = 0;
    CHECK_OK(transom_store_add_gate(second, gate, &gid));
    CHECK_OK(transom_store_append(second, &a, NULL));
    transom_store_free(second);
    CHECK(g.drops == 1);
    transom_store *third = NULL;
    CHECK_OK(transom_store_open(&cfg, &third));
    CHECK_OK(transom_store_head(third, &head));
    CHECK(head == 2);
    transom_store_free(third);
    transom_store_free(NULL);
    remove_tree(dir);
}

static void removing_an_unknown_gate_is_not_found_naming_the_gate(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    CHECK_STATUS(transom_store_remove_gate(s, 7), TRANSOM_ERR_NOT_FOUND);
    expect_detail("no gate with id 7");
    static gate_ctx g;
    memset(&g, 0, sizeof g);
    transom_gate_callback gate = {&g, counting_gate, count_drop};
    uint64_t gid = 0;
    CHECK_OK(transom_store_add_gate(s, gate, &gid));
    CHECK_OK(transom_store_remove_gate(s, gid));
    CHECK(g.drops == 1);
    CHECK_STATUS(transom_store_remove_gate(s, gid), TRANSOM_ERR_NOT_FOUND);
    char want[64];
    snprintf(want, sizeof want, "no gate with id %llu", (unsigned long long)gid);
    expect_detail(want);
    close_store(s);
}

static void outputs_are_written_on_success_only(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_append a = event_of("s", 1, "0123456789", 10);
    transom_receipt r;
    CHECK_OK(transom_store_append(s, &a, &r));

    /* A failed append leaves the receipt alone. */
    transom_receipt untouched, out;
    memset(&untouched, 0x5a, sizeof untouched);
    out = untouched;
    transom_append bad = a;
    bad.expected = TRANSOM_EXPECT_NO_STREAM;
    CHECK_STATUS(transom_store_append(s, &bad, &out), TRANSOM_ERR_CONFLICT);
    CHECK(memcmp(&out, &untouched, sizeof out) == 0);
    transom_receipt outs[2] = {untouched, untouched};
    transom_append batch[2] = {a, bad};
    CHECK_STATUS(transom_store_append_batch(s, batch, 2, outs), TRANSOM_ERR_CONFLICT);
    CHECK(memcmp(&outs[0], &untouched, sizeof out) == 0 && memcmp(&outs[1], &untouched, sizeof out) == 0);

    /* A buffer of cap 0 is an invalid argument; the buffer is not written. */
    transom_event ev[1];
    uint8_t arena[64];
    transom_event_buffer b;
    memset(&b, 0, sizeof b);
    b.events = ev;
    b.cap = 0;
    b.arena = arena;
    b.arena_cap = sizeof arena;
    b.count = b.total = b.arena_needed = 77;
    CHECK_STATUS(transom_store_get(s, r.id, &b), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_store_read(s, "s", 1, 0, &b), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(b.count == 77 && b.total == 77 && b.arena_needed == 77);
    /* NOT_FOUND writes nothing either. */
    b.cap = 1;
    transom_event_id unknown = {1, 1};
    CHECK_STATUS(transom_store_get(s, unknown, &b), TRANSOM_ERR_NOT_FOUND);
    CHECK(b.count == 77 && b.total == 77 && b.arena_needed == 77);
    /* BUFFER_TOO_SMALL writes the sizes the answer needs (an empty arena asks for them). */
    b.arena = NULL;
    b.arena_cap = 0;
    CHECK_STATUS(transom_store_get(s, r.id, &b), TRANSOM_ERR_BUFFER_TOO_SMALL);
    CHECK(b.count == 0 && b.total == 1 && b.arena_needed == 11);
    b.arena = arena;
    b.arena_cap = b.arena_needed;
    CHECK_OK(transom_store_get(s, r.id, &b));
    CHECK(b.count == 1 && memcmp(ev[0].payload, "0123456789", 10) == 0);
    close_store(s);
}

int main(void) {
    RUN(every_call_after_close_is_closed);
    RUN(close_releases_the_directory_and_free_without_close_closes);
    RUN(removing_an_unknown_gate_is_not_found_naming_the_gate);
    RUN(outputs_are_written_on_success_only);
    return 0;
}
