/* When a loop is worth OpenMP threads: starting a parallel region costs a few microseconds,
 * so loops below this many elements (or multiply-adds) of work run on one thread. */
#ifndef MVLA_PARALLEL_H
#define MVLA_PARALLEL_H

#define PAR_MIN_WORK (1L << 15)

#endif
