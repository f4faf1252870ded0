#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char error_message[1024];

int mvla_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
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
