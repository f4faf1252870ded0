#include "test.h"

#include "base/error.h"
#include "base/threads.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TESTS 1024

typedef struct {
    const char *name, *file;
    TestFn fn;
} TestEntry;
static TestEntry tests[MAX_TESTS];
static int n_tests, current_failures;
static char tmpdir[256];

void test_register(const char *name, const char *file, TestFn fn)
{
    if (n_tests == MAX_TESTS) {
        fprintf(stderr, "too many tests\n");
        exit(2);
    }
    tests[n_tests].name = name;
    tests[n_tests].file = file;
    tests[n_tests].fn = fn;
    n_tests++;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    current_failures++;
}

const char *test_tmpdir(void) { return tmpdir; }

int test_run_capture(const char *cmd, char **out)
{
    size_t cap = 1 << 16, n = 0;
    *out = calloc(1, cap);
    FILE *fp = *out ? popen(cmd, "r") : NULL;
    if (!fp) return -1;
    for (size_t got; (got = fread(*out + n, 1, cap - 1 - n, fp)) > 0;) {
        n += got;
        if (n == cap - 1) {
            char *bigger = realloc(*out, cap * 2);
            if (!bigger) break;
            *out = bigger;
            cap *= 2;
        }
    }
    (*out)[n] = '\0';
    int st = pclose(fp);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

double max_abs_diff(const float *a, const float *b, long n)
{
    double m = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}

static int matches(const char *name, int argc, char **argv)
{
    if (argc < 2) return 1;
    for (int i = 1; i < argc; i++)
        if (strstr(name, argv[i])) return 1;
    return 0;
}

static int by_file_then_name(const void *a, const void *b)
{
    const TestEntry *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

int main(int argc, char **argv)
{
    mvla_set_threads(0);
    qsort(tests, (size_t)n_tests, sizeof tests[0], by_file_then_name);
    char base[] = "/tmp/mvla-tests-XXXXXX";
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 2;
    }
    int passed = 0, failed = 0;
    for (int i = 0; i < n_tests; i++) {
        if (!matches(tests[i].name, argc, argv)) continue;
        snprintf(tmpdir, sizeof tmpdir, "%s/%s", base, tests[i].name);
        mkdir(tmpdir, 0755);
        current_failures = 0;
        mvla_error_clear();
        fprintf(stderr, "%-44s ", tests[i].name);
        tests[i].fn();
        fprintf(stderr, "%s\n", current_failures ? "FAIL" : "ok");
        if (current_failures) failed++; else passed++;
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", base);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
