/* The history in SQLite (DESIGN §6, docs/history.md). SQLite's result codes stop here: each
 * failure is logged once with the database path and SQLite's own message, and -EIO travels up
 * (STYLE §5). The audit chain's encodings and hashes are audit.c's, shared with verify. */
#include "store.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "clock.h"
#include "log.h"

/* PRAGMA user_version of the schema this code writes. A file with a higher one was written by a
 * newer gateway; we refuse it rather than guess what its columns mean. */
#define SCHEMA_VERSION 3

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

/* Version 3: the shipment lifecycle and the audit trail (docs/history.md). A shipment records
 * where it came from and its description; shipment_sensors holds the windows in which a
 * sensor's readings are the shipment's (to_ms NULL while assigned). events is the hash chain:
 * ids from 1 without a gap (explicit, never AUTOINCREMENT's), each row's hash over its canonical
 * encoding and the previous row's hash. seals is a lookup aid for retention (which readings
 * event sealed a reading id, which purge event last took rows from it); verify never trusts it.
 * meta holds the uplinked mark. The first events (what the migration found) are written in C,
 * in the same transaction, by genesis(). */
static const char schema_v3_sql[] =
    "ALTER TABLE shipments ADD COLUMN description TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE shipments ADD COLUMN source TEXT NOT NULL DEFAULT 'config';"
    "CREATE TABLE shipment_sensors ("
    "  id INTEGER PRIMARY KEY,"
    "  shipment_id TEXT NOT NULL REFERENCES shipments (id),"
    "  sensor_id TEXT NOT NULL,"
    "  from_ms INTEGER NOT NULL,"
    "  to_ms INTEGER"
    ");"
    "CREATE INDEX shipment_sensors_shipment ON shipment_sensors (shipment_id, sensor_id);"
    "CREATE INDEX shipment_sensors_sensor ON shipment_sensors (sensor_id, from_ms);"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  ts_ms INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  shipment_id TEXT,"
    "  actor TEXT,"
    "  detail TEXT NOT NULL,"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL"
    ");"
    "CREATE INDEX events_shipment ON events (shipment_id, id) WHERE shipment_id IS NOT NULL;"
    "CREATE TABLE seals ("
    "  first_id INTEGER PRIMARY KEY,"
    "  last_id INTEGER NOT NULL,"
    "  event_id INTEGER NOT NULL,"
    "  purge_event INTEGER"
    ");"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO meta (key, value) VALUES ('uplinked_id', 0);";

/* Every statement is prepared once in store_open() and reused: the reading path must neither
 * parse SQL nor allocate per reading. */
enum stmt {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SHIPMENT_INSERT,
    STMT_SHIPMENT_GET,
    STMT_SHIPMENT_END,
    STMT_ASSIGN_INSERT,
    STMT_ASSIGN_OPEN,
    STMT_ASSIGN_COUNT,
    STMT_ASSIGN_CLOSE,
    STMT_ASSIGN_CLOSE_ALL,
    STMT_READING_INSERT,
    STMT_EVENT_INSERT,
    STMT_SEAL_INSERT,
    STMT_META_GET,
    STMT_META_RAISE,
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
    [STMT_SHIPMENT_INSERT] = "INSERT INTO shipments (id, kind, profile, started_ms, description, "
                             "source) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [STMT_SHIPMENT_GET] = "SELECT kind, profile, description, source, started_ms, ended_ms "
                          "FROM shipments WHERE id = ?1",
    [STMT_SHIPMENT_END] = "UPDATE shipments SET ended_ms = ?2 WHERE id = ?1 AND ended_ms IS NULL",
    [STMT_ASSIGN_INSERT] = "INSERT INTO shipment_sensors (shipment_id, sensor_id, from_ms) "
                           "VALUES (?1, ?2, ?3)",
    [STMT_ASSIGN_OPEN] = "SELECT id, from_ms FROM shipment_sensors "
                         "WHERE shipment_id = ?1 AND sensor_id = ?2 AND to_ms IS NULL",
    [STMT_ASSIGN_COUNT] = "SELECT COUNT(*) FROM shipment_sensors WHERE shipment_id = ?1",
    [STMT_ASSIGN_CLOSE] = "UPDATE shipment_sensors SET to_ms = ?2 WHERE id = ?1",
    [STMT_ASSIGN_CLOSE_ALL] = "UPDATE shipment_sensors SET to_ms = ?2 "
                              "WHERE shipment_id = ?1 AND to_ms IS NULL",
    /* Explicit ids: a purge may delete the newest rows, and an id must never be reused (the
     * chain names readings by id). */
    [STMT_READING_INSERT] = "INSERT INTO readings (id, sensor_id, quantity, ts_ms, value, flags) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [STMT_EVENT_INSERT] = "INSERT INTO events (id, ts_ms, kind, shipment_id, actor, detail, "
                          "prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [STMT_SEAL_INSERT] = "INSERT INTO seals (first_id, last_id, event_id) VALUES (?1, ?2, ?3)",
    [STMT_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [STMT_META_RAISE] = "UPDATE meta SET value = MAX(value, ?2) WHERE key = ?1",
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

/* Where the chain stands. The store keeps two copies: the committed one, and the working one
 * that the open transaction moves on; a rollback puts the committed one back, so ids stay
 * gap-free and the next event chains to the last one that is really there. */
struct chain {
    int64_t event_id_next;
    char head[AUDIT_HEX_SIZE]; /* hash of event event_id_next - 1, or AUDIT_GENESIS_HASH */
    int64_t reading_id_next;
};

struct store {
    sqlite3 *db;
    char *path; /* <data_dir>/history.db, for messages */
    sqlite3_stmt *stmt[STMT_COUNT];
    bool in_batch;       /* a BEGIN of ours is open (store_flush() commits it) */
    size_t pending_rows; /* rows written by the open batch */
    uint64_t alert_seq_next;
    struct chain chain;           /* moved on by the open transaction */
    struct chain chain_committed; /* as of the last commit */
    struct audit_hasher *hasher;  /* events and rows, one at a time */
    /* The readings of the open batch, sealed by a "readings" event at its commit. */
    struct audit_hasher *seal_hasher; /* SHA-256 over their row hashes, in id order */
    int64_t seal_first_id;            /* the id of the first; seal_count follow it */
    size_t seal_count;
    uint8_t *seal_rows;               /* their fingerprints, AUDIT_FINGERPRINT_LEN bytes each */
    size_t seal_rows_cap;
    bool seal_broken;                 /* a row could not be hashed: the batch cannot commit */
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

/* The batch's readings are sealed or gone: nothing of them is pending any more. */
static void seal_reset(struct store *store)
{
    store->seal_count = 0;
    store->seal_broken = false;
}

/* After a COMMIT: what the transaction wrote is the chain now. */
static void chain_commit(struct store *store)
{
    store->chain_committed = store->chain;
    seal_reset(store);
}

/* After a ROLLBACK (ours or SQLite's): the events and readings of the transaction are gone, so
 * their ids are free again and the head is the last committed event. */
static void chain_restore(struct store *store)
{
    store->chain = store->chain_committed;
    seal_reset(store);
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
        chain_restore(store);
    }
}

/* Undoes an open transaction after a failure. A failing ROLLBACK is logged; nothing else can be
 * done about it. */
static void rollback(struct store *store)
{
    if (!sqlite3_get_autocommit(store->db))
        step_done(store, STMT_ROLLBACK, "rollback");
    chain_restore(store);
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

/* ---- the chain ---- */

static struct audit_text text_of(const char *s)
{
    return (struct audit_text){s, s != NULL ? strlen(s) : 0};
}

static void bind_text_or_null(sqlite3_stmt *stmt, int idx, const char *s)
{
    if (s == NULL)
        sqlite3_bind_null(stmt, idx);
    else
        sqlite3_bind_text(stmt, idx, s, -1, SQLITE_STATIC);
}

/* Appends one event inside the open transaction (does not begin or commit): the next id, chained
 * to the head. detail is compact JSON. */
static int event_insert(struct store *store, int64_t ts_ms, const char *kind,
                        const char *shipment_id, const char *actor, const char *detail,
                        int64_t *id_out)
{
    sqlite3_stmt *stmt = store->stmt[STMT_EVENT_INSERT];
    struct chain *c = &store->chain;
    char hash[AUDIT_HEX_SIZE];
    struct audit_event ev = {
        .id = c->event_id_next,
        .ts_ms = ts_ms,
        .kind = text_of(kind),
        .shipment_id = text_of(shipment_id),
        .actor = text_of(actor),
        .detail = text_of(detail),
        .prev_hash = text_of(c->head),
    };
    int rc = audit_event_hash(store->hasher, &ev, hash);
    if (rc < 0) {
        log_err("store[%s]: SHA-256 of event %" PRId64 " failed", store->path, ev.id);
        return rc;
    }
    sqlite3_bind_int64(stmt, 1, ev.id);
    sqlite3_bind_int64(stmt, 2, ts_ms);
    sqlite3_bind_text(stmt, 3, kind, -1, SQLITE_STATIC);
    bind_text_or_null(stmt, 4, shipment_id);
    bind_text_or_null(stmt, 5, actor);
    sqlite3_bind_text(stmt, 6, detail, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 7, c->head, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 8, hash, -1, SQLITE_STATIC);
    rc = step_done(store, STMT_EVENT_INSERT, "append an event");
    sqlite3_clear_bindings(stmt);
    if (rc < 0)
        return rc;
    if (id_out != NULL)
        *id_out = ev.id;
    c->event_id_next++;
    memcpy(c->head, hash, sizeof(hash));
    return 0;
}

/* Prints a detail object compact and frees it; NULL (logged) when out of memory. */
static char *detail_take(struct store *store, cJSON *obj)
{
    char *text = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (text == NULL)
        log_err("store[%s]: out of memory building an event", store->path);
    return text;
}

/* An event built from a detail object, which it frees. */
static int event_insert_obj(struct store *store, int64_t ts_ms, const char *kind,
                            const char *shipment_id, const char *actor, cJSON *detail,
                            int64_t *id_out)
{
    char *text = detail_take(store, detail);
    if (text == NULL)
        return -ENOMEM;
    int rc = event_insert(store, ts_ms, kind, shipment_id, actor, text, id_out);
    cJSON_free(text);
    return rc;
}

/* cJSON builders that take a NULL object and give NULL back, freeing the object when an add
 * fails, so a chain of adds checks memory once at its end. Numbers are exact in a double below
 * 2^53 (ids and ms timestamps are). */
static cJSON *add_int(cJSON *obj, const char *key, int64_t v)
{
    if (obj != NULL && cJSON_AddNumberToObject(obj, key, (double)v) == NULL) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    return obj;
}

static cJSON *add_str(cJSON *obj, const char *key, const char *v)
{
    if (obj != NULL && cJSON_AddStringToObject(obj, key, v) == NULL) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    return obj;
}

/* Adds one reading, just inserted with id, to the batch's seal. */
static int seal_add(struct store *store, const struct audit_reading_row *row)
{
    uint8_t digest[AUDIT_HASH_LEN];
    int rc = 0;
    if (store->seal_count == 0) {
        store->seal_first_id = row->id;
        rc = audit_hasher_begin(store->seal_hasher);
    }
    /* Ids are handed out one by one inside the batch: a seal is a run without holes. */
    assert(row->id == store->seal_first_id + (int64_t)store->seal_count);
    size_t need = (store->seal_count + 1) * AUDIT_FINGERPRINT_LEN;
    if (rc == 0 && need > store->seal_rows_cap) {
        /* Doubling: a batch of n readings reallocates about log2(n) times, not per reading. */
        size_t cap = store->seal_rows_cap * 2 > need ? store->seal_rows_cap * 2 : need;
        uint8_t *rows = realloc(store->seal_rows, cap);
        if (rows == NULL)
            rc = -ENOMEM;
        else {
            store->seal_rows = rows;
            store->seal_rows_cap = cap;
        }
    }
    if (rc == 0)
        rc = audit_reading_hash(store->hasher, row, digest);
    if (rc == 0)
        rc = audit_hasher_update(store->seal_hasher, digest, sizeof(digest));
    if (rc < 0) {
        /* The row is in the transaction but not in the seal: the batch must not commit. */
        log_err("store[%s]: reading %" PRId64 " could not be sealed (%s); its batch will be "
                "rolled back", store->path, row->id, strerror(-rc));
        store->seal_broken = true;
        return rc;
    }
    memcpy(store->seal_rows + store->seal_count * AUDIT_FINGERPRINT_LEN, digest,
           AUDIT_FINGERPRINT_LEN);
    store->seal_count++;
    return 0;
}

/* Appends the "readings" event that seals the batch's readings, and its seals row, inside the
 * open transaction. migrated: the rows were found by the migration to schema 3. */
static int seal_insert(struct store *store, int64_t ts_ms, bool migrated)
{
    uint8_t digest[AUDIT_HASH_LEN];
    char hex[AUDIT_HEX_SIZE];
    int64_t last_id = store->seal_first_id + (int64_t)store->seal_count - 1;
    int64_t event_id = 0;
    if (store->seal_broken)
        return -EIO;
    int rc = audit_hasher_end(store->seal_hasher, digest);
    if (rc < 0)
        return rc;
    audit_hex(digest, sizeof(digest), hex);
    cJSON *d = cJSON_CreateObject();
    d = add_int(d, "first_id", store->seal_first_id);
    d = add_int(d, "last_id", last_id);
    d = add_int(d, "count", (int64_t)store->seal_count);
    d = add_str(d, "sha256", hex);
    char *rows = audit_base64(store->seal_rows, store->seal_count * AUDIT_FINGERPRINT_LEN);
    if (rows == NULL) {
        cJSON_Delete(d);
        d = NULL;
    }
    d = add_str(d, "rows", rows);
    free(rows);
    if (migrated && d != NULL && cJSON_AddTrueToObject(d, "migrated") == NULL) {
        cJSON_Delete(d);
        d = NULL;
    }
    rc = event_insert_obj(store, ts_ms, "readings", NULL, NULL, d, &event_id);
    if (rc < 0)
        return rc;
    sqlite3_stmt *stmt = store->stmt[STMT_SEAL_INSERT];
    sqlite3_bind_int64(stmt, 1, store->seal_first_id);
    sqlite3_bind_int64(stmt, 2, last_id);
    sqlite3_bind_int64(stmt, 3, event_id);
    rc = step_done(store, STMT_SEAL_INSERT, "record a seal");
    if (rc == 0)
        store->seal_count = 0;
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

/* A copy of a counted text as a C string, for cJSON; NULL when out of memory. */
static char *text_dup(struct audit_text t)
{
    char *s = malloc(t.len + 1);
    if (s != NULL) {
        if (t.len > 0)
            memcpy(s, t.p, t.len);
        s[t.len] = '\0';
    }
    return s;
}

static cJSON *add_text(cJSON *obj, const char *key, struct audit_text t)
{
    char *s = obj != NULL ? text_dup(t) : NULL;
    if (obj != NULL && s == NULL) {
        cJSON_Delete(obj);
        return NULL;
    }
    obj = add_str(obj, key, s);
    free(s);
    return obj;
}

/* SHA-256 of bytes, as hex, with the store's hasher. */
static int sha_hex(struct store *store, const void *data, size_t len, char hex_out[AUDIT_HEX_SIZE])
{
    uint8_t digest[AUDIT_HASH_LEN];
    int rc = audit_hasher_begin(store->hasher);
    if (rc == 0)
        rc = audit_hasher_update(store->hasher, data, len);
    if (rc == 0)
        rc = audit_hasher_end(store->hasher, digest);
    if (rc == 0)
        audit_hex(digest, sizeof(digest), hex_out);
    return rc;
}

/* The "alarm" event of an alerts row, inside the open transaction: what verify compares the row
 * with (its row hash) and the payload as published (its own hash, so a changed message is named
 * as such). */
static int alarm_event_insert(struct store *store, const struct audit_alert_row *row)
{
    uint8_t digest[AUDIT_HASH_LEN];
    char row_hex[AUDIT_HEX_SIZE], payload_hex[AUDIT_HEX_SIZE];
    int rc = audit_alert_hash(store->hasher, row, digest);
    if (rc == 0)
        rc = sha_hex(store, row->payload.p, row->payload.len, payload_hex);
    if (rc < 0) {
        log_err("store[%s]: SHA-256 of alert %" PRId64 " failed", store->path, row->seq);
        return rc;
    }
    audit_hex(digest, sizeof(digest), row_hex);
    cJSON *d = add_int(cJSON_CreateObject(), "seq", row->seq);
    d = add_text(d, "alert_id", row->alert_id);
    d = add_text(d, "shipment", row->shipment_id);
    d = add_text(d, "alarm", row->alarm_id);
    d = add_text(d, "sensor", row->sensor_id);
    d = add_text(d, "transition", row->transition);
    d = add_text(d, "state", row->state);
    d = add_str(d, "payload_sha256", payload_hex);
    d = add_str(d, "row_sha256", row_hex);
    char *shipment = text_dup(row->shipment_id);
    if (shipment == NULL) {
        cJSON_Delete(d);
        return -ENOMEM;
    }
    rc = event_insert_obj(store, row->ts_ms, "alarm", shipment, NULL, d, NULL);
    free(shipment);
    return rc;
}

/* Rows a migration seals per "readings" event, as a batch would be. */
#define MIGRATION_SEAL_ROWS 256

/* The history's first events, inside the schema transaction. A new file: "created". A file from
 * before schema 3: "migration" with what it held, then its shipments, alerts and readings as
 * the events they would have had (marked "migrated"), so that verify covers them from here on.
 * What was altered before the migration cannot be told; from it on, it can. */
static int genesis(struct store *store, int from_version)
{
    sqlite3_stmt *st = NULL;
    int64_t now_ms = clock_wall_ms();
    int rc = 0, src;

    store->chain = (struct chain){.event_id_next = 1, .reading_id_next = 1};
    memcpy(store->chain.head, AUDIT_GENESIS_HASH, sizeof(store->chain.head));
    if (from_version == 0)
        return event_insert_obj(store, now_ms, "created", NULL, NULL,
                                add_int(cJSON_CreateObject(), "schema", SCHEMA_VERSION), NULL);

    if (sqlite3_prepare_v2(store->db,
                           "SELECT (SELECT COUNT(*) FROM readings), (SELECT COUNT(*) FROM alerts), "
                           "(SELECT COUNT(*) FROM shipments)",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = db_error(store, "count what the migration seals");
        goto out;
    }
    cJSON *d = add_int(cJSON_CreateObject(), "from_version", from_version);
    d = add_int(d, "schema", SCHEMA_VERSION);
    d = add_int(d, "readings", sqlite3_column_int64(st, 0));
    d = add_int(d, "alerts", sqlite3_column_int64(st, 1));
    d = add_int(d, "shipments", sqlite3_column_int64(st, 2));
    rc = event_insert_obj(store, now_ms, "migration", NULL, NULL, d, NULL);
    sqlite3_finalize(st);
    st = NULL;
    if (rc < 0)
        goto out;

    if (sqlite3_prepare_v2(store->db,
                           "SELECT id, kind, profile, started_ms, ended_ms FROM shipments "
                           "ORDER BY started_ms, id",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(store, "read shipments to migrate");
        goto out;
    }
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        d = add_text(cJSON_CreateObject(), "kind",
                     (struct audit_text){(const char *)sqlite3_column_text(st, 1),
                                         (size_t)sqlite3_column_bytes(st, 1)});
        d = add_text(d, "profile",
                     (struct audit_text){(const char *)sqlite3_column_text(st, 2),
                                         (size_t)sqlite3_column_bytes(st, 2)});
        d = add_str(d, "description", "");
        d = add_str(d, "source", STORE_SOURCE_CONFIG);
        d = add_int(d, "started_ms", sqlite3_column_int64(st, 3));
        if (d != NULL && cJSON_AddArrayToObject(d, "sensors") == NULL) {
            cJSON_Delete(d);
            d = NULL;
        }
        if (sqlite3_column_type(st, 4) != SQLITE_NULL)
            d = add_int(d, "ended_ms", sqlite3_column_int64(st, 4));
        if (d != NULL && cJSON_AddTrueToObject(d, "migrated") == NULL) {
            cJSON_Delete(d);
            d = NULL;
        }
        rc = event_insert_obj(store, sqlite3_column_int64(st, 3), "shipment-start",
                              (const char *)sqlite3_column_text(st, 0), NULL, d, NULL);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = db_error(store, "read shipments to migrate");
    sqlite3_finalize(st);
    st = NULL;
    if (rc < 0)
        goto out;

    if (sqlite3_prepare_v2(store->db,
                           "SELECT seq, alert_id, ts_ms, shipment_id, alarm_id, sensor_id, "
                           "transition, value, worst, since_ms, payload, state, level, amount_ms "
                           "FROM alerts ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(store, "read alerts to migrate");
        goto out;
    }
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        struct audit_alert_row row;
        audit_alert_row_of(st, &row);
        rc = alarm_event_insert(store, &row);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = db_error(store, "read alerts to migrate");
    sqlite3_finalize(st);
    st = NULL;
    if (rc < 0)
        goto out;

    /* Runs of consecutive ids, as many to a seal as a default batch holds. */
    if (sqlite3_prepare_v2(store->db,
                           "SELECT id, sensor_id, quantity, ts_ms, value, flags FROM readings "
                           "ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(store, "read readings to migrate");
        goto out;
    }
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        struct audit_reading_row row;
        audit_reading_row_of(st, &row);
        if (store->seal_count > 0 &&
            (row.id != store->seal_first_id + (int64_t)store->seal_count ||
             store->seal_count == MIGRATION_SEAL_ROWS))
            rc = seal_insert(store, now_ms, true);
        if (rc == 0)
            rc = seal_add(store, &row);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = db_error(store, "read readings to migrate");
    if (rc == 0 && store->seal_count > 0)
        rc = seal_insert(store, now_ms, true);
out:
    sqlite3_finalize(st);
    return rc;
}

static int prepare_statements(struct store *store)
{
    for (size_t i = 0; i < STMT_COUNT; i++) {
        if (store->stmt[i] == NULL &&
            sqlite3_prepare_v3(store->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &store->stmt[i], NULL) != SQLITE_OK)
            return db_error(store, "prepare statement");
    }
    return 0;
}

/* Creates or migrates the schema, and prepares the statements (the migration to version 3
 * writes its first events with them). The version is read again under the write lock: another
 * process may have created the schema since configure() looked. All in one transaction, so a
 * crash never leaves half a schema, or a schema without its first event, behind. */
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
    if (version < 3 && sqlite3_exec(store->db, schema_v3_sql, NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(store, "migrate schema to v3");
        goto out;
    }
    rc = prepare_statements(store);
    if (rc == 0 && version < 3)
        rc = genesis(store, version);
    if (rc < 0)
        goto out;
    if (version < 3) {
        if (version > 0)
            log_notice("store[%s]: migrated from schema %d to %d: events 1 to %" PRId64
                       " seal what it held", store->path, version, SCHEMA_VERSION,
                       store->chain.event_id_next - 1);
        if (sqlite3_exec(store->db, "PRAGMA user_version = 3", NULL, NULL, NULL) != SQLITE_OK) {
            rc = db_error(store, "set schema version 3");
            goto out;
        }
    }
    if (sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(store, "commit schema");
        goto out;
    }
    in_txn = false;
out:
    if (in_txn && !sqlite3_get_autocommit(store->db))
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
    seal_reset(store);
    return rc;
}

/* Where the chain stands: the next event id and the head's hash; the next reading id, past every
 * id a seal ever named (a purge may have deleted the newest rows). */
static int load_chain(struct store *store)
{
    sqlite3_stmt *stmt = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT (SELECT COALESCE(MAX(id), 0) FROM events), "
                           "(SELECT hash FROM events ORDER BY id DESC LIMIT 1), "
                           "MAX((SELECT COALESCE(MAX(id), 0) FROM readings), "
                           "(SELECT COALESCE(MAX(last_id), 0) FROM seals))",
                           -1, &stmt, NULL) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_ROW) {
        rc = db_error(store, "read the chain's head");
        goto out;
    }
    struct chain *c = &store->chain;
    c->event_id_next = sqlite3_column_int64(stmt, 0) + 1;
    c->reading_id_next = sqlite3_column_int64(stmt, 2) + 1;
    const unsigned char *head = sqlite3_column_text(stmt, 1);
    if (head == NULL)
        memcpy(c->head, AUDIT_GENESIS_HASH, sizeof(c->head));
    else
        snprintf(c->head, sizeof(c->head), "%s", (const char *)head);
    if (strlen(c->head) != AUDIT_HEX_SIZE - 1)
        log_warn("store[%s]: the last event's hash is not a SHA-256 (the history was edited?): "
                 "coldchainctl verify tells more", store->path);
    chain_commit(store);
out:
    sqlite3_finalize(stmt);
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
    audit_hasher_free(store->hasher);
    audit_hasher_free(store->seal_hasher);
    free(store->seal_rows);
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
    rc = audit_hasher_new(&store->hasher);
    if (rc == 0)
        rc = audit_hasher_new(&store->seal_hasher);
    if (rc < 0) {
        log_err("store[%s]: SHA-256 (libcrypto) unavailable", store->path);
        goto out;
    }

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
    rc = load_chain(store);
    if (rc < 0)
        goto out;
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

/* ---- transactions of their own: lifecycle, purge ---- */

/* Commits the open batch, then begins a transaction for one change, so that a refused change
 * rolls back nothing but itself. */
static int txn_begin(struct store *store, const char *what)
{
    int rc = store_flush(store);
    if (rc == 0)
        rc = step_done(store, STMT_BEGIN, what);
    return rc;
}

/* Commits on rc >= 0 (a positive rc is a documented outcome, not a failure), rolls back
 * otherwise; returns rc or the commit's failure. */
static int txn_end(struct store *store, int rc, const char *what)
{
    if (rc >= 0) {
        int crc = step_done(store, STMT_COMMIT, what);
        if (crc == 0) {
            chain_commit(store);
            return rc;
        }
        rc = crc;
    }
    rollback(store);
    return rc;
}

/* Argument checks shared by the lifecycle calls: lengths the readers' fixed fields can hold. */
static bool text_ok(const char *s, size_t min, size_t max)
{
    return s != NULL && strlen(s) >= min && strlen(s) <= max;
}

#define ID_MAX 63
#define SENSOR_MAX (READING_SENSOR_ID_MAX - 1)
#define ACTOR_MAX 255

/* The i-th of a list of sensor ids (store.h: back to back, READING_SENSOR_ID_MAX bytes each). */
static const char *sensor_at(const char *sensor_ids, size_t i)
{
    return sensor_ids + i * READING_SENSOR_ID_MAX;
}

static bool sensors_ok(const char *sensor_ids, size_t count)
{
    if (count > 0 && sensor_ids == NULL)
        return false;
    for (size_t i = 0; i < count; i++) {
        size_t len = strnlen(sensor_at(sensor_ids, i), READING_SENSOR_ID_MAX);
        if (len == 0 || len > SENSOR_MAX)
            return false;
        for (size_t k = 0; k < i; k++)
            if (strcmp(sensor_at(sensor_ids, k), sensor_at(sensor_ids, i)) == 0)
                return false;
    }
    return true;
}

/* Reads a shipment's row: 0, -ENOENT, -EIO. */
static int shipment_read(struct store *store, const char *id, struct store_shipment *out)
{
    sqlite3_stmt *stmt = store->stmt[STMT_SHIPMENT_GET];
    int rc = -ENOENT;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    int src = sqlite3_step(stmt);
    if (src == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        snprintf(out->id, sizeof(out->id), "%s", id);
        rc = column_field(store, stmt, 0, out->kind, sizeof(out->kind));
        if (rc == 0)
            rc = column_field(store, stmt, 1, out->profile, sizeof(out->profile));
        if (rc == 0)
            rc = column_field(store, stmt, 2, out->description, sizeof(out->description));
        if (rc == 0)
            rc = column_field(store, stmt, 3, out->source, sizeof(out->source));
        out->started_ms = sqlite3_column_int64(stmt, 4);
        out->ended = sqlite3_column_type(stmt, 5) != SQLITE_NULL;
        out->ended_ms = out->ended ? sqlite3_column_int64(stmt, 5) : 0;
    } else if (src != SQLITE_DONE) {
        rc = db_error(store, "read a shipment");
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

/* The open assignment of a sensor to a shipment: 0 with its row id and start, 1 when there is
 * none, -EIO. */
static int assignment_open(struct store *store, const char *id, const char *sensor,
                           int64_t *row_out, int64_t *from_out)
{
    sqlite3_stmt *stmt = store->stmt[STMT_ASSIGN_OPEN];
    int rc = 1;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, sensor, -1, SQLITE_STATIC);
    int src = sqlite3_step(stmt);
    if (src == SQLITE_ROW) {
        *row_out = sqlite3_column_int64(stmt, 0);
        *from_out = sqlite3_column_int64(stmt, 1);
        rc = 0;
    } else if (src != SQLITE_DONE) {
        rc = db_error(store, "read an assignment");
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

static int assignment_insert(struct store *store, const char *id, const char *sensor,
                             int64_t from_ms)
{
    sqlite3_stmt *stmt = store->stmt[STMT_ASSIGN_INSERT];
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    bind_field(stmt, 2, sensor, READING_SENSOR_ID_MAX);
    sqlite3_bind_int64(stmt, 3, from_ms);
    int rc = step_done(store, STMT_ASSIGN_INSERT, "assign a sensor");
    sqlite3_clear_bindings(stmt);
    return rc;
}

/* An "assign" event and its row. */
static int assign(struct store *store, const char *id, const char *sensor, int64_t from_ms,
                  const char *actor)
{
    int rc = assignment_insert(store, id, sensor, from_ms);
    if (rc < 0)
        return rc;
    cJSON *d = add_str(cJSON_CreateObject(), "sensor", sensor);
    d = add_int(d, "from_ms", from_ms);
    return event_insert_obj(store, from_ms, "assign", id, actor, d, NULL);
}

/* Inserts a new shipment with its sensors and its "shipment-start" event. */
static int shipment_create(struct store *store, const char *id, const char *kind,
                           const char *profile, const char *description, const char *source,
                           int64_t ts_ms, const char *actor, const char *sensor_ids,
                           size_t sensor_count)
{
    sqlite3_stmt *ins = store->stmt[STMT_SHIPMENT_INSERT];
    sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, profile, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 4, ts_ms);
    sqlite3_bind_text(ins, 5, description, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 6, source, -1, SQLITE_STATIC);
    int rc = step_done(store, STMT_SHIPMENT_INSERT, "insert shipment");
    sqlite3_clear_bindings(ins);
    for (size_t i = 0; rc == 0 && i < sensor_count; i++)
        rc = assignment_insert(store, id, sensor_at(sensor_ids, i), ts_ms);
    if (rc < 0)
        return rc;
    cJSON *d = add_str(cJSON_CreateObject(), "kind", kind);
    d = add_str(d, "profile", profile);
    d = add_str(d, "description", description);
    d = add_str(d, "source", source);
    d = add_int(d, "started_ms", ts_ms);
    cJSON *list = d != NULL ? cJSON_AddArrayToObject(d, "sensors") : NULL;
    for (size_t i = 0; list != NULL && i < sensor_count; i++) {
        cJSON *name = cJSON_CreateString(sensor_at(sensor_ids, i));
        if (name == NULL || !cJSON_AddItemToArray(list, name)) {
            cJSON_Delete(name);
            list = NULL;
        }
    }
    if (list == NULL) {
        cJSON_Delete(d);
        d = NULL;
    }
    return event_insert_obj(store, ts_ms, "shipment-start", id, actor, d, NULL);
}

int store_shipment_ensure_config(struct store *store, const char *id, const char *kind,
                                 const char *profile, const char *description,
                                 const char *sensor_ids, size_t sensor_count, int64_t now_ms,
                                 int64_t *started_ms_out)
{
    struct store_shipment s;
    int rc;

    if (store == NULL || !text_ok(id, 1, ID_MAX) || !text_ok(kind, 1, 15) ||
        !text_ok(profile, 1, ID_MAX) || !text_ok(description, 0, 255) ||
        !sensors_ok(sensor_ids, sensor_count))
        return -EINVAL;
    rc = txn_begin(store, "begin ensuring a shipment");
    if (rc < 0)
        return rc;
    rc = shipment_read(store, id, &s);
    if (rc == -ENOENT) {
        /* New: a restart must not restart its history, so this start is the one kept. */
        s.started_ms = now_ms;
        rc = shipment_create(store, id, kind, profile, description, STORE_SOURCE_CONFIG, now_ms,
                             NULL, sensor_ids, sensor_count);
    } else if (rc == 0 && s.ended) {
        rc = STORE_SHIPMENT_ENDED;
    } else if (rc == 0 && sensor_count > 0) {
        sqlite3_stmt *count = store->stmt[STMT_ASSIGN_COUNT];
        sqlite3_bind_text(count, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(count) != SQLITE_ROW)
            rc = db_error(store, "count a shipment's assignments");
        /* None at all: its sensors have been its own since its start (a history from before
         * assignments were recorded); else a sensor new to the config joins from now. */
        int64_t from_ms = sqlite3_column_int64(count, 0) == 0 ? s.started_ms : now_ms;
        sqlite3_reset(count);
        sqlite3_clear_bindings(count);
        for (size_t i = 0; rc == 0 && i < sensor_count; i++) {
            int64_t row, from;
            const char *sensor = sensor_at(sensor_ids, i);
            rc = assignment_open(store, id, sensor, &row, &from);
            if (rc == 1)
                rc = assign(store, id, sensor, from_ms, NULL);
        }
    }
    rc = txn_end(store, rc, "commit ensuring a shipment");
    if (rc >= 0 && started_ms_out != NULL)
        *started_ms_out = s.started_ms;
    return rc;
}

int store_shipment_ensure(struct store *store, const char *id, const char *kind,
                          const char *profile, int64_t now_ms, int64_t *started_ms_out)
{
    int rc = store_shipment_ensure_config(store, id, kind, profile, "", NULL, 0, now_ms,
                                          started_ms_out);
    return rc < 0 ? rc : 0;
}

int store_shipment_start(struct store *store, const char *id, const char *kind,
                         const char *profile, const char *description, const char *source,
                         int64_t ts_ms, const char *actor, const char *sensor_ids,
                         size_t sensor_count)
{
    struct store_shipment s;
    if (store == NULL || !text_ok(id, 1, ID_MAX) || !text_ok(kind, 1, 15) ||
        !text_ok(profile, 1, ID_MAX) || !text_ok(description, 0, 255) || source == NULL ||
        (strcmp(source, STORE_SOURCE_CONFIG) != 0 && strcmp(source, STORE_SOURCE_COMMAND) != 0) ||
        (actor != NULL && !text_ok(actor, 0, ACTOR_MAX)) || !sensors_ok(sensor_ids, sensor_count))
        return -EINVAL;
    int rc = txn_begin(store, "begin starting a shipment");
    if (rc < 0)
        return rc;
    rc = shipment_read(store, id, &s);
    if (rc == 0)
        rc = -EEXIST; /* an id names one history forever, ended or not */
    else if (rc == -ENOENT)
        rc = shipment_create(store, id, kind, profile, description, source, ts_ms, actor,
                             sensor_ids, sensor_count);
    return txn_end(store, rc, "commit starting a shipment");
}

int store_shipment_end(struct store *store, const char *id, int64_t ts_ms, const char *actor,
                       const char *comment)
{
    struct store_shipment s;
    if (store == NULL || !text_ok(id, 1, ID_MAX) ||
        (actor != NULL && !text_ok(actor, 0, ACTOR_MAX)) ||
        (comment != NULL && !text_ok(comment, 0, 4096)))
        return -EINVAL;
    int rc = txn_begin(store, "begin ending a shipment");
    if (rc < 0)
        return rc;
    rc = shipment_read(store, id, &s);
    if (rc == 0 && s.ended)
        rc = -EALREADY;
    else if (rc == 0 && ts_ms < s.started_ms)
        rc = -EINVAL;
    if (rc == 0) {
        sqlite3_stmt *close_all = store->stmt[STMT_ASSIGN_CLOSE_ALL];
        sqlite3_bind_text(close_all, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(close_all, 2, ts_ms);
        rc = step_done(store, STMT_ASSIGN_CLOSE_ALL, "close a shipment's assignments");
        sqlite3_clear_bindings(close_all);
    }
    if (rc == 0) {
        sqlite3_stmt *end = store->stmt[STMT_SHIPMENT_END];
        sqlite3_bind_text(end, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(end, 2, ts_ms);
        rc = step_done(store, STMT_SHIPMENT_END, "end a shipment");
        sqlite3_clear_bindings(end);
    }
    if (rc == 0) {
        cJSON *d = add_int(cJSON_CreateObject(), "ended_ms", ts_ms);
        if (comment != NULL)
            d = add_str(d, "comment", comment);
        rc = event_insert_obj(store, ts_ms, "shipment-end", id, actor, d, NULL);
    }
    return txn_end(store, rc, "commit ending a shipment");
}

/* The checks assign and unassign share: the shipment exists, runs, and ts_ms is in it. */
static int running_shipment(struct store *store, const char *id, int64_t ts_ms)
{
    struct store_shipment s;
    int rc = shipment_read(store, id, &s);
    if (rc == 0 && s.ended)
        rc = -ESHUTDOWN; /* an ended shipment is immutable */
    else if (rc == 0 && ts_ms < s.started_ms)
        rc = -EINVAL;
    return rc;
}

int store_shipment_assign(struct store *store, const char *id, const char *sensor_id,
                          int64_t ts_ms, const char *actor)
{
    if (store == NULL || !text_ok(id, 1, ID_MAX) || !text_ok(sensor_id, 1, SENSOR_MAX) ||
        (actor != NULL && !text_ok(actor, 0, ACTOR_MAX)))
        return -EINVAL;
    int rc = txn_begin(store, "begin assigning a sensor");
    if (rc < 0)
        return rc;
    rc = running_shipment(store, id, ts_ms);
    if (rc == 0) {
        int64_t row, from;
        rc = assignment_open(store, id, sensor_id, &row, &from);
        if (rc == 0)
            rc = STORE_UNCHANGED;
        else if (rc == 1)
            rc = assign(store, id, sensor_id, ts_ms, actor);
    }
    return txn_end(store, rc, "commit assigning a sensor");
}

int store_shipment_unassign(struct store *store, const char *id, const char *sensor_id,
                            int64_t ts_ms, const char *actor)
{
    if (store == NULL || !text_ok(id, 1, ID_MAX) || !text_ok(sensor_id, 1, SENSOR_MAX) ||
        (actor != NULL && !text_ok(actor, 0, ACTOR_MAX)))
        return -EINVAL;
    int rc = txn_begin(store, "begin unassigning a sensor");
    if (rc < 0)
        return rc;
    rc = running_shipment(store, id, ts_ms);
    int64_t row = 0, from = 0;
    if (rc == 0) {
        rc = assignment_open(store, id, sensor_id, &row, &from);
        if (rc == 1)
            rc = STORE_UNCHANGED;
        else if (rc == 0 && ts_ms < from)
            rc = -EINVAL;
    }
    if (rc == 0) {
        sqlite3_stmt *close = store->stmt[STMT_ASSIGN_CLOSE];
        sqlite3_bind_int64(close, 1, row);
        sqlite3_bind_int64(close, 2, ts_ms);
        rc = step_done(store, STMT_ASSIGN_CLOSE, "unassign a sensor");
    }
    if (rc == 0) {
        cJSON *d = add_str(cJSON_CreateObject(), "sensor", sensor_id);
        d = add_int(d, "to_ms", ts_ms);
        rc = event_insert_obj(store, ts_ms, "unassign", id, actor, d, NULL);
    }
    return txn_end(store, rc, "commit unassigning a sensor");
}

int store_shipment_get(struct store *store, const char *id, struct store_shipment *out)
{
    if (store == NULL || id == NULL || out == NULL)
        return -EINVAL;
    return shipment_read(store, id, out);
}

int store_shipments_each(struct store *store,
                         int (*fn)(void *arg, const struct store_shipment *s), void *arg)
{
    sqlite3_stmt *ships = NULL, *windows = NULL;
    struct store_assignment *list = NULL;
    size_t cap = 0;
    int rc = 0, src;

    if (store == NULL || fn == NULL)
        return -EINVAL;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT id, kind, profile, description, source, started_ms, ended_ms "
                           "FROM shipments ORDER BY started_ms, id",
                           -1, &ships, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(store->db,
                           "SELECT sensor_id, from_ms, to_ms FROM shipment_sensors "
                           "WHERE shipment_id = ?1 ORDER BY id",
                           -1, &windows, NULL) != SQLITE_OK) {
        rc = db_error(store, "prepare reading shipments");
        goto out;
    }
    while ((src = sqlite3_step(ships)) == SQLITE_ROW) {
        struct store_shipment s = {0};
        rc = column_field(store, ships, 0, s.id, sizeof(s.id));
        if (rc == 0)
            rc = column_field(store, ships, 1, s.kind, sizeof(s.kind));
        if (rc == 0)
            rc = column_field(store, ships, 2, s.profile, sizeof(s.profile));
        if (rc == 0)
            rc = column_field(store, ships, 3, s.description, sizeof(s.description));
        if (rc == 0)
            rc = column_field(store, ships, 4, s.source, sizeof(s.source));
        if (rc < 0)
            goto out;
        s.started_ms = sqlite3_column_int64(ships, 5);
        s.ended = sqlite3_column_type(ships, 6) != SQLITE_NULL;
        s.ended_ms = s.ended ? sqlite3_column_int64(ships, 6) : 0;
        size_t n = 0;
        sqlite3_bind_text(windows, 1, s.id, -1, SQLITE_STATIC);
        while ((src = sqlite3_step(windows)) == SQLITE_ROW) {
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                struct store_assignment *nl = realloc(list, ncap * sizeof(*nl));
                if (nl == NULL) {
                    rc = -ENOMEM;
                    goto out;
                }
                list = nl;
                cap = ncap;
            }
            struct store_assignment *a = &list[n++];
            rc = column_field(store, windows, 0, a->sensor_id, sizeof(a->sensor_id));
            if (rc < 0)
                goto out;
            a->from_ms = sqlite3_column_int64(windows, 1);
            a->to_ms = sqlite3_column_type(windows, 2) == SQLITE_NULL
                           ? INT64_MAX
                           : sqlite3_column_int64(windows, 2);
        }
        if (src != SQLITE_DONE) {
            rc = db_error(store, "read a shipment's assignments");
            goto out;
        }
        sqlite3_reset(windows);
        s.assignments = list;
        s.assignment_count = n;
        rc = fn(arg, &s);
        if (rc != 0)
            goto out;
    }
    if (src != SQLITE_DONE)
        rc = db_error(store, "read shipments");
out:
    free(list);
    sqlite3_finalize(windows);
    sqlite3_finalize(ships);
    return rc;
}

int store_shipment_readings_each(struct store *store, const char *shipment_id, int64_t from_ms,
                                 int64_t to_ms, const char *sensor_id,
                                 int (*fn)(void *arg, int64_t id, const struct reading *r),
                                 void *arg)
{
    struct store_shipment s;
    sqlite3_stmt *stmt = NULL;
    int rc, src;

    if (store == NULL || shipment_id == NULL || fn == NULL)
        return -EINVAL;
    rc = shipment_read(store, shipment_id, &s);
    if (rc < 0)
        return rc;
    /* A window [from_ms, to_ms) of an assignment: a sensor's reading is the shipment's when it
     * was assigned to it at the reading's stamp. Windows of one sensor in one shipment never
     * overlap (assign refuses a second open one), so no reading comes twice. */
    if (sqlite3_prepare_v2(store->db,
                           "SELECT r.id, r.sensor_id, r.quantity, r.ts_ms, r.value, r.flags "
                           "FROM shipment_sensors a JOIN readings r "
                           "ON r.sensor_id = a.sensor_id AND r.ts_ms >= a.from_ms "
                           "AND (a.to_ms IS NULL OR r.ts_ms < a.to_ms) "
                           "WHERE a.shipment_id = ?1 AND r.ts_ms >= ?2 AND r.ts_ms < ?3 "
                           "AND (?4 IS NULL OR a.sensor_id = ?4) ORDER BY r.id",
                           -1, &stmt, NULL) != SQLITE_OK) {
        rc = db_error(store, "prepare a shipment's readings");
        goto out;
    }
    sqlite3_bind_text(stmt, 1, shipment_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, from_ms);
    sqlite3_bind_int64(stmt, 3, to_ms);
    bind_text_or_null(stmt, 4, sensor_id);
    while ((src = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct reading r = {0};
        rc = column_field(store, stmt, 1, r.sensor_id, sizeof(r.sensor_id));
        if (rc < 0)
            goto out;
        r.quantity = (uint8_t)sqlite3_column_int(stmt, 2);
        r.ts_ms = sqlite3_column_int64(stmt, 3);
        r.value = column_double_or_nan(stmt, 4);
        r.flags = (uint8_t)sqlite3_column_int(stmt, 5);
        rc = fn(arg, sqlite3_column_int64(stmt, 0), &r);
        if (rc != 0)
            goto out;
    }
    if (src != SQLITE_DONE)
        rc = db_error(store, "read a shipment's readings");
out:
    sqlite3_finalize(stmt);
    return rc;
}

/* ---- readings and batches ---- */

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
    /* A fault carries no value (DESIGN §4); NULL says so where NaN or 0 could be misread. The
     * row hash is taken over what is stored: NaN is stored as NULL too. */
    struct audit_reading_row row = {
        .id = store->chain.reading_id_next,
        .sensor_id = {r->sensor_id, strnlen(r->sensor_id, sizeof(r->sensor_id))},
        .quantity = r->quantity,
        .ts_ms = r->ts_ms,
        .has_value = !(r->flags & READING_FAULT) && !isnan(r->value),
        .value = r->value,
        .flags = r->flags,
    };
    sqlite3_bind_int64(stmt, 1, row.id);
    bind_field(stmt, 2, r->sensor_id, sizeof(r->sensor_id));
    sqlite3_bind_int(stmt, 3, r->quantity);
    sqlite3_bind_int64(stmt, 4, r->ts_ms);
    if (row.has_value)
        sqlite3_bind_double(stmt, 5, r->value);
    else
        sqlite3_bind_null(stmt, 5);
    sqlite3_bind_int(stmt, 6, r->flags);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        rc = db_error(store, "insert reading");
        goto out;
    }
    store->chain.reading_id_next++;
    store->pending_rows++;
    rc = seal_add(store, &row);
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
    /* The seal commits with the readings it seals: no reader ever sees one without the other. */
    if (store->seal_count > 0)
        rc = seal_insert(store, clock_wall_ms(), false);
    if (rc == 0)
        rc = step_done(store, STMT_COMMIT, "commit batch");
    if (rc < 0) {
        log_err("store[%s]: batch of %zu rows rolled back", store->path, store->pending_rows);
        rollback(store);
    } else {
        chain_commit(store);
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
    /* Its "alarm" event, over the row exactly as bound above (NaN binds as NULL). */
    struct audit_alert_row row = {
        .seq = (int64_t)alert->seq,
        .alert_id = {alert->id, strnlen(alert->id, sizeof(alert->id))},
        .ts_ms = alert->ts_ms,
        .shipment_id = {alert->shipment_id, strnlen(alert->shipment_id, sizeof(alert->shipment_id))},
        .alarm_id = {alert->alarm_id, strnlen(alert->alarm_id, sizeof(alert->alarm_id))},
        .sensor_id = {alert->sensor_id, strnlen(alert->sensor_id, sizeof(alert->sensor_id))},
        .transition = {alert->transition, strnlen(alert->transition, sizeof(alert->transition))},
        .has_value = !isnan(alert->value),
        .value = alert->value,
        .has_worst = !isnan(alert->worst),
        .worst = alert->worst,
        .since_ms = alert->since_ms,
        .payload = text_of(payload),
        .state = {alert->state, strnlen(alert->state, sizeof(alert->state))},
        .level = alert->level,
        .amount_ms = alert->amount_ms,
    };
    rc = alarm_event_insert(store, &row);
    if (rc < 0)
        goto out;
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
    chain_commit(store);
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

/* ---- the audit trail ---- */

/* Kinds whose detail verify reads: only the store writes them. */
static const char *const reserved_kinds[] = {
    "created", "migration", "readings", "alarm",  "shipment-start",
    "shipment-end", "assign", "unassign", "purge",
};

static bool kind_ok(const char *kind)
{
    size_t len = kind != NULL ? strlen(kind) : 0;
    if (len == 0 || len > 31 || kind[0] < 'a' || kind[0] > 'z')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((kind[i] >= 'a' && kind[i] <= 'z') || (kind[i] >= '0' && kind[i] <= '9') ||
              kind[i] == '-'))
            return false;
    for (size_t i = 0; i < sizeof(reserved_kinds) / sizeof(reserved_kinds[0]); i++)
        if (strcmp(kind, reserved_kinds[i]) == 0)
            return false;
    return true;
}

/* Appends an event built by the store to the open batch. */
static int batch_event(struct store *store, int64_t ts_ms, const char *kind,
                       const char *shipment_id, const char *actor, cJSON *detail, int64_t *id_out)
{
    int rc = batch_begin(store);
    if (rc < 0) {
        cJSON_Delete(detail);
        return rc;
    }
    rc = event_insert_obj(store, ts_ms, kind, shipment_id, actor, detail, id_out);
    if (rc == 0)
        store->pending_rows++;
    else
        note_autorollback(store);
    return rc;
}

int store_event_append(struct store *store, int64_t ts_ms, const char *kind,
                       const char *shipment_id, const char *actor, const char *detail_json,
                       int64_t *id_out)
{
    if (store == NULL || !kind_ok(kind) || detail_json == NULL ||
        (shipment_id != NULL && !text_ok(shipment_id, 1, ID_MAX)) ||
        (actor != NULL && !text_ok(actor, 0, ACTOR_MAX)))
        return -EINVAL;
    /* Parsed and printed again: the stored detail is compact JSON whatever the caller sent. */
    cJSON *detail = cJSON_Parse(detail_json);
    if (!cJSON_IsObject(detail)) {
        cJSON_Delete(detail);
        return -EINVAL;
    }
    return batch_event(store, ts_ms, kind, shipment_id, actor, detail, id_out);
}

int store_event_config(struct store *store, int64_t ts_ms, const char *actor, const char *path,
                       const char *sha256_hex, const char *why)
{
    if (store == NULL || !text_ok(path, 1, 4096) || !text_ok(sha256_hex, 64, 64) ||
        !text_ok(why, 1, 31) || (actor != NULL && !text_ok(actor, 0, ACTOR_MAX)))
        return -EINVAL;
    cJSON *d = add_str(cJSON_CreateObject(), "path", path);
    d = add_str(d, "sha256", sha256_hex);
    d = add_str(d, "why", why);
    return d != NULL ? batch_event(store, ts_ms, STORE_EVENT_CONFIG, NULL, actor, d, NULL)
                     : -ENOMEM;
}

int store_event_clock(struct store *store, int64_t ts_ms, int64_t from_ms, int64_t to_ms)
{
    if (store == NULL)
        return -EINVAL;
    cJSON *d = add_int(cJSON_CreateObject(), "from_ms", from_ms);
    d = add_int(d, "to_ms", to_ms);
    d = add_int(d, "jump_ms", to_ms - from_ms);
    return d != NULL ? batch_event(store, ts_ms, STORE_EVENT_CLOCK, NULL, NULL, d, NULL)
                     : -ENOMEM;
}

void store_chain_head(const struct store *store, int64_t *id_out, char hash_out[65])
{
    if (store == NULL)
        return;
    if (id_out != NULL)
        *id_out = store->chain_committed.event_id_next - 1;
    if (hash_out != NULL)
        memcpy(hash_out, store->chain_committed.head, AUDIT_HEX_SIZE);
}

/* ---- retention ---- */

int64_t store_reading_id_last(const struct store *store)
{
    return store != NULL ? store->chain.reading_id_next - 1 : 0;
}

#define META_UPLINKED "uplinked_id"

int store_mark_uplinked(struct store *store, int64_t last_reading_id)
{
    if (store == NULL || last_reading_id < 0 || last_reading_id >= store->chain.reading_id_next)
        return -EINVAL;
    int rc = batch_begin(store);
    if (rc < 0)
        return rc;
    sqlite3_stmt *stmt = store->stmt[STMT_META_RAISE];
    sqlite3_bind_text(stmt, 1, META_UPLINKED, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, last_reading_id);
    rc = step_done(store, STMT_META_RAISE, "raise the uplinked mark");
    if (rc == 0)
        store->pending_rows++;
    else
        note_autorollback(store);
    return rc;
}

int store_uplinked_id(struct store *store, int64_t *id_out)
{
    if (store == NULL || id_out == NULL)
        return -EINVAL;
    sqlite3_stmt *stmt = store->stmt[STMT_META_GET];
    int rc = 0;
    sqlite3_bind_text(stmt, 1, META_UPLINKED, -1, SQLITE_STATIC);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        *id_out = sqlite3_column_int64(stmt, 0);
    else
        rc = db_error(store, "read the uplinked mark");
    sqlite3_reset(stmt);
    return rc;
}

/* One seal a purge takes rows from: which, and the ids it takes now. */
struct purge_seal {
    int64_t first_id, last_id, event_id, purge_event;
    uint8_t *take; /* bitmap like a purge's */
};

static size_t bitmap_bytes(int64_t first_id, int64_t last_id)
{
    return (size_t)((last_id - first_id + 1 + 7) / 8);
}

/* Reads one event's detail (of the given kind) and parses it; NULL (logged, *rc_out set) when
 * it is missing, of another kind or not JSON: the seals table pointed somewhere wrong. */
static cJSON *event_detail(struct store *store, int64_t event_id, const char *kind, int *rc_out)
{
    sqlite3_stmt *stmt = NULL;
    cJSON *d = NULL;
    *rc_out = 0;
    if (sqlite3_prepare_v2(store->db, "SELECT kind, detail FROM events WHERE id = ?1", -1, &stmt,
                           NULL) != SQLITE_OK) {
        *rc_out = db_error(store, "prepare reading an event");
        return NULL;
    }
    sqlite3_bind_int64(stmt, 1, event_id);
    int src = sqlite3_step(stmt);
    if (src == SQLITE_ROW && sqlite3_column_text(stmt, 0) != NULL &&
        strcmp((const char *)sqlite3_column_text(stmt, 0), kind) == 0)
        d = cJSON_ParseWithLength((const char *)sqlite3_column_text(stmt, 1),
                                  (size_t)sqlite3_column_bytes(stmt, 1));
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        *rc_out = db_error(store, "read an event");
    else if (d == NULL) {
        log_err("store[%s]: event %" PRId64 " is not the %s event the seals table names: run "
                "coldchainctl verify", store->path, event_id, kind);
        *rc_out = -EBADMSG;
    }
    sqlite3_finalize(stmt);
    return d;
}

/* Checks one seal's rows against the chain, deletes the ids to take, and adds its entry to the
 * purge event's units. What remains must be exactly what the chain says remains (the rows the
 * seal's event sealed, less those earlier purge events took) or nothing is deleted: a purge must
 * never make an edit or a deletion look like retention. */
static int purge_seal(struct store *store, const struct purge_seal *ps, int64_t purge_event_id,
                      cJSON *units, int64_t *deleted_out)
{
    struct audit_seal seal = {0};
    struct audit_purge_unit before = {0};
    sqlite3_stmt *rows = NULL, *del = NULL;
    size_t nbytes = bitmap_bytes(ps->first_id, ps->last_id);
    uint8_t digest[AUDIT_HASH_LEN];
    char all_hex[AUDIT_HEX_SIZE], left_hex[AUDIT_HEX_SIZE];
    int64_t present = 0, left = 0, deleted = 0;
    struct audit_hasher *left_hasher = NULL;
    int rc = 0, src;

    cJSON *d = event_detail(store, ps->event_id, "readings", &rc);
    if (d != NULL) {
        rc = audit_seal_parse(d, true, &seal);
        cJSON_Delete(d);
    }
    if (rc == 0 && (seal.first_id != ps->first_id || seal.last_id != ps->last_id))
        rc = -EBADMSG;
    if (rc == 0 && ps->purge_event > 0) {
        cJSON *p = event_detail(store, ps->purge_event, "purge", &rc);
        const cJSON *it;
        rc = p != NULL ? -EBADMSG : rc;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(p, "units"))
        {
            struct audit_purge_unit pu;
            int prc = audit_purge_unit_parse(it, &pu);
            if (prc == 0 && pu.event_id == ps->event_id && before.purged == NULL) {
                before = pu;
                rc = 0;
            } else if (prc == 0) {
                free(pu.purged);
            }
        }
        cJSON_Delete(p);
    }
    if (rc == 0 && before.purged == NULL) {
        /* Not purged from before: all the seal's rows remain. */
        before.purged = calloc(nbytes, 1);
        before.count = seal.count;
        memcpy(before.sha256, seal.sha256, sizeof(before.sha256));
        if (before.purged == NULL)
            rc = -ENOMEM;
    }
    if (rc == 0)
        rc = audit_hasher_new(&left_hasher);
    if (rc < 0)
        goto out;

    if (sqlite3_prepare_v2(store->db,
                           "SELECT id, sensor_id, quantity, ts_ms, value, flags FROM readings "
                           "WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
                           -1, &rows, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(store->db, "DELETE FROM readings WHERE id = ?1", -1, &del, NULL) !=
            SQLITE_OK) {
        rc = db_error(store, "prepare a purge");
        goto out;
    }
    sqlite3_bind_int64(rows, 1, ps->first_id);
    sqlite3_bind_int64(rows, 2, ps->last_id);
    rc = audit_hasher_begin(store->seal_hasher);
    if (rc == 0)
        rc = audit_hasher_begin(left_hasher);
    while (rc == 0 && (src = sqlite3_step(rows)) == SQLITE_ROW) {
        struct audit_reading_row row;
        bool types_ok = audit_reading_row_of(rows, &row);
        int64_t i = row.id - ps->first_id;
        rc = audit_reading_hash(store->hasher, &row, digest);
        if (rc == 0)
            rc = audit_hasher_update(store->seal_hasher, digest, sizeof(digest));
        if (rc < 0)
            break;
        if (audit_bit(before.purged, i) || !types_ok ||
            memcmp(digest, seal.rows + i * AUDIT_FINGERPRINT_LEN, AUDIT_FINGERPRINT_LEN) != 0) {
            log_err("store[%s]: reading %" PRId64 " is not what event %" PRId64 " sealed: "
                    "nothing purged; run coldchainctl verify", store->path, row.id,
                    ps->event_id);
            rc = -EBADMSG;
            break;
        }
        present++;
        if (audit_bit(ps->take, i)) {
            sqlite3_bind_int64(del, 1, row.id);
            if (sqlite3_step(del) != SQLITE_DONE)
                rc = db_error(store, "purge a reading");
            sqlite3_reset(del);
            deleted++;
        } else {
            rc = audit_hasher_update(left_hasher, digest, sizeof(digest));
            left++;
        }
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = db_error(store, "read a seal's readings");
    if (rc == 0)
        rc = audit_hasher_end(store->seal_hasher, digest);
    if (rc < 0)
        goto out;
    audit_hex(digest, sizeof(digest), all_hex);
    if (present != before.count || strcmp(all_hex, before.sha256) != 0) {
        log_err("store[%s]: the readings %" PRId64 "..%" PRId64 " sealed by event %" PRId64
                " are not what the chain says remains of them: nothing purged; run "
                "coldchainctl verify", store->path, ps->first_id, ps->last_id, ps->event_id);
        rc = -EBADMSG;
        goto out;
    }
    rc = audit_hasher_end(left_hasher, digest);
    if (rc < 0)
        goto out;
    audit_hex(digest, sizeof(digest), left_hex);

    /* The entry: every id purged from the seal so far, and what remains. */
    char *bits = malloc(nbytes * 2 + 1);
    if (bits == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t k = 0; k < nbytes; k++)
        before.purged[k] |= ps->take[k];
    audit_hex(before.purged, nbytes, bits);
    cJSON *e = add_int(cJSON_CreateObject(), "event", ps->event_id);
    e = add_int(e, "first_id", ps->first_id);
    e = add_int(e, "last_id", ps->last_id);
    e = add_str(e, "purged", bits);
    e = add_int(e, "count", left);
    e = add_str(e, "sha256", left_hex);
    free(bits);
    if (e == NULL || !cJSON_AddItemToArray(units, e)) {
        cJSON_Delete(e);
        rc = -ENOMEM;
        goto out;
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "UPDATE seals SET purge_event = %" PRId64 " WHERE first_id = %" PRId64,
             purge_event_id, ps->first_id);
    if (sqlite3_exec(store->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        rc = db_error(store, "note a purge in the seals");
    *deleted_out = deleted;
out:
    sqlite3_finalize(rows);
    sqlite3_finalize(del);
    audit_hasher_free(left_hasher);
    free(seal.rows);
    free(before.purged);
    return rc;
}

/* Finds the ids due for purging, in id order, grouped by seal; at most max_seals seals. */
static int purge_plan(struct store *store, int64_t before_ms, int64_t uplinked_id,
                      size_t max_seals, struct purge_seal **plan_out, size_t *count_out,
                      bool *more_out)
{
    sqlite3_stmt *due = NULL, *find = NULL;
    struct purge_seal *plan = NULL;
    size_t n = 0;
    int rc = 0, src;

    /* Due: a reading of a shipment that ended at or before before_ms (by its windows), uplinked,
     * and of no shipment that runs or ended later. */
    if (sqlite3_prepare_v2(
            store->db,
            "SELECT DISTINCT r.id FROM shipments s "
            "JOIN shipment_sensors a ON a.shipment_id = s.id "
            "JOIN readings r ON r.sensor_id = a.sensor_id AND r.ts_ms >= a.from_ms "
            "AND r.ts_ms < COALESCE(a.to_ms, s.ended_ms) "
            "WHERE s.ended_ms IS NOT NULL AND s.ended_ms <= ?1 AND r.id <= ?2 "
            "AND NOT EXISTS (SELECT 1 FROM shipment_sensors b JOIN shipments t "
            "ON t.id = b.shipment_id WHERE b.sensor_id = r.sensor_id AND r.ts_ms >= b.from_ms "
            "AND (b.to_ms IS NULL OR r.ts_ms < b.to_ms) "
            "AND (t.ended_ms IS NULL OR t.ended_ms > ?1)) "
            "ORDER BY r.id",
            -1, &due, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(store->db,
                           "SELECT first_id, last_id, event_id, purge_event FROM seals "
                           "WHERE first_id <= ?1 ORDER BY first_id DESC LIMIT 1",
                           -1, &find, NULL) != SQLITE_OK) {
        rc = db_error(store, "prepare a purge plan");
        goto out;
    }
    sqlite3_bind_int64(due, 1, before_ms);
    sqlite3_bind_int64(due, 2, uplinked_id);
    while ((src = sqlite3_step(due)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(due, 0);
        struct purge_seal *cur = n > 0 ? &plan[n - 1] : NULL;
        if (cur == NULL || id > cur->last_id) {
            if (n == max_seals) {
                *more_out = true;
                break;
            }
            sqlite3_bind_int64(find, 1, id);
            src = sqlite3_step(find);
            if (src != SQLITE_ROW || sqlite3_column_int64(find, 1) < id) {
                /* Sealed readings only: an id no seal covers is left to verify to report. */
                sqlite3_reset(find);
                if (src != SQLITE_ROW && src != SQLITE_DONE) {
                    rc = db_error(store, "find a seal");
                    goto out;
                }
                continue;
            }
            struct purge_seal *np = realloc(plan, (n + 1) * sizeof(*plan));
            if (np == NULL) {
                sqlite3_reset(find);
                rc = -ENOMEM;
                goto out;
            }
            plan = np;
            cur = &plan[n++];
            *cur = (struct purge_seal){
                .first_id = sqlite3_column_int64(find, 0),
                .last_id = sqlite3_column_int64(find, 1),
                .event_id = sqlite3_column_int64(find, 2),
                .purge_event = sqlite3_column_int64(find, 3),
            };
            sqlite3_reset(find);
            if (cur->last_id < cur->first_id || cur->last_id - cur->first_id >= INT32_MAX) {
                n--;
                rc = -EBADMSG;
                goto out;
            }
            cur->take = calloc(bitmap_bytes(cur->first_id, cur->last_id), 1);
            if (cur->take == NULL) {
                n--;
                rc = -ENOMEM;
                goto out;
            }
        }
        int64_t i = id - cur->first_id;
        cur->take[i / 8] |= (uint8_t)(1u << (i % 8));
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = db_error(store, "find readings due for purging");
out:
    sqlite3_finalize(due);
    sqlite3_finalize(find);
    *plan_out = plan;
    *count_out = n;
    return rc;
}

int store_purge(struct store *store, int64_t now_ms, int64_t older_than_ms, size_t max_seals,
                struct store_purge_result *out)
{
    struct purge_seal *plan = NULL;
    size_t n = 0;
    int64_t uplinked_id = 0;
    cJSON *detail = NULL;

    if (store == NULL || out == NULL || older_than_ms < 0 || max_seals == 0)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    int64_t before_ms = now_ms - older_than_ms;
    int rc = txn_begin(store, "begin a purge");
    if (rc < 0)
        return rc;
    rc = store_uplinked_id(store, &uplinked_id);
    if (rc == 0)
        rc = purge_plan(store, before_ms, uplinked_id, max_seals, &plan, &n, &out->more);
    if (rc == 0 && n > 0) {
        detail = add_int(cJSON_CreateObject(), "before_ms", before_ms);
        detail = add_int(detail, "older_than_ms", older_than_ms);
        detail = add_int(detail, "uplinked_id", uplinked_id);
        cJSON *units = detail != NULL ? cJSON_AddArrayToObject(detail, "units") : NULL;
        rc = units != NULL ? 0 : -ENOMEM;
        int64_t purge_event_id = store->chain.event_id_next;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            int64_t deleted = 0;
            rc = purge_seal(store, &plan[i], purge_event_id, units, &deleted);
            out->readings += deleted;
        }
        if (rc == 0)
            detail = add_int(detail, "count", out->readings);
        if (rc == 0 && detail == NULL)
            rc = -ENOMEM;
        if (rc == 0) {
            rc = event_insert_obj(store, now_ms, "purge", NULL, NULL, detail, &out->event_id);
            detail = NULL;
        }
        out->seals = (int64_t)n;
    }
    rc = txn_end(store, rc, "commit a purge");
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    else if (out->readings > 0)
        log_notice("store[%s]: purged %" PRId64 " readings of shipments ended before %" PRId64
                   " from %" PRId64 " seals (event %" PRId64 ")%s", store->path, out->readings,
                   before_ms, out->seals, out->event_id, out->more ? "; more to do" : "");
    cJSON_Delete(detail);
    for (size_t i = 0; i < n; i++)
        free(plan[i].take);
    free(plan);
    return rc;
}
