/* tour.c - a narrated walk through transom from C.
 *
 * Run it with `cargo run --example tour`, or build it yourself:
 *   cc -std=c11 tour.c $(pkg-config --cflags --libs transom) -lpthread
 * Every call's status is checked; the tour stops at the first surprise.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "transom.h"

static void must(transom_status st, const char *what) {
    if (st == TRANSOM_OK) return;
    char detail[256];
    size_t len = 0;
    transom_last_error(detail, sizeof detail, &len);
    fprintf(stderr, "tour: %s failed: %s (%s)\n", what, transom_status_str(st), detail);
    exit(1);
}

static void expect(transom_status st, transom_status want, const char *what) {
    if (st != want) {
        fprintf(stderr, "tour: %s returned %s, expected %s\n", what, transom_status_str(st),
                transom_status_str(want));
        exit(1);
    }
    printf("    %-44s -> %s\n", what, transom_status_str(st));
}

/* ---------------------------------------------------------------- managers */

typedef struct {
    transom_manager *m;
    int id;
    long stored;
} producer_arg;

static void *produce(void *p) {
    producer_arg *a = p;
    transom_header h;
    transom_header_init(&h);
    h.trace_id = (uint64_t)a->id;
    for (int i = 0; i < 10000; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "worker %d message %d", a->id, i);
        transom_token t;
        must(transom_manager_store(a->m, &h, (const uint8_t *)msg, (size_t)n, &t), "store");
        transom_read_view v;
        must(transom_manager_read(a->m, t, &v), "read");
        if (v.len != (size_t)n || memcmp(v.payload, msg, (size_t)n) != 0) {
            fprintf(stderr, "tour: payload mismatch\n");
            exit(1);
        }
        must(transom_manager_release(a->m, t), "release");
        must(transom_manager_remove(a->m, t), "remove");
        a->stored++;
    }
    return NULL;
}

static void tour_managers(void) {
    printf("\n== 1. Slot memory managers ==\n");
    printf("A manager owns a fixed number of slots. You store a message (a header + payload\n"
           "bytes) and get a token back: a 128-bit value you can copy, queue and hand to any\n"
           "thread. Tokens are checked on every use, so a stale one is refused, never honoured.\n\n");

    transom_manager_config cfg = {0};
    cfg.kind = TRANSOM_MANAGER_CONCURRENT;
    cfg.capacity = 8;
    cfg.slot_size = 64;
    cfg.memory_class.kind = TRANSOM_MEMORY_HOST;
    transom_manager *m = NULL;
    must(transom_manager_new(&cfg, &m), "transom_manager_new");
    printf("  Created a CONCURRENT manager: 8 slots of 64 bytes.\n");

    transom_header h;
    transom_header_init(&h);
    h.trace_id = 0xC0FFEE;
    h.qos = TRANSOM_QOS_LATENCY_CRITICAL;
    const char *greeting = "hello from the tour";
    transom_token t;
    must(transom_manager_store(m, &h, (const uint8_t *)greeting, strlen(greeting), &t), "store");
    printf("  Stored \"%s\" -> token {key %llu, slot 0x%016llx}\n", greeting,
           (unsigned long long)t.key, (unsigned long long)t.slot);

    transom_read_view v;
    must(transom_manager_read(m, t, &v), "read");
    printf("  Read it back through a view: \"%.*s\" (%zu bytes, trace 0x%llx, qos %u)\n",
           (int)v.len, (const char *)v.payload, v.len, (unsigned long long)v.header->trace_id,
           v.header->qos);
    printf("  While a view is out, the slot cannot be freed (no blocking, just an answer):\n");
    expect(transom_manager_remove(m, t), TRANSOM_ERR_BORROWED, "remove(token) with a view out");
    must(transom_manager_release(m, t), "release");
    must(transom_manager_remove(m, t), "remove");
    printf("  Released the view and freed the slot. The old token is now stale:\n");
    expect(transom_manager_read(m, t, &v), TRANSOM_ERR_STALE_TOKEN, "read(old token)");
    transom_token zero = {0};
    expect(transom_manager_read(m, zero, &v), TRANSOM_ERR_BAD_TOKEN, "read(token {0, 0})");

    printf("\n  Zero-copy ingest: reserve a slot, write into it, commit.\n");
    uint8_t *p = NULL;
    must(transom_manager_reserve(m, 11, &t, &p), "reserve");
    memcpy(p, "zero-copied", 11);
    expect(transom_manager_read(m, t, &v), TRANSOM_ERR_WRONG_STATE, "read before commit (invisible)");
    must(transom_manager_commit(m, t, &h), "commit");
    char out[64];
    size_t n = 0;
    must(transom_manager_take(m, t, (uint8_t *)out, sizeof out, &n), "take");
    printf("  Committed, then take() copied out \"%.*s\" and freed the slot in one step.\n",
           (int)n, out);

    printf("\n  Four threads now store, read and free 10,000 messages each, concurrently...\n");
    pthread_t th[4];
    producer_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (producer_arg){m, i, 0};
        pthread_create(&th[i], NULL, produce, &args[i]);
    }
    long total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += args[i].stored;
    }
    transom_memory_stats s;
    must(transom_manager_stats(m, &s), "stats");
    size_t avail = 0;
    must(transom_manager_available(m, &avail), "available");
    printf("  Done: %ld round trips; %zu of 8 slots free again; high water %zu.\n", total, avail,
           s.high_water);

    printf("\n  STATIC managers live in memory you provide (stack, shared memory, a DMA region):\n");
    size_t need = 0;
    must(transom_manager_required_bytes(4, 32, &need), "required_bytes");
    static unsigned char arena[4096];
    transom_manager_config scfg = {0};
    scfg.kind = TRANSOM_MANAGER_STATIC;
    scfg.capacity = 4;
    scfg.slot_size = 32;
    scfg.storage = arena;
    scfg.storage_len = sizeof arena;
    transom_manager *sm = NULL;
    must(transom_manager_new(&scfg, &sm), "transom_manager_new(STATIC)");
    must(transom_manager_store(sm, &h, (const uint8_t *)"in your arena", 13, &t), "store");
    must(transom_manager_read(sm, t, &v), "read");
    printf("  4 slots of 32 bytes need %zu bytes; the payload sits at offset %td of the arena.\n",
           need, (const unsigned char *)v.payload - arena);
    must(transom_manager_release(sm, t), "release");
    transom_manager_free(sm);
    transom_manager_free(m);
}

/* ----------------------------------------------------------- conversations */

typedef struct {
    transom_runtime *rt;
    const char *name;
} participant_ctx;

/* A participant on the runtime's workers: answers requests; bob crashes on "divide by zero". */
static int32_t calculator(void *ctx, transom_pid self, const transom_message *m) {
    participant_ctx *p = ctx;
    transom_request req;
    if (transom_conversation_parse_request(m, &req) != TRANSOM_OK) return 0;
    if (strcmp(p->name, "bob") == 0 && req.payload_len == 14 && memcmp(req.payload, "divide by zero", 14) == 0) {
        printf("    [%s] got \"divide by zero\" - returning status 22 (this crashes it)\n", p->name);
        return 22;
    }
    char answer[64];
    int n = snprintf(answer, sizeof answer, "%s says: %.*s = 42", p->name, (int)req.payload_len,
                     (const char *)req.payload);
    return transom_conversation_reply(p->rt, self, m->from, req.request_id, (const uint8_t *)answer, (size_t)n);
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int crashes;
} narrator;

static void narrate_crash(void *ctx, const transom_crash_info *info) {
    narrator *n = ctx;
    printf("    crash callback (on a runtime thread): participant %llu died: kind %d, code %d,\n"
           "      message \"%s\"; policy %s applied\n",
           (unsigned long long)info->participant, info->reason.kind, info->reason.code,
           info->reason.message, info->policy == TRANSOM_ON_CRASH_ROUTE_TO_NEXT ? "ROUTE_TO_NEXT" : "other");
    pthread_mutex_lock(&n->mu);
    n->crashes++;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

static void tour_conversations(void) {
    printf("\n== 2. Supervised conversations ==\n");
    printf("A conversation is an actor linked to its participants. When one crashes, the crash\n"
           "reaches you as data through a callback (never a hang), and the crash policy decides\n"
           "what happens to the requests it had in flight.\n\n");
    transom_runtime *rt;
    must(transom_runtime_new(2, &rt), "transom_runtime_new");
    static participant_ctx alice, bob;
    alice = (participant_ctx){rt, "alice"};
    bob = (participant_ctx){rt, "bob"};
    transom_participant ps[2];
    memset(ps, 0, sizeof ps);
    ps[0].behaviour.ctx = &alice;
    ps[0].behaviour.call = calculator;
    ps[1].behaviour.ctx = &bob;
    ps[1].behaviour.call = calculator;
    transom_conversation_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.participants = ps;
    cfg.participant_count = 2;
    cfg.on_crash = TRANSOM_ON_CRASH_ROUTE_TO_NEXT;
    transom_conversation *c;
    must(transom_conversation_open(rt, &cfg, &c), "transom_conversation_open");
    static narrator n = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    transom_crash_callback cb = {&n, narrate_crash, NULL};
    uint64_t callback_id;
    must(transom_conversation_add_crash_callback(c, cb, &callback_id), "transom_conversation_add_crash_callback");
    printf("  Opened a conversation with two participants (alice, bob), policy ROUTE_TO_NEXT,\n"
           "  and added crash callback %llu.\n", (unsigned long long)callback_id);

    transom_reply r;
    char buf[128];
    size_t len;
    uint64_t id;
    must(transom_conversation_send(c, 0, (const uint8_t *)"6 * 7", 5, &id), "send");
    must(transom_conversation_receive(c, 5000000000ull, &r, (uint8_t *)buf, sizeof buf, &len), "receive");
    printf("  Request %llu \"6 * 7\" -> \"%.*s\"\n", (unsigned long long)id, (int)len, buf);

    printf("  Now a request that makes bob crash:\n");
    must(transom_conversation_send(c, 0, (const uint8_t *)"divide by zero", 14, &id), "send");
    pthread_mutex_lock(&n.mu);
    while (n.crashes < 1) pthread_cond_wait(&n.cv, &n.mu);
    pthread_mutex_unlock(&n.mu);
    transom_crash_info info;
    must(transom_conversation_await_crash(c, 5000000000ull, &info), "await_crash");
    printf("  await_crash() saw the same crash (participant %llu, code %d).\n",
           (unsigned long long)info.participant, info.reason.code);
    must(transom_conversation_receive(c, 5000000000ull, &r, (uint8_t *)buf, sizeof buf, &len), "receive");
    printf("  ROUTE_TO_NEXT re-sent bob's in-flight request %llu to alice: \"%.*s\"\n",
           (unsigned long long)r.request_id, (int)len, buf);
    printf("  A reply can only answer a request the conversation still awaits: answering request %llu\n"
           "  again gives %s.\n",
           (unsigned long long)r.request_id,
           transom_status_str(transom_conversation_reply(rt, 0, info.conversation, r.request_id, NULL, 0)));
    printf("  The conversation goes on with the survivor:\n");
    must(transom_conversation_send(c, 0, (const uint8_t *)"1 + 41", 6, &id), "send");
    must(transom_conversation_receive(c, 5000000000ull, &r, (uint8_t *)buf, sizeof buf, &len), "receive");
    printf("  Request %llu \"1 + 41\" -> \"%.*s\"\n", (unsigned long long)id, (int)len, buf);
    must(transom_conversation_remove_crash_callback(c, callback_id), "transom_conversation_remove_crash_callback");
    printf("  Removed the crash callback: it is never called again.\n");

    transom_conversation_snapshot st;
    must(transom_conversation_state(c, &st), "state");
    printf("  State: sent %llu, received %llu, crashed %llu; trace %s\n", (unsigned long long)st.sent,
           (unsigned long long)st.received, (unsigned long long)st.crashed, st.traceparent);
    must(transom_conversation_close(c), "close");
    transom_conversation_free(c);
    transom_runtime_free(rt);
    printf("  Closed the conversation and shut the runtime down: every process and callback is gone.\n");
}

/* ---------------------------------------------------------- store + canals */

typedef struct {
    transom_store *s;
    const char *stream;
    int count;
} appender;

static void *append_orders(void *arg) {
    appender *a = arg;
    for (int i = 0; i < a->count; i++) {
        char payload[32];
        int n = snprintf(payload, sizeof payload, "%s order %d", a->stream, i);
        transom_append ev;
        memset(&ev, 0, sizeof ev);
        ev.stream = a->stream;
        ev.stream_len = strlen(a->stream);
        ev.kind = 1;
        ev.payload = (const uint8_t *)payload;
        ev.payload_len = (size_t)n;
        must(transom_store_append(a->s, &ev, NULL), "append");
    }
    return NULL;
}

static int32_t no_refunds(void *ctx, const transom_gate_event *e, char *reason, size_t cap) {
    (void)ctx;
    if (e->kind == 99) {
        snprintf(reason, cap, "refunds are closed today");
        return 403;
    }
    return 0;
}

typedef struct {
    long events;
    uint64_t last;
} tally;

static int32_t count_batch(void *ctx, const transom_item *items, size_t count) {
    tally *t = ctx;
    for (size_t i = 0; i < count; i++) {
        if (items[i].kind == TRANSOM_ITEM_EVENT) {
            t->events++;
            t->last = items[i].event.sequence;
        }
    }
    return TRANSOM_WORKER_CONTINUE;
}

static void append_metrics(const transom_store *s, int count) {
    for (int i = 0; i < count; i++) {
        transom_append ev;
        memset(&ev, 0, sizeof ev);
        ev.stream = "metrics";
        ev.stream_len = 7;
        ev.payload = (const uint8_t *)"cpu=42";
        ev.payload_len = 6;
        must(transom_store_append(s, &ev, NULL), "append");
    }
}

/* Runs `transom-store <command> <dir>` and shows its output and exit status. The tool is the
 * one named by TRANSOM_STORE_TOOL (`cargo run --example tour` builds it and sets that), else
 * `transom-store` on PATH (installed with the library). */
static void run_tool(const char *command, const char *dir) {
    const char *tool = getenv("TRANSOM_STORE_TOOL");
    if (!tool || !*tool) tool = "transom-store";
    printf("  $ transom-store %s %s\n", command, dir);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        execlp(tool, "transom-store", command, dir, (char *)NULL);
        fprintf(stderr, "tour: cannot run %s: %s (install transom-store with the library, or set "
                        "TRANSOM_STORE_TOOL to its path)\n", tool, strerror(errno));
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) == 127) {
        fprintf(stderr, "tour: transom-store %s did not run\n", command);
        exit(1);
    }
    printf("    -> exit code %d\n", WEXITSTATUS(status));
}

/* Flips one byte in the middle of the oldest segment (a sealed one) of the store in `dir`. */
static void damage_first_segment(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        perror("opendir");
        exit(1);
    }
    char oldest[64] = "";
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l == 24 && strcmp(e->d_name + 20, ".seg") == 0 && (!*oldest || strcmp(e->d_name, oldest) < 0))
            memcpy(oldest, e->d_name, l + 1);
    }
    closedir(d);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, oldest);
    FILE *f = fopen(path, "r+b");
    if (!*oldest || !f) {
        fprintf(stderr, "tour: no segment to damage in %s\n", dir);
        exit(1);
    }
    fseek(f, 2048, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 2048, SEEK_SET);
    fputc(c ^ 0x40, f);
    fclose(f);
}

static void tour_store(void) {
    printf("\n== 3. The event store and canals ==\n");
    printf("An append-only store with dense sequences (never renumbered), gates that can veto an\n"
           "append, and canals: consumers that pull batches across threads and can resume from\n"
           "a durable checkpoint.\n\n");
    char dir[] = "/tmp/transom-tour-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dir;
    cfg.dir_len = strlen(dir);
    cfg.sync = TRANSOM_SYNC_NEVER; /* the tour favours speed; ALWAYS is the default */
    transom_store *s;
    must(transom_store_open(&cfg, &s), "transom_store_open");
    printf("  Opened a store in %s.\n", dir);

    transom_gate_callback gate = {NULL, no_refunds, NULL};
    uint64_t gate_id;
    must(transom_store_add_gate(s, gate, &gate_id), "add_gate");
    transom_append refund;
    memset(&refund, 0, sizeof refund);
    refund.stream = "orders-eu";
    refund.stream_len = 9;
    refund.kind = 99;
    refund.payload = (const uint8_t *)"refund 10 EUR";
    refund.payload_len = 13;
    transom_status st = transom_store_append(s, &refund, NULL);
    int64_t code = 0;
    transom_last_error_value(&code);
    char why[256];
    size_t len;
    transom_last_error(why, sizeof why, &len);
    printf("  A gate vetoes refunds: append -> %s, gate code %lld (%s)\n", transom_status_str(st),
           (long long)code, why);

    transom_cursor_options co;
    memset(&co, 0, sizeof co);
    co.start = TRANSOM_START_NAMED;
    co.name = "tour-reader";
    co.name_len = strlen(co.name);
    transom_canal *cursor;
    must(transom_canal_open_cursor(s, &co, &cursor), "open_cursor");

    transom_canal *for_worker;
    transom_cursor_options wo;
    memset(&wo, 0, sizeof wo);
    wo.start = TRANSOM_START_BEGIN;
    must(transom_canal_open_cursor(s, &wo, &for_worker), "open_cursor");
    static tally t;
    transom_batch_callback cb = {&t, count_batch, NULL};
    transom_worker *worker;
    must(transom_canal_spawn_worker(for_worker, cb, NULL, &worker), "spawn_worker");
    transom_canal_free(for_worker); /* the worker owns the canal now; release the handle */

    printf("  Two threads append 1,000 orders each while a worker thread pulls batches...\n");
    appender eu = {s, "orders-eu", 1000}, us = {s, "orders-us", 1000};
    pthread_t a, b;
    pthread_create(&a, NULL, append_orders, &eu);
    pthread_create(&b, NULL, append_orders, &us);
    pthread_join(a, NULL);
    pthread_join(b, NULL);

    transom_item items[256];
    size_t n = 0;
    long seen = 0;
    uint64_t half = 0;
    while (seen < 1000) {
        must(transom_canal_pull_batch(cursor, 5000000000ull, items, 256, &n), "pull_batch");
        seen += (long)n;
        half = items[n - 1].event.sequence;
    }
    must(transom_canal_ack(cursor, half), "ack");
    must(transom_canal_checkpoint(cursor), "checkpoint");
    printf("  The named cursor read %ld events in batches, acked up to sequence %llu and\n"
           "  checkpointed (fsynced file, atomic rename).\n",
           seen, (unsigned long long)half);
    transom_canal_free(cursor);

    transom_worker_exit exit_kind = -1;
    uint64_t head = 0;
    must(transom_store_head(s, &head), "head");
    /* Closing the store ends the worker once it has handled every event; the handle stays
     * valid (later calls return TRANSOM_ERR_CLOSED) until it is freed. */
    must(transom_store_close(s), "close");
    must(transom_worker_join(worker, 5000000000ull, &exit_kind), "worker_join");
    printf("  Closed the store: the worker handled all %ld events, then ended (%s).\n", t.events,
           exit_kind == TRANSOM_WORKER_EXIT_CLOSED ? "canal closed" : "unexpected exit");
    transom_worker_free(worker);
    transom_store_free(s);

    must(transom_store_open(&cfg, &s), "reopen");
    must(transom_canal_open_cursor(s, &co, &cursor), "reopen cursor");
    must(transom_canal_pull_batch(cursor, 5000000000ull, items, 1, &n), "pull_batch");
    printf("  Reopened store and cursor by name: delivery resumes at sequence %llu, right after\n"
           "  the checkpoint (%llu of %llu events left to read).\n",
           (unsigned long long)items[0].event.sequence, (unsigned long long)(head - half),
           (unsigned long long)head);
    transom_canal_free(cursor);
    transom_store_statistics stats;
    must(transom_store_stats(s, &stats), "stats");
    printf("  The reopen read %llu frames: a clean close records the log in its MANIFEST and indexes\n"
           "  (%llu events in %llu segment(s), %llu bytes on disk, %llu bytes of heap).\n",
           (unsigned long long)stats.frames_scanned_at_open, (unsigned long long)stats.events,
           (unsigned long long)stats.segments, (unsigned long long)stats.bytes_on_disk,
           (unsigned long long)stats.heap_bytes);
    must(transom_store_close(s), "close");
    transom_store_free(s);

    /* Retention: a log that keeps about 16 KiB in 4 KiB segments. */
    char rdir[sizeof dir + 16];
    snprintf(rdir, sizeof rdir, "%s/retained", dir);
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = rdir;
    cfg.dir_len = strlen(rdir);
    cfg.sync = TRANSOM_SYNC_NEVER;
    cfg.segment_size = 4096;
    cfg.retention_bytes = 16 * 1024;
    must(transom_store_open(&cfg, &s), "open with retention");
    append_metrics(s, 10);
    transom_cursor_options dash;
    memset(&dash, 0, sizeof dash);
    dash.start = TRANSOM_START_NAMED;
    dash.name = "dashboard";
    dash.name_len = strlen(dash.name);
    must(transom_canal_open_cursor(s, &dash, &cursor), "open_cursor(dashboard)");
    must(transom_canal_pull_batch(cursor, 0, items, 256, &n), "pull_batch");
    must(transom_canal_ack(cursor, items[n - 1].event.sequence), "ack");
    must(transom_canal_checkpoint(cursor), "checkpoint");
    transom_canal_free(cursor);
    append_metrics(s, 1990);
    must(transom_store_stats(s, &stats), "stats");
    printf("\n  Retention: 2,000 events into 4 KiB segments with retention_bytes = 16 KiB keep\n"
           "  %llu segments (%llu bytes): sequences %llu..%llu. Whole old segments go; nothing is\n"
           "  renumbered.\n",
           (unsigned long long)stats.segments, (unsigned long long)stats.bytes_on_disk,
           (unsigned long long)stats.first_sequence, (unsigned long long)stats.last_sequence);
    transom_event ev1[1];
    transom_event_buffer one;
    memset(&one, 0, sizeof one);
    one.events = ev1;
    one.cap = 1;
    transom_status rs = transom_store_read_sequence(s, 1, &one);
    int64_t first_kept = 0;
    transom_last_error_value(&first_kept);
    printf("  Reading sequence 1 now: %s (the log starts at %lld), not NOT_FOUND.\n",
           transom_status_str(rs), (long long)first_kept);
    uint64_t kept = 0;
    must(transom_store_truncate(s, stats.last_sequence - 100, &kept), "truncate");
    printf("  transom_store_truncate(store, %llu) removed the sealed segments below it: the first\n"
           "  retained sequence is %llu.\n",
           (unsigned long long)(stats.last_sequence - 100), (unsigned long long)kept);
    /* The dashboard checkpointed at 10, long since removed: it resumes with a GAP item. */
    must(transom_canal_open_cursor(s, &dash, &cursor), "reopen cursor(dashboard)");
    must(transom_canal_pull_batch(cursor, 0, items, 2, &n), "pull_batch");
    if (n != 2 || items[0].kind != TRANSOM_ITEM_GAP || items[1].kind != TRANSOM_ITEM_EVENT) {
        fprintf(stderr, "tour: expected a gap item, then an event\n");
        exit(1);
    }
    printf("  The cursor \"dashboard\" had checkpointed at 10. Reopened, its first item is\n"
           "  TRANSOM_ITEM_GAP {%llu..%llu, %llu events} - the removed range, in band, never a\n"
           "  silent skip - and then event %llu. Its ack and checkpoint move it past the gap.\n",
           (unsigned long long)items[0].gap_from, (unsigned long long)items[0].gap_to,
           (unsigned long long)items[0].gap_count, (unsigned long long)items[1].event.sequence);
    must(transom_canal_ack(cursor, items[1].event.sequence), "ack");
    must(transom_canal_checkpoint(cursor), "checkpoint");
    transom_canal_free(cursor);
    must(transom_store_close(s), "close");
    transom_store_free(s);

    printf("\n  transom-store, the tool installed with the library, inspects a store directory\n"
           "  (closed, or at least not open elsewhere: it takes the directory's lock):\n");
    run_tool("verify", rdir);
    run_tool("info", rdir);
    damage_first_segment(rdir);
    printf("  Now one byte in the oldest segment is flipped. verify finds it (exit code 1):\n");
    run_tool("verify", rdir);
    transom_store *broken = NULL;
    must(transom_store_open(&cfg, &broken), "reopen the damaged store");
    static transom_event page[256];
    static uint8_t arena[1 << 16];
    transom_event_buffer all;
    memset(&all, 0, sizeof all);
    all.events = page;
    all.cap = 256;
    all.arena = arena;
    all.arena_cap = sizeof arena;
    printf("  The store still opens (a clean reopen reads no sealed frame), but reading across the\n"
           "  damage is refused, never skipped:\n");
    expect(transom_store_read_sequence(broken, 0, &all), TRANSOM_ERR_CORRUPT, "transom_store_read_sequence");
    int64_t offset = -1;
    transom_last_error_value(&offset);
    transom_last_error(why, sizeof why, &len);
    printf("    %s\n    (byte offset %lld, from transom_last_error_value)\n", why, (long long)offset);
    must(transom_store_close(broken), "close");
    transom_store_free(broken);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "tour: could not remove %s\n", dir);
}

int main(void) {
    printf("transom %s (header %s) - a tour\n", TRANSOM_VERSION_STRING,
           transom_version() == TRANSOM_VERSION ? "matches the library" : "MISMATCH");
    tour_managers();
    tour_conversations();
    tour_store();
    printf("\nEnd of the tour.\n");
    return 0;
}
