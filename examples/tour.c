/* tour.c - a narrated walk through transom from C.
 *
 * Run it with `cargo run --example tour`, or build it yourself:
 *   cc -std=c11 tour.c $(pkg-config --cflags --libs transom) -lpthread
 * Every call's status is checked; the tour stops at the first surprise.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
           "bytes) and get a token back: a 64-bit value you can copy, queue and hand to any\n"
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
    printf("  Stored \"%s\" -> token 0x%016llx\n", greeting, (unsigned long long)t.bits);

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
    expect(transom_manager_read(m, zero, &v), TRANSOM_ERR_BAD_TOKEN, "read(token 0)");

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
    if (transom_request_parse(m, &req) != TRANSOM_OK) return 0;
    if (strcmp(p->name, "bob") == 0 && req.payload_len == 14 && memcmp(req.payload, "divide by zero", 14) == 0) {
        printf("    [%s] got \"divide by zero\" - returning status 22 (this crashes it)\n", p->name);
        return 22;
    }
    char answer[64];
    int n = snprintf(answer, sizeof answer, "%s says: %.*s = 42", p->name, (int)req.payload_len,
                     (const char *)req.payload);
    return transom_runtime_reply(p->rt, self, m->from, req.request_id, (const uint8_t *)answer, (size_t)n);
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int crashes;
} narrator;

static void narrate_crash(void *ctx, const transom_crash_info *info) {
    narrator *n = ctx;
    printf("    on_crash callback (on a runtime thread): participant %llu died: kind %d, code %d,\n"
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
    ps[0].behaviour.handle = calculator;
    ps[1].behaviour.ctx = &bob;
    ps[1].behaviour.handle = calculator;
    transom_conversation_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.participants = ps;
    cfg.participant_count = 2;
    cfg.on_crash = TRANSOM_ON_CRASH_ROUTE_TO_NEXT;
    transom_conversation *c;
    must(transom_conversation_open(rt, &cfg, &c), "transom_conversation_open");
    static narrator n = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    transom_crash_callback cb = {&n, narrate_crash, NULL};
    must(transom_conversation_on_crash(c, cb), "transom_conversation_on_crash");
    printf("  Opened a conversation with two participants (alice, bob), policy ROUTE_TO_NEXT.\n");

    transom_reply r;
    char buf[128];
    uint64_t id;
    must(transom_conversation_send(c, 0, (const uint8_t *)"6 * 7", 5, &id), "send");
    must(transom_conversation_receive(c, 5000000000ull, &r, (uint8_t *)buf, sizeof buf), "receive");
    printf("  Request %llu \"6 * 7\" -> \"%.*s\"\n", (unsigned long long)id, (int)r.len, buf);

    printf("  Now a request that makes bob crash:\n");
    must(transom_conversation_send(c, 0, (const uint8_t *)"divide by zero", 14, &id), "send");
    pthread_mutex_lock(&n.mu);
    while (n.crashes < 1) pthread_cond_wait(&n.cv, &n.mu);
    pthread_mutex_unlock(&n.mu);
    transom_crash_info info;
    must(transom_conversation_await_crash(c, 5000000000ull, &info), "await_crash");
    printf("  await_crash() saw the same crash (participant %llu, code %d).\n",
           (unsigned long long)info.participant, info.reason.code);
    must(transom_conversation_receive(c, 5000000000ull, &r, (uint8_t *)buf, sizeof buf), "receive");
    printf("  ROUTE_TO_NEXT re-sent bob's in-flight request %llu to alice: \"%.*s\"\n",
           (unsigned long long)r.request_id, (int)r.len, buf);
    printf("  The conversation goes on with the survivor:\n");
    must(transom_conversation_send(c, 0, (const uint8_t *)"1 + 41", 6, &id), "send");
    must(transom_conversation_receive(c, 5000000000ull, &r, (uint8_t *)buf, sizeof buf), "receive");
    printf("  Request %llu \"1 + 41\" -> \"%.*s\"\n", (unsigned long long)id, (int)r.len, buf);

    transom_conversation_snapshot st;
    memset(&st, 0, sizeof st);
    must(transom_conversation_state(c, &st), "state");
    printf("  State: sent %llu, received %llu, crashed %llu; trace %s\n", (unsigned long long)st.sent,
           (unsigned long long)st.received, (unsigned long long)st.crashed, st.traceparent);
    must(transom_conversation_close(c), "close");
    transom_conversation_free(c);
    transom_runtime_free(rt);
    printf("  Closed the conversation and shut the runtime down: every process and callback is gone.\n");
}

int main(void) {
    printf("transom %s (header %s) - a tour\n", TRANSOM_VERSION_STRING,
           transom_version() == TRANSOM_VERSION ? "matches the library" : "MISMATCH");
    tour_managers();
    tour_conversations();
    printf("\nEnd of the tour.\n");
    return 0;
}
