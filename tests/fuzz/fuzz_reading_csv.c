/* Fuzz target for the replay CSV parser (DESIGN §11: every parser of outside input is fuzzed).
 * The input is a file: its first line goes to reading_csv_header(), the others to
 * reading_csv_line() and reading_csv_parse_ts(). Each line is copied into a heap block of
 * exactly its length, so ASan reports any read past len. Beyond not crashing, the contract:
 * - a return code from the documented set, and *out untouched unless a reading came back;
 * - -EINVAL with a message that is non-empty, NUL-terminated, printable ASCII;
 * - a reading with a valid sensor id, a known quantity, flags 0 with a finite value or
 *   READING_FAULT with NaN, and a time within 1970..9999;
 * - SKIP only for blank and '#' lines;
 * - round trips: the reading written back as a canonical line parses to the same bytes, and
 *   its time formatted by gmtime_r() (an independent calendar) parses to the same ms. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reading.h"
#include "reading_csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_err(const char *err)
{
    size_t n = strnlen(err, READING_CSV_ERR_MAX);
    if (n == 0 || n == READING_CSV_ERR_MAX)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] >= 0x7f)
            abort();
}

static void check_ts(int64_t ts_ms)
{
    if (ts_ms < 0 || ts_ms > READING_CSV_TS_MAX_MS)
        abort();
    /* gmtime_r() is the C library's calendar: our days_from_civil() must agree with it. */
    time_t t = (time_t)(ts_ms / 1000);
    struct tm tm;
    /* Room for any int in every field, so the format can never truncate (gcc checks). */
    char text[96];
    int64_t back = -1;
    if (gmtime_r(&t, &tm) == NULL)
        abort();
    snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts_ms % 1000));
    if (reading_csv_parse_ts(text, strlen(text), &back) != 0 || back != ts_ms)
        abort();
    snprintf(text, sizeof(text), "%lld", (long long)(ts_ms / 1000));
    if (reading_csv_parse_ts(text, strlen(text), &back) != 0 || back != ts_ms - ts_ms % 1000)
        abort();
}

static void check_reading(const struct reading *r)
{
    const char *end = memchr(r->sensor_id, '\0', sizeof(r->sensor_id));
    if (end == NULL || end == r->sensor_id || r->sensor_id[0] == '.')
        abort();
    for (const char *p = r->sensor_id; p < end; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            abort();
    for (const char *p = end; p < r->sensor_id + sizeof(r->sensor_id); p++)
        if (*p != '\0')
            abort();
    if (r->quantity >= QUANTITY_COUNT)
        abort();
    if (r->flags == READING_FAULT ? !isnan(r->value) : (r->flags != 0 || !isfinite(r->value)))
        abort();
    check_ts(r->ts_ms);

    /* Written back in the plainest form, the reading must parse to the same reading (%.17g gives
     * every double exactly; a fault is written as the empty value). */
    char line[160];
    char value[40] = "";
    if (r->flags == 0)
        snprintf(value, sizeof(value), "%.17g", r->value);
    snprintf(line, sizeof(line), "%lld,%s,%s,%s", (long long)(r->ts_ms / 1000), r->sensor_id,
             quantity_name(r->quantity), value);
    struct reading again;
    char err[READING_CSV_ERR_MAX];
    if (reading_csv_line(line, strlen(line), &again, err) != READING_CSV_READING)
        abort();
    /* Field by field: padding bytes carry no contract. Values compare bit for bit (-0 stays
     * -0); NaN payloads need not match. */
    if (memcmp(again.sensor_id, r->sensor_id, sizeof(r->sensor_id)) != 0 ||
        again.quantity != r->quantity || again.flags != r->flags ||
        again.ts_ms != r->ts_ms - r->ts_ms % 1000 ||
        (r->flags == 0 && memcmp(&again.value, &r->value, sizeof(r->value)) != 0))
        abort();
}

static bool blank_or_comment(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i < len && line[i] == '#')
        return true;
    /* What is left must be the line's end: "\n", "\r\n", "\r" or nothing. */
    size_t rest = len - i;
    return rest == 0 || (rest == 1 && (line[i] == '\n' || line[i] == '\r')) ||
           (rest == 2 && line[i] == '\r' && line[i + 1] == '\n');
}

static void run_line(const char *line, size_t len, bool header)
{
    char err[READING_CSV_ERR_MAX];
    memset(err, 0, sizeof(err));
    if (header) {
        int rc = reading_csv_header(line, len, err);
        if (rc == -EINVAL)
            check_err(err);
        else if (rc != 0)
            abort();
        return;
    }

    struct reading r, poisoned;
    memset(&poisoned, 0xA5, sizeof(poisoned));
    r = poisoned;
    int rc = reading_csv_line(line, len, &r, err);
    if (rc == READING_CSV_READING) {
        check_reading(&r);
    } else if (rc == READING_CSV_SKIP) {
        if (!blank_or_comment(line, len) || memcmp(&r, &poisoned, sizeof(r)) != 0)
            abort();
    } else if (rc == -EINVAL) {
        check_err(err);
        if (memcmp(&r, &poisoned, sizeof(r)) != 0)
            abort();
    } else {
        abort();
    }

    /* The whole line as a timestamp: usually refused, and then *ts_ms_out is left alone. */
    int64_t ts = INT64_MIN;
    rc = reading_csv_parse_ts(line, len, &ts);
    if (rc == 0)
        check_ts(ts);
    else if (rc != -EINVAL || ts != INT64_MIN)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t at = 0;
    bool header = true;
    while (at < size || header) {
        const char *nl = at < size ? memchr(text + at, '\n', size - at) : NULL;
        size_t len = nl ? (size_t)(nl - (text + at)) + 1 : size - at;
        /* An exact-size copy: reading one byte past len is a heap overflow ASan reports. */
        char *line = malloc(len ? len : 1);
        if (line == NULL)
            return 0;
        if (len > 0)
            memcpy(line, text + at, len);
        run_line(line, len, header);
        free(line);
        header = false;
        at += len;
    }
    return 0;
}
