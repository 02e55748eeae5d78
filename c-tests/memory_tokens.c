/* Token integrity: a token names its manager by a 64-bit key no other manager of the process
 * ever gets (alive or freed), and its slot by index and generation, so a token is never issued
 * twice and another manager's token is always refused.
 *
 * 0.1 packed an 8-bit manager tag into a 64-bit token: the 256th manager created after A
 * accepted A's tokens, and the first token of every manager with the same tag was bit-for-bit
 * identical. Slot retirement (a slot's generation exhausted after 2^40 messages) is not
 * reachable from C in reasonable time; src/memory/tests.rs drives real managers into it. */
#include "memory_support.h"

#define MANAGERS 300

static int same(transom_token a, transom_token b) { return a.key == b.key && a.slot == b.slot; }

/* Creates and frees MANAGERS managers (of every kind, in turn) after A: every one of them
 * refuses A's token and the tokens of the managers freed before it, and no two of them issue
 * the same first token. A still honours its own token at the end. */
static void tokens_of_other_managers_are_refused_by_hundreds_of_successors(void) {
    void *sa;
    transom_manager *a = new_manager(TRANSOM_MANAGER_HEAP, 2, 16, &sa);
    transom_header h;
    transom_header_init(&h);
    transom_token ta;
    CHECK_OK(transom_manager_store(a, &h, (const uint8_t *)"A's", 3, &ta));
    CHECK(ta.key != 0);

    static transom_token firsts[MANAGERS];
    transom_read_view v;
    transom_write_view w;
    transom_header peek;
    uint8_t buf[16];
    size_t n;
    for (int i = 0; i < MANAGERS; i++) {
        void *s;
        transom_manager *m = new_manager(ALL_KINDS[i % 3], 2, 16, &s);
        CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"mine", 4, &firsts[i]));
        for (int j = 0; j < i; j++) CHECK(!same(firsts[i], firsts[j])); /* first tokens differ */
        CHECK(firsts[i].key > ta.key);

        /* A's token, alive in A, is refused with BAD_TOKEN by every call of every successor. */
        CHECK_STATUS(transom_manager_read(m, ta, &v), TRANSOM_ERR_BAD_TOKEN);
        CHECK_STATUS(transom_manager_write(m, ta, &w), TRANSOM_ERR_BAD_TOKEN);
        CHECK_STATUS(transom_manager_peek_header(m, ta, &peek), TRANSOM_ERR_BAD_TOKEN);
        CHECK_STATUS(transom_manager_take(m, ta, buf, sizeof buf, &n), TRANSOM_ERR_BAD_TOKEN);
        CHECK_STATUS(transom_manager_remove(m, ta), TRANSOM_ERR_BAD_TOKEN);
        CHECK_STATUS(transom_manager_commit(m, ta, &h), TRANSOM_ERR_BAD_TOKEN);
        CHECK_STATUS(transom_manager_abort(m, ta), TRANSOM_ERR_BAD_TOKEN);
        CHECK_STATUS(transom_manager_release(m, ta), TRANSOM_ERR_BAD_TOKEN);
        /* Tokens kept from freed managers are refused by their successors. */
        for (int j = 0; j < i; j++) {
            CHECK_STATUS(transom_manager_read(m, firsts[j], &v), TRANSOM_ERR_BAD_TOKEN);
            CHECK_STATUS(transom_manager_remove(m, firsts[j]), TRANSOM_ERR_BAD_TOKEN);
        }
        /* Its own first token works, and the refusals took nothing from it. */
        CHECK_OK(transom_manager_read(m, firsts[i], &v));
        CHECK(v.len == 4 && memcmp(v.payload, "mine", 4) == 0);
        CHECK_OK(transom_manager_release(m, firsts[i]));
        CHECK(available(m) == 1);
        free_manager(m, s);
    }

    CHECK_OK(transom_manager_read(a, ta, &v));
    CHECK(v.len == 3 && memcmp(v.payload, "A's", 3) == 0);
    CHECK_OK(transom_manager_release(a, ta));
    /* And A refuses the tokens of all the managers created after it. */
    for (int j = 0; j < MANAGERS; j++) CHECK_STATUS(transom_manager_read(a, firsts[j], &v), TRANSOM_ERR_BAD_TOKEN);
    free_manager(a, sa);
}

/* Two live managers of the same kind and shape, filled the same way, share no token. */
static void twin_managers_never_share_a_token(void) {
    for (int k = 0; k < 3; k++) {
        void *s1, *s2;
        transom_manager *m1 = new_manager(ALL_KINDS[k], 4, 8, &s1);
        transom_manager *m2 = new_manager(ALL_KINDS[k], 4, 8, &s2);
        transom_header h;
        transom_header_init(&h);
        for (int i = 0; i < 4; i++) {
            transom_token t1, t2;
            CHECK_OK(transom_manager_store(m1, &h, (const uint8_t *)"1", 1, &t1));
            CHECK_OK(transom_manager_store(m2, &h, (const uint8_t *)"2", 1, &t2));
            CHECK(t1.key != t2.key && t1.slot == t2.slot); /* same slot, different manager */
            CHECK((t1.slot >> 40) < 4);                   /* the index: upper 24 bits */
            transom_read_view v;
            CHECK_STATUS(transom_manager_read(m1, t2, &v), TRANSOM_ERR_BAD_TOKEN);
            CHECK_STATUS(transom_manager_read(m2, t1, &v), TRANSOM_ERR_BAD_TOKEN);
        }
        free_manager(m1, s1);
        free_manager(m2, s2);
    }
}

/* One slot reused many times: every store gets a token never seen before, and every earlier
 * token stays stale (STALE_TOKEN, not BAD_TOKEN: it was issued by this manager). */
static void a_reused_slot_never_reissues_a_token(void) {
    const long rounds = scaled(20000);
    for (int k = 0; k < 3; k++) {
        void *s;
        transom_manager *m = new_manager(ALL_KINDS[k], 1, 8, &s);
        transom_header h;
        transom_header_init(&h);
        transom_token first, prev, t;
        CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"0", 1, &first));
        prev = first;
        for (long i = 0; i < rounds; i++) {
            uint8_t buf[8];
            size_t n;
            /* Free it every way there is: remove, take, and (for a reservation) abort. */
            if (i % 3 == 0) {
                CHECK_OK(transom_manager_remove(m, prev));
            } else {
                CHECK_OK(transom_manager_take(m, prev, buf, sizeof buf, &n));
            }
            if (i % 5 == 0) {
                uint8_t *p;
                CHECK_OK(transom_manager_reserve(m, 1, &t, &p));
                CHECK(!same(t, prev) && t.key == prev.key);
                CHECK_OK(transom_manager_abort(m, t));
                CHECK_STATUS(transom_manager_abort(m, t), TRANSOM_ERR_STALE_TOKEN);
                prev = t;
            }
            CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"x", 1, &t));
            CHECK(!same(t, prev) && !same(t, first) && t.key == first.key);
            CHECK(t.slot > prev.slot); /* the generation only grows: no wrap, no reuse */
            transom_read_view v;
            CHECK_STATUS(transom_manager_read(m, prev, &v), TRANSOM_ERR_STALE_TOKEN);
            CHECK_STATUS(transom_manager_read(m, first, &v), TRANSOM_ERR_STALE_TOKEN);
            prev = t;
        }
        transom_memory_stats st;
        CHECK_OK(transom_manager_stats(m, &st));
        CHECK(st.in_use == 1 && st.retired == 0 && st.high_water == 1);
        free_manager(m, s);
    }
}

/* A token forged from a live one (right key) but naming a generation the slot has not reached
 * is refused: BAD_TOKEN when the slot is free at that generation, STALE_TOKEN otherwise. */
static void forged_generations_are_refused(void) {
    void *s;
    transom_manager *m = new_manager(TRANSOM_MANAGER_CONCURRENT, 2, 8, &s);
    transom_header h;
    transom_header_init(&h);
    transom_token t;
    CHECK_OK(transom_manager_store(m, &h, (const uint8_t *)"x", 1, &t));
    transom_token future = t;
    future.slot += 1; /* the next generation of the same slot */
    transom_read_view v;
    CHECK_STATUS(transom_manager_read(m, future, &v), TRANSOM_ERR_STALE_TOKEN);
    CHECK_OK(transom_manager_remove(m, t));
    /* Now the slot is free at exactly that generation: never issued, so forged. */
    CHECK_STATUS(transom_manager_read(m, future, &v), TRANSOM_ERR_BAD_TOKEN);
    transom_token zero = {0, 0};
    CHECK_STATUS(transom_manager_read(m, zero, &v), TRANSOM_ERR_BAD_TOKEN);
    free_manager(m, s);
}

int main(void) {
    RUN(tokens_of_other_managers_are_refused_by_hundreds_of_successors);
    RUN(twin_managers_never_share_a_token);
    RUN(a_reused_slot_never_reissues_a_token);
    RUN(forged_generations_are_refused);
    return 0;
}
