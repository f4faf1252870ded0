/* Arena: bump allocation for everything that lives for one step (activations, gradients,
 * saved buffers for backward). Reset frees it all at once; after the first step the arena
 * holds one block big enough for a whole step, so a steady-state step allocates nothing. */
#ifndef MVLA_ARENA_H
#define MVLA_ARENA_H

#include <stddef.h>

typedef struct ArenaBlock ArenaBlock;

typedef struct {
    ArenaBlock *head;      /* newest block first */
    size_t used_total;     /* bytes handed out since the last reset */
    size_t high_water;     /* largest used_total seen */
} Arena;

void arena_init(Arena *a);
/* 64-byte aligned, uninitialised memory, or NULL if out of memory. */
void *arena_alloc(Arena *a, size_t bytes);
/* Same, zero-filled. */
void *arena_calloc(Arena *a, size_t bytes);
/* Forgets every allocation; keeps (or consolidates into) one block of the high-water size. */
void arena_reset(Arena *a);
void arena_free(Arena *a);
/* Bytes currently reserved from the system. */
size_t arena_capacity(const Arena *a);

#endif
