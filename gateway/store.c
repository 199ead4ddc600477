/* The history in SQLite (DESIGN §6). SQLite's result codes stop here: each failure is logged once
 * with the database path and SQLite's own message, and -EIO travels up (STYLE §5). */
#include "store.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

/* PRAGMA user_version of the schema this code writes. A file with a higher one was written by a
 * newer gateway; we refuse it rather than guess what its columns mean. */
#define SCHEMA_VERSION 2

/* How long a statement waits on a lock held by a reader-turned-writer (coldchainctl). */
#define BUSY_TIMEOUT_MS 5000

/* Version 1, created in one transaction so a crash never leaves half a schema behind.
 * readings.value is NULL for a faulted reading: a fault is not a temperature (DESIGN §4).
 * alerts.seq is the gap-free per-gateway sequence published on <root>/alerts (DESIGN §7).
 * outbox ids use AUTOINCREMENT so an id is never reused, even after the newest row was acked and
 * deleted: the uplink matches PUBACKs to rows by id, and a reused id could ack the wrong one. */
static const char schema_v1_sql[] =
    "CREATE TABLE shipments ("
    "  id TEXT PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  profile TEXT NOT NULL,"
    "  started_ms INTEGER NOT NULL,"
    "  ended_ms INTEGER"
    ");"
    "CREATE TABLE readings ("
    "  id INTEGER PRIMARY KEY,"
    "  sensor_id TEXT NOT NULL,"
    "  quantity INTEGER NOT NULL,"
    "  ts_ms INTEGER NOT NULL,"
    "  value REAL,"
    "  flags INTEGER NOT NULL"
    ");"
    "CREATE INDEX readings_sensor_ts ON readings (sensor_id, ts_ms);"
    "CREATE TABLE alerts ("
    "  seq INTEGER PRIMARY KEY,"
    "  alert_id TEXT NOT NULL UNIQUE,"
    "  ts_ms INTEGER NOT NULL,"
    "  shipment_id TEXT NOT NULL,"
    "  alarm_id TEXT NOT NULL,"
    "  sensor_id TEXT NOT NULL,"
    "  transition TEXT NOT NULL,"
    "  value REAL,"
    "  worst REAL,"
    "  since_ms INTEGER NOT NULL,"
    "  payload TEXT NOT NULL"
    ");"
    /* store_last_alarms() groups by alarm instance and takes the highest seq. */
    "CREATE INDEX alerts_instance ON alerts (shipment_id, alarm_id, sensor_id, seq);"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  topic TEXT NOT NULL,"
    "  payload BLOB NOT NULL,"
    "  qos INTEGER NOT NULL,"
    "  retain INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX outbox_topic ON outbox (topic);"
    "PRAGMA user_version = 1;";

/* Version 2: the ISA-18.2 lifecycle (docs/rules.md). Each alert keeps the state people were
 * told (active, acknowledged, returned, normal), its reminder level and its amount (budget used,
 * silence, credit), so a restart knows what was announced. Version 1 knew only raised/cleared,
 * and a cleared alarm then owed no acknowledgement. */
static const char schema_v2_sql[] =
    "ALTER TABLE alerts ADD COLUMN state TEXT NOT NULL DEFAULT 'normal';"
    "ALTER TABLE alerts ADD COLUMN level INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE alerts ADD COLUMN amount_ms INTEGER NOT NULL DEFAULT 0;"
    "UPDATE alerts SET state = 'active' WHERE transition = 'raised';"
    "PRAGMA user_version = 2;";

/* Every statement is prepared once in store_open() and reused: the reading path must neither
 * parse SQL nor allocate per reading. */
enum stmt {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SHIPMENT_INSERT,
    STMT_SHIPMENT_STARTED,
    STMT_READING_INSERT,
    STMT_ALERT_INSERT,
    STMT_ALERT_LAST,
    STMT_OUTBOX_INSERT,
    STMT_OUTBOX_DELETE_TOPIC,
    STMT_OUTBOX_NEXT,
    STMT_OUTBOX_DELETE_ID,
    STMT_OUTBOX_COUNT,
    STMT_ALERT_INSTANCE,
    STMT_OUTBOX_TRIM_TOPIC,
    STMT_COUNT
};

static const char *const stmt_sql[STMT_COUNT] = {
    /* IMMEDIATE takes the write lock now, so a busy database fails here, before any row of the
     * batch is written, and not half-way through it. */
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SHIPMENT_INSERT] = "INSERT OR IGNORE INTO shipments (id, kind, profile, started_ms) "
                             "VALUES (?1, ?2, ?3, ?4)",
    [STMT_SHIPMENT_STARTED] = "SELECT started_ms FROM shipments WHERE id = ?1",
    [STMT_READING_INSERT] = "INSERT INTO readings (sensor_id, quantity, ts_ms, value, flags) "
                            "VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_ALERT_INSERT] = "INSERT INTO alerts (seq, alert_id, ts_ms, shipment_id, alarm_id, "
                          "sensor_id, transition, value, worst, since_ms, payload, state, "
                          "level, amount_ms) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [STMT_ALERT_LAST] = "SELECT seq, alert_id, ts_ms, shipment_id, alarm_id, sensor_id, "
                        "transition, value, worst, since_ms, state, level, amount_ms "
                        "FROM alerts "
                        "WHERE seq IN (SELECT MAX(seq) FROM alerts "
                        "GROUP BY shipment_id, alarm_id, sensor_id) ORDER BY seq",
    [STMT_OUTBOX_INSERT] = "INSERT INTO outbox (topic, payload, qos, retain, created_ms) "
                           "VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_OUTBOX_DELETE_TOPIC] = "DELETE FROM outbox WHERE topic = ?1",
    [STMT_OUTBOX_NEXT] = "SELECT id, topic, payload, qos, retain FROM outbox WHERE id > ?1 "
                         "ORDER BY id LIMIT 1",
    [STMT_OUTBOX_DELETE_ID] = "DELETE FROM outbox WHERE id = ?1",
    [STMT_OUTBOX_COUNT] = "SELECT COUNT(*) FROM outbox",
    [STMT_OUTBOX_TRIM_TOPIC] = "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
                               "WHERE topic = ?1 ORDER BY id LIMIT ?2)",
    [STMT_ALERT_INSTANCE] = "SELECT shipment_id, alarm_id, sensor_id FROM alerts "
                            "WHERE alert_id = ?1",
};

struct store {
    sqlite3 *db;
    char *path; /* <data_dir>/history.db, for messages */
    sqlite3_stmt *stmt[STMT_COUNT];
    bool in_batch;       /* a BEGIN of ours is open (store_flush() commits it) */
    size_t pending_rows; /* rows written by the open batch */
    uint64_t alert_seq_next;
};

/* The one place SQLite errors become errno: logs what failed with SQLite's message. */
static int db_error(const struct store *store, const char *what)
{
    log_err("store[%s]: %s: %s", store->path, what, sqlite3_errmsg(store->db));
    return -EIO;
}


/* Binds a fixed-size char array that should be NUL-terminated without reading past its end. */
static int bind_field(sqlite3_stmt *stmt, int idx, const char *field, size_t size)
{
    return sqlite3_bind_text(stmt, idx, field, (int)strnlen(field, size), SQLITE_STATIC);
}

/* Copies a TEXT column into a fixed-size field; a longer value than this code ever writes means
 * the file was edited or corrupted, and truncating an id would silently name another thing. */
static int column_field(const struct store *store, sqlite3_stmt *stmt, int col, char *field,
                        size_t size)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    size_t len = (size_t)sqlite3_column_bytes(stmt, col);
    if (len >= size) {
        log_err("store[%s]: column %s holds %zu bytes, at most %zu expected", store->path,
                sqlite3_column_name(stmt, col), len, size - 1);
        return -EIO;
    }
    if (text != NULL)
        memcpy(field, text, len);
    field[len] = '\0';
    return 0;
}

/* NaN is stored as NULL; gives NaN back rather than a plausible 0.0 °C. */
static double column_double_or_nan(sqlite3_stmt *stmt, int col)
{
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return (double)NAN;
    return sqlite3_column_double(stmt, col);
}

/* Runs a statement that returns no rows and resets it. */
static int step_done(struct store *store, enum stmt which, const char *what)
{
    sqlite3_stmt *stmt = store->stmt[which];
    int rc = 0;
    if (sqlite3_step(stmt) != SQLITE_DONE)
        rc = db_error(store, what);
    sqlite3_reset(stmt);
    return rc;
}

/* Some failures (I/O, disk full, out of memory) make SQLite roll the whole transaction back on
 * its own. Notices that, so the batch is not believed open when it is gone. */
static void note_autorollback(struct store *store)
{
    if (store->in_batch && sqlite3_get_autocommit(store->db)) {
        log_err("store[%s]: SQLite rolled the batch back: %zu rows lost", store->path,
                store->pending_rows);
        store->in_batch = false;
        store->pending_rows = 0;
    }
}

/* Undoes an open transaction after a failure. A failing ROLLBACK is logged; nothing else can be
 * done about it. */
static void rollback(struct store *store)
{
    if (!sqlite3_get_autocommit(store->db))
        step_done(store, STMT_ROLLBACK, "rollback");
}

static int batch_begin(struct store *store)
{
    if (store->in_batch)
        return 0;
    int rc = step_done(store, STMT_BEGIN, "begin batch");
    if (rc == 0)
        store->in_batch = true;
    return rc;
}

static int read_user_version(struct store *store, int *version_out)
{
    sqlite3_stmt *stmt = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(store->db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_error(store, "prepare user_version");
        goto out;
    }
    if (sqlite3_step(stmt) != SQLITE_ROW) {
        rc = db_error(store, "read user_version");
        goto out;
    }
    *version_out = sqlite3_column_int(stmt, 0);
out:
    sqlite3_finalize(stmt);
    return rc;
}

static int refuse_newer(const struct store *store, int version)
{
    log_err("store[%s]: schema version %d is newer than this gateway's %d; refusing to open",
            store->path, version, SCHEMA_VERSION);
    return -EPROTO;
}

/* Sets the connection up. The version is checked before anything is written, so a newer
 * gateway's file is left exactly as it was found. */
static int configure(struct store *store)
{
    sqlite3_stmt *stmt = NULL;
    int version = 0;
    int rc = 0;

    if (sqlite3_busy_timeout(store->db, BUSY_TIMEOUT_MS) != SQLITE_OK) {
        rc = db_error(store, "set busy timeout");
        goto out;
    }
    rc = read_user_version(store, &version);
    if (rc < 0)
        goto out;
    if (version > SCHEMA_VERSION) {
        rc = refuse_newer(store, version);
        goto out;
    }
    /* WAL lets coldchainctl read while the engine writes (DESIGN §6). journal_mode answers with
     * the mode in force, which is not WAL where the file system cannot share memory. */
    if (sqlite3_prepare_v2(store->db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_ROW) {
        rc = db_error(store, "set journal_mode=WAL");
        goto out;
    }
    const unsigned char *mode = sqlite3_column_text(stmt, 0);
    if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
        log_err("store[%s]: journal_mode WAL not available (got %s)", store->path,
                mode != NULL ? (const char *)mode : "nothing");
        rc = -EIO;
        goto out;
    }
    /* FULL: a commit is on disk when COMMIT returns, so a committed alert survives power loss
     * before it is published. NORMAL in WAL mode could lose the last commits. */
    if (sqlite3_exec(store->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", NULL, NULL,
                     NULL) != SQLITE_OK) {
        rc = db_error(store, "set synchronous/foreign_keys");
        goto out;
    }
out:
    sqlite3_finalize(stmt);
    return rc;
}

/* Creates the schema on a new file. The version is read again under the write lock: another
 * process may have created the schema since configure() looked. */
static int migrate(struct store *store)
{
    int version = 0;
    int rc = 0;
    bool in_txn = false;

    if (sqlite3_exec(store->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(store, "begin schema transaction");
        goto out;
    }
    in_txn = true;
    rc = read_user_version(store, &version);
    if (rc < 0)
        goto out;
    if (version > SCHEMA_VERSION) {
        rc = refuse_newer(store, version);
        goto out;
    }
    if (version == 0 && sqlite3_exec(store->db, schema_v1_sql, NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(store, "create schema v1");
        goto out;
    }
    if (version < 2 && sqlite3_exec(store->db, schema_v2_sql, NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(store, "migrate schema to v2");
        goto out;
    }
    if (sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(store, "commit schema");
        goto out;
    }
    in_txn = false;
out:
    if (in_txn && !sqlite3_get_autocommit(store->db))
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int load_alert_seq(struct store *store)
{
    sqlite3_stmt *stmt = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(store->db, "SELECT COALESCE(MAX(seq), 0) FROM alerts", -1, &stmt,
                           NULL) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_ROW) {
        rc = db_error(store, "read last alert seq");
        goto out;
    }
    store->alert_seq_next = (uint64_t)sqlite3_column_int64(stmt, 0) + 1;
out:
    sqlite3_finalize(stmt);
    return rc;
}

static void store_free(struct store *store)
{
    for (size_t i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(store->stmt[i]);
    if (store->db != NULL && sqlite3_close(store->db) != SQLITE_OK)
        log_err("store[%s]: close: %s", store->path, sqlite3_errmsg(store->db));
    free(store->path);
    free(store);
}

int store_open(const char *data_dir, struct store **store_out)
{
    struct store *store = NULL;
    int rc = 0;

    if (data_dir == NULL || store_out == NULL)
        return -EINVAL;

    store = calloc(1, sizeof(*store));
    if (store == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    size_t path_size = strlen(data_dir) + sizeof("/history.db");
    store->path = malloc(path_size);
    if (store->path == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    snprintf(store->path, path_size, "%s/history.db", data_dir);

    /* Only the engine thread uses the connection (DESIGN §3): no SQLite mutexes needed. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int src = sqlite3_open_v2(store->path, &store->db, flags, NULL);
    if (src != SQLITE_OK) {
        if (store->db == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        rc = db_error(store, "open");
        goto out;
    }
    sqlite3_extended_result_codes(store->db, 1);

    rc = configure(store);
    if (rc < 0)
        goto out;
    rc = migrate(store);
    if (rc < 0)
        goto out;
    rc = load_alert_seq(store);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < STMT_COUNT; i++) {
        if (sqlite3_prepare_v3(store->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &store->stmt[i], NULL) != SQLITE_OK) {
            rc = db_error(store, "prepare statement");
            goto out;
        }
    }
    *store_out = store;
    store = NULL;
out:
    if (store != NULL)
        store_free(store);
    return rc;
}

void store_close(struct store *store)
{
    if (store == NULL)
        return;
    /* store_flush() logs a failure; there is no one left to return it to. */
    store_flush(store);
    store_free(store);
}

int store_shipment_ensure(struct store *store, const char *id, const char *kind,
                          const char *profile, int64_t now_ms, int64_t *started_ms_out)
{
    sqlite3_stmt *ins;
    sqlite3_stmt *sel;
    int rc = 0;

    if (store == NULL || id == NULL || kind == NULL || profile == NULL)
        return -EINVAL;
    ins = store->stmt[STMT_SHIPMENT_INSERT];
    sel = store->stmt[STMT_SHIPMENT_STARTED];

    /* OR IGNORE: a shipment that already exists keeps its start, kind and profile (a restart
     * must not restart the shipment's history). */
    sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, profile, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 4, now_ms);
    if (sqlite3_step(ins) != SQLITE_DONE) {
        rc = db_error(store, "insert shipment");
        goto out;
    }
    if (store->in_batch)
        store->pending_rows += (size_t)sqlite3_changes(store->db);

    sqlite3_bind_text(sel, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(sel) != SQLITE_ROW) {
        rc = db_error(store, "read shipment start");
        goto out;
    }
    if (started_ms_out != NULL)
        *started_ms_out = sqlite3_column_int64(sel, 0);
out:
    sqlite3_reset(ins);
    sqlite3_reset(sel);
    if (rc < 0)
        note_autorollback(store);
    return rc;
}

int store_append_reading(struct store *store, const struct reading *r)
{
    sqlite3_stmt *stmt;
    int rc = 0;

    if (store == NULL || r == NULL)
        return -EINVAL;
    stmt = store->stmt[STMT_READING_INSERT];

    rc = batch_begin(store);
    if (rc < 0)
        goto out;
    bind_field(stmt, 1, r->sensor_id, sizeof(r->sensor_id));
    sqlite3_bind_int(stmt, 2, r->quantity);
    sqlite3_bind_int64(stmt, 3, r->ts_ms);
    /* A fault carries no value (DESIGN §4); NULL says so where NaN or 0 could be misread. */
    if (r->flags & READING_FAULT)
        sqlite3_bind_null(stmt, 4);
    else
        sqlite3_bind_double(stmt, 4, r->value);
    sqlite3_bind_int(stmt, 5, r->flags);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        rc = db_error(store, "insert reading");
        goto out;
    }
    store->pending_rows++;
out:
    sqlite3_reset(stmt);
    if (rc < 0)
        note_autorollback(store);
    return rc;
}

size_t store_pending(const struct store *store)
{
    return store != NULL ? store->pending_rows : 0;
}

int store_flush(struct store *store)
{
    int rc = 0;

    if (store == NULL)
        return -EINVAL;
    if (!store->in_batch)
        return 0;
    rc = step_done(store, STMT_COMMIT, "commit batch");
    if (rc < 0) {
        log_err("store[%s]: batch of %zu rows rolled back", store->path, store->pending_rows);
        rollback(store);
    }
    store->in_batch = false;
    store->pending_rows = 0;
    return rc;
}

uint64_t store_alert_seq_next(const struct store *store)
{
    return store != NULL ? store->alert_seq_next : 0;
}

/* Inserts one outbox row inside whatever transaction is open; does not begin or commit. */
static int outbox_insert(struct store *store, const char *topic, const void *payload, size_t len,
                         int qos, bool retain, int64_t *id_out)
{
    sqlite3_stmt *stmt = store->stmt[STMT_OUTBOX_INSERT];
    int rc = 0;

    sqlite3_bind_text(stmt, 1, topic, -1, SQLITE_STATIC);
    /* A zero-length blob from a NULL pointer would bind NULL and break NOT NULL. */
    if (len == 0)
        sqlite3_bind_zeroblob(stmt, 2, 0);
    else
        sqlite3_bind_blob64(stmt, 2, payload, len, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 3, qos);
    sqlite3_bind_int(stmt, 4, retain ? 1 : 0);
    sqlite3_bind_int64(stmt, 5, clock_wall_ms());
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        rc = db_error(store, "insert outbox message");
        goto out;
    }
    if (id_out != NULL)
        *id_out = sqlite3_last_insert_rowid(store->db);
out:
    sqlite3_reset(stmt);
    return rc;
}

/* store_outbox_msg.topic is fixed-size; a longer topic could be stored but never sent whole. */
static bool topic_fits(const char *topic)
{
    return strlen(topic) < sizeof(((struct store_outbox_msg *)NULL)->topic);
}

int store_append_alert(struct store *store, const struct store_alert *alert, const char *topic,
                       const char *payload, int64_t *outbox_id_out)
{
    sqlite3_stmt *stmt;
    int64_t outbox_id = 0;
    bool in_txn = false;
    int rc = 0;

    if (store == NULL || alert == NULL || topic == NULL || payload == NULL || !topic_fits(topic))
        return -EINVAL;
    /* Subscribers detect a lost alert by a gap in seq (DESIGN §7): refuse to make one. */
    if (alert->seq != store->alert_seq_next) {
        log_err("store[%s]: alert %.*s has seq %llu, expected %llu", store->path,
                (int)strnlen(alert->id, sizeof(alert->id)), alert->id,
                (unsigned long long)alert->seq, (unsigned long long)store->alert_seq_next);
        return -EINVAL;
    }
    stmt = store->stmt[STMT_ALERT_INSERT];

    /* The readings before the alert are committed first, in their own transaction: if the alert
     * then fails, its ROLLBACK must not take the batch's readings with it. */
    rc = store_flush(store);
    if (rc < 0)
        goto out;
    rc = step_done(store, STMT_BEGIN, "begin alert");
    if (rc < 0)
        goto out;
    in_txn = true;

    sqlite3_bind_int64(stmt, 1, (int64_t)alert->seq);
    bind_field(stmt, 2, alert->id, sizeof(alert->id));
    sqlite3_bind_int64(stmt, 3, alert->ts_ms);
    bind_field(stmt, 4, alert->shipment_id, sizeof(alert->shipment_id));
    bind_field(stmt, 5, alert->alarm_id, sizeof(alert->alarm_id));
    bind_field(stmt, 6, alert->sensor_id, sizeof(alert->sensor_id));
    bind_field(stmt, 7, alert->transition, sizeof(alert->transition));
    sqlite3_bind_double(stmt, 8, alert->value); /* NaN binds as NULL */
    sqlite3_bind_double(stmt, 9, alert->worst);
    sqlite3_bind_int64(stmt, 10, alert->since_ms);
    sqlite3_bind_text(stmt, 11, payload, -1, SQLITE_STATIC);
    bind_field(stmt, 12, alert->state, sizeof(alert->state));
    sqlite3_bind_int(stmt, 13, alert->level);
    sqlite3_bind_int64(stmt, 14, alert->amount_ms);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        rc = db_error(store, "insert alert");
        goto out;
    }
    /* QoS 1, not retained: every transition must arrive, and a late subscriber must not take an
     * old transition for a current one (DESIGN §7). */
    rc = outbox_insert(store, topic, payload, strlen(payload), 1, false, &outbox_id);
    if (rc < 0)
        goto out;
    /* synchronous=FULL: once COMMIT returns the alert survives power loss, so it may now be
     * published (DESIGN §6: an alert is committed before it is published). */
    rc = step_done(store, STMT_COMMIT, "commit alert");
    if (rc < 0)
        goto out;
    in_txn = false;
    store->alert_seq_next++;
    if (outbox_id_out != NULL)
        *outbox_id_out = outbox_id;
out:
    sqlite3_reset(stmt);
    if (in_txn)
        rollback(store);
    return rc;
}

int store_alert_instance(struct store *store, const char *alert_id, struct store_alert *out)
{
    if (store == NULL || alert_id == NULL || out == NULL)
        return -EINVAL;
    sqlite3_stmt *stmt = store->stmt[STMT_ALERT_INSTANCE];
    sqlite3_bind_text(stmt, 1, alert_id, -1, SQLITE_STATIC);
    int rc = -ENOENT;
    int src = sqlite3_step(stmt);
    if (src == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        snprintf(out->id, sizeof(out->id), "%s", alert_id);
        rc = column_field(store, stmt, 0, out->shipment_id, sizeof(out->shipment_id));
        if (rc == 0)
            rc = column_field(store, stmt, 1, out->alarm_id, sizeof(out->alarm_id));
        if (rc == 0)
            rc = column_field(store, stmt, 2, out->sensor_id, sizeof(out->sensor_id));
    } else if (src != SQLITE_DONE) {
        rc = db_error(store, "look up an alert");
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

int store_last_alarms(struct store *store, int (*fn)(void *arg, const struct store_alert *last),
                      void *arg)
{
    sqlite3_stmt *stmt;
    int rc = 0;
    int src;

    if (store == NULL || fn == NULL)
        return -EINVAL;
    stmt = store->stmt[STMT_ALERT_LAST];

    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct store_alert last = {0};
        last.seq = (uint64_t)sqlite3_column_int64(stmt, 0);
        last.ts_ms = sqlite3_column_int64(stmt, 2);
        rc = column_field(store, stmt, 1, last.id, sizeof(last.id));
        if (rc == 0)
            rc = column_field(store, stmt, 3, last.shipment_id, sizeof(last.shipment_id));
        if (rc == 0)
            rc = column_field(store, stmt, 4, last.alarm_id, sizeof(last.alarm_id));
        if (rc == 0)
            rc = column_field(store, stmt, 5, last.sensor_id, sizeof(last.sensor_id));
        if (rc == 0)
            rc = column_field(store, stmt, 6, last.transition, sizeof(last.transition));
        if (rc == 0)
            rc = column_field(store, stmt, 10, last.state, sizeof(last.state));
        if (rc < 0)
            goto out;
        last.level = (uint8_t)sqlite3_column_int(stmt, 11);
        last.amount_ms = sqlite3_column_int64(stmt, 12);
        last.value = column_double_or_nan(stmt, 7);
        last.worst = column_double_or_nan(stmt, 8);
        last.since_ms = sqlite3_column_int64(stmt, 9);
        rc = fn(arg, &last);
        if (rc != 0)
            goto out;
    }
    if (src != SQLITE_DONE)
        rc = db_error(store, "read last alarms");
out:
    sqlite3_reset(stmt);
    return rc;
}

int store_outbox_put(struct store *store, const char *topic, const void *payload, size_t len,
                     int qos, bool retain, bool replace_topic, int64_t *id_out)
{
    sqlite3_stmt *del;
    int rc = 0;

    if (store == NULL || topic == NULL || (payload == NULL && len != 0) || !topic_fits(topic) ||
        qos < 0 || qos > 2)
        return -EINVAL;
    del = store->stmt[STMT_OUTBOX_DELETE_TOPIC];

    rc = batch_begin(store);
    if (rc < 0)
        goto out;
    if (replace_topic) {
        /* Every older row of the topic goes, even one in flight: its PUBACK will then ack an id
         * that is missing, which store_outbox_ack() accepts. */
        sqlite3_bind_text(del, 1, topic, -1, SQLITE_STATIC);
        if (sqlite3_step(del) != SQLITE_DONE) {
            rc = db_error(store, "delete superseded outbox messages");
            goto out;
        }
        store->pending_rows += (size_t)sqlite3_changes(store->db);
    }
    rc = outbox_insert(store, topic, payload, len, qos, retain, id_out);
    if (rc < 0)
        goto out;
    store->pending_rows++;
out:
    sqlite3_reset(del);
    if (rc < 0)
        note_autorollback(store);
    return rc;
}

int store_outbox_trim(struct store *store, const char *topic, int64_t count, int64_t *dropped_out)
{
    if (store == NULL || topic == NULL || count < 0)
        return -EINVAL;
    *dropped_out = 0;
    if (count == 0)
        return 0;
    int rc = batch_begin(store);
    if (rc < 0)
        return rc;
    sqlite3_stmt *stmt = store->stmt[STMT_OUTBOX_TRIM_TOPIC];
    sqlite3_bind_text(stmt, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, count);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        rc = db_error(store, "drop the oldest outbox messages");
    } else {
        *dropped_out = sqlite3_changes(store->db);
        store->pending_rows += (size_t)*dropped_out;
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc < 0)
        note_autorollback(store);
    return rc;
}

int store_outbox_next(struct store *store, int64_t after_id, struct store_outbox_msg *msg_out)
{
    sqlite3_stmt *stmt;
    void *payload = NULL;
    int rc = 0;
    int src;

    if (store == NULL || msg_out == NULL)
        return -EINVAL;
    stmt = store->stmt[STMT_OUTBOX_NEXT];

    sqlite3_bind_int64(stmt, 1, after_id);
    src = sqlite3_step(stmt);
    if (src == SQLITE_DONE) {
        rc = 1;
        goto out;
    }
    if (src != SQLITE_ROW) {
        rc = db_error(store, "read outbox");
        goto out;
    }
    struct store_outbox_msg msg = {0};
    msg.id = sqlite3_column_int64(stmt, 0);
    rc = column_field(store, stmt, 1, msg.topic, sizeof(msg.topic));
    if (rc < 0)
        goto out;
    const void *blob = sqlite3_column_blob(stmt, 2);
    msg.len = (size_t)sqlite3_column_bytes(stmt, 2);
    /* Always a real allocation, even for an empty payload: callers need not special-case 0. */
    payload = malloc(msg.len > 0 ? msg.len : 1);
    if (payload == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (msg.len > 0)
        memcpy(payload, blob, msg.len);
    msg.payload = payload;
    msg.qos = sqlite3_column_int(stmt, 3);
    msg.retain = sqlite3_column_int(stmt, 4) != 0;
    *msg_out = msg;
    payload = NULL;
out:
    free(payload);
    sqlite3_reset(stmt);
    return rc;
}

void store_outbox_msg_clear(struct store_outbox_msg *msg)
{
    if (msg == NULL)
        return;
    free(msg->payload);
    memset(msg, 0, sizeof(*msg));
}

int store_outbox_ack(struct store *store, int64_t id)
{
    sqlite3_stmt *stmt;
    int rc = 0;

    if (store == NULL)
        return -EINVAL;
    stmt = store->stmt[STMT_OUTBOX_DELETE_ID];

    /* In the batch: if power fails before the commit the message is sent again, which QoS 1
     * allows (at least once); the alternative, an fsync per PUBACK, would not pay for itself. */
    rc = batch_begin(store);
    if (rc < 0)
        goto out;
    sqlite3_bind_int64(stmt, 1, id);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        rc = db_error(store, "delete acknowledged outbox message");
        goto out;
    }
    store->pending_rows += (size_t)sqlite3_changes(store->db);
out:
    sqlite3_reset(stmt);
    if (rc < 0)
        note_autorollback(store);
    return rc;
}

int store_outbox_count(struct store *store, int64_t *count_out)
{
    sqlite3_stmt *stmt;
    int rc = 0;

    if (store == NULL || count_out == NULL)
        return -EINVAL;
    stmt = store->stmt[STMT_OUTBOX_COUNT];

    if (sqlite3_step(stmt) != SQLITE_ROW) {
        rc = db_error(store, "count outbox");
        goto out;
    }
    *count_out = sqlite3_column_int64(stmt, 0);
out:
    sqlite3_reset(stmt);
    return rc;
}


int store_readings_each(struct store *store, int64_t from_ms,
                        int (*fn)(void *arg, const struct reading *r), void *arg)
{
    sqlite3_stmt *stmt = NULL;
    int rc = 0;
    int src;
    if (store == NULL || fn == NULL)
        return -EINVAL;
    /* In the order they were stored, which is the order the engine judged them in. */
    if (sqlite3_prepare_v2(store->db,
                           "SELECT sensor_id, quantity, ts_ms, value, flags FROM readings "
                           "WHERE ts_ms >= ?1 ORDER BY id",
                           -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_error(store, "prepare readings replay");
        goto out;
    }
    sqlite3_bind_int64(stmt, 1, from_ms);
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct reading r = {0};
        rc = column_field(store, stmt, 0, r.sensor_id, sizeof(r.sensor_id));
        if (rc < 0)
            goto out;
        r.quantity = (uint8_t)sqlite3_column_int(stmt, 1);
        r.ts_ms = sqlite3_column_int64(stmt, 2);
        r.value = column_double_or_nan(stmt, 3);
        r.flags = (uint8_t)sqlite3_column_int(stmt, 4);
        rc = fn(arg, &r);
        if (rc != 0)
            goto out;
    }
    if (src != SQLITE_DONE)
        rc = db_error(store, "read readings for replay");
out:
    sqlite3_finalize(stmt);
    return rc;
}
