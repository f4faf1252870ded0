/* Instruction encoder: text -> token ids -> one embedding vector [out_dim] per instruction.
 *
 * Tokenizer (works for English and Korean alike, no vocabulary file):
 *   1. The text must be valid UTF-8. ASCII letters are lower-cased (other scripts are kept as they are;
 *      Hangul has no case).
 *   2. Words are maximal runs of code points that are not separators. Separators: ASCII characters
 *      other than letters and digits, U+00A0, U+2000..U+206F (general punctuation and spaces),
 *      U+3000..U+303F (CJK symbols and punctuation) and U+FF01..U+FF0F.
 *   3. Tokens, in this order, until max_tokens: every word as a whole (in text order), then for each
 *      word the code-point n-grams (n = ngram_min..ngram_max) of "<" word ">" (fastText's style:
 *      "왼쪽으로" gives "<왼", "왼쪽", ..., "로>", so "왼쪽" and "왼쪽으로" share tokens).
 *   4. Each token's UTF-8 bytes, after a kind byte ('w' word, 'g' n-gram), are hashed with 64-bit
 *      FNV-1a into bucket 2 + hash % (vocab - 2). Id 0 is padding, id 1 is the empty instruction
 *      (text without any word).
 * The same text always gives the same ids on every machine.
 *
 * Encoder ("instruction." checkpoint names, prefix configurable):
 *   mean:        embed [vocab, dim] -> mean over the tokens -> mlp
 *   transformer: embed + pos [max_tokens, dim] -> tiny transformer (src/models/tiny_transformer.h,
 *                padding masked) -> mean over the tokens -> mlp
 *   mlp:         fc1 (dim -> hidden) -> relu -> fc2 (hidden -> out_dim)
 *   names: <p>.embed.weight, <p>.pos (transformer), <p>.transformer.*, <p>.mlp.fc1.*, <p>.mlp.fc2.*
 * Encode an episode's instruction once and keep the [1, out_dim] result (the policy's step mode
 * does). */
#ifndef MVLA_INSTRUCTION_H
#define MVLA_INSTRUCTION_H

#include "models/policy_config.h"
#include "models/tiny_transformer.h"

#define INSTR_MAX_TOKENS 256
#define INSTR_PAD_ID 0
#define INSTR_EMPTY_ID 1

typedef struct {
    int n;                      /* 1..max_tokens */
    int ids[INSTR_MAX_TOKENS];
} InstrTokens;

/* Tokenizes text (NUL-terminated UTF-8). MVLA_ERR_ARG on invalid UTF-8, naming the byte offset. */
int instr_tokenize(const InstrConfig *c, const char *text, InstrTokens *out);

typedef struct {
    InstrConfig cfg;
    Tensor *embed, *pos;
    TinyTransformer tf;
    Linear fc1, fc2;
} InstrEncoder;

int instr_encoder_init(InstrEncoder *e, ParamList *p, const char *prefix, const InstrConfig *c, Rng *rng);
/* tokens: B tokenized instructions -> [B, out_dim]. */
Tensor *instr_encode(Graph *g, const InstrEncoder *e, const InstrTokens *tokens, int B, int training, Rng *rng);

#endif
