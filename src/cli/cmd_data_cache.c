/* mvla data cache DIR (--manifest M.json | --all) -o CACHE [--size WxH] [--crop ...] [--filter ...]:
 * decode every frame once into the memory-mapped frame cache (src/data/cache.h). */
#include "cli/commands.h"

#include "base/error.h"
#include "base/progress.h"
#include "cli/cli_args.h"
#include "data/cache.h"
#include "data/dataset.h"
#include "data/split.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mvla data cache DIR (--manifest M.json | --all) -o CACHE [--size WxH] [--crop POLICY]\n"
            "                       [--filter FILTER] [--lang en|ko] [--instructions MAP.json]\n"
            "                       [--instruction TEXT] [--force]\n"
            "  Decodes every frame of the episodes once, converts BGR to RGB, resizes to the model's input\n"
            "  and stores uint8 frames with each episode's actions, events and instruction in one\n"
            "  memory-mapped file. Rebuilds only when a source file (content hash), the preprocessing or the\n"
            "  instruction settings changed; two builds of the same input are byte-identical.\n"
            "  --manifest M.json   the episodes of a split manifest (all its sets; checked against DIR)\n"
            "  --all               every usable episode in DIR\n"
            "  --size WxH          model input size (default %dx%d, 16:9 like the camera)\n"
            "  --crop POLICY       stretch (default), center_crop (resize the short side, cut the centre)\n"
            "                      or pad (fit inside, black borders); all equal for 16:9 into 16:9\n"
            "  --filter FILTER     area (default: averages the covered pixels) or bicubic (Catmull-Rom)\n"
            "  --lang, --instructions, --instruction   instruction resolution as in mvla data info\n"
            "  --force             rebuild even if the cache is up to date\n",
            PREPROCESS_DEFAULT_WIDTH, PREPROCESS_DEFAULT_HEIGHT);
}

static void on_progress(void *ctx, long done, long total)
{
    Progress *p = ctx;
    p->total = total;
    progress_update(p, done, NULL);
}

static void on_hash_progress(void *ctx, int done, int total) { on_progress(ctx, done, total); }

/* The sources: a manifest's episodes (verified against dir) or every usable episode of dir. */
static int gather(const char *dir, const char *manifest, CacheSource **src, int *n, SplitSets **sets, Dataset **ds)
{
    *src = NULL, *n = 0, *sets = NULL, *ds = NULL;
    if (manifest) {
        int rc = split_load(manifest, dir, SPLIT_ANY_FOLD, sets);
        if (rc) return rc;
        SplitList *l[3] = {&(*sets)->train, &(*sets)->val, &(*sets)->test};
        int total = l[0]->n + l[1]->n + l[2]->n;
        if (!(*src = malloc(sizeof(CacheSource) * (size_t)(total ? total : 1))))
            return mvla_fail(MVLA_ERR_NOMEM, "out of memory");
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < l[k]->n; i++) (*src)[(*n)++] = (CacheSource){l[k]->e[i].file, l[k]->e[i].hash};
        return MVLA_OK;
    }
    Progress prog;
    progress_start(&prog, "hashing", 0, "file");
    DatasetOptions opt = {0};
    opt.hash = 1;
    opt.isolate = 1; /* a file that crashes libhdf5 is reported, never the end of the command */
    opt.progress = on_hash_progress;
    opt.progress_ctx = &prog;
    int rc = dataset_open(ds, dir, &opt);
    progress_finish(&prog);
    if (rc) return rc;
    if (!(*src = malloc(sizeof(CacheSource) * (size_t)((*ds)->count ? (*ds)->count : 1))))
        return mvla_fail(MVLA_ERR_NOMEM, "out of memory");
    for (int i = 0; i < (*ds)->count; i++) {
        const DatasetEpisode *e = &(*ds)->episodes[i];
        if (e->usable) (*src)[(*n)++] = (CacheSource){e->file, e->hash};
    }
    int unusable = (*ds)->count - *n;
    if (unusable)
        fprintf(stderr, "mvla: data cache: leaving out %d file%s that do not open (see mvla data check %s)\n", unusable,
                unusable == 1 ? "" : "s", dir);
    return MVLA_OK;
}

int data_cache_main(int argc, char **argv)
{
    const char *dir = NULL, *manifest = NULL, *out = NULL;
    int all = 0, force = 0;
    Preprocess p;
    preprocess_default(&p);
    CacheOptions copt = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes_value = strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 || strcmp(a, "--manifest") == 0 ||
                          strcmp(a, "--size") == 0 || strcmp(a, "--crop") == 0 || strcmp(a, "--filter") == 0 ||
                          strcmp(a, "--lang") == 0 || strcmp(a, "--instructions") == 0 || strcmp(a, "--instruction") == 0;
        if (takes_value && !v) {
            fprintf(stderr, "mvla: data cache: %s needs a value\n", a);
            return 2;
        }
        int bad = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            out = v;
        } else if (strcmp(a, "--manifest") == 0) {
            manifest = v;
        } else if (strcmp(a, "--all") == 0) {
            all = 1;
        } else if (strcmp(a, "--force") == 0) {
            force = 1;
        } else if (strcmp(a, "--size") == 0) {
            bad = preprocess_parse_size(v, &p.width, &p.height);
        } else if (strcmp(a, "--crop") == 0) {
            bad = crop_parse(v, &p.crop);
        } else if (strcmp(a, "--filter") == 0) {
            bad = filter_parse(v, &p.filter);
        } else if (strcmp(a, "--lang") == 0) {
            copt.lang = v;
        } else if (strcmp(a, "--instructions") == 0) {
            copt.mapping_path = v;
        } else if (strcmp(a, "--instruction") == 0) {
            copt.instruction = v;
        } else if (cli_positional("data cache", a, &dir, "dataset directory", usage)) {
            return 2;
        }
        if (bad) {
            fprintf(stderr, "mvla: data cache: %s\n", mvla_error_message());
            return 2;
        }
        if (takes_value) i++;
    }
    if (!dir || !out || (!manifest == !all)) {
        if (dir && out) fprintf(stderr, "mvla: data cache: give exactly one of --manifest M.json and --all\n");
        usage(stderr);
        return 2;
    }
    CacheSource *src = NULL;
    SplitSets *sets = NULL;
    Dataset *ds = NULL;
    int n = 0, rebuilt = 0;
    FrameCache *c = NULL;
    int rc = gather(dir, manifest, &src, &n, &sets, &ds);
    Progress prog;
    progress_start(&prog, "caching", n, "episode");
    copt.progress = on_progress;
    copt.progress_ctx = &prog;
    double t0 = time_now();
    if (!rc && force) {
        rc = cache_build(out, dir, src, n, &p, &copt);
        rebuilt = 1;
        if (!rc) rc = cache_open(&c, out);
    } else if (!rc) {
        rc = cache_open_or_build(&c, out, dir, src, n, &p, &copt, &rebuilt);
    }
    if (rebuilt) progress_finish(&prog);
    double secs = time_now() - t0;
    if (rc) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
    } else {
        double mib = (double)cache_total_frames(c) * (double)cache_frame_bytes(c) / (1024.0 * 1024.0);
        printf("%s: %d episodes, %ld frames of %dx%d RGB (%s, %s), %.1f MiB of frames: %s", out, cache_num_episodes(c),
               cache_total_frames(c), p.width, p.height, crop_name(p.crop), filter_name(p.filter), mib,
               rebuilt ? "built" : "up to date");
        if (rebuilt) printf(" in %.1f s (%.1f episodes/s)", secs, secs > 0 ? cache_num_episodes(c) / secs : 0.0);
        printf("\n");
    }
    cache_close(c);
    free(src);
    split_sets_free(sets);
    dataset_free(ds);
    return rc ? 1 : 0;
}
