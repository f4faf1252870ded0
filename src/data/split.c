/* Split manifests: stratified allocation, writing, and the checked load every consumer uses. */
#include "data/split.h"

#include "base/error.h"
#include "base/file.h"
#include "base/hash.h"
#include "base/rng.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SPLIT_FORMAT "mvla-split"
#define SPLIT_VERSION 1
#define MAX_FOLDS 100

void split_options_default(SplitOptions *o)
{
    o->train = 0.7;
    o->val = 0.2;
    o->test = 0.1;
    o->folds = 0;
    o->seed = 0;
}

const char *split_stratum(const EpisodeName *name)
{
    if (name->scenario[0]) return name->scenario;
    if (name->side[0]) return name->side;
    return "unknown";
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s ? s : "", n);
    return d;
}

static void list_free(SplitList *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->e[i].file);
        free(l->e[i].hash);
        free(l->e[i].stratum);
    }
    free(l->e);
    l->e = NULL;
    l->n = 0;
}

void split_manifest_free(SplitManifest *m)
{
    if (!m) return;
    list_free(&m->train);
    list_free(&m->val);
    list_free(&m->test);
    if (m->fold)
        for (int k = 0; k < m->opt.folds; k++) list_free(&m->fold[k]);
    free(m->fold);
    free(m);
}

void split_sets_free(SplitSets *s)
{
    if (!s) return;
    list_free(&s->train);
    list_free(&s->val);
    list_free(&s->test);
    free(s);
}

/* ---- allocation ---- */

/* Largest-remainder rounding of total * ratio[k] (ties: lower k). */
static void round_totals(int total, const double *ratio, int n_sets, int *out)
{
    double frac[MAX_FOLDS + 1];
    int sum = 0;
    for (int k = 0; k < n_sets; k++) {
        double q = total * ratio[k];
        out[k] = (int)floor(q + 1e-9);
        frac[k] = q - out[k];
        sum += out[k];
    }
    while (sum < total) {
        int best = 0;
        for (int k = 1; k < n_sets; k++)
            if (frac[k] > frac[best] + 1e-12) best = k;
        out[best]++;
        frac[best] = -1;
        sum++;
    }
}

typedef struct {
    double frac;
    int s, k;
} Cell;

static int by_frac(const void *a, const void *b)
{
    const Cell *x = a, *y = b;
    if (x->frac > y->frac + 1e-12) return -1;
    if (y->frac > x->frac + 1e-12) return 1;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    return x->k < y->k ? -1 : x->k > y->k;
}

/* Whether stratum s may take one extra episode in set k (its quota there has a remainder), and
 * whether it has taken it. */
static int can_extra(int s, int k, const int *size, const double *ratio)
{
    double q = size[s] * ratio[k];
    return q - floor(q + 1e-9) > 1e-9;
}
static int has_extra(int s, int k, int n_sets, const int *size, const double *ratio, const int *counts)
{
    return counts[s * n_sets + k] > (int)floor(size[s] * ratio[k] + 1e-9);
}

/* One more extra for stratum s0, moving other strata's extras along a shortest alternating path
 * (s0 -> set k1 <- stratum u1 -> set k2 ... -> a set still short). 1: done, 0: no path, -1: no memory. */
static int augment_path(int s0, int S, int K, const int *size, const double *ratio, int *counts, int *need_k)
{
    int *from_s = malloc(sizeof(int) * (size_t)K), *from_k = malloc(sizeof(int) * (size_t)S);
    int *queue = malloc(sizeof(int) * (size_t)S);
    char *seen_s = calloc((size_t)S, 1), *seen_k = calloc((size_t)K, 1);
    int found = -1;
    if (!from_s || !from_k || !queue || !seen_s || !seen_k) found = -2;
    int head = 0, tail = 0;
    if (found == -1) {
        queue[tail++] = s0;
        seen_s[s0] = 1;
    }
    while (found == -1 && head < tail) {
        int u = queue[head++];
        for (int k = 0; k < K && found == -1; k++) {
            if (seen_k[k] || !can_extra(u, k, size, ratio) || has_extra(u, k, K, size, ratio, counts)) continue;
            seen_k[k] = 1;
            from_s[k] = u;
            if (need_k[k] > 0) {
                found = k;
                break;
            }
            for (int u2 = 0; u2 < S; u2++)
                if (!seen_s[u2] && has_extra(u2, k, K, size, ratio, counts)) {
                    seen_s[u2] = 1;
                    from_k[u2] = k;
                    queue[tail++] = u2;
                }
        }
    }
    int rc = found == -2 ? -1 : found >= 0;
    if (found >= 0) {
        need_k[found]--;
        for (int k = found;;) { /* flip the path back to s0 */
            int u = from_s[k];
            counts[u * K + k]++;
            if (u == s0) break;
            k = from_k[u];
            counts[u * K + k]--;
        }
    }
    free(from_s), free(from_k), free(queue), free(seen_s), free(seen_k);
    return rc;
}

/* counts[s * n_sets + k]: how many of stratum s's size[s] episodes go to set k. */
static int allocate(int n_strata, const int *size, int n_sets, const double *ratio, int *counts)
{
    int total = 0, T[MAX_FOLDS + 1], need_k[MAX_FOLDS + 1];
    for (int s = 0; s < n_strata; s++) total += size[s];
    round_totals(total, ratio, n_sets, T);
    int *need_s = calloc((size_t)n_strata, sizeof(int));
    Cell *cells = malloc(sizeof(Cell) * (size_t)n_strata * n_sets);
    if (!need_s || !cells) {
        free(need_s);
        free(cells);
        return mvla_fail(MVLA_ERR_NOMEM, "split: out of memory");
    }
    for (int k = 0; k < n_sets; k++) need_k[k] = T[k];
    for (int s = 0; s < n_strata; s++) {
        need_s[s] = size[s];
        for (int k = 0; k < n_sets; k++) {
            double q = size[s] * ratio[k];
            int f = (int)floor(q + 1e-9);
            counts[s * n_sets + k] = f;
            need_s[s] -= f;
            need_k[k] -= f;
            cells[s * n_sets + k] = (Cell){q - f, s, k};
        }
    }
    qsort(cells, (size_t)n_strata * n_sets, sizeof(Cell), by_frac);
    /* Pass 1: at most one extra per (stratum, set) with a remainder, largest remainders first. */
    for (int i = 0; i < n_strata * n_sets; i++) {
        Cell c = cells[i];
        if (c.frac > 1e-9 && need_s[c.s] > 0 && need_k[c.k] > 0) {
            counts[c.s * n_sets + c.k]++;
            need_s[c.s]--;
            need_k[c.k]--;
        }
    }
    /* Pass 2: greedy can paint itself into a corner (a stratum still short while the sets it may
     * use are full): move extras along augmenting paths so every count stays within one of its
     * quota. Such a rounding always exists (controlled rounding of a two-way table). */
    int rc = MVLA_OK;
    for (int s = 0; s < n_strata && !rc; s++)
        while (need_s[s] > 0 && !rc) {
            int r = augment_path(s, n_strata, n_sets, size, ratio, counts, need_k);
            if (r < 0) rc = mvla_fail(MVLA_ERR_NOMEM, "split: out of memory");
            if (r <= 0) break;
            need_s[s]--;
        }
    /* Pass 3 (a safety net that should never run): whatever is left, to any set still short. */
    for (int i = 0; i < n_strata * n_sets && !rc; i++) {
        Cell c = cells[i];
        while (need_s[c.s] > 0 && need_k[c.k] > 0) {
            counts[c.s * n_sets + c.k]++;
            need_s[c.s]--;
            need_k[c.k]--;
        }
    }
    int left = 0;
    for (int s = 0; s < n_strata; s++) left += need_s[s];
    free(need_s);
    free(cells);
    if (rc) return rc;
    if (left) return mvla_fail(MVLA_ERR_ARG, "split: %d episodes could not be allocated (ratios do not sum to 1?)", left);
    return MVLA_OK;
}

typedef struct {
    const SplitItem *it;
    int stratum;
} Ref;

static int by_stratum_file(const void *a, const void *b)
{
    const Ref *x = a, *y = b;
    int c = strcmp(x->it->stratum, y->it->stratum);
    return c ? c : strcmp(x->it->file, y->it->file);
}

static int by_entry_file(const void *a, const void *b)
{
    return strcmp(((const SplitEntry *)a)->file, ((const SplitEntry *)b)->file);
}

static int list_add(SplitList *l, const SplitItem *it)
{
    SplitEntry *e = &l->e[l->n];
    e->file = dup_str(it->file);
    e->hash = dup_str(it->hash);
    e->stratum = dup_str(it->stratum);
    l->n++;
    if (!e->file || !e->hash || !e->stratum) return mvla_fail(MVLA_ERR_NOMEM, "split: out of memory");
    return MVLA_OK;
}

/* Deals refs[0..n) (grouped by stratum, each group shuffled) into n_sets lists by ratio. */
static int deal(const Ref *refs, int n, int n_strata, int n_sets, const double *ratio, SplitList **lists)
{
    int *size = calloc((size_t)n_strata + 1, sizeof(int)), *counts = calloc((size_t)(n_strata + 1) * n_sets, sizeof(int));
    int rc = size && counts ? MVLA_OK : mvla_fail(MVLA_ERR_NOMEM, "split: out of memory");
    for (int i = 0; !rc && i < n; i++) size[refs[i].stratum]++;
    if (!rc) rc = allocate(n_strata, size, n_sets, ratio, counts);
    for (int i = 0; !rc && i < n;) {
        int s = refs[i].stratum;
        for (int k = 0; k < n_sets && !rc; k++)
            for (int c = 0; c < counts[s * n_sets + k] && !rc; c++) rc = list_add(lists[k], refs[i++].it);
    }
    free(size);
    free(counts);
    return rc;
}

static int check_options(const SplitOptions *o)
{
    if (!(o->train >= 0 && o->val >= 0 && o->test >= 0) || o->train > 1 || o->val > 1 || o->test > 1)
        return mvla_fail(MVLA_ERR_ARG, "split: ratios %g/%g/%g: expected fractions in [0, 1]", o->train, o->val, o->test);
    if (o->folds != 0 && (o->folds < 2 || o->folds > MAX_FOLDS))
        return mvla_fail(MVLA_ERR_ARG, "split: folds %d: expected 2..%d (or 0 for train/val/test)", o->folds, MAX_FOLDS);
    if (o->folds == 0 && fabs(o->train + o->val + o->test - 1) > 1e-6)
        return mvla_fail(MVLA_ERR_ARG, "split: ratios train %g + val %g + test %g = %g: expected 1", o->train, o->val,
                         o->test, o->train + o->val + o->test);
    if (o->folds && o->test >= 1) return mvla_fail(MVLA_ERR_ARG, "split: test ratio %g leaves nothing for the folds", o->test);
    if (o->seed > (uint64_t)INT64_MAX) return mvla_fail(MVLA_ERR_ARG, "split: seed: expected at most %lld", (long long)INT64_MAX);
    return MVLA_OK;
}

int split_make(const SplitItem *items, int n, const SplitOptions *o, SplitManifest **out)
{
    *out = NULL;
    int rc = check_options(o);
    if (rc) return rc;
    if (n < 1) return mvla_fail(MVLA_ERR_ARG, "split: no episodes to split");
    Ref *refs = malloc(sizeof(Ref) * (size_t)n);
    SplitManifest *m = calloc(1, sizeof *m);
    if (!refs || !m) {
        free(refs);
        free(m);
        return mvla_fail(MVLA_ERR_NOMEM, "split: out of memory");
    }
    m->opt = *o;
    for (int i = 0; i < n; i++) {
        if (!items[i].file || !items[i].hash || !items[i].stratum) {
            rc = mvla_fail(MVLA_ERR_ARG, "split: item %d: file, hash and stratum are required", i);
            break;
        }
        refs[i].it = &items[i];
    }
    /* Group by stratum (sorted by name), files sorted inside; refuse duplicates. */
    if (!rc) qsort(refs, (size_t)n, sizeof *refs, by_stratum_file);
    int n_strata = 0;
    for (int i = 0; !rc && i < n; i++) {
        if (i > 0 && strcmp(refs[i].it->stratum, refs[i - 1].it->stratum) != 0) n_strata++;
        refs[i].stratum = n_strata;
    }
    n_strata++;
    for (int i = 0; !rc && i < n; i++)
        for (int j = i + 1; j < n && refs[j].stratum == refs[i].stratum; j++)
            if (strcmp(refs[i].it->file, refs[j].it->file) == 0) {
                rc = mvla_fail(MVLA_ERR_ARG, "split: episode %s is listed twice", refs[i].it->file);
                break;
            }
    /* Shuffle inside each stratum, seeded by the seed and the stratum's name. */
    for (int i = 0; !rc && i < n;) {
        int j = i;
        while (j < n && refs[j].stratum == refs[i].stratum) j++;
        const char *name = refs[i].it->stratum;
        Rng r;
        rng_seed(&r, hash64(name, strlen(name), o->seed));
        for (int a = j - i - 1; a > 0; a--) {
            int b = (int)rng_below(&r, (uint32_t)(a + 1));
            Ref t = refs[i + a];
            refs[i + a] = refs[i + b];
            refs[i + b] = t;
        }
        i = j;
    }
    /* Allocate the lists (each can hold every episode). */
    int n_lists = o->folds ? o->folds : 0;
    if (!rc && n_lists && !(m->fold = calloc((size_t)n_lists, sizeof(SplitList))))
        rc = mvla_fail(MVLA_ERR_NOMEM, "split: out of memory");
    SplitList *all[MAX_FOLDS + 3] = {&m->train, &m->val, &m->test};
    for (int k = 0; k < n_lists; k++) all[3 + k] = &m->fold[k];
    for (int k = 0; !rc && k < 3 + n_lists; k++)
        if (!(all[k]->e = calloc((size_t)n, sizeof(SplitEntry)))) rc = mvla_fail(MVLA_ERR_NOMEM, "split: out of memory");
    if (!rc && !o->folds) {
        double sum = o->train + o->val + o->test; /* 1 within 1e-6: make it exact */
        double ratio[3] = {o->train / sum, o->val / sum, o->test / sum};
        rc = deal(refs, n, n_strata, 3, ratio, all);
    } else if (!rc) {
        /* Test first (set 1 of [rest, test]); the rest, in the same stratum order, into K folds. */
        SplitList rest = {calloc((size_t)n, sizeof(SplitEntry)), 0};
        SplitList *two[2] = {&rest, &m->test};
        double ratio[2] = {1 - o->test, o->test};
        rc = rest.e ? deal(refs, n, n_strata, 2, ratio, two) : mvla_fail(MVLA_ERR_NOMEM, "split: out of memory");
        Ref *rrefs = rc ? NULL : malloc(sizeof(Ref) * (size_t)(rest.n ? rest.n : 1));
        if (!rc && !rrefs) rc = mvla_fail(MVLA_ERR_NOMEM, "split: out of memory");
        /* rest.e holds copies; map them back to items through refs (same order as dealt). */
        int r = 0;
        for (int i = 0; !rc && i < n && r < rest.n; i++)
            if (strcmp(refs[i].it->file, rest.e[r].file) == 0) rrefs[r++] = refs[i];
        if (!rc && o->folds > 0) {
            double fr[MAX_FOLDS];
            for (int k = 0; k < o->folds; k++) fr[k] = 1.0 / o->folds;
            rc = deal(rrefs, rest.n, n_strata, o->folds, fr, all + 3);
        }
        free(rrefs);
        list_free(&rest);
    }
    free(refs);
    for (int k = 0; !rc && k < 3 + n_lists; k++) qsort(all[k]->e, (size_t)all[k]->n, sizeof(SplitEntry), by_entry_file);
    if (rc) {
        split_manifest_free(m);
        return rc;
    }
    *out = m;
    return MVLA_OK;
}

int split_make_from_dataset(const Dataset *ds, const SplitOptions *o, SplitManifest **out)
{
    *out = NULL;
    SplitItem *items = malloc(sizeof(SplitItem) * (size_t)(ds->count ? ds->count : 1));
    if (!items) return mvla_fail(MVLA_ERR_NOMEM, "split: out of memory");
    int n = 0;
    for (int i = 0; i < ds->count; i++) {
        const DatasetEpisode *e = &ds->episodes[i];
        if (!e->usable) continue;
        if (!e->hash[0]) {
            free(items);
            return mvla_fail(MVLA_ERR_ARG, "split: %s: no content hash (index the dataset with hashing on)", e->path);
        }
        items[n++] = (SplitItem){e->file, e->hash, split_stratum(&e->info.name)};
    }
    int rc = n ? split_make(items, n, o, out)
               : mvla_fail(MVLA_ERR_ARG, "split: %s: no usable episodes (see mvla data check)", ds->root ? ds->root : "dataset");
    free(items);
    return rc;
}

/* ---- writing ---- */

static json_t *list_json(const SplitList *l)
{
    json_t *a = json_array();
    for (int i = 0; i < l->n; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "file", json_string(l->e[i].file));
        json_object_set_new(e, "hash", json_string(l->e[i].hash));
        json_object_set_new(e, "stratum", json_string(l->e[i].stratum));
        json_array_append_new(a, e);
    }
    return a;
}

int split_write(const SplitManifest *m, const char *path)
{
    const SplitOptions *o = &m->opt;
    json_t *root = json_object(), *ratios = json_object(), *counts = json_object();
    json_object_set_new(root, "format", json_string(SPLIT_FORMAT));
    json_object_set_new(root, "version", json_integer(SPLIT_VERSION));
    json_object_set_new(root, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(root, "mode", json_string(o->folds ? "kfold" : "holdout"));
    if (!o->folds) {
        json_object_set_new(ratios, "train", json_real(o->train));
        json_object_set_new(ratios, "val", json_real(o->val));
    }
    json_object_set_new(ratios, "test", json_real(o->test));
    json_object_set_new(root, "ratios", ratios);
    json_object_set_new(root, "folds", json_integer(o->folds));
    json_object_set_new(root, "stratify", json_string("scenario"));
    json_object_set_new(root, "hash", json_string("sha256"));
    if (!o->folds) {
        json_object_set_new(counts, "train", json_integer(m->train.n));
        json_object_set_new(counts, "val", json_integer(m->val.n));
    } else {
        json_t *fc = json_array();
        for (int k = 0; k < o->folds; k++) json_array_append_new(fc, json_integer(m->fold[k].n));
        json_object_set_new(counts, "folds", fc);
    }
    json_object_set_new(counts, "test", json_integer(m->test.n));
    json_object_set_new(root, "counts", counts);
    if (!o->folds) {
        json_object_set_new(root, "train", list_json(&m->train));
        json_object_set_new(root, "val", list_json(&m->val));
    } else {
        json_t *fs = json_array();
        for (int k = 0; k < o->folds; k++) json_array_append_new(fs, list_json(&m->fold[k]));
        json_object_set_new(root, "fold_sets", fs);
    }
    json_object_set_new(root, "test", list_json(&m->test));
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(root);
    if (!text) return mvla_fail(MVLA_ERR_NOMEM, "%s: cannot encode the manifest (out of memory or invalid UTF-8)", path);
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves room: replace the NUL, write len + 1 bytes */
    int rc = file_write_atomic(path, text, len + 1);
    free(text);
    return rc;
}

/* ---- loading ---- */

typedef struct {
    const char *file;
    const char *set; /* "train", "val", "test", "fold 2" */
    int list;        /* the set's position in the manifest, for a stable message */
} Seen;

static int by_seen(const void *a, const void *b)
{
    const Seen *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : (x->list > y->list) - (x->list < y->list);
}

static int parse_list(const char *path, json_t *a, const char *name, SplitList *out)
{
    if (!json_is_array(a)) return mvla_fail(MVLA_ERR_FORMAT, "manifest %s: '%s': expected an array of episodes", path, name);
    size_t n = json_array_size(a);
    out->e = calloc(n ? n : 1, sizeof(SplitEntry));
    if (!out->e) return mvla_fail(MVLA_ERR_NOMEM, "manifest %s: out of memory", path);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(a, i);
        json_t *f = json_object_get(e, "file"), *h = json_object_get(e, "hash"), *s = json_object_get(e, "stratum");
        if (!json_is_string(f) || !json_is_string(h) || !json_string_value(f)[0] || strchr(json_string_value(f), '/'))
            return mvla_fail(MVLA_ERR_FORMAT, "manifest %s: %s[%zu]: expected {\"file\": name, \"hash\": \"sha256:...\"}",
                             path, name, i);
        if (strlen(json_string_value(h)) >= HASH_TEXT_MAX)
            return mvla_fail(MVLA_ERR_FORMAT, "manifest %s: %s[%zu].hash: too long for a sha256 hash", path, name, i);
        SplitItem it = {json_string_value(f), json_string_value(h), json_is_string(s) ? json_string_value(s) : ""};
        int rc = list_add(out, &it);
        if (rc) return rc;
    }
    return MVLA_OK;
}

/* Every episode once across all lists. */
static int check_overlap(const char *path, SplitList *const *lists, const char *const *names, int n_lists)
{
    int total = 0;
    for (int k = 0; k < n_lists; k++) total += lists[k]->n;
    Seen *seen = malloc(sizeof(Seen) * (size_t)(total ? total : 1));
    if (!seen) return mvla_fail(MVLA_ERR_NOMEM, "manifest %s: out of memory", path);
    int n = 0;
    for (int k = 0; k < n_lists; k++)
        for (int i = 0; i < lists[k]->n; i++) seen[n++] = (Seen){lists[k]->e[i].file, names[k], k};
    qsort(seen, (size_t)n, sizeof *seen, by_seen);
    int rc = MVLA_OK;
    for (int i = 1; i < n && !rc; i++)
        if (strcmp(seen[i].file, seen[i - 1].file) == 0) {
            if (strcmp(seen[i].set, seen[i - 1].set) == 0)
                rc = mvla_fail(MVLA_ERR_FORMAT, "manifest %s: episode %s is listed twice in %s", path, seen[i].file, seen[i].set);
            else
                rc = mvla_fail(MVLA_ERR_FORMAT, "manifest %s: episode %s is in both %s and %s", path, seen[i].file,
                               seen[i - 1].set, seen[i].set);
        }
    free(seen);
    return rc;
}

/* Hashes every listed file in dir (in parallel) and compares with the manifest. */
static int verify_files(const char *path, const char *dir, SplitList *const *lists, int n_lists)
{
    int total = 0;
    for (int k = 0; k < n_lists; k++) total += lists[k]->n;
    const SplitEntry **all = malloc(sizeof *all * (size_t)(total ? total : 1));
    if (!all) return mvla_fail(MVLA_ERR_NOMEM, "manifest %s: out of memory", path);
    int n = 0;
    for (int k = 0; k < n_lists; k++)
        for (int i = 0; i < lists[k]->n; i++) all[n++] = &lists[k]->e[i];
    int first_bad = n; /* report the first failing entry in manifest order, whatever the threads did */
    char *msg = NULL;
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        size_t len = strlen(dir) + strlen(all[i]->file) + 2;
        char *p = malloc(len), got[HASH_TEXT_MAX] = "";
        int rc = p ? MVLA_OK : mvla_fail(MVLA_ERR_NOMEM, "out of memory");
        if (p) snprintf(p, len, "%s/%s", dir, all[i]->file);
        if (!rc) rc = hash_file(p, got);
        char buf[1024];
        if (rc)
            snprintf(buf, sizeof buf, "manifest %s: episode %s: %s", path, all[i]->file, mvla_error_message());
        else if (strcmp(got, all[i]->hash) != 0)
            snprintf(buf, sizeof buf, "manifest %s: episode %s: file changed since the split (%s has %s, the manifest %s)",
                     path, all[i]->file, p, got, all[i]->hash);
        int bad = rc || strcmp(got, all[i]->hash) != 0;
        free(p);
        if (bad) {
#pragma omp critical(split_verify)
            if (i < first_bad) {
                first_bad = i;
                free(msg);
                msg = dup_str(buf);
            }
        }
    }
    free(all);
    if (first_bad == n) return MVLA_OK;
    int rc = mvla_fail(MVLA_ERR_FORMAT, "%s", msg ? msg : "manifest: a file changed since the split");
    free(msg);
    return rc;
}

static int load(const char *path, const char *dir, int fold, SplitSets **out)
{
    *out = NULL;
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        FILE *fp = fopen(path, "rb");
        if (!fp) return mvla_fail(MVLA_ERR_IO, "manifest %s: cannot open", path);
        fclose(fp);
        return mvla_fail(MVLA_ERR_FORMAT, "manifest %s: line %d: not valid JSON: %s", path, je.line, je.text);
    }
    int rc = MVLA_OK;
    json_t *fmt = json_object_get(root, "format"), *ver = json_object_get(root, "version");
    json_t *folds_j = json_object_get(root, "folds"), *seed_j = json_object_get(root, "seed");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), SPLIT_FORMAT) != 0)
        rc = mvla_fail(MVLA_ERR_FORMAT, "manifest %s: format: expected \"" SPLIT_FORMAT "\"", path);
    else if (!json_is_integer(ver) || json_integer_value(ver) != SPLIT_VERSION)
        rc = mvla_fail(MVLA_ERR_FORMAT, "manifest %s: version: expected %d", path, SPLIT_VERSION);
    else if (!json_is_integer(folds_j) || json_integer_value(folds_j) < 0 || json_integer_value(folds_j) == 1 ||
             json_integer_value(folds_j) > MAX_FOLDS)
        rc = mvla_fail(MVLA_ERR_FORMAT, "manifest %s: folds: expected 0 or 2..%d", path, MAX_FOLDS);
    int K = rc ? 0 : (int)json_integer_value(folds_j);
    if (fold == SPLIT_ANY_FOLD) fold = K ? 0 : -1;
    if (!rc && !K && fold != -1)
        rc = mvla_fail(MVLA_ERR_ARG, "manifest %s: fold %d asked for, but this is a train/val/test manifest (no folds)", path, fold);
    if (!rc && K && (fold < 0 || fold >= K))
        rc = mvla_fail(MVLA_ERR_ARG, "manifest %s: has %d folds: choose a fold in 0..%d", path, K, K - 1);
    SplitSets *s = calloc(1, sizeof *s);
    SplitList *fl = K ? calloc((size_t)K, sizeof(SplitList)) : NULL;
    if (!rc && (!s || (K && !fl))) rc = mvla_fail(MVLA_ERR_NOMEM, "manifest %s: out of memory", path);
    SplitList *lists[MAX_FOLDS + 1];
    char names[MAX_FOLDS + 1][24];
    const char *name_ptr[MAX_FOLDS + 1];
    int n_lists = 0;
    if (!rc && !K) {
        rc = parse_list(path, json_object_get(root, "train"), "train", &s->train);
        if (!rc) rc = parse_list(path, json_object_get(root, "val"), "val", &s->val);
        lists[0] = &s->train, lists[1] = &s->val;
        name_ptr[0] = "train", name_ptr[1] = "val";
        n_lists = 2;
    } else if (!rc) {
        json_t *fs = json_object_get(root, "fold_sets");
        if (!json_is_array(fs) || (int)json_array_size(fs) != K)
            rc = mvla_fail(MVLA_ERR_FORMAT, "manifest %s: fold_sets: expected an array of %d episode lists", path, K);
        for (int k = 0; !rc && k < K; k++) {
            snprintf(names[k], sizeof names[k], "fold %d", k);
            rc = parse_list(path, json_array_get(fs, (size_t)k), names[k], &fl[k]);
            lists[n_lists] = &fl[k];
            name_ptr[n_lists++] = names[k];
        }
    }
    if (!rc) {
        rc = parse_list(path, json_object_get(root, "test"), "test", &s->test);
        lists[n_lists] = &s->test;
        name_ptr[n_lists++] = "test";
    }
    if (!rc) rc = check_overlap(path, lists, name_ptr, n_lists);
    if (!rc && dir) rc = verify_files(path, dir, lists, n_lists);
    if (!rc && K) { /* fold k: val = fold k, train = the other folds */
        int nt = 0;
        for (int k = 0; k < K; k++) nt += k == fold ? 0 : fl[k].n;
        s->train.e = calloc((size_t)(nt ? nt : 1), sizeof(SplitEntry));
        if (!s->train.e) rc = mvla_fail(MVLA_ERR_NOMEM, "manifest %s: out of memory", path);
        for (int k = 0; !rc && k < K; k++)
            for (int i = 0; !rc && i < fl[k].n; i++) {
                if (k == fold) continue;
                SplitItem it = {fl[k].e[i].file, fl[k].e[i].hash, fl[k].e[i].stratum};
                rc = list_add(&s->train, &it);
            }
        if (!rc) qsort(s->train.e, (size_t)s->train.n, sizeof(SplitEntry), by_entry_file);
        if (!rc) {
            s->val = fl[fold];
            fl[fold] = (SplitList){0};
        }
    }
    if (s) {
        s->folds = K;
        s->fold = K ? fold : -1;
        s->seed = json_is_integer(seed_j) ? (uint64_t)json_integer_value(seed_j) : 0;
    }
    for (int k = 0; fl && k < K; k++) list_free(&fl[k]);
    free(fl);
    json_decref(root);
    if (rc) {
        split_sets_free(s);
        return rc;
    }
    *out = s;
    return MVLA_OK;
}

int split_load(const char *manifest_path, const char *dir, int fold, SplitSets **out)
{
    if (!dir) return mvla_fail(MVLA_ERR_ARG, "manifest %s: no dataset directory given to check the files against", manifest_path);
    return load(manifest_path, dir, fold, out);
}

int split_load_unverified(const char *manifest_path, int fold, SplitSets **out)
{
    return load(manifest_path, NULL, fold, out);
}
