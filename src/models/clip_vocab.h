/* A CLIP tokenizer's vocab.json ({"token": id, ...}, one flat object) read in one pass. A general JSON
 * parser spends most of a CLIP load building ~49k objects; this reads the strings straight into one pool.
 *
 * Accepts exactly the JSON grammar for such an object: whitespace (space, tab, CR, LF) anywhere between
 * tokens, keys as JSON strings (escapes \" \\ \/ \b \f \n \r \t and \uXXXX, surrogate pairs combined;
 * the text must be valid UTF-8; control characters, lone surrogates and \u0000 are rejected), values as
 * integers. Errors (MVLA_ERR_FORMAT) name the file:
 *   syntax:            "<path>:<line>:<column>: invalid JSON: <what>"
 *   not an object:     "<path>: expected a JSON object {token: id}"
 *   value not an id:   "<path>: token \"<key>\": expected an integer id in [0, max_id]"
 * Duplicate keys are left to the caller (its string table sees them). */
#ifndef MVLA_MODELS_CLIP_VOCAB_H
#define MVLA_MODELS_CLIP_VOCAB_H

#include <stddef.h>

typedef struct {
    char *pool;  /* every key, NUL-terminated, one allocation (the caller may take it over) */
    char **keys; /* n pointers into pool, in file order */
    int *ids;    /* n ids */
    int n;
} ClipVocab;

int clip_vocab_parse(const char *text, size_t size, int max_id, const char *path, ClipVocab *out);
/* Frees keys, ids and (unless taken: set to NULL) pool. */
void clip_vocab_free(ClipVocab *v);

#endif
