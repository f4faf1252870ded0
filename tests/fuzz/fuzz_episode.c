/* libFuzzer target for the episode reader: any byte string written to a file must either open
 * cleanly or fail with a message, never crash, leak or read out of bounds in our code (libhdf5
 * itself is not instrumented). An input that opens is walked: info copied and freed, every frame
 * read, frames outside the range refused; then the dataset checker runs on the same file.
 * Build and run: scripts/fuzz-episode.sh [seconds]. */
#include "base/error.h"
#include "data/check.h"
#include "io/episode.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) snprintf(path, sizeof path, "/dev/shm/mvla-fuzz-episode-%d.h5", (int)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp) abort();
    if (size && fwrite(data, 1, size, fp) != size) abort();
    fclose(fp);

    EpisodeReader *r = NULL;
    if (episode_open(&r, path) != 0) {
        if (r != NULL || mvla_error_message()[0] == '\0') abort(); /* a failure must leave a message */
    } else {
        const EpisodeInfo *in = episode_info(r);
        if (in->num_frames < 0 || in->height < 1 || in->width < 1 || !in->actions || !in->events || !in->episode_name)
            abort();
        EpisodeInfo copy;
        if (episode_info_copy(&copy, in) == 0) episode_info_free(&copy);
        size_t fb = (size_t)in->height * (size_t)in->width * 3;
        uint8_t *frame = malloc(fb);
        /* Large claimed images are read only for their first frames, to keep executions fast. */
        int n = fb > (1u << 22) ? (in->num_frames < 2 ? in->num_frames : 2) : in->num_frames;
        for (int t = 0; frame && t < n && t < 64; t++)
            if (episode_read_frame(r, t, frame) != 0 && mvla_error_message()[0] == '\0') abort();
        if (frame && episode_read_frame(r, in->num_frames, frame) == 0) abort();
        free(frame);
        episode_close(r);
    }
    CheckReport rep;
    CheckOptions opt;
    check_options_default(&opt);
    opt.isolate = 0; /* in this process, so that the fuzzer sees what happens */
    const char *one[1] = {path};
    if (check_files(one, 1, &opt, &rep) == 0) {
        if (rep.n_files != 1 || rep.n_usable + (rep.n_errors > 0) != 1) abort();
        check_report_free(&rep);
    }
    return 0;
}
