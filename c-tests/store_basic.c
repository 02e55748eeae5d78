/* The event store from C: appends, reads, batches, idempotency, expected versions, the causal
 * graph, gates. In memory and on disk. */
#include "store_support.h"

static event_space sp;

static void append_get_read_round_trip(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    for (int on_disk = 0; on_disk < 2; on_disk++) {
        transom_store *s = open_store(on_disk ? dir : NULL, TRANSOM_SYNC_ALWAYS);
        transom_receipt r1, r2;
        transom_append a = event_of("orders", 7, "first", 5);
        CHECK_OK(transom_store_append(s, &a, &r1));
        a = event_of("orders", 8, "second", 6);
        CHECK_OK(transom_store_append(s, &a, &r2));
        CHECK(r1.sequence == 1 && r2.sequence == 2);
        CHECK(r1.stream_version == 1 && r2.stream_version == 2);
        CHECK(r2.id.hi > r1.id.hi || (r2.id.hi == r1.id.hi && r2.id.lo > r1.id.lo));

        transom_event_buffer *b = space(&sp);
        CHECK_OK(transom_store_get(s, r2.id, b));
        CHECK(b->count == 1 && b->events[0].sequence == 2 && b->events[0].kind == 8);
        CHECK(b->events[0].payload_len == 6 && memcmp(b->events[0].payload, "second", 6) == 0);
        CHECK(b->events[0].stream_len == 6 && memcmp(b->events[0].stream, "orders", 6) == 0);
        CHECK(id_eq(b->events[0].id, r2.id));

        b = space(&sp);
        CHECK_OK(transom_store_read(s, "orders", 6, 0, b));
        CHECK(b->count == 2 && b->total == 2);
        CHECK(memcmp(b->events[0].payload, "first", 5) == 0);
        b = space(&sp);
        CHECK_OK(transom_store_read(s, "orders", 6, 2, b));
        CHECK(b->count == 1 && b->events[0].stream_version == 2);
        b = space(&sp);
        CHECK_OK(transom_store_read(s, "nothing-here", 12, 0, b));
        CHECK(b->count == 0);
        uint64_t head = 0;
        CHECK_OK(transom_store_head(s, &head));
        CHECK(head == 2);
        CHECK_OK(transom_store_sync(s));
        close_store(s);
    }
    /* On disk, everything survives a reopen with the same sequences. */
    transom_store *s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    transom_event_buffer *b = space(&sp);
    CHECK_OK(transom_store_read(s, "orders", 6, 0, b));
    CHECK(b->count == 2 && b->events[0].sequence == 1 && b->events[1].sequence == 2);
    close_store(s);
    remove_tree(dir);
}

static void small_buffers_report_what_the_answer_needs(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    for (int i = 0; i < 3; i++) {
        transom_append a = event_of("s", 1, "0123456789", 10);
        CHECK_OK(transom_store_append(s, &a, NULL));
    }
    transom_event ev[2];
    uint8_t arena[15];
    transom_event_buffer b;
    memset(&b, 0, sizeof b);
    b.events = ev;
    b.cap = 2;
    b.arena = arena;
    b.arena_cap = sizeof arena;
    /* cap 2 bounds the read itself; the arena fits only one event (1 + 10 bytes each). */
    CHECK_STATUS(transom_store_read(s, "s", 1, 0, &b), TRANSOM_ERR_BUFFER_TOO_SMALL);
    CHECK(b.count == 1 && b.total == 2 && b.arena_needed == 22);
    CHECK(memcmp(ev[0].payload, "0123456789", 10) == 0);
    close_store(s);
}

static void batches_are_all_or_nothing(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_append batch[3] = {event_of("a", 1, "x", 1), event_of("b", 1, "y", 1), event_of("a", 1, "z", 1)};
    transom_receipt r[3];
    CHECK_OK(transom_store_append_batch(s, batch, 3, r));
    CHECK(r[0].sequence == 1 && r[1].sequence == 2 && r[2].sequence == 3);
    CHECK(r[2].stream_version == 2);
    /* The third event's version check fails: nothing of the batch is stored. */
    batch[2].expected = TRANSOM_EXPECT_EXACT;
    batch[2].expected_version = 99;
    CHECK_STATUS(transom_store_append_batch(s, batch, 3, r), TRANSOM_ERR_CONFLICT);
    uint64_t head = 0;
    CHECK_OK(transom_store_head(s, &head));
    CHECK(head == 3);
    close_store(s);
}

static void idempotency_keys_return_the_original_receipt(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_append a = event_of("pay", 3, "100 EUR", 7);
    a.idempotency_key = (const uint8_t *)"req-1";
    a.idempotency_key_len = 5;
    transom_receipt first, again;
    CHECK_OK(transom_store_append(s, &a, &first));
    CHECK_OK(transom_store_append(s, &a, &again));
    CHECK(id_eq(first.id, again.id) && first.sequence == again.sequence);
    a.payload = (const uint8_t *)"999 EUR";
    CHECK_STATUS(transom_store_append(s, &a, &again), TRANSOM_ERR_CONFLICT);
    uint64_t head = 0;
    CHECK_OK(transom_store_head(s, &head));
    CHECK(head == 1);
    close_store(s);
}

static void expected_versions_are_enforced(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_append a = event_of("acct", 1, "open", 4);
    a.expected = TRANSOM_EXPECT_NO_STREAM;
    CHECK_OK(transom_store_append(s, &a, NULL));
    CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_CONFLICT);
    a.expected = TRANSOM_EXPECT_EXACT;
    a.expected_version = 1;
    CHECK_OK(transom_store_append(s, &a, NULL));
    CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_CONFLICT);
    a.expected_version = 2;
    CHECK_OK(transom_store_append(s, &a, NULL));
    a.expected = TRANSOM_EXPECT_ANY;
    CHECK_OK(transom_store_append(s, &a, NULL));
    a.expected = 7;
    CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    close_store(s);
}

static void causal_graph_queries(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_receipt root, child, grandchild, other;
    transom_append a = event_of("flow", 1, "root", 4);
    CHECK_OK(transom_store_append(s, &a, &root));
    a = event_of("flow", 2, "child", 5);
    a.correlation_id = root.id;
    a.causation_id = root.id;
    CHECK_OK(transom_store_append(s, &a, &child));
    a = event_of("flow", 3, "grandchild", 10);
    a.correlation_id = root.id;
    a.causation_id = child.id;
    CHECK_OK(transom_store_append(s, &a, &grandchild));
    a = event_of("flow", 4, "unrelated", 9);
    CHECK_OK(transom_store_append(s, &a, &other));

    transom_event_buffer *b = space(&sp);
    CHECK_OK(transom_store_ancestors(s, grandchild.id, b));
    CHECK(b->count == 2 && id_eq(b->events[0].id, child.id) && id_eq(b->events[1].id, root.id));
    b = space(&sp);
    CHECK_OK(transom_store_correlated(s, child.id, b));
    CHECK(b->count == 3 && b->events[0].sequence == 1 && b->events[2].sequence == 3);
    CHECK(id_eq(b->events[1].causation_id, root.id) && id_eq(b->events[1].correlation_id, root.id));
    b = space(&sp);
    CHECK_OK(transom_store_correlated(s, other.id, b));
    CHECK(b->count == 1);
    transom_event_id unknown = {1, 1};
    b = space(&sp);
    CHECK_STATUS(transom_store_ancestors(s, unknown, b), TRANSOM_ERR_NOT_FOUND);
    CHECK_STATUS(transom_store_get(s, unknown, b), TRANSOM_ERR_NOT_FOUND);
    close_store(s);
}

/* ---- gates ---- */
typedef struct {
    int calls;
    int drops;
    int reject_kind;
} gate_ctx;

static int32_t reject_kind_gate(void *ctx, const transom_gate_event *e, char *reason, size_t cap) {
    gate_ctx *g = ctx;
    g->calls++;
    if (e->kind == g->reject_kind) {
        snprintf(reason, cap, "kind %u is not allowed in %.*s", (unsigned)e->kind, (int)e->stream_len, e->stream);
        return 4242;
    }
    return 0;
}

static void count_drop(void *ctx) { ((gate_ctx *)ctx)->drops++; }

static void gates_reject_with_their_code_and_store_nothing(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    static gate_ctx g;
    memset(&g, 0, sizeof g);
    g.reject_kind = 13;
    transom_gate_callback gate = {&g, reject_kind_gate, count_drop};
    uint64_t gid = 0;
    CHECK_OK(transom_store_add_gate(s, gate, &gid));
    transom_append ok = event_of("g", 1, "fine", 4);
    CHECK_OK(transom_store_append(s, &ok, NULL));
    transom_append bad = event_of("g", 13, "nope", 4);
    CHECK_STATUS(transom_store_append(s, &bad, NULL), TRANSOM_ERR_REJECTED);
    int64_t value = 0;
    CHECK_OK(transom_last_error_value(&value));
    CHECK(value == 4242);
    char detail[256];
    size_t n;
    CHECK_OK(transom_last_error(detail, sizeof detail, &n));
    CHECK(strstr(detail, "kind 13 is not allowed in g") != NULL);
    /* In a batch, one rejected event rejects the batch. */
    transom_append batch[3] = {ok, ok, bad};
    CHECK_STATUS(transom_store_append_batch(s, batch, 3, NULL), TRANSOM_ERR_REJECTED);
    uint64_t head = 0;
    CHECK_OK(transom_store_head(s, &head));
    CHECK(head == 1);
    /* Removing the gate: never called again, dropped exactly once. */
    CHECK_OK(transom_store_remove_gate(s, gid));
    CHECK(g.drops == 1);
    int calls = g.calls;
    CHECK_OK(transom_store_append(s, &bad, NULL));
    CHECK(g.calls == calls);
    CHECK_STATUS(transom_store_remove_gate(s, gid), TRANSOM_ERR_NOT_FOUND);
    close_store(s);
    CHECK(g.drops == 1);
}

static void gates_are_dropped_when_the_store_closes(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    static gate_ctx g;
    memset(&g, 0, sizeof g);
    g.reject_kind = -1;
    transom_gate_callback gate = {&g, reject_kind_gate, count_drop};
    uint64_t gid;
    CHECK_OK(transom_store_add_gate(s, gate, &gid));
    CHECK(g.drops == 0);
    close_store(s);
    CHECK(g.drops == 1);
}

int main(void) {
    RUN(append_get_read_round_trip);
    RUN(small_buffers_report_what_the_answer_needs);
    RUN(batches_are_all_or_nothing);
    RUN(idempotency_keys_return_the_original_receipt);
    RUN(expected_versions_are_enforced);
    RUN(causal_graph_queries);
    RUN(gates_reject_with_their_code_and_store_nothing);
    RUN(gates_are_dropped_when_the_store_closes);
    return 0;
}
