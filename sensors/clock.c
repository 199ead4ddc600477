/* The wall clock's sync state and RFC 3339 timestamps (DESIGN §3, §7). Any thread. */
#include "clock.h"

#include <stdio.h>
#include <sys/timex.h>
#include <unistd.h>

bool clock_wall_synced(void)
{
    /* modes = 0 only reads the kernel's NTP state, which needs no privilege. The kernel keeps
     * STA_UNSYNC set until an NTP client (chrony, systemd-timesyncd) has disciplined the clock;
     * on a box without an RTC that is the difference between a 1970 timestamp and a real one. */
    struct timex tx = {0};
    if (ntp_adjtime(&tx) != -1)
        return (tx.status & STA_UNSYNC) == 0;
    /* Under systemd's ProtectClock= (our unit) even this read is refused (EPERM: systemd
     * issue #26413). systemd-timesyncd then says it: it creates this file once it has
     * synchronised the clock (timesyncd.conf(5)). chrony and ntpd write no such file. */
    return access("/run/systemd/timesync/synchronized", F_OK) == 0;
}

char *clock_format_rfc3339(int64_t ts_ms, char *buf, size_t cap)
{
    if (buf == NULL || cap == 0)
        return buf;
    /* Floor division, so -1 ms is 23:59:59.999 of the day before, not .-001. */
    int64_t sec = ts_ms / 1000;
    int64_t ms = ts_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    /* RFC 3339 has four-digit years: a timestamp outside years 0000..9999 (only a corrupt
     * value gets there) is clamped to the nearest end rather than printed in a longer form
     * that would not fit the documented 25 bytes. */
    bool ok = gmtime_r(&t, &tm) != NULL && tm.tm_year >= -1900 && tm.tm_year <= 9999 - 1900;
    if (!ok) {
        const char *end = sec > 0 ? "9999-12-31T23:59:59.999Z" : "0000-01-01T00:00:00.000Z";
        snprintf(buf, cap, "%s", end);
        return buf;
    }
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
    return buf;
}
