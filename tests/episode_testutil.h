/* Helpers shared by the episode and dataset tests: the fixtures' pixel formula, synthetic
 * episodes written with episode_write, and deliberately malformed files written with libhdf5. */
#ifndef MVLA_EPISODE_TESTUTIL_H
#define MVLA_EPISODE_TESTUTIL_H

#include "io/episode.h"

#include <stddef.h>
#include <stdint.h>

/* tests/fixtures/make_h5py_fixture.py's formula: (t*37 + y*11 + x*3 + c*71) % 256. */
uint8_t fixture_pixel(int t, int y, int x, int c);
/* Fills T frames of H x W x 3 with fixture_pixel, shifted by seed (seed 0 = the fixtures). */
uint8_t *fixture_frames(int T, int H, int W, int seed);

/* Writes dir/name: an episode of 1 + strlen(keys) frames (frame 0 episode_start with a zero
 * action, then one frame per teleop key, ' ' for stop) of H x W, frames from fixture_frames(seed).
 * Returns 0 on success. */
int write_key_episode(const char *dir, const char *name, const char *keys, int H, int W, int seed);

/* path = dir/name in buf. */
const char *join_path(char *buf, size_t n, const char *dir, const char *name);

/* Writes a raw HDF5 file with only the datasets asked for, for malformed-file tests:
 * images uint8 (Ti, H, W, 3) when Ti >= 0, actions float32 (Ta, 3) when Ta >= 0,
 * action_event_types vlen strings (Te,) when Te >= 0. Returns 0 on success. */
int write_raw_episode(const char *path, int Ti, int Ta, int Te, int H, int W);

/* Writes images (fixture_frames(T, H, W, 0)) with the given chunk shape and filters (deflate
 * level 4 when deflate, the shuffle filter first when shuffle), zero actions and no events; with
 * skip_chunk >= 0, frames [skip_chunk * chunk[0], ...) of that chunk row are never written (fill
 * values). Returns 0 on success. */
int write_chunked_episode(const char *path, int T, int H, int W, const unsigned long long chunk[4], int deflate,
                          int shuffle, int skip_chunk);

/* Copies the first n bytes of src to dst (n < 0: all). */
int copy_prefix(const char *src, const char *dst, long n);

#endif
