/* mvla data info DIR|FILE [--json] [--lang en|ko] [--instructions MAP.json] [--instruction TEXT]:
 * what a dataset holds: episodes, frames, resolutions, duration, scenario / side / target / distance
 * / core-variant / lighting counts, the teleop key histogram of the actions, and the instructions. */
#include "cli/commands.h"

#include "base/error.h"
#include "base/progress.h"
#include "cli/cli_args.h"
#include "data/actions.h"
#include "data/dataset.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: mvla data info DIR|FILE [--json] [--lang en|ko] [--instructions MAP.json] [--instruction TEXT]\n"
            "  Summarises the *.h5 / *.hdf5 episodes in DIR (or one FILE).\n"
            "  --json                one JSON document instead of tables\n"
            "  --lang en|ko          language of the built-in per-side instructions (default en)\n"
            "  --instructions FILE   a JSON object {\"KEY\": \"instruction\"}; KEY is tried as the file stem,\n"
            "                        target_side (\"basket_left\"), scenario (\"1box_vert_left\"), side (\"left\"), \"default\"\n"
            "  --instruction TEXT    use TEXT for every episode\n"
            "  An episode's instruction is the first of: --instruction, the file's language_instruction,\n"
            "  the --instructions mapping, the built-in default for its side.\n"
            "  The action histogram counts the frames after frame 0 (episode_start) by teleop key;\n"
            "  actions that are no key (at 1.15 or the legacy 0.5) are counted as unknown.\n");
}

/* counter[key] += n ("unknown" for an empty key) */
static void count(json_t *obj, const char *key, json_int_t n)
{
    if (!key || !key[0]) key = "unknown";
    json_t *v = json_object_get(obj, key);
    if (v) json_integer_set(v, json_integer_value(v) + n);
    else json_object_set_new(obj, key, json_integer(n));
}

static int by_count_desc(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t cx = json_integer_value(json_object_get(x, "episodes")), cy = json_integer_value(json_object_get(y, "episodes"));
    if (cx != cy) return cx > cy ? -1 : 1;
    return strcmp(json_string_value(json_object_get(x, "text")), json_string_value(json_object_get(y, "text")));
}

/* jansson keeps only valid UTF-8 strings. */
static int valid_utf8(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

/* The whole summary as JSON; the table is printed from it too. */
static json_t *summarise(const Dataset *ds, const char *path)
{
    json_t *root = json_object();
    json_t *unreadable = json_array(), *res = json_object(), *scen = json_object(), *sides = json_object(),
           *targets = json_object(), *dists = json_object(), *kinds = json_object(), *light = json_object(),
           *keys = json_object(), *texts = json_object(), *sources = json_object();
    json_int_t frames = 0, counted = 0, unknown = 0;
    double duration = 0;
    int min_t = -1, max_t = 0, usable = 0;
    for (int k = 0; k < ACTION_NUM_KEYS; k++) json_object_set_new(keys, action_key_name(ACTION_KEYS[k]), json_integer(0));
    for (int i = 0; i < ds->count; i++) {
        const DatasetEpisode *e = &ds->episodes[i];
        if (!e->usable) {
            json_t *u = json_object();
            json_object_set_new(u, "file", json_string(e->path));
            json_t *err = json_string(e->error);
            json_object_set_new(u, "error", err ? err : json_string("(message not valid UTF-8)"));
            json_array_append_new(unreadable, u);
            continue;
        }
        const EpisodeInfo *in = &e->info;
        usable++;
        frames += in->num_frames;
        duration += in->total_duration;
        if (min_t < 0 || in->num_frames < min_t) min_t = in->num_frames;
        if (in->num_frames > max_t) max_t = in->num_frames;
        char wh[32];
        snprintf(wh, sizeof wh, "%dx%d", in->width, in->height);
        count(res, wh, 1);
        count(scen, in->name.scenario, 1);
        count(sides, in->name.side, 1);
        count(targets, in->name.target, 1);
        count(dists, in->name.distance, 1);
        count(kinds, in->name.kind, 1);
        count(light, in->name.lighting[0] ? in->name.lighting : "none", 1);
        for (int t = 1; t < in->num_frames; t++) {
            char key = action_to_key(in->actions + 3 * t, ACTION_TOL);
            counted++;
            if (key) count(keys, action_key_name(key), 1);
            else unknown++;
        }
        /* json_string rejects invalid UTF-8: such texts are counted under a placeholder */
        count(texts, valid_utf8(e->instruction) ? e->instruction : "(not valid UTF-8)", 1);
        count(sources, instruction_source_name(e->instruction_source), 1);
    }
    json_object_set_new(root, "path", json_string(path));
    json_object_set_new(root, "files", json_integer(ds->count));
    json_object_set_new(root, "episodes", json_integer(usable));
    json_object_set_new(root, "unreadable", unreadable);
    json_object_set_new(root, "frames", json_integer(frames));
    json_object_set_new(root, "total_duration", json_real(duration));
    json_t *fpe = json_object();
    json_object_set_new(fpe, "min", json_integer(min_t < 0 ? 0 : min_t));
    json_object_set_new(fpe, "max", json_integer(max_t));
    json_object_set_new(fpe, "mean", json_real(usable ? (double)frames / usable : 0));
    json_object_set_new(root, "frames_per_episode", fpe);
    json_object_set_new(root, "resolutions", res);
    json_object_set_new(root, "scenarios", scen);
    json_object_set_new(root, "sides", sides);
    json_object_set_new(root, "targets", targets);
    json_object_set_new(root, "distances", dists);
    json_object_set_new(root, "kinds", kinds);
    json_object_set_new(root, "lighting", light);
    json_t *acts = json_object();
    json_object_set_new(acts, "counted", json_integer(counted));
    json_object_set_new(acts, "keys", keys);
    json_object_set_new(acts, "unknown", json_integer(unknown));
    json_object_set_new(root, "actions", acts);
    /* instructions: [{text, episodes}] by count, then text */
    size_t n = json_object_size(texts), j = 0;
    json_t **items = calloc(n + 1, sizeof *items);
    const char *text;
    json_t *v;
    json_object_foreach(texts, text, v) {
        if (!items) break;
        items[j] = json_object();
        json_object_set_new(items[j], "text", json_string(text));
        json_object_set_new(items[j], "episodes", json_integer(json_integer_value(v)));
        j++;
    }
    if (items) qsort(items, j, sizeof *items, by_count_desc);
    json_t *instr = json_array();
    for (size_t i = 0; i < j; i++) json_array_append_new(instr, items[i]);
    free(items);
    json_decref(texts);
    json_object_set_new(root, "instructions", instr);
    json_object_set_new(root, "instruction_sources", sources);
    return root;
}

/* "a 3, b 1" from a counter object, keys sorted. */
static void print_counts(const char *label, json_t *obj)
{
    printf("%-13s", label);
    size_t n = json_object_size(obj), j = 0;
    const char **ks = calloc(n + 1, sizeof *ks);
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) if (ks) ks[j++] = k;
    for (size_t a = 1; a < j; a++)
        for (size_t b = a; b > 0 && strcmp(ks[b - 1], ks[b]) > 0; b--) {
            const char *t = ks[b];
            ks[b] = ks[b - 1], ks[b - 1] = t;
        }
    for (size_t i = 0; i < j; i++)
        printf("%s%s %lld", i ? ", " : "", ks[i], (long long)json_integer_value(json_object_get(obj, ks[i])));
    printf("%s\n", j ? "" : "-");
    free(ks);
}

static void print_table(json_t *s)
{
    json_int_t files = json_integer_value(json_object_get(s, "files"));
    json_int_t eps = json_integer_value(json_object_get(s, "episodes"));
    json_t *unread = json_object_get(s, "unreadable");
    printf("%s\n\n", json_string_value(json_object_get(s, "path")));
    printf("%-13s%lld usable of %lld file%s\n", "episodes", (long long)eps, (long long)files, files == 1 ? "" : "s");
    json_t *fpe = json_object_get(s, "frames_per_episode");
    printf("%-13s%lld (per episode: min %lld, mean %.1f, max %lld)\n", "frames",
           (long long)json_integer_value(json_object_get(s, "frames")), (long long)json_integer_value(json_object_get(fpe, "min")),
           json_real_value(json_object_get(fpe, "mean")), (long long)json_integer_value(json_object_get(fpe, "max")));
    printf("%-13s%.1f s\n", "duration", json_real_value(json_object_get(s, "total_duration")));
    print_counts("resolution", json_object_get(s, "resolutions"));
    print_counts("scenario", json_object_get(s, "scenarios"));
    print_counts("side", json_object_get(s, "sides"));
    print_counts("target", json_object_get(s, "targets"));
    print_counts("distance", json_object_get(s, "distances"));
    print_counts("core/variant", json_object_get(s, "kinds"));
    print_counts("lighting", json_object_get(s, "lighting"));

    json_t *acts = json_object_get(s, "actions"), *keys = json_object_get(acts, "keys");
    json_int_t counted = json_integer_value(json_object_get(acts, "counted"));
    printf("\nactions after episode_start: %lld\n", (long long)counted);
    for (int k = 0; k < ACTION_NUM_KEYS; k++) {
        const char *name = action_key_name(ACTION_KEYS[k]);
        json_int_t c = json_integer_value(json_object_get(keys, name));
        float a[3];
        key_to_action(ACTION_KEYS[k], ACTION_VALUE, a);
        printf("  %-6s (%+5.2f, %+5.2f, %+5.2f)  %6lld  %5.1f%%\n", name, a[0], a[1], a[2], (long long)c,
               counted ? 100.0 * (double)c / (double)counted : 0.0);
    }
    json_int_t unk = json_integer_value(json_object_get(acts, "unknown"));
    printf("  %-29s  %6lld  %5.1f%%\n", "unknown (no key)", (long long)unk, counted ? 100.0 * (double)unk / (double)counted : 0.0);

    json_t *instr = json_object_get(s, "instructions");
    printf("\ninstructions (%zu distinct; ", json_array_size(instr));
    json_t *src = json_object_get(s, "instruction_sources");
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach(src, k, v) {
        printf("%s%s %lld", first ? "" : ", ", k, (long long)json_integer_value(v));
        first = 0;
    }
    printf(")\n");
    size_t i;
    json_array_foreach(instr, i, v)
        printf("  %6lld  %s\n", (long long)json_integer_value(json_object_get(v, "episodes")),
               json_string_value(json_object_get(v, "text")));
    if (json_array_size(unread)) {
        printf("\nunreadable (%zu; run mvla data check for every problem):\n", json_array_size(unread));
        json_array_foreach(unread, i, v) printf("  %s\n", json_string_value(json_object_get(v, "error")));
    }
}

typedef struct {
    Progress bar;
    int started;
} InfoProgress;

static void on_progress(void *ctx, int done, int total)
{
    InfoProgress *p = ctx;
    if (!p->started) progress_start(&p->bar, "info", total, "file"), p->started = 1;
    progress_update(&p->bar, done, NULL);
}

int data_info_main(int argc, char **argv)
{
    const char *path = NULL;
    int as_json = 0;
    DatasetOptions opt = {0};
    opt.lang = "en";
    opt.isolate = 1; /* a damaged file is reported, never the end of the command */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (strcmp(a, "--json") == 0) {
            as_json = 1;
        } else if (strcmp(a, "--lang") == 0) {
            if (!has_value || (strcmp(argv[i + 1], "en") && strcmp(argv[i + 1], "ko"))) {
                fprintf(stderr, "mvla: data info: --lang needs en or ko\n");
                return 2;
            }
            opt.lang = argv[++i];
        } else if (strcmp(a, "--instructions") == 0) {
            if (!has_value) {
                fprintf(stderr, "mvla: data info: --instructions needs a JSON file\n");
                return 2;
            }
            opt.mapping_path = argv[++i];
        } else if (strcmp(a, "--instruction") == 0) {
            if (!has_value) {
                fprintf(stderr, "mvla: data info: --instruction needs a text\n");
                return 2;
            }
            opt.instruction = argv[++i];
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (cli_positional("data info", a, &path, "DIR or FILE", usage)) {
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    Dataset *ds = NULL;
    InfoProgress prog = {0};
    opt.progress = on_progress;
    opt.progress_ctx = &prog;
    if (dataset_open(&ds, path, &opt) != 0) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
        return 1;
    }
    if (prog.started && prog.bar.last_print > prog.bar.start) progress_finish(&prog.bar);
    json_t *s = summarise(ds, path);
    int rc = 0;
    if (as_json) {
        rc = json_dumpf(s, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0;
        printf("\n");
    } else {
        print_table(s);
    }
    json_decref(s);
    dataset_free(ds);
    return rc;
}
