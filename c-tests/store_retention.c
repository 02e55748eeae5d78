/* Retention and what reaches the removed events (issue 8 §3, the header's transom_store
 * documentation): retention by age removes whole sealed segments at rollover (1 ns: all of
 * them; an hour: none); causal queries from a retained event stop at a removed cause and leave
 * removed group members out; an idempotency key of a retained event still answers with its
 * receipt, one of a removed event is TRUNCATED; stream versions and expected-version checks go
 * on counting events whose segments are gone. */
#include "store_support.h"

static event_space sp;

static transom_store *open_cfg(const char *dir, uint64_t retention_age_ns) {
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dir;
    cfg.dir_len = strlen(dir);
    cfg.sync = TRANSOM_SYNC_NEVER;
    cfg.segment_size = 4096;
    cfg.retention_age_ns = retention_age_ns;
    transom_store *s = NULL;
    CHECK_OK(transom_store_open(&cfg, &s));
    return s;
}

static transom_receipt append(const transom_store *s, transom_append a) {
    transom_receipt r;
    CHECK_OK(transom_store_append(s, &a, &r));
    return r;
}

/* `n` events of 64 bytes on stream "filler" (about 60 per 4 KiB segment). */
static void fill(const transom_store *s, int n) {
    uint8_t payload[64];
    memset(payload, 0x33, sizeof payload);
    for (int i = 0; i < n; i++) append(s, event_of("filler", 2, payload, sizeof payload));
}

static transom_store_statistics stats_of(const transom_store *s) {
    transom_store_statistics st;
    CHECK_OK(transom_store_stats(s, &st));
    return st;
}

static void retention_by_age_removes_old_sealed_segments_at_rollover(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    /* An hour: every segment is younger, nothing goes. */
    transom_store *s = open_cfg(dir, 3600ull * 1000000000ull);
    fill(s, 1000);
    transom_store_statistics st = stats_of(s);
    CHECK(st.first_sequence == 1 && st.events == 1000 && st.segments > 10);
    close_store(s);
    /* 1 ns: at each rollover every sealed segment is older than that. */
    s = open_cfg(dir, 1);
    fill(s, 200);
    st = stats_of(s);
    printf("# retention_age_ns 1: %llu segment(s), sequences %llu..%llu\n",
           (unsigned long long)st.segments, (unsigned long long)st.first_sequence,
           (unsigned long long)st.last_sequence);
    CHECK(st.last_sequence == 1200);
    CHECK(st.segments <= 2); /* the active segment, and the one sealed since the last rollover at most */
    CHECK(st.first_sequence > 1000);
    CHECK(st.events == st.last_sequence - st.first_sequence + 1);
    CHECK_STATUS(transom_store_read_sequence(s, 1, space(&sp)), TRANSOM_ERR_TRUNCATED);
    int64_t v = 0;
    CHECK_OK(transom_last_error_value(&v));
    CHECK(v == (int64_t)st.first_sequence);
    transom_event_buffer *b = space(&sp);
    b->cap = 1;
    CHECK_OK(transom_store_read_sequence(s, st.first_sequence, b));
    CHECK(b->count == 1 && b->events[0].sequence == st.first_sequence);
    close_store(s);
    remove_tree(dir);
}

static void causal_queries_stop_at_removed_events(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *s = open_cfg(dir, 0);
    /* root (removed later) <- child <- grandchild, all in root's correlation group; plus an
     * early member of the group that is removed too. */
    transom_receipt root = append(s, event_of("order-1", 1, "placed", 6));
    transom_append early = event_of("order-1", 2, "early", 5);
    early.correlation_id = root.id;
    early.causation_id = root.id;
    transom_receipt early_r = append(s, early);
    fill(s, 300);
    transom_append c = event_of("order-1", 3, "paid", 4);
    c.correlation_id = root.id;
    c.causation_id = root.id;
    transom_receipt child = append(s, c);
    transom_append g = event_of("order-1", 4, "shipped", 7);
    g.correlation_id = root.id;
    g.causation_id = child.id;
    transom_receipt grandchild = append(s, g);

    uint64_t first = 0;
    CHECK_OK(transom_store_truncate(s, child.sequence, &first));
    CHECK(first > early_r.sequence && first <= child.sequence);

    /* The removed events themselves: TRUNCATED, not NOT_FOUND. */
    CHECK_STATUS(transom_store_get(s, root.id, space(&sp)), TRANSOM_ERR_TRUNCATED);
    CHECK_STATUS(transom_store_get(s, early_r.id, space(&sp)), TRANSOM_ERR_TRUNCATED);
    CHECK_STATUS(transom_store_ancestors(s, root.id, space(&sp)), TRANSOM_ERR_TRUNCATED);
    CHECK_STATUS(transom_store_correlated(s, early_r.id, space(&sp)), TRANSOM_ERR_TRUNCATED);

    /* From a retained event: the chain ends at the removed cause. */
    transom_event_buffer *b = space(&sp);
    CHECK_OK(transom_store_ancestors(s, grandchild.id, b));
    CHECK(b->count == 1 && id_eq(b->events[0].id, child.id));
    b = space(&sp);
    CHECK_OK(transom_store_ancestors(s, child.id, b));
    CHECK(b->count == 0);
    /* The group: its retained members only, in sequence order. */
    b = space(&sp);
    CHECK_OK(transom_store_correlated(s, grandchild.id, b));
    CHECK(b->count == 2);
    CHECK(id_eq(b->events[0].id, child.id) && id_eq(b->events[1].id, grandchild.id));
    close_store(s);

    /* The same after a reopen (the answers come from the index files). */
    s = open_cfg(dir, 0);
    b = space(&sp);
    CHECK_OK(transom_store_correlated(s, child.id, b));
    CHECK(b->count == 2);
    b = space(&sp);
    CHECK_OK(transom_store_ancestors(s, grandchild.id, b));
    CHECK(b->count == 1 && id_eq(b->events[0].id, child.id));
    close_store(s);
    remove_tree(dir);
}

static void keys_and_versions_outlive_the_removed_segments(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *s = open_cfg(dir, 0);
    /* Stream "gone": versions 1..3, all removed later. */
    for (int i = 0; i < 3; i++) append(s, event_of("gone", 1, "x", 1));
    transom_append removed_keyed = event_of("keys", 1, "old", 3);
    removed_keyed.idempotency_key = (const uint8_t *)"old-key";
    removed_keyed.idempotency_key_len = 7;
    append(s, removed_keyed);
    fill(s, 300);
    transom_append kept_keyed = event_of("keys", 1, "new", 3);
    kept_keyed.idempotency_key = (const uint8_t *)"new-key";
    kept_keyed.idempotency_key_len = 7;
    transom_receipt kept = append(s, kept_keyed);
    uint64_t first = 0;
    CHECK_OK(transom_store_truncate(s, kept.sequence, &first));
    CHECK(first > 4 && first <= kept.sequence);

    for (int reopen = 0; reopen < 2; reopen++) {
        /* A retry of the retained keyed event: its original receipt, nothing appended. */
        uint64_t head = 0, after = 0;
        CHECK_OK(transom_store_head(s, &head));
        transom_receipt again;
        CHECK_OK(transom_store_append(s, &kept_keyed, &again));
        CHECK(again.sequence == kept.sequence && id_eq(again.id, kept.id));
        /* A retry of the removed one: TRUNCATED, neither appended again nor answered. */
        transom_receipt none;
        memset(&none, 0x5A, sizeof none);
        CHECK_STATUS(transom_store_append(s, &removed_keyed, &none), TRANSOM_ERR_TRUNCATED);
        CHECK(none.sequence == 0x5A5A5A5A5A5A5A5Aull);
        CHECK_OK(transom_store_head(s, &after));
        CHECK(after == head);
        close_store(s);
        s = open_cfg(dir, 0);
    }

    /* "gone" has no retained event, yet its version is 3: expected-version checks count the
     * removed events, and the next event is version 4. */
    transom_append a = event_of("gone", 1, "y", 1);
    a.expected = TRANSOM_EXPECT_NO_STREAM;
    CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_CONFLICT);
    a.expected = TRANSOM_EXPECT_EXACT;
    a.expected_version = 2;
    CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_CONFLICT);
    a.expected_version = 3;
    transom_receipt r = append(s, a);
    CHECK(r.stream_version == 4);
    CHECK_STATUS(transom_store_read(s, "gone", 4, 1, space(&sp)), TRANSOM_ERR_TRUNCATED);
    transom_event_buffer *b = space(&sp);
    CHECK_OK(transom_store_read(s, "gone", 4, 4, b));
    CHECK(b->count == 1 && b->events[0].stream_version == 4 && b->events[0].sequence == r.sequence);
    close_store(s);
    remove_tree(dir);
}

int main(void) {
    RUN(retention_by_age_removes_old_sealed_segments_at_rollover);
    RUN(causal_queries_stop_at_removed_events);
    RUN(keys_and_versions_outlive_the_removed_segments);
    return 0;
}
