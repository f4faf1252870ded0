/* The dataset checker (see check.h): per file, open it (the reader validates structure), check the
 * actions and events, then stream the frames once (black, frozen, content hash); finally compare
 * content hashes across files for exact duplicates. */
#include "data/check.h"

#include "base/error.h"
#include "base/hash.h"
#include "data/actions.h"
#include "data/dataset.h"
#include "io/episode.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void check_options_default(CheckOptions *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->max_abs_action = 2.0f;
    opt->vocab_tol = ACTION_TOL;
    opt->black_level = 8;
    opt->isolate = 1;
}

/* What one file produced. */
typedef struct {
    CheckProblem *v;
    int n, cap, errors, nomem;
    int hashed;          /* every frame was read: key is valid */
    uint64_t key;        /* content hash of frames + actions + shape */
} FileResult;

static void add(FileResult *r, const char *path, CheckSeverity sev, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void add(FileResult *r, const char *path, CheckSeverity sev, const char *code, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (r->n == r->cap) {
        int nc = r->cap ? r->cap * 2 : 4;
        CheckProblem *bigger = realloc(r->v, (size_t)nc * sizeof *bigger);
        if (!bigger) {
            r->nomem = 1;
            return;
        }
        r->v = bigger, r->cap = nc;
    }
    CheckProblem *p = &r->v[r->n];
    size_t lp = strlen(path) + 1, lb = strlen(buf) + 1;
    p->path = malloc(lp);
    p->reason = malloc(lb);
    if (!p->path || !p->reason) {
        free(p->path), free(p->reason);
        r->nomem = 1;
        return;
    }
    memcpy(p->path, path, lp);
    memcpy(p->reason, buf, lb);
    for (char *c = p->reason; *c; c++) /* one line each, whatever the file held */
        if (*c == '\n' || *c == '\r' || *c == '\t') *c = ' ';
    p->severity = sev;
    p->code = code;
    r->n++;
    r->errors += sev == CHECK_ERROR;
}

/* episode_open's message, sorted into a code by the wording src/io/episode.c uses. */
static const char *open_error_code(const char *m)
{
    if (strstr(m, "' is missing")) return "missing_dataset";
    if (strstr(m, "to match images")) return "length_mismatch";
    if (strstr(m, ": dtype ") || strstr(m, ": shape ") || strstr(m, ": type ") || strstr(m, "expected a"))
        return "shape_dtype";
    return "unreadable";
}

/* The message without a leading "path: ". */
static const char *strip_path(const char *m, const char *path)
{
    size_t l = strlen(path);
    return strncmp(m, path, l) == 0 && m[l] == ':' && m[l + 1] == ' ' ? m + l + 2 : m;
}

static int is_black(const uint8_t *f, size_t n, int level)
{
    for (size_t i = 0; i < n; i++)
        if (f[i] > level) return 0;
    return 1;
}

static void check_actions(FileResult *r, const EpisodeInfo *in, const CheckOptions *opt)
{
    const char *p = in->path;
    int T = in->num_frames, n_nan = 0, n_range = 0, n_vocab = 0, f_nan = -1, f_range = -1, f_vocab = -1;
    for (int t = 0; t < T; t++) {
        const float *a = in->actions + 3 * t;
        int nan = 0, range = 0;
        for (int k = 0; k < 3; k++) {
            if (!isfinite(a[k])) nan = 1;
            else if (fabsf(a[k]) > opt->max_abs_action) range = 1;
        }
        if (nan && n_nan++ == 0) f_nan = t;
        if (range && n_range++ == 0) f_range = t;
        if (!nan && !range && !action_to_key(a, opt->vocab_tol) && n_vocab++ == 0) f_vocab = t;
    }
    if (n_nan)
        add(r, p, CHECK_ERROR, "nan_action", "%d action%s with NaN or Inf (first at frame %d: [%g, %g, %g])", n_nan,
            n_nan > 1 ? "s" : "", f_nan, in->actions[3 * f_nan], in->actions[3 * f_nan + 1], in->actions[3 * f_nan + 2]);
    if (n_range)
        add(r, p, CHECK_ERROR, "action_range", "%d action%s beyond |%g| (first at frame %d: [%g, %g, %g])", n_range,
            n_range > 1 ? "s" : "", opt->max_abs_action, f_range, in->actions[3 * f_range], in->actions[3 * f_range + 1],
            in->actions[3 * f_range + 2]);
    if (n_vocab)
        add(r, p, CHECK_WARNING, "action_vocab", "%d action%s outside the teleop vocabulary (first at frame %d: [%g, %g, %g])",
            n_vocab, n_vocab > 1 ? "s" : "", f_vocab, in->actions[3 * f_vocab], in->actions[3 * f_vocab + 1],
            in->actions[3 * f_vocab + 2]);
}

static void check_events(FileResult *r, const EpisodeInfo *in)
{
    const char *p = in->path;
    int T = in->num_frames, present = 0, unknown = 0, f_unknown = -1;
    for (int t = 0; t < T; t++) {
        const char *e = in->events[t];
        if (!e) continue;
        present = 1;
        if (strcmp(e, "episode_start") && strcmp(e, "start_action") && strcmp(e, "stop_action") && unknown++ == 0)
            f_unknown = t;
    }
    if (T > 0 && !present) add(r, p, CHECK_WARNING, "events", "no action_event_types dataset");
    if (unknown)
        add(r, p, CHECK_WARNING, "events", "%d unknown event name%s (first at frame %d: '%.60s')", unknown,
            unknown > 1 ? "s" : "", f_unknown, in->events[f_unknown]);
    if (T > 0) {
        const float *a = in->actions;
        int start = !in->events[0] || strcmp(in->events[0], "episode_start") == 0;
        if (!start || a[0] != 0 || a[1] != 0 || a[2] != 0)
            add(r, p, CHECK_WARNING, "first_frame", "frame 0 is '%s' with action [%g, %g, %g], expected episode_start with [0, 0, 0]",
                in->events[0] ? in->events[0] : "(no event)", a[0], a[1], a[2]);
    }
    if (in->num_frames_attr >= 0 && in->num_frames_attr != T)
        add(r, p, CHECK_WARNING, "num_frames_attr", "attribute num_frames is %ld, the images hold %d frames",
            in->num_frames_attr, T);
}

/* Streams the frames once: black and frozen frames, and the content hash. */
static void check_frames(FileResult *r, EpisodeReader *rd, const CheckOptions *opt, long *frames_done)
{
    const EpisodeInfo *in = episode_info(rd);
    int T = in->num_frames;
    size_t fb = (size_t)in->height * in->width * 3;
    uint8_t *cur = malloc(fb), *prev = malloc(fb);
    if (!cur || !prev) {
        free(cur), free(prev);
        r->nomem = 1;
        return;
    }
    int n_black = 0, f_black = -1, n_frozen = 0, f_frozen = -1, t;
    uint64_t h = hash64_combine(hash64_combine((uint64_t)T, (uint64_t)in->height), (uint64_t)in->width);
    for (t = 0; t < T; t++) {
        if (episode_read_frame(rd, t, cur) != 0) {
            add(r, in->path, CHECK_ERROR, "unreadable", "%s", strip_path(mvla_error_message(), in->path));
            break;
        }
        if (is_black(cur, fb, opt->black_level) && n_black++ == 0) f_black = t;
        if (t > 0 && memcmp(cur, prev, fb) == 0 && n_frozen++ == 0) f_frozen = t;
        h = hash64_combine(h, hash64(cur, fb, 0x6d766c61));
        uint8_t *s = cur;
        cur = prev, prev = s;
#pragma omp atomic
        (*frames_done)++;
    }
    free(cur), free(prev);
    if (t < T) return;
    r->hashed = 1;
    r->key = hash64_combine(h, hash64(in->actions, (size_t)T * 3 * sizeof(float), 0x61637473));
    if (n_black == T)
        add(r, in->path, CHECK_ERROR, "black_episode", "all %d frames are black (every byte <= %d)", T, opt->black_level);
    else if (n_black)
        add(r, in->path, CHECK_WARNING, "black_frames", "%d of %d frames black (first: frame %d)", n_black, T, f_black);
    if (T >= 2 && n_frozen == T - 1)
        add(r, in->path, CHECK_ERROR, "frozen_episode", "frozen: all %d frames are identical", T);
    else if (n_frozen)
        add(r, in->path, CHECK_WARNING, "frozen_frames", "%d frame%s identical to the previous one (first: frame %d)",
            n_frozen, n_frozen > 1 ? "s" : "", f_frozen);
}

static void check_one(FileResult *r, const char *path, const CheckOptions *opt, long *frames_done)
{
    EpisodeReader *rd = NULL;
    if (episode_open(&rd, path) != 0) {
        const char *m = mvla_error_message();
        add(r, path, CHECK_ERROR, open_error_code(m), "%s", strip_path(m, path));
        return;
    }
    const EpisodeInfo *in = episode_info(rd);
    if (in->num_frames == 0) add(r, path, CHECK_ERROR, "empty", "no frames");
    else if (in->num_frames == 1) add(r, path, CHECK_ERROR, "single_frame", "a single frame (nothing to learn a transition from)");
    check_actions(r, in, opt);
    check_events(r, in);
    if (in->num_frames > 0) check_frames(r, rd, opt, frames_done);
    episode_close(rd);
}

/* ---- crash isolation ----
 * libhdf5 1.10 can crash on a damaged file (the episode fuzzer finds heap over-reads in its global
 * heap and compact-layout code), so by default each file is checked in a forked child and the
 * findings come back through a pipe: a crash becomes an "unreadable" error for that file only. The
 * HDF5 lock is held across fork() so the child never inherits libhdf5 in the middle of a call. */

static const char *const known_codes[] = {
    "unreadable", "missing_dataset", "shape_dtype", "length_mismatch", "empty", "single_frame", "nan_action",
    "action_range", "black_episode", "frozen_episode", "duplicate", "black_frames", "frozen_frames", "action_vocab",
    "first_frame", "events", "num_frames_attr",
};

static const char *code_named(const char *name)
{
    for (size_t i = 0; i < sizeof known_codes / sizeof known_codes[0]; i++)
        if (strcmp(known_codes[i], name) == 0) return known_codes[i];
    return "unreadable";
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        buf += w, n -= (size_t)w;
    }
    return 0;
}

/* The child: check, then send "R hashed key frames" and one "severity code<TAB>reason" line each. */
static void child_report(int fd, const char *path, const CheckOptions *opt)
{
    /* Quiet: findings travel through the pipe; a sanitizer build would print libhdf5's fault here. */
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2), close(devnull);
    FileResult r = {0};
    long frames = 0;
    check_one(&r, path, opt, &frames);
    char line[1200];
    int len = snprintf(line, sizeof line, "R %d %llu %ld\n", r.hashed, (unsigned long long)r.key, frames);
    int ok = write_all(fd, line, (size_t)len) == 0;
    for (int i = 0; ok && i < r.n; i++) {
        len = snprintf(line, sizeof line, "%d %s\t%s\n", (int)r.v[i].severity, r.v[i].code, r.v[i].reason);
        ok = write_all(fd, line, (size_t)(len < (int)sizeof line ? len : (int)sizeof line - 1)) == 0;
    }
    _exit(ok && !r.nomem ? 0 : 3);
}

/* Parses what the child sent into r; 0 on success. */
static int parse_report(FileResult *r, const char *path, char *text, long *frames)
{
    int hashed = 0;
    unsigned long long key = 0;
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    if (!line || sscanf(line, "R %d %llu %ld", &hashed, &key, frames) != 3) return -1;
    r->hashed = hashed;
    r->key = key;
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *tab = strchr(line, '\t');
        if (!tab || (line[0] != '0' && line[0] != '1') || line[1] != ' ') return -1;
        *tab = '\0';
        add(r, path, line[0] == '1' ? CHECK_ERROR : CHECK_WARNING, code_named(line + 2), "%s", tab + 1);
    }
    return 0;
}

static void check_one_isolated(FileResult *r, const char *path, const CheckOptions *opt, long *frames_done)
{
    int fds[2];
    if (pipe(fds) != 0) {
        check_one(r, path, opt, frames_done);
        return;
    }
    episode_h5_lock();
    pid_t pid = fork();
    episode_h5_unlock();
    if (pid == 0) {
        close(fds[0]);
        child_report(fds[1], path, opt);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        check_one(r, path, opt, frames_done);
        return;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (ssize_t got; buf;) {
        if (n + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger, cap *= 2;
        }
        got = read(fds[0], buf + n, cap - 1 - n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        n += (size_t)got;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    long frames = 0;
    if (!buf) {
        r->nomem = 1;
    } else if (WIFSIGNALED(status)) {
        add(r, path, CHECK_ERROR, "unreadable", "damaged file: libhdf5 crashed reading it (signal %d)", WTERMSIG(status));
    } else {
        buf[n] = '\0';
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || parse_report(r, path, buf, &frames) != 0) {
            for (int i = 0; i < r->n; i++) free(r->v[i].path), free(r->v[i].reason);
            r->n = r->errors = r->hashed = 0;
            add(r, path, CHECK_ERROR, "unreadable", "the check of this file failed (exit status %d)",
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
    }
    free(buf);
#pragma omp atomic
    *frames_done += frames;
}

typedef struct {
    uint64_t key;
    int file;
} KeyIndex;

static int by_key_then_file(const void *a, const void *b)
{
    const KeyIndex *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->file - y->file;
}

static void mark_duplicates(FileResult *res, const char *const *paths, int n)
{
    KeyIndex *k = malloc((size_t)(n ? n : 1) * sizeof *k);
    if (!k) {
        res[0].nomem = 1;
        return;
    }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (res[i].hashed) k[m].key = res[i].key, k[m].file = i, m++;
    qsort(k, (size_t)m, sizeof *k, by_key_then_file);
    for (int i = 1; i < m; i++) {
        int first = i;
        while (first > 0 && k[first - 1].key == k[i].key) first--;
        if (first < i)
            add(&res[k[i].file], paths[k[i].file], CHECK_ERROR, "duplicate", "duplicate of %s (same frames and actions)",
                paths[k[first].file]);
    }
    free(k);
}

void check_report_free(CheckReport *r)
{
    if (!r) return;
    for (int i = 0; i < r->n_problems; i++) free(r->problems[i].path), free(r->problems[i].reason);
    free(r->problems);
    memset(r, 0, sizeof *r);
}

int check_files(const char *const *paths, int n, const CheckOptions *opt, CheckReport *out)
{
    memset(out, 0, sizeof *out);
    CheckOptions defaults;
    check_options_default(&defaults);
    if (!opt) opt = &defaults;
    FileResult *res = calloc((size_t)n + 1, sizeof *res);
    if (!res) return mvla_fail(MVLA_ERR_NOMEM, "check: out of memory");
    long frames_done = 0;
    int files_done = 0;
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        if (opt->isolate) check_one_isolated(&res[i], paths[i], opt, &frames_done);
        else check_one(&res[i], paths[i], opt, &frames_done);
#pragma omp critical(check_progress)
        {
            files_done++;
            if (opt->progress) opt->progress(opt->progress_ctx, frames_done, files_done, n);
        }
    }
    mark_duplicates(res, paths, n);
    int total = 0, nomem = 0;
    for (int i = 0; i < n; i++) total += res[i].n, nomem |= res[i].nomem;
    out->problems = calloc((size_t)total + 1, sizeof *out->problems);
    if (!out->problems) nomem = 1;
    out->n_files = n;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < res[i].n; j++) {
            if (out->problems) out->problems[out->n_problems++] = res[i].v[j];
            else free(res[i].v[j].path), free(res[i].v[j].reason);
        }
        out->n_usable += res[i].errors == 0;
        free(res[i].v);
    }
    free(res);
    for (int i = 0; i < out->n_problems; i++) {
        out->n_errors += out->problems[i].severity == CHECK_ERROR;
        out->n_warnings += out->problems[i].severity == CHECK_WARNING;
    }
    if (nomem) {
        check_report_free(out);
        return mvla_fail(MVLA_ERR_NOMEM, "check: out of memory");
    }
    return MVLA_OK;
}

int check_dataset(const char *path, const CheckOptions *opt, CheckReport *out)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        const char *one[1] = {path};
        return check_files(one, 1, opt, out);
    }
    char **paths;
    int n;
    int rc = dataset_list_dir(path, &paths, &n);
    if (rc) return rc;
    rc = check_files((const char *const *)paths, n, opt, out);
    dataset_free_list(paths, n);
    return rc;
}

int check_exit_code(const CheckReport *r, int strict)
{
    if (r->n_usable == 0) return 3;
    if (r->n_usable < r->n_files || (strict && r->n_warnings > 0)) return 1;
    return 0;
}
