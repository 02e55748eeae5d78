/* The on-disk log from C: statistics (a clean reopen scans no frame), memory that does not grow
 * with the log (the store's own count and the C heap, measured), derived index files rebuilt
 * when missing, truncated or damaged, a missing newest segment and a damaged segment refused
 * as CORRUPT with file and offset, retention by size and by transom_store_truncate (reads below
 * the first retained sequence are TRUNCATED, nothing is renumbered). */
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>

#include "store_support.h"

static event_space sp;

static transom_store *open_with(const char *dir, const transom_store_config *base) {
    transom_store_config cfg = *base;
    cfg.dir = dir;
    cfg.dir_len = dir ? strlen(dir) : 0;
    transom_store *s = NULL;
    CHECK_OK(transom_store_open(&cfg, &s));
    return s;
}

static transom_store_config config_of(transom_sync_policy sync, uint64_t segment_size) {
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.sync = sync;
    cfg.segment_size = segment_size;
    return cfg;
}

static transom_store_statistics stats_of(const transom_store *s) {
    transom_store_statistics st;
    memset(&st, 0xAB, sizeof st);
    CHECK_OK(transom_store_stats(s, &st));
    return st;
}

static size_t heap_in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

static int64_t last_value(void) {
    int64_t v = -1;
    CHECK_OK(transom_last_error_value(&v));
    return v;
}

/* Appends `n` events of `len` bytes in batches of `chunk`; events are spread over 7 streams. */
static void fill_store(const transom_store *s, long n, size_t len, long chunk) {
    transom_append *batch = calloc((size_t)chunk, sizeof *batch);
    uint8_t *payload = calloc(1, len);
    CHECK(batch && payload);
    static const char *streams[] = {"a", "b", "c", "d", "e", "f", "g"};
    for (long done = 0; done < n;) {
        long k = n - done < chunk ? n - done : chunk;
        for (long j = 0; j < k; j++) batch[j] = event_of(streams[(done + j) % 7], 1, payload, len);
        CHECK_OK(transom_store_append_batch(s, batch, (size_t)k, NULL));
        done += k;
    }
    free(batch);
    free(payload);
}

/* ---- statistics ---------------------------------------------------------------------------- */

static void stats_describe_the_log_and_a_clean_reopen_scans_no_frame(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store_config cfg = config_of(TRANSOM_SYNC_NEVER, 4096);
    transom_store *s = open_with(dir, &cfg);
    transom_store_statistics st = stats_of(s);
    CHECK(st.events == 0 && st.last_sequence == 0 && st.first_sequence == 1);
    fill_store(s, 1000, 32, 100);
    CHECK_OK(transom_store_sync(s));
    st = stats_of(s);
    CHECK(st.events == 1000 && st.last_sequence == 1000 && st.first_sequence == 1);
    CHECK(st.segments > 5); /* ~90 B per frame, 4 KiB segments */
    CHECK(st.bytes_on_disk >= 1000 * 32 && st.bytes_on_disk < 1000 * (32 + 64) + st.segments * 64);
    CHECK(st.index_covered_sequence <= st.last_sequence);
    CHECK(st.index_heap_bytes <= st.heap_bytes && st.heap_bytes > 0);
    CHECK(st.read_cache_bytes == 0);
    close_store(s);

    s = open_with(dir, &cfg);
    st = stats_of(s);
    printf("# clean reopen: %llu events, %llu segments, %llu bytes, frames scanned %llu, index "
           "covers %llu, replayed %llu, heap %llu (index %llu)\n",
           (unsigned long long)st.events, (unsigned long long)st.segments,
           (unsigned long long)st.bytes_on_disk, (unsigned long long)st.frames_scanned_at_open,
           (unsigned long long)st.index_covered_sequence,
           (unsigned long long)st.index_events_replayed_at_open, (unsigned long long)st.heap_bytes,
           (unsigned long long)st.index_heap_bytes);
    CHECK(st.frames_scanned_at_open == 0);
    CHECK(st.segment_indexes_rebuilt_at_open == 0 && !st.manifest_rebuilt_at_open);
    CHECK(st.torn_tail_bytes_cut_at_open == 0);
    CHECK(st.events == 1000 && st.last_sequence == 1000);
    /* What the index files do not cover is replayed, and nothing else. */
    CHECK(st.index_events_replayed_at_open == st.last_sequence - st.index_covered_sequence);
    uint64_t first = 0;
    CHECK_OK(transom_store_first_sequence(s, &first));
    CHECK(first == 1);
    /* NULL arguments and in memory. */
    CHECK_STATUS(transom_store_stats(NULL, &st), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_stats(s, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_first_sequence(NULL, &first), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_first_sequence(s, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_truncate(NULL, 1, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_read_sequence(NULL, 1, space(&sp)), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_store_read_sequence(s, 1, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_OK(transom_store_close(s));
    CHECK_STATUS(transom_store_stats(s, &st), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_store_truncate(s, 1, NULL), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_store_first_sequence(s, &first), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_store_read_sequence(s, 1, space(&sp)), TRANSOM_ERR_CLOSED);
    transom_store_free(s);

    transom_store *m = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    fill_store(m, 10, 8, 10);
    st = stats_of(m);
    CHECK(st.events == 10 && st.segments == 0 && st.bytes_on_disk == 0 && st.first_sequence == 1);
    uint64_t kept = 77;
    CHECK_STATUS(transom_store_truncate(m, 5, &kept), TRANSOM_ERR_UNSUPPORTED);
    CHECK(kept == 77);
    close_store(m);
    remove_tree(dir);
}

/* Reads by global sequence, paged. */
static void read_sequence_pages_through_the_log(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store_config cfg = config_of(TRANSOM_SYNC_ALWAYS, 4096);
    transom_store *s = open_with(dir, &cfg);
    fill_store(s, 300, 16, 50);
    uint64_t next = 0; /* 0 = from the first retained event */
    uint64_t seen = 0;
    for (;;) {
        transom_event_buffer *b = space(&sp);
        CHECK_OK(transom_store_read_sequence(s, next, b));
        for (size_t i = 0; i < b->count; i++) CHECK(b->events[i].sequence == ++seen);
        if (b->count < b->cap) break;
        next = b->events[b->count - 1].sequence + 1;
    }
    CHECK(seen == 300);
    transom_event_buffer *b = space(&sp);
    CHECK_OK(transom_store_read_sequence(s, 301, b));
    CHECK(b->count == 0);
    close_store(s);
    remove_tree(dir);
}

/* ---- memory -------------------------------------------------------------------------------- */

typedef struct {
    size_t malloc_delta;  /* C heap growth from before the open to after reading the last event */
    uint64_t store_heap;  /* the store's own count */
    uint64_t index_heap;  /* the secondary index's share */
    int index_in_memory;  /* the secondary index keeps nothing on disk (covers no sequence) */
} reopen_cost;

static reopen_cost reopen_and_read_last(const char *dir, long n) {
    transom_store_config cfg = config_of(TRANSOM_SYNC_NEVER, 0);
    reopen_cost c;
    malloc_trim(0);
    size_t before = heap_in_use();
    transom_store *s = open_with(dir, &cfg);
    transom_event_buffer *b = space(&sp);
    b->cap = 1;
    CHECK_OK(transom_store_read_sequence(s, (uint64_t)n, b));
    CHECK(b->count == 1 && b->events[0].sequence == (uint64_t)n);
    size_t after = heap_in_use();
    transom_store_statistics st = stats_of(s);
    CHECK(st.frames_scanned_at_open == 0);
    c.malloc_delta = after > before ? after - before : 0;
    c.store_heap = st.heap_bytes;
    c.index_heap = st.index_heap_bytes;
    c.index_in_memory = st.index_covered_sequence == 0 && st.last_sequence > 0;
    close_store(s);
    return c;
}

static void heap_does_not_grow_with_the_log(void) {
    const long n = scaled(100000);
    char d1[256], d2[256];
    temp_dir(d1, sizeof d1);
    temp_dir(d2, sizeof d2);
    transom_store_config cfg = config_of(TRANSOM_SYNC_NEVER, 0);
    /* While appending: the store's heap at n/2 and at 2n. */
    transom_store *s = open_with(d2, &cfg);
    fill_store(s, n / 2, 128, 1000);
    transom_store_statistics half = stats_of(s);
    fill_store(s, 2 * n - n / 2, 128, 1000);
    transom_store_statistics full = stats_of(s);
    close_store(s);
    s = open_with(d1, &cfg);
    fill_store(s, n, 128, 1000);
    close_store(s);

    reopen_cost one = reopen_and_read_last(d1, n);
    reopen_cost two = reopen_and_read_last(d2, 2 * n);
    printf("# reopen + read last: %ld events: C heap +%zu B, store heap %llu B (index %llu B); "
           "%ld events: C heap +%zu B, store heap %llu B (index %llu B)\n",
           n, one.malloc_delta, (unsigned long long)one.store_heap,
           (unsigned long long)one.index_heap, 2 * n, two.malloc_delta,
           (unsigned long long)two.store_heap, (unsigned long long)two.index_heap);
    /* An index that covers nothing on disk lives in memory (the stand-in before the LSM
     * index): its share is reported apart and left out, everything else must not grow. */
    uint64_t ex1 = one.index_in_memory ? one.index_heap : 0;
    uint64_t ex2 = two.index_in_memory ? two.index_heap : 0;
    int64_t exh = full.index_covered_sequence == 0
                      ? (int64_t)full.index_heap_bytes - (int64_t)half.index_heap_bytes
                      : 0;
    if (one.index_in_memory) printf("# the secondary index is in memory (it covers no sequence on disk): its heap is "
               "left out\n");
    const int64_t bound = 2 << 20;
    /* While appending, the index's memtable holds up to index_flush_events (65,536) events
     * before it is written out: bounded by that, not by the log's length. */
    const int64_t appending_bound = 16 << 20;
    CHECK((int64_t)full.heap_bytes - (int64_t)half.heap_bytes - exh < appending_bound);
    CHECK(full.heap_bytes < (uint64_t)appending_bound);
    CHECK((int64_t)(two.store_heap - ex2) - (int64_t)(one.store_heap - ex1) < bound);
    int64_t c_growth = (int64_t)two.malloc_delta - (int64_t)one.malloc_delta;
    if (one.index_in_memory) {
        /* The stand-in's own count leaves out its allocator overhead: allow for it. */
        int64_t index_growth = (int64_t)(ex2 - ex1);
        CHECK(c_growth < index_growth + index_growth / 2 + bound);
    } else {
        CHECK(c_growth < bound);
    }
    CHECK(two.store_heap - ex2 < (uint64_t)16 << 20);
    remove_tree(d1);
    remove_tree(d2);
}

/* ---- derived files ------------------------------------------------------------------------- */

typedef enum { DELETE, TRUNCATE, FLIP } damage;

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int damage_file(const char *path, damage how) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if (how == DELETE) {
        CHECK(unlink(path) == 0);
    } else if (how == TRUNCATE) {
        CHECK(truncate(path, st.st_size / 2) == 0);
    } else if (st.st_size > 0) {
        int fd = open(path, O_RDWR);
        CHECK(fd >= 0);
        off_t at = st.st_size / 2;
        unsigned char byte;
        CHECK(pread(fd, &byte, 1, at) == 1);
        byte ^= 0x20;
        CHECK(pwrite(fd, &byte, 1, at) == 1);
        close(fd);
    }
    return 1;
}

/* Damages every `*.idx` of `dir` and every file under `dir/index`; returns the counts. */
static void damage_derived(const char *dir, damage how, int *idx, int *index_files) {
    char path[1024]; /* dir (< 256) + index/ + a file name (< 256) */
    *idx = *index_files = 0;
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!ends_with(e->d_name, ".idx")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        *idx += damage_file(path, how);
    }
    closedir(d);
    char sub[512];
    snprintf(sub, sizeof sub, "%s/index", dir);
    d = opendir(sub);
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", sub, e->d_name);
        *index_files += damage_file(path, how);
    }
    closedir(d);
}

#define N_DERIVED 600

static transom_receipt derived_receipts[N_DERIVED];

/* Events over three streams; every 5th has an idempotency key; every 10th starts a
 * correlation group the next four join. */
static void fill_queryable(const transom_store *s) {
    transom_event_id group = {0, 0};
    for (int i = 0; i < N_DERIVED; i++) {
        char stream[8], key[16], payload[16];
        snprintf(stream, sizeof stream, "st%d", i % 3);
        snprintf(payload, sizeof payload, "p%d", i);
        transom_append a = event_of(stream, 1, payload, strlen(payload));
        if (i % 5 == 0) {
            snprintf(key, sizeof key, "key-%d", i);
            a.idempotency_key = (const uint8_t *)key;
            a.idempotency_key_len = strlen(key);
        }
        if (i % 10 > 0 && i % 10 < 5) a.correlation_id = group;
        CHECK_OK(transom_store_append(s, &a, &derived_receipts[i]));
        if (i % 10 == 0) group = derived_receipts[i].id;
    }
}

static void check_queries(const transom_store *s) {
    /* By stream: every version, in order, with its payload. */
    for (int k = 0; k < 3; k++) {
        char stream[8];
        snprintf(stream, sizeof stream, "st%d", k);
        uint64_t version = 0;
        for (uint64_t from = 1;;) {
            transom_event_buffer *b = space(&sp);
            CHECK_OK(transom_store_read(s, stream, strlen(stream), from, b));
            for (size_t j = 0; j < b->count; j++) {
                const transom_event *e = &b->events[j];
                int i = (int)(e->sequence - 1);
                CHECK(e->stream_version == ++version && i % 3 == k);
                CHECK(id_eq(e->id, derived_receipts[i].id));
            }
            if (b->count < b->cap) break;
            from = version + 1;
        }
        CHECK(version == N_DERIVED / 3);
    }
    /* By key: a retry returns the original receipt. */
    for (int i = 0; i < N_DERIVED; i += 5) {
        char stream[8], key[16], payload[16];
        snprintf(stream, sizeof stream, "st%d", i % 3);
        snprintf(payload, sizeof payload, "p%d", i);
        snprintf(key, sizeof key, "key-%d", i);
        transom_append a = event_of(stream, 1, payload, strlen(payload));
        a.idempotency_key = (const uint8_t *)key;
        a.idempotency_key_len = strlen(key);
        if (i % 10 > 0 && i % 10 < 5) a.correlation_id = derived_receipts[i - i % 10].id;
        transom_receipt r;
        CHECK_OK(transom_store_append(s, &a, &r));
        CHECK(r.sequence == derived_receipts[i].sequence && id_eq(r.id, derived_receipts[i].id));
    }
    /* By correlation: each group of five, and by id. */
    for (int g = 0; g < N_DERIVED; g += 10) {
        transom_event_buffer *b = space(&sp);
        CHECK_OK(transom_store_correlated(s, derived_receipts[g + 2].id, b));
        CHECK(b->count == 5);
        for (size_t j = 0; j < 5; j++) CHECK(id_eq(b->events[j].id, derived_receipts[g + (int)j].id));
        b = space(&sp);
        CHECK_OK(transom_store_get(s, derived_receipts[g + 7].id, b));
        CHECK(b->events[0].sequence == derived_receipts[g + 7].sequence);
    }
    uint64_t head = 0;
    CHECK_OK(transom_store_head(s, &head));
    CHECK(head == N_DERIVED); /* the retries appended nothing */
}

static void missing_truncated_or_damaged_index_files_are_rebuilt(void) {
    static const char *names[] = {"deleted", "truncated", "bit-flipped"};
    for (int how = DELETE; how <= FLIP; how++) {
        char dir[256];
        temp_dir(dir, sizeof dir);
        transom_store_config cfg = config_of(TRANSOM_SYNC_ALWAYS, 4096);
        cfg.index_flush_events = 64;
        transom_store *s = open_with(dir, &cfg);
        fill_queryable(s);
        close_store(s);
        int idx = 0, index_files = 0;
        damage_derived(dir, (damage)how, &idx, &index_files);
        CHECK(idx > 1);
        s = open_with(dir, &cfg);
        transom_store_statistics st = stats_of(s);
        printf("# %s: %d .idx and %d index/ files; %llu segment indexes rebuilt, index rebuilt %d, "
               "%llu replayed, %llu frames scanned\n",
               names[how], idx, index_files, (unsigned long long)st.segment_indexes_rebuilt_at_open,
               st.index_rebuilt_at_open, (unsigned long long)st.index_events_replayed_at_open,
               (unsigned long long)st.frames_scanned_at_open);
        CHECK(st.segment_indexes_rebuilt_at_open > 0);
        if (index_files > 0) CHECK(st.index_rebuilt_at_open || st.index_events_replayed_at_open > 0);
        CHECK(st.events == N_DERIVED);
        check_queries(s);
        close_store(s);
        /* Rebuilt for good: the next open scans nothing. */
        s = open_with(dir, &cfg);
        st = stats_of(s);
        CHECK(st.frames_scanned_at_open == 0 && st.segment_indexes_rebuilt_at_open == 0);
        check_queries(s);
        close_store(s);
        remove_tree(dir);
    }
}

/* ---- damage to data ------------------------------------------------------------------------ */

/* The segments of `dir`, sorted by name (= by first sequence). */
static int list_segments(const char *dir, char names[][64], int cap) {
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        if (ends_with(e->d_name, ".seg") && strlen(e->d_name) < 64 && n < cap)
            memcpy(names[n++], e->d_name, strlen(e->d_name) + 1);
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[64];
            memcpy(t, names[j], 64);
            memcpy(names[j], names[j - 1], 64);
            memcpy(names[j - 1], t, 64);
        }
    return n;
}

static void a_missing_newest_segment_is_corrupt(void) {
    char dir[256], path[512], segs[64][64];
    temp_dir(dir, sizeof dir);
    transom_store_config cfg = config_of(TRANSOM_SYNC_ALWAYS, 4096);
    transom_store *s = open_with(dir, &cfg);
    fill_store(s, 400, 8, 20);
    close_store(s);
    int n = list_segments(dir, segs, 64);
    CHECK(n > 2);
    snprintf(path, sizeof path, "%s/%s", dir, segs[n - 1]);
    CHECK(unlink(path) == 0);
    cfg.dir = dir;
    cfg.dir_len = strlen(dir);
    transom_store *x = NULL;
    CHECK_STATUS(transom_store_open(&cfg, &x), TRANSOM_ERR_CORRUPT);
    CHECK(x == NULL);
    char detail[512];
    size_t len = 0;
    CHECK_OK(transom_last_error(detail, sizeof detail, &len));
    CHECK(strstr(detail, segs[n - 1]) != NULL);
    /* And again: the acknowledged events are not given up, nor their sequences reused. */
    CHECK_STATUS(transom_store_open(&cfg, &x), TRANSOM_ERR_CORRUPT);
    remove_tree(dir);
}

static void a_damaged_sealed_segment_is_corrupt_with_its_offset(void) {
    char dir[256], path[512], segs[64][64];
    temp_dir(dir, sizeof dir);
    transom_store_config cfg = config_of(TRANSOM_SYNC_ALWAYS, 4096);
    transom_store *s = open_with(dir, &cfg);
    for (int i = 0; i < 300; i++) {
        transom_append a = event_of("s", 1, "payload!", 8);
        CHECK_OK(transom_store_append(s, &a, NULL));
    }
    close_store(s);
    CHECK(list_segments(dir, segs, 64) > 2);
    snprintf(path, sizeof path, "%s/%s", dir, segs[0]); /* sealed, memory-mapped when open */
    /* Format v2: 16-byte segment header; frames of 43 fixed bytes + stream number + version
     * byte + payload; the first frame also defines the stream (+ 1 length byte + "s"). */
    const long frame = 43 + 1 + 1 + 8;
    const long target = 16 + 2 + 6 * frame;
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    unsigned char byte;
    CHECK(pread(fd, &byte, 1, target + 48) == 1);
    byte ^= 0x01;
    CHECK(pwrite(fd, &byte, 1, target + 48) == 1);
    close(fd);
    cfg.dir = dir;
    cfg.dir_len = strlen(dir);
    transom_store *x = NULL;
    /* With its index intact, a sealed segment is not re-read at open (that is what keeps open
     * fast): the open succeeds, and reading the damaged frame is CORRUPT with the same offset,
     * never a skip. */
    CHECK_OK(transom_store_open(&cfg, &x));
    transom_event_buffer *b = space(&sp);
    CHECK_STATUS(transom_store_read_sequence(x, 1, b), TRANSOM_ERR_CORRUPT);
    CHECK(last_value() == target);
    CHECK_STATUS(transom_store_read(x, "s", 1, 7, space(&sp)), TRANSOM_ERR_CORRUPT);
    CHECK(last_value() == target);
    close_store(x);
    x = NULL;
    /* Without the derived files the open scans the segment and refuses it. */
    int idx = 0, index_files = 0;
    damage_derived(dir, DELETE, &idx, &index_files);
    CHECK_STATUS(transom_store_open(&cfg, &x), TRANSOM_ERR_CORRUPT);
    CHECK(x == NULL);
    CHECK(last_value() == target);
    char detail[512];
    size_t len = 0;
    CHECK_OK(transom_last_error(detail, sizeof detail, &len));
    CHECK(strstr(detail, segs[0]) != NULL);
    remove_tree(dir);
}

/* ---- retention ----------------------------------------------------------------------------- */

static void truncate_removes_whole_segments_and_reads_below_are_truncated(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store_config cfg = config_of(TRANSOM_SYNC_ALWAYS, 4096);
    transom_store *s = open_with(dir, &cfg);
    transom_receipt first_r, keyed_r;
    transom_append a = event_of("r", 1, "payload!", 8);
    CHECK_OK(transom_store_append(s, &a, &first_r));
    a.idempotency_key = (const uint8_t *)"k1";
    a.idempotency_key_len = 2;
    CHECK_OK(transom_store_append(s, &a, &keyed_r));
    for (int i = 2; i < 500; i++) {
        transom_append b = event_of("r", 1, "payload!", 8);
        CHECK_OK(transom_store_append(s, &b, NULL));
    }
    transom_store_statistics before = stats_of(s);
    uint64_t kept = 0;
    CHECK_OK(transom_store_truncate(s, 200, &kept));
    CHECK(kept > 1 && kept <= 200);
    uint64_t first = 0;
    CHECK_OK(transom_store_first_sequence(s, &first));
    CHECK(first == kept);
    transom_store_statistics after = stats_of(s);
    CHECK(after.first_sequence == kept && after.events == 500 - (kept - 1));
    CHECK(after.segments < before.segments && after.bytes_on_disk < before.bytes_on_disk);
    CHECK(after.last_sequence == 500);

    /* Below the first retained sequence: TRUNCATED with the first retained in the value. */
    transom_event_buffer *b = space(&sp);
    CHECK_STATUS(transom_store_read_sequence(s, 1, b), TRANSOM_ERR_TRUNCATED);
    CHECK(last_value() == (int64_t)kept);
    CHECK_STATUS(transom_store_read_sequence(s, kept - 1, space(&sp)), TRANSOM_ERR_TRUNCATED);
    CHECK_STATUS(transom_store_get(s, first_r.id, space(&sp)), TRANSOM_ERR_TRUNCATED);
    CHECK_STATUS(transom_store_read(s, "r", 1, 1, space(&sp)), TRANSOM_ERR_TRUNCATED);
    CHECK_STATUS(transom_store_read(s, "r", 1, 0, space(&sp)), TRANSOM_ERR_TRUNCATED);
    CHECK_STATUS(transom_store_ancestors(s, first_r.id, space(&sp)), TRANSOM_ERR_TRUNCATED);
    CHECK_STATUS(transom_store_correlated(s, first_r.id, space(&sp)), TRANSOM_ERR_TRUNCATED);
    /* The removed event's idempotency key: refused, neither appended again nor answered. */
    CHECK_STATUS(transom_store_append(s, &a, NULL), TRANSOM_ERR_TRUNCATED);
    /* At and above it: readable; 0 starts at the first retained event. */
    b = space(&sp);
    CHECK_OK(transom_store_read_sequence(s, 0, b));
    CHECK(b->count > 0 && b->events[0].sequence == kept);
    b = space(&sp);
    CHECK_OK(transom_store_read(s, "r", 1, kept, b)); /* one stream: version == sequence */
    CHECK(b->count > 0 && b->events[0].stream_version == kept);
    /* Nothing renumbered: the next event is 501, version 501. */
    transom_receipt r;
    transom_append c = event_of("r", 1, "after", 5);
    CHECK_OK(transom_store_append(s, &c, &r));
    CHECK(r.sequence == 501 && r.stream_version == 501);
    /* Truncating below the first retained sequence again changes nothing; the active segment
     * is never removed. */
    CHECK_OK(transom_store_truncate(s, 2, &kept));
    CHECK(kept == first);
    CHECK_OK(transom_store_truncate(s, UINT64_MAX, &kept));
    CHECK(kept <= 501);
    CHECK_OK(transom_store_truncate(s, UINT64_MAX, NULL));
    b = space(&sp);
    CHECK_OK(transom_store_read_sequence(s, 501, b));
    CHECK(b->count == 1);
    close_store(s);

    s = open_with(dir, &cfg); /* the first retained sequence survives a reopen */
    CHECK_OK(transom_store_first_sequence(s, &first));
    CHECK(first == kept);
    CHECK_STATUS(transom_store_read_sequence(s, 1, space(&sp)), TRANSOM_ERR_TRUNCATED);
    close_store(s);
    remove_tree(dir);
}

static void retention_by_bytes_keeps_the_log_bounded(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store_config cfg = config_of(TRANSOM_SYNC_NEVER, 4096);
    cfg.retention_bytes = 4 * 4096;
    transom_store *s = open_with(dir, &cfg);
    fill_store(s, 5000, 16, 10);
    transom_store_statistics st = stats_of(s);
    printf("# retention_bytes %llu: %llu segments, %llu bytes, first %llu of %llu\n",
           (unsigned long long)cfg.retention_bytes, (unsigned long long)st.segments,
           (unsigned long long)st.bytes_on_disk, (unsigned long long)st.first_sequence,
           (unsigned long long)st.last_sequence);
    CHECK(st.first_sequence > 1 && st.last_sequence == 5000);
    CHECK(st.bytes_on_disk <= cfg.retention_bytes + 2 * 4096);
    CHECK(st.events == st.last_sequence - st.first_sequence + 1);
    CHECK_STATUS(transom_store_read_sequence(s, 1, space(&sp)), TRANSOM_ERR_TRUNCATED);
    close_store(s);
    remove_tree(dir);
}

int main(void) {
    RUN(stats_describe_the_log_and_a_clean_reopen_scans_no_frame);
    RUN(read_sequence_pages_through_the_log);
    RUN(heap_does_not_grow_with_the_log);
    RUN(missing_truncated_or_damaged_index_files_are_rebuilt);
    RUN(a_missing_newest_segment_is_corrupt);
    RUN(a_damaged_sealed_segment_is_corrupt_with_its_offset);
    RUN(truncate_removes_whole_segments_and_reads_below_are_truncated);
    RUN(retention_by_bytes_keeps_the_log_bounded);
    return 0;
}
