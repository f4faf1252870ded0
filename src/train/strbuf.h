/* A growable text buffer for the report writers (Markdown, HTML, SVG, tables). Appending never
 * fails loudly: on out of memory the buffer remembers it and strbuf_take returns NULL. */
#ifndef MVLA_STRBUF_H
#define MVLA_STRBUF_H

#include <stddef.h>

typedef struct {
    char *data;
    size_t len, cap;
    int oom;
} StrBuf;

void strbuf_init(StrBuf *b);
void strbuf_free(StrBuf *b);
/* printf-style append. */
void strbuf_printf(StrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_puts(StrBuf *b, const char *s);
/* Appends s with &, <, >, " escaped (for HTML and SVG text and attributes). */
void strbuf_xml(StrBuf *b, const char *s);
/* Appends s as one CSV field (RFC 4180): in double quotes, with quotes doubled, when it holds a comma,
 * a quote or a line break; else as is. */
void strbuf_csv(StrBuf *b, const char *s);
/* The text (malloc'd, the caller frees it; "" when empty), or NULL if an append ran out of memory.
 * The buffer is left empty either way. */
char *strbuf_take(StrBuf *b);

#endif
