/* vocab.json in one pass (see clip_vocab.h). */
#include "models/clip_vocab.h"

#include "base/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *start, *p, *end, *path;
} Reader;

/* A syntax error at the reader's position, with line and column (1-based, columns in bytes). */
static int syntax(const Reader *r, const char *what)
{
    int line = 1, col = 1;
    for (const char *q = r->start; q < r->p && q < r->end; q++) {
        if (*q == '\n') line++, col = 1;
        else col++;
    }
    return mvla_fail(MVLA_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", r->path, line, col, what);
}

static void skip_ws(Reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not one. */
static int utf8_len(const unsigned char *s, size_t n)
{
    uint32_t c = s[0], cp;
    int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len <= 1 || (size_t)len > n) return len == 1;
    cp = c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static int put_utf8(uint32_t cp, char *out)
{
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) return out[0] = (char)(0xC0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12), out[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18), out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int hex4(Reader *r, uint32_t *out)
{
    if (r->end - r->p < 4) return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = r->p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint32_t)d;
    }
    r->p += 4;
    *out = v;
    return 0;
}

/* A string at r->p (on its opening quote), decoded into out (NUL-terminated); *n its length. */
static int read_string(Reader *r, char *out, size_t *n)
{
    size_t k = 0;
    r->p++;
    for (;;) {
        if (r->p >= r->end) return syntax(r, "unterminated string");
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            r->p++;
            break;
        }
        if (c < 0x20) return syntax(r, "control character in a string");
        if (c != '\\') {
            int len = utf8_len((const unsigned char *)r->p, (size_t)(r->end - r->p));
            if (!len) return syntax(r, "invalid UTF-8");
            memcpy(out + k, r->p, (size_t)len);
            k += (size_t)len, r->p += len;
            continue;
        }
        if (++r->p >= r->end) return syntax(r, "unterminated string");
        char e = *r->p++;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            out[k++] = map[simple - "\"\\/bfnrt"];
            continue;
        }
        if (e != 'u') return r->p--, syntax(r, "invalid escape");
        uint32_t cp, lo;
        if (hex4(r, &cp)) return syntax(r, "invalid \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u') return syntax(r, "lone surrogate in \\u escape");
            r->p += 2;
            if (hex4(r, &lo) || lo < 0xDC00 || lo > 0xDFFF) return syntax(r, "invalid surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
            return syntax(r, cp ? "lone surrogate in \\u escape" : "\\u0000 in a string");
        }
        k += (size_t)put_utf8(cp, out + k);
    }
    out[k] = 0;
    *n = k;
    return 0;
}

static int grow(ClipVocab *v, int *cap)
{
    int c = *cap ? 2 * *cap : 1024;
    char **k = realloc(v->keys, sizeof *k * (size_t)c);
    if (k) v->keys = k;
    int *ids = k ? realloc(v->ids, sizeof *ids * (size_t)c) : NULL;
    if (ids) v->ids = ids;
    if (!k || !ids) return mvla_fail(MVLA_ERR_NOMEM, "out of memory reading a vocabulary");
    *cap = c;
    return 0;
}

/* The value after a key: an integer in [0, max_id]; any other JSON value is a type error. */
static int read_id(Reader *r, const char *key, int max_id, int *id)
{
    const char *s = r->p;
    int neg = s < r->end && *s == '-';
    const char *d = s + neg;
    long long v = 0;
    int digits = 0;
    while (d < r->end && *d >= '0' && *d <= '9') {
        if (v <= (long long)max_id) v = v * 10 + (*d - '0');
        d++, digits++;
    }
    int fraction = d < r->end && (*d == '.' || *d == 'e' || *d == 'E');
    if (digits && !neg && !fraction && v <= max_id) {
        r->p = d;
        *id = (int)v;
        return 0;
    }
    if (digits || (s < r->end && strchr("\"tfn{[", *s) && *s))
        return mvla_fail(MVLA_ERR_FORMAT, "%s: token \"%s\": expected an integer id in [0, %d]", r->path, key, max_id);
    return syntax(r, "expected a value");
}

int clip_vocab_parse(const char *text, size_t size, int max_id, const char *path, ClipVocab *out)
{
    memset(out, 0, sizeof *out);
    Reader r = {text, text, text + size, path};
    skip_ws(&r);
    if (r.p >= r.end || *r.p != '{') {
        if (r.p < r.end && strchr("[\"-0123456789tfn", *r.p) && *r.p)
            return mvla_fail(MVLA_ERR_FORMAT, "%s: expected a JSON object {token: id}", path);
        return syntax(&r, r.p < r.end ? "expected '{'" : "empty file");
    }
    r.p++;
    if (!(out->pool = malloc(size + 1))) return mvla_fail(MVLA_ERR_NOMEM, "%s: out of memory", path);
    char *w = out->pool;
    int cap = 0, rc = 0;
    skip_ws(&r);
    if (r.p < r.end && *r.p == '}') r.p++;
    else
        for (;;) {
            skip_ws(&r);
            if (r.p >= r.end || *r.p != '"') {
                rc = syntax(&r, "expected a string key");
                break;
            }
            size_t n = 0;
            if ((rc = read_string(&r, w, &n))) break;
            skip_ws(&r);
            if (r.p >= r.end || *r.p != ':') {
                rc = syntax(&r, "expected ':'");
                break;
            }
            r.p++;
            skip_ws(&r);
            int id = 0;
            if ((rc = read_id(&r, w, max_id, &id))) break;
            if (out->n == cap && (rc = grow(out, &cap))) break;
            out->keys[out->n] = w;
            out->ids[out->n++] = id;
            w += n + 1;
            skip_ws(&r);
            if (r.p < r.end && *r.p == ',') {
                r.p++;
                continue;
            }
            if (r.p < r.end && *r.p == '}') {
                r.p++;
                break;
            }
            rc = syntax(&r, "expected ',' or '}'");
            break;
        }
    if (!rc) {
        skip_ws(&r);
        if (r.p < r.end) rc = syntax(&r, "end of file expected");
    }
    if (rc) clip_vocab_free(out);
    return rc;
}

void clip_vocab_free(ClipVocab *v)
{
    free(v->pool);
    free(v->keys);
    free(v->ids);
    memset(v, 0, sizeof *v);
}
