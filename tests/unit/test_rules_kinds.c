/* Every alarm kind and its edges, in event time: the semantics of the rules engine
 * (rules/rules.h, rules/alarm.h) held as tables of readings, ticks and operator actions, each with
 * the exact events it must give. Times in the tables are offsets from T0; the events are compared
 * by (transition, ts, alarm, sensor) plus the fields a case names, ordered by time (events of
 * different instances within one call may come in any order). */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "rules.h"

#define SEC INT64_C(1000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
/* 2023-11-14 00:00:00 UTC: a midnight, so daily windows and MKT buckets line up with readings. */
#define T0 INT64_C(1699920000000)

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define LOG_MAX 256

static const char sensor_ids[2][READING_SENSOR_ID_MAX] = {"probe-1", "probe-2"};

/* ---- steps: what happens, in order ------------------------------------------------------- */

enum op { OP_END, OP_READ, OP_FAULT, OP_NAN, OP_TICK, OP_ACK, OP_SHELVE, OP_RESOLVE };
#define QD 0xff /* the quantity of the fixture's first alarm (temperature for stale/calibration) */

struct step {
    uint8_t op;
    uint8_t sensor;
    uint8_t quantity;
    uint8_t alarm; /* operator actions */
    double value;
    int64_t at;  /* from T0 */
    int64_t arg; /* shelve: until (from T0); resolve: the credit */
    int rc;      /* operator actions: the expected return */
};
#define RD(v, t) {.op = OP_READ, .quantity = QD, .value = (v), .at = (t)}
#define RDS(s, q, v, t) {.op = OP_READ, .sensor = (s), .quantity = (q), .value = (v), .at = (t)}
#define FLT(t) {.op = OP_FAULT, .quantity = QD, .at = (t)}
#define NANV(t) {.op = OP_NAN, .quantity = QD, .at = (t)}
#define TK(t) {.op = OP_TICK, .at = (t)}
#define ACK(a, t, r) {.op = OP_ACK, .alarm = (a), .at = (t), .rc = (r)}
#define SHELVE(a, t, until, r) {.op = OP_SHELVE, .alarm = (a), .at = (t), .arg = (until), .rc = (r)}
#define RESOLVE(a, t, credit, r) \
    {.op = OP_RESOLVE, .alarm = (a), .at = (t), .arg = (credit), .rc = (r)}
#define END {.op = OP_END}

/* ---- expected events ---------------------------------------------------------------------- */

enum chk { C_NOTIFY = 1, C_LEVEL = 2, C_AMOUNT = 4, C_ISA = 8, C_VALUE = 16, C_SINCE = 32 };
#define XEND_TR 0xff

struct xev {
    uint8_t tr; /* enum alarm_transition; XEND_TR ends a list */
    uint8_t alarm;
    uint8_t sensor;
    int64_t at; /* from T0 */
    unsigned chk;
    bool notify;
    uint8_t level;
    uint8_t isa;
    int64_t amount;
    double value; /* compared to 1e-9 */
    int64_t since; /* from T0 */
};
#define XEND {.tr = XEND_TR}
#define XR(t) {.tr = ALARM_RAISED, .at = (t)}
#define XC(t) {.tr = ALARM_CLEARED, .at = (t)}

/* ---- the fixture: one shipment ------------------------------------------------------------ */

struct fixture {
    const struct alarm_def *alarms;
    size_t alarm_count;
    size_t sensor_count;           /* 0 means 1 */
    int64_t started_at;            /* from T0 */
    const int64_t *cal_due_ms;     /* absolute, per sensor */
    const int64_t *budget_used_ms; /* per alarm */
    const struct rules_window *suppress;
    size_t suppress_count;
};

struct log {
    struct rules_event ev[LOG_MAX];
    size_t n;
};

static struct rules *make_rules(const struct fixture *fx)
{
    const struct rules_shipment_def def = {
        .id = "ship-1",
        .started_ms = T0 + fx->started_at,
        .alarms = fx->alarms,
        .alarm_count = fx->alarm_count,
        .sensor_ids = sensor_ids,
        .cal_due_ms = fx->cal_due_ms,
        .sensor_count = fx->sensor_count ? fx->sensor_count : 1,
        .budget_used_ms = fx->budget_used_ms,
        .suppress = fx->suppress,
        .suppress_count = fx->suppress_count,
    };
    struct rules *rules = NULL;
    int rc = rules_new(&def, 1, &rules);
    CU_ASSERT_EQUAL(rc, 0);
    return rc == 0 ? rules : NULL;
}

static void log_append(struct log *log, const struct rules_event *ev, size_t n)
{
    for (size_t i = 0; i < n && log->n < LOG_MAX; i++)
        log->ev[log->n++] = ev[i];
}

static void log_op(struct log *log, uint8_t alarm, uint8_t sensor, const struct alarm_event *ev)
{
    const struct rules_event re = {.shipment = 0, .alarm = alarm, .sensor = sensor, .ev = *ev};
    log_append(log, &re, 1);
}

static uint8_t default_quantity(const struct fixture *fx)
{
    uint8_t q = fx->alarm_count ? fx->alarms[0].quantity : QUANTITY_TEMPERATURE;
    return q >= QUANTITY_COUNT ? QUANTITY_TEMPERATURE : q;
}

static void run_steps(struct rules *rules, const struct fixture *fx, const struct step *steps,
                      struct log *log)
{
    const size_t cap = rules_max_events(rules);
    struct rules_event *ev = calloc(cap ? cap : 1, sizeof(*ev));
    if (!ev) {
        CU_FAIL("out of memory");
        return;
    }
    for (const struct step *s = steps; s->op != OP_END; s++) {
        struct alarm_event aev;
        int rc;
        int64_t ts = T0 + s->at;
        if (s->op == OP_READ || s->op == OP_FAULT || s->op == OP_NAN) {
            struct reading r = {
                .quantity = s->quantity == QD ? default_quantity(fx) : s->quantity,
                .flags = s->op == OP_FAULT ? READING_FAULT : 0,
                .value = s->op == OP_READ ? s->value : (double)NAN,
                .ts_ms = ts,
            };
            strcpy(r.sensor_id, sensor_ids[s->sensor]);
            rc = rules_feed(rules, &r, ev, cap);
            CU_ASSERT(rc >= 0);
            if (rc > 0)
                log_append(log, ev, (size_t)rc);
            continue;
        }
        switch (s->op) {
        case OP_TICK:
            rc = rules_tick(rules, ts, ev, cap);
            CU_ASSERT(rc >= 0);
            if (rc > 0)
                log_append(log, ev, (size_t)rc);
            break;
        case OP_ACK:
            rc = rules_ack(rules, 0, s->alarm, s->sensor, ts, &aev);
            CU_ASSERT_EQUAL(rc, s->rc);
            if (rc == 0)
                log_op(log, s->alarm, s->sensor, &aev);
            break;
        case OP_SHELVE:
            rc = rules_shelve(rules, 0, s->alarm, s->sensor, ts, T0 + s->arg, &aev);
            CU_ASSERT_EQUAL(rc, s->rc);
            if (rc == 0)
                log_op(log, s->alarm, s->sensor, &aev);
            break;
        case OP_RESOLVE:
            rc = rules_resolve(rules, 0, s->alarm, s->sensor, ts, s->arg, &aev);
            CU_ASSERT_EQUAL(rc, s->rc);
            if (rc == 0)
                log_op(log, s->alarm, s->sensor, &aev);
            break;
        default:
            CU_FAIL("unknown step");
        }
    }
    free(ev);
}

/* Orders by (ts, alarm, sensor), keeping the emission order of ties. */
static void sort_events(struct rules_event *ev, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct rules_event x = ev[i];
        size_t j = i;
        while (j > 0) {
            const struct rules_event *p = &ev[j - 1];
            bool after = p->ev.ts_ms > x.ev.ts_ms ||
                         (p->ev.ts_ms == x.ev.ts_ms &&
                          (p->shipment > x.shipment ||
                           (p->shipment == x.shipment &&
                            (p->alarm > x.alarm ||
                             (p->alarm == x.alarm && p->sensor > x.sensor)))));
            if (!after)
                break;
            ev[j] = ev[j - 1];
            j--;
        }
        ev[j] = x;
    }
}

static void sort_expected(struct xev *xs, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct xev x = xs[i];
        size_t j = i;
        while (j > 0 && (xs[j - 1].at > x.at ||
                         (xs[j - 1].at == x.at &&
                          (xs[j - 1].alarm > x.alarm ||
                           (xs[j - 1].alarm == x.alarm && xs[j - 1].sensor > x.sensor))))) {
            xs[j] = xs[j - 1];
            j--;
        }
        xs[j] = x;
    }
}

static void print_event(const char *tag, const struct rules_event *e)
{
    fprintf(stderr, "      %s %-12s alarm %" PRIu32 " sensor %" PRIu32 " at T0%+" PRId64
            " ms (%+.3f min) notify %d level %u isa %s amount %" PRId64 " value %.9g since "
            "T0%+" PRId64 "\n",
            tag, alarm_transition_name((enum alarm_transition)e->ev.transition), e->alarm,
            e->sensor, e->ev.ts_ms - T0, (double)(e->ev.ts_ms - T0) / (double)MIN, e->ev.notify,
            e->ev.level, alarm_isa_state_name((enum alarm_isa_state)e->ev.isa_state),
            e->ev.amount_ms, e->ev.value, e->ev.since_ms ? e->ev.since_ms - T0 : 0);
}

static void print_xev(const struct xev *x)
{
    fprintf(stderr, "      want %-12s alarm %u sensor %u at T0%+" PRId64 " ms (%+.3f min)",
            alarm_transition_name((enum alarm_transition)x->tr), x->alarm, x->sensor, x->at,
            (double)x->at / (double)MIN);
    if (x->chk & C_NOTIFY)
        fprintf(stderr, " notify %d", x->notify);
    if (x->chk & C_LEVEL)
        fprintf(stderr, " level %u", x->level);
    if (x->chk & C_ISA)
        fprintf(stderr, " isa %s", alarm_isa_state_name((enum alarm_isa_state)x->isa));
    if (x->chk & C_AMOUNT)
        fprintf(stderr, " amount %" PRId64, x->amount);
    if (x->chk & C_VALUE)
        fprintf(stderr, " value %.9g", x->value);
    if (x->chk & C_SINCE)
        fprintf(stderr, " since T0%+" PRId64, x->since);
    fprintf(stderr, "\n");
}

static bool event_matches(const struct rules_event *e, const struct xev *x)
{
    if (e->shipment != 0 || e->ev.transition != x->tr || e->alarm != x->alarm ||
        e->sensor != x->sensor || e->ev.ts_ms != T0 + x->at)
        return false;
    if ((x->chk & C_NOTIFY) && e->ev.notify != x->notify)
        return false;
    if ((x->chk & C_LEVEL) && e->ev.level != x->level)
        return false;
    if ((x->chk & C_ISA) && e->ev.isa_state != x->isa)
        return false;
    if ((x->chk & C_AMOUNT) && e->ev.amount_ms != x->amount)
        return false;
    if ((x->chk & C_VALUE) && !(fabs(e->ev.value - x->value) <= 1e-9))
        return false;
    if ((x->chk & C_SINCE) && e->ev.since_ms != T0 + x->since)
        return false;
    return true;
}

/* Compares the log with the expected list; on a mismatch prints both under the case's name. */
static void check_events(const char *name, const struct log *log, const struct xev *expect)
{
    struct xev want[LOG_MAX];
    size_t nw = 0;
    while (expect[nw].tr != XEND_TR && nw < LOG_MAX) {
        want[nw] = expect[nw];
        nw++;
    }
    struct rules_event got[LOG_MAX];
    memcpy(got, log->ev, log->n * sizeof(got[0]));
    sort_events(got, log->n);
    sort_expected(want, nw);

    bool ok = log->n == nw;
    CU_ASSERT_EQUAL(log->n, nw);
    for (size_t i = 0; i < nw && i < log->n; i++) {
        bool m = event_matches(&got[i], &want[i]);
        CU_ASSERT(m);
        ok = ok && m;
    }
    if (!ok) {
        fprintf(stderr, "\n    case \"%s\": events differ\n", name);
        for (size_t i = 0; i < nw; i++)
            print_xev(&want[i]);
        for (size_t i = 0; i < log->n; i++)
            print_event(" got", &got[i]);
    }
}

/* Runs the steps on a fresh engine and checks the events; returns the engine for further
 * checks (rules_free() it), or NULL if it could not be built. */
static struct rules *run_case(const char *name, const struct fixture *fx,
                              const struct step *steps, const struct xev *expect)
{
    struct rules *rules = make_rules(fx);
    if (!rules)
        return NULL;
    static struct log log;
    log.n = 0;
    run_steps(rules, fx, steps, &log);
    check_events(name, &log, expect);
    return rules;
}

struct tcase {
    const char *name;
    const struct step *steps;
    const struct xev *expect;
};

static void run_table(const struct fixture *fx, const struct tcase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rules_free(run_case(cases[i].name, fx, cases[i].steps, cases[i].expect));
}

#define STEPS(...) ((const struct step[]){__VA_ARGS__, END})
#define EXPECT(...) ((const struct xev[]){__VA_ARGS__, XEND})
#define NONE ((const struct xev[]){XEND})

/* ---- alarm definitions -------------------------------------------------------------------- */

static struct alarm_def threshold(uint8_t quantity, uint8_t condition, double limit,
                                  double hysteresis, int64_t delay_ms)
{
    struct alarm_def d = {.kind = ALARM_KIND_THRESHOLD, .quantity = quantity,
                          .condition = condition, .limit = limit, .hysteresis = hysteresis,
                          .delay_ms = delay_ms};
    strcpy(d.id, "threshold");
    return d;
}

static struct alarm_def heat(int64_t delay_ms)
{
    return threshold(QUANTITY_TEMPERATURE, ALARM_ABOVE, 8.0, 0.0, delay_ms);
}

static struct alarm_def stale(int64_t stale_ms)
{
    struct alarm_def d = {.kind = ALARM_KIND_STALE, .quantity = QUANTITY_COUNT,
                          .stale_ms = stale_ms};
    strcpy(d.id, "stale");
    return d;
}

static struct alarm_def budget(int64_t budget_ms)
{
    struct alarm_def d = {.kind = ALARM_KIND_BUDGET, .quantity = QUANTITY_TEMPERATURE,
                          .condition = ALARM_AT_OR_ABOVE, .limit = 30.0, .budget_ms = budget_ms};
    strcpy(d.id, "budget");
    return d;
}

static struct alarm_def mkt(double limit, int64_t window_ms)
{
    struct alarm_def d = {.kind = ALARM_KIND_MKT, .quantity = QUANTITY_TEMPERATURE,
                          .condition = ALARM_ABOVE, .limit = limit, .window_ms = window_ms,
                          .delta_h_j_mol = 83144.0};
    strcpy(d.id, "mkt");
    return d;
}

static struct alarm_def rate(double change, int64_t window_ms, uint8_t direction)
{
    struct alarm_def d = {.kind = ALARM_KIND_RATE, .quantity = QUANTITY_TEMPERATURE,
                          .rate = change, .window_ms = window_ms, .direction = direction};
    strcpy(d.id, "rate");
    return d;
}

static struct alarm_def fault(int64_t delay_ms)
{
    struct alarm_def d = {.kind = ALARM_KIND_FAULT, .quantity = QUANTITY_TEMPERATURE,
                          .delay_ms = delay_ms};
    strcpy(d.id, "fault");
    return d;
}

/* ---- threshold ---------------------------------------------------------------------------- */

static void test_threshold_conditions_raise_and_clear_at_their_edges(void)
{
    /* Limit 8 (high side) or 2 (low side), hysteresis 1, no delay. */
    const struct {
        const char *name;
        uint8_t condition;
        double limit;
        const struct step *steps;
        const struct xev *expect;
    } cases[] = {
        {"above: the limit is not an excursion; clears at <= limit - hysteresis", ALARM_ABOVE,
         8.0, STEPS(RD(8.0, 0), RD(8.5, 1 * MIN), RD(7.5, 2 * MIN), RD(7.0, 3 * MIN)),
         EXPECT(XR(1 * MIN), XC(3 * MIN))},
        {"at_or_above: the limit is an excursion; clears only below limit - hysteresis",
         ALARM_AT_OR_ABOVE, 8.0,
         STEPS(RD(7.5, 0), RD(8.0, 1 * MIN), RD(7.0, 2 * MIN), RD(6.5, 3 * MIN)),
         EXPECT(XR(1 * MIN), XC(3 * MIN))},
        {"below: the limit is not an excursion; clears at >= limit + hysteresis", ALARM_BELOW,
         2.0, STEPS(RD(2.0, 0), RD(1.5, 1 * MIN), RD(2.5, 2 * MIN), RD(3.0, 3 * MIN)),
         EXPECT(XR(1 * MIN), XC(3 * MIN))},
        {"at_or_below: the limit is an excursion; clears only above limit + hysteresis",
         ALARM_AT_OR_BELOW, 2.0,
         STEPS(RD(2.5, 0), RD(2.0, 1 * MIN), RD(3.0, 2 * MIN), RD(3.5, 3 * MIN)),
         EXPECT(XR(1 * MIN), XC(3 * MIN))},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        const struct alarm_def a[] = {
            threshold(QUANTITY_TEMPERATURE, cases[i].condition, cases[i].limit, 1.0, 0)};
        const struct fixture fx = {.alarms = a, .alarm_count = 1};
        rules_free(run_case(cases[i].name, &fx, cases[i].steps, cases[i].expect));
    }
}

static void test_heat_alarm_fires_exactly_at_delay(void)
{
    const struct alarm_def a[] = {threshold(QUANTITY_TEMPERATURE, ALARM_ABOVE, 8.0, 1.0,
                                            30 * MIN)};
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    const struct tcase cases[] = {
        {"a reading meeting the condition at exactly since + delay raises at its ts",
         STEPS(RD(9.0, 0), RD(9.0, 10 * MIN), RD(9.0, 20 * MIN), RD(9.0, 30 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 30 * MIN, .chk = C_SINCE | C_VALUE, .since = 0,
                 .value = 9.0})},
        {"a later reading within the hold raises stamped since + delay",
         STEPS(RD(9.0, 0), RD(9.5, 40 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 30 * MIN, .chk = C_SINCE | C_VALUE, .since = 0,
                 .value = 9.0})},
        {"a tick past since + delay raises stamped since + delay, once",
         STEPS(RD(9.0, 0), TK(31 * MIN), TK(45 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 30 * MIN, .chk = C_SINCE, .since = 0})},
        {"a tick 1 ms before the delay runs out does nothing",
         STEPS(RD(9.0, 0), TK(30 * MIN - 1)), NONE},
        {"a reading not meeting the condition before the delay ends resets it",
         STEPS(RD(9.0, 0), RD(7.0, 10 * MIN), RD(9.0, 20 * MIN), RD(9.0, 45 * MIN),
               RD(9.0, 50 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 50 * MIN, .chk = C_SINCE, .since = 20 * MIN})},
        {"a value inside the hysteresis band still resets a pending delay",
         STEPS(RD(9.0, 0), RD(7.5, 10 * MIN), RD(9.0, 20 * MIN), TK(55 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 50 * MIN, .chk = C_SINCE, .since = 20 * MIN})},
        {"a reading not meeting the condition exactly at since + delay does not raise",
         STEPS(RD(9.0, 0), RD(7.0, 30 * MIN), TK(2 * HOUR)), NONE},
    };
    run_table(&fx, cases, N_ELEMS(cases));
}

static void test_gap_longer_than_hold_restarts_pending_delay(void)
{
    /* Hold 1 h (no stale alarm); delay 90 min: the value of 20 min holds to 80 min, so the
     * delay would end at 90 min in the gap, where the sensor is stale, not in range. */
    const struct alarm_def a[] = {heat(90 * MIN)};
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    const struct tcase cases[] = {
        {"ticks: nothing at since + delay in the gap; the delay restarts at the next reading",
         STEPS(RD(9.0, 0), RD(9.0, 20 * MIN), TK(95 * MIN), RD(9.0, 100 * MIN),
               RD(9.0, 130 * MIN), RD(9.0, 160 * MIN), TK(189 * MIN), TK(191 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 190 * MIN, .chk = C_SINCE, .since = 100 * MIN})},
        {"readings only: the same",
         STEPS(RD(9.0, 0), RD(9.0, 20 * MIN), RD(9.0, 100 * MIN), RD(9.0, 150 * MIN),
               RD(9.0, 190 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 190 * MIN, .chk = C_SINCE, .since = 100 * MIN})},
        {"a gap of exactly the hold is not longer than it: continuity holds",
         STEPS(RD(9.0, 0), RD(9.0, 60 * MIN), RD(9.0, 90 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 90 * MIN, .chk = C_SINCE, .since = 0})},
        {"a gap 1 ms longer than the hold breaks it",
         STEPS(RD(9.0, 0), RD(9.0, 60 * MIN + 1), RD(9.0, 90 * MIN), RD(9.0, 120 * MIN),
               RD(9.0, 150 * MIN + 1)),
         EXPECT({.tr = ALARM_RAISED, .at = 150 * MIN + 1, .chk = C_SINCE,
                 .since = 60 * MIN + 1})},
    };
    run_table(&fx, cases, N_ELEMS(cases));
}

static void test_active_alarm_stays_active_across_gap(void)
{
    const struct alarm_def a[] = {heat(0)};
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    struct rules *rules = run_case(
        "active across a gap", &fx,
        STEPS(RD(9.0, 0), TK(150 * MIN), RD(9.0, 200 * MIN), TK(205 * MIN)), EXPECT(XR(0)));
    if (rules)
        CU_ASSERT_EQUAL(rules_instance(rules, 0, 0, 0)->state, ALARM_ACTIVE);
    rules_free(rules);
    rules_free(run_case("then a reading inside clears it", &fx,
                        STEPS(RD(9.0, 0), RD(9.0, 200 * MIN), RD(7.0, 210 * MIN)),
                        EXPECT(XR(0), XC(210 * MIN))));
}

static void test_stale_alarm_sets_the_hold(void)
{
    /* Hold = the shortest stale duration, 15 min (20 min on the second stale alarm). */
    const struct alarm_def a[] = {heat(30 * MIN), stale(20 * MIN), stale(15 * MIN)};
    const struct fixture fx = {.alarms = a, .alarm_count = 3};
    const struct tcase cases[] = {
        {"the value of 10 min holds to 25 min only: no heat alarm at 30 min; it restarts at 40",
         STEPS(RD(9.0, 0), RD(9.0, 10 * MIN), RD(9.0, 40 * MIN), RD(9.0, 50 * MIN),
               RD(9.0, 60 * MIN), RD(9.0, 70 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .alarm = 2, .at = 25 * MIN},
                {.tr = ALARM_RAISED, .alarm = 1, .at = 30 * MIN},
                {.tr = ALARM_CLEARED, .alarm = 2, .at = 40 * MIN, .chk = C_AMOUNT,
                 .amount = 30 * MIN},
                {.tr = ALARM_CLEARED, .alarm = 1, .at = 40 * MIN, .chk = C_AMOUNT,
                 .amount = 30 * MIN},
                {.tr = ALARM_RAISED, .alarm = 0, .at = 70 * MIN, .chk = C_SINCE,
                 .since = 40 * MIN})},
        {"a tick past the delay in the stale part raises only the stale alarm",
         STEPS(RD(9.0, 0), RD(9.0, 10 * MIN), TK(31 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .alarm = 2, .at = 25 * MIN},
                {.tr = ALARM_RAISED, .alarm = 1, .at = 30 * MIN})},
    };
    run_table(&fx, cases, N_ELEMS(cases));
}

static void test_clock_step_back_restarts_pending_delay(void)
{
    const struct alarm_def a[] = {heat(30 * MIN)};
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    const struct tcase cases[] = {
        {"readings: the delay restarts at the older reading, so 30 min does not raise",
         STEPS(RD(9.0, 0), RD(9.0, 20 * MIN), RD(9.0, 10 * MIN), RD(9.0, 30 * MIN),
               RD(9.0, 40 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 40 * MIN, .chk = C_SINCE, .since = 10 * MIN})},
        {"ticks: the same",
         STEPS(RD(9.0, 0), RD(9.0, 20 * MIN), RD(9.0, 10 * MIN), TK(35 * MIN),
               TK(41 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 40 * MIN, .chk = C_SINCE, .since = 10 * MIN})},
    };
    run_table(&fx, cases, N_ELEMS(cases));

    struct rules *rules = make_rules(&fx);
    if (!rules)
        return;
    static struct log log;
    log.n = 0;
    run_steps(rules, &fx, STEPS(RD(9.0, 0), RD(9.0, 20 * MIN), RD(9.0, 10 * MIN)), &log);
    const struct rules_summary *s = rules_summary(rules, 0, 0, QUANTITY_TEMPERATURE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->out_of_order, 1);
    CU_ASSERT_EQUAL(s->count, 3);
    CU_ASSERT_EQUAL(log.n, 0);
    rules_free(rules);
}

static void test_clock_step_back_does_not_clear_active_alarm(void)
{
    const struct alarm_def a[] = {heat(0)};
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    struct rules *rules = run_case("the step back itself", &fx,
                                   STEPS(RD(9.0, 100 * MIN), RD(9.0, 50 * MIN)),
                                   EXPECT(XR(100 * MIN)));
    if (rules) {
        CU_ASSERT_EQUAL(rules_instance(rules, 0, 0, 0)->state, ALARM_ACTIVE);
        CU_ASSERT_EQUAL(rules_summary(rules, 0, 0, QUANTITY_TEMPERATURE)->out_of_order, 1);
    }
    rules_free(rules);
    rules_free(run_case("a reading inside after the step back clears it", &fx,
                        STEPS(RD(9.0, 100 * MIN), RD(9.0, 50 * MIN), RD(7.0, 60 * MIN)),
                        EXPECT(XR(100 * MIN), XC(60 * MIN))));
}

static void test_duplicate_timestamp_is_judged_at_the_same_instant(void)
{
    const struct alarm_def a0[] = {heat(0)};
    const struct fixture fx0 = {.alarms = a0, .alarm_count = 1};
    struct rules *rules = run_case("no delay: raised and cleared at the same instant", &fx0,
                                   STEPS(RD(9.0, 10 * MIN), RD(7.0, 10 * MIN)),
                                   EXPECT(XR(10 * MIN), XC(10 * MIN)));
    if (rules)
        CU_ASSERT_EQUAL(rules_summary(rules, 0, 0, QUANTITY_TEMPERATURE)->out_of_order, 0);
    rules_free(rules);

    const struct alarm_def a30[] = {heat(30 * MIN)};
    const struct fixture fx30 = {.alarms = a30, .alarm_count = 1};
    const struct tcase cases[] = {
        {"a duplicate not meeting the condition resets the delay",
         STEPS(RD(9.0, 0), RD(9.0, 20 * MIN), RD(7.0, 20 * MIN), RD(9.0, 50 * MIN),
               RD(9.0, 70 * MIN), RD(9.0, 80 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 80 * MIN, .chk = C_SINCE, .since = 50 * MIN})},
        {"a duplicate at since + delay raises once",
         STEPS(RD(9.0, 0), RD(9.0, 30 * MIN), RD(9.0, 30 * MIN)), EXPECT(XR(30 * MIN))},
    };
    run_table(&fx30, cases, N_ELEMS(cases));
}

static void test_faulted_readings_do_not_move_threshold_alarms(void)
{
    const struct alarm_def a30[] = {heat(30 * MIN)};
    const struct fixture fx30 = {.alarms = a30, .alarm_count = 1};
    const struct tcase cases30[] = {
        {"the last valid value holds through faults: raised at since + delay",
         STEPS(RD(9.0, 0), FLT(10 * MIN), FLT(20 * MIN), TK(31 * MIN)), EXPECT(XR(30 * MIN))},
        {"a fault between excursion readings does not reset the delay",
         STEPS(RD(9.0, 0), FLT(10 * MIN), RD(9.0, 20 * MIN), RD(9.0, 30 * MIN)),
         EXPECT(XR(30 * MIN))},
        {"a non-finite value without the flag is a fault reading too",
         STEPS(RD(9.0, 0), NANV(10 * MIN), TK(31 * MIN)), EXPECT(XR(30 * MIN))},
    };
    run_table(&fx30, cases30, N_ELEMS(cases30));

    const struct alarm_def a90[] = {heat(90 * MIN)};
    const struct fixture fx90 = {.alarms = a90, .alarm_count = 1};
    rules_free(run_case("faults do not stretch the hold: the delay restarts at 80 min", &fx90,
                        STEPS(RD(9.0, 0), FLT(30 * MIN), FLT(70 * MIN), RD(9.0, 80 * MIN),
                              RD(9.0, 110 * MIN), RD(9.0, 140 * MIN), RD(9.0, 170 * MIN)),
                        EXPECT({.tr = ALARM_RAISED, .at = 170 * MIN, .chk = C_SINCE,
                                .since = 80 * MIN})));

    const struct alarm_def a0[] = {heat(0)};
    const struct fixture fx0 = {.alarms = a0, .alarm_count = 1};
    struct rules *rules = run_case("an active alarm is not cleared by faults", &fx0,
                                   STEPS(RD(9.0, 0), FLT(10 * MIN), TK(50 * MIN)),
                                   EXPECT(XR(0)));
    if (rules)
        CU_ASSERT_EQUAL(rules_instance(rules, 0, 0, 0)->state, ALARM_ACTIVE);
    rules_free(rules);
}

/* ---- budget ------------------------------------------------------------------------------- */

static void test_budget_raises_at_the_exact_instant_it_is_spent(void)
{
    const struct alarm_def a25[] = {budget(25 * MIN)};
    const struct fixture fx25 = {.alarms = a25, .alarm_count = 1};
    const struct tcase cases[] = {
        {"31 °C every 10 min: raised at first + 25 min",
         STEPS(RD(31.0, 0), RD(31.0, 10 * MIN), RD(31.0, 20 * MIN), RD(31.0, 30 * MIN)),
         EXPECT(XR(25 * MIN))},
        {"the same by a tick",
         STEPS(RD(31.0, 0), RD(31.0, 10 * MIN), RD(31.0, 20 * MIN), TK(24 * MIN),
               TK(26 * MIN)),
         EXPECT(XR(25 * MIN))},
        {"the limit itself counts (at_or_above)",
         STEPS(RD(30.0, 0), RD(30.0, 10 * MIN), RD(30.0, 20 * MIN), RD(30.0, 30 * MIN)),
         EXPECT(XR(25 * MIN))},
        {"time inside does not count: 10 + 15 min",
         STEPS(RD(31.0, 0), RD(20.0, 10 * MIN), RD(31.0, 20 * MIN), RD(31.0, 30 * MIN),
               TK(36 * MIN)),
         EXPECT(XR(35 * MIN))},
    };
    run_table(&fx25, cases, N_ELEMS(cases));

    const struct alarm_def a90[] = {budget(90 * MIN)};
    const struct fixture fx90 = {.alarms = a90, .alarm_count = 1};
    rules_free(run_case("each held interval is capped by the hold (1 h)", &fx90,
                        STEPS(RD(31.0, 0), RD(31.0, 120 * MIN), RD(31.0, 140 * MIN),
                              TK(151 * MIN)),
                        EXPECT(XR(150 * MIN))));
}

/* The raised event is the instant the budget was spent: its amount_ms (time used) is the
 * budget, whatever call noticed it, so a replay with other tick times announces the same. */
static void test_budget_raise_reports_the_budget_as_used_at_its_instant(void)
{
    const struct alarm_def a25[] = {budget(25 * MIN)};
    const struct fixture fx25 = {.alarms = a25, .alarm_count = 1};
    const struct tcase cases[] = {
        {"noticed by the reading at 30 min: used 25 min at 25 min",
         STEPS(RD(31.0, 0), RD(31.0, 10 * MIN), RD(31.0, 20 * MIN), RD(31.0, 30 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 25 * MIN, .chk = C_AMOUNT, .amount = 25 * MIN})},
        {"noticed by a tick at 26 min: the same",
         STEPS(RD(31.0, 0), RD(31.0, 10 * MIN), RD(31.0, 20 * MIN), TK(26 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 25 * MIN, .chk = C_AMOUNT, .amount = 25 * MIN})},
    };
    run_table(&fx25, cases, N_ELEMS(cases));
    const struct alarm_def a90[] = {budget(90 * MIN)};
    const struct fixture fx90 = {.alarms = a90, .alarm_count = 1};
    rules_free(run_case("noticed by a tick at 151 min after a capped gap: used 90 min", &fx90,
                        STEPS(RD(31.0, 0), RD(31.0, 120 * MIN), RD(31.0, 140 * MIN),
                              TK(151 * MIN)),
                        EXPECT({.tr = ALARM_RAISED, .at = 150 * MIN, .chk = C_AMOUNT,
                                .amount = 90 * MIN})));
    static const int64_t seed20[] = {20 * MIN};
    const struct fixture fxs = {.alarms = a25, .alarm_count = 1, .budget_used_ms = seed20};
    rules_free(run_case("20 min used before: used 25 min at 5 min", &fxs,
                        STEPS(RD(31.0, 0), RD(31.0, 10 * MIN)),
                        EXPECT({.tr = ALARM_RAISED, .at = 5 * MIN, .chk = C_AMOUNT,
                                .amount = 25 * MIN})));
}

static void test_budget_left_counts_held_time_up_to_last_time_seen(void)
{
    const struct alarm_def a[] = {budget(90 * MIN)};
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    struct rules *rules = make_rules(&fx);
    if (!rules)
        return;
    static struct log log;
    log.n = 0;
    CU_ASSERT_EQUAL(rules_budget_left_ms(rules, 0, 0, 0), 90 * MIN);
    run_steps(rules, &fx, STEPS(RD(31.0, 0), TK(30 * MIN)), &log);
    CU_ASSERT_EQUAL(rules_budget_left_ms(rules, 0, 0, 0), 60 * MIN);
    run_steps(rules, &fx, STEPS(TK(3 * HOUR)), &log);
    CU_ASSERT_EQUAL(rules_budget_left_ms(rules, 0, 0, 0), 30 * MIN); /* capped by the hold */
    CU_ASSERT_EQUAL(log.n, 0);
    rules_free(rules);
}

static void test_spent_budget_stays_active(void)
{
    const struct alarm_def a[] = {budget(25 * MIN)};
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    struct rules *rules =
        run_case("back inside, the budget stays spent", &fx,
                 STEPS(RD(31.0, 0), RD(31.0, 10 * MIN), RD(31.0, 20 * MIN), RD(31.0, 30 * MIN),
                       RD(20.0, 40 * MIN), RD(20.0, 50 * MIN), TK(5 * HOUR)),
                 EXPECT(XR(25 * MIN)));
    if (rules) {
        CU_ASSERT_EQUAL(rules_instance(rules, 0, 0, 0)->state, ALARM_ACTIVE);
        CU_ASSERT_EQUAL(rules_budget_left_ms(rules, 0, 0, 0), 25 * MIN - 40 * MIN);
    }
    rules_free(rules);
}

static void test_resolve_credits_budget_back(void)
{
    const struct alarm_def a[] = {budget(25 * MIN),
                                  threshold(QUANTITY_TEMPERATURE, ALARM_ABOVE, 30.0, 0.0, 0)};
    const struct fixture fx = {.alarms = a, .alarm_count = 2};
    /* Used 30 min by 30 min; 10 min credited back leaves 5 min, spent again at 55 min. */
    struct rules *rules = run_case(
        "credit 10 min of 30 used against 25", &fx,
        STEPS(RD(31.0, 0), RD(31.0, 10 * MIN), RD(31.0, 20 * MIN), RD(20.0, 30 * MIN),
              RESOLVE(0, 40 * MIN, 10 * MIN, 0), RESOLVE(1, 40 * MIN, 10 * MIN, -EINVAL),
              TK(45 * MIN)),
        EXPECT({.tr = ALARM_RAISED, .at = 25 * MIN},
               {.tr = ALARM_RAISED, .alarm = 1, .at = 0},
               {.tr = ALARM_CLEARED, .alarm = 1, .at = 30 * MIN},
               {.tr = ALARM_RESOLVED, .at = 40 * MIN, .chk = C_AMOUNT, .amount = 10 * MIN}));
    if (rules) {
        CU_ASSERT_EQUAL(rules_budget_left_ms(rules, 0, 0, 0), 5 * MIN);
        CU_ASSERT_NOT_EQUAL(rules_instance(rules, 0, 0, 0)->state, ALARM_ACTIVE);
        static struct log log;
        log.n = 0;
        run_steps(rules, &fx, STEPS(RD(31.0, 50 * MIN), RD(31.0, 60 * MIN)), &log);
        check_events("after the credit, the rest is spent at 55 min", &log,
                     EXPECT({.tr = ALARM_RAISED, .at = 55 * MIN},
                            {.tr = ALARM_RAISED, .alarm = 1, .at = 50 * MIN}));
    }
    rules_free(rules);

    rules = run_case("credit is at most what was used", &fx,
                     STEPS(RD(31.0, 0), RD(20.0, 30 * MIN), RESOLVE(0, 40 * MIN, DAY, 0)),
                     EXPECT({.tr = ALARM_RAISED, .at = 25 * MIN},
                            {.tr = ALARM_RAISED, .alarm = 1, .at = 0},
                            {.tr = ALARM_CLEARED, .alarm = 1, .at = 30 * MIN},
                            {.tr = ALARM_RESOLVED, .at = 40 * MIN}));
    if (rules)
        CU_ASSERT_EQUAL(rules_budget_left_ms(rules, 0, 0, 0), 25 * MIN);
    rules_free(rules);
}

static void test_budget_seed_from_earlier_legs(void)
{
    const struct alarm_def a[] = {budget(25 * MIN)};
    static const int64_t seed20[] = {20 * MIN};
    const struct fixture fx20 = {.alarms = a, .alarm_count = 1, .budget_used_ms = seed20};
    struct rules *rules = make_rules(&fx20);
    if (rules)
        CU_ASSERT_EQUAL(rules_budget_left_ms(rules, 0, 0, 0), 5 * MIN);
    rules_free(rules);
    rules_free(run_case("20 min used before: 5 min left", &fx20,
                        STEPS(RD(31.0, 0), RD(31.0, 10 * MIN)), EXPECT(XR(5 * MIN))));

    static const int64_t seed25[] = {25 * MIN};
    const struct fixture fx25 = {.alarms = a, .alarm_count = 1, .budget_used_ms = seed25};
    rules_free(run_case("spent before: raised at started_ms on the first tick", &fx25,
                        STEPS(TK(1 * HOUR), TK(2 * HOUR)), EXPECT(XR(0))));
    static const int64_t seed30[] = {30 * MIN};
    const struct fixture fx30 = {.alarms = a, .alarm_count = 1, .budget_used_ms = seed30};
    rules_free(run_case("spent before: raised at started_ms on the first reading", &fx30,
                        STEPS(RD(20.0, 10 * MIN), RD(20.0, 20 * MIN)), EXPECT(XR(0))));
}

/* ---- mean kinetic temperature ------------------------------------------------------------- */

static void test_mkt_of_evenly_spaced_readings_is_the_usp_formula(void)
{
    /* 20, 20, 30, 30 °C every 10 min, limit 25:
     *   3 readings: 10000/-ln((2e^(-10000/293.15)+e^(-10000/303.15))/3) - 273.15 = 24.599...
     *   4 readings: 10000/-ln((2e^(-10000/293.15)+2e^(-10000/303.15))/4) - 273.15
     *             = 26.25988691600344 (python3) */
    const struct alarm_def a[] = {mkt(25.0, 0)};
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    rules_free(run_case("raised at the 4th reading", &fx,
                        STEPS(RD(20.0, 0), RD(20.0, 10 * MIN), RD(30.0, 20 * MIN),
                              RD(30.0, 30 * MIN)),
                        EXPECT({.tr = ALARM_RAISED, .at = 30 * MIN, .chk = C_VALUE,
                                .value = 26.25988691600344})));
}

static void test_mkt_weighs_each_reading_by_its_held_time(void)
{
    /* 20@0, 20@10, 20@20, 30@30, 20@80 min: weights 10, 10, 10, 50 and the newest 50 (the
     * interval before it): 10000/-ln((30e^(-10000/293.15)+50e^(-10000/303.15)
     * +50e^(-10000/293.15))/130) - 273.15 = 25.14175133300421 (python3). Unweighted it would
     * be 23.02 and at 30 min 23.644 (4 equal weights): no alarm before 80 min. */
    const struct alarm_def a[] = {mkt(25.0, 0)};
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    struct rules *rules = run_case(
        "raised at 80 min", &fx,
        STEPS(RD(20.0, 0), RD(20.0, 10 * MIN), RD(20.0, 20 * MIN), RD(30.0, 30 * MIN),
              RD(20.0, 80 * MIN)),
        EXPECT({.tr = ALARM_RAISED, .at = 80 * MIN, .chk = C_VALUE,
                .value = 25.14175133300421}));
    if (rules) {
        const struct rules_summary *s = rules_summary(rules, 0, 0, QUANTITY_TEMPERATURE);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        CU_ASSERT_DOUBLE_EQUAL(s->mkt_c, 25.14175133300421, 1e-9);
    }
    rules_free(rules);
}

static void test_mkt_rolling_window_forgets_old_readings(void)
{
    /* 3 h at 5 °C, then 40 °C, every 10 min; limit 29. Over a 1 h window the third hot
     * reading (200 min) gives 3 of 7 weights hot: 10000/-ln((3e^(-10000/313.15)
     * +4e^(-10000/278.15))/7) - 273.15 = 32.13 (2 of 6 if the newest weighs nothing: 29.91);
     * the second gives 28.58 (or 24.12). The whole shipment at 240 min: 7 of 25 hot, 28.41. */
    const struct alarm_def a[] = {mkt(29.0, 1 * HOUR), mkt(29.0, 0)};
    const struct fixture fx = {.alarms = a, .alarm_count = 2};
    struct step steps[32];
    size_t n = 0;
    for (int k = 0; k <= 24; k++)
        steps[n++] = (struct step)RD(k < 18 ? 5.0 : 40.0, k * 10 * MIN);
    steps[n] = (struct step)END;
    struct rules *rules = make_rules(&fx);
    if (!rules)
        return;
    static struct log log;
    log.n = 0;
    run_steps(rules, &fx, steps, &log);
    check_events("only the windowed alarm, at 200 min", &log, EXPECT(XR(200 * MIN)));
    if (log.n >= 1) {
        CU_ASSERT(log.ev[0].ev.value > 29.0 && log.ev[0].ev.value < 32.2);
    }
    rules_free(rules);
}

/* ---- rate of change ----------------------------------------------------------------------- */

static void test_rate_raises_on_change_beyond_rate_within_window(void)
{
    const struct alarm_def a[] = {rate(2.0, 10 * MIN, ALARM_EITHER)};
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    const struct tcase cases[] = {
        {"+2.5 in 5 min raises", STEPS(RD(5.0, 0), RD(7.5, 5 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 5 * MIN})},
        {"+2.5 in 20 min does not", STEPS(RD(5.0, 0), RD(7.5, 20 * MIN)), NONE},
        {"exactly the rate is not more than the rate", STEPS(RD(5.0, 0), RD(7.0, 5 * MIN)),
         NONE},
        {"the change counts from the oldest reading in the window",
         STEPS(RD(5.0, 0), RD(6.0, 4 * MIN), RD(7.5, 8 * MIN)), EXPECT(XR(8 * MIN))},
        {"a slow drift does not", STEPS(RD(5.0, 0), RD(6.0, 6 * MIN), RD(7.0, 12 * MIN),
                                       RD(8.0, 18 * MIN)), NONE},
        {"either: a fall raises", STEPS(RD(7.5, 0), RD(5.0, 5 * MIN)), EXPECT(XR(5 * MIN))},
    };
    run_table(&fx, cases, N_ELEMS(cases));

    struct rules *rules = run_case("the change is the event's value", &fx,
                                   STEPS(RD(5.0, 0), RD(7.5, 5 * MIN)), EXPECT(XR(5 * MIN)));
    if (rules) {
        CU_ASSERT_DOUBLE_EQUAL(fabs(rules_instance(rules, 0, 0, 0)->value), 2.5, 1e-9);
    }
    rules_free(rules);
}

static void test_rate_direction_limits_the_sign_of_the_change(void)
{
    const struct alarm_def rising[] = {rate(2.0, 10 * MIN, ALARM_RISING)};
    const struct fixture fxr = {.alarms = rising, .alarm_count = 1};
    const struct tcase rcases[] = {
        {"rising: a fall does not raise", STEPS(RD(7.5, 0), RD(5.0, 5 * MIN)), NONE},
        {"rising: a rise raises", STEPS(RD(5.0, 0), RD(7.5, 5 * MIN)), EXPECT(XR(5 * MIN))},
    };
    run_table(&fxr, rcases, N_ELEMS(rcases));
    const struct alarm_def falling[] = {rate(2.0, 10 * MIN, ALARM_FALLING)};
    const struct fixture fxf = {.alarms = falling, .alarm_count = 1};
    const struct tcase fcases[] = {
        {"falling: a fall raises", STEPS(RD(7.5, 0), RD(5.0, 5 * MIN)), EXPECT(XR(5 * MIN))},
        {"falling: a rise does not raise", STEPS(RD(5.0, 0), RD(7.5, 5 * MIN)), NONE},
    };
    run_table(&fxf, fcases, N_ELEMS(fcases));
}

/* ---- stale -------------------------------------------------------------------------------- */

static void test_stale_raises_exactly_at_last_reading_plus_stale(void)
{
    const struct alarm_def a[] = {stale(15 * MIN)};
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    const struct tcase cases[] = {
        {"a tick past it", STEPS(RD(5.0, 0), TK(14 * MIN), TK(20 * MIN)), EXPECT(XR(15 * MIN))},
        {"a tick before it does nothing", STEPS(RD(5.0, 0), TK(15 * MIN - 1)), NONE},
        {"the next reading raises it and clears it; amount = the silence",
         STEPS(RD(5.0, 0), RD(5.0, 40 * MIN)),
         EXPECT(XR(15 * MIN),
                {.tr = ALARM_CLEARED, .at = 40 * MIN, .chk = C_AMOUNT, .amount = 40 * MIN})},
        {"raised by a tick, cleared by the next reading",
         STEPS(RD(5.0, 0), TK(20 * MIN), RD(5.0, 30 * MIN)),
         EXPECT(XR(15 * MIN),
                {.tr = ALARM_CLEARED, .at = 30 * MIN, .chk = C_AMOUNT, .amount = 30 * MIN})},
        {"a reading of another quantity of the sensor counts",
         STEPS(RD(5.0, 0), RDS(0, QUANTITY_HUMIDITY, 50.0, 20 * MIN)),
         EXPECT(XR(15 * MIN),
                {.tr = ALARM_CLEARED, .at = 20 * MIN, .chk = C_AMOUNT, .amount = 20 * MIN})},
        {"a sensor that never reported: stale after started_ms", STEPS(TK(16 * MIN)),
         EXPECT(XR(15 * MIN))},
        {"readings within the silence keep it quiet",
         STEPS(RD(5.0, 0), RD(5.0, 14 * MIN), RD(5.0, 28 * MIN), TK(42 * MIN)), NONE},
    };
    run_table(&fx, cases, N_ELEMS(cases));

    const struct fixture fx2 = {.alarms = a, .alarm_count = 1, .sensor_count = 2};
    rules_free(run_case("per sensor: the silent one goes stale at started + 15 min", &fx2,
                        STEPS(RD(5.0, 10 * MIN), TK(20 * MIN), TK(26 * MIN)),
                        EXPECT({.tr = ALARM_RAISED, .sensor = 1, .at = 15 * MIN},
                               {.tr = ALARM_RAISED, .sensor = 0, .at = 25 * MIN})));
    const struct fixture fxs = {.alarms = a, .alarm_count = 1, .started_at = 1 * HOUR};
    rules_free(run_case("never reported, counted from a later started_ms", &fxs,
                        STEPS(TK(70 * MIN), TK(80 * MIN)), EXPECT(XR(75 * MIN))));
}

/* ---- fault -------------------------------------------------------------------------------- */

static void test_fault_alarm_follows_faulted_and_valid_readings(void)
{
    const struct alarm_def a0[] = {fault(0)};
    const struct fixture fx0 = {.alarms = a0, .alarm_count = 1};
    const struct tcase cases0[] = {
        {"a faulted reading raises, a valid one clears",
         STEPS(RD(5.0, 0), FLT(10 * MIN), FLT(15 * MIN), RD(5.0, 20 * MIN)),
         EXPECT(XR(10 * MIN), XC(20 * MIN))},
        {"a non-finite value raises too", STEPS(RD(5.0, 0), NANV(10 * MIN)),
         EXPECT(XR(10 * MIN))},
    };
    run_table(&fx0, cases0, N_ELEMS(cases0));

    const struct alarm_def a5[] = {fault(5 * MIN)};
    const struct fixture fx5 = {.alarms = a5, .alarm_count = 1};
    const struct tcase cases5[] = {
        {"delay: a tick past it raises stamped since + delay",
         STEPS(FLT(0), TK(6 * MIN)), EXPECT(XR(5 * MIN))},
        {"delay: the next fault past it raises stamped since + delay",
         STEPS(FLT(0), FLT(10 * MIN)), EXPECT(XR(5 * MIN))},
        {"delay: a valid reading before it resets it",
         STEPS(FLT(0), RD(5.0, 3 * MIN), TK(20 * MIN)), NONE},
    };
    run_table(&fx5, cases5, N_ELEMS(cases5));
}

/* ---- door and battery --------------------------------------------------------------------- */

static void test_door_open_longer_than_delay_raises(void)
{
    struct alarm_def a[] = {threshold(QUANTITY_DOOR, ALARM_ABOVE, 0.5, 0.0, 5 * MIN)};
    a[0].kind = ALARM_KIND_DOOR;
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    const struct tcase cases[] = {
        {"open 7 min: raised at opened + 5 min, cleared when closed",
         STEPS(RD(0.0, 0), RD(1.0, 1 * MIN), TK(7 * MIN), RD(0.0, 8 * MIN)),
         EXPECT(XR(6 * MIN), XC(8 * MIN))},
        {"open 2 min: nothing", STEPS(RD(0.0, 0), RD(1.0, 10 * MIN), RD(0.0, 12 * MIN),
                                      TK(30 * MIN)), NONE},
        {"closed at exactly opened + 5 min: nothing",
         STEPS(RD(1.0, 0), RD(0.0, 5 * MIN), TK(30 * MIN)), NONE},
    };
    run_table(&fx, cases, N_ELEMS(cases));
}

static void test_battery_below_limit_raises_with_hysteresis(void)
{
    struct alarm_def a[] = {threshold(QUANTITY_BATTERY, ALARM_BELOW, 20.0, 5.0, 0)};
    a[0].kind = ALARM_KIND_BATTERY;
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    const struct tcase cases[] = {
        {"below 20 raises; 22 keeps it; 25 clears",
         STEPS(RD(50.0, 0), RD(19.0, 30 * MIN), RD(22.0, 60 * MIN), RD(25.0, 90 * MIN)),
         EXPECT(XR(30 * MIN), XC(90 * MIN))},
        {"exactly 20 is not low", STEPS(RD(50.0, 0), RD(20.0, 10 * MIN)), NONE},
    };
    run_table(&fx, cases, N_ELEMS(cases));
}

/* ---- calibration -------------------------------------------------------------------------- */

static void test_calibration_warns_ahead_of_due_date(void)
{
    struct alarm_def a[1] = {{.kind = ALARM_KIND_CALIBRATION, .quantity = QUANTITY_COUNT,
                              .cal_warn_ms = {90 * DAY, 30 * DAY}}};
    strcpy(a[0].id, "calibration");
    static const int64_t due[2] = {T0 + 100 * DAY, 0};
    const struct fixture fx = {.alarms = a, .alarm_count = 1, .sensor_count = 2,
                               .cal_due_ms = due};
    const struct tcase cases[] = {
        {"stage by stage",
         STEPS(TK(1 * DAY), TK(11 * DAY), TK(80 * DAY), TK(101 * DAY)),
         EXPECT({.tr = ALARM_RAISED, .at = 10 * DAY, .chk = C_AMOUNT, .amount = 90 * DAY},
                {.tr = ALARM_RENOTIFIED, .at = 70 * DAY, .chk = C_AMOUNT, .amount = 30 * DAY},
                {.tr = ALARM_RENOTIFIED, .at = 100 * DAY, .chk = C_AMOUNT, .amount = 0})},
        {"one tick past all of them",
         STEPS(TK(101 * DAY)),
         EXPECT({.tr = ALARM_RAISED, .at = 10 * DAY, .chk = C_AMOUNT, .amount = 90 * DAY},
                {.tr = ALARM_RENOTIFIED, .at = 70 * DAY, .chk = C_AMOUNT, .amount = 30 * DAY},
                {.tr = ALARM_RENOTIFIED, .at = 100 * DAY, .chk = C_AMOUNT, .amount = 0})},
        {"1 ms before the first stage: nothing", STEPS(TK(10 * DAY - 1)), NONE},
    };
    run_table(&fx, cases, N_ELEMS(cases));
}

/* A sensor that reports every 90 minutes with a stale alarm of 2 h: its values hold for 2 h, not
 * the 1 h default, so a 3 h delay runs across its readings instead of restarting at each. */
static void test_long_stale_duration_sets_a_long_hold(void)
{
    const struct alarm_def a[] = {heat(3 * HOUR), stale(2 * HOUR)};
    const struct fixture fx = {.alarms = a, .alarm_count = 2};
    const struct tcase cases[] = {
        {"readings every 90 min above 8 °C raise after 3 h",
         STEPS(RD(9.0, 0), RD(9.0, 90 * MIN), RD(9.0, 180 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 180 * MIN})},
    };
    run_table(&fx, cases, N_ELEMS(cases));
}

/* ---- suppression windows ------------------------------------------------------------------ */

/* Daily, 30 min from T0 + 60 min (given as an absolute time, as the header allows). */
static const struct rules_window defrost[] = {
    {.offset_ms = T0 + 60 * MIN, .period_ms = DAY, .duration_ms = 30 * MIN}};

static void test_suppression_window_is_offset_modulo_period(void)
{
    const struct alarm_def a[] = {heat(0)};
    const struct fixture fx = {.alarms = a, .alarm_count = 1, .suppress = defrost,
                               .suppress_count = 1};
    struct rules *rules = make_rules(&fx);
    if (!rules)
        return;
    static const struct {
        int64_t at;
        bool in;
    } t[] = {
        {0, false},           {59 * MIN, false},
        {60 * MIN, true},     {90 * MIN - 1, true},
        {90 * MIN, false},    {60 * MIN + DAY, true},
        {60 * MIN - DAY, true}, {30 * MIN, false}, /* before the offset: mod is not negative */
        {75 * MIN + 3 * DAY, true},
    };
    for (size_t i = 0; i < N_ELEMS(t); i++) {
        bool in = rules_suppressed(rules, 0, T0 + t[i].at);
        CU_ASSERT_EQUAL(in, t[i].in);
        if (in != t[i].in)
            fprintf(stderr, "\n    rules_suppressed(T0%+" PRId64 " ms) = %d, want %d\n",
                    t[i].at, in, t[i].in);
    }
    rules_free(rules);
}

static void test_alarm_raised_in_window_is_notified_when_window_ends(void)
{
    const struct alarm_def a[] = {heat(0)};
    const struct fixture fx = {.alarms = a, .alarm_count = 1, .suppress = defrost,
                               .suppress_count = 1};
    const struct tcase cases[] = {
        {"raised quietly at 70 min, notified at the window's end by a tick",
         STEPS(RD(5.0, 0), RD(9.0, 70 * MIN), RD(9.0, 80 * MIN), TK(89 * MIN), TK(95 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 70 * MIN, .chk = C_NOTIFY, .notify = false},
                {.tr = ALARM_RENOTIFIED, .at = 90 * MIN, .chk = C_NOTIFY, .notify = true})},
        {"the same by the next reading",
         STEPS(RD(5.0, 0), RD(9.0, 70 * MIN), RD(9.0, 100 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 70 * MIN, .chk = C_NOTIFY, .notify = false},
                {.tr = ALARM_RENOTIFIED, .at = 90 * MIN, .chk = C_NOTIFY, .notify = true})},
        /* Nobody was told, so nothing is owed: normal, not returned. */
        {"cleared inside the window: never notified, no acknowledgement owed",
         STEPS(RD(5.0, 0), RD(9.0, 70 * MIN), RD(5.0, 80 * MIN), TK(120 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 70 * MIN, .chk = C_NOTIFY, .notify = false},
                {.tr = ALARM_CLEARED, .at = 80 * MIN, .chk = C_NOTIFY | C_ISA, .notify = false,
                 .isa = ALARM_ISA_NORMAL})},
        {"outside the window events notify",
         STEPS(RD(5.0, 0), RD(9.0, 100 * MIN), RD(5.0, 110 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 100 * MIN, .chk = C_NOTIFY, .notify = true},
                {.tr = ALARM_CLEARED, .at = 110 * MIN, .chk = C_NOTIFY, .notify = true})},
    };
    run_table(&fx, cases, N_ELEMS(cases));
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

#define XI(tr_, t, isa_) {.tr = (tr_), .at = (t), .chk = C_ISA, .isa = (isa_)}

static void test_isa_states_follow_ack_and_clear(void)
{
    const struct alarm_def a[] = {heat(0)};
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    const struct tcase cases[] = {
        {"acked while active, then cleared: normal",
         STEPS(RD(9.0, 0), ACK(0, 5 * MIN, 0), ACK(0, 6 * MIN, -EALREADY), RD(5.0, 10 * MIN)),
         EXPECT(XI(ALARM_RAISED, 0, ALARM_ISA_UNACKED),
                XI(ALARM_ACKNOWLEDGED, 5 * MIN, ALARM_ISA_ACKED),
                XI(ALARM_CLEARED, 10 * MIN, ALARM_ISA_NORMAL))},
        {"cleared unacked: returned; the ack makes it normal",
         STEPS(RD(9.0, 0), RD(5.0, 10 * MIN), ACK(0, 15 * MIN, 0), ACK(0, 16 * MIN, -EALREADY)),
         EXPECT(XI(ALARM_RAISED, 0, ALARM_ISA_UNACKED),
                XI(ALARM_CLEARED, 10 * MIN, ALARM_ISA_RTN_UNACKED),
                XI(ALARM_ACKNOWLEDGED, 15 * MIN, ALARM_ISA_NORMAL))},
        {"raised again after an ack: unacked again",
         STEPS(RD(9.0, 0), ACK(0, 5 * MIN, 0), RD(5.0, 10 * MIN), RD(9.0, 20 * MIN)),
         EXPECT(XI(ALARM_RAISED, 0, ALARM_ISA_UNACKED),
                XI(ALARM_ACKNOWLEDGED, 5 * MIN, ALARM_ISA_ACKED),
                XI(ALARM_CLEARED, 10 * MIN, ALARM_ISA_NORMAL),
                XI(ALARM_RAISED, 20 * MIN, ALARM_ISA_UNACKED))},
    };
    run_table(&fx, cases, N_ELEMS(cases));
}

#define XRN(t, lvl) \
    {.tr = ALARM_RENOTIFIED, .at = (t), .chk = C_LEVEL | C_ISA, .level = (lvl), \
     .isa = ALARM_ISA_UNACKED}

static void test_unacked_alarm_renotifies_every_period_until_acked(void)
{
    struct alarm_def a[] = {heat(0)};
    a[0].renotify_ms = 10 * MIN;
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    const struct tcase cases[] = {
        {"levels 1, 2 by a reading, 3 by a tick, none after the ack",
         STEPS(RD(9.0, 0), RD(9.0, 25 * MIN), TK(35 * MIN), ACK(0, 36 * MIN, 0),
               TK(59 * MIN)),
         EXPECT(XI(ALARM_RAISED, 0, ALARM_ISA_UNACKED), XRN(10 * MIN, 1), XRN(20 * MIN, 2),
                XRN(30 * MIN, 3), XI(ALARM_ACKNOWLEDGED, 36 * MIN, ALARM_ISA_ACKED))},
        {"stamped raised + n * renotify when raised after a delay",
         STEPS(RD(5.0, 0), RD(9.0, 3 * MIN), TK(24 * MIN)),
         EXPECT(XR(3 * MIN), XRN(13 * MIN, 1), XRN(23 * MIN, 2))},
        {"a cleared alarm is not reminded of",
         STEPS(RD(9.0, 0), RD(5.0, 5 * MIN), TK(30 * MIN)), EXPECT(XR(0), XC(5 * MIN))},
    };
    run_table(&fx, cases, N_ELEMS(cases));
}

static void test_shelved_alarm_records_without_notifying(void)
{
    const struct alarm_def a[] = {heat(0)};
    const struct fixture fx = {.alarms = a, .alarm_count = 1};
    const struct tcase cases[] = {
        {"events while shelved do not notify; unshelved stamped until",
         STEPS(RD(9.0, 0), SHELVE(0, 1 * MIN, 30 * MIN, 0), RD(5.0, 10 * MIN),
               RD(9.0, 15 * MIN), RD(5.0, 20 * MIN), TK(29 * MIN), TK(40 * MIN)),
         EXPECT({.tr = ALARM_RAISED, .at = 0, .chk = C_NOTIFY, .notify = true},
                {.tr = ALARM_SHELVED, .at = 1 * MIN},
                {.tr = ALARM_CLEARED, .at = 10 * MIN, .chk = C_NOTIFY, .notify = false},
                {.tr = ALARM_RAISED, .at = 15 * MIN, .chk = C_NOTIFY, .notify = false},
                {.tr = ALARM_CLEARED, .at = 20 * MIN, .chk = C_NOTIFY, .notify = false},
                {.tr = ALARM_UNSHELVED, .at = 30 * MIN})},
        {"a shelf that ends before it starts is refused",
         STEPS(RD(9.0, 0), SHELVE(0, 10 * MIN, 10 * MIN, -EINVAL),
               SHELVE(0, 10 * MIN, 5 * MIN, -EINVAL)),
         EXPECT(XR(0))},
    };
    run_table(&fx, cases, N_ELEMS(cases));
}

/* ---- property: ticks between readings change nothing -------------------------------------- */

static uint64_t rng;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * UINT64_C(2685821657736338717);
}

static int64_t rnd_in(int64_t lo, int64_t hi) /* inclusive */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static double rnd_unit(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

struct evlist {
    struct rules_event *ev;
    size_t n, cap;
};

static void evlist_add(struct evlist *l, const struct rules_event *ev, int n)
{
    for (int i = 0; i < n; i++) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? 2 * l->cap : 1024;
            struct rules_event *p = realloc(l->ev, cap * sizeof(*p));
            if (!p)
                abort();
            l->ev = p;
            l->cap = cap;
        }
        l->ev[l->n++] = ev[i];
    }
}

static int cmp_event(const void *a, const void *b)
{
    const struct rules_event *x = a, *y = b;
    if (x->ev.ts_ms != y->ev.ts_ms)
        return x->ev.ts_ms < y->ev.ts_ms ? -1 : 1;
    if (x->shipment != y->shipment)
        return x->shipment < y->shipment ? -1 : 1;
    if (x->alarm != y->alarm)
        return x->alarm < y->alarm ? -1 : 1;
    if (x->sensor != y->sensor)
        return x->sensor < y->sensor ? -1 : 1;
    return 0;
}

/* A stable sort by (ts, shipment, alarm, sensor): merge sort, as qsort is not stable. */
static void stable_sort(struct rules_event *ev, size_t n)
{
    if (n < 2)
        return;
    struct rules_event *tmp = malloc(n * sizeof(*tmp));
    if (!tmp)
        abort();
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = cmp_event(&ev[j], &ev[i]) < 0 ? ev[j++] : ev[i++];
            while (i < mid)
                tmp[k++] = ev[i++];
            while (j < hi)
                tmp[k++] = ev[j++];
        }
        memcpy(ev, tmp, n * sizeof(*ev));
    }
    free(tmp);
}

#define PROP_READINGS 4000
#define PROP_TICKS_MAX 3

static void chunked_replay_matches_one_go(uint64_t seed)
{
    struct alarm_def a[9];
    memset(a, 0, sizeof(a));
    a[0] = threshold(QUANTITY_TEMPERATURE, ALARM_ABOVE, 8.0, 0.5, 15 * MIN);
    a[0].renotify_ms = 30 * MIN;
    a[1] = threshold(QUANTITY_TEMPERATURE, ALARM_AT_OR_BELOW, 2.0, 0.5, 0);
    a[2] = budget(3 * HOUR);
    a[2].limit = 8.0;
    a[3] = stale(20 * MIN); /* the hold */
    a[4] = fault(5 * MIN);
    a[5] = rate(3.0, 10 * MIN, ALARM_EITHER);
    a[6] = mkt(7.0, 2 * HOUR);
    a[7] = (struct alarm_def){.kind = ALARM_KIND_CALIBRATION, .quantity = QUANTITY_COUNT,
                              .cal_warn_ms = {5 * DAY, 2 * DAY}};
    strcpy(a[7].id, "calibration");
    a[8] = threshold(QUANTITY_HUMIDITY, ALARM_ABOVE, 80.0, 2.0, 10 * MIN);
    const struct rules_window win[] = {
        {.offset_ms = 2 * HOUR, .period_ms = DAY, .duration_ms = 1 * HOUR}};
    static const int64_t due[2] = {T0 + 8 * DAY, T0 + 12 * DAY};
    const struct fixture fx = {.alarms = a, .alarm_count = N_ELEMS(a), .sensor_count = 2,
                               .cal_due_ms = due, .suppress = win, .suppress_count = 1};

    static struct reading rd[PROP_READINGS];
    static int64_t ticks[PROP_READINGS][PROP_TICKS_MAX]; /* before reading k */
    static int nticks[PROP_READINGS];
    rng = seed;
    int64_t ts = T0 + 1 * MIN;
    double temp[2] = {5.0, 5.0}, hum[2] = {60.0, 60.0};
    for (int k = 0; k < PROP_READINGS; k++) {
        int64_t prev = ts;
        unsigned u = (unsigned)(rnd() % 100);
        if (u < 3)
            ts += rnd_in(25 * MIN, 3 * HOUR); /* a gap beyond the hold */
        else if (u < 9)
            ts += 0; /* the same instant */
        else
            ts += rnd_in(1, 6 * MIN);
        int s = (int)(rnd() % 2);
        struct reading r = {.ts_ms = ts};
        strcpy(r.sensor_id, sensor_ids[s]);
        unsigned v = (unsigned)(rnd() % 100);
        if (v < 4) {
            r.quantity = QUANTITY_TEMPERATURE;
            r.flags = READING_FAULT;
            r.value = (double)NAN;
        } else if (v < 14) {
            hum[s] += (rnd_unit() - 0.5) * 8.0 + (60.0 - hum[s]) * 0.02;
            r.quantity = QUANTITY_HUMIDITY;
            r.value = round(hum[s] * 10.0) / 10.0;
        } else {
            temp[s] += (rnd_unit() - 0.5) * 1.5 + (5.0 - temp[s]) * 0.01;
            if (rnd() % 50 == 0)
                temp[s] += (rnd_unit() - 0.5) * 10.0; /* a jump: rate alarms */
            temp[s] = fmin(fmax(temp[s], -3.0), 15.0);
            r.quantity = QUANTITY_TEMPERATURE;
            r.value = round(temp[s] * 100.0) / 100.0;
        }
        rd[k] = r;
        nticks[k] = 0;
        if (k > 0 && rnd() % 100 < 40) {
            int m = 1 + (int)(rnd() % PROP_TICKS_MAX);
            int64_t t = prev;
            for (int i = 0; i < m; i++) {
                unsigned w = (unsigned)(rnd() % 10);
                /* the edges too: exactly the previous and exactly the next reading's ts */
                t = w == 0 ? t : w == 1 ? ts : rnd_in(t, ts);
                ticks[k][nticks[k]++] = t;
            }
        }
    }
    const int64_t last = ts;
    size_t tick_count = 0;
    for (int k = 0; k < PROP_READINGS; k++)
        tick_count += (size_t)nticks[k];

    struct evlist one = {0}, chunked = {0};
    struct rules *r1 = make_rules(&fx);
    struct rules *r2 = make_rules(&fx);
    const size_t cap = r1 ? rules_max_events(r1) : 0;
    struct rules_event *ev = cap ? calloc(cap, sizeof(*ev)) : NULL;
    if (!r1 || !r2 || !ev) {
        CU_FAIL("setup");
        free(ev);
        rules_free(r1);
        rules_free(r2);
        return;
    }
    bool ok = true;
    for (int k = 0; k < PROP_READINGS; k++) {
        int n = rules_feed(r1, &rd[k], ev, cap);
        ok = ok && n >= 0;
        if (n > 0)
            evlist_add(&one, ev, n);
        for (int i = 0; i < nticks[k]; i++) {
            n = rules_tick(r2, ticks[k][i], ev, cap);
            ok = ok && n >= 0;
            if (n > 0)
                evlist_add(&chunked, ev, n);
        }
        n = rules_feed(r2, &rd[k], ev, cap);
        ok = ok && n >= 0;
        if (n > 0)
            evlist_add(&chunked, ev, n);
    }
    /* Both end at the last reading's time, so both have advanced every sensor that far. */
    int n = rules_tick(r1, last, ev, cap);
    ok = ok && n >= 0;
    if (n > 0)
        evlist_add(&one, ev, n);
    n = rules_tick(r2, last, ev, cap);
    ok = ok && n >= 0;
    if (n > 0)
        evlist_add(&chunked, ev, n);
    CU_ASSERT(ok);

    stable_sort(one.ev, one.n);
    stable_sort(chunked.ev, chunked.n);
    /* The series exercises the kinds it claims to. */
    unsigned per_alarm[N_ELEMS(a)] = {0};
    for (size_t i = 0; i < one.n; i++)
        per_alarm[one.ev[i].alarm]++;
    unsigned kinds_seen = 0;
    for (size_t i = 0; i < N_ELEMS(a); i++)
        kinds_seen += per_alarm[i] > 0;
    CU_ASSERT(one.n >= 100);
    CU_ASSERT(kinds_seen >= 8);

    CU_ASSERT_EQUAL(one.n, chunked.n);
    size_t first_diff = SIZE_MAX;
    for (size_t i = 0; i < one.n && i < chunked.n; i++) {
        const struct rules_event *x = &one.ev[i], *y = &chunked.ev[i];
        if (x->ev.transition != y->ev.transition || x->ev.ts_ms != y->ev.ts_ms ||
            x->alarm != y->alarm || x->sensor != y->sensor || x->shipment != y->shipment) {
            first_diff = i;
            break;
        }
    }
    if (first_diff == SIZE_MAX && one.n != chunked.n)
        first_diff = one.n < chunked.n ? one.n : chunked.n;
    CU_ASSERT_EQUAL(first_diff, SIZE_MAX);
    fprintf(stderr, "\n    property, seed %#" PRIx64 ": %zu readings, %zu ticks, %zu events in"
            " one go, %zu chunked; per alarm:", seed, (size_t)PROP_READINGS, tick_count, one.n,
            chunked.n);
    for (size_t i = 0; i < N_ELEMS(a); i++)
        fprintf(stderr, " %u", per_alarm[i]);
    fprintf(stderr, "\n");
    if (first_diff != SIZE_MAX) {
        fprintf(stderr, "    first difference at event %zu:\n", first_diff);
        size_t lo = first_diff > 2 ? first_diff - 2 : 0;
        for (size_t i = lo; i < first_diff + 3; i++) {
            if (i < one.n)
                print_event(" one", &one.ev[i]);
            if (i < chunked.n)
                print_event("chnk", &chunked.ev[i]);
        }
    }
    free(ev);
    free(one.ev);
    free(chunked.ev);
    rules_free(r1);
    rules_free(r2);
}

/* Replaying a series with rules_tick() calls at arbitrary times between readings (never beyond
 * the next reading's ts) gives the same events as feeding it in one go: 2 sensors, gaps beyond
 * the hold, duplicate instants, faults, two quantities, every kind but door/battery (thresholds
 * on other quantities), a suppression window and reminders. */
static void test_chunked_replay_with_ticks_gives_same_events(void)
{
    static const uint64_t seeds[] = {UINT64_C(0x9e3779b97f4a7c15), UINT64_C(0x2545f4914f6cdd1d),
                                     UINT64_C(0x0123456789abcdef)};
    for (size_t i = 0; i < N_ELEMS(seeds); i++)
        chunked_replay_matches_one_go(seeds[i]);
}

/* ---- registration ------------------------------------------------------------------------- */

int register_tests(void)
{
    static const struct {
        const char *suite;
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
#define T(suite, fn) {suite, #fn, fn}
        T("threshold", test_threshold_conditions_raise_and_clear_at_their_edges),
        T("threshold", test_heat_alarm_fires_exactly_at_delay),
        T("threshold", test_gap_longer_than_hold_restarts_pending_delay),
        T("threshold", test_active_alarm_stays_active_across_gap),
        T("threshold", test_stale_alarm_sets_the_hold),
        T("threshold", test_clock_step_back_restarts_pending_delay),
        T("threshold", test_clock_step_back_does_not_clear_active_alarm),
        T("threshold", test_duplicate_timestamp_is_judged_at_the_same_instant),
        T("threshold", test_faulted_readings_do_not_move_threshold_alarms),
        T("budget", test_budget_raises_at_the_exact_instant_it_is_spent),
        T("budget", test_budget_raise_reports_the_budget_as_used_at_its_instant),
        T("budget", test_budget_left_counts_held_time_up_to_last_time_seen),
        T("budget", test_spent_budget_stays_active),
        T("budget", test_resolve_credits_budget_back),
        T("budget", test_budget_seed_from_earlier_legs),
        T("mkt", test_mkt_of_evenly_spaced_readings_is_the_usp_formula),
        T("mkt", test_mkt_weighs_each_reading_by_its_held_time),
        T("mkt", test_mkt_rolling_window_forgets_old_readings),
        T("rate", test_rate_raises_on_change_beyond_rate_within_window),
        T("rate", test_rate_direction_limits_the_sign_of_the_change),
        T("stale", test_stale_raises_exactly_at_last_reading_plus_stale),
        T("fault", test_fault_alarm_follows_faulted_and_valid_readings),
        T("door and battery", test_door_open_longer_than_delay_raises),
        T("door and battery", test_battery_below_limit_raises_with_hysteresis),
        T("calibration", test_calibration_warns_ahead_of_due_date),
        T("held values", test_long_stale_duration_sets_a_long_hold),
        T("suppression", test_suppression_window_is_offset_modulo_period),
        T("suppression", test_alarm_raised_in_window_is_notified_when_window_ends),
        T("lifecycle", test_isa_states_follow_ack_and_clear),
        T("lifecycle", test_unacked_alarm_renotifies_every_period_until_acked),
        T("lifecycle", test_shelved_alarm_records_without_notifying),
        T("property", test_chunked_replay_with_ticks_gives_same_events),
#undef T
    };
    CU_pSuite suite = NULL;
    const char *current = NULL;
    for (size_t i = 0; i < N_ELEMS(tests); i++) {
        if (!current || strcmp(current, tests[i].suite) != 0) {
            current = tests[i].suite;
            suite = CU_add_suite(current, NULL, NULL);
            if (!suite)
                return -1;
        }
        if (!CU_add_test(suite, tests[i].name, tests[i].fn))
            return -1;
    }
    return CU_get_error() == CUE_SUCCESS ? 0 : -1;
}
