/* Every bad input of the manager API gets its exact status code, and nothing is lost or leaked:
 * after each refusal the manager still has all its slots and the refused call wrote nothing. */
#include "memory_support.h"

/* A token with this manager's key but the given slot index (forged for out-of-range tests);
 * the index is the upper 24 bits of `slot`. */
static transom_token with_index(transom_token real, uint64_t index) {
    transom_token t;
    t.key = real.key;
    t.slot = index << 40;
    return t;
}

static void null_arguments_are_refused_for_every_pointer(void) {
    void *storage;
    transom_manager *m = new_manager(TRANSOM_MANAGER_CONCURRENT, 2, 16, &storage);
    transom_header h;
    transom_header_init(&h);
    transom_token t;
    uint8_t *p;
    size_t n;
    transom_read_view rv;
    transom_write_view wv;
    transom_memory_class mc;
    transom_memory_stats st;
    transom_manager_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.kind = TRANSOM_MANAGER_HEAP;
    cfg.capacity = 1;
    cfg.slot_size = 1;
    transom_manager *out = NULL;

    CHECK_STATUS(transom_header_init(NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_required_bytes(1, 1, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_new(NULL, &out), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_new(&cfg, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(out == NULL);
    transom_manager_free(NULL); /* accepted, no effect */

    CHECK_STATUS(transom_manager_store(NULL, &h, (const uint8_t *)"x", 1, &t), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_store(m, NULL, (const uint8_t *)"x", 1, &t), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_store(m, &h, NULL, 1, &t), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_store(m, &h, (const uint8_t *)"x", 1, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(available(m) == 2);

    CHECK_STATUS(transom_manager_reserve(NULL, 1, &t, &p), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_reserve(m, 1, NULL, &p), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_reserve(m, 1, &t, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(available(m) == 2);

    transom_token r;
    CHECK_OK(transom_manager_reserve(m, 1, &r, &p));
    CHECK_STATUS(transom_manager_commit(NULL, r, &h), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_commit(m, r, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_abort(NULL, r), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_OK(transom_manager_abort(m, r));

    CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"x", 1, &t));
    CHECK_STATUS(transom_manager_read(NULL, t, &rv), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_read(m, t, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_write(NULL, t, &wv), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_write(m, t, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_release(NULL, t), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_peek_header(NULL, t, &h), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_peek_header(m, t, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_remove(NULL, t), TRANSOM_ERR_NULL_ARGUMENT);
    uint8_t buf[4];
    CHECK_STATUS(transom_manager_take(NULL, t, buf, sizeof buf, &n), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_take(m, t, NULL, sizeof buf, &n), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_take(m, t, buf, sizeof buf, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_clear(NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_available(NULL, &n), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_available(m, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_capacity(NULL, &n), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_capacity(m, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_slot_size(NULL, &n), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_slot_size(m, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_memory_class(NULL, &mc), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_memory_class(m, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_stats(NULL, &st), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_manager_stats(m, NULL), TRANSOM_ERR_NULL_ARGUMENT);

    /* The message survived every refused call. */
    CHECK_OK(transom_manager_take(m, t, buf, sizeof buf, &n));
    CHECK(n == 1 && buf[0] == 'x');
    CHECK(available(m) == 2);
    free_manager(m, storage);
}

static void bad_tokens_get_exact_codes_in_every_kind(void) {
    for (int k = 0; k < 3; k++) {
        void *s1, *s2;
        transom_manager *m = new_manager(ALL_KINDS[k], 2, 16, &s1);
        transom_manager *other = new_manager(ALL_KINDS[k], 2, 16, &s2);
        transom_header h;
        transom_header_init(&h);
        transom_token t, foreign;
        transom_read_view v;
        CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"mine", 4, &t));
        CHECK_OK(transom_manager_store(other, &h, (const uint8_t *)"theirs", 6, &foreign));

        transom_token zero = {0};
        CHECK_STATUS(transom_manager_read(m, zero, &v), TRANSOM_ERR_BAD_TOKEN);
        CHECK_STATUS(transom_manager_remove(m, zero), TRANSOM_ERR_BAD_TOKEN);
        CHECK_STATUS(transom_manager_read(m, with_index(t, 2), &v), TRANSOM_ERR_BAD_TOKEN);
        CHECK_STATUS(transom_manager_remove(m, with_index(t, 0xffffff)), TRANSOM_ERR_BAD_TOKEN);
        CHECK_STATUS(transom_manager_read(m, foreign, &v), TRANSOM_ERR_BAD_TOKEN);
        CHECK_STATUS(transom_manager_remove(m, foreign), TRANSOM_ERR_BAD_TOKEN);

        /* Stale after free, and double free. */
        CHECK_OK(transom_manager_remove(m, t));
        CHECK_STATUS(transom_manager_read(m, t, &v), TRANSOM_ERR_STALE_TOKEN);
        CHECK_STATUS(transom_manager_remove(m, t), TRANSOM_ERR_STALE_TOKEN);
        /* Stale after reuse: fill both slots so the freed one is certainly reused. */
        transom_token n1, n2;
        CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"new1", 4, &n1));
        CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"new2", 4, &n2));
        CHECK_STATUS(transom_manager_read(m, t, &v), TRANSOM_ERR_STALE_TOKEN);
        CHECK_STATUS(transom_manager_remove(m, t), TRANSOM_ERR_STALE_TOKEN);
        transom_write_view w;
        CHECK_STATUS(transom_manager_write(m, t, &w), TRANSOM_ERR_STALE_TOKEN);
        CHECK_STATUS(transom_manager_peek_header(m, t, &h), TRANSOM_ERR_STALE_TOKEN);
        CHECK_OK(transom_manager_read(m, n1, &v));
        CHECK(memcmp(v.payload, "new1", 4) == 0);
        CHECK_OK(transom_manager_release(m, n1));
        CHECK_OK(transom_manager_read(m, n2, &v));
        CHECK(memcmp(v.payload, "new2", 4) == 0);
        CHECK_OK(transom_manager_release(m, n2));

        /* The other manager's message is untouched. */
        CHECK_OK(transom_manager_read(other, foreign, &v));
        CHECK(v.len == 6 && memcmp(v.payload, "theirs", 6) == 0);
        CHECK_OK(transom_manager_release(other, foreign));
        free_manager(m, s1);
        free_manager(other, s2);
    }
}

static void too_large_and_full_take_no_slot(void) {
    for (int k = 0; k < 3; k++) {
        void *storage;
        transom_manager *m = new_manager(ALL_KINDS[k], 1, 16, &storage);
        transom_header h;
        transom_header_init(&h);
        uint8_t big[17] = {0};
        transom_token t = {0};
        uint8_t *p = NULL;
        CHECK_STATUS(transom_manager_store(m, &h, big, 17, &t), TRANSOM_ERR_TOO_LARGE);
        CHECK_STATUS(transom_manager_reserve(m, 17, &t, &p), TRANSOM_ERR_TOO_LARGE);
        CHECK(t.key == 0 && t.slot == 0 && p == NULL); /* outputs untouched on failure */
        CHECK(available(m) == 1);
        CHECK_OK(transom_manager_store(m, &h, big, 16, &t));
        transom_token t2 = {0};
        CHECK_STATUS(transom_manager_store(m, &h, big, 1, &t2), TRANSOM_ERR_NO_FREE_SLOTS);
        CHECK_STATUS(transom_manager_reserve(m, 1, &t2, &p), TRANSOM_ERR_NO_FREE_SLOTS);
        CHECK(t2.key == 0 && t2.slot == 0);
        CHECK_OK(transom_manager_remove(m, t));
        CHECK(available(m) == 1);
        free_manager(m, storage);
    }
}

static void capacity_zero_is_legal_and_every_store_is_refused(void) {
    for (int k = 0; k < 3; k++) {
        void *storage;
        transom_manager *m = new_manager(ALL_KINDS[k], 0, 16, &storage);
        transom_header h;
        transom_header_init(&h);
        transom_token t;
        CHECK_STATUS(transom_manager_store(m, &h, NULL, 0, &t), TRANSOM_ERR_NO_FREE_SLOTS);
        CHECK(available(m) == 0);
        CHECK_OK(transom_manager_clear(m));
        free_manager(m, storage);
    }
    /* STATIC with capacity 0 needs no storage at all. */
    transom_manager_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.kind = TRANSOM_MANAGER_STATIC;
    cfg.slot_size = 8;
    transom_manager *m = NULL;
    CHECK_OK(transom_manager_new(&cfg, &m));
    transom_manager_free(m);
}

static void shape_and_config_are_validated(void) {
    size_t n = 12345;
    /* capacity * slot_size overflows: an error, not a crash, and *out untouched. */
    CHECK_STATUS(transom_manager_required_bytes(SIZE_MAX / 2, 64, &n), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_manager_required_bytes(4, SIZE_MAX, &n), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(n == 12345);
    CHECK_OK(transom_manager_required_bytes(0, 64, &n));
    CHECK(n == 0);

    transom_manager_config cfg;
    memset(&cfg, 0, sizeof cfg);
    transom_manager *m = NULL;
    cfg.capacity = 4;
    cfg.slot_size = 8;
    cfg.kind = 0;
    CHECK_STATUS(transom_manager_new(&cfg, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    cfg.kind = 99;
    CHECK_STATUS(transom_manager_new(&cfg, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    cfg.kind = TRANSOM_MANAGER_HEAP;
    cfg.capacity = SIZE_MAX / 2;
    cfg.slot_size = 64;
    CHECK_STATUS(transom_manager_new(&cfg, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    cfg.kind = TRANSOM_MANAGER_CONCURRENT;
    CHECK_STATUS(transom_manager_new(&cfg, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    cfg.capacity = 4;
    cfg.memory_class.kind = 9;
    CHECK_STATUS(transom_manager_new(&cfg, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    cfg.memory_class.kind = TRANSOM_MEMORY_HOST;
    cfg.memory_class.device = 1; /* a device number on a host class */
    CHECK_STATUS(transom_manager_new(&cfg, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    cfg.memory_class.device = 0;
    char junk[8];
    cfg.storage = junk; /* storage is for STATIC only */
    cfg.storage_len = sizeof junk;
    CHECK_STATUS(transom_manager_new(&cfg, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    cfg.kind = TRANSOM_MANAGER_STATIC;
    cfg.storage = NULL; /* NULL storage with capacity > 0: the header says INVALID_ARGUMENT */
    cfg.storage_len = 0;
    CHECK_STATUS(transom_manager_new(&cfg, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    cfg.storage_len = 1 << 20; /* however large the length claims to be */
    CHECK_STATUS(transom_manager_new(&cfg, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    char detail[256];
    size_t dlen = 0;
    CHECK_OK(transom_last_error(detail, sizeof detail, &dlen));
    CHECK(strstr(detail, "storage is NULL") != NULL);
    cfg.storage = junk; /* too small */
    cfg.storage_len = sizeof junk;
    CHECK_STATUS(transom_manager_new(&cfg, &m), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(m == NULL);
}

static void borrowed_slots_refuse_free_and_double_free_is_stale(void) {
    for (int k = 0; k < 3; k++) {
        void *storage;
        transom_manager *m = new_manager(ALL_KINDS[k], 2, 16, &storage);
        transom_header h;
        transom_header_init(&h);
        transom_token t;
        CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"v", 1, &t));
        transom_read_view v;
        CHECK_OK(transom_manager_read(m, t, &v));
        CHECK_STATUS(transom_manager_remove(m, t), TRANSOM_ERR_BORROWED);
        size_t n;
        uint8_t buf[4];
        CHECK_STATUS(transom_manager_take(m, t, buf, sizeof buf, &n), TRANSOM_ERR_BORROWED);
        CHECK_OK(transom_manager_release(m, t));
        transom_write_view w;
        CHECK_OK(transom_manager_write(m, t, &w));
        CHECK_STATUS(transom_manager_remove(m, t), TRANSOM_ERR_BORROWED);
        CHECK_STATUS(transom_manager_clear(m), TRANSOM_ERR_BORROWED);
        CHECK_OK(transom_manager_release(m, t));
        CHECK_OK(transom_manager_remove(m, t));
        CHECK_STATUS(transom_manager_remove(m, t), TRANSOM_ERR_STALE_TOKEN);
        CHECK(available(m) == 2);
        free_manager(m, storage);
    }
}

static void commit_and_abort_need_a_reserved_slot(void) {
    for (int k = 0; k < 3; k++) {
        void *storage;
        transom_manager *m = new_manager(ALL_KINDS[k], 2, 16, &storage);
        transom_header h;
        transom_header_init(&h);
        transom_token stored, reserved;
        uint8_t *p;
        CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"s", 1, &stored));
        CHECK_STATUS(transom_manager_commit(m, stored, &h), TRANSOM_ERR_WRONG_STATE);
        CHECK_STATUS(transom_manager_abort(m, stored), TRANSOM_ERR_WRONG_STATE);
        CHECK_OK(transom_manager_reserve(m, 1, &reserved, &p));
        CHECK_STATUS(transom_manager_remove(m, reserved), TRANSOM_ERR_WRONG_STATE);
        transom_header bad = h;
        bad.qos = 4;
        CHECK_STATUS(transom_manager_commit(m, reserved, &bad), TRANSOM_ERR_INVALID_ARGUMENT);
        bad = h;
        bad.flags = 0x80;
        CHECK_STATUS(transom_manager_commit(m, reserved, &bad), TRANSOM_ERR_INVALID_ARGUMENT);
        CHECK_OK(transom_manager_commit(m, reserved, &h)); /* still reserved after refusals */
        CHECK_STATUS(transom_manager_commit(m, reserved, &h), TRANSOM_ERR_WRONG_STATE);
        transom_token zero = {0};
        CHECK_STATUS(transom_manager_commit(m, zero, &h), TRANSOM_ERR_BAD_TOKEN);
        CHECK_OK(transom_manager_clear(m));
        CHECK(available(m) == 2);
        free_manager(m, storage);
    }
}

static void invalid_headers_are_refused_on_store(void) {
    void *storage;
    transom_manager *m = new_manager(TRANSOM_MANAGER_HEAP, 1, 16, &storage);
    transom_header h;
    transom_header_init(&h);
    transom_token t;
    h.qos = 200;
    CHECK_STATUS(transom_manager_store(m, &h, NULL, 0, &t), TRANSOM_ERR_INVALID_ARGUMENT);
    h.qos = 0; /* 0 means the default */
    h.flags = 1u << 31;
    CHECK_STATUS(transom_manager_store(m, &h, NULL, 0, &t), TRANSOM_ERR_INVALID_ARGUMENT);
    h.flags = 0;
    CHECK(available(m) == 1);
    CHECK_OK(transom_manager_store(m, &h, NULL, 0, &t));
    transom_header back;
    CHECK_OK(transom_manager_peek_header(m, t, &back));
    CHECK(back.qos == TRANSOM_QOS_BEST_EFFORT);
    free_manager(m, storage);
}

/* A write view may scribble anything into the header; its release checks the header like a
 * store does and reverts an invalid qos/flags/payload_len, so no reader ever sees it. */
static void write_view_header_is_checked_on_release(void) {
    for (int k = 0; k < 3; k++) {
        void *storage;
        transom_manager *m = new_manager(ALL_KINDS[k], 1, 16, &storage);
        transom_header h;
        transom_header_init(&h);
        h.qos = TRANSOM_QOS_BACKGROUND;
        h.flags = TRANSOM_FLAG_LAST_IN_BATCH;
        transom_token t;
        CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"abcd", 4, &t));
        transom_write_view w;
        transom_header back;

        /* qos 200 */
        CHECK_OK(transom_manager_write(m, t, &w));
        w.header->qos = 200;
        w.header->sequence = 77; /* a caller field: kept */
        w.payload[0] = 'X';      /* payload edits are kept */
        CHECK_STATUS(transom_manager_release(m, t), TRANSOM_ERR_INVALID_ARGUMENT);
        CHECK_OK(transom_manager_peek_header(m, t, &back)); /* the view ended */
        CHECK(back.qos == TRANSOM_QOS_BACKGROUND && back.flags == TRANSOM_FLAG_LAST_IN_BATCH);
        CHECK(back.sequence == 77 && back.payload_len == 4);

        /* flags 0xff together with a valid length change and reserved bytes */
        CHECK_OK(transom_manager_write(m, t, &w));
        w.header->flags = 0xff;
        w.header->payload_len = 2;
        w.header->reserved0 = 0x5a;
        w.header->reserved1 = 0xdeadbeef;
        CHECK_STATUS(transom_manager_release(m, t), TRANSOM_ERR_INVALID_ARGUMENT);
        transom_read_view v;
        CHECK_OK(transom_manager_read(m, t, &v));
        CHECK(v.header->flags == TRANSOM_FLAG_LAST_IN_BATCH && v.header->qos == TRANSOM_QOS_BACKGROUND);
        CHECK(v.header->payload_len == 4 && v.len == 4 && memcmp(v.payload, "Xbcd", 4) == 0);
        CHECK(v.header->reserved0 == 0 && v.header->reserved1 == 0);
        CHECK_OK(transom_manager_release(m, t));

        /* payload_len over the slot size: TOO_LARGE, reverted the same way */
        CHECK_OK(transom_manager_write(m, t, &w));
        w.header->payload_len = 17;
        w.header->qos = TRANSOM_QOS_LATENCY_CRITICAL;
        CHECK_STATUS(transom_manager_release(m, t), TRANSOM_ERR_TOO_LARGE);
        CHECK_OK(transom_manager_peek_header(m, t, &back));
        CHECK(back.payload_len == 4 && back.qos == TRANSOM_QOS_BACKGROUND);

        /* A valid edit applies: qos 0 is stored as best-effort, reserved bytes as zero, the
         * memory class re-stamped. */
        CHECK_OK(transom_manager_write(m, t, &w));
        w.header->qos = 0;
        w.header->flags = TRANSOM_FLAG_FIRST_IN_BATCH | TRANSOM_FLAG_DEGRADE_ALLOWED;
        w.header->payload_len = 3;
        w.header->reserved1 = 1;
        w.header->memory_class.kind = TRANSOM_MEMORY_SHARED;
        CHECK_OK(transom_manager_release(m, t));
        CHECK_OK(transom_manager_peek_header(m, t, &back));
        CHECK(back.qos == TRANSOM_QOS_BEST_EFFORT && back.payload_len == 3 && back.reserved1 == 0);
        CHECK(back.flags == (TRANSOM_FLAG_FIRST_IN_BATCH | TRANSOM_FLAG_DEGRADE_ALLOWED));
        CHECK(back.memory_class.kind == TRANSOM_MEMORY_HOST);
        free_manager(m, storage);
    }
}

int main(void) {
    RUN(null_arguments_are_refused_for_every_pointer);
    RUN(bad_tokens_get_exact_codes_in_every_kind);
    RUN(too_large_and_full_take_no_slot);
    RUN(capacity_zero_is_legal_and_every_store_is_refused);
    RUN(shape_and_config_are_validated);
    RUN(borrowed_slots_refuse_free_and_double_free_is_stale);
    RUN(commit_and_abort_need_a_reserved_slot);
    RUN(invalid_headers_are_refused_on_store);
    RUN(write_view_header_is_checked_on_release);
    return 0;
}
