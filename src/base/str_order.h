/* The one strcmp order for arrays of char * (file lists, episode hashes, run names). */
#ifndef MVLA_STR_ORDER_H
#define MVLA_STR_ORDER_H

#include <stddef.h>

/* qsort / bsearch comparator: a and b point at char * elements. */
int str_order(const void *a, const void *b);

/* Sorts n strings in place by strcmp. */
void str_sort(char **v, size_t n);

#endif
