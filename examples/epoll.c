/* epoll.c - one epoll loop serving a canal, a mailbox and a conversation, in ~150 lines.
 *
 * The thread never blocks in a transom call: it waits in epoll_wait on the handles' pollable
 * descriptors (transom_*_fd) and, when one is readable, drains it with non-blocking calls
 * (timeout 0) until they return TRANSOM_TIMEOUT. The descriptors are level-triggered:
 * readable while the blocking call would return at once, unreadable again once it has nothing
 * left, so the loop sleeps (no CPU) whenever there is nothing to do.
 *
 * The work comes from a participant of the conversation, running on the runtime's thread: for
 * each request it appends an event to the store (our subscription sees it), sends a note to
 * our mailbox and replies to the conversation.
 *
 *   cc -std=c99 epoll.c $(pkg-config --cflags --libs transom)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <transom.h>

enum { REQUESTS = 3, CANAL = 0, MAILBOX = 1, CONVERSATION = 2 };

static transom_runtime *rt;
static transom_store *store;
static transom_pid inbox_pid;

static void check(transom_status st, const char *what) {
    if (st == TRANSOM_OK) return;
    char detail[256];
    size_t n;
    transom_last_error(detail, sizeof detail, &n);
    fprintf(stderr, "%s: %s (%s)\n", what, transom_status_str(st), detail);
    exit(1);
}

/* The participant (on a runtime thread): an event, a note, a reply for each request. */
static int32_t worker(void *ctx, transom_pid self, const transom_message *m) {
    (void)ctx;
    transom_request req;
    if (transom_conversation_parse_request(m, &req) != TRANSOM_OK) return 0; /* not a request */
    transom_append a;
    memset(&a, 0, sizeof a);
    a.stream = "orders";
    a.stream_len = 6;
    a.kind = 1;
    a.payload = req.payload;
    a.payload_len = req.payload_len;
    transom_status st = transom_store_append(store, &a, NULL);
    if (st == TRANSOM_OK) st = transom_runtime_send_from(rt, self, inbox_pid, req.payload, req.payload_len);
    if (st == TRANSOM_OK)
        st = transom_conversation_reply(rt, self, m->from, req.request_id, (const uint8_t *)"done", 4);
    return st;
}

static void watch(int ep, int fd, uint32_t which) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u32 = which;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        perror("epoll_ctl");
        exit(1);
    }
}

int main(void) {
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg); /* dir NULL: an in-memory store */
    check(transom_store_open(&cfg, &store), "open store");
    transom_subscription_options so;
    memset(&so, 0, sizeof so);
    so.capacity = 64;
    transom_canal *canal;
    check(transom_canal_open_subscription(store, &so, &canal), "open subscription");

    check(transom_runtime_new(1, &rt), "runtime");
    transom_mailbox *inbox;
    check(transom_mailbox_open(rt, NULL, &inbox, &inbox_pid), "open mailbox");
    transom_participant p;
    memset(&p, 0, sizeof p);
    p.behaviour = (transom_behaviour_callback){NULL, worker, NULL};
    transom_conversation_config cc;
    memset(&cc, 0, sizeof cc);
    cc.participants = &p;
    cc.participant_count = 1;
    cc.on_crash = TRANSOM_ON_CRASH_FAIL;
    transom_conversation *conv;
    check(transom_conversation_open(rt, &cc, &conv), "open conversation");

    /* One epoll set over the three descriptors (they belong to the handles: never close them). */
    int ep = epoll_create1(EPOLL_CLOEXEC), fd;
    if (ep < 0) return perror("epoll_create1"), 1;
    check(transom_canal_fd(canal, &fd), "canal fd");
    watch(ep, fd, CANAL);
    check(transom_mailbox_fd(inbox, &fd), "mailbox fd");
    watch(ep, fd, MAILBOX);
    check(transom_conversation_fd(conv, &fd), "conversation fd");
    watch(ep, fd, CONVERSATION);

    for (int i = 0; i < REQUESTS; i++) {
        char order[16];
        int n = snprintf(order, sizeof order, "order-%d", i + 1);
        check(transom_conversation_send(conv, 0, (const uint8_t *)order, (size_t)n, NULL), "send");
    }

    int events = 0, notes = 0, replies = 0;
    while (events < REQUESTS || notes < REQUESTS || replies < REQUESTS) {
        struct epoll_event ready[3];
        int n = epoll_wait(ep, ready, 3, 10000);
        if (n <= 0) return fprintf(stderr, "epoll_wait: nothing within 10 s\n"), 1;
        for (int i = 0; i < n; i++) {
            transom_status st;
            if (ready[i].data.u32 == CANAL) {
                transom_item items[16];
                size_t count = 0;
                while ((st = transom_canal_pull_batch(canal, 0, items, 16, &count)) == TRANSOM_OK)
                    for (size_t k = 0; k < count; k++, events++)
                        printf("canal:        event %llu %.*s\n", (unsigned long long)items[k].event.sequence,
                               (int)items[k].event.payload_len, (const char *)items[k].event.payload);
            } else if (ready[i].data.u32 == MAILBOX) {
                transom_message m;
                while ((st = transom_mailbox_receive(inbox, 0, &m)) == TRANSOM_OK && ++notes)
                    printf("mailbox:      note %.*s\n", (int)m.len, (const char *)m.bytes);
            } else {
                transom_reply r;
                char buf[64];
                size_t len;
                while ((st = transom_conversation_receive(conv, 0, &r, (uint8_t *)buf, sizeof buf, &len)) ==
                           TRANSOM_OK && ++replies)
                    printf("conversation: reply to request %llu: %.*s\n", (unsigned long long)r.request_id,
                           (int)len, buf);
            }
            /* Drained: the descriptor is unreadable again until something new arrives. */
            if (st != TRANSOM_TIMEOUT) check(st, "non-blocking call");
        }
    }
    printf("served %d events, %d notes and %d replies from one epoll loop\n", events, notes, replies);

    close(ep); /* before the frees, which close the descriptors */
    transom_conversation_free(conv);
    transom_mailbox_free(inbox);
    transom_runtime_free(rt);
    transom_canal_free(canal);
    check(transom_store_close(store), "close store");
    transom_store_free(store);
    return 0;
}
