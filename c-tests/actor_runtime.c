/* The actor runtime from C: callback processes, FIFO delivery, links and exit signals with
 * Erlang's rules, monitors (add/remove), mailboxes owned by C threads, close and free, and one
 * meaning per code: pid 0 is NOPROC, an exited mailbox is CLOSED, SHUTDOWN is no crash. */
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
    CHECK_OK(transom_runtime_add_monitor(rt, q, monitor_of(&mon2), &r2));
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
    trap.trap_exit = true;
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
    trap.trap_exit = true;
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
    CHECK_OK(transom_runtime_add_monitor(rt, p, monitor_of(&m1), &r1));
    CHECK_OK(transom_runtime_add_monitor(rt, p, monitor_of(&m2), &r2));
    CHECK_OK(transom_runtime_add_monitor(rt, p, monitor_of(&removed), &r3));
    CHECK(r1 != r2 && r2 != r3);
    CHECK_OK(transom_runtime_remove_monitor(rt, r3));
    CHECK(atomic_load(&removed.drops) == 1 && atomic_load(&removed.calls) == 0);
    transom_exit_reason err = reason_of(TRANSOM_EXIT_ERROR, 5, "x");
    CHECK_OK(transom_runtime_exit(rt, p, &err));
    CHECK(latch_wait(&m1.fired, 1, 10) && latch_wait(&m2.fired, 1, 10));
    CHECK(m1.reason.code == 5 && m2.reason.code == 5);
    CHECK(!pthread_equal(m1.thread, pthread_self())); /* on a runtime thread */
    CHECK_STATUS(transom_runtime_remove_monitor(rt, r1), TRANSOM_ERR_NOT_FOUND); /* already fired */
    /* Monitoring a dead pid fires at once with NOPROC. */
    CHECK_OK(transom_runtime_add_monitor(rt, p, monitor_of(&dead), &r4));
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

/* ---- one meaning per code (issue 12 section 6) ---- */

/* A monitor callback that must never run; counts its drop. */
static atomic_int never_calls, never_drops;
static void never_call(void *ctx, transom_pid pid, const transom_exit_reason *reason) {
    (void)ctx;
    (void)pid;
    (void)reason;
    atomic_fetch_add(&never_calls, 1);
}
static void never_drop(void *ctx) {
    (void)ctx;
    atomic_fetch_add(&never_drops, 1);
}

static void pid_zero_names_no_process_everywhere(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(1, &rt));
    transom_spawn_options trap;
    memset(&trap, 0, sizeof trap);
    trap.trap_exit = true;
    transom_mailbox *trapper, *plain;
    transom_pid t, p;
    CHECK_OK(transom_mailbox_open(rt, &trap, &trapper, &t));
    CHECK_OK(transom_mailbox_open(rt, NULL, &plain, &p));
    const uint8_t data[1] = {'x'};
    transom_exit_reason kill = reason_of(TRANSOM_EXIT_KILLED, 0, "");
    CHECK_STATUS(transom_runtime_send(rt, 0, data, 1), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_send_from(rt, t, 0, data, 1), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_mailbox_send(trapper, 0, data, 1), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_exit(rt, 0, &kill), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_link(rt, 0, t), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_link(rt, t, 0), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_link(rt, p, 0), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_unlink(rt, 0, t), TRANSOM_ERR_NOPROC);
    CHECK_STATUS(transom_runtime_unlink(rt, t, 0), TRANSOM_ERR_NOPROC);
    /* add_monitor: refused like send, not fired like a dead pid; the callback is dropped. */
    atomic_store(&never_calls, 0);
    atomic_store(&never_drops, 0);
    transom_monitor_callback cb = {NULL, never_call, never_drop};
    uint64_t id = 77;
    CHECK_STATUS(transom_runtime_add_monitor(rt, 0, cb, &id), TRANSOM_ERR_NOPROC);
    CHECK(id == 77 && atomic_load(&never_drops) == 1);
    /* Nothing was set off: no NOPROC signal reached the trapping mailbox, the plain one lives. */
    transom_message m;
    CHECK_STATUS(transom_mailbox_receive(trapper, 0, &m), TRANSOM_TIMEOUT);
    CHECK_OK(transom_runtime_send(rt, p, data, 1));
    CHECK_OK(transom_mailbox_receive(plain, 10 * SECOND_NS, &m));
    CHECK(m.kind == TRANSOM_MESSAGE_USER && m.len == 1);
    transom_mailbox_free(trapper);
    transom_mailbox_free(plain);
    transom_runtime_free(rt);
    CHECK(atomic_load(&never_calls) == 0 && atomic_load(&never_drops) == 1);
}

/* Every mailbox call but transom_mailbox_pid returns CLOSED once the process has exited. */
static void check_mailbox_closed(transom_mailbox *mb, transom_pid self, transom_pid other) {
    transom_message m;
    transom_exit_reason normal = reason_of(TRANSOM_EXIT_NORMAL, 0, "");
    CHECK_STATUS(transom_mailbox_receive(mb, 0, &m), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_mailbox_receive(mb, SECOND_NS, &m), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_mailbox_send(mb, other, (const uint8_t *)"x", 1), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_mailbox_exit(mb, &normal), TRANSOM_ERR_CLOSED);
    transom_pid again = 0;
    CHECK_OK(transom_mailbox_pid(mb, &again));
    CHECK(again == self);
}

static void after_exit_kill_or_close_every_mailbox_call_is_closed(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(1, &rt));
    transom_mailbox *other, *a, *b, *c;
    transom_pid po, pa, pb, pc;
    CHECK_OK(transom_mailbox_open(rt, NULL, &other, &po));
    /* Its own exit: the first reason stands. */
    static monitor_rec ma;
    monitor_rec_init(&ma);
    transom_spawn_options o;
    memset(&o, 0, sizeof o);
    o.monitor = monitor_of(&ma);
    CHECK_OK(transom_mailbox_open(rt, &o, &a, &pa));
    transom_exit_reason first = reason_of(TRANSOM_EXIT_ERROR, 3, "first");
    CHECK_OK(transom_mailbox_exit(a, &first));
    check_mailbox_closed(a, pa, po);
    CHECK(latch_wait(&ma.fired, 1, 10));
    CHECK(ma.reason.kind == TRANSOM_EXIT_ERROR && ma.reason.code == 3);
    /* Killed from outside (mailbox_exit used to say NOPROC here). */
    CHECK_OK(transom_mailbox_open(rt, NULL, &b, &pb));
    transom_exit_reason kill = reason_of(TRANSOM_EXIT_KILLED, 0, "");
    CHECK_OK(transom_runtime_exit(rt, pb, &kill));
    check_mailbox_closed(b, pb, po);
    /* The runtime closed. */
    CHECK_OK(transom_mailbox_open(rt, NULL, &c, &pc));
    CHECK_OK(transom_runtime_close(rt));
    check_mailbox_closed(c, pc, po);
    transom_mailbox_free(a);
    transom_mailbox_free(b);
    transom_mailbox_free(c);
    transom_mailbox_free(other);
    transom_runtime_free(rt);
    CHECK(atomic_load(&ma.calls) == 1);
}

static void an_explicit_shutdown_exit_kills_no_linked_process(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    static monitor_rec stopped_mon, plain_mon;
    monitor_rec_init(&stopped_mon);
    monitor_rec_init(&plain_mon);
    transom_spawn_options o;
    memset(&o, 0, sizeof o);
    o.monitor = monitor_of(&stopped_mon);
    transom_pid stopped = spawn_plain(rt, &o);
    /* A non-trapping and a trapping process linked to it. */
    memset(&o, 0, sizeof o);
    o.link = stopped;
    o.monitor = monitor_of(&plain_mon);
    transom_mailbox *plain, *trapping;
    transom_pid pp, pt;
    CHECK_OK(transom_mailbox_open(rt, &o, &plain, &pp));
    memset(&o, 0, sizeof o);
    o.link = stopped;
    o.trap_exit = true;
    CHECK_OK(transom_mailbox_open(rt, &o, &trapping, &pt));

    transom_exit_reason shutdown = reason_of(TRANSOM_EXIT_SHUTDOWN, 0, "stop");
    CHECK_OK(transom_runtime_exit(rt, stopped, &shutdown));
    CHECK(latch_wait(&stopped_mon.fired, 1, 10));
    CHECK(stopped_mon.reason.kind == TRANSOM_EXIT_SHUTDOWN);
    /* The trapping one hears of it, reason unchanged... */
    transom_message m;
    CHECK_OK(transom_mailbox_receive(trapping, 10 * SECOND_NS, &m));
    CHECK(m.kind == TRANSOM_MESSAGE_EXIT && m.from == stopped);
    CHECK(m.reason->kind == TRANSOM_EXIT_SHUTDOWN && strcmp(m.reason->message, "stop") == 0);
    /* ...the plain one survives, as after a NORMAL exit. */
    CHECK_OK(transom_runtime_send(rt, pp, (const uint8_t *)"alive?", 6));
    CHECK_OK(transom_mailbox_receive(plain, 10 * SECOND_NS, &m));
    CHECK(m.kind == TRANSOM_MESSAGE_USER && m.len == 6);
    CHECK(atomic_load(&plain_mon.calls) == 0);
    /* A crash, by contrast, kills it. */
    transom_pid crasher = spawn_plain(rt, NULL);
    CHECK_OK(transom_runtime_link(rt, pp, crasher));
    transom_exit_reason crash = reason_of(TRANSOM_EXIT_ERROR, 9, "crash");
    CHECK_OK(transom_runtime_exit(rt, crasher, &crash));
    CHECK(latch_wait(&plain_mon.fired, 1, 10));
    CHECK(plain_mon.reason.kind == TRANSOM_EXIT_ERROR && plain_mon.reason.code == 9);
    transom_mailbox_free(plain);
    transom_mailbox_free(trapping);
    transom_runtime_free(rt);
}

/* ---- transom_runtime_close: idempotent, the handle stays valid, later calls CLOSED ---- */
static void runtime_close_then_use_is_closed(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    atomic_store(&plain_drops, 0);
    static monitor_rec mon;
    monitor_rec_init(&mon);
    transom_spawn_options o;
    memset(&o, 0, sizeof o);
    o.monitor = monitor_of(&mon);
    uint64_t id = 0;
    transom_pid p;
    transom_behaviour_callback b = {NULL, status_handle, plain_drop};
    CHECK_OK(transom_runtime_spawn(rt, b, &o, &p, &id));
    static blocked_receiver br;
    latch_init(&br.started);
    br.result = 12345;
    CHECK_OK(transom_mailbox_open(rt, NULL, &br.mb, NULL));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, receive_forever, &br) == 0);
    CHECK(latch_wait(&br.started, 1, 10));

    CHECK_OK(transom_runtime_close(rt));
    /* Everything happened before close returned: no waiting needed. */
    CHECK(atomic_load(&mon.calls) == 1 && atomic_load(&mon.drops) == 1);
    CHECK(mon.reason.kind == TRANSOM_EXIT_SHUTDOWN);
    CHECK(atomic_load(&plain_drops) == 1);
    pthread_join(t, NULL);
    CHECK_STATUS(br.result, TRANSOM_ERR_CLOSED);
    CHECK_OK(transom_runtime_close(rt)); /* idempotent */

    /* The handle stays valid: every call returns CLOSED, closures are still owned. */
    const uint8_t data[1] = {'x'};
    transom_exit_reason err = reason_of(TRANSOM_EXIT_ERROR, 1, "");
    CHECK_STATUS(transom_runtime_spawn(rt, b, NULL, &p, NULL), TRANSOM_ERR_CLOSED);
    CHECK(atomic_load(&plain_drops) == 2);
    CHECK_STATUS(transom_runtime_send(rt, p, data, 1), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_runtime_send_from(rt, 0, p, data, 1), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_runtime_exit(rt, p, &err), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_runtime_link(rt, p, p), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_runtime_unlink(rt, p, p), TRANSOM_ERR_CLOSED);
    atomic_store(&never_drops, 0);
    transom_monitor_callback cb = {NULL, never_call, never_drop};
    uint64_t id2 = 0;
    CHECK_STATUS(transom_runtime_add_monitor(rt, p, cb, &id2), TRANSOM_ERR_CLOSED);
    CHECK(atomic_load(&never_drops) == 1 && id2 == 0);
    CHECK_STATUS(transom_runtime_remove_monitor(rt, id), TRANSOM_ERR_CLOSED);
    transom_mailbox *late = NULL;
    CHECK_STATUS(transom_mailbox_open(rt, NULL, &late, NULL), TRANSOM_ERR_CLOSED);
    CHECK(late == NULL);
    transom_mailbox_free(br.mb);
    transom_runtime_free(rt); /* frees a closed runtime */
    CHECK(atomic_load(&mon.calls) == 1 && atomic_load(&plain_drops) == 2);
}

/* ---- add_monitor / remove_monitor ---- */

/* A monitor callback that blocks until released, so a removal can race it. */
typedef struct {
    latch entered, release;
    atomic_int done, drops;
    transom_runtime *rt;
    uint64_t id;
    transom_status inside; /* what remove_monitor returned from inside the callback */
    int drops_inside;
} slow_monitor;

static void slow_call(void *ctx, transom_pid pid, const transom_exit_reason *reason) {
    (void)pid;
    (void)reason;
    slow_monitor *s = ctx;
    latch_signal(&s->entered);
    CHECK(latch_wait(&s->release, 1, 30));
    atomic_store(&s->done, 1);
}

static void slow_drop(void *ctx) { atomic_fetch_add(&((slow_monitor *)ctx)->drops, 1); }

typedef struct {
    slow_monitor *s;
    latch calling;
    transom_status result;
    int done_at_return, drops_at_return;
} remover;

static void *remove_it(void *arg) {
    remover *r = arg;
    latch_signal(&r->calling);
    r->result = transom_runtime_remove_monitor(r->s->rt, r->s->id);
    r->done_at_return = atomic_load(&r->s->done);
    r->drops_at_return = atomic_load(&r->s->drops);
    return NULL;
}

static void remove_monitor_waits_for_a_callback_in_flight(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(2, &rt));
    static slow_monitor s;
    memset(&s, 0, sizeof s);
    latch_init(&s.entered);
    latch_init(&s.release);
    s.rt = rt;
    transom_pid target = spawn_plain(rt, NULL);
    transom_monitor_callback cb = {&s, slow_call, slow_drop};
    CHECK_OK(transom_runtime_add_monitor(rt, target, cb, &s.id));
    CHECK(s.id != 0);
    transom_exit_reason err = reason_of(TRANSOM_EXIT_ERROR, 1, "");
    CHECK_OK(transom_runtime_exit(rt, target, &err));
    CHECK(latch_wait(&s.entered, 1, 10)); /* the callback is running on a worker */
    static remover r;
    memset(&r, 0, sizeof r);
    latch_init(&r.calling);
    r.s = &s;
    r.result = 12345;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, remove_it, &r) == 0);
    CHECK(latch_wait(&r.calling, 1, 10));
    latch_signal(&s.release); /* the remover is (almost surely) blocked in remove by now */
    pthread_join(t, NULL);
    /* It fired, so it is no longer registered: NOT_FOUND, but only once the call and the
     * drop were over. */
    CHECK_STATUS(r.result, TRANSOM_ERR_NOT_FOUND);
    CHECK(r.done_at_return == 1 && r.drops_at_return == 1);
    transom_runtime_free(rt);
    CHECK(atomic_load(&s.drops) == 1);
}

static void remove_self(void *ctx, transom_pid pid, const transom_exit_reason *reason) {
    (void)pid;
    (void)reason;
    slow_monitor *s = ctx;
    s->inside = transom_runtime_remove_monitor(s->rt, s->id);
    s->drops_inside = atomic_load(&s->drops);
    latch_signal(&s->entered);
}

static void remove_monitor_from_inside_its_callback_returns_at_once(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(1, &rt));
    static slow_monitor s;
    memset(&s, 0, sizeof s);
    latch_init(&s.entered);
    s.rt = rt;
    s.inside = 12345;
    transom_mailbox *mb;
    transom_pid target;
    CHECK_OK(transom_mailbox_open(rt, NULL, &mb, &target));
    transom_monitor_callback cb = {&s, remove_self, slow_drop};
    CHECK_OK(transom_runtime_add_monitor(rt, target, cb, &s.id));
    transom_mailbox_free(mb); /* DROPPED: the monitor fires */
    CHECK(latch_wait(&s.entered, 1, 10));
    CHECK_STATUS(s.inside, TRANSOM_ERR_NOT_FOUND); /* firing = no longer registered */
    CHECK(s.drops_inside == 0);                    /* drop runs after the callback returns */
    CHECK_STATUS(transom_runtime_remove_monitor(rt, s.id), TRANSOM_ERR_NOT_FOUND);
    transom_runtime_free(rt);
    CHECK(atomic_load(&s.drops) == 1);
}

static void remove_monitor_of_an_unknown_id_is_not_found(void) {
    transom_runtime *rt;
    CHECK_OK(transom_runtime_new(1, &rt));
    CHECK_STATUS(transom_runtime_remove_monitor(rt, 0), TRANSOM_ERR_NOT_FOUND);
    CHECK_STATUS(transom_runtime_remove_monitor(rt, 12345), TRANSOM_ERR_NOT_FOUND);
    char detail[256];
    size_t len = 0;
    CHECK_OK(transom_last_error(detail, sizeof detail, &len));
    CHECK(strstr(detail, "no monitor with id 12345") != NULL);
    /* Removed before it fired: OK once (drop ran, call never), NOT_FOUND after. */
    static monitor_rec m;
    monitor_rec_init(&m);
    transom_pid p = spawn_plain(rt, NULL);
    uint64_t id = 0;
    CHECK_OK(transom_runtime_add_monitor(rt, p, monitor_of(&m), &id));
    CHECK_OK(transom_runtime_remove_monitor(rt, id));
    CHECK(atomic_load(&m.drops) == 1 && atomic_load(&m.calls) == 0);
    CHECK_STATUS(transom_runtime_remove_monitor(rt, id), TRANSOM_ERR_NOT_FOUND);
    transom_runtime_free(rt);
    CHECK(atomic_load(&m.calls) == 0 && atomic_load(&m.drops) == 1);
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
    RUN(pid_zero_names_no_process_everywhere);
    RUN(after_exit_kill_or_close_every_mailbox_call_is_closed);
    RUN(an_explicit_shutdown_exit_kills_no_linked_process);
    RUN(runtime_close_then_use_is_closed);
    RUN(remove_monitor_waits_for_a_callback_in_flight);
    RUN(remove_monitor_from_inside_its_callback_returns_at_once);
    RUN(remove_monitor_of_an_unknown_id_is_not_found);
    return 0;
}
