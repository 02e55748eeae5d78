/* Lengths are checked against their limits before a byte behind the pointer is read, and a
 * refused call stores and keeps nothing. The inputs sit at the very end of a readable page
 * followed by a PROT_NONE guard page, one byte shorter than the length claimed: reading the
 * claimed length would fault, so a clean status proves nothing was read. Absurd lengths
 * (2^40, SIZE_MAX) get their status without an allocation attempt (no abort). */
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>

#include "store_support.h"

static event_space sp;

/* `len` readable bytes ending exactly where a PROT_NONE page starts. */
typedef struct {
    void *base;
    size_t total;
    uint8_t *bytes;
} guarded;

static guarded guard_bytes(size_t len) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (len + page - 1) / page * page;
    if (body == 0) body = page;
    guarded g;
    g.total = body + page;
    g.base = mmap(NULL, g.total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(g.base != MAP_FAILED);
    CHECK(mprotect((char *)g.base + body, page, PROT_NONE) == 0);
    g.bytes = (uint8_t *)g.base + body - len;
    memset(g.bytes, 'x', len);
    return g;
}

static void unguard(guarded g) { CHECK(munmap(g.base, g.total) == 0); }

static uint64_t head_of(const transom_store *s) {
    uint64_t h = 0;
    CHECK_OK(transom_store_head(s, &h));
    return h;
}

static size_t heap_in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

static void expect_detail(const char *want) {
    char detail[512];
    size_t n = 0;
    CHECK_OK(transom_last_error(detail, sizeof detail, &n));
    if (strstr(detail, want) == NULL) {
        fprintf(stderr, "detail '%s' does not mention '%s'\n", detail, want);
        exit(1);
    }
}

/* A payload one byte over max_payload, behind which is the guard page: TOO_LARGE, unread. */
static void an_oversized_payload_is_refused_before_it_is_read(void) {
    for (int dflt = 0; dflt < 2; dflt++) {
        transom_store_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.max_payload = dflt ? 0 : 100; /* 0 = the default, 1 MiB */
        size_t max = dflt ? (size_t)1 << 20 : 100;
        transom_store *s = NULL;
        CHECK_OK(transom_store_open(&cfg, &s));
        guarded g = guard_bytes(max); /* `max` bytes: the claimed max + 1 would cross */
        transom_append a = event_of("s", 1, g.bytes, max + 1);
        CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_TOO_LARGE);
        /* In a batch, after a valid event: nothing of the batch is stored. */
        transom_append batch[2] = {event_of("s", 1, "ok", 2), a};
        CHECK_STATUS(transom_store_append_batch(s, batch, 2, NULL), TRANSOM_ERR_TOO_LARGE);
        /* Exactly max is accepted (and read: it ends right at the guard page). */
        a.payload_len = max;
        CHECK_OK(transom_store_append(s, &a, NULL));
        CHECK(head_of(s) == 1);
        unguard(g);
        close_store(s);
    }
}

/* 2^40 and SIZE_MAX over a 1-byte buffer: TOO_LARGE at once, no allocation, no abort. */
static void absurd_payload_lengths_are_too_large_without_allocating(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    guarded g = guard_bytes(1);
    size_t lens[] = {(size_t)1 << 40, SIZE_MAX, SIZE_MAX / 2, (size_t)1 << 30};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        transom_append a = event_of("s", 1, g.bytes, lens[i]);
        CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_TOO_LARGE);
        transom_append batch[1] = {a};
        CHECK_STATUS(transom_store_append_batch(s, batch, 1, NULL), TRANSOM_ERR_TOO_LARGE);
    }
    /* On disk too: refused before the log sees it. */
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *d = open_store(dir, TRANSOM_SYNC_ALWAYS);
    transom_append a = event_of("s", 1, g.bytes, (size_t)1 << 40);
    CHECK_STATUS(transom_store_append(d, &a, NULL), TRANSOM_ERR_TOO_LARGE);
    a.payload_len = SIZE_MAX;
    CHECK_STATUS(transom_store_append(d, &a, NULL), TRANSOM_ERR_TOO_LARGE);
    CHECK(head_of(d) == 0 && head_of(s) == 0);
    close_store(d);
    remove_tree(dir);
    unguard(g);
    close_store(s);
}

/* An idempotency key of 1025 bytes (1024 readable): INVALID_ARGUMENT, unread; SIZE_MAX too
 * (not PANIC). */
static void oversized_idempotency_keys_are_refused_before_they_are_read(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    guarded g = guard_bytes(1024);
    transom_append a = event_of("s", 1, "p", 1);
    a.idempotency_key = g.bytes;
    a.idempotency_key_len = 1025;
    CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    a.idempotency_key_len = SIZE_MAX;
    CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    a.idempotency_key_len = (size_t)1 << 40;
    CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    transom_append batch[2] = {event_of("s", 1, "ok", 2), a};
    CHECK_STATUS(transom_store_append_batch(s, batch, 2, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(head_of(s) == 0);
    a.idempotency_key_len = 1024; /* the limit: accepted */
    CHECK_OK(transom_store_append(s, &a, NULL));
    CHECK(head_of(s) == 1);
    /* A stream name of 256 bytes (255 readable): refused unread too. */
    unguard(g);
    g = guard_bytes(255);
    transom_append b = event_of("s", 1, "p", 1);
    b.stream = (const char *)g.bytes;
    b.stream_len = 256;
    CHECK_STATUS(transom_store_append(s, &b, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    b.stream_len = SIZE_MAX;
    CHECK_STATUS(transom_store_append(s, &b, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    transom_event_buffer *buf = space(&sp);
    CHECK_STATUS(transom_store_read(s, (const char *)g.bytes, 256, 0, buf), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(head_of(s) == 1);
    unguard(g);
    close_store(s);
}

/* A checkpoint name of 241 bytes (240 readable): INVALID_ARGUMENT, unread, no cursor. */
static void an_oversized_checkpoint_name_is_refused_before_it_is_read(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    guarded g = guard_bytes(240);
    transom_cursor_options o;
    memset(&o, 0, sizeof o);
    o.start = TRANSOM_START_NAMED;
    o.name = (const char *)g.bytes;
    o.name_len = 241;
    transom_canal *c = NULL;
    CHECK_STATUS(transom_canal_open_cursor(s, &o, &c), TRANSOM_ERR_INVALID_ARGUMENT);
    o.name_len = SIZE_MAX;
    CHECK_STATUS(transom_canal_open_cursor(s, &o, &c), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(c == NULL);
    o.name_len = 240; /* the limit: accepted, and its files fit */
    CHECK_OK(transom_canal_open_cursor(s, &o, &c));
    transom_canal_free(c);
    unguard(g);
    close_store(s);
    remove_tree(dir);
}

/* A directory name with a NUL byte inside: INVALID_ARGUMENT naming the problem, not an I/O
 * error with a cut message; an oversized one is refused unread. */
static void a_nul_byte_in_the_directory_name_is_an_invalid_argument(void) {
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = "/tmp/transom\0oops";
    cfg.dir_len = 17;
    transom_store *s = NULL;
    CHECK_STATUS(transom_store_open(&cfg, &s), TRANSOM_ERR_INVALID_ARGUMENT);
    expect_detail("NUL");
    CHECK(s == NULL);
    guarded g = guard_bytes(4096);
    cfg.dir = (const char *)g.bytes;
    cfg.dir_len = 4097;
    CHECK_STATUS(transom_store_open(&cfg, &s), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);
    unguard(g);
}

/* Thousands of refused calls leave the heap where it was: nothing is kept or leaked. */
static void refused_calls_leave_nothing_behind(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    guarded g = guard_bytes(1024);
    transom_append big = event_of("s", 1, g.bytes, SIZE_MAX);
    transom_append key = event_of("s", 1, "p", 1);
    key.idempotency_key = g.bytes;
    key.idempotency_key_len = 1025;
    /* Warm up (thread-local error detail, lazily built tables), then measure. */
    for (int i = 0; i < 100; i++) {
        CHECK_STATUS(transom_store_append(s, &big, NULL), TRANSOM_ERR_TOO_LARGE);
        CHECK_STATUS(transom_store_append(s, &key, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    }
    size_t before = heap_in_use();
    for (int i = 0; i < 20000; i++) {
        CHECK_STATUS(transom_store_append(s, &big, NULL), TRANSOM_ERR_TOO_LARGE);
        CHECK_STATUS(transom_store_append(s, &key, NULL), TRANSOM_ERR_INVALID_ARGUMENT);
    }
    size_t after = heap_in_use();
    if (after > before + 64 * 1024)
        fprintf(stderr, "heap grew by %zu bytes over 40000 refused appends\n", after - before);
    CHECK(after <= before + 64 * 1024);
    CHECK(head_of(s) == 0);
    unguard(g);
    close_store(s);
    remove_tree(dir);
}

int main(void) {
    RUN(an_oversized_payload_is_refused_before_it_is_read);
    RUN(absurd_payload_lengths_are_too_large_without_allocating);
    RUN(oversized_idempotency_keys_are_refused_before_they_are_read);
    RUN(an_oversized_checkpoint_name_is_refused_before_it_is_read);
    RUN(a_nul_byte_in_the_directory_name_is_an_invalid_argument);
    RUN(refused_calls_leave_nothing_behind);
    return 0;
}
