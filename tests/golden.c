#include "golden.h"

#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>

static int is_dir(const char *path)
{
    struct stat sb;
    return path && *path && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

const char *golden_dir(void)
{
    const char *env = getenv("MVLA_GOLDEN_DIR");
    if (env && *env) {
        if (is_dir(env)) return env;
        test_fail(__FILE__, __LINE__, "MVLA_GOLDEN_DIR=%s is not a folder", env);
        return NULL;
    }
    static const char *const candidates[] = {"../shared/golden", "/work/shared/golden"};
    for (int i = 0; i < 2; i++)
        if (is_dir(candidates[i])) return candidates[i];
    test_fail(__FILE__, __LINE__, "golden data not found in ../shared/golden or /work/shared/golden (the project's "
              "shared inputs): set MVLA_GOLDEN_DIR to the folder holding clip/");
    return NULL;
}
