/* Thread count for OpenMP loops and OpenBLAS (the OpenMP build, so both share one pool). */
#ifndef MVLA_THREADS_H
#define MVLA_THREADS_H

/* n > 0: use n threads. n <= 0: use $MVLA_THREADS if set, else the number of cores.
 * Returns the count in effect. */
int mvla_set_threads(int n);
int mvla_get_threads(void);

#endif
