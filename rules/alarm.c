/* Threshold alarm: condition, continuous delay, hysteresis (docs/rules.md).
 *
 * Semantics held by tests/unit/test_alarm.c:
 * - The condition is judged on each reading's value at its own timestamp (event time).
 * - NORMAL -> PENDING at the first reading that meets the condition; since_ms = its timestamp.
 * - PENDING -> ACTIVE at the first reading whose timestamp is >= since_ms + delay_ms while every
 *   reading since since_ms has met the condition. With delay 0 a single reading raises.
 * - PENDING -> NORMAL at any reading that does not meet the condition: the delay is continuous,
 *   so a dip below the limit restarts it. Hysteresis does not apply while pending.
 * - ACTIVE -> NORMAL only at a reading beyond the hysteresis band: for above/at_or_above the
 *   value must be <= limit - hysteresis (< for at_or_above), mirrored for below. That keeps a
 *   probe hovering at the limit from flapping, which trains people to ignore alarms. */
#include "alarm.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static bool is_high_side(enum alarm_condition c)
{
    return c == ALARM_ABOVE || c == ALARM_AT_OR_ABOVE;
}

bool alarm_condition_met(const struct alarm_def *def, double value)
{
    switch (def->condition) {
    case ALARM_ABOVE:
        return value > def->limit;
    case ALARM_AT_OR_ABOVE:
        return value >= def->limit;
    case ALARM_BELOW:
        return value < def->limit;
    case ALARM_AT_OR_BELOW:
        return value <= def->limit;
    }
    return false;
}

/* True when an active alarm may clear: the value is back inside by at least the hysteresis. */
static bool cleared_by(const struct alarm_def *def, double value)
{
    switch (def->condition) {
    case ALARM_ABOVE:
        return value <= def->limit - def->hysteresis;
    case ALARM_AT_OR_ABOVE:
        return value < def->limit - def->hysteresis;
    case ALARM_BELOW:
        return value >= def->limit + def->hysteresis;
    case ALARM_AT_OR_BELOW:
        return value > def->limit + def->hysteresis;
    }
    return true;
}

static double more_extreme(const struct alarm_def *def, double a, double b)
{
    if (isnan(a))
        return b;
    return is_high_side(def->condition) ? fmax(a, b) : fmin(a, b);
}

void alarm_init(struct alarm_instance *inst)
{
    inst->state = ALARM_NORMAL;
    inst->since_ms = 0;
    inst->raised_ms = 0;
    inst->worst = (double)NAN;
}

static int announce(struct alarm_event *ev, enum alarm_transition t, const struct alarm_instance *inst,
                    double value, int64_t ts_ms)
{
    ev->transition = t;
    ev->ts_ms = ts_ms;
    ev->value = value;
    ev->worst = inst->worst;
    ev->since_ms = inst->since_ms;
    return 1;
}

int alarm_feed(struct alarm_instance *inst, const struct alarm_def *def, double value,
               int64_t ts_ms, struct alarm_event *ev_out)
{
    bool met = alarm_condition_met(def, value);

    switch (inst->state) {
    case ALARM_NORMAL:
        if (!met)
            return 0;
        inst->since_ms = ts_ms;
        inst->worst = value;
        inst->state = ALARM_PENDING;
        /* fall through: with delay 0 the same reading raises */
        /* FALLTHROUGH */
    case ALARM_PENDING:
        if (!met || ts_ms < inst->since_ms) {
            alarm_init(inst);
            /* A reading older than the excursion's start breaks continuity; if it meets the
             * condition it starts a new excursion. */
            return met ? alarm_feed(inst, def, value, ts_ms, ev_out) : 0;
        }
        inst->worst = more_extreme(def, inst->worst, value);
        if (ts_ms - inst->since_ms < def->delay_ms)
            return 0;
        inst->state = ALARM_ACTIVE;
        inst->raised_ms = ts_ms;
        return announce(ev_out, ALARM_RAISED, inst, value, ts_ms);
    case ALARM_ACTIVE:
        if (!cleared_by(def, value)) {
            inst->worst = more_extreme(def, inst->worst, value);
            return 0;
        }
        announce(ev_out, ALARM_CLEARED, inst, value, ts_ms);
        alarm_init(inst);
        return 1;
    }
    return 0;
}

static const char *const condition_names[] = {
    [ALARM_ABOVE] = "above",
    [ALARM_AT_OR_ABOVE] = "at_or_above",
    [ALARM_BELOW] = "below",
    [ALARM_AT_OR_BELOW] = "at_or_below",
};

static const char *const severity_names[] = {
    [ALARM_WARNING] = "warning",
    [ALARM_CRITICAL] = "critical",
};

static const char *const state_names[] = {
    [ALARM_NORMAL] = "normal",
    [ALARM_PENDING] = "pending",
    [ALARM_ACTIVE] = "active",
};

static const char *const transition_names[] = {
    [ALARM_RAISED] = "raised",
    [ALARM_CLEARED] = "cleared",
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int parse_name(const char *const *names, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        if (names[i] && strcmp(names[i], name) == 0)
            return (int)i;
    }
    return -EINVAL;
}

const char *alarm_condition_name(enum alarm_condition condition)
{
    return (unsigned)condition < N_ELEMS(condition_names) ? condition_names[condition] : "?";
}

int alarm_condition_parse(const char *name, enum alarm_condition *out)
{
    int i = parse_name(condition_names, N_ELEMS(condition_names), name);
    if (i < 0)
        return i;
    *out = (enum alarm_condition)i;
    return 0;
}

const char *alarm_severity_name(enum alarm_severity severity)
{
    return (unsigned)severity < N_ELEMS(severity_names) ? severity_names[severity] : "?";
}

int alarm_severity_parse(const char *name, enum alarm_severity *out)
{
    int i = parse_name(severity_names, N_ELEMS(severity_names), name);
    if (i < 0)
        return i;
    *out = (enum alarm_severity)i;
    return 0;
}

const char *alarm_state_name(enum alarm_state state)
{
    return (unsigned)state < N_ELEMS(state_names) ? state_names[state] : "?";
}

const char *alarm_transition_name(enum alarm_transition transition)
{
    return (unsigned)transition < N_ELEMS(transition_names) ? transition_names[transition] : "?";
}
