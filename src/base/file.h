/* Files: whole-file reads, read-only memory maps, and atomic writes (temp file, fsync, rename)
 * so that nothing already on disk is lost when a write fails half-way. */
#ifndef MVLA_FILE_H
#define MVLA_FILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    const unsigned char *data;
    size_t size;
} MappedFile;

/* Maps path read-only. An empty file maps to data == NULL, size == 0. */
int file_map(MappedFile *m, const char *path);
void file_unmap(MappedFile *m);

/* Reads a whole file into a malloc'd, NUL-terminated buffer. */
int file_read_all(const char *path, char **out, size_t *size);

/* Atomic write: open a temp file beside path, write into it, then commit (fsync + rename)
 * or abort (remove the temp file). */
typedef struct {
    FILE *fp;
    char *path;
    char *tmp_path;
} AtomicFile;

int atomic_open(AtomicFile *f, const char *path);
int atomic_commit(AtomicFile *f);
void atomic_abort(AtomicFile *f);

/* Writes a buffer to path atomically. */
int file_write_atomic(const char *path, const void *data, size_t size);

/* Creates the directory and any missing parents (mkdir -p); an existing directory is fine. */
int file_make_dirs(const char *path);

#endif
