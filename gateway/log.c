/* stderr logging with journald priority prefixes (sd-daemon(3): "<N>" at the start of a line). */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static _Atomic int max_priority = LOG_INFO;

void log_set_level(int priority)
{
    max_priority = priority;
}

int log_level_parse(const char *name, int *priority_out)
{
    static const struct {
        const char *name;
        int priority;
    } levels[] = {
        {"error", LOG_ERR},   {"warning", LOG_WARNING}, {"notice", LOG_NOTICE},
        {"info", LOG_INFO},   {"debug", LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcmp(name, levels[i].name) == 0) {
            *priority_out = levels[i].priority;
            return 0;
        }
    }
    return -EINVAL;
}

void log_vmsg(int priority, const char *fmt, va_list ap)
{
    if (priority > max_priority)
        return;
    char line[1024];
    int n = snprintf(line, sizeof(line), "<%d>", priority);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2; /* truncated: keep the newline */
    line[len++] = '\n';
    /* One write per line; a failed write to stderr has nowhere to be reported. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void log_msg(int priority, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(priority, fmt, ap);
    va_end(ap);
}
