/* A shipment's alarms as people read them: the stored alert transitions (histdb.h) grouped into
 * excursions, each with when it was raised and cleared, how bad it got, and who acknowledged,
 * shelved or resolved it with their comments. For `coldchainctl show` and the report.
 * One thread: coldchainctl's main. */
#ifndef COLDCHAIN_ALARMLOG_H
#define COLDCHAIN_ALARMLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "histdb.h"

/* An operator's action on the alarm: acknowledged, shelved, unshelved or resolved. */
struct alarmlog_note {
    int64_t ts_ms;
    char transition[16];
    char *by;      /* "" when the payload named nobody; owned by the log */
    char *comment; /* "" when none; owned by the log */
};

/* One activation of one alarm on one sensor, from its "raised" to its "cleared" (if any). An
 * action on an instance that was never raised in this history (a shelf ahead of time) is an
 * entry of its own with raised_ms 0. */
struct alarmlog_entry {
    char alarm_id[32];
    char sensor_id[32];
    char kind[16];
    char quantity[16];
    char severity[16];
    char condition[16];
    char unit[8];
    double limit;        /* NaN for kinds without one */
    int64_t raised_ms;   /* 0: not raised in this history */
    double raised_value; /* the value judged when raised; NaN if none */
    int64_t since_ms;    /* when the excursion began (0: unknown) */
    double worst;        /* the most extreme value reported for it; NaN if none */
    int64_t cleared_ms;  /* 0 while still active */
    int64_t amount_ms;   /* budget used (budget), silence (stale) at the latest transition */
    char state[16];      /* the state after its latest transition */
    unsigned reminders;  /* "renotified" transitions */
    struct alarmlog_note *notes;
    size_t note_count;
};

struct alarmlog {
    struct alarmlog_entry *entries; /* in the order they were raised (by alert seq) */
    size_t count;
    uint64_t transitions; /* alert rows read */
};

/* True when the entry's value and worst mean something to people: a reading, a change or an
 * MKT (threshold, budget, mkt, rate, door, battery), not a fault's 1 or a silence. */
bool alarmlog_has_values(const struct alarmlog_entry *e);

/* Reads the shipment's alerts into log (zeroed by the caller or by a previous clear). 0, -EIO,
 * -ENOMEM; on failure the log holds what was read: alarmlog_clear() it either way. */
int alarmlog_read(struct histdb *db, const char *shipment_id, struct alarmlog *log);

/* Frees what the log owns and zeroes it. NULL is a no-op. */
void alarmlog_clear(struct alarmlog *log);

#endif
