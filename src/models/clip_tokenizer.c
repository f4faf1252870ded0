/* CLIP byte-level BPE tokenizer (see clip_tokenizer.h for the algorithm and what it leaves out).
 * BPE runs on ids: every merges.txt line "a b" is resolved at load time to (id(a), id(b)) -> (rank,
 * id(ab)) in a hash table, so encoding never builds strings. */
#include "models/clip_tokenizer.h"

#include "base/error.h"
#include "base/file.h"
#include "models/clip_vocab.h"
#include "models/unicode_tables.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VOCAB (1 << 24)
#define NO_ID (-1)
#define BYTE_SYMBOL_END 324 /* byte-level symbols are below U+0144 */

typedef struct {
    uint64_t key;        /* (left id << 32) | right id; 0 marks an empty slot (key + 1 is stored) */
    int32_t rank, merged;
} PairSlot;

struct ClipTokenizer {
    int n_vocab;          /* 1 + largest id */
    char **text;          /* [n_vocab]: vocab string of each id (NULL for ids not in vocab.json) */
    char *text_pool;      /* one allocation holding all strings */
    int32_t *str_slots;   /* open-addressing table of ids, keyed by their string */
    size_t str_mask;
    PairSlot *pairs;
    size_t pair_mask;
    int n_merges;
    int byte_id[256], byte_end_id[256];   /* byte-level symbol of each byte, without / with "</w>" */
    int16_t symbol_byte[BYTE_SYMBOL_END]; /* byte of each byte-level symbol code point, or -1 */
    int sot, eot;
};

/* ---------------------------------------------------------------- hash tables */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33, x *= 0xff51afd7ed558ccdull, x ^= x >> 33, x *= 0xc4ceb9fe1a85ec53ull, x ^= x >> 33;
    return x;
}

static size_t table_size_for(size_t n)
{
    size_t s = 16;
    while (s < 2 * n) s <<= 1;
    return s;
}

static int str_lookup(const ClipTokenizer *t, const char *s, size_t n)
{
    for (size_t i = hash_bytes(s, n) & t->str_mask;; i = (i + 1) & t->str_mask) {
        int id = t->str_slots[i];
        if (id == NO_ID) return NO_ID;
        if (strlen(t->text[id]) == n && memcmp(t->text[id], s, n) == 0) return id;
    }
}

static void str_insert(ClipTokenizer *t, int id)
{
    size_t i = hash_bytes(t->text[id], strlen(t->text[id])) & t->str_mask;
    while (t->str_slots[i] != NO_ID) i = (i + 1) & t->str_mask;
    t->str_slots[i] = id;
}

static const PairSlot *pair_lookup(const ClipTokenizer *t, int a, int b)
{
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    for (size_t i = hash_u64(key) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        if (t->pairs[i].key == key) return &t->pairs[i];
        if (t->pairs[i].key == 0) return NULL;
    }
}

/* A later duplicate of a pair overrides the earlier rank, as Python's dict(zip(merges, ranks)) does. */
static void pair_insert(ClipTokenizer *t, int a, int b, int rank, int merged)
{
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    size_t i = hash_u64(key) & t->pair_mask;
    while (t->pairs[i].key != 0 && t->pairs[i].key != key) i = (i + 1) & t->pair_mask;
    t->pairs[i].key = key;
    t->pairs[i].rank = rank;
    t->pairs[i].merged = merged;
}

/* ---------------------------------------------------------------- loading */

/* GPT-2/CLIP bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
 * U+0100, U+0101, ... in byte order. */
static uint32_t byte_symbol(int b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return (uint32_t)b;
    int n = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) n++;
    return 256u + (uint32_t)n;
}

/* vocab.json's text (size bytes, path names it in errors). */
static int load_vocab(ClipTokenizer *t, const char *buf, size_t size, const char *path)
{
    ClipVocab v;
    int rc = clip_vocab_parse(buf, size, MAX_VOCAB - 1, path, &v), max_id = -1;
    if (rc) return rc;
    for (int i = 0; i < v.n; i++) {
        if (!v.keys[i][0]) {
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: id %d: the empty string is not a token", path, v.ids[i]);
            goto done;
        }
        if (v.ids[i] > max_id) max_id = v.ids[i];
    }
    t->n_vocab = max_id + 1;
    t->text = calloc((size_t)t->n_vocab + 1, sizeof *t->text);
    t->str_mask = table_size_for((size_t)t->n_vocab) - 1;
    t->str_slots = malloc((t->str_mask + 1) * sizeof *t->str_slots);
    if (!t->text || !t->str_slots) {
        rc = mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory for %d tokens", path, t->n_vocab);
        goto done;
    }
    t->text_pool = v.pool; /* the strings stay where the reader put them */
    v.pool = NULL;
    memset(t->str_slots, 0xFF, (t->str_mask + 1) * sizeof *t->str_slots); /* NO_ID everywhere */
    for (int i = 0; i < v.n; i++) {
        int id = v.ids[i];
        const char *key = v.keys[i];
        if (t->text[id]) {
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: id %d is used by both \"%s\" and \"%s\"", path, id, t->text[id], key);
            goto done;
        }
        if (str_lookup(t, key, strlen(key)) != NO_ID) {
            rc = mvla_fail(MVLA_ERR_FORMAT, "%s: duplicate token \"%s\" (ids %d and %d)", path, key,
                           str_lookup(t, key, strlen(key)), id);
            goto done;
        }
        t->text[id] = v.keys[i];
        str_insert(t, id);
    }
done:
    clip_vocab_free(&v);
    return rc;
}

/* Splits one merges.txt line (already without its '\n') into its two tokens, in place. */
static int split_merge_line(char *line, char **a, char **b)
{
    size_t n = strlen(line);
    if (n && line[n - 1] == '\r') line[--n] = 0;
    char *sp = strchr(line, ' ');
    if (!sp || sp == line || !sp[1] || strchr(sp + 1, ' ')) return 0;
    *sp = 0;
    *a = line, *b = sp + 1;
    return 1;
}

/* merges.txt's text (size bytes, not NUL-terminated; path names it in errors). */
static int load_merges(ClipTokenizer *t, const char *text, size_t size, const char *path, const char *vocab_path)
{
    if (memchr(text, 0, size)) return mvla_fail(MVLA_ERR_FORMAT, "%s: contains a NUL byte: expected UTF-8 text", path);
    int rc = MVLA_OK;
    char *buf = malloc(size + 1);
    if (!buf) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    memcpy(buf, text, size);
    buf[size] = 0;
    size_t n_lines = 1;
    for (size_t i = 0; i < size; i++) n_lines += buf[i] == '\n';
    t->pair_mask = table_size_for(n_lines) - 1;
    t->pairs = calloc(t->pair_mask + 1, sizeof *t->pairs);
    char *joined = malloc(size + 1);
    if (!t->pairs || !joined) {
        free(buf), free(joined);
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory for %zu merges", path, n_lines);
    }
    char *line = buf;
    for (int line_no = 1; line && *line; line_no++) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (line_no == 1) {
            /* Hugging Face and OpenAI both drop the first line: insist that it is the header. */
            if (!strstr(line, "#version")) {
                rc = mvla_fail(MVLA_ERR_FORMAT, "%s:1: expected the header line \"#version: 0.2\", found \"%.40s\"",
                               path, line);
                break;
            }
        } else if (line[0] && !(line[0] == '\r' && !line[1])) {
            char *a, *b;
            if (!split_merge_line(line, &a, &b)) {
                rc = mvla_fail(MVLA_ERR_FORMAT, "%s:%d: expected two tokens separated by one space, found \"%.60s\"",
                               path, line_no, line);
                break;
            }
            int ia = str_lookup(t, a, strlen(a)), ib = str_lookup(t, b, strlen(b));
            size_t la = strlen(a), lb = strlen(b);
            memcpy(joined, a, la);
            memcpy(joined + la, b, lb);
            int iab = str_lookup(t, joined, la + lb);
            if (ia == NO_ID || ib == NO_ID) {
                rc = mvla_fail(MVLA_ERR_FORMAT, "%s:%d: merge \"%s %s\": token \"%s\" is not in %s", path, line_no, a, b,
                               ia == NO_ID ? a : b, vocab_path);
                break;
            }
            if (iab == NO_ID) {
                rc = mvla_fail(MVLA_ERR_FORMAT, "%s:%d: merge \"%s %s\": the merged token \"%s%s\" is not in %s", path,
                               line_no, a, b, a, b, vocab_path);
                break;
            }
            pair_insert(t, ia, ib, line_no - 2, iab);
            t->n_merges++;
        }
        line = nl ? nl + 1 : NULL;
    }
    if (!rc && size == 0) rc = mvla_fail(MVLA_ERR_FORMAT, "%s: empty file: expected the \"#version\" header and merges", path);
    free(buf);
    free(joined);
    return rc;
}

static int resolve_specials(ClipTokenizer *t, const char *vocab_path)
{
    char sym[8];
    memset(t->symbol_byte, 0xFF, sizeof t->symbol_byte);
    for (int b = 0; b < 256; b++) {
        t->symbol_byte[byte_symbol(b)] = (int16_t)b;
        int n = uc_utf8_encode(byte_symbol(b), sym);
        char with_end[16];
        memcpy(with_end, sym, (size_t)n);
        memcpy(with_end + n, "</w>", 4);
        t->byte_id[b] = str_lookup(t, sym, (size_t)n);
        t->byte_end_id[b] = str_lookup(t, with_end, (size_t)n + 4);
        if (t->byte_id[b] == NO_ID || t->byte_end_id[b] == NO_ID)
            return mvla_fail(MVLA_ERR_FORMAT, "%s: the byte-level symbol of byte 0x%02X (\"%.*s\" and \"%.*s</w>\") is "
                             "missing: expected a CLIP byte-level BPE vocabulary", vocab_path, b, n, sym, n, sym);
    }
    t->sot = str_lookup(t, "<|startoftext|>", 15);
    t->eot = str_lookup(t, "<|endoftext|>", 13);
    if (t->sot == NO_ID || t->eot == NO_ID)
        return mvla_fail(MVLA_ERR_FORMAT, "%s: expected the special tokens \"<|startoftext|>\" and \"<|endoftext|>\"",
                         vocab_path);
    return 0;
}

int clip_tokenizer_load_memory(ClipTokenizer **out, const char *vocab, size_t vocab_size, const char *merges,
                               size_t merges_size, const char *vocab_label, const char *merges_label)
{
    *out = NULL;
    ClipTokenizer *t = calloc(1, sizeof *t);
    if (!t) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", vocab_label);
    int rc = load_vocab(t, vocab, vocab_size, vocab_label);
    if (!rc) rc = resolve_specials(t, vocab_label);
    if (!rc) rc = load_merges(t, merges, merges_size, merges_label, vocab_label);
    if (rc) {
        clip_tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int clip_tokenizer_load_files(ClipTokenizer **out, const char *vocab_path, const char *merges_path)
{
    *out = NULL;
    char *vocab = NULL, *merges = NULL;
    size_t nv = 0, nm = 0;
    int rc = file_read_all(vocab_path, &vocab, &nv);
    if (!rc) rc = file_read_all(merges_path, &merges, &nm);
    if (!rc) rc = clip_tokenizer_load_memory(out, vocab, nv, merges, nm, vocab_path, merges_path);
    free(vocab);
    free(merges);
    return rc;
}

int clip_tokenizer_load(ClipTokenizer **out, const char *folder)
{
    if (!folder) {
        *out = NULL;
        return mvla_fail(MVLA_ERR_ARG, "clip tokenizer: folder is NULL");
    }
    size_t n = strlen(folder) + 16;
    char *vocab = malloc(n), *merges = malloc(n);
    if (!vocab || !merges) {
        free(vocab), free(merges);
        *out = NULL;
        return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", folder);
    }
    snprintf(vocab, n, "%s/vocab.json", folder);
    snprintf(merges, n, "%s/merges.txt", folder);
    int rc = clip_tokenizer_load_files(out, vocab, merges);
    free(vocab), free(merges);
    return rc;
}

void clip_tokenizer_free(ClipTokenizer *t)
{
    if (!t) return;
    free(t->text);
    free(t->text_pool);
    free(t->str_slots);
    free(t->pairs);
    free(t);
}

/* ---------------------------------------------------------------- text clean-up */

/* Decode, collapse White_Space runs to one space, strip (str.isspace set), lower-case.
 * Returns malloc'd code points (room for 3 per input byte) in *out, their count in *n. */
static int normalize_cps(const char *utf8, uint32_t **out, size_t *n)
{
    if (!utf8) return mvla_fail(MVLA_ERR_ARG, "clip tokenizer: text is NULL");
    size_t len = strlen(utf8);
    uint32_t *cps = malloc((len + 1) * sizeof *cps), *low = malloc((3 * len + 1) * sizeof *low);
    if (!cps || !low) {
        free(cps), free(low);
        return mvla_fail(MVLA_ERR_NOMEM, "clip tokenizer: out of memory for a text of %zu bytes", len);
    }
    size_t m = uc_utf8_decode(utf8, len, cps, NULL), k = 0;
    int in_space = 0;
    for (size_t i = 0; i < m; i++) {
        int space = (uc_props(cps[i]) & UC_WHITE_SPACE) != 0;
        if (!space) cps[k++] = cps[i];
        else if (!in_space) cps[k++] = ' ';
        in_space = space;
    }
    size_t first = 0, last = k;
    while (first < last && (uc_props(cps[first]) & UC_PY_SPACE)) first++;
    while (last > first && (uc_props(cps[last - 1]) & UC_PY_SPACE)) last--;
    *n = uc_lower(cps + first, last - first, low);
    free(cps);
    *out = low;
    return 0;
}

int clip_normalize_text(const char *utf8, char **out)
{
    uint32_t *cps;
    size_t n;
    *out = NULL;
    int rc = normalize_cps(utf8, &cps, &n);
    if (rc) return rc;
    char *s = malloc(4 * n + 1);
    if (!s) {
        free(cps);
        return mvla_fail(MVLA_ERR_NOMEM, "clip tokenizer: out of memory");
    }
    size_t b = 0;
    for (size_t i = 0; i < n; i++) b += (size_t)uc_utf8_encode(cps[i], s + b);
    s[b] = 0;
    free(cps);
    *out = s;
    return 0;
}

/* ---------------------------------------------------------------- pre-tokenizer and BPE */

typedef struct {
    int *ids;
    size_t n, cap;
} IdVec;

static int push_id(IdVec *v, int id)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        int *p = realloc(v->ids, cap * sizeof *p);
        if (!p) return mvla_fail(MVLA_ERR_NOMEM, "clip tokenizer: out of memory");
        v->ids = p, v->cap = cap;
    }
    v->ids[v->n++] = id;
    return 0;
}

/* Under the pattern's IGNORECASE, the only character of lower-cased text that matches an ASCII
 * letter of the pattern other than itself is U+017F LATIN SMALL LETTER LONG S (folds to 's'). */
static size_t match_literal(const uint32_t *s, size_t n, size_t i, const char *lit)
{
    size_t k = strlen(lit);
    if (n - i < k) return 0;
    for (size_t j = 0; j < k; j++)
        if (s[i + j] != (unsigned char)lit[j] && !(lit[j] == 's' && s[i + j] == 0x17F)) return 0;
    return k;
}

/* Length of the piece starting at i (0: the character there is dropped). */
static size_t next_piece(const uint32_t *s, size_t n, size_t i)
{
    static const char *const literals[] = {"<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    for (size_t k = 0; k < sizeof literals / sizeof *literals; k++) {
        size_t len = match_literal(s, n, i, literals[k]);
        if (len) return len;
    }
    unsigned f = uc_props(s[i]);
    size_t j = i + 1;
    if (f & UC_LETTER) {
        while (j < n && (uc_props(s[j]) & UC_LETTER)) j++;
        return j - i;
    }
    if (f & UC_NUMBER) return 1;
    /* [^\s\p{L}\p{N}] under IGNORECASE also rejects U+0345 (it case-folds to the letter iota). */
    if ((f & UC_WHITE_SPACE) || s[i] == 0x345) return 0;
    while (j < n && !(uc_props(s[j]) & (UC_WHITE_SPACE | UC_LETTER | UC_NUMBER)) && s[j] != 0x345) j++;
    return j - i;
}

/* BPE scratch for one piece of n symbols: a linked list over the symbols and a min-heap of the
 * adjacent pairs that have a rank. */
typedef struct {
    int32_t rank, pos, a, b; /* pair (a, b) starting at symbol pos */
} PairEntry;

typedef struct {
    int *id, *prev, *next;
    PairEntry *heap, *round;
    size_t n_heap;
} BpeScratch;

static int entry_before(const PairEntry *x, const PairEntry *y)
{
    return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}

static void heap_push(BpeScratch *s, PairEntry e)
{
    size_t i = s->n_heap++;
    while (i > 0 && entry_before(&e, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = e;
}

static PairEntry heap_pop(BpeScratch *s)
{
    PairEntry top = s->heap[0], last = s->heap[--s->n_heap];
    size_t i = 0, n = s->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && entry_before(&s->heap[c + 1], &s->heap[c])) c++;
        if (!entry_before(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) s->heap[i] = last;
    return top;
}

static void push_pair(const ClipTokenizer *t, BpeScratch *s, int pos)
{
    if (pos < 0 || s->next[pos] < 0) return;
    const PairSlot *p = pair_lookup(t, s->id[pos], s->id[s->next[pos]]);
    if (p) heap_push(s, (PairEntry){p->rank, pos, s->id[pos], s->id[s->next[pos]]});
}

/* BPE over the byte-level symbols of one piece (bytes[0..n), n >= 1); appends the ids to v.
 * Same result as SimpleTokenizer.bpe: repeatedly take the pair of lowest rank and merge all its
 * occurrences left to right (non-overlapping), until no adjacent pair has a rank. Each round pops
 * every heap entry of that rank (they all name the same pair, in position order); entries made stale
 * by earlier merges are skipped. O(n log n) even for very long words. */
static int bpe_piece(const ClipTokenizer *t, const unsigned char *bytes, int n, BpeScratch *s, IdVec *v)
{
    s->n_heap = 0;
    for (int i = 0; i < n; i++) {
        s->id[i] = i + 1 < n ? t->byte_id[bytes[i]] : t->byte_end_id[bytes[i]];
        s->prev[i] = i - 1;
        s->next[i] = i + 1 < n ? i + 1 : -1;
    }
    for (int i = 0; i + 1 < n; i++) push_pair(t, s, i);
    while (s->n_heap) {
        size_t n_round = 0;
        PairEntry first = heap_pop(s);
        s->round[n_round++] = first;
        while (s->n_heap && s->heap[0].rank == first.rank) s->round[n_round++] = heap_pop(s);
        const PairSlot *merge = pair_lookup(t, first.a, first.b);
        size_t n_merged = 0;
        for (size_t k = 0; k < n_round; k++) {
            int pos = s->round[k].pos, nx = s->next[pos];
            if (s->id[pos] != first.a || nx < 0 || s->id[nx] != first.b) continue; /* stale */
            s->id[pos] = merge->merged;
            s->next[pos] = s->next[nx];
            if (s->next[nx] >= 0) s->prev[s->next[nx]] = pos;
            s->id[nx] = -1; /* removed */
            s->round[n_merged++].pos = pos;
        }
        /* The merged symbols' new neighbour pairs, once the whole round is done. */
        for (size_t k = 0; k < n_merged; k++) {
            int pos = s->round[k].pos;
            if (s->id[pos] < 0) continue;
            push_pair(t, s, s->prev[pos]);
            push_pair(t, s, pos);
        }
    }
    for (int i = 0; i >= 0; i = s->next[i])
        if (push_id(v, s->id[i])) return MVLA_ERR_NOMEM;
    return 0;
}

static int encode_into(const ClipTokenizer *t, const char *utf8, IdVec *v)
{
    uint32_t *s;
    size_t n;
    int rc = normalize_cps(utf8, &s, &n);
    if (rc) return rc;
    if (n > (size_t)INT32_MAX / 8) {
        free(s);
        return mvla_fail(MVLA_ERR_ARG, "clip tokenizer: text of %zu characters is too long", n);
    }
    /* A piece has at most 4 bytes per code point; each round's pairs and the heap hold fewer than
     * 3 entries per symbol (the initial pairs plus two per merge). */
    size_t cap = 4 * n + 1;
    unsigned char *bytes = malloc(cap);
    BpeScratch b = {malloc(cap * sizeof(int)), malloc(cap * sizeof(int)), malloc(cap * sizeof(int)),
                    malloc(3 * cap * sizeof(PairEntry)), malloc(3 * cap * sizeof(PairEntry)), 0};
    if (!bytes || !b.id || !b.prev || !b.next || !b.heap || !b.round)
        rc = mvla_fail(MVLA_ERR_NOMEM, "clip tokenizer: out of memory for a text of %zu characters", n);
    for (size_t i = 0; i < n && !rc;) {
        size_t len = next_piece(s, n, i);
        if (len == 0) {
            i++;
            continue;
        }
        size_t nb = 0;
        for (size_t j = i; j < i + len; j++) nb += (size_t)uc_utf8_encode(s[j], (char *)bytes + nb);
        if (nb == 15 && memcmp(bytes, "<|startoftext|>", 15) == 0) rc = push_id(v, t->sot);
        else if (nb == 13 && memcmp(bytes, "<|endoftext|>", 13) == 0) rc = push_id(v, t->eot);
        else rc = bpe_piece(t, bytes, (int)nb, &b, v);
        i += len;
    }
    free(bytes), free(b.id), free(b.prev), free(b.next), free(b.heap), free(b.round), free(s);
    return rc;
}

int clip_encode(const ClipTokenizer *t, const char *utf8, int **ids, int *n_ids)
{
    IdVec v = {0};
    *ids = NULL, *n_ids = 0;
    int rc = encode_into(t, utf8, &v);
    if (!rc && v.n > INT32_MAX) rc = mvla_fail(MVLA_ERR_ARG, "clip tokenizer: text too long (%zu tokens)", v.n);
    if (rc) {
        free(v.ids);
        return rc;
    }
    *ids = v.ids, *n_ids = (int)v.n;
    return 0;
}

int clip_tokenize(const ClipTokenizer *t, const char *utf8, int context_length, int *ids, int *n_ids, int truncate)
{
    if (context_length < 2)
        return mvla_fail(MVLA_ERR_ARG, "clip tokenizer: context_length %d: expected at least 2", context_length);
    IdVec v = {0};
    int rc = push_id(&v, t->sot);
    if (!rc) rc = encode_into(t, utf8, &v);
    if (!rc) rc = push_id(&v, t->eot);
    if (!rc && v.n > (size_t)context_length && !truncate)
        rc = mvla_fail(MVLA_ERR_ARG, "clip tokenizer: text of %zu tokens (with start and end) is longer than the "
                       "context length %d: \"%.60s\"", v.n, context_length, utf8);
    if (!rc) {
        size_t keep = v.n < (size_t)context_length ? v.n : (size_t)context_length;
        memcpy(ids, v.ids, keep * sizeof *ids);
        if (keep < v.n) ids[keep - 1] = t->eot;
        for (size_t i = keep; i < (size_t)context_length; i++) ids[i] = 0;
        if (n_ids) *n_ids = v.n > INT32_MAX ? INT32_MAX : (int)v.n;
    }
    free(v.ids);
    return rc;
}

/* Inverse of byte_symbol; -1 for a code point that is no byte-level symbol. */
static int symbol_byte(const ClipTokenizer *t, uint32_t cp)
{
    return cp < BYTE_SYMBOL_END ? t->symbol_byte[cp] : -1;
}

int clip_decode(const ClipTokenizer *t, const int *ids, int n_ids, char **out)
{
    *out = NULL;
    size_t total = 0;
    for (int i = 0; i < n_ids; i++) {
        if (!clip_token_text(t, ids[i]))
            return mvla_fail(MVLA_ERR_ARG, "clip decode: id %d at position %d: expected an id of the vocabulary "
                             "(0..%d)", ids[i], i, t->n_vocab - 1);
        total += strlen(t->text[ids[i]]);
    }
    /* joined symbols -> bytes (a symbol that is no byte-level character keeps its UTF-8) */
    char *raw = malloc(total + 1);
    uint32_t *cps = malloc((total + 1) * sizeof *cps);
    char *res = malloc(4 * total + 1);
    if (!raw || !cps || !res) {
        free(raw), free(cps), free(res);
        return mvla_fail(MVLA_ERR_NOMEM, "clip decode: out of memory");
    }
    size_t nb = 0;
    for (int i = 0; i < n_ids; i++) {
        const char *s = t->text[ids[i]];
        size_t len = strlen(s), m = uc_utf8_decode(s, len, cps, NULL);
        for (size_t k = 0; k < m; k++) {
            int b = symbol_byte(t, cps[k]);
            if (b >= 0) raw[nb++] = (char)b;
            else nb += (size_t)uc_utf8_encode(cps[k], raw + nb);
        }
    }
    size_t m = uc_utf8_decode(raw, nb, cps, NULL), r = 0;
    for (size_t k = 0; k < m; k++) r += (size_t)uc_utf8_encode(cps[k], res + r);
    res[r] = 0;
    /* "</w>" -> " ", in place */
    char *w = res;
    for (const char *p = res; *p;) {
        if (strncmp(p, "</w>", 4) == 0) *w++ = ' ', p += 4;
        else *w++ = *p++;
    }
    *w = 0;
    free(raw), free(cps);
    *out = res;
    return 0;
}

int clip_vocab_size(const ClipTokenizer *t) { return t->n_vocab; }
int clip_merge_count(const ClipTokenizer *t) { return t->n_merges; }
int clip_sot_id(const ClipTokenizer *t) { return t->sot; }
int clip_eot_id(const ClipTokenizer *t) { return t->eot; }

const char *clip_token_text(const ClipTokenizer *t, int id)
{
    return id >= 0 && id < t->n_vocab ? t->text[id] : NULL;
}

int clip_token_id(const ClipTokenizer *t, const char *token)
{
    return str_lookup(t, token, strlen(token));
}
