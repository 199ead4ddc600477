/* The one logging module: lines on stderr with the journald priority prefix ("<3>" = error),
 * which journald turns into priorities under systemd. Any thread; a line is written with one
 * write() so lines of different threads do not interleave. */
#ifndef COLDCHAIN_LOG_H
#define COLDCHAIN_LOG_H

#include <stdarg.h>
#include <syslog.h>

/* Messages above this syslog priority are dropped. Default LOG_INFO. */
void log_set_level(int priority);
/* Parses "error", "warning", "notice", "info", "debug". 0 or -EINVAL. */
int log_level_parse(const char *name, int *priority_out);

/* Logs one message; the subject comes first: "modbus[bus0/unit3]: read failed: timed out". */
void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int priority, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
