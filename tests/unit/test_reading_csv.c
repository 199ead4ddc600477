/* The replay CSV parser: every accepted form of each field, the exact milliseconds of RFC 3339
 * and epoch stamps (constants checked with `date -u -d ... +%s` and Python's datetime), skipped
 * lines, header variants, and bad lines whose messages name the field and what it expected.
 * Timestamps are also checked against glibc's gmtime_r() for every day from 1970 to 9999. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cunit_main.h"
#include "reading.h"
#include "reading_csv.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define T0 INT64_C(1767600000000) /* 2026-01-05T08:00:00Z */
#define FAULT (-1.0)              /* in the tables: expect READING_FAULT and NaN */

/* Fills a reading with a pattern, to show that a failed or skipped parse leaves it alone. */
static void poison(struct reading *r)
{
    memset(r, 0xA5, sizeof(*r));
}

static int is_poisoned(const struct reading *r)
{
    struct reading p;
    poison(&p);
    return memcmp(r, &p, sizeof(p)) == 0;
}

/* Parses a copy of text in a heap block of exactly its length, so ASan reports any read past
 * len: the parser must not rely on a NUL. */
static int parse_exact(const char *text, struct reading *out, char *err)
{
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    memcpy(copy, text, len);
    int rc = reading_csv_line(copy, len, out, err);
    free(copy);
    return rc;
}

static int header_exact(const char *text, char *err)
{
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    memcpy(copy, text, len);
    int rc = reading_csv_header(copy, len, err);
    free(copy);
    return rc;
}

/* A message fit for a terminal: not empty, not cut short, printable ASCII only. */
static int message_is_clean(const char *err)
{
    size_t n = strnlen(err, READING_CSV_ERR_MAX);
    if (n == 0 || n >= READING_CSV_ERR_MAX - 1)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] >= 0x7f)
            return 0;
    return 1;
}

/* ---- good lines ---- */

static const struct {
    const char *line;
    int64_t ts_ms;
    const char *sensor;
    uint8_t quantity;
    double value; /* FAULT: a faulted reading */
} good_lines[] = {
    /* every timestamp form */
    {"2026-01-05T08:00:00Z,T1,temperature,4.5", T0, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"2026-01-05t08:00:00z,T1,temperature,4.5", T0, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"2026-01-05T08:00:00.250Z,T1,temperature,4.5", T0 + 250, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"2026-01-05T08:00:00.1Z,T1,temperature,4.5", T0 + 100, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"2026-01-05T08:00:00.12Z,T1,temperature,4.5", T0 + 120, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"2026-01-05T08:00:00.999999999Z,T1,temperature,4.5", T0 + 999, "T1", QUANTITY_TEMPERATURE,
     4.5}, /* truncated, not rounded into the next second */
    {"2026-01-05T09:00:00+01:00,T1,temperature,4.5", T0, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"2026-01-05T02:30:00-05:30,T1,temperature,4.5", T0, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"2026-01-05T08:00:00-00:00,T1,temperature,4.5", T0, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"2026-01-05T09:00:00.5+01:00,T1,temperature,4.5", T0 + 500, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"1767600000,T1,temperature,4.5", T0, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"0001767600000,T1,temperature,4.5", T0, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"0,T1,temperature,4.5", 0, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"1970-01-01T00:00:00Z,T1,temperature,4.5", 0, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"1970-01-01T01:00:00+01:00,T1,temperature,4.5", 0, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"2024-02-29T12:00:00Z,T1,temperature,4.5", INT64_C(1709208000000), "T1", QUANTITY_TEMPERATURE,
     4.5},
    {"2000-02-29T00:00:00Z,T1,temperature,4.5", INT64_C(951782400000), "T1", QUANTITY_TEMPERATURE,
     4.5},
    {"2100-03-01T00:00:00Z,T1,temperature,4.5", INT64_C(4107542400000), "T1", QUANTITY_TEMPERATURE,
     4.5},
    {"2024-12-31T23:30:00-01:00,T1,temperature,4.5", INT64_C(1735691400000), "T1",
     QUANTITY_TEMPERATURE, 4.5}, /* the offset moves it into the next year */
    {"1999-12-31T23:59:59+14:00,T1,temperature,4.5", INT64_C(946634399000), "T1",
     QUANTITY_TEMPERATURE, 4.5},
    {"2038-01-19T03:14:08Z,T1,temperature,4.5", INT64_C(2147483648000), "T1", QUANTITY_TEMPERATURE,
     4.5}, /* one past 32-bit time_t */
    {"9999-12-31T23:59:59.999Z,T1,temperature,4.5", READING_CSV_TS_MAX_MS, "T1",
     QUANTITY_TEMPERATURE, 4.5},
    {"253402300799,T1,temperature,4.5", INT64_C(253402300799000), "T1", QUANTITY_TEMPERATURE, 4.5},
    /* line ends, spaces and quotes */
    {"2026-01-05T08:00:00Z,T1,temperature,4.5\n", T0, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"2026-01-05T08:00:00Z,T1,temperature,4.5\r\n", T0, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"2026-01-05T08:00:00Z,T1,temperature,4.5\r", T0, "T1", QUANTITY_TEMPERATURE, 4.5},
    {"  2026-01-05T08:00:00Z , T1 ,\ttemperature\t, 4.5  \r\n", T0, "T1", QUANTITY_TEMPERATURE,
     4.5},
    {"\"2026-01-05T08:00:00Z\",\"T1\",\"temperature\",\"4.5\"", T0, "T1", QUANTITY_TEMPERATURE,
     4.5},
    {" \"2026-01-05T08:00:00Z\" , \" T1 \" ,\"temperature\" ,  \"4.5\"\r\n", T0, "T1",
     QUANTITY_TEMPERATURE, 4.5},
    /* sensor ids */
    {"2026-01-05T08:00:00Z,fridge-2.probe_A,temperature,4.5", T0, "fridge-2.probe_A",
     QUANTITY_TEMPERATURE, 4.5},
    {"2026-01-05T08:00:00Z,0123456789012345678901234567890,temperature,4.5", T0,
     "0123456789012345678901234567890", QUANTITY_TEMPERATURE, 4.5}, /* 31 characters */
    {"2026-01-05T08:00:00Z,a.,temperature,4.5", T0, "a.", QUANTITY_TEMPERATURE, 4.5},
    {"2026-01-05T08:00:00Z,-,temperature,4.5", T0, "-", QUANTITY_TEMPERATURE, 4.5},
    /* each quantity */
    {"2026-01-05T08:00:00Z,H1,humidity,65.25", T0, "H1", QUANTITY_HUMIDITY, 65.25},
    {"2026-01-05T08:00:00Z,D1,door,1", T0, "D1", QUANTITY_DOOR, 1.0},
    {"2026-01-05T08:00:00Z,D1,door,0", T0, "D1", QUANTITY_DOOR, 0.0},
    {"2026-01-05T08:00:00Z,B1,battery,87", T0, "B1", QUANTITY_BATTERY, 87.0},
    /* number forms */
    {"2026-01-05T08:00:00Z,T1,temperature,-18.25", T0, "T1", QUANTITY_TEMPERATURE, -18.25},
    {"2026-01-05T08:00:00Z,T1,temperature,+3", T0, "T1", QUANTITY_TEMPERATURE, 3.0},
    {"2026-01-05T08:00:00Z,T1,temperature,.5", T0, "T1", QUANTITY_TEMPERATURE, 0.5},
    {"2026-01-05T08:00:00Z,T1,temperature,5.", T0, "T1", QUANTITY_TEMPERATURE, 5.0},
    {"2026-01-05T08:00:00Z,T1,temperature,1.5e1", T0, "T1", QUANTITY_TEMPERATURE, 15.0},
    {"2026-01-05T08:00:00Z,T1,temperature,25E-1", T0, "T1", QUANTITY_TEMPERATURE, 2.5},
    {"2026-01-05T08:00:00Z,T1,temperature,1e+2", T0, "T1", QUANTITY_TEMPERATURE, 100.0},
    {"2026-01-05T08:00:00Z,T1,temperature,007", T0, "T1", QUANTITY_TEMPERATURE, 7.0},
    {"2026-01-05T08:00:00Z,T1,temperature,-0", T0, "T1", QUANTITY_TEMPERATURE, -0.0},
    {"2026-01-05T08:00:00Z,T1,temperature,1e-400", T0, "T1", QUANTITY_TEMPERATURE, 0.0},
    /* faults */
    {"2026-01-05T08:00:00Z,T1,temperature,fault", T0, "T1", QUANTITY_TEMPERATURE, FAULT},
    {"2026-01-05T08:00:00Z,T1,temperature,FAULT", T0, "T1", QUANTITY_TEMPERATURE, FAULT},
    {"2026-01-05T08:00:00Z,T1,temperature,Fault\r\n", T0, "T1", QUANTITY_TEMPERATURE, FAULT},
    {"2026-01-05T08:00:00Z,T1,temperature,\"fault\"", T0, "T1", QUANTITY_TEMPERATURE, FAULT},
    {"2026-01-05T08:00:00Z,T1,temperature,", T0, "T1", QUANTITY_TEMPERATURE, FAULT},
    {"2026-01-05T08:00:00Z,T1,temperature,  \r\n", T0, "T1", QUANTITY_TEMPERATURE, FAULT},
    {"2026-01-05T08:00:00Z,T1,temperature,\"\"", T0, "T1", QUANTITY_TEMPERATURE, FAULT},
    {"2026-01-05T08:00:00Z,D1,door,fault", T0, "D1", QUANTITY_DOOR, FAULT},
};

static void test_good_lines_give_every_field(void)
{
    for (size_t i = 0; i < ARRAY_LEN(good_lines); i++) {
        struct reading r;
        char err[READING_CSV_ERR_MAX] = "";
        poison(&r);
        int rc = parse_exact(good_lines[i].line, &r, err);
        int ok = rc == READING_CSV_READING && r.ts_ms == good_lines[i].ts_ms &&
                 strcmp(r.sensor_id, good_lines[i].sensor) == 0 &&
                 r.quantity == good_lines[i].quantity;
        if (good_lines[i].value == FAULT)
            ok = ok && r.flags == READING_FAULT && isnan(r.value);
        else
            ok = ok && r.flags == 0 && r.value == good_lines[i].value &&
                 !signbit(r.value) == !signbit(good_lines[i].value);
        /* The id is zero-padded, so readings compare and hash by bytes. */
        size_t id_len = strlen(good_lines[i].sensor);
        for (size_t k = id_len; ok && k < sizeof(r.sensor_id); k++)
            ok = r.sensor_id[k] == '\0';
        CU_ASSERT(ok);
        if (!ok)
            fprintf(stderr,
                    "\n  line %zu \"%s\": rc %d ts %lld id \"%.31s\" q %u flags %u "
                    "value %g err \"%s\"\n",
                    i, good_lines[i].line, rc, (long long)r.ts_ms, r.sensor_id, r.quantity, r.flags,
                    r.value, err);
    }
}

/* ---- skipped lines ---- */

static const char *const skipped_lines[] = {
    "",
    "\n",
    "\r\n",
    "\r",
    "   ",
    " \t \r\n",
    "#",
    "# ts,sensor,quantity,value\n",
    "#2026-01-05T08:00:00Z,T1,temperature,4.5",
    "   # indented comment\r\n",
    "#,,,,,,\"unbalanced",
};

static void test_blank_and_comment_lines_are_skipped(void)
{
    for (size_t i = 0; i < ARRAY_LEN(skipped_lines); i++) {
        struct reading r;
        char err[READING_CSV_ERR_MAX] = "";
        poison(&r);
        int rc = parse_exact(skipped_lines[i], &r, err);
        CU_ASSERT_EQUAL(rc, READING_CSV_SKIP);
        CU_ASSERT(is_poisoned(&r));
        if (rc != READING_CSV_SKIP)
            fprintf(stderr, "\n  skipped line %zu: rc %d err \"%s\"\n", i, rc, err);
    }
    /* An empty line may come without a buffer at all. */
    struct reading r;
    CU_ASSERT_EQUAL(reading_csv_line(NULL, 0, &r, NULL), READING_CSV_SKIP);
}

/* ---- bad lines ---- */

static const struct {
    const char *line;
    const char *message; /* the start of the message (the whole of it where it ends in '"') */
} bad_lines[] = {
    /* field count */
    {"2026-01-05T08:00:00Z,T1,temperature", "expected 4 fields (ts,sensor,quantity,value), got 3"},
    {"2026-01-05T08:00:00Z,T1,temperature,4.5,extra",
     "expected 4 fields (ts,sensor,quantity,value), got 5"},
    {"2026-01-05T08:00:00Z,T1,temperature,4.5,", "expected 4 fields"},
    {"2026-01-05T08:00:00Z", "expected 4 fields (ts,sensor,quantity,value), got 1"},
    {"2026-01-05T08:00:00Z;T1;temperature;4.5", "expected 4 fields"},
    {"2026-01-05T08:00:00Z,T1,temperature,4,5", "expected 4 fields"}, /* decimal comma */
    /* quoting */
    {"2026-01-05T08:00:00Z,\"T1,temperature,4.5",
     "field 2 (sensor): expected a closing quote, got \"\"T1,temperature,4.5\""},
    {"2026-01-05T08:00:00Z,\"T1\"x,temperature,4.5",
     "field 2 (sensor): expected \",\" or the line's end after the closing quote, got "
     "\"\"T1\"x\""},
    {"2026-01-05T08:00:00Z,T\"1,temperature,4.5",
     "field 2 (sensor): expected quotes only around the whole field, got \"T\"1\""},
    {"2026-01-05T08:00:00Z,T1,temperature,4.5\"",
     "field 4 (value): expected quotes only around the whole field"},
    {"2026-01-05T08:00:00Z,\"T\"\"1\",temperature,4.5",
     "field 2 (sensor): expected \",\" or the line's end"}, /* no "" escapes */
    {"2026-01-05T08:00:00Z,\"T,1\",temperature,4.5",
     "field 2 (sensor): expected a sensor id"}, /* a comma in quotes does not split */
    {"2026-01-05T08:00:00Z,T1,temperature,4.5,\"x", "field 5: expected a closing quote"},
    /* ts */
    {"yesterday,T1,temperature,4.5", "field 1 (ts): expected RFC 3339 like 2026-01-05T08:00:00Z "
                                     "or epoch seconds, got \"yesterday\""},
    {",T1,temperature,4.5", "field 1 (ts): expected RFC 3339 like 2026-01-05T08:00:00Z or epoch "
                            "seconds, got \"\""},
    {"2026-01-05,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"2026-01-05T08:00:00,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"2026-01-05 08:00:00Z,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"2026-01-05T08:00Z,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"2026-1-05T08:00:00Z,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"20260105T080000Z,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"+2026-01-05T08:00:00Z,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"2026-01-05T08:00:00.Z,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"2026-01-05T08:00:00+0100,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"2026-01-05T08:00:00+01,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"2026-01-05T08:00:00ZZ,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"2026-01-05T08:00:00Z ms,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"2026-01-05T08:00:00 Z,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"1767600000.5,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"+1767600000,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"0x10,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"-,T1,temperature,4.5", "field 1 (ts): expected RFC 3339"},
    {"2026-02-29T08:00:00Z,T1,temperature,4.5",
     "field 1 (ts): expected a valid date and time, got \"2026-02-29T08:00:00Z\" (2026 is not a "
     "leap year)"},
    {"2100-02-29T08:00:00Z,T1,temperature,4.5", "field 1 (ts): expected a valid date and time, "
                                                "got \"2100-02-29T08:00:00Z\" (2100 is not"},
    {"2026-04-31T08:00:00Z,T1,temperature,4.5",
     "field 1 (ts): expected a valid date and time, got \"2026-04-31T08:00:00Z\" (no day 31 in "
     "month 04)"},
    {"2026-02-30T08:00:00Z,T1,temperature,4.5", "(no day 30 in month 02)"},
    {"2026-01-00T08:00:00Z,T1,temperature,4.5", "(no day 00 in month 01)"},
    {"2026-13-01T08:00:00Z,T1,temperature,4.5", "(no month 13)"},
    {"2026-00-01T08:00:00Z,T1,temperature,4.5", "(no month 00)"},
    {"2026-01-05T24:00:00Z,T1,temperature,4.5", "(hour 24 is past 23)"},
    {"2026-01-05T08:60:00Z,T1,temperature,4.5", "(minute 60 is past 59)"},
    {"2016-12-31T23:59:60Z,T1,temperature,4.5", "(second 60 is past 59 (no leap seconds))"},
    {"2026-01-05T08:00:00+24:00,T1,temperature,4.5", "(offset 24:00 is past 23:59)"},
    {"2026-01-05T08:00:00-01:60,T1,temperature,4.5", "(offset 01:60 is past 23:59)"},
    {"1969-12-31T23:59:59.999Z,T1,temperature,4.5",
     "field 1 (ts): expected a time from 1970-01-01T00:00:00Z through 9999-12-31T23:59:59.999Z, "
     "got \"1969-12-31T23:59:59.999Z\""},
    {"1970-01-01T00:59:59+01:00,T1,temperature,4.5", "field 1 (ts): expected a time from 1970"},
    {"0000-01-01T00:00:00Z,T1,temperature,4.5", "field 1 (ts): expected a time from 1970"},
    {"9999-12-31T23:59:59-00:01,T1,temperature,4.5", "field 1 (ts): expected a time from 1970"},
    {"-1,T1,temperature,4.5", "field 1 (ts): expected a time from 1970"},
    {"-0,T1,temperature,4.5", "field 1 (ts): expected a time from 1970"},
    {"253402300800,T1,temperature,4.5", "field 1 (ts): expected a time from 1970"},
    {"1767600000000,T1,temperature,4.5", "field 1 (ts): expected a time from 1970"}, /* ms */
    {"99999999999999999999999999999999,T1,temperature,4.5", "field 1 (ts): expected a time"},
    /* sensor */
    {"2026-01-05T08:00:00Z,,temperature,4.5",
     "field 2 (sensor): expected a sensor id (1-31 of A-Z a-z 0-9 _ . -, not starting with "
     "\".\"), got \"\""},
    {"2026-01-05T08:00:00Z,01234567890123456789012345678901,temperature,4.5",
     "field 2 (sensor): expected a sensor id (1-31 of A-Z a-z 0-9 _ . -, not starting with "
     "\".\"), got \"01234567890123456789012345678901\""},
    {"2026-01-05T08:00:00Z,.hidden,temperature,4.5", "field 2 (sensor): expected a sensor id"},
    {"2026-01-05T08:00:00Z,..,temperature,4.5", "field 2 (sensor): expected a sensor id"},
    {"2026-01-05T08:00:00Z,T 1,temperature,4.5", "field 2 (sensor): expected a sensor id"},
    {"2026-01-05T08:00:00Z,T/1,temperature,4.5", "field 2 (sensor): expected a sensor id"},
    {"2026-01-05T08:00:00Z,T\xc3\xa9,temperature,4.5",
     "field 2 (sensor): expected a sensor id (1-31 of A-Z a-z 0-9 _ . -, not starting with "
     "\".\"), got \"T??\""},
    /* quantity */
    {"2026-01-05T08:00:00Z,T1,temp,4.5",
     "field 3 (quantity): expected temperature, humidity, door or battery, got \"temp\""},
    {"2026-01-05T08:00:00Z,T1,Temperature,4.5", "field 3 (quantity): expected temperature"},
    {"2026-01-05T08:00:00Z,T1,,4.5",
     "field 3 (quantity): expected temperature, humidity, door or battery, got \"\""},
    {"2026-01-05T08:00:00Z,T1,temperaturetemperature,4.5", "field 3 (quantity): expected"},
    {"2026-01-05T08:00:00Z,T1,4.5,temperature", "field 3 (quantity): expected"},
    /* value */
    {"2026-01-05T08:00:00Z,T1,temperature,0x10",
     "field 4 (value): expected a decimal number, \"fault\" or nothing, got \"0x10\""},
    {"2026-01-05T08:00:00Z,T1,temperature,nan", "field 4 (value): expected a decimal number"},
    {"2026-01-05T08:00:00Z,T1,temperature,NaN", "field 4 (value): expected a decimal number"},
    {"2026-01-05T08:00:00Z,T1,temperature,inf", "field 4 (value): expected a decimal number"},
    {"2026-01-05T08:00:00Z,T1,temperature,-Infinity", "field 4 (value): expected a decimal"},
    {"2026-01-05T08:00:00Z,T1,temperature,4.5C", "field 4 (value): expected a decimal number"},
    {"2026-01-05T08:00:00Z,T1,temperature,4.5 C", "field 4 (value): expected a decimal number"},
    {"2026-01-05T08:00:00Z,T1,temperature,4.5.1", "field 4 (value): expected a decimal number"},
    {"2026-01-05T08:00:00Z,T1,temperature,1e", "field 4 (value): expected a decimal number"},
    {"2026-01-05T08:00:00Z,T1,temperature,e5", "field 4 (value): expected a decimal number"},
    {"2026-01-05T08:00:00Z,T1,temperature,.", "field 4 (value): expected a decimal number"},
    {"2026-01-05T08:00:00Z,T1,temperature,-", "field 4 (value): expected a decimal number"},
    {"2026-01-05T08:00:00Z,T1,temperature,--1", "field 4 (value): expected a decimal number"},
    {"2026-01-05T08:00:00Z,T1,temperature,faulty", "field 4 (value): expected a decimal"},
    {"2026-01-05T08:00:00Z,T1,temperature,\" 4.5x\"", "field 4 (value): expected a decimal"},
    {"2026-01-05T08:00:00Z,T1,temperature,1e999",
     "field 4 (value): expected a decimal number, \"fault\" or nothing, got \"1e999\" (out of "
     "range)"},
    {"2026-01-05T08:00:00Z,T1,temperature,-1e309", "got \"-1e309\" (out of range)"},
    {"2026-01-05T08:00:00Z,T1,temperature,"
     "0.000000000000000000000000000000000000000000000000000000000000001",
     "field 4 (value): expected a decimal number, \"fault\" or nothing, got "
     "\"0.00000000000000000000000000000000000000...\" (too long)"},
    /* the first bad field is the one named */
    {"yesterday,.x,temp,nan", "field 1 (ts): "},
    {"2026-01-05T08:00:00Z,.x,temp,nan", "field 2 (sensor): "},
    {"2026-01-05T08:00:00Z,T1,temp,nan", "field 3 (quantity): "},
    /* a header where data is expected */
    {"ts,sensor,quantity,value", "field 1 (ts): expected RFC 3339"},
    /* a byte order mark is only allowed before the header */
    {"\xEF\xBB\xBF"
     "2026-01-05T08:00:00Z,T1,temperature,4.5",
     "field 1 (ts): expected RFC 3339 like 2026-01-05T08:00:00Z or epoch seconds, got "
     "\"???2026-01-05T08:00:00Z\""},
};

static void test_bad_lines_name_the_field_and_what_was_expected(void)
{
    for (size_t i = 0; i < ARRAY_LEN(bad_lines); i++) {
        struct reading r;
        char err[READING_CSV_ERR_MAX] = "";
        poison(&r);
        int rc = parse_exact(bad_lines[i].line, &r, err);
        const char *want = bad_lines[i].message;
        size_t want_len = strlen(want);
        /* A message ending in its quoted text is compared whole, others by their start, except
         * the "(reason)" ones, which are looked for anywhere. */
        int match;
        if (want[0] == '(' || strncmp(want, "got ", 4) == 0)
            match = strstr(err, want) != NULL;
        else if (want[want_len - 1] == '"' || want[want_len - 1] == ')')
            match = strcmp(err, want) == 0;
        else
            match = strncmp(err, want, want_len) == 0;
        CU_ASSERT_EQUAL(rc, -EINVAL);
        CU_ASSERT(match);
        CU_ASSERT(message_is_clean(err));
        CU_ASSERT(is_poisoned(&r));
        if (rc != -EINVAL || !match || !message_is_clean(err))
            fprintf(stderr, "\n  bad line %zu: rc %d\n    got  \"%s\"\n    want \"%s\"\n", i, rc,
                    err, want);
    }
}

static void test_bad_line_messages_are_short_and_clean(void)
{
    /* Control characters, escape sequences and long junk in every field: the message quotes at
     * most 40 bytes, shows the rest as "...", and prints no raw control byte. */
    static const char *const hostile[] = {
        "\x1b[31mred\x1b[0m,T1,temperature,4.5",
        "2026-01-05T08:00:00Z,\x1b]0;title\x07,temperature,4.5",
        "2026-01-05T08:00:00Z,T1,temp\x01\x02\x7f,4.5",
        "2026-01-05T08:00:00Z,T1,temperature,4.5\x1b[2J",
        "2026-01-05T08:00:00Z,T1,temperature,4.5\r\r\n",
        "2026-01-05T08:00:00Z,T1,temperature,4.5\nsecond line",
        "2026-01-05T08:00:00Z,T1,temperature,\"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
        "2026-01-05T08:00:00Z,T1,temperature,\"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrst\"x"
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
        "2026-01-05T08:00:00Z,T1,temperature,abcdefghijklmnopqrstuvwxyzabcdefghijklmno\"pqrstuv"
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
        "2026-01-05T08:00:00Z,\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0"
        "\xef\xee\xed\xec\xeb\xea\xe9\xe8\xe7\xe6\xe5\xe4\xe3\xe2\xe1\xe0\xdf\xde\xdd\xdc\xdb"
        "\xda\xd9\xd8\xd7\xd6,temperature,4.5",
        "2026-02-29T08:00:00.12345678901234567890123456789012345678901234567890Z,T1,door,0",
        "9999-12-31T23:59:59.12345678901234567890123456789012345678901234567890-23:59,T1,door,0",
        "2026-01-05T08:00:00Z,T1,temperature,"
        "1.00000000000000000000000000000000000000000000000000000000000000000000000000e999",
    };
    for (size_t i = 0; i < ARRAY_LEN(hostile); i++) {
        struct reading r;
        char err[READING_CSV_ERR_MAX] = "";
        int rc = parse_exact(hostile[i], &r, err);
        CU_ASSERT_EQUAL(rc, -EINVAL);
        CU_ASSERT(message_is_clean(err));
        const char *open = strstr(err, "got \"");
        const char *close = open ? strrchr(err, '"') : NULL;
        CU_ASSERT(open != NULL && close > open + 4 && (size_t)(close - open - 5) <= 43);
        if (rc != -EINVAL || !message_is_clean(err))
            fprintf(stderr, "\n  hostile line %zu: rc %d err \"%s\"\n", i, rc, err);
    }
}

static void test_nothing_past_len_is_read(void)
{
    /* The bytes after len would change every field if they were read. */
    static const char buf[] = "2026-01-05T08:00:00Z,T1,temperature,4.5999,extra";
    struct reading r;
    char err[READING_CSV_ERR_MAX] = "";
    CU_ASSERT_EQUAL(
        reading_csv_line(buf, strlen("2026-01-05T08:00:00Z,T1,temperature,4.5"), &r, err),
        READING_CSV_READING);
    CU_ASSERT_DOUBLE_EQUAL(r.value, 4.5, 0.0);
    CU_ASSERT_EQUAL(reading_csv_line(buf, strlen("2026-01-05T08:00:00Z,T1,temperature,"), &r, err),
                    READING_CSV_READING);
    CU_ASSERT_EQUAL(r.flags, READING_FAULT);
    CU_ASSERT_EQUAL(reading_csv_line(buf, strlen("2026-01-05T08:00:00Z,T1,temp"), &r, err),
                    -EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "expected 4 fields (ts,sensor,quantity,value), got 3");
    int64_t ts = -1;
    CU_ASSERT_EQUAL(reading_csv_parse_ts(buf, 19, &ts), -EINVAL);
    CU_ASSERT_EQUAL(ts, -1);
    CU_ASSERT_EQUAL(reading_csv_parse_ts("17676000009", 10, &ts), 0);
    CU_ASSERT_EQUAL(ts, T0);
    /* A NUL inside the line is a byte like any other, not its end. */
    static const char nul[] = "2026-01-05T08:00:00Z,T1,door\0x,1";
    CU_ASSERT_EQUAL(reading_csv_line(nul, sizeof(nul) - 1, &r, err), -EINVAL);
    CU_ASSERT_STRING_EQUAL(err,
                           "field 3 (quantity): expected temperature, humidity, door or battery, "
                           "got \"door?x\"");
    static const char nul_value[] = "2026-01-05T08:00:00Z,T1,door,1\0";
    CU_ASSERT_EQUAL(reading_csv_line(nul_value, sizeof(nul_value) - 1, &r, err), -EINVAL);
}

static void test_errors_without_a_buffer_are_still_errors(void)
{
    struct reading r;
    CU_ASSERT_EQUAL(reading_csv_line("x,T1,door,1", 11, &r, NULL), -EINVAL);
    CU_ASSERT_EQUAL(reading_csv_header("x", 1, NULL), -EINVAL);
    CU_ASSERT_EQUAL(reading_csv_line("x", 1, NULL, NULL), -EINVAL);
    CU_ASSERT_EQUAL(reading_csv_line(NULL, 1, &r, NULL), -EINVAL);
    CU_ASSERT_EQUAL(reading_csv_parse_ts(NULL, 1, &(int64_t){0}), -EINVAL);
    CU_ASSERT_EQUAL(reading_csv_parse_ts("0", 1, NULL), -EINVAL);
}

/* ---- header ---- */

static const char *const good_headers[] = {
    "ts,sensor,quantity,value",
    "ts,sensor,quantity,value\n",
    "ts,sensor,quantity,value\r\n",
    "\xEF\xBB\xBFts,sensor,quantity,value\r\n",
    " ts , sensor ,\tquantity\t, value \n",
    "\"ts\",\"sensor\",\"quantity\",\"value\"\r\n",
    "\xEF\xBB\xBF \"ts\" ,sensor, \"quantity\",value",
};

static const struct {
    const char *line;
    const char *message;
} bad_headers[] = {
    {"", "header: expected \"ts,sensor,quantity,value\", got \"\""},
    {"\n", "header: expected \"ts,sensor,quantity,value\", got \"\""},
    {"ts,sensor,quantity", "header: expected \"ts,sensor,quantity,value\", got "
                           "\"ts,sensor,quantity\""},
    {"ts,sensor,quantity,value,unit\n", "header: expected \"ts,sensor,quantity,value\", got "
                                        "\"ts,sensor,quantity,value,unit\""},
    {"ts,quantity,sensor,value", "header: expected \"ts,sensor,quantity,value\", got "
                                 "\"ts,quantity,sensor,value\""},
    {"TS,Sensor,Quantity,Value", "header: expected \"ts,sensor,quantity,value\", got "
                                 "\"TS,Sensor,Quantity,Value\""},
    {"time,sensor,quantity,value", "header: expected"},
    {"ts;sensor;quantity;value", "header: expected"},
    {"t s,sensor,quantity,value", "header: expected"},
    {"ts,sensor,quantity,value,", "header: expected"},
    {"\"ts,sensor,quantity,value\"", "header: expected"},
    {"ts,sensor,quantity,\"value", "header: expected"},
    {"# ts,sensor,quantity,value", "header: expected"},
    {"\xEF\xBB\xBF\xEF\xBB\xBFts,sensor,quantity,value",
     "header: expected \"ts,sensor,quantity,value\", got \"???ts,sensor,quantity,value\""},
    {"\xEF\xBBts,sensor,quantity,value", "header: expected"},
    {"2026-01-05T08:00:00Z,T1,temperature,4.5",
     "header: expected \"ts,sensor,quantity,value\", got \"2026-01-05T08:00:00Z,T1,temperature,"
     "4.5\""},
    {"ts,sensor,quantity,value\x1b[2J,x,y,z,ts,sensor,quantity,value",
     "header: expected \"ts,sensor,quantity,value\", got \"ts,sensor,quantity,value?[2J,x,y,z,"
     "ts,se...\""},
};

static void test_header_variants(void)
{
    for (size_t i = 0; i < ARRAY_LEN(good_headers); i++) {
        char err[READING_CSV_ERR_MAX] = "";
        int rc = header_exact(good_headers[i], err);
        CU_ASSERT_EQUAL(rc, 0);
        if (rc != 0)
            fprintf(stderr, "\n  good header %zu: rc %d err \"%s\"\n", i, rc, err);
    }
    for (size_t i = 0; i < ARRAY_LEN(bad_headers); i++) {
        char err[READING_CSV_ERR_MAX] = "";
        int rc = header_exact(bad_headers[i].line, err);
        const char *want = bad_headers[i].message;
        size_t want_len = strlen(want);
        int match =
            want[want_len - 1] == '"' ? strcmp(err, want) == 0 : strncmp(err, want, want_len) == 0;
        CU_ASSERT_EQUAL(rc, -EINVAL);
        CU_ASSERT(match);
        CU_ASSERT(message_is_clean(err));
        if (rc != -EINVAL || !match)
            fprintf(stderr, "\n  bad header %zu: rc %d\n    got  \"%s\"\n    want \"%s\"\n", i, rc,
                    err, want);
    }
    CU_ASSERT_EQUAL(reading_csv_header(NULL, 0, NULL), -EINVAL);
}

/* ---- timestamps against an independent calendar ---- */

/* Every day from 1970-01-01 to 9999-12-31, each at a different time of day, formatted by
 * gmtime_r() (the C library's calendar, not ours) in both forms: the parser must give back the
 * same milliseconds. Around 2.9 million days; no clock is read. */
static void test_every_day_to_9999_matches_gmtime(void)
{
    const int64_t last_day = READING_CSV_TS_MAX_MS / 86400000;
    size_t mismatches = 0;
    for (int64_t day = 0; day <= last_day; day++) {
        int64_t sec = day * 86400 + (day * 7919) % 86400;
        int64_t ms = (day * 31) % 1000;
        time_t t = (time_t)sec;
        struct tm tm;
        char text[64];
        int64_t got = -1;
        if (gmtime_r(&t, &tm) == NULL) {
            mismatches++;
            continue;
        }
        snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
        if (reading_csv_parse_ts(text, strlen(text), &got) != 0 || got != sec * 1000 + ms) {
            if (mismatches++ < 5)
                fprintf(stderr, "\n  \"%s\": got %lld want %lld\n", text, (long long)got,
                        (long long)(sec * 1000 + ms));
        }
        snprintf(text, sizeof(text), "%lld", (long long)sec);
        if (reading_csv_parse_ts(text, strlen(text), &got) != 0 || got != sec * 1000)
            mismatches++;
    }
    CU_ASSERT_EQUAL(mismatches, 0);
}

static void test_impossible_dates_are_exactly_the_ones_gmtime_lacks(void)
{
    /* For each year, day 1..31 of each month is accepted exactly when gmtime_r() names that
     * day: so Feb 29 in leap years only, and no April 31. Years chosen for the leap rules. */
    static const int years[] = {1970, 1972, 2000, 2023, 2024, 2026, 2100, 2400, 9996, 9999};
    for (size_t y = 0; y < ARRAY_LEN(years); y++) {
        for (int m = 1; m <= 12; m++) {
            for (int d = 1; d <= 31; d++) {
                char text[32];
                int64_t ts = -1;
                snprintf(text, sizeof(text), "%04d-%02d-%02dT12:00:00Z", years[y], m, d);
                int rc = reading_csv_parse_ts(text, strlen(text), &ts);
                /* Accepted: gmtime_r() must name the same date. Refused: d - 1 days after the
                 * 1st, gmtime_r() must already be in another month. */
                if (rc == 0) {
                    time_t t = (time_t)(ts / 1000);
                    struct tm tm;
                    CU_ASSERT_PTR_NOT_NULL(gmtime_r(&t, &tm));
                    CU_ASSERT(tm.tm_year + 1900 == years[y] && tm.tm_mon + 1 == m &&
                              tm.tm_mday == d);
                } else {
                    int64_t first = -1;
                    snprintf(text, sizeof(text), "%04d-%02d-01T12:00:00Z", years[y], m);
                    CU_ASSERT_EQUAL_FATAL(reading_csv_parse_ts(text, strlen(text), &first), 0);
                    time_t t = (time_t)(first / 1000 + (int64_t)(d - 1) * 86400);
                    struct tm tm;
                    CU_ASSERT_PTR_NOT_NULL(gmtime_r(&t, &tm));
                    CU_ASSERT(tm.tm_mon + 1 != m);
                    CU_ASSERT(d >= 29);
                }
            }
        }
    }
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("lines", NULL, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "good lines give every field", test_good_lines_give_every_field);
    CU_add_test(s, "blank and comment lines are skipped", test_blank_and_comment_lines_are_skipped);
    CU_add_test(s, "bad lines name the field and what was expected",
                test_bad_lines_name_the_field_and_what_was_expected);
    CU_add_test(s, "bad line messages are short and clean",
                test_bad_line_messages_are_short_and_clean);
    CU_add_test(s, "nothing past len is read", test_nothing_past_len_is_read);
    CU_add_test(s, "errors without a buffer are still errors",
                test_errors_without_a_buffer_are_still_errors);

    s = CU_add_suite("header", NULL, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "header variants", test_header_variants);

    s = CU_add_suite("timestamps", NULL, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "every day to 9999 matches gmtime", test_every_day_to_9999_matches_gmtime);
    CU_add_test(s, "impossible dates are exactly the ones gmtime lacks",
                test_impossible_dates_are_exactly_the_ones_gmtime_lacks);
    return CU_get_error();
}
