/* The history database (<data_dir>/history.db, gateway/store.c) opened read-only for people:
 * coldchainctl's shipments, show, history, events and report read it while the daemon writes
 * (WAL lets a reader see the last committed state without blocking the writer). SQLite's codes
 * stop here: each failure is printed once on stderr with the file and SQLite's message, and a
 * negative errno travels up (STYLE §5). One thread: coldchainctl's main. */
#ifndef COLDCHAIN_HISTDB_H
#define COLDCHAIN_HISTDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reading.h"

struct config;
struct histdb;

/* Opens path read-only (SQLITE_OPEN_READONLY: never creates, migrates or writes anything) and
 * checks that it is a gateway history. 0; -ENOENT (no such file); -EPROTO (not a history
 * database, or a schema newer than this tool reads); -EIO; -ENOMEM. Messages on stderr. */
int histdb_open(const char *path, struct histdb **db_out);

/* NULL is a no-op. */
void histdb_close(struct histdb *db);

/* PRAGMA user_version: 2 before the audit trail, 3 with shipment_sensors and events. */
int histdb_schema_version(const struct histdb *db);

/* True when the file records which sensors belonged to a shipment and when (shipment_sensors,
 * schema 3); otherwise the shipment's sensors come from the configuration. */
bool histdb_has_assignments(const struct histdb *db);

/* True when the file has the hash-chained audit trail (the events table, schema 3). */
bool histdb_has_events(const struct histdb *db);

struct histdb_shipment {
    char id[64];
    char kind[16];         /* "storage" or "transit" */
    char profile[64];      /* the profile's (or preset's) name when the shipment was recorded */
    int64_t started_ms;    /* wall ms */
    int64_t ended_ms;      /* wall ms; 0 while the shipment runs */
    char description[256]; /* for people (schema 3); "" before */
};

/* One shipment by id: 0, -ENOENT, -EIO. */
int histdb_shipment_get(struct histdb *db, const char *id, struct histdb_shipment *out);

/* Calls fn for every shipment, oldest start first. A non-zero return from fn stops the walk and
 * is returned. 0 or -EIO. */
int histdb_shipments_each(struct histdb *db, int (*fn)(void *arg, const struct histdb_shipment *s),
                          void *arg);

/* A sensor's readings belong to a shipment from from_ms (inclusive) to to_ms (exclusive). */
struct histdb_window {
    char sensor_id[READING_SENSOR_ID_MAX];
    int64_t from_ms;
    int64_t to_ms; /* INT64_MAX while open */
};

/* Which readings are the shipment's (docs/rules.md: "Readings stamped before a shipment's start
 * are not that shipment's"). Schema 3: the assignment windows of shipment_sensors, cut to the
 * shipment's own start and end. Schema 2 (or a schema 3 shipment without any assignment yet):
 * every sensor that config (may be NULL) lists for the shipment, from its start to its end.
 * Fills a malloc'd array the caller frees, in the order the sensors were assigned (config
 * order otherwise); it may be empty. 0; -ENODATA (schema 2 and the shipment is not in config,
 * or no config); -EIO; -ENOMEM. */
int histdb_windows(struct histdb *db, const struct histdb_shipment *s, const struct config *config,
                   struct histdb_window **windows_out, size_t *count_out);

/* Narrows what a readings query returns; zero-initialised means no narrowing. */
struct histdb_filter {
    int64_t from_ms; /* with has_from: readings at or after */
    int64_t to_ms;   /* with has_to: readings before */
    bool has_from, has_to;
    const char *sensor; /* NULL: every sensor of the windows */
};

/* One stored row of the readings table, as stored: value NaN when the row's value is NULL (a
 * faulted reading). */
struct histdb_reading {
    int64_t row_id;
    struct reading r;
};

/* Number of readings in the windows that pass the filter, and the earliest and latest stamp
 * among them (both 0 when there are none). Any out pointer may be NULL. 0 or -EIO. */
int histdb_readings_extent(struct histdb *db, const struct histdb_window *windows, size_t count,
                           const struct histdb_filter *filter, uint64_t *rows_out,
                           int64_t *first_ms_out, int64_t *last_ms_out);

/* Calls fn for every reading in the windows that passes the filter (filter may be NULL), in the
 * order they were stored (the order the engine judged them in). Streams: one row in memory at a
 * time. A non-zero return from fn stops the walk and is returned. 0, -EIO, -ENOMEM. */
int histdb_readings_each(struct histdb *db, const struct histdb_window *windows, size_t count,
                         const struct histdb_filter *filter,
                         int (*fn)(void *arg, const struct histdb_reading *row), void *arg);

/* One alarm transition as stored in the alerts table, with what its payload (as sent on
 * <root>/alerts, docs/mqtt.md) adds for people. Text fields are "" when the payload lacks them;
 * numbers NaN. */
struct histdb_alert {
    uint64_t seq;
    char alert_id[40];
    int64_t ts_ms;
    char shipment_id[64];
    char alarm_id[32];
    char sensor_id[32];
    char transition[16]; /* "raised", "cleared", "acknowledged", ... */
    char state[16];      /* after it: "active", "acknowledged", "returned", "normal" */
    uint8_t level;
    double value, worst;
    int64_t since_ms;  /* 0: no excursion under way */
    int64_t amount_ms; /* budget used, silence, credit */
    bool notify;
    char kind[16]; /* "threshold", "budget", ... */
    char quantity[16];
    char severity[16];
    char condition[16]; /* "above", "at_or_below", ...; "" for kinds without a limit */
    double limit;
    char unit[8];
    char by[128];       /* who acknowledged, shelved or resolved it */
    char comment[4100]; /* and why (a command is at most 4096 bytes) */
    char message[256];  /* what happened, for people */
};

/* Calls fn for every alert of the shipment, in seq order. A non-zero return from fn stops the
 * walk and is returned. 0, -EIO, -ENOMEM. */
int histdb_alerts_each(struct histdb *db, const char *shipment_id,
                       int (*fn)(void *arg, const struct histdb_alert *a), void *arg);

/* The shipment's row counts in the alerts table: transitions "raised" in *raised_out. The
 * worst excursion of a threshold or budget alarm on temperature, the value farthest beyond its
 * limit, in *worst_out (or found false). Any out pointer may be NULL. 0 or -EIO. */
int histdb_alarm_counts(struct histdb *db, const char *shipment_id, uint64_t *raised_out,
                        bool *found_out, struct histdb_alert *worst_out);

/* One row of the audit trail (schema 3, the events table): text borrowed for the call. */
struct histdb_event {
    int64_t id;
    int64_t ts_ms;
    const char *kind;      /* "shipment-start", "readings", "alarm", "config", ... */
    const char *actor;     /* who, or "" */
    const char *detail;    /* a compact JSON object, as stored */
    const char *prev_hash; /* hex */
    const char *hash;      /* hex */
};

/* Calls fn for every event of the shipment (shipment_id NULL: every event), in id order. Only
 * with histdb_has_events(). A non-zero return from fn stops the walk and is returned. 0 or
 * -EIO. */
int histdb_events_each(struct histdb *db, const char *shipment_id,
                       int (*fn)(void *arg, const struct histdb_event *e), void *arg);

#endif
