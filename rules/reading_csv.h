/* The readings CSV that `coldchainctl replay` reads: one header line, then one reading per line
 * (ts,sensor,quantity,value). Parses one line at a time into a struct reading; the caller reads
 * the file, splits it into lines and puts "file:line: " in front of the messages.
 * Pure: no I/O, no clock, no allocation, no logging. Any thread; no state between calls.
 *
 * The format, line by line:
 * - The first line is the header `ts,sensor,quantity,value`: these names, in this order, case
 *   sensitive. A UTF-8 byte order mark may precede it.
 * - Lines end in LF or CRLF. A line that is empty, only spaces, or whose first non-space
 *   character is '#' is skipped.
 * - Four fields separated by commas. Spaces and tabs around a field are ignored. A field may be
 *   wrapped in double quotes; spaces just inside the quotes are ignored too. A quote anywhere
 *   else in a field is an error (no field needs "" escapes or embedded commas).
 * - ts: RFC 3339 with a 'Z' or a +hh:mm/-hh:mm offset (2026-01-05T08:00:00Z,
 *   2026-01-05t09:00:00.250+01:00; 't' and 'z' may be lower case; fractional seconds of any
 *   length are truncated to milliseconds; second 60 is rejected), or integer epoch seconds.
 *   Either way the time must lie in 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z.
 * - sensor: a sensor id, 1 to 31 of A-Z a-z 0-9 _ . - and not starting with '.' (as in the
 *   config).
 * - quantity: temperature, humidity, door or battery (quantity_parse(), case sensitive).
 * - value: a decimal number with optional sign, fraction and exponent (no hex, inf or nan), in
 *   the quantity's unit; or nothing, or `fault` in any case, for a reading the sensor could not
 *   take (READING_FAULT, value NaN). The number is not range-checked per quantity. */
#ifndef COLDCHAIN_READING_CSV_H
#define COLDCHAIN_READING_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "reading.h"

/* Room for any message, NUL included; messages quote at most 40 bytes of the input and show
 * bytes outside printable ASCII as '?'. */
#define READING_CSV_ERR_MAX 160

/* The latest time a file may carry: 9999-12-31T23:59:59.999Z, in ms since the epoch. */
#define READING_CSV_TS_MAX_MS INT64_C(253402300799999)

enum reading_csv_line {
    READING_CSV_READING = 0, /* *out holds the reading */
    READING_CSV_SKIP = 1,    /* blank or comment line: nothing to do */
};

/* Checks the header line: line holds len bytes (no NUL needed; a trailing LF or CRLF may be
 * included; line may be NULL when len is 0). Returns 0, or -EINVAL with a message in err (which
 * may be NULL when the caller wants none). Borrows its arguments for the call. */
int reading_csv_header(const char *line, size_t len, char err[READING_CSV_ERR_MAX]);

/* Parses one data line (len bytes, as for the header) into *out. Returns READING_CSV_READING
 * with *out filled (sensor_id NUL-terminated and zero-padded; flags 0, or READING_FAULT with
 * value NaN), READING_CSV_SKIP for a blank or comment line, or -EINVAL with a message in err
 * naming the field and what it expected (err may be NULL). *out is written only on
 * READING_CSV_READING. Borrows its arguments for the call. */
int reading_csv_line(const char *line, size_t len, struct reading *out,
                     char err[READING_CSV_ERR_MAX]);

/* Parses an RFC 3339 timestamp or integer epoch seconds (text: len bytes, no NUL needed, no
 * surrounding spaces) into ms since the epoch, with the rules and range given above. Returns 0
 * with *ts_ms_out set, or -EINVAL leaving it alone. */
int reading_csv_parse_ts(const char *text, size_t len, int64_t *ts_ms_out);

#endif
