/* Crash recovery: a child process appends with SYNC_ALWAYS and reports every acknowledged
 * receipt to the parent through a pipe; the parent kills it with SIGKILL at seeded random
 * points (mid-append, most likely). On every reopen, every acknowledged event is present with
 * its payload, the tail is clean (appends continue), and sequences are dense and unchanged. */
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

int main(void) {
    RUN(acknowledged_events_survive_sigkill);
    return 0;
}
