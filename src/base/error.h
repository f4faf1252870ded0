/* Errors: library code never prints or exits. It returns a status and leaves a message
 * (naming the file, field and what was expected) in a thread-local buffer for the caller. */
#ifndef MVLA_ERROR_H
#define MVLA_ERROR_H

typedef enum {
    MVLA_OK = 0,
    MVLA_ERR_IO,          /* a file could not be opened, read or written */
    MVLA_ERR_FORMAT,      /* a file's content is malformed */
    MVLA_ERR_ARG,         /* a caller passed something invalid (shape mismatch, bad option) */
    MVLA_ERR_NOMEM,       /* allocation failed */
    MVLA_ERR_UNSUPPORTED  /* valid but not handled (dtype, version) */
} mvla_status;

/* Sets the thread's error message (printf-style) and returns code, so callers can write
 * `return mvla_fail(MVLA_ERR_FORMAT, "%s: field %s: expected ...", path, field);`
 * The arguments may include mvla_error_message() itself, to add context to a deeper error. */
int mvla_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The message of the last failure on this thread ("" if none). */
const char *mvla_error_message(void);

/* Clears the message. */
void mvla_error_clear(void);

/* A short name for a status code ("io", "format", ...). */
const char *mvla_status_name(int code);

#endif
