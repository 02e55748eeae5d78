/* A STATIC manager never calls malloc after creation, also when a call fails.
 *
 * This program defines malloc, calloc, realloc, free, posix_memalign, aligned_alloc, memalign,
 * valloc and pvalloc itself, over glibc's __libc_* entry points, and counts the calls while
 * armed. The executable's definitions interpose on every shared object, libtransom.so included
 * (Rust's allocator calls malloc / calloc / realloc / posix_memalign). A positive control shows
 * the counter sees the library's allocations; then every failure path of the manager API (and
 * the success paths) runs with the counter armed, and must count 0, while transom_last_error
 * still gives the right detail.
 *
 * ASan and valgrind replace malloc themselves, so this program cannot run under them: the
 * sanitizer build (CMakeLists.txt, TRANSOM_SANITIZE) does not build it, and the valgrind step
 * of .ci/run skips it. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "memory_support.h"

#if !defined(__GLIBC__)
#error "memory_alloc.c interposes glibc's allocator (__libc_malloc etc.)"
#endif

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

static volatile int armed;
static volatile long allocations;
static volatile long frees;

static void counted(void) {
    if (armed) __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
}

void *malloc(size_t size) {
    counted();
    return __libc_malloc(size);
}
void *calloc(size_t n, size_t size) {
    counted();
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t size) {
    counted();
    return __libc_realloc(p, size);
}
void free(void *p) {
    if (armed && p) __atomic_add_fetch(&frees, 1, __ATOMIC_RELAXED);
    __libc_free(p);
}
void *memalign(size_t align, size_t size);
void *memalign(size_t align, size_t size) {
    counted();
    return __libc_memalign(align, size);
}
void *aligned_alloc(size_t align, size_t size) {
    counted();
    return __libc_memalign(align, size);
}
int posix_memalign(void **out, size_t align, size_t size) {
    counted();
    if (align == 0 || (align & (align - 1)) != 0 || align % sizeof(void *) != 0) return EINVAL;
    void *p = __libc_memalign(align, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void *valloc(size_t size) {
    counted();
    return __libc_valloc(size);
}
void *pvalloc(size_t size);
void *pvalloc(size_t size) {
    counted();
    return __libc_pvalloc(size);
}

static void arm(void) {
    allocations = 0;
    frees = 0;
    armed = 1;
}

static long disarm(void) {
    armed = 0;
    return allocations;
}

/* One checked call, recorded without allocating (printing allocates: it happens afterwards). */
typedef struct {
    const char *what;
    transom_status got, want;
    int detail_ok;
    char detail[160];
} step;

#define MAX_STEPS 96
static step steps[MAX_STEPS];
static int nsteps;

static void record(const char *what, transom_status got, transom_status want, const char *detail) {
    CHECK(nsteps < MAX_STEPS);
    step *s = &steps[nsteps++];
    s->what = what;
    s->got = got;
    s->want = want;
    size_t len = 0;
    if (transom_last_error(s->detail, sizeof s->detail, &len) < 0) s->detail[0] = 0;
    s->detail_ok = detail == NULL || strcmp(s->detail, detail) == 0;
}

#define STEP(call, want, detail) record(#call, (call), (want), (detail))

static const char *const BAD_TOKEN = "bad token: zero, out of range, or issued by another manager";
static const char *const STALE = "stale token: its slot was freed after the token was issued";
static const char *const BORROWED = "the slot is borrowed: a read or write view is outstanding";
static const char *const TOO_LARGE_65 = "payload of 65 bytes exceeds the slot size of 64 bytes";
static const char *const BAD_QOS = "invalid argument: header qos must be 0 (default), 1, 2 or 3";

static void report_steps(void) {
    int bad = 0;
    for (int i = 0; i < nsteps; i++) {
        if (steps[i].got != steps[i].want || !steps[i].detail_ok) {
            fprintf(stderr, "%s: got %d want %d, detail \"%s\"\n", steps[i].what, steps[i].got,
                    steps[i].want, steps[i].detail);
            bad = 1;
        }
    }
    CHECK(!bad);
}

/* The counter sees what libtransom.so allocates: a HEAP manager allocates at creation. */
static void the_counter_sees_the_librarys_allocations(void) {
    transom_manager_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.kind = TRANSOM_MANAGER_HEAP;
    cfg.capacity = 4;
    cfg.slot_size = 64;
    transom_manager *m = NULL;
    arm();
    transom_status st = transom_manager_new(&cfg, &m);
    long n = disarm();
    CHECK_OK(st);
    CHECK(n >= 2); /* the slot region and the handle */
    arm();
    transom_manager_free(m);
    disarm();
    CHECK(frees >= 2);
    printf("# positive control: transom_manager_new(HEAP) made %ld allocation(s)\n", n);
}

static transom_manager *new_static(uint8_t *storage, size_t len) {
    transom_manager_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.kind = TRANSOM_MANAGER_STATIC;
    cfg.capacity = 2;
    cfg.slot_size = 64;
    cfg.storage = storage;
    cfg.storage_len = len;
    transom_manager *m = NULL;
    CHECK_OK(transom_manager_new(&cfg, &m));
    return m;
}

static uint8_t storage_a[4096], storage_b[4096];

static void static_manager_failures_allocate_nothing(void) {
    size_t need = 0;
    CHECK_OK(transom_manager_required_bytes(2, 64, &need));
    CHECK(need <= sizeof storage_a);
    transom_manager *m = new_static(storage_a, sizeof storage_a);
    transom_manager *other = new_static(storage_b, sizeof storage_b);
    transom_header h;
    CHECK_OK(transom_header_init(&h));
    uint8_t payload[65];
    memset(payload, 'p', sizeof payload);
    transom_token t, t2, foreign, forged;
    uint8_t *p;
    transom_read_view rv;
    transom_write_view wv;
    transom_header hd, bad_qos = h, bad_flags = h;
    bad_qos.qos = 200;
    bad_flags.flags = 0xff;
    uint8_t buf[64];
    size_t n;
    transom_memory_stats stats;
    transom_token zero = {0, 0};
    nsteps = 0;

    arm();
    STEP(transom_manager_store(m, &h, payload, 5, &t), TRANSOM_OK, NULL);
    STEP(transom_manager_store(other, &h, payload, 1, &foreign), TRANSOM_OK, NULL);
    STEP(transom_manager_read(m, t, &rv), TRANSOM_OK, NULL);
    STEP(transom_manager_write(m, t, &wv), TRANSOM_ERR_BORROWED, BORROWED);
    STEP(transom_manager_remove(m, t), TRANSOM_ERR_BORROWED, BORROWED);
    STEP(transom_manager_clear(m), TRANSOM_ERR_BORROWED, BORROWED);
    STEP(transom_manager_take(m, t, buf, sizeof buf, &n), TRANSOM_ERR_BORROWED, BORROWED);
    STEP(transom_manager_release(m, t), TRANSOM_OK, NULL);
    STEP(transom_manager_release(m, t), TRANSOM_ERR_WRONG_STATE,
         "wrong slot state: no view of the slot is outstanding");
    STEP(transom_manager_commit(m, t, &h), TRANSOM_ERR_WRONG_STATE,
         "wrong slot state: the slot is committed, not reserved");
    STEP(transom_manager_abort(m, t), TRANSOM_ERR_WRONG_STATE,
         "wrong slot state: the slot is committed, not reserved");
    STEP(transom_manager_write(m, t, &wv), TRANSOM_OK, NULL);
    STEP(transom_manager_read(m, t, &rv), TRANSOM_ERR_BORROWED, BORROWED);
    STEP(transom_manager_peek_header(m, t, &hd), TRANSOM_ERR_BORROWED, BORROWED);
    wv.header->qos = 200;
    STEP(transom_manager_release(m, t), TRANSOM_ERR_INVALID_ARGUMENT, BAD_QOS);
    STEP(transom_manager_write(m, t, &wv), TRANSOM_OK, NULL);
    wv.header->payload_len = 65;
    STEP(transom_manager_release(m, t), TRANSOM_ERR_TOO_LARGE, TOO_LARGE_65);
    STEP(transom_manager_read(m, zero, &rv), TRANSOM_ERR_BAD_TOKEN, BAD_TOKEN);
    STEP(transom_manager_read(m, foreign, &rv), TRANSOM_ERR_BAD_TOKEN, BAD_TOKEN);
    STEP(transom_manager_remove(m, foreign), TRANSOM_ERR_BAD_TOKEN, BAD_TOKEN);
    forged = t;
    forged.slot = UINT64_MAX; /* index out of range */
    STEP(transom_manager_read(m, forged, &rv), TRANSOM_ERR_BAD_TOKEN, BAD_TOKEN);
    STEP(transom_manager_take(m, t, buf, 2, &n), TRANSOM_ERR_BUFFER_TOO_SMALL,
         "buffer of 2 bytes is too small for a payload of 5 bytes");
    STEP(transom_manager_take(m, t, buf, sizeof buf, &n), TRANSOM_OK, NULL);
    STEP(transom_manager_read(m, t, &rv), TRANSOM_ERR_STALE_TOKEN, STALE);
    STEP(transom_manager_remove(m, t), TRANSOM_ERR_STALE_TOKEN, STALE);
    STEP(transom_manager_peek_header(m, t, &hd), TRANSOM_ERR_STALE_TOKEN, STALE);
    STEP(transom_manager_take(m, t, buf, sizeof buf, &n), TRANSOM_ERR_STALE_TOKEN, STALE);
    STEP(transom_manager_commit(m, t, &h), TRANSOM_ERR_STALE_TOKEN, STALE);
    STEP(transom_manager_store(m, &h, payload, 65, &t2), TRANSOM_ERR_TOO_LARGE, TOO_LARGE_65);
    STEP(transom_manager_store(m, &h, NULL, SIZE_MAX, &t2), TRANSOM_ERR_TOO_LARGE, NULL);
    STEP(transom_manager_reserve(m, 65, &t2, &p), TRANSOM_ERR_TOO_LARGE, TOO_LARGE_65);
    STEP(transom_manager_store(m, &bad_qos, payload, 1, &t2), TRANSOM_ERR_INVALID_ARGUMENT, BAD_QOS);
    STEP(transom_manager_store(m, &bad_flags, payload, 1, &t2), TRANSOM_ERR_INVALID_ARGUMENT,
         "invalid argument: header flags has bits other than FIRST_IN_BATCH, LAST_IN_BATCH, "
         "DEGRADE_ALLOWED");
    STEP(transom_manager_reserve(m, 1, &t2, &p), TRANSOM_OK, NULL);
    STEP(transom_manager_read(m, t2, &rv), TRANSOM_ERR_WRONG_STATE,
         "wrong slot state: the slot is reserved, not committed");
    STEP(transom_manager_commit(m, t2, &bad_qos), TRANSOM_ERR_INVALID_ARGUMENT, BAD_QOS);
    STEP(transom_manager_store(m, &h, payload, 1, &t), TRANSOM_OK, NULL);
    STEP(transom_manager_store(m, &h, payload, 1, &t), TRANSOM_ERR_NO_FREE_SLOTS, "no free slots");
    STEP(transom_manager_reserve(m, 1, &t, &p), TRANSOM_ERR_NO_FREE_SLOTS, "no free slots");
    STEP(transom_manager_abort(m, t2), TRANSOM_OK, NULL);
    STEP(transom_manager_abort(m, t2), TRANSOM_ERR_STALE_TOKEN, STALE);
    STEP(transom_manager_store(NULL, &h, payload, 1, &t2), TRANSOM_ERR_NULL_ARGUMENT,
         "argument `manager` is NULL");
    STEP(transom_manager_store(m, NULL, payload, 1, &t2), TRANSOM_ERR_NULL_ARGUMENT,
         "argument `header` is NULL");
    STEP(transom_manager_store(m, &h, NULL, 1, &t2), TRANSOM_ERR_NULL_ARGUMENT,
         "argument `payload` is NULL");
    STEP(transom_manager_store(m, &h, payload, 1, NULL), TRANSOM_ERR_NULL_ARGUMENT,
         "argument `out_token` is NULL");
    STEP(transom_manager_take(m, t, NULL, 8, &n), TRANSOM_ERR_NULL_ARGUMENT, "argument `buf` is NULL");
    STEP(transom_manager_stats(m, NULL), TRANSOM_ERR_NULL_ARGUMENT, "argument `out_stats` is NULL");
    STEP(transom_manager_stats(m, &stats), TRANSOM_OK, NULL);
    long n_alloc = disarm();

    report_steps();
    int failing = 0;
    for (int i = 0; i < nsteps; i++) failing += steps[i].want != TRANSOM_OK;
    printf("# %d calls on a STATIC manager (%d failing): %ld allocation(s), %ld free(s)\n", nsteps,
           failing, n_alloc, frees);
    CHECK(n_alloc == 0);
    CHECK(stats.in_use == 1 && stats.failed_allocs == 2 && stats.retired == 0);
    transom_manager_free(m);
    transom_manager_free(other);
}

/* Refused creations allocate nothing either (the detail is a fixed text). */
static void refused_creations_allocate_nothing(void) {
    transom_manager_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.kind = TRANSOM_MANAGER_STATIC;
    cfg.capacity = 2;
    cfg.slot_size = 64;
    transom_manager *m = NULL;
    size_t need;
    nsteps = 0;
    arm();
    cfg.storage = NULL;
    cfg.storage_len = sizeof storage_a;
    STEP(transom_manager_new(&cfg, &m), TRANSOM_ERR_INVALID_ARGUMENT,
         "invalid argument: storage is NULL (allowed only with capacity 0)");
    cfg.storage = storage_a;
    cfg.storage_len = 16;
    STEP(transom_manager_new(&cfg, &m), TRANSOM_ERR_INVALID_ARGUMENT,
         "invalid argument: storage is smaller than transom_manager_required_bytes(capacity, "
         "slot_size)");
    cfg.kind = 9;
    STEP(transom_manager_new(&cfg, &m), TRANSOM_ERR_INVALID_ARGUMENT,
         "config->kind is not a TRANSOM_MANAGER_* kind");
    cfg.kind = TRANSOM_MANAGER_HEAP;
    STEP(transom_manager_new(&cfg, &m), TRANSOM_ERR_INVALID_ARGUMENT,
         "config->storage must be NULL and storage_len 0 unless kind is STATIC");
    STEP(transom_manager_required_bytes(SIZE_MAX / 2, 64, &need), TRANSOM_ERR_INVALID_ARGUMENT,
         NULL);
    long n_alloc = disarm();
    report_steps();
    printf("# %d refused creations: %ld allocation(s)\n", nsteps, n_alloc);
    CHECK(n_alloc == 0);
    CHECK(m == NULL);
}

int main(void) {
    RUN(the_counter_sees_the_librarys_allocations);
    RUN(static_manager_failures_allocate_nothing);
    RUN(refused_creations_allocate_nothing);
    return 0;
}
