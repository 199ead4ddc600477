/* The readings CSV for replay: header check, line parser, and RFC 3339 / epoch timestamps
 * computed with our own calendar arithmetic, so no TZ setting or libc time function can change
 * a result. The format is described in reading_csv.h. */
#include "reading_csv.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_COUNT 4
#define SHOWN_MAX 40                   /* bytes of the input quoted in a message */
#define SHOWN_CAP (SHOWN_MAX + 4)      /* ... plus "..." and the NUL */
#define VALUE_MAX 63                   /* longest number accepted; no real reading needs more */
#define TS_MAX_S INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

static const char *const field_names[FIELD_COUNT] = {"ts", "sensor", "quantity", "value"};

struct field {
    const char *text; /* inside the quotes, if any, without the spaces around it */
    size_t len;
};

__attribute__((format(printf, 2, 3))) static int fail(char *err, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, READING_CSV_ERR_MAX, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* The input as it may be shown to a person: at most SHOWN_MAX bytes, and anything outside
 * printable ASCII (control characters, which could drive a terminal, and the bytes of UTF-8
 * sequences, which could be cut in half) as '?'. */
static const char *shown(char buf[SHOWN_CAP], const char *s, size_t len)
{
    size_t n = len < SHOWN_MAX ? len : SHOWN_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (len > SHOWN_MAX)
        memcpy(buf + n, "...", 4);
    else
        buf[n] = '\0';
    return buf;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Drops one trailing LF and then one CR, so both LF and CRLF files read the same. */
static size_t without_eol(const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    return len;
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_space((*s)[0])) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_space((*s)[*len - 1]))
        (*len)--;
}

/* "field 2 (sensor)", or "field 6" past the known ones. */
static const char *label(char buf[32], size_t index)
{
    if (index < FIELD_COUNT)
        snprintf(buf, 32, "field %zu (%s)", index + 1, field_names[index]);
    else
        snprintf(buf, 32, "field %zu", index + 1);
    return buf;
}

/* Splits line into fields, counting all of them in *count but keeping only the first
 * FIELD_COUNT. A field is either unquoted (no '"' in it) or one quoted string with optional
 * spaces around it. Commas inside quotes do not split, so a stray comma in a quoted sensor id
 * is reported as a bad sensor id rather than as a wrong field count. Returns 0 or -EINVAL with
 * err naming the field whose quoting is wrong. */
static int split(const char *line, size_t len, struct field fields[FIELD_COUNT], size_t *count,
                 char *err)
{
    char lab[32], got[SHOWN_CAP];
    size_t pos = 0, n = 0;

    for (;;) {
        struct field f;
        while (pos < len && is_space(line[pos]))
            pos++;
        size_t start = pos;
        if (pos < len && line[pos] == '"') {
            const char *close = memchr(line + pos + 1, '"', len - pos - 1);
            if (close == NULL)
                return fail(err, "%s: expected a closing quote, got \"%s\"", label(lab, n),
                            shown(got, line + start, len - start));
            f.text = line + pos + 1;
            f.len = (size_t)(close - f.text);
            pos = (size_t)(close - line) + 1;
            while (pos < len && is_space(line[pos]))
                pos++;
            if (pos < len && line[pos] != ',') {
                size_t end = pos;
                while (end < len && line[end] != ',')
                    end++;
                return fail(err,
                            "%s: expected \",\" or the line's end after the closing quote, "
                            "got \"%s\"",
                            label(lab, n), shown(got, line + start, end - start));
            }
        } else {
            while (pos < len && line[pos] != ',')
                pos++;
            f.text = line + start;
            f.len = pos - start;
            if (memchr(f.text, '"', f.len) != NULL) {
                trim(&f.text, &f.len);
                return fail(err, "%s: expected quotes only around the whole field, got \"%s\"",
                            label(lab, n), shown(got, f.text, f.len));
            }
        }
        trim(&f.text, &f.len);
        if (n < FIELD_COUNT)
            fields[n] = f;
        n++;
        if (pos >= len)
            break;
        pos++; /* the comma */
    }
    *count = n;
    return 0;
}

/* ---- time ---- */

enum ts_result { TS_OK, TS_SYNTAX, TS_INVALID, TS_RANGE };

static bool is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's
 * days_from_civil, http://howardhinnant.github.io/date_algorithms.html): years start in March
 * so the leap day is the last day of its year, and 400-year eras repeat exactly. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);                       /* [0, 399] */
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at s into *out; false if any is not a digit. */
static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

static enum ts_result parse_epoch(const char *s, size_t len, int64_t *ts_ms_out)
{
    bool negative = len > 0 && s[0] == '-';
    size_t i = negative ? 1 : 0;
    if (i == len)
        return TS_SYNTAX;
    int64_t sec = 0;
    for (; i < len; i++) {
        if (!is_digit(s[i]))
            return TS_SYNTAX;
        /* Stop accumulating once past the range, so any number of digits cannot overflow. */
        if (sec <= TS_MAX_S)
            sec = sec * 10 + (s[i] - '0');
    }
    /* "-0" too: a sign says the writer meant a time before 1970. */
    if (negative || sec > TS_MAX_S)
        return TS_RANGE;
    *ts_ms_out = sec * 1000;
    return TS_OK;
}

/* RFC 3339 section 5.6 date-time: full-date "T" full-time, with time-secfrac and
 * time-numoffset or "Z". Section 5.6 allows 't' and 'z' in lower case too. why (cap 48) says
 * what is wrong with a well-formed but impossible time. */
static enum ts_result parse_rfc3339(const char *s, size_t len, int64_t *ts_ms_out, char *why)
{
    unsigned year, month, day, hour, minute, second, ms = 0, off_h = 0, off_m = 0;
    int off_sign = 0;

    if (len < 20 || !digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &month) ||
        s[7] != '-' || !digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &hour) || s[13] != ':' || !digits(s + 14, 2, &minute) || s[16] != ':' ||
        !digits(s + 17, 2, &second))
        return TS_SYNTAX;
    size_t i = 19;
    if (s[i] == '.') {
        size_t first = ++i;
        while (i < len && is_digit(s[i])) {
            /* Milliseconds are all a reading keeps: further digits are truncated, not rounded,
             * so a time never moves into the next second (or day, or year). */
            if (i - first < 3)
                ms = ms * 10 + (unsigned)(s[i] - '0');
            i++;
        }
        if (i == first)
            return TS_SYNTAX;
        for (size_t k = i - first; k < 3; k++)
            ms *= 10;
    }
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        off_sign = s[i] == '+' ? 1 : -1;
        if (len - i < 6 || !digits(s + i + 1, 2, &off_h) || s[i + 3] != ':' ||
            !digits(s + i + 4, 2, &off_m))
            return TS_SYNTAX;
        i += 6;
    } else {
        return TS_SYNTAX;
    }
    if (i != len)
        return TS_SYNTAX;

    if (month < 1 || month > 12) {
        snprintf(why, 48, "no month %02u", month);
        return TS_INVALID;
    }
    if (day < 1 || day > days_in_month(year, month)) {
        if (month == 2 && day == 29)
            snprintf(why, 48, "%04u is not a leap year", year);
        else
            snprintf(why, 48, "no day %02u in month %02u", day, month);
        return TS_INVALID;
    }
    if (hour > 23) {
        snprintf(why, 48, "hour %02u is past 23", hour);
        return TS_INVALID;
    }
    if (minute > 59) {
        snprintf(why, 48, "minute %02u is past 59", minute);
        return TS_INVALID;
    }
    /* RFC 3339 allows second 60 for a leap second, but Unix time (and so ts_ms) has no leap
     * second to put it in, and the clocks that stamp readings never produce one. Rather than
     * quietly folding it into :59.999 or the next second, the line is rejected. */
    if (second > 59) {
        snprintf(why, 48, "second %02u is past 59 (no leap seconds)", second);
        return TS_INVALID;
    }
    if (off_h > 23 || off_m > 59) {
        snprintf(why, 48, "offset %02u:%02u is past 23:59", off_h, off_m);
        return TS_INVALID;
    }

    /* Years 0000-9999 keep every term far inside int64_t. -00:00 ("offset unknown", RFC 3339
     * section 4.3) names the same instant as Z. */
    int64_t days = days_from_civil(year, month, day);
    int64_t sec = ((days * 24 + hour) * 60 + minute) * 60 + second;
    sec -= (int64_t)off_sign * ((int64_t)off_h * 60 + off_m) * 60;
    int64_t ts_ms = sec * 1000 + ms;
    if (ts_ms < 0 || ts_ms > READING_CSV_TS_MAX_MS)
        return TS_RANGE;
    *ts_ms_out = ts_ms;
    return TS_OK;
}

static enum ts_result parse_ts(const char *s, size_t len, int64_t *ts_ms_out, char *why)
{
    /* RFC 3339 has its first '-' after the four-digit year; anything else, including a
     * leading sign, is read as epoch seconds (both forms share the syntax message). */
    bool epoch = len > 0 && (s[0] == '-' || len < 5 || s[4] != '-');
    if (epoch)
        return parse_epoch(s, len, ts_ms_out);
    return parse_rfc3339(s, len, ts_ms_out, why);
}

int reading_csv_parse_ts(const char *text, size_t len, int64_t *ts_ms_out)
{
    char why[48];
    if ((text == NULL && len > 0) || ts_ms_out == NULL)
        return -EINVAL;
    if (text == NULL)
        text = ""; /* even NULL + 0 is undefined behaviour */
    return parse_ts(text, len, ts_ms_out, why) == TS_OK ? 0 : -EINVAL;
}

/* ---- fields ---- */

static int parse_ts_field(const struct field *f, int64_t *ts_ms_out, char *err)
{
    char got[SHOWN_CAP], why[48];
    switch (parse_ts(f->text, f->len, ts_ms_out, why)) {
    case TS_OK:
        return 0;
    case TS_INVALID:
        return fail(err, "field 1 (ts): expected a valid date and time, got \"%s\" (%s)",
                    shown(got, f->text, f->len), why);
    case TS_RANGE:
        return fail(err,
                    "field 1 (ts): expected a time from 1970-01-01T00:00:00Z through "
                    "9999-12-31T23:59:59.999Z, got \"%s\"",
                    shown(got, f->text, f->len));
    case TS_SYNTAX:
    default:
        return fail(err,
                    "field 1 (ts): expected RFC 3339 like 2026-01-05T08:00:00Z or epoch seconds, "
                    "got \"%s\"",
                    shown(got, f->text, f->len));
    }
}

/* The config's sensor id rule (cfg_is_identifier()): a leading '.' is refused because ids
 * become file names elsewhere. */
static int parse_sensor(const struct field *f, char id_out[READING_SENSOR_ID_MAX], char *err)
{
    char got[SHOWN_CAP];
    bool ok = f->len >= 1 && f->len < READING_SENSOR_ID_MAX && f->text[0] != '.';
    for (size_t i = 0; ok && i < f->len; i++) {
        char c = f->text[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
             c == '.' || c == '-';
    }
    if (!ok)
        return fail(err,
                    "field 2 (sensor): expected a sensor id (1-%d of A-Z a-z 0-9 _ . -, not "
                    "starting with \".\"), got \"%s\"",
                    READING_SENSOR_ID_MAX - 1, shown(got, f->text, f->len));
    memcpy(id_out, f->text, f->len);
    id_out[f->len] = '\0';
    return 0;
}

static int parse_quantity(const struct field *f, uint8_t *quantity_out, char *err)
{
    char name[16], got[SHOWN_CAP], choices[80];
    /* quantity_parse() needs a C string; a NUL inside the field must not cut "door\0x" down to
     * a valid "door". */
    if (f->len < sizeof(name) && memchr(f->text, '\0', f->len) == NULL) {
        memcpy(name, f->text, f->len);
        name[f->len] = '\0';
        if (quantity_parse(name, quantity_out) == 0)
            return 0;
    }
    /* The choices come from reading.c, so a new quantity is listed without touching this. */
    size_t used = 0;
    choices[0] = '\0';
    for (unsigned q = 0; q < QUANTITY_COUNT && used < sizeof(choices); q++) {
        const char *sep = q == 0 ? "" : q + 1 == QUANTITY_COUNT ? " or " : ", ";
        int n = snprintf(choices + used, sizeof(choices) - used, "%s%s", sep, quantity_name(q));
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return fail(err, "field 3 (quantity): expected %s, got \"%s\"", choices,
                shown(got, f->text, f->len));
}

static bool is_fault_word(const char *s, size_t len)
{
    static const char word[] = "fault";
    if (len != sizeof(word) - 1)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        if (c != word[i])
            return false;
    }
    return true;
}

/* [+-] digits [. digits] [(e|E) [+-] digits], at least one mantissa digit, ".5" and "5." too:
 * the decimal subset of what strtod() takes. Checked first because strtod() also takes hex
 * floats, "inf", "nan" and leading spaces, none of which a reading file should carry. */
static bool is_decimal(const char *s, size_t len)
{
    size_t i = 0, mantissa = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    for (; i < len && is_digit(s[i]); i++)
        mantissa++;
    if (i < len && s[i] == '.')
        for (i++; i < len && is_digit(s[i]); i++)
            mantissa++;
    if (mantissa == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t exponent = 0;
        for (; i < len && is_digit(s[i]); i++)
            exponent++;
        if (exponent == 0)
            return false;
    }
    return i == len;
}

static int parse_value(const struct field *f, double *value_out, uint8_t *flags_out, char *err)
{
    char buf[VALUE_MAX + 1], got[SHOWN_CAP];
    const char *why = "";

    if (f->len == 0 || is_fault_word(f->text, f->len)) {
        /* glibc's NAN is a float; the cast keeps -Wdouble-promotion quiet. */
        *value_out = (double)NAN;
        *flags_out = READING_FAULT;
        return 0;
    }
    if (f->len > VALUE_MAX) {
        why = " (too long)";
    } else if (is_decimal(f->text, f->len)) {
        memcpy(buf, f->text, f->len);
        buf[f->len] = '\0';
        /* The gateway never calls setlocale(), so strtod() reads '.' as the decimal point. An
         * end short of the text would mean some other locale is active; that is refused too. */
        char *end;
        double v = strtod(buf, &end);
        if (end == buf + f->len && isfinite(v)) {
            *value_out = v;
            *flags_out = 0;
            return 0;
        }
        /* Overflow gives ±HUGE_VAL; underflow gives a finite value near 0, which is kept. */
        why = " (out of range)";
    }
    return fail(err,
                "field 4 (value): expected a decimal number, \"fault\" or nothing, got \"%s\"%s",
                shown(got, f->text, f->len), why);
}

/* ---- lines ---- */

int reading_csv_header(const char *line, size_t len, char err[READING_CSV_ERR_MAX])
{
    static const char bom[] = "\xEF\xBB\xBF";
    struct field fields[FIELD_COUNT];
    size_t count = 0;
    char got[SHOWN_CAP];

    if (line == NULL && len > 0)
        return fail(err, "header: no line given");
    if (line == NULL)
        line = ""; /* an empty line may come as NULL, 0; even NULL + 0 is undefined behaviour */
    /* Spreadsheet programs write a UTF-8 byte order mark at the start of a CSV file. */
    if (len >= 3 && memcmp(line, bom, 3) == 0) {
        line += 3;
        len -= 3;
    }
    len = without_eol(line, len);
    bool ok = split(line, len, fields, &count, NULL) == 0 && count == FIELD_COUNT;
    for (size_t i = 0; ok && i < FIELD_COUNT; i++)
        ok = fields[i].len == strlen(field_names[i]) &&
             memcmp(fields[i].text, field_names[i], fields[i].len) == 0;
    if (!ok)
        return fail(err, "header: expected \"ts,sensor,quantity,value\", got \"%s\"",
                    shown(got, line, len));
    return 0;
}

int reading_csv_line(const char *line, size_t len, struct reading *out,
                     char err[READING_CSV_ERR_MAX])
{
    struct field fields[FIELD_COUNT];
    struct reading r = {0};
    size_t count = 0;
    int rc;

    if ((line == NULL && len > 0) || out == NULL)
        return fail(err, "reading_csv_line: no line or no output given");
    if (line == NULL)
        line = ""; /* an empty line may come as NULL, 0; even NULL + 0 is undefined behaviour */
    len = without_eol(line, len);
    size_t first = 0;
    while (first < len && is_space(line[first]))
        first++;
    if (first == len || line[first] == '#')
        return READING_CSV_SKIP;

    rc = split(line, len, fields, &count, err);
    if (rc < 0)
        return rc;
    if (count != FIELD_COUNT)
        return fail(err, "expected 4 fields (ts,sensor,quantity,value), got %zu", count);
    rc = parse_ts_field(&fields[0], &r.ts_ms, err);
    if (rc < 0)
        return rc;
    rc = parse_sensor(&fields[1], r.sensor_id, err);
    if (rc < 0)
        return rc;
    rc = parse_quantity(&fields[2], &r.quantity, err);
    if (rc < 0)
        return rc;
    rc = parse_value(&fields[3], &r.value, &r.flags, err);
    if (rc < 0)
        return rc;
    *out = r;
    return READING_CSV_READING;
}
