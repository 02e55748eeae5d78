/* Pollable descriptors (transom_canal_fd, _mailbox_fd, _conversation_fd, _conversation_crash_fd,
 * _worker_fd): each is unreadable while its blocking call would wait, readable once it would
 * not (items, a message, a reply, a crash, the end, a close or an interrupt), unreadable again
 * right after a call took the last item (no spurious readiness), the same with poll, select and
 * epoll, and closed by the handle's _free. A poller thread blocked in poll() is woken by an
 * append or a send from another thread, and an epoll loop idle on all of them for 2 s uses no
 * CPU (getrusage).
 *
 * No sleeps: waits are poll() with a timeout, or transom calls with timeouts. */
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/time.h>

#include "actor_support.h"
#include "store_support.h"

#define WAIT_MS 10000

/* Readable now, by all three: poll, select and a fresh epoll set (level-triggered). Each must
 * agree with the others; returns 1 when readable. */
static int readable(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    int by_poll = poll(&p, 1, 0);
    CHECK(by_poll >= 0);
    by_poll = by_poll == 1 && (p.revents & POLLIN);

    fd_set set;
    FD_ZERO(&set);
    FD_SET(fd, &set);
    struct timeval zero = {0, 0};
    int by_select = select(fd + 1, &set, NULL, NULL, &zero);
    CHECK(by_select >= 0);
    by_select = by_select == 1 && FD_ISSET(fd, &set);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0);
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
    struct epoll_event got;
    int by_epoll = epoll_wait(ep, &got, 1, 0);
    CHECK(by_epoll >= 0);
    by_epoll = by_epoll == 1 && (got.events & EPOLLIN) && got.data.fd == fd;
    close(ep);

    CHECK(by_poll == by_select && by_poll == by_epoll);
    return by_poll;
}

/* Blocks in poll() until `fd` is readable (at most WAIT_MS): for events that happen on another
 * thread (a crash seen by the conversation's actor, a worker's end). */
static void wait_readable(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    CHECK(poll(&p, 1, WAIT_MS) == 1 && (p.revents & POLLIN));
    CHECK(readable(fd));
}

static int fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

static void append(transom_store *s, const char *stream) {
    transom_append a = event_of(stream, 1, "x", 1);
    CHECK_OK(transom_store_append(s, &a, NULL));
}

static transom_canal *subscription(transom_store *s, size_t capacity) {
    transom_subscription_options o;
    memset(&o, 0, sizeof o);
    o.capacity = capacity;
    o.overflow = TRANSOM_OVERFLOW_DROP_NEWEST;
    transom_canal *c = NULL;
    CHECK_OK(transom_canal_open_subscription(s, &o, &c));
    return c;
}

static transom_canal *cursor(transom_store *s, transom_start_kind start, const char *prefix) {
    transom_cursor_options o;
    memset(&o, 0, sizeof o);
    o.start = start;
    if (prefix) {
        o.filter.stream_prefix = prefix;
        o.filter.stream_prefix_len = strlen(prefix);
    }
    transom_canal *c = NULL;
    CHECK_OK(transom_canal_open_cursor(s, &o, &c));
    return c;
}

static transom_status pull(transom_canal *c, size_t cap, size_t *count) {
    transom_item items[16];
    CHECK(cap <= 16);
    *count = 0;
    return transom_canal_pull_batch(c, 0, items, cap, count);
}

static void subscription_fd_follows_the_buffer_interrupt_and_close(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_canal *c = subscription(s, 16);
    int fd = -1, again = -1;
    CHECK_OK(transom_canal_fd(c, &fd));
    CHECK(fd >= 0);
    CHECK_OK(transom_canal_fd(c, &again));
    CHECK(again == fd); /* one descriptor per handle */
    CHECK(!readable(fd));

    append(s, "a");
    append(s, "a");
    append(s, "a");
    CHECK(readable(fd));
    size_t n = 0;
    CHECK_OK(pull(c, 2, &n));
    CHECK(n == 2);
    CHECK(readable(fd)); /* one left */
    CHECK_OK(pull(c, 16, &n));
    CHECK(n == 1);
    CHECK(!readable(fd)); /* drained: no spurious readiness */
    CHECK_STATUS(pull(c, 16, &n), TRANSOM_TIMEOUT);
    CHECK(!readable(fd));

    /* An interrupt makes a pull return at once: readable until that pull consumed it. */
    CHECK_OK(transom_canal_interrupt(c));
    CHECK(readable(fd));
    CHECK_STATUS(pull(c, 16, &n), TRANSOM_INTERRUPTED);
    CHECK(!readable(fd));

    /* Closed: buffered items first, then CLOSED for good, readable all along. */
    append(s, "a");
    CHECK_OK(transom_canal_close(c));
    CHECK(readable(fd));
    CHECK_OK(pull(c, 16, &n));
    CHECK(n == 1);
    CHECK(readable(fd));
    CHECK_STATUS(pull(c, 16, &n), TRANSOM_ERR_CLOSED);
    CHECK(readable(fd));

    CHECK(fd_is_open(fd));
    transom_canal_free(c);
    CHECK(!fd_is_open(fd)); /* closed by _free (checked at once: no other thread opens files) */
    close_store(s);
}

static void subscription_fd_is_readable_when_the_store_closes(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_canal *c = subscription(s, 4);
    int fd = -1;
    CHECK_OK(transom_canal_fd(c, &fd));
    CHECK(!readable(fd));
    CHECK_OK(transom_store_close(s));
    CHECK(readable(fd));
    size_t n;
    CHECK_STATUS(pull(c, 4, &n), TRANSOM_ERR_CLOSED);
    CHECK(readable(fd));
    transom_canal_free(c);
    CHECK(!fd_is_open(fd));
    transom_store_free(s);
}

static void cursor_fd_follows_the_log_position(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    append(s, "a");
    append(s, "a");

    /* From the beginning: two events are there already. */
    transom_canal *c = cursor(s, TRANSOM_START_BEGIN, NULL);
    int fd = -1;
    CHECK_OK(transom_canal_fd(c, &fd));
    CHECK(readable(fd));
    size_t n = 0;
    CHECK_OK(pull(c, 1, &n));
    CHECK(n == 1 && readable(fd));
    CHECK_OK(pull(c, 16, &n));
    CHECK(n == 1 && !readable(fd));
    CHECK_STATUS(pull(c, 16, &n), TRANSOM_TIMEOUT);
    CHECK(!readable(fd));

    append(s, "a");
    CHECK(readable(fd));
    CHECK_OK(pull(c, 16, &n));
    CHECK(n == 1 && !readable(fd));

    /* A rewind makes the unacknowledged events pullable again. */
    CHECK_OK(transom_canal_ack(c, 1));
    CHECK_OK(transom_canal_rewind(c));
    CHECK(readable(fd));
    CHECK_OK(pull(c, 16, &n));
    CHECK(n == 2 && !readable(fd));

    CHECK_OK(transom_canal_interrupt(c));
    CHECK(readable(fd));
    CHECK_STATUS(pull(c, 16, &n), TRANSOM_INTERRUPTED);
    CHECK(!readable(fd));

    CHECK_OK(transom_canal_close(c));
    CHECK(readable(fd));
    CHECK_STATUS(pull(c, 16, &n), TRANSOM_ERR_CLOSED);
    CHECK(readable(fd));
    transom_canal_free(c);
    CHECK(!fd_is_open(fd));

    /* From the end: nothing yet; the store's close makes it readable. */
    c = cursor(s, TRANSOM_START_END, NULL);
    CHECK_OK(transom_canal_fd(c, &fd));
    CHECK(!readable(fd));
    CHECK_OK(transom_store_close(s));
    CHECK(readable(fd));
    CHECK_STATUS(pull(c, 16, &n), TRANSOM_ERR_CLOSED);
    CHECK(readable(fd));
    transom_canal_free(c);
    CHECK(!fd_is_open(fd));
    transom_store_free(s);
}

static void a_filtered_cursor_fd_is_lowered_by_a_pull_that_finds_nothing(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_canal *c = cursor(s, TRANSOM_START_BEGIN, "b");
    int fd = -1;
    CHECK_OK(transom_canal_fd(c, &fd));
    CHECK(!readable(fd));
    append(s, "a"); /* not for this cursor: unexamined, so readable */
    CHECK(readable(fd));
    size_t n;
    CHECK_STATUS(pull(c, 16, &n), TRANSOM_TIMEOUT);
    CHECK(!readable(fd));
    append(s, "b");
    CHECK(readable(fd));
    CHECK_OK(pull(c, 16, &n));
    CHECK(n == 1 && !readable(fd));
    transom_canal_free(c);
    CHECK(!fd_is_open(fd));
    close_store(s);
}

static void mailbox_fd_follows_the_queue_and_the_exit(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(1, &rt));
    transom_mailbox *mb;
    transom_pid pid;
    CHECK_OK(transom_mailbox_open(rt, NULL, &mb, &pid));
    int fd = -1, again = -1;
    CHECK_OK(transom_mailbox_fd(mb, &fd));
    CHECK_OK(transom_mailbox_fd(mb, &again));
    CHECK(fd >= 0 && again == fd);
    CHECK(!readable(fd));

    CHECK_OK(transom_runtime_send(rt, pid, (const uint8_t *)"1", 1));
    CHECK_OK(transom_runtime_send(rt, pid, (const uint8_t *)"2", 1));
    CHECK(readable(fd));
    transom_message m;
    CHECK_OK(transom_mailbox_receive(mb, 0, &m));
    CHECK(readable(fd));
    CHECK_OK(transom_mailbox_receive(mb, 0, &m));
    CHECK(!readable(fd));
    CHECK_STATUS(transom_mailbox_receive(mb, 0, &m), TRANSOM_TIMEOUT);
    CHECK(!readable(fd));

    /* Exited: a receive returns CLOSED at once, so it is readable for good. */
    transom_exit_reason r;
    memset(&r, 0, sizeof r);
    r.kind = TRANSOM_EXIT_NORMAL;
    CHECK_OK(transom_mailbox_exit(mb, &r));
    CHECK(readable(fd));
    CHECK_STATUS(transom_mailbox_receive(mb, 0, &m), TRANSOM_ERR_CLOSED);
    CHECK(readable(fd));
    transom_mailbox_free(mb);
    CHECK(!fd_is_open(fd));
    transom_runtime_free(rt);
}

static transom_conversation *conversation_over(transom_runtime *rt, transom_pid participant,
                                               transom_on_crash policy) {
    transom_participant ps[1];
    memset(ps, 0, sizeof ps);
    ps[0].pid = participant;
    transom_conversation_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.participants = ps;
    cfg.participant_count = 1;
    cfg.on_crash = policy;
    transom_conversation *c = NULL;
    CHECK_OK(transom_conversation_open(rt, &cfg, &c));
    return c;
}

/* Sends a request through `c` and answers it from `mb`. */
static void request_and_reply(transom_conversation *c, transom_mailbox *mb) {
    uint64_t id = 0;
    CHECK_OK(transom_conversation_send(c, 0, (const uint8_t *)"q", 1, &id));
    transom_message m;
    CHECK_OK(transom_mailbox_receive(mb, 10 * SECOND_NS, &m));
    transom_request req;
    CHECK_OK(transom_conversation_parse_request(&m, &req));
    CHECK(req.request_id == id);
    CHECK_OK(transom_conversation_reply_from_mailbox(mb, m.from, id, (const uint8_t *)"answer", 6));
}

static void conversation_fds_follow_replies_crashes_and_close(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    transom_mailbox *mb;
    transom_pid pid;
    CHECK_OK(transom_mailbox_open(rt, NULL, &mb, &pid));
    transom_conversation *c = conversation_over(rt, pid, TRANSOM_ON_CRASH_FAIL);
    int fd = -1, crash_fd = -1;
    CHECK_OK(transom_conversation_fd(c, &fd));
    CHECK_OK(transom_conversation_crash_fd(c, &crash_fd));
    CHECK(fd >= 0 && crash_fd >= 0 && fd != crash_fd);
    CHECK(!readable(fd) && !readable(crash_fd));

    /* A reply: readable (the reply reaches the conversation on its actor's thread). */
    request_and_reply(c, mb);
    wait_readable(fd);
    CHECK(!readable(crash_fd));
    transom_reply r;
    uint8_t buf[16];
    size_t len = 0;
    /* Too small a buffer takes nothing: still readable. */
    CHECK_STATUS(transom_conversation_receive(c, 0, &r, buf, 2, &len), TRANSOM_ERR_BUFFER_TOO_SMALL);
    CHECK(readable(fd));
    CHECK_OK(transom_conversation_receive(c, 0, &r, buf, sizeof buf, &len));
    CHECK(len == 6 && memcmp(buf, "answer", 6) == 0);
    CHECK(!readable(fd));
    CHECK_STATUS(transom_conversation_receive(c, 0, &r, buf, sizeof buf, &len), TRANSOM_TIMEOUT);
    CHECK(!readable(fd));

    /* The participant crashes: under FAIL both descriptors become readable. */
    transom_exit_reason reason;
    memset(&reason, 0, sizeof reason);
    reason.kind = TRANSOM_EXIT_ERROR;
    reason.code = 7;
    CHECK_OK(transom_mailbox_exit(mb, &reason));
    wait_readable(crash_fd);
    wait_readable(fd);
    transom_crash_info info;
    CHECK_OK(transom_conversation_await_crash(c, 0, &info));
    CHECK(info.participant == pid);
    CHECK(readable(crash_fd)); /* await_crash consumes nothing */
    CHECK_STATUS(transom_conversation_receive(c, 0, &r, buf, sizeof buf, &len), TRANSOM_ERR_PARTICIPANT_CRASHED);
    CHECK(readable(fd));

    transom_conversation_free(c);
    CHECK(!fd_is_open(fd) && !fd_is_open(crash_fd));
    transom_mailbox_free(mb);
    transom_runtime_free(rt);
}

static void conversation_fds_are_readable_after_close(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(1, &rt));
    transom_mailbox *mb;
    transom_pid pid;
    CHECK_OK(transom_mailbox_open(rt, NULL, &mb, &pid));
    transom_conversation *c = conversation_over(rt, pid, TRANSOM_ON_CRASH_ROUTE_TO_NEXT);
    int fd = -1, crash_fd = -1;
    CHECK_OK(transom_conversation_fd(c, &fd));
    CHECK_OK(transom_conversation_crash_fd(c, &crash_fd));
    CHECK(!readable(fd) && !readable(crash_fd));
    CHECK_OK(transom_conversation_close(c));
    CHECK(readable(fd) && readable(crash_fd));
    transom_reply r;
    uint8_t buf[4];
    size_t len;
    CHECK_STATUS(transom_conversation_receive(c, 0, &r, buf, sizeof buf, &len), TRANSOM_ERR_CLOSED);
    transom_crash_info info;
    CHECK_STATUS(transom_conversation_await_crash(c, 0, &info), TRANSOM_ERR_CLOSED);
    CHECK(readable(fd) && readable(crash_fd));
    transom_conversation_free(c);
    CHECK(!fd_is_open(fd) && !fd_is_open(crash_fd));
    transom_mailbox_free(mb);
    transom_runtime_free(rt);
}

static transom_worker_verdict keep_going(void *ctx, const transom_item *items, size_t count) {
    (void)ctx;
    (void)items;
    (void)count;
    return TRANSOM_WORKER_CONTINUE;
}

static void worker_fd_is_readable_once_the_worker_ended(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_canal *c = subscription(s, 16);
    int canal_fd = -1;
    CHECK_OK(transom_canal_fd(c, &canal_fd));
    CHECK(!readable(canal_fd));
    transom_worker *w = NULL;
    transom_batch_callback cb = {NULL, keep_going, NULL};
    CHECK_OK(transom_canal_spawn_worker(c, cb, NULL, &w));
    /* The canal went to the worker: the handle keeps its descriptor, readable (every call on
     * the handle returns CLOSED at once). */
    CHECK(readable(canal_fd));
    int again = -1;
    CHECK_OK(transom_canal_fd(c, &again));
    CHECK(again == canal_fd);

    int fd = -1;
    CHECK_OK(transom_worker_fd(w, &fd));
    CHECK(!readable(fd));
    append(s, "a");
    CHECK_STATUS(transom_worker_join(w, 0, NULL), TRANSOM_TIMEOUT);
    CHECK(!readable(fd));
    CHECK_OK(transom_worker_stop(w));
    wait_readable(fd);
    transom_worker_exit exit_kind = -1;
    CHECK_OK(transom_worker_join(w, 0, &exit_kind));
    CHECK(exit_kind == TRANSOM_WORKER_EXIT_STOPPED);
    CHECK(readable(fd));
    transom_worker_free(w);
    CHECK(!fd_is_open(fd));
    transom_canal_free(c);
    CHECK(!fd_is_open(canal_fd));
    close_store(s);
}

static void fd_functions_check_their_arguments(void) {
    int fd = 12345;
    CHECK_STATUS(transom_canal_fd(NULL, &fd), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_mailbox_fd(NULL, &fd), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_fd(NULL, &fd), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_conversation_crash_fd(NULL, &fd), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_worker_fd(NULL, &fd), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK(fd == 12345); /* outputs only on OK */
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_canal *c = subscription(s, 4);
    CHECK_STATUS(transom_canal_fd(c, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    transom_canal_free(c);
    close_store(s);
}

/* ---- threads: a poller blocked in poll() is woken from another thread ---- */
typedef struct {
    int fds[2];
    int woke[2];
    pthread_barrier_t ready;
} poller_ctx;

static void *poller(void *arg) {
    poller_ctx *p = arg;
    pthread_barrier_wait(&p->ready);
    for (int i = 0; i < 2; i++) {
        struct pollfd pf = {p->fds[i], POLLIN, 0};
        p->woke[i] = poll(&pf, 1, WAIT_MS) == 1 && (pf.revents & POLLIN);
    }
    return NULL;
}

static void a_blocked_poller_is_woken_by_an_append_and_a_send(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_canal *c = subscription(s, 4);
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(1, &rt));
    transom_mailbox *mb;
    transom_pid pid;
    CHECK_OK(transom_mailbox_open(rt, NULL, &mb, &pid));
    poller_ctx p;
    memset(&p, 0, sizeof p);
    CHECK_OK(transom_canal_fd(c, &p.fds[0]));
    CHECK_OK(transom_mailbox_fd(mb, &p.fds[1]));
    pthread_barrier_init(&p.ready, NULL, 2);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, poller, &p) == 0);
    pthread_barrier_wait(&p.ready);
    /* The poller is in (or about to enter) its first poll: either way a level-triggered
     * descriptor reports the event. */
    append(s, "a");
    CHECK_OK(transom_runtime_send(rt, pid, (const uint8_t *)"m", 1));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(p.woke[0] && p.woke[1]);
    pthread_barrier_destroy(&p.ready);
    transom_mailbox_free(mb);
    transom_runtime_free(rt);
    transom_canal_free(c);
    close_store(s);
}

static double cpu_seconds(void) {
    struct rusage u;
    CHECK(getrusage(RUSAGE_SELF, &u) == 0);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
           (double)u.ru_stime.tv_usec / 1e6;
}

static void an_idle_epoll_loop_on_every_descriptor_uses_no_cpu(void) {
    transom_store *s = open_store(NULL, TRANSOM_SYNC_ALWAYS);
    transom_canal *cur = cursor(s, TRANSOM_START_END, NULL);
    transom_canal *sub = subscription(s, 4);
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    transom_mailbox *mb, *participant;
    transom_pid pid, ppid;
    CHECK_OK(transom_mailbox_open(rt, NULL, &mb, &pid));
    CHECK_OK(transom_mailbox_open(rt, NULL, &participant, &ppid));
    transom_conversation *conv = conversation_over(rt, ppid, TRANSOM_ON_CRASH_FAIL);
    transom_canal *for_worker = subscription(s, 4);
    transom_worker *w;
    transom_batch_callback cb = {NULL, keep_going, NULL};
    CHECK_OK(transom_canal_spawn_worker(for_worker, cb, NULL, &w));

    int fds[6];
    CHECK_OK(transom_canal_fd(cur, &fds[0]));
    CHECK_OK(transom_canal_fd(sub, &fds[1]));
    CHECK_OK(transom_mailbox_fd(mb, &fds[2]));
    CHECK_OK(transom_conversation_fd(conv, &fds[3]));
    CHECK_OK(transom_conversation_crash_fd(conv, &fds[4]));
    CHECK_OK(transom_worker_fd(w, &fds[5]));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0);
    for (int i = 0; i < 6; i++) {
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN;
        ev.data.u32 = (uint32_t)i;
        CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) == 0);
    }
    double before = cpu_seconds();
    struct epoll_event got[6];
    int n = epoll_wait(ep, got, 6, 2000);
    double used = cpu_seconds() - before;
    CHECK(n == 0); /* nothing happened: nothing is readable */
    printf("idle epoll_wait on 6 descriptors for 2 s: %.4f s CPU (all threads)\n", used);
    CHECK(used < 0.05);

    /* And the loop wakes for an event. */
    append(s, "a");
    n = epoll_wait(ep, got, 6, WAIT_MS);
    CHECK(n == 2); /* the cursor and the subscription (the worker takes its own copy) */
    close(ep);

    CHECK_OK(transom_worker_stop_and_join(w, 10 * SECOND_NS, NULL));
    transom_worker_free(w);
    transom_canal_free(for_worker);
    transom_conversation_free(conv);
    transom_mailbox_free(participant);
    transom_mailbox_free(mb);
    transom_runtime_free(rt);
    transom_canal_free(sub);
    transom_canal_free(cur);
    close_store(s);
}

int main(void) {
    RUN(subscription_fd_follows_the_buffer_interrupt_and_close);
    RUN(subscription_fd_is_readable_when_the_store_closes);
    RUN(cursor_fd_follows_the_log_position);
    RUN(a_filtered_cursor_fd_is_lowered_by_a_pull_that_finds_nothing);
    RUN(mailbox_fd_follows_the_queue_and_the_exit);
    RUN(conversation_fds_follow_replies_crashes_and_close);
    RUN(conversation_fds_are_readable_after_close);
    RUN(worker_fd_is_readable_once_the_worker_ended);
    RUN(fd_functions_check_their_arguments);
    RUN(a_blocked_poller_is_woken_by_an_append_and_a_send);
    RUN(an_idle_epoll_loop_on_every_descriptor_uses_no_cpu);
    return 0;
}
