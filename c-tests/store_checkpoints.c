/* Named-cursor checkpoints and the store's directory: a canal that outlives its store never
 * overwrites the checkpoint of a newer store of the same directory (its durable writes are
 * refused with CLOSED while another store holds the directory or after another cursor wrote
 * the checkpoint), and a deleted checkpoint file of a cursor that checkpointed before is
 * CORRUPT, never a silent restart from the beginning; a new name starts fresh. */
#include <sys/stat.h>

#include "store_support.h"

static void append_n(const transom_store *s, int n) {
    for (int i = 0; i < n; i++) {
        transom_append a = event_of("s", 1, "payload", 7);
        CHECK_OK(transom_store_append(s, &a, NULL));
    }
}

static transom_canal *named_cursor(const transom_store *s, const char *name) {
    transom_cursor_options o;
    memset(&o, 0, sizeof o);
    o.start = TRANSOM_START_NAMED;
    o.name = name;
    o.name_len = strlen(name);
    transom_canal *c = NULL;
    CHECK_OK(transom_canal_open_cursor(s, &o, &c));
    CHECK(c != NULL);
    return c;
}

/* Pulls exactly the events first..last (one batch) from `c`. */
static void pull_range(transom_canal *c, uint64_t first, uint64_t last) {
    transom_item it[32];
    size_t n = 0;
    CHECK_OK(transom_canal_pull_batch(c, 0, it, 32, &n));
    CHECK(n == last - first + 1);
    CHECK(it[0].event.sequence == first && it[n - 1].event.sequence == last);
}

/* The next sequence a named cursor delivers. */
static uint64_t resumes_at(const transom_store *s, const char *name) {
    transom_canal *c = named_cursor(s, name);
    transom_item it[1];
    size_t n = 0;
    CHECK_OK(transom_canal_pull_batch(c, 0, it, 1, &n));
    CHECK(n == 1);
    uint64_t seq = it[0].event.sequence;
    transom_canal_free(c);
    return seq;
}

static void an_old_canal_never_overwrites_a_newer_stores_checkpoint(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *s1 = open_store(dir, TRANSOM_SYNC_ALWAYS);
    append_n(s1, 20);
    transom_canal *old = named_cursor(s1, "proj");
    pull_range(old, 1, 20);
    CHECK_OK(transom_canal_ack(old, 3));
    close_store(s1); /* the old canal outlives its store */

    transom_store *s2 = open_store(dir, TRANSOM_SYNC_ALWAYS);
    transom_canal *fresh = named_cursor(s2, "proj");
    pull_range(fresh, 1, 20);
    CHECK_OK(transom_canal_ack(fresh, 11));
    CHECK_OK(transom_canal_checkpoint(fresh));
    /* The new store holds the directory: the old canal's durable write is refused. */
    CHECK_STATUS(transom_canal_checkpoint(old), TRANSOM_ERR_CLOSED);
    transom_canal_free(fresh);
    close_store(s2);
    /* No store is open now, but the checkpoint is no longer the one the old canal saw (a newer
     * cursor wrote 11): refused still. */
    CHECK_STATUS(transom_canal_checkpoint(old), TRANSOM_ERR_CLOSED);
    transom_canal_free(old);

    transom_store *s3 = open_store(dir, TRANSOM_SYNC_ALWAYS);
    CHECK(resumes_at(s3, "proj") == 12);
    close_store(s3);
    remove_tree(dir);
}

/* After its store closed, an old canal's durable writes are refused, even when nobody opened
 * the directory since: CLOSED, and the checkpoint file keeps what was saved while open. */
static void a_canal_cannot_checkpoint_after_its_store_closed(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    transom_store *s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    append_n(s, 10);
    transom_canal *c = named_cursor(s, "drain");
    pull_range(c, 1, 10);
    CHECK_OK(transom_canal_ack(c, 4));
    CHECK_OK(transom_canal_checkpoint(c));
    close_store(s);
    CHECK_STATUS(transom_canal_ack(c, 7), TRANSOM_ERR_CLOSED);
    CHECK_STATUS(transom_canal_checkpoint(c), TRANSOM_ERR_CLOSED);
    transom_canal_free(c);
    s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    CHECK(resumes_at(s, "drain") == 5);
    close_store(s);
    remove_tree(dir);
}

static void path_of(char *buf, size_t cap, const char *dir, const char *file) {
    snprintf(buf, cap, "%s/checkpoints/%s", dir, file);
}

/* Decision: a name that checkpointed once leaves `<name>.known` beside `<name>.ckpt`. A
 * missing `.ckpt` next to a `.known` was deleted: CORRUPT naming the file. No `.known`: a new
 * name, which starts at the beginning. Deleting both resets the cursor on purpose. */
static void a_deleted_checkpoint_file_is_corrupt_and_a_new_name_starts_fresh(void) {
    char dir[256], ckpt[512], known[512];
    temp_dir(dir, sizeof dir);
    transom_store *s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    append_n(s, 10);
    transom_canal *c = named_cursor(s, "orders");
    pull_range(c, 1, 10);
    CHECK_OK(transom_canal_ack(c, 6));
    CHECK_OK(transom_canal_checkpoint(c));
    transom_canal_free(c);
    CHECK(resumes_at(s, "orders") == 7);

    path_of(ckpt, sizeof ckpt, dir, "orders.ckpt");
    path_of(known, sizeof known, dir, "orders.known");
    struct stat st;
    CHECK(stat(known, &st) == 0);
    CHECK(unlink(ckpt) == 0);
    transom_cursor_options o;
    memset(&o, 0, sizeof o);
    o.start = TRANSOM_START_NAMED;
    o.name = "orders";
    o.name_len = 6;
    transom_canal *x = NULL;
    CHECK_STATUS(transom_canal_open_cursor(s, &o, &x), TRANSOM_ERR_CORRUPT);
    CHECK(x == NULL);
    char detail[512];
    size_t n = 0;
    CHECK_OK(transom_last_error(detail, sizeof detail, &n));
    CHECK(strstr(detail, "orders.ckpt") != NULL);
    /* Also after a reopen of the store: nothing was "repaired". */
    close_store(s);
    s = open_store(dir, TRANSOM_SYNC_ALWAYS);
    CHECK_STATUS(transom_canal_open_cursor(s, &o, &x), TRANSOM_ERR_CORRUPT);
    /* A name never checkpointed starts at the beginning. */
    CHECK(resumes_at(s, "billing") == 1);
    /* Deleting the marker too resets the cursor deliberately. */
    CHECK(unlink(known) == 0);
    CHECK(resumes_at(s, "orders") == 1);
    close_store(s);
    remove_tree(dir);
}

int main(void) {
    RUN(an_old_canal_never_overwrites_a_newer_stores_checkpoint);
    RUN(a_canal_cannot_checkpoint_after_its_store_closed);
    RUN(a_deleted_checkpoint_file_is_corrupt_and_a_new_name_starts_fresh);
    return 0;
}
