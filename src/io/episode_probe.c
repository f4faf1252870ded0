/* episode_probe: opens an episode (and optionally reads every frame) in a forked child, so that a
 * file that crashes libhdf5 is an error for the caller instead of the end of the process. */
#include "io/episode.h"

#include "base/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void child(int fd, const char *path, int read_frames)
{
    /* Quiet: findings travel through the pipe; a sanitizer build would print libhdf5's fault here. */
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2), close(devnull);
    EpisodeReader *r = NULL;
    int rc = episode_open(&r, path);
    if (rc == 0 && read_frames) {
        const EpisodeInfo *in = episode_info(r);
        uint8_t *frame = malloc((size_t)in->height * in->width * 3);
        for (int t = 0; frame && rc == 0 && t < in->num_frames; t++) rc = episode_read_frame(r, t, frame);
        free(frame);
    }
    if (rc) {
        const char *m = mvla_error_message();
        size_t n = strlen(m);
        while (n > 0) {
            ssize_t w = write(fd, m, n);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) break;
            m += w, n -= (size_t)w;
        }
    }
    _exit(rc == 0 ? 0 : 10 + (rc & 15));
}

int episode_probe(const char *path, int read_frames)
{
    int fds[2];
    if (pipe(fds) != 0) return mvla_fail(MVLA_ERR_IO, "%s: cannot create a pipe: %s", path, strerror(errno));
    /* No thread may be inside libhdf5 when we fork, or the child would inherit it mid-call. */
    episode_h5_lock();
    pid_t pid = fork();
    episode_h5_unlock();
    if (pid == 0) {
        close(fds[0]);
        child(fds[1], path, read_frames);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return mvla_fail(MVLA_ERR_IO, "%s: cannot fork: %s", path, strerror(errno));
    }
    char msg[1024];
    size_t n = 0;
    for (ssize_t got; n + 1 < sizeof msg;) {
        got = read(fds[0], msg + n, sizeof msg - 1 - n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        n += (size_t)got;
    }
    msg[n] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: damaged file: libhdf5 crashed reading it (signal %d)", path, WTERMSIG(status));
    if (!WIFEXITED(status)) return mvla_fail(MVLA_ERR_IO, "%s: the probe did not finish", path);
    int code = WEXITSTATUS(status);
    if (code == 0) return MVLA_OK;
    if (code >= 10 && n) return mvla_fail(code - 10, "%s", msg);
    /* e.g. a sanitizer build reporting libhdf5's fault and exiting */
    return mvla_fail(MVLA_ERR_FORMAT, "%s: damaged file: reading it failed in libhdf5 (exit status %d)", path, code);
}
