/* mvla inspect FILE [--json]: the tensors (name, dtype, shape, bytes) and __metadata__ of a
 * .safetensors file, a sharded checkpoint's index.json, or a directory holding either. */
#include "cli/commands.h"

#include "base/error.h"
#include "cli/cli_args.h"
#include "io/safetensors.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void inspect_usage(FILE *fp)
{
    fprintf(fp, "usage: mvla inspect FILE [--json]\n"
                "  FILE    a .safetensors file, a *.safetensors.index.json, or a directory holding one\n"
                "  --json  print one JSON document instead of a table\n");
}

static void shape_text(const StTensor *t, char *buf, size_t n)
{
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < t->ndim && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, "%s%" PRId64, d ? ", " : "", t->shape[d]);
    if (len < n) snprintf(buf + len, n - len, "]");
}

static const char *human_bytes(double b, char *buf, size_t n)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) b /= 1024, u++;
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", b, units[u]);
    return buf;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int print_json(const SafeTensors *st, int sharded)
{
    json_t *root = json_object(), *tensors = json_array(), *meta = json_object();
    json_int_t params = 0, bytes = 0;
    json_object_set_new(root, "file", json_string(st_path(st)));
    json_object_set_new(root, "tensors", tensors);
    for (int i = 0; i < st_count(st); i++) {
        const StTensor *t = st_at(st, i);
        json_t *e = json_object(), *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_object_set_new(e, "name", json_string(t->name));
        json_object_set_new(e, "dtype", json_string(st_dtype_name(t->dtype)));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "bytes", json_integer((json_int_t)t->nbytes));
        json_object_set_new(e, "offset", json_integer(st_offset_at(st, i)));
        if (sharded) json_object_set_new(e, "shard", json_string(base_name(st_file_at(st, i))));
        json_array_append_new(tensors, e);
        params += t->numel;
        bytes += (json_int_t)t->nbytes;
    }
    for (int i = 0; i < st_metadata_count(st); i++) {
        const char *k = st_metadata_key(st, i);
        json_object_set_new(meta, k, json_string(st_metadata(st, k)));
    }
    json_object_set_new(root, "metadata", meta);
    json_object_set_new(root, "total_parameters", json_integer(params));
    json_object_set_new(root, "total_bytes", json_integer(bytes));
    int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    printf("\n");
    return rc == 0 ? 0 : 1;
}

/* A metadata value: JSON objects and arrays pretty-printed and indented, anything else as is. */
static void print_meta_value(const char *v)
{
    json_t *j = json_loads(v, 0, NULL);
    char *pretty = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (!pretty) {
        printf(" %s\n", v);
        return;
    }
    printf("\n    ");
    for (const char *c = pretty; *c; c++) {
        putchar(*c);
        if (*c == '\n') printf("    ");
    }
    printf("\n");
    free(pretty);
}

static void print_table(const SafeTensors *st, int sharded)
{
    int n = st_count(st);
    int wn = 4, wd = 5, ws = 5, wf = 5;
    char shape[200], buf[32];
    for (int i = 0; i < n; i++) {
        const StTensor *t = st_at(st, i);
        shape_text(t, shape, sizeof shape);
        int l = (int)strlen(t->name);
        if (l > wn) wn = l;
        if ((l = (int)strlen(st_dtype_name(t->dtype))) > wd) wd = l;
        if ((l = (int)strlen(shape)) > ws) ws = l;
        if (sharded && (l = (int)strlen(base_name(st_file_at(st, i)))) > wf) wf = l;
    }
    printf("%s\n\n", st_path(st));
    printf("%-*s  %-*s  %-*s  %12s", wn, "name", wd, "dtype", ws, "shape", "bytes");
    if (sharded) printf("  %s", "shard");
    printf("\n");
    int64_t params = 0, bytes = 0;
    for (int i = 0; i < n; i++) {
        const StTensor *t = st_at(st, i);
        shape_text(t, shape, sizeof shape);
        printf("%-*s  %-*s  %-*s  %12zu", wn, t->name, wd, st_dtype_name(t->dtype), ws, shape, t->nbytes);
        if (sharded) printf("  %s", base_name(st_file_at(st, i)));
        printf("\n");
        params += t->numel;
        bytes += (int64_t)t->nbytes;
    }
    printf("\n%d tensors, %" PRId64 " parameters, %" PRId64 " bytes (%s)\n", n, params, bytes,
           human_bytes((double)bytes, buf, sizeof buf));
    int nm = st_metadata_count(st);
    if (nm) printf("\nmetadata (%d):\n", nm);
    for (int i = 0; i < nm; i++) {
        const char *k = st_metadata_key(st, i);
        printf("  %s:", k);
        print_meta_value(st_metadata(st, k));
    }
}

int cmd_inspect(int argc, char **argv)
{
    const char *file = NULL;
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            inspect_usage(stdout);
            return 0;
        } else if (cli_positional("inspect", argv[i], &file, "file", inspect_usage)) {
            return 2;
        }
    }
    if (!file) {
        inspect_usage(stderr);
        return 2;
    }
    SafeTensors *st = NULL;
    if (st_open(&st, file)) {
        fprintf(stderr, "mvla: %s\n", mvla_error_message());
        return 1;
    }
    int sharded = 0;
    for (int i = 1; i < st_count(st) && !sharded; i++) sharded = strcmp(st_file_at(st, i), st_file_at(st, 0)) != 0;
    int rc = 0;
    if (as_json) rc = print_json(st, sharded);
    else print_table(st, sharded);
    st_close(st);
    return rc;
}
