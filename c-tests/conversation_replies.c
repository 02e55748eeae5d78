/* Replies never vanish silently: transom_conversation_reply and _reply_from_mailbox check,
 * before sending, that the conversation still awaits the request — an unknown or already
 * answered id is TRANSOM_ERR_NOT_FOUND (with a detail), an ended conversation gives its ending,
 * a freed one NOPROC — while a reply to a live request is delivered, in order. And the order the
 * header documents between buffered replies and TRANSOM_ERR_DEADLINE_EXCEEDED.
 *
 * No sleeps: waits are transom calls with timeouts (bounded loops of them where a state change
 * happens on the conversation's worker). */
#include "actor_support.h"

static void last_error_contains(const char *what) {
    char detail[256];
    size_t len = 0;
    CHECK_OK(transom_last_error(detail, sizeof detail, &len));
    if (strstr(detail, what) == NULL) fprintf(stderr, "last error: %s\n", detail);
    CHECK(strstr(detail, what) != NULL);
}

static transom_conversation *open_over(transom_runtime *rt, const transom_pid *pids, size_t n,
                                       transom_on_crash policy, uint64_t timeout_ns) {
    transom_participant ps[2];
    memset(ps, 0, sizeof ps);
    for (size_t i = 0; i < n; i++) ps[i].pid = pids[i];
    transom_conversation_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.participants = ps;
    cfg.participant_count = n;
    cfg.on_crash = policy;
    cfg.timeout_ns = timeout_ns;
    transom_conversation *c = NULL;
    CHECK_OK(transom_conversation_open(rt, &cfg, &c));
    return c;
}

/* The next request `mb` receives. */
static transom_request next_request(transom_mailbox *mb, transom_pid *from) {
    transom_message m;
    CHECK_OK(transom_mailbox_receive(mb, 10 * SECOND_NS, &m));
    transom_request req;
    CHECK_OK(transom_conversation_parse_request(&m, &req));
    *from = m.from;
    return req;
}

/* Waits (bounded, through transom's own timed waits) until `c` has `n` replies buffered. */
static void wait_buffered(transom_conversation *c, size_t n) {
    transom_conversation_snapshot st;
    for (int i = 0; i < 10000; i++) {
        CHECK_OK(transom_conversation_state(c, &st));
        if (st.buffered >= n) return;
        transom_crash_info ignored;
        CHECK_STATUS(transom_conversation_await_crash(c, 1000000ull, &ignored), TRANSOM_TIMEOUT);
    }
    CHECK(st.buffered >= n);
}

static void a_reply_to_an_unknown_or_answered_request_is_not_found(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    transom_mailbox *mb;
    transom_pid pid;
    CHECK_OK(transom_mailbox_open(rt, NULL, &mb, &pid));
    transom_conversation *c = open_over(rt, &pid, 1, TRANSOM_ON_CRASH_FAIL, 0);
    transom_pid conv = 0;
    CHECK_OK(transom_conversation_pid(c, &conv));

    /* Before any request: nothing is awaited. */
    CHECK_STATUS(transom_conversation_reply_from_mailbox(mb, conv, 1, (const uint8_t *)"x", 1),
                 TRANSOM_ERR_NOT_FOUND);
    char want[96];
    snprintf(want, sizeof want, "conversation %llu awaits no request with id 1", (unsigned long long)conv);
    last_error_contains(want);

    uint64_t id = 0;
    CHECK_OK(transom_conversation_send(c, 0, (const uint8_t *)"q", 1, &id));
    transom_pid from = 0;
    transom_request req = next_request(mb, &from);
    CHECK(from == conv && req.request_id == id);
    CHECK_STATUS(transom_conversation_reply_from_mailbox(mb, conv, id + 1000, (const uint8_t *)"x", 1),
                 TRANSOM_ERR_NOT_FOUND);
    CHECK_STATUS(transom_conversation_reply(rt, pid, conv, 0, (const uint8_t *)"x", 1), TRANSOM_ERR_NOT_FOUND);

    /* The first reply is delivered; a second one to the same id is refused at once, whether the
     * first has been taken yet or not. */
    CHECK_OK(transom_conversation_reply_from_mailbox(mb, conv, id, (const uint8_t *)"first", 5));
    CHECK_STATUS(transom_conversation_reply_from_mailbox(mb, conv, id, (const uint8_t *)"second", 6),
                 TRANSOM_ERR_NOT_FOUND);
    CHECK_STATUS(transom_conversation_reply(rt, pid, conv, id, (const uint8_t *)"third", 5), TRANSOM_ERR_NOT_FOUND);
    transom_reply r;
    uint8_t buf[16];
    size_t len = 0;
    CHECK_OK(transom_conversation_receive(c, 10 * SECOND_NS, &r, buf, sizeof buf, &len));
    CHECK(r.request_id == id && r.from == pid && len == 5 && memcmp(buf, "first", 5) == 0);
    CHECK_STATUS(transom_conversation_reply_from_mailbox(mb, conv, id, (const uint8_t *)"late", 4),
                 TRANSOM_ERR_NOT_FOUND);
    CHECK_STATUS(transom_conversation_receive(c, 20000000ull, &r, buf, sizeof buf, &len), TRANSOM_TIMEOUT);
    transom_conversation_snapshot st;
    CHECK_OK(transom_conversation_state(c, &st));
    CHECK(st.received == 1 && st.in_flight == 0 && st.buffered == 0);

    transom_conversation_free(c);
    transom_mailbox_free(mb);
    transom_runtime_free(rt);
}

/* ---- a C behaviour that answers every request twice, recording both statuses ---- */
typedef struct {
    transom_runtime *rt;
    atomic_int first_ok, second_not_found, other;
    latch answered;
} twice_ctx;

static int32_t answer_twice(void *ctx, transom_pid self, const transom_message *m) {
    twice_ctx *t = ctx;
    transom_request req;
    if (transom_conversation_parse_request(m, &req) != TRANSOM_OK) return 0;
    transom_status a = transom_conversation_reply(t->rt, self, m->from, req.request_id, req.payload, req.payload_len);
    transom_status b = transom_conversation_reply(t->rt, self, m->from, req.request_id, (const uint8_t *)"dup", 3);
    atomic_fetch_add(a == TRANSOM_OK ? &t->first_ok : &t->other, 1);
    atomic_fetch_add(b == TRANSOM_ERR_NOT_FOUND ? &t->second_not_found : &t->other, 1);
    latch_signal(&t->answered);
    return 0;
}

static void replies_from_a_behaviour_are_delivered_in_order_and_duplicates_refused(void) {
    enum { N = 50 };
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    static twice_ctx t;
    memset(&t, 0, sizeof t);
    t.rt = rt;
    latch_init(&t.answered);
    transom_participant ps[1];
    memset(ps, 0, sizeof ps);
    ps[0].behaviour.ctx = &t;
    ps[0].behaviour.call = answer_twice;
    transom_conversation_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.participants = ps;
    cfg.participant_count = 1;
    cfg.on_crash = TRANSOM_ON_CRASH_FAIL;
    transom_conversation *c = NULL;
    CHECK_OK(transom_conversation_open(rt, &cfg, &c));
    uint64_t ids[N];
    for (int i = 0; i < N; i++) {
        uint8_t p = (uint8_t)i;
        CHECK_OK(transom_conversation_send(c, 0, &p, 1, &ids[i]));
    }
    /* One participant answering in request order: the replies come in that order. */
    for (int i = 0; i < N; i++) {
        transom_reply r;
        uint8_t buf[4];
        size_t len = 0;
        CHECK_OK(transom_conversation_receive(c, 10 * SECOND_NS, &r, buf, sizeof buf, &len));
        CHECK(r.request_id == ids[i] && len == 1 && buf[0] == (uint8_t)i);
    }
    CHECK(latch_wait(&t.answered, N, 30));
    CHECK(atomic_load(&t.first_ok) == N && atomic_load(&t.second_not_found) == N && atomic_load(&t.other) == 0);
    transom_reply r;
    size_t len = 0;
    CHECK_STATUS(transom_conversation_receive(c, 20000000ull, &r, NULL, 0, &len), TRANSOM_TIMEOUT);
    transom_conversation_free(c);
    transom_runtime_free(rt);
}

static void replies_to_an_ended_closed_or_freed_conversation_say_so(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    transom_mailbox *mb[2];
    transom_pid pids[2];
    for (int i = 0; i < 2; i++) CHECK_OK(transom_mailbox_open(rt, NULL, &mb[i], &pids[i]));

    /* FAILED: the conversation takes no more replies. */
    transom_conversation *c = open_over(rt, pids, 2, TRANSOM_ON_CRASH_FAIL, 0);
    transom_pid conv = 0;
    CHECK_OK(transom_conversation_pid(c, &conv));
    uint64_t id = 0;
    CHECK_OK(transom_conversation_send(c, pids[0], (const uint8_t *)"q", 1, &id));
    transom_pid from = 0;
    next_request(mb[0], &from);
    transom_exit_reason err = reason_of(TRANSOM_EXIT_ERROR, 9, "gone");
    CHECK_OK(transom_mailbox_exit(mb[1], &err));
    transom_crash_info info;
    CHECK_OK(transom_conversation_await_crash(c, 10 * SECOND_NS, &info));
    CHECK_STATUS(transom_conversation_reply_from_mailbox(mb[0], conv, id, (const uint8_t *)"a", 1),
                 TRANSOM_ERR_PARTICIPANT_CRASHED);
    /* Closed: CLOSED while the handle lives; freed: no such conversation. */
    CHECK_OK(transom_conversation_close(c));
    CHECK_STATUS(transom_conversation_reply_from_mailbox(mb[0], conv, id, (const uint8_t *)"a", 1),
                 TRANSOM_ERR_CLOSED);
    transom_conversation_free(c);
    CHECK_STATUS(transom_conversation_reply_from_mailbox(mb[0], conv, id, (const uint8_t *)"a", 1),
                 TRANSOM_ERR_NOPROC);
    char want[64];
    snprintf(want, sizeof want, "no conversation with pid %llu", (unsigned long long)conv);
    last_error_contains(want);
    /* The mailbox itself is fine: it got nothing from any of this. */
    transom_message m;
    CHECK_STATUS(transom_mailbox_receive(mb[0], 0, &m), TRANSOM_TIMEOUT);
    for (int i = 0; i < 2; i++) transom_mailbox_free(mb[i]);
    transom_runtime_free(rt);
}

static void buffered_replies_come_before_deadline_exceeded_and_late_replies_are_refused(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    transom_mailbox *mb;
    transom_pid pid;
    CHECK_OK(transom_mailbox_open(rt, NULL, &mb, &pid));
    transom_conversation *c = open_over(rt, &pid, 1, TRANSOM_ON_CRASH_FAIL, SECOND_NS);
    transom_pid conv = 0;
    CHECK_OK(transom_conversation_pid(c, &conv));
    uint64_t a = 0, b = 0;
    CHECK_OK(transom_conversation_send(c, 0, (const uint8_t *)"a", 1, &a));
    CHECK_OK(transom_conversation_send(c, 0, (const uint8_t *)"b", 1, &b));
    transom_pid from = 0;
    CHECK(next_request(mb, &from).request_id == a);
    CHECK(next_request(mb, &from).request_id == b);
    CHECK_OK(transom_conversation_reply_from_mailbox(mb, conv, a, (const uint8_t *)"A", 1));
    wait_buffered(c, 1);

    /* Wait past the deadline (a timed wait on the conversation itself). */
    transom_conversation_snapshot st;
    CHECK_OK(transom_conversation_state(c, &st));
    CHECK(st.deadline_ns != 0 && st.phase == TRANSOM_PHASE_ACTIVE);
    uint64_t now = transom_monotonic_ns();
    uint64_t until_deadline = st.deadline_ns > now ? st.deadline_ns - now : 0;
    transom_crash_info info;
    CHECK_STATUS(transom_conversation_await_crash(c, until_deadline + 1000000ull, &info), TRANSOM_TIMEOUT);
    CHECK(transom_monotonic_ns() >= st.deadline_ns);
    CHECK_OK(transom_conversation_state(c, &st));
    CHECK(st.phase == TRANSOM_PHASE_DEADLINE_EXCEEDED);

    /* A reply after the deadline is refused with the ending... */
    CHECK_STATUS(transom_conversation_reply_from_mailbox(mb, conv, b, (const uint8_t *)"B", 1),
                 TRANSOM_ERR_DEADLINE_EXCEEDED);
    /* ...while the reply buffered before it is still received, then the ending. */
    transom_reply r;
    uint8_t buf[4];
    size_t len = 0;
    CHECK_OK(transom_conversation_receive(c, 0, &r, buf, sizeof buf, &len));
    CHECK(r.request_id == a && len == 1 && buf[0] == 'A');
    CHECK_STATUS(transom_conversation_receive(c, 0, &r, buf, sizeof buf, &len), TRANSOM_ERR_DEADLINE_EXCEEDED);
    CHECK_STATUS(transom_conversation_receive(c, UINT64_MAX, &r, buf, sizeof buf, &len),
                 TRANSOM_ERR_DEADLINE_EXCEEDED);
    transom_conversation_free(c);
    transom_mailbox_free(mb);
    transom_runtime_free(rt);
}

int main(void) {
    RUN(a_reply_to_an_unknown_or_answered_request_is_not_found);
    RUN(replies_from_a_behaviour_are_delivered_in_order_and_duplicates_refused);
    RUN(replies_to_an_ended_closed_or_freed_conversation_say_so);
    RUN(buffered_replies_come_before_deadline_exceeded_and_late_replies_are_refused);
    return 0;
}
