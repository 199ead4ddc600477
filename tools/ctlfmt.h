/* How coldchainctl writes numbers, times and alarm limits for people and for scripts: the
 * shared words of `show`, `shipments`, `history`, `events` and the report. Pure: no I/O, no
 * clock. Any thread. */
#ifndef COLDCHAIN_CTLFMT_H
#define COLDCHAIN_CTLFMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "alarm.h"

#define CTLFMT_EXACT_MAX 32 /* room for any double written by ctlfmt_exact() */
#define CTLFMT_TIME_MAX 32  /* room for any time written by ctlfmt_time() */
#define CTLFMT_DURATION_MAX 40

/* The shortest decimal text of v that reads back (strtod) as exactly v: "5.1", not
 * "5.0999999999999996"; at most 17 significant digits. A non-finite v writes "". Returns buf. */
char *ctlfmt_exact(double v, char *buf, size_t cap);

/* A wall time for people: "2026-11-22 18:40:21 UTC". Returns buf. */
char *ctlfmt_time(int64_t ts_ms, char *buf, size_t cap);

/* A duration for people, two units at most: "42 s", "12 min 5 s", "3 h 20 min", "2 d 4 h".
 * Rounded down to whole seconds; "0 s" for zero or less. Returns buf. */
char *ctlfmt_duration(int64_t ms, char *buf, size_t cap);

/* The condition in words: "above", "at or above", "below", "at or below". */
const char *ctlfmt_condition(unsigned condition);

/* The same from an alert's payload name ("at_or_above"); the name itself if unknown. */
const char *ctlfmt_condition_name(const char *name);

/* One line that says what the alarm watches, as a pharmacist reads it:
 * "above 8 °C for 30 min", "at or above 30 °C for 10 h in total", "MKT above 25 °C",
 * "no reading for 20 min". Returns buf. */
char *ctlfmt_alarm_rule(const struct alarm_def *def, char *buf, size_t cap);

/* Writes s as a JSON string (quotes included) to out. */
void ctlfmt_json_string(FILE *out, const char *s);

#endif
