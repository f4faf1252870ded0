/* Split manifests: no episode in two sets (property over seeds and sizes), stratified counts, the
 * K-fold partition, determinism, and split_load refusing overlaps, changed and missing files. */
#include "base/error.h"
#include "base/file.h"
#include "data/dataset.h"
#include "data/split.h"
#include "data_testutil.h"
#include "test.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *strata[] = {"1box_vert_left", "1box_vert_right", "1box_hori_left", "1box_hori_right",
                               "2box_vert_left", "2box_vert_right", "2box_hori_left", "2box_hori_right"};

/* n synthetic items; item i is in stratum (i * 7 + i / 3) % n_strata (uneven sizes). */
static SplitItem *make_items(int n, int n_strata, char (*names)[32])
{
    SplitItem *it = malloc(sizeof(SplitItem) * (size_t)n);
    for (int i = 0; i < n; i++) {
        snprintf(names[i], 32, "ep_%04d.h5", i);
        it[i] = (SplitItem){names[i], "sha256:00", strata[(i * 7 + i / 3) % n_strata]};
    }
    return it;
}

/* Where each item went: -1 none, else list index; returns 0 if some item is in two lists. */
static int locate(const SplitList *const *lists, int n_lists, int n, int *where)
{
    for (int i = 0; i < n; i++) where[i] = -1;
    for (int k = 0; k < n_lists; k++)
        for (int j = 0; j < lists[k]->n; j++) {
            int i = atoi(lists[k]->e[j].file + 3);
            if (i < 0 || i >= n || where[i] != -1) return 0;
            where[i] = k;
        }
    return 1;
}

/* floor(x) <= v <= ceil(x), with a little slack for rounding in x. */
static int within(int v, double x) { return v >= (int)floor(x + 1e-9) && v <= (int)ceil(x - 1e-9); }

TEST(split_never_puts_an_episode_in_two_sets)
{
    static char names[300][32];
    int sizes[] = {1, 2, 3, 7, 13, 40, 72, 250};
    double ratios[][3] = {{0.7, 0.2, 0.1}, {0.8, 0.2, 0}, {0.5, 0.25, 0.25}, {1, 0, 0}};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t ri = 0; ri < 4; ri++)
            for (uint64_t seed = 0; seed < 5; seed++) {
                int n = sizes[si];
                SplitItem *items = make_items(n, 8, names);
                SplitOptions o = {ratios[ri][0], ratios[ri][1], ratios[ri][2], 0, seed * 977};
                SplitManifest *m = NULL;
                REQUIRE(split_make(items, n, &o, &m) == 0);
                const SplitList *lists[3] = {&m->train, &m->val, &m->test};
                int where[300];
                CHECK_MSG(locate(lists, 3, n, where), "n %d seed %d: an episode is in two sets", n, (int)seed);
                int placed = 1;
                for (int i = 0; i < n; i++) placed &= where[i] >= 0;
                CHECK_MSG(placed, "n %d seed %d: an episode is in no set", n, (int)seed);
                for (int k = 0; k < 3; k++)
                    CHECK_MSG(within(lists[k]->n, n * ratios[ri][k]), "n %d: set %d has %d, quota %.2f", n, k, lists[k]->n,
                              n * ratios[ri][k]);
                for (int st = 0; st < 8; st++) { /* and per stratum */
                    int size = 0, c[3] = {0, 0, 0};
                    for (int i = 0; i < n; i++)
                        if (strcmp(items[i].stratum, strata[st]) == 0) size++, c[where[i]]++;
                    for (int k = 0; k < 3; k++)
                        CHECK_MSG(within(c[k], size * ratios[ri][k]), "n %d seed %d stratum %s set %d: %d of %d", n,
                                  (int)seed, strata[st], k, c[k], size);
                }
                split_manifest_free(m);
                free(items);
            }
}

TEST(split_counts_are_stratified)
{
    static char names[200][32];
    /* 8 strata of 9 episodes (their first dataset: 72 episodes, 8 scenarios) */
    SplitItem items[72];
    for (int i = 0; i < 72; i++) {
        snprintf(names[i], 32, "ep_%04d.h5", i);
        items[i] = (SplitItem){names[i], "sha256:00", strata[i % 8]};
    }
    double r[3] = {0.7, 0.2, 0.1};
    for (uint64_t seed = 0; seed < 6; seed++) {
        SplitOptions o = {r[0], r[1], r[2], 0, seed};
        SplitManifest *m = NULL;
        REQUIRE(split_make(items, 72, &o, &m) == 0);
        const SplitList *lists[3] = {&m->train, &m->val, &m->test};
        for (int s = 0; s < 8; s++)
            for (int k = 0; k < 3; k++) {
                int c = 0;
                for (int j = 0; j < lists[k]->n; j++) c += strcmp(lists[k]->e[j].stratum, strata[s]) == 0;
                CHECK_MSG(within(c, 9 * r[k]), "stratum %s set %d: %d episodes, quota %.1f", strata[s], k, c, 9 * r[k]);
            }
        CHECK(m->train.n + m->val.n + m->test.n == 72);
        CHECK(m->test.n == 7 && m->val.n == 14 && m->train.n == 51); /* largest remainder of 50.4 / 14.4 / 7.2 */
        split_manifest_free(m);
    }
    /* uneven strata: quotas still hold per stratum */
    SplitItem *uneven = make_items(150, 5, names);
    SplitOptions o = {0.6, 0.2, 0.2, 0, 11};
    SplitManifest *m = NULL;
    REQUIRE(split_make(uneven, 150, &o, &m) == 0);
    for (int s = 0; s < 5; s++) {
        int size = 0;
        for (int i = 0; i < 150; i++) size += strcmp(uneven[i].stratum, strata[s]) == 0;
        const SplitList *lists[3] = {&m->train, &m->val, &m->test};
        double rr[3] = {0.6, 0.2, 0.2};
        for (int k = 0; k < 3; k++) {
            int c = 0;
            for (int j = 0; j < lists[k]->n; j++) c += strcmp(lists[k]->e[j].stratum, strata[s]) == 0;
            CHECK_MSG(within(c, size * rr[k]), "stratum %s (%d) set %d: %d", strata[s], size, k, c);
        }
    }
    split_manifest_free(m);
    free(uneven);
}

TEST(split_kfold_partitions_the_episodes)
{
    static char names[300][32];
    int sizes[] = {5, 12, 72, 101};
    int folds[] = {2, 3, 5};
    double tests[] = {0, 0.1};
    for (int si = 0; si < 4; si++)
        for (int fi = 0; fi < 3; fi++)
            for (int ti = 0; ti < 2; ti++) {
                int n = sizes[si], K = folds[fi];
                if (n * (1 - tests[ti]) < K) continue;
                SplitItem *items = make_items(n, 8, names);
                SplitOptions o = {0, 0, tests[ti], K, 5};
                SplitManifest *m = NULL;
                REQUIRE(split_make(items, n, &o, &m) == 0);
                const SplitList *lists[101];
                for (int k = 0; k < K; k++) lists[k] = &m->fold[k];
                lists[K] = &m->test;
                int where[300];
                CHECK_MSG(locate(lists, K + 1, n, where), "n %d K %d: an episode is in two folds", n, K);
                int placed = 1, lo = n, hi = 0;
                for (int i = 0; i < n; i++) placed &= where[i] >= 0;
                CHECK(placed);
                CHECK(m->train.n == 0 && m->val.n == 0);
                CHECK(within(m->test.n, n * tests[ti]));
                for (int k = 0; k < K; k++) {
                    lo = m->fold[k].n < lo ? m->fold[k].n : lo;
                    hi = m->fold[k].n > hi ? m->fold[k].n : hi;
                }
                CHECK_MSG(hi - lo <= 1, "n %d K %d: fold sizes %d..%d", n, K, lo, hi);
                split_manifest_free(m);
                free(items);
            }
}

TEST(split_is_deterministic_per_seed)
{
    static char names[100][32];
    SplitItem *items = make_items(60, 8, names);
    SplitOptions o;
    split_options_default(&o);
    o.seed = 3;
    char a[600], b[600], c[600];
    SplitManifest *m = NULL;
    REQUIRE(split_make(items, 60, &o, &m) == 0);
    REQUIRE(split_write(m, dt_path(a, sizeof a, test_tmpdir(), "a.json")) == 0);
    split_manifest_free(m);
    /* same items in another order, same seed: same manifest */
    SplitItem rev[60];
    for (int i = 0; i < 60; i++) rev[i] = items[59 - i];
    REQUIRE(split_make(rev, 60, &o, &m) == 0);
    REQUIRE(split_write(m, dt_path(b, sizeof b, test_tmpdir(), "b.json")) == 0);
    split_manifest_free(m);
    CHECK(dt_files_equal(a, b));
    o.seed = 4;
    REQUIRE(split_make(items, 60, &o, &m) == 0);
    REQUIRE(split_write(m, dt_path(c, sizeof c, test_tmpdir(), "c.json")) == 0);
    split_manifest_free(m);
    CHECK(!dt_files_equal(a, c));
    /* bad options */
    SplitOptions bad = o;
    bad.train = 0.9;
    CHECK(split_make(items, 60, &bad, &m) == MVLA_ERR_ARG);
    CHECK(strstr(mvla_error_message(), "expected 1") != NULL);
    bad = o;
    bad.folds = 1;
    CHECK(split_make(items, 60, &bad, &m) == MVLA_ERR_ARG);
    items[1].file = items[0].file;
    items[1].stratum = items[0].stratum;
    CHECK(split_make(items, 60, &o, &m) == MVLA_ERR_ARG);
    CHECK(strstr(mvla_error_message(), "twice") != NULL);
    free(items);
}

/* A dataset directory with n tiny episodes over the 8 scenarios, indexed with hashes. */
static int make_dataset(const char *dir, int n, Dataset **ds)
{
    for (int i = 0; i < n; i++) {
        char name[128];
        snprintf(name, sizeof name, "episode_20250101_12%04d_%s_core_medium.h5", i, strata[i % 8]);
        if (dt_write_episode(dir, name, 3, 8, 6, (uint64_t)i, NULL)) return -1;
    }
    DatasetOptions opt = {0};
    opt.hash = 1;
    return dataset_open(ds, dir, &opt);
}

/* Rewrites manifest `path` after letting edit() change the JSON. */
static int edit_manifest(const char *path, void (*edit)(json_t *))
{
    json_t *j = json_load_file(path, 0, NULL);
    if (!j) return -1;
    edit(j);
    int rc = json_dump_file(j, path, JSON_INDENT(2));
    json_decref(j);
    return rc;
}

static void copy_train_to_test(json_t *j)
{
    json_array_append(json_object_get(j, "test"), json_array_get(json_object_get(j, "train"), 0));
}
static void dup_in_val(json_t *j)
{
    json_t *v = json_object_get(j, "val");
    json_array_append(v, json_array_get(v, 0));
}
static void fold_into_test(json_t *j)
{
    json_array_append(json_object_get(j, "test"), json_array_get(json_array_get(json_object_get(j, "fold_sets"), 1), 0));
}

TEST(split_load_checks_overlap_and_file_hashes)
{
    char dir[512], man[600], kman[600], path[800];
    dt_mkdir(dir, sizeof dir, test_tmpdir(), "eps");
    Dataset *ds = NULL;
    REQUIRE(make_dataset(dir, 20, &ds) == 0);
    SplitOptions o;
    split_options_default(&o);
    o.seed = 1;
    SplitManifest *m = NULL;
    REQUIRE(split_make_from_dataset(ds, &o, &m) == 0);
    REQUIRE(split_write(m, dt_path(man, sizeof man, test_tmpdir(), "split.json")) == 0);
    int n_train = m->train.n, n_val = m->val.n, n_test = m->test.n;
    split_manifest_free(m);

    SplitSets *s = NULL;
    REQUIRE(split_load(man, dir, -1, &s) == 0);
    CHECK(s->train.n == n_train && s->val.n == n_val && s->test.n == n_test);
    CHECK(s->train.n + s->val.n + s->test.n == 20);
    CHECK(s->folds == 0 && s->fold == -1 && s->seed == 1);
    CHECK(strncmp(s->train.e[0].hash, "sha256:", 7) == 0);
    char victim[256];
    snprintf(victim, sizeof victim, "%s", s->test.e[0].file);
    split_sets_free(s);
    CHECK(split_load(man, dir, 0, &s) == MVLA_ERR_ARG); /* no folds in a holdout manifest */

    /* a file changes after the split */
    REQUIRE(dt_write_episode(dir, victim, 3, 8, 6, 999, NULL) == 0);
    CHECK(split_load(man, dir, -1, &s) == MVLA_ERR_FORMAT && s == NULL);
    CHECK_MSG(strstr(mvla_error_message(), "file changed since the split") && strstr(mvla_error_message(), victim),
              "unexpected message: %s", mvla_error_message());
    /* ... or disappears */
    REQUIRE(remove(dt_path(path, sizeof path, dir, victim)) == 0);
    CHECK(split_load(man, dir, -1, &s) != 0);
    CHECK(strstr(mvla_error_message(), victim) != NULL);
    CHECK(split_load_unverified(man, -1, &s) == 0); /* structure alone is fine */
    split_sets_free(s);

    /* tampered: an episode copied from train into test, or twice in val */
    REQUIRE(edit_manifest(man, copy_train_to_test) == 0);
    CHECK(split_load_unverified(man, -1, &s) == MVLA_ERR_FORMAT);
    CHECK_MSG(strstr(mvla_error_message(), "is in both train and test") != NULL, "message: %s", mvla_error_message());
    dataset_free(ds);
    REQUIRE(make_dataset(dir, 20, &ds) == 0);
    REQUIRE(split_make_from_dataset(ds, &o, &m) == 0);
    REQUIRE(split_write(m, man) == 0);
    split_manifest_free(m);
    REQUIRE(edit_manifest(man, dup_in_val) == 0);
    CHECK(split_load(man, dir, -1, &s) == MVLA_ERR_FORMAT);
    CHECK_MSG(strstr(mvla_error_message(), "twice in val") != NULL, "message: %s", mvla_error_message());

    /* K-fold: every fold's train/val/test cover the dataset once; a fold leaking into test is refused */
    o.folds = 4;
    o.test = 0.2;
    REQUIRE(split_make_from_dataset(ds, &o, &m) == 0);
    REQUIRE(split_write(m, dt_path(kman, sizeof kman, test_tmpdir(), "kfold.json")) == 0);
    split_manifest_free(m);
    for (int k = 0; k < 4; k++) {
        REQUIRE(split_load(kman, dir, k, &s) == 0);
        CHECK(s->train.n + s->val.n + s->test.n == 20);
        CHECK(s->test.n == 4);
        for (int i = 0; i < s->train.n; i++)
            for (int j = 0; j < s->val.n; j++) CHECK(strcmp(s->train.e[i].file, s->val.e[j].file) != 0);
        CHECK(s->folds == 4 && s->fold == k);
        split_sets_free(s);
    }
    CHECK(split_load(kman, dir, -1, &s) == MVLA_ERR_ARG);
    CHECK(strstr(mvla_error_message(), "choose a fold") != NULL);
    CHECK(split_load(kman, dir, 4, &s) == MVLA_ERR_ARG);
    REQUIRE(edit_manifest(kman, fold_into_test) == 0);
    CHECK(split_load(kman, dir, 0, &s) == MVLA_ERR_FORMAT);
    CHECK_MSG(strstr(mvla_error_message(), "is in both fold 1 and test") != NULL, "message: %s", mvla_error_message());

    /* not a manifest */
    REQUIRE(file_write_atomic(man, "{\"format\": \"other\"}", 19) == 0);
    CHECK(split_load(man, dir, -1, &s) == MVLA_ERR_FORMAT);
    CHECK(strstr(mvla_error_message(), "format") != NULL);
    REQUIRE(file_write_atomic(man, "not json", 8) == 0);
    CHECK(split_load(man, dir, -1, &s) == MVLA_ERR_FORMAT);
    dataset_free(ds);
}

TEST(split_cli_writes_a_manifest_that_loads)
{
    char dir[512], man[600], man2[600], args[2048], out[4096];
    dt_mkdir(dir, sizeof dir, test_tmpdir(), "eps");
    Dataset *ds = NULL;
    REQUIRE(make_dataset(dir, 16, &ds) == 0);
    dataset_free(ds);
    dt_path(man, sizeof man, test_tmpdir(), "m.json");
    dt_path(man2, sizeof man2, test_tmpdir(), "m2.json");
    snprintf(args, sizeof args, "data split '%s' -o '%s' --seed 2", dir, man);
    int rc = dt_run_mvla(args, out, sizeof out);
    if (rc == -2) {
        fprintf(stderr, "(skipped: MVLA_BIN not set; `make check` sets it) ");
        return;
    }
    CHECK_MSG(rc == 0, "mvla data split failed: %s", out);
    CHECK(strstr(out, "1box_vert_left") != NULL && strstr(out, "total") != NULL);
    SplitSets *s = NULL;
    REQUIRE(split_load(man, dir, -1, &s) == 0);
    CHECK(s->train.n + s->val.n + s->test.n == 16 && s->seed == 2);
    split_sets_free(s);
    snprintf(args, sizeof args, "data split '%s' -o '%s' --seed 2", dir, man2);
    CHECK(dt_run_mvla(args, out, sizeof out) == 0);
    CHECK_MSG(dt_files_equal(man, man2), "two runs with the same seed wrote different manifests");
    /* one fraction given: the others share the rest; k-fold */
    snprintf(args, sizeof args, "data split '%s' -o '%s' --test 0.25 --folds 3", dir, man2);
    CHECK(dt_run_mvla(args, out, sizeof out) == 0);
    REQUIRE(split_load(man2, dir, 2, &s) == 0);
    CHECK(s->test.n == 4 && s->folds == 3);
    split_sets_free(s);
    /* bad input */
    snprintf(args, sizeof args, "data split '%s' -o '%s' --train 0.9 --val 0.2 --test 0.1", dir, man2);
    CHECK(dt_run_mvla(args, out, sizeof out) == 1);
    CHECK_MSG(strstr(out, "mvla: ") && strstr(out, "expected 1"), "message: %s", out);
    snprintf(args, sizeof args, "data split '%s' -o '%s' --seed -3", dir, man2);
    CHECK(dt_run_mvla(args, out, sizeof out) == 2);
    snprintf(args, sizeof args, "data split '%s' --bogus", dir);
    CHECK(dt_run_mvla(args, out, sizeof out) == 2);
    snprintf(args, sizeof args, "data split '%s/nowhere' -o '%s'", dir, man2);
    CHECK(dt_run_mvla(args, out, sizeof out) == 1);
    CHECK(dt_run_mvla("data split --help", out, sizeof out) == 0 && strstr(out, "--folds") != NULL);
}
