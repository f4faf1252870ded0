#include "base/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64
#define ARENA_MIN_BLOCK ((size_t)1 << 20)

/* Under AddressSanitizer, every allocation is followed by a poisoned red zone and a reset
 * poisons whole blocks, so out-of-bounds or stale accesses to step memory are caught. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define REDZONE ARENA_ALIGN
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define REDZONE 0
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct ArenaBlock {
    ArenaBlock *next;
    size_t size, used;
    unsigned char *mem;
};

void arena_init(Arena *a) { memset(a, 0, sizeof *a); }

static ArenaBlock *block_new(size_t size)
{
    ArenaBlock *b = malloc(sizeof *b);
    if (!b) return NULL;
    b->mem = aligned_alloc(ARENA_ALIGN, size);
    if (!b->mem) { free(b); return NULL; }
    b->size = size;
    b->used = 0;
    b->next = NULL;
    POISON(b->mem, size);
    return b;
}

static size_t round_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

void *arena_alloc(Arena *a, size_t bytes)
{
    size_t need = round_up(bytes ? bytes : 1) + REDZONE;
    ArenaBlock *b = a->head;
    if (!b || b->size - b->used < need) {
        size_t size = need > ARENA_MIN_BLOCK ? need : ARENA_MIN_BLOCK;
        if (b && size < b->size * 2) size = round_up(b->size * 2);
        ArenaBlock *nb = block_new(size);
        if (!nb) return NULL;
        nb->next = b;
        a->head = b = nb;
    }
    void *p = b->mem + b->used;
    UNPOISON(p, bytes);
    b->used += need;
    a->used_total += need;
    if (a->used_total > a->high_water) a->high_water = a->used_total;
    return p;
}

void *arena_calloc(Arena *a, size_t bytes)
{
    void *p = arena_alloc(a, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

static void free_blocks(ArenaBlock *b)
{
    while (b) {
        ArenaBlock *next = b->next;
        UNPOISON(b->mem, b->size);
        free(b->mem);
        free(b);
        b = next;
    }
}

void arena_reset(Arena *a)
{
    if (a->head && a->head->next) {
        /* The last step needed several blocks: replace them by one that fits a whole step. */
        free_blocks(a->head);
        a->head = block_new(round_up(a->high_water));
    }
    if (a->head) {
        a->head->used = 0;
        POISON(a->head->mem, a->head->size);
    }
    a->used_total = 0;
}

void arena_free(Arena *a)
{
    free_blocks(a->head);
    memset(a, 0, sizeof *a);
}

size_t arena_capacity(const Arena *a)
{
    size_t n = 0;
    for (const ArenaBlock *b = a->head; b; b = b->next) n += b->size;
    return n;
}
