/* The store against a real SQLite file in a fresh temporary directory per test. What the store
 * claims is checked through a second, raw SQLite connection where that proves more than the
 * store's own answers would (what is on disk, what a reader such as coldchainctl sees). */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "cunit_main.h"
#include "store.h"

static char test_dir[64];

static void setup(void)
{
    snprintf(test_dir, sizeof(test_dir), "/tmp/test_store.XXXXXX");
    if (mkdtemp(test_dir) == NULL)
        test_dir[0] = '\0';
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
    /* Fails if the store left anything else behind. */
    CU_ASSERT_EQUAL(rmdir(test_dir), 0);
    test_dir[0] = '\0';
}

static struct store *open_store(void)
{
    struct store *store = NULL;
    CU_ASSERT_FATAL(test_dir[0] != '\0');
    CU_ASSERT_EQUAL_FATAL(store_open(test_dir, &store), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(store);
    return store;
}

/* A second connection, as coldchainctl would open one. */
static sqlite3 *open_raw(void)
{
    char path[128];
    sqlite3 *db = NULL;
    snprintf(path, sizeof(path), "%s/history.db", test_dir);
    CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* The first column of the first row as an integer; -999 if the query fails or has no row. */
static int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    int64_t v = -999;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_int64(stmt, 0);
    else
        fprintf(stderr, "raw query failed: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    return v;
}

/* Same, with a fresh connection that is closed again. */
static int64_t disk_int(const char *sql)
{
    sqlite3 *db = open_raw();
    int64_t v = raw_int(db, sql);
    sqlite3_close(db);
    return v;
}

static struct reading reading_at(const char *sensor_id, int64_t ts_ms, double value)
{
    struct reading r = {.quantity = QUANTITY_TEMPERATURE, .value = value, .ts_ms = ts_ms};
    snprintf(r.sensor_id, sizeof(r.sensor_id), "%s", sensor_id);
    return r;
}

static struct store_alert alert_of(uint64_t seq, const char *alarm_id, const char *sensor_id,
                                   const char *transition, int64_t ts_ms)
{
    struct store_alert a = {
        .seq = seq, .ts_ms = ts_ms, .value = 9.5, .worst = 10.25, .since_ms = ts_ms - 60000};
    snprintf(a.id, sizeof(a.id), "00000000-0000-4000-8000-%012llu", (unsigned long long)seq);
    snprintf(a.shipment_id, sizeof(a.shipment_id), "fridge-1");
    snprintf(a.alarm_id, sizeof(a.alarm_id), "%s", alarm_id);
    snprintf(a.sensor_id, sizeof(a.sensor_id), "%s", sensor_id);
    snprintf(a.transition, sizeof(a.transition), "%s", transition);
    return a;
}

#define ALERT_TOPIC "coldchain/v1/gw1/alerts"
#define ALERT_PAYLOAD "{\"id\":\"x\",\"seq\":1}"

static void test_new_store_has_schema_v3_in_wal_mode(void)
{
    struct store *store = open_store();
    CU_ASSERT_EQUAL(store_alert_seq_next(store), 1);
    CU_ASSERT_EQUAL(store_pending(store), 0);
    store_close(store);

    sqlite3 *db = open_raw();
    CU_ASSERT_EQUAL(raw_int(db, "PRAGMA user_version"), 3);
    /* journal_mode is persistent in the file for WAL, so a raw connection sees it too. */
    sqlite3_stmt *stmt = NULL;
    CU_ASSERT_EQUAL(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_step(stmt), SQLITE_ROW);
    CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    CU_ASSERT_EQUAL(raw_int(db, "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND "
                                "name IN ('shipments', 'readings', 'alerts', 'outbox', "
                                "'shipment_sensors', 'events', 'seals', 'meta')"),
                    8);
    /* The chain starts with "created", chained to the genesis hash. */
    CU_ASSERT_EQUAL(raw_int(db, "SELECT COUNT(*) FROM events"), 1);
    CU_ASSERT_EQUAL(raw_int(db, "SELECT COUNT(*) FROM events WHERE id = 1 AND kind = 'created' "
                                "AND prev_hash = '" AUDIT_GENESIS_HASH "' AND length(hash) = 64"),
                    1);
    sqlite3_close(db);
}

static void test_readings_survive_reopen(void)
{
    struct store *store = open_store();
    for (int i = 0; i < 3; i++) {
        struct reading r = reading_at("probe-a", 1700000000000 + i * 1000, 4.0 + i);
        CU_ASSERT_EQUAL(store_append_reading(store, &r), 0);
    }
    CU_ASSERT_EQUAL(store_pending(store), 3);
    CU_ASSERT_EQUAL(store_flush(store), 0);
    CU_ASSERT_EQUAL(store_pending(store), 0);
    store_close(store);

    store = open_store();
    store_close(store);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM readings WHERE sensor_id = 'probe-a'"), 3);
    CU_ASSERT_EQUAL(disk_int("SELECT ts_ms FROM readings ORDER BY ts_ms DESC LIMIT 1"),
                    1700000002000);
    CU_ASSERT_EQUAL(disk_int("SELECT CAST(value * 100 AS INTEGER) FROM readings "
                             "WHERE ts_ms = 1700000001000"),
                    500);
}

static void test_close_commits_open_batch(void)
{
    struct store *store = open_store();
    struct reading r = reading_at("probe-a", 1700000000000, 5.0);
    CU_ASSERT_EQUAL(store_append_reading(store, &r), 0);
    CU_ASSERT_EQUAL(store_pending(store), 1);
    store_close(store);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM readings"), 1);
}

static void test_fault_reading_stored_as_null(void)
{
    struct store *store = open_store();
    struct reading r = reading_at("probe-a", 1700000000000, (double)NAN);
    r.flags = READING_FAULT | READING_UNSYNCED;
    CU_ASSERT_EQUAL(store_append_reading(store, &r), 0);
    /* A fault with a left-over number in value must not store the number either. */
    r = reading_at("probe-b", 1700000000000, 85.0);
    r.flags = READING_FAULT;
    CU_ASSERT_EQUAL(store_append_reading(store, &r), 0);
    store_close(store);

    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM readings WHERE value IS NULL"), 2);
    CU_ASSERT_EQUAL(disk_int("SELECT flags FROM readings WHERE sensor_id = 'probe-a'"),
                    READING_FAULT | READING_UNSYNCED);
}

static void test_uncommitted_batch_is_invisible_until_flush(void)
{
    struct store *store = open_store();
    sqlite3 *reader = open_raw();
    for (int i = 0; i < 5; i++) {
        struct reading r = reading_at("probe-a", 1700000000000 + i, 5.0);
        CU_ASSERT_EQUAL(store_append_reading(store, &r), 0);
    }
    /* WAL: the reader is not blocked and sees only what was committed. */
    CU_ASSERT_EQUAL(raw_int(reader, "SELECT COUNT(*) FROM readings"), 0);
    CU_ASSERT_EQUAL(store_flush(store), 0);
    CU_ASSERT_EQUAL(raw_int(reader, "SELECT COUNT(*) FROM readings"), 5);
    sqlite3_close(reader);
    store_close(store);
}

/* A process that dies (here: _exit without store_close) loses its open batch and nothing that
 * was flushed before. */
static void test_crash_loses_open_batch_but_keeps_committed(void)
{
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        struct store *store = NULL;
        if (store_open(test_dir, &store) != 0)
            _exit(10);
        for (int i = 0; i < 5; i++) {
            struct reading r = reading_at("probe-a", 1700000000000 + i, 5.0);
            if (store_append_reading(store, &r) != 0)
                _exit(11);
            if (i == 1 && store_flush(store) != 0)
                _exit(12);
        }
        _exit(0);
    }
    int status = 0;
    CU_ASSERT_EQUAL_FATAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT_FATAL(WIFEXITED(status));
    CU_ASSERT_EQUAL_FATAL(WEXITSTATUS(status), 0);

    struct store *store = open_store();
    store_close(store);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM readings"), 2);
}

static void test_alert_seq_is_gap_free_across_reopen(void)
{
    struct store *store = open_store();
    for (uint64_t seq = 1; seq <= 3; seq++) {
        struct store_alert a = alert_of(seq, "heat", "probe-a", "raised", 1700000000000);
        CU_ASSERT_EQUAL(store_append_alert(store, &a, ALERT_TOPIC, ALERT_PAYLOAD, NULL), 0);
    }
    CU_ASSERT_EQUAL(store_alert_seq_next(store), 4);
    store_close(store);

    store = open_store();
    CU_ASSERT_EQUAL(store_alert_seq_next(store), 4);
    struct store_alert a = alert_of(4, "heat", "probe-a", "cleared", 1700000100000);
    CU_ASSERT_EQUAL(store_append_alert(store, &a, ALERT_TOPIC, ALERT_PAYLOAD, NULL), 0);
    store_close(store);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM alerts"), 4);
    CU_ASSERT_EQUAL(disk_int("SELECT MAX(seq) - MIN(seq) + 1 FROM alerts"), 4);
}

static void test_alert_with_wrong_seq_writes_nothing(void)
{
    struct store *store = open_store();
    struct reading r = reading_at("probe-a", 1700000000000, 5.0);
    CU_ASSERT_EQUAL(store_append_reading(store, &r), 0);

    struct store_alert skip = alert_of(2, "heat", "probe-a", "raised", 1700000000000);
    CU_ASSERT_EQUAL(store_append_alert(store, &skip, ALERT_TOPIC, ALERT_PAYLOAD, NULL), -EINVAL);
    struct store_alert zero = alert_of(0, "heat", "probe-a", "raised", 1700000000000);
    CU_ASSERT_EQUAL(store_append_alert(store, &zero, ALERT_TOPIC, ALERT_PAYLOAD, NULL), -EINVAL);
    CU_ASSERT_EQUAL(store_alert_seq_next(store), 1);
    /* The refused alert did not even commit the batch. */
    CU_ASSERT_EQUAL(store_pending(store), 1);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM readings"), 0);
    int64_t count = -1;
    CU_ASSERT_EQUAL(store_outbox_count(store, &count), 0);
    CU_ASSERT_EQUAL(count, 0);
    store_close(store);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM alerts"), 0);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM outbox"), 0);
}

static void test_alert_commits_pending_batch(void)
{
    struct store *store = open_store();
    sqlite3 *reader = open_raw();
    for (int i = 0; i < 4; i++) {
        struct reading r = reading_at("probe-a", 1700000000000 + i, 9.0);
        CU_ASSERT_EQUAL(store_append_reading(store, &r), 0);
    }
    struct store_alert a = alert_of(1, "heat", "probe-a", "raised", 1700000000003);
    int64_t outbox_id = 0;
    CU_ASSERT_EQUAL(store_append_alert(store, &a, ALERT_TOPIC, ALERT_PAYLOAD, &outbox_id), 0);
    CU_ASSERT_EQUAL(store_pending(store), 0);
    CU_ASSERT(outbox_id > 0);

    /* Durable before it is published: another connection already sees all of it. */
    CU_ASSERT_EQUAL(raw_int(reader, "SELECT COUNT(*) FROM readings"), 4);
    CU_ASSERT_EQUAL(raw_int(reader, "SELECT seq FROM alerts WHERE alert_id = "
                                    "'00000000-0000-4000-8000-000000000001'"),
                    1);
    CU_ASSERT_EQUAL(
        raw_int(reader, "SELECT COUNT(*) FROM alerts WHERE payload = '" ALERT_PAYLOAD "'"), 1);
    CU_ASSERT_EQUAL(raw_int(reader, "SELECT id FROM outbox WHERE topic = '" ALERT_TOPIC
                                    "' AND qos = 1 AND retain = 0"),
                    outbox_id);
    sqlite3_close(reader);

    struct store_outbox_msg msg = {0};
    CU_ASSERT_EQUAL(store_outbox_next(store, 0, &msg), 0);
    CU_ASSERT_EQUAL(msg.id, outbox_id);
    CU_ASSERT_STRING_EQUAL(msg.topic, ALERT_TOPIC);
    CU_ASSERT_EQUAL(msg.len, strlen(ALERT_PAYLOAD));
    CU_ASSERT(msg.payload != NULL && memcmp(msg.payload, ALERT_PAYLOAD, msg.len) == 0);
    CU_ASSERT_EQUAL(msg.qos, 1);
    CU_ASSERT_FALSE(msg.retain);
    store_outbox_msg_clear(&msg);
    store_close(store);
}

static void test_alert_with_duplicate_id_writes_nothing(void)
{
    struct store *store = open_store();
    struct store_alert a = alert_of(1, "heat", "probe-a", "raised", 1700000000000);
    CU_ASSERT_EQUAL(store_append_alert(store, &a, ALERT_TOPIC, ALERT_PAYLOAD, NULL), 0);
    a.seq = 2; /* right seq, reused id */
    CU_ASSERT_EQUAL(store_append_alert(store, &a, ALERT_TOPIC, ALERT_PAYLOAD, NULL), -EIO);
    CU_ASSERT_EQUAL(store_alert_seq_next(store), 2);
    store_close(store);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM alerts"), 1);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM outbox"), 1);
}

/* The outbox row is written after the alert row; when it fails, the alert row must go too, or a
 * committed alert would never be published. A trigger added through a raw connection makes the
 * outbox insert fail. */
static void test_alert_is_rolled_back_when_its_outbox_row_fails(void)
{
    struct store *store = open_store();
    sqlite3 *db = open_raw();
    CU_ASSERT_EQUAL(sqlite3_exec(db,
                                 "CREATE TRIGGER refuse BEFORE INSERT ON outbox "
                                 "BEGIN SELECT RAISE(ABORT, 'test: outbox refused'); END",
                                 NULL, NULL, NULL),
                    SQLITE_OK);
    struct store_alert a = alert_of(1, "heat", "probe-a", "raised", 1700000000000);
    CU_ASSERT_EQUAL(store_append_alert(store, &a, ALERT_TOPIC, ALERT_PAYLOAD, NULL), -EIO);
    CU_ASSERT_EQUAL(store_alert_seq_next(store), 1);
    CU_ASSERT_EQUAL(raw_int(db, "SELECT COUNT(*) FROM alerts"), 0);

    CU_ASSERT_EQUAL(sqlite3_exec(db, "DROP TRIGGER refuse", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    CU_ASSERT_EQUAL(store_append_alert(store, &a, ALERT_TOPIC, ALERT_PAYLOAD, NULL), 0);
    CU_ASSERT_EQUAL(store_alert_seq_next(store), 2);
    store_close(store);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM alerts"), 1);
}

static void test_outbox_in_order_and_ack_removes(void)
{
    struct store *store = open_store();
    int64_t id[3] = {0};
    const char *payloads[3] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(store_outbox_put(store, "coldchain/v1/gw1/telemetry", payloads[i],
                                         strlen(payloads[i]), 0, false, false, &id[i]),
                        0);
    CU_ASSERT(id[0] < id[1] && id[1] < id[2]);

    struct store_outbox_msg msg = {0};
    int64_t after = 0;
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL_FATAL(store_outbox_next(store, after, &msg), 0);
        CU_ASSERT_EQUAL(msg.id, id[i]);
        CU_ASSERT_EQUAL(msg.len, strlen(payloads[i]));
        CU_ASSERT(memcmp(msg.payload, payloads[i], msg.len) == 0);
        CU_ASSERT_EQUAL(msg.qos, 0);
        after = msg.id;
        store_outbox_msg_clear(&msg);
        CU_ASSERT_PTR_NULL(msg.payload);
    }
    CU_ASSERT_EQUAL(store_outbox_next(store, after, &msg), 1);

    CU_ASSERT_EQUAL(store_outbox_ack(store, id[1]), 0);
    /* Acking what is gone (acked twice, or replaced meanwhile) is not an error. */
    CU_ASSERT_EQUAL(store_outbox_ack(store, id[1]), 0);
    CU_ASSERT_EQUAL(store_outbox_ack(store, 987654), 0);
    int64_t count = -1;
    CU_ASSERT_EQUAL(store_outbox_count(store, &count), 0);
    CU_ASSERT_EQUAL(count, 2);
    CU_ASSERT_EQUAL(store_outbox_next(store, id[0], &msg), 0);
    CU_ASSERT_EQUAL(msg.id, id[2]);
    store_outbox_msg_clear(&msg);
    store_close(store);

    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM outbox"), 2);
}

static void test_outbox_replace_topic_keeps_only_newest(void)
{
    const char *twin = "coldchain/v1/gw1/shipments/fridge-1/twin";
    struct store *store = open_store();
    int64_t other = 0;
    int64_t newest = 0;
    CU_ASSERT_EQUAL(store_outbox_put(store, twin, "v1", 2, 1, true, true, NULL), 0);
    CU_ASSERT_EQUAL(store_outbox_put(store, twin, "v2", 2, 1, true, false, NULL), 0);
    CU_ASSERT_EQUAL(
        store_outbox_put(store, "coldchain/v1/gw1/status", "on", 2, 1, true, true, &other), 0);
    CU_ASSERT_EQUAL(store_outbox_put(store, twin, "v3", 2, 1, true, true, &newest), 0);
    CU_ASSERT_EQUAL(store_flush(store), 0);

    int64_t count = -1;
    CU_ASSERT_EQUAL(store_outbox_count(store, &count), 0);
    CU_ASSERT_EQUAL(count, 2);
    struct store_outbox_msg msg = {0};
    CU_ASSERT_EQUAL_FATAL(store_outbox_next(store, 0, &msg), 0);
    CU_ASSERT_EQUAL(msg.id, other);
    store_outbox_msg_clear(&msg);
    CU_ASSERT_EQUAL_FATAL(store_outbox_next(store, other, &msg), 0);
    CU_ASSERT_EQUAL(msg.id, newest);
    CU_ASSERT_STRING_EQUAL(msg.topic, twin);
    CU_ASSERT(msg.len == 2 && memcmp(msg.payload, "v3", 2) == 0);
    CU_ASSERT_TRUE(msg.retain);
    store_outbox_msg_clear(&msg);
    store_close(store);
}

/* The uplink matches PUBACKs by id: an id must never come back, not even after the newest row
 * was acked and the store reopened. */
static void test_outbox_trim_drops_oldest_of_a_topic_only(void)
{
    struct store *store = open_store();
    const char *tel = "coldchain/v1/gw1/telemetry", *alerts = "coldchain/v1/gw1/alerts";
    int64_t first_alert = 0, last_tel = 0;
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(store_outbox_put(store, alerts, "a", 1, 1, false, false,
                                         i == 0 ? &first_alert : NULL), 0);
        CU_ASSERT_EQUAL(store_outbox_put(store, tel, "t", 1, 1, false, false, &last_tel), 0);
    }
    int64_t dropped = -1, count = -1;
    CU_ASSERT_EQUAL(store_outbox_trim(store, tel, 3, &dropped), 0);
    CU_ASSERT_EQUAL(dropped, 3);
    CU_ASSERT_EQUAL(store_outbox_count(store, &count), 0);
    CU_ASSERT_EQUAL(count, 7);
    /* Asked for more than there is: only the topic's own go, the alerts all stay. */
    CU_ASSERT_EQUAL(store_outbox_trim(store, tel, 10, &dropped), 0);
    CU_ASSERT_EQUAL(dropped, 2);
    CU_ASSERT_EQUAL(store_outbox_trim(store, tel, 0, &dropped), 0);
    CU_ASSERT_EQUAL(dropped, 0);
    struct store_outbox_msg msg = {0};
    CU_ASSERT_EQUAL_FATAL(store_outbox_next(store, 0, &msg), 0);
    CU_ASSERT_EQUAL(msg.id, first_alert);
    CU_ASSERT_STRING_EQUAL(msg.topic, alerts);
    store_outbox_msg_clear(&msg);
    store_close(store);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM outbox"), 5);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM outbox WHERE topic LIKE '%/alerts'"), 5);
}

static void test_outbox_ids_are_never_reused(void)
{
    struct store *store = open_store();
    int64_t first = 0;
    CU_ASSERT_EQUAL(store_outbox_put(store, "t", "a", 1, 1, false, false, &first), 0);
    CU_ASSERT_EQUAL(store_outbox_ack(store, first), 0);
    store_close(store);

    store = open_store();
    int64_t second = 0;
    CU_ASSERT_EQUAL(store_outbox_put(store, "t", "b", 1, 1, false, false, &second), 0);
    CU_ASSERT(second > first);
    store_close(store);
}

static void test_outbox_empty_payload_round_trips(void)
{
    struct store *store = open_store();
    CU_ASSERT_EQUAL(
        store_outbox_put(store, "coldchain/v1/gw1/status", NULL, 0, 1, true, true, NULL), 0);
    struct store_outbox_msg msg = {0};
    CU_ASSERT_EQUAL_FATAL(store_outbox_next(store, 0, &msg), 0);
    CU_ASSERT_EQUAL(msg.len, 0);
    CU_ASSERT_PTR_NOT_NULL(msg.payload);
    store_outbox_msg_clear(&msg);
    CU_ASSERT_PTR_NULL(msg.payload);
    CU_ASSERT_EQUAL(msg.id, 0);
    store_close(store);
}

static void test_outbox_refuses_topic_too_long_to_send(void)
{
    char topic[300];
    memset(topic, 'x', sizeof(topic) - 1);
    topic[sizeof(topic) - 1] = '\0';
    struct store *store = open_store();
    CU_ASSERT_EQUAL(store_outbox_put(store, topic, "a", 1, 1, false, false, NULL), -EINVAL);
    int64_t count = -1;
    CU_ASSERT_EQUAL(store_outbox_count(store, &count), 0);
    CU_ASSERT_EQUAL(count, 0);
    store_close(store);
}

struct collected {
    struct store_alert last[8];
    int n;
};

static int collect(void *arg, const struct store_alert *last)
{
    struct collected *c = arg;
    if (c->n < 8)
        c->last[c->n] = *last;
    c->n++;
    return 0;
}

static const struct store_alert *find(const struct collected *c, const char *alarm_id,
                                      const char *sensor_id)
{
    for (int i = 0; i < c->n && i < 8; i++)
        if (strcmp(c->last[i].alarm_id, alarm_id) == 0 &&
            strcmp(c->last[i].sensor_id, sensor_id) == 0)
            return &c->last[i];
    return NULL;
}

static void test_last_alarms_returns_latest_per_instance(void)
{
    struct store *store = open_store();
    struct store_alert seqd[] = {
        alert_of(1, "heat", "probe-a", "raised", 1700000000000),
        alert_of(2, "heat", "probe-b", "raised", 1700000001000),
        alert_of(3, "heat", "probe-a", "cleared", 1700000002000),
        alert_of(4, "cold", "probe-a", "raised", 1700000003000),
        alert_of(5, "heat", "probe-a", "raised", 1700000004000),
    };
    seqd[1].value = (double)NAN; /* a fault alarm has no value */
    for (size_t i = 0; i < sizeof(seqd) / sizeof(seqd[0]); i++)
        CU_ASSERT_EQUAL(store_append_alert(store, &seqd[i], ALERT_TOPIC, ALERT_PAYLOAD, NULL), 0);
    store_close(store);

    store = open_store();
    struct collected c = {0};
    CU_ASSERT_EQUAL(store_last_alarms(store, collect, &c), 0);
    CU_ASSERT_EQUAL_FATAL(c.n, 3);
    const struct store_alert *heat_a = find(&c, "heat", "probe-a");
    const struct store_alert *heat_b = find(&c, "heat", "probe-b");
    const struct store_alert *cold_a = find(&c, "cold", "probe-a");
    CU_ASSERT_PTR_NOT_NULL_FATAL(heat_a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(heat_b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cold_a);
    CU_ASSERT_EQUAL(heat_a->seq, 5);
    CU_ASSERT_STRING_EQUAL(heat_a->transition, "raised");
    CU_ASSERT_STRING_EQUAL(heat_a->id, seqd[4].id);
    CU_ASSERT_STRING_EQUAL(heat_a->shipment_id, "fridge-1");
    CU_ASSERT_EQUAL(heat_a->ts_ms, 1700000004000);
    CU_ASSERT_EQUAL(heat_a->since_ms, 1700000004000 - 60000);
    CU_ASSERT_DOUBLE_EQUAL(heat_a->value, 9.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(heat_a->worst, 10.25, 1e-9);
    CU_ASSERT_EQUAL(heat_b->seq, 2);
    CU_ASSERT(isnan(heat_b->value));
    CU_ASSERT_EQUAL(cold_a->seq, 4);
    store_close(store);
}

static int stop_after_first(void *arg, const struct store_alert *last)
{
    int *calls = arg;
    (*calls)++;
    return 42;
}

static void test_last_alarms_stops_when_callback_returns_nonzero(void)
{
    struct store *store = open_store();
    for (uint64_t seq = 1; seq <= 2; seq++) {
        struct store_alert a =
            alert_of(seq, seq == 1 ? "heat" : "cold", "probe-a", "raised", 1700000000000);
        CU_ASSERT_EQUAL(store_append_alert(store, &a, ALERT_TOPIC, ALERT_PAYLOAD, NULL), 0);
    }
    int calls = 0;
    CU_ASSERT_EQUAL(store_last_alarms(store, stop_after_first, &calls), 42);
    CU_ASSERT_EQUAL(calls, 1);
    /* The walk was reset: a second one starts again from the beginning. */
    calls = 0;
    CU_ASSERT_EQUAL(store_last_alarms(store, stop_after_first, &calls), 42);
    CU_ASSERT_EQUAL(calls, 1);
    store_close(store);
}

static void test_shipment_ensure_keeps_original_start(void)
{
    struct store *store = open_store();
    int64_t started_ms = 0;
    CU_ASSERT_EQUAL(store_shipment_ensure(store, "fridge-1", "storage", "cdc-fridge", 1700000000000,
                                          &started_ms),
                    0);
    CU_ASSERT_EQUAL(started_ms, 1700000000000);
    store_close(store);

    store = open_store();
    started_ms = 0;
    CU_ASSERT_EQUAL(
        store_shipment_ensure(store, "fridge-1", "transit", "other", 1800000000000, &started_ms),
        0);
    CU_ASSERT_EQUAL(started_ms, 1700000000000);
    CU_ASSERT_EQUAL(
        store_shipment_ensure(store, "truck-7", "transit", "who-2-8", 1800000000000, &started_ms),
        0);
    CU_ASSERT_EQUAL(started_ms, 1800000000000);
    store_close(store);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM shipments WHERE id = 'fridge-1' AND "
                             "kind = 'storage' AND profile = 'cdc-fridge'"),
                    1);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM shipments WHERE ended_ms IS NULL"), 2);
}

static void test_newer_schema_is_refused(void)
{
    struct store *store = open_store();
    store_close(store);
    sqlite3 *db = open_raw();
    CU_ASSERT_EQUAL(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    store = NULL;
    CU_ASSERT_EQUAL(store_open(test_dir, &store), -EPROTO);
    CU_ASSERT_PTR_NULL(store);
    /* Refused without being touched. */
    CU_ASSERT_EQUAL(disk_int("PRAGMA user_version"), 99);
}

static void test_open_in_missing_dir_fails(void)
{
    struct store *store = NULL;
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/does-not-exist", test_dir);
    CU_ASSERT_EQUAL(store_open(missing, &store), -EIO);
    CU_ASSERT_PTR_NULL(store);
    store_close(NULL); /* a no-op */
}

struct replayed {
    struct reading r[16];
    size_t n;
};

static int collect_reading(void *arg, const struct reading *r)
{
    struct replayed *c = arg;
    if (c->n == 16)
        return -ENOSPC;
    c->r[c->n++] = *r;
    return 0;
}

/* The engine rebuilds the rules from this after a restart: every reading since the start, in
 * the order stored (which is the order judged), faults as NaN with their flag. */
static void test_readings_each_replays_history_in_stored_order(void)
{
    struct store *store = open_store();
    const struct {
        int64_t ts_ms;
        double value;
        uint8_t flags;
        uint8_t quantity;
    } rows[] = {
        {1000, 9.9, 0, QUANTITY_TEMPERATURE}, /* before the start: not replayed */
        {3000, 4.0, 0, QUANTITY_TEMPERATURE},
        {2500, 40.0, 0, QUANTITY_HUMIDITY},   /* stored after, stamped before: order kept */
        {4000, (double)NAN, READING_FAULT, QUANTITY_TEMPERATURE},
        {5000, 5.5, READING_UNSYNCED, QUANTITY_TEMPERATURE},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct reading r = reading_at("probe-a", rows[i].ts_ms, rows[i].value);
        r.flags = rows[i].flags;
        r.quantity = rows[i].quantity;
        CU_ASSERT_EQUAL(store_append_reading(store, &r), 0);
    }
    CU_ASSERT_EQUAL(store_flush(store), 0);
    struct replayed c = {.n = 0};
    CU_ASSERT_EQUAL_FATAL(store_readings_each(store, 2000, collect_reading, &c), 0);
    CU_ASSERT_EQUAL_FATAL(c.n, 4);
    for (size_t i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(c.r[i].ts_ms, rows[i + 1].ts_ms);
        CU_ASSERT_EQUAL(c.r[i].quantity, rows[i + 1].quantity);
        CU_ASSERT_EQUAL(c.r[i].flags, rows[i + 1].flags);
        CU_ASSERT_STRING_EQUAL(c.r[i].sensor_id, "probe-a");
    }
    CU_ASSERT(isnan(c.r[2].value));
    CU_ASSERT_DOUBLE_EQUAL(c.r[3].value, 5.5, 1e-12);
    /* A non-zero return stops the walk and is returned. */
    c.n = 16;
    CU_ASSERT_EQUAL(store_readings_each(store, 0, collect_reading, &c), -ENOSPC);
    store_close(store);
}

static int keep_last(void *arg, const struct store_alert *last)
{
    *(struct store_alert *)arg = *last;
    return 0;
}

/* A history written by version 1 (raised/cleared only) opens, and its raised alarm is still
 * known as announced active, so the restart does not raise it a second time. */
static void test_v1_history_migrates_and_keeps_announced_state(void)
{
    char path[128];
    sqlite3 *db = NULL;
    snprintf(path, sizeof(path), "%s/history.db", test_dir);
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
    CU_ASSERT_EQUAL_FATAL(
        sqlite3_exec(db,
                     "CREATE TABLE shipments (id TEXT PRIMARY KEY, kind TEXT NOT NULL, profile "
                     "TEXT NOT NULL, started_ms INTEGER NOT NULL, ended_ms INTEGER);"
                     "CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor_id TEXT NOT NULL, "
                     "quantity INTEGER NOT NULL, ts_ms INTEGER NOT NULL, value REAL, flags "
                     "INTEGER NOT NULL);"
                     "CREATE TABLE alerts (seq INTEGER PRIMARY KEY, alert_id TEXT NOT NULL "
                     "UNIQUE, ts_ms INTEGER NOT NULL, shipment_id TEXT NOT NULL, alarm_id TEXT "
                     "NOT NULL, sensor_id TEXT NOT NULL, transition TEXT NOT NULL, value REAL, "
                     "worst REAL, since_ms INTEGER NOT NULL, payload TEXT NOT NULL);"
                     "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT "
                     "NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT "
                     "NULL, created_ms INTEGER NOT NULL);"
                     "INSERT INTO alerts VALUES (1, 'a1', 1000, 'fridge', 'heat', 'probe-a', "
                     "'raised', 9.0, 9.0, 500, '{}');"
                     "PRAGMA user_version = 1;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    struct store *store = open_store();
    struct store_alert last = {0};
    CU_ASSERT_EQUAL(store_last_alarms(store, keep_last, &last), 0);
    CU_ASSERT_STRING_EQUAL(last.transition, "raised");
    CU_ASSERT_STRING_EQUAL(last.state, "active");
    CU_ASSERT_EQUAL(store_alert_seq_next(store), 2);
    store_close(store);
    CU_ASSERT_EQUAL(disk_int("PRAGMA user_version"), 3);
}

/* ---- shipment lifecycle (issue 7) ---- */

typedef char sensor_list[READING_SENSOR_ID_MAX];

static void append_at(struct store *store, const char *sensor_id, int64_t ts_ms, double value)
{
    struct reading r = reading_at(sensor_id, ts_ms, value);
    CU_ASSERT_EQUAL(store_append_reading(store, &r), 0);
}

static void test_shipment_start_refuses_an_id_that_exists(void)
{
    struct store *store = open_store();
    const sensor_list sensors[] = {"logger-7", "logger-8"};
    CU_ASSERT_EQUAL(store_shipment_start(store, "truck-1", "transit", "who-2-8", "MMR to clinic",
                                         STORE_SOURCE_COMMAND, 1000, "driver-12", sensors[0], 2),
                    0);
    CU_ASSERT_EQUAL(store_shipment_start(store, "truck-1", "transit", "who-2-8", "",
                                         STORE_SOURCE_COMMAND, 2000, "driver-12", NULL, 0),
                    -EEXIST);
    CU_ASSERT_EQUAL(store_shipment_end(store, "truck-1", 3000, "driver-12", "delivered"), 0);
    /* Ended, the id still names that history. */
    CU_ASSERT_EQUAL(store_shipment_start(store, "truck-1", "transit", "who-2-8", "",
                                         STORE_SOURCE_COMMAND, 4000, "driver-12", NULL, 0),
                    -EEXIST);
    /* Bad arguments write nothing. */
    const sensor_list twice[] = {"logger-7", "logger-7"};
    CU_ASSERT_EQUAL(store_shipment_start(store, "truck-2", "transit", "p", "", "cli", 1, NULL,
                                         NULL, 0),
                    -EINVAL);
    CU_ASSERT_EQUAL(store_shipment_start(store, "truck-2", "transit", "p", "",
                                         STORE_SOURCE_COMMAND, 1, NULL, twice[0], 2),
                    -EINVAL);
    struct store_shipment s;
    CU_ASSERT_EQUAL(store_shipment_get(store, "truck-1", &s), 0);
    CU_ASSERT_STRING_EQUAL(s.description, "MMR to clinic");
    CU_ASSERT_STRING_EQUAL(s.source, STORE_SOURCE_COMMAND);
    CU_ASSERT_EQUAL(s.started_ms, 1000);
    CU_ASSERT(s.ended);
    CU_ASSERT_EQUAL(s.ended_ms, 3000);
    CU_ASSERT_EQUAL(store_shipment_get(store, "truck-2", &s), -ENOENT);
    store_close(store);
    /* created, start, end: refused calls took no event id. */
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM events"), 3);
    CU_ASSERT_EQUAL(disk_int("SELECT MAX(id) FROM events"), 3);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM events WHERE id = 2 AND kind = "
                             "'shipment-start' AND shipment_id = 'truck-1' AND actor = "
                             "'driver-12' AND detail LIKE '%\"sensors\":[\"logger-7\",\"logger-8\"]%'"),
                    1);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM events WHERE id = 3 AND kind = "
                             "'shipment-end' AND detail = "
                             "'{\"ended_ms\":3000,\"comment\":\"delivered\"}'"),
                    1);
}

static void test_ended_shipment_is_immutable(void)
{
    struct store *store = open_store();
    const sensor_list sensors[] = {"logger-7"};
    CU_ASSERT_EQUAL(store_shipment_start(store, "truck-1", "transit", "who-2-8", "",
                                         STORE_SOURCE_COMMAND, 1000, "u", sensors[0], 1),
                    0);
    CU_ASSERT_EQUAL(store_shipment_end(store, "truck-1", 500, "u", NULL), -EINVAL);
    CU_ASSERT_EQUAL(store_shipment_end(store, "truck-9", 5000, "u", NULL), -ENOENT);
    CU_ASSERT_EQUAL(store_shipment_end(store, "truck-1", 5000, "u", NULL), 0);
    CU_ASSERT_EQUAL(store_shipment_end(store, "truck-1", 6000, "u", NULL), -EALREADY);
    CU_ASSERT_EQUAL(store_shipment_assign(store, "truck-1", "logger-8", 6000, "u"), -ESHUTDOWN);
    CU_ASSERT_EQUAL(store_shipment_unassign(store, "truck-1", "logger-7", 6000, "u"), -ESHUTDOWN);
    const sensor_list more[] = {"logger-7", "logger-9"};
    int64_t started = 0;
    CU_ASSERT_EQUAL(store_shipment_ensure_config(store, "truck-1", "transit", "who-2-8", "", more[0],
                                                 2, 7000, &started),
                    STORE_SHIPMENT_ENDED);
    CU_ASSERT_EQUAL(started, 1000);
    /* The old call keeps its contract: 0, and the start. */
    CU_ASSERT_EQUAL(store_shipment_ensure(store, "truck-1", "transit", "who-2-8", 7000, &started),
                    0);
    store_close(store);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM shipment_sensors"), 1);
    CU_ASSERT_EQUAL(disk_int("SELECT to_ms FROM shipment_sensors"), 5000);
    CU_ASSERT_EQUAL(disk_int("SELECT ended_ms FROM shipments"), 5000);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM events"), 3);
}

struct got {
    int64_t id[64];
    struct reading r[64];
    size_t n;
};

static int got_reading(void *arg, int64_t id, const struct reading *r)
{
    struct got *g = arg;
    if (g->n == 64)
        return -ENOSPC;
    g->id[g->n] = id;
    g->r[g->n++] = *r;
    return 0;
}

/* "Readings of a sensor belong to the shipments it was assigned to at that time." */
static void test_readings_belong_by_assignment_windows(void)
{
    struct store *store = open_store();
    const sensor_list a_sensors[] = {"s1"};
    CU_ASSERT_EQUAL(store_shipment_start(store, "A", "transit", "p", "", STORE_SOURCE_COMMAND,
                                         1000, "u", a_sensors[0], 1),
                    0);
    CU_ASSERT_EQUAL(store_shipment_assign(store, "A", "s2", 3000, "u"), 0);
    CU_ASSERT_EQUAL(store_shipment_assign(store, "A", "s2", 3500, "u"), STORE_UNCHANGED);
    CU_ASSERT_EQUAL(store_shipment_assign(store, "A", "s3", 500, "u"), -EINVAL);
    CU_ASSERT_EQUAL(store_shipment_unassign(store, "A", "s1", 5000, "u"), 0);
    CU_ASSERT_EQUAL(store_shipment_unassign(store, "A", "s1", 5500, "u"), STORE_UNCHANGED);
    /* s1 in a second shipment at the same time as in A: a reading can be the history of both. */
    const sensor_list b_sensors[] = {"s1"};
    CU_ASSERT_EQUAL(store_shipment_start(store, "B", "storage", "p", "", STORE_SOURCE_COMMAND,
                                         4000, "u", b_sensors[0], 1),
                    0);
    for (int64_t t = 0; t <= 9000; t += 1000) {
        append_at(store, "s1", t, 1.0);
        append_at(store, "s2", t, 2.0);
        append_at(store, "s3", t, 3.0);
    }
    CU_ASSERT_EQUAL(store_flush(store), 0);
    CU_ASSERT_EQUAL(store_shipment_end(store, "A", 8000, "u", NULL), 0);

    struct got g = {.n = 0};
    CU_ASSERT_EQUAL(store_shipment_readings_each(store, "A", INT64_MIN, INT64_MAX, NULL,
                                                 got_reading, &g),
                    0);
    /* s1 at 1000..4000 (unassigned at 5000), s2 at 3000..7000 (ended at 8000), in stored order. */
    const struct {
        const char *sensor;
        int64_t ts_ms;
    } want[] = {{"s1", 1000}, {"s1", 2000}, {"s1", 3000}, {"s2", 3000}, {"s1", 4000},
                {"s2", 4000}, {"s2", 5000}, {"s2", 6000}, {"s2", 7000}};
    CU_ASSERT_EQUAL_FATAL(g.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < g.n; i++) {
        CU_ASSERT_STRING_EQUAL(g.r[i].sensor_id, want[i].sensor);
        CU_ASSERT_EQUAL(g.r[i].ts_ms, want[i].ts_ms);
        CU_ASSERT(i == 0 || g.id[i] > g.id[i - 1]);
    }
    g.n = 0;
    CU_ASSERT_EQUAL(store_shipment_readings_each(store, "A", 4000, 6000, "s2", got_reading, &g), 0);
    CU_ASSERT_EQUAL(g.n, 2);
    CU_ASSERT_EQUAL(g.r[0].ts_ms, 4000);
    CU_ASSERT_EQUAL(g.r[1].ts_ms, 5000);
    g.n = 0;
    CU_ASSERT_EQUAL(store_shipment_readings_each(store, "B", INT64_MIN, INT64_MAX, NULL,
                                                 got_reading, &g),
                    0);
    CU_ASSERT_EQUAL(g.n, 6); /* s1 from 4000 on, still running */
    CU_ASSERT_EQUAL(store_shipment_readings_each(store, "C", INT64_MIN, INT64_MAX, NULL,
                                                 got_reading, &g),
                    -ENOENT);
    store_close(store);
}

struct listed {
    struct store_shipment s[4];
    struct store_assignment a[4][4];
    size_t n;
};

static int list_shipment(void *arg, const struct store_shipment *s)
{
    struct listed *l = arg;
    if (l->n == 4 || s->assignment_count > 4)
        return -ENOSPC;
    l->s[l->n] = *s;
    for (size_t i = 0; i < s->assignment_count; i++)
        l->a[l->n][i] = s->assignments[i];
    l->s[l->n].assignments = NULL;
    l->n++;
    return 0;
}

/* A config shipment: its sensors are its own from its start on the first ensure that names
 * them (a history from before assignments were kept), from then on for a sensor added later. */
static void test_ensure_config_assigns_config_sensors(void)
{
    struct store *store = open_store();
    int64_t started = 0;
    CU_ASSERT_EQUAL(store_shipment_ensure(store, "fridge-1", "storage", "cdc-fridge", 1000,
                                          &started),
                    0);
    const sensor_list first[] = {"probe-a", "probe-b"};
    CU_ASSERT_EQUAL(store_shipment_ensure_config(store, "fridge-1", "storage", "cdc-fridge",
                                                 "Vaccine fridge", first[0], 2, 50000, &started),
                    0);
    CU_ASSERT_EQUAL(started, 1000);
    const sensor_list second[] = {"probe-a", "probe-b", "probe-c"};
    CU_ASSERT_EQUAL(store_shipment_ensure_config(store, "fridge-1", "storage", "cdc-fridge",
                                                 "Vaccine fridge", second[0], 3, 90000, &started),
                    0);
    CU_ASSERT_EQUAL(store_shipment_ensure_config(store, "fridge-2", "storage", "cdc-fridge",
                                                 "Second fridge", first[0], 1, 95000, &started),
                    0);
    CU_ASSERT_EQUAL(started, 95000);

    struct listed l = {.n = 0};
    CU_ASSERT_EQUAL(store_shipments_each(store, list_shipment, &l), 0);
    CU_ASSERT_EQUAL_FATAL(l.n, 2);
    CU_ASSERT_STRING_EQUAL(l.s[0].id, "fridge-1");
    CU_ASSERT_STRING_EQUAL(l.s[0].source, STORE_SOURCE_CONFIG);
    CU_ASSERT_STRING_EQUAL(l.s[0].description, ""); /* kept from its first record */
    CU_ASSERT_FALSE(l.s[0].ended);
    CU_ASSERT_EQUAL_FATAL(l.s[0].assignment_count, 3);
    CU_ASSERT_STRING_EQUAL(l.a[0][0].sensor_id, "probe-a");
    CU_ASSERT_EQUAL(l.a[0][0].from_ms, 1000);
    CU_ASSERT_EQUAL(l.a[0][0].to_ms, INT64_MAX);
    CU_ASSERT_EQUAL(l.a[0][1].from_ms, 1000);
    CU_ASSERT_STRING_EQUAL(l.a[0][2].sensor_id, "probe-c");
    CU_ASSERT_EQUAL(l.a[0][2].from_ms, 90000);
    CU_ASSERT_STRING_EQUAL(l.s[1].id, "fridge-2");
    CU_ASSERT_STRING_EQUAL(l.s[1].description, "Second fridge");
    CU_ASSERT_EQUAL(l.s[1].assignment_count, 1);
    store_close(store);
}

static void test_event_append_joins_the_batch_and_refuses_reserved_kinds(void)
{
    struct store *store = open_store();
    int64_t id = 0;
    CU_ASSERT_EQUAL(store_event_append(store, 1000, STORE_EVENT_COMMAND, "fridge-1", "Anna",
                                       "{ \"verb\" : \"ack\",\n \"comment\": \"ok\" }", &id),
                    0);
    CU_ASSERT_EQUAL(id, 2);
    CU_ASSERT_EQUAL(store_pending(store), 1);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM events"), 1); /* not committed yet */
    CU_ASSERT_EQUAL(store_event_append(store, 1000, "readings", NULL, NULL, "{}", NULL), -EINVAL);
    CU_ASSERT_EQUAL(store_event_append(store, 1000, "Config", NULL, NULL, "{}", NULL), -EINVAL);
    CU_ASSERT_EQUAL(store_event_append(store, 1000, "note", NULL, NULL, "[1]", NULL), -EINVAL);
    CU_ASSERT_EQUAL(store_event_append(store, 1000, "note", NULL, NULL, "{", NULL), -EINVAL);
    CU_ASSERT_EQUAL(store_event_config(store, 1100, NULL, "/etc/coldchain/gateway.json",
                                       "0123456789abcdef0123456789abcdef0123456789abcdef"
                                       "0123456789abcdef",
                                       "start"),
                    0);
    CU_ASSERT_EQUAL(store_event_clock(store, 1200, 1000, 1700000000000), 0);
    CU_ASSERT_EQUAL(store_flush(store), 0);
    int64_t head_id = 0;
    char head[65] = "";
    store_chain_head(store, &head_id, head);
    CU_ASSERT_EQUAL(head_id, 4);
    CU_ASSERT_EQUAL(strlen(head), 64);
    store_close(store);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM events WHERE id = 2 AND detail = "
                             "'{\"verb\":\"ack\",\"comment\":\"ok\"}'"),
                    1);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM events WHERE id = 4 AND kind = 'clock' AND "
                             "detail = '{\"from_ms\":1000,\"to_ms\":1700000000000,"
                             "\"jump_ms\":1699999999000}'"),
                    1);
    /* Each chained to the one before. */
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM events e JOIN events p ON p.id = e.id - 1 "
                             "WHERE e.prev_hash = p.hash"),
                    3);
}

/* Every committed batch of readings gets its "readings" event in the same transaction; a batch
 * rolled back leaves neither its readings nor an event, and its ids are taken again. */
static void test_each_committed_batch_is_sealed_and_a_lost_one_frees_its_ids(void)
{
    struct store *store = open_store();
    for (int i = 0; i < 3; i++)
        append_at(store, "probe-a", 1000 + i, 4.0);
    CU_ASSERT_EQUAL(store_reading_id_last(store), 3);
    CU_ASSERT_EQUAL(store_flush(store), 0);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM events WHERE kind = 'readings' AND detail "
                             "LIKE '{\"first_id\":1,\"last_id\":3,\"count\":3,\"sha256\":\"%'"),
                    1);

    sqlite3 *db = open_raw();
    CU_ASSERT_EQUAL(sqlite3_exec(db,
                                 "CREATE TRIGGER refuse BEFORE INSERT ON seals "
                                 "BEGIN SELECT RAISE(ABORT, 'test: seal refused'); END",
                                 NULL, NULL, NULL),
                    SQLITE_OK);
    for (int i = 0; i < 2; i++)
        append_at(store, "probe-a", 2000 + i, 5.0);
    CU_ASSERT_EQUAL(store_flush(store), -EIO);
    CU_ASSERT_EQUAL(sqlite3_exec(db, "DROP TRIGGER refuse", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    CU_ASSERT_EQUAL(store_reading_id_last(store), 3);
    append_at(store, "probe-a", 3000, 6.0);
    CU_ASSERT_EQUAL(store_flush(store), 0);
    store_close(store);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM readings"), 4);
    CU_ASSERT_EQUAL(disk_int("SELECT id FROM readings WHERE ts_ms = 3000"), 4);
    CU_ASSERT_EQUAL(disk_int("SELECT MAX(id) FROM events"), 3);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM events WHERE id = 3 AND detail LIKE "
                             "'{\"first_id\":4,\"last_id\":4,%'"),
                    1);
}

/* ---- retention ---- */

struct retention {
    struct store *store;
    int64_t a_last; /* the last reading id of shipment A's period */
};

/* Shipment A (ended at 10 000, sensor s1 from 0) and B (running, s2 from 0; s1 from 10 000 on):
 * readings of s1 and s2 every 1000 ms from 0 to 19 000, and of s3 (in no shipment). Batches of
 * 4 readings, so purges take parts of seals. */
static struct retention build_retention(void)
{
    struct retention rt = {.store = open_store()};
    const sensor_list a[] = {"s1"}, b[] = {"s2"};
    CU_ASSERT_EQUAL(store_shipment_start(rt.store, "A", "transit", "p", "", STORE_SOURCE_COMMAND,
                                         0, "u", a[0], 1),
                    0);
    CU_ASSERT_EQUAL(store_shipment_start(rt.store, "B", "storage", "p", "", STORE_SOURCE_COMMAND,
                                         0, "u", b[0], 1),
                    0);
    for (int64_t t = 0; t < 20000; t += 1000) {
        if (t == 10000) {
            CU_ASSERT_EQUAL(store_shipment_end(rt.store, "A", 10000, "u", NULL), 0);
            CU_ASSERT_EQUAL(store_shipment_assign(rt.store, "B", "s1", 10000, "u"), 0);
        }
        append_at(rt.store, "s1", t, 1.0);
        append_at(rt.store, "s2", t, 2.0);
        if (t < 10000)
            rt.a_last = store_reading_id_last(rt.store);
        append_at(rt.store, "s3", t, 3.0);
        if (store_pending(rt.store) >= 4)
            CU_ASSERT_EQUAL(store_flush(rt.store), 0);
    }
    CU_ASSERT_EQUAL(store_flush(rt.store), 0);
    return rt;
}

static void test_purge_never_takes_readings_not_yet_uplinked(void)
{
    struct retention rt = build_retention();
    struct store_purge_result res;
    /* Nothing uplinked: nothing goes, however old. */
    CU_ASSERT_EQUAL(store_purge(rt.store, 1000000, 0, 100, &res), 0);
    CU_ASSERT_EQUAL(res.readings, 0);
    CU_ASSERT_EQUAL(res.event_id, 0);
    /* Uplinked up to the fourth s1 reading (ids 1, 4, 7, 10): those four go. */
    CU_ASSERT_EQUAL(store_mark_uplinked(rt.store, store_reading_id_last(rt.store) + 1), -EINVAL);
    CU_ASSERT_EQUAL(store_mark_uplinked(rt.store, 10), 0);
    CU_ASSERT_EQUAL(store_mark_uplinked(rt.store, 5), 0); /* never backwards */
    int64_t mark = 0;
    CU_ASSERT_EQUAL(store_uplinked_id(rt.store, &mark), 0);
    CU_ASSERT_EQUAL(mark, 10);
    CU_ASSERT_EQUAL(store_purge(rt.store, 1000000, 0, 100, &res), 0);
    CU_ASSERT_EQUAL(res.readings, 4);
    CU_ASSERT(res.event_id > 0);
    store_close(rt.store);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM readings WHERE sensor_id = 's1' AND id <= 10"),
                    0);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM readings WHERE sensor_id = 's1'"), 16);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM readings"), 56);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM events WHERE kind = 'purge' AND detail LIKE "
                             "'%\"uplinked_id\":10,%'"),
                    1);
}

static void test_purge_keeps_running_shipments_and_readings_of_no_shipment(void)
{
    struct retention rt = build_retention();
    struct store_purge_result res;
    CU_ASSERT_EQUAL(store_mark_uplinked(rt.store, store_reading_id_last(rt.store)), 0);
    /* Not old enough: A ended at 10 000, now 15 000, keep 10 000. */
    CU_ASSERT_EQUAL(store_purge(rt.store, 15000, 10000, 100, &res), 0);
    CU_ASSERT_EQUAL(res.readings, 0);
    /* Old enough, two seals at a time until done. */
    int64_t total = 0;
    int calls = 0;
    do {
        CU_ASSERT_EQUAL_FATAL(store_purge(rt.store, 20000, 10000, 2, &res), 0);
        CU_ASSERT(res.seals <= 2);
        total += res.readings;
        calls++;
    } while (res.more && calls < 20);
    CU_ASSERT_EQUAL(total, 10); /* s1 at 0..9000: A's only */
    CU_ASSERT(calls > 1);
    CU_ASSERT_EQUAL(store_purge(rt.store, 99999999, 0, 100, &res), 0);
    CU_ASSERT_EQUAL(res.readings, 0);
    store_close(rt.store);
    /* s1 from 10 000 (B's, running), all of s2 (B's), all of s3 (no shipment's) stay. */
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM readings WHERE sensor_id = 's1'"), 10);
    CU_ASSERT_EQUAL(disk_int("SELECT MIN(ts_ms) FROM readings WHERE sensor_id = 's1'"), 10000);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM readings WHERE sensor_id = 's2'"), 20);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM readings WHERE sensor_id = 's3'"), 20);
    /* The shipment's record stays. */
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM shipments WHERE id = 'A'"), 1);
}

/* A reading of an ended shipment that is also, at the same time, a running shipment's. */
static void test_purge_keeps_a_reading_shared_with_a_running_shipment(void)
{
    struct store *store = open_store();
    const sensor_list s[] = {"s1"};
    CU_ASSERT_EQUAL(store_shipment_start(store, "A", "transit", "p", "", STORE_SOURCE_COMMAND, 0,
                                         "u", s[0], 1),
                    0);
    CU_ASSERT_EQUAL(store_shipment_start(store, "B", "storage", "p", "", STORE_SOURCE_COMMAND, 0,
                                         "u", s[0], 1),
                    0);
    for (int64_t t = 0; t < 5000; t += 1000)
        append_at(store, "s1", t, 1.0);
    CU_ASSERT_EQUAL(store_flush(store), 0);
    CU_ASSERT_EQUAL(store_shipment_end(store, "A", 5000, "u", NULL), 0);
    CU_ASSERT_EQUAL(store_mark_uplinked(store, store_reading_id_last(store)), 0);
    struct store_purge_result res;
    CU_ASSERT_EQUAL(store_purge(store, 99999999, 0, 100, &res), 0);
    CU_ASSERT_EQUAL(res.readings, 0);
    store_close(store);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM readings"), 5);
}

/* A purge checks a seal before it takes rows from it: it never turns an edit into retention. */
static void test_purge_refuses_a_seal_whose_rows_were_altered(void)
{
    struct retention rt = build_retention();
    CU_ASSERT_EQUAL(store_mark_uplinked(rt.store, store_reading_id_last(rt.store)), 0);
    CU_ASSERT_EQUAL(store_flush(rt.store), 0); /* the mark joined a batch that holds the lock */
    sqlite3 *db = open_raw();
    /* id 2 is s2's, not due, but in the same seal as s1's id 1. */
    CU_ASSERT_EQUAL(sqlite3_exec(db, "UPDATE readings SET value = 2.5 WHERE id = 2", NULL, NULL,
                                 NULL),
                    SQLITE_OK);
    sqlite3_close(db);
    struct store_purge_result res;
    CU_ASSERT_EQUAL(store_purge(rt.store, 20000, 0, 100, &res), -EBADMSG);
    CU_ASSERT_EQUAL(res.readings, 0);
    store_close(rt.store);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM readings"), 60);
    CU_ASSERT_EQUAL(disk_int("SELECT COUNT(*) FROM events WHERE kind = 'purge'"), 0);
}

/* Purged ids are never handed out again, even when the newest rows went. */
static void test_purged_ids_are_never_reused(void)
{
    struct store *store = open_store();
    const sensor_list s[] = {"s1"};
    CU_ASSERT_EQUAL(store_shipment_start(store, "A", "transit", "p", "", STORE_SOURCE_COMMAND, 0,
                                         "u", s[0], 1),
                    0);
    for (int64_t t = 0; t < 3000; t += 1000)
        append_at(store, "s1", t, 1.0);
    CU_ASSERT_EQUAL(store_shipment_end(store, "A", 3000, "u", NULL), 0);
    CU_ASSERT_EQUAL(store_mark_uplinked(store, 3), 0);
    struct store_purge_result res;
    CU_ASSERT_EQUAL(store_purge(store, 3000, 0, 100, &res), 0);
    CU_ASSERT_EQUAL(res.readings, 3);
    store_close(store);
    store = open_store();
    append_at(store, "s1", 4000, 1.0);
    CU_ASSERT_EQUAL(store_reading_id_last(store), 4);
    store_close(store);
}

int register_tests(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"new store has schema v3 in WAL mode", test_new_store_has_schema_v3_in_wal_mode},
        {"readings survive reopen", test_readings_survive_reopen},
        {"close commits the open batch", test_close_commits_open_batch},
        {"fault reading stored as NULL", test_fault_reading_stored_as_null},
        {"readings_each replays the history in stored order",
         test_readings_each_replays_history_in_stored_order},
        {"a v1 history migrates and keeps the announced state",
         test_v1_history_migrates_and_keeps_announced_state},
        {"uncommitted batch is invisible until flush",
         test_uncommitted_batch_is_invisible_until_flush},
        {"crash loses the open batch but keeps committed rows",
         test_crash_loses_open_batch_but_keeps_committed},
        {"alert seq is gap-free across reopen", test_alert_seq_is_gap_free_across_reopen},
        {"alert with wrong seq writes nothing", test_alert_with_wrong_seq_writes_nothing},
        {"alert commits the pending batch", test_alert_commits_pending_batch},
        {"alert with duplicate id writes nothing", test_alert_with_duplicate_id_writes_nothing},
        {"alert is rolled back when its outbox row fails",
         test_alert_is_rolled_back_when_its_outbox_row_fails},
        {"outbox in order and ack removes", test_outbox_in_order_and_ack_removes},
        {"outbox replace_topic keeps only the newest", test_outbox_replace_topic_keeps_only_newest},
        {"outbox ids are never reused", test_outbox_ids_are_never_reused},
        {"outbox trim drops the oldest of one topic only", test_outbox_trim_drops_oldest_of_a_topic_only},
        {"outbox empty payload round-trips", test_outbox_empty_payload_round_trips},
        {"outbox refuses a topic too long to send", test_outbox_refuses_topic_too_long_to_send},
        {"last alarms returns the latest per instance",
         test_last_alarms_returns_latest_per_instance},
        {"last alarms stops when the callback returns non-zero",
         test_last_alarms_stops_when_callback_returns_nonzero},
        {"shipment ensure keeps the original start", test_shipment_ensure_keeps_original_start},
        {"newer schema is refused", test_newer_schema_is_refused},
        {"open in a missing directory fails", test_open_in_missing_dir_fails},
        {"shipment start refuses an id that exists", test_shipment_start_refuses_an_id_that_exists},
        {"an ended shipment is immutable", test_ended_shipment_is_immutable},
        {"readings belong by assignment windows", test_readings_belong_by_assignment_windows},
        {"ensure_config assigns the config's sensors", test_ensure_config_assigns_config_sensors},
        {"event_append joins the batch and refuses reserved kinds",
         test_event_append_joins_the_batch_and_refuses_reserved_kinds},
        {"each committed batch is sealed; a lost one frees its ids",
         test_each_committed_batch_is_sealed_and_a_lost_one_frees_its_ids},
        {"purge never takes readings not yet uplinked",
         test_purge_never_takes_readings_not_yet_uplinked},
        {"purge keeps running shipments and readings of no shipment",
         test_purge_keeps_running_shipments_and_readings_of_no_shipment},
        {"purge keeps a reading shared with a running shipment",
         test_purge_keeps_a_reading_shared_with_a_running_shipment},
        {"purge refuses a seal whose rows were altered",
         test_purge_refuses_a_seal_whose_rows_were_altered},
        {"purged ids are never reused", test_purged_ids_are_never_reused},
    };
    /* Per-test setup/teardown: every test gets its own empty directory. */
    CU_pSuite suite = CU_add_suite_with_setup_and_teardown("store", NULL, NULL, setup, teardown);
    if (suite == NULL)
        return CU_get_error();
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
            return CU_get_error();
    return 0;
}
