/* coldchainctl's words for numbers, times and limits (ctlfmt.h). */
#include "ctlfmt.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reading.h"

char *ctlfmt_exact(double v, char *buf, size_t cap)
{
    if (!isfinite(v)) {
        snprintf(buf, cap, "%s", "");
        return buf;
    }
    /* 17 significant digits always read back exactly (IEEE 754 binary64); fewer often do, and
     * the shortest that does is what people expect to see. %g turns to an exponent when the
     * digits are fewer than the integer part needs ("3e+01" for 30): one more digit then. */
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, cap, "%.*g", digits, v);
        if (strtod(buf, NULL) == v && (strchr(buf, 'e') == NULL || fabs(v) < 1.0))
            break;
    }
    return buf;
}

char *ctlfmt_time(int64_t ts_ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ts_ms >= 0 ? ts_ms / 1000 : (ts_ms - 999) / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year > 9999 - 1900 || tm.tm_year < -1900) {
        snprintf(buf, cap, "%s", "?");
        return buf;
    }
    snprintf(buf, cap, "%04d-%02d-%02d %02d:%02d:%02d UTC", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

char *ctlfmt_duration(int64_t ms, char *buf, size_t cap)
{
    static const struct {
        int64_t s;
        const char *name;
    } units[] = {{86400, "d"}, {3600, "h"}, {60, "min"}, {1, "s"}};
    int64_t s = ms > 0 ? ms / 1000 : 0;
    size_t u = 0;
    while (u + 1 < sizeof(units) / sizeof(units[0]) && s < units[u].s)
        u++;
    int64_t big = s / units[u].s;
    int64_t rest = u + 1 < sizeof(units) / sizeof(units[0]) ? s % units[u].s / units[u + 1].s : 0;
    if (rest != 0)
        snprintf(buf, cap, "%" PRId64 " %s %" PRId64 " %s", big, units[u].name, rest,
                 units[u + 1].name);
    else
        snprintf(buf, cap, "%" PRId64 " %s", big, units[u].name);
    return buf;
}

const char *ctlfmt_condition(unsigned condition)
{
    switch (condition) {
    case ALARM_ABOVE:
        return "above";
    case ALARM_AT_OR_ABOVE:
        return "at or above";
    case ALARM_BELOW:
        return "below";
    case ALARM_AT_OR_BELOW:
        return "at or below";
    }
    return "?";
}

const char *ctlfmt_condition_name(const char *name)
{
    enum alarm_condition c;
    return alarm_condition_parse(name, &c) == 0 ? ctlfmt_condition(c) : name;
}

char *ctlfmt_alarm_rule(const struct alarm_def *def, char *buf, size_t cap)
{
    char limit[CTLFMT_EXACT_MAX], d1[CTLFMT_DURATION_MAX], d2[CTLFMT_DURATION_MAX];
    const char *unit = quantity_unit(def->quantity);
    const char *sp = unit[0] != '\0' ? " " : "";
    ctlfmt_exact(def->limit, limit, sizeof(limit));
    switch ((enum alarm_kind)def->kind) {
    case ALARM_KIND_THRESHOLD:
    case ALARM_KIND_BATTERY:
        if (def->delay_ms > 0)
            snprintf(buf, cap, "%s %s%s%s for %s", ctlfmt_condition(def->condition), limit, sp,
                     unit, ctlfmt_duration(def->delay_ms, d1, sizeof(d1)));
        else
            snprintf(buf, cap, "%s %s%s%s, at once", ctlfmt_condition(def->condition), limit, sp,
                     unit);
        break;
    case ALARM_KIND_BUDGET:
        snprintf(buf, cap, "%s %s%s%s for %s in total", ctlfmt_condition(def->condition), limit, sp,
                 unit, ctlfmt_duration(def->budget_ms, d1, sizeof(d1)));
        break;
    case ALARM_KIND_MKT:
        if (def->window_ms > 0)
            snprintf(buf, cap, "MKT over %s above %s °C",
                     ctlfmt_duration(def->window_ms, d1, sizeof(d1)), limit);
        else
            snprintf(buf, cap, "MKT over the shipment above %s °C", limit);
        break;
    case ALARM_KIND_RATE: {
        char rate[CTLFMT_EXACT_MAX];
        snprintf(buf, cap, "changes by more than %s%s%s within %s",
                 ctlfmt_exact(def->rate, rate, sizeof(rate)), sp, unit,
                 ctlfmt_duration(def->window_ms, d1, sizeof(d1)));
        break;
    }
    case ALARM_KIND_STALE:
        snprintf(buf, cap, "no reading for %s", ctlfmt_duration(def->stale_ms, d1, sizeof(d1)));
        break;
    case ALARM_KIND_FAULT:
        snprintf(buf, cap, "the probe cannot be read for %s",
                 ctlfmt_duration(def->delay_ms, d1, sizeof(d1)));
        break;
    case ALARM_KIND_DOOR:
        snprintf(buf, cap, "the door open longer than %s",
                 ctlfmt_duration(def->delay_ms, d1, sizeof(d1)));
        break;
    case ALARM_KIND_CALIBRATION:
        snprintf(buf, cap, "calibration due within %s",
                 ctlfmt_duration(def->cal_warn_ms[0], d2, sizeof(d2)));
        break;
    default:
        snprintf(buf, cap, "%s", alarm_kind_name(def->kind));
        break;
    }
    return buf;
}

void ctlfmt_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (*c < 0x20)
                fprintf(out, "\\u%04x", *c);
            else
                fputc(*c, out);
        }
    }
    fputc('"', out);
}
