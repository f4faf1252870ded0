/* Hashes: SHA-256 (content hashes of files, recorded in manifests and caches) and a fast
 * non-cryptographic 64-bit hash (frames, duplicate detection). */
#ifndef MVLA_HASH_H
#define MVLA_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t block[64];
    size_t fill;
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t n);
void sha256_final(Sha256 *s, uint8_t digest[32]);
/* One-shot digest. */
void sha256(const void *data, size_t n, uint8_t digest[32]);
/* 64 lower-case hex digits and a NUL. */
void sha256_hex(const uint8_t digest[32], char out[65]);

/* Content hash of a file's bytes as text: "sha256:" + 64 hex digits (HASH_TEXT_MAX bytes with
 * the NUL). Reads the file in blocks. */
#define HASH_TEXT_MAX 72
int hash_file(const char *path, char out[HASH_TEXT_MAX]);

/* A fast 64-bit hash (not cryptographic): 8 bytes per step with multiply-rotate mixing and a
 * final avalanche. Equal inputs give equal hashes; any byte change changes it with probability
 * about 1 - 2^-64. */
uint64_t hash64(const void *data, size_t n, uint64_t seed);
/* Mixes a value into a running 64-bit hash (order matters). */
uint64_t hash64_combine(uint64_t h, uint64_t v);

#endif
