#include "base/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void progress_start(Progress *p, const char *label, long total, const char *unit)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->start = p->last_print = time_now();
    p->tty = isatty(fileno(stderr));
}

static void format_eta(char *buf, size_t n, double seconds)
{
    if (seconds < 0 || seconds > 1e7) { snprintf(buf, n, "--:--"); return; }
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, n, "%02ld:%02ld", s / 60, s % 60);
}

static void print_line(Progress *p, int final)
{
    double elapsed = time_now() - p->start;
    double rate = elapsed > 0 ? p->done / elapsed : 0;
    char eta[32];
    format_eta(eta, sizeof eta, rate > 0 && p->total > 0 ? (p->total - p->done) / rate : -1);
    const char *extra = p->extra[0] ? p->extra : "";
    if (p->tty) {
        char bar[31];
        int width = 30, fill = p->total > 0 ? (int)(width * (double)p->done / p->total) : 0;
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r%s [%s] %ld/%ld %.1f %s/s ETA %s %s\033[K%s", p->label, bar, p->done, p->total, rate,
                p->unit, eta, extra, final ? "\n" : "");
    } else {
        fprintf(stderr, "%s: %ld/%ld %s, %.1f %s/s, ETA %s %s\n", p->label, p->done, p->total, p->unit, rate, p->unit,
                eta, extra);
    }
    fflush(stderr);
}

void progress_update(Progress *p, long done, const char *extra)
{
    p->done = done;
    if (extra) snprintf(p->extra, sizeof p->extra, "%s", extra);
    double now = time_now();
    if (now - p->last_print >= (p->tty ? 0.1 : 5.0)) {
        p->last_print = now;
        print_line(p, 0);
    }
}

void progress_finish(Progress *p) { print_line(p, 1); }
