/* Frame-cache build throughput (decode + BGR->RGB + resize + store) against a Python peer, same files,
 * same run.
 *   build/bench/bench_cache [--episodes N] [--frames T] [--size WxH] [--filter area|bicubic]
 *                           [--repeats R] [--no-peer] [--keep]
 * Writes N synthetic 1280x720 episodes of T frames (default 8 x 18, camera-like content: gradients,
 * boxes, sensor noise; gzip level 4, one chunk per frame, as the collector writes them) into a temp
 * folder with episode_write, then times cache_build on 1 thread and on all threads and the peer
 * bench/peers/cache_h5py.py (h5py + numpy + Pillow, one thread; Debian's /usr/bin/python3), R rounds
 * interleaved, best of each, and prints episodes/s for each, the ratios, and the largest pixel difference
 * between the two outputs. Hashing the sources is outside the timing (a build from a verified split
 * manifest gets the hashes from it). */
#include "base/error.h"
#include "base/progress.h"
#include "base/rng.h"
#include "base/threads.h"
#include "data/cache.h"
#include "io/episode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEER "bench/peers/cache_h5py.py"
#define SRC_W 1280
#define SRC_H 720

/* A camera-like BGR frame: wall and floor gradients, two shaded boxes and a target that drift with t,
 * plus +-4 sensor noise (so gzip sees realistic, not trivially compressible, data). */
static void synth_frame(uint8_t *f, int ep, int t, Rng *r)
{
    int horizon = SRC_H / 2 + (ep % 3) * 20;
    int bx = 300 + ep * 37 - t * 9, bw = 260, by = horizon - 60, bh = 240;
    int cx = 900 - t * 6 + ep * 11, cy = horizon + 40, rad = 45;
    for (int y = 0; y < SRC_H; y++) {
        uint8_t *row = f + (size_t)y * SRC_W * 3;
        for (int x = 0; x < SRC_W; x++) {
            int b, g, rr;
            if (y < horizon) b = 180 - y / 6, g = 170 - y / 7, rr = 160 - y / 8;
            else b = 70 + (y - horizon) / 5, g = 90 + (y - horizon) / 5, rr = 110 + (y - horizon) / 4;
            if (x >= bx && x < bx + bw && y >= by && y < by + bh) b = 40 + (x - bx) / 8, g = 90 + (x - bx) / 8, rr = 150;
            if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < rad * rad) b = 230, g = 230, rr = 240;
            uint64_t n = rng_next(r);
            b += (int)(n & 7) - 4, g += (int)((n >> 8) & 7) - 4, rr += (int)((n >> 16) & 7) - 4;
            row[3 * x] = (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : b);
            row[3 * x + 1] = (uint8_t)(g < 0 ? 0 : g > 255 ? 255 : g);
            row[3 * x + 2] = (uint8_t)(rr < 0 ? 0 : rr > 255 ? 255 : rr);
        }
    }
}

static const char *scen[] = {"1box_vert_left", "1box_vert_right", "2box_hori_left", "2box_hori_right"};

static int write_episodes(const char *dir, int n, int T, char names[][96])
{
    size_t fb = (size_t)SRC_W * SRC_H * 3;
    uint8_t *frames = malloc(fb * (size_t)T);
    float *actions = calloc((size_t)T * 3, sizeof(float));
    if (!frames || !actions) return mvla_fail(MVLA_ERR_NOMEM, "out of memory");
    int rc = MVLA_OK;
    Progress p;
    progress_start(&p, "writing episodes", n, "episode");
    for (int e = 0; e < n && !rc; e++) {
        Rng r;
        rng_seed(&r, (uint64_t)e + 1);
        for (int t = 0; t < T; t++) {
            synth_frame(frames + fb * (size_t)t, e, t, &r);
            if (t > 0) actions[3 * t] = 1.15f;
        }
        snprintf(names[e], 96, "episode_20250101_12%02d00_%s_core_medium.h5", e, scen[e % 4]);
        EpisodeInfo in = {0};
        in.num_frames = T, in.height = SRC_H, in.width = SRC_W, in.actions = actions;
        in.total_duration = 0.4 * (T - 1), in.action_chunk_size = 8;
        in.collection_hour = in.collection_minute = -1;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[e]);
        rc = episode_write(path, &in, frames);
        progress_update(&p, e + 1, NULL);
    }
    progress_finish(&p);
    free(frames);
    free(actions);
    return rc;
}

/* Seconds for one cache_build on `threads` threads (-1 on failure). */
static double time_c(const char *cache, const char *dir, const CacheSource *src, int n, const Preprocess *p, int threads)
{
    mvla_set_threads(threads);
    double t0 = time_now();
    if (cache_build(cache, dir, src, n, p, NULL)) {
        fprintf(stderr, "bench_cache: %s\n", mvla_error_message());
        return -1;
    }
    return time_now() - t0;
}

/* Seconds for one run of the peer (its own timing, imports excluded), -1 on failure. */
static double time_peer(const char *cmd)
{
    FILE *fp = popen(cmd, "r");
    double s = -1;
    long frames = 0;
    if (!fp || fscanf(fp, "seconds %lf frames %ld", &s, &frames) != 2) s = -1;
    if (fp) pclose(fp);
    return s;
}

static void keep_best(double *best, double s)
{
    if (s > 0 && (*best < 0 || s < *best)) *best = s;
}

int main(int argc, char **argv)
{
    int n = 8, T = 18, repeats = 3, peer = 1, keep = 0;
    Preprocess p;
    preprocess_default(&p);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--episodes") == 0 && v) n = atoi(v), i++;
        else if (strcmp(a, "--frames") == 0 && v) T = atoi(v), i++;
        else if (strcmp(a, "--repeats") == 0 && v) repeats = atoi(v), i++;
        else if (strcmp(a, "--size") == 0 && v && !preprocess_parse_size(v, &p.width, &p.height)) i++;
        else if (strcmp(a, "--filter") == 0 && v && !filter_parse(v, &p.filter)) i++;
        else if (strcmp(a, "--no-peer") == 0) peer = 0;
        else if (strcmp(a, "--keep") == 0) keep = 1;
        else {
            fprintf(stderr, "usage: bench_cache [--episodes N] [--frames T] [--size WxH] [--filter area|bicubic] "
                            "[--repeats R] [--no-peer] [--keep]\n");
            return 2;
        }
    }
    if (n < 1 || n > 64 || T < 1 || T > 1000 || repeats < 1) {
        fprintf(stderr, "bench_cache: episodes 1..64, frames 1..1000, repeats >= 1\n");
        return 2;
    }
    int all = mvla_set_threads(0);
    char dir[] = "/tmp/mvla-bench-cache-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char (*names)[96] = calloc((size_t)n, sizeof *names);
    CacheSource *src = calloc((size_t)n, sizeof *src);
    if (write_episodes(dir, n, T, names)) {
        fprintf(stderr, "bench_cache: %s\n", mvla_error_message());
        return 1;
    }
    for (int e = 0; e < n; e++) src[e] = (CacheSource){names[e], NULL};
    /* hashes once, outside the timing: a build from a verified manifest gets them from the manifest */
    char (*hashes)[CACHE_HASH_MAX] = calloc((size_t)n, sizeof *hashes);
    for (int e = 0; e < n; e++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[e]);
        if (cache_hash_file(path, hashes[e])) {
            fprintf(stderr, "bench_cache: %s\n", mvla_error_message());
            return 1;
        }
        src[e].hash = hashes[e];
    }
    char cache[512], peer_out[512];
    snprintf(cache, sizeof cache, "%s/frames.cache", dir);
    snprintf(peer_out, sizeof peer_out, "%s/peer.raw", dir);

    printf("frame cache build: %d episodes x %d frames of %dx%d BGR -> %dx%d RGB, filter %s, best of %d\n", n, T, SRC_W,
           SRC_H, p.width, p.height, filter_name(p.filter), repeats);
    /* The runs interleave (mvla 1 thread, mvla all threads, peer) R times and each keeps its best, so
     * that a busy machine slows all three alike. */
    size_t len = 512 + (size_t)n * 1200;
    char *cmd = malloc(len);
    int off = snprintf(cmd, len, "OMP_NUM_THREADS=1 /usr/bin/python3 %s '%s' %dx%d %s 1", PEER, peer_out, p.width,
                       p.height, filter_name(p.filter));
    for (int e = 0; e < n; e++) off += snprintf(cmd + off, len - (size_t)off, " '%s/%s'", dir, names[e]);
    double c1 = -1, cN = -1, ps = -1;
    int rc = 0;
    for (int r = 0; r < repeats && !rc; r++) {
        double s = time_c(cache, dir, src, n, &p, 1);
        if (s < 0) rc = 1;
        keep_best(&c1, s);
        if (all > 1 && !rc) {
            s = time_c(cache, dir, src, n, &p, all);
            if (s < 0) rc = 1;
            keep_best(&cN, s);
        }
        if (peer && !rc) {
            s = time_peer(cmd);
            if (s < 0) {
                fprintf(stderr, "bench_cache: the peer failed (needs /usr/bin/python3 with h5py, numpy, Pillow; run "
                                "from the repository root)\n");
                peer = 0;
                rc = 1;
            }
            keep_best(&ps, s);
        }
    }
    free(cmd);
    if (all <= 1) cN = c1;
    if (c1 > 0) printf("  mvla  1 thread   %8.3f s  %7.2f episodes/s  %7.1f frames/s\n", c1, n / c1, n * T / c1);
    if (all > 1 && cN > 0) printf("  mvla  %d threads  %8.3f s  %7.2f episodes/s  %7.1f frames/s\n", all, cN, n / cN, n * T / cN);
    if (peer && ps > 0 && c1 > 0) {
        printf("  peer  1 thread   %8.3f s  %7.2f episodes/s  %7.1f frames/s  (h5py + numpy + Pillow)\n", ps, n / ps,
               n * T / ps);
        printf("  ratio mvla/peer (episodes/s): %.2fx on 1 thread", ps / c1);
        if (all > 1) printf(", %.2fx on %d threads", ps / cN, all);
        printf("\n");
        /* pixel parity: the same frames in the same order (the cache sorts by file name; the names sort in
         * the order they were written, which is the order the peer got) */
        FrameCache *c = NULL;
        FILE *pf_fp = fopen(peer_out, "rb");
        if (!cache_open(&c, cache) && pf_fp) {
            size_t fb = cache_frame_bytes(c);
            uint8_t *buf = malloc(fb);
            int worst = 0;
            double sum = 0;
            long cnt = 0;
            for (int e = 0; e < cache_num_episodes(c); e++)
                for (int t = 0; t < cache_episode(c, e)->num_frames; t++) {
                    if (fread(buf, 1, fb, pf_fp) != fb) break;
                    const uint8_t *x = cache_frame(c, e, t);
                    for (size_t k = 0; k < fb; k++) {
                        int d = abs((int)x[k] - (int)buf[k]);
                        worst = d > worst ? d : worst;
                        sum += d;
                        cnt++;
                    }
                }
            printf("  pixels vs peer: max |diff| %d, mean |diff| %.4f over %ld values (stb_image_resize vs Pillow)\n",
                   worst, cnt ? sum / (double)cnt : 0.0, cnt);
            free(buf);
        }
        if (pf_fp) fclose(pf_fp);
        cache_close(c);
    }
    if (!keep) {
        char cmdrm[600];
        snprintf(cmdrm, sizeof cmdrm, "rm -rf '%s'", dir);
        if (system(cmdrm) != 0) fprintf(stderr, "bench_cache: could not remove %s\n", dir);
    } else {
        printf("  files kept in %s\n", dir);
    }
    free(names);
    free(src);
    free(hashes);
    return rc;
}
