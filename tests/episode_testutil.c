/* Helpers shared by the episode and dataset tests (see episode_testutil.h). */
#include "episode_testutil.h"

#include "data/actions.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t fixture_pixel(int t, int y, int x, int c) { return (uint8_t)((t * 37 + y * 11 + x * 3 + c * 71) % 256); }

uint8_t *fixture_frames(int T, int H, int W, int seed)
{
    uint8_t *f = malloc((size_t)(T ? T : 1) * (size_t)H * (size_t)W * 3);
    size_t i = 0;
    for (int t = 0; t < T; t++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < 3; c++) f[i++] = (uint8_t)(fixture_pixel(t, y, x, c) + seed * 13);
    return f;
}

const char *join_path(char *buf, size_t n, const char *dir, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

int write_key_episode(const char *dir, const char *name, const char *keys, int H, int W, int seed)
{
    int T = 1 + (int)strlen(keys);
    float *actions = calloc((size_t)T * 3, sizeof(float));
    uint8_t *frames = fixture_frames(T, H, W, seed);
    for (int t = 1; t < T; t++) key_to_action(keys[t - 1], ACTION_VALUE, actions + 3 * t);
    EpisodeInfo in = {0};
    in.num_frames = T;
    in.height = H;
    in.width = W;
    in.actions = actions;
    in.total_duration = 0.4 * (T - 1);
    in.action_chunk_size = 8;
    in.collection_hour = in.collection_minute = -1;
    char path[1024];
    int rc = episode_write(join_path(path, sizeof path, dir, name), &in, frames);
    free(actions);
    free(frames);
    return rc;
}

static int raw_dataset(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims, const void *buf)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t ds = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = ds >= 0 && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    return ok ? 0 : -1;
}

int write_raw_episode(const char *path, int Ti, int Ta, int Te, int H, int W)
{
    episode_h5_lock();
    int rc = 0;
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) rc = -1;
    if (!rc && Ti >= 0) {
        uint8_t *frames = fixture_frames(Ti, H, W, 0);
        hsize_t d[4] = {(hsize_t)Ti, (hsize_t)H, (hsize_t)W, 3};
        rc = raw_dataset(f, "images", H5T_NATIVE_UINT8, 4, d, frames);
        free(frames);
    }
    if (!rc && Ta >= 0) {
        float *a = calloc((size_t)Ta * 3 + 1, sizeof(float));
        hsize_t d[2] = {(hsize_t)Ta, 3};
        rc = raw_dataset(f, "actions", H5T_NATIVE_FLOAT, 2, d, a);
        free(a);
    }
    if (!rc && Te >= 0) {
        const char **ev = calloc((size_t)Te + 1, sizeof *ev);
        for (int t = 0; t < Te; t++) ev[t] = t ? "start_action" : "episode_start";
        hid_t st = H5Tcopy(H5T_C_S1);
        H5Tset_size(st, H5T_VARIABLE);
        H5Tset_cset(st, H5T_CSET_UTF8);
        hsize_t d[1] = {(hsize_t)Te};
        rc = raw_dataset(f, "action_event_types", st, 1, d, ev);
        H5Tclose(st);
        free(ev);
    }
    if (f >= 0 && H5Fclose(f) < 0) rc = -1;
    episode_h5_unlock();
    return rc;
}

int copy_prefix(const char *src, const char *dst, long n)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    int rc = in && out ? 0 : -1;
    for (int ch; !rc && n != 0 && (ch = fgetc(in)) != EOF; n--) fputc(ch, out);
    if (in) fclose(in);
    if (out && fclose(out) != 0) rc = -1;
    return rc;
}
