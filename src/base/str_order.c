#include "base/str_order.h"

#include <stdlib.h>
#include <string.h>

int str_order(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void str_sort(char **v, size_t n)
{
    if (n > 1) qsort(v, n, sizeof *v, str_order);
}
