/* End to end over a real mosquitto: a scripted Modbus TCP probe (coldchain-sim) drives the
 * gateway through a heat excursion, a probe fault and a restart; the test checks what a
 * subscriber sees (status, telemetry, alerts, twin: DESIGN §7) and what history.db keeps
 * (DESIGN §6). Paths to the programs come from meson: COLDCHAIN_GATEWAY, COLDCHAIN_SIM. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "harness.h"

#define ROOT "coldchain/v1/it-gw/"
#define T_STATUS ROOT "status"
#define T_TELEMETRY ROOT "telemetry"
#define T_ALERTS ROOT "alerts"
#define T_TWIN ROOT "shipments/fridge-a/twin"

#define EX_CONFIG 78
#define ONLINE_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 15000

/* The excursion: 5.0 °C for 3 s, up to 10.5 °C by 6 s, held to 20 s, back to 5.0 °C by 23 s.
 * The heat alarm (above 8.0, 2 s delay, 0.5 hysteresis) raises once and clears once. */
#define EXCURSION_SCRIPT "0s=5.0,3s=5.0,6s=10.5,20s=10.5,23s=5.0"

struct e2e {
    const char *gateway_bin;
    const char *sim_bin;
    char config_path[PATH_MAX];
    char data_dir[PATH_MAX];
    char db_path[PATH_MAX];
    char uri[64];
    int mosq_port;
    int sim_port;
    struct harness_proc *mosq;
    struct harness_proc *sim;
    struct harness_proc *gw;
    struct harness_sub *sub;
    char alert_ids[2][64]; /* ids of the alerts seq 1 and 2, to tell a new alert from a resend */
    long long readings_before_restart;
};

/* ---- JSON helpers ---------------------------------------------------------------------- */

static const char *jstr(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static bool jnum(const cJSON *obj, const char *key, double *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(item))
        return false;
    *out = item->valuedouble;
    return true;
}

/* First element of an array (NULL if arr is not one); iterate with ->next. */
static const cJSON *first(const cJSON *arr)
{
    return cJSON_IsArray(arr) ? arr->child : NULL;
}

static bool jstr_is(const cJSON *obj, const char *key, const char *want)
{
    const char *got = jstr(obj, key);
    return got && strcmp(got, want) == 0;
}

static bool flags_have(const cJSON *reading, const char *flag)
{
    const cJSON *flags = cJSON_GetObjectItemCaseSensitive(reading, "flags");

    for (const cJSON *f = first(flags); f; f = f->next)
        if (cJSON_IsString(f) && strcmp(f->valuestring, flag) == 0)
            return true;
    return false;
}

/* Appends "key: expected X, got Y; " to errs when a field differs from the contract. */
static void expect_str(const cJSON *obj, const char *key, const char *want, char *errs, size_t len)
{
    const char *got = jstr(obj, key);
    if (!got || strcmp(got, want) != 0)
        snprintf(errs + strlen(errs), len - strlen(errs), "%s: expected \"%s\", got %s%s%s; ", key,
                 want, got ? "\"" : "", got ? got : "nothing", got ? "\"" : "");
}

static void expect_num(const cJSON *obj, const char *key, double want, char *errs, size_t len)
{
    double got = 0;
    if (!jnum(obj, key, &got) || fabs(got - want) > 1e-9)
        snprintf(errs + strlen(errs), len - strlen(errs), "%s: expected %g, got %s%g; ", key, want,
                 jnum(obj, key, &got) ? "" : "nothing ", got);
}

static void expect_ts(const cJSON *obj, const char *key, char *errs, size_t len)
{
    int64_t ts_ms;
    if (harness_parse_ts_ms(jstr(obj, key), &ts_ms) < 0)
        snprintf(errs + strlen(errs), len - strlen(errs),
                 "%s: expected an RFC 3339 UTC time with ms; ", key);
}

/* ---- message predicates ---------------------------------------------------------------- */

static bool is_status(const struct harness_msg *m, void *arg)
{
    return m->json && jstr_is(m->json, "gateway", "it-gw") &&
           jstr_is(m->json, "state", (const char *)arg);
}

/* What a telemetry reading must look like to be found. */
struct reading_want {
    const char *quantity;
    bool fault;       /* true: value null and flags has "fault"; false: a value near value */
    double value;     /* in the quantity's unit */
    int64_t after_ms; /* wall ms: only readings stamped later than this count */
};

static const cJSON *find_reading(const cJSON *payload, const struct reading_want *want)
{
    const cJSON *readings = cJSON_GetObjectItemCaseSensitive(payload, "readings");

    if (!jstr_is(payload, "gateway", "it-gw"))
        return NULL;
    for (const cJSON *r = first(readings); r; r = r->next) {
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(r, "value");
        int64_t ts_ms;

        if (!jstr_is(r, "sensor", "fridge-a") || !jstr_is(r, "quantity", want->quantity) ||
            harness_parse_ts_ms(jstr(r, "ts"), &ts_ms) < 0 || ts_ms <= want->after_ms)
            continue;
        if (want->fault && cJSON_IsNull(value) && flags_have(r, "fault"))
            return r;
        if (!want->fault && cJSON_IsNumber(value) && !flags_have(r, "fault") &&
            fabs(value->valuedouble - want->value) < 0.05)
            return r;
    }
    return NULL;
}

static bool has_reading(const struct harness_msg *m, void *arg)
{
    return m->json && find_reading(m->json, arg);
}

/* An alert of the heat alarm on fridge-a with the given transition whose id is not one of
 * ignore_ids (so a resent old alert is not mistaken for a new one). */
struct alert_want {
    const char *transition;
    const char *ignore_ids[2];
    int nignore;
};

static bool is_alert(const struct harness_msg *m, void *arg)
{
    const struct alert_want *want = arg;
    const char *id;

    if (!m->json || !jstr_is(m->json, "transition", want->transition) ||
        !jstr_is(m->json, "alarm", "heat") || !jstr_is(m->json, "sensor", "fridge-a"))
        return false;
    id = jstr(m->json, "id");
    for (int i = 0; id && i < want->nignore; i++)
        if (strcmp(id, want->ignore_ids[i]) == 0)
            return false;
    return true;
}

static const cJSON *twin_heat_alarm(const cJSON *twin)
{
    const cJSON *alarms = cJSON_GetObjectItemCaseSensitive(twin, "alarms");

    for (const cJSON *a = first(alarms); a; a = a->next)
        if (jstr_is(a, "alarm", "heat") && jstr_is(a, "sensor", "fridge-a"))
            return a;
    return NULL;
}

static const cJSON *twin_sensor(const cJSON *twin)
{
    const cJSON *sensors = cJSON_GetObjectItemCaseSensitive(twin, "sensors");

    for (const cJSON *s = first(sensors); s; s = s->next)
        if (jstr_is(s, "id", "fridge-a"))
            return s;
    return NULL;
}

/* A twin whose heat alarm is in state arg ("active" also needs the temperature summary's max
 * above the limit and active_alarms >= 1; "returned" — back in range, not yet acknowledged,
 * ISA-18.2 — needs active_alarms == 0). */
static bool is_twin_with_heat(const struct harness_msg *m, void *arg)
{
    const char *state = arg;
    const cJSON *alarm;
    const cJSON *sensor;
    const cJSON *summary;
    double active = -1;
    double max_c = 0;

    if (!m->json || !jstr_is(m->json, "gateway", "it-gw"))
        return false;
    alarm = twin_heat_alarm(m->json);
    if (!alarm || !jstr_is(alarm, "state", state) || !jnum(m->json, "active_alarms", &active))
        return false;
    if (strcmp(state, "returned") == 0 || strcmp(state, "normal") == 0)
        return active == 0;
    sensor = twin_sensor(m->json);
    summary = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sensor, "summary"),
                                               "temperature");
    return active >= 1 && jnum(summary, "max", &max_c) && max_c > 8.0;
}

/* ---- steps' building blocks ------------------------------------------------------------ */

static int write_config(const struct e2e *t, const char *path, const char *heat_delay)
{
    char text[8192];
    int len;

    len =
        snprintf(text, sizeof(text),
                 "{\"gateway_id\":\"it-gw\",\"data_dir\":\"%s\",\"log_level\":\"debug\",\n"
                 " \"mqtt\":{\"uri\":\"tcp://127.0.0.1:%d\",\"prefix\":\"coldchain/v1\","
                 "\"keepalive\":\"10s\",\"telemetry_qos\":0,\"telemetry_interval\":\"1s\","
                 "\"twin_interval\":\"500ms\",\"reconnect_min\":\"200ms\","
                 "\"reconnect_max\":\"2s\"},\n"
                 " \"store\":{\"batch_max\":16,\"batch_interval\":\"500ms\"},\n"
                 " \"sensors\":[{\"id\":\"fridge-a\",\"name\":\"Fridge A\"}],\n"
                 " \"buses\":[{\"name\":\"bus0\",\"type\":\"modbus-tcp\",\"host\":\"127.0.0.1\","
                 "\"port\":%d,\"poll_interval\":\"500ms\",\"response_timeout\":\"300ms\","
                 "\"reconnect_min\":\"200ms\",\"reconnect_max\":\"1s\",\n"
                 "   \"devices\":[{\"unit_id\":1,\"points\":["
                 "{\"sensor\":\"fridge-a\",\"quantity\":\"temperature\",\"address\":1,"
                 "\"type\":\"int16\",\"scale\":0.1},"
                 "{\"sensor\":\"fridge-a\",\"quantity\":\"humidity\",\"address\":2,"
                 "\"type\":\"int16\",\"scale\":0.1}]}]}],\n"
                 " \"profiles\":{\"fridge\":{\"alarms\":[{\"id\":\"heat\","
                 "\"quantity\":\"temperature\",\"condition\":\"above\",\"limit\":8.0,"
                 "\"hysteresis\":0.5,\"delay\":\"%s\",\"severity\":\"critical\","
                 "\"message\":\"Fridge above 8 \u00b0C\",\"action\":\"Keep the door shut\"}]}},\n"
                 " \"shipments\":[{\"id\":\"fridge-a\",\"kind\":\"storage\",\"profile\":\"fridge\","
                 "\"sensors\":[\"fridge-a\"]}]}\n",
                 t->data_dir, t->mosq_port, t->sim_port, heat_delay);
    if (len < 0 || len >= (int)sizeof(text))
        return -ENAMETOOLONG;
    return harness_write_file(path, text);
}

/* harness_sub_wait() that gives up early, with a message, when the gateway dies meanwhile. */
static long wait_msg(struct e2e *t, size_t from, const char *topic,
                     bool (*match)(const struct harness_msg *m, void *arg), void *arg,
                     int64_t timeout_ms)
{
    int64_t deadline_ms = harness_mono_ms() + timeout_ms;

    for (;;) {
        int64_t left_ms = deadline_ms - harness_mono_ms();
        long idx = harness_sub_wait(t->sub, from, topic, match, arg,
                                    left_ms < 500 ? (left_ms > 0 ? left_ms : 0) : 500);
        if (idx != -ETIMEDOUT || left_ms <= 0)
            return idx;
        if (t->gw && !harness_proc_alive(t->gw)) {
            char what[64];
            int status = 0;
            harness_proc_wait(t->gw, 0, &status);
            printf("# the gateway exited (%s) while waiting for %s\n",
                   harness_status_str(status, what, sizeof(what)), topic);
            t->gw = NULL;
            return -ECHILD;
        }
    }
}

static struct harness_proc *start_gateway(struct e2e *t)
{
    return harness_spawn("gateway",
                         (const char *const[]){t->gateway_bin, "-c", t->config_path, NULL});
}

/* Stops the gateway and checks the clean shutdown of DESIGN §8: exit 0 on SIGTERM. */
static void stop_gateway(struct e2e *t)
{
    char what[64];
    int status = 0;
    int rc;

    if (!harness_check(t->gw != NULL, "gateway still running when asked to stop"))
        return;
    rc = harness_proc_stop(t->gw, STOP_TIMEOUT_MS, &status);
    harness_check(rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "gateway exits 0 on SIGTERM within %d s (got %s%s)", STOP_TIMEOUT_MS / 1000,
                  harness_status_str(status, what, sizeof(what)), rc == 0 ? "" : ", after SIGKILL");
    t->gw = NULL;
}

/* Runs one SQL statement that yields a single integer. Returns it, or -1 (reason printed). */
static long long db_scalar(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    long long result = -1;
    int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);

    if (rc != SQLITE_OK)
        goto out;
    /* The gateway may be committing a batch right now (WAL: readers wait only on recovery). */
    sqlite3_busy_timeout(db, 5000);
    rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        goto out;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        result = sqlite3_column_int64(stmt, 0);
        rc = SQLITE_OK;
    }
out:
    if (rc != SQLITE_OK)
        printf("# %s: %s: %s\n", db_path, sql, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return result;
}

/* Fills out with "seq:transition:alert_id," for every row of the alerts table, in seq order. */
static int db_alerts(const char *db_path, char *out, size_t len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);

    out[0] = '\0';
    if (rc != SQLITE_OK)
        goto out;
    sqlite3_busy_timeout(db, 5000);
    rc = sqlite3_prepare_v2(db, "SELECT seq, transition, alert_id FROM alerts ORDER BY seq", -1,
                            &stmt, NULL);
    if (rc != SQLITE_OK)
        goto out;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const unsigned char *transition = sqlite3_column_text(stmt, 1);
        const unsigned char *id = sqlite3_column_text(stmt, 2);
        snprintf(out + strlen(out), len - strlen(out), "%lld:%s:%s,",
                 (long long)sqlite3_column_int64(stmt, 0),
                 transition ? (const char *)transition : "NULL", id ? (const char *)id : "NULL");
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
out:
    if (rc != SQLITE_OK)
        printf("# %s: alerts: %s\n", db_path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -EIO;
}

/* ---- the steps ------------------------------------------------------------------------- */

/* 1. --check-config names the JSON path of a bad value and exits 78; a good config passes. */
static void step_check_config(struct e2e *t)
{
    char bad_path[PATH_MAX];
    char what[64];
    struct harness_proc *p;
    struct stat st;
    char *log;
    int status = -1;

    /* The broker and the simulator are not started yet: --check-config connects to nothing,
     * so the configs name the well-known ports (MQTT 1883, Modbus TCP 502). */
    struct e2e offline = *t;
    offline.mosq_port = 1883;
    offline.sim_port = 502;
    harness_path(bad_path, sizeof(bad_path), "bad.json");
    HARNESS_REQUIRE(write_config(&offline, bad_path, "soon") == 0 &&
                        write_config(&offline, t->config_path, "2s") == 0,
                    "step 1: configs written to %s", harness_dir());

    p = harness_spawn(
        "check-bad", (const char *const[]){t->gateway_bin, "--check-config", "-c", bad_path, NULL});
    HARNESS_REQUIRE(p, "step 1: started coldchain-gateway --check-config");
    if (harness_proc_wait(p, 10000, &status) < 0)
        harness_proc_stop(p, 1000, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == EX_CONFIG,
                  "step 1: --check-config on a bad delay exits %d (got %s)", EX_CONFIG,
                  harness_status_str(status, what, sizeof(what)));
    log = harness_read_file(harness_proc_log(p));
    harness_check(log && strstr(log, "bad.json: profiles.fridge.alarms[0].delay: "),
                  "step 1: its stderr says \"<file>: profiles.fridge.alarms[0].delay: ...\" "
                  "(got: %s)",
                  log ? log : "no log");
    free(log);
    harness_check(stat(t->data_dir, &st) < 0 && errno == ENOENT,
                  "step 1: a bad config touches nothing: data_dir %s was not created", t->data_dir);

    p = harness_spawn("check-good", (const char *const[]){t->gateway_bin, "--check-config", "-c",
                                                          t->config_path, NULL});
    HARNESS_REQUIRE(p, "step 1: started coldchain-gateway --check-config");
    if (harness_proc_wait(p, 10000, &status) < 0)
        harness_proc_stop(p, 1000, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "step 1: --check-config on the good config exits 0 (got %s)",
                  harness_status_str(status, what, sizeof(what)));
}

/* 2. Broker, subscriber (first, so nothing is missed), simulator, gateway. */
static void step_start(struct e2e *t)
{
    char client_id[64];

    t->mosq = harness_start_mosquitto(&t->mosq_port);
    HARNESS_REQUIRE(t->mosq, "step 2: mosquitto accepts connections on 127.0.0.1:%d", t->mosq_port);
    snprintf(t->uri, sizeof(t->uri), "tcp://127.0.0.1:%d", t->mosq_port);
    snprintf(client_id, sizeof(client_id), "it-e2e-%d", (int)getpid());
    t->sub = harness_sub_new(t->uri, client_id, ROOT "#");
    HARNESS_REQUIRE(t->sub, "step 2: subscribed to %s#", ROOT);
    t->sim = harness_start_modbus_sim(t->sim_bin, 0, 1, EXCURSION_SCRIPT, NULL, &t->sim_port);
    HARNESS_REQUIRE(t->sim, "step 2: simulator accepts Modbus TCP on 127.0.0.1:%d", t->sim_port);
    HARNESS_REQUIRE(write_config(t, t->config_path, "2s") == 0, "step 2: config written");
    t->gw = start_gateway(t);
    HARNESS_REQUIRE(t->gw, "step 2: gateway started");
}

/* 3. Online status (retained), then plausible telemetry. */
static void step_online_and_telemetry(struct e2e *t)
{
    struct reading_want temp = {.quantity = "temperature", .value = 5.0};
    struct reading_want hum = {.quantity = "humidity", .value = 45.0};
    const struct harness_msg *m;
    const cJSON *r;
    long idx;

    idx = wait_msg(t, 0, T_STATUS, is_status, "online", ONLINE_TIMEOUT_MS);
    HARNESS_REQUIRE(idx >= 0, "step 3: status \"online\" within %d s", ONLINE_TIMEOUT_MS / 1000);
    m = harness_sub_msg(t->sub, (size_t)idx);
    harness_check(m->retained && m->qos == 1,
                  "step 3: status is retained and QoS 1 "
                  "(retained %d, qos %d)",
                  m->retained, m->qos);
    harness_check(jstr_is(m->json, "version", "0.1.0"), "step 3: status carries version 0.1.0");

    idx = wait_msg(t, 0, T_TELEMETRY, has_reading, &temp, 15000);
    harness_check(idx >= 0, "step 3: telemetry has fridge-a temperature 5.0 within 15 s");
    if (idx >= 0) {
        m = harness_sub_msg(t->sub, (size_t)idx);
        r = find_reading(m->json, &temp);
        harness_check(jstr_is(r, "unit", "\u00b0C") && !m->retained,
                      "step 3: the temperature is in \u00b0C and telemetry is not retained");
    }
    idx = wait_msg(t, 0, T_TELEMETRY, has_reading, &hum, 15000);
    harness_check(idx >= 0, "step 3: telemetry has fridge-a humidity 45.0 within 15 s");
}

/* Checks every field of a heat alert on fridge-a against the contract (DESIGN §7). */
static void check_alert_fields(const struct harness_msg *m, const char *transition, double seq,
                               const char *state)
{
    char errs[1024] = "";
    const cJSON *j = m->json;
    const char *id = jstr(j, "id");

    expect_str(j, "transition", transition, errs, sizeof(errs));
    expect_num(j, "seq", seq, errs, sizeof(errs));
    expect_str(j, "state", state, errs, sizeof(errs));
    expect_str(j, "gateway", "it-gw", errs, sizeof(errs));
    expect_str(j, "shipment", "fridge-a", errs, sizeof(errs));
    expect_str(j, "sensor", "fridge-a", errs, sizeof(errs));
    expect_str(j, "alarm", "heat", errs, sizeof(errs));
    expect_str(j, "quantity", "temperature", errs, sizeof(errs));
    expect_str(j, "severity", "critical", errs, sizeof(errs));
    expect_str(j, "unit", "\u00b0C", errs, sizeof(errs));
    expect_str(j, "condition", "above", errs, sizeof(errs));
    expect_num(j, "limit", 8.0, errs, sizeof(errs));
    expect_num(j, "hysteresis", 0.5, errs, sizeof(errs));
    expect_num(j, "delay_s", 2, errs, sizeof(errs));
    expect_str(j, "message", "Fridge above 8 \u00b0C", errs, sizeof(errs));
    expect_str(j, "action", "Keep the door shut", errs, sizeof(errs));
    expect_ts(j, "ts", errs, sizeof(errs));
    if (!id || strlen(id) < 8)
        snprintf(errs + strlen(errs), sizeof(errs) - strlen(errs), "id: expected a uuid; ");
    if (m->retained || m->qos != 1)
        snprintf(errs + strlen(errs), sizeof(errs) - strlen(errs),
                 "expected QoS 1 not retained, got qos %d retained %d; ", m->qos, m->retained);
    harness_check(errs[0] == '\0', "alert %s seq %g has the contract's fields%s%s", transition, seq,
                  errs[0] ? ": " : "", errs);
}

/* 4. The excursion raises the heat alarm: alert seq 1, then a twin showing it. */
static size_t step_raised(struct e2e *t)
{
    struct alert_want raised = {.transition = "raised"};
    const struct harness_msg *m;
    double value = 0;
    bool has_value;
    size_t raised_idx;
    long idx;

    idx = wait_msg(t, 0, T_ALERTS, is_alert, &raised, 30000);
    HARNESS_REQUIRE(idx >= 0, "step 4: alert \"raised\" for heat on fridge-a within 30 s");
    m = harness_sub_msg(t->sub, (size_t)idx);
    check_alert_fields(m, "raised", 1, "active");
    /* Read first: the order in which a call's arguments are evaluated is unspecified. */
    has_value = jnum(m->json, "value", &value);
    harness_check(has_value && value > 8.0,
                  "step 4: the raised alert's value %g is above the 8.0 limit", value);
    snprintf(t->alert_ids[0], sizeof(t->alert_ids[0]), "%s",
             jstr(m->json, "id") ? jstr(m->json, "id") : "");
    raised_idx = (size_t)idx;

    idx = wait_msg(t, 0, T_TWIN, is_twin_with_heat, "active", 10000);
    harness_check(idx >= 0, "step 4: a twin shows heat active, active_alarms >= 1 and a "
                            "temperature summary max above 8");
    if (idx >= 0) {
        m = harness_sub_msg(t->sub, (size_t)idx);
        harness_check(
            m->retained && m->qos == 1 &&
                jstr_is(cJSON_GetObjectItemCaseSensitive(m->json, "shipment"), "id", "fridge-a"),
            "step 4: the twin is retained, QoS 1, of shipment fridge-a");
    }
    return raised_idx;
}

/* 5. Back under limit - hysteresis: alert seq 2 "cleared". Nobody acknowledged the alarm, so
 * it has returned to normal unacknowledged (ISA-18.2): state "returned" until someone acks. */
static void step_cleared(struct e2e *t, size_t raised_idx)
{
    struct alert_want cleared = {.transition = "cleared"};
    const struct harness_msg *m;
    double value = 99;
    bool has_value;
    long idx;

    idx = wait_msg(t, raised_idx, T_ALERTS, is_alert, &cleared, 30000);
    HARNESS_REQUIRE(idx >= 0, "step 5: alert \"cleared\" for heat on fridge-a within 30 s");
    m = harness_sub_msg(t->sub, (size_t)idx);
    check_alert_fields(m, "cleared", 2, "returned");
    has_value = jnum(m->json, "value", &value);
    harness_check(has_value && value <= 7.5,
                  "step 5: the cleared alert's value %g is at or below 7.5 (limit - hysteresis)",
                  value);
    snprintf(t->alert_ids[1], sizeof(t->alert_ids[1]), "%s",
             jstr(m->json, "id") ? jstr(m->json, "id") : "");
    harness_check(strcmp(t->alert_ids[0], t->alert_ids[1]) != 0,
                  "step 5: raised and cleared alerts have different ids");
    idx = wait_msg(t, (size_t)idx, T_TWIN, is_twin_with_heat, "returned", 10000);
    harness_check(idx >= 0, "step 5: a later twin shows heat returned and active_alarms 0");
}

/* 6. The probe dies: fault readings (never a made-up temperature), then it comes back. */
static void step_fault(struct e2e *t)
{
    struct reading_want fault = {.quantity = "temperature", .fault = true};
    struct reading_want valid = {.quantity = "temperature", .value = 5.0};
    size_t from = harness_sub_count(t->sub);
    int64_t dead_ms;
    int64_t restart_ms;
    int in_window = 0;
    int bad = 0;
    int port = t->sim_port;
    long idx;

    harness_proc_stop(t->sim, 5000, NULL);
    t->sim = NULL;
    /* Any reading stamped after this instant was taken with no probe to answer. */
    dead_ms = harness_wall_ms();
    fault.after_ms = dead_ms;
    idx = wait_msg(t, from, T_TELEMETRY, has_reading, &fault, 10000);
    harness_check(idx >= 0, "step 6: with the simulator stopped, a fridge-a temperature with "
                            "value null and flag \"fault\" within 10 s");

    restart_ms = harness_wall_ms();
    t->sim = harness_start_modbus_sim(t->sim_bin, port, 1, "0s=5.0", NULL, &t->sim_port);
    HARNESS_REQUIRE(t->sim, "step 6: simulator restarted on the same port %d", port);
    valid.after_ms = restart_ms;
    idx = wait_msg(t, from, T_TELEMETRY, has_reading, &valid, 15000);
    harness_check(idx >= 0, "step 6: after the restart a valid 5.0 temperature within 15 s");

    /* Judged by the readings' own timestamps: a batch published after the stop may rightly
     * carry values measured before it. */
    for (size_t i = from; i < harness_sub_count(t->sub); i++) {
        const struct harness_msg *m = harness_sub_msg(t->sub, i);
        const cJSON *readings;

        if (strcmp(m->topic, T_TELEMETRY) != 0 || !m->json)
            continue;
        readings = cJSON_GetObjectItemCaseSensitive(m->json, "readings");
        for (const cJSON *r = first(readings); r; r = r->next) {
            int64_t ts_ms;
            if (!jstr_is(r, "sensor", "fridge-a") || !jstr_is(r, "quantity", "temperature") ||
                harness_parse_ts_ms(jstr(r, "ts"), &ts_ms) < 0 || ts_ms <= dead_ms ||
                ts_ms >= restart_ms)
                continue;
            in_window++;
            if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "value")) ||
                !flags_have(r, "fault")) {
                bad++;
                printf("# reading while the probe was dead: %s\n", m->payload);
            }
        }
    }
    harness_check(in_window > 0 && bad == 0,
                  "step 6: all %d temperature readings stamped while the probe was dead are "
                  "null with \"fault\" (%d were not)",
                  in_window, bad);
}

/* 7. Clean stop: exit 0, retained offline status, and the history on disk. */
static void step_stop_and_history(struct e2e *t)
{
    size_t from = harness_sub_count(t->sub);
    char client_id[64];
    char alerts[512];
    char want[512];
    struct harness_sub *fresh;
    long long readings;
    long long faults;
    long idx;

    stop_gateway(t);
    idx = wait_msg(t, from, T_STATUS, is_status, "offline", 5000);
    harness_check(idx >= 0 && harness_sub_msg(t->sub, (size_t)idx)->retained,
                  "step 7: status \"offline\", retained, after SIGTERM");
    /* The Last Will says "offline" too; only "reason":"shutdown" (docs/mqtt.md) shows that the
     * gateway published it itself before it disconnected. */
    harness_check(idx >= 0 &&
                      jstr_is(harness_sub_msg(t->sub, (size_t)idx)->json, "reason", "shutdown"),
                  "step 7: the offline status is the gateway's own (reason \"shutdown\"), not "
                  "its Last Will");
    snprintf(client_id, sizeof(client_id), "it-e2e-status-%d", (int)getpid());
    fresh = harness_sub_new(t->uri, client_id, T_STATUS);
    harness_check(fresh && harness_sub_wait(fresh, 0, T_STATUS, is_status, "offline", 3000) >= 0,
                  "step 7: a new subscriber gets the retained status \"offline\"");
    harness_sub_free(fresh);

    readings = db_scalar(t->db_path, "SELECT count(*) FROM readings");
    faults = db_scalar(t->db_path, "SELECT count(*) FROM readings WHERE sensor_id = 'fridge-a' "
                                   "AND quantity = 0 AND value IS NULL");
    harness_check(readings > 10, "step 7: history.db has more than 10 readings (%lld)", readings);
    harness_check(faults >= 1,
                  "step 7: history.db has fault rows (value NULL) for fridge-a temperature (%lld)",
                  faults);
    t->readings_before_restart = readings;
    snprintf(want, sizeof(want), "1:raised:%s,2:cleared:%s,", t->alert_ids[0], t->alert_ids[1]);
    harness_check(db_alerts(t->db_path, alerts, sizeof(alerts)) == 0 && strcmp(alerts, want) == 0,
                  "step 7: history.db alerts are seq 1 raised and 2 cleared with the published "
                  "ids (want %s got %s)",
                  want, alerts);
}

/* 8. Restart on the same data dir: seq continues at 3, history grows, the twin is retained. */
static void step_restart(struct e2e *t)
{
    struct alert_want raised = {
        .transition = "raised", .ignore_ids = {t->alert_ids[0], t->alert_ids[1]}, .nignore = 2};
    size_t from = harness_sub_count(t->sub);
    char client_id[64];
    struct harness_sub *fresh;
    long long readings = -1;
    int64_t deadline_ms;
    double seq = 0;
    long idx;

    harness_proc_stop(t->sim, 5000, NULL);
    t->sim = harness_start_modbus_sim(t->sim_bin, 0, 1, "0s=5.0,1s=10.5", NULL, &t->sim_port);
    HARNESS_REQUIRE(t->sim, "step 8: a new simulator accepts on port %d", t->sim_port);
    HARNESS_REQUIRE(write_config(t, t->config_path, "2s") == 0,
                    "step 8: config rewritten for the new simulator port");
    t->gw = start_gateway(t);
    HARNESS_REQUIRE(t->gw, "step 8: gateway restarted");
    idx = wait_msg(t, from, T_STATUS, is_status, "online", ONLINE_TIMEOUT_MS);
    HARNESS_REQUIRE(idx >= 0, "step 8: status \"online\" again within %d s",
                    ONLINE_TIMEOUT_MS / 1000);

    idx = wait_msg(t, from, T_ALERTS, is_alert, &raised, 30000);
    harness_check(idx >= 0, "step 8: a new alert \"raised\" within 30 s of the restart");
    if (idx >= 0) {
        const struct harness_msg *m = harness_sub_msg(t->sub, (size_t)idx);
        jnum(m->json, "seq", &seq);
        harness_check(seq == 3, "step 8: its seq is 3, no gap across the restart (got %g)", seq);
    }

    /* Readings commit in batches (batch_interval 500 ms): poll until the count has grown. */
    deadline_ms = harness_mono_ms() + 10000;
    do {
        readings = db_scalar(t->db_path, "SELECT count(*) FROM readings");
        if (readings > t->readings_before_restart)
            break;
        harness_sleep_ms(200);
    } while (harness_mono_ms() < deadline_ms);
    harness_check(readings > t->readings_before_restart,
                  "step 8: history.db kept its %lld readings and grew (%lld)",
                  t->readings_before_restart, readings);

    snprintf(client_id, sizeof(client_id), "it-e2e-twin-%d", (int)getpid());
    fresh = harness_sub_new(t->uri, client_id, T_TWIN);
    idx = fresh ? harness_sub_wait(fresh, 0, T_TWIN, NULL, NULL, 3000) : -1;
    harness_check(idx >= 0 && harness_sub_msg(fresh, (size_t)idx)->retained &&
                      jstr_is(cJSON_GetObjectItemCaseSensitive(
                                  harness_sub_msg(fresh, (size_t)idx)->json, "shipment"),
                              "id", "fridge-a"),
                  "step 8: a new subscriber gets the retained twin of fridge-a on subscribe");
    harness_sub_free(fresh);
}

/* 9. Everything stops cleanly. */
static void step_shutdown(struct e2e *t)
{
    stop_gateway(t);
    harness_proc_stop(t->sim, 5000, NULL);
    harness_sub_free(t->sub);
    t->sub = NULL;
    harness_proc_stop(t->mosq, 5000, NULL);
}

int main(void)
{
    struct e2e t = {0};

    if (harness_init("e2e") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    t.gateway_bin = getenv("COLDCHAIN_GATEWAY");
    t.sim_bin = getenv("COLDCHAIN_SIM");
    HARNESS_REQUIRE(t.gateway_bin && t.sim_bin && access(t.gateway_bin, X_OK) == 0 &&
                        access(t.sim_bin, X_OK) == 0,
                    "COLDCHAIN_GATEWAY and COLDCHAIN_SIM name executables (meson sets them)");
    harness_mosquitto_path(); /* skip before anything runs if there is no broker */
    harness_path(t.config_path, sizeof(t.config_path), "gateway.json");
    harness_path(t.data_dir, sizeof(t.data_dir), "data");
    harness_path(t.db_path, sizeof(t.db_path), "data/history.db");

    step_check_config(&t);
    step_start(&t);
    step_online_and_telemetry(&t);
    size_t raised_idx = step_raised(&t);
    step_cleared(&t, raised_idx);
    step_fault(&t);
    step_stop_and_history(&t);
    step_restart(&t);
    step_shutdown(&t);
    harness_exit();
}
