/* Alarm instances per (shipment, alarm, sensor) and the condition summaries. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "cunit_main.h"
#include "rules.h"

static const char sensors_ab[2][READING_SENSOR_ID_MAX] = {"probe-a", "probe-b"};
static const char sensors_b[1][READING_SENSOR_ID_MAX] = {"probe-b"};

static struct alarm_def alarms[2];

static struct rules *make_rules(void)
{
    memset(alarms, 0, sizeof(alarms));
    strcpy(alarms[0].id, "heat");
    alarms[0].quantity = QUANTITY_TEMPERATURE;
    alarms[0].condition = ALARM_ABOVE;
    alarms[0].limit = 8.0;
    strcpy(alarms[1].id, "dry");
    alarms[1].quantity = QUANTITY_HUMIDITY;
    alarms[1].condition = ALARM_BELOW;
    alarms[1].limit = 20.0;
    const struct rules_shipment_def defs[2] = {
        {.id = "fridge", .alarms = alarms, .alarm_count = 2, .sensor_ids = sensors_ab,
         .sensor_count = 2},
        {.id = "truck", .alarms = alarms, .alarm_count = 1, .sensor_ids = sensors_b,
         .sensor_count = 1},
    };
    struct rules *rules = NULL;
    CU_ASSERT_EQUAL_FATAL(rules_new(defs, 2, &rules), 0);
    return rules;
}

static struct reading reading(const char *sensor, uint8_t quantity, double value, int64_t ts_ms,
                              uint8_t flags)
{
    struct reading r = {.quantity = quantity, .value = value, .ts_ms = ts_ms, .flags = flags};
    strcpy(r.sensor_id, sensor);
    return r;
}

static void test_reading_reaches_every_shipment_of_its_sensor(void)
{
    struct rules *rules = make_rules();
    struct rules_event ev[128];
    /* 5 instances, at most 25 events each in one call (rules.c), and one spare. */
    CU_ASSERT_EQUAL(rules_max_events(rules), 126);
    struct reading r = reading("probe-b", QUANTITY_TEMPERATURE, 9.0, 1000, 0);
    int n = rules_feed(rules, &r, ev, 128);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(ev[0].shipment, 0);
    CU_ASSERT_EQUAL(ev[0].sensor, 1);
    CU_ASSERT_EQUAL(ev[0].alarm, 0);
    CU_ASSERT_EQUAL(ev[1].shipment, 1);
    CU_ASSERT_EQUAL(ev[1].sensor, 0);
    CU_ASSERT_EQUAL(rules_instance(rules, 0, 0, 1)->state, ALARM_ACTIVE);
    CU_ASSERT_EQUAL(rules_instance(rules, 0, 0, 0)->state, ALARM_NORMAL); /* probe-a untouched */
    rules_free(rules);
}

static void test_alarm_watches_only_its_quantity(void)
{
    struct rules *rules = make_rules();
    struct rules_event ev[128];
    struct reading r = reading("probe-a", QUANTITY_HUMIDITY, 15.0, 1000, 0);
    CU_ASSERT_EQUAL(rules_feed(rules, &r, ev, 128), 1);
    CU_ASSERT_STRING_EQUAL(alarms[ev[0].alarm].id, "dry");
    rules_free(rules);
}

static void test_fault_reading_keeps_alarm_state_and_counts_fault(void)
{
    struct rules *rules = make_rules();
    struct rules_event ev[128];
    struct reading hot = reading("probe-a", QUANTITY_TEMPERATURE, 9.0, 1000, 0);
    CU_ASSERT_EQUAL(rules_feed(rules, &hot, ev, 128), 1);
    struct reading fault = reading("probe-a", QUANTITY_TEMPERATURE, (double)NAN, 2000, READING_FAULT);
    CU_ASSERT_EQUAL(rules_feed(rules, &fault, ev, 128), 0);
    /* A probe that fell off the bus is not evidence that the fridge cooled down. */
    CU_ASSERT_EQUAL(rules_instance(rules, 0, 0, 0)->state, ALARM_ACTIVE);
    const struct rules_summary *s = rules_summary(rules, 0, 0, QUANTITY_TEMPERATURE);
    CU_ASSERT_EQUAL(s->count, 1);
    CU_ASSERT_EQUAL(s->fault_count, 1);
    CU_ASSERT(isnan(s->last_value));
    CU_ASSERT_EQUAL(s->last_ts_ms, 2000);
    CU_ASSERT_EQUAL(s->last_flags, READING_FAULT);
    rules_free(rules);
}

static void test_summary_min_max_mean(void)
{
    struct rules *rules = make_rules();
    struct rules_event ev[128];
    const double values[] = {4.0, 6.0, 2.5, 7.5};
    for (int i = 0; i < 4; i++) {
        struct reading r = reading("probe-a", QUANTITY_TEMPERATURE, values[i], 1000 * i, 0);
        CU_ASSERT_EQUAL(rules_feed(rules, &r, ev, 128), 0);
    }
    const struct rules_summary *s = rules_summary(rules, 0, 0, QUANTITY_TEMPERATURE);
    CU_ASSERT_EQUAL(s->count, 4);
    CU_ASSERT_DOUBLE_EQUAL(s->min, 2.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s->max, 7.5, 1e-12);
    /* Evenly spaced: the time-weighted mean is the plain mean. */
    CU_ASSERT_DOUBLE_EQUAL(s->mean, 5.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(s->last_value, 7.5, 1e-12);
    CU_ASSERT(isnan(rules_summary(rules, 0, 0, QUANTITY_HUMIDITY)->min));
    CU_ASSERT_PTR_NULL(rules_summary(rules, 0, 2, QUANTITY_TEMPERATURE));
    rules_free(rules);
}

static void test_unknown_sensor_changes_nothing(void)
{
    struct rules *rules = make_rules();
    struct rules_event ev[128];
    struct reading r = reading("probe-z", QUANTITY_TEMPERATURE, 30.0, 1000, 0);
    CU_ASSERT_EQUAL(rules_feed(rules, &r, ev, 128), 0);
    CU_ASSERT_EQUAL(rules_summary(rules, 0, 0, QUANTITY_TEMPERATURE)->count, 0);
    rules_free(rules);
}

static void test_small_event_buffer_is_refused(void)
{
    struct rules *rules = make_rules();
    struct rules_event ev[2];
    struct reading r = reading("probe-b", QUANTITY_TEMPERATURE, 9.0, 1000, 0);
    CU_ASSERT_EQUAL(rules_feed(rules, &r, ev, 2), -ENOSPC);
    rules_free(rules);
}

/* After a restart the engine replays the history into fresh rules and reconciles them with
 * what was announced: an alarm announced active is not raised a second time, and clears later. */
static void test_reconciled_active_alarm_is_not_raised_again(void)
{
    struct rules *rules = make_rules();
    struct rules_event ev[128];
    struct alarm_event aev;
    struct reading r = reading("probe-a", QUANTITY_TEMPERATURE, 9.5, 500, 0);
    CU_ASSERT_EQUAL(rules_feed(rules, &r, ev, 128), 1); /* replayed: raised before the restart */
    CU_ASSERT_EQUAL(rules_reconcile(rules, 0, 0, 0, ALARM_ISA_UNACKED, 0, 900, &aev), 0);
    CU_ASSERT_EQUAL(rules_reconcile(rules, 0, 5, 0, ALARM_ISA_UNACKED, 0, 900, &aev), -EINVAL);
    r = reading("probe-a", QUANTITY_TEMPERATURE, 9.0, 1000, 0);
    CU_ASSERT_EQUAL(rules_feed(rules, &r, ev, 128), 0);
    r.value = 7.0;
    r.ts_ms = 2000;
    CU_ASSERT_EQUAL_FATAL(rules_feed(rules, &r, ev, 128), 1);
    CU_ASSERT_EQUAL(ev[0].ev.transition, ALARM_CLEARED);
    CU_ASSERT_EQUAL(ev[0].ev.since_ms, 500);
    CU_ASSERT_DOUBLE_EQUAL(ev[0].ev.worst, 9.5, 1e-12);
    CU_ASSERT_EQUAL(ev[0].ev.isa_state, ALARM_ISA_RTN_UNACKED);
    rules_free(rules);
}

/* The history says active, but nobody was told (it happened while the gateway was down): it is
 * raised now. Told active, but the history says it ended: it is cleared now. */
static void test_reconcile_announces_what_was_missed(void)
{
    struct rules *rules = make_rules();
    struct rules_event ev[128];
    struct alarm_event aev;
    struct reading r = reading("probe-a", QUANTITY_TEMPERATURE, 9.5, 500, 0);
    CU_ASSERT_EQUAL(rules_feed(rules, &r, ev, 128), 1);
    CU_ASSERT_EQUAL_FATAL(rules_reconcile(rules, 0, 0, 0, ALARM_ISA_NORMAL, 0, 900, &aev), 1);
    CU_ASSERT_EQUAL(aev.transition, ALARM_RAISED);
    CU_ASSERT_EQUAL(aev.isa_state, ALARM_ISA_UNACKED);
    CU_ASSERT_EQUAL(aev.ts_ms, 900);
    CU_ASSERT_EQUAL_FATAL(rules_reconcile(rules, 0, 0, 1, ALARM_ISA_ACKED, 0, 900, &aev), 1);
    CU_ASSERT_EQUAL(aev.transition, ALARM_CLEARED);
    CU_ASSERT_EQUAL(aev.isa_state, ALARM_ISA_NORMAL);
    rules_free(rules);
}

/* What the local buzzer shows: an unacknowledged critical alarm, then (acked) an active one,
 * nothing once it is over; a shelved alarm sounds nothing. */
static void test_alert_flags_follow_the_lifecycle(void)
{
    struct rules *rules = make_rules();
    struct rules_event ev[128];
    struct alarm_event aev;
    CU_ASSERT_EQUAL(rules_alert_flags(rules, 0), 0);
    struct reading r = reading("probe-a", QUANTITY_TEMPERATURE, 9.0, 1000, 0);
    CU_ASSERT_EQUAL(rules_feed(rules, &r, ev, 128), 1);
    /* make_rules() leaves severity 0: warning. */
    CU_ASSERT_EQUAL(rules_alert_flags(rules, 1000), RULES_ALERT_ACTIVE);
    rules_free(rules);

    alarms[0].severity = ALARM_CRITICAL;
    const struct rules_shipment_def def = {.id = "f", .alarms = alarms, .alarm_count = 1,
                                           .sensor_ids = sensors_b, .sensor_count = 1};
    CU_ASSERT_EQUAL_FATAL(rules_new(&def, 1, &rules), 0);
    r = reading("probe-b", QUANTITY_TEMPERATURE, 9.0, 1000, 0);
    CU_ASSERT_EQUAL(rules_feed(rules, &r, ev, 128), 1);
    CU_ASSERT_EQUAL(rules_alert_flags(rules, 1000), RULES_ALERT_CRITICAL_UNACKED);
    CU_ASSERT_EQUAL(rules_ack(rules, 0, 0, 0, 2000, &aev), 0);
    CU_ASSERT_EQUAL(rules_alert_flags(rules, 2000), RULES_ALERT_ACTIVE);
    CU_ASSERT_EQUAL(rules_shelve(rules, 0, 0, 0, 3000, 9000, &aev), 0);
    CU_ASSERT_EQUAL(rules_alert_flags(rules, 3000), 0);
    CU_ASSERT_EQUAL(rules_alert_flags(rules, 9000), RULES_ALERT_ACTIVE); /* the shelf ran out */
    r = reading("probe-b", QUANTITY_TEMPERATURE, 5.0, 10000, 0);
    CU_ASSERT_EQUAL(rules_feed(rules, &r, ev, 128) >= 1, 1);
    CU_ASSERT_EQUAL(rules_alert_flags(rules, 10000), 0);
    rules_free(rules);
}

static void test_shipment_without_sensors_is_invalid(void)
{
    const struct rules_shipment_def def = {.id = "empty", .alarms = alarms, .alarm_count = 1};
    struct rules *rules = NULL;
    CU_ASSERT_EQUAL(rules_new(&def, 1, &rules), -EINVAL);
    CU_ASSERT_EQUAL(rules_new(&def, 0, &rules), -EINVAL);
    CU_ASSERT_PTR_NULL(rules);
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("rules", NULL, NULL);
    if (!s)
        return -1;
    CU_add_test(s, "a reading reaches every shipment of its sensor",
                test_reading_reaches_every_shipment_of_its_sensor);
    CU_add_test(s, "an alarm watches only its quantity", test_alarm_watches_only_its_quantity);
    CU_add_test(s, "a fault keeps the alarm state and counts as a fault",
                test_fault_reading_keeps_alarm_state_and_counts_fault);
    CU_add_test(s, "summary min, max, mean", test_summary_min_max_mean);
    CU_add_test(s, "an unknown sensor changes nothing", test_unknown_sensor_changes_nothing);
    CU_add_test(s, "a too small event buffer is refused", test_small_event_buffer_is_refused);
    CU_add_test(s, "a reconciled active alarm is not raised again",
                test_reconciled_active_alarm_is_not_raised_again);
    CU_add_test(s, "reconcile announces what was missed", test_reconcile_announces_what_was_missed);
    CU_add_test(s, "alert flags follow the lifecycle", test_alert_flags_follow_the_lifecycle);
    CU_add_test(s, "a shipment without sensors is invalid", test_shipment_without_sensors_is_invalid);
    return CU_get_error() == CUE_SUCCESS ? 0 : -1;
}
