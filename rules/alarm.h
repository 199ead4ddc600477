/* Threshold alarm with a continuous delay and a hysteresis band: the state machine of one alarm
 * instance, keyed by (shipment, alarm definition, sensor). Pure: time comes in with each reading.
 * Called only from the engine thread (through rules.c) and from tests. */
#ifndef COLDCHAIN_ALARM_H
#define COLDCHAIN_ALARM_H

#include <stdbool.h>
#include <stdint.h>

#define ALARM_ID_MAX 32
#define ALARM_TEXT_MAX 240

/* Standards differ on whether the limit itself is an excursion, so both forms exist. */
enum alarm_condition {
    ALARM_ABOVE,       /* value >  limit */
    ALARM_AT_OR_ABOVE, /* value >= limit */
    ALARM_BELOW,       /* value <  limit */
    ALARM_AT_OR_BELOW, /* value <= limit */
};

enum alarm_severity {
    ALARM_WARNING,
    ALARM_CRITICAL,
};

struct alarm_def {
    char id[ALARM_ID_MAX];         /* unique within its profile: "heat", "freeze" */
    uint8_t quantity;              /* enum quantity the alarm watches */
    enum alarm_condition condition;
    double limit;                  /* in the quantity's unit */
    double hysteresis;             /* >= 0, in the quantity's unit: how far back to clear */
    int64_t delay_ms;              /* >= 0: the condition must hold this long without a break */
    enum alarm_severity severity;
    char message[ALARM_TEXT_MAX];  /* what happened, for a pharmacist */
    char action[ALARM_TEXT_MAX];   /* what to do about it */
};

enum alarm_state {
    ALARM_NORMAL,  /* condition not met */
    ALARM_PENDING, /* condition met, the delay is running */
    ALARM_ACTIVE,  /* the delay has elapsed; stays until a reading clears the hysteresis band */
};

enum alarm_transition {
    ALARM_RAISED,  /* PENDING/NORMAL -> ACTIVE */
    ALARM_CLEARED, /* ACTIVE -> NORMAL */
};

struct alarm_instance {
    enum alarm_state state;
    int64_t since_ms;    /* wall ms of the first reading of the current unbroken excursion */
    int64_t raised_ms;   /* wall ms the alarm became active (valid while ACTIVE) */
    double worst;        /* the most extreme value since since_ms (max for above, min for below) */
};

struct alarm_event {
    enum alarm_transition transition;
    int64_t ts_ms;       /* timestamp of the reading that caused the transition */
    double value;        /* that reading's value */
    double worst;        /* most extreme value of the excursion so far */
    int64_t since_ms;    /* when the condition started to hold */
};

/* Returns true if value meets def's condition (the excursion side of the limit). */
bool alarm_condition_met(const struct alarm_def *def, double value);

/* Puts inst into the NORMAL state. */
void alarm_init(struct alarm_instance *inst);

/* Feeds one valid (not faulted, finite) value taken at ts_ms into the state machine.
 * Readings must come in timestamp order; an older timestamp than the current excursion's start
 * is treated as a break in continuity. Returns 1 and fills *ev_out when the reading raised or
 * cleared the alarm, 0 when nothing was announced. */
int alarm_feed(struct alarm_instance *inst, const struct alarm_def *def, double value,
               int64_t ts_ms, struct alarm_event *ev_out);

/* Config/MQTT names: "above", "at_or_above", ...; "warning", "critical"; "normal", ... */
const char *alarm_condition_name(enum alarm_condition condition);
int alarm_condition_parse(const char *name, enum alarm_condition *out);
const char *alarm_severity_name(enum alarm_severity severity);
int alarm_severity_parse(const char *name, enum alarm_severity *out);
const char *alarm_state_name(enum alarm_state state);
const char *alarm_transition_name(enum alarm_transition transition);

#endif
