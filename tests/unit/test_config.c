/* The gateway config: the shipped example and a minimal config parse with the expected values and
 * defaults; every bad config in tests/data/config/bad-*.json is refused with the JSON path and
 * the expectation a technician needs. The bad files double as fuzz seeds. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "cunit_main.h"

#define CONFIG_DATA_DIR TEST_DATA_DIR "/config"
#define DEMO_CONFIG TEST_DATA_DIR "/../../docs/examples/demo.json"

/* ---- good configs ---- */

static void test_demo_example_parses_with_its_values(void)
{
    struct config *c = NULL;
    struct cfg_error err;
    int rc = config_load(DEMO_CONFIG, 0, &c, &err);
    if (rc != 0)
        fprintf(stderr, "\n  demo.json: %s: %s\n", err.path, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_STRING_EQUAL(c->path, DEMO_CONFIG);
    CU_ASSERT_STRING_EQUAL(c->gateway_id, "demo-pharmacy");
    CU_ASSERT_STRING_EQUAL(c->data_dir, ".demo/data");
    CU_ASSERT_EQUAL(c->log_level, LOG_INFO);

    CU_ASSERT_STRING_EQUAL(c->mqtt.uri, "tcp://127.0.0.1:1883");
    CU_ASSERT_STRING_EQUAL(c->mqtt.prefix, "coldchain/v1");
    CU_ASSERT_STRING_EQUAL(c->mqtt.client_id, "coldchain-demo-pharmacy");
    CU_ASSERT_EQUAL(c->mqtt.keepalive_ms, 20000);
    CU_ASSERT_EQUAL(c->mqtt.telemetry_qos, 0);
    CU_ASSERT_EQUAL(c->mqtt.telemetry_interval_ms, 5000);
    CU_ASSERT_EQUAL(c->mqtt.twin_interval_ms, 2000);
    CU_ASSERT_EQUAL(c->mqtt.reconnect_min_ms, 1000);
    CU_ASSERT_EQUAL(c->mqtt.reconnect_max_ms, 60000);
    CU_ASSERT_EQUAL(c->store.batch_max, 64);
    CU_ASSERT_EQUAL(c->store.batch_interval_ms, 2000);

    CU_ASSERT_EQUAL_FATAL(c->sensor_count, 2);
    CU_ASSERT_STRING_EQUAL(c->sensors[0].id, "fridge-a");
    CU_ASSERT_STRING_EQUAL(c->sensors[0].name, "Vaccine fridge A, middle shelf");
    CU_ASSERT_DOUBLE_EQUAL(c->sensors[0].calibration[QUANTITY_TEMPERATURE].offset, 0.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(c->sensors[0].calibration[QUANTITY_TEMPERATURE].gain, 1.0, 0);
    CU_ASSERT_EQUAL(config_sensor_index(c, "fridge-a"), 0);
    CU_ASSERT_EQUAL(config_sensor_index(c, "fridge-b"), 1);
    CU_ASSERT_EQUAL(config_sensor_index(c, "fridge-c"), -ENOENT);

    CU_ASSERT_EQUAL_FATAL(c->bus_count, 2);
    CU_ASSERT_STRING_EQUAL(c->buses[0].name, "fridge-bus");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->buses[0].adapter);
    CU_ASSERT_STRING_EQUAL(c->buses[0].adapter->type, "modbus-tcp");
    CU_ASSERT_PTR_NOT_NULL(c->buses[0].state);
    CU_ASSERT_STRING_EQUAL(c->buses[1].name, "radio");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->buses[1].adapter);
    CU_ASSERT_STRING_EQUAL(c->buses[1].adapter->type, "ble");

    /* The demo's own profile, then the preset fridge-b names directly. */
    CU_ASSERT_EQUAL_FATAL(c->profile_count, 2);
    CU_ASSERT_STRING_EQUAL(c->profiles[1].name, "cdc-vaccine-fridge");
    const struct config_profile *p = &c->profiles[0];
    CU_ASSERT_STRING_EQUAL(p->name, "demo-fridge");
    CU_ASSERT_PTR_NOT_NULL(strstr(p->description, "2-8 °C"));
    /* It extends cdc-vaccine-fridge: its heat and freeze are overridden in place, the budget
     * is added after them. */
    CU_ASSERT_STRING_EQUAL(p->extends, "cdc-vaccine-fridge");
    CU_ASSERT_EQUAL_FATAL(p->alarm_count, 3);
    CU_ASSERT_STRING_EQUAL(p->alarms[0].id, "heat");
    CU_ASSERT_EQUAL(p->alarms[0].renotify_ms, 20000);
    CU_ASSERT_EQUAL(p->alarms[0].quantity, QUANTITY_TEMPERATURE);
    CU_ASSERT_EQUAL(p->alarms[0].condition, ALARM_ABOVE);
    CU_ASSERT_DOUBLE_EQUAL(p->alarms[0].limit, 8.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(p->alarms[0].hysteresis, 0.5, 0);
    CU_ASSERT_EQUAL(p->alarms[0].delay_ms, 5000);
    CU_ASSERT_EQUAL(p->alarms[0].severity, ALARM_CRITICAL);
    CU_ASSERT_STRING_EQUAL(p->alarms[0].message, "Fridge A is above 8 °C.");
    CU_ASSERT_PTR_NOT_NULL(strstr(p->alarms[0].action, "Keep the door shut"));
    CU_ASSERT_STRING_EQUAL(p->alarms[1].id, "freeze");
    CU_ASSERT_EQUAL(p->alarms[1].condition, ALARM_BELOW);
    CU_ASSERT_DOUBLE_EQUAL(p->alarms[1].limit, 2.0, 0);
    CU_ASSERT_EQUAL(p->alarms[1].delay_ms, 5000);
    CU_ASSERT_STRING_EQUAL(p->alarms[2].id, "time-out-of-range");
    CU_ASSERT_EQUAL(p->alarms[2].kind, ALARM_KIND_BUDGET);
    CU_ASSERT_EQUAL(p->alarms[2].budget_ms, 30000);

    CU_ASSERT_EQUAL_FATAL(c->shipment_count, 2);
    CU_ASSERT_STRING_EQUAL(c->shipments[1].id, "fridge-b");
    CU_ASSERT_EQUAL(c->shipments[1].profile, 1);
    const struct config_shipment *s = &c->shipments[0];
    CU_ASSERT_STRING_EQUAL(s->id, "fridge-a");
    CU_ASSERT_STRING_EQUAL(s->kind, "storage");
    CU_ASSERT_STRING_EQUAL(s->description, "Vaccine fridge A (back office)");
    CU_ASSERT_EQUAL(s->profile, 0);
    CU_ASSERT_EQUAL_FATAL(s->sensor_count, 1);
    CU_ASSERT_STRING_EQUAL(s->sensor_ids[0], "fridge-a");
    config_free(c);
}

static void test_minimal_config_gets_the_documented_defaults(void)
{
    struct config *c = NULL;
    struct cfg_error err;
    int rc = config_load(CONFIG_DATA_DIR "/good-minimal.json", 0, &c, &err);
    if (rc != 0)
        fprintf(stderr, "\n  good-minimal.json: %s: %s\n", err.path, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_STRING_EQUAL(c->gateway_id, "pharmacy-01");
    CU_ASSERT_STRING_EQUAL(c->data_dir, "/var/lib/coldchain");
    CU_ASSERT_EQUAL(c->log_level, LOG_INFO);
    CU_ASSERT_STRING_EQUAL(c->mqtt.prefix, "coldchain/v1");
    CU_ASSERT_STRING_EQUAL(c->mqtt.client_id, "coldchain-pharmacy-01");
    CU_ASSERT_EQUAL(c->mqtt.keepalive_ms, 30000);
    CU_ASSERT_EQUAL(c->mqtt.telemetry_qos, 0);
    CU_ASSERT_EQUAL(c->mqtt.telemetry_interval_ms, 10000);
    CU_ASSERT_EQUAL(c->mqtt.twin_interval_ms, 5000);
    CU_ASSERT_EQUAL(c->mqtt.reconnect_min_ms, 1000);
    CU_ASSERT_EQUAL(c->mqtt.reconnect_max_ms, 60000);
    CU_ASSERT_EQUAL(c->store.batch_max, 256);
    CU_ASSERT_EQUAL(c->store.batch_interval_ms, 2000);
    CU_ASSERT_EQUAL(c->bus_count, 0);
    CU_ASSERT_EQUAL_FATAL(c->sensor_count, 1);
    CU_ASSERT_STRING_EQUAL(c->sensors[0].name, "fridge-a"); /* the name defaults to the id */
    for (unsigned q = 0; q < QUANTITY_COUNT; q++) {
        CU_ASSERT_DOUBLE_EQUAL(c->sensors[0].calibration[q].offset, 0.0, 0);
        CU_ASSERT_DOUBLE_EQUAL(c->sensors[0].calibration[q].gain, 1.0, 0);
    }
    CU_ASSERT_EQUAL_FATAL(c->profile_count, 1);
    const struct alarm_def *a = &c->profiles[0].alarms[0];
    CU_ASSERT_STRING_EQUAL(c->profiles[0].description, "");
    CU_ASSERT_DOUBLE_EQUAL(a->hysteresis, 0.0, 0);
    CU_ASSERT_EQUAL(a->delay_ms, 0);
    CU_ASSERT_EQUAL(a->severity, ALARM_CRITICAL);
    CU_ASSERT_STRING_EQUAL(a->action, "");
    CU_ASSERT_STRING_EQUAL(c->shipments[0].kind, "storage");
    CU_ASSERT_STRING_EQUAL(c->shipments[0].description, "");
    config_free(c);
}

/* Parses a config given as text; 0 or the error, with the message printed on a mismatch. */
static int parse_text(const char *text, struct config **c, struct cfg_error *err)
{
    return config_parse(text, strlen(text), "test.json", 0, c, err);
}

#define MINIMAL_HEAD "{\"gateway_id\":\"gw\",\"mqtt\":{\"uri\":\"mqtt://broker\""
#define MINIMAL_TAIL                                                                               \
    "},\"sensors\":[{\"id\":\"s1\",\"calibration\":{\"temperature\":{\"offset\":-0.3,"             \
    "\"gain\":1.02}}},{\"id\":\"s2\"}],"                                                           \
    "\"profiles\":{\"p\":{\"alarms\":[{\"id\":\"cold\",\"quantity\":\"temperature\","              \
    "\"condition\":\"at_or_below\",\"limit\":2,\"severity\":\"warning\",\"delay\":\"1h30m\","      \
    "\"message\":\"m\"}]}},"                                                                       \
    "\"shipments\":[{\"id\":\"t1\",\"kind\":\"transit\",\"profile\":\"p\","                        \
    "\"sensors\":[\"s2\",\"s1\"]}]}"

static void test_explicit_values_and_derived_defaults(void)
{
    struct config *c = NULL;
    struct cfg_error err;
    /* Only reconnect_min set, above the default ceiling: the ceiling follows it. */
    int rc = parse_text(MINIMAL_HEAD ",\"reconnect_min\":\"2m\",\"client_id\":\"me\","
                                     "\"telemetry_qos\":1" MINIMAL_TAIL,
                        &c, &err);
    if (rc != 0)
        fprintf(stderr, "\n  %s: %s\n", err.path, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(c->mqtt.reconnect_min_ms, 120000);
    CU_ASSERT_EQUAL(c->mqtt.reconnect_max_ms, 120000);
    CU_ASSERT_STRING_EQUAL(c->mqtt.client_id, "me");
    CU_ASSERT_EQUAL(c->mqtt.telemetry_qos, 1);
    CU_ASSERT_STRING_EQUAL(c->path, "test.json");
    CU_ASSERT_DOUBLE_EQUAL(c->sensors[0].calibration[QUANTITY_TEMPERATURE].offset, -0.3, 0);
    CU_ASSERT_DOUBLE_EQUAL(c->sensors[0].calibration[QUANTITY_TEMPERATURE].gain, 1.02, 0);
    CU_ASSERT_DOUBLE_EQUAL(c->sensors[0].calibration[QUANTITY_HUMIDITY].gain, 1.0, 0);
    const struct alarm_def *a = &c->profiles[0].alarms[0];
    CU_ASSERT_EQUAL(a->condition, ALARM_AT_OR_BELOW);
    CU_ASSERT_EQUAL(a->severity, ALARM_WARNING);
    CU_ASSERT_EQUAL(a->delay_ms, 5400000);
    CU_ASSERT_STRING_EQUAL(c->shipments[0].kind, "transit");
    CU_ASSERT_EQUAL_FATAL(c->shipments[0].sensor_count, 2);
    CU_ASSERT_STRING_EQUAL(c->shipments[0].sensor_ids[0], "s2");
    CU_ASSERT_STRING_EQUAL(c->shipments[0].sensor_ids[1], "s1");
    CU_ASSERT_EQUAL(config_sensor_index(c, "s2"), 1);
    config_free(c);
}

/* A rules-only config (replay's form) with one sensor: its calibration is the case under test. */
#define CAL_CONFIG(sensor_json)                                                                    \
    "{\"gateway_id\":\"gw\",\"mqtt\":{\"uri\":\"tcp://127.0.0.1:1883\"},\"sensors\":[" sensor_json \
    "],\"shipments\":[{\"id\":\"s\",\"profile\":\"cdc-vaccine-fridge\",\"sensors\":[\"p\"]}]}"

/* Two points of a certificate: at 0.00 °C the probe read 0.12, at 100.00 °C it read 99.71. The
 * line through them: gain 100 / 99.59, offset -0.12 * gain. A reading is then corrected by it. */
static void test_two_point_calibration_and_certificate(void)
{
    struct config *c = NULL;
    struct cfg_error err;
    int rc = parse_text(CAL_CONFIG("{\"id\":\"p\",\"certificate\":\"CAL-2026-0142\","
                                   "\"calibration_due\":\"2027-03-01\",\"calibration\":{"
                                   "\"temperature\":{\"two_point\":[{\"raw\":0.12,\"reference\":0.0},"
                                   "{\"raw\":99.71,\"reference\":100.0}]}}}"),
                        &c, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    const struct config_sensor *p = &c->sensors[0];
    CU_ASSERT_STRING_EQUAL(p->certificate, "CAL-2026-0142");
    CU_ASSERT_EQUAL(p->calibration_due_ms, INT64_C(1803859200000)); /* date -u -d 2027-03-01 +%s */
    const struct config_calibration *t = &p->calibration[QUANTITY_TEMPERATURE];
    CU_ASSERT_DOUBLE_EQUAL(t->gain, 100.0 / 99.59, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(t->offset, -0.12 * 100.0 / 99.59, 1e-12);
    struct reading r = {.sensor_id = "p", .quantity = QUANTITY_TEMPERATURE, .value = 99.71};
    CU_ASSERT_FALSE(config_calibrate(c, &r, NULL));
    CU_ASSERT_DOUBLE_EQUAL(r.value, 100.0, 1e-9);
    r.value = 0.12;
    CU_ASSERT_FALSE(config_calibrate(c, &r, NULL));
    CU_ASSERT_DOUBLE_EQUAL(r.value, 0.0, 1e-9);
    config_free(c);

    static const struct {
        const char *sensor, *path, *msg;
    } bad[] = {
        {"{\"id\":\"p\",\"calibration\":{\"temperature\":{\"two_point\":[{\"raw\":5,"
         "\"reference\":4},{\"raw\":5,\"reference\":9}]}}}",
         "sensors[0].calibration.temperature.two_point", "expected two different raw values"},
        {"{\"id\":\"p\",\"calibration\":{\"temperature\":{\"gain\":1.01,\"two_point\":["
         "{\"raw\":0,\"reference\":0},{\"raw\":1,\"reference\":1}]}}}",
         "sensors[0].calibration.temperature.two_point", "not both"},
        {"{\"id\":\"p\",\"calibration\":{\"temperature\":{\"two_point\":[{\"raw\":0,"
         "\"reference\":10},{\"raw\":10,\"reference\":0}]}}}",
         "sensors[0].calibration.temperature.two_point", "expected the reference to rise"},
        {"{\"id\":\"p\",\"calibration\":{\"temperature\":{\"two_point\":[{\"raw\":0,"
         "\"reference\":0}]}}}",
         "sensors[0].calibration.temperature.two_point", "expected two points"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), CAL_CONFIG("%s"), bad[i].sensor);
        c = NULL;
        CU_ASSERT_EQUAL(parse_text(text, &c, &err), -EINVAL);
        CU_ASSERT_PTR_NULL(c);
        CU_ASSERT_STRING_EQUAL(err.path, bad[i].path);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad[i].msg));
        if (strcmp(err.path, bad[i].path) != 0 || !strstr(err.msg, bad[i].msg))
            fprintf(stderr, "\n    got %s: %s\n", err.path, err.msg);
    }
}

static void test_byte_order_mark_and_whitespace_are_accepted(void)
{
    struct config *c = NULL;
    struct cfg_error err;
    int rc = parse_text("\xEF\xBB\xBF\r\n  " MINIMAL_HEAD MINIMAL_TAIL "\r\n\n", &c, &err);
    CU_ASSERT_EQUAL(rc, 0);
    config_free(c);
}

/* ---- bad configs ---- */

static const struct {
    const char *file;     /* in tests/data/config */
    const char *path;     /* expected err.path */
    const char *msg_part; /* a part of the expected err.msg */
} bad_configs[] = {
    {"bad-invalid-json.json", "", "invalid JSON at line 4, column 3"},
    {"bad-trailing-text.json", "", "unexpected text after the JSON object at line 2, column 1"},
    {"bad-empty-file.json", "", "the file is empty"},
    {"bad-top-level-array.json", "", "expected a JSON object at the top level"},
    {"bad-missing-gateway-id.json", "gateway_id", "missing (required)"},
    {"bad-gateway-id-not-identifier.json", "gateway_id",
     "expected an identifier of 1 to 63 characters"},
    {"bad-unknown-top-level-key.json", "", "unknown key \"gatway\"; known keys: gateway_id,"},
    {"bad-alarm-key-dealy.json", "profiles.fridge.alarms[0]",
     "unknown key \"dealy\"; known keys: id, quantity, condition, limit, above, at_or_above,"},
    {"bad-duplicate-key.json", "profiles.fridge.alarms[0]", "key \"limit\" appears more than once"},
    {"bad-duration-with-space.json", "profiles.fridge.alarms[0].delay",
     "expected a duration such as \"30s\", \"10m\" or \"1h30m\", got \"30 min\""},
    {"bad-alarm-condition-over.json", "profiles.fridge.alarms[0].condition",
     "expected above, at_or_above, below or at_or_below, got \"over\""},
    {"bad-hysteresis-negative.json", "profiles.fridge.alarms[0].hysteresis",
     "expected a number >= 0, got -0.5"},
    {"bad-limit-is-a-string.json", "profiles.fridge.alarms[0].limit",
     "expected a number, got \"8\""},
    {"bad-alarm-two-kinds.json", "profiles.fridge.alarms[0].stale",
     "\"budget\" and \"stale\" are different kinds of alarm: use one per alarm"},
    {"bad-profile-extends-unknown.json", "profiles.fridge.extends",
     "unknown preset \"cdc-fridge\"; presets: cdc-vaccine-fridge, "},
    {"bad-budget-with-delay.json", "profiles.fridge.alarms[0].delay",
     "a budget alarm has no \"delay\""},
    {"bad-threshold-with-window.json", "profiles.fridge.alarms[0].window",
     "a threshold alarm has no \"window\""},
    {"bad-preset-override-twice.json", "profiles.fridge.alarms[1].id",
     "duplicate alarm id \"heat\" in this profile"},
    {"bad-suppress-all-day.json", "profiles.fridge.suppress[0].duration",
     "expected less than \"every\""},
    {"bad-profile-named-like-preset.json", "profiles.cdc-vaccine-fridge",
     "\"cdc-vaccine-fridge\" is a built-in preset"},
    {"bad-sensor-calibration-due-date.json", "sensors[0].calibration_due",
     "expected a date as YYYY-MM-DD, got \"2027-02-30\""},
    {"bad-alarm-quantity-unknown.json", "profiles.fridge.alarms[0].quantity",
     "expected one of temperature, humidity, door, battery, got \"pressure\""},
    {"bad-alarm-severity-unknown.json", "profiles.fridge.alarms[0].severity",
     "expected critical or warning, got \"major\""},
    {"bad-duplicate-alarm-id.json", "profiles.fridge.alarms[1].id", "duplicate alarm id \"heat\""},
    {"bad-profile-name-not-identifier.json", "profiles",
     "expected profile names of 1 to 63 characters"},
    {"bad-w1-two-probes-one-sensor.json", "buses[0].probes[1].sensor",
     "sensor \"a\" is already read by buses[0].probes[0]"},
    {"bad-profiles-missing.json", "shipments[0].profile",
     "unknown profile \"fridge\"; profiles and presets: cdc-vaccine-fridge"},
    {"bad-shipment-unknown-profile.json", "shipments[0].profile",
     "unknown profile \"freezer\"; profiles and presets: fridge, cdc-vaccine-fridge"},
    {"bad-shipment-undeclared-sensor.json", "shipments[0].sensors[1]",
     "sensor \"fridge-b\" is not declared in sensors[]"},
    {"bad-shipment-sensor-listed-twice.json", "shipments[0].sensors[1]",
     "sensor \"fridge-a\" is listed twice"},
    {"bad-shipment-sensors-empty.json", "shipments[0].sensors", "expected at least one sensor"},
    {"bad-shipment-kind-truck.json", "shipments[0].kind",
     "expected storage or transit, got \"truck\""},
    {"bad-shipments-empty.json", "shipments", "expected at least one shipment"},
    {"bad-duplicate-shipment-id.json", "shipments[1].id",
     "duplicate shipment id \"fridge-a-2026\" (also shipments[0])"},
    {"bad-bus-point-undeclared-sensor.json", "buses[0].devices[0].points[0]",
     "sensor \"fridge-b\" is not declared in sensors[]"},
    {"bad-bus-type-unknown.json", "buses[0].type",
     "unknown bus type \"modbus-udp\"; known types: modbus-tcp"},
    {"bad-duplicate-bus-name.json", "buses[1].name", "duplicate bus name \"fridge-bus\""},
    {"bad-duplicate-sensor-id.json", "sensors[1].id",
     "duplicate sensor id \"fridge-a\" (also sensors[0])"},
    {"bad-sensor-id-too-long.json", "sensors[0].id", "expected an identifier of 1 to 31"},
    {"bad-sensors-empty.json", "sensors", "expected at least one sensor"},
    {"bad-calibration-gain-zero.json", "sensors[0].calibration.temperature.gain",
     "expected a number > 0, got 0"},
    {"bad-calibration-unknown-quantity.json", "sensors[0].calibration",
     "unknown key \"temp\"; known keys: temperature, humidity, door, battery"},
    {"bad-mqtt-missing.json", "mqtt", "missing (required)"},
    {"bad-telemetry-qos-2.json", "mqtt.telemetry_qos",
     "expected an integer between 0 and 1, got 2"},
    {"bad-mqtt-ssl-uri.json", "mqtt.tls", "missing: an ssl:// or mqtts:// uri needs \"tls\""},
    {"bad-mqtt-prefix-wildcard.json", "mqtt.prefix", "expected a topic prefix"},
    {"bad-reconnect-max-below-min.json", "mqtt.reconnect_max",
     "expected a duration of at least reconnect_min (\"30s\"), got \"10s\""},
    {"bad-keepalive-too-long.json", "mqtt.keepalive", "expected a duration between 1s and"},
    {"bad-store-batch-max-zero.json", "store.batch_max",
     "expected an integer between 1 and 100000, got 0"},
    {"bad-store-batch-interval-too-long.json", "store.batch_interval",
     "expected a duration between 100ms and 10m, got \"20m\""},
    {"bad-log-level-verbose.json", "log_level",
     "expected error, warning, notice, info or debug, got \"verbose\""},
};

static void test_bad_configs_name_the_path_and_the_expectation(void)
{
    for (size_t i = 0; i < sizeof(bad_configs) / sizeof(bad_configs[0]); i++) {
        char file[512];
        snprintf(file, sizeof(file), "%s/%s", CONFIG_DATA_DIR, bad_configs[i].file);
        static struct config sentinel;
        struct config *c = &sentinel; /* must come back NULL */
        struct cfg_error err;
        int rc = config_load(file, 0, &c, &err);
        bool ok = rc == -EINVAL && c == NULL && strcmp(err.path, bad_configs[i].path) == 0 &&
                  strstr(err.msg, bad_configs[i].msg_part) != NULL;
        CU_ASSERT_TRUE(ok);
        if (!ok)
            fprintf(stderr, "\n  %s: rc %d: got \"%s: %s\", wanted \"%s: ...%s...\"\n",
                    bad_configs[i].file, rc, err.path, err.msg, bad_configs[i].path,
                    bad_configs[i].msg_part);
        if (rc == 0)
            config_free(c);
    }
}

/* ---- reading the file ---- */

static void test_unreadable_file_says_why(void)
{
    struct config *c = NULL;
    struct cfg_error err;
    CU_ASSERT_EQUAL(config_load(CONFIG_DATA_DIR "/no-such-file.json", 0, &c, &err), -ENOENT);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_STRING_EQUAL(err.path, "");
    CU_ASSERT_STRING_EQUAL(err.msg, strerror(ENOENT));
}

static void test_file_over_one_mib_is_refused(void)
{
    char name[] = "/tmp/test_config_big_XXXXXX";
    int fd = mkstemp(name);
    CU_ASSERT_FATAL(fd >= 0);
    /* Valid JSON padded with spaces: the size alone must be the reason. */
    const char *head = MINIMAL_HEAD MINIMAL_TAIL;
    size_t size = 1024 * 1024 + 1;
    char *text = malloc(size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    memset(text, ' ', size);
    memcpy(text, head, strlen(head));
    CU_ASSERT_EQUAL(write(fd, text, size), (ssize_t)size);
    close(fd);

    struct config *c = NULL;
    struct cfg_error err;
    CU_ASSERT_EQUAL(config_load(name, 0, &c, &err), -EFBIG);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "1 MiB"));
    CU_ASSERT_EQUAL(config_parse(text, size, "big", 0, &c, &err), -EINVAL);
    /* Exactly 1 MiB is still read. */
    CU_ASSERT_EQUAL(config_parse(text, size - 1, "big", 0, &c, &err), 0);
    config_free(c);
    unlink(name);
    free(text);
}

static void test_text_is_not_read_past_its_length(void)
{
    /* Unterminated input, as a fuzzer passes it: the parser must stop at len. */
    const char full[] = MINIMAL_HEAD MINIMAL_TAIL;
    size_t len = strlen(full);
    char *exact = malloc(len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(exact);
    memcpy(exact, full, len);
    struct config *c = NULL;
    struct cfg_error err;
    CU_ASSERT_EQUAL(config_parse(exact, len, "x", 0, &c, &err), 0);
    config_free(c);
    c = NULL;
    CU_ASSERT_EQUAL(config_parse(exact, len - 1, "x", 0, &c, &err), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "invalid JSON"));
    CU_ASSERT_PTR_NULL(c);
    free(exact);
    /* Embedded NUL. */
    CU_ASSERT_EQUAL(config_parse("{\"a\":\0}", 7, "x", 0, &c, &err), -EINVAL);
    CU_ASSERT_EQUAL(config_parse("", 0, "x", 0, &c, &err), -EINVAL);
    config_free(NULL);
}

/* ---- mqtt security: TLS, user name, password file ---- */

/* A config whose "mqtt" object is {mqtt_members}: the minimal rest around it. */
#define MQTT_CONFIG(mqtt_members) "{\"gateway_id\":\"gw\",\"mqtt\":{" mqtt_members MINIMAL_TAIL

static void test_tls_and_user_keys_parse_with_their_defaults(void)
{
    struct config *c = NULL;
    struct cfg_error err;
    int rc = parse_text(MQTT_CONFIG("\"uri\":\"mqtts://broker.example.com:8883\",\"tls\":{"
                                    "\"ca_file\":\"/etc/coldchain/ca.pem\","
                                    "\"cert_file\":\"/etc/coldchain/gw.pem\","
                                    "\"key_file\":\"/etc/coldchain/gw.key\","
                                    "\"verify_hostname\":false},\"username\":\"gw-01\","
                                    "\"password_file\":\"/etc/coldchain/mqtt.password\""),
                        &c, &err);
    if (rc != 0)
        fprintf(stderr, "\n  %s: %s\n", err.path, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_TRUE(c->mqtt.tls.enabled);
    CU_ASSERT_STRING_EQUAL(c->mqtt.tls.ca_file, "/etc/coldchain/ca.pem");
    CU_ASSERT_STRING_EQUAL(c->mqtt.tls.cert_file, "/etc/coldchain/gw.pem");
    CU_ASSERT_STRING_EQUAL(c->mqtt.tls.key_file, "/etc/coldchain/gw.key");
    CU_ASSERT_FALSE(c->mqtt.tls.verify_hostname);
    CU_ASSERT_STRING_EQUAL(c->mqtt.username, "gw-01");
    CU_ASSERT_STRING_EQUAL(c->mqtt.password_file, "/etc/coldchain/mqtt.password");
    /* config_parse() reads no file: the password comes with config_load(). */
    CU_ASSERT_EQUAL(c->mqtt.password_len, 0);
    config_free(c);

    c = NULL;
    rc = parse_text(MQTT_CONFIG("\"uri\":\"ssl://10.0.0.2:8883\",\"tls\":{\"ca_file\":\"/ca.pem\"}"),
                    &c, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_TRUE(c->mqtt.tls.enabled);
    CU_ASSERT_TRUE(c->mqtt.tls.verify_hostname); /* the default */
    CU_ASSERT_STRING_EQUAL(c->mqtt.tls.cert_file, "");
    CU_ASSERT_STRING_EQUAL(c->mqtt.username, "");
    config_free(c);

    c = NULL;
    rc = parse_text(MQTT_CONFIG("\"uri\":\"tcp://127.0.0.1:1883\",\"username\":\"gw-01\""), &c,
                    &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_FALSE(c->mqtt.tls.enabled);
    CU_ASSERT_STRING_EQUAL(c->mqtt.username, "gw-01");
    config_free(c);
}

static void test_bad_tls_and_user_keys_name_the_path(void)
{
    static const struct {
        const char *mqtt, *path, *msg;
    } bad[] = {
        {"\"uri\":\"ssl://b:8883\"", "mqtt.tls", "missing: an ssl:// or mqtts:// uri needs"},
        {"\"uri\":\"tcp://b:1883\",\"tls\":{\"ca_file\":\"/ca.pem\"}", "mqtt.tls",
         "expected only with an ssl:// or mqtts:// uri (TLS), but mqtt.uri is \"tcp://b:1883\""},
        {"\"uri\":\"ssl://b:8883\",\"tls\":{}", "mqtt.tls.ca_file", "missing (required)"},
        {"\"uri\":\"ssl://b:8883\",\"tls\":{\"ca_file\":\"ca.pem\"}", "mqtt.tls.ca_file",
         "expected an absolute file path (starting with \"/\", no control characters), got "
         "\"ca.pem\""},
        {"\"uri\":\"ssl://b:8883\",\"tls\":{\"ca_file\":\"\"}", "mqtt.tls.ca_file",
         "expected an absolute file path"},
        {"\"uri\":\"ssl://b:8883\",\"tls\":{\"ca_file\":\"/ca.pem\",\"cert_file\":\"/c.pem\"}",
         "mqtt.tls.key_file", "missing: a client certificate needs both"},
        {"\"uri\":\"ssl://b:8883\",\"tls\":{\"ca_file\":\"/ca.pem\",\"key_file\":\"/c.key\"}",
         "mqtt.tls.cert_file", "missing: a client certificate needs both"},
        {"\"uri\":\"ssl://b:8883\",\"tls\":{\"ca_file\":\"/ca.pem\","
         "\"insecure_skip_verify\":true}",
         "mqtt.tls",
         "unknown key \"insecure_skip_verify\"; known keys: ca_file, cert_file, key_file, "
         "verify_hostname"},
        {"\"uri\":\"ssl://b:8883\",\"tls\":{\"ca_file\":\"/ca.pem\",\"verify_hostname\":1}",
         "mqtt.tls.verify_hostname", "expected true or false"},
        {"\"uri\":\"ssl://b:8883\",\"tls\":\"/ca.pem\"", "mqtt.tls", "expected an object"},
        {"\"uri\":\"wss://b:443\"", "mqtt.uri", "MQTT over WebSockets (ws://, wss://) is not"},
        {"\"uri\":\"tcp://b:1883\",\"password_file\":\"/p\"", "mqtt.username",
         "missing: \"password_file\" needs the \"username\""},
        {"\"uri\":\"tcp://b:1883\",\"username\":\"gw 01\"", "mqtt.username",
         "expected a user name of 1 to 127 printable ASCII characters"},
        {"\"uri\":\"tcp://b:1883\",\"username\":\"\"", "mqtt.username", "expected a user name"},
        {"\"uri\":\"tcp://b:1883\",\"username\":\"gw\",\"password_file\":\"p.txt\"",
         "mqtt.password_file", "expected an absolute file path"},
        /* A password in the JSON itself is refused, and its value is not repeated. */
        {"\"uri\":\"tcp://b:1883\",\"username\":\"gw\",\"password\":\"hunter2-in-json\"",
         "mqtt.password", "a password is not written in the config: put it alone in a file"},
        {"\"uri\":\"mqtt://gw:hunter2-in-json@b:1883\"", "mqtt.uri",
         "expected no user name or password in the uri"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[2048];
        snprintf(text, sizeof(text), MQTT_CONFIG("%s"), bad[i].mqtt);
        struct config *c = NULL;
        struct cfg_error err;
        int rc = parse_text(text, &c, &err);
        bool ok = rc == -EINVAL && c == NULL && strcmp(err.path, bad[i].path) == 0 &&
                  strstr(err.msg, bad[i].msg) != NULL && strstr(err.msg, "hunter2") == NULL;
        CU_ASSERT_TRUE(ok);
        if (!ok)
            fprintf(stderr, "\n  case %zu: rc %d: got \"%s: %s\", wanted \"%s: ...%s...\"\n", i,
                    rc, err.path, err.msg, bad[i].path, bad[i].msg);
        config_free(c);
    }
}

/* A temp dir with the files a TLS config names; config_load() opens them. */
struct tls_files {
    char dir[64];
    char ca[128], cert[128], key[128], password[128], config[128];
};

static void write_file(const char *path, const char *text, size_t len, mode_t mode)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(text, 1, len, f), len);
    fclose(f);
    CU_ASSERT_EQUAL(chmod(path, mode), 0);
}

static void tls_files_make(struct tls_files *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/test_config_tls_XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(t->dir));
    snprintf(t->ca, sizeof(t->ca), "%s/ca.pem", t->dir);
    snprintf(t->cert, sizeof(t->cert), "%s/gw.pem", t->dir);
    snprintf(t->key, sizeof(t->key), "%s/gw.key", t->dir);
    snprintf(t->password, sizeof(t->password), "%s/mqtt.password", t->dir);
    snprintf(t->config, sizeof(t->config), "%s/gateway.json", t->dir);
    /* Only their being there matters here; what is in them is Paho's and the broker's business
     * (tests/integration/test_tls.c). */
    write_file(t->ca, "ca\n", 3, 0644);
    write_file(t->cert, "cert\n", 5, 0644);
    write_file(t->key, "key\n", 4, 0600);
    write_file(t->password, "s3cret pass\n", 12, 0640);
}

static void tls_files_remove(struct tls_files *t)
{
    const char *files[] = {t->ca, t->cert, t->key, t->password, t->config};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unlink(files[i]);
    rmdir(t->dir);
}

/* Writes the config naming t's files (ca_file replaced by ca when not NULL) and loads it. */
static int load_tls_config(const struct tls_files *t, const char *ca, unsigned flags,
                           struct config **c, struct cfg_error *err)
{
    char text[2048];
    int n = snprintf(text, sizeof(text),
                     MQTT_CONFIG("\"uri\":\"ssl://127.0.0.1:8883\",\"tls\":{\"ca_file\":\"%s\","
                                 "\"cert_file\":\"%s\",\"key_file\":\"%s\"},"
                                 "\"username\":\"gw\",\"password_file\":\"%s\""),
                     ca ? ca : t->ca, t->cert, t->key, t->password);
    CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(text));
    write_file(t->config, text, (size_t)n, 0644);
    *c = NULL;
    return config_load(t->config, flags, c, err);
}

static void test_password_is_read_from_its_file_without_the_newline(void)
{
    struct tls_files t;
    tls_files_make(&t);
    static const struct {
        const char *content;
        size_t len;
        const char *password;
    } cases[] = {
        {"s3cret pass\n", 12, "s3cret pass"},
        {"s3cret pass", 11, "s3cret pass"},
        {"s3cret pass\r\n", 13, "s3cret pass"},
        {"\xc3\xa9t\xc3\xa9\n", 6, "\xc3\xa9t\xc3\xa9"}, /* any bytes but NUL and newlines */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_file(t.password, cases[i].content, cases[i].len, 0640);
        struct config *c;
        struct cfg_error err;
        int rc = load_tls_config(&t, NULL, 0, &c, &err);
        if (rc != 0)
            fprintf(stderr, "\n  case %zu: %s: %s\n", i, err.path, err.msg);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT_STRING_EQUAL(c->mqtt.password, cases[i].password);
        CU_ASSERT_EQUAL(c->mqtt.password_len, strlen(cases[i].password));
        config_free(c);
    }
    /* replay (CONFIG_RULES_ONLY) does not connect: it reads neither the password nor the
     * certificates, which its user may not be allowed to. */
    write_file(t.password, "s3cret pass\n", 12, 0600);
    struct config *c;
    struct cfg_error err;
    CU_ASSERT_EQUAL(load_tls_config(&t, "/nonexistent/ca.pem", CONFIG_RULES_ONLY, &c, &err), 0);
    CU_ASSERT_EQUAL(c->mqtt.password_len, 0);
    config_free(c);
    tls_files_remove(&t);
}

static void test_files_named_by_the_config_are_checked_at_load(void)
{
    struct tls_files t;
    tls_files_make(&t);
    char missing[160], expect[400];
    snprintf(missing, sizeof(missing), "%s/no-such-ca.pem", t.dir);
    struct config *c;
    struct cfg_error err;

    /* A missing file: the key, the file and errno's text. */
    CU_ASSERT_EQUAL(load_tls_config(&t, missing, 0, &c, &err), -EINVAL);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_STRING_EQUAL(err.path, "mqtt.tls.ca_file");
    snprintf(expect, sizeof(expect), "cannot read %s: %s", missing, strerror(ENOENT));
    CU_ASSERT_STRING_EQUAL(err.msg, expect);

    /* A directory is not a file. */
    CU_ASSERT_EQUAL(load_tls_config(&t, t.dir, 0, &c, &err), -EINVAL);
    CU_ASSERT_STRING_EQUAL(err.path, "mqtt.tls.ca_file");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "is not a regular file"));

    /* The secrets must give "others" no access; the error says which file, its mode and why,
     * and never the password. */
    static const struct {
        int which; /* 0: password file, 1: key */
        mode_t mode;
        const char *path, *msg;
    } open_to_all[] = {
        {0, 0644, "mqtt.password_file", "is readable by every user on this machine (mode 0644): "
                                        "a password file must give others no access (chmod "
                                        "0640, owner root, group coldchain)"},
        {0, 0604, "mqtt.password_file", "is readable by every user on this machine (mode 0604)"},
        {0, 0642, "mqtt.password_file", "is writable by every user on this machine (mode 0642)"},
        {1, 0644, "mqtt.tls.key_file", "is readable by every user on this machine (mode 0644): "
                                       "a private key file must give others no access"},
    };
    for (size_t i = 0; i < sizeof(open_to_all) / sizeof(open_to_all[0]); i++) {
        const char *file = open_to_all[i].which == 0 ? t.password : t.key;
        CU_ASSERT_EQUAL(chmod(file, open_to_all[i].mode), 0);
        int rc = load_tls_config(&t, NULL, 0, &c, &err);
        snprintf(expect, sizeof(expect), "%s %s", file, open_to_all[i].msg);
        bool ok = rc == -EINVAL && c == NULL && strcmp(err.path, open_to_all[i].path) == 0 &&
                  strncmp(err.msg, expect, strlen(expect)) == 0 && !strstr(err.msg, "s3cret");
        CU_ASSERT_TRUE(ok);
        if (!ok)
            fprintf(stderr, "\n  case %zu: rc %d: got \"%s: %s\", wanted \"%s: %s\"\n", i, rc,
                    err.path, err.msg, open_to_all[i].path, expect);
        CU_ASSERT_EQUAL(chmod(file, open_to_all[i].which == 0 ? 0640 : 0600), 0);
    }

    /* What is in the password file: never quoted back. */
    static const struct {
        const char *content;
        size_t len;
        const char *msg;
    } bad_password[] = {
        {"", 0, "is empty: expected the password"},
        {"\n", 1, "is empty: expected the password"},
        {"s3cret\n\n", 8, "holds more than one line or a NUL byte"},
        {"s3cret\nsecond line\n", 19, "holds more than one line or a NUL byte"},
        {"s3c\0ret\n", 8, "holds more than one line or a NUL byte"},
    };
    for (size_t i = 0; i < sizeof(bad_password) / sizeof(bad_password[0]); i++) {
        write_file(t.password, bad_password[i].content, bad_password[i].len, 0640);
        int rc = load_tls_config(&t, NULL, 0, &c, &err);
        bool ok = rc == -EINVAL && c == NULL && strcmp(err.path, "mqtt.password_file") == 0 &&
                  strstr(err.msg, t.password) && strstr(err.msg, bad_password[i].msg) &&
                  !strstr(err.msg, "s3c");
        CU_ASSERT_TRUE(ok);
        if (!ok)
            fprintf(stderr, "\n  password case %zu: rc %d: %s: %s\n", i, rc, err.path, err.msg);
    }
    char longest[600];
    memset(longest, 'x', sizeof(longest));
    longest[511] = '\n';
    write_file(t.password, longest, 512, 0640); /* 511 bytes and the newline: fits */
    CU_ASSERT_EQUAL(load_tls_config(&t, NULL, 0, &c, &err), 0);
    CU_ASSERT_EQUAL(c ? c->mqtt.password_len : 0, 511);
    config_free(c);
    write_file(t.password, longest, sizeof(longest), 0640);
    CU_ASSERT_EQUAL(load_tls_config(&t, NULL, 0, &c, &err), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "is longer than 511 bytes"));
    tls_files_remove(&t);
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("good configs", NULL, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "demo example parses with its values", test_demo_example_parses_with_its_values);
    CU_add_test(s, "minimal config gets the documented defaults",
                test_minimal_config_gets_the_documented_defaults);
    CU_add_test(s, "explicit values and derived defaults",
                test_explicit_values_and_derived_defaults);
    CU_add_test(s, "byte order mark and whitespace are accepted",
                test_byte_order_mark_and_whitespace_are_accepted);

    s = CU_add_suite("bad configs", NULL, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "bad configs name the path and the expectation",
                test_bad_configs_name_the_path_and_the_expectation);

    s = CU_add_suite("reading", NULL, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "two-point calibration and certificate", test_two_point_calibration_and_certificate);
    CU_add_test(s, "unreadable file says why", test_unreadable_file_says_why);
    CU_add_test(s, "file over one MiB is refused", test_file_over_one_mib_is_refused);
    CU_add_test(s, "text is not read past its length", test_text_is_not_read_past_its_length);

    s = CU_add_suite("mqtt security", NULL, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "TLS and user keys parse with their defaults",
                test_tls_and_user_keys_parse_with_their_defaults);
    CU_add_test(s, "bad TLS and user keys name the path", test_bad_tls_and_user_keys_name_the_path);
    CU_add_test(s, "password is read from its file without the newline",
                test_password_is_read_from_its_file_without_the_newline);
    CU_add_test(s, "files named by the config are checked at load",
                test_files_named_by_the_config_are_checked_at_load);
    return CU_get_error();
}
