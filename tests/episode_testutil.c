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

int write_chunked_episode(const char *path, int T, int H, int W, const unsigned long long chunk[4], int deflate,
                          int shuffle, int skip_chunk)
{
    uint8_t *frames = fixture_frames(T, H, W, 0);
    float *a = calloc((size_t)T * 3 + 1, sizeof(float));
    episode_h5_lock();
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d[4] = {(hsize_t)T, (hsize_t)H, (hsize_t)W, 3}, c[4] = {chunk[0], chunk[1], chunk[2], chunk[3]};
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 4, c);
    if (shuffle) H5Pset_shuffle(dcpl);
    if (deflate) H5Pset_deflate(dcpl, 4);
    hid_t sp = H5Screate_simple(4, d, NULL);
    hid_t ds = H5Dcreate2(f, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = ds >= 0 ? 0 : -1;
    if (!rc && skip_chunk < 0) {
        rc = H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, frames) < 0 ? -1 : 0;
    } else if (!rc) { /* write every frame except those of chunk row skip_chunk */
        hsize_t one[4] = {1, (hsize_t)H, (hsize_t)W, 3};
        hid_t ms = H5Screate_simple(4, one, NULL);
        for (int t = 0; t < T && !rc; t++) {
            if (t / (int)c[0] == skip_chunk) continue;
            hsize_t start[4] = {(hsize_t)t, 0, 0, 0};
            H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, one, NULL);
            rc = H5Dwrite(ds, H5T_NATIVE_UINT8, ms, sp, H5P_DEFAULT, frames + (size_t)t * H * W * 3) < 0 ? -1 : 0;
        }
        H5Sclose(ms);
    }
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    H5Pclose(dcpl);
    hsize_t ad[2] = {(hsize_t)T, 3};
    if (!rc) rc = raw_dataset(f, "actions", H5T_NATIVE_FLOAT, 2, ad, a);
    if (f < 0 || H5Fclose(f) < 0) rc = -1;
    episode_h5_unlock();
    free(frames);
    free(a);
    return rc;
}
