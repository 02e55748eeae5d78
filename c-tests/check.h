/* check.h - the C suite's minimal test helpers (no framework needed).
 *
 * A test program runs its cases with RUN(case); each passing case prints "ok <name>" and the
 * first failed check prints the location and exits with status 1. The Rust harness
 * (tests/c_suite.rs) and ctest both run the programs and read the exit status.
 */
#ifndef TRANSOM_CHECK_H
#define TRANSOM_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transom.h"

static inline void check_fail_detail(const char *file, int line, const char *expr, int got,
                                     int want) {
    char detail[512];
    size_t len = 0;
    if (transom_last_error(detail, sizeof detail, &len) < 0 && len == 0) detail[0] = 0;
    fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s); last error: %s\n", file, line,
            expr, got, transom_status_str(got), want, transom_status_str(want), detail);
    fflush(stderr);
    exit(1);
}

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
            fflush(stderr);                                                            \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define CHECK_STATUS(expr, want)                                                     \
    do {                                                                             \
        transom_status check_got_ = (expr);                                          \
        if (check_got_ != (want)) check_fail_detail(__FILE__, __LINE__, #expr, check_got_, (want)); \
    } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, TRANSOM_OK)

#define RUN(test)                      \
    do {                               \
        test();                        \
        printf("ok %s\n", #test);      \
        fflush(stdout);                \
    } while (0)

/* Stress sizes: n scaled by TRANSOM_TEST_SCALE (a positive number, default 1 = full size),
 * never below 1. An invalid or non-positive scale aborts the program. */
static inline long scaled(long n) {
    const char *s = getenv("TRANSOM_TEST_SCALE");
    double f = 1.0;
    if (s && *s) {
        char *end = NULL;
        f = strtod(s, &end);
        if (end == s || *end != 0 || !(f > 0.0)) {
            fprintf(stderr, "TRANSOM_TEST_SCALE must be a positive number, got '%s'\n", s);
            exit(2);
        }
    }
    long v = (long)((double)n * f);
    return v < 1 ? 1 : v;
}

#endif
