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

static void test_new_store_has_schema_v2_in_wal_mode(void)
{
    struct store *store = open_store();
    CU_ASSERT_EQUAL(store_alert_seq_next(store), 1);
    CU_ASSERT_EQUAL(store_pending(store), 0);
    store_close(store);

    sqlite3 *db = open_raw();
    CU_ASSERT_EQUAL(raw_int(db, "PRAGMA user_version"), 2);
    /* journal_mode is persistent in the file for WAL, so a raw connection sees it too. */
    sqlite3_stmt *stmt = NULL;
    CU_ASSERT_EQUAL(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_step(stmt), SQLITE_ROW);
    CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    CU_ASSERT_EQUAL(raw_int(db, "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND "
                                "name IN ('shipments', 'readings', 'alerts', 'outbox')"),
                    4);
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
    CU_ASSERT_EQUAL(disk_int("PRAGMA user_version"), 2);
}

int register_tests(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"new store has schema v2 in WAL mode", test_new_store_has_schema_v2_in_wal_mode},
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
