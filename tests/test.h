/* The test harness: TEST(name) { ... } registers a test; CHECK* record failures and go on.
 * `mvla_tests [FILTER...]` runs every test whose name contains one of the filters and ends
 * with one line "N passed, N failed". */
#ifndef MVLA_TEST_H
#define MVLA_TEST_H

#include "tensor/tensor.h"

#include <math.h>
#include <stdio.h>

typedef void (*TestFn)(void);
void test_register(const char *name, const char *file, TestFn fn);
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Directory for scratch files of the running test (created, empty). */
const char *test_tmpdir(void);

#define TEST(name)                                                                          \
    static void name(void);                                                                 \
    __attribute__((constructor)) static void register_##name(void) { test_register(#name, __FILE__, name); } \
    static void name(void)

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) test_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond); \
    } while (0)

#define CHECK_MSG(cond, ...)                                   \
    do {                                                       \
        if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                       \
    do {                                                                                            \
        double a_ = (a), b_ = (b);                                                                  \
        if (!(fabs(a_ - b_) <= (tol)))                                                              \
            test_fail(__FILE__, __LINE__, "%s = %.8g, %s = %.8g, differ by more than %g", #a, a_, #b, b_, (double)(tol)); \
    } while (0)

/* Stop the current test if cond fails (e.g. a NULL that later checks would dereference). */
#define REQUIRE(cond)                                                           \
    do {                                                                        \
        if (!(cond)) {                                                          \
            test_fail(__FILE__, __LINE__, "REQUIRE(%s) failed: %s", #cond, mvla_error_message()); \
            return;                                                             \
        }                                                                       \
    } while (0)

/* Runs a shell command, capturing its stdout into *out (malloc'd, NUL-terminated; free it);
 * returns the exit status, or -1 if it could not run. */
int test_run_capture(const char *cmd, char **out);

/* Largest |a[i] - b[i]|. */
double max_abs_diff(const float *a, const float *b, long n);

#endif
