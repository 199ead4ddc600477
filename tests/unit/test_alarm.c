/* The threshold alarm: condition forms, the continuous delay, hysteresis, through the rules
 * engine with one shipment, one sensor and one alarm. Time is an argument: every timestamp here
 * is a literal. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <string.h>

#include "alarm.h"
#include "cunit_main.h"
#include "reading.h"
#include "rules.h"

static struct alarm_def heat(double limit, double hysteresis, int64_t delay_ms)
{
    struct alarm_def d = {.quantity = QUANTITY_TEMPERATURE, .condition = ALARM_ABOVE,
                          .limit = limit, .hysteresis = hysteresis, .delay_ms = delay_ms,
                          .severity = ALARM_CRITICAL};
    strcpy(d.id, "heat");
    return d;
}

/* One instance of def, fed through rules_feed(). The rules object of the current test is freed
 * by the next one_init() and by the suite's cleanup. */
struct one {
    const struct alarm_instance *i;
};

static struct rules *current;

static void one_init(struct one *o, const struct alarm_def *def)
{
    static const char ids[1][READING_SENSOR_ID_MAX] = {"probe"};
    const struct rules_shipment_def sd = {.id = "s", .alarms = def, .alarm_count = 1,
                                          .sensor_ids = ids, .sensor_count = 1};
    rules_free(current);
    current = NULL;
    CU_ASSERT_EQUAL_FATAL(rules_new(&sd, 1, &current), 0);
    o->i = rules_instance(current, 0, 0, 0);
}

/* Feeds one reading; returns 1 with the (single) event, or 0 when nothing was announced. */
static int one_feed(struct one *o, double value, int64_t ts_ms, struct alarm_event *ev_out)
{
    (void)o;
    struct rules_event events[32];
    struct reading r = {.sensor_id = "probe", .quantity = QUANTITY_TEMPERATURE,
                        .value = value, .ts_ms = ts_ms};
    int n = rules_feed(current, &r, events, 32);
    CU_ASSERT(n >= 0 && n <= 1);
    if (n == 1)
        *ev_out = events[0].ev;
    return n;
}

static int cleanup(void)
{
    rules_free(current);
    current = NULL;
    return 0;
}

/* Feeds (ts_ms, value) pairs; returns the index of the first reading that produced an event of
 * the wanted transition, or -1. */
struct step {
    int64_t ts_ms;
    double value;
};

static int first_transition(struct one *inst, const struct step *steps, size_t n,
                            enum alarm_transition want, struct alarm_event *ev_out)
{
    for (size_t i = 0; i < n; i++) {
        struct alarm_event ev;
        if (one_feed(inst, steps[i].value, steps[i].ts_ms, &ev) == 1 &&
            ev.transition == want) {
            *ev_out = ev;
            return (int)i;
        }
    }
    return -1;
}

static void test_heat_alarm_fires_exactly_at_delay(void)
{
    struct alarm_def def = heat(8.0, 0.5, 10 * 60 * 1000);
    struct one inst;
    one_init(&inst, &def);
    const struct step steps[] = {
        {0, 5.0}, {60000, 8.1}, {300000, 9.0}, {659999, 9.5}, {660000, 9.2}, {720000, 9.4},
    };
    struct alarm_event ev;
    int i = first_transition(&inst, steps, 6, ALARM_RAISED, &ev);
    CU_ASSERT_EQUAL(i, 4); /* 8.1 at 60 s + 10 min = 660 s, not one ms earlier */
    CU_ASSERT_EQUAL(ev.since_ms, 60000);
    CU_ASSERT_EQUAL(ev.ts_ms, 660000);
    CU_ASSERT_DOUBLE_EQUAL(ev.value, 9.2, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(ev.worst, 9.5, 1e-9);
    CU_ASSERT_EQUAL(inst.i->state, ALARM_ACTIVE);
}

static void test_dip_below_limit_restarts_the_delay(void)
{
    struct alarm_def def = heat(8.0, 0.5, 10000);
    struct one inst;
    one_init(&inst, &def);
    const struct step steps[] = {
        {0, 8.5}, {9000, 8.6}, {9500, 7.9} /* break */, {10000, 8.5}, {19000, 8.5}, {20000, 8.5},
    };
    struct alarm_event ev;
    int i = first_transition(&inst, steps, 6, ALARM_RAISED, &ev);
    CU_ASSERT_EQUAL(i, 5);
    CU_ASSERT_EQUAL(ev.since_ms, 10000);
}

static void test_zero_delay_raises_on_first_reading(void)
{
    struct alarm_def def = heat(8.0, 0.0, 0);
    struct one inst;
    one_init(&inst, &def);
    struct alarm_event ev;
    CU_ASSERT_EQUAL(one_feed(&inst, 8.0, 1000, &ev), 0); /* above: 8.0 is not > 8.0 */
    CU_ASSERT_EQUAL(one_feed(&inst, 8.01, 2000, &ev), 1);
    CU_ASSERT_EQUAL(ev.transition, ALARM_RAISED);
    CU_ASSERT_EQUAL(ev.since_ms, 2000);
}

static void test_hysteresis_keeps_alarm_active_until_band_is_left(void)
{
    struct alarm_def def = heat(8.0, 0.5, 0);
    struct one inst;
    one_init(&inst, &def);
    struct alarm_event ev;
    CU_ASSERT_EQUAL(one_feed(&inst, 9.0, 0, &ev), 1);
    CU_ASSERT_EQUAL(one_feed(&inst, 7.9, 1000, &ev), 0); /* inside the band */
    CU_ASSERT_EQUAL(one_feed(&inst, 7.6, 2000, &ev), 0);
    CU_ASSERT_EQUAL(inst.i->state, ALARM_ACTIVE);
    CU_ASSERT_EQUAL(one_feed(&inst, 7.5, 3000, &ev), 1); /* limit - hysteresis */
    CU_ASSERT_EQUAL(ev.transition, ALARM_CLEARED);
    CU_ASSERT_EQUAL(ev.since_ms, 0);
    CU_ASSERT_DOUBLE_EQUAL(ev.worst, 9.0, 1e-9);
    CU_ASSERT_EQUAL(inst.i->state, ALARM_NORMAL);
}

static void test_pending_alarm_does_not_use_hysteresis(void)
{
    struct alarm_def def = heat(8.0, 2.0, 5000);
    struct one inst;
    one_init(&inst, &def);
    struct alarm_event ev;
    CU_ASSERT_EQUAL(one_feed(&inst, 8.5, 0, &ev), 0);
    CU_ASSERT_EQUAL(inst.i->state, ALARM_PENDING);
    CU_ASSERT_EQUAL(one_feed(&inst, 7.9, 1000, &ev), 0); /* back in range: no event */
    CU_ASSERT_EQUAL(inst.i->state, ALARM_NORMAL);
}

/* Standards differ on whether the limit itself is an excursion (WHO "at or below -0.5 °C"). */
static void test_condition_forms_at_the_limit(void)
{
    static const struct {
        enum alarm_condition condition;
        double value;
        bool met;
    } rows[] = {
        {ALARM_ABOVE, 8.0, false},       {ALARM_ABOVE, 8.0001, true},
        {ALARM_AT_OR_ABOVE, 8.0, true},  {ALARM_AT_OR_ABOVE, 7.9999, false},
        {ALARM_BELOW, 8.0, false},       {ALARM_BELOW, 7.9999, true},
        {ALARM_AT_OR_BELOW, 8.0, true},  {ALARM_AT_OR_BELOW, 8.0001, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct alarm_def def = heat(8.0, 0, 0);
        def.condition = rows[i].condition;
        CU_ASSERT_EQUAL(alarm_condition_met(&def, rows[i].value), rows[i].met);
    }
}

static void test_freeze_alarm_clears_above_limit_plus_hysteresis(void)
{
    struct alarm_def def = heat(-0.5, 0.5, 60 * 60 * 1000);
    def.condition = ALARM_AT_OR_BELOW;
    struct one inst;
    one_init(&inst, &def);
    struct alarm_event ev;
    CU_ASSERT_EQUAL(one_feed(&inst, -0.5, 0, &ev), 0);
    CU_ASSERT_EQUAL(one_feed(&inst, -2.0, 1800000, &ev), 0);
    CU_ASSERT_EQUAL(one_feed(&inst, -1.0, 3600000, &ev), 1);
    CU_ASSERT_DOUBLE_EQUAL(ev.worst, -2.0, 1e-9); /* the coldest value, not the warmest */
    CU_ASSERT_EQUAL(one_feed(&inst, 0.0, 3700000, &ev), 0); /* 0.0 is not > 0.0 */
    CU_ASSERT_EQUAL(one_feed(&inst, 0.1, 3800000, &ev), 1);
    CU_ASSERT_EQUAL(ev.transition, ALARM_CLEARED);
}

static void test_out_of_order_reading_breaks_continuity(void)
{
    struct alarm_def def = heat(8.0, 0, 10000);
    struct one inst;
    one_init(&inst, &def);
    struct alarm_event ev;
    CU_ASSERT_EQUAL(one_feed(&inst, 9.0, 50000, &ev), 0);
    /* A clock step backwards: the excursion restarts at the older time, so the delay is never
     * shortened by a wall-clock jump. */
    CU_ASSERT_EQUAL(one_feed(&inst, 9.0, 40000, &ev), 0);
    CU_ASSERT_EQUAL(inst.i->since_ms, 40000);
    CU_ASSERT_EQUAL(one_feed(&inst, 9.0, 50000, &ev), 1);
}

static void test_names_round_trip(void)
{
    enum alarm_condition c;
    CU_ASSERT_EQUAL(alarm_condition_parse("at_or_below", &c), 0);
    CU_ASSERT_EQUAL(c, ALARM_AT_OR_BELOW);
    CU_ASSERT_STRING_EQUAL(alarm_condition_name(c), "at_or_below");
    CU_ASSERT_NOT_EQUAL(alarm_condition_parse("over", &c), 0);
    enum alarm_severity s;
    CU_ASSERT_EQUAL(alarm_severity_parse("warning", &s), 0);
    CU_ASSERT_EQUAL(s, ALARM_WARNING);
    CU_ASSERT_NOT_EQUAL(alarm_severity_parse("Critical", &s), 0);
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("alarm", NULL, cleanup);
    if (!s)
        return -1;
    CU_add_test(s, "heat alarm fires exactly at the delay", test_heat_alarm_fires_exactly_at_delay);
    CU_add_test(s, "a dip below the limit restarts the delay", test_dip_below_limit_restarts_the_delay);
    CU_add_test(s, "zero delay raises on the first reading", test_zero_delay_raises_on_first_reading);
    CU_add_test(s, "hysteresis keeps the alarm active inside the band",
                test_hysteresis_keeps_alarm_active_until_band_is_left);
    CU_add_test(s, "a pending alarm does not use hysteresis", test_pending_alarm_does_not_use_hysteresis);
    CU_add_test(s, "condition forms at the limit", test_condition_forms_at_the_limit);
    CU_add_test(s, "freeze alarm clears above limit plus hysteresis",
                test_freeze_alarm_clears_above_limit_plus_hysteresis);
    CU_add_test(s, "an out-of-order reading breaks continuity", test_out_of_order_reading_breaks_continuity);
    CU_add_test(s, "names round-trip", test_names_round_trip);
    return CU_get_error() == CUE_SUCCESS ? 0 : -1;
}
