#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char error_message[1024];

int mvla_fail(int code, const char *fmt, ...)
{
    /* Format into a scratch buffer first so a message may include mvla_error_message(). */
    char buf[sizeof error_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    memcpy(error_message, buf, sizeof buf);
    return code;
}

const char *mvla_error_message(void) { return error_message; }

void mvla_error_clear(void) { error_message[0] = '\0'; }

const char *mvla_status_name(int code)
{
    switch (code) {
    case MVLA_OK: return "ok";
    case MVLA_ERR_IO: return "io";
    case MVLA_ERR_FORMAT: return "format";
    case MVLA_ERR_ARG: return "argument";
    case MVLA_ERR_NOMEM: return "out of memory";
    case MVLA_ERR_UNSUPPORTED: return "unsupported";
    default: return "unknown";
    }
}
