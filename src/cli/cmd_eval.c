/* mvla eval CHECKPOINT|MODEL --data DIR [--manifest M.json] [--split test|val|train]: offline metrics of
 * a trained model (src/train/evaluate.h), printed as a table and written as JSON into its run folder (a
 * model file's: beside it). */
#include "cli/commands_train.h"

#include "base/error.h"
#include "base/progress.h"
#include "runtime/model_file.h"
#include "train/evaluate.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mvla eval CHECKPOINT|MODEL --data DIR [--manifest SPLIT.json] [options]\n"
            "  Replays episodes through the model frame by frame and reports, in raw units (m/s, rad/s):\n"
            "  MAE and RMSE overall and per axis, per-axis accuracy within 0.05/0.1/0.2/0.5, perfect match of\n"
            "  the teleop key, direction agreement; per scenario and per side; and the instruction test (left\n"
            "  and right swapped in the instruction: does the predicted slide follow it?).\n"
            "  Refuses a manifest whose sets overlap or whose files changed, and any episode the model was\n"
            "  trained on (recorded in the checkpoint) unless --split train is asked for.\n"
            "  MODEL: a model file of `mvla export` (one policy or an ensemble: scored on the members' mean\n"
            "  action) or `mvla quantize`. It has no run folder: the cache and the JSON default to MODEL's\n"
            "  path without .safetensors plus .frames.cache and .eval.json (.eval_<split>.json for another\n"
            "  split; .eval_frames.cache and .eval_folder.json without a manifest); the leakage check uses\n"
            "  the training episodes its provenance names (none named: no check).\n"
            "options:\n"
            "  --manifest FILE       split manifest (without it: every episode in DIR)\n"
            "  --split NAME          test (default), val or train\n"
            "  --fold K              fold of a K-fold manifest (default: the model's)\n"
            "  --cache PATH          frame cache (default: the training run's, else RUN/frames.cache, where RUN\n"
            "                        is the checkpoint's run folder)\n"
            "  --json PATH           where the JSON goes (default RUN/eval.json for the test split,\n"
            "                        RUN/eval_<split>.json otherwise; '-' prints it instead of the table)\n"
            "  --no-json             write no JSON file\n"
            "  --frames PATH.csv     also one CSV row per scored frame: episode, frame, target and predicted key\n"
            "                        and action, and the swapped instruction's linear_y (where the model errs)\n"
            "  --no-instruction-test skip the swapped-instruction pass (half the time)\n"
            "  --lang en|ko  --instructions MAP.json  --instruction TEXT\n"
            "                        instruction resolution (default: as the model was trained)\n");
}

static void on_progress(void *ctx, int done, int total)
{
    Progress *p = ctx;
    p->total = total;
    progress_update(p, done, NULL);
}

int cmd_eval(int argc, char **argv)
{
    EvalOptions o;
    eval_options_default(&o);
    const char *json_path = NULL;
    int no_json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--no-json")) {
            no_json = 1;
        } else if (!strcmp(a, "--no-instruction-test")) {
            o.instruction_test = 0;
        } else if (a[0] != '-' || !strcmp(a, "-")) {
            if (o.checkpoint) {
                fprintf(stderr, "mvla eval: one checkpoint expected, got '%s' and '%s'\n", o.checkpoint, a);
                return 2;
            }
            o.checkpoint = a;
        } else if (!v) {
            fprintf(stderr, "mvla eval: %s needs a value (see mvla eval --help)\n", a);
            return 2;
        } else {
            if (!strcmp(a, "--data")) o.data_dir = v;
            else if (!strcmp(a, "--manifest")) o.manifest = v;
            else if (!strcmp(a, "--split")) o.split = v;
            else if (!strcmp(a, "--cache")) o.cache_path = v;
            else if (!strcmp(a, "--json")) json_path = v;
            else if (!strcmp(a, "--frames")) o.frames_csv = v;
            else if (!strcmp(a, "--lang")) o.lang = v;
            else if (!strcmp(a, "--instructions")) o.instructions = v;
            else if (!strcmp(a, "--instruction")) o.instruction = v;
            else if (!strcmp(a, "--fold")) {
                char *end;
                long k = strtol(v, &end, 10);
                if (!*v || *end || k < 0 || k > 99) {
                    fprintf(stderr, "mvla eval: --fold: expected an integer in 0..99, got '%s'\n", v);
                    return 2;
                }
                o.fold = (int)k;
            } else {
                fprintf(stderr, "mvla eval: unknown option '%s' (see mvla eval --help)\n", a);
                return 2;
            }
            i++;
        }
    }
    if (!o.checkpoint || !o.data_dir) {
        fprintf(stderr, "mvla eval: a CHECKPOINT and --data DIR are needed\n\n");
        usage(stderr);
        return 2;
    }
    if (strcmp(o.split, "test") && strcmp(o.split, "val") && strcmp(o.split, "train")) {
        fprintf(stderr, "mvla eval: --split: expected test, val or train, got '%s'\n", o.split);
        return 2;
    }
    if (o.lang && strcmp(o.lang, "en") && strcmp(o.lang, "ko")) {
        fprintf(stderr, "mvla eval: --lang: expected en or ko, got '%s'\n", o.lang);
        return 2;
    }
    Progress bar;
    progress_start(&bar, "eval", 0, "episode");
    o.progress = on_progress;
    o.ctx = &bar;
    EvalReport r;
    if (eval_run(&o, &r)) {
        fprintf(stderr, "%smvla: %s\n", bar.tty ? "\r\033[K" : "", mvla_error_message());
        return 1;
    }
    if (bar.tty) fprintf(stderr, "\r\033[K");
    int to_stdout = json_path && !strcmp(json_path, "-");
    if (to_stdout) {
        json_t *j = eval_report_json(&r);
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        printf("\n");
        json_decref(j);
    } else {
        char *table = eval_report_table(&r);
        if (table) fputs(table, stdout);
        free(table);
    }
    int rc = 0;
    if (!no_json && !to_stdout) {
        char path[4200];
        if (json_path) {
            snprintf(path, sizeof path, "%s", json_path);
        } else if (model_file_is(o.checkpoint)) {
            char suffix[64];
            if (!o.manifest) snprintf(suffix, sizeof suffix, ".eval_folder.json");
            else if (!strcmp(o.split, "test")) snprintf(suffix, sizeof suffix, ".eval.json");
            else snprintf(suffix, sizeof suffix, ".eval_%s.json", o.split);
            eval_model_file_sibling(o.checkpoint, suffix, path, sizeof path);
        } else {
            char dir[4096];
            eval_run_dir(o.checkpoint, dir, sizeof dir);
            if (!o.manifest) snprintf(path, sizeof path, "%s/eval_folder.json", dir);
            else if (!strcmp(o.split, "test")) snprintf(path, sizeof path, "%s/eval.json", dir);
            else snprintf(path, sizeof path, "%s/eval_%s.json", dir, o.split);
        }
        if (eval_report_write_json(&r, path)) {
            fprintf(stderr, "mvla: %s\n", mvla_error_message());
            rc = 1;
        } else {
            printf("\nwrote %s\n", path);
        }
    }
    if (o.frames_csv && !to_stdout) printf("wrote %s\n", o.frames_csv);
    eval_report_free(&r);
    return rc;
}
