/* Crash recovery: a child process appends with SYNC_ALWAYS and reports every acknowledged
 * receipt to the parent through a pipe; the parent kills it with SIGKILL at seeded random
 * points (mid-append, most likely). On every reopen, every acknowledged event is present with
 * its payload, the tail is clean (appends continue), and sequences are dense and unchanged.
 * The second case flushes the indexes every 7 events and rolls 4 KiB segments, so kills land
 * during index flushes and rollovers too: the indexes are rebuilt from the log (stats say how
 * much was replayed) and answer by stream and by idempotency key correctly. */
#include <signal.h>
#include <sys/wait.h>

#include "store_support.h"

#define MAX_ACKED 100000

typedef struct {
    uint64_t sequence;
    transom_event_id id;
} ack;

static ack acked[MAX_ACKED];
static size_t n_acked;
static event_space sp;

static void payload_for(uint64_t sequence, char *buf, size_t *len) {
    *len = (size_t)snprintf(buf, 64, "event-%llu-%llx", (unsigned long long)sequence,
                            (unsigned long long)(sequence * 0x9E3779B97F4A7C15ull));
}

/* The child: append forever, report each receipt. Never returns. */
static void child(const char *dir, int fd) {
    transom_store *s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    uint64_t head = 0;
    CHECK_OK(transom_store_head(s, &head));
    for (uint64_t seq = head + 1;; seq++) {
        char payload[64];
        size_t len;
        payload_for(seq, payload, &len);
        transom_append a = event_of("crash", 1, payload, len);
        a.expected = TRANSOM_EXPECT_EXACT; /* one stream: its version is the sequence */
        a.expected_version = seq - 1;
        transom_receipt r;
        CHECK_OK(transom_store_append(s, &a, &r));
        CHECK(r.sequence == seq);
        ack x = {r.sequence, r.id};
        if (write(fd, &x, sizeof x) != (ssize_t)sizeof x) _exit(3);
    }
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t next_random(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void verify(const char *dir) {
    transom_store *s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    uint64_t head = 0;
    CHECK_OK(transom_store_head(s, &head));
    CHECK(n_acked == 0 || head >= acked[n_acked - 1].sequence);
    /* Dense and unchanged: stream versions 1..head map to sequences 1..head in order. */
    uint64_t expect = 1;
    while (expect <= head) {
        transom_event_buffer *b = space(&sp);
        transom_status st = transom_store_read(s, "crash", 5, expect, b);
        CHECK(st == TRANSOM_OK);
        CHECK(b->count > 0);
        for (size_t i = 0; i < b->count; i++, expect++) {
            const transom_event *e = &b->events[i];
            CHECK(e->sequence == expect && e->stream_version == expect);
            char payload[64];
            size_t len;
            payload_for(expect, payload, &len);
            CHECK(e->payload_len == len && memcmp(e->payload, payload, len) == 0);
        }
    }
    /* Every acknowledged event is there, under the id its receipt named. */
    for (size_t i = 0; i < n_acked; i++) {
        transom_event_buffer *b = space(&sp);
        CHECK_OK(transom_store_get(s, acked[i].id, b));
        CHECK(b->events[0].sequence == acked[i].sequence);
    }
    close_store(s);
}

static void acknowledged_events_survive_sigkill(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    long rounds = scaled(8);
    for (long round = 0; round < rounds; round++) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child(dir, fds[1]);
        }
        close(fds[1]);
        /* Let it acknowledge a random number of appends, then kill it wherever it is. */
        uint64_t wait_for = 1 + next_random() % 60;
        for (uint64_t k = 0; k < wait_for; k++) {
            ack x;
            CHECK(read(fds[0], &x, sizeof x) == (ssize_t)sizeof x);
            CHECK(n_acked < MAX_ACKED);
            acked[n_acked++] = x;
        }
        CHECK(kill(pid, SIGKILL) == 0);
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        /* Receipts already in the pipe were acknowledged before the kill: they count too. */
        ack x;
        ssize_t got;
        while ((got = read(fds[0], &x, sizeof x)) == (ssize_t)sizeof x) {
            CHECK(n_acked < MAX_ACKED);
            acked[n_acked++] = x;
        }
        close(fds[0]);
        verify(dir);
    }
    printf("# %zu acknowledged events over %ld SIGKILLs, all recovered\n", n_acked, rounds);
    remove_tree(dir);
}

/* ---- kills during index flushes ----------------------------------------------------------- */

static transom_store *open_flushing(const char *dir) {
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dir;
    cfg.dir_len = strlen(dir);
    cfg.sync = TRANSOM_SYNC_ALWAYS;
    cfg.segment_size = 4096;
    cfg.index_flush_events = 7;
    transom_store *s = NULL;
    CHECK_OK(transom_store_open(&cfg, &s));
    return s;
}

static void stream_for(uint64_t seq, char *buf) { snprintf(buf, 8, "s%u", (unsigned)(seq % 5)); }
static void key_for(uint64_t seq, char *buf) { snprintf(buf, 32, "key-%llu", (unsigned long long)seq); }

/* One event's request (its buffers live in `bufs`). */
typedef struct {
    char stream[8], key[32], payload[64];
} request_bufs;

static transom_append request_for(uint64_t seq, request_bufs *bufs) {
    size_t len;
    stream_for(seq, bufs->stream);
    key_for(seq, bufs->key);
    payload_for(seq, bufs->payload, &len);
    transom_append a = event_of(bufs->stream, 2, bufs->payload, len);
    a.idempotency_key = (const uint8_t *)bufs->key;
    a.idempotency_key_len = strlen(bufs->key);
    return a;
}

/* The child: batches of 1..5 events over five streams, each with a key. Never returns. */
static void flushing_child(const char *dir, int fd, uint64_t seed) {
    transom_store *s = open_flushing(dir);
    uint64_t head = 0;
    CHECK_OK(transom_store_head(s, &head));
    rng ^= seed;
    for (uint64_t next = head + 1;;) {
        size_t k = 1 + (size_t)(next_random() % 5);
        transom_append batch[5];
        request_bufs bufs[5];
        transom_receipt r[5];
        for (size_t j = 0; j < k; j++) batch[j] = request_for(next + j, &bufs[j]);
        CHECK_OK(transom_store_append_batch(s, batch, k, r));
        for (size_t j = 0; j < k; j++) {
            CHECK(r[j].sequence == next + j);
            ack x = {r[j].sequence, r[j].id};
            if (write(fd, &x, sizeof x) != (ssize_t)sizeof x) _exit(3);
        }
        next += k;
    }
}

static void verify_flushing(const char *dir, uint64_t *replayed) {
    transom_store *s = open_flushing(dir);
    transom_store_statistics st;
    CHECK_OK(transom_store_stats(s, &st));
    uint64_t head = st.last_sequence;
    CHECK(n_acked == 0 || head >= acked[n_acked - 1].sequence);
    CHECK(st.events == head && st.first_sequence == 1);
    /* The indexes were brought up to the log: what they did not cover was replayed. */
    CHECK(st.index_covered_sequence <= head);
    CHECK(st.index_events_replayed_at_open == head - st.index_covered_sequence);
    *replayed += st.index_events_replayed_at_open;
    /* Dense and unchanged, in global order. */
    uint64_t expect = 1;
    while (expect <= head) {
        transom_event_buffer *b = space(&sp);
        CHECK_OK(transom_store_read_sequence(s, expect, b));
        CHECK(b->count > 0);
        for (size_t i = 0; i < b->count; i++, expect++) {
            const transom_event *e = &b->events[i];
            request_bufs bufs;
            transom_append a = request_for(expect, &bufs);
            CHECK(e->sequence == expect);
            CHECK(e->stream_len == a.stream_len && memcmp(e->stream, a.stream, a.stream_len) == 0);
            CHECK(e->payload_len == a.payload_len && memcmp(e->payload, a.payload, a.payload_len) == 0);
        }
    }
    /* By stream: versions dense, sequences the stream's own. */
    for (unsigned k = 0; k < 5; k++) {
        char stream[8];
        snprintf(stream, sizeof stream, "s%u", k);
        uint64_t version = 0, last_seq = 0;
        for (;;) {
            transom_event_buffer *b = space(&sp);
            CHECK_OK(transom_store_read(s, stream, strlen(stream), version + 1, b));
            for (size_t i = 0; i < b->count; i++) {
                CHECK(b->events[i].stream_version == ++version);
                CHECK(b->events[i].sequence > last_seq && b->events[i].sequence % 5 == k);
                last_seq = b->events[i].sequence;
            }
            if (b->count < b->cap) break;
        }
        CHECK(version == head / 5 + (k != 0 && k <= head % 5 ? 1 : 0));
    }
    /* By id and by key: every acknowledged event, under its receipt's id; a retry of its key
     * returns the original receipt and stores nothing. */
    for (size_t i = 0; i < n_acked; i++) {
        transom_event_buffer *b = space(&sp);
        CHECK_OK(transom_store_get(s, acked[i].id, b));
        CHECK(b->events[0].sequence == acked[i].sequence);
        if (i % 11 == 0) {
            request_bufs bufs;
            transom_append a = request_for(acked[i].sequence, &bufs);
            transom_receipt r;
            CHECK_OK(transom_store_append(s, &a, &r));
            CHECK(r.sequence == acked[i].sequence && id_eq(r.id, acked[i].id));
        }
    }
    uint64_t after = 0;
    CHECK_OK(transom_store_head(s, &after));
    CHECK(after == head);
    close_store(s);
}

static void acknowledged_events_survive_sigkill_during_index_flushes(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    n_acked = 0;
    long rounds = scaled(20);
    uint64_t replayed = 0;
    for (long round = 0; round < rounds; round++) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        fflush(stdout);
        uint64_t seed = next_random();
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            flushing_child(dir, fds[1], seed);
        }
        close(fds[1]);
        uint64_t wait_for = 1 + next_random() % 80;
        for (uint64_t k = 0; k < wait_for; k++) {
            ack x;
            CHECK(read(fds[0], &x, sizeof x) == (ssize_t)sizeof x);
            CHECK(n_acked < MAX_ACKED);
            acked[n_acked++] = x;
        }
        CHECK(kill(pid, SIGKILL) == 0);
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        ack x;
        while (read(fds[0], &x, sizeof x) == (ssize_t)sizeof x) {
            CHECK(n_acked < MAX_ACKED);
            acked[n_acked++] = x;
        }
        close(fds[0]);
        verify_flushing(dir, &replayed);
    }
    printf("# %zu acknowledged events over %ld SIGKILLs with index flushes every 7 events, all "
           "recovered; %llu events replayed into the indexes in all\n",
           n_acked, rounds, (unsigned long long)replayed);
    remove_tree(dir);
}

int main(void) {
    RUN(acknowledged_events_survive_sigkill);
    RUN(acknowledged_events_survive_sigkill_during_index_flushes);
    return 0;
}
