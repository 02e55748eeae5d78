/* What counts as a torn tail, and what a damaged last record means (issue 8 §5, the header's
 * transom_store documentation). Bytes after the extent the MANIFEST records as fsynced that
 * look like an interrupted write (zeros, a frame cut short, a last frame whose CRC fails with
 * nothing after it) are cut on open: every event is kept, the next append takes the next
 * sequence. The same damage inside the recorded extent is CORRUPT with the file and the
 * offset, and nothing is cut, so it is reported again and again: a damaged last record at
 * every open (open reads it), an earlier one at the read that reaches it, or at open when open
 * has to scan the segment (its derived files gone). A segment shorter than its recorded extent
 * lost acknowledged events: CORRUPT too. */
#include <fcntl.h>
#include <sys/stat.h>

#include "store_support.h"

/* Enough for a segment of several sparse-index intervals (4 KiB): ~70 bytes per frame. */
#define EVENTS 200
#define PAYLOAD 24

static event_space sp;

/* The store's single segment and the end offset of each of its frames. */
typedef struct {
    char dir[256];
    char seg[512];
    off_t end[EVENTS + 1]; /* end[i]: file length after event i (end[0]: the segment header) */
} log_t;

static off_t size_of(const char *path) {
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    return sb.st_size;
}

static transom_store *open_log(const log_t *l) { return open_store(l->dir, TRANSOM_SYNC_ALWAYS); }

static void append_one(const transom_store *s, uint64_t want_seq) {
    uint8_t payload[PAYLOAD];
    memset(payload, (int)(uint8_t)want_seq, sizeof payload);
    transom_append a = event_of("tail", 1, payload, sizeof payload);
    transom_receipt r;
    CHECK_OK(transom_store_append(s, &a, &r));
    CHECK(r.sequence == want_seq);
}

/* EVENTS events with SYNC_ALWAYS (each append is written and fsynced before it returns, so the
 * file length after each one is where its frame ends), closed cleanly. */
static void make_log(log_t *l) {
    temp_dir(l->dir, sizeof l->dir);
    snprintf(l->seg, sizeof l->seg, "%s/00000000000000000001.seg", l->dir);
    transom_store *s = open_log(l);
    l->end[0] = size_of(l->seg);
    for (uint64_t i = 1; i <= EVENTS; i++) {
        append_one(s, i);
        l->end[i] = size_of(l->seg);
        CHECK(l->end[i] > l->end[i - 1]);
    }
    close_store(s);
    CHECK(size_of(l->seg) == l->end[EVENTS]);
}

static void read_bytes(const char *path, off_t at, void *buf, size_t len) {
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    CHECK(pread(fd, buf, len, at) == (ssize_t)len);
    close(fd);
}

static void write_bytes(const char *path, off_t at, const void *buf, size_t len) {
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, buf, len, at) == (ssize_t)len);
    close(fd);
}

static void append_bytes(const char *path, const void *buf, size_t len) {
    write_bytes(path, size_of(path), buf, len);
}

/* Opens the log, which must come back whole: `cut` torn bytes removed, every event readable
 * with its payload, the next append numbered EVENTS + 1 + `extra`. */
static void expect_cut_and_whole(log_t *l, uint64_t cut, uint64_t extra) {
    off_t before = size_of(l->seg);
    transom_store *s = open_log(l);
    transom_store_statistics st;
    CHECK_OK(transom_store_stats(s, &st));
    CHECK(st.torn_tail_bytes_cut_at_open == cut);
    CHECK(size_of(l->seg) == before - (off_t)cut);
    uint64_t head = 0;
    CHECK_OK(transom_store_head(s, &head));
    CHECK(head == EVENTS + extra);
    uint64_t next = 1;
    for (;;) {
        transom_event_buffer *b = space(&sp);
        CHECK_OK(transom_store_read_sequence(s, next, b));
        for (size_t i = 0; i < b->count; i++, next++) {
            CHECK(b->events[i].sequence == next && b->events[i].payload_len == PAYLOAD);
            CHECK(b->events[i].payload[0] == (uint8_t)next);
        }
        if (b->count < b->cap) break;
    }
    CHECK(next == head + 1);
    append_one(s, head + 1);
    close_store(s);
}

static void bytes_after_the_fsynced_end_that_look_torn_are_cut(void) {
    log_t l;
    make_log(&l);
    size_t frame = (size_t)(l.end[EVENTS] - l.end[EVENTS - 1]);
    uint8_t last[256];
    CHECK(frame <= sizeof last);
    read_bytes(l.seg, l.end[EVENTS - 1], last, frame);

    /* Zeros: the file grew but the write never landed. */
    uint8_t zeros[300];
    memset(zeros, 0, sizeof zeros);
    append_bytes(l.seg, zeros, sizeof zeros);
    expect_cut_and_whole(&l, sizeof zeros, 0); /* appends event 11 */

    /* A frame cut short: the first half of a frame's bytes. */
    append_bytes(l.seg, last, frame / 2);
    expect_cut_and_whole(&l, frame / 2, 1); /* appends event 12 */

    /* Only a frame's 8-byte prefix made it. */
    append_bytes(l.seg, last, 5);
    expect_cut_and_whole(&l, 5, 2);

    /* A whole last frame whose CRC fails, nothing after it: its write did not finish. */
    last[frame - 1] ^= 0x5A;
    append_bytes(l.seg, last, frame);
    expect_cut_and_whole(&l, frame, 3);
    remove_tree(l.dir);
}

/* Removes the derived files (segment indexes and index/), so that the next open scans every
 * frame of the segment. */
static void drop_derived(const log_t *l) {
    char path[600];
    snprintf(path, sizeof path, "%s/00000000000000000001.idx", l->dir);
    CHECK(unlink(path) == 0);
    snprintf(path, sizeof path, "%s/index", l->dir);
    remove_tree(path);
}

static int64_t last_value(void) {
    int64_t v = -1;
    CHECK_OK(transom_last_error_value(&v));
    return v;
}

static void expect_corrupt_at(const char *what, transom_status st, off_t offset) {
    if (st != TRANSOM_ERR_CORRUPT) fprintf(stderr, "%s\n", what);
    CHECK_STATUS(st, TRANSOM_ERR_CORRUPT);
    CHECK(last_value() == (int64_t)offset);
    char detail[1024];
    size_t len = 0;
    CHECK_OK(transom_last_error(detail, sizeof detail, &len));
    CHECK(strstr(detail, "00000000000000000001.seg") != NULL);
}

static transom_status try_open(const log_t *l) {
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = l->dir;
    cfg.dir_len = strlen(l->dir);
    transom_store *x = NULL;
    transom_status st = transom_store_open(&cfg, &x);
    if (st == TRANSOM_OK) close_store(x);
    else CHECK(x == NULL);
    return st;
}

/* Damages frame `k` (1-based) of the log in place: a flipped payload byte, or all zeros. */
static off_t damage_frame(const log_t *l, int k, int zero) {
    off_t at = l->end[k - 1];
    size_t frame = (size_t)(l->end[k] - at);
    uint8_t bytes[256];
    CHECK(frame <= sizeof bytes);
    read_bytes(l->seg, at, bytes, frame);
    if (zero)
        memset(bytes, 0, frame);
    else
        bytes[frame - 3] ^= 0x01;
    write_bytes(l->seg, at, bytes, frame);
    return at;
}

/* The last record of the newest segment, flipped or zeroed: bytes that would be a torn tail
 * after the recorded extent are damage inside it. Open reads the last record (the store
 * continues from its id and timestamp), so every open refuses the store, and nothing is cut. */
static void a_damaged_last_record_inside_the_fsynced_extent_is_corrupt(void) {
    for (int zero = 0; zero <= 1; zero++) {
        log_t l;
        make_log(&l);
        off_t at = damage_frame(&l, EVENTS, zero);
        for (int again = 0; again < 2; again++) {
            expect_corrupt_at("open of a damaged last record", try_open(&l), at);
            CHECK(size_of(l.seg) == l.end[EVENTS]);
        }
        drop_derived(&l);
        expect_corrupt_at("open (no derived files) of a damaged last record", try_open(&l), at);
        CHECK(size_of(l.seg) == l.end[EVENTS]);
        remove_tree(l.dir);
    }
}

/* An earlier record of the newest segment (more than a sparse-index interval before its end):
 * a clean close indexed the segment, so open reads no frame there and the read that reaches
 * the damaged one is CORRUPT at its offset; without the derived
 * files open scans the segment and refuses it. */
static void a_damaged_earlier_record_is_corrupt_at_the_read_or_the_scan(void) {
    log_t l;
    make_log(&l);
    CHECK(l.end[EVENTS] - l.end[5] > 2 * 4096);
    off_t at = damage_frame(&l, 5, 0);
    transom_store *s = open_log(&l);
    transom_store_statistics st;
    CHECK_OK(transom_store_stats(s, &st));
    CHECK(st.frames_scanned_at_open == 0 && st.torn_tail_bytes_cut_at_open == 0);
    expect_corrupt_at("read across the damaged event", transom_store_read_sequence(s, 1, space(&sp)), at);
    close_store(s);
    CHECK(size_of(l.seg) == l.end[EVENTS]);
    drop_derived(&l);
    for (int again = 0; again < 2; again++) {
        expect_corrupt_at("open that scans the damaged event", try_open(&l), at);
        CHECK(size_of(l.seg) == l.end[EVENTS]);
    }
    remove_tree(l.dir);
}

static void a_segment_shorter_than_its_fsynced_extent_is_corrupt(void) {
    /* The last frame cut off: the MANIFEST says it was fsynced, so it was acknowledged and is
     * gone; not a torn tail. */
    log_t l;
    make_log(&l);
    CHECK(truncate(l.seg, l.end[EVENTS - 1] + 3) == 0);
    expect_corrupt_at("open of a short segment", try_open(&l), l.end[EVENTS - 1] + 3);
    CHECK(size_of(l.seg) == l.end[EVENTS - 1] + 3);
    remove_tree(l.dir);
}

int main(void) {
    RUN(bytes_after_the_fsynced_end_that_look_torn_are_cut);
    RUN(a_damaged_last_record_inside_the_fsynced_extent_is_corrupt);
    RUN(a_damaged_earlier_record_is_corrupt_at_the_read_or_the_scan);
    RUN(a_segment_shorter_than_its_fsynced_extent_is_corrupt);
    return 0;
}
