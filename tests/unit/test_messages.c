/* The MQTT payloads of docs/mqtt.md, parsed back with cJSON and checked field by field. */
#include <CUnit/CUnit.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "cunit_main.h"
#include "messages.h"

static cJSON *parse_and_free(char *text)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    cJSON *json = cJSON_Parse(text);
    free(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(json);
    return json;
}

static const char *str(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : "(not a string)";
}

static double num(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(item) ? item->valuedouble : (double)NAN;
}

static void test_status_online_and_offline(void)
{
    cJSON *j = parse_and_free(messages_status("gw-1", "offline", "shutdown", 1700000000000,
                                              1700000065500));
    CU_ASSERT_STRING_EQUAL(str(j, "gateway"), "gw-1");
    CU_ASSERT_STRING_EQUAL(str(j, "state"), "offline");
    CU_ASSERT_STRING_EQUAL(str(j, "reason"), "shutdown");
    CU_ASSERT_STRING_EQUAL(str(j, "started"), "2023-11-14T22:13:20.000Z");
    CU_ASSERT_STRING_EQUAL(str(j, "ts"), "2023-11-14T22:14:25.500Z");
    CU_ASSERT_DOUBLE_EQUAL(num(j, "uptime_s"), 65, 1e-9);
    cJSON_Delete(j);
    j = parse_and_free(messages_status("gw-1", "online", NULL, 0, 0));
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(j, "reason"));
    cJSON_Delete(j);
}

static void test_telemetry_fault_has_null_value_and_flag(void)
{
    struct reading r[2] = {
        {.sensor_id = "fridge-a", .quantity = QUANTITY_TEMPERATURE, .value = 51 * 0.1,
         .ts_ms = 1700000000123},
        {.sensor_id = "fridge-a", .quantity = QUANTITY_HUMIDITY, .value = 45.0,
         .ts_ms = 1700000000123, .flags = READING_FAULT | READING_UNSYNCED},
    };
    char *text = messages_telemetry("gw-1", r, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    /* 51 × 0.1 is 5.1000000000000005 in binary; people must read 5.1. */
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"value\":5.1,"));
    cJSON *j = parse_and_free(text);
    const cJSON *readings = cJSON_GetObjectItemCaseSensitive(j, "readings");
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(readings), 2);
    const cJSON *t = cJSON_GetArrayItem(readings, 0);
    CU_ASSERT_STRING_EQUAL(str(t, "quantity"), "temperature");
    CU_ASSERT_STRING_EQUAL(str(t, "unit"), "°C");
    CU_ASSERT_STRING_EQUAL(str(t, "ts"), "2023-11-14T22:13:20.123Z");
    CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "flags")), 0);
    const cJSON *h = cJSON_GetArrayItem(readings, 1);
    CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(h, "value")));
    const cJSON *flags = cJSON_GetObjectItemCaseSensitive(h, "flags");
    CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(flags), 2);
    CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(flags, 0)->valuestring, "fault");
    CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(flags, 1)->valuestring, "unsynced");
    cJSON_Delete(j);
}

static void test_alert_carries_what_a_pharmacist_needs(void)
{
    struct alarm_def def = {.id = "heat", .quantity = QUANTITY_TEMPERATURE,
                            .condition = ALARM_ABOVE, .limit = 8.0, .hysteresis = 0.5,
                            .delay_ms = 300000, .severity = ALARM_CRITICAL,
                            .message = "Fridge above 8 °C", .action = "Keep the door shut"};
    struct alarm_event ev = {.transition = ALARM_RAISED, .isa_state = ALARM_ISA_UNACKED,
                             .notify = true, .ts_ms = 1700000300000, .value = 8.6,
                             .worst = 9.25, .since_ms = 1700000000000};
    struct messages_alert a = {.gateway_id = "gw-1", .id = "id-1", .seq = 42,
                               .shipment_id = "ship-1", .sensor_id = "fridge-a", .def = &def,
                               .ev = &ev};
    cJSON *j = parse_and_free(messages_alert(&a));
    CU_ASSERT_STRING_EQUAL(str(j, "id"), "id-1");
    CU_ASSERT_DOUBLE_EQUAL(num(j, "seq"), 42, 0);
    CU_ASSERT_STRING_EQUAL(str(j, "shipment"), "ship-1");
    CU_ASSERT_STRING_EQUAL(str(j, "sensor"), "fridge-a");
    CU_ASSERT_STRING_EQUAL(str(j, "alarm"), "heat");
    CU_ASSERT_STRING_EQUAL(str(j, "transition"), "raised");
    CU_ASSERT_STRING_EQUAL(str(j, "state"), "active");
    CU_ASSERT_STRING_EQUAL(str(j, "severity"), "critical");
    CU_ASSERT_STRING_EQUAL(str(j, "condition"), "above");
    CU_ASSERT_DOUBLE_EQUAL(num(j, "value"), 8.6, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(num(j, "worst"), 9.25, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(num(j, "limit"), 8.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(num(j, "delay_s"), 300, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(num(j, "duration_s"), 300, 1e-9);
    CU_ASSERT_STRING_EQUAL(str(j, "since"), "2023-11-14T22:13:20.000Z");
    CU_ASSERT_STRING_EQUAL(str(j, "message"), "Fridge above 8 °C");
    CU_ASSERT_STRING_EQUAL(str(j, "action"), "Keep the door shut");
    cJSON_Delete(j);
}

/* Stale and calibration alarms watch the whole sensor (no quantity) and have no value: their
 * alerts must still be built, or they would be neither recorded nor published. */
static void test_alerts_of_sensor_wide_kinds_are_built(void)
{
    static const struct {
        enum alarm_kind kind;
        enum alarm_transition transition;
        int64_t amount_ms;
        const char *amount_key;
    } rows[] = {
        {ALARM_KIND_STALE, ALARM_RAISED, 1200000, "silent_s"},
        {ALARM_KIND_STALE, ALARM_CLEARED, 4200000, "silent_s"},
        {ALARM_KIND_CALIBRATION, ALARM_RAISED, 90LL * 86400000, "due_in_s"},
        {ALARM_KIND_CALIBRATION, ALARM_RENOTIFIED, 0, "due_in_s"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct alarm_def def = {.id = "probe-silent", .kind = (uint8_t)rows[i].kind,
                                .quantity = QUANTITY_COUNT, .severity = ALARM_WARNING,
                                .stale_ms = 1200000, .message = "No reading"};
        struct alarm_event ev = {.transition = (uint8_t)rows[i].transition,
                                 .isa_state = ALARM_ISA_UNACKED, .notify = true,
                                 .ts_ms = 1700000000000, .value = (double)NAN,
                                 .worst = (double)NAN, .amount_ms = rows[i].amount_ms};
        struct messages_alert a = {.gateway_id = "gw-1", .id = "id-2", .seq = 7,
                                   .shipment_id = "ship-1", .sensor_id = "probe-2",
                                   .def = &def, .ev = &ev};
        cJSON *j = parse_and_free(messages_alert(&a));
        CU_ASSERT_PTR_NOT_NULL_FATAL(j);
        CU_ASSERT_STRING_EQUAL(str(j, "quantity"), "any");
        CU_ASSERT_STRING_EQUAL(str(j, "kind"), alarm_kind_name(rows[i].kind));
        CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "value")));
        CU_ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "since")));
        CU_ASSERT_DOUBLE_EQUAL(num(j, rows[i].amount_key), (double)(rows[i].amount_ms / 1000),
                               0);
        cJSON_Delete(j);
    }
}

static void test_uuids_are_version_4_and_distinct(void)
{
    char a[37], b[37];
    CU_ASSERT_EQUAL(messages_uuid(a, sizeof(a)), 0);
    CU_ASSERT_EQUAL(messages_uuid(b, sizeof(b)), 0);
    CU_ASSERT_EQUAL(strlen(a), 36);
    CU_ASSERT_EQUAL(a[14], '4');
    CU_ASSERT(strchr("89ab", a[19]) != NULL);
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
    CU_ASSERT_NOT_EQUAL(messages_uuid(a, 36), 0);
}

static void test_twin_reports_sensors_summaries_and_alarms(void)
{
    static const char json[] =
        "{\"gateway_id\":\"gw-1\",\"mqtt\":{\"uri\":\"tcp://127.0.0.1:1883\"},"
        "\"sensors\":[{\"id\":\"fridge-a\",\"name\":\"Fridge A\",\"certificate\":\"CAL-7\","
        "\"calibration_due\":\"2027-03-01\"}],"
        "\"buses\":[{\"name\":\"bus0\",\"type\":\"modbus-tcp\",\"host\":\"127.0.0.1\","
        "\"port\":1502,\"devices\":[{\"unit_id\":1,\"points\":[{\"sensor\":\"fridge-a\","
        "\"quantity\":\"temperature\",\"address\":1}]}]}],"
        "\"profiles\":{\"fridge\":{\"alarms\":[{\"id\":\"heat\",\"quantity\":\"temperature\","
        "\"condition\":\"above\",\"limit\":8,\"message\":\"Too warm\"}]}},"
        "\"shipments\":[{\"id\":\"ship-1\",\"profile\":\"fridge\",\"sensors\":[\"fridge-a\"]}]}";
    struct config *cfg = NULL;
    struct cfg_error err = {0};
    CU_ASSERT_EQUAL_FATAL(config_parse(json, sizeof(json) - 1, "test", 0, &cfg, &err), 0);
    const struct config_shipment *s = &cfg->shipments[0];
    const struct config_profile *p = &cfg->profiles[s->profile];
    struct rules_shipment_def def = {.id = s->id, .alarms = p->alarms,
                                     .alarm_count = p->alarm_count,
                                     .sensor_ids = (const char(*)[READING_SENSOR_ID_MAX])s->sensor_ids,
                                     .sensor_count = s->sensor_count};
    struct rules *rules = NULL;
    CU_ASSERT_EQUAL_FATAL(rules_new(&def, 1, &rules), 0);
    struct rules_event ev[32];
    struct reading r = {.sensor_id = "fridge-a", .quantity = QUANTITY_TEMPERATURE, .value = 5.0,
                        .ts_ms = 1700000000000};
    rules_feed(rules, &r, ev, 32);
    r.value = 9.0;
    r.ts_ms += 60000;
    CU_ASSERT_EQUAL(rules_feed(rules, &r, ev, 32), 1);

    struct messages_health health = {.started_ms = 1700000000000, .broker_connected = true,
                                     .clock_synced = false, .outbox = 3, .outbox_dropped = 7,
                                     .buses = 2};
    cJSON *j = parse_and_free(
        messages_twin(cfg, 0, rules, 1690000000000, 1700000060000, &health));
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "health");
    CU_ASSERT_EQUAL(num(h, "uptime_s"), 60);
    CU_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "broker_connected")));
    CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(h, "clock_synced")));
    CU_ASSERT_EQUAL(num(h, "outbox"), 3);
    CU_ASSERT_EQUAL(num(h, "outbox_dropped"), 7);
    CU_ASSERT_EQUAL(num(h, "buses"), 2);
    const cJSON *ship = cJSON_GetObjectItemCaseSensitive(j, "shipment");
    CU_ASSERT_STRING_EQUAL(str(ship, "id"), "ship-1");
    CU_ASSERT_STRING_EQUAL(str(ship, "kind"), "storage");
    CU_ASSERT_STRING_EQUAL(str(ship, "profile"), "fridge");
    const cJSON *sensor = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "sensors"), 0);
    CU_ASSERT_STRING_EQUAL(str(sensor, "name"), "Fridge A");
    CU_ASSERT_STRING_EQUAL(str(sensor, "last_seen"), "2023-11-14T22:14:20.000Z");
    const cJSON *cal = cJSON_GetObjectItemCaseSensitive(sensor, "calibration");
    CU_ASSERT_STRING_EQUAL(str(cal, "certificate"), "CAL-7");
    CU_ASSERT_STRING_EQUAL(str(cal, "due"), "2027-03-01T00:00:00.000Z");
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(sensor, "summary"), "temperature");
    CU_ASSERT_DOUBLE_EQUAL(num(sum, "count"), 2, 0);
    CU_ASSERT_DOUBLE_EQUAL(num(sum, "min"), 5.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(num(sum, "max"), 9.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(num(sum, "mean"), 7.0, 1e-9);
    CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(sensor, "summary"), "humidity"));
    const cJSON *alarm = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "alarms"), 0);
    CU_ASSERT_STRING_EQUAL(str(alarm, "alarm"), "heat");
    CU_ASSERT_STRING_EQUAL(str(alarm, "state"), "active");
    CU_ASSERT_STRING_EQUAL(str(alarm, "since"), "2023-11-14T22:14:20.000Z");
    CU_ASSERT_DOUBLE_EQUAL(num(j, "active_alarms"), 1, 0);
    cJSON_Delete(j);
    rules_free(rules);
    config_free(cfg);
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("messages", NULL, NULL);
    if (!s)
        return -1;
    CU_add_test(s, "status online and offline", test_status_online_and_offline);
    CU_add_test(s, "telemetry: a fault has a null value and the fault flag",
                test_telemetry_fault_has_null_value_and_flag);
    CU_add_test(s, "an alert carries what a pharmacist needs",
                test_alert_carries_what_a_pharmacist_needs);
    CU_add_test(s, "alerts of sensor-wide kinds (stale, calibration) are built",
                test_alerts_of_sensor_wide_kinds_are_built);
    CU_add_test(s, "uuids are version 4 and distinct", test_uuids_are_version_4_and_distinct);
    CU_add_test(s, "the twin reports sensors, summaries and alarms",
                test_twin_reports_sensors_summaries_and_alarms);
    return CU_get_error() == CUE_SUCCESS ? 0 : -1;
}
