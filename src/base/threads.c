#include "base/threads.h"

#include <omp.h>
#include <stdlib.h>

void openblas_set_num_threads(int num_threads); /* from libopenblas */

int mvla_set_threads(int n)
{
    if (n <= 0) {
        const char *env = getenv("MVLA_THREADS");
        n = env ? atoi(env) : 0;
    }
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    return n;
}

int mvla_get_threads(void) { return omp_get_max_threads(); }
