/* Helpers for the data-pipeline tests (see data_testutil.h). */
#include "data_testutil.h"

#include "test.h"

#include "base/file.h"
#include "base/rng.h"
#include "data/actions.h"
#include "io/episode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

uint8_t *dt_image(int w, int h, uint64_t seed)
{
    uint8_t *img = malloc((size_t)w * h * 3);
    Rng r;
    rng_seed(&r, seed);
    int ox = (int)rng_below(&r, 97), oy = (int)rng_below(&r, 89);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                int v = (x * 255) / (w > 1 ? w - 1 : 1) * (c == 0) + (y * 255) / (h > 1 ? h - 1 : 1) * (c == 1) +
                        (((x + ox) / 3 + (y + oy) / 3) % 2) * 60 * (c == 2) + (int)(rng_below(&r, 40));
                img[((size_t)y * w + x) * 3 + c] = (uint8_t)(v > 255 ? 255 : v);
            }
    return img;
}

int dt_write_episode(const char *dir, const char *name, int T, int w, int h, uint64_t seed, const char *instruction)
{
    size_t fb = (size_t)w * h * 3;
    uint8_t *frames = malloc(fb * (size_t)T);
    float *actions = calloc((size_t)T * 3, sizeof(float));
    const char *keys = "wadqerts";
    for (int t = 0; t < T; t++) {
        uint8_t *img = dt_image(w, h, seed * 1000 + (uint64_t)t);
        memcpy(frames + fb * (size_t)t, img, fb);
        free(img);
        if (t > 0) key_to_action(keys[(t - 1 + (int)seed) % 8], ACTION_VALUE, actions + 3 * t);
    }
    EpisodeInfo in = {0};
    in.num_frames = T;
    in.height = h;
    in.width = w;
    in.actions = actions;
    in.instruction = (char *)instruction;
    in.total_duration = 0.4 * (T - 1);
    in.action_chunk_size = 8;
    in.collection_hour = in.collection_minute = -1;
    char path[1024];
    int rc = episode_write(dt_path(path, sizeof path, dir, name), &in, frames);
    free(frames);
    free(actions);
    return rc;
}

const char *dt_path(char *buf, size_t n, const char *dir, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

const char *dt_mkdir(char *buf, size_t n, const char *dir, const char *name)
{
    dt_path(buf, n, dir, name);
    mkdir(buf, 0755);
    return buf;
}

int dt_files_equal(const char *a, const char *b)
{
    MappedFile x, y;
    if (file_map(&x, a)) return 0;
    if (file_map(&y, b)) {
        file_unmap(&x);
        return 0;
    }
    int eq = x.size == y.size && (x.size == 0 || memcmp(x.data, y.data, x.size) == 0);
    file_unmap(&x);
    file_unmap(&y);
    return eq;
}

int dt_system(const char *cmd)
{
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

int dt_run_mvla(const char *args, char *out, size_t n)
{
    const char *bin = getenv("MVLA_BIN");
    if (!bin) return -2;
    size_t len = strlen(bin) + strlen(args) + 32;
    char *cmd = malloc(len), *text = NULL;
    if (!cmd) return -1;
    snprintf(cmd, len, "%s %s 2>&1", bin, args);
    int rc = test_run_capture(cmd, &text);
    free(cmd);
    if (n && text) snprintf(out, n, "%s", text);
    else if (n) out[0] = '\0';
    free(text);
    return rc;
}

FrameCache *dt_make_cache(const char *const *names, const int *lengths, int n, int w, int h, const char *cache_name)
{
    char dir[512], path[600];
    CacheSource src[16];
    if (n > 16) return NULL;
    dt_mkdir(dir, sizeof dir, test_tmpdir(), "eps");
    for (int i = 0; i < n; i++) {
        if (dt_write_episode(dir, names[i], lengths[i], 32, 18, (uint64_t)i + 1, i == 0 ? "Pass on the left side" : NULL))
            return NULL;
        src[i] = (CacheSource){names[i], NULL};
    }
    Preprocess p = {w, h, CROP_STRETCH, FILTER_AREA};
    FrameCache *cache = NULL;
    if (cache_open_or_build(&cache, dt_path(path, sizeof path, test_tmpdir(), cache_name), dir, src, n, &p, NULL, NULL))
        return NULL;
    return cache;
}
