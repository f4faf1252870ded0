/* Internals shared by the episode reader (episode.c) and writer (episode_write.c): limits, the
 * libhdf5 error text, zlib entry points, small string helpers. Not part of the public API. */
#ifndef MVLA_EPISODE_H5_H
#define MVLA_EPISODE_H5_H

#include <stddef.h>
#include <zlib.h> /* types and Z_OK only; see ep_zlib_uncompress() */

/* Bounds that keep a hostile file from asking for absurd allocations. */
#define MAX_FRAMES (1L << 20)       /* about 9.7 hours at 30 fps */
#define MAX_SIDE 16384              /* pixels per image side */
#define MAX_STRING_BYTES (1L << 26) /* all fixed-length string bytes of one dataset */

/* The most specific message on HDF5's error stack ("" if none), which it then clears; for
 * "...: <reason>" suffixes. Call with the lock held. */
const char *ep_h5_reason(char buf[160]);

/* zlib's uncompress and compress2, from the zlib libhdf5 itself loaded (so the build needs no -lz);
 * NULL when not found, and then the callers go through libhdf5's own filter. */
typedef int (*UncompressFn)(Bytef *dst, uLongf *dst_len, const Bytef *src, uLong src_len);
typedef int (*Compress2Fn)(Bytef *dst, uLongf *dst_len, const Bytef *src, uLong src_len, int level);
UncompressFn ep_zlib_uncompress(void);
Compress2Fn ep_zlib_compress2(void);

char *ep_dup_str(const char *s);
const char *ep_base_name(const char *path);
/* The file name without directory and without a .h5 / .hdf5 extension. */
void ep_file_stem(const char *path, char *out, size_t n);

#endif
