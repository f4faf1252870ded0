/* Growable text buffer (see strbuf.h). */
#include "train/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(StrBuf *b) { memset(b, 0, sizeof *b); }

void strbuf_free(StrBuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static int reserve(StrBuf *b, size_t extra)
{
    if (b->oom) return 0;
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->oom = 1;
        return 0;
    }
    b->data = d;
    b->cap = cap;
    return 1;
}

void strbuf_printf(StrBuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void strbuf_puts(StrBuf *b, const char *s)
{
    size_t n = strlen(s);
    if (!reserve(b, n)) return;
    memcpy(b->data + b->len, s, n + 1);
    b->len += n;
}

void strbuf_xml(StrBuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': strbuf_puts(b, "&amp;"); break;
        case '<': strbuf_puts(b, "&lt;"); break;
        case '>': strbuf_puts(b, "&gt;"); break;
        case '"': strbuf_puts(b, "&quot;"); break;
        default:
            if (reserve(b, 1)) {
                b->data[b->len++] = *s;
                b->data[b->len] = 0;
            }
        }
    }
}

char *strbuf_take(StrBuf *b)
{
    char *d = b->data;
    if (b->oom) {
        free(d);
        d = NULL;
    } else if (!d) {
        d = calloc(1, 1);
    }
    memset(b, 0, sizeof *b);
    return d;
}

void strbuf_csv(StrBuf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        strbuf_puts(b, s);
        return;
    }
    strbuf_puts(b, "\"");
    for (const char *q; (q = strchr(s, '"')); s = q + 1) {
        strbuf_printf(b, "%.*s\"\"", (int)(q - s), s);
    }
    strbuf_puts(b, s);
    strbuf_puts(b, "\"");
}
