/* Hashed n-gram tokenizer and the instruction encoder (see instruction.h). */
#include "models/instruction.h"

#include "base/error.h"
#include "tensor/ops_activation.h"
#include "tensor/ops_elementwise.h"
#include "tensor/ops_shape.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- tokenizer ---- */

/* Decodes one code point at s[*i], advancing *i; -1 on invalid UTF-8 (overlong, surrogate, > U+10FFFF). */
static long utf8_next(const unsigned char *s, size_t len, size_t *i)
{
    unsigned c = s[*i];
    int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0 || *i + (size_t)n >= len + (n ? 0 : 1)) return -1;
    long cp = n == 0 ? c : n == 1 ? c & 0x1F : n == 2 ? c & 0x0F : c & 0x07;
    for (int k = 1; k <= n; k++) {
        unsigned cc = s[*i + (size_t)k];
        if ((cc & 0xC0) != 0x80) return -1;
        cp = cp << 6 | (cc & 0x3F);
    }
    static const long min_cp[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
    *i += (size_t)n + 1;
    return cp;
}

static int is_separator(long cp)
{
    if (cp < 0x80) return !((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9'));
    return cp == 0xA0 || (cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x303F) ||
           (cp >= 0xFF01 && cp <= 0xFF0F);
}

static int utf8_put(long cp, unsigned char *out)
{
    if (cp < 0x80) return out[0] = (unsigned char)cp, 1;
    if (cp < 0x800) return out[0] = (unsigned char)(0xC0 | cp >> 6), out[1] = (unsigned char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12), out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18), out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)), out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* FNV-1a over the kind byte and the UTF-8 encoding of cps[0..n). */
static int token_id(const InstrConfig *c, char kind, const long *cps, int n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = (h ^ (unsigned char)kind) * 0x100000001b3ULL;
    for (int i = 0; i < n; i++) {
        unsigned char b[4];
        int m = utf8_put(cps[i], b);
        for (int k = 0; k < m; k++) h = (h ^ b[k]) * 0x100000001b3ULL;
    }
    return 2 + (int)(h % (uint64_t)(c->vocab - 2));
}

#define MAX_WORDS 256
#define MAX_CPS 4096

int instr_tokenize(const InstrConfig *c, const char *text, InstrTokens *out)
{
    static _Thread_local long cps[MAX_CPS + 2 * MAX_WORDS];
    int start[MAX_WORDS], len[MAX_WORDS], n_words = 0, n_cps = 0;
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    size_t slen = strlen((const char *)s), i = 0;
    int limit = c->max_tokens < INSTR_MAX_TOKENS ? c->max_tokens : INSTR_MAX_TOKENS;
    out->n = 0;
    int in_word = 0;
    /* Words are stored as "<" cps ">" so n-grams can read the boundary markers in place. */
    while (i < slen) {
        size_t at = i;
        long cp = utf8_next(s, slen, &i);
        if (cp < 0) return mvla_fail(MVLA_ERR_ARG, "instruction: byte %zu: invalid UTF-8", at);
        if (cp >= 'A' && cp <= 'Z') cp += 'a' - 'A';
        if (is_separator(cp)) {
            if (in_word) cps[n_cps++] = '>', len[n_words - 1] = n_cps - start[n_words - 1] - 2, in_word = 0;
            continue;
        }
        if (!in_word) {
            if (n_words == MAX_WORDS || n_cps + 3 > MAX_CPS) break; /* enough text for any max_tokens */
            start[n_words++] = n_cps;
            cps[n_cps++] = '<';
            in_word = 1;
        }
        if (n_cps + 2 > MAX_CPS) break;
        cps[n_cps++] = cp;
    }
    if (in_word) cps[n_cps++] = '>', len[n_words - 1] = n_cps - start[n_words - 1] - 2;
    if (n_words == 0) {
        out->ids[out->n++] = INSTR_EMPTY_ID;
        return 0;
    }
    for (int w = 0; w < n_words && out->n < limit; w++) out->ids[out->n++] = token_id(c, 'w', cps + start[w] + 1, len[w]);
    for (int w = 0; w < n_words && out->n < limit; w++)
        for (int n = c->ngram_min; n >= 1 && n <= c->ngram_max && out->n < limit; n++)
            for (int k = 0; k + n <= len[w] + 2 && out->n < limit; k++)
                out->ids[out->n++] = token_id(c, 'g', cps + start[w] + k, n);
    return 0;
}

/* ---- encoder ---- */

int instr_encoder_init(InstrEncoder *e, ParamList *p, const char *prefix, const InstrConfig *c, Rng *rng)
{
    memset(e, 0, sizeof *e);
    e->cfg = *c;
    char name[256];
    snprintf(name, sizeof name, "%s.embed.weight", prefix);
    if (!(e->embed = params_new(p, name, 0, 2, (int[]){c->vocab, c->dim})))
        return mvla_fail(MVLA_ERR_NOMEM, "instruction: cannot create %s: %s", name, mvla_error_message());
    tensor_fill_normal(e->embed, rng, 1.0f);
    int rc;
    if (c->encoder == INSTR_TRANSFORMER) {
        snprintf(name, sizeof name, "%s.pos", prefix);
        if (!(e->pos = params_new(p, name, 0, 2, (int[]){c->max_tokens, c->dim})))
            return mvla_fail(MVLA_ERR_NOMEM, "instruction: cannot create %s: %s", name, mvla_error_message());
        tensor_fill_normal(e->pos, rng, 0.1f);
        snprintf(name, sizeof name, "%s.transformer", prefix);
        if ((rc = tiny_transformer_init(&e->tf, p, name, c->dim, c->heads, c->ff, c->layers, rng))) return rc;
    }
    snprintf(name, sizeof name, "%s.mlp.fc1", prefix);
    if ((rc = linear_init(&e->fc1, p, name, c->dim, c->hidden, 1, rng))) return rc;
    snprintf(name, sizeof name, "%s.mlp.fc2", prefix);
    return linear_init(&e->fc2, p, name, c->hidden, c->out_dim, 1, rng);
}

Tensor *instr_encode(Graph *g, const InstrEncoder *e, const InstrTokens *tokens, int B, int training, Rng *rng)
{
    const InstrConfig *c = &e->cfg;
    int L = 0;
    for (int b = 0; b < B; b++) {
        if (tokens[b].n < 1 || tokens[b].n > c->max_tokens) {
            mvla_fail(MVLA_ERR_ARG, "instruction: batch %d has %d tokens: expected 1..%d (instr_tokenize's output)", b,
                      tokens[b].n, c->max_tokens);
            return NULL;
        }
        if (tokens[b].n > L) L = tokens[b].n;
    }
    if (B < 1) {
        mvla_fail(MVLA_ERR_ARG, "instruction: batch of %d: expected at least 1", B);
        return NULL;
    }
    int *ids = graph_alloc(g, (size_t)B * L * sizeof *ids);
    unsigned char *pad = graph_alloc(g, (size_t)B * L);
    Tensor *weights = graph_tensor(g, 3, (int[]){B, L, 1}); /* 1/n on each sequence's tokens: the mean */
    if (!ids || !pad || !weights) return NULL;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++) {
            int valid = t < tokens[b].n;
            int id = valid ? tokens[b].ids[t] : INSTR_PAD_ID;
            if (id < 0 || id >= c->vocab) {
                mvla_fail(MVLA_ERR_ARG, "instruction: token %d of batch %d is %d: expected an id in 0..%d", t, b, id,
                          c->vocab - 1);
                return NULL;
            }
            ids[b * L + t] = id;
            pad[b * L + t] = !valid;
            weights->data[b * L + t] = valid ? 1.0f / (float)tokens[b].n : 0.0f;
        }
    Tensor *x = op_embedding(g, e->embed, ids, 2, (int[]){B, L}); /* [B, L, dim] */
    if (c->encoder == INSTR_TRANSFORMER) {
        x = op_add(g, x, op_slice(g, e->pos, 0, 0, L));
        x = tiny_transformer_forward(g, &e->tf, x, 0, pad, 0.0f, training, rng);
    }
    Tensor *pooled = op_sum_dim(g, op_mul(g, x, weights), 1, 0); /* [B, dim] */
    return linear_forward(g, &e->fc2, op_relu(g, linear_forward(g, &e->fc1, pooled)));
}
