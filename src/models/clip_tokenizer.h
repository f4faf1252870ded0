/* CLIP's tokenizer: byte-level BPE over a Hugging Face CLIP folder's vocab.json + merges.txt,
 * giving the same ids as OpenAI's clip/simple_tokenizer.py and clip.tokenize().
 *
 * Text -> ids, as SimpleTokenizer.encode does it:
 *   1. UTF-8 decode. Invalid bytes are not an error: each maximal invalid subpart becomes U+FFFD,
 *      exactly like Python's bytes.decode("utf-8", "replace") (an HDF5 fixed-length string cut in
 *      the middle of a character still tokenizes).
 *   2. Collapse each run of Unicode White_Space to one space, strip the ends (str.strip() set), then
 *      Python's str.lower() (full Unicode mapping; 'İ' -> "i̇"; Greek final sigma).
 *   3. Split like regex.findall(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|
 *      [\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+", IGNORECASE): first matching alternative wins, whitespace
 *      is dropped; every digit is its own piece; the typed special-token strings become their ids.
 *   4. Each piece: UTF-8 bytes -> byte-level symbols, "</w>" on the last; merge the adjacent pair of
 *      lowest merges.txt rank (all its occurrences, left to right) until no pair has a rank.
 * Not reproduced: ftfy.fix_text and html.unescape, which the original runs first. They are the
 * identity on plain NFC text without HTML entities (curly quotes, full-width forms, ligatures,
 * mojibake and entities such as "&amp;" are left as they are here).
 * Unicode data: Python's unicodedata, see unicode_tables.h.
 *
 * A loaded tokenizer is read-only: one may be shared by many threads. */
#ifndef MVLA_CLIP_TOKENIZER_H
#define MVLA_CLIP_TOKENIZER_H

#include <stddef.h>

#define CLIP_CONTEXT_LENGTH 77

typedef struct ClipTokenizer ClipTokenizer;

/* Loads folder/vocab.json and folder/merges.txt. Errors name the file (and the line of merges.txt,
 * the line:column of a JSON syntax error, or the offending vocab key). */
int clip_tokenizer_load(ClipTokenizer **out, const char *folder);
/* The same from two explicit paths. */
int clip_tokenizer_load_files(ClipTokenizer **out, const char *vocab_path, const char *merges_path);
/* The same from the two files' contents in memory (not NUL-terminated; the labels name them in errors),
 * e.g. the copies a model file carries. */
int clip_tokenizer_load_memory(ClipTokenizer **out, const char *vocab, size_t vocab_size, const char *merges,
                               size_t merges_size, const char *vocab_label, const char *merges_label);
void clip_tokenizer_free(ClipTokenizer *t);

/* The BPE ids of utf8 (NUL-terminated), without start/end tokens and without padding:
 * SimpleTokenizer.encode(text). *ids is malloc'd (free() it; NULL when *n_ids is 0). */
int clip_encode(const ClipTokenizer *t, const char *utf8, int **ids, int *n_ids);

/* clip.tokenize(text, context_length, truncate): ids[0..context_length) = [SOT] + encode(text) + [EOT],
 * padded with 0. *n_ids (may be NULL) = the length of [SOT] + encode(text) + [EOT] before any
 * truncation or padding (> context_length means the text was cut). When that is longer than
 * context_length: truncate != 0 keeps the first context_length ids and puts EOT in the last slot;
 * truncate == 0 fails with MVLA_ERR_ARG (ids untouched). context_length must be >= 2. */
int clip_tokenize(const ClipTokenizer *t, const char *utf8, int context_length, int *ids, int *n_ids,
                  int truncate);

/* SimpleTokenizer.decode: the ids' vocab strings joined, byte-level symbols turned back into bytes,
 * UTF-8 decoded (invalid sequences -> U+FFFD), and every "</w>" replaced by a space. Special tokens
 * come out as their text. *out is malloc'd. Fails (MVLA_ERR_ARG) on an id outside the vocabulary. */
int clip_decode(const ClipTokenizer *t, const int *ids, int n_ids, char **out);

/* Steps 1-2 above (decode, whitespace clean-up, lower-casing) as a malloc'd UTF-8 string: what the
 * pre-tokenizer sees. */
int clip_normalize_text(const char *utf8, char **out);

int clip_vocab_size(const ClipTokenizer *t);   /* 1 + the largest id in vocab.json */
int clip_merge_count(const ClipTokenizer *t);
int clip_sot_id(const ClipTokenizer *t);       /* <|startoftext|> (49406 for CLIP) */
int clip_eot_id(const ClipTokenizer *t);       /* <|endoftext|> (49407 for CLIP) */
/* The vocab.json string of id (byte-level symbols, "</w>" marks a word end), or NULL. */
const char *clip_token_text(const ClipTokenizer *t, int id);
/* The id of a vocab.json string, or -1. */
int clip_token_id(const ClipTokenizer *t, const char *token);

#endif
