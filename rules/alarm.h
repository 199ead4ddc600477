/* Alarm definitions, the state of one alarm instance and the events it announces. An instance is
 * keyed by (shipment, alarm definition, sensor); rules.c evaluates it in event time. The
 * lifecycle follows ISA-18.2: the condition (normal / pending / active) and whether people still
 * owe an acknowledgement are kept apart, so "returned to normal, unacknowledged" is a state too.
 * Pure. Called only from the engine thread (through rules.c), from replay and from tests. */
#ifndef COLDCHAIN_ALARM_H
#define COLDCHAIN_ALARM_H

#include <stdbool.h>
#include <stdint.h>

#define ALARM_ID_MAX 32
#define ALARM_TEXT_MAX 240
#define ALARM_CAL_STAGES 4 /* warnings ahead of a calibration due date, at most */

enum alarm_kind {
    ALARM_KIND_THRESHOLD,   /* condition vs limit, continuous delay, hysteresis */
    ALARM_KIND_DOOR,        /* a threshold on the door quantity: open longer than delay */
    ALARM_KIND_BATTERY,     /* a threshold on the battery quantity: below limit */
    ALARM_KIND_BUDGET,      /* cumulative time beyond the limit over the shipment >= budget */
    ALARM_KIND_MKT,         /* mean kinetic temperature above limit (shipment or window) */
    ALARM_KIND_RATE,        /* the value changed by more than rate within window */
    ALARM_KIND_STALE,       /* no reading from the sensor for stale */
    ALARM_KIND_FAULT,       /* the sensor reports a fault (for delay) */
    ALARM_KIND_CALIBRATION, /* the sensor's calibration is due (warnings ahead) */
    ALARM_KIND_COUNT
};

/* Standards differ on whether the limit itself is an excursion, so both forms exist. */
enum alarm_condition {
    ALARM_ABOVE,       /* value >  limit */
    ALARM_AT_OR_ABOVE, /* value >= limit */
    ALARM_BELOW,       /* value <  limit */
    ALARM_AT_OR_BELOW, /* value <= limit */
};

enum alarm_direction {
    ALARM_EITHER,  /* rate: a rise or a fall */
    ALARM_RISING,
    ALARM_FALLING,
};

enum alarm_severity {
    ALARM_WARNING,
    ALARM_CRITICAL,
};

struct alarm_def {
    char id[ALARM_ID_MAX];    /* unique within its profile: "heat", "freeze" */
    uint8_t kind;             /* enum alarm_kind */
    uint8_t quantity;         /* enum quantity watched; stale/fault: QUANTITY_COUNT = any */
    uint8_t condition;        /* enum alarm_condition (threshold-like, budget, mkt: above) */
    uint8_t severity;         /* enum alarm_severity */
    uint8_t direction;        /* enum alarm_direction (rate) */
    double limit;             /* in the quantity's unit (°C for mkt) */
    double hysteresis;        /* >= 0, same unit: how far back inside to clear */
    int64_t delay_ms;         /* >= 0: the condition must hold this long without a break */
    int64_t budget_ms;        /* budget: time beyond the limit allowed over the shipment */
    int64_t window_ms;        /* mkt: rolling window, 0 = the whole shipment; rate: the period */
    double rate;              /* rate: the change (quantity unit) that is too much per window */
    double delta_h_j_mol;     /* mkt: activation energy, USP <1079.2> default 83144 J/mol */
    int64_t stale_ms;         /* stale: silence that raises */
    int64_t cal_warn_ms[ALARM_CAL_STAGES]; /* calibration: warn this long before the due date,
                                            * descending, 0-terminated; the due date itself is
                                            * always the last stage */
    int64_t renotify_ms;      /* 0 = off: re-notify an unacknowledged active alarm this often */
    char message[ALARM_TEXT_MAX]; /* what happened, for a pharmacist */
    char action[ALARM_TEXT_MAX];  /* what to do about it */
};

/* The condition, as evaluated. */
enum alarm_state {
    ALARM_NORMAL,  /* condition not met */
    ALARM_PENDING, /* condition met, the delay is running */
    ALARM_ACTIVE,  /* announced; stays until cleared */
};

/* What people see (ISA-18.2 §5 states), derived from the condition and `unacked`. */
enum alarm_isa_state {
    ALARM_ISA_NORMAL,       /* normal (or pending) and acknowledged */
    ALARM_ISA_UNACKED,      /* active, unacknowledged */
    ALARM_ISA_ACKED,        /* active, acknowledged */
    ALARM_ISA_RTN_UNACKED,  /* returned to normal, unacknowledged */
};

enum alarm_transition {
    ALARM_RAISED,       /* -> active */
    ALARM_CLEARED,      /* active -> normal (returned, unacknowledged, if it was not acked) */
    ALARM_RENOTIFIED,   /* still active and unacknowledged: reminder, level increments; also
                         * the first notification of an alarm raised while suppressed */
    ALARM_ACKNOWLEDGED, /* someone acknowledged it (who/comment: the caller's) */
    ALARM_SHELVED,      /* someone shelved it until a time: it records, it does not notify */
    ALARM_UNSHELVED,    /* the shelf ran out (or was lifted) */
    ALARM_RESOLVED,     /* budget: someone credited an excursion back (who/why: the caller's) */
    ALARM_TRANSITION_COUNT
};

struct alarm_instance {
    uint8_t state;            /* enum alarm_state */
    bool unacked;             /* raised and not yet acknowledged */
    bool notified;            /* the current activation was announced with notify = true */
    uint8_t level;            /* renotifications of the current activation */
    uint8_t stage;            /* calibration: stages reached */
    int64_t since_ms;         /* first reading of the current unbroken excursion */
    int64_t raised_ms;        /* when it became active (valid while ACTIVE) */
    double worst;             /* most extreme value since since_ms; NaN when normal */
    double value;             /* last evaluated value (rate: the change, mkt: the MKT) */
    int64_t renotify_due_ms;  /* next reminder (0: none) */
    int64_t shelved_until_ms; /* 0: not shelved */
    /* Accounting over the shipment, from held values (docs/rules.md "Time"). */
    int64_t beyond_ms;        /* time the condition held */
    int64_t current_ms;       /* length of the current excursion so far */
    int64_t longest_ms;       /* longest excursion */
    uint32_t excursions;      /* how many times the condition started to hold */
    int64_t credit_ms;        /* budget credited back by resolve */
    int64_t seed_ms;          /* budget used by earlier legs, given at shipment start */
    /* The held value (docs/rules.md "Time"): what the instance judged last, and when. */
    bool have_held;
    bool held_met;            /* the held value meets the condition (judged once, when set) */
    double held;              /* the judged value (reading, fault 1/0, change, MKT) */
    int64_t held_ts_ms;       /* its timestamp */
    int64_t accounted_ms;     /* accounting done up to here */
    uint32_t aux;             /* rate / mkt: index of its side state in rules.c */
};

struct alarm_event {
    uint8_t transition;  /* enum alarm_transition */
    uint8_t isa_state;   /* enum alarm_isa_state after the transition */
    bool notify;         /* false while shelved or suppressed: recorded, not announced */
    uint8_t level;       /* renotification level (0 for the first notification) */
    int64_t ts_ms;       /* event time: a reading's timestamp or an exact derived instant */
    double value;        /* the value judged (reading; mkt: MKT °C; rate: change); NaN if none */
    double worst;        /* most extreme value of the excursion so far; NaN if none */
    int64_t since_ms;    /* when the condition started to hold (0 if not applicable) */
    int64_t amount_ms;   /* budget: time used; stale: silence; resolve: credit; else 0 */
};

/* True if value meets def's condition against its limit (the excursion side). */
bool alarm_condition_met(const struct alarm_def *def, double value);
/* True if value is back inside the limit by at least the hysteresis: an active alarm clears. */
bool alarm_condition_cleared(const struct alarm_def *def, double value);
/* The more extreme of a and b on def's excursion side (a may be NaN). */
double alarm_more_extreme(const struct alarm_def *def, double a, double b);
/* Kinds evaluated as a threshold on each reading (threshold, door, battery). */
bool alarm_kind_is_threshold(enum alarm_kind kind);

/* Puts inst into the NORMAL, acknowledged state with empty accounting. */
void alarm_init(struct alarm_instance *inst);
/* The ISA-18.2 state people see. */
enum alarm_isa_state alarm_isa_state(const struct alarm_instance *inst);

/* Config/MQTT names; *_parse return 0 or -EINVAL. Unknown values name as "?". */
const char *alarm_kind_name(enum alarm_kind kind);
const char *alarm_condition_name(enum alarm_condition condition);
int alarm_condition_parse(const char *name, enum alarm_condition *out);
const char *alarm_direction_name(enum alarm_direction direction);
int alarm_direction_parse(const char *name, enum alarm_direction *out);
const char *alarm_severity_name(enum alarm_severity severity);
int alarm_severity_parse(const char *name, enum alarm_severity *out);
const char *alarm_state_name(enum alarm_state state);
const char *alarm_isa_state_name(enum alarm_isa_state state);
const char *alarm_transition_name(enum alarm_transition transition);

#endif
