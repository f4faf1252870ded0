/* mvla data check DIR|FILE [--json] [--strict] [--max-action V]: every problem of a dataset, one
 * line each, then a summary; the exit code says whether the dataset is usable (see usage()). */
#include "cli/commands.h"

#include "base/error.h"
#include "base/progress.h"
#include "cli/cli_args.h"
#include "data/check.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mvla data check DIR|FILE [--json] [--strict] [--max-action V]\n"
            "  Checks every *.h5 / *.hdf5 episode in DIR (or one FILE) and prints each problem on one line,\n"
            "  \"FILE: reason\" for errors and \"FILE: warning: reason\" for warnings, then\n"
            "  \"N files, M usable episodes\". An error makes the episode unusable; a warning does not.\n\n"
            "  errors:   unreadable / not HDF5 / truncated; missing images or actions; wrong dtype or shape\n"
            "            (images uint8 (T,H,W,3), actions float32/float64 (T,3)); images/actions/events\n"
            "            length mismatch; 0 or 1 frames; NaN/Inf actions; |action| > V (default 2: the\n"
            "            teleop value is 1.15); every frame black (all bytes <= 8); every frame identical\n"
            "            (frozen camera); an exact duplicate (same frames and actions) of an earlier file\n"
            "  warnings: actions outside the teleop key vocabulary (1.15 or legacy 0.5); some black frames;\n"
            "            some frames identical to the previous one; frame 0 not episode_start with a zero\n"
            "            action; missing or unknown action_event_types; num_frames attribute mismatch\n\n"
            "  Each file is checked in a child process: a file that crashes libhdf5 is reported, not fatal.\n\n"
            "  --json          one JSON document: files, usable, errors, warnings, exit_code, problems[]\n"
            "  --strict        warnings count as failures too (exit 1)\n"
            "  --max-action V  the largest |action component| accepted (default 2)\n\n"
            "exit code: 0 every file usable; 1 some files unusable (or warnings with --strict) but at least\n"
            "           one usable episode; 2 bad arguments or DIR cannot be read; 3 no usable episode\n");
}

typedef struct {
    Progress bar;
    int started;
} CheckProgress;

static void on_progress(void *ctx, long frames, int files_done, int files_total)
{
    CheckProgress *p = ctx;
    if (!p->started) progress_start(&p->bar, "check", files_total, "file"), p->started = 1;
    char extra[64];
    snprintf(extra, sizeof extra, "%ld frames", frames);
    progress_update(&p->bar, files_done, extra);
}

static int print_json(const char *path, const CheckReport *r, int code)
{
    json_t *root = json_object(), *list = json_array();
    json_object_set_new(root, "path", json_string(path));
    json_object_set_new(root, "files", json_integer(r->n_files));
    json_object_set_new(root, "usable", json_integer(r->n_usable));
    json_object_set_new(root, "errors", json_integer(r->n_errors));
    json_object_set_new(root, "warnings", json_integer(r->n_warnings));
    json_object_set_new(root, "exit_code", json_integer(code));
    for (int i = 0; i < r->n_problems; i++) {
        const CheckProblem *p = &r->problems[i];
        json_t *e = json_object();
        json_object_set_new(e, "file", json_string(p->path));
        json_object_set_new(e, "severity", json_string(p->severity == CHECK_ERROR ? "error" : "warning"));
        json_object_set_new(e, "code", json_string(p->code));
        /* reasons quote file contents; json_string rejects invalid UTF-8, so fall back to bytes */
        json_t *reason = json_string(p->reason);
        json_object_set_new(e, "reason", reason ? reason : json_string("(reason not valid UTF-8)"));
        json_array_append_new(list, e);
    }
    json_object_set_new(root, "problems", list);
    int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("\n");
    json_decref(root);
    return rc;
}

int data_check_main(int argc, char **argv)
{
    const char *path = NULL;
    int as_json = 0, strict = 0;
    CheckOptions opt;
    check_options_default(&opt);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            as_json = 1;
        } else if (strcmp(a, "--strict") == 0) {
            strict = 1;
        } else if (strcmp(a, "--max-action") == 0) {
            char *end = NULL;
            double v = i + 1 < argc ? strtod(argv[++i], &end) : 0;
            if (!end || *end || !(v > 0 && v < 1e6)) {
                fprintf(stderr, "mvla: data check: --max-action needs a positive number\n");
                return 2;
            }
            opt.max_abs_action = (float)v;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (cli_positional("data check", a, &path, "DIR or FILE", usage)) {
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    CheckProgress prog = {0};
    opt.progress = on_progress;
    opt.progress_ctx = &prog;
    CheckReport r;
    if (check_dataset(path, &opt, &r) != 0) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
        return 2;
    }
    if (prog.started && prog.bar.last_print > prog.bar.start) progress_finish(&prog.bar);
    int code = check_exit_code(&r, strict);
    if (as_json) {
        if (print_json(path, &r, code) != 0) code = 2;
    } else {
        for (int i = 0; i < r.n_problems; i++) {
            const CheckProblem *p = &r.problems[i];
            printf("%s: %s%s\n", p->path, p->severity == CHECK_WARNING ? "warning: " : "", p->reason);
        }
        printf("%d file%s, %d usable episode%s (%d error%s, %d warning%s)\n", r.n_files, r.n_files == 1 ? "" : "s",
               r.n_usable, r.n_usable == 1 ? "" : "s", r.n_errors, r.n_errors == 1 ? "" : "s", r.n_warnings,
               r.n_warnings == 1 ? "" : "s");
    }
    check_report_free(&r);
    return code;
}
