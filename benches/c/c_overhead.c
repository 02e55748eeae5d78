/*
 * C-ABI overhead benchmark: store + read + release + remove cycles of a 64-byte payload through
 * the C API of libtransom.so, for each manager kind. Prints the median and the minimum ns/cycle
 * of REPEATS timed loops of ITERS cycles (clock_gettime(CLOCK_MONOTONIC) around each loop). Compare with
 * `TRANSOM_CYCLE_REPORT=1 cargo bench -p transom-benches --bench memory`, which times the same
 * cycle through the Rust API with the same method; (C - Rust) / 4 is the per-call cost of the C
 * ABI.
 *
 * Build and run with benches/c/run_c_overhead.sh, which does (from the repository root):
 *   cargo build --release --lib
 *   mkdir -p target/bench-c && ln -sf ../release/libtransom.so target/bench-c/libtransom.so.0.2
 *   cc -std=c99 -O2 -Wall -Wextra -pedantic -Werror -Iinclude benches/c/c_overhead.c \
 *      -Ltarget/release -ltransom -Wl,-rpath,"$PWD/target/bench-c" -o target/bench-c/c_overhead
 *   target/bench-c/c_overhead
 * (the symlink is needed because the library's SONAME is libtransom.so.0.2 and cargo only writes
 * libtransom.so).
 */
#define _POSIX_C_SOURCE 200112L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transom.h"

#define PAYLOAD 64
#define CAPACITY 1024
/* Keep equal to REPORT_ITERS / REPORT_REPEATS in benches/memory.rs. */
#define ITERS 2000000L
#define REPEATS 15

/* An optimisation barrier like Rust's std::hint::black_box: the value escapes to the compiler. */
#define ESCAPE(p) __asm__ __volatile__("" : : "g"(p) : "memory")

static void check(transom_status s, const char *what) {
    if (s != TRANSOM_OK) {
        fprintf(stderr, "%s failed: %d (%s)\n", what, (int)s, transom_status_str(s));
        exit(1);
    }
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One cycle, with the status checks a careful C caller writes. */
static inline void cycle(const transom_manager *m, const transom_header *h, const uint8_t *p) {
    transom_token t;
    transom_read_view v;
    ESCAPE(p);
    if (__builtin_expect(transom_manager_store(m, h, p, PAYLOAD, &t) != TRANSOM_OK, 0)) abort();
    if (__builtin_expect(transom_manager_read(m, t, &v) != TRANSOM_OK, 0)) abort();
    ESCAPE(v.payload);
    ESCAPE(v.len);
    if (__builtin_expect(transom_manager_release(m, t) != TRANSOM_OK, 0)) abort();
    if (__builtin_expect(transom_manager_remove(m, t) != TRANSOM_OK, 0)) abort();
}

/* Writes the median and the minimum ns/cycle over the repeats. */
static void ns_per_cycle(const transom_manager *m, const transom_header *h, const uint8_t *p,
                         double *median, double *min) {
    double runs[REPEATS];
    long i;
    int r;
    for (i = 0; i < ITERS / 4; i++) cycle(m, h, p); /* warm-up */
    for (r = 0; r < REPEATS; r++) {
        double start = now_ns();
        for (i = 0; i < ITERS; i++) cycle(m, h, p);
        runs[r] = (now_ns() - start) / (double)ITERS;
    }
    qsort(runs, REPEATS, sizeof runs[0], cmp_double);
    *median = runs[REPEATS / 2];
    *min = runs[0];
}

int main(void) {
    static const struct { const char *name; uint32_t kind; } kinds[] = {
        {"static    ", TRANSOM_MANAGER_STATIC},
        {"heap      ", TRANSOM_MANAGER_HEAP},
        {"concurrent", TRANSOM_MANAGER_CONCURRENT},
    };
    uint8_t payload[PAYLOAD];
    transom_header h;
    size_t k;
    for (k = 0; k < PAYLOAD; k++) payload[k] = (uint8_t)k;
    check(transom_header_init(&h), "transom_header_init");

    printf("# store+read+release+remove, %d-byte payload, ns/cycle (median, min) of %d x %ld\n",
           PAYLOAD, REPEATS, ITERS);
    for (k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        transom_manager_config c;
        transom_manager *m = NULL;
        void *storage = NULL;
        memset(&c, 0, sizeof c);
        c.kind = kinds[k].kind;
        c.capacity = CAPACITY;
        c.slot_size = PAYLOAD;
        if (c.kind == TRANSOM_MANAGER_STATIC) {
            check(transom_manager_required_bytes(CAPACITY, PAYLOAD, &c.storage_len),
                  "transom_manager_required_bytes");
            /* 64-byte aligned, like the HEAP and CONCURRENT kinds' own storage. */
            if (posix_memalign(&storage, 64, c.storage_len) != 0) return 1;
            memset(storage, 0, c.storage_len);
            c.storage = storage;
        }
        check(transom_manager_new(&c, &m), "transom_manager_new");
        double median, min;
        ns_per_cycle(m, &h, payload, &median, &min);
        printf("c_api %s %8.2f %8.2f\n", kinds[k].name, median, min);
        transom_manager_free(m);
        free(storage);
    }
    return 0;
}
