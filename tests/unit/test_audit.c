/* The audit trail: its hashes against values computed independently from docs/history.md (by
 * tools/verify_history.py and by printf | sha256sum), and audit_verify() against a history
 * written through the store and then tampered with through a raw SQLite connection, as someone
 * with the file and the sqlite3 CLI would. Each tampering must be found, and the first finding
 * must name the row that was touched. */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "cunit_main.h"
#include "store.h"

static char test_dir[64];
static char db_path[128];

static void setup(void)
{
    snprintf(test_dir, sizeof(test_dir), "/tmp/test_audit.XXXXXX");
    if (mkdtemp(test_dir) == NULL)
        test_dir[0] = '\0';
    snprintf(db_path, sizeof(db_path), "%s/history.db", test_dir);
}

static void remove_in_dir(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", test_dir, name);
    unlink(path);
}

static void teardown(void)
{
    if (test_dir[0] == '\0')
        return;
    remove_in_dir("history.db");
    remove_in_dir("history.db-wal");
    remove_in_dir("history.db-shm");
    CU_ASSERT_EQUAL(rmdir(test_dir), 0);
    test_dir[0] = '\0';
}

static struct store *open_store(void)
{
    struct store *store = NULL;
    CU_ASSERT_FATAL(test_dir[0] != '\0');
    CU_ASSERT_EQUAL_FATAL(store_open(test_dir, &store), 0);
    return store;
}

/* Runs SQL on the closed history, as the sqlite3 CLI would. */
static void tamper(const char *sql)
{
    sqlite3 *db = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fprintf(stderr, "tamper: %s: %s\n", sql, err ? err : "?");
    CU_ASSERT_PTR_NULL(err);
    sqlite3_free(err);
    sqlite3_close(db);
}

static int64_t disk_int(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -999;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static struct audit_text t(const char *s)
{
    return (struct audit_text){s, s ? strlen(s) : 0};
}

/* ---- the encoding, against independently computed values ---- */

static void test_event_hash_matches_the_documented_encoding(void)
{
    struct audit_hasher *h = NULL;
    CU_ASSERT_EQUAL_FATAL(audit_hasher_new(&h), 0);
    struct audit_event ev = {
        .id = 2,
        .ts_ms = 1700000000000,
        .kind = t("config"),
        .shipment_id = {NULL, 0},
        .actor = t("admin"),
        .detail = t("{\"path\":\"/etc/coldchain/gateway.json\"}"),
        .prev_hash = t(AUDIT_GENESIS_HASH),
    };
    char hex[AUDIT_HEX_SIZE];
    CU_ASSERT_EQUAL(audit_event_hash(h, &ev, hex), 0);
    /* printf '%s' '5:event,1:2,13:1700000000000,6:config,~5:admin,38:{"path":...},64:000...0,'
     * | sha256sum */
    CU_ASSERT_STRING_EQUAL(hex, "eaf64e65b89e8008a31dfc9ea3549c314b243e180d45524ce69c54cb9309d348");
    /* NULL and "" are different texts. */
    ev.shipment_id = t("");
    CU_ASSERT_EQUAL(audit_event_hash(h, &ev, hex), 0);
    CU_ASSERT_STRING_NOT_EQUAL(hex,
                               "eaf64e65b89e8008a31dfc9ea3549c314b243e180d45524ce69c54cb9309d348");
    audit_hasher_free(h);
}

static void test_reading_and_alert_hashes_match_the_documented_encoding(void)
{
    struct audit_hasher *h = NULL;
    uint8_t d[AUDIT_HASH_LEN];
    char hex[AUDIT_HEX_SIZE];
    CU_ASSERT_EQUAL_FATAL(audit_hasher_new(&h), 0);
    struct audit_reading_row r = {.id = 7, .sensor_id = t("fridge-a"), .quantity = 0,
                                  .ts_ms = 1700000000000, .has_value = true, .value = 4.25};
    CU_ASSERT_EQUAL(audit_reading_hash(h, &r, d), 0);
    audit_hex(d, sizeof(d), hex);
    CU_ASSERT_STRING_EQUAL(hex, "7169653c852b9b16ca19b1db6a319762f65d2860bff936491a00567207f484b1");
    /* A fault: value NULL; NaN with has_value is the same NULL (SQLite stores NaN as NULL). */
    r = (struct audit_reading_row){.id = 8, .sensor_id = t("fridge-a"), .ts_ms = 1700000001000,
                                   .has_value = false, .flags = 1};
    CU_ASSERT_EQUAL(audit_reading_hash(h, &r, d), 0);
    audit_hex(d, sizeof(d), hex);
    CU_ASSERT_STRING_EQUAL(hex, "b01921d60cb08ca3a0c7e22f22e9ee5e0a1aeb5472ec0fb8f36c30727adfb2b7");
    r.has_value = true;
    r.value = (double)NAN;
    CU_ASSERT_EQUAL(audit_reading_hash(h, &r, d), 0);
    audit_hex(d, sizeof(d), hex);
    CU_ASSERT_STRING_EQUAL(hex, "b01921d60cb08ca3a0c7e22f22e9ee5e0a1aeb5472ec0fb8f36c30727adfb2b7");
    /* -0.0 as +0.0 (SQLite gives -0.0 back as 0.0). */
    r = (struct audit_reading_row){.id = 9, .sensor_id = t("fridge-a"), .ts_ms = 1700000002000,
                                   .has_value = true, .value = -0.0, .flags = 2};
    CU_ASSERT_EQUAL(audit_reading_hash(h, &r, d), 0);
    audit_hex(d, sizeof(d), hex);
    CU_ASSERT_STRING_EQUAL(hex, "77442a9506a52cbbf11a351aa23d78b8d64e7999fce89acce4b56cff286a8d60");

    struct audit_alert_row a = {
        .seq = 1, .alert_id = t("a1"), .ts_ms = 1000, .shipment_id = t("fridge"),
        .alarm_id = t("heat"), .sensor_id = t("probe-a"), .transition = t("raised"),
        .has_value = true, .value = 9.0, .has_worst = false, .since_ms = 500,
        .payload = t("{}"), .state = t("active"), .level = 0, .amount_ms = 0};
    CU_ASSERT_EQUAL(audit_alert_hash(h, &a, d), 0);
    audit_hex(d, sizeof(d), hex);
    CU_ASSERT_STRING_EQUAL(hex, "8d3702cb5fa732e4a048afdbccfc8f47eadf57c5afef5ed426f64e7e605701b3");
    audit_hasher_free(h);
}

/* ---- a history to tamper with ----
 * Events: 1 created, 2 fridge-1 start (probe-a), 3 truck-1 start (logger-7), then readings
 * seals, alarms and a command. Readings: probe-a at t is id 2t+1, logger-7 at t is 2t+2, t from
 * 0 to 29 (s); batches of 8 rows. Alerts 1..3 after t = 10, 20, 25. truck-1 ends at t = 30. */

#define ALERT_TOPIC "coldchain/v1/gw1/alerts"

static void add_alert(struct store *store, uint64_t seq, int64_t ts_ms)
{
    struct store_alert a = {.seq = seq, .ts_ms = ts_ms, .value = 9.5, .worst = (double)NAN,
                            .since_ms = ts_ms - 1000, .level = 1, .amount_ms = 2000};
    snprintf(a.id, sizeof(a.id), "00000000-0000-4000-8000-%012llu", (unsigned long long)seq);
    snprintf(a.shipment_id, sizeof(a.shipment_id), "fridge-1");
    snprintf(a.alarm_id, sizeof(a.alarm_id), "heat");
    snprintf(a.sensor_id, sizeof(a.sensor_id), "probe-a");
    snprintf(a.transition, sizeof(a.transition), "%s", seq % 2 ? "raised" : "cleared");
    snprintf(a.state, sizeof(a.state), "%s", seq % 2 ? "active" : "returned");
    char payload[128];
    snprintf(payload, sizeof(payload), "{\"seq\":%llu,\"value\":9.5}", (unsigned long long)seq);
    CU_ASSERT_EQUAL(store_append_alert(store, &a, ALERT_TOPIC, payload, NULL), 0);
}

static void build_history(bool purge)
{
    struct store *store = open_store();
    char sensors[1][READING_SENSOR_ID_MAX] = {"probe-a"};
    CU_ASSERT_EQUAL(store_shipment_ensure_config(store, "fridge-1", "storage", "cdc-fridge",
                                                 "Pharmacy fridge", sensors[0],
                                                 1, 0, NULL),
                    0);
    snprintf(sensors[0], sizeof(sensors[0]), "logger-7");
    CU_ASSERT_EQUAL(store_shipment_start(store, "truck-1", "transit", "who-2-8", "Depot to clinic",
                                         STORE_SOURCE_COMMAND, 0, "driver-12",
                                         sensors[0], 1),
                    0);
    for (int64_t s = 0; s < 30; s++) {
        struct reading r = {.quantity = QUANTITY_TEMPERATURE, .ts_ms = s * 1000,
                            .value = 4.0 + (double)s / 8};
        snprintf(r.sensor_id, sizeof(r.sensor_id), "probe-a");
        if (s == 13) {
            r.flags = READING_FAULT;
            r.value = (double)NAN;
        }
        CU_ASSERT_EQUAL(store_append_reading(store, &r), 0);
        snprintf(r.sensor_id, sizeof(r.sensor_id), "logger-7");
        r.value = 5.5;
        r.flags = 0;
        CU_ASSERT_EQUAL(store_append_reading(store, &r), 0);
        if (s == 10 || s == 20 || s == 25)
            add_alert(store, s == 10 ? 1 : s == 20 ? 2 : 3, s * 1000);
        if (s == 12)
            CU_ASSERT_EQUAL(store_event_append(store, s * 1000, STORE_EVENT_COMMAND, "fridge-1",
                                               "Anna Keller",
                                               "{\"verb\":\"ack\",\"comment\":\"door shut\"}",
                                               NULL),
                            0);
        if (store_pending(store) >= 8)
            CU_ASSERT_EQUAL(store_flush(store), 0);
    }
    CU_ASSERT_EQUAL(store_shipment_end(store, "truck-1", 30000, "driver-12", "delivered"), 0);
    if (purge) {
        struct store_purge_result res;
        CU_ASSERT_EQUAL(store_mark_uplinked(store, store_reading_id_last(store)), 0);
        CU_ASSERT_EQUAL(store_purge(store, 40000, 5000, 100, &res), 0);
        CU_ASSERT_EQUAL(res.readings, 30); /* every logger-7 reading */
    }
    store_close(store);
}

static struct audit_report report;

/* Verifies and checks the first finding: table, id (or key) and what. */
static void expect_first(const char *table, int64_t id, const char *key, enum audit_what what)
{
    memset(&report, 0, sizeof(report));
    int rc = audit_verify(db_path, &report);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT_FATAL(report.findings_kept > 0);
    const struct audit_finding *f = &report.findings[0];
    if (strcmp(f->table, table) != 0 || f->id != id || strcmp(f->key, key ? key : "") != 0 ||
        f->what != what)
        fprintf(stderr, "\n    first finding: %s %lld %s %s: %s\n", f->table, (long long)f->id,
                f->key, audit_what_name(f->what), f->detail);
    CU_ASSERT_STRING_EQUAL(f->table, table);
    CU_ASSERT_EQUAL(f->id, id);
    CU_ASSERT_STRING_EQUAL(f->key, key ? key : "");
    CU_ASSERT_EQUAL(f->what, what);
}

static void expect_intact(void)
{
    memset(&report, 0, sizeof(report));
    int rc = audit_verify(db_path, &report);
    for (size_t i = 0; i < report.findings_kept; i++)
        fprintf(stderr, "\n    finding: %s %lld..%lld %s %s: %s\n", report.findings[i].table,
                (long long)report.findings[i].id, (long long)report.findings[i].id_last,
                report.findings[i].key, audit_what_name(report.findings[i].what),
                report.findings[i].detail);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(report.finding_count, 0);
}

static void test_untouched_history_is_intact(void)
{
    build_history(false);
    expect_intact();
    CU_ASSERT_EQUAL(report.schema, 3);
    CU_ASSERT_EQUAL(report.readings, 60);
    CU_ASSERT_EQUAL(report.readings_sealed, 60);
    CU_ASSERT_EQUAL(report.alerts, 3);
    CU_ASSERT_EQUAL(report.shipments, 2);
    CU_ASSERT_EQUAL(report.events, disk_int("SELECT COUNT(*) FROM events"));
    CU_ASSERT_EQUAL(report.head_id, report.events);
    CU_ASSERT_EQUAL(strlen(report.head_hash), 64);
}

static void test_an_edited_reading_value_is_named(void)
{
    build_history(false);
    tamper("UPDATE readings SET value = 4.0 WHERE id = 17");
    expect_first("readings", 17, NULL, AUDIT_ALTERED);
    CU_ASSERT_EQUAL(report.finding_count, 1);
}

static void test_a_deleted_reading_is_named(void)
{
    build_history(false);
    tamper("DELETE FROM readings WHERE id = 17");
    expect_first("readings", 17, NULL, AUDIT_DELETED);
}

static void test_an_inserted_reading_is_named(void)
{
    build_history(false);
    tamper("INSERT INTO readings (id, sensor_id, quantity, ts_ms, value, flags) "
           "VALUES (61, 'probe-a', 0, 30500, 4.0, 0)");
    expect_first("readings", 61, NULL, AUDIT_INSERTED);
    /* Without an explicit id it lands after the last one all the same. */
}

static void test_a_reading_put_back_in_a_gap_is_named(void)
{
    build_history(false);
    tamper("DELETE FROM readings WHERE id = 17;"
           "INSERT INTO readings (id, sensor_id, quantity, ts_ms, value, flags) "
           "VALUES (17, 'probe-a', 0, 8000, 5.25, 0)");
    expect_first("readings", 17, NULL, AUDIT_ALTERED);
}

static void test_a_value_of_another_type_is_named(void)
{
    build_history(false);
    tamper("UPDATE readings SET value = 'warm' WHERE id = 3");
    expect_first("readings", 3, NULL, AUDIT_ALTERED);
}

static void test_swapped_readings_are_named(void)
{
    build_history(false);
    /* Reorder: ids 5 and 7 (probe-a at 2 s and 3 s) trade their stamps. */
    tamper("UPDATE readings SET ts_ms = CASE id WHEN 5 THEN 3000 ELSE 2000 END "
           "WHERE id IN (5, 7)");
    expect_first("readings", 5, NULL, AUDIT_ALTERED);
    CU_ASSERT_EQUAL(report.finding_count, 2);
}

static void test_an_edited_alert_payload_is_named(void)
{
    build_history(false);
    tamper("UPDATE alerts SET payload = '{\"seq\":2,\"value\":7.5}' WHERE seq = 2");
    expect_first("alerts", 2, NULL, AUDIT_ALTERED);
    CU_ASSERT(strstr(report.findings[0].detail, "payload") != NULL);
}

static void test_an_edited_alert_column_is_named(void)
{
    build_history(false);
    tamper("UPDATE alerts SET state = 'normal' WHERE seq = 3");
    expect_first("alerts", 3, NULL, AUDIT_ALTERED);
}

static void test_a_deleted_alert_is_named(void)
{
    build_history(false);
    tamper("DELETE FROM alerts WHERE seq = 2");
    expect_first("alerts", 2, NULL, AUDIT_DELETED);
}

static void test_a_deleted_event_is_named(void)
{
    build_history(false);
    tamper("DELETE FROM events WHERE id = 5");
    expect_first("events", 5, NULL, AUDIT_DELETED);
}

static void test_an_edited_event_detail_is_named(void)
{
    build_history(false);
    int64_t id = disk_int("SELECT id FROM events WHERE kind = 'command'");
    tamper("UPDATE events SET detail = replace(detail, 'door shut', 'all fine') "
           "WHERE kind = 'command'");
    expect_first("events", id, NULL, AUDIT_ALTERED);
    CU_ASSERT_EQUAL(report.finding_count, 1);
}

/* An event replaced by one whose hash was computed again: the link of the next one breaks. */
static void test_an_event_replaced_with_a_recomputed_hash_is_named(void)
{
    build_history(false);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(db,
                                             "SELECT id, ts_ms, prev_hash FROM events WHERE "
                                             "kind = 'command'",
                                             -1, &st, NULL),
                          SQLITE_OK);
    CU_ASSERT_EQUAL_FATAL(sqlite3_step(st), SQLITE_ROW);
    int64_t id = sqlite3_column_int64(st, 0);
    char prev[AUDIT_HEX_SIZE];
    snprintf(prev, sizeof(prev), "%s", (const char *)sqlite3_column_text(st, 2));
    const char *detail = "{\"verb\":\"ack\",\"comment\":\"all fine\"}";
    struct audit_event ev = {.id = id, .ts_ms = sqlite3_column_int64(st, 1),
                             .kind = t("command"), .shipment_id = t("fridge-1"),
                             .actor = t("Anna Keller"), .detail = t(detail), .prev_hash = t(prev)};
    sqlite3_finalize(st);
    struct audit_hasher *h = NULL;
    char hex[AUDIT_HEX_SIZE], sql[512];
    CU_ASSERT_EQUAL_FATAL(audit_hasher_new(&h), 0);
    CU_ASSERT_EQUAL(audit_event_hash(h, &ev, hex), 0);
    audit_hasher_free(h);
    snprintf(sql, sizeof(sql), "UPDATE events SET detail = '%s', hash = '%s' WHERE id = %lld",
             detail, hex, (long long)id);
    CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    expect_first("events", id, NULL, AUDIT_ALTERED);
    CU_ASSERT(strstr(report.findings[0].detail, "replaced") != NULL);
}

static void test_reordered_events_are_named(void)
{
    build_history(false);
    tamper("UPDATE events SET id = -4 WHERE id = 4; UPDATE events SET id = 4 WHERE id = 5;"
           "UPDATE events SET id = 5 WHERE id = -4");
    expect_first("events", 4, NULL, AUDIT_ALTERED);
}

/* The tail of the chain cut off (no gap is left: the chain alone cannot tell). What the cut
 * events accounted for is then accounted for by nothing: here truck-1's end, and the readings of
 * the last seal. */
static void test_a_cut_off_tail_leaves_what_it_sealed_unaccounted(void)
{
    build_history(false);
    int64_t first = disk_int("SELECT first_id FROM seals ORDER BY first_id DESC LIMIT 1");
    tamper("DELETE FROM events WHERE id >= (SELECT event_id FROM seals ORDER BY first_id DESC "
           "LIMIT 1)");
    expect_first("shipments", 0, "truck-1", AUDIT_ALTERED);
    bool unsealed = false;
    for (size_t i = 0; i < report.findings_kept; i++)
        unsealed |= strcmp(report.findings[i].table, "readings") == 0 &&
                    report.findings[i].id == first && report.findings[i].id_last == 60 &&
                    report.findings[i].what == AUDIT_INSERTED;
    CU_ASSERT(unsealed);
}

static void test_an_edited_shipment_end_is_named(void)
{
    build_history(false);
    tamper("UPDATE shipments SET ended_ms = 60000 WHERE id = 'truck-1'");
    expect_first("shipments", 0, "truck-1", AUDIT_ALTERED);
}

static void test_a_deleted_assignment_is_named(void)
{
    build_history(false);
    tamper("DELETE FROM shipment_sensors WHERE sensor_id = 'logger-7'");
    expect_first("shipment_sensors", 0, "truck-1/logger-7", AUDIT_DELETED);
}

static void test_a_purged_history_is_intact_and_its_survivors_still_checked(void)
{
    build_history(true);
    expect_intact();
    CU_ASSERT_EQUAL(report.readings, 30);
    CU_ASSERT_EQUAL(report.readings_sealed, 60);
    CU_ASSERT_EQUAL(report.readings_purged, 30);
    tamper("UPDATE readings SET value = 9.0 WHERE id = 21");
    expect_first("readings", 21, NULL, AUDIT_ALTERED);
}

static void test_a_purged_reading_put_back_is_named(void)
{
    build_history(true);
    tamper("INSERT INTO readings (id, sensor_id, quantity, ts_ms, value, flags) "
           "VALUES (4, 'logger-7', 0, 1000, 5.5, 0)");
    expect_first("readings", 4, NULL, AUDIT_INSERTED);
}

static void test_a_survivor_deleted_after_a_purge_is_named(void)
{
    build_history(true);
    tamper("DELETE FROM readings WHERE id = 9");
    expect_first("readings", 9, NULL, AUDIT_DELETED);
}

/* A history from before the audit trail: the migration seals what it holds, verify covers it. */
static void test_a_migrated_v2_history_is_covered(void)
{
    sqlite3 *db = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(db_path, &db), SQLITE_OK);
    static char sql[40000];
    int n = snprintf(sql, sizeof(sql),
                     "CREATE TABLE shipments (id TEXT PRIMARY KEY, kind TEXT NOT NULL, profile "
                     "TEXT NOT NULL, started_ms INTEGER NOT NULL, ended_ms INTEGER);"
                     "CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor_id TEXT NOT NULL, "
                     "quantity INTEGER NOT NULL, ts_ms INTEGER NOT NULL, value REAL, flags "
                     "INTEGER NOT NULL);"
                     "CREATE INDEX readings_sensor_ts ON readings (sensor_id, ts_ms);"
                     "CREATE TABLE alerts (seq INTEGER PRIMARY KEY, alert_id TEXT NOT NULL "
                     "UNIQUE, ts_ms INTEGER NOT NULL, shipment_id TEXT NOT NULL, alarm_id TEXT "
                     "NOT NULL, sensor_id TEXT NOT NULL, transition TEXT NOT NULL, value REAL, "
                     "worst REAL, since_ms INTEGER NOT NULL, payload TEXT NOT NULL, state TEXT "
                     "NOT NULL DEFAULT 'normal', level INTEGER NOT NULL DEFAULT 0, amount_ms "
                     "INTEGER NOT NULL DEFAULT 0);"
                     "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT "
                     "NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT "
                     "NULL, created_ms INTEGER NOT NULL);"
                     "INSERT INTO shipments VALUES ('fridge', 'storage', 'cdc-fridge', 100, "
                     "NULL);"
                     "INSERT INTO shipments VALUES ('truck', 'transit', 'who', 100, 900000);"
                     "INSERT INTO alerts VALUES (1, 'a1', 1000, 'fridge', 'heat', 'probe-a', "
                     "'raised', 9.0, NULL, 500, '{}', 'active', 0, 0);");
    for (int i = 1; i <= 600; i++)
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s(%d, 'probe-a', 0, %d, %d.5, 0)",
                      i == 1 ? "INSERT INTO readings VALUES " : ",", i, i * 1000, i % 10);
    snprintf(sql + n, sizeof(sql) - (size_t)n, "; PRAGMA user_version = 2;");
    CU_ASSERT_EQUAL_FATAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    struct store *store = open_store();
    char sensors[1][READING_SENSOR_ID_MAX] = {"probe-a"};
    CU_ASSERT_EQUAL(store_shipment_ensure_config(store, "fridge", "storage", "cdc-fridge", "",
                                                 sensors[0], 1, 5000000, NULL),
                    0);
    store_close(store);
    /* 1 migration, 2 shipment starts, 1 alarm, 3 seals of 256 + 256 + 88, 1 assign. */
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM events"), 8);
    CU_ASSERT_EQUAL(disk_int("SELECT from_ms FROM shipment_sensors"), 100);
    expect_intact();
    CU_ASSERT_EQUAL(report.readings, 600);
    tamper("UPDATE readings SET value = 1.5 WHERE id = 300");
    expect_first("readings", 300, NULL, AUDIT_ALTERED);
}

/* The daemon may be writing: verify reads a committed snapshot, read-only. */
static void test_verify_reads_beside_an_open_batch(void)
{
    build_history(false);
    struct store *store = open_store();
    struct reading r = {.quantity = QUANTITY_TEMPERATURE, .ts_ms = 99000, .value = 4.0};
    snprintf(r.sensor_id, sizeof(r.sensor_id), "probe-a");
    CU_ASSERT_EQUAL(store_append_reading(store, &r), 0);
    expect_intact(); /* the open batch is not visible, and not a finding */
    CU_ASSERT_EQUAL(report.readings, 60);
    CU_ASSERT_EQUAL(store_flush(store), 0);
    expect_intact();
    CU_ASSERT_EQUAL(report.readings, 61);
    store_close(store);
}

static void test_verify_refuses_what_it_cannot_verify(void)
{
    struct audit_report r;
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/none.db", test_dir);
    CU_ASSERT_EQUAL(audit_verify(missing, &r), -ENOENT);
    CU_ASSERT(strstr(r.error, "none.db") != NULL);
    sqlite3 *db = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(db_path, &db), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_exec(db, "CREATE TABLE x (a); PRAGMA user_version = 2", NULL, NULL,
                                 NULL),
                    SQLITE_OK);
    sqlite3_close(db);
    CU_ASSERT_EQUAL(audit_verify(db_path, &r), -EPROTO);
    CU_ASSERT(strstr(r.error, "schema 2") != NULL);
    /* Read-only: it did not migrate the file. */
    CU_ASSERT_EQUAL(disk_int("PRAGMA user_version"), 2);
}

int register_tests(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"event hash matches the documented encoding",
         test_event_hash_matches_the_documented_encoding},
        {"reading and alert hashes match the documented encoding",
         test_reading_and_alert_hashes_match_the_documented_encoding},
        {"an untouched history is intact", test_untouched_history_is_intact},
        {"an edited reading value is named", test_an_edited_reading_value_is_named},
        {"a deleted reading is named", test_a_deleted_reading_is_named},
        {"an inserted reading is named", test_an_inserted_reading_is_named},
        {"a reading put back in a gap is named", test_a_reading_put_back_in_a_gap_is_named},
        {"a value of another type is named", test_a_value_of_another_type_is_named},
        {"swapped readings are named", test_swapped_readings_are_named},
        {"an edited alert payload is named", test_an_edited_alert_payload_is_named},
        {"an edited alert column is named", test_an_edited_alert_column_is_named},
        {"a deleted alert is named", test_a_deleted_alert_is_named},
        {"a deleted event is named", test_a_deleted_event_is_named},
        {"an edited event detail is named", test_an_edited_event_detail_is_named},
        {"an event replaced with a recomputed hash is named",
         test_an_event_replaced_with_a_recomputed_hash_is_named},
        {"reordered events are named", test_reordered_events_are_named},
        {"a cut-off tail leaves what it sealed unaccounted",
         test_a_cut_off_tail_leaves_what_it_sealed_unaccounted},
        {"an edited shipment end is named", test_an_edited_shipment_end_is_named},
        {"a deleted assignment is named", test_a_deleted_assignment_is_named},
        {"a purged history is intact and its survivors still checked",
         test_a_purged_history_is_intact_and_its_survivors_still_checked},
        {"a purged reading put back is named", test_a_purged_reading_put_back_is_named},
        {"a survivor deleted after a purge is named",
         test_a_survivor_deleted_after_a_purge_is_named},
        {"a migrated v2 history is covered", test_a_migrated_v2_history_is_covered},
        {"verify reads beside an open batch", test_verify_reads_beside_an_open_batch},
        {"verify refuses what it cannot verify", test_verify_refuses_what_it_cannot_verify},
    };
    CU_pSuite suite = CU_add_suite_with_setup_and_teardown("audit", NULL, NULL, setup, teardown);
    if (suite == NULL)
        return CU_get_error();
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
            return CU_get_error();
    return 0;
}
