/* Helpers for the split, cache, augmentation and batch tests: tiny synthetic episodes written with
 * episode_write, and small file utilities. */
#ifndef MVLA_DATA_TESTUTIL_H
#define MVLA_DATA_TESTUTIL_H

#include "data/cache.h"

#include <stddef.h>
#include <stdint.h>

/* A deterministic, textured BGR test image (smooth gradients plus a seeded pattern), so that
 * resizing, warps and colour changes all change bytes. w x h x 3 bytes, malloc'd. */
uint8_t *dt_image(int w, int h, uint64_t seed);

/* Writes dir/name: T frames of w x h (dt_image with seed + t), actions cycling through the teleop
 * keys (frame 0 zero), and instruction (NULL: none). Returns 0 on success. */
int dt_write_episode(const char *dir, const char *name, int T, int w, int h, uint64_t seed, const char *instruction);

/* dir/name into buf. */
const char *dt_path(char *buf, size_t n, const char *dir, const char *name);
/* Creates the directory dir/name (and returns its path in buf). */
const char *dt_mkdir(char *buf, size_t n, const char *dir, const char *name);
/* Whole-file comparison: 1 if both exist and are byte-identical. */
int dt_files_equal(const char *a, const char *b);
/* Runs a shell command; returns its exit status (or -1). */
int dt_system(const char *cmd);
/* Runs `$MVLA_BIN args` with stdout and stderr captured into out (NUL-terminated, truncated to n);
 * returns the exit status, or -2 when MVLA_BIN is not set (the caller skips). */
/* Writes n tiny episodes (names[i], lengths[i] frames of 32x18; the first with the instruction
 * "Pass on the left side") into test_tmpdir()/eps and caches them at w x h (stretch, area) in
 * test_tmpdir()/cache_name. NULL on failure. */
FrameCache *dt_make_cache(const char *const *names, const int *lengths, int n, int w, int h, const char *cache_name);
int dt_run_mvla(const char *args, char *out, size_t n);

#endif
