/* Alarm conditions, the ISA-18.2 view of an instance, and the names used in config and MQTT.
 * The evaluation over time is in rules.c; the semantics are in docs/rules.md. */
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
    switch ((enum alarm_condition)def->condition) {
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

/* Back inside by at least the hysteresis. For above, "value <= limit - hysteresis"; for
 * at_or_above the limit itself is an excursion, so the value must be strictly below. That keeps
 * a probe hovering at the limit from flapping, which trains people to ignore alarms. */
bool alarm_condition_cleared(const struct alarm_def *def, double value)
{
    switch ((enum alarm_condition)def->condition) {
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

double alarm_more_extreme(const struct alarm_def *def, double a, double b)
{
    if (isnan(a))
        return b;
    if (isnan(b))
        return a;
    return is_high_side((enum alarm_condition)def->condition) ? fmax(a, b) : fmin(a, b);
}

bool alarm_kind_is_threshold(enum alarm_kind kind)
{
    return kind == ALARM_KIND_THRESHOLD || kind == ALARM_KIND_DOOR || kind == ALARM_KIND_BATTERY;
}

void alarm_init(struct alarm_instance *inst)
{
    memset(inst, 0, sizeof(*inst));
    inst->state = ALARM_NORMAL;
    inst->worst = (double)NAN;
    inst->value = (double)NAN;
}

enum alarm_isa_state alarm_isa_state(const struct alarm_instance *inst)
{
    if (inst->state == ALARM_ACTIVE)
        return inst->unacked ? ALARM_ISA_UNACKED : ALARM_ISA_ACKED;
    return inst->unacked ? ALARM_ISA_RTN_UNACKED : ALARM_ISA_NORMAL;
}

static const char *const kind_names[] = {
    [ALARM_KIND_THRESHOLD] = "threshold", [ALARM_KIND_DOOR] = "door",
    [ALARM_KIND_BATTERY] = "battery",     [ALARM_KIND_BUDGET] = "budget",
    [ALARM_KIND_MKT] = "mkt",             [ALARM_KIND_RATE] = "rate",
    [ALARM_KIND_STALE] = "stale",         [ALARM_KIND_FAULT] = "fault",
    [ALARM_KIND_CALIBRATION] = "calibration",
};

static const char *const condition_names[] = {
    [ALARM_ABOVE] = "above",
    [ALARM_AT_OR_ABOVE] = "at_or_above",
    [ALARM_BELOW] = "below",
    [ALARM_AT_OR_BELOW] = "at_or_below",
};

static const char *const direction_names[] = {
    [ALARM_EITHER] = "either",
    [ALARM_RISING] = "rising",
    [ALARM_FALLING] = "falling",
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

/* The names integrators read in alerts and twins (docs/mqtt.md). */
static const char *const isa_state_names[] = {
    [ALARM_ISA_NORMAL] = "normal",
    [ALARM_ISA_UNACKED] = "active",
    [ALARM_ISA_ACKED] = "acknowledged",
    [ALARM_ISA_RTN_UNACKED] = "returned",
};

static const char *const transition_names[] = {
    [ALARM_RAISED] = "raised",           [ALARM_CLEARED] = "cleared",
    [ALARM_RENOTIFIED] = "renotified",   [ALARM_ACKNOWLEDGED] = "acknowledged",
    [ALARM_SHELVED] = "shelved",         [ALARM_UNSHELVED] = "unshelved",
    [ALARM_RESOLVED] = "resolved",
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t count, unsigned i)
{
    return i < count && names[i] ? names[i] : "?";
}

static int parse_name(const char *const *names, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        if (names[i] && strcmp(names[i], name) == 0)
            return (int)i;
    }
    return -EINVAL;
}

const char *alarm_kind_name(enum alarm_kind kind)
{
    return name_of(kind_names, N_ELEMS(kind_names), kind);
}

const char *alarm_condition_name(enum alarm_condition condition)
{
    return name_of(condition_names, N_ELEMS(condition_names), condition);
}

int alarm_condition_parse(const char *name, enum alarm_condition *out)
{
    int i = parse_name(condition_names, N_ELEMS(condition_names), name);
    if (i < 0)
        return i;
    *out = (enum alarm_condition)i;
    return 0;
}

const char *alarm_direction_name(enum alarm_direction direction)
{
    return name_of(direction_names, N_ELEMS(direction_names), direction);
}

int alarm_direction_parse(const char *name, enum alarm_direction *out)
{
    int i = parse_name(direction_names, N_ELEMS(direction_names), name);
    if (i < 0)
        return i;
    *out = (enum alarm_direction)i;
    return 0;
}

const char *alarm_severity_name(enum alarm_severity severity)
{
    return name_of(severity_names, N_ELEMS(severity_names), severity);
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
    return name_of(state_names, N_ELEMS(state_names), state);
}

const char *alarm_isa_state_name(enum alarm_isa_state state)
{
    return name_of(isa_state_names, N_ELEMS(isa_state_names), state);
}

const char *alarm_transition_name(enum alarm_transition transition)
{
    return name_of(transition_names, N_ELEMS(transition_names), transition);
}
