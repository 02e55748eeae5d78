/* Slot managers from C: round trips, reserve/commit, views, STATIC storage, clear, take. Every
 * case runs against all three kinds. */
#include "memory_support.h"

static void store_read_remove_round_trip_keeps_payload(void) {
    for (int k = 0; k < 3; k++) {
        void *storage;
        transom_manager *m = new_manager(ALL_KINDS[k], 8, 64, &storage);
        transom_header h;
        CHECK_OK(transom_header_init(&h));
        CHECK(h.qos == TRANSOM_QOS_BEST_EFFORT && sizeof h == TRANSOM_HEADER_SIZE);
        h.trace_id = 42;
        h.sequence = 7;
        h.flags = TRANSOM_FLAG_FIRST_IN_BATCH;
        h.payload_len = 9999; /* never trusted */
        const char msg[] = "hello, transom";
        transom_token t;
        CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)msg, sizeof msg, &t));
        CHECK(t.key != 0); /* {0, 0} is never a live token */
        CHECK(available(m) == 7);

        transom_read_view v;
        CHECK_OK(transom_manager_read(m, t, &v));
        CHECK(v.len == sizeof msg && memcmp(v.payload, msg, sizeof msg) == 0);
        CHECK(v.header->trace_id == 42 && v.header->sequence == 7);
        CHECK(v.header->payload_len == sizeof msg);
        CHECK(v.header->memory_class.kind == TRANSOM_MEMORY_HOST);
        /* Many readers at once. */
        transom_read_view v2;
        CHECK_OK(transom_manager_read(m, t, &v2));
        CHECK(v2.payload == v.payload);
        CHECK_OK(transom_manager_release(m, t));
        CHECK_OK(transom_manager_release(m, t));

        transom_header peek;
        CHECK_OK(transom_manager_peek_header(m, t, &peek));
        CHECK(peek.flags == TRANSOM_FLAG_FIRST_IN_BATCH && peek.payload_len == sizeof msg);

        CHECK_OK(transom_manager_remove(m, t));
        CHECK(available(m) == 8);
        free_manager(m, storage);
    }
}

static void empty_payload_with_null_pointer_is_allowed(void) {
    for (int k = 0; k < 3; k++) {
        void *storage;
        transom_manager *m = new_manager(ALL_KINDS[k], 1, 8, &storage);
        transom_header h;
        transom_header_init(&h);
        transom_token t;
        CHECK_OK(transom_manager_store(m, &h, NULL, 0, &t));
        size_t len = 99;
        CHECK_OK(transom_manager_take(m, t, NULL, 0, &len));
        CHECK(len == 0);
        free_manager(m, storage);
    }
}

static void reserve_commit_abort_zero_copy(void) {
    for (int k = 0; k < 3; k++) {
        void *storage;
        transom_manager *m = new_manager(ALL_KINDS[k], 2, 32, &storage);
        transom_token t;
        uint8_t *p = NULL;
        CHECK_OK(transom_manager_reserve(m, 5, &t, &p));
        CHECK(p != NULL);
        memcpy(p, "abcde", 5);
        transom_read_view v;
        CHECK_STATUS(transom_manager_read(m, t, &v), TRANSOM_ERR_WRONG_STATE); /* invisible */
        transom_header h;
        transom_header_init(&h);
        h.sequence = 11;
        CHECK_OK(transom_manager_commit(m, t, &h));
        CHECK_OK(transom_manager_read(m, t, &v));
        CHECK(v.len == 5 && memcmp(v.payload, "abcde", 5) == 0 && v.header->sequence == 11);
        CHECK_OK(transom_manager_release(m, t));

        transom_token t2;
        CHECK_OK(transom_manager_reserve(m, 1, &t2, &p));
        CHECK(available(m) == 0);
        CHECK_OK(transom_manager_abort(m, t2));
        CHECK(available(m) == 1);
        CHECK_STATUS(transom_manager_commit(m, t2, &h), TRANSOM_ERR_STALE_TOKEN);
        free_manager(m, storage);
    }
}

static void write_view_is_exclusive_and_length_is_revalidated(void) {
    for (int k = 0; k < 3; k++) {
        void *storage;
        transom_manager *m = new_manager(ALL_KINDS[k], 1, 16, &storage);
        transom_header h;
        transom_header_init(&h);
        transom_token t;
        CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"abcd", 4, &t));
        transom_write_view w;
        CHECK_OK(transom_manager_write(m, t, &w));
        CHECK(w.len == 4 && w.capacity == 16);
        transom_read_view r;
        CHECK_STATUS(transom_manager_read(m, t, &r), TRANSOM_ERR_BORROWED);
        transom_write_view w2;
        CHECK_STATUS(transom_manager_write(m, t, &w2), TRANSOM_ERR_BORROWED);
        memcpy(w.payload, "0123456789", 10);
        w.header->payload_len = 10;
        w.header->sequence = 5;
        CHECK_OK(transom_manager_release(m, t));
        CHECK_OK(transom_manager_read(m, t, &r));
        CHECK(r.len == 10 && memcmp(r.payload, "0123456789", 10) == 0);
        CHECK(r.header->sequence == 5);
        CHECK_OK(transom_manager_release(m, t));
        /* Over the slot size: refused, previous length restored, view ended. */
        CHECK_OK(transom_manager_write(m, t, &w));
        w.header->payload_len = 17;
        CHECK_STATUS(transom_manager_release(m, t), TRANSOM_ERR_TOO_LARGE);
        CHECK_OK(transom_manager_read(m, t, &r));
        CHECK(r.len == 10 && r.header->payload_len == 10);
        CHECK_OK(transom_manager_release(m, t));
        CHECK_STATUS(transom_manager_release(m, t), TRANSOM_ERR_WRONG_STATE);
        CHECK_OK(transom_manager_remove(m, t));
        free_manager(m, storage);
    }
}

static void static_manager_uses_the_callers_unaligned_buffer(void) {
    size_t need = 0;
    CHECK_OK(transom_manager_required_bytes(4, 24, &need));
    CHECK(need > 4 * 24);
    unsigned char *raw = malloc(need + 1);
    CHECK(raw != NULL);
    transom_manager_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.kind = TRANSOM_MANAGER_STATIC;
    cfg.capacity = 4;
    cfg.slot_size = 24;
    cfg.memory_class.kind = TRANSOM_MEMORY_DEVICE;
    cfg.memory_class.device = 3;
    cfg.storage = raw + 1; /* deliberately misaligned */
    cfg.storage_len = need;
    transom_manager *m = NULL;
    CHECK_OK(transom_manager_new(&cfg, &m));
    transom_header h;
    transom_header_init(&h);
    transom_token t;
    CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"dma", 3, &t));
    transom_read_view v;
    CHECK_OK(transom_manager_read(m, t, &v));
    CHECK((const unsigned char *)v.payload > raw && (const unsigned char *)v.payload < raw + need + 1);
    CHECK(v.header->memory_class.kind == TRANSOM_MEMORY_DEVICE && v.header->memory_class.device == 3);
    CHECK_OK(transom_manager_release(m, t));
    transom_memory_class mc;
    CHECK_OK(transom_manager_memory_class(m, &mc));
    CHECK(mc.kind == TRANSOM_MEMORY_DEVICE && mc.device == 3);
    size_t n;
    CHECK_OK(transom_manager_capacity(m, &n));
    CHECK(n == 4);
    CHECK_OK(transom_manager_slot_size(m, &n));
    CHECK(n == 24);
    /* Storage one byte short of the requirement is refused. */
    cfg.storage_len = need - 1;
    transom_manager *m2 = NULL;
    CHECK_STATUS(transom_manager_new(&cfg, &m2), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(m2 == NULL);
    transom_manager_free(m);
    free(raw);
}

static void clear_frees_everything_unless_borrowed(void) {
    for (int k = 0; k < 3; k++) {
        void *storage;
        transom_manager *m = new_manager(ALL_KINDS[k], 4, 8, &storage);
        transom_header h;
        transom_header_init(&h);
        transom_token ts[4];
        for (int i = 0; i < 4; i++) CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"x", 1, &ts[i]));
        transom_read_view v;
        CHECK_OK(transom_manager_read(m, ts[2], &v));
        CHECK_STATUS(transom_manager_clear(m), TRANSOM_ERR_BORROWED);
        CHECK(available(m) == 0); /* nothing was freed */
        CHECK_OK(transom_manager_release(m, ts[2]));
        CHECK_OK(transom_manager_clear(m));
        CHECK(available(m) == 4);
        for (int i = 0; i < 4; i++) CHECK_STATUS(transom_manager_remove(m, ts[i]), TRANSOM_ERR_STALE_TOKEN);
        free_manager(m, storage);
    }
}

static void take_copies_out_and_frees(void) {
    for (int k = 0; k < 3; k++) {
        void *storage;
        transom_manager *m = new_manager(ALL_KINDS[k], 1, 16, &storage);
        transom_header h;
        transom_header_init(&h);
        transom_token t;
        CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"take-me", 7, &t));
        char small[3];
        size_t len = 0;
        CHECK_STATUS(transom_manager_take(m, t, (uint8_t *)small, sizeof small, &len),
                     TRANSOM_ERR_BUFFER_TOO_SMALL);
        CHECK(len == 7);
        CHECK(available(m) == 0); /* not freed */
        char buf[16];
        CHECK_OK(transom_manager_take(m, t, (uint8_t *)buf, sizeof buf, &len));
        CHECK(len == 7 && memcmp(buf, "take-me", 7) == 0);
        CHECK(available(m) == 1);
        CHECK_STATUS(transom_manager_take(m, t, (uint8_t *)buf, sizeof buf, &len), TRANSOM_ERR_STALE_TOKEN);
        free_manager(m, storage);
    }
}

static void stats_track_use_high_water_and_failures(void) {
    for (int k = 0; k < 3; k++) {
        void *storage;
        transom_manager *m = new_manager(ALL_KINDS[k], 2, 8, &storage);
        transom_header h;
        transom_header_init(&h);
        transom_token a, b, c;
        CHECK_OK(transom_manager_store(m, &h, NULL, 0, &a));
        CHECK_OK(transom_manager_store(m, &h, NULL, 0, &b));
        CHECK_STATUS(transom_manager_store(m, &h, NULL, 0, &c), TRANSOM_ERR_NO_FREE_SLOTS);
        CHECK_OK(transom_manager_remove(m, a));
        transom_memory_stats s;
        CHECK_OK(transom_manager_stats(m, &s));
        CHECK(s.in_use == 1 && s.high_water == 2 && s.failed_allocs == 1);
        free_manager(m, storage);
    }
}

int main(void) {
    RUN(store_read_remove_round_trip_keeps_payload);
    RUN(empty_payload_with_null_pointer_is_allowed);
    RUN(reserve_commit_abort_zero_copy);
    RUN(write_view_is_exclusive_and_length_is_revalidated);
    RUN(static_manager_uses_the_callers_unaligned_buffer);
    RUN(clear_frees_everything_unless_borrowed);
    RUN(take_copies_out_and_frees);
    RUN(stats_track_use_high_water_and_failures);
    return 0;
}
