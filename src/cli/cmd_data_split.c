/* mvla data split DIR -o MANIFEST.json [--train F --val F --test F] [--seed S] [--folds K]:
 * a leak-free, stratified, episode-level split manifest (src/data/split.h). */
#include "cli/commands.h"

#include "base/error.h"
#include "base/progress.h"
#include "cli/cli_args.h"
#include "data/dataset.h"
#include "data/split.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mvla data split DIR -o MANIFEST.json [--train F] [--val F] [--test F] [--seed S] [--folds K]\n"
            "  Splits the usable episodes in DIR by episode (never by frame), stratified by scenario\n"
            "  (boxes, layout, side: 1box_vert_left ...; else by side), with a fixed seed, into a JSON\n"
            "  manifest that lists each episode's file name and content hash (sha256).\n"
            "  --train/--val/--test F  fractions (default 0.7 / 0.2 / 0.1). Given all three, they must sum\n"
            "                          to 1; given one, the other two share the rest in their default ratio;\n"
            "                          given two, the third is the rest.\n"
            "  --seed S                shuffling seed (default 0); the same DIR and seed give the same file\n"
            "  --folds K               K-fold cross-validation: --test is held out first (default 0.1; 0 for\n"
            "                          none), the rest dealt into K folds; fold k trains on the other folds and\n"
            "                          validates on fold k; --train/--val are not used\n"
            "  Training and evaluation load the manifest with the dataset DIR and refuse it if an episode is\n"
            "  in two sets or a file changed since the split.\n");
}

static int parse_fraction(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end || errno || !(v >= 0 && v <= 1)) {
        fprintf(stderr, "mvla: data split: %s needs a fraction in [0, 1], got '%s'\n", opt, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

static void hash_progress(void *ctx, int done, int total)
{
    Progress *p = ctx;
    if (p->total != total) p->total = total;
    progress_update(p, done, NULL);
}

/* Count of list entries per stratum, for the summary table. */
static int count_stratum(const SplitList *l, const char *stratum)
{
    int n = 0;
    for (int i = 0; i < l->n; i++) n += strcmp(l->e[i].stratum, stratum) == 0;
    return n;
}

static void print_summary(const SplitManifest *m, const char *out)
{
    const SplitOptions *o = &m->opt;
    int K = o->folds;
    const SplitList *cols[102];
    char head[102][16];
    int nc = 0;
    if (!K) {
        cols[nc] = &m->train, snprintf(head[nc++], 16, "train");
        cols[nc] = &m->val, snprintf(head[nc++], 16, "val");
    } else {
        for (int k = 0; k < K; k++) cols[nc] = &m->fold[k], snprintf(head[nc++], 16, "fold%d", k);
    }
    cols[nc] = &m->test, snprintf(head[nc++], 16, "test");
    /* distinct strata, in order of first appearance across the lists (each list is sorted by file) */
    const char *strata[512];
    int ns = 0;
    for (int c = 0; c < nc; c++)
        for (int i = 0; i < cols[c]->n; i++) {
            int seen = 0;
            for (int s = 0; s < ns && !seen; s++) seen = strcmp(strata[s], cols[c]->e[i].stratum) == 0;
            if (!seen && ns < 512) strata[ns++] = cols[c]->e[i].stratum;
        }
    for (int a = 1; a < ns; a++) /* sort names */
        for (int b = a; b > 0 && strcmp(strata[b - 1], strata[b]) > 0; b--) {
            const char *t = strata[b];
            strata[b] = strata[b - 1];
            strata[b - 1] = t;
        }
    printf("%s: %s split, seed %llu\n\n", out, K ? "k-fold" : "train/val/test", (unsigned long long)o->seed);
    printf("%-20s", "stratum");
    for (int c = 0; c < nc; c++) printf(" %6s", head[c]);
    printf("\n");
    for (int s = 0; s < ns; s++) {
        printf("%-20s", strata[s]);
        for (int c = 0; c < nc; c++) printf(" %6d", count_stratum(cols[c], strata[s]));
        printf("\n");
    }
    printf("%-20s", "total");
    for (int c = 0; c < nc; c++) printf(" %6d", cols[c]->n);
    printf("\n");
}

int data_split_main(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    double r[3] = {0.7, 0.2, 0.1};
    int given[3] = {0, 0, 0};
    SplitOptions o;
    split_options_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (!v) goto missing;
            out = v, i++;
        } else if (strcmp(a, "--train") == 0 || strcmp(a, "--val") == 0 || strcmp(a, "--test") == 0) {
            int k = a[2] == 't' && a[3] == 'r' ? 0 : a[2] == 'v' ? 1 : 2;
            if (parse_fraction(a, v, &r[k])) return 2;
            given[k] = 1, i++;
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            unsigned long long s = v ? strtoull(v, &end, 10) : 0;
            if (!v || end == v || *end || errno || v[0] == '-' || s > (unsigned long long)INT64_MAX) {
                fprintf(stderr, "mvla: data split: --seed needs a non-negative integer, got '%s'\n", v ? v : "");
                return 2;
            }
            o.seed = s, i++;
        } else if (strcmp(a, "--folds") == 0) {
            char *end;
            long k = v ? strtol(v, &end, 10) : 0;
            if (!v || end == v || *end || k < 2 || k > 100) {
                fprintf(stderr, "mvla: data split: --folds needs an integer in 2..100, got '%s'\n", v ? v : "");
                return 2;
            }
            o.folds = (int)k, i++;
        } else if (cli_positional("data split", a, &dir, "dataset directory", usage)) {
            return 2;
        }
        continue;
    missing:
        fprintf(stderr, "mvla: data split: %s needs a value\n", a);
        return 2;
    }
    if (!dir || !out) {
        usage(stderr);
        return 2;
    }
    /* Fill in the fractions not given (see usage). */
    int n_given = given[0] + given[1] + given[2];
    if (!o.folds && n_given > 0 && n_given < 3) {
        double rest = 1, def[3] = {0.7, 0.2, 0.1}, def_sum = 0;
        for (int k = 0; k < 3; k++) {
            if (given[k]) rest -= r[k];
            else def_sum += def[k];
        }
        if (rest < -1e-9) {
            fprintf(stderr, "mvla: data split: the fractions given sum to more than 1\n");
            return 2;
        }
        for (int k = 0; k < 3; k++)
            if (!given[k]) r[k] = rest < 0 ? 0 : rest * def[k] / def_sum;
    }
    o.train = r[0], o.val = r[1], o.test = r[2];

    Progress prog;
    progress_start(&prog, "hashing", 0, "file");
    DatasetOptions dopt = {0};
    dopt.hash = 1;
    dopt.isolate = 1; /* a file that crashes libhdf5 is reported, never the end of the command */
    dopt.progress = hash_progress;
    dopt.progress_ctx = &prog;
    Dataset *ds = NULL;
    int rc = dataset_open(&ds, dir, &dopt);
    progress_finish(&prog);
    if (rc) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
        return 1;
    }
    int unusable = ds->count - dataset_usable(ds);
    if (unusable)
        fprintf(stderr, "mvla: data split: leaving out %d file%s that do not open (see mvla data check %s)\n", unusable,
                unusable == 1 ? "" : "s", dir);
    SplitManifest *m = NULL;
    rc = split_make_from_dataset(ds, &o, &m);
    if (!rc) rc = split_write(m, out);
    if (rc) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
    } else {
        print_summary(m, out);
    }
    split_manifest_free(m);
    dataset_free(ds);
    return rc ? 1 : 0;
}
