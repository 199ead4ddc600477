/* The history read-only (histdb.h). Every query is read-only SQL on a connection opened with
 * SQLITE_OPEN_READONLY, so nothing here can change the file the daemon writes, even by mistake:
 * SQLite refuses any write on such a connection. */
#include "histdb.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"

/* The newest schema whose tables this code knows (gateway/store.c SCHEMA_VERSION). A newer
 * file may have changed what a column means: refused, as the gateway itself refuses one. */
#define HISTDB_SCHEMA_MAX 3

/* The daemon holds its write lock only while it commits; a reader in WAL mode is not blocked by
 * it, but a checkpoint or recovery may briefly be. */
#define BUSY_TIMEOUT_MS 5000

struct histdb {
    sqlite3 *db;
    char *path;
    int version;
    bool has_assignments;
    bool has_events;
};

static int db_error(const struct histdb *db, const char *what)
{
    fprintf(stderr, "coldchainctl: %s: %s: %s\n", db->path, what, sqlite3_errmsg(db->db));
    return -EIO;
}

/* Copies a TEXT column into a fixed-size field, cut at the field's size: what is read here is
 * only shown to people, and a cut is visible. */
static void column_text(sqlite3_stmt *stmt, int col, char *field, size_t size)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    snprintf(field, size, "%s", text != NULL ? (const char *)text : "");
}

static double column_double_or_nan(sqlite3_stmt *stmt, int col)
{
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return (double)NAN; /* glibc's NAN is a float: -Wdouble-promotion */
    return sqlite3_column_double(stmt, col);
}

/* One integer from a query without parameters. */
static int query_int(struct histdb *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db->db, sql, -1, &stmt, NULL) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_ROW) {
        rc = db_error(db, sql);
        goto out;
    }
    *out = sqlite3_column_int64(stmt, 0);
out:
    sqlite3_finalize(stmt);
    return rc;
}

static int table_exists(struct histdb *db, const char *name, bool *exists_out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                           -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_error(db, "read the schema");
        goto out;
    }
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    int src = sqlite3_step(stmt);
    if (src != SQLITE_ROW && src != SQLITE_DONE) {
        rc = db_error(db, "read the schema");
        goto out;
    }
    *exists_out = src == SQLITE_ROW;
out:
    sqlite3_finalize(stmt);
    return rc;
}

int histdb_open(const char *path, struct histdb **db_out)
{
    struct histdb *db = NULL;
    struct stat st;
    int rc = 0;

    if (path == NULL || db_out == NULL)
        return -EINVAL;
    /* SQLITE_OPEN_READONLY does not create a missing file, but it reports a missing one only
     * at the first query, as "unable to open database file": say what it is. */
    if (stat(path, &st) != 0) {
        rc = -errno;
        fprintf(stderr, "coldchainctl: %s: %s\n", path, strerror(errno));
        return rc;
    }
    db = calloc(1, sizeof(*db));
    if (db == NULL)
        return -ENOMEM;
    db->path = strdup(path);
    if (db->path == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        rc = db->db == NULL ? -ENOMEM : db_error(db, "open read-only");
        goto out;
    }
    if (sqlite3_busy_timeout(db->db, BUSY_TIMEOUT_MS) != SQLITE_OK) {
        rc = db_error(db, "set busy timeout");
        goto out;
    }
    int64_t version = 0;
    rc = query_int(db, "PRAGMA user_version", &version);
    if (rc < 0)
        goto out;
    bool shipments = false, readings = false, alerts = false;
    rc = table_exists(db, "shipments", &shipments);
    if (rc == 0)
        rc = table_exists(db, "readings", &readings);
    if (rc == 0)
        rc = table_exists(db, "alerts", &alerts);
    if (rc == 0)
        rc = table_exists(db, "shipment_sensors", &db->has_assignments);
    if (rc == 0)
        rc = table_exists(db, "events", &db->has_events);
    if (rc < 0)
        goto out;
    if (version < 1 || !shipments || !readings || !alerts) {
        fprintf(stderr,
                "coldchainctl: %s: not a coldchain history (schema version %lld, "
                "tables shipments, readings and alerts expected)\n",
                path, (long long)version);
        rc = -EPROTO;
        goto out;
    }
    if (version > HISTDB_SCHEMA_MAX) {
        fprintf(stderr,
                "coldchainctl: %s: schema version %lld is newer than this tool reads "
                "(%d): use the coldchainctl of the gateway that wrote it\n",
                path, (long long)version, HISTDB_SCHEMA_MAX);
        rc = -EPROTO;
        goto out;
    }
    db->version = (int)version;
    /* One read transaction for the whole command: every query sees the same committed state
     * (a count and the rows it counts, the readings and their alerts), whatever the daemon
     * commits meanwhile. In WAL mode it does not block the daemon; the WAL only grows until it
     * ends. */
    if (sqlite3_exec(db->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(db, "begin a read transaction");
        goto out;
    }
    *db_out = db;
    db = NULL;
out:
    histdb_close(db);
    return rc;
}

void histdb_close(struct histdb *db)
{
    if (db == NULL)
        return;
    if (db->db != NULL) {
        if (!sqlite3_get_autocommit(db->db))
            sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL); /* nothing was written */
        sqlite3_close(db->db);
    }
    free(db->path);
    free(db);
}

int histdb_schema_version(const struct histdb *db)
{
    return db->version;
}

bool histdb_has_assignments(const struct histdb *db)
{
    return db->has_assignments;
}

bool histdb_has_events(const struct histdb *db)
{
    return db->has_events;
}

static void shipment_from_row(sqlite3_stmt *stmt, struct histdb_shipment *out)
{
    memset(out, 0, sizeof(*out));
    column_text(stmt, 0, out->id, sizeof(out->id));
    column_text(stmt, 1, out->kind, sizeof(out->kind));
    column_text(stmt, 2, out->profile, sizeof(out->profile));
    out->started_ms = sqlite3_column_int64(stmt, 3);
    out->ended_ms = sqlite3_column_type(stmt, 4) == SQLITE_NULL ? 0 : sqlite3_column_int64(stmt, 4);
    column_text(stmt, 5, out->description, sizeof(out->description));
}

/* Schema 3 added shipments.description. */
static const char *shipment_columns(const struct histdb *db)
{
    return db->version >= 3 ? "SELECT id, kind, profile, started_ms, ended_ms, description "
                              "FROM shipments "
                            : "SELECT id, kind, profile, started_ms, ended_ms, '' "
                              "FROM shipments ";
}

static int prepare_shipments(struct histdb *db, const char *tail, sqlite3_stmt **stmt_out)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "%s%s", shipment_columns(db), tail);
    if (sqlite3_prepare_v2(db->db, sql, -1, stmt_out, NULL) != SQLITE_OK)
        return db_error(db, "prepare the shipments query");
    return 0;
}

int histdb_shipment_get(struct histdb *db, const char *id, struct histdb_shipment *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = 0;
    rc = prepare_shipments(db, "WHERE id = ?1", &stmt);
    if (rc < 0)
        goto out;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    int src = sqlite3_step(stmt);
    if (src == SQLITE_DONE) {
        rc = -ENOENT;
        goto out;
    }
    if (src != SQLITE_ROW) {
        rc = db_error(db, "read a shipment");
        goto out;
    }
    shipment_from_row(stmt, out);
out:
    sqlite3_finalize(stmt);
    return rc;
}

int histdb_shipments_each(struct histdb *db, int (*fn)(void *arg, const struct histdb_shipment *s),
                          void *arg)
{
    sqlite3_stmt *stmt = NULL;
    int rc = 0, src;
    rc = prepare_shipments(db, "ORDER BY started_ms, id", &stmt);
    if (rc < 0)
        goto out;
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct histdb_shipment s;
        shipment_from_row(stmt, &s);
        rc = fn(arg, &s);
        if (rc != 0)
            goto out;
    }
    if (src != SQLITE_DONE)
        rc = db_error(db, "read the shipments");
out:
    sqlite3_finalize(stmt);
    return rc;
}

/* Cuts [from, to) to the shipment's own life; false when nothing is left. */
static bool clip_window(const struct histdb_shipment *s, struct histdb_window *w)
{
    if (w->from_ms < s->started_ms)
        w->from_ms = s->started_ms;
    if (s->ended_ms != 0 && w->to_ms > s->ended_ms)
        w->to_ms = s->ended_ms;
    return w->from_ms < w->to_ms;
}

static int push_window(struct histdb_window **arr, size_t *count, size_t *cap,
                       const struct histdb_window *w)
{
    if (*count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct histdb_window *n = realloc(*arr, ncap * sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        *arr = n;
        *cap = ncap;
    }
    (*arr)[(*count)++] = *w;
    return 0;
}

/* Schema 3: the shipment's rows of shipment_sensors. */
static int windows_assigned(struct histdb *db, const struct histdb_shipment *s,
                            struct histdb_window **arr, size_t *count, size_t *cap)
{
    sqlite3_stmt *stmt = NULL;
    int rc = 0, src;
    if (sqlite3_prepare_v2(db->db,
                           "SELECT sensor_id, from_ms, to_ms FROM shipment_sensors "
                           "WHERE shipment_id = ?1 ORDER BY from_ms, id",
                           -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_error(db, "prepare the sensor assignments query");
        goto out;
    }
    sqlite3_bind_text(stmt, 1, s->id, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct histdb_window w = {.from_ms = sqlite3_column_int64(stmt, 1), .to_ms = INT64_MAX};
        column_text(stmt, 0, w.sensor_id, sizeof(w.sensor_id));
        if (sqlite3_column_type(stmt, 2) != SQLITE_NULL)
            w.to_ms = sqlite3_column_int64(stmt, 2);
        if (!clip_window(s, &w))
            continue;
        rc = push_window(arr, count, cap, &w);
        if (rc < 0)
            goto out;
    }
    if (src != SQLITE_DONE)
        rc = db_error(db, "read the sensor assignments");
out:
    sqlite3_finalize(stmt);
    return rc;
}

int histdb_windows(struct histdb *db, const struct histdb_shipment *s, const struct config *config,
                   struct histdb_window **windows_out, size_t *count_out)
{
    struct histdb_window *arr = NULL;
    size_t count = 0, cap = 0;
    int rc = 0;

    if (db->has_assignments) {
        rc = windows_assigned(db, s, &arr, &count, &cap);
        if (rc < 0 || count > 0)
            goto out;
    }
    const struct config_shipment *cs = NULL;
    for (size_t i = 0; config != NULL && i < config->shipment_count; i++) {
        if (strcmp(config->shipments[i].id, s->id) == 0)
            cs = &config->shipments[i];
    }
    /* Schema 3 without a single assignment: a shipment from before schema 3 that the gateway
     * has not run since (it assigns the config's sensors from the start at its next run), or
     * one started without sensors. The config says which, if it knows the shipment. */
    if (cs == NULL) {
        rc = db->has_assignments ? 0 : -ENODATA;
        goto out;
    }
    for (size_t k = 0; k < cs->sensor_count; k++) {
        struct histdb_window w = {.from_ms = s->started_ms, .to_ms = INT64_MAX};
        snprintf(w.sensor_id, sizeof(w.sensor_id), "%s", cs->sensor_ids[k]);
        if (!clip_window(s, &w))
            continue;
        rc = push_window(&arr, &count, &cap, &w);
        if (rc < 0)
            goto out;
    }
out:
    if (rc < 0) {
        free(arr);
        return rc;
    }
    *windows_out = arr;
    *count_out = count;
    return 0;
}

/* The part of window w that the filter keeps, as [from, to); false when nothing is left. */
static bool narrow(const struct histdb_window *w, const struct histdb_filter *f,
                   struct histdb_window *out)
{
    if (f->sensor != NULL && strcmp(f->sensor, w->sensor_id) != 0)
        return false;
    *out = *w;
    if (f->has_from && f->from_ms > out->from_ms)
        out->from_ms = f->from_ms;
    if (f->has_to && f->to_ms < out->to_ms)
        out->to_ms = f->to_ms;
    return out->from_ms < out->to_ms;
}

struct extent {
    uint64_t rows;
    int64_t first_ms, last_ms; /* stamps */
    int64_t lo_id, hi_id;      /* row ids */
};

/* Count, stamps and row ids of the readings in the windows, window by window through the
 * (sensor_id, ts_ms) index: a covering index scan, constant memory. An OR of the windows in one
 * query would make SQLite collect every matching row id in memory first (its MULTI-INDEX OR).
 * A sensor's windows of one shipment do not overlap, so the counts add up. */
static int extent_of(struct histdb *db, const struct histdb_window *windows, size_t count,
                     const struct histdb_filter *f, struct extent *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    if (sqlite3_prepare_v2(db->db,
                           "SELECT COUNT(*), MIN(ts_ms), MAX(ts_ms), MIN(id), MAX(id) "
                           "FROM readings WHERE sensor_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3",
                           -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_error(db, "prepare the readings count");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        struct histdb_window w;
        if (!narrow(&windows[i], f, &w))
            continue;
        sqlite3_bind_text(stmt, 1, w.sensor_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(stmt, 2, w.from_ms);
        sqlite3_bind_int64(stmt, 3, w.to_ms);
        if (sqlite3_step(stmt) != SQLITE_ROW) {
            rc = db_error(db, "count the readings");
            goto out;
        }
        int64_t n = sqlite3_column_int64(stmt, 0);
        if (n > 0) {
            int64_t first = sqlite3_column_int64(stmt, 1), last = sqlite3_column_int64(stmt, 2);
            int64_t lo = sqlite3_column_int64(stmt, 3), hi = sqlite3_column_int64(stmt, 4);
            bool none = out->rows == 0;
            out->first_ms = none || first < out->first_ms ? first : out->first_ms;
            out->last_ms = none || last > out->last_ms ? last : out->last_ms;
            out->lo_id = none || lo < out->lo_id ? lo : out->lo_id;
            out->hi_id = none || hi > out->hi_id ? hi : out->hi_id;
            out->rows += (uint64_t)n;
        }
        sqlite3_reset(stmt);
    }
out:
    sqlite3_finalize(stmt);
    return rc;
}

int histdb_readings_extent(struct histdb *db, const struct histdb_window *windows, size_t count,
                           const struct histdb_filter *filter, uint64_t *rows_out,
                           int64_t *first_ms_out, int64_t *last_ms_out)
{
    static const struct histdb_filter none = {0};
    struct extent e;
    int rc = extent_of(db, windows, count, filter ? filter : &none, &e);
    if (rc < 0)
        return rc;
    if (rows_out != NULL)
        *rows_out = e.rows;
    if (first_ms_out != NULL)
        *first_ms_out = e.first_ms;
    if (last_ms_out != NULL)
        *last_ms_out = e.last_ms;
    return 0;
}

/* The rows: a scan of the table by row id over [lo_id, hi_id], the order they were stored, with
 * the windows as a filter. The unary + keeps SQLite from answering the OR through the index
 * (which would gather the row ids in memory and sort them): the scan holds one row at a time. */
static int prepare_scan(struct histdb *db, const struct histdb_window *windows, size_t count,
                        const struct histdb_filter *f, const struct extent *e,
                        sqlite3_stmt **stmt_out)
{
    static const char head[] = "SELECT id, sensor_id, quantity, ts_ms, value, flags FROM readings "
                               "WHERE id BETWEEN ? AND ? AND (";
    static const char term[] = "(+sensor_id = ? AND +ts_ms >= ? AND +ts_ms < ?)";
    size_t cap = sizeof(head) + count * (sizeof(term) + 4) + 32;
    char *sql = malloc(cap);
    sqlite3_stmt *stmt = NULL;
    int rc = 0;
    if (sql == NULL)
        return -ENOMEM;
    size_t len = (size_t)snprintf(sql, cap, "%s", head);
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        struct histdb_window w;
        if (narrow(&windows[i], f, &w))
            len += (size_t)snprintf(sql + len, cap - len, "%s%s", n++ ? " OR " : "", term);
    }
    snprintf(sql + len, cap - len, ") ORDER BY id");
    if (sqlite3_prepare_v2(db->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_error(db, "prepare the readings query");
        goto out;
    }
    int p = 1;
    sqlite3_bind_int64(stmt, p++, e->lo_id);
    sqlite3_bind_int64(stmt, p++, e->hi_id);
    for (size_t i = 0; i < count; i++) {
        struct histdb_window w;
        if (!narrow(&windows[i], f, &w))
            continue;
        sqlite3_bind_text(stmt, p++, w.sensor_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(stmt, p++, w.from_ms);
        sqlite3_bind_int64(stmt, p++, w.to_ms);
    }
    *stmt_out = stmt;
    stmt = NULL;
out:
    sqlite3_finalize(stmt);
    free(sql);
    return rc;
}

int histdb_readings_each(struct histdb *db, const struct histdb_window *windows, size_t count,
                         const struct histdb_filter *filter,
                         int (*fn)(void *arg, const struct histdb_reading *row), void *arg)
{
    static const struct histdb_filter none = {0};
    const struct histdb_filter *f = filter ? filter : &none;
    sqlite3_stmt *stmt = NULL;
    struct extent e;
    int src;
    /* By row id: the order they were stored, which is the order the engine judged them in
     * (gateway/store.h store_readings_each()), so a summary computed here is the live one. */
    int rc = extent_of(db, windows, count, f, &e);
    if (rc < 0 || e.rows == 0)
        goto out;
    rc = prepare_scan(db, windows, count, f, &e, &stmt);
    if (rc < 0)
        goto out;
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct histdb_reading row = {.row_id = sqlite3_column_int64(stmt, 0)};
        column_text(stmt, 1, row.r.sensor_id, sizeof(row.r.sensor_id));
        row.r.quantity = (uint8_t)sqlite3_column_int(stmt, 2);
        row.r.ts_ms = sqlite3_column_int64(stmt, 3);
        row.r.value = column_double_or_nan(stmt, 4);
        row.r.flags = (uint8_t)sqlite3_column_int(stmt, 5);
        rc = fn(arg, &row);
        if (rc != 0)
            goto out;
    }
    if (src != SQLITE_DONE)
        rc = db_error(db, "read the readings");
out:
    sqlite3_finalize(stmt);
    return rc;
}

static void json_text(const cJSON *o, const char *key, char *field, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v))
        snprintf(field, size, "%s", v->valuestring);
}

static double json_number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

int histdb_alerts_each(struct histdb *db, const char *shipment_id,
                       int (*fn)(void *arg, const struct histdb_alert *a), void *arg)
{
    sqlite3_stmt *stmt = NULL;
    struct histdb_alert *a = malloc(sizeof(*a)); /* 4 KiB of comment: not on the stack */
    int rc = 0, src;
    if (a == NULL)
        return -ENOMEM;
    if (sqlite3_prepare_v2(db->db,
                           "SELECT seq, alert_id, ts_ms, shipment_id, alarm_id, sensor_id, "
                           "transition, state, level, value, worst, since_ms, amount_ms, payload "
                           "FROM alerts WHERE shipment_id = ?1 ORDER BY seq",
                           -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_error(db, "prepare the alerts query");
        goto out;
    }
    sqlite3_bind_text(stmt, 1, shipment_id, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        memset(a, 0, sizeof(*a));
        a->seq = (uint64_t)sqlite3_column_int64(stmt, 0);
        column_text(stmt, 1, a->alert_id, sizeof(a->alert_id));
        a->ts_ms = sqlite3_column_int64(stmt, 2);
        column_text(stmt, 3, a->shipment_id, sizeof(a->shipment_id));
        column_text(stmt, 4, a->alarm_id, sizeof(a->alarm_id));
        column_text(stmt, 5, a->sensor_id, sizeof(a->sensor_id));
        column_text(stmt, 6, a->transition, sizeof(a->transition));
        column_text(stmt, 7, a->state, sizeof(a->state));
        a->level = (uint8_t)sqlite3_column_int(stmt, 8);
        a->value = column_double_or_nan(stmt, 9);
        a->worst = column_double_or_nan(stmt, 10);
        a->since_ms = sqlite3_column_int64(stmt, 11);
        a->amount_ms = sqlite3_column_int64(stmt, 12);
        a->limit = (double)NAN;
        /* The payload is what people were sent: who acknowledged and why are only there. */
        cJSON *p = cJSON_Parse((const char *)sqlite3_column_text(stmt, 13));
        if (p != NULL) {
            json_text(p, "kind", a->kind, sizeof(a->kind));
            json_text(p, "quantity", a->quantity, sizeof(a->quantity));
            json_text(p, "severity", a->severity, sizeof(a->severity));
            json_text(p, "condition", a->condition, sizeof(a->condition));
            json_text(p, "unit", a->unit, sizeof(a->unit));
            json_text(p, "by", a->by, sizeof(a->by));
            json_text(p, "comment", a->comment, sizeof(a->comment));
            json_text(p, "message", a->message, sizeof(a->message));
            a->limit = json_number(p, "limit");
            a->notify = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "notify"));
            cJSON_Delete(p);
        }
        rc = fn(arg, a);
        if (rc != 0)
            goto out;
    }
    if (src != SQLITE_DONE)
        rc = db_error(db, "read the alerts");
out:
    sqlite3_finalize(stmt);
    free(a);
    return rc;
}

struct counts {
    uint64_t raised;
    bool found;
    double beyond; /* how far the worst so far lies beyond its limit */
    struct histdb_alert *worst;
};

/* How far v lies on the excursion side of the limit; NaN when not beyond it. */
static double beyond_limit(const struct histdb_alert *a, double v)
{
    if (!isfinite(v) || !isfinite(a->limit))
        return (double)NAN;
    if (strcmp(a->condition, "above") == 0 || strcmp(a->condition, "at_or_above") == 0)
        return v - a->limit;
    if (strcmp(a->condition, "below") == 0 || strcmp(a->condition, "at_or_below") == 0)
        return a->limit - v;
    return (double)NAN;
}

static int count_alert(void *arg, const struct histdb_alert *a)
{
    struct counts *c = arg;
    if (strcmp(a->transition, "raised") == 0)
        c->raised++;
    if (strcmp(a->quantity, "temperature") != 0 ||
        (strcmp(a->kind, "threshold") != 0 && strcmp(a->kind, "budget") != 0))
        return 0;
    double d = beyond_limit(a, a->worst);
    if (isfinite(d) && d >= 0.0 && (!c->found || d > c->beyond)) {
        c->found = true;
        c->beyond = d;
        if (c->worst != NULL)
            *c->worst = *a;
    }
    return 0;
}

int histdb_alarm_counts(struct histdb *db, const char *shipment_id, uint64_t *raised_out,
                        bool *found_out, struct histdb_alert *worst_out)
{
    struct counts c = {.worst = worst_out};
    int rc = histdb_alerts_each(db, shipment_id, count_alert, &c);
    if (rc < 0)
        return rc;
    if (raised_out != NULL)
        *raised_out = c.raised;
    if (found_out != NULL)
        *found_out = c.found;
    return 0;
}

static const char *text_or_empty(sqlite3_stmt *stmt, int col)
{
    const unsigned char *t = sqlite3_column_text(stmt, col);
    return t != NULL ? (const char *)t : "";
}

int histdb_events_each(struct histdb *db, const char *shipment_id,
                       int (*fn)(void *arg, const struct histdb_event *e), void *arg)
{
    sqlite3_stmt *stmt = NULL;
    int rc = 0, src;
    if (!db->has_events)
        return 0;
    if (sqlite3_prepare_v2(db->db,
                           shipment_id != NULL
                               ? "SELECT id, ts_ms, kind, actor, detail, prev_hash, hash "
                                 "FROM events WHERE shipment_id = ?1 ORDER BY id"
                               : "SELECT id, ts_ms, kind, actor, detail, prev_hash, hash "
                                 "FROM events ORDER BY id",
                           -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_error(db, "prepare the events query");
        goto out;
    }
    if (shipment_id != NULL)
        sqlite3_bind_text(stmt, 1, shipment_id, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct histdb_event e = {
            .id = sqlite3_column_int64(stmt, 0),
            .ts_ms = sqlite3_column_int64(stmt, 1),
            .kind = text_or_empty(stmt, 2),
            .actor = text_or_empty(stmt, 3),
            .detail = text_or_empty(stmt, 4),
            .prev_hash = text_or_empty(stmt, 5),
            .hash = text_or_empty(stmt, 6),
        };
        rc = fn(arg, &e);
        if (rc != 0)
            goto out;
    }
    if (src != SQLITE_DONE)
        rc = db_error(db, "read the events");
out:
    sqlite3_finalize(stmt);
    return rc;
}
