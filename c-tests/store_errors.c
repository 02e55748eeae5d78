/* Every bad input of the store API gets its exact status code and stores nothing; a second
 * open of a locked directory is refused; a corrupted byte in the middle of a segment is
 * reported as CORRUPT with its offset, never skipped. */
#include <dirent.h>
#include <fcntl.h>

#include "store_support.h"

static event_space sp;

static uint64_t head_of(const transom_store *s) {
    uint64_t h = 0;
    CHECK_OK(transom_store_head(s, &h));
    return h;
}

static int32_t accept_all(void *ctx, const transom_gate_event *e, char *reason, size_t cap) {
    (void)ctx;
    (void)e;
    (void)reason;
    (void)cap;
    return 0;
}

static void null_arguments_are_refused_for_every_pointer(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    transom_store *out = NULL;
    transom_append a = event_of("s", 1, "p", 1);
    transom_receipt r;
    transom_event_id id = {0, 1};
    transom_event_buffer *b = space(&sp);
    uint64_t u;
    CHECK_STATUS(transom_store_open(NULL, &out), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_open(&cfg, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(out == NULL);
    CHECK_STATUS(transom_store_close(NULL), TRANSOM_ERR_NULL_ARGUMENT);
    transom_store_free(NULL); /* accepted */
    CHECK_STATUS(transom_store_append(NULL, &a, &r), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_append(s, NULL, &r), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_append_batch(NULL, &a, 1, &r), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_append_batch(s, NULL, 1, &r), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_get(NULL, id, b), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_get(s, id, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_read(NULL, "s", 1, 0, b), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_read(s, NULL, 1, 0, b), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_read(s, "s", 1, 0, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_ancestors(NULL, id, b), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_ancestors(s, id, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_correlated(NULL, id, b), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_correlated(s, id, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_sync(NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_head(NULL, &u), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_head(s, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_remove_gate(NULL, 1), TRANSOM_ERR_NULL_ARGUMENT);
    transom_gate_callback no_call = {NULL, NULL, NULL};
    CHECK_STATUS(transom_store_add_gate(s, no_call, &u), TRANSOM_ERR_NULL_ARGUMENT);
    transom_gate_callback some_gate = {NULL, accept_all, NULL};
    CHECK_STATUS(transom_store_add_gate(NULL, some_gate, &u), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_add_gate(s, some_gate, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    /* NULL inside the structures. */
    transom_append bad = a;
    bad.stream = NULL;
    CHECK_STATUS(transom_store_append(s, &bad, &r), TRANSOM_ERR_NULL_ARGUMENT);
    bad = a;
    bad.payload = NULL;
    CHECK_STATUS(transom_store_append(s, &bad, &r), TRANSOM_ERR_NULL_ARGUMENT);
    bad = a;
    bad.idempotency_key_len = 3;
    CHECK_STATUS(transom_store_append(s, &bad, &r), TRANSOM_ERR_NULL_ARGUMENT);
    transom_event_buffer nb = *space(&sp);
    nb.events = NULL;
    CHECK_OK(transom_store_append(s, &a, &r));
    CHECK_STATUS(transom_store_get(s, r.id, &nb), TRANSOM_ERR_NULL_ARGUMENT);
    nb = *space(&sp);
    nb.arena = NULL;
    CHECK_STATUS(transom_store_get(s, r.id, &nb), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_last_error_value(NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(head_of(s) == 1);
    close_store(s);
}

static void stream_names_payloads_and_ids_are_validated(void) {
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_payload = 16;
    transom_store *s = NULL;
    CHECK_OK(transom_store_open(&cfg, &s));
    transom_append a = event_of("s", 1, "p", 1);
    a.stream_len = 0; /* empty */
    CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    char longname[300];
    memset(longname, 'n', sizeof longname);
    a = event_of("s", 1, "p", 1);
    a.stream = longname;
    a.stream_len = 256; /* oversized */
    CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    a.stream_len = 255; /* the maximum is fine */
    CHECK_OK(transom_store_append(s, &a, NULL));
    a = event_of("s", 1, "p", 1);
    a.stream = "bad\xff\xfe";
    a.stream_len = 5; /* invalid UTF-8 */
    CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    a.stream = "nul\0inside";
    a.stream_len = 10;
    CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    char payload[17] = {0};
    a = event_of("s", 1, payload, 17); /* over max_payload */
    CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_TOO_LARGE);
    a.payload_len = 16;
    CHECK_OK(transom_store_append(s, &a, NULL));
    transom_event_buffer *b = space(&sp);
    CHECK_STATUS(transom_store_read(s, "bad\xff", 4, 0, b), TRANSOM_ERR_INVALID_ARGUMENT);
    transom_event_id none = {0, 0};
    CHECK_STATUS(transom_store_get(s, none, b), TRANSOM_ERR_INVALID_ARGUMENT);
    transom_append batch[1] = {event_of("s", 1, "p", 1)};
    CHECK_STATUS(transom_store_append_batch(s, batch, 0, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    a = event_of("s", 1, "p", 1);
    a.idempotency_key = (const uint8_t *)"k";
    a.idempotency_key_len = 0; /* a key pointer with no length */
    CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(head_of(s) == 2);
    close_store(s);

    /* Bad configurations. */
    transom_store *x = NULL;
    memset(&cfg, 0, sizeof cfg);
    cfg.sync = 9;
    CHECK_STATUS(transom_store_open(&cfg, &x), TRANSOM_ERR_INVALID_ARGUMENT);
    cfg.sync = TRANSOM_SYNC_EVERY_N;
    cfg.sync_every_n = 0;
    CHECK_STATUS(transom_store_open(&cfg, &x), TRANSOM_ERR_INVALID_ARGUMENT);
    memset(&cfg, 0, sizeof cfg);
    cfg.segment_size = 100;
    CHECK_STATUS(transom_store_open(&cfg, &x), TRANSOM_ERR_INVALID_ARGUMENT);
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = "\xff\xff";
    cfg.dir_len = 2;
    CHECK_STATUS(transom_store_open(&cfg, &x), TRANSOM_ERR_INVALID_ARGUMENT);
    cfg.dir = NULL;
    CHECK_STATUS(transom_store_open(&cfg, &x), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(x == NULL);
}

static void a_locked_directory_is_refused(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dir;
    cfg.dir_len = strlen(dir);
    transom_store *second = NULL;
    CHECK_STATUS(transom_store_open(&cfg, &second), TRANSOM_ERR_LOCKED);
    CHECK(second == NULL);
    close_store(s);
    CHECK_OK(transom_store_open(&cfg, &second)); /* free again after close */
    close_store(second);
    remove_tree(dir);
}

static void find_segment(const char *dir, char *path, size_t cap) {
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".seg") == 0) {
            snprintf(path, cap, "%s/%s", dir, e->d_name);
            found++;
        }
    }
    closedir(d);
    CHECK(found == 1);
}

static void a_corrupted_byte_mid_segment_is_corrupt_with_its_offset(void) {
    char dir[256], seg[512];
    temp_dir(dir, sizeof dir);
    transom_store *s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    for (int i = 0; i < 10; i++) {
        transom_append a = event_of("s", 1, "payload!", 8);
        CHECK_OK(transom_store_append(s, &a, NULL));
    }
    close_store(s);
    find_segment(dir, seg, sizeof seg);
    /* Layout (format v2): a 16-byte segment header, then frames of 43 fixed bytes + a 1-byte
     * stream number + a 1-byte version + the payload; the segment's first frame also defines
     * the stream name (+ 1 length byte + "s"). */
    const long frame = 43 + 1 + 1 + 8;
    const long target = 16 + 2 + 4 * frame; /* frame #4 (0-based) of 10: mid-segment */
    int fd = open(seg, O_RDWR);
    CHECK(fd >= 0);
    unsigned char byte;
    CHECK(pread(fd, &byte, 1, target + 48) == 1); /* inside frame #4's payload */
    byte ^= 0x40;
    CHECK(pwrite(fd, &byte, 1, target + 48) == 1);
    close(fd);

    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dir;
    cfg.dir_len = strlen(dir);
    transom_store *x = NULL;
    CHECK_STATUS(transom_store_open(&cfg, &x), TRANSOM_ERR_CORRUPT);
    CHECK(x == NULL);
    int64_t offset = -1;
    CHECK_OK(transom_last_error_value(&offset));
    CHECK(offset == target);
    char detail[512];
    size_t n;
    CHECK_OK(transom_last_error(detail, sizeof detail, &n));
    CHECK(strstr(detail, ".seg") != NULL);
    /* Refused again on every open: nothing was "repaired" behind our back. */
    CHECK_STATUS(transom_store_open(&cfg, &x), TRANSOM_ERR_CORRUPT);
    remove_tree(dir);
}

int main(void) {
    RUN(null_arguments_are_refused_for_every_pointer);
    RUN(stream_names_payloads_and_ids_are_validated);
    RUN(a_locked_directory_is_refused);
    RUN(a_corrupted_byte_mid_segment_is_corrupt_with_its_offset);
    return 0;
}
