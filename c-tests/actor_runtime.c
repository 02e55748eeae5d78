/* The actor runtime from C: callback processes, FIFO delivery, links and exit signals with
 * Erlang's rules, monitors, mailboxes owned by C threads, and shutdown. */
#include "actor_support.h"

/* ---- a behaviour that checks FIFO order and reports to a mailbox when it saw `expect` ---- */
typedef struct {
    transom_runtime *rt;
    transom_pid report_to;
    uint32_t next;
    uint32_t expect;
    int out_of_order;
    atomic_int drops;
} counter;

static int32_t counter_handle(void *ctx, transom_pid self, const transom_message *m) {
    counter *c = ctx;
    if (m->kind != TRANSOM_MESSAGE_USER || m->len != sizeof(uint32_t)) return 1;
    uint32_t v;
    memcpy(&v, m->bytes, sizeof v);
    if (v != c->next) c->out_of_order++;
    c->next = v + 1;
    if (c->next == c->expect) {
        int bad = c->out_of_order;
        transom_runtime_send_from(c->rt, self, c->report_to, (const uint8_t *)&bad, sizeof bad);
    }
    return 0;
}

static void counter_drop(void *ctx) { atomic_fetch_add(&((counter *)ctx)->drops, 1); }

static void messages_arrive_in_order_per_sender(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    transom_mailbox *mb;
    transom_pid me;
    CHECK_OK(transom_mailbox_open(rt, NULL, &mb, &me));
    static counter c;
    memset(&c, 0, sizeof c);
    c.rt = rt;
    c.report_to = me;
    c.expect = (uint32_t)scaled(20000);
    transom_behaviour_callback b = {&c, counter_handle, counter_drop};
    transom_pid p;
    CHECK_OK(transom_runtime_spawn(rt, b, NULL, &p, NULL));
    CHECK(p != 0 && p != me);
    for (uint32_t i = 0; i < c.expect; i++) CHECK_OK(transom_runtime_send(rt, p, (const uint8_t *)&i, sizeof i));
    transom_message m;
    CHECK_OK(transom_mailbox_receive(mb, 30 * SECOND_NS, &m));
    CHECK(m.kind == TRANSOM_MESSAGE_USER && m.from == p && m.len == sizeof(int));
    int bad;
    memcpy(&bad, m.bytes, sizeof bad);
    CHECK(bad == 0);
    transom_mailbox_free(mb);
    transom_runtime_free(rt);
    CHECK(atomic_load(&c.drops) == 1);
}

/* ---- a behaviour that ends with its status when told to ---- */
static int32_t status_handle(void *ctx, transom_pid self, const transom_message *m) {
    (void)ctx;
    (void)self;
    if (m->kind == TRANSOM_MESSAGE_USER && m->len == sizeof(int32_t)) {
        int32_t status;
        memcpy(&status, m->bytes, sizeof status);
        return status;
    }
    return 0;
}

static atomic_int plain_drops;
static void plain_drop(void *ctx) {
    (void)ctx;
    atomic_fetch_add(&plain_drops, 1);
}

static transom_pid spawn_plain(transom_runtime *rt, const transom_spawn_options *o) {
    transom_behaviour_callback b = {NULL, status_handle, plain_drop};
    transom_pid p;
    CHECK_OK(transom_runtime_spawn(rt, b, o, &p, NULL));
    return p;
}

static void a_nonzero_status_ends_only_that_process_with_error(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(1, &rt)); /* one worker: it must survive */
    static monitor_rec mon;
    monitor_rec_init(&mon);
    transom_spawn_options o;
    memset(&o, 0, sizeof o);
    o.monitor = monitor_of(&mon);
    uint64_t mref = 0;
    transom_behaviour_callback b = {NULL, status_handle, plain_drop};
    transom_pid p;
    CHECK_OK(transom_runtime_spawn(rt, b, &o, &p, &mref));
    CHECK(mref != 0);
    int32_t status = 42;
    CHECK_OK(transom_runtime_send(rt, p, (const uint8_t *)&status, sizeof status));
    CHECK(latch_wait(&mon.fired, 1, 10));
    CHECK(mon.pid == p && mon.reason.kind == TRANSOM_EXIT_ERROR && mon.reason.code == 42);
    CHECK(atomic_load(&mon.calls) == 1);
    CHECK_STATUS(transom_runtime_send(rt, p, (const uint8_t *)&status, sizeof status), TRANSOM_ERR_NOPROC);
    /* The worker lives on: a new process runs. */
    static monitor_rec mon2;
    monitor_rec_init(&mon2);
    transom_pid q = spawn_plain(rt, NULL);
    CHECK(q > p); /* pids are never reused */
    uint64_t r2;
    CHECK_OK(transom_runtime_monitor(rt, q, monitor_of(&mon2), &r2));
    status = 7;
    CHECK_OK(transom_runtime_send(rt, q, (const uint8_t *)&status, sizeof status));
    CHECK(latch_wait(&mon2.fired, 1, 10));
    CHECK(mon2.reason.code == 7);
    transom_runtime_free(rt);
    CHECK(atomic_load(&mon.drops) == 1 && atomic_load(&mon2.drops) == 1);
}

static void links_follow_erlangs_rules(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    /* Abnormal exit + trapping mailbox: an EXIT message with the reason unchanged. */
    transom_pid a = spawn_plain(rt, NULL);
    transom_spawn_options trap;
    memset(&trap, 0, sizeof trap);
    trap.link = a;
    trap.trap_exit = 1;
    transom_mailbox *watcher;
    transom_pid w;
    CHECK_OK(transom_mailbox_open(rt, &trap, &watcher, &w));
    transom_exit_reason boom = reason_of(TRANSOM_EXIT_ERROR, 7, "boom");
    CHECK_OK(transom_runtime_exit(rt, a, &boom));
    transom_message m;
    CHECK_OK(transom_mailbox_receive(watcher, 10 * SECOND_NS, &m));
    CHECK(m.kind == TRANSOM_MESSAGE_EXIT && m.from == a && m.bytes == NULL);
    CHECK(m.reason->kind == TRANSOM_EXIT_ERROR && m.reason->code == 7 && strcmp(m.reason->message, "boom") == 0);

    /* Abnormal exit + non-trapping linked process: it dies too, with the same reason. */
    transom_pid b = spawn_plain(rt, NULL);
    transom_spawn_options link_b;
    memset(&link_b, 0, sizeof link_b);
    link_b.link = b;
    static monitor_rec mc;
    monitor_rec_init(&mc);
    link_b.monitor = monitor_of(&mc);
    transom_pid c = spawn_plain(rt, &link_b);
    CHECK_OK(transom_runtime_exit(rt, b, &boom));
    CHECK(latch_wait(&mc.fired, 1, 10));
    CHECK(mc.pid == c && mc.reason.kind == TRANSOM_EXIT_ERROR && mc.reason.code == 7);

    /* A normal exit does not kill a linked process. */
    transom_pid d = spawn_plain(rt, NULL);
    transom_spawn_options link_d;
    memset(&link_d, 0, sizeof link_d);
    link_d.link = d;
    transom_mailbox *survivor;
    transom_pid s;
    CHECK_OK(transom_mailbox_open(rt, &link_d, &survivor, &s));
    transom_exit_reason normal = reason_of(TRANSOM_EXIT_NORMAL, 0, "");
    CHECK_OK(transom_runtime_exit(rt, d, &normal));
    CHECK_OK(transom_runtime_send(rt, s, (const uint8_t *)"alive?", 6));
    CHECK_OK(transom_mailbox_receive(survivor, 10 * SECOND_NS, &m));
    CHECK(m.kind == TRANSOM_MESSAGE_USER && m.len == 6);

    /* Linking to a dead pid: NOPROC at once, as an EXIT message for a trapping process. */
    CHECK_STATUS(transom_runtime_link(rt, w, a), TRANSOM_ERR_NOPROC);
    CHECK_OK(transom_mailbox_receive(watcher, 10 * SECOND_NS, &m));
    CHECK(m.kind == TRANSOM_MESSAGE_EXIT && m.from == a && m.reason->kind == TRANSOM_EXIT_NOPROC);

    /* unlink: a later crash no longer reaches the watcher. */
    transom_pid e = spawn_plain(rt, NULL);
    CHECK_OK(transom_runtime_link(rt, w, e));
    CHECK_OK(transom_runtime_unlink(rt, w, e));
    CHECK_OK(transom_runtime_exit(rt, e, &boom));
    CHECK_STATUS(transom_mailbox_receive(watcher, 50000000ull, &m), TRANSOM_TIMEOUT);

    transom_mailbox_free(watcher);
    transom_mailbox_free(survivor);
    transom_runtime_free(rt);
}

static void kill_is_untrappable(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    transom_spawn_options trap;
    memset(&trap, 0, sizeof trap);
    trap.trap_exit = 1;
    static monitor_rec mon;
    monitor_rec_init(&mon);
    trap.monitor = monitor_of(&mon);
    transom_mailbox *mb;
    transom_pid p;
    CHECK_OK(transom_mailbox_open(rt, &trap, &mb, &p));
    /* A trappable exit signal arrives as a message... */
    transom_exit_reason err = reason_of(TRANSOM_EXIT_ERROR, 1, "trap me");
    CHECK_OK(transom_runtime_exit(rt, p, &err));
    transom_message m;
    CHECK_OK(transom_mailbox_receive(mb, 10 * SECOND_NS, &m));
    CHECK(m.kind == TRANSOM_MESSAGE_EXIT && m.reason->code == 1);
    /* ...KILLED is not. */
    transom_exit_reason kill = reason_of(TRANSOM_EXIT_KILLED, 0, "die");
    CHECK_OK(transom_runtime_exit(rt, p, &kill));
    CHECK(latch_wait(&mon.fired, 1, 10));
    CHECK(mon.reason.kind == TRANSOM_EXIT_KILLED);
    CHECK_STATUS(transom_mailbox_receive(mb, 10 * SECOND_NS, &m), TRANSOM_ERR_CLOSED);
    transom_mailbox_free(mb);
    transom_runtime_free(rt);
}

static void monitors_fire_once_stack_and_can_be_removed(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    transom_pid p = spawn_plain(rt, NULL);
    static monitor_rec m1, m2, removed, dead;
    monitor_rec_init(&m1);
    monitor_rec_init(&m2);
    monitor_rec_init(&removed);
    monitor_rec_init(&dead);
    uint64_t r1, r2, r3, r4;
    CHECK_OK(transom_runtime_monitor(rt, p, monitor_of(&m1), &r1));
    CHECK_OK(transom_runtime_monitor(rt, p, monitor_of(&m2), &r2));
    CHECK_OK(transom_runtime_monitor(rt, p, monitor_of(&removed), &r3));
    CHECK(r1 != r2 && r2 != r3);
    CHECK_OK(transom_runtime_demonitor(rt, r3));
    CHECK(atomic_load(&removed.drops) == 1 && atomic_load(&removed.calls) == 0);
    transom_exit_reason err = reason_of(TRANSOM_EXIT_ERROR, 5, "x");
    CHECK_OK(transom_runtime_exit(rt, p, &err));
    CHECK(latch_wait(&m1.fired, 1, 10) && latch_wait(&m2.fired, 1, 10));
    CHECK(m1.reason.code == 5 && m2.reason.code == 5);
    CHECK(!pthread_equal(m1.thread, pthread_self())); /* on a runtime thread */
    CHECK_STATUS(transom_runtime_demonitor(rt, r1), TRANSOM_ERR_NOT_FOUND); /* already fired */
    /* Monitoring a dead pid fires at once with NOPROC. */
    CHECK_OK(transom_runtime_monitor(rt, p, monitor_of(&dead), &r4));
    CHECK(latch_wait(&dead.fired, 1, 10));
    CHECK(dead.pid == p && dead.reason.kind == TRANSOM_EXIT_NOPROC);
    transom_runtime_free(rt);
    CHECK(atomic_load(&m1.calls) == 1 && atomic_load(&m2.calls) == 1 && atomic_load(&dead.calls) == 1);
    CHECK(atomic_load(&m1.drops) == 1 && atomic_load(&m2.drops) == 1 && atomic_load(&dead.drops) == 1);
    CHECK(atomic_load(&removed.calls) == 0);
}

static void a_freed_mailbox_crashes_with_dropped_and_a_normal_exit_does_not(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    static monitor_rec dropped, normal;
    monitor_rec_init(&dropped);
    monitor_rec_init(&normal);
    transom_spawn_options o;
    memset(&o, 0, sizeof o);
    o.monitor = monitor_of(&dropped);
    transom_mailbox *a;
    transom_pid pa;
    CHECK_OK(transom_mailbox_open(rt, &o, &a, &pa));
    transom_mailbox_free(a);
    CHECK(latch_wait(&dropped.fired, 1, 10));
    CHECK(dropped.pid == pa && dropped.reason.kind == TRANSOM_EXIT_DROPPED);

    o.monitor = monitor_of(&normal);
    transom_mailbox *b;
    transom_pid pb;
    CHECK_OK(transom_mailbox_open(rt, &o, &b, &pb));
    transom_exit_reason r = reason_of(TRANSOM_EXIT_NORMAL, 0, "done");
    CHECK_OK(transom_mailbox_exit(b, &r));
    CHECK(latch_wait(&normal.fired, 1, 10));
    CHECK(normal.reason.kind == TRANSOM_EXIT_NORMAL && strcmp(normal.reason.message, "done") == 0);
    transom_message m;
    CHECK_STATUS(transom_mailbox_receive(b, 0, &m), TRANSOM_ERR_CLOSED);
    transom_pid again = 0;
    CHECK_OK(transom_mailbox_pid(b, &again));
    CHECK(again == pb);
    transom_mailbox_free(b); /* no second exit */
    transom_runtime_free(rt);
    CHECK(atomic_load(&normal.calls) == 1);
}

static void a_timed_out_receive_does_not_lose_the_next_message(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    transom_mailbox *mb;
    transom_pid p;
    CHECK_OK(transom_mailbox_open(rt, NULL, &mb, &p));
    transom_message m;
    for (int i = 0; i < (int)scaled(200); i++) {
        CHECK_STATUS(transom_mailbox_receive(mb, 1000, &m), TRANSOM_TIMEOUT);
        CHECK_OK(transom_runtime_send(rt, p, (const uint8_t *)&i, sizeof i));
        CHECK_OK(transom_mailbox_receive(mb, 10 * SECOND_NS, &m));
        int v;
        memcpy(&v, m.bytes, sizeof v);
        CHECK(v == i);
    }
    transom_mailbox_free(mb);
    transom_runtime_free(rt);
}

/* ---- shutdown: a thread blocked in receive is released; monitors see SHUTDOWN ---- */
typedef struct {
    transom_mailbox *mb;
    transom_status result;
    latch started;
} blocked_receiver;

static void *receive_forever(void *arg) {
    blocked_receiver *br = arg;
    transom_message m;
    latch_signal(&br->started);
    br->result = transom_mailbox_receive(br->mb, UINT64_MAX, &m);
    return NULL;
}

static void runtime_free_shuts_everything_down(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    atomic_store(&plain_drops, 0);
    static monitor_rec mons[8];
    for (int i = 0; i < 8; i++) {
        monitor_rec_init(&mons[i]);
        transom_spawn_options o;
        memset(&o, 0, sizeof o);
        o.monitor = monitor_of(&mons[i]);
        spawn_plain(rt, &o);
    }
    static blocked_receiver br;
    latch_init(&br.started);
    br.result = 12345;
    CHECK_OK(transom_mailbox_open(rt, NULL, &br.mb, NULL));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, receive_forever, &br) == 0);
    CHECK(latch_wait(&br.started, 1, 10));
    transom_runtime_free(rt);
    pthread_join(t, NULL);
    CHECK(br.result == TRANSOM_ERR_CLOSED);
    for (int i = 0; i < 8; i++) {
        CHECK(atomic_load(&mons[i].calls) == 1 && atomic_load(&mons[i].drops) == 1);
        CHECK(mons[i].reason.kind == TRANSOM_EXIT_SHUTDOWN);
    }
    CHECK(atomic_load(&plain_drops) == 8);
    transom_mailbox_free(br.mb); /* still valid to free after the runtime */
}

int main(void) {
    RUN(messages_arrive_in_order_per_sender);
    RUN(a_nonzero_status_ends_only_that_process_with_error);
    RUN(links_follow_erlangs_rules);
    RUN(kill_is_untrappable);
    RUN(monitors_fire_once_stack_and_can_be_removed);
    RUN(a_freed_mailbox_crashes_with_dropped_and_a_normal_exit_does_not);
    RUN(a_timed_out_receive_does_not_lose_the_next_message);
    RUN(runtime_free_shuts_everything_down);
    return 0;
}
