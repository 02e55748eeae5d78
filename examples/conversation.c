/* conversation.c - a supervised conversation in ~85 lines.
 *
 * Two participants answer requests; one of them crashes. The crash reaches us through a
 * callback, and the ROUTE_TO_NEXT policy hands its unanswered request to the survivor.
 *
 *   cc -std=c11 conversation.c $(pkg-config --cflags --libs transom) -lpthread
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <transom.h>

static transom_runtime *rt;

static void check(transom_status st, const char *what) {
    if (st == TRANSOM_OK) return;
    char detail[256];
    size_t n;
    transom_last_error(detail, sizeof detail, &n);
    fprintf(stderr, "%s: %s (%s)\n", what, transom_status_str(st), detail);
    exit(1);
}

/* A participant: echoes each request in upper case; "crash" makes the fragile one fail. */
static int32_t shout(void *ctx, transom_pid self, const transom_message *m) {
    int fragile = ctx != NULL;
    transom_request req;
    if (transom_conversation_parse_request(m, &req) != TRANSOM_OK) return 0; /* not a request */
    if (fragile && req.payload_len == 5 && memcmp(req.payload, "crash", 5) == 0) return 42;
    char out[64];
    size_t n = req.payload_len < sizeof out ? req.payload_len : sizeof out;
    for (size_t i = 0; i < n; i++) out[i] = (char)(req.payload[i] >= 'a' && req.payload[i] <= 'z' ? req.payload[i] - 32 : req.payload[i]);
    return transom_conversation_reply(rt, self, m->from, req.request_id, (const uint8_t *)out, n);
}

static void on_crash(void *ctx, const transom_crash_info *info) {
    (void)ctx;
    printf("crash: participant %llu exited (kind %d, code %d)\n", (unsigned long long)info->participant,
           info->reason.kind, info->reason.code);
}

int main(void) {
    check(transom_runtime_new(2, &rt), "runtime");
    static int fragile_marker;
    transom_participant ps[2];
    memset(ps, 0, sizeof ps);
    ps[0].behaviour = (transom_behaviour_callback){NULL, shout, NULL};
    ps[1].behaviour = (transom_behaviour_callback){&fragile_marker, shout, NULL};
    transom_conversation_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.participants = ps;
    cfg.participant_count = 2;
    cfg.on_crash = TRANSOM_ON_CRASH_ROUTE_TO_NEXT;
    transom_conversation *c;
    check(transom_conversation_open(rt, &cfg, &c), "open");
    uint64_t callback_id;
    check(transom_conversation_add_crash_callback(c, (transom_crash_callback){NULL, on_crash, NULL}, &callback_id),
          "add_crash_callback");

    const char *requests[] = {"hello", "crash", "still there?"};
    for (int i = 0; i < 3; i++) {
        check(transom_conversation_send(c, 0, (const uint8_t *)requests[i], strlen(requests[i]), NULL), "send");
        transom_reply r;
        char buf[64];
        size_t len;
        check(transom_conversation_receive(c, 5000000000ull, &r, (uint8_t *)buf, sizeof buf, &len), "receive");
        printf("request %llu -> %.*s\n", (unsigned long long)r.request_id, (int)len, buf);
    }
    transom_crash_info info;
    check(transom_conversation_await_crash(c, 5000000000ull, &info), "await_crash");
    check(transom_conversation_remove_crash_callback(c, callback_id), "remove_crash_callback");
    transom_conversation_free(c);
    transom_runtime_free(rt);
    return 0;
}
