/* Every bad input of the canal and worker API gets its exact status code and changes nothing:
 * NULL pointers, out-of-range options, bad checkpoint names, a name held twice, acks outside
 * the delivered range, damaged checkpoint files (CORRUPT, never a silent restart from BEGIN);
 * pulls after the store closed; interrupts. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "store_support.h"

#define SECOND_NS 1000000000ull

/* ---- helpers ------------------------------------------------------------------------------ */

/* Appends n events (stream "s", kind 1, payload = the index from `first`) in one batch. */
static void append_n(const transom_store *s, uint64_t first, long n) {
    transom_append *batch = calloc((size_t)n, sizeof *batch);
    uint64_t *payloads = calloc((size_t)n, sizeof *payloads);
    CHECK(batch && payloads);
    for (long i = 0; i < n; i++) {
        payloads[i] = first + (uint64_t)i;
        batch[i] = event_of("s", 1, &payloads[i], sizeof payloads[i]);
    }
    CHECK_OK(transom_store_append_batch(s, batch, (size_t)n, NULL));
    free(batch);
    free(payloads);
}

static transom_cursor_options cursor_opts(uint32_t start) {
    transom_cursor_options o;
    memset(&o, 0, sizeof o);
    o.start = start;
    return o;
}

static transom_cursor_options named_opts(const char *name, size_t len) {
    transom_cursor_options o = cursor_opts(TRANSOM_START_NAMED);
    o.name = name;
    o.name_len = len;
    return o;
}

static transom_subscription_options sub_opts(size_t capacity, uint32_t overflow) {
    transom_subscription_options o;
    memset(&o, 0, sizeof o);
    o.capacity = capacity;
    o.overflow = overflow;
    return o;
}

static transom_canal *open_cursor(const transom_store *s, transom_cursor_options o) {
    transom_canal *c = NULL;
    CHECK_OK(transom_canal_open_cursor(s, &o, &c));
    CHECK(c != NULL);
    return c;
}

static transom_canal *open_sub(const transom_store *s, size_t capacity) {
    transom_subscription_options o = sub_opts(capacity, TRANSOM_OVERFLOW_DROP_NEWEST);
    transom_canal *c = NULL;
    CHECK_OK(transom_canal_open_subscription(s, &o, &c));
    CHECK(c != NULL);
    return c;
}

/* One pull that must deliver exactly the events `from..=to`. */
static void pull_exactly(transom_canal *c, uint64_t from, uint64_t to) {
    transom_item items[64];
    size_t n = 0;
    CHECK(to >= from && to - from < 64);
    CHECK_OK(transom_canal_pull_batch(c, 0, items, 64, &n));
    CHECK(n == to - from + 1);
    for (size_t i = 0; i < n; i++) {
        CHECK(items[i].kind == TRANSOM_ITEM_EVENT && items[i].event.sequence == from + i);
    }
}

static void nothing_ready(transom_canal *c) {
    transom_item it[1];
    size_t n = 99;
    CHECK_STATUS(transom_canal_pull_batch(c, 0, it, 1, &n), TRANSOM_TIMEOUT);
    CHECK(n == 99); /* outputs are written on TRANSOM_OK only */
}

/* The sentinel an output handle keeps when a call must not write it. */
#define UNTOUCHED ((transom_canal *)(uintptr_t)0x5a5a)

static void expect_open_cursor(const transom_store *s, transom_cursor_options o, transom_status want) {
    transom_canal *c = UNTOUCHED;
    CHECK_STATUS(transom_canal_open_cursor(s, &o, &c), want);
    CHECK(c == UNTOUCHED);
}

static void expect_open_sub(const transom_store *s, transom_subscription_options o, transom_status want) {
    transom_canal *c = UNTOUCHED;
    CHECK_STATUS(transom_canal_open_subscription(s, &o, &c), want);
    CHECK(c == UNTOUCHED);
}

/* Counts calls and drops of a batch callback. */
typedef struct {
    pthread_mutex_t mu;
    long calls, drops;
} counts_t;

static counts_t counts = {PTHREAD_MUTEX_INITIALIZER, 0, 0};

static int32_t count_call(void *ctx, const transom_item *items, size_t n) {
    (void)items;
    (void)n;
    counts_t *c = ctx;
    pthread_mutex_lock(&c->mu);
    c->calls++;
    pthread_mutex_unlock(&c->mu);
    return TRANSOM_WORKER_CONTINUE;
}

static void count_drop(void *ctx) {
    counts_t *c = ctx;
    pthread_mutex_lock(&c->mu);
    c->drops++;
    pthread_mutex_unlock(&c->mu);
}

static long drops_now(void) {
    pthread_mutex_lock(&counts.mu);
    long d = counts.drops;
    pthread_mutex_unlock(&counts.mu);
    return d;
}

static char ckpt_path[512];

static const char *checkpoint_file(const char *dir, const char *name) {
    int w = snprintf(ckpt_path, sizeof ckpt_path, "%s/checkpoints/%s.ckpt", dir, name);
    CHECK(w > 0 && (size_t)w < sizeof ckpt_path);
    return ckpt_path;
}

static size_t read_file(const char *path, unsigned char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void write_file(const char *path, const unsigned char *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(buf, 1, len, f) == len);
    CHECK(fclose(f) == 0);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void null_arguments_are_refused_for_every_pointer(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    append_n(s, 1, 3);
    transom_cursor_options co = cursor_opts(TRANSOM_START_BEGIN);
    transom_subscription_options so = sub_opts(4, TRANSOM_OVERFLOW_DROP_OLDEST);
    transom_canal *out = UNTOUCHED;

    CHECK_STATUS(transom_canal_open_cursor(NULL, &co, &out), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_canal_open_cursor(s, NULL, &out), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_canal_open_cursor(s, &co, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_canal_open_subscription(NULL, &so, &out), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_canal_open_subscription(s, NULL, &out), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_canal_open_subscription(s, &so, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(out == UNTOUCHED);

    /* NULL inside the options. */
    expect_open_cursor(s, named_opts(NULL, 0), TRANSOM_ERR_INVALID_ARGUMENT); /* an empty name */
    expect_open_cursor(s, named_opts(NULL, 4), TRANSOM_ERR_NULL_ARGUMENT);
    transom_cursor_options bad = co;
    bad.filter.stream_prefix = NULL;
    bad.filter.stream_prefix_len = 3;
    expect_open_cursor(s, bad, TRANSOM_ERR_NULL_ARGUMENT);
    bad = co;
    bad.filter.kinds = NULL;
    bad.filter.kind_count = 2;
    expect_open_cursor(s, bad, TRANSOM_ERR_NULL_ARGUMENT);
    transom_subscription_options sbad = so;
    sbad.filter.stream_prefix = NULL;
    sbad.filter.stream_prefix_len = 3;
    expect_open_sub(s, sbad, TRANSOM_ERR_NULL_ARGUMENT);
    sbad = so;
    sbad.filter.kinds = NULL;
    sbad.filter.kind_count = 2;
    expect_open_sub(s, sbad, TRANSOM_ERR_NULL_ARGUMENT);
    /* A prefix pointer with length 0 and kinds with count 0 are "everything". */
    transom_cursor_options all = co;
    uint16_t k = 1;
    all.filter.stream_prefix = "zzz";
    all.filter.stream_prefix_len = 0;
    all.filter.kinds = &k;
    all.filter.kind_count = 0;
    transom_canal *every = open_cursor(s, all);
    pull_exactly(every, 1, 3);
    transom_canal_free(every);

    transom_canal *c = open_cursor(s, co);
    transom_item items[4];
    size_t n = 0;
    CHECK_STATUS(transom_canal_pull_batch(NULL, 0, items, 4, &n), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_canal_pull_batch(c, 0, NULL, 4, &n), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_canal_pull_batch(c, 0, items, 4, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_canal_interrupt(NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_canal_ack(NULL, 0), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_canal_checkpoint(NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_canal_rewind(NULL), TRANSOM_ERR_NULL_ARGUMENT);
    transom_canal_free(NULL);
    /* None of the refused pulls consumed anything. */
    pull_exactly(c, 1, 3);
    CHECK_OK(transom_canal_rewind(c));

    /* spawn_worker: every refusal runs the callback's drop exactly once and leaves the canal
     * with the caller. */
    transom_worker_options wo;
    memset(&wo, 0, sizeof wo);
    transom_worker *w = NULL;
    transom_batch_callback cb = {&counts, count_call, count_drop};
    long before = drops_now();
    CHECK_STATUS(transom_canal_spawn_worker(NULL, cb, &wo, &w), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(drops_now() == before + 1);
    CHECK_STATUS(transom_canal_spawn_worker(c, cb, &wo, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(drops_now() == before + 2);
    transom_batch_callback no_call = {&counts, NULL, count_drop};
    CHECK_STATUS(transom_canal_spawn_worker(c, no_call, &wo, &w), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(drops_now() == before + 3);
    transom_batch_callback nothing = {NULL, NULL, NULL};
    CHECK_STATUS(transom_canal_spawn_worker(c, nothing, &wo, &w), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(w == NULL);
    CHECK(drops_now() == before + 3);
    CHECK(counts.calls == 0);
    pull_exactly(c, 1, 3); /* still ours, still usable */
    CHECK_OK(transom_canal_rewind(c));

    /* NULL options are the defaults. The handle keeps no canal after a spawn: CLOSED. */
    CHECK_OK(transom_canal_spawn_worker(c, cb, NULL, &w));
    CHECK(w != NULL);
    n = 99;
    CHECK_STATUS(transom_canal_pull_batch(c, 0, items, 4, &n), TRANSOM_ERR_CLOSED);
    CHECK(n == 99);
    CHECK_STATUS(transom_canal_ack(c, 1), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_canal_interrupt(c), TRANSOM_ERR_CLOSED);
    transom_worker *w2 = NULL;
    CHECK_STATUS(transom_canal_spawn_worker(c, cb, NULL, &w2), TRANSOM_ERR_CLOSED);
    CHECK(w2 == NULL && drops_now() == before + 4);
    CHECK_OK(transom_canal_close(c)); /* nothing to close: the worker's canal is not touched */
    transom_canal_free(c);
    int32_t exit_kind = -1;
    CHECK_STATUS(transom_worker_stop(NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_worker_join(NULL, 0, &exit_kind), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_worker_stop_and_join(NULL, 0, &exit_kind), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(exit_kind == -1);
    transom_worker_free(NULL);
    CHECK_OK(transom_worker_stop_and_join(w, 60 * SECOND_NS, NULL)); /* out_exit may be NULL */
    CHECK_OK(transom_worker_join(w, 0, &exit_kind));
    CHECK(exit_kind == TRANSOM_WORKER_EXIT_STOPPED);
    transom_worker_free(w);
    CHECK(drops_now() == before + 5);
    close_store(s);
}

static void cap_zero_is_an_invalid_argument(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_canal *c = open_cursor(s, cursor_opts(TRANSOM_START_BEGIN));
    transom_canal *sub = open_sub(s, 4);
    append_n(s, 1, 2);
    transom_item it[1];
    size_t n = 77;
    CHECK_STATUS(transom_canal_pull_batch(c, 0, it, 0, &n), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_canal_pull_batch(c, UINT64_MAX, it, 0, &n), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_canal_pull_batch(sub, 0, it, 0, &n), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_canal_pull_batch(sub, UINT64_MAX, it, 0, &n), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(n == 77);
    /* Nothing was consumed. */
    pull_exactly(c, 1, 2);
    pull_exactly(sub, 1, 2);
    transom_canal_free(c);
    transom_canal_free(sub);
    close_store(s);
}

static void bad_options_get_exact_codes(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    append_n(s, 1, 3);
    expect_open_cursor(s, cursor_opts(4), TRANSOM_ERR_INVALID_ARGUMENT);
    expect_open_cursor(s, cursor_opts(UINT32_MAX), TRANSOM_ERR_INVALID_ARGUMENT);
    transom_cursor_options at = cursor_opts(TRANSOM_START_AT);
    at.start_sequence = 0;
    expect_open_cursor(s, at, TRANSOM_ERR_INVALID_ARGUMENT);
    /* AT 2 starts at 2; AT above the head is allowed and waits for it. */
    at.start_sequence = 2;
    transom_canal *c = open_cursor(s, at);
    pull_exactly(c, 2, 3);
    transom_canal_free(c);
    at.start_sequence = 5;
    c = open_cursor(s, at);
    nothing_ready(c);
    append_n(s, 4, 2);
    pull_exactly(c, 5, 5);
    transom_canal_free(c);
    /* END: only later events. */
    c = open_cursor(s, cursor_opts(TRANSOM_START_END));
    nothing_ready(c);
    append_n(s, 6, 1);
    pull_exactly(c, 6, 6);
    transom_canal_free(c);

    expect_open_sub(s, sub_opts(4, 3), TRANSOM_ERR_INVALID_ARGUMENT);
    expect_open_sub(s, sub_opts(4, UINT32_MAX), TRANSOM_ERR_INVALID_ARGUMENT);
    expect_open_sub(s, sub_opts(0, TRANSOM_OVERFLOW_DROP_OLDEST), TRANSOM_ERR_INVALID_ARGUMENT);
    expect_open_sub(s, sub_opts(0, TRANSOM_OVERFLOW_DISCONNECT), TRANSOM_ERR_INVALID_ARGUMENT);

    /* Stream prefixes: 255 bytes is the longest. */
    char prefix[257];
    memset(prefix, 'p', sizeof prefix);
    transom_cursor_options pc = cursor_opts(TRANSOM_START_BEGIN);
    pc.filter.stream_prefix = prefix;
    pc.filter.stream_prefix_len = 256;
    expect_open_cursor(s, pc, TRANSOM_ERR_INVALID_ARGUMENT);
    transom_subscription_options ps = sub_opts(4, TRANSOM_OVERFLOW_DROP_NEWEST);
    ps.filter.stream_prefix = prefix;
    ps.filter.stream_prefix_len = 256;
    expect_open_sub(s, ps, TRANSOM_ERR_INVALID_ARGUMENT);
    pc.filter.stream_prefix_len = 255;
    c = open_cursor(s, pc);
    nothing_ready(c); /* no stream starts with 255 p's */
    transom_canal_free(c);
    ps.filter.stream_prefix_len = 255;
    transom_canal *sub = NULL;
    CHECK_OK(transom_canal_open_subscription(s, &ps, &sub));
    transom_canal_free(sub);

    /* Worker options: checkpoint_every needs a named cursor; the refusal drops the callback
     * once and leaves the canal with the caller. */
    c = open_cursor(s, cursor_opts(TRANSOM_START_BEGIN));
    transom_worker_options wo;
    memset(&wo, 0, sizeof wo);
    wo.checkpoint_every = 1;
    transom_batch_callback cb = {&counts, count_call, count_drop};
    transom_worker *w = NULL;
    long before = drops_now();
    CHECK_STATUS(transom_canal_spawn_worker(c, cb, &wo, &w), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(w == NULL && drops_now() == before + 1);
    sub = open_sub(s, 4);
    CHECK_STATUS(transom_canal_spawn_worker(sub, cb, &wo, &w), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(w == NULL && drops_now() == before + 2);
    pull_exactly(c, 1, 6);
    transom_canal_free(c);
    transom_canal_free(sub);
    close_store(s);
}

static void checkpoint_names_are_validated(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    append_n(s, 1, 2);
    const char *bad[] = {"../x", "a/b", ".", "..", "a b", "x\\y", "/abs", "n\xc3\xa9", "a:b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_open_cursor(s, named_opts(bad[i], strlen(bad[i])), TRANSOM_ERR_INVALID_ARGUMENT);
    }
    expect_open_cursor(s, named_opts("", 0), TRANSOM_ERR_INVALID_ARGUMENT);
    expect_open_cursor(s, named_opts("a\0b", 3), TRANSOM_ERR_INVALID_ARGUMENT);
    expect_open_cursor(s, named_opts("\xff", 1), TRANSOM_ERR_INVALID_ARGUMENT);
    char longname[257];
    memset(longname, 'n', sizeof longname);
    expect_open_cursor(s, named_opts(longname, 256), TRANSOM_ERR_INVALID_ARGUMENT);
    expect_open_cursor(s, named_opts(longname, 241), TRANSOM_ERR_INVALID_ARGUMENT);
    /* Every allowed character, and the longest name (240 bytes) in memory (on disk: see below);
     * 241 bytes is refused. */
    transom_canal *c = open_cursor(s, named_opts("Az09._-", 7));
    pull_exactly(c, 1, 2);
    CHECK_OK(transom_canal_ack(c, 2));
    CHECK_OK(transom_canal_checkpoint(c));
    transom_canal_free(c);
    transom_store *mem = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    append_n(mem, 1, 2);
    c = open_cursor(mem, named_opts(longname, 240));
    pull_exactly(c, 1, 2);
    CHECK_OK(transom_canal_ack(c, 2));
    CHECK_OK(transom_canal_checkpoint(c));
    transom_canal_free(c);
    c = open_cursor(mem, named_opts(longname, 240));
    nothing_ready(c);
    transom_canal_free(c);
    close_store(mem);
    /* Nothing was written outside the checkpoint directory. */
    char outside[600];
    snprintf(outside, sizeof outside, "%s/x.ckpt", dir);
    CHECK(access(outside, F_OK) != 0);
    close_store(s);
    remove_tree(dir);
}

static void a_name_is_held_by_one_open_cursor_per_store(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_store *other = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    append_n(s, 1, 4);
    transom_canal *a = open_cursor(s, named_opts("proj", 4));
    expect_open_cursor(s, named_opts("proj", 4), TRANSOM_ERR_NAME_IN_USE);
    /* Another store has its own names. */
    transom_canal *b = open_cursor(other, named_opts("proj", 4));
    transom_canal_free(b);
    pull_exactly(a, 1, 4);
    CHECK_OK(transom_canal_ack(a, 3));
    CHECK_OK(transom_canal_checkpoint(a));
    /* A worker running the cursor still holds the name. */
    transom_batch_callback cb = {&counts, count_call, count_drop};
    transom_worker *w = NULL;
    CHECK_OK(transom_canal_rewind(a));
    CHECK_OK(transom_canal_spawn_worker(a, cb, NULL, &w));
    transom_canal_free(a); /* the worker has the canal; the handle is only a handle */
    expect_open_cursor(s, named_opts("proj", 4), TRANSOM_ERR_NAME_IN_USE);
    transom_worker_free(w);
    /* Freed: the name is free again and resumes after the worker's exit checkpoint (it
     * acknowledged 4 once event 4 reached it, or kept 3 if it was stopped first). */
    transom_canal *again = open_cursor(s, named_opts("proj", 4));
    transom_item it[8];
    size_t n = 0;
    transom_status st = transom_canal_pull_batch(again, 0, it, 8, &n);
    CHECK(st == TRANSOM_OK || st == TRANSOM_TIMEOUT);
    if (st == TRANSOM_OK) CHECK(n == 1 && it[0].event.sequence == 4);
    transom_canal_free(again);
    close_store(other);
    close_store(s);
}

static void acks_outside_the_delivered_range_are_refused(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    append_n(s, 1, 5);
    transom_canal *c = open_cursor(s, cursor_opts(TRANSOM_START_BEGIN));
    CHECK_OK(transom_canal_ack(c, 0)); /* the current position: a no-op */
    CHECK_STATUS(transom_canal_ack(c, 1), TRANSOM_ERR_INVALID_ARGUMENT); /* nothing delivered */
    transom_item it[3];
    size_t n = 0;
    CHECK_OK(transom_canal_pull_batch(c, 0, it, 3, &n));
    CHECK(n == 3);
    CHECK_STATUS(transom_canal_ack(c, 4), TRANSOM_ERR_INVALID_ARGUMENT); /* beyond delivered */
    CHECK_STATUS(transom_canal_ack(c, UINT64_MAX), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_OK(transom_canal_ack(c, 2));
    CHECK_OK(transom_canal_ack(c, 2)); /* again: a no-op */
    CHECK_STATUS(transom_canal_ack(c, 1), TRANSOM_ERR_INVALID_ARGUMENT); /* below the ack */
    CHECK_STATUS(transom_canal_ack(c, 0), TRANSOM_ERR_INVALID_ARGUMENT);
    /* Rewind goes back to the first unacknowledged event; then only 2 is ackable. */
    CHECK_OK(transom_canal_rewind(c));
    CHECK_STATUS(transom_canal_ack(c, 3), TRANSOM_ERR_INVALID_ARGUMENT);
    pull_exactly(c, 3, 5);
    CHECK_OK(transom_canal_ack(c, 5));
    nothing_ready(c);
    /* Checkpoint on an unnamed cursor: INVALID_ARGUMENT (src/canal/canal.rs). */
    CHECK_STATUS(transom_canal_checkpoint(c), TRANSOM_ERR_INVALID_ARGUMENT);
    transom_canal_free(c);

    /* Subscriptions have no ack, checkpoint or rewind. */
    transom_canal *sub = open_sub(s, 4);
    append_n(s, 6, 2);
    pull_exactly(sub, 6, 7);
    CHECK_STATUS(transom_canal_ack(sub, 6), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_canal_ack(sub, 0), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_canal_checkpoint(sub), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(transom_canal_rewind(sub), TRANSOM_ERR_INVALID_ARGUMENT);
    nothing_ready(sub); /* the refused rewind redelivered nothing */
    transom_canal_free(sub);
    close_store(s);
}

/* A truncated or garbage checkpoint file: every reopen by name is CORRUPT, the file is left as
 * it was, and no cursor starts from BEGIN. */
static void damaged_checkpoint_files_are_corrupt_never_a_restart(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    append_n(s, 1, 10);
    transom_canal *c = open_cursor(s, named_opts("proj", 4));
    pull_exactly(c, 1, 10);
    CHECK_OK(transom_canal_ack(c, 4));
    CHECK_OK(transom_canal_checkpoint(c));
    transom_canal_free(c);
    const char *path = checkpoint_file(dir, "proj");
    unsigned char good[64];
    CHECK(read_file(path, good, sizeof good) == 20);
    CHECK(memcmp(good, "TRCK", 4) == 0 && good[8] == 4);

    unsigned char bad[64], now[64];
    /* Each damage, checked twice (the failed open frees the name) and the file kept as is. */
#define EXPECT_CORRUPT(bytes, len)                                                      \
    do {                                                                                \
        write_file(path, (bytes), (len));                                               \
        for (int twice = 0; twice < 2; twice++)                                         \
            expect_open_cursor(s, named_opts("proj", 4), TRANSOM_ERR_CORRUPT);          \
        CHECK(read_file(path, now, sizeof now) == (len) && memcmp(now, (bytes), (len)) == 0); \
    } while (0)

    /* (a) truncated to 10 bytes, and to nothing */
    EXPECT_CORRUPT(good, 10);
    EXPECT_CORRUPT(good, 0);
    /* too long */
    memcpy(bad, good, 20);
    bad[20] = 0;
    EXPECT_CORRUPT(bad, 21);
    /* (b) garbage of the right length */
    memset(bad, 0xAB, 20);
    EXPECT_CORRUPT(bad, 20);
    memset(bad, 0, 20);
    EXPECT_CORRUPT(bad, 20);
    /* (c) one flipped byte, anywhere */
    for (int i = 0; i < 20; i++) {
        memcpy(bad, good, 20);
        bad[i] ^= 0x10;
        EXPECT_CORRUPT(bad, 20);
    }
#undef EXPECT_CORRUPT
    /* The good file back: it resumes at 5, so the checks above really read this file. */
    write_file(path, good, 20);
    c = open_cursor(s, named_opts("proj", 4));
    pull_exactly(c, 5, 10);
    transom_canal_free(c);

    /* A valid checkpoint above the store's head (copied from a longer store) is refused. */
    char dir2[256];
    temp_dir(dir2, sizeof dir2);
    transom_store *s2 = open_store(dir2, TRANSOM_SYNC_ALWAYS);
    append_n(s2, 1, 3);
    c = open_cursor(s2, named_opts("proj", 4)); /* creates nothing until a checkpoint */
    transom_canal_free(c);
    char ckdir[512];
    snprintf(ckdir, sizeof ckdir, "%s/checkpoints", dir2);
    CHECK(mkdir(ckdir, 0755) == 0);
    write_file(checkpoint_file(dir2, "proj"), good, 20); /* acked 4 > head 3 */
    expect_open_cursor(s2, named_opts("proj", 4), TRANSOM_ERR_CHECKPOINT_AHEAD);
    append_n(s2, 4, 1);
    c = open_cursor(s2, named_opts("proj", 4));
    nothing_ready(c);
    transom_canal_free(c);
    close_store(s2);
    remove_tree(dir2);

    /* A failing checkpoint write is IO, and the previous checkpoint stays. */
    c = open_cursor(s, named_opts("proj", 4));
    pull_exactly(c, 5, 10);
    CHECK_OK(transom_canal_ack(c, 10));
    /* The temporary file's name taken by a directory: the write fails whoever runs this. */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s/checkpoints/proj.ckpt.tmp", dir);
    CHECK(mkdir(tmp, 0755) == 0);
    CHECK_STATUS(transom_canal_checkpoint(c), TRANSOM_ERR_IO);
    CHECK(read_file(checkpoint_file(dir, "proj"), now, sizeof now) == 20);
    CHECK(memcmp(now, good, 20) == 0);
    CHECK(rmdir(tmp) == 0);
    CHECK_OK(transom_canal_checkpoint(c)); /* and works again once the obstacle is gone */
    CHECK(read_file(checkpoint_file(dir, "proj"), now, sizeof now) == 20 && now[8] == 10);
    transom_canal_free(c);
    close_store(s);
    remove_tree(dir);
}

/* transom_canal_interrupt wakes a pull blocked in another thread; an interrupt before a pull
 * makes the next pull that finds nothing return INTERRUPTED at once; ready items win over a
 * pending interrupt. Cursor and subscription. */
typedef struct {
    transom_canal *canal;
    pthread_barrier_t *latch;
    transom_status got;
    size_t n;
} blocked_t;

static void *blocked_pull(void *arg) {
    blocked_t *b = arg;
    transom_item it[4];
    int rc = pthread_barrier_wait(b->latch);
    CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
    b->n = 99;
    b->got = transom_canal_pull_batch(b->canal, UINT64_MAX, it, 4, &b->n);
    return NULL;
}

static void interrupt_wakes_a_blocked_pull(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    for (int sub = 0; sub < 2; sub++) {
        transom_canal *c = sub ? open_sub(s, 4) : open_cursor(s, cursor_opts(TRANSOM_START_END));
        /* From another thread, while (most likely) parked. */
        pthread_barrier_t latch;
        CHECK(pthread_barrier_init(&latch, NULL, 2) == 0);
        blocked_t b = {c, &latch, 0, 0};
        pthread_t t;
        CHECK(pthread_create(&t, NULL, blocked_pull, &b) == 0);
        int rc = pthread_barrier_wait(&latch);
        CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
        CHECK_OK(transom_canal_interrupt(c));
        CHECK(pthread_join(t, NULL) == 0);
        pthread_barrier_destroy(&latch);
        CHECK_STATUS(b.got, TRANSOM_INTERRUPTED);
        CHECK(b.n == 99);
        /* Consumed: the next pull just times out. */
        nothing_ready(c);

        /* Before the pull: the next pull returns at once (it would otherwise wait 60 s). */
        CHECK_OK(transom_canal_interrupt(c));
        transom_item it[4];
        size_t n = 99;
        CHECK_STATUS(transom_canal_pull_batch(c, 60 * SECOND_NS, it, 4, &n), TRANSOM_INTERRUPTED);
        CHECK(n == 99);
        nothing_ready(c);

        /* Ready items win; the interrupt stays pending for the next pull with nothing. */
        uint64_t head = 0;
        CHECK_OK(transom_store_head(s, &head));
        CHECK_OK(transom_canal_interrupt(c));
        append_n(s, head + 1, 2);
        CHECK_OK(transom_canal_pull_batch(c, 60 * SECOND_NS, it, 4, &n));
        CHECK(n == 2 && it[0].event.sequence == head + 1);
        CHECK_STATUS(transom_canal_pull_batch(c, 60 * SECOND_NS, it, 4, &n), TRANSOM_INTERRUPTED);
        nothing_ready(c);
        transom_canal_free(c);
    }
    close_store(s);
}

/* Pull on a subscription whose store was closed: its items, then CLOSED, repeatedly; a pending
 * interrupt is reported before the close. */
static void pull_after_the_store_closed_subscription(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_canal *sub = open_sub(s, 8);
    append_n(s, 1, 5);
    close_store(s);
    transom_item it[3];
    size_t n = 0;
    CHECK_OK(transom_canal_pull_batch(sub, UINT64_MAX, it, 3, &n));
    CHECK(n == 3 && it[0].event.sequence == 1 && it[2].event.sequence == 3);
    CHECK_OK(transom_canal_pull_batch(sub, UINT64_MAX, it, 3, &n));
    CHECK(n == 2 && it[0].event.sequence == 4 && it[1].event.sequence == 5);
    for (int i = 0; i < 3; i++) {
        n = 99;
        CHECK_STATUS(transom_canal_pull_batch(sub, UINT64_MAX, it, 3, &n), TRANSOM_ERR_CLOSED);
        CHECK(n == 99);
        CHECK_STATUS(transom_canal_pull_batch(sub, 0, it, 3, &n), TRANSOM_ERR_CLOSED);
    }
    CHECK_OK(transom_canal_interrupt(sub));
    CHECK_STATUS(transom_canal_pull_batch(sub, UINT64_MAX, it, 3, &n), TRANSOM_INTERRUPTED);
    CHECK_STATUS(transom_canal_pull_batch(sub, UINT64_MAX, it, 3, &n), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_canal_pull_batch(sub, UINT64_MAX, it, 0, &n), TRANSOM_ERR_INVALID_ARGUMENT);
    transom_canal_free(sub);
}

/* The longest name (240 bytes) leaves room for its files within the 255-byte file-name limit;
 * a longer one is refused up front rather than failing on disk later. */
static void the_longest_name_checkpoints_on_disk(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    append_n(s, 1, 3);
    char name[256];
    memset(name, 'n', sizeof name);
    transom_canal *refused = NULL;
    transom_cursor_options too_long = named_opts(name, 241);
    CHECK_STATUS(transom_canal_open_cursor(s, &too_long, &refused), TRANSOM_ERR_INVALID_ARGUMENT);
    CHECK(refused == NULL);
    for (size_t len = 231; len <= 240; len += 9) {
        transom_canal *c = open_cursor(s, named_opts(name, len));
        pull_exactly(c, 1, 3);
        CHECK_OK(transom_canal_ack(c, 2));
        transom_status st = transom_canal_checkpoint(c);
        if (st != TRANSOM_OK) fprintf(stderr, "checkpoint with a %zu-byte name: %d\n", len, st);
        CHECK_OK(st);
        transom_canal_free(c);
        c = open_cursor(s, named_opts(name, len));
        pull_exactly(c, 3, 3);
        transom_canal_free(c);
    }
    close_store(s);
    remove_tree(dir);
}

/* Pull on a cursor whose store was closed: every event committed before the close, then
 * CLOSED, repeatedly. Closing through transom_store_close (the only close in C) must not lose
 * the cursor's unread committed events (see the report). */
static void pull_after_the_store_closed_cursor(void) {
    for (int on_disk = 0; on_disk < 2; on_disk++) {
        char dir[256];
        temp_dir(dir, sizeof dir);
        transom_store *s = open_store(on_disk ? dir : NULL, TRANSOM_SYNC_ALWAYS);
        append_n(s, 1, 5);
        transom_canal *c = open_cursor(s, cursor_opts(TRANSOM_START_BEGIN));
        transom_item it[3];
        size_t n = 0;
        CHECK_OK(transom_canal_pull_batch(c, 0, it, 2, &n)); /* 1 and 2 read before the close */
        CHECK(n == 2);
        close_store(s);
        transom_status st = transom_canal_pull_batch(c, UINT64_MAX, it, 3, &n);
        if (st != TRANSOM_OK)
            fprintf(stderr, "%s cursor after transom_store_close: %d (%s) with 3 committed events unread\n",
                    on_disk ? "on-disk" : "in-memory", st, transom_status_str(st));
        CHECK_OK(st);
        CHECK(n == 3 && it[0].event.sequence == 3 && it[2].event.sequence == 5);
        for (int i = 0; i < 3; i++) {
            n = 99;
            CHECK_STATUS(transom_canal_pull_batch(c, UINT64_MAX, it, 3, &n), TRANSOM_ERR_CLOSED);
            CHECK(n == 99);
        }
        transom_canal_free(c);
        remove_tree(dir);
    }
}

int main(void) {
    RUN(null_arguments_are_refused_for_every_pointer);
    RUN(cap_zero_is_an_invalid_argument);
    RUN(bad_options_get_exact_codes);
    RUN(checkpoint_names_are_validated);
    RUN(a_name_is_held_by_one_open_cursor_per_store);
    RUN(acks_outside_the_delivered_range_are_refused);
    RUN(damaged_checkpoint_files_are_corrupt_never_a_restart);
    RUN(interrupt_wakes_a_blocked_pull);
    RUN(pull_after_the_store_closed_subscription);
    /* Last: these pin library bugs (see the report). */
    RUN(the_longest_name_checkpoints_on_disk);
    RUN(pull_after_the_store_closed_cursor);
    return 0;
}
