#include "base/file.h"

#include "base/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int file_map(MappedFile *m, const char *path)
{
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return mvla_fail(MVLA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mvla_fail(MVLA_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return mvla_fail(MVLA_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        }
        m->data = p;
        m->size = (size_t)st.st_size;
    }
    close(fd);
    return MVLA_OK;
}

void file_unmap(MappedFile *m)
{
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

int file_read_all(const char *path, char **out, size_t *size)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return mvla_fail(MVLA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap) break;
        char *bigger = realloc(buf, cap * 2 + 1);
        if (!bigger) { free(buf); buf = NULL; break; }
        buf = bigger;
        cap *= 2;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (!buf) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory reading file", path);
    if (bad) { free(buf); return mvla_fail(MVLA_ERR_IO, "%s: read error", path); }
    buf[n] = '\0';
    *out = buf;
    if (size) *size = n;
    return MVLA_OK;
}

int atomic_open(AtomicFile *f, const char *path)
{
    memset(f, 0, sizeof *f);
    size_t len = strlen(path);
    f->path = malloc(len + 1);
    f->tmp_path = malloc(len + 16);
    if (!f->path || !f->tmp_path) {
        atomic_abort(f);
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(f->path, path, len + 1);
    snprintf(f->tmp_path, len + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(f->tmp_path);
    if (fd < 0) {
        int e = errno;
        free(f->tmp_path);
        f->tmp_path = NULL;
        atomic_abort(f);
        return mvla_fail(MVLA_ERR_IO, "%s: cannot create temporary file: %s", path, strerror(e));
    }
    fchmod(fd, 0644);
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        close(fd);
        atomic_abort(f);
        return mvla_fail(MVLA_ERR_IO, "%s: cannot open temporary file", path);
    }
    return MVLA_OK;
}

int atomic_commit(AtomicFile *f)
{
    int ok = fflush(f->fp) == 0 && !ferror(f->fp) && fsync(fileno(f->fp)) == 0;
    int e = errno;
    ok = (fclose(f->fp) == 0) && ok;
    f->fp = NULL;
    if (!ok) {
        char *path = f->path;
        f->path = NULL;
        atomic_abort(f);
        int rc = mvla_fail(MVLA_ERR_IO, "%s: write failed: %s", path, strerror(e));
        free(path);
        return rc;
    }
    if (rename(f->tmp_path, f->path) != 0) {
        e = errno;
        int rc = mvla_fail(MVLA_ERR_IO, "%s: cannot rename temporary file into place: %s", f->path, strerror(e));
        atomic_abort(f);
        return rc;
    }
    free(f->path);
    free(f->tmp_path);
    memset(f, 0, sizeof *f);
    return MVLA_OK;
}

void atomic_abort(AtomicFile *f)
{
    if (f->fp) fclose(f->fp);
    if (f->tmp_path) remove(f->tmp_path);
    free(f->path);
    free(f->tmp_path);
    memset(f, 0, sizeof *f);
}

int file_write_atomic(const char *path, const void *data, size_t size)
{
    AtomicFile f;
    int rc = atomic_open(&f, path);
    if (rc) return rc;
    if (size && fwrite(data, 1, size, f.fp) != size) {
        atomic_abort(&f);
        return mvla_fail(MVLA_ERR_IO, "%s: write failed", path);
    }
    return atomic_commit(&f);
}

int file_make_dirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return mvla_fail(MVLA_ERR_ARG, "%s: expected a directory path of 1..4095 bytes", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        struct stat st;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return mvla_fail(MVLA_ERR_IO, "%s: cannot create the directory: %s", buf, strerror(errno));
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
            return mvla_fail(MVLA_ERR_IO, "%s: cannot create the directory: a file of that name exists", buf);
        buf[i] = c;
    }
    return 0;
}
