/* The two clocks (STYLE §3): wall time stamps readings, CLOCK_MONOTONIC schedules work.
 * Any thread. Not for rules/ or decoders, which take time as an argument. */
#ifndef COLDCHAIN_CLOCK_H
#define COLDCHAIN_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Wall clock, ms since the Unix epoch. */
static inline int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CLOCK_MONOTONIC in ms: never jumps, meaningless across boots. */
static inline int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* True when the kernel says the wall clock is synchronised (adjtimex: no STA_UNSYNC). A box
 * without an RTC boots in 1970 or at its last shutdown time until NTP has run. */
bool clock_wall_synced(void);

/* Formats ts_ms as RFC 3339 UTC with milliseconds ("2026-11-22T18:37:09.123Z") into buf
 * (cap >= 25). Returns buf. */
char *clock_format_rfc3339(int64_t ts_ms, char *buf, size_t cap);

#endif
